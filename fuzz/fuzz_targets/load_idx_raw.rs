//! Any bytes as an uncompressed IDX file: `idx::parse` in memory (as any u8 array, as
//! images, as labels) and `idx::read` from a file. Each must return `Ok` or `Err`, never
//! panic, and never allocate more than the input holds (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb` enforce it). What loads must be consistent: as many elements as its
//! dimensions say, every item reachable, the magic number asked for; the file and the
//! in-memory reader must agree.
//!
//! Inputs that start with gzip's magic bytes are the `load_idx_gzip` target's: here their
//! first byte is flipped, so that every input takes the raw path.
//!
//! Seeds: fuzz/corpus/load_idx_raw/, written by fuzz/seed-corpus.py.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monograd_nn::data::idx::{self, Idx, GZIP_MAGIC, IMAGES, LABELS};

#[path = "../common/idx.rs"]
mod common;
#[path = "../common/scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.starts_with(&GZIP_MAGIC) {
        bytes[0] ^= 0xff;
    }
    let any = idx::parse(&bytes, "fuzz.idx", None);
    if let Ok(a) = &any {
        common::consistent(a, None);
    }
    for magic in [IMAGES, LABELS] {
        let r = idx::parse(&bytes, "fuzz.idx", Some(magic));
        if let Ok(a) = &r {
            common::consistent(a, Some(magic));
        }
        // Asking for a magic number only narrows what loads.
        let narrowed: Result<&Idx, _> = any.as_ref().map_err(|_| ());
        match (&r, narrowed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Ok(_), Err(())) => panic!("loads as {magic:#x} but not as any IDX"),
            _ => {}
        }
    }
    // The file reader: the same answer as the bytes in memory.
    let path = scratch::dir("load_idx_raw").join("f.idx");
    std::fs::write(&path, &bytes).expect("a scratch file");
    let from_file = idx::read(&path);
    assert_eq!(from_file.as_ref().ok(), any.as_ref().ok(), "file and memory disagree");
    if let Err(e) = from_file {
        let _ = e.to_string();
    }
});
