//! Mean squared error: `mean((p - t)^2)`, PyTorch's `MSELoss`.
//!
//! Derivative: `∂/∂p_i = 2 (p_i - t_i) / n`. The primitive is
//! [`monograd_core::ops::loss::mse`].
//!
//! # Shapes
//! - `pred`, `target`, `dpred`: any length `n`, all equal

use monograd_core::ops::loss;
use monograd_core::{Scalar, ShapeError};

use super::{same_len, Loss};

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

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::loss::testing::{check, to, AtScalar};
    use alloc::vec::Vec;
    use monograd_core::gradcheck::inputs;

    struct Case(Vec<f64>);
    impl AtScalar for Case {
        const NAME: &'static str = "MseLoss";
        fn len(&self) -> usize {
            self.0.len()
        }
        fn value<S: Scalar>(&self, pred: &[S]) -> S {
            MseLoss.forward(pred, &to::<S>(&self.0)).unwrap()
        }
        fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64 {
            MseLoss.backward(pred, &self.0, dpred).unwrap()
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        check(&Case(inputs(1, 8, -1.0, 1.0, &[])), &inputs(2, 8, -2.0, 2.0, &[]), 3);
    }

    #[test]
    fn backward_overwrites_and_checks_the_buffer() {
        let mut d = [9.0f64; 2];
        MseLoss.backward(&[1.0, 2.0], &[1.0, 2.0], &mut d).unwrap();
        assert_eq!(d, [0.0, 0.0]);
        let e = MseLoss.backward(&[1.0f64, 2.0], &[1.0, 2.0], &mut d[..1]).unwrap_err();
        assert_eq!(e, ShapeError::Length { what: "MseLoss gradient buffer", expected: 2, found: 1 });
    }
}
