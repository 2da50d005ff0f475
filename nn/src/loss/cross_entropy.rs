//! Cross-entropy from logits, fused with log-softmax; PyTorch's
//! `CrossEntropyLoss(weight, label_smoothing)` with class-index targets.
//!
//! `ℓ = (1 - ε) Σ_b w[t_b] (lse(x_b) - x_b[t_b]) / W + (ε / C) Σ_b Σ_j w[j] (lse(x_b) - x_b[j]) / W`
//! with `W = Σ_b w[t_b]` (the batch size without weights). Numerically stable: it never
//! forms a probability, and each row is shifted by its maximum. Formula, derivative and
//! primitive gradient checks: [`monograd_core::ops::loss::cross_entropy_with`].
//!
//! # Shapes
//! - `pred`, `dpred`: `[batch, classes]` logits
//! - `target`: `[batch]` class indices, each below `classes`
//! - `weight` (optional): `[classes]`

use monograd_core::ops::loss;
use monograd_core::{Scalar, ShapeError};

use super::{classes_of, same_len, Loss};

/// Cross-entropy of rows of logits against class indices, averaged over the batch, with
/// optional class weights (the weighted mean, as PyTorch's) and label smoothing.
///
/// The number of classes is `weight.len()` when weights are given, otherwise
/// `pred.len() / target.len()`: `pred` must hold one whole row per target.
///
/// ```
/// use monograd_nn::loss::{CrossEntropyLoss, Loss};
///
/// // Two samples, three classes.
/// let logits = [2.0f64, 0.5, -1.0, 0.0, 0.0, 0.0];
/// let labels = [0, 2];
/// let ce = CrossEntropyLoss::new();
/// let mut d = [0.0; 6];
/// let value = ce.backward(&logits, &labels, &mut d).unwrap();
/// assert_eq!(value, ce.forward(&logits, &labels).unwrap());
/// // Each row of the gradient sums to zero: softmax minus a one-hot, over the batch.
/// assert!(d[..3].iter().sum::<f64>().abs() < 1e-15);
///
/// // Class weights and label smoothing, PyTorch's semantics.
/// let w = [1.0, 2.0, 0.5];
/// let ce = CrossEntropyLoss::new().weight(&w).label_smoothing(0.1);
/// assert!(ce.forward(&logits, &labels).unwrap() > 0.0);
///
/// // A label out of range is an error, not a panic.
/// assert!(CrossEntropyLoss::new().forward(&logits, &[0, 3]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossEntropyLoss<'a, T> {
    weight: Option<&'a [T]>,
    label_smoothing: T,
}

impl<'a, T: Scalar> CrossEntropyLoss<'a, T> {
    /// Unweighted, no label smoothing: PyTorch's defaults.
    pub fn new() -> Self {
        Self { weight: None, label_smoothing: T::ZERO }
    }

    /// Rescales each class's term by `weight[class]`; the batch mean becomes the weighted
    /// mean `Σ_b w[t_b] ℓ_b / Σ_b w[t_b]`. Fixes the number of classes at `weight.len()`.
    pub fn weight(mut self, weight: &'a [T]) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Mixes the one-hot target with the uniform distribution: `(1 - ε) onehot + ε / C`.
    ///
    /// # Panics
    /// If `epsilon` is not in `[0, 1]` (a hyperparameter, not data: PyTorch raises too).
    pub fn label_smoothing(mut self, epsilon: T) -> Self {
        assert!(
            epsilon >= T::ZERO && epsilon <= T::ONE,
            "CrossEntropyLoss: label_smoothing must be in [0, 1], got {epsilon:?}"
        );
        self.label_smoothing = epsilon;
        self
    }

    /// Checks the shapes; returns the number of classes.
    fn classes(&self, pred: &[T], target: &[usize]) -> Result<usize, ShapeError> {
        classes_of("CrossEntropyLoss logits (one row per target)", pred.len(), target.len(), self.weight)
    }
}

impl<T: Scalar> Default for CrossEntropyLoss<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar> Loss<T> for CrossEntropyLoss<'_, T> {
    type Target = [usize];

    fn forward(&self, pred: &[T], target: &[usize]) -> Result<T, ShapeError> {
        let classes = self.classes(pred, target)?;
        if self.weight.is_none() && self.label_smoothing == T::ZERO {
            return loss::cross_entropy(pred, target, classes);
        }
        loss::cross_entropy_with(pred, target, classes, self.weight, self.label_smoothing)
    }

    fn backward(&self, pred: &[T], target: &[usize], dpred: &mut [T]) -> Result<T, ShapeError> {
        let classes = self.classes(pred, target)?;
        same_len("CrossEntropyLoss gradient buffer", pred.len(), dpred.len())?;
        if self.weight.is_none() && self.label_smoothing == T::ZERO {
            // The value and the gradient in one pass (it checks the labels first).
            return loss::cross_entropy_and_grad(pred, target, classes, dpred);
        }
        // The forward also checks the labels, before anything is written.
        let value = self.forward(pred, target)?;
        dpred.fill(T::ZERO);
        loss::cross_entropy_with_backward(pred, target, classes, self.weight, self.label_smoothing, T::ONE, dpred)?;
        Ok(value)
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::loss::testing::{check, to, AtScalar};
    use alloc::vec::Vec;
    use monograd_core::gradcheck::inputs;
    use monograd_core::Rng;

    struct Case {
        labels: Vec<usize>,
        classes: usize,
        weight: Option<Vec<f64>>,
        eps: f64,
    }
    impl AtScalar for Case {
        const NAME: &'static str = "CrossEntropyLoss";
        fn len(&self) -> usize {
            self.labels.len() * self.classes
        }
        fn value<S: Scalar>(&self, pred: &[S]) -> S {
            let w = self.weight.as_deref().map(to::<S>);
            let mut ce = CrossEntropyLoss::new().label_smoothing(S::from_f64(self.eps));
            if let Some(w) = &w {
                ce = ce.weight(w);
            }
            ce.forward(pred, &self.labels).unwrap()
        }
        fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64 {
            let mut ce = CrossEntropyLoss::new().label_smoothing(self.eps);
            if let Some(w) = &self.weight {
                ce = ce.weight(w);
            }
            ce.backward(pred, &self.labels, dpred).unwrap()
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        let mut rng = Rng::seed(1);
        let configs = [
            (None, 0.0),
            (None, 0.2),
            (Some(inputs(2, 4, 0.1, 3.0, &[])), 0.0),
            (Some(inputs(3, 4, 0.1, 3.0, &[])), 0.35),
        ];
        for (i, (weight, eps)) in configs.into_iter().enumerate() {
            let labels: Vec<usize> = (0..5).map(|_| rng.below(4)).collect();
            let case = Case { labels, classes: 4, weight, eps };
            check(&case, &inputs(10 + i as u64, 20, -5.0, 5.0, &[]), i as u64);
        }
    }

    #[test]
    fn shape_and_label_errors_are_errors_and_write_nothing() {
        let ce = CrossEntropyLoss::<f64>::new();
        let mut d = [7.0; 6];
        let e = ce.backward(&[0.0; 6], &[0, 5], &mut d).unwrap_err();
        assert!(matches!(e, ShapeError::IndexOutOfRange { index: 5, bound: 3, .. }), "{e}");
        let e = ce.backward(&[0.0; 6], &[0, 1, 2, 0], &mut d).unwrap_err();
        assert!(matches!(e, ShapeError::Length { expected: 4, found: 6, .. }), "{e}");
        let e = ce.backward(&[0.0; 6], &[0, 1], &mut d[..5]).unwrap_err();
        assert!(matches!(e, ShapeError::Length { expected: 6, found: 5, .. }), "{e}");
        let w = [1.0; 2];
        assert!(CrossEntropyLoss::new().weight(&w).forward(&[0.0; 6], &[0, 1]).is_err());
        assert_eq!(d, [7.0; 6]);
    }

    #[test]
    fn an_empty_batch_gives_nan_as_pytorch() {
        assert!(CrossEntropyLoss::<f64>::new().forward(&[], &[]).unwrap().is_nan());
    }

    #[test]
    #[should_panic(expected = "label_smoothing must be in [0, 1]")]
    fn smoothing_outside_the_unit_interval_is_refused() {
        let _ = CrossEntropyLoss::new().label_smoothing(1.5f32);
    }
}
