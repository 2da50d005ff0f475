//! Data loading through the facade, as a user crate sees it: every malformed file gets its
//! own error (naming the file, what was expected and what was found), never a panic; the
//! repository's MNIST digits load with the project's split; batches are reproducible.
//!
//! Bad files are written to a fresh directory under the system's temporary directory.
//! Gzip files are written by hand (stored deflate blocks and a CRC32), so the test needs
//! no compression crate of its own.
//!
//! Needs the facade's `data` feature (on by default), which turns on `monograd-nn/data`.
#![cfg(feature = "data")]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use monograd::nn::data::{idx, Batches, Csv, CsvProblem, DataError, Holdout, Mnist, Normalize};

/// A fresh, empty directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("monograd-data-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a writable temporary directory");
        Self(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, bytes).expect("write a test file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// A valid gzip file holding `data` in stored (uncompressed) deflate blocks.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

/// `n` images of `rows x cols` whose pixels are `(i + p) % 256`, raw IDX.
fn images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut v = header(idx::IMAGES, &[n, rows, cols]);
    for i in 0..n * rows * cols {
        v.push((i % 256) as u8);
    }
    v
}

/// `n` labels `i % 10`, raw IDX.
fn labels(n: u32) -> Vec<u8> {
    let mut v = header(idx::LABELS, &[n]);
    v.extend((0..n).map(|i| (i % 10) as u8));
    v
}

fn name(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_missing_file_names_its_path() {
    let dir = TempDir::new("missing");
    let p = dir.0.join("nope.idx");
    let e = idx::read(&p).unwrap_err();
    assert!(matches!(&e, DataError::Io { path, .. } if path == &p), "{e}");
    assert!(e.to_string().starts_with(&format!("{}: ", name(&p))), "{e}");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn truncated_files_raw_and_compressed() {
    let dir = TempDir::new("truncated");
    let good = images(3, 4, 5);
    // Inside the magic number, inside the dimensions, inside the data.
    for (cut, header_expected) in [(2, Some(4)), (9, Some(16)), (16 + 59, None)] {
        for gz in [false, true] {
            let bytes = if gz { gzip(&good[..cut]) } else { good[..cut].to_vec() };
            let p = dir.file(&format!("cut{cut}{}", if gz { ".gz" } else { "" }), &bytes);
            let e = idx::read_images(&p).unwrap_err();
            match (header_expected, &e) {
                (Some(h), DataError::TruncatedHeader { path, expected, found }) => {
                    assert_eq!((path, *expected, *found), (&p, h, cut as u64));
                }
                (None, DataError::TruncatedData { path, dims, expected, found }) => {
                    assert_eq!((path, dims.as_slice(), *expected, *found), (&p, &[3, 4, 5][..], 60, 59));
                    assert_eq!(
                        e.to_string(),
                        format!(
                            "{}: file ends early: the header declares 3 x 4 x 5 = 60 bytes of data, found 59",
                            name(&p)
                        )
                    );
                }
                _ => panic!("cut at {cut}, gzip {gz}: unexpected {e}"),
            }
        }
    }
    // A gzip stream cut short (its trailer and part of its data missing).
    let gz = gzip(&good);
    let p = dir.file("short.gz", &gz[..gz.len() - 20]);
    let e = idx::read_images(&p).unwrap_err();
    assert!(matches!(e, DataError::TruncatedGzip { .. }), "{e}");
    assert!(
        e.to_string().starts_with(&format!("{}: file ends early: the gzip stream stops before its end", name(&p))),
        "{e}"
    );
}

#[test]
fn wrong_magic_numbers() {
    let dir = TempDir::new("magic");
    let p = dir.file("x.gz", &gzip(&labels(4)));
    let e = idx::read_images(&p).unwrap_err();
    assert!(matches!(e, DataError::Magic { expected: Some(idx::IMAGES), found: idx::LABELS, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("{}: expected magic 0x00000803 (IDX images), found 0x00000801 (IDX labels)", name(&p))
    );
    let p = dir.file("labels-as-images", &images(1, 2, 2));
    let e = idx::read_labels(&p).unwrap_err();
    assert!(matches!(e, DataError::Magic { expected: Some(idx::LABELS), found: idx::IMAGES, .. }), "{e}");
    // Not IDX at all (a PNG signature), and an IDX of floats where u8 is required.
    let p = dir.file("picture.png", b"\x89PNG\r\n\x1a\n");
    let e = idx::read(&p).unwrap_err();
    assert!(matches!(e, DataError::Magic { expected: None, found: 0x8950_4e47, .. }), "{e}");
    assert!(e.to_string().ends_with("found 0x89504e47 (not an IDX file)"), "{e}");
    let p = dir.file("floats", &header(0x0D01, &[0]));
    let e = idx::read(&p).unwrap_err();
    assert!(e.to_string().ends_with("found 0x00000d01 (IDX of f32, rank 1)"), "{e}");
}

#[test]
fn a_header_claiming_more_than_the_file_holds_allocates_nothing_absurd() {
    let dir = TempDir::new("claims");
    // 4 GiB x 64 Ki declared, 10 bytes present: refused from the file's length.
    let mut bytes = header(idx::IMAGES, &[u32::MAX, 256, 256]);
    bytes.extend_from_slice(&[0; 10]);
    for gz in [false, true] {
        let p = dir.file(if gz { "claim.gz" } else { "claim" }, &if gz { gzip(&bytes) } else { bytes.clone() });
        let e = idx::read_images(&p).unwrap_err();
        assert!(
            matches!(e, DataError::TruncatedData { expected, found: 10, .. } if expected == u64::from(u32::MAX) << 16),
            "{e}"
        );
    }
    // Dimensions whose product overflows.
    let p = dir.file("overflow", &header(idx::IMAGES, &[u32::MAX, u32::MAX, u32::MAX]));
    let e = idx::read_images(&p).unwrap_err();
    assert!(matches!(&e, DataError::Overflow { dims, .. } if dims == &[u32::MAX; 3]), "{e}");
    assert!(e.to_string().contains("4294967295 x 4294967295 x 4294967295"), "{e}");
    // A rank-255 header of dimension 2 each (2^255 elements), cut after its dimensions.
    let p = dir.file("rank255", &header(0x08FF, &[2; 255]));
    assert!(matches!(idx::read(&p), Err(DataError::Overflow { .. })));
}

#[test]
fn trailing_bytes_and_corrupt_gzip() {
    let dir = TempDir::new("trailing");
    let mut long = labels(5);
    long.push(0);
    for gz in [false, true] {
        let p = dir.file(if gz { "long.gz" } else { "long" }, &if gz { gzip(&long) } else { long.clone() });
        let e = idx::read_labels(&p).unwrap_err();
        assert!(matches!(e, DataError::TrailingData { expected: 5, .. }), "{e}");
    }
    let mut bad_crc = gzip(&labels(5));
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 0x40;
    let p = dir.file("crc.gz", &bad_crc);
    let e = idx::read_labels(&p).unwrap_err();
    assert!(matches!(e, DataError::Gzip { .. }), "{e}");
    assert!(e.to_string().starts_with(&format!("{}: starts like gzip but does not decompress: ", name(&p))), "{e}");
    // Gzip's magic bytes, then a compression method other than deflate (8).
    let p = dir.file("method.gz", &[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3, 4]);
    let e = idx::read_labels(&p).unwrap_err();
    assert!(matches!(e, DataError::Gzip { .. }), "{e}");
}

/// A directory of full-MNIST names holding tiny sets; returns it.
fn full_dir(name: &str, train: (u32, u32), test: (u32, u32), size: (u32, u32)) -> TempDir {
    let dir = TempDir::new(name);
    dir.file("train-images-idx3-ubyte.gz", &gzip(&images(train.0, size.0, size.1)));
    dir.file("train-labels-idx1-ubyte", &labels(train.1));
    dir.file("t10k-images-idx3-ubyte", &images(test.0, 28, 28));
    dir.file("t10k-labels-idx1-ubyte.gz", &gzip(&labels(test.1)));
    dir
}

#[test]
fn a_full_mnist_directory_loads_and_its_mismatches_are_errors() {
    let ok = full_dir("full-ok", (30, 30), (12, 12), (28, 28));
    let m = Mnist::load_dir(&ok.0).unwrap();
    assert_eq!((m.train.len(), m.test.len(), m.rows, m.cols, m.dir.as_path()), (30, 12, 28, 28, ok.0.as_path()));
    assert_eq!((m.label(13), m.image(0)[1], m.image(30)), (3, 1.0 / 255.0, m.test.input(0)));

    let d = full_dir("full-count", (30, 29), (12, 12), (28, 28));
    let e = Mnist::load_dir(&d.0).unwrap_err();
    assert!(matches!(e, DataError::CountMismatch { n_images: 30, n_labels: 29, .. }), "{e}");
    let labels_path = d.0.join("train-labels-idx1-ubyte");
    let images_path = d.0.join("train-images-idx3-ubyte.gz");
    assert_eq!(
        e.to_string(),
        format!("{}: expected as many labels as {} has images (30), found 29", name(&labels_path), name(&images_path))
    );

    let d = full_dir("full-size", (30, 30), (12, 12), (28, 27));
    let e = Mnist::load_dir(&d.0).unwrap_err();
    assert!(matches!(e, DataError::ImageSize { expected: (28, 27), found: (28, 28), .. }), "{e}");

    let d = full_dir("full-missing", (3, 3), (2, 2), (28, 28));
    fs::remove_file(d.0.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let e = Mnist::load_dir(&d.0).unwrap_err();
    assert!(matches!(e, DataError::Missing { name: "t10k-labels-idx1-ubyte", .. }), "{e}");
    assert!(e.to_string().ends_with(": no file `t10k-labels-idx1-ubyte` or `t10k-labels-idx1-ubyte.gz`"), "{e}");

    let d = full_dir("full-label", (3, 3), (2, 2), (28, 28));
    let mut bad = labels(3);
    bad[8 + 2] = 10;
    d.file("train-labels-idx1-ubyte", &bad);
    let e = Mnist::load_dir(&d.0).unwrap_err();
    assert!(matches!(e, DataError::Label { index: 2, label: 10, classes: 10, .. }), "{e}");

    let e = Mnist::load_dir(ok.0.join("no-such-dir")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
}

#[test]
fn the_environment_variable_points_the_examples_at_another_directory() {
    // The only test in this binary that reads MONOGRAD_MNIST_DIR.
    let d = full_dir("env", (5, 5), (4, 4), (28, 28));
    std::env::set_var(Mnist::DIR_VAR, &d.0);
    let m = Mnist::load_env_or_default();
    std::env::set_var(Mnist::DIR_VAR, "");
    let default = Mnist::load_env_or_default();
    std::env::remove_var(Mnist::DIR_VAR);
    assert_eq!(m.unwrap().train.len(), 5);
    assert_eq!(default.unwrap().train.len(), 8_000);
}

#[test]
fn the_repository_digits_load_with_the_project_split() {
    let m = Mnist::load_default().unwrap();
    assert_eq!((m.len(), m.rows, m.cols), (10_000, 28, 28));
    assert_eq!((m.train.len(), m.test.len(), m.train.numel()), (8_000, 2_000, 784));
    assert!(m.train.targets().iter().chain(m.test.targets()).all(|&y| y <= 9));
    let mut counts = [0usize; 10];
    m.test.targets().iter().for_each(|&y| counts[y] += 1);
    assert_eq!(counts, [202, 219, 196, 213, 187, 179, 185, 226, 199, 194]);
    // Every class occurs in training too, and pixels span [0, 1].
    let mut train_counts = [0usize; 10];
    m.train.targets().iter().for_each(|&y| train_counts[y] += 1);
    assert!(train_counts.iter().all(|&c| c > 600), "{train_counts:?}");
    assert!(m.train.inputs().iter().all(|p| (0.0..=1.0).contains(p)));

    // The same files, decompressed and renamed, read the same (raw IDX path, any dir).
    let dir = TempDir::new("raw10k");
    for name in [Mnist::IMAGES_10K, Mnist::LABELS_10K] {
        let a = idx::read(Mnist::default_dir().join(format!("{name}.gz"))).unwrap();
        let mut raw = header(a.magic(), &a.dims().iter().map(|&d| d as u32).collect::<Vec<_>>());
        raw.extend_from_slice(a.data());
        dir.file(name, &raw);
    }
    assert_eq!(Mnist::load_10k(&dir.0).unwrap().train, m.train);

    // Another number of digits is not the repository's set.
    let small = TempDir::new("small10k");
    small.file(&format!("{}.gz", Mnist::IMAGES_10K), &gzip(&images(20, 28, 28)));
    small.file(Mnist::LABELS_10K, &labels(20));
    let e = Mnist::load_10k(&small.0).unwrap_err();
    assert!(matches!(e, DataError::Count { expected: 10_000, found: 20, .. }), "{e}");
}

#[test]
fn mnist_batches_cover_the_training_part_reproducibly() {
    let m = Mnist::load_default().unwrap();
    let (mut train, mut val) = m.train.holdout(Holdout::Seeded { len: 1_000, seed: 0 }).unwrap();
    let norm = Normalize::mnist();
    norm.apply_dataset(&mut train).unwrap();
    norm.apply_dataset(&mut val).unwrap();
    let mut batches = Batches::new(64, 0).unwrap();
    let mut first = Vec::new();
    for epoch in 0..2 {
        let mut seen = vec![0u8; train.len()];
        let mut e = batches.epoch(epoch, &train);
        while let Some(b) = e.next_batch() {
            assert_eq!((b.inputs.len(), b.targets.len()), (b.len() * 784, b.len()));
            b.indices.iter().for_each(|&i| seen[i] += 1);
        }
        assert!(seen.iter().all(|&c| c == 1));
        first.push(batches.order()[..8].to_vec());
    }
    assert_ne!(first[0], first[1]);
    let mut again = Batches::new(64, 0).unwrap();
    let _ = again.epoch(1, &train);
    assert_eq!(again.order()[..8], first[1]);
}

#[test]
fn csv_errors_name_the_file_line_and_column() {
    let dir = TempDir::new("csv");
    let p = dir.file("t.csv", b"a,b,c,y\n1,2,3,4\n\n1,2,3,4\n1,2,3,4\n1,2,3,4\n1,2,abc,4\n");
    let e = Csv::new().read::<f32>(&p).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: line 7, column 3: expected a number, found `abc`", name(&p)));

    let p = dir.file("ragged.csv", b"a,b,y\n1,2,3\n1,2\n");
    let e = Csv::new().read::<f64>(&p).unwrap_err();
    assert!(
        matches!(e, DataError::Csv { line: Some(3), problem: CsvProblem::Ragged { expected: 3, found: 2, .. }, .. }),
        "{e}"
    );
    assert_eq!(e.to_string(), format!("{}: line 3: expected 3 fields, as on line 1, found 2", name(&p)));

    let p = dir.file("latin1.csv", b"a,y\n1,2\n\xe9,3\n");
    let e = Csv::new().read::<f32>(&p).unwrap_err();
    assert!(matches!(e, DataError::Csv { line: Some(3), problem: CsvProblem::NotUtf8, .. }), "{e}");

    let p = dir.file("named.csv", b"x,price\n1,2\n");
    let e = Csv::new().target("cost").read::<f32>(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: line 1: expected a column named `cost` in the header, found `x`, `price`", name(&p))
    );
    let t = Csv::new().target("price").read::<f32>(&p).unwrap();
    assert_eq!((t.data.inputs(), t.data.targets(), t.target.as_str()), (&[1.0][..], &[2.0][..], "price"));

    let e = Csv::new().read::<f32>(dir.0.join("absent.csv")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
}
