//! Normalisation: batch norm (with batch or running statistics) and layer norm, forward
//! and VJP.
//!
//! Each normalises values to zero mean and unit variance, then applies a per-feature
//! scale `γ` (`weight`) and shift `β` (`bias`): `x̂ = (x - μ) / √(σ² + ε)`, `y = γ x̂ + β`.
//!
//! - **Batch norm** takes `μ`, `σ²` per channel over the batch and every position of
//!   `x` `[batch, C, inner]` (`m = batch · inner` values per channel): with the batch's
//!   statistics in training ([`batch_norm_train`], the biased variance, dividing by `m`), or
//!   with running estimates in inference ([`batch_norm_eval`]), where it is an affine map
//!   per channel. Updating running estimates is the caller's (the `BatchNorm` layers').
//! - **Layer norm** ([`layer_norm`]) takes `μ`, `σ²` over each row of `n` values, `γ` and
//!   `β` elementwise over the row.
//!
//! Derivatives, with `g = ∂L/∂y`, sums over the `m` values that share the statistics and
//! `s = 1 / √(σ² + ε)`:
//!
//! | | formula |
//! | --- | --- |
//! | `∂L/∂β` | `Σ g` |
//! | `∂L/∂γ` | `Σ g x̂` |
//! | `∂L/∂x`, batch statistics | `γ s (g - Σ g / m - x̂ Σ (g x̂) / m)` (layer norm: `γ` inside the sums, per feature) |
//! | `∂L/∂x`, running statistics | `γ s g` |
//!
//! The `BatchNorm1d`, `BatchNorm2d` and `LayerNorm` layers of `monograd-nn` and the eager
//! tape call these functions.
//!
//! # Shapes
//! - batch norm: `x`, `y`, `dx`, `dy`: `[batch, C, inner]`; `weight`, `bias`, statistics
//!   and their gradients: `[C]`
//! - layer norm: `x`, `y`, `dx`, `dy`: `[rows, n]`; `weight`, `bias` and their gradients:
//!   `[n]`

use crate::Scalar;

/// The name of batch norm in training mode in [`OPS`](super::OPS).
pub const BATCH_NORM: &str = "batch_norm";
/// The name of batch norm in inference mode in [`OPS`](super::OPS).
pub const BATCH_NORM_EVAL: &str = "batch_norm_eval";
/// The name of [`layer_norm`] in [`OPS`](super::OPS).
pub const LAYER_NORM: &str = "layer_norm";

/// The values of channel `c` in a batch of `[batch, channels, inner]`, one run of `inner`
/// per sample.
#[inline]
fn channel<T>(x: &[T], c: usize, channels: usize, inner: usize) -> impl Iterator<Item = &[T]> {
    x.chunks_exact(channels * inner).map(move |s| &s[c * inner..(c + 1) * inner])
}

/// The same, mutably.
#[inline]
fn channel_mut<T>(x: &mut [T], c: usize, channels: usize, inner: usize) -> impl Iterator<Item = &mut [T]> {
    x.chunks_exact_mut(channels * inner).map(move |s| &mut s[c * inner..(c + 1) * inner])
}

/// The statistics a batch norm normalises with, per channel: `μ` and `1 / √(σ² + ε)`.
#[derive(Clone, Copy, Debug)]
pub struct ChannelStats<'a, T> {
    /// `μ` per channel.
    pub mean: &'a [T],
    /// `1 / √(σ² + ε)` per channel.
    pub inv_std: &'a [T],
    /// Whether these are the batch's own statistics (training: they depend on `x`, and
    /// backward differentiates through them) or running estimates (inference).
    pub from_batch: bool,
}

/// Checks that every per-channel slice has `C` values and `x` whole samples.
#[track_caller]
fn check_channels(op: &str, x: usize, y: usize, per_channel: &[(&str, usize)], c: usize, inner: usize) {
    super::expect_len(op, "y", y, x);
    for &(name, len) in per_channel {
        super::expect_len(op, name, len, c);
    }
    super::rows_of(op, "x", x, c * inner);
}

/// Inference: `y = γ (x - running_mean) / √(running_var + ε) + β`, overwriting `y`.
///
/// # Panics
/// If a buffer does not fit `[batch, C, inner]` with `C = weight.len()`.
///
/// ```
/// use monograd_core::ops::norm::batch_norm_eval;
/// let mut y = [0.0; 4];
/// // Two samples of two channels; channel 1 has mean 1 and variance 4 (ε = 0).
/// batch_norm_eval(&[1.0, 3.0, 2.0, 5.0], &mut y, &[1.0, 1.0], &[0.0, 0.5], &[0.0, 1.0], &[1.0, 4.0], 0.0, 1);
/// assert_eq!(y, [1.0, 1.5, 2.0, 2.5]);
/// ```
#[allow(clippy::too_many_arguments)] // the input, the output, four tensors, ε, the layout
#[inline]
#[track_caller]
pub fn batch_norm_eval<T: Scalar>(
    x: &[T],
    y: &mut [T],
    weight: &[T],
    bias: &[T],
    running_mean: &[T],
    running_var: &[T],
    eps: T,
    inner: usize,
) {
    let c_len = weight.len();
    let lens = [("bias", bias.len()), ("running_mean", running_mean.len()), ("running_var", running_var.len())];
    check_channels(BATCH_NORM_EVAL, x.len(), y.len(), &lens, c_len, inner);
    if inner == 0 || c_len == 0 {
        return;
    }
    for c in 0..c_len {
        let scale = weight[c] * (running_var[c] + eps).sqrt().recip();
        let (mean, shift) = (running_mean[c], bias[c]);
        for (yr, xr) in channel_mut(y, c, c_len, inner).zip(channel(x, c, c_len, inner)) {
            for (y, &x) in yr.iter_mut().zip(xr) {
                *y = (x - mean) * scale + shift;
            }
        }
    }
}

/// Training: the batch statistics of each channel into `mean`, `var` (biased) and
/// `inv_std`, then `y`, overwritten. Returns the number of values per channel, `m`
/// (0 for an empty batch, which leaves everything untouched).
///
/// # Panics
/// If a buffer does not fit `[batch, C, inner]` with `C = weight.len()`.
///
/// ```
/// use monograd_core::ops::norm::batch_norm_train;
/// let (mut y, mut mean, mut var, mut inv_std) = ([0.0; 4], [0.0; 2], [0.0; 2], [0.0; 2]);
/// let x = [1.0, 2.0, 3.0, 6.0]; // two samples of two channels
/// let m = batch_norm_train(&x, &mut y, &[1.0; 2], &[0.0; 2], 0.0, 1, &mut mean, &mut var, &mut inv_std);
/// assert_eq!((m, mean, var, inv_std), (2, [2.0, 4.0], [1.0, 4.0], [1.0, 0.5]));
/// assert_eq!(y, [-1.0, -1.0, 1.0, 1.0]);
/// ```
#[allow(clippy::too_many_arguments)] // the input, the output, two tensors, ε, the layout, three statistics
#[inline]
#[track_caller]
pub fn batch_norm_train<T: Scalar>(
    x: &[T],
    y: &mut [T],
    weight: &[T],
    bias: &[T],
    eps: T,
    inner: usize,
    mean: &mut [T],
    var: &mut [T],
    inv_std: &mut [T],
) -> usize {
    let c_len = weight.len();
    let lens = [("bias", bias.len()), ("mean", mean.len()), ("var", var.len()), ("inv_std", inv_std.len())];
    check_channels(BATCH_NORM, x.len(), y.len(), &lens, c_len, inner);
    if inner == 0 || c_len == 0 {
        return 0;
    }
    let m = x.len() / (c_len * inner) * inner;
    if m == 0 {
        return 0;
    }
    let inv_m = T::from_f64(1.0 / m as f64);
    for c in 0..c_len {
        // Two passes: the mean, then the squared deviations from it (no cancellation).
        let sum = channel(x, c, c_len, inner).flatten().fold(T::ZERO, |s, &v| s + v);
        let mu = sum * inv_m;
        let sq = channel(x, c, c_len, inner).flatten().fold(T::ZERO, |s, &v| s + (v - mu) * (v - mu));
        let sigma2 = sq * inv_m;
        let is = (sigma2 + eps).sqrt().recip();
        (mean[c], var[c], inv_std[c]) = (mu, sigma2, is);
        let (scale, shift) = (weight[c] * is, bias[c]);
        for (yr, xr) in channel_mut(y, c, c_len, inner).zip(channel(x, c, c_len, inner)) {
            for (y, &x) in yr.iter_mut().zip(xr) {
                *y = (x - mu) * scale + shift;
            }
        }
    }
    m
}

/// Backward of batch norm with the statistics `stats` it normalised with: **adds** into
/// `dx`, `dweight` and `dbias`, each when given.
///
/// # Panics
/// If a buffer does not fit `[batch, C, inner]` with `C = weight.len()`.
#[allow(clippy::too_many_arguments)] // the input, dy, γ, the statistics, three gradients, the layout
#[inline]
#[track_caller]
pub fn batch_norm_backward<T: Scalar>(
    x: &[T],
    dy: &[T],
    weight: &[T],
    stats: ChannelStats<'_, T>,
    mut dx: Option<&mut [T]>,
    mut dweight: Option<&mut [T]>,
    mut dbias: Option<&mut [T]>,
    inner: usize,
) {
    let c_len = weight.len();
    let op = if stats.from_batch { BATCH_NORM } else { BATCH_NORM_EVAL };
    check_channels(
        op,
        x.len(),
        dy.len(),
        &[("mean", stats.mean.len()), ("inv_std", stats.inv_std.len())],
        c_len,
        inner,
    );
    if let Some(dx) = &dx {
        super::expect_len(op, "dx", dx.len(), x.len());
    }
    for (name, d) in [("dweight", &dweight), ("dbias", &dbias)] {
        if let Some(d) = d {
            super::expect_len(op, name, d.len(), c_len);
        }
    }
    if inner == 0 || c_len == 0 {
        return;
    }
    let m = x.len() / (c_len * inner) * inner;
    if m == 0 {
        return;
    }
    let inv_m = T::from_f64(1.0 / m as f64);
    for c in 0..c_len {
        let (mean, inv_std) = (stats.mean[c], stats.inv_std[c]);
        let (mut sum_g, mut sum_gx) = (T::ZERO, T::ZERO);
        for (xr, gr) in channel(x, c, c_len, inner).zip(channel(dy, c, c_len, inner)) {
            for (&x, &g) in xr.iter().zip(gr) {
                sum_g += g;
                sum_gx += g * (x - mean) * inv_std;
            }
        }
        if let Some(db) = dbias.as_deref_mut() {
            db[c] += sum_g;
        }
        if let Some(dw) = dweight.as_deref_mut() {
            dw[c] += sum_gx;
        }
        let Some(dx) = dx.as_deref_mut() else { continue };
        let k = weight[c] * inv_std;
        // Through batch statistics, the mean and the variance depend on x too.
        let (mean_g, mean_gx) = if stats.from_batch { (sum_g * inv_m, sum_gx * inv_m) } else { (T::ZERO, T::ZERO) };
        for ((dr, xr), gr) in
            channel_mut(dx, c, c_len, inner).zip(channel(x, c, c_len, inner)).zip(channel(dy, c, c_len, inner))
        {
            for ((d, &x), &g) in dr.iter_mut().zip(xr).zip(gr) {
                let xhat = (x - mean) * inv_std;
                *d += k * (g - mean_g - xhat * mean_gx);
            }
        }
    }
}

/// The mean and `1 / √(σ² + ε)` of one row.
#[inline]
fn row_stats<T: Scalar>(row: &[T], eps: T) -> (T, T) {
    let inv_n = T::from_f64(1.0 / row.len() as f64);
    let mean = row.iter().fold(T::ZERO, |s, &v| s + v) * inv_n;
    let var = row.iter().fold(T::ZERO, |s, &v| s + (v - mean) * (v - mean)) * inv_n;
    (mean, (var + eps).sqrt().recip())
}

/// Layer norm over rows of `n = weight.len()` values: `y = γ (x - μ) / √(σ² + ε) + β`
/// with each row's own statistics, overwriting `y`.
///
/// # Panics
/// If `x` and `y` differ in length or do not hold whole rows, or `bias` differs from
/// `weight` in length.
///
/// ```
/// use monograd_core::ops::norm::layer_norm;
/// let mut y = [0.0; 4];
/// layer_norm(&[1.0, 3.0, -5.0, 5.0], &mut y, &[1.0, 2.0], &[0.0, 0.5], 0.0);
/// assert_eq!(y, [-1.0, 2.5, -1.0, 2.5]);
/// ```
#[inline]
#[track_caller]
pub fn layer_norm<T: Scalar>(x: &[T], y: &mut [T], weight: &[T], bias: &[T], eps: T) {
    let n = weight.len();
    super::expect_len(LAYER_NORM, "y", y.len(), x.len());
    super::expect_len(LAYER_NORM, "bias", bias.len(), n);
    super::rows_of(LAYER_NORM, "x", x.len(), n);
    if n == 0 {
        return;
    }
    for (yr, xr) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        let (mean, inv_std) = row_stats(xr, eps);
        for (((y, &x), &w), &b) in yr.iter_mut().zip(xr).zip(weight).zip(bias) {
            *y = (x - mean) * inv_std * w + b;
        }
    }
}

/// Backward of [`layer_norm`], recomputing each row's statistics from `x`: **adds** into
/// `dx`, `dweight` and `dbias`, each when given.
///
/// # Panics
/// If a buffer does not fit rows of `n = weight.len()` values.
#[allow(clippy::too_many_arguments)] // the input, dy, γ, ε, three gradients
#[inline]
#[track_caller]
pub fn layer_norm_backward<T: Scalar>(
    x: &[T],
    dy: &[T],
    weight: &[T],
    eps: T,
    mut dx: Option<&mut [T]>,
    mut dweight: Option<&mut [T]>,
    mut dbias: Option<&mut [T]>,
) {
    let n = weight.len();
    super::expect_len(LAYER_NORM, "dy", dy.len(), x.len());
    super::rows_of(LAYER_NORM, "x", x.len(), n);
    if let Some(dx) = &dx {
        super::expect_len(LAYER_NORM, "dx", dx.len(), x.len());
    }
    for (name, d) in [("dweight", &dweight), ("dbias", &dbias)] {
        if let Some(d) = d {
            super::expect_len(LAYER_NORM, name, d.len(), n);
        }
    }
    if n == 0 {
        return;
    }
    let inv_n = T::from_f64(1.0 / n as f64);
    for (r, (xr, gr)) in x.chunks_exact(n).zip(dy.chunks_exact(n)).enumerate() {
        let (mean, inv_std) = row_stats(xr, eps);
        // g_j = dy_j γ_j is the gradient of x̂_j; its mean and its mean against x̂.
        let (mut sum_g, mut sum_gx) = (T::ZERO, T::ZERO);
        for (j, (&x, &d)) in xr.iter().zip(gr).enumerate() {
            let xhat = (x - mean) * inv_std;
            if let Some(dw) = dweight.as_deref_mut() {
                dw[j] += d * xhat;
            }
            if let Some(db) = dbias.as_deref_mut() {
                db[j] += d;
            }
            let g = d * weight[j];
            sum_g += g;
            sum_gx += g * xhat;
        }
        let Some(dr) = dx.as_deref_mut().map(|dx| &mut dx[r * n..(r + 1) * n]) else { continue };
        let (mean_g, mean_gx) = (sum_g * inv_n, sum_gx * inv_n);
        for (j, (d, &x)) in dr.iter_mut().zip(xr).enumerate() {
            let xhat = (x - mean) * inv_std;
            *d += inv_std * (gr[j] * weight[j] - mean_g - xhat * mean_gx);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec, vec::Vec};

    /// Which normalisation a [`Case`] checks, over `[batch, C, inner]` (layer norm: rows of
    /// `C · inner`); inputs `x`, `weight`, `bias`.
    #[cfg(feature = "alloc")]
    #[derive(Clone, Copy)]
    enum Which {
        Train,
        Eval,
        Layer,
    }

    #[cfg(feature = "alloc")]
    struct Case {
        which: Which,
        batch: usize,
        c: usize,
        inner: usize,
        name: &'static str,
    }

    #[cfg(feature = "alloc")]
    const EPS: f64 = 1e-5;

    #[cfg(feature = "alloc")]
    impl Case {
        /// Features: channels for batch norm, the whole row for layer norm.
        fn features(&self) -> usize {
            match self.which {
                Which::Layer => self.c * self.inner,
                _ => self.c,
            }
        }
        fn x_len(&self) -> usize {
            self.batch * self.c * self.inner
        }
        /// Fixed running statistics for inference.
        fn running<T: Scalar>(&self) -> (Vec<T>, Vec<T>) {
            let mean = (0..self.c).map(|c| T::from_f64(0.1 * c as f64 - 0.2)).collect();
            let var = (0..self.c).map(|c| T::from_f64(0.5 + 0.3 * c as f64)).collect();
            (mean, var)
        }
    }

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            self.name
        }
        fn input_len(&self) -> usize {
            self.x_len() + 2 * self.features()
        }
        fn output_len(&self) -> usize {
            self.x_len()
        }
        fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
            let (x, p) = v.split_at(self.x_len());
            let (w, b) = p.split_at(self.features());
            let eps = T::from_f64(EPS);
            match self.which {
                Which::Train => {
                    let mut s = vec![T::ZERO; 3 * self.c];
                    let (mean, rest) = s.split_at_mut(self.c);
                    let (var, inv_std) = rest.split_at_mut(self.c);
                    batch_norm_train(x, y, w, b, eps, self.inner, mean, var, inv_std);
                }
                Which::Eval => {
                    let (rm, rv) = self.running::<T>();
                    batch_norm_eval(x, y, w, b, &rm, &rv, eps, self.inner);
                }
                Which::Layer => layer_norm(x, y, w, b, eps),
            }
        }
        fn backward(&self, v: &[f64], _y: &[f64], dy: &[f64], dv: &mut [f64]) {
            let (x, p) = v.split_at(self.x_len());
            let w = &p[..self.features()];
            let (dx, dp) = dv.split_at_mut(self.x_len());
            let (dw, db) = dp.split_at_mut(self.features());
            let (c, inner) = (self.c, self.inner);
            match self.which {
                Which::Train => {
                    let (mut mean, mut var, mut inv_std) = (vec![0.0; c], vec![0.0; c], vec![0.0; c]);
                    let (b, mut y) = (&p[c..], vec![0.0; x.len()]);
                    batch_norm_train(x, &mut y, w, b, EPS, inner, &mut mean, &mut var, &mut inv_std);
                    let stats = ChannelStats { mean: &mean, inv_std: &inv_std, from_batch: true };
                    batch_norm_backward(x, dy, w, stats, Some(dx), Some(dw), Some(db), inner);
                }
                Which::Eval => {
                    let (rm, rv) = self.running::<f64>();
                    let inv_std: Vec<f64> = rv.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect();
                    let stats = ChannelStats { mean: &rm, inv_std: &inv_std, from_batch: false };
                    batch_norm_backward(x, dy, w, stats, Some(dx), Some(dw), Some(db), inner);
                }
                Which::Layer => layer_norm_backward(x, dy, w, EPS, Some(dx), Some(dw), Some(db)),
            }
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        let gc = super::super::testing::gradcheck;
        let case = |which, batch, c, inner, name| Case { which, batch, c, inner, name };
        let cases = [
            case(Which::Train, 4, 3, 1, "batch_norm"),
            case(Which::Train, 3, 2, 6, "batch_norm/positions"),
            case(Which::Eval, 3, 2, 6, "batch_norm_eval"),
            case(Which::Layer, 3, 1, 5, "layer_norm"),
            case(Which::Layer, 2, 3, 4, "layer_norm/rows"),
        ];
        cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = crate::gradcheck::GradCase::input_len(c);
                gc(c, &crate::gradcheck::inputs(91 + i as u64, n, -1.0, 1.0, &[]), 91 + i as u64)
            })
            .collect()
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks().len(), 5);
    }

    #[test]
    fn an_empty_batch_leaves_everything_untouched() {
        let (mut mean, mut var, mut inv_std) = ([7.0; 2], [7.0; 2], [7.0; 2]);
        let m = batch_norm_train::<f64>(&[], &mut [], &[1.0; 2], &[0.0; 2], 1e-5, 3, &mut mean, &mut var, &mut inv_std);
        assert_eq!((m, mean), (0, [7.0; 2]));
    }

    #[test]
    #[cfg_attr(
        feature = "std",
        should_panic(expected = "layer_norm: `x` holds 5 values, not a whole number of rows of 2")
    )]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_partial_row_panics() {
        layer_norm(&[0.0f64; 5], &mut [0.0; 5], &[1.0; 2], &[0.0; 2], 1e-5);
    }
}
