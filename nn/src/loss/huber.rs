//! Huber loss: quadratic within `δ` of the target, linear beyond; PyTorch's
//! `HuberLoss(delta)`.
//!
//! `h(d) = d²/2` where `|d| < δ`, `δ (|d| - δ/2)` elsewhere, averaged; derivative
//! `clamp(p_i - t_i, -δ, δ) / n`. The primitive is [`monograd_core::ops::loss::huber`].
//! (PyTorch's `SmoothL1Loss(beta)` is `HuberLoss(beta) / beta`.)
//!
//! # Shapes
//! - `pred`, `target`, `dpred`: any length `n`, all equal

use monograd_core::ops::loss;
use monograd_core::{Scalar, ShapeError};

use super::{same_len, Loss};

/// Huber loss with threshold `delta` (default 1), averaged over all elements.
///
/// ```
/// use monograd_nn::loss::{HuberLoss, Loss};
/// let huber = HuberLoss::new(1.0);
/// // |d| = 0.5 inside δ: 0.125; |d| = 3 beyond it: 3 - 0.5.
/// assert_eq!(huber.forward(&[0.5f64, 3.0], &[0.0, 0.0]), Ok((0.125 + 2.5) / 2.0));
/// let mut d = [0.0; 2];
/// huber.backward(&[0.5, 3.0], &[0.0, 0.0], &mut d).unwrap();
/// assert_eq!(d, [0.25, 0.5]); // the far element's pull is capped at δ / n
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HuberLoss<T> {
    delta: T,
}

impl<T: Scalar> HuberLoss<T> {
    /// Huber loss with threshold `delta`.
    ///
    /// # Panics
    /// If `delta` is not positive and finite (a hyperparameter, not data: PyTorch raises
    /// here too).
    pub fn new(delta: T) -> Self {
        assert!(delta > T::ZERO && delta.is_finite(), "HuberLoss: delta must be positive and finite, got {delta:?}");
        Self { delta }
    }

    /// The threshold `δ`.
    pub fn delta(&self) -> T {
        self.delta
    }
}

impl<T: Scalar> Default for HuberLoss<T> {
    /// `δ = 1`, PyTorch's default.
    fn default() -> Self {
        Self { delta: T::ONE }
    }
}

impl<T: Scalar> Loss<T> for HuberLoss<T> {
    type Target = [T];

    fn forward(&self, pred: &[T], target: &[T]) -> Result<T, ShapeError> {
        same_len("HuberLoss target", pred.len(), target.len())?;
        Ok(loss::huber(pred, target, self.delta))
    }

    fn backward(&self, pred: &[T], target: &[T], dpred: &mut [T]) -> Result<T, ShapeError> {
        same_len("HuberLoss target", pred.len(), target.len())?;
        same_len("HuberLoss gradient buffer", pred.len(), dpred.len())?;
        dpred.fill(T::ZERO);
        loss::huber_backward(pred, target, self.delta, T::ONE, dpred);
        Ok(loss::huber(pred, target, self.delta))
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::loss::testing::{check, to, AtScalar};
    use alloc::vec::Vec;
    use monograd_core::gradcheck::inputs;

    struct Case(Vec<f64>, f64);
    impl AtScalar for Case {
        const NAME: &'static str = "HuberLoss";
        fn len(&self) -> usize {
            self.0.len()
        }
        fn value<S: Scalar>(&self, pred: &[S]) -> S {
            HuberLoss::new(S::from_f64(self.1)).forward(pred, &to::<S>(&self.0)).unwrap()
        }
        fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64 {
            HuberLoss::new(self.1).backward(pred, &self.0, dpred).unwrap()
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        let (target, delta) = (inputs(1, 12, -1.0, 1.0, &[]), 0.4);
        // Both branches are exercised; finite differences stay off |p - t| = δ, where the
        // second derivative jumps.
        let kinks: Vec<f64> = target.iter().flat_map(|&t| [t - delta, t + delta]).collect();
        let x = inputs(2, 12, -2.0, 2.0, &kinks);
        assert!(x.iter().zip(&target).any(|(p, t)| (p - t).abs() < delta));
        assert!(x.iter().zip(&target).any(|(p, t)| (p - t).abs() > delta));
        check(&Case(target, delta), &x, 3);
    }

    #[test]
    #[should_panic(expected = "HuberLoss: delta must be positive")]
    fn a_non_positive_delta_is_refused() {
        let _ = HuberLoss::new(0.0f32);
    }

    #[test]
    fn default_delta_is_one() {
        assert_eq!(HuberLoss::<f64>::default().delta(), 1.0);
    }
}
