//! What can go wrong when quantizing or running a quantized network.

use core::fmt;

/// An error of quantization or of the integer forward pass; says what and where.
#[derive(Clone, Debug, PartialEq)]
pub enum QuantError {
    /// A slice of the wrong length.
    Length {
        /// What the slice is (`` `LeNetI8` input ``, `conv1 weight`).
        what: &'static str,
        /// The length wanted (or the size of one sample, for a batch).
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The calibration set holds no sample.
    EmptyCalibration,
    /// A non-finite value (NaN or infinity) in the weights, the calibration data, or a node's
    /// output on it.
    NotFinite {
        /// The node or tensor.
        what: &'static str,
    },
    /// A value that does not fit its integer type after scaling (a bias beyond `i32`, a
    /// rescaling factor out of the range TFLite's kernels accept).
    OutOfRange {
        /// The node or tensor.
        what: &'static str,
        /// The real value that does not fit.
        value: f64,
    },
    /// A tensor a layer should have and does not.
    Missing {
        /// The layer and tensor.
        what: &'static str,
    },
    /// A calibration setting out of its range.
    Setting {
        /// The setting.
        what: &'static str,
        /// The value given.
        value: f64,
    },
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::Length { what, expected, got } => {
                write!(f, "{what}: expected {expected} values (or a multiple, for a batch), got {got}")
            }
            QuantError::EmptyCalibration => f.write_str("the calibration set holds no sample"),
            QuantError::NotFinite { what } => write!(f, "{what}: a value is NaN or infinite"),
            QuantError::OutOfRange { what, value } => {
                write!(f, "{what}: {value} does not fit the integer range TFLite's kernels use")
            }
            QuantError::Missing { what } => write!(f, "{what}: no such tensor"),
            QuantError::Setting { what, value } => write!(f, "calibration setting `{what}` = {value} is out of range"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QuantError {}

/// `Err(Length)` unless `len == expected`.
pub(crate) fn check_len(what: &'static str, expected: usize, len: usize) -> Result<(), QuantError> {
    if len == expected {
        Ok(())
    } else {
        Err(QuantError::Length { what, expected, got: len })
    }
}
