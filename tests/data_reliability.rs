//! What every reader promises beyond parsing (docs/RELIABILITY.md): special files are
//! refused before they are opened, with an error naming the path and what it is, by every
//! loader (CSV, IDX, an MNIST directory, safetensors, checkpoints); CSV line ends of every
//! kind; CSV limits and value bounds with errors that say what to do; gzip IDX read as
//! `gunzip` reads it; MNIST's errors name their file.
//!
//! A loader that blocks is a failure, not a hang: each special-file read runs on a thread
//! and must answer within [`PATIENCE`].
#![cfg(all(feature = "data", feature = "safetensors"))]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use monograd::nn::data::{idx, Csv, CsvProblem, DataError, Mnist};
use monograd::nn::serialize::{checkpoint, safetensors};
use monograd::prelude::*;

/// How long a loader may take to refuse a special file.
const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh, empty directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("monograd-reliability-{}-{n}-{name}", std::process::id()));
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

/// What `f` returns, or a failure if it does not return within [`PATIENCE`].
fn promptly<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("{what}: no answer within {PATIENCE:?}: the reader blocks"))
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

/// One gzip member holding `data` in stored (uncompressed) deflate blocks.
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

/// `n` images of `rows x cols`, raw IDX.
fn images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut v = header(idx::IMAGES, &[n, rows, cols]);
    v.extend((0..n * rows * cols).map(|i| (i % 256) as u8));
    v
}

/// `n` labels `i % 10`, raw IDX.
fn labels(n: u32) -> Vec<u8> {
    let mut v = header(idx::LABELS, &[n]);
    v.extend((0..n).map(|i| (i % 10) as u8));
    v
}

/// Makes a named pipe at `path` with the system's `mkfifo`.
#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// The message of a loader's error for a path that is not a regular file: it names the
/// path and what the path is.
fn assert_names(e: &dyn std::fmt::Display, path: &Path, kind: &str) {
    let text = e.to_string();
    assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
    assert!(text.contains(&format!("is {kind}, not a regular file")), "{text}");
}

#[cfg(unix)]
#[test]
fn every_loader_refuses_a_named_pipe_at_once() {
    let dir = TempDir::new("fifo");
    let pipe = dir.0.join("pipe");
    mkfifo(&pipe);
    let kind = "a named pipe (FIFO)";

    let p = pipe.clone();
    let e = promptly("Csv::read", move || Csv::new().read::<f32>(&p)).unwrap_err();
    assert!(matches!(&e, DataError::NotAFile { path, .. } if path == &pipe), "{e}");
    assert_names(&e, &pipe, kind);

    let p = pipe.clone();
    let e = promptly("idx::read", move || idx::read(&p)).unwrap_err();
    assert_names(&e, &pipe, kind);

    // An MNIST directory whose training images are a pipe: the error names that file.
    let mnist = TempDir::new("fifo-mnist");
    let images_path = mnist.0.join("train-images-idx3-ubyte");
    mkfifo(&images_path);
    mnist.file("train-labels-idx1-ubyte", &labels(2));
    mnist.file("t10k-images-idx3-ubyte", &images(2, 28, 28));
    mnist.file("t10k-labels-idx1-ubyte", &labels(2));
    let d = mnist.0.clone();
    let e = promptly("Mnist::load_dir", move || Mnist::load_dir(&d)).unwrap_err();
    assert_names(&e, &images_path, kind);

    let p = pipe.clone();
    let e = promptly("safetensors::load", move || {
        safetensors::load(&mut Linear::<2, 1>::default(), &p, &Default::default()).map(|_| ())
    })
    .unwrap_err();
    assert_names(&e, &pipe, kind);

    let p = pipe.clone();
    let e = promptly("checkpoint::load", move || {
        checkpoint::load(&mut Linear::<2, 1>::default(), &mut Sgd::new(0.1f32), &p).map(|_| ())
    })
    .unwrap_err();
    assert_names(&e, &pipe, kind);
}

#[cfg(unix)]
#[test]
fn devices_and_directories_are_refused_too() {
    let null = Path::new("/dev/null");
    let e = Csv::new().read::<f32>(null).unwrap_err();
    assert!(matches!(e, DataError::NotAFile { kind: "a character device", .. }), "{e}");
    assert_names(&e, null, "a character device");
    assert_names(&idx::read(null).unwrap_err(), null, "a character device");
    let e = safetensors::load(&mut Linear::<2, 1>::default(), null, &Default::default()).unwrap_err();
    assert_names(&e, null, "a character device");

    let dir = TempDir::new("dirs");
    let e = Csv::new().read::<f32>(&dir.0).unwrap_err();
    assert_names(&e, &dir.0, "a directory");
    let e = safetensors::load(&mut Linear::<2, 1>::default(), &dir.0, &Default::default()).unwrap_err();
    assert_names(&e, &dir.0, "a directory");
    // A directory where MNIST expects a file is reported as such, not passed over.
    let mnist = TempDir::new("dir-mnist");
    let images_path = mnist.0.join(Mnist::IMAGES_10K);
    fs::create_dir(&images_path).unwrap();
    mnist.file(Mnist::LABELS_10K, &labels(2));
    assert_names(&Mnist::load_10k(&mnist.0).unwrap_err(), &images_path, "a directory");
}

#[test]
fn csv_lines_may_end_in_lf_crlf_or_a_lone_cr() {
    let dir = TempDir::new("line-ends");
    let want = Csv::new().parse::<f32>("a,b,y\n1,2,3\n4,5,6\n", "want").unwrap();
    for (name, text) in [
        ("lf.csv", &b"a,b,y\n1,2,3\n4,5,6\n"[..]),
        ("crlf.csv", b"a,b,y\r\n1,2,3\r\n4,5,6\r\n"),
        ("cr.csv", b"a,b,y\r1,2,3\r4,5,6\r"),
        ("cr-no-end.csv", b"a,b,y\r1,2,3\r4,5,6"),
        ("mixed.csv", b"\xef\xbb\xbfa,b,y\r\n1,2,3\r\r4,5,6\n\n"),
    ] {
        let p = dir.file(name, text);
        let t = Csv::new().read::<f32>(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t, want, "{name}");
    }
    // Lines are counted for every kind of line end: line 3 here.
    let p = dir.file("cr-bad.csv", b"a,y\r1,2\rx,3\r");
    let e = Csv::new().read::<f32>(&p).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: line 3, column 1: expected a number, found `x`", p.display()));
    let p = dir.file("crlf-bad.csv", b"a,y\r\n1,2\r\n\r\nx,3\r\n");
    let e = Csv::new().read::<f32>(&p).unwrap_err();
    assert!(matches!(e, DataError::Csv { line: Some(4), column: Some(1), .. }), "{e}");
}

#[test]
fn csv_limits_stop_the_read_and_say_what_to_do() {
    let dir = TempDir::new("limits");
    let long = format!("a,y\n1,2\n{},2\n", "1".repeat(Csv::DEFAULT_MAX_LINE_LEN));
    let p = dir.file("long.csv", long.as_bytes());
    let e = Csv::new().read::<f64>(&p).unwrap_err();
    assert!(matches!(e, DataError::Csv { line: Some(3), problem: CsvProblem::LineTooLong { limit: 1_048_576 }, .. }));
    let text = e.to_string();
    assert!(text.starts_with(&format!("{}: line 3: the line is longer than 1048576 bytes", p.display())), "{text}");
    assert!(text.contains("raise the limit with `Csv::max_line_len`"), "{text}");
    // Raised, the same file reads (as a number of a million digits: past the default bound).
    let e = Csv::new().max_line_len(2 << 20).read::<f64>(&p).unwrap_err();
    assert!(matches!(e, DataError::Csv { line: Some(3), column: Some(1), problem: CsvProblem::TooLarge { .. }, .. }));
    let t = Csv::new().max_line_len(2 << 20).allow_non_finite(true).read::<f64>(&p).unwrap();
    assert_eq!(t.data.inputs(), &[1.0, f64::INFINITY]);

    let wide = format!("{}\n", ["1"; 11].join(","));
    let p = dir.file("wide.csv", wide.as_bytes());
    let e = Csv::new().header(false).max_fields(10).read::<f32>(&p).unwrap_err();
    assert!(matches!(e, DataError::Csv { line: Some(1), problem: CsvProblem::TooManyFields { limit: 10 }, .. }));
    assert!(e.to_string().contains("the line has more than 10 fields, the reader's limit"), "{e}");
    assert!(Csv::new().header(false).max_fields(11).read::<f32>(&p).is_ok());
}

#[test]
fn non_finite_and_huge_values_need_the_readers_consent() {
    let c = Csv::new();
    for (text, col, problem) in [
        ("a,y\n1,NaN\n", 2, "expected a finite number, found `NaN`"),
        ("a,y\n-inf,1\n", 1, "expected a finite number, found `-inf`"),
        ("a,y\n1,2e30\n", 2, "expected a number of magnitude at most 1e30, found `2e30`"),
        ("a,y\n-1e31,0\n", 1, "expected a number of magnitude at most 1e30, found `-1e31`"),
    ] {
        let e = c.parse::<f64>(text, "v.csv").unwrap_err();
        assert!(e.to_string().starts_with(&format!("v.csv: line 2, column {col}: {problem}")), "{e}");
    }
    // f32 cannot hold 1e39: past any bound, whatever `max_abs` says.
    let e = c.max_abs(f64::INFINITY).parse::<f32>("a,y\n1,1e39\n", "v.csv").unwrap_err();
    assert!(matches!(e, DataError::Csv { problem: CsvProblem::TooLarge { .. }, .. }), "{e}");
    assert_eq!(c.max_abs(f64::INFINITY).parse::<f64>("a,y\n1,1e39\n", "v.csv").unwrap().data.targets(), &[1e39]);
    // 1e30 itself is within the bound.
    assert_eq!(c.parse::<f64>("a,y\n1e30,-1e30\n", "v.csv").unwrap().data.targets(), &[-1e30]);
    let t = c.allow_non_finite(true).parse::<f64>("a,y\nNaN,inf\n", "v.csv").unwrap();
    assert!(t.data.inputs()[0].is_nan() && t.data.targets()[0] == f64::INFINITY);
    let t = c.max_abs(1e3).parse::<f32>("a,y\n999,1000\n", "v.csv").unwrap();
    assert_eq!(t.data.targets(), &[1000.0]);
    assert!(c.max_abs(1e3).parse::<f32>("a,y\n1001,1\n", "v.csv").is_err());
}

#[test]
fn gzip_idx_reads_every_member_as_gunzip_does_and_refuses_trailing_junk() {
    let dir = TempDir::new("members");
    let raw = images(3, 4, 5);
    let want = idx::parse(&raw, "raw", Some(idx::IMAGES)).unwrap();
    // `cat a.gz b.gz`: the data split across members, at the header and inside the data;
    // an empty member in between changes nothing.
    for (name, parts) in [
        ("two.gz", vec![&raw[..16], &raw[16..]]),
        ("three.gz", vec![&raw[..7], &raw[7..30], &raw[30..]]),
        ("empty-member.gz", vec![&raw[..20], &[][..], &raw[20..]]),
        ("empty-last.gz", vec![&raw[..], &[][..]]),
    ] {
        let bytes: Vec<u8> = parts.iter().flat_map(|p| gzip(p)).collect();
        let p = dir.file(name, &bytes);
        assert_eq!(idx::read_images(&p).unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
        assert_eq!(idx::parse(&bytes, name, Some(idx::IMAGES)).unwrap(), want, "{name}");
    }
    // More data in a second member than the header declares: trailing data, as raw.
    let mut more = gzip(&raw);
    more.extend(gzip(&[7]));
    let e = idx::read_images(dir.file("more.gz", &more)).unwrap_err();
    assert!(matches!(e, DataError::TrailingData { .. }), "{e}");

    // Bytes after the last member that are not a member: refused, as raw trailing bytes are.
    for (name, junk) in [
        ("zeros.gz", &[0u8; 16][..]),
        ("one-byte.gz", &[0][..]),
        ("text.gz", b"junk\n"),
        ("bad-magic.gz", &[0x1f, 0x00, 8, 0, 0, 0, 0, 0, 0, 0xff]),
        ("bad-method.gz", &[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3]),
    ] {
        let mut bytes = gzip(&raw);
        bytes.extend_from_slice(junk);
        let p = dir.file(name, &bytes);
        let e = idx::read_images(&p).unwrap_err();
        assert!(matches!(e, DataError::TrailingGzip { members: 1, .. }), "{name}: {e}");
        assert!(
            e.to_string().starts_with(&format!(
                "{}: expected the end of the file or another gzip member after gzip member 1, found other bytes",
                p.display()
            )),
            "{e}"
        );
    }
    // A second member cut short: the file ends early.
    let mut cut = gzip(&raw[..16]);
    let second = gzip(&raw[16..]);
    cut.extend_from_slice(&second[..second.len() - 3]);
    let e = idx::read_images(dir.file("cut.gz", &cut)).unwrap_err();
    assert!(matches!(e, DataError::TruncatedGzip { .. }), "{e}");
    // A bad checksum in the first of two members is still caught.
    let mut bad = gzip(&raw[..16]);
    let n = bad.len();
    bad[n - 6] ^= 0x40;
    bad.extend(gzip(&raw[16..]));
    let e = idx::read_images(dir.file("bad-crc.gz", &bad)).unwrap_err();
    assert!(matches!(e, DataError::Gzip { .. }), "{e}");
}

#[test]
fn mnist_images_without_pixels_name_their_file() {
    let dir = TempDir::new("zero-width");
    let images_path = dir.file("train-images-idx3-ubyte", &images(2, 28, 0));
    dir.file("train-labels-idx1-ubyte", &labels(2));
    dir.file("t10k-images-idx3-ubyte", &images(2, 28, 28));
    dir.file("t10k-labels-idx1-ubyte", &labels(2));
    let e = Mnist::load_dir(&dir.0).unwrap_err();
    assert!(matches!(&e, DataError::EmptyImages { path, rows: 28, cols: 0 } if path == &images_path), "{e}");
    assert_eq!(
        e.to_string(),
        format!("{}: expected images of at least 1x1 pixels, found 28x0 in the header", images_path.display())
    );
}
