//! Reductions: the sum or mean of all elements, and the sum of each row.
//!
//! | op | forward | backward |
//! | --- | --- | --- |
//! | [`sum`] | `s = Σ_i x_i` | `dx_i += ds` |
//! | [`mean`] | `m = Σ_i x_i / n` | `dx_i += dm / n` |
//! | [`row_sum`] | `y[r] = Σ_j x[r, j]` | `dx[r, j] += dy[r]` |
//!
//! The mean of nothing is NaN (`0 / 0`), as in PyTorch.
//!
//! # Shapes
//! - `sum`, `mean`: `x`, `dx` of any length, to a scalar
//! - `row_sum`: `x`, `dx` of `[rows, cols]`, `y`, `dy` of `[rows]`

use crate::Scalar;

/// The name of [`sum`] in [`OPS`](super::OPS).
pub const SUM: &str = "sum";
/// The name of [`mean`] in [`OPS`](super::OPS).
pub const MEAN: &str = "mean";
/// The name of [`row_sum`] in [`OPS`](super::OPS).
pub const ROW_SUM: &str = "row_sum";

/// `Σ_i x_i`.
///
/// ```
/// use monograd_core::ops::reduce::sum;
/// assert_eq!(sum(&[1.0f32, 2.0, 3.5]), 6.5);
/// ```
#[inline]
pub fn sum<T: Scalar>(x: &[T]) -> T {
    x.iter().fold(T::ZERO, |acc, &v| acc + v)
}

/// Backward of [`sum`]: `dx_i += ds`.
///
/// ```
/// use monograd_core::ops::reduce::sum_backward;
/// let mut dx = [1.0f64, 2.0];
/// sum_backward(0.5, &mut dx);
/// assert_eq!(dx, [1.5, 2.5]);
/// ```
#[inline]
pub fn sum_backward<T: Scalar>(ds: T, dx: &mut [T]) {
    for d in dx {
        *d += ds;
    }
}

/// `Σ_i x_i / n`; NaN when `x` is empty.
///
/// ```
/// use monograd_core::ops::reduce::mean;
/// assert_eq!(mean(&[1.0f64, 2.0, 6.0]), 3.0);
/// ```
#[inline]
pub fn mean<T: Scalar>(x: &[T]) -> T {
    sum(x) / T::from_f64(x.len() as f64)
}

/// Backward of [`mean`]: `dx_i += dm / n`.
///
/// ```
/// use monograd_core::ops::reduce::mean_backward;
/// let mut dx = [0.0f64; 4];
/// mean_backward(1.0, &mut dx);
/// assert_eq!(dx, [0.25; 4]);
/// ```
#[inline]
pub fn mean_backward<T: Scalar>(dm: T, dx: &mut [T]) {
    let g = dm / T::from_f64(dx.len() as f64);
    sum_backward(g, dx);
}

/// `y[r] = Σ_j x[r, j]` for `x` of `[y.len(), cols]`.
///
/// # Panics
/// If `x.len() != y.len() * cols`.
///
/// ```
/// use monograd_core::ops::reduce::row_sum;
/// let mut y = [0.0f64; 2];
/// row_sum(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut y, 3);
/// assert_eq!(y, [6.0, 15.0]);
/// ```
#[inline]
#[track_caller]
pub fn row_sum<T: Scalar>(x: &[T], y: &mut [T], cols: usize) {
    super::expect_len(ROW_SUM, "x", x.len(), y.len().saturating_mul(cols));
    if cols == 0 {
        y.fill(T::ZERO);
        return;
    }
    for (y, row) in y.iter_mut().zip(x.chunks_exact(cols)) {
        *y = sum(row);
    }
}

/// Backward of [`row_sum`]: `dx[r, j] += dy[r]`.
///
/// # Panics
/// If `dx.len() != dy.len() * cols`.
///
/// ```
/// use monograd_core::ops::reduce::row_sum_backward;
/// let mut dx = [0.0f64; 4];
/// row_sum_backward(&[1.0, -1.0], &mut dx, 2);
/// assert_eq!(dx, [1.0, 1.0, -1.0, -1.0]);
/// ```
#[inline]
#[track_caller]
pub fn row_sum_backward<T: Scalar>(dy: &[T], dx: &mut [T], cols: usize) {
    super::expect_len(ROW_SUM, "dx", dx.len(), dy.len().saturating_mul(cols));
    if cols == 0 {
        return;
    }
    for (&dy, row) in dy.iter().zip(dx.chunks_exact_mut(cols)) {
        sum_backward(dy, row);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn empty_inputs() {
        assert_eq!(sum::<f64>(&[]), 0.0);
        assert!(mean::<f64>(&[]).is_nan());
        let mut y = [f64::NAN; 2];
        row_sum(&[], &mut y, 0);
        assert_eq!(y, [0.0; 2]);
    }

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "row_sum: `x` holds 5 values, expected 6"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_partial_row_panics() {
        row_sum(&[0.0f64; 5], &mut [0.0; 2], 3);
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    /// Which reduction a [`Case`] checks.
    #[cfg(feature = "alloc")]
    #[derive(Clone, Copy)]
    enum Which {
        Sum,
        Mean,
        RowSum { cols: usize },
    }

    #[cfg(feature = "alloc")]
    struct Case(Which, usize);

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            match self.0 {
                Which::Sum => SUM,
                Which::Mean => MEAN,
                Which::RowSum { .. } => ROW_SUM,
            }
        }
        fn input_len(&self) -> usize {
            self.1
        }
        fn output_len(&self) -> usize {
            match self.0 {
                Which::RowSum { cols } => self.1 / cols,
                _ => 1,
            }
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            match self.0 {
                Which::Sum => y[0] = sum(x),
                Which::Mean => y[0] = mean(x),
                Which::RowSum { cols } => row_sum(x, y, cols),
            }
        }
        fn backward(&self, _x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            match self.0 {
                Which::Sum => sum_backward(dy[0], dx),
                Which::Mean => mean_backward(dy[0], dx),
                Which::RowSum { cols } => row_sum_backward(dy, dx, cols),
            }
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        let gc = super::super::testing::gradcheck;
        let x = crate::gradcheck::inputs(51, 12, -2.0, 2.0, &[]);
        [Which::Sum, Which::Mean, Which::RowSum { cols: 4 }]
            .iter()
            .enumerate()
            .map(|(i, &w)| gc(&Case(w, 12), &x, 51 + i as u64))
            .collect()
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [SUM, MEAN, ROW_SUM]);
    }
}
