//! Negative log-likelihood of log-probabilities; PyTorch's `NLLLoss(weight)`.
//!
//! `ℓ = -Σ_b w[t_b] lp[b, t_b] / Σ_b w[t_b]`; derivative `-w[t_b] / Σ_b w[t_b]` at
//! `[b, t_b]` and 0 elsewhere. Its input is the output of a `LogSoftmax`; on raw logits,
//! [`CrossEntropyLoss`](super::CrossEntropyLoss) does both in one stable step. Primitive:
//! [`monograd_core::ops::loss::nll`].
//!
//! # Shapes
//! - `pred`, `dpred`: `[batch, classes]` log-probabilities
//! - `target`: `[batch]` class indices, each below `classes`
//! - `weight` (optional): `[classes]`

use monograd_core::ops::loss;
use monograd_core::{Scalar, ShapeError};

use super::{classes_of, same_len, Loss};

/// Negative log-likelihood over a batch of rows of log-probabilities, averaged (weighted
/// by class when `weight` is given, as PyTorch's).
///
/// ```
/// use monograd_nn::loss::{Loss, NllLoss};
/// let logp = [0.25f64.ln(), 0.75f64.ln(), 0.5f64.ln(), 0.5f64.ln()];
/// let l = NllLoss::new().forward(&logp, &[1, 0]).unwrap();
/// assert!((l + (0.75f64.ln() + 0.5f64.ln()) / 2.0).abs() < 1e-15);
/// let mut d = [0.0; 4];
/// NllLoss::new().backward(&logp, &[1, 0], &mut d).unwrap();
/// assert_eq!(d, [0.0, -0.5, -0.5, 0.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NllLoss<'a, T> {
    weight: Option<&'a [T]>,
}

impl<'a, T: Scalar> NllLoss<'a, T> {
    /// Unweighted, PyTorch's default.
    pub fn new() -> Self {
        Self { weight: None }
    }

    /// Rescales each class's term by `weight[class]`; the mean becomes
    /// `Σ_b w[t_b] ℓ_b / Σ_b w[t_b]`. Fixes the number of classes at `weight.len()`.
    pub fn weight(mut self, weight: &'a [T]) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Checks the shapes; returns the number of classes.
    fn classes(&self, pred: &[T], target: &[usize]) -> Result<usize, ShapeError> {
        classes_of("NllLoss log-probabilities (one row per target)", pred.len(), target.len(), self.weight)
    }
}

impl<T: Scalar> Default for NllLoss<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar> Loss<T> for NllLoss<'_, T> {
    type Target = [usize];

    fn forward(&self, pred: &[T], target: &[usize]) -> Result<T, ShapeError> {
        let classes = self.classes(pred, target)?;
        loss::nll(pred, target, classes, self.weight)
    }

    fn backward(&self, pred: &[T], target: &[usize], dpred: &mut [T]) -> Result<T, ShapeError> {
        let classes = self.classes(pred, target)?;
        same_len("NllLoss gradient buffer", pred.len(), dpred.len())?;
        let value = loss::nll(pred, target, classes, self.weight)?;
        dpred.fill(T::ZERO);
        loss::nll_backward(pred, target, classes, self.weight, T::ONE, dpred)?;
        Ok(value)
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::loss::testing::{check, to, AtScalar};
    use alloc::vec::Vec;
    use monograd_core::gradcheck::inputs;

    struct Case {
        labels: Vec<usize>,
        weight: Option<Vec<f64>>,
    }
    impl AtScalar for Case {
        const NAME: &'static str = "NllLoss";
        fn len(&self) -> usize {
            self.labels.len() * 3
        }
        fn value<S: Scalar>(&self, pred: &[S]) -> S {
            let w = self.weight.as_deref().map(to::<S>);
            let nll = w.as_deref().map_or(NllLoss::new(), |w| NllLoss::new().weight(w));
            nll.forward(pred, &self.labels).unwrap()
        }
        fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64 {
            let nll = self.weight.as_deref().map_or(NllLoss::new(), |w| NllLoss::new().weight(w));
            nll.backward(pred, &self.labels, dpred).unwrap()
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        let labels = alloc::vec![2, 0, 1, 1];
        check(&Case { labels: labels.clone(), weight: None }, &inputs(1, 12, -4.0, 0.0, &[]), 1);
        let weight = Some(alloc::vec![0.5, 2.0, 1.25]);
        check(&Case { labels, weight }, &inputs(2, 12, -4.0, 0.0, &[]), 2);
    }

    #[test]
    fn errors_are_errors() {
        let mut d = [0.0f64; 4];
        assert!(NllLoss::new().backward(&[0.0; 4], &[0, 2], &mut d).is_err());
        assert!(NllLoss::new().backward(&[0.0; 4], &[0], &mut d[..2]).is_err());
        assert!(NllLoss::new().weight(&[1.0; 3]).forward(&[0.0; 4], &[0, 1]).is_err());
    }
}
