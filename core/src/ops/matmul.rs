//! Matrix product `C = A B` and its vector-Jacobian product.
//!
//! With `A` of `[m, k]`, `B` of `[k, n]` and `C` of `[m, n]`, all row-major:
//!
//! - forward: `C[i, j] = Σ_p A[i, p] B[p, j]`
//! - backward: `dA += dC Bᵀ`, `dB += Aᵀ dC`
//!
//! Both directions run through [`gemm`](crate::kernels::gemm::gemm); transposes are
//! strided views (no copy), and backward passes `beta = 1` so that the kernel itself
//! accumulates. `pack` is the kernel's packing memory: any length works, including zero.
//!
//! # Shapes
//! - `a`, `da`: `[m, k]`; `b`, `db`: `[k, n]`; `c`, `dc`: `[m, n]`

use crate::kernels::gemm::{self, MatMut, MatRef};
use crate::{Scalar, ShapeError};

/// The name of the op in [`OPS`](super::OPS).
pub const NAME: &str = "matmul";

/// `C = A B`, overwriting `c`.
///
/// # Panics
/// If a slice's length does not match the dimensions.
///
/// ```
/// use monograd_core::ops::matmul;
/// let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2, 3]
/// let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // [3, 2]
/// let mut c = [0.0; 4];
/// matmul::forward(&a, &b, &mut c, 2, 3, 2, &mut []);
/// assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
/// ```
#[inline]
#[track_caller]
pub fn forward<T: Scalar>(a: &[T], b: &[T], c: &mut [T], m: usize, k: usize, n: usize, pack: &mut [T]) {
    let a = view(NAME, "a", a, m, k);
    let b = view(NAME, "b", b, k, n);
    let c = view_mut(NAME, "c", c, m, n);
    run(NAME, T::ONE, a, b, T::ZERO, c, pack);
}

/// `dA += dC Bᵀ` and `dB += Aᵀ dC`, for each gradient that is asked for.
///
/// # Panics
/// If a slice's length does not match the dimensions.
///
/// ```
/// use monograd_core::ops::matmul;
/// let a = [1.0f64, 2.0]; // [1, 2]
/// let b = [3.0, 4.0]; // [2, 1]
/// let (mut da, mut db) = ([0.0; 2], [0.0; 2]);
/// matmul::backward(&a, &b, &[1.0], Some(&mut da), Some(&mut db), 1, 2, 1, &mut []);
/// assert_eq!((da, db), ([3.0, 4.0], [1.0, 2.0]));
/// ```
#[allow(clippy::too_many_arguments)] // three operands, two gradients, three dimensions
#[inline]
#[track_caller]
pub fn backward<T: Scalar>(
    a: &[T],
    b: &[T],
    dc: &[T],
    da: Option<&mut [T]>,
    db: Option<&mut [T]>,
    m: usize,
    k: usize,
    n: usize,
    pack: &mut [T],
) {
    let dcv = view(NAME, "dc", dc, m, n);
    if let Some(da) = da {
        let b = view(NAME, "b", b, k, n);
        run(NAME, T::ONE, dcv, b.t(), T::ONE, view_mut(NAME, "da", da, m, k), pack);
    }
    if let Some(db) = db {
        let a = view(NAME, "a", a, m, k);
        run(NAME, T::ONE, a.t(), dcv, T::ONE, view_mut(NAME, "db", db, k, n), pack);
    }
}

/// A row-major view of `data` as `[rows, cols]`; panics naming the op and buffer if the
/// length does not fit.
#[inline]
#[track_caller]
pub(crate) fn view<'a, T: Scalar>(op: &str, buffer: &str, data: &'a [T], rows: usize, cols: usize) -> MatRef<'a, T> {
    super::expect_len(op, buffer, data.len(), rows.saturating_mul(cols));
    match MatRef::row_major(data, rows, cols) {
        Ok(v) => v,
        Err(e) => unreachable_shape(op, &e),
    }
}

/// The mutable counterpart of [`view`].
#[inline]
#[track_caller]
pub(crate) fn view_mut<'a, T: Scalar>(
    op: &str,
    buffer: &str,
    data: &'a mut [T],
    rows: usize,
    cols: usize,
) -> MatMut<'a, T> {
    super::expect_len(op, buffer, data.len(), rows.saturating_mul(cols));
    match MatMut::row_major(data, rows, cols) {
        Ok(v) => v,
        Err(e) => unreachable_shape(op, &e),
    }
}

/// [`gemm::gemm`] on views whose shapes the caller has already made consistent.
#[inline]
#[track_caller]
pub(crate) fn run<T: Scalar>(
    op: &str,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
) {
    if let Err(e) = gemm::gemm(alpha, a, b, beta, c, pack) {
        unreachable_shape(op, &e);
    }
}

/// The views were built from checked lengths, so gemm's own checks cannot fail; if they
/// ever do, say where.
#[cold]
#[inline(never)]
#[track_caller]
#[cfg_attr(not(feature = "std"), allow(unused_variables))]
fn unreachable_shape(op: &str, e: &ShapeError) -> ! {
    super::check_failed!("{op}: {e}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn backward_accumulates_into_existing_gradients() {
        // A = [[1, 2]], B = [[3], [4]], dC = [[2]]
        let (a, b) = ([1.0f64, 2.0], [3.0, 4.0]);
        let (mut da, mut db) = ([1.0; 2], [1.0; 2]);
        backward(&a, &b, &[2.0], Some(&mut da), Some(&mut db), 1, 2, 1, &mut []);
        assert_eq!(da, [7.0, 9.0]);
        assert_eq!(db, [3.0, 5.0]);
    }

    #[test]
    fn forward_overwrites_and_matches_a_naive_product() {
        let (m, k, n) = (3, 4, 2);
        let a: [f64; 12] = core::array::from_fn(|i| i as f64 - 5.0);
        let b: [f64; 8] = core::array::from_fn(|i| (i as f64) * 0.5);
        let mut c = [f64::NAN; 6];
        forward(&a, &b, &mut c, m, k, n, &mut [0.0; 64]);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert_eq!(c[i * n + j], want);
            }
        }
    }

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "matmul: `b` holds 5 values, expected 6"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_wrong_length_names_the_buffer() {
        forward(&[0.0f64; 6], &[0.0; 5], &mut [0.0; 4], 2, 3, 2, &mut []);
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    /// `C = A B` on `[A; B]` concatenated.
    #[cfg(feature = "alloc")]
    pub(crate) struct Case {
        pub(crate) m: usize,
        pub(crate) k: usize,
        pub(crate) n: usize,
    }

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            NAME
        }
        fn input_len(&self) -> usize {
            self.m * self.k + self.k * self.n
        }
        fn output_len(&self) -> usize {
            self.m * self.n
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            let (a, b) = x.split_at(self.m * self.k);
            forward(a, b, y, self.m, self.k, self.n, &mut []);
        }
        fn backward(&self, x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            let (a, b) = x.split_at(self.m * self.k);
            let (da, db) = dx.split_at_mut(self.m * self.k);
            backward(a, b, dy, Some(da), Some(db), self.m, self.k, self.n, &mut [0.0; 32]);
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        use crate::gradcheck::{inputs, GradCase};
        let case = Case { m: 3, k: 4, n: 5 };
        let x = inputs(31, case.input_len(), -1.5, 1.5, &[]);
        alloc::vec![super::super::testing::gradcheck(&case, &x, 31)]
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [NAME]);
    }
}
