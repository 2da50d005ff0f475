//! A directory of MNIST files made from the input: `Mnist::load_dir` (full MNIST's four
//! files) or `Mnist::load_10k` (the repository's two), each file raw or `.gz` by its name
//! or absent, with contents cut from the input. Loading must return `Ok` or `Err`, never
//! panic, and a set that loads must be whole: images and labels agree in number, pixels in
//! `[0, 1]`, labels below 10, both parts of one image size.
//!
//! The input: a flags byte (bit `i`, `i` < 4: file `i` is named `.gz`; bit 4: the
//! repository's two files, for `load_10k`; bit 5: the last file is absent), then each
//! file but the last as a little-endian `u16` length and that many bytes (fewer if the
//! input ends), and the last file as the rest. The files are written into a scratch
//! directory (under `TMPDIR`; scripts/fuzz.sh points it at memory when it can) that is
//! emptied before each input.
//!
//! Seeds: fuzz/corpus/load_mnist_dir/, written by fuzz/seed-corpus.py.
#![no_main]

use std::path::PathBuf;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use monograd_nn::data::Mnist;

#[path = "../common/scratch.rs"]
mod scratch;

const FULL: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];
const TEN_K: [&str; 2] = [Mnist::IMAGES_10K, Mnist::LABELS_10K];

/// The files the previous input wrote, removed before the next one writes its own.
static WRITTEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn whole(m: &Mnist) {
    assert!(m.rows > 0 && m.cols > 0);
    for part in [&m.train, &m.test] {
        assert_eq!(part.numel(), m.rows * m.cols);
        assert_eq!(part.inputs().len(), part.len() * part.numel());
        assert!(part.inputs().iter().all(|p| (0.0..=1.0).contains(p)));
        assert!(part.targets().iter().all(|&y| y < Mnist::CLASSES));
    }
    assert_eq!(m.len(), m.train.len() + m.test.len());
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else { return };
    let dir = scratch::dir("load_mnist_dir");
    let names: &[&str] = if flags & 16 == 16 { &TEN_K } else { &FULL };
    let mut written = WRITTEN.lock().expect("one fuzzing thread");
    for path in written.drain(..) {
        std::fs::remove_file(path).expect("a scratch file");
    }
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        let contents = if last {
            std::mem::take(&mut rest)
        } else {
            let len = match rest {
                [a, b, tail @ ..] => {
                    rest = tail;
                    usize::from(u16::from_le_bytes([*a, *b]))
                }
                _ => std::mem::take(&mut rest).len(),
            };
            let (file, tail) = rest.split_at(len.min(rest.len()));
            rest = tail;
            file
        };
        if last && flags & 32 == 32 {
            continue;
        }
        let file = if flags & (1 << i) != 0 { format!("{name}.gz") } else { (*name).to_string() };
        let path = dir.join(file);
        std::fs::write(&path, contents).expect("a scratch file");
        written.push(path);
    }
    let loaded = if flags & 16 == 16 { Mnist::load_10k(dir) } else { Mnist::load_dir(dir) };
    match loaded {
        Ok(m) => whole(&m),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
