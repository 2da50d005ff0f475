//! Binary cross-entropy from logits; PyTorch's `BCEWithLogitsLoss(pos_weight)`.
//!
//! `ℓ = mean((1 - y) x + L softplus(-x))` with `L = 1 + (pw - 1) y`; derivative
//! `((1 - y) - L σ(-x)) / n`, which is `(σ(x) - y) / n` without `pos_weight`. Stable for
//! any logit: the sigmoid is never formed and rounded to 0 or 1. Primitive:
//! [`monograd_core::ops::loss::bce_with_logits`].
//!
//! # Shapes
//! - `pred`, `target`, `dpred`: any length `n`, all equal; targets in `[0, 1]`
//! - `pos_weight` (optional): `[classes]`, broadcast over rows: `n` must be a whole number
//!   of rows of `classes` (the last dimension, as PyTorch broadcasts)

use monograd_core::ops::loss;
use monograd_core::{Scalar, ShapeError};

use super::{same_len, Loss};

/// Binary cross-entropy of logits against targets in `[0, 1]`, averaged over all
/// elements, with an optional weight on positive examples per class.
///
/// ```
/// use monograd_nn::loss::{BceWithLogitsLoss, Loss};
/// let bce = BceWithLogitsLoss::new();
/// let l = bce.forward(&[0.0f64, 0.0], &[1.0, 0.0]).unwrap();
/// assert!((l - core::f64::consts::LN_2).abs() < 1e-15);
/// let mut d = [0.0; 2];
/// bce.backward(&[0.0, 0.0], &[1.0, 0.0], &mut d).unwrap();
/// assert_eq!(d, [-0.25, 0.25]); // (σ(x) - y) / n
///
/// // pos_weight > 1 favours recall on a rare positive class (here the second of two).
/// let pw = [1.0, 4.0];
/// let weighted = BceWithLogitsLoss::new().pos_weight(&pw);
/// let l = weighted.forward(&[0.0, 0.0], &[1.0, 1.0]).unwrap();
/// assert!((l - 2.5 * core::f64::consts::LN_2).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BceWithLogitsLoss<'a, T> {
    pos_weight: Option<&'a [T]>,
}

impl<'a, T: Scalar> BceWithLogitsLoss<'a, T> {
    /// No positive weights, PyTorch's default.
    pub fn new() -> Self {
        Self { pos_weight: None }
    }

    /// Multiplies the positive term of class `c` (the last dimension) by `pos_weight[c]`:
    /// `pos_weight = negatives / positives` balances a rare class.
    pub fn pos_weight(mut self, pos_weight: &'a [T]) -> Self {
        self.pos_weight = Some(pos_weight);
        self
    }

    fn check(&self, pred: &[T], target: &[T]) -> Result<(), ShapeError> {
        same_len("BceWithLogitsLoss target", pred.len(), target.len())?;
        if let Some(pw) = self.pos_weight {
            let rows = pred.len().checked_div(pw.len()).unwrap_or(0);
            same_len("BceWithLogitsLoss logits (whole rows of pos_weight's length)", rows * pw.len(), pred.len())?;
        }
        Ok(())
    }
}

impl<T: Scalar> Default for BceWithLogitsLoss<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar> Loss<T> for BceWithLogitsLoss<'_, T> {
    type Target = [T];

    fn forward(&self, pred: &[T], target: &[T]) -> Result<T, ShapeError> {
        self.check(pred, target)?;
        Ok(loss::bce_with_logits(pred, target, self.pos_weight))
    }

    fn backward(&self, pred: &[T], target: &[T], dpred: &mut [T]) -> Result<T, ShapeError> {
        self.check(pred, target)?;
        same_len("BceWithLogitsLoss gradient buffer", pred.len(), dpred.len())?;
        dpred.fill(T::ZERO);
        loss::bce_with_logits_backward(pred, target, self.pos_weight, T::ONE, dpred);
        Ok(loss::bce_with_logits(pred, target, self.pos_weight))
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::loss::testing::{check, to, AtScalar};
    use alloc::vec::Vec;
    use monograd_core::gradcheck::inputs;

    struct Case {
        target: Vec<f64>,
        pos_weight: Option<Vec<f64>>,
    }
    impl AtScalar for Case {
        const NAME: &'static str = "BceWithLogitsLoss";
        fn len(&self) -> usize {
            self.target.len()
        }
        fn value<S: Scalar>(&self, pred: &[S]) -> S {
            let pw = self.pos_weight.as_deref().map(to::<S>);
            let bce = pw.as_deref().map_or(BceWithLogitsLoss::new(), |pw| BceWithLogitsLoss::new().pos_weight(pw));
            bce.forward(pred, &to::<S>(&self.target)).unwrap()
        }
        fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64 {
            let pw = self.pos_weight.as_deref();
            let bce = pw.map_or(BceWithLogitsLoss::new(), |pw| BceWithLogitsLoss::new().pos_weight(pw));
            bce.backward(pred, &self.target, dpred).unwrap()
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        let target = inputs(1, 8, 0.0, 1.0, &[]);
        check(&Case { target: target.clone(), pos_weight: None }, &inputs(2, 8, -8.0, 8.0, &[]), 1);
        let pos_weight = Some(alloc::vec![0.25, 1.0, 2.0, 5.0]);
        check(&Case { target, pos_weight }, &inputs(3, 8, -8.0, 8.0, &[]), 2);
    }

    #[test]
    fn huge_logits_stay_finite_with_the_right_gradient() {
        let mut d = [0.0f64; 2];
        let l = BceWithLogitsLoss::new().backward(&[1e4, -1e4], &[0.0, 0.0], &mut d).unwrap();
        assert_eq!(l, 5e3);
        assert_eq!(d, [0.5, 0.0]);
    }

    #[test]
    fn pos_weight_must_tile_the_logits() {
        let pw = [1.0f64, 2.0, 3.0];
        let e = BceWithLogitsLoss::new().pos_weight(&pw).forward(&[0.0; 4], &[0.0; 4]).unwrap_err();
        assert!(matches!(e, ShapeError::Length { expected: 3, found: 4, .. }), "{e}");
        assert!(BceWithLogitsLoss::new().pos_weight(&[]).forward(&[0.0], &[0.0]).is_err());
        assert!(BceWithLogitsLoss::new().forward(&[0.0f32; 2], &[0.0]).is_err());
    }
}
