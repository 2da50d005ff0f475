//! Accuracy: which predictions count as correct, and the loss and accuracy of a pass.
//!
//! A [`Metric`] counts the correct predictions of a batch. Classification uses
//! [`Argmax`] (the class with the largest output is the label), the default for `usize`
//! targets; regression may use [`Within`] (the output is within a tolerance of the
//! target). The [`Target`] trait names the default for each kind of target.

use std::boxed::Box;

use monograd_core::Scalar;

/// Counts the samples of a batch whose prediction is correct.
///
/// `outputs` holds the network's outputs for the batch, flat (`targets.len()` rows of
/// equal length), in the network's scalar `T` (`f32` unless said otherwise).
///
/// ```
/// use monograd_nn::train::{Argmax, Metric, Within};
/// // Two samples, three classes: predicted 1 and 0.
/// let logits = [0.1f32, 2.0, -1.0, 3.0, 0.0, 0.5];
/// assert_eq!(Argmax.correct(&logits, &[1, 2]), 1);
/// assert_eq!(Within(0.1).correct(&[1.0, 2.5], &[1.05, 2.0]), 1);
/// ```
pub trait Metric<Y, T = f32> {
    /// The number of correct predictions among `targets.len()` samples.
    fn correct(&self, outputs: &[T], targets: &[Y]) -> usize;
}

/// Classification: correct when the largest output's index is the label (the first
/// largest, on ties).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Argmax;

impl<T: Scalar> Metric<usize, T> for Argmax {
    fn correct(&self, outputs: &[T], targets: &[usize]) -> usize {
        if targets.is_empty() {
            return 0;
        }
        let classes = outputs.len() / targets.len();
        if classes == 0 {
            return 0;
        }
        outputs.chunks_exact(classes).zip(targets).filter(|(row, &t)| argmax(row) == t).count()
    }
}

/// The index of the first largest value (`0` for an empty row; NaN never wins).
///
/// ```
/// use monograd_nn::train::metric::argmax;
/// assert_eq!(argmax(&[0.5, 3.0, 3.0, -1.0]), 1);
/// ```
pub fn argmax<T: Scalar>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate().skip(1) {
        // A NaN is unordered even with itself.
        if v > row[best] || row[best].partial_cmp(&row[best]).is_none() {
            best = i;
        }
    }
    best
}

/// Regression: correct when the output is within `self.0` of the target (one output per
/// sample; with several, each sample's first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Within(pub f32);

impl<T: Scalar> Metric<T, T> for Within {
    fn correct(&self, outputs: &[T], targets: &[T]) -> usize {
        if targets.is_empty() {
            return 0;
        }
        let per = (outputs.len() / targets.len()).max(1);
        let tolerance = T::from_f64(f64::from(self.0));
        outputs.chunks(per).zip(targets).filter(|(o, &t)| (o[0] - t).abs() <= tolerance).count()
    }
}

/// A kind of target a [`Dataset`](crate::data::Dataset) holds, with the accuracy metric
/// that suits it by default (class indices: [`Argmax`]; values: none, set one with
/// [`Trainer::metric`](super::Trainer::metric)).
pub trait Target: Copy + 'static {
    /// The metric a [`Trainer`](super::Trainer) of a network over the scalar `T` starts
    /// with for this target.
    fn default_metric<T: Scalar>() -> Option<Box<dyn Metric<Self, T>>> {
        None
    }
}

impl Target for usize {
    fn default_metric<T: Scalar>() -> Option<Box<dyn Metric<Self, T>>> {
        Some(Box::new(Argmax))
    }
}

impl Target for f32 {}

impl Target for f64 {}

/// The loss and accuracy of a pass over some data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// The mean loss per sample (each batch's loss weighted by its size).
    pub loss: f64,
    /// The fraction of correct predictions, in `[0, 1]`, when there is a metric.
    pub accuracy: Option<f64>,
    /// Samples seen.
    pub samples: usize,
}

impl Metrics {
    /// Accumulates batch results into metrics: the sum of `loss · batch`, the correct
    /// count and the samples.
    pub(crate) fn from_sums(loss_sum: f64, correct: Option<usize>, samples: usize) -> Self {
        let n = samples.max(1) as f64;
        Self { loss: loss_sum / n, accuracy: correct.map(|c| c as f64 / n), samples }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_largest_and_skips_nan() {
        assert_eq!(argmax::<f32>(&[]), 0);
        assert_eq!(argmax(&[f32::NAN, 1.0, 0.0]), 1);
        assert_eq!(argmax(&[2.0, f32::NAN, 3.0]), 2);
        assert_eq!(Argmax.correct(&[1.0, 0.0, 0.0, 1.0], &[0, 0]), 1);
        assert_eq!(Argmax.correct(&[0.0f32; 0], &[]), 0);
    }

    #[test]
    fn metrics_average_by_samples() {
        let m = Metrics::from_sums(3.0, Some(3), 4);
        assert_eq!((m.loss, m.accuracy, m.samples), (0.75, Some(0.75), 4));
        assert_eq!(Metrics::from_sums(0.0, None, 0).accuracy, None);
    }
}
