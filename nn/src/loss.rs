//! Losses: a scalar from a batch of predictions and targets, and its gradient.
//!
//! The formulas and their derivatives live with the primitives in
//! [`monograd_core::ops::loss`]; the types here give them a common interface for training
//! loops. Lengths are checked: a prediction and target of different sizes is an `Err`.

use monograd_core::ops::loss;
use monograd_core::{Scalar, ShapeError};

/// A loss over a batch: `forward` gives the scalar, `backward` its gradient with respect to
/// the predictions.
pub trait Loss<T: Scalar> {
    /// What predictions are compared with: `[T]` values for regression, class indices for
    /// classification.
    type Target: ?Sized;

    /// The loss value.
    fn forward(&self, pred: &[T], target: &Self::Target) -> Result<T, ShapeError>;

    /// Writes `∂loss/∂pred` into `dpred` (overwriting), and returns the loss value.
    fn backward(&self, pred: &[T], target: &Self::Target, dpred: &mut [T]) -> Result<T, ShapeError>;
}

/// Mean squared error over all elements: `mean((pred - target)^2)`.
///
/// ```
/// use monograd_nn::{Loss, MseLoss};
/// let pred = [1.0f64, 2.0];
/// let target = [0.0, 4.0];
/// assert_eq!(MseLoss.forward(&pred, &target).unwrap(), 2.5);
/// let mut d = [0.0; 2];
/// MseLoss.backward(&pred, &target, &mut d).unwrap();
/// assert_eq!(d, [1.0, -2.0]);
/// assert!(MseLoss.forward(&pred, &[0.0]).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MseLoss;

impl<T: Scalar> Loss<T> for MseLoss {
    type Target = [T];

    fn forward(&self, pred: &[T], target: &[T]) -> Result<T, ShapeError> {
        same_len("MseLoss target", pred.len(), target.len())?;
        Ok(loss::mse(pred, target))
    }

    fn backward(&self, pred: &[T], target: &[T], dpred: &mut [T]) -> Result<T, ShapeError> {
        same_len("MseLoss target", pred.len(), target.len())?;
        same_len("MseLoss gradient buffer", pred.len(), dpred.len())?;
        dpred.fill(T::ZERO);
        loss::mse_backward(pred, target, T::ONE, dpred);
        Ok(loss::mse(pred, target))
    }
}

fn same_len(what: &'static str, expected: usize, found: usize) -> Result<(), ShapeError> {
    if expected != found {
        return Err(ShapeError::Length { what, expected, found });
    }
    Ok(())
}
