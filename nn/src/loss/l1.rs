//! Mean absolute error: `mean(|p - t|)`, PyTorch's `L1Loss`.
//!
//! Derivative: `∂/∂p_i = sign(p_i - t_i) / n`, taken as 0 where `p_i = t_i` (PyTorch's
//! choice). The primitive is [`monograd_core::ops::loss::l1`].
//!
//! # Shapes
//! - `pred`, `target`, `dpred`: any length `n`, all equal

use monograd_core::ops::loss;
use monograd_core::{Scalar, ShapeError};

use super::{same_len, Loss};

/// Mean absolute error over all elements: `mean(|pred - target|)`. Robust to outliers:
/// every element pulls with the same force `1/n`.
///
/// ```
/// use monograd_nn::loss::{L1Loss, Loss};
/// let (pred, target) = ([1.0f64, 2.0], [0.0, 4.0]);
/// assert_eq!(L1Loss.forward(&pred, &target), Ok(1.5));
/// let mut d = [0.0; 2];
/// L1Loss.backward(&pred, &target, &mut d).unwrap();
/// assert_eq!(d, [0.5, -0.5]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct L1Loss;

impl<T: Scalar> Loss<T> for L1Loss {
    type Target = [T];

    fn forward(&self, pred: &[T], target: &[T]) -> Result<T, ShapeError> {
        same_len("L1Loss target", pred.len(), target.len())?;
        Ok(loss::l1(pred, target))
    }

    fn backward(&self, pred: &[T], target: &[T], dpred: &mut [T]) -> Result<T, ShapeError> {
        same_len("L1Loss target", pred.len(), target.len())?;
        same_len("L1Loss gradient buffer", pred.len(), dpred.len())?;
        dpred.fill(T::ZERO);
        loss::l1_backward(pred, target, T::ONE, dpred);
        Ok(loss::l1(pred, target))
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
        const NAME: &'static str = "L1Loss";
        fn len(&self) -> usize {
            self.0.len()
        }
        fn value<S: Scalar>(&self, pred: &[S]) -> S {
            L1Loss.forward(pred, &to::<S>(&self.0)).unwrap()
        }
        fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64 {
            L1Loss.backward(pred, &self.0, dpred).unwrap()
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        let target = inputs(1, 8, -1.0, 1.0, &[]);
        // Away from the kink at p = t.
        let x = inputs(2, 8, -2.0, 2.0, &target);
        check(&Case(target), &x, 3);
    }

    #[test]
    fn a_length_mismatch_is_an_error() {
        assert!(L1Loss.forward(&[1.0f32, 2.0], &[1.0]).is_err());
        let mut d = [0.0f32; 3];
        assert!(L1Loss.backward(&[1.0f32, 2.0], &[1.0, 2.0], &mut d).is_err());
    }
}
