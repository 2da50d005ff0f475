//! Any bytes as the weights file of `include_weights!`: the macro's own reading of a file,
//! `check` in macros/src/weights/model.rs (compiled here from the macro's source, since a
//! procedural-macro crate cannot be linked), which parses the header and validates it with
//! `monograd_core::embed::header` (`header_len`, `entry`, `tiling`, `unique`, `file_len`,
//! `counter`), the checks the run-time loader shares. It must return `Ok` or `Err`, never
//! panic; what it accepts must be what constant evaluation relies on (every tensor's bytes
//! inside the file and exactly its shape's size, the tensors tiling the data, names sorted
//! and unique, no negative counter), and the run-time loader, asked for none of the
//! tensors (lenient), must accept the same file and list the same names.
//!
//! The same bytes also drive the `header` functions directly, as numbers, against their
//! documented results.
//!
//! Seeds: fuzz/corpus/embed_header/, written by fuzz/seed-corpus.py.
#![no_main]

extern crate proc_macro;

use libfuzzer_sys::fuzz_target;
use monograd_core::embed::header::{self, Problem, MAX_HEADER_LEN};
use monograd_nn::serialize::safetensors::{self, LoadOptions};

/// What the macro's `check` needs of its input type (the rest of the macro is not run).
#[allow(dead_code)]
mod parse {
    pub struct Input {
        pub ty: syn::Type,
        pub path: syn::LitStr,
        pub prefix: String,
    }
}

#[allow(dead_code)]
#[path = "../../macros/src/weights/model.rs"]
mod model;

fn size_of(dtype: &str) -> usize {
    match dtype {
        "F64" | "I64" => 8,
        "F32" | "I32" => 4,
        "F16" | "BF16" => 2,
        "I8" => 1,
        other => panic!("the macro accepted the dtype {other}"),
    }
}

fn macro_check(data: &[u8]) {
    let tensors = match model::check(data, "fuzz.safetensors") {
        Ok(t) => t,
        Err(msg) => {
            assert!(msg.starts_with("`fuzz.safetensors`"), "an error that does not name the file: {msg}");
            return;
        }
    };
    let n = u64::from_le_bytes(data[..8].try_into().expect("8 bytes")) as usize;
    let data_start = 8 + n;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for t in &tensors {
        assert!(data_start <= t.start && t.start <= t.end && t.end <= data.len(), "{t:?} outside the data");
        let numel: usize = t.shape.iter().product();
        assert_eq!(t.end - t.start, numel * size_of(t.dtype), "{t:?}");
        if t.dtype == "I64" && t.shape.is_empty() {
            assert!(i64::from_le_bytes(data[t.start..t.end].try_into().expect("8 bytes")) >= 0, "{t:?}");
        }
        spans.push((t.start, t.end));
    }
    assert!(tensors.windows(2).all(|w| w[0].name < w[1].name), "names sorted and unique");
    assert!(tensors.len() <= monograd_core::embed::MAX_TENSORS);
    spans.sort_unstable();
    let mut cursor = data_start;
    for (begin, end) in spans {
        assert_eq!(begin, cursor, "the tensors tile the data");
        cursor = end;
    }
    assert_eq!(cursor, data.len(), "the data ends the file");

    // The run-time loader accepts what the macro accepts.
    let mut nothing = monograd_nn::ReLU;
    let report = safetensors::load_bytes::<f32, _>(&mut nothing, data, &LoadOptions::lenient())
        .unwrap_or_else(|e| panic!("the macro accepts, the loader says: {e}"));
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(report.ignored, names);
}

/// The header functions on numbers taken from the input.
fn functions(data: &[u8]) {
    let word = |i: usize| data.get(i * 8..i * 8 + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8")));
    let (a, b, c) = (word(0), word(1), word(2));
    match header::header_len(a, b) {
        Ok(n) => assert!(n == a && b >= 8 && a <= b - 8 && a <= MAX_HEADER_LEN),
        Err(Problem::Truncated { expected: 8, found }) => assert!(found == b && b < 8),
        Err(Problem::HeaderLength { claimed, limit }) => {
            assert!(claimed == a && a > limit && limit == (b - 8).min(MAX_HEADER_LEN))
        }
        Err(p) => panic!("header_len: {p}"),
    }
    match header::file_len(a, b as usize, c) {
        Ok(()) => assert_eq!(a.checked_add(b as usize as u64), Some(c)),
        Err(Problem::Truncated { expected, found }) => {
            assert!(found == c && (expected > c || a.checked_add(b as usize as u64).is_none()))
        }
        Err(Problem::Trailing { expected, found }) => assert!(found == c && expected < c),
        Err(p) => panic!("file_len: {p}"),
    }
    let shape: Vec<usize> = data.iter().skip(24).take(4).map(|&d| usize::from(d)).collect();
    let bits = [4, 8, 16, 32, 64][usize::from(data.get(28).copied().unwrap_or(0) % 5)];
    let (begin, end) = (a as usize % 1024, b as usize % 1024);
    match header::entry("t", "X", bits, &shape, begin, end) {
        Ok(size) => assert_eq!(shape.iter().product::<usize>() * bits, 8 * size),
        Err(Problem::Size { .. } | Problem::Offsets { .. }) => {}
        Err(p) => panic!("entry: {p}"),
    }
    let mut pairs: Vec<(usize, usize)> =
        data.chunks_exact(2).take(16).map(|p| (usize::from(p[0]), usize::from(p[0]) + usize::from(p[1]))).collect();
    pairs.sort_unstable();
    if let Ok(len) = header::tiling(pairs.iter().copied()) {
        let mut cursor = 0;
        for (b, e) in &pairs {
            assert_eq!(*b, cursor);
            cursor = *e;
        }
        assert_eq!(len, cursor);
    }
}

fuzz_target!(|data: &[u8]| {
    macro_check(data);
    functions(data);
});
