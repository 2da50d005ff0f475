#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/TARGET/), small files that the
fuzzer starts from: valid inputs of every kind each reader takes, and broken ones of the
kinds that were bugs or are easy to get wrong (tests/ checks the same cases by name).

    python3 fuzz/seed-corpus.py        # everything but load_safetensors' five valid files
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy safetensors
    /tmp/venv/bin/python fuzz/seed-corpus.py   # those too (written by the `safetensors` package)

load_checkpoint's seeds are real checkpoints, written by
`cargo run --manifest-path fuzz/Cargo.toml --example checkpoint_seeds`.
Every file is deterministic: running the script twice gives the same bytes.
"""

import gzip
import io
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def out(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- safetensors, by hand (the broken files, and embed_header's) ----------------------

SIZE = {"F64": 8, "I64": 8, "F32": 4, "F16": 2, "BF16": 2, "U8": 1}


def st(tensors, metadata=None, order=None):
    """A safetensors file: tensors is a list of (name, dtype, shape, bytes), laid out in
    this order; the header lists them (and metadata) in `order` (default: the same)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def st_text(text, data):
    """A file with the header written as given, for headers JSON cannot build twice."""
    text = text.encode()
    return struct.pack("<Q", len(text)) + text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def i64(v):
    return struct.pack("<q", v)


def f16(*v):
    return struct.pack("<%de" % len(v), *v)


# The load_safetensors model's tensors (fc: Linear<3, 2>, bn: BatchNorm1d<2>, scale, table).
MODEL = [
    ("bn.num_batches_tracked", "I64", [], i64(3)),
    ("bn.bias", "F32", [2], f32(0, 0)),
    ("bn.running_mean", "F32", [2], f32(0.1, -0.2)),
    ("bn.running_var", "F32", [2], f32(1.0, 0.75)),
    ("bn.weight", "F32", [2], f32(1, 1)),
    ("fc.bias", "F32", [2], f32(0.5, -0.5)),
    ("fc.weight", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6)),
    ("scale", "F32", [], f32(1.5)),
    ("table", "F32", [2, 2], f32(1, -1, 2, -2)),
]


def broken_safetensors():
    """Files every safetensors reader must refuse, one problem each."""
    good = st(MODEL, {"format": "pt"})
    neg = [(n, d, s, i64(-3) if d == "I64" else b) for n, d, s, b in MODEL]
    twice = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    overlap = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    gap = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    meta2 = '{"__metadata__":{"a":"b"},"__metadata__":{"c":"d"},"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}'
    huge = '{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}'
    return {
        "negative-counter.safetensors": st(neg),
        "name-twice.safetensors": st_text(twice, f32(1, 2)),
        "overlap.safetensors": st_text(overlap, f32(1, 2)),
        "gap.safetensors": st_text(gap, f32(1, 2)),
        "metadata-twice.safetensors": st_text(meta2, f32(1)),
        "size-overflow.safetensors": st_text(huge, f32(1)),
        "truncated.safetensors": good[:-3],
        "trailing.safetensors": good + b"\0",
        "header-length-past-file.safetensors": struct.pack("<Q", 1 << 40) + good[8:],
    }


def safetensors_target():
    for name, data in broken_safetensors().items():
        out("load_safetensors", name, data)
    out("load_safetensors", "bf16-u8.safetensors", st([("scale", "BF16", [], b"\xc0\x3f"), ("x", "U8", [3], b"abc")]))
    try:
        import numpy as np
        from safetensors.numpy import save_file
    except ImportError:
        print("numpy/safetensors not installed: load_safetensors' five valid files left as they are")
        return
    d = os.path.join(ROOT, "load_safetensors")

    def model(dtype, prefix=lambda n: n):
        rng = np.random.default_rng(7)
        t = {
            "fc.weight": rng.standard_normal((2, 3)),
            "fc.bias": rng.standard_normal(2),
            "bn.weight": np.ones(2),
            "bn.bias": np.zeros(2),
            "bn.running_mean": rng.standard_normal(2),
            "bn.running_var": rng.random(2) + 0.5,
            "scale": np.array(1.5),
            "table": rng.standard_normal((2, 2)),
        }
        o = {prefix(k): v.astype(dtype) for k, v in t.items()}
        o[prefix("bn.num_batches_tracked")] = np.array(3, dtype=np.int64)
        return o

    def sequential(name):
        index = {"fc": "0", "bn": "1", "scale": "2", "table": "3"}
        first, _, rest = name.partition(".")
        return index[first] + ("." + rest if rest else "")

    save_file(model(np.float32), os.path.join(d, "f32.safetensors"), metadata={"format": "pt"})
    save_file(model(np.float64), os.path.join(d, "f64.safetensors"))
    save_file(model(np.float16), os.path.join(d, "f16.safetensors"))
    save_file(model(np.float32, sequential), os.path.join(d, "sequential.safetensors"))
    extra = model(np.float32)
    extra["head.weight"] = np.zeros((4, 2), dtype=np.float32)
    save_file(extra, os.path.join(d, "extra.safetensors"))


def embed_header_target():
    t = "embed_header"
    out(t, "model-f32.safetensors", st(MODEL, {"format": "pt"}))
    halves = [(n, "F16" if d == "F32" else d, s, f16(*struct.unpack("<%df" % (len(b) // 4), b)) if d == "F32" else b)
              for n, d, s, b in MODEL]
    out(t, "model-f16.safetensors", st(halves))
    out(t, "bf16-f64.safetensors", st([("a", "F64", [2], struct.pack("<2d", 0.1, 3)), ("b", "BF16", [2], b"\x80\x3f\x00\xc0")]))
    out(t, "empty-header.safetensors", st([]))
    out(t, "empty-tensor.safetensors", st([("e", "F32", [0, 3], b""), ("x", "F32", [1], f32(2))]))
    out(t, "u8-unread.safetensors", st([("x", "U8", [3], b"abc")]))
    out(t, "i64-tensor.safetensors", st([("steps", "I64", [2], i64(-1) + i64(4))]))
    for name, data in broken_safetensors().items():
        out(t, name, data)


# ---- IDX ------------------------------------------------------------------------------


def idx(dims, data, kind=0x08):
    return bytes([0, 0, kind, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


IMAGES = idx([3, 2, 2], range(0, 240, 20))
LABELS = idx([3], [1, 9, 0])


def idx_raw_target():
    t = "load_idx_raw"
    out(t, "images.idx", IMAGES)
    out(t, "labels.idx", LABELS)
    out(t, "rank0.idx", idx([], [7]))
    out(t, "rank4.idx", idx([2, 1, 2, 2], range(8)))
    out(t, "empty-first-dim.idx", idx([0, 28, 28], []))
    out(t, "zero-rows.idx", idx([2, 0, 3], []))
    # No elements, items past what memory can address: `item_len` overflowed (found here).
    out(t, "zero-then-huge.idx", idx([0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], []))
    out(t, "overflowing-dims.idx", idx([0xFFFFFFFF] * 4, range(4)))
    out(t, "truncated.idx", IMAGES[:-1])
    out(t, "trailing.idx", IMAGES + b"\0")
    out(t, "floats.idx", idx([2], struct.pack(">2f", 1, 2), kind=0x0D))
    out(t, "short-header.idx", IMAGES[:6])


def gz(data, mtime=0):
    b = io.BytesIO()
    with gzip.GzipFile(fileobj=b, mode="wb", mtime=mtime) as f:
        f.write(data)
    return b.getvalue()


def idx_gzip_target():
    t = "load_idx_gzip"
    # Mode byte odd: the file as it is.
    out(t, "images.gz", b"\x01" + gz(IMAGES))
    out(t, "labels.gz", b"\x01" + gz(LABELS))
    out(t, "two-members.gz", b"\x01" + gz(IMAGES[:9]) + gz(IMAGES[9:]))
    out(t, "trailing-zeros.gz", b"\x01" + gz(LABELS) + b"\0" * 8)
    out(t, "trailing-text.gz", b"\x01" + gz(LABELS) + b"junk")
    second = gz(IMAGES[9:])
    out(t, "second-member-cut.gz", b"\x01" + gz(IMAGES[:9]) + second[:-5])
    first = bytearray(gz(IMAGES[:9]))
    first[-8] ^= 1  # CRC of the first member
    out(t, "bad-crc-first.gz", b"\x01" + bytes(first) + gz(IMAGES[9:]))
    out(t, "empty-images.gz", b"\x01" + gz(idx([2, 0, 3], [])))
    out(t, "more-than-declared.gz", b"\x01" + gz(IMAGES + b"\1\2"))
    # Mode byte even: compressed by the target (second byte: where to split into two members).
    out(t, "raw-images", b"\x00\x00" + IMAGES)
    out(t, "raw-images-split", b"\x00\x0f" + IMAGES)
    out(t, "raw-labels", b"\x00\x00" + LABELS)
    out(t, "raw-rank4", b"\x00\x00" + idx([2, 1, 2, 2], range(8)))
    out(t, "raw-truncated", b"\x00\x00" + IMAGES[:-2])
    out(t, "raw-zero-then-huge", b"\x00\x00" + idx([0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], []))


# ---- CSV: two option bytes, then the text (see fuzz_targets/load_csv.rs) -------------


def csv_target():
    t = "load_csv"
    # flags: 1 header, 2-4 target (0 last, 1 index, 2 name), 8 non-finite, 16 f64,
    # 32 small limits, 64 any magnitude, 128 also read from a file.
    cases = {
        "header-last.csv": (0x81, 0, b"a,b,y\n1,2,3\n4.5,-6,7e3\n"),
        "no-header.csv": (0x80, 0, b"1,2,3\n4,5,6\n"),
        "by-index-f64.csv": (0x93, 1, b"a,b,c\n1,2,3\n4,5,6\n"),
        "by-name.csv": (0x85, 0, b"x, y ,z\n1,2,3\n"),
        "quotes.csv": (0x81, 0, b'"a","b ""q"""\n"1",2\n'),
        "line-ends.csv": (0x81, 0, b"a,b\r\n1,2\r3,4\n5,6\r\n"),
        "bom-blank-lines.csv": (0x81, 0, b"\xef\xbb\xbfa,b\n\n1,2\n   \n3,4\n"),
        "non-finite.csv": (0x89, 0, b"a,b\nNaN,inf\n-inf,1\n"),
        "non-finite-refused.csv": (0x81, 0, b"a,b\n1,NaN\n"),
        "too-large.csv": (0x81, 0, b"a,b\n1,2e30\n1e39,1\n"),
        "any-magnitude.csv": (0xC1, 0, b"a,b\n1,1e300\n"),
        "ragged.csv": (0x81, 0, b"a,b,c\n1,2\n"),
        "small-limits.csv": (0xA1, 0, b"a,b,c,d,e,f,g,h,i\n" + b"1," * 40 + b"1\n"),
        "not-utf8.csv": (0x81, 0, b"a,b\n1,\xff\n"),
        "unterminated.csv": (0x81, 0, b'a,b\n"1,2\n'),
        "after-quote.csv": (0x81, 0, b'a,b\n"1"x,2\n'),
        "one-column.csv": (0x81, 0, b"a\n1\n"),
        "header-only.csv": (0x81, 0, b"a,b\n"),
        "index-out-of-range.csv": (0x83, 7, b"a,b\n1,2\n"),
        "name-without-header.csv": (0x84, 0, b"1,2\n"),
    }
    for name, (flags, index, text) in cases.items():
        out(t, name, bytes([flags, index]) + text)


# ---- MNIST directories: flags, then files (u16 length + bytes; the last the rest) ----


def mnist(flags, files):
    b = bytes([flags])
    for f in files[:-1]:
        b += struct.pack("<H", len(f)) + f
    return b + files[-1]


def mnist_dir_target():
    t = "load_mnist_dir"
    test_x, test_y = idx([2, 2, 2], range(0, 255, 32)), idx([2], [5, 3])
    out(t, "full-raw", mnist(0, [IMAGES, LABELS, test_x, test_y]))
    out(t, "full-gz", mnist(0x0F, [gz(IMAGES), gz(LABELS), gz(test_x), gz(test_y)]))
    out(t, "gz-names-raw-bytes", mnist(0x05, [IMAGES, LABELS, test_x, test_y]))
    out(t, "missing-file", mnist(0x20, [IMAGES, LABELS, test_x, test_y]))
    out(t, "count-mismatch", mnist(0, [IMAGES, idx([2], [1, 2]), test_x, test_y]))
    out(t, "label-ten", mnist(0, [IMAGES, idx([3], [1, 10, 0]), test_x, test_y]))
    out(t, "image-size-differs", mnist(0, [IMAGES, LABELS, idx([1, 3, 1], [1, 2, 3]), idx([1], [0])]))
    out(t, "empty-images", mnist(0, [idx([2, 0, 3], []), idx([2], [1, 2]), test_x, test_y]))
    out(t, "zero-images", mnist(0, [idx([0, 2, 2], []), idx([0], []), test_x, test_y]))
    # No images, but rows x columns past what memory can address (a panic once).
    out(t, "zero-images-huge-size", mnist(0, [idx([0, 0xFFFFFFFF, 0xFFFFFFFF], []), idx([0], []), test_x, test_y]))
    out(t, "labels-as-images", mnist(0, [LABELS, LABELS, test_x, test_y]))
    out(t, "ten-k", mnist(0x10, [IMAGES, LABELS]))
    out(t, "ten-k-gz", mnist(0x13, [gz(IMAGES), gz(LABELS)]))


if __name__ == "__main__":
    safetensors_target()
    embed_header_target()
    idx_raw_target()
    idx_gzip_target()
    csv_target()
    mnist_dir_target()
    for d in sorted(os.listdir(ROOT)):
        files = os.listdir(os.path.join(ROOT, d))
        size = sum(os.path.getsize(os.path.join(ROOT, d, f)) for f in files)
        print(f"{d}: {len(files)} files, {size} bytes")
