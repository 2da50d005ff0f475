//! Any bytes as a CSV file, with reader options taken from the first two bytes (a header
//! or not; the target column last, by index or by name; non-finite values allowed or not;
//! `f32` or `f64`; small line and field limits or the defaults; any finite magnitude or the
//! default bound). `Csv::parse` (the text, invalid UTF-8 replaced) and `Csv::read` (the
//! bytes as they are, from a file) must return `Ok` or `Err`, never panic, and agree when
//! the bytes are UTF-8. A table that loads must be whole: as many inputs as rows times
//! features, one target per row, and its values within the bounds asked for.
//!
//! Seeds: fuzz/corpus/load_csv/, written by fuzz/seed-corpus.py.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use monograd_core::Scalar;
use monograd_nn::data::{Column, Csv, Table};

#[path = "../common/scratch.rs"]
mod scratch;

fn reader(flags: u8, index: u8) -> Csv<'static> {
    let mut csv = Csv::new().header(flags & 1 == 1).allow_non_finite(flags & 8 == 8);
    csv = match (flags >> 1) & 3 {
        0 | 3 => csv.target(Column::Last),
        1 => csv.target(usize::from(index % 8)),
        _ => csv.target("y"),
    };
    if flags & 32 == 32 {
        csv = csv.max_line_len(64).max_fields(8);
    }
    if flags & 64 == 64 {
        csv = csv.max_abs(f64::INFINITY);
    }
    csv
}

fn whole<T: Scalar>(t: &Table<T>, flags: u8) {
    let n = t.data.len();
    assert!(!t.features.is_empty());
    assert_eq!(t.data.numel(), t.features.len());
    assert_eq!(t.data.inputs().len(), n * t.features.len());
    assert_eq!(t.data.targets().len(), n);
    if flags & 8 == 0 {
        let bound = if flags & 64 == 64 { f64::INFINITY } else { Csv::DEFAULT_MAX_ABS };
        for v in t.data.inputs().iter().chain(t.data.targets()) {
            let v = v.to_f64();
            assert!(v.is_finite() && v.abs() <= bound, "{v} passed the bounds");
        }
    }
}

fn check<T: Scalar + FromStr + std::fmt::Debug>(flags: u8, index: u8, bytes: &[u8]) {
    let csv = reader(flags, index);
    let text = String::from_utf8_lossy(bytes);
    let parsed = csv.parse::<T>(&text, "fuzz.csv");
    match &parsed {
        Ok(t) => whole(t, flags),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if flags & 128 == 128 {
        let path = scratch::dir("load_csv").join("f.csv");
        std::fs::write(&path, bytes).expect("a scratch file");
        let read = csv.read::<T>(&path);
        if let Ok(t) = &read {
            whole(t, flags);
        }
        if std::str::from_utf8(bytes).is_ok() {
            // Compared as text: NaN, when allowed, is not equal to itself.
            let (a, b) = (format!("{:?}", read.as_ref().ok()), format!("{:?}", parsed.as_ref().ok()));
            assert_eq!(a, b, "file and memory disagree");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, index, bytes @ ..] = data else { return };
    if flags & 16 == 16 {
        check::<f64>(*flags, *index, bytes);
    } else {
        check::<f32>(*flags, *index, bytes);
    }
});
