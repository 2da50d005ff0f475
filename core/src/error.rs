//! Errors for data whose shape is known only at run time.
//!
//! Shapes known at compile time are checked by the type system and the macros; these
//! errors cover what only the running program can see: slice lengths, batch sizes beyond
//! a static capacity, and non-finite values.

use core::fmt;

/// A run-time shape or size problem, saying what was expected and what was found.
///
/// ```
/// use monograd_core::ShapeError;
/// let e = ShapeError::Length { what: "linear input", expected: 784, found: 780 };
/// assert_eq!(e.to_string(), "linear input: expected 784 values, found 780");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeError {
    /// A slice has the wrong number of elements.
    Length {
        /// What the slice is.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A flat slice does not hold a whole number of samples.
    NotWholeSamples {
        /// What the slice is.
        what: &'static str,
        /// Its length.
        len: usize,
        /// Elements in one sample.
        sample: usize,
    },
    /// Two matrix operands do not fit together.
    MatrixMismatch {
        /// The operation.
        what: &'static str,
        /// `(rows, cols)` of each operand, in order.
        dims: [(usize, usize); 3],
    },
    /// A matrix view reaches past the end of its data.
    OutOfBounds {
        /// What the view is.
        what: &'static str,
        /// The elements the view needs.
        needed: usize,
        /// The elements the data has.
        len: usize,
    },
    /// A batch is larger than a buffer's static capacity.
    Capacity {
        /// What the buffer is.
        what: &'static str,
        /// Its capacity in samples.
        capacity: usize,
        /// The batch asked for.
        requested: usize,
    },
    /// A backward pass without the training forward it needs: `backward` reads what
    /// `forward_train` kept, on the same batch.
    NoTrainingForward {
        /// The network.
        what: &'static str,
    },
    /// `backward` was given another input than the `forward_train` it follows: its gradient
    /// would belong to neither.
    InputChanged {
        /// The network.
        what: &'static str,
    },
    /// An index read from data (a class label, a token) is not below its bound.
    IndexOutOfRange {
        /// What the index is.
        what: &'static str,
        /// The index given.
        index: usize,
        /// The number of valid indices.
        bound: usize,
    },
    /// A tensor of a run-time shape has the wrong number of dimensions.
    Rank {
        /// What the tensor is.
        what: &'static str,
        /// The number of dimensions required.
        expected: usize,
        /// The number it has.
        found: usize,
    },
    /// A dimension of a tensor of a run-time shape has the wrong size.
    Dim {
        /// What the tensor is.
        what: &'static str,
        /// The dimension, from 0.
        axis: usize,
        /// The size required.
        expected: usize,
        /// The size it has.
        found: usize,
    },
    /// A setting given at run time (a stride, a window, a number of groups) is not
    /// allowed; `what` says what it must be.
    Setting {
        /// The setting and the rule it breaks.
        what: &'static str,
        /// The value given.
        found: usize,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { what, expected, found } => {
                write!(f, "{what}: expected {expected} values, found {found}")
            }
            Self::NotWholeSamples { what, len, sample } => {
                write!(f, "{what}: {len} values is not a whole number of samples of {sample} values each")
            }
            Self::MatrixMismatch { what, dims } => {
                let [a, b, c] = dims;
                write!(f, "{what}: operands do not fit: {}x{}, {}x{} into {}x{}", a.0, a.1, b.0, b.1, c.0, c.1)
            }
            Self::OutOfBounds { what, needed, len } => {
                write!(f, "{what}: the view needs {needed} values but the data holds {len}")
            }
            Self::Capacity { what, capacity, requested } => write!(
                f,
                "{what}: batch of {requested} exceeds the static capacity of {capacity} samples; \
                 raise the capacity or split the batch"
            ),
            Self::NoTrainingForward { what } => write!(
                f,
                "{what}: backward needs `forward_train` on the same batch first (an inference `forward` \
                 since then does not keep what backward reads)"
            ),
            Self::InputChanged { what } => write!(
                f,
                "{what}: backward was given another input than the last `forward_train` (its length or values \
                 differ); pass the same batch, unchanged"
            ),
            Self::IndexOutOfRange { what, index, bound } => {
                write!(f, "{what}: index {index} is out of range, expected one below {bound}")
            }
            Self::Rank { what, expected, found } => {
                write!(f, "{what}: expected {expected} dimensions, found {found}")
            }
            Self::Dim { what, axis, expected, found } => {
                write!(f, "{what}: dimension {axis} is {found}, expected {expected}")
            }
            Self::Setting { what, found } => write!(f, "{what}, found {found}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ShapeError {}
