//! Saving and loading models, with PyTorch's names.
//!
//! | file | what |
//! | --- | --- |
//! | [`safetensors`] | [`save`](safetensors::save) and [`load`](safetensors::load) any [`Module`](monograd_core::Module) of `f32` or `f64` as a `.safetensors` file that PyTorch reads and writes |
//! | [`names`] | [`NameMap`](names::NameMap): the model's names to the file's ([`Sequential`](names::Sequential) indices, a [`Prefix`](names::Prefix), any closure) |
//! | [`checkpoint`] | a training run in one file: the model, the optimizer's state, the step, the data cursor, the generators; resumes bit-identically |
//! | [`atomic`] | replacing a file so that a failed save never loses the previous one |
//! | [`half`] | `F16` and `BF16` widened to `f32`, exactly |
//!
//! A model's tensors are its [`Module::visit`](monograd_core::Module::visit) tensors, under
//! their dotted names (`fc1.weight`, `bn.running_var`) in PyTorch's layouts, plus the
//! counters that [`Module::visit_counters`](monograd_core::Module::visit_counters) reports as
//! [`CounterKind::Buffer`](monograd_core::module::CounterKind::Buffer) (BatchNorm's
//! `num_batches_tracked`, an int64 scalar), exactly as a `torch.nn` module's `state_dict`
//! holds them. docs/FORMATS.md has the whole mapping and a round trip through PyTorch.
//!
//! ```
//! use monograd_nn::serialize::safetensors::{self, LoadOptions};
//! use monograd_nn::{BatchNorm1d, Linear};
//! use monograd_core::{Module, Rng};
//!
//! # let dir = std::env::temp_dir().join(format!("monograd-doc-serialize-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("fc.safetensors");
//! let fc = Linear::<3, 2>::new(&mut Rng::seed(1));
//! safetensors::save(&fc, &path)?;
//!
//! let mut back = Linear::<3, 2>::ZERO;
//! let report = safetensors::load(&mut back, &path, &LoadOptions::strict())?;
//! assert_eq!(back, fc);
//! assert_eq!(report.loaded, ["weight", "bias"]);
//!
//! // A file for another layer is an error that names the tensor and both shapes.
//! let mut wrong = Linear::<4, 2>::ZERO;
//! let err = safetensors::load(&mut wrong, &path, &LoadOptions::strict()).unwrap_err();
//! assert!(err.to_string().ends_with("tensor `weight`: the model has shape [2, 4], the file [2, 3]"), "{err}");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), monograd_nn::serialize::SerializeError>(())
//! ```

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

pub mod atomic;
pub mod checkpoint;
pub use monograd_core::half;
pub mod names;
pub mod safetensors;

/// What went wrong saving or loading: the file, the tensor, what was expected and what
/// was found. Loading never panics on what it reads, and leaves the model unchanged on
/// any error.
///
/// ```
/// use monograd_nn::serialize::SerializeError;
/// let e = SerializeError::Shape {
///     path: "model.safetensors".into(),
///     name: "fc1.weight".into(),
///     expected: vec![8, 4],
///     found: vec![8, 5],
/// };
/// assert_eq!(e.to_string(), "model.safetensors: tensor `fc1.weight`: the model has shape [8, 4], the file [8, 5]");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SerializeError {
    /// The file could not be opened, read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file ends before what its header describes (or before the 8 bytes of the
    /// header's length).
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header describes.
        expected: u64,
        /// Bytes the file holds.
        found: u64,
    },
    /// The file holds more bytes than its header describes.
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Bytes the header describes.
        expected: u64,
        /// Bytes the file holds.
        found: u64,
    },
    /// The header's length, in the first 8 bytes, is more than the file holds or than
    /// any safetensors header may be: nothing is read or allocated for it.
    HeaderLength {
        /// The file.
        path: PathBuf,
        /// The length the file claims.
        claimed: u64,
        /// The most it could be: the bytes after the first 8, or safetensors' limit of
        /// 100 MB.
        limit: u64,
    },
    /// The header is not valid UTF-8 or JSON, or describes tensors that do not fit
    /// together (offsets with gaps or overlaps, a size that does not match the shape).
    CorruptHeader {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        reason: String,
    },
    /// Tensors of the model are not in the file (under their mapped names).
    Missing {
        /// The file.
        path: PathBuf,
        /// The names looked for in the file, in the model's order.
        names: Vec<String>,
        /// What the file holds that no tensor of the model asked for (when loading
        /// leniently all of it, sorted; else the first 8 in the header's order): often
        /// the same tensors under other names, which a [`NameMap`](names::NameMap)
        /// translates.
        unexpected: Vec<String>,
    },
    /// In strict mode, the file holds tensors the model does not have.
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The first few of the file's names (up to 8), in the header's order.
        names: Vec<String>,
        /// How many there are in all.
        count: usize,
    },
    /// A tensor's shape in the file differs from the model's.
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name in the file.
        name: String,
        /// The model's shape, PyTorch's layout.
        expected: Vec<usize>,
        /// The file's.
        found: Vec<usize>,
    },
    /// A tensor's element type in the file cannot be loaded into the model's.
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name in the file.
        name: String,
        /// What the model accepts (`"F32 (or F16, BF16)"`).
        expected: &'static str,
        /// The file's (`"I64"`).
        found: String,
    },
    /// A counter (an int64 such as `num_batches_tracked`) is negative in the file.
    NegativeCounter {
        /// The file.
        path: PathBuf,
        /// The counter's name in the file.
        name: String,
        /// The value found.
        value: i64,
    },
    /// Two of the model's names map to one name in the file.
    DuplicateName {
        /// The file.
        path: PathBuf,
        /// The file's name.
        name: String,
        /// The model's two names.
        model_names: [String; 2],
    },
    /// A checkpoint's metadata is not what it should be: not a checkpoint at all, a
    /// field missing or malformed, or a setting that differs from the trainer's.
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// A checkpoint of a format version this build does not read.
    Version {
        /// The file.
        path: PathBuf,
        /// The version the file claims.
        found: String,
    },
    /// A checkpoint holds the state of another kind of optimizer.
    OptimizerKind {
        /// The file.
        path: PathBuf,
        /// The optimizer loading it (`"Adam"`).
        expected: String,
        /// The optimizer that saved it.
        found: String,
    },
    /// The optimizer cannot hold the checkpoint's state (a fixed store too short).
    OptimizerState {
        /// The file.
        path: PathBuf,
        /// The optimizer's error.
        source: crate::optim::OptimError,
    },
}

/// `[2, 3]`, `[]` for a scalar.
struct Dims<'a>(&'a [usize]);

impl fmt::Display for Dims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// `` `a`, `b`, `c` `` (the first 8, then how many more).
struct Names<'a>(&'a [String]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        for (i, n) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{n}`")?;
        }
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Truncated { path, expected, found } => write!(
                f,
                "{}: truncated: the header describes {expected} bytes, the file holds {found}",
                path.display()
            ),
            Self::TrailingData { path, expected, found } => {
                write!(f, "{}: the header describes {expected} bytes, but the file holds {found}", path.display())
            }
            Self::HeaderLength { path, claimed, limit } => write!(
                f,
                "{}: not a safetensors file: its header length is {claimed} bytes, more than the {limit} possible",
                path.display()
            ),
            Self::CorruptHeader { path, reason } => write!(f, "{}: corrupt header: {reason}", path.display()),
            Self::Missing { path, names, unexpected } => {
                let s = if names.len() == 1 { "" } else { "s" };
                write!(f, "{}: {} tensor{s} missing from the file: {}", path.display(), names.len(), Names(names))?;
                if !unexpected.is_empty() {
                    write!(f, "; the file has instead {} (a NameMap translates names)", Names(unexpected))?;
                }
                Ok(())
            }
            Self::Unexpected { path, names, count } => {
                let s = if *count == 1 { "" } else { "s" };
                write!(
                    f,
                    "{}: {count} tensor{s} in the file that the model does not have: {}",
                    path.display(),
                    Names(names)
                )?;
                if *count > names.len() {
                    write!(f, " and {} more", count - names.len())?;
                }
                write!(f, " (load leniently to ignore them)")
            }
            Self::Shape { path, name, expected, found } => write!(
                f,
                "{}: tensor `{name}`: the model has shape {}, the file {}",
                path.display(),
                Dims(expected),
                Dims(found)
            ),
            Self::Dtype { path, name, expected, found } => {
                write!(f, "{}: tensor `{name}`: expected {expected}, the file has {found}", path.display())
            }
            Self::NegativeCounter { path, name, value } => {
                write!(f, "{}: counter `{name}` is {value}, not a count", path.display())
            }
            Self::DuplicateName { path, name, model_names: [a, b] } if a == b => {
                write!(f, "{}: two tensors are named `{name}`", path.display())
            }
            Self::DuplicateName { path, name, model_names: [a, b] } => {
                write!(f, "{}: the model's `{a}` and `{b}` both map to `{name}` in the file", path.display())
            }
            Self::Checkpoint { path, problem } => write!(f, "{}: checkpoint: {problem}", path.display()),
            Self::Version { path, found } => write!(
                f,
                "{}: checkpoint format version {found}; this build reads version {}",
                path.display(),
                checkpoint::VERSION
            ),
            Self::OptimizerKind { path, expected, found } => write!(
                f,
                "{}: the checkpoint holds the state of {found}, but the optimizer is {expected}",
                path.display()
            ),
            Self::OptimizerState { path, source } => {
                write!(f, "{}: the optimizer cannot take the checkpoint's state: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for SerializeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::OptimizerState { source, .. } => Some(source),
            _ => None,
        }
    }
}
