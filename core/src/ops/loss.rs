//! Losses: a scalar from predictions and targets, and its gradient with respect to the
//! predictions. Targets are data, not differentiated.
//!
//! | op | loss | `∂loss/∂pred` |
//! | --- | --- | --- |
//! | [`mse`] | `Σ_i (p_i - t_i)^2 / n` over all `n` elements | `2 (p_i - t_i) / n` |
//! | [`cross_entropy`] | `Σ_b (lse(x_b) - x_b[t_b]) / B` over a batch of `B` rows of logits | `(softmax(x_b)_j - [j = t_b]) / B` |
//!
//! Cross-entropy is fused with log-softmax: it reads raw logits, never forms a logarithm
//! of a probability, and subtracts each row's maximum, so it is exact where a separate
//! softmax would round to 0 and take `ln 0`. It is PyTorch's `cross_entropy` with the
//! default mean reduction.
//!
//! Backward functions take `dloss`, the gradient flowing into the loss (1 when the loss is
//! the final output), and accumulate `dloss · ∂loss/∂pred`.
//!
//! # Shapes
//! - `mse`: `pred`, `target`, `dpred` of any length `n`, all equal
//! - `cross_entropy`: `logits`, `dlogits` of `[batch, classes]`; `targets` of `[batch]`,
//!   each below `classes`

use super::softmax::{log_sum_exp, shift_and_sum};
use crate::{Scalar, ShapeError};

/// The name of [`mse`] in [`OPS`](super::OPS).
pub const MSE: &str = "mse";
/// The name of [`cross_entropy`] in [`OPS`](super::OPS).
pub const CROSS_ENTROPY: &str = "cross_entropy";

/// Mean squared error over all elements: `Σ_i (p_i - t_i)^2 / n`; NaN when empty.
///
/// # Panics
/// If `target` and `pred` differ in length.
///
/// ```
/// use monograd_core::ops::loss::mse;
/// assert_eq!(mse(&[1.0f64, 2.0], &[0.0, 4.0]), 2.5);
/// ```
#[inline]
#[track_caller]
pub fn mse<T: Scalar>(pred: &[T], target: &[T]) -> T {
    super::expect_len(MSE, "target", target.len(), pred.len());
    let sq = pred.iter().zip(target).fold(T::ZERO, |s, (&p, &t)| {
        let d = p - t;
        s + d * d
    });
    sq / T::from_f64(pred.len() as f64)
}

/// Backward of [`mse`]: `dpred_i += dloss · 2 (p_i - t_i) / n`.
///
/// # Panics
/// If `target` or `dpred` differs from `pred` in length.
///
/// ```
/// use monograd_core::ops::loss::mse_backward;
/// let mut d = [0.0f64; 2];
/// mse_backward(&[1.0, 2.0], &[0.0, 4.0], 1.0, &mut d);
/// assert_eq!(d, [1.0, -2.0]);
/// ```
#[inline]
#[track_caller]
pub fn mse_backward<T: Scalar>(pred: &[T], target: &[T], dloss: T, dpred: &mut [T]) {
    super::expect_len(MSE, "target", target.len(), pred.len());
    super::expect_len(MSE, "dpred", dpred.len(), pred.len());
    let g = (dloss + dloss) / T::from_f64(pred.len() as f64);
    for ((d, &p), &t) in dpred.iter_mut().zip(pred).zip(target) {
        *d += g * (p - t);
    }
}

/// Cross-entropy of rows of logits against class indices, averaged over the batch:
/// `Σ_b (ln Σ_j e^(x[b, j]) - x[b, t_b]) / B`; NaN for an empty batch.
///
/// # Errors
/// [`ShapeError::IndexOutOfRange`] if a target is not below `classes` (labels are data).
///
/// # Panics
/// If `logits.len() != targets.len() * classes`.
///
/// ```
/// use monograd_core::ops::loss::cross_entropy;
/// // Two classes with equal logits: the loss is ln 2 whichever the target.
/// let l = cross_entropy(&[3.0f64, 3.0], &[1], 2).unwrap();
/// assert!((l - core::f64::consts::LN_2).abs() < 1e-15);
/// // A label outside the classes is an error, not a panic.
/// assert!(cross_entropy(&[3.0f64, 3.0], &[2], 2).is_err());
/// ```
#[inline]
#[track_caller]
pub fn cross_entropy<T: Scalar>(logits: &[T], targets: &[usize], classes: usize) -> Result<T, ShapeError> {
    check_targets(logits, targets, classes)?;
    let mut total = T::ZERO;
    for (row, &t) in logits.chunks_exact(classes.max(1)).zip(targets) {
        total += log_sum_exp(row) - row[t];
    }
    Ok(total / T::from_f64(targets.len() as f64))
}

/// Backward of [`cross_entropy`]: `dlogits[b, j] += dloss · (softmax(x_b)_j - [j = t_b]) / B`.
///
/// The softmax is recomputed from the logits row by row, so nothing has to be saved.
///
/// # Errors
/// [`ShapeError::IndexOutOfRange`] if a target is not below `classes`; `dlogits` is then
/// left unchanged.
///
/// # Panics
/// If `logits.len() != targets.len() * classes` or `dlogits` differs from `logits` in
/// length.
///
/// ```
/// use monograd_core::ops::loss::cross_entropy_backward;
/// let mut d = [0.0f64; 2];
/// cross_entropy_backward(&[3.0, 3.0], &[1], 2, 1.0, &mut d).unwrap();
/// assert_eq!(d, [0.5, -0.5]);
/// ```
#[inline]
#[track_caller]
pub fn cross_entropy_backward<T: Scalar>(
    logits: &[T],
    targets: &[usize],
    classes: usize,
    dloss: T,
    dlogits: &mut [T],
) -> Result<(), ShapeError> {
    super::expect_len(CROSS_ENTROPY, "dlogits", dlogits.len(), logits.len());
    check_targets(logits, targets, classes)?;
    let g = dloss / T::from_f64(targets.len() as f64);
    let rows = logits.chunks_exact(classes.max(1)).zip(dlogits.chunks_exact_mut(classes.max(1)));
    for ((row, drow), &t) in rows.zip(targets) {
        let (m, s) = shift_and_sum(row);
        let gs = g / s;
        for (d, &x) in drow.iter_mut().zip(row) {
            *d += gs * (x - m).exp();
        }
        drow[t] -= g;
    }
    Ok(())
}

/// Panics if the logits do not hold one row per target; errs if a target is out of range.
#[inline]
#[track_caller]
fn check_targets<T>(logits: &[T], targets: &[usize], classes: usize) -> Result<(), ShapeError> {
    super::expect_len(CROSS_ENTROPY, "logits", logits.len(), targets.len().saturating_mul(classes));
    match targets.iter().find(|&&t| t >= classes) {
        Some(&index) => Err(ShapeError::IndexOutOfRange { what: "cross_entropy target", index, bound: classes }),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn cross_entropy_matches_the_naive_formula() {
        let logits = [1.0f64, 2.0, 0.5, -1.0, 0.0, 3.0];
        let targets = [2, 0];
        let naive = |row: &[f64], t: usize| -((row[t].exp()) / row.iter().map(|v| v.exp()).sum::<f64>()).ln();
        let want = (naive(&logits[..3], 2) + naive(&logits[3..], 0)) / 2.0;
        let got = cross_entropy(&logits, &targets, 3).unwrap();
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }

    #[test]
    fn cross_entropy_is_finite_where_softmax_underflows() {
        // softmax gives exactly 0 for the target class here; the fused loss is still exact.
        let l = cross_entropy(&[0.0f64, 1000.0], &[0], 2).unwrap();
        assert_eq!(l, 1000.0);
        let mut d = [0.0; 2];
        cross_entropy_backward(&[0.0f64, 1000.0], &[0], 2, 1.0, &mut d).unwrap();
        assert_eq!(d, [-1.0, 1.0]);
    }

    #[test]
    fn a_bad_label_is_an_error_and_writes_nothing() {
        let mut d = [7.0f64; 4];
        let e = cross_entropy_backward(&[0.0, 1.0, 2.0, 3.0], &[0, 5], 2, 1.0, &mut d).unwrap_err();
        assert_eq!(e, ShapeError::IndexOutOfRange { what: "cross_entropy target", index: 5, bound: 2 });
        assert_eq!(d, [7.0; 4]);
    }

    #[test]
    fn mse_backward_accumulates_and_scales_by_dloss() {
        let mut d = [1.0f64, 1.0];
        mse_backward(&[1.0, 2.0], &[0.0, 4.0], 0.5, &mut d);
        assert_eq!(d, [1.5, 0.0]);
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    /// A loss over the predictions, with fixed targets.
    #[cfg(feature = "alloc")]
    enum Case {
        Mse { target: Vec<f64> },
        CrossEntropy { targets: Vec<usize>, classes: usize },
    }

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            match self {
                Self::Mse { .. } => MSE,
                Self::CrossEntropy { .. } => CROSS_ENTROPY,
            }
        }
        fn input_len(&self) -> usize {
            match self {
                Self::Mse { target } => target.len(),
                Self::CrossEntropy { targets, classes } => targets.len() * classes,
            }
        }
        fn output_len(&self) -> usize {
            1
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            y[0] = match self {
                Self::Mse { target } => {
                    let t: Vec<T> = target.iter().map(|&v| T::from_f64(v)).collect();
                    mse(x, &t)
                }
                Self::CrossEntropy { targets, classes } => {
                    cross_entropy(x, targets, *classes).unwrap_or_else(|e| panic!("{e}"))
                }
            };
        }
        fn backward(&self, x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            match self {
                Self::Mse { target } => mse_backward(x, target, dy[0], dx),
                Self::CrossEntropy { targets, classes } => {
                    cross_entropy_backward(x, targets, *classes, dy[0], dx).unwrap_or_else(|e| panic!("{e}"))
                }
            }
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        use crate::gradcheck::{inputs, GradCase};
        use crate::rng::Rng;
        let gc = super::super::testing::gradcheck;
        let mse_case = Case::Mse { target: inputs(71, 10, -1.0, 1.0, &[]) };
        let mut rng = Rng::seed(72);
        let ce_case = Case::CrossEntropy { targets: (0..4).map(|_| rng.below(5)).collect(), classes: 5 };
        alloc::vec![
            gc(&mse_case, &inputs(73, mse_case.input_len(), -1.0, 1.0, &[]), 73),
            gc(&ce_case, &inputs(74, ce_case.input_len(), -4.0, 4.0, &[]), 74),
        ]
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [MSE, CROSS_ENTROPY]);
    }
}
