//! Losses: a scalar from predictions and targets, and its gradient with respect to the
//! predictions. Targets are data, not differentiated.
//!
//! Every loss is the mean over its elements (regression) or rows (classification), as
//! PyTorch's default `reduction="mean"`; with class weights, the weighted mean
//! `Σ_b w[t_b] ℓ_b / Σ_b w[t_b]`, as PyTorch's.
//!
//! | op | loss | `∂loss/∂pred` |
//! | --- | --- | --- |
//! | [`mse`] | `Σ_i (p_i - t_i)^2 / n` over all `n` elements | `2 (p_i - t_i) / n` |
//! | [`l1`] | `Σ_i \|p_i - t_i\| / n` | `sign(p_i - t_i) / n`, 0 where `p_i = t_i` |
//! | [`huber`] | `Σ_i h(p_i - t_i) / n`, `h(d) = d²/2` if `\|d\| < δ`, else `δ (\|d\| - δ/2)` | `clamp(p_i - t_i, -δ, δ) / n` |
//! | [`cross_entropy`] | `Σ_b (lse(x_b) - x_b[t_b]) / B` over a batch of `B` rows of logits | `(softmax(x_b)_j - [j = t_b]) / B` |
//! | [`cross_entropy_with`] | cross-entropy with class weights `w` and label smoothing `ε` (below) | below |
//! | [`nll`] | `-Σ_b w[t_b] lp_b[t_b] / Σ_b w[t_b]` over rows of log-probabilities | `-w[t_b] / Σ_b w[t_b]` at `[b, t_b]`, 0 elsewhere |
//! | [`bce_with_logits`] | `Σ_i ((1 - y_i) x_i + L_i softplus(-x_i)) / n`, `L_i = 1 + (pw_i - 1) y_i` | `((1 - y_i) - L_i σ(-x_i)) / n` |
//!
//! Cross-entropy is fused with log-softmax: it reads raw logits, never forms a logarithm
//! of a probability, and subtracts each row's maximum, so it is exact where a separate
//! softmax would round to 0 and take `ln 0`. [`cross_entropy`] is PyTorch's
//! `cross_entropy` with the default mean reduction; [`cross_entropy_with`] adds its
//! `weight` and `label_smoothing` arguments with PyTorch's semantics:
//!
//! ```text
//! ℓ = (1 - ε) Σ_b w[t_b] (lse(x_b) - x_b[t_b]) / W  +  (ε / C) Σ_b Σ_j w[j] (lse(x_b) - x_b[j]) / W
//! W = Σ_b w[t_b]            (w = 1 without weights, so W = B)
//! ∂ℓ/∂x[b, k] = (a_b p[b, k] - (ε / C) w[k] - (1 - ε) w[t_b] [k = t_b]) / W
//! a_b = (1 - ε) w[t_b] + (ε / C) Σ_j w[j],   p[b, ·] = softmax(x_b)
//! ```
//!
//! Binary cross-entropy with logits is PyTorch's `binary_cross_entropy_with_logits`:
//! `softplus(-x) = max(-x, 0) + ln(1 + e^(-|x|))` never overflows, and `pos_weight`
//! (one weight per class, the last dimension) scales the positive term.
//!
//! Backward functions take `dloss`, the gradient flowing into the loss (1 when the loss is
//! the final output), and accumulate `dloss · ∂loss/∂pred`.
//!
//! # Shapes
//! - `mse`, `l1`, `huber`: `pred`, `target`, `dpred` of any length `n`, all equal
//! - `cross_entropy`, `cross_entropy_with`, `nll`: `logits` (or log-probabilities),
//!   `dlogits` of `[batch, classes]`; `targets` of `[batch]`, each below `classes`;
//!   `weight` of `[classes]`
//! - `bce_with_logits`: `logits`, `targets`, `dlogits` of any length `n`, all equal;
//!   `pos_weight` of `[classes]` with `n` a whole number of rows of `classes`

use super::softmax::{log_sum_exp, shift_and_sum};
use crate::{Scalar, ShapeError};

/// The name of [`mse`] in [`OPS`](super::OPS).
pub const MSE: &str = "mse";
/// The name of [`cross_entropy`] in [`OPS`](super::OPS).
pub const CROSS_ENTROPY: &str = "cross_entropy";
/// The name of [`l1`] in [`OPS`](super::OPS).
pub const L1: &str = "l1";
/// The name of [`huber`] in [`OPS`](super::OPS).
pub const HUBER: &str = "huber";
/// The name of [`cross_entropy_with`] in [`OPS`](super::OPS).
pub const CROSS_ENTROPY_WITH: &str = "cross_entropy_with";
/// The name of [`nll`] in [`OPS`](super::OPS).
pub const NLL: &str = "nll";
/// The name of [`bce_with_logits`] in [`OPS`](super::OPS).
pub const BCE_WITH_LOGITS: &str = "bce_with_logits";

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

/// Mean absolute error over all elements: `Σ_i |p_i - t_i| / n`; NaN when empty.
///
/// # Panics
/// If `target` and `pred` differ in length.
///
/// ```
/// use monograd_core::ops::loss::l1;
/// assert_eq!(l1(&[1.0f64, 2.0], &[0.0, 4.0]), 1.5);
/// ```
#[inline]
#[track_caller]
pub fn l1<T: Scalar>(pred: &[T], target: &[T]) -> T {
    super::expect_len(L1, "target", target.len(), pred.len());
    let total = pred.iter().zip(target).fold(T::ZERO, |s, (&p, &t)| s + (p - t).abs());
    total / T::from_f64(pred.len() as f64)
}

/// Backward of [`l1`]: `dpred_i += dloss · sign(p_i - t_i) / n`, with `sign(0) = 0` as
/// PyTorch's.
///
/// # Panics
/// If `target` or `dpred` differs from `pred` in length.
///
/// ```
/// use monograd_core::ops::loss::l1_backward;
/// let mut d = [0.0f64; 3];
/// l1_backward(&[1.0, 2.0, 3.0], &[0.0, 4.0, 3.0], 1.0, &mut d);
/// assert_eq!(d, [1.0 / 3.0, -1.0 / 3.0, 0.0]);
/// ```
#[inline]
#[track_caller]
pub fn l1_backward<T: Scalar>(pred: &[T], target: &[T], dloss: T, dpred: &mut [T]) {
    super::expect_len(L1, "target", target.len(), pred.len());
    super::expect_len(L1, "dpred", dpred.len(), pred.len());
    let g = dloss / T::from_f64(pred.len() as f64);
    for ((d, &p), &t) in dpred.iter_mut().zip(pred).zip(target) {
        if p > t {
            *d += g;
        } else if p < t {
            *d -= g;
        }
    }
}

/// Huber loss with threshold `delta`, averaged over all elements: `Σ_i h(p_i - t_i) / n`
/// with `h(d) = d²/2` where `|d| < δ` and `δ (|d| - δ/2)` elsewhere (PyTorch's
/// `huber_loss`); NaN when empty. Quadratic near the target, linear far from it: its
/// gradient never exceeds `δ / n`.
///
/// # Panics
/// If `target` and `pred` differ in length.
///
/// ```
/// use monograd_core::ops::loss::huber;
/// // |d| = 0.5 is inside δ = 1: 0.125; |d| = 3 is outside: 1 · (3 - 0.5) = 2.5.
/// assert_eq!(huber(&[0.5f64, 3.0], &[0.0, 0.0], 1.0), (0.125 + 2.5) / 2.0);
/// ```
#[inline]
#[track_caller]
pub fn huber<T: Scalar>(pred: &[T], target: &[T], delta: T) -> T {
    super::expect_len(HUBER, "target", target.len(), pred.len());
    let half = T::from_f64(0.5);
    let total = pred.iter().zip(target).fold(T::ZERO, |s, (&p, &t)| {
        let d = p - t;
        let a = d.abs();
        s + if a < delta { half * d * d } else { delta * (a - half * delta) }
    });
    total / T::from_f64(pred.len() as f64)
}

/// Backward of [`huber`]: `dpred_i += dloss · clamp(p_i - t_i, -δ, δ) / n`.
///
/// # Panics
/// If `target` or `dpred` differs from `pred` in length.
///
/// ```
/// use monograd_core::ops::loss::huber_backward;
/// let mut d = [0.0f64; 2];
/// huber_backward(&[0.5, -3.0], &[0.0, 0.0], 1.0, 1.0, &mut d);
/// assert_eq!(d, [0.25, -0.5]);
/// ```
#[inline]
#[track_caller]
pub fn huber_backward<T: Scalar>(pred: &[T], target: &[T], delta: T, dloss: T, dpred: &mut [T]) {
    super::expect_len(HUBER, "target", target.len(), pred.len());
    super::expect_len(HUBER, "dpred", dpred.len(), pred.len());
    let g = dloss / T::from_f64(pred.len() as f64);
    for ((dp, &p), &t) in dpred.iter_mut().zip(pred).zip(target) {
        let d = p - t;
        let c = if d > delta {
            delta
        } else if d < -delta {
            -delta
        } else {
            d
        };
        *dp += g * c;
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

/// [`cross_entropy`] and its gradient ([`cross_entropy_backward`] with `dloss = 1`) in one
/// pass over the logits, each exponential computed once: returns the loss and
/// **overwrites** `dlogits`. Bit for bit the values of the two separate calls (with
/// `dlogits` zeroed first), for a third of the exponentials.
///
/// # Errors
/// [`ShapeError::IndexOutOfRange`] if a target is not below `classes`; `dlogits` is then
/// left unchanged.
///
/// # Panics
/// As [`cross_entropy_backward`].
///
/// ```
/// use monograd_core::ops::loss::{cross_entropy, cross_entropy_and_grad, cross_entropy_backward};
/// let (x, t) = ([2.0f64, -1.0, 0.5, 0.0, 1.0, 3.0], [0, 2]);
/// let mut d = [9.0; 6];
/// let l = cross_entropy_and_grad(&x, &t, 3, &mut d).unwrap();
/// let mut d2 = [0.0; 6];
/// cross_entropy_backward(&x, &t, 3, 1.0, &mut d2).unwrap();
/// assert_eq!((l, d), (cross_entropy(&x, &t, 3).unwrap(), d2));
/// ```
#[inline]
#[track_caller]
pub fn cross_entropy_and_grad<T: Scalar>(
    logits: &[T],
    targets: &[usize],
    classes: usize,
    dlogits: &mut [T],
) -> Result<T, ShapeError> {
    super::expect_len(CROSS_ENTROPY, "dlogits", dlogits.len(), logits.len());
    check_targets(logits, targets, classes)?;
    let n = T::from_f64(targets.len() as f64);
    let g = T::ONE / n;
    let mut total = T::ZERO;
    let rows = logits.chunks_exact(classes.max(1)).zip(dlogits.chunks_exact_mut(classes.max(1)));
    for ((row, drow), &t) in rows.zip(targets) {
        // As `shift_and_sum`, keeping the exponentials.
        let m = row.iter().fold(row[0], |m, &v| m.max(v));
        let mut s = T::ZERO;
        for (d, &x) in drow.iter_mut().zip(row) {
            *d = (x - m).exp();
            s += *d;
        }
        total += (m + s.ln()) - row[t];
        let gs = g / s;
        for d in drow.iter_mut() {
            *d = gs * *d;
        }
        drow[t] -= g;
    }
    Ok(total / n)
}

/// Cross-entropy of rows of logits against class indices with optional class weights and
/// label smoothing `ε`, PyTorch's `cross_entropy(x, t, weight, label_smoothing=ε)` with the
/// mean reduction; the formula is in the [module docs](self). With no weights and `ε = 0`
/// it equals [`cross_entropy`]. NaN for an empty batch, or when the targets' weights sum
/// to zero (as PyTorch's).
///
/// # Errors
/// [`ShapeError::IndexOutOfRange`] if a target is not below `classes` (labels are data).
///
/// # Panics
/// If `logits.len() != targets.len() * classes`, or `weight` does not hold `classes`
/// values.
///
/// ```
/// use monograd_core::ops::loss::{cross_entropy, cross_entropy_with};
/// let x = [2.0f64, -1.0, 0.5, 0.0, 1.0, 3.0];
/// let plain = cross_entropy(&x, &[0, 2], 3).unwrap();
/// assert_eq!(cross_entropy_with(&x, &[0, 2], 3, None, 0.0).unwrap(), plain);
/// // Weights: the weighted mean over the batch; equal weights change nothing.
/// let w = [2.0, 2.0, 2.0];
/// assert!((cross_entropy_with(&x, &[0, 2], 3, Some(&w), 0.0).unwrap() - plain).abs() < 1e-15);
/// // Full smoothing: the target no longer matters.
/// let a = cross_entropy_with(&x, &[0, 2], 3, None, 1.0).unwrap();
/// let b = cross_entropy_with(&x, &[1, 1], 3, None, 1.0).unwrap();
/// assert!((a - b).abs() < 1e-15);
/// ```
#[inline]
#[track_caller]
pub fn cross_entropy_with<T: Scalar>(
    logits: &[T],
    targets: &[usize],
    classes: usize,
    weight: Option<&[T]>,
    label_smoothing: T,
) -> Result<T, ShapeError> {
    check_rows(CROSS_ENTROPY_WITH, "cross_entropy_with target", logits, targets, classes)?;
    check_weight(CROSS_ENTROPY_WITH, weight, classes);
    let w = |j: usize| weight.map_or(T::ONE, |w| w[j]);
    let smooth = label_smoothing > T::ZERO;
    let (mut nll, mut uniform, mut total_w) = (T::ZERO, T::ZERO, T::ZERO);
    for (row, &t) in logits.chunks_exact(classes.max(1)).zip(targets) {
        let lse = log_sum_exp(row);
        nll += w(t) * (lse - row[t]);
        total_w += w(t);
        if smooth {
            // Each term is non-negative: no cancellation however large the logits.
            uniform += row.iter().enumerate().fold(T::ZERO, |s, (j, &x)| s + w(j) * (lse - x));
        }
    }
    if !smooth {
        return Ok(nll / total_w);
    }
    let eps_c = label_smoothing / T::from_f64(classes as f64);
    Ok(((T::ONE - label_smoothing) * nll + eps_c * uniform) / total_w)
}

/// Backward of [`cross_entropy_with`]:
/// `dlogits[b, k] += dloss · (a_b p[b, k] - (ε/C) w[k] - (1 - ε) w[t_b] [k = t_b]) / W`
/// (see the [module docs](self)).
///
/// # Errors
/// [`ShapeError::IndexOutOfRange`] if a target is not below `classes`; `dlogits` is then
/// left unchanged.
///
/// # Panics
/// As [`cross_entropy_with`], or if `dlogits` differs from `logits` in length.
///
/// ```
/// use monograd_core::ops::loss::cross_entropy_with_backward;
/// // Equal logits, ε = 0.5 over 2 classes: the smoothed target is [0.75, 0.25].
/// let mut d = [0.0f64; 2];
/// cross_entropy_with_backward(&[1.0, 1.0], &[0], 2, None, 0.5, 1.0, &mut d).unwrap();
/// assert_eq!(d, [-0.25, 0.25]);
/// ```
#[inline]
#[track_caller]
pub fn cross_entropy_with_backward<T: Scalar>(
    logits: &[T],
    targets: &[usize],
    classes: usize,
    weight: Option<&[T]>,
    label_smoothing: T,
    dloss: T,
    dlogits: &mut [T],
) -> Result<(), ShapeError> {
    super::expect_len(CROSS_ENTROPY_WITH, "dlogits", dlogits.len(), logits.len());
    check_rows(CROSS_ENTROPY_WITH, "cross_entropy_with target", logits, targets, classes)?;
    check_weight(CROSS_ENTROPY_WITH, weight, classes);
    let w = |j: usize| weight.map_or(T::ONE, |w| w[j]);
    let total_w = targets.iter().fold(T::ZERO, |s, &t| s + w(t));
    let g = dloss / total_w;
    let keep = T::ONE - label_smoothing;
    let eps_c = label_smoothing / T::from_f64(classes as f64);
    let sum_w = match weight {
        Some(ws) => ws.iter().fold(T::ZERO, |s, &v| s + v),
        None => T::from_f64(classes as f64),
    };
    let rows = logits.chunks_exact(classes.max(1)).zip(dlogits.chunks_exact_mut(classes.max(1)));
    for ((row, drow), &t) in rows.zip(targets) {
        let (m, s) = shift_and_sum(row);
        let a = (keep * w(t) + eps_c * sum_w) * g / s;
        for (j, (d, &x)) in drow.iter_mut().zip(row).enumerate() {
            *d += a * (x - m).exp() - g * eps_c * w(j);
        }
        drow[t] -= g * keep * w(t);
    }
    Ok(())
}

/// Negative log-likelihood of rows of log-probabilities against class indices, with
/// optional class weights: `-Σ_b w[t_b] lp[b, t_b] / Σ_b w[t_b]` (PyTorch's `nll_loss`
/// with the mean reduction). Its input is what [`log_softmax`](super::softmax::log_softmax)
/// produces; `nll(log_softmax(x))` is [`cross_entropy`]`(x)`. NaN for an empty batch.
///
/// # Errors
/// [`ShapeError::IndexOutOfRange`] if a target is not below `classes`.
///
/// # Panics
/// If `logp.len() != targets.len() * classes`, or `weight` does not hold `classes` values.
///
/// ```
/// use monograd_core::ops::loss::nll;
/// let lp = [0.5f64.ln(), 0.5f64.ln(), 0.25f64.ln(), 0.75f64.ln()];
/// assert!((nll(&lp, &[0, 1], 2, None).unwrap() - (2f64.ln() - 0.75f64.ln()) / 2.0).abs() < 1e-15);
/// // Weights: the weighted mean, w[t_b] per row.
/// let l = nll(&lp, &[0, 1], 2, Some(&[1.0, 3.0])).unwrap();
/// assert!((l - (2f64.ln() - 3.0 * 0.75f64.ln()) / 4.0).abs() < 1e-15);
/// ```
#[inline]
#[track_caller]
pub fn nll<T: Scalar>(logp: &[T], targets: &[usize], classes: usize, weight: Option<&[T]>) -> Result<T, ShapeError> {
    check_rows(NLL, "nll target", logp, targets, classes)?;
    check_weight(NLL, weight, classes);
    let w = |j: usize| weight.map_or(T::ONE, |w| w[j]);
    let (mut total, mut total_w) = (T::ZERO, T::ZERO);
    for (row, &t) in logp.chunks_exact(classes.max(1)).zip(targets) {
        total -= w(t) * row[t];
        total_w += w(t);
    }
    Ok(total / total_w)
}

/// Backward of [`nll`]: `dlogp[b, t_b] -= dloss · w[t_b] / Σ_b w[t_b]`; nothing elsewhere.
///
/// # Errors
/// [`ShapeError::IndexOutOfRange`] if a target is not below `classes`; `dlogp` is then
/// left unchanged.
///
/// # Panics
/// As [`nll`], or if `dlogp` differs from `logp` in length.
///
/// ```
/// use monograd_core::ops::loss::nll_backward;
/// let mut d = [0.0f64; 4];
/// nll_backward(&[-1.0, -1.0, -1.0, -1.0], &[0, 1], 2, None, 1.0, &mut d).unwrap();
/// assert_eq!(d, [-0.5, 0.0, 0.0, -0.5]);
/// ```
#[inline]
#[track_caller]
pub fn nll_backward<T: Scalar>(
    logp: &[T],
    targets: &[usize],
    classes: usize,
    weight: Option<&[T]>,
    dloss: T,
    dlogp: &mut [T],
) -> Result<(), ShapeError> {
    super::expect_len(NLL, "dlogp", dlogp.len(), logp.len());
    check_rows(NLL, "nll target", logp, targets, classes)?;
    check_weight(NLL, weight, classes);
    let w = |j: usize| weight.map_or(T::ONE, |w| w[j]);
    let total_w = targets.iter().fold(T::ZERO, |s, &t| s + w(t));
    let g = dloss / total_w;
    for (drow, &t) in dlogp.chunks_exact_mut(classes.max(1)).zip(targets) {
        drow[t] -= g * w(t);
    }
    Ok(())
}

/// Binary cross-entropy of logits `x` against targets `y` in `[0, 1]`, averaged over all
/// elements: `Σ_i ((1 - y_i) x_i + L_i softplus(-x_i)) / n` with
/// `L_i = 1 + (pw_i - 1) y_i`, where `pw` is `pos_weight` repeated over rows of its length
/// (1 without it). PyTorch's `binary_cross_entropy_with_logits`; stable for any `x`. NaN
/// when empty.
///
/// # Panics
/// If `targets` differs from `logits` in length, or `logits` is not a whole number of
/// rows of `pos_weight.len()`.
///
/// ```
/// use monograd_core::ops::loss::bce_with_logits;
/// let l = bce_with_logits(&[0.0f64], &[1.0], None);
/// assert!((l - core::f64::consts::LN_2).abs() < 1e-15);
/// // Huge logits neither overflow nor lose the answer.
/// assert_eq!(bce_with_logits(&[-800.0f64, 800.0], &[1.0, 0.0], None), 800.0);
/// // pos_weight scales the positive term: 3 ln 2 for a positive, ln 2 for a negative.
/// let l = bce_with_logits(&[0.0f64, 0.0], &[1.0, 0.0], Some(&[3.0, 3.0]));
/// assert!((l - 2.0 * core::f64::consts::LN_2).abs() < 1e-15);
/// ```
#[inline]
#[track_caller]
pub fn bce_with_logits<T: Scalar>(logits: &[T], targets: &[T], pos_weight: Option<&[T]>) -> T {
    super::expect_len(BCE_WITH_LOGITS, "targets", targets.len(), logits.len());
    if let Some(pw) = pos_weight {
        super::rows_of(BCE_WITH_LOGITS, "logits", logits.len(), pw.len());
    }
    let mut total = T::ZERO;
    for (i, (&x, &y)) in logits.iter().zip(targets).enumerate() {
        let l = pos_weight.map_or(T::ONE, |pw| T::ONE + (pw[i % pw.len()] - T::ONE) * y);
        total += (T::ONE - y) * x + l * softplus_neg(x);
    }
    total / T::from_f64(logits.len() as f64)
}

/// Backward of [`bce_with_logits`]: `dlogits_i += dloss · ((1 - y_i) - L_i σ(-x_i)) / n`,
/// which is `dloss · (σ(x_i) - y_i) / n` without `pos_weight`.
///
/// # Panics
/// As [`bce_with_logits`], or if `dlogits` differs from `logits` in length.
///
/// ```
/// use monograd_core::ops::loss::bce_with_logits_backward;
/// let mut d = [0.0f64; 2];
/// bce_with_logits_backward(&[0.0, 0.0], &[1.0, 0.25], None, 1.0, &mut d);
/// assert_eq!(d, [-0.25, 0.125]);
/// ```
#[inline]
#[track_caller]
pub fn bce_with_logits_backward<T: Scalar>(
    logits: &[T],
    targets: &[T],
    pos_weight: Option<&[T]>,
    dloss: T,
    dlogits: &mut [T],
) {
    super::expect_len(BCE_WITH_LOGITS, "targets", targets.len(), logits.len());
    super::expect_len(BCE_WITH_LOGITS, "dlogits", dlogits.len(), logits.len());
    if let Some(pw) = pos_weight {
        super::rows_of(BCE_WITH_LOGITS, "logits", logits.len(), pw.len());
    }
    let g = dloss / T::from_f64(logits.len() as f64);
    for (i, ((d, &x), &y)) in dlogits.iter_mut().zip(logits).zip(targets).enumerate() {
        let l = pos_weight.map_or(T::ONE, |pw| T::ONE + (pw[i % pw.len()] - T::ONE) * y);
        *d += g * ((T::ONE - y) - l * (-x).sigmoid());
    }
}

/// `softplus(-x) = ln(1 + e^(-x)) = max(-x, 0) + ln(1 + e^(-|x|))`, which never overflows.
#[inline]
fn softplus_neg<T: Scalar>(x: T) -> T {
    (-x).max(T::ZERO) + ln_1p((-x.abs()).exp())
}

/// `ln(1 + u)`, accurate for small `u` (Goldberg's trick: the rounding of `1 + u` cancels
/// in `u / ((1 + u) - 1)`). The test is on the primal value, so that it holds for duals.
#[inline]
fn ln_1p<T: Scalar>(u: T) -> T {
    let w = T::ONE + u;
    let wm1 = w - T::ONE;
    if wm1.to_f64() == 0.0 {
        u
    } else {
        w.ln() * (u / wm1)
    }
}

/// Panics if `weight` is given and does not hold one value per class.
#[inline]
#[track_caller]
fn check_weight<T>(op: &str, weight: Option<&[T]>, classes: usize) {
    if let Some(w) = weight {
        super::expect_len(op, "weight", w.len(), classes);
    }
}

/// Panics if the logits do not hold one row per target; errs if a target is out of range.
#[inline]
#[track_caller]
fn check_targets<T>(logits: &[T], targets: &[usize], classes: usize) -> Result<(), ShapeError> {
    check_rows(CROSS_ENTROPY, "cross_entropy target", logits, targets, classes)
}

/// [`check_targets`] for the op `op`, naming the targets `what` in the error.
#[inline]
#[track_caller]
fn check_rows<T>(
    op: &str,
    what: &'static str,
    logits: &[T],
    targets: &[usize],
    classes: usize,
) -> Result<(), ShapeError> {
    super::expect_len(op, "logits", logits.len(), targets.len().saturating_mul(classes));
    match targets.iter().find(|&&t| t >= classes) {
        Some(&index) => Err(ShapeError::IndexOutOfRange { what, index, bound: classes }),
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

    #[cfg(feature = "alloc")]
    #[test]
    fn the_fused_value_and_gradient_equal_the_separate_calls_bit_for_bit() {
        let mut rng = crate::Rng::seed(3);
        for (batch, classes, scale) in [(1, 1, 1.0), (5, 3, 1.0), (64, 10, 4.0), (7, 33, 50.0), (0, 4, 1.0)] {
            let x: [f32; 2048] = core::array::from_fn(|_| rng.uniform(-scale, scale) as f32);
            let x = &x[..batch * classes];
            let t: [usize; 64] = core::array::from_fn(|_| rng.below(classes));
            let t = &t[..batch];
            let (mut fused, mut separate) = ([f32::NAN; 2048], [0.0f32; 2048]);
            let value = cross_entropy_and_grad(x, t, classes, &mut fused[..x.len()]).unwrap();
            cross_entropy_backward(x, t, classes, 1.0, &mut separate[..x.len()]).unwrap();
            let want = cross_entropy(x, t, classes).unwrap();
            assert!(value.to_bits() == want.to_bits() || (value.is_nan() && want.is_nan()), "{value} vs {want}");
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<alloc::vec::Vec<_>>();
            assert_eq!(bits(&fused[..x.len()]), bits(&separate[..x.len()]));
        }
        let mut d = [7.0f64; 4];
        assert!(cross_entropy_and_grad(&[0.0, 1.0, 2.0, 3.0], &[0, 2], 2, &mut d).is_err());
        assert_eq!(d, [7.0; 4]);
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

    /// `|a - b| <= 1e-14 · max(1, |a|, |b|)` for every element.
    #[track_caller]
    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-14 * g.abs().max(w.abs()).max(1.0), "element {i}: {g} vs {w}");
        }
    }

    // The reference values below were printed by PyTorch 2.15.0 in float64
    // (`torch.nn.functional.*` with the default mean reduction, and `.grad` after
    // `backward()`).

    #[test]
    fn cross_entropy_with_weights_and_smoothing_matches_pytorch() {
        let x = [1.0f64, 2.0, 0.5, -1.0, 0.0, 3.0, 0.3, -0.7, 1.1];
        let (t, w) = ([2, 0, 1], [0.5, 2.0, 1.0]);
        let l = cross_entropy_with(&x, &t, 3, Some(&w), 0.2).unwrap();
        assert_close(&[l], &[2.2895045131051233]);
        let mut d = [0.0; 9];
        cross_entropy_with_backward(&x, &t, 3, Some(&w), 0.2, 1.0, &mut d).unwrap();
        #[rustfmt::skip]
        let want = [
            0.0587422935836821, 0.14747126948156797, -0.20621356306525007,
            -0.12070658394890584, -0.029660573057319006, 0.15036715700622486,
            0.1362452544664732, -0.4416126534372658, 0.3053673989707927,
        ];
        assert_close(&d, &want);
        // Without smoothing or weights it is the plain fused op, to the bit.
        assert_eq!(cross_entropy_with(&x, &t, 3, None, 0.0), cross_entropy(&x, &t, 3));
    }

    #[test]
    fn nll_with_weights_matches_pytorch() {
        let x = [1.0f64, 2.0, 0.5, -1.0, 0.0, 3.0, 0.3, -0.7, 1.1];
        let (t, w) = ([2, 0, 1], [0.5, 2.0, 1.0]);
        assert_close(&[nll(&x, &t, 3, Some(&w)).unwrap()], &[0.39999999999999997]);
        let mut d = [0.0; 9];
        nll_backward(&x, &t, 3, Some(&w), 1.0, &mut d).unwrap();
        let (a, b, c) = (-0.2857142857142857, -0.14285714285714285, -0.5714285714285714);
        assert_close(&d, &[0.0, 0.0, a, b, 0.0, 0.0, 0.0, c, 0.0]);
    }

    #[test]
    fn bce_with_logits_and_pos_weight_matches_pytorch() {
        let (x, y, pw) = ([0.3f64, -1.2, 2.5, -0.4], [1.0, 0.0, 0.3, 1.0], [2.0, 0.5]);
        assert_close(&[bce_with_logits(&x, &y, Some(&pw))], &[0.9202643092638441]);
        let mut d = [0.0; 4];
        bce_with_logits_backward(&x, &y, Some(&pw), 1.0, &mut d);
        assert_close(&d, &[-0.21277874159417048, 0.057868804125245595, 0.15034609149309588, -0.0748359575140565]);
    }

    #[test]
    fn huber_and_l1_match_pytorch() {
        let (p, t) = ([0.1f64, -2.0, 0.5, 1.5], [0.3, 0.0, -0.5, 1.4]);
        assert_close(&[huber(&p, &t, 0.7)], &[0.40875]);
        let mut d = [0.0; 4];
        huber_backward(&p, &t, 0.7, 1.0, &mut d);
        assert_close(&d, &[-0.049999999999999996, -0.175, 0.175, 0.025000000000000022]);
        assert_close(&[l1(&p, &t)], &[0.8250000000000001]);
        let mut d = [0.0; 4];
        l1_backward(&p, &t, 1.0, &mut d);
        assert_eq!(d, [-0.25, -0.25, 0.25, 0.25]);
    }

    #[test]
    fn bce_with_logits_keeps_tiny_losses_accurate() {
        // softplus(-40) = ln(1 + e^-40) ≈ e^-40: ln(1 + u) computed naively would give 0.
        let l = bce_with_logits(&[40.0f64], &[1.0], None);
        assert!((l / (-40.0f64).exp() - 1.0).abs() < 1e-15, "{l}");
    }

    #[test]
    fn class_losses_reject_bad_labels_and_write_nothing() {
        let mut d = [7.0f64; 4];
        let x = [0.0, 1.0, 2.0, 3.0];
        let e = cross_entropy_with_backward(&x, &[0, 2], 2, None, 0.1, 1.0, &mut d).unwrap_err();
        assert_eq!(e, ShapeError::IndexOutOfRange { what: "cross_entropy_with target", index: 2, bound: 2 });
        let e = nll_backward(&x, &[3, 0], 2, None, 1.0, &mut d).unwrap_err();
        assert_eq!(e, ShapeError::IndexOutOfRange { what: "nll target", index: 3, bound: 2 });
        assert_eq!(d, [7.0; 4]);
        assert!(nll(&x, &[0, 9], 2, None).is_err() && cross_entropy_with(&x, &[9, 0], 2, None, 0.0).is_err());
    }

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "nll: `weight` holds 3 values, expected 2"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_weight_of_the_wrong_length_is_a_caller_bug() {
        let _ = nll(&[0.0f64; 4], &[0, 1], 2, Some(&[1.0; 3]));
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    /// A loss over the predictions, with fixed targets.
    #[cfg(feature = "alloc")]
    enum Case {
        Mse { target: Vec<f64> },
        L1 { target: Vec<f64> },
        Huber { target: Vec<f64>, delta: f64 },
        CrossEntropy { targets: Vec<usize>, classes: usize },
        CrossEntropyWith { name: &'static str, targets: Vec<usize>, classes: usize, weight: Option<Vec<f64>>, eps: f64 },
        Nll { name: &'static str, targets: Vec<usize>, classes: usize, weight: Option<Vec<f64>> },
        Bce { name: &'static str, targets: Vec<f64>, pos_weight: Option<Vec<f64>> },
    }

    /// `v` converted to the scalar `T`.
    #[cfg(feature = "alloc")]
    fn to<T: Scalar>(v: &[f64]) -> Vec<T> {
        v.iter().map(|&v| T::from_f64(v)).collect()
    }

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            match self {
                Self::Mse { .. } => MSE,
                Self::L1 { .. } => L1,
                Self::Huber { .. } => HUBER,
                Self::CrossEntropy { .. } => CROSS_ENTROPY,
                Self::CrossEntropyWith { name, .. } | Self::Nll { name, .. } | Self::Bce { name, .. } => name,
            }
        }
        fn input_len(&self) -> usize {
            match self {
                Self::Mse { target } | Self::L1 { target } | Self::Huber { target, .. } => target.len(),
                Self::CrossEntropy { targets, classes }
                | Self::CrossEntropyWith { targets, classes, .. }
                | Self::Nll { targets, classes, .. } => targets.len() * classes,
                Self::Bce { targets, .. } => targets.len(),
            }
        }
        fn output_len(&self) -> usize {
            1
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            let ok = |r: Result<T, ShapeError>| r.unwrap_or_else(|e| panic!("{e}"));
            y[0] = match self {
                Self::Mse { target } => mse(x, &to::<T>(target)),
                Self::L1 { target } => l1(x, &to::<T>(target)),
                Self::Huber { target, delta } => huber(x, &to::<T>(target), T::from_f64(*delta)),
                Self::CrossEntropy { targets, classes } => ok(cross_entropy(x, targets, *classes)),
                Self::CrossEntropyWith { targets, classes, weight, eps, .. } => {
                    let w = weight.as_deref().map(to::<T>);
                    ok(cross_entropy_with(x, targets, *classes, w.as_deref(), T::from_f64(*eps)))
                }
                Self::Nll { targets, classes, weight, .. } => {
                    let w = weight.as_deref().map(to::<T>);
                    ok(nll(x, targets, *classes, w.as_deref()))
                }
                Self::Bce { targets, pos_weight, .. } => {
                    let pw = pos_weight.as_deref().map(to::<T>);
                    bce_with_logits(x, &to::<T>(targets), pw.as_deref())
                }
            };
        }
        fn backward(&self, x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            let ok = |r: Result<(), ShapeError>| r.unwrap_or_else(|e| panic!("{e}"));
            match self {
                Self::Mse { target } => mse_backward(x, target, dy[0], dx),
                Self::L1 { target } => l1_backward(x, target, dy[0], dx),
                Self::Huber { target, delta } => huber_backward(x, target, *delta, dy[0], dx),
                Self::CrossEntropy { targets, classes } => {
                    ok(cross_entropy_backward(x, targets, *classes, dy[0], dx));
                }
                Self::CrossEntropyWith { targets, classes, weight, eps, .. } => {
                    ok(cross_entropy_with_backward(x, targets, *classes, weight.as_deref(), *eps, dy[0], dx));
                }
                Self::Nll { targets, classes, weight, .. } => {
                    ok(nll_backward(x, targets, *classes, weight.as_deref(), dy[0], dx));
                }
                Self::Bce { targets, pos_weight, .. } => {
                    bce_with_logits_backward(x, targets, pos_weight.as_deref(), dy[0], dx);
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
        let mut rng = Rng::seed(72);
        let mut labels = |n: usize, classes: usize| -> Vec<usize> { (0..n).map(|_| rng.below(classes)).collect() };
        let weight = Some(inputs(75, 5, 0.2, 2.0, &[]));

        let mse_case = Case::Mse { target: inputs(71, 10, -1.0, 1.0, &[]) };
        let ce_case = Case::CrossEntropy { targets: labels(4, 5), classes: 5 };
        let target = inputs(76, 12, -1.0, 1.0, &[]);
        // Keep away from the kinks: where p = t (L1), and where |p - t| = δ (Huber's
        // second derivative jumps, which finite differences would see).
        let delta = 0.5;
        let kinks: Vec<f64> = target.iter().flat_map(|&t| [t, t - delta, t + delta]).collect();
        let l1_case = Case::L1 { target: target.clone() };
        let huber_case = Case::Huber { target, delta };
        let ce_with = |name, weight: Option<Vec<f64>>, eps, targets| Case::CrossEntropyWith {
            name,
            targets,
            classes: 5,
            weight,
            eps,
        };
        let ce_weighted = ce_with("cross_entropy_with/weighted", weight.clone(), 0.0, labels(4, 5));
        let ce_smoothed = ce_with("cross_entropy_with/smoothed", None, 0.1, labels(4, 5));
        let ce_both = ce_with("cross_entropy_with/weighted+smoothed", weight.clone(), 0.3, labels(4, 5));
        let nll_plain = Case::Nll { name: NLL, targets: labels(4, 5), classes: 5, weight: None };
        let nll_weighted = Case::Nll { name: "nll/weighted", targets: labels(4, 5), classes: 5, weight };
        let soft_targets = inputs(77, 6, 0.0, 1.0, &[]);
        let bce_plain = Case::Bce { name: BCE_WITH_LOGITS, targets: soft_targets.clone(), pos_weight: None };
        let bce_pw = Case::Bce {
            name: "bce_with_logits/pos_weight",
            targets: soft_targets,
            pos_weight: Some(alloc::vec![0.5, 1.0, 3.0]),
        };
        let at = |case: &Case, seed: u64, lo: f64, hi: f64, kinks: &[f64]| {
            gc(case, &inputs(seed, case.input_len(), lo, hi, kinks), seed)
        };
        alloc::vec![
            at(&mse_case, 73, -1.0, 1.0, &[]),
            at(&ce_case, 74, -4.0, 4.0, &[]),
            at(&l1_case, 78, -2.0, 2.0, &kinks),
            at(&huber_case, 79, -2.0, 2.0, &kinks),
            at(&ce_weighted, 80, -4.0, 4.0, &[]),
            at(&ce_smoothed, 81, -4.0, 4.0, &[]),
            at(&ce_both, 82, -4.0, 4.0, &[]),
            at(&nll_plain, 83, -4.0, 0.0, &[]),
            at(&nll_weighted, 84, -4.0, 0.0, &[]),
            at(&bce_plain, 85, -6.0, 6.0, &[]),
            at(&bce_pw, 86, -6.0, 6.0, &[]),
        ]
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        let names = gradchecks();
        assert_eq!(names[..4], [MSE, CROSS_ENTROPY, L1, HUBER]);
        assert_eq!(names.len(), 11);
    }
}
