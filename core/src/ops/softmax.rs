//! Row-wise softmax and log-softmax, numerically stable.
//!
//! For each row `x` of `[rows, cols]`, with `m = max_j x_j` and `s = Σ_j e^(x_j - m)`:
//!
//! | op | forward | backward, from `y` alone |
//! | --- | --- | --- |
//! | [`softmax`] | `y_j = e^(x_j - m) / s` | `dx_j += y_j (dy_j - Σ_k y_k dy_k)` |
//! | [`log_softmax`] | `y_j = (x_j - m) - ln s` | `dx_j += dy_j - e^(y_j) Σ_k dy_k` |
//!
//! Subtracting the row maximum keeps every exponent at most zero, so nothing overflows
//! however large the inputs; the shift cancels in the result and in its derivative.
//!
//! # Shapes
//! - `x`, `y`, `dy`, `dx`: `[rows, cols]`

use crate::Scalar;

/// The name of [`softmax`] in [`OPS`](super::OPS).
pub const SOFTMAX: &str = "softmax";
/// The name of [`log_softmax`] in [`OPS`](super::OPS).
pub const LOG_SOFTMAX: &str = "log_softmax";

/// The row maximum `m` and `Σ_j e^(x_j - m)` (at least 1), from which both ops follow
/// without adding `m` back to small terms and losing them. `(-inf, 0)` for an empty row.
#[inline]
pub(crate) fn shift_and_sum<T: Scalar>(row: &[T]) -> (T, T) {
    let Some(&first) = row.first() else {
        return (T::from_f64(f64::NEG_INFINITY), T::ZERO);
    };
    let m = row.iter().fold(first, |m, &v| m.max(v));
    (m, row.iter().fold(T::ZERO, |s, &v| s + (v - m).exp()))
}

/// `ln Σ_j e^(x_j)` of one row, stable: `m + ln Σ_j e^(x_j - m)`. `-inf` for an empty row.
#[inline]
pub(crate) fn log_sum_exp<T: Scalar>(row: &[T]) -> T {
    let (m, s) = shift_and_sum(row);
    m + s.ln()
}

/// Row-wise softmax of `x` of `[rows, cols]` into `y`.
///
/// # Panics
/// If `x` is not a whole number of rows of `cols`, or `y` differs from it in length.
///
/// ```
/// use monograd_core::ops::softmax::softmax;
/// let mut y = [0.0f64; 4];
/// softmax(&[0.0, 3f64.ln(), 1000.0, 1000.0], &mut y, 2);
/// assert!((y[0] - 0.25).abs() < 1e-15 && (y[1] - 0.75).abs() < 1e-15);
/// assert_eq!(y[2..], [0.5, 0.5]); // no overflow: the row maximum is subtracted first
/// ```
#[inline]
#[track_caller]
pub fn softmax<T: Scalar>(x: &[T], y: &mut [T], cols: usize) {
    super::rows_of(SOFTMAX, "x", x.len(), cols);
    super::expect_len(SOFTMAX, "y", y.len(), x.len());
    if cols == 0 {
        return;
    }
    for (yr, xr) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        let (m, s) = shift_and_sum(xr);
        let inv = s.recip();
        for (y, &x) in yr.iter_mut().zip(xr) {
            *y = (x - m).exp() * inv;
        }
    }
}

/// Backward of [`softmax`] from its output: `dx_j += y_j (dy_j - Σ_k y_k dy_k)` per row.
///
/// # Panics
/// If `y` is not a whole number of rows of `cols`, or `dy`, `dx` differ from it in length.
///
/// ```
/// use monograd_core::ops::softmax::softmax_backward;
/// // A cotangent that is constant along the row changes nothing: softmax ignores shifts.
/// let mut dx = [0.0f64; 2];
/// softmax_backward(&[0.25, 0.75], &[3.0, 3.0], &mut dx, 2);
/// assert_eq!(dx, [0.0, 0.0]);
/// ```
#[inline]
#[track_caller]
pub fn softmax_backward<T: Scalar>(y: &[T], dy: &[T], dx: &mut [T], cols: usize) {
    super::rows_of(SOFTMAX, "y", y.len(), cols);
    super::expect_len(SOFTMAX, "dy", dy.len(), y.len());
    super::expect_len(SOFTMAX, "dx", dx.len(), y.len());
    if cols == 0 {
        return;
    }
    for ((yr, dyr), dxr) in y.chunks_exact(cols).zip(dy.chunks_exact(cols)).zip(dx.chunks_exact_mut(cols)) {
        let dot = yr.iter().zip(dyr).fold(T::ZERO, |s, (&y, &d)| s + y * d);
        for ((dx, &y), &dy) in dxr.iter_mut().zip(yr).zip(dyr) {
            *dx += y * (dy - dot);
        }
    }
}

/// Row-wise log-softmax of `x` of `[rows, cols]` into `y`.
///
/// # Panics
/// If `x` is not a whole number of rows of `cols`, or `y` differs from it in length.
///
/// ```
/// use monograd_core::ops::softmax::log_softmax;
/// let mut y = [0.0f64; 2];
/// log_softmax(&[-1000.0, -1000.0], &mut y, 2);
/// assert_eq!(y, [-core::f64::consts::LN_2; 2]);
/// ```
#[inline]
#[track_caller]
pub fn log_softmax<T: Scalar>(x: &[T], y: &mut [T], cols: usize) {
    super::rows_of(LOG_SOFTMAX, "x", x.len(), cols);
    super::expect_len(LOG_SOFTMAX, "y", y.len(), x.len());
    if cols == 0 {
        return;
    }
    for (yr, xr) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        let (m, s) = shift_and_sum(xr);
        let ln_s = s.ln();
        for (y, &x) in yr.iter_mut().zip(xr) {
            *y = (x - m) - ln_s;
        }
    }
}

/// Backward of [`log_softmax`] from its output: `dx_j += dy_j - e^(y_j) Σ_k dy_k` per row.
///
/// # Panics
/// If `y` is not a whole number of rows of `cols`, or `dy`, `dx` differ from it in length.
///
/// ```
/// use monograd_core::ops::softmax::log_softmax_backward;
/// let y = [0.25f64.ln(), 0.75f64.ln()];
/// let mut dx = [0.0; 2];
/// log_softmax_backward(&y, &[1.0, 0.0], &mut dx, 2);
/// assert!((dx[0] - 0.75).abs() < 1e-15 && (dx[1] + 0.75).abs() < 1e-15);
/// ```
#[inline]
#[track_caller]
pub fn log_softmax_backward<T: Scalar>(y: &[T], dy: &[T], dx: &mut [T], cols: usize) {
    super::rows_of(LOG_SOFTMAX, "y", y.len(), cols);
    super::expect_len(LOG_SOFTMAX, "dy", dy.len(), y.len());
    super::expect_len(LOG_SOFTMAX, "dx", dx.len(), y.len());
    if cols == 0 {
        return;
    }
    for ((yr, dyr), dxr) in y.chunks_exact(cols).zip(dy.chunks_exact(cols)).zip(dx.chunks_exact_mut(cols)) {
        let total = dyr.iter().fold(T::ZERO, |s, &d| s + d);
        for ((dx, &y), &dy) in dxr.iter_mut().zip(yr).zip(dyr) {
            *dx += dy - y.exp() * total;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn huge_logits_neither_overflow_nor_lose_the_answer() {
        let x = [1e308f64, 1e308, -1e308];
        let mut y = [0.0; 3];
        softmax(&x, &mut y, 3);
        assert_eq!(y, [0.5, 0.5, 0.0]);
        log_softmax(&x, &mut y, 3);
        assert_eq!(y[..2], [-core::f64::consts::LN_2; 2]);
        assert!(y[2] == f64::NEG_INFINITY || y[2] < -1e307);
    }

    #[test]
    fn rows_are_independent_and_sum_to_one() {
        let x = [1.0f64, 2.0, 3.0, -5.0, 0.0, 5.0];
        let mut y = [0.0; 6];
        softmax(&x, &mut y, 3);
        for row in y.chunks(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
        let e = [1f64.exp(), 2f64.exp(), 3f64.exp()];
        let s: f64 = e.iter().sum();
        assert!((y[2] - e[2] / s).abs() < 1e-15);
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    #[cfg(feature = "alloc")]
    struct Case {
        log: bool,
        rows: usize,
        cols: usize,
    }

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            if self.log {
                LOG_SOFTMAX
            } else {
                SOFTMAX
            }
        }
        fn input_len(&self) -> usize {
            self.rows * self.cols
        }
        fn output_len(&self) -> usize {
            self.rows * self.cols
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            if self.log {
                log_softmax(x, y, self.cols);
            } else {
                softmax(x, y, self.cols);
            }
        }
        fn backward(&self, _x: &[f64], y: &[f64], dy: &[f64], dx: &mut [f64]) {
            if self.log {
                log_softmax_backward(y, dy, dx, self.cols);
            } else {
                softmax_backward(y, dy, dx, self.cols);
            }
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        let gc = super::super::testing::gradcheck;
        // Wide logits, so that the max shift is exercised.
        let x = crate::gradcheck::inputs(61, 15, -6.0, 6.0, &[]);
        alloc::vec![
            gc(&Case { log: false, rows: 3, cols: 5 }, &x, 61),
            gc(&Case { log: true, rows: 3, cols: 5 }, &x, 62),
        ]
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [SOFTMAX, LOG_SOFTMAX]);
    }
}
