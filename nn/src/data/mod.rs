//! Data for training: file readers, splits, normalisation and seeded mini-batches.
//!
//! | file | what |
//! | --- | --- |
//! | [`idx`] | the IDX format of MNIST (u8, any rank), gzip-compressed or raw |
//! | [`mnist`] | [`Mnist`]: the repository's 10,000 digits, or the full set from a directory |
//! | [`csv`] | [`Csv`]: numeric CSV with an optional header and a target column |
//! | [`dataset`] | [`Dataset`]: flat, row-major samples and their targets |
//! | [`split`] | train/validation [`Holdout`]s, by position or from a seed |
//! | [`normalize`] | [`Normalize`]: mean/std fitted on training data, applied to any part |
//! | [`batch`] | [`Batches`]: shuffled mini-batches reproducible from `(seed, epoch)`, no allocation per batch |
//!
//! Every reader returns a [`DataError`] for bad input (a missing, truncated or malformed
//! file, a mismatch between images and labels, a non-number in a CSV cell), naming the
//! file, what was expected and what was found; none panics on what it reads. Each takes
//! memory bounded by what it keeps (CSV: the rows and one line of at most 1 MiB; IDX: the
//! data its header declares, checked against the file), and each refuses a path that is
//! not a regular file (a directory, a named pipe, a device) before opening it, with
//! [`DataError::NotAFile`], so that nothing waits on a pipe or reads `/dev/zero` forever.
//! docs/RELIABILITY.md has every promise and its test.
//!
//! The whole story on the repository's digits (feature `data`, which needs `std`):
//!
//! ```
//! use monograd_nn::data::{Batches, Holdout, Mnist, Normalize};
//!
//! let mnist = Mnist::load_default()?; // 8,000 training digits, 2,000 test digits
//! let (mut train, mut val) = mnist.train.holdout(Holdout::Last(1_000))?;
//! let norm = Normalize::mnist(); // or Normalize::fit_global(train.inputs())
//! norm.apply_dataset(&mut train)?;
//! norm.apply_dataset(&mut val)?;
//!
//! let mut batches = Batches::new(64, 42)?; // batch size, seed
//! let mut seen = 0;
//! let mut epoch = batches.epoch(0, &train);
//! while let Some(batch) = epoch.next_batch() {
//!     assert_eq!(batch.inputs.len(), batch.len() * 784);
//!     seen += batch.len();
//! }
//! assert_eq!(seen, 7_000);
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

use monograd_core::ShapeError;

pub mod batch;
pub mod csv;
pub mod dataset;
pub mod idx;
mod lines;
pub mod mnist;
pub mod normalize;
pub mod split;

pub use batch::{Batch, Batches, Cursor, Epoch};
pub use csv::{Column, Csv, CsvProblem, Table};
pub use dataset::Dataset;
pub use idx::Idx;
pub use mnist::Mnist;
pub use normalize::Normalize;
pub use split::Holdout;

/// What went wrong reading or preparing data: the file, what was expected, what was found.
///
/// ```
/// use monograd_nn::data::DataError;
/// let e = DataError::Magic { path: "data/mnist/x.gz".into(), expected: Some(0x803), found: 0x801 };
/// assert_eq!(
///     e.to_string(),
///     "data/mnist/x.gz: expected magic 0x00000803 (IDX images), found 0x00000801 (IDX labels)"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A directory lacks a file under its standard name, compressed or not.
    Missing {
        /// The directory searched.
        dir: PathBuf,
        /// The standard name (`train-images-idx3-ubyte`); `NAME.gz` was tried too.
        name: &'static str,
    },
    /// The file starts with the gzip magic bytes but does not decompress.
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: io::Error,
    },
    /// A gzip file ends before its compressed stream does (a truncated download).
    TruncatedGzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: io::Error,
    },
    /// After the last complete gzip member, bytes that do not start another member (the
    /// counterpart of [`DataError::TrailingData`] for a compressed file).
    TrailingGzip {
        /// The file.
        path: PathBuf,
        /// Complete members before those bytes.
        members: usize,
    },
    /// A path names something other than a regular file: a directory, a named pipe
    /// (FIFO), a device, a socket. Readers refuse it before opening it, since a FIFO would
    /// block and a device may never end.
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is (`"a named pipe (FIFO)"`).
        kind: &'static str,
    },
    /// An IDX file's magic number is not the one required.
    Magic {
        /// The file.
        path: PathBuf,
        /// The magic number required, or `None` for any u8 IDX (`0x000008NN`, `NN` the rank).
        expected: Option<u32>,
        /// The first four bytes, big-endian.
        found: u32,
    },
    /// The file ends inside the IDX header.
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Bytes the header needs (4 for the magic number, plus 4 per dimension).
        expected: u64,
        /// Bytes the file holds.
        found: u64,
    },
    /// The file holds fewer data bytes than its header's dimensions declare.
    TruncatedData {
        /// The file.
        path: PathBuf,
        /// The dimensions declared by the header.
        dims: Vec<usize>,
        /// Bytes of data the dimensions need.
        expected: u64,
        /// Bytes of data the file holds after the header.
        found: u64,
    },
    /// The file holds more bytes than its header's dimensions declare.
    TrailingData {
        /// The file.
        path: PathBuf,
        /// The dimensions declared by the header.
        dims: Vec<usize>,
        /// Bytes of data the dimensions need.
        expected: u64,
    },
    /// The product of the declared dimensions does not fit in memory's address space.
    Overflow {
        /// The file.
        path: PathBuf,
        /// The dimensions declared by the header.
        dims: Vec<u32>,
    },
    /// Images and labels disagree on the number of samples.
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Its number of images.
        n_images: usize,
        /// The labels file.
        labels: PathBuf,
        /// Its number of labels.
        n_labels: usize,
    },
    /// A file holds a different number of samples than required.
    Count {
        /// The file.
        path: PathBuf,
        /// What is counted (`"images"`).
        what: &'static str,
        /// The number required.
        expected: usize,
        /// The number the file holds.
        found: usize,
    },
    /// Two image files disagree on the image size.
    ImageSize {
        /// The file whose images differ.
        path: PathBuf,
        /// `(rows, cols)` of the first file.
        expected: (usize, usize),
        /// `(rows, cols)` of this one.
        found: (usize, usize),
    },
    /// An images file declares images with no pixels (0 rows or 0 columns).
    EmptyImages {
        /// The images file.
        path: PathBuf,
        /// Rows of an image, as declared.
        rows: usize,
        /// Columns of an image, as declared.
        cols: usize,
    },
    /// A class label is not below the number of classes.
    Label {
        /// The labels file.
        path: PathBuf,
        /// The sample's index in the file.
        index: usize,
        /// The label read.
        label: usize,
        /// The number of classes.
        classes: usize,
    },
    /// A CSV file does not parse; `line` and `column` count from 1, as editors do.
    Csv {
        /// The file.
        path: PathBuf,
        /// The line, when the problem has one.
        line: Option<usize>,
        /// The column (field), when the problem has one.
        column: Option<usize>,
        /// What was wrong.
        problem: CsvProblem,
    },
    /// An argument is out of its range (a batch size of 0, a holdout larger than the data).
    Argument {
        /// The argument.
        what: &'static str,
        /// What it must be.
        expected: String,
        /// What it was.
        found: String,
    },
    /// Slice lengths that do not fit together.
    Shape(ShapeError),
}

/// A short description of an IDX magic number, for messages.
fn describe_magic(m: u32) -> String {
    use std::format;
    let [z0, z1, ty, rank] = m.to_be_bytes();
    let ty = match ty {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => return String::from("not an IDX file"),
    };
    match (z0, z1, ty, rank) {
        (0, 0, "u8", 1) => String::from("IDX labels"),
        (0, 0, "u8", 3) => String::from("IDX images"),
        (0, 0, ty, rank) => format!("IDX of {ty}, rank {rank}"),
        _ => String::from("not an IDX file"),
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn dims_str<D: fmt::Display>(dims: &[D]) -> String {
            use std::string::ToString;
            if dims.is_empty() {
                return String::from("a scalar");
            }
            dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ")
        }
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Missing { dir, name } => {
                write!(f, "{}: no file `{name}` or `{name}.gz`", dir.display())
            }
            Self::Gzip { path, source } => {
                write!(f, "{}: starts like gzip but does not decompress: {source}", path.display())
            }
            Self::TruncatedGzip { path, source } => {
                write!(f, "{}: file ends early: the gzip stream stops before its end ({source})", path.display())
            }
            Self::TrailingGzip { path, members } => write!(
                f,
                "{}: expected the end of the file or another gzip member after gzip member {members}, found other \
                 bytes (trailing junk; recompress the data, or cut the file after its last member)",
                path.display()
            ),
            Self::NotAFile { path, kind } => {
                write!(f, "{}: is {kind}, not a regular file; {}", path.display(), crate::file::ADVICE)
            }
            Self::Magic { path, expected, found } => {
                write!(f, "{}: expected magic ", path.display())?;
                match expected {
                    Some(m) => write!(f, "{m:#010x} ({})", describe_magic(*m))?,
                    None => write!(f, "0x000008NN (u8 IDX of rank NN)")?,
                }
                write!(f, ", found {found:#010x} ({})", describe_magic(*found))
            }
            Self::TruncatedHeader { path, expected, found } => write!(
                f,
                "{}: file ends inside the IDX header: expected {expected} header bytes, found {found}",
                path.display()
            ),
            Self::TruncatedData { path, dims, expected, found } => write!(
                f,
                "{}: file ends early: the header declares {} = {expected} bytes of data, found {found}",
                path.display(),
                dims_str(dims)
            ),
            Self::TrailingData { path, dims, expected } => write!(
                f,
                "{}: expected {expected} bytes of data after the header ({}), found more",
                path.display(),
                dims_str(dims)
            ),
            Self::Overflow { path, dims } => write!(
                f,
                "{}: the header declares {} elements, more than memory can address",
                path.display(),
                dims_str(dims)
            ),
            Self::CountMismatch { images, n_images, labels, n_labels } => write!(
                f,
                "{}: expected as many labels as {} has images ({n_images}), found {n_labels}",
                labels.display(),
                images.display()
            ),
            Self::Count { path, what, expected, found } => {
                write!(f, "{}: expected {expected} {what}, found {found}", path.display())
            }
            Self::ImageSize { path, expected, found } => write!(
                f,
                "{}: expected {}x{} images, found {}x{}",
                path.display(),
                expected.0,
                expected.1,
                found.0,
                found.1
            ),
            Self::EmptyImages { path, rows, cols } => write!(
                f,
                "{}: expected images of at least 1x1 pixels, found {rows}x{cols} in the header",
                path.display()
            ),
            Self::Label { path, index, label, classes } => write!(
                f,
                "{}: label {index}: expected a class in 0..={}, found {label}",
                path.display(),
                classes.saturating_sub(1)
            ),
            Self::Csv { path, line, column, problem } => {
                write!(f, "{}: ", path.display())?;
                match (line, column) {
                    (Some(l), Some(c)) => write!(f, "line {l}, column {c}: ")?,
                    (Some(l), None) => write!(f, "line {l}: ")?,
                    _ => {}
                }
                write!(f, "{problem}")
            }
            Self::Argument { what, expected, found } => write!(f, "{what}: expected {expected}, found {found}"),
            Self::Shape(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } | Self::Gzip { source, .. } | Self::TruncatedGzip { source, .. } => Some(source),
            Self::Shape(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ShapeError> for DataError {
    fn from(e: ShapeError) -> Self {
        Self::Shape(e)
    }
}

impl DataError {
    /// An [`io::Error`] on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// Why opening `path` failed.
    pub(crate) fn open(path: impl Into<PathBuf>, e: crate::file::OpenError) -> Self {
        match e {
            crate::file::OpenError::Io(source) => Self::Io { path: path.into(), source },
            crate::file::OpenError::NotAFile(kind) => Self::NotAFile { path: path.into(), kind },
        }
    }

    /// An argument out of range.
    pub(crate) fn argument(what: &'static str, expected: impl fmt::Display, found: impl fmt::Display) -> Self {
        use std::string::ToString;
        Self::Argument { what, expected: expected.to_string(), found: found.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn messages_name_the_file_what_was_expected_and_what_was_found() {
        let e = DataError::Magic { path: "a.idx".into(), expected: None, found: 0x1f8b_0808 };
        assert_eq!(
            e.to_string(),
            "a.idx: expected magic 0x000008NN (u8 IDX of rank NN), found 0x1f8b0808 (not an IDX file)"
        );
        let e = DataError::Magic { path: "a.idx".into(), expected: Some(0x801), found: 0x0D02 };
        assert_eq!(
            e.to_string(),
            "a.idx: expected magic 0x00000801 (IDX labels), found 0x00000d02 (IDX of f32, rank 2)"
        );
        let e = DataError::TruncatedData { path: "x".into(), dims: std::vec![10, 28, 28], expected: 7840, found: 100 };
        assert_eq!(
            e.to_string(),
            "x: file ends early: the header declares 10 x 28 x 28 = 7840 bytes of data, found 100"
        );
        let e = DataError::Label { path: "l".into(), index: 4, label: 12, classes: 10 };
        assert_eq!(e.to_string(), "l: label 4: expected a class in 0..=9, found 12");
        let e = DataError::Csv {
            path: "t.csv".into(),
            line: Some(7),
            column: Some(3),
            problem: CsvProblem::NotANumber { found: "abc".into() },
        };
        assert_eq!(e.to_string(), "t.csv: line 7, column 3: expected a number, found `abc`");
        let io = DataError::io("nope", io::Error::from(io::ErrorKind::NotFound));
        assert!(io.to_string().starts_with("nope: "), "{io}");
        assert!(std::error::Error::source(&io).is_some());
    }
}
