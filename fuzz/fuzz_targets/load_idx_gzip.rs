//! Gzip-compressed IDX files, two ways, chosen by the first byte of the input:
//!
//! - odd: the rest is the file itself, its first two bytes made gzip's magic, so that every
//!   input takes the gzip path: corrupt headers, members cut short, bad CRCs and lengths,
//!   junk after the last member;
//! - even: the rest is an uncompressed IDX file, wrapped here in gzip (stored deflate
//!   blocks) as one member or split into two (at a point given by the second byte), so
//!   that the IDX parser behind the decompressor sees every shape of header and data.
//!   Then it must load exactly as the same bytes raw do: the same array, or an error for
//!   both.
//!
//! Either way `idx::parse` must return `Ok` or `Err`, never panic, and never allocate more
//! than what the stream decompresses to (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb` enforce it); `idx::read` from a file must agree with it.
//!
//! Seeds: fuzz/corpus/load_idx_gzip/, written by fuzz/seed-corpus.py.
#![no_main]

use flate2::Crc;
use libfuzzer_sys::fuzz_target;
use monograd_nn::data::idx::{self, GZIP_MAGIC, IMAGES, LABELS};

#[path = "../common/idx.rs"]
mod common;
#[path = "../common/scratch.rs"]
mod scratch;

/// `raw` as one gzip member of stored (uncompressed) deflate blocks, what a compressor at
/// level 0 writes, made by hand: a compressor's tables cost more to set up than the whole
/// read, and the decompressor's own paths are the other mode's (real streams, mutated).
fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    if raw.is_empty() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    let mut blocks = raw.chunks(usize::from(u16::MAX)).peekable();
    while let Some(block) = blocks.next() {
        // BFINAL on the last block, BTYPE 00 (stored), then LEN and its complement.
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(block);
    }
    let mut crc = Crc::new();
    crc.update(raw);
    out.extend(crc.sum().to_le_bytes());
    out.extend((raw.len() as u32).to_le_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (bytes, raw) = if mode & 1 == 1 {
        let mut bytes = rest.to_vec();
        for (b, m) in bytes.iter_mut().zip(GZIP_MAGIC) {
            *b = m;
        }
        (bytes, None)
    } else {
        let Some((&cut, raw)) = rest.split_first() else { return };
        let mut bytes = Vec::new();
        if cut & 1 == 1 {
            let at = usize::from(cut >> 1).min(raw.len());
            bytes.extend(gzip(&raw[..at]));
            bytes.extend(gzip(&raw[at..]));
        } else {
            bytes.extend(gzip(raw));
        }
        (bytes, Some(raw))
    };
    if bytes.len() < 2 {
        return;
    }
    let any = idx::parse(&bytes, "fuzz.idx.gz", None);
    if let Ok(a) = &any {
        common::consistent(a, None);
    }
    // Asking for a magic number only narrows what loads: the array's own magic number gives
    // the same array, another one an error. (Each read costs a decompressor, so an input
    // that loads as no IDX is not read again as images and labels: `load_idx_raw` checks
    // that narrowing on every input, and the readers share the code after decompression.)
    if let Ok(a) = &any {
        let own = a.magic();
        assert_eq!(idx::parse(&bytes, "fuzz.idx.gz", Some(own)).as_ref().ok(), Some(a));
        let other = if own == IMAGES { LABELS } else { IMAGES };
        assert!(idx::parse(&bytes, "fuzz.idx.gz", Some(other)).is_err());
    }
    if let Some(raw) = raw {
        // Compression changes nothing, unless the raw bytes would themselves look like gzip.
        if !raw.starts_with(&GZIP_MAGIC) {
            let plain = idx::parse(raw, "fuzz.idx", None);
            assert_eq!(any.as_ref().ok(), plain.as_ref().ok(), "compressed and raw disagree");
        }
    }
    let path = scratch::dir("load_idx_gzip").join("f.idx.gz");
    std::fs::write(&path, &bytes).expect("a scratch file");
    let from_file = idx::read(&path);
    assert_eq!(from_file.as_ref().ok(), any.as_ref().ok(), "file and memory disagree");
    if let Err(e) = any {
        let _ = e.to_string();
    }
});
