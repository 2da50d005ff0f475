//! Pooling: max and average over square windows, and the global average of each channel,
//! as PyTorch computes them.
//!
//! Windows of `K x K` at stride `S`, no padding, no dilation, windows that would cross the
//! border dropped (PyTorch's defaults: `padding=0`, `ceil_mode=False`), so
//! `OH = (H − K) / S + 1` and `OW = (W − K) / S + 1`. With window
//! `R(oy, ox) = {(oy·S + i, ox·S + j) : 0 ≤ i, j < K}`:
//!
//! | op | forward | backward |
//! | --- | --- | --- |
//! | [`max_pool2d`] | `y[c, oy, ox] = max_R x[c, ·, ·]` | `∂L/∂y[c, oy, ox]` to the window's argmax |
//! | [`avg_pool2d`] | `y[c, oy, ox] = (1 / K²) Σ_R x[c, ·, ·]` | `∂L/∂y[c, oy, ox] / K²` to every element of the window |
//! | [`global_avg_pool2d`] | `y[c] = (1 / (H·W)) Σ x[c, ·, ·]` | `∂L/∂y[c] / (H·W)` to every element of the plane |
//!
//! The argmax is the first maximum in row-major order on ties (as PyTorch), recomputed from
//! `x` in backward; a NaN in a window is its maximum, as in PyTorch. Overlapping windows
//! (`S < K`) add their gradients. Nothing allocates, and every function works at every
//! scalar, dual numbers included.
//!
//! The pooling layers of `monograd-nn` and the eager tape both call these functions.
//!
//! # Shapes
//! - [`max_pool2d`], [`avg_pool2d`]: `x`, `dx` of `[batch, C, H, W]`, `y`, `dy` of
//!   `[batch, C, OH, OW]`, as described by a [`Pool2dGeometry`]
//! - [`global_avg_pool2d`]: `x`, `dx` of `[batch, C, H·W]`, `y`, `dy` of `[batch, C]`

use crate::kernels::im2col::conv2d_out_size;
use crate::Scalar;

/// The name of [`max_pool2d`] in [`OPS`](super::OPS).
pub const MAX_POOL2D: &str = "max_pool2d";
/// The name of [`avg_pool2d`] in [`OPS`](super::OPS).
pub const AVG_POOL2D: &str = "avg_pool2d";
/// The name of [`global_avg_pool2d`] in [`OPS`](super::OPS).
pub const GLOBAL_AVG_POOL2D: &str = "global_avg_pool2d";

/// The numbers that describe a pooling over one `[C, H, W]` sample: `K x K` windows at
/// stride `S`. A value of this type always describes windows that fit and buffer sizes
/// that do not overflow.
///
/// ```
/// use monograd_core::ops::pool::Pool2dGeometry;
/// let g = Pool2dGeometry::new(6, [24, 24], 2, 2).unwrap();
/// assert_eq!(g.output(), [12, 12]);
/// assert_eq!((g.in_len(), g.out_len()), (6 * 576, 6 * 144));
/// assert!(Pool2dGeometry::new(1, [1, 4], 2, 2).is_none()); // the window is taller
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dGeometry {
    channels: usize,
    input: [usize; 2],
    kernel: usize,
    stride: usize,
    output: [usize; 2],
}

impl Pool2dGeometry {
    /// The geometry, or `None` when the window or the stride is zero, the window does not
    /// fit the input, or a buffer length would overflow.
    pub const fn new(channels: usize, input: [usize; 2], kernel: usize, stride: usize) -> Option<Self> {
        let oh = conv2d_out_size(input[0], kernel, stride, 0, 1);
        let ow = conv2d_out_size(input[1], kernel, stride, 0, 1);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return None;
        };
        let len = match channels.checked_mul(input[0]) {
            Some(v) => v.checked_mul(input[1]),
            None => None,
        };
        if len.is_none() {
            return None;
        }
        Some(Self { channels, input, kernel, stride, output: [oh, ow] })
    }

    /// `[OH, OW]`.
    pub const fn output(&self) -> [usize; 2] {
        self.output
    }

    /// Values in one input sample: `C·H·W`.
    pub const fn in_len(&self) -> usize {
        self.channels * self.input[0] * self.input[1]
    }

    /// Values in one output sample: `C·OH·OW`.
    pub const fn out_len(&self) -> usize {
        self.channels * self.output[0] * self.output[1]
    }

    /// The number of samples in `x` and `y`; panics unless they hold the same number.
    #[inline(always)]
    #[track_caller]
    fn batch(&self, op: &str, x: usize, y: usize) -> usize {
        let n = y.checked_div(self.out_len()).unwrap_or(0);
        if n * self.out_len() != y || n * self.in_len() != x {
            #[cfg(not(feature = "std"))]
            let _ = op;
            super::check_failed!("{op}: {y} output values and {x} input values are not the same number of samples");
        }
        n
    }
}

/// Where the maximum of the window starting at `first` in a `w`-wide plane lies, as an
/// offset into the plane, with its value: the first maximum in row-major order, a NaN
/// counting as a maximum. Forward and backward both call it, so the gradient goes exactly
/// where the value came from.
#[inline(always)]
fn window_max<T: Scalar>(plane: &[T], first: usize, k: usize, w: usize) -> (usize, T) {
    let (mut at, mut best) = (first, plane[first]);
    for i in 0..k {
        let start = first + i * w;
        for (j, &v) in plane[start..][..k].iter().enumerate() {
            // `v != v` is NaN for floats; partial_cmp is None for NaN at every scalar.
            if v > best || v.partial_cmp(&v).is_none() {
                (at, best) = (start + j, v);
            }
        }
    }
    (at, best)
}

/// Max pooling of a batch, overwriting `y`.
///
/// # Panics
/// If `x` and `y` do not hold the same number of samples of `g`.
///
/// ```
/// use monograd_core::ops::pool::{max_pool2d, max_pool2d_backward, Pool2dGeometry};
/// let g = Pool2dGeometry::new(1, [2, 4], 2, 2).unwrap();
/// let x = [3.0, 1.0, 0.0, 2.0, 3.0, 3.0, 5.0, 1.0];
/// let mut y = [0.0; 2];
/// max_pool2d(&g, &x, &mut y);
/// assert_eq!(y, [3.0, 5.0]);
/// let mut dx = [0.0; 8];
/// max_pool2d_backward(&g, &x, &[10.0, 20.0], &mut dx);
/// assert_eq!(dx, [10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0, 0.0]); // the first of a tie
/// ```
#[inline(always)]
#[track_caller]
pub fn max_pool2d<T: Scalar>(g: &Pool2dGeometry, x: &[T], y: &mut [T]) {
    let ([h, w], [oh, ow], (k, s)) = (g.input, g.output, (g.kernel, g.stride));
    if oh * ow == 0 {
        return;
    }
    g.batch(MAX_POOL2D, x.len(), y.len());
    for (plane, out) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
        for (oy, orow) in out.chunks_exact_mut(ow).enumerate() {
            for (ox, o) in orow.iter_mut().enumerate() {
                *o = window_max(plane, oy * s * w + ox * s, k, w).1;
            }
        }
    }
}

/// Backward of [`max_pool2d`]: **adds** each `dy` into `dx` at its window's argmax,
/// recomputed from `x`.
///
/// # Panics
/// If `x`, `dy` and `dx` do not hold the same number of samples of `g`.
#[inline(always)]
#[track_caller]
pub fn max_pool2d_backward<T: Scalar>(g: &Pool2dGeometry, x: &[T], dy: &[T], dx: &mut [T]) {
    let ([h, w], [oh, ow], (k, s)) = (g.input, g.output, (g.kernel, g.stride));
    if oh * ow == 0 {
        return;
    }
    g.batch(MAX_POOL2D, dx.len(), dy.len());
    super::expect_len(MAX_POOL2D, "x", x.len(), dx.len());
    for ((plane, dplane), grad) in x.chunks_exact(h * w).zip(dx.chunks_exact_mut(h * w)).zip(dy.chunks_exact(oh * ow)) {
        for (oy, grow) in grad.chunks_exact(ow).enumerate() {
            for (ox, &d) in grow.iter().enumerate() {
                dplane[window_max(plane, oy * s * w + ox * s, k, w).0] += d;
            }
        }
    }
}

/// Average pooling of a batch, overwriting `y`.
///
/// # Panics
/// If `x` and `y` do not hold the same number of samples of `g`.
///
/// ```
/// use monograd_core::ops::pool::{avg_pool2d, avg_pool2d_backward, Pool2dGeometry};
/// let g = Pool2dGeometry::new(1, [3, 3], 2, 1).unwrap(); // overlapping windows
/// let mut y = [0.0; 4];
/// avg_pool2d(&g, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &mut y);
/// assert_eq!(y, [3.0, 4.0, 6.0, 7.0]);
/// let mut dx = [0.0; 9];
/// avg_pool2d_backward(&g, &[4.0; 4], &mut dx);
/// assert_eq!(dx, [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
/// ```
#[inline(always)]
#[track_caller]
pub fn avg_pool2d<T: Scalar>(g: &Pool2dGeometry, x: &[T], y: &mut [T]) {
    let ([h, w], [oh, ow], (k, s)) = (g.input, g.output, (g.kernel, g.stride));
    if oh * ow == 0 {
        return;
    }
    g.batch(AVG_POOL2D, x.len(), y.len());
    let count = T::from_f64((k * k) as f64);
    for (plane, out) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
        for (p, o) in out.iter_mut().enumerate() {
            let first = (p / ow) * s * w + (p % ow) * s;
            let mut sum = T::ZERO;
            for i in 0..k {
                for &v in &plane[first + i * w..][..k] {
                    sum += v;
                }
            }
            // Divided, not multiplied by 1/K², as PyTorch does.
            *o = sum / count;
        }
    }
}

/// Backward of [`avg_pool2d`]: **adds** `dy / K²` into every element of each window.
///
/// # Panics
/// If `dy` and `dx` do not hold the same number of samples of `g`.
#[inline(always)]
#[track_caller]
pub fn avg_pool2d_backward<T: Scalar>(g: &Pool2dGeometry, dy: &[T], dx: &mut [T]) {
    let ([h, w], [oh, ow], (k, s)) = (g.input, g.output, (g.kernel, g.stride));
    if oh * ow == 0 {
        return;
    }
    g.batch(AVG_POOL2D, dx.len(), dy.len());
    let count = T::from_f64((k * k) as f64);
    for (dplane, grad) in dx.chunks_exact_mut(h * w).zip(dy.chunks_exact(oh * ow)) {
        for (p, &d) in grad.iter().enumerate() {
            let first = (p / ow) * s * w + (p % ow) * s;
            let share = d / count;
            for i in 0..k {
                for v in &mut dplane[first + i * w..][..k] {
                    *v += share;
                }
            }
        }
    }
}

/// The mean of each plane of `plane` values: `y[i] = Σ x[i·plane ..][..plane] / plane`,
/// overwriting `y` (NaN for empty planes, as [`mean`](super::reduce::mean)).
///
/// # Panics
/// If `x` does not hold `y.len()` planes.
///
/// ```
/// use monograd_core::ops::pool::{global_avg_pool2d, global_avg_pool2d_backward};
/// let mut y = [0.0; 2];
/// global_avg_pool2d(&[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 8.0], &mut y, 4);
/// assert_eq!(y, [2.5, 2.0]);
/// let mut dx = [0.0; 8];
/// global_avg_pool2d_backward(&[4.0, -8.0], &mut dx, 4);
/// assert_eq!(dx, [1.0, 1.0, 1.0, 1.0, -2.0, -2.0, -2.0, -2.0]);
/// ```
#[inline(always)]
#[track_caller]
pub fn global_avg_pool2d<T: Scalar>(x: &[T], y: &mut [T], plane: usize) {
    super::expect_len(GLOBAL_AVG_POOL2D, "x", x.len(), y.len() * plane);
    let count = T::from_f64(plane as f64);
    if plane == 0 {
        y.fill(T::ZERO / count);
        return;
    }
    for (p, o) in x.chunks_exact(plane).zip(y.iter_mut()) {
        *o = p.iter().fold(T::ZERO, |a, &v| a + v) / count;
    }
}

/// Backward of [`global_avg_pool2d`]: **adds** `dy[i] / plane` into every element of
/// plane `i` of `dx`.
///
/// # Panics
/// If `dx` does not hold `dy.len()` planes.
#[inline(always)]
#[track_caller]
pub fn global_avg_pool2d_backward<T: Scalar>(dy: &[T], dx: &mut [T], plane: usize) {
    super::expect_len(GLOBAL_AVG_POOL2D, "dx", dx.len(), dy.len() * plane);
    if plane == 0 {
        return;
    }
    let count = T::from_f64(plane as f64);
    for (dp, &d) in dx.chunks_exact_mut(plane).zip(dy) {
        let share = d / count;
        for v in dp {
            *v += share;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    #[cfg(feature = "alloc")]
    #[derive(Clone, Copy)]
    enum Which {
        Max,
        Avg,
        Global,
    }

    /// A pooling's gradient check on two samples.
    #[cfg(feature = "alloc")]
    struct Case(Which, Pool2dGeometry, &'static str);

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            self.2
        }
        fn input_len(&self) -> usize {
            2 * self.1.in_len()
        }
        fn output_len(&self) -> usize {
            match self.0 {
                Which::Global => 2 * self.1.channels,
                _ => 2 * self.1.out_len(),
            }
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            match self.0 {
                Which::Max => max_pool2d(&self.1, x, y),
                Which::Avg => avg_pool2d(&self.1, x, y),
                Which::Global => global_avg_pool2d(x, y, self.1.input[0] * self.1.input[1]),
            }
        }
        fn backward(&self, x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            match self.0 {
                Which::Max => max_pool2d_backward(&self.1, x, dy, dx),
                Which::Avg => avg_pool2d_backward(&self.1, dy, dx),
                Which::Global => global_avg_pool2d_backward(dy, dx, self.1.input[0] * self.1.input[1]),
            }
        }
    }

    /// `n` distinct values evenly spread over `[-1, 1)` in a seeded order: no two within a
    /// finite-difference step of each other, so no maximum changes place.
    #[cfg(feature = "alloc")]
    pub(crate) fn distinct(seed: u64, n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n).map(|k| (k as f64 + 0.5) / n as f64 * 2.0 - 1.0).collect();
        crate::Rng::seed(seed).shuffle(&mut v);
        v
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        let gc = super::super::testing::gradcheck;
        let geo = |c, hw, k, s| Pool2dGeometry::new(c, hw, k, s).unwrap();
        let cases = [
            Case(Which::Max, geo(2, [4, 4], 2, 2), "max_pool2d"),
            Case(Which::Max, geo(2, [7, 5], 3, 2), "max_pool2d/overlapping"),
            Case(Which::Avg, geo(2, [4, 6], 2, 2), "avg_pool2d"),
            Case(Which::Avg, geo(2, [7, 5], 3, 2), "avg_pool2d/overlapping"),
            Case(Which::Global, geo(3, [4, 5], 1, 1), "global_avg_pool2d"),
        ];
        cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = crate::gradcheck::GradCase::input_len(c);
                gc(c, &distinct(71 + i as u64, n), 71 + i as u64)
            })
            .collect()
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks().len(), 5);
    }

    #[test]
    fn nan_is_the_maximum_and_empty_planes_have_no_mean() {
        let g = Pool2dGeometry::new(1, [2, 2], 2, 2).unwrap();
        let mut y = [0.0f32];
        max_pool2d(&g, &[1.0, f32::NAN, 7.0, 2.0], &mut y);
        assert!(y[0].is_nan());
        let mut y = [0.0f64; 2];
        global_avg_pool2d(&[], &mut y, 0);
        assert!(y.iter().all(|v| v.is_nan()));
    }

    #[test]
    #[cfg_attr(
        feature = "std",
        should_panic(expected = "max_pool2d: 3 output values and 8 input values are not the same number of samples")
    )]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_partial_sample_panics() {
        let g = Pool2dGeometry::new(1, [2, 4], 2, 2).unwrap();
        max_pool2d(&g, &[0.0f64; 8], &mut [0.0; 3]);
    }

    #[test]
    fn geometries_that_do_not_fit_are_refused() {
        assert!(Pool2dGeometry::new(1, [4, 4], 0, 1).is_none());
        assert!(Pool2dGeometry::new(1, [4, 4], 2, 0).is_none());
        assert!(Pool2dGeometry::new(usize::MAX, [2, 2], 1, 1).is_none());
        assert_eq!(Pool2dGeometry::new(2, [7, 5], 3, 2).map(|g| g.output()), Some([3, 2]));
    }
}
