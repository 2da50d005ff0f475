//! Elementwise functions of two equal-length slices, `y_i = f(a_i, b_i)`, and a bias added
//! to every row.
//!
//! | op | `y` | `∂y/∂a` | `∂y/∂b` |
//! | --- | --- | --- | --- |
//! | [`Add`] | `a + b` | `1` | `1` |
//! | [`Sub`] | `a - b` | `1` | `-1` |
//! | [`Mul`] | `a b` | `b` | `a` |
//! | [`Div`] | `a / b` | `1 / b` | `-a / b^2 = -y / b` |
//! | [`add_row_broadcast`] | `y[r, j] = x[r, j] + bias[j]` | `dx = dy` | `dbias[j] = Σ_r dy[r, j]` |
//!
//! The vector-Jacobian products are `da_i += dy_i ∂y/∂a`, `db_i += dy_i ∂y/∂b`.
//!
//! # Shapes
//! - elementwise: `a`, `b`, `y`, `dy`, `da`, `db` all of one length `n`
//! - broadcast: `x`, `y`, `dy`, `dx` of `[rows, cols]`, `bias`, `dbias` of `[cols]`

use crate::Scalar;

/// An elementwise differentiable function of two arguments.
///
/// ```
/// use monograd_core::ops::binary::{BinaryFn, Div};
/// let y = Div.f(3.0f64, 2.0);
/// assert_eq!(Div.df(3.0, 2.0, y), (0.5, -0.75));
/// ```
pub trait BinaryFn: Copy {
    /// The op's name in [`OPS`](super::OPS) and in gradient-check messages.
    const NAME: &'static str;

    /// `f(a, b)`.
    fn f<T: Scalar>(&self, a: T, b: T) -> T;

    /// `(∂f/∂a, ∂f/∂b)` at `(a, b)`, given `y = f(a, b)` too.
    fn df<T: Scalar>(&self, a: T, b: T, y: T) -> (T, T);
}

/// `y_i = f(a_i, b_i)`.
///
/// # Panics
/// If the slices differ in length.
///
/// ```
/// use monograd_core::ops::binary::{forward, Mul};
/// let mut y = [0.0f32; 2];
/// forward(Mul, &[2.0, 3.0], &[4.0, 5.0], &mut y);
/// assert_eq!(y, [8.0, 15.0]);
/// ```
#[inline]
#[track_caller]
pub fn forward<T: Scalar, F: BinaryFn>(op: F, a: &[T], b: &[T], y: &mut [T]) {
    super::expect_len(F::NAME, "b", b.len(), a.len());
    super::expect_len(F::NAME, "y", y.len(), a.len());
    for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
        *y = op.f(a, b);
    }
}

/// `da_i += dy_i ∂f/∂a`, `db_i += dy_i ∂f/∂b`, for each gradient that is asked for.
///
/// # Panics
/// If the slices differ in length.
///
/// ```
/// use monograd_core::ops::binary::{backward, Mul};
/// let (a, b, y) = ([2.0f64, 3.0], [4.0, 5.0], [8.0, 15.0]);
/// let (mut da, mut db) = ([0.0; 2], [0.0; 2]);
/// backward(Mul, &a, &b, &y, &[1.0, 1.0], Some(&mut da), Some(&mut db));
/// assert_eq!((da, db), ([4.0, 5.0], [2.0, 3.0]));
/// ```
#[inline]
#[track_caller]
pub fn backward<T: Scalar, F: BinaryFn>(
    op: F,
    a: &[T],
    b: &[T],
    y: &[T],
    dy: &[T],
    da: Option<&mut [T]>,
    db: Option<&mut [T]>,
) {
    let n = a.len();
    super::expect_len(F::NAME, "b", b.len(), n);
    super::expect_len(F::NAME, "y", y.len(), n);
    super::expect_len(F::NAME, "dy", dy.len(), n);
    if let Some(da) = da {
        super::expect_len(F::NAME, "da", da.len(), n);
        for ((((da, &a), &b), &y), &dy) in da.iter_mut().zip(a).zip(b).zip(y).zip(dy) {
            *da += dy * op.df(a, b, y).0;
        }
    }
    if let Some(db) = db {
        super::expect_len(F::NAME, "db", db.len(), n);
        for ((((db, &a), &b), &y), &dy) in db.iter_mut().zip(a).zip(b).zip(y).zip(dy) {
            *db += dy * op.df(a, b, y).1;
        }
    }
}

/// `a + b`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Add;

impl BinaryFn for Add {
    const NAME: &'static str = "add";
    #[inline]
    fn f<T: Scalar>(&self, a: T, b: T) -> T {
        a + b
    }
    #[inline]
    fn df<T: Scalar>(&self, _a: T, _b: T, _y: T) -> (T, T) {
        (T::ONE, T::ONE)
    }
}

/// `a - b`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sub;

impl BinaryFn for Sub {
    const NAME: &'static str = "sub";
    #[inline]
    fn f<T: Scalar>(&self, a: T, b: T) -> T {
        a - b
    }
    #[inline]
    fn df<T: Scalar>(&self, _a: T, _b: T, _y: T) -> (T, T) {
        (T::ONE, -T::ONE)
    }
}

/// `a b`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mul;

impl BinaryFn for Mul {
    const NAME: &'static str = "mul";
    #[inline]
    fn f<T: Scalar>(&self, a: T, b: T) -> T {
        a * b
    }
    #[inline]
    fn df<T: Scalar>(&self, a: T, b: T, _y: T) -> (T, T) {
        (b, a)
    }
}

/// `a / b`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Div;

impl BinaryFn for Div {
    const NAME: &'static str = "div";
    #[inline]
    fn f<T: Scalar>(&self, a: T, b: T) -> T {
        a / b
    }
    #[inline]
    fn df<T: Scalar>(&self, _a: T, b: T, y: T) -> (T, T) {
        let inv = b.recip();
        (inv, -y * inv)
    }
}

/// The name of [`add_row_broadcast`] in [`OPS`](super::OPS).
pub const ADD_ROW_BROADCAST: &str = "add_row_broadcast";

/// `y[r, j] = x[r, j] + bias[j]`: the bias of a layer added to every sample of a batch.
/// The number of columns is `bias.len()`.
///
/// # Panics
/// If `x` is not a whole number of rows of `bias.len()`, or `y` differs from `x` in length.
///
/// ```
/// use monograd_core::ops::binary::add_row_broadcast;
/// let mut y = [0.0f64; 4];
/// add_row_broadcast(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0], &mut y);
/// assert_eq!(y, [11.0, 22.0, 13.0, 24.0]);
/// ```
#[inline]
#[track_caller]
pub fn add_row_broadcast<T: Scalar>(x: &[T], bias: &[T], y: &mut [T]) {
    let cols = bias.len();
    super::rows_of(ADD_ROW_BROADCAST, "x", x.len(), cols);
    super::expect_len(ADD_ROW_BROADCAST, "y", y.len(), x.len());
    for (yr, xr) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        for ((y, &x), &b) in yr.iter_mut().zip(xr).zip(bias) {
            *y = x + b;
        }
    }
}

/// Backward of [`add_row_broadcast`]: `dx += dy`, `dbias[j] += Σ_r dy[r, j]`, for each
/// gradient that is asked for. The number of columns is `cols`.
///
/// # Panics
/// If `dy` is not a whole number of rows of `cols`, or a gradient has the wrong length.
///
/// ```
/// use monograd_core::ops::binary::add_row_broadcast_backward;
/// let mut dbias = [0.0f64; 2];
/// add_row_broadcast_backward(&[1.0, 2.0, 3.0, 4.0], 2, None, Some(&mut dbias));
/// assert_eq!(dbias, [4.0, 6.0]);
/// ```
#[inline]
#[track_caller]
pub fn add_row_broadcast_backward<T: Scalar>(dy: &[T], cols: usize, dx: Option<&mut [T]>, dbias: Option<&mut [T]>) {
    super::rows_of(ADD_ROW_BROADCAST, "dy", dy.len(), cols);
    if let Some(dx) = dx {
        super::expect_len(ADD_ROW_BROADCAST, "dx", dx.len(), dy.len());
        for (dx, &dy) in dx.iter_mut().zip(dy) {
            *dx += dy;
        }
    }
    if let Some(db) = dbias {
        super::expect_len(ADD_ROW_BROADCAST, "dbias", db.len(), cols);
        column_sums_into(dy, db);
    }
}

/// `out[j] += Σ_r m[r, j]` for a row-major `m` with `out.len()` columns (a whole number of
/// rows, checked by the caller). Shared with the bias gradient of [`linear`](super::linear).
#[inline]
pub(crate) fn column_sums_into<T: Scalar>(m: &[T], out: &mut [T]) {
    let cols = out.len();
    if cols == 0 {
        return;
    }
    if cfg!(target_arch = "arm") {
        return column_sums_chunked(m, out);
    }
    for row in m.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// [`column_sums_into`] in chunks of eight split off as arrays: the same sums, without the
/// zipped iterators' per-element bookkeeping that opt-level "s" and "z" keep; used on
/// 32-bit Arm only, as `linear::axpy`'s chunked form is (and for the same reason).
#[inline]
pub(crate) fn column_sums_chunked<T: Scalar>(m: &[T], out: &mut [T]) {
    let cols = out.len();
    if cols == 0 {
        return;
    }
    for row in m.chunks_exact(cols) {
        let ((o8, ot), (r8, rt)) = (out.as_chunks_mut::<8>(), row.as_chunks::<8>());
        for (o, r) in o8.iter_mut().zip(r8) {
            o[0] += r[0];
            o[1] += r[1];
            o[2] += r[2];
            o[3] += r[3];
            o[4] += r[4];
            o[5] += r[5];
            o[6] += r[6];
            o[7] += r[7];
        }
        for (o, &v) in ot.iter_mut().zip(rt) {
            *o += v;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn literal_values() {
        let (a, b) = ([6.0f64, -1.0], [3.0, 4.0]);
        let mut y = [0.0; 2];
        forward(Add, &a, &b, &mut y);
        assert_eq!(y, [9.0, 3.0]);
        forward(Sub, &a, &b, &mut y);
        assert_eq!(y, [3.0, -5.0]);
        forward(Mul, &a, &b, &mut y);
        assert_eq!(y, [18.0, -4.0]);
        forward(Div, &a, &b, &mut y);
        assert_eq!(y, [2.0, -0.25]);
        let (mut da, mut db) = ([0.0; 2], [0.0; 2]);
        backward(Div, &a, &b, &y, &[1.0, 2.0], Some(&mut da), Some(&mut db));
        assert_eq!(da, [1.0 / 3.0, 0.5]);
        assert_eq!(db, [-6.0 / 9.0, 2.0 / 16.0]);
    }

    #[test]
    fn backward_accumulates_and_skips_what_is_not_asked_for() {
        let (a, b, y) = ([1.0f64, 2.0], [3.0, 4.0], [4.0, 6.0]);
        let mut db = [10.0, 20.0];
        backward(Sub, &a, &b, &y, &[1.0, 1.0], None, Some(&mut db));
        assert_eq!(db, [9.0, 19.0]);
        let mut dx = [1.0; 4];
        add_row_broadcast_backward(&[1.0, 2.0, 3.0, 4.0], 2, Some(&mut dx), None);
        assert_eq!(dx, [2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    #[cfg_attr(
        feature = "std",
        should_panic(expected = "add_row_broadcast: `x` holds 3 values, not a whole number of rows of 2")
    )]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_partial_row_panics() {
        add_row_broadcast(&[1.0f64, 2.0, 3.0], &[0.0, 0.0], &mut [0.0; 3]);
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    #[cfg(feature = "alloc")]
    use crate::gradcheck::{inputs, GradCase};

    /// An elementwise op on `[a; b]` concatenated.
    #[cfg(feature = "alloc")]
    struct Case<F>(F, usize);

    #[cfg(feature = "alloc")]
    impl<F: BinaryFn> GradCase for Case<F> {
        fn name(&self) -> &str {
            F::NAME
        }
        fn input_len(&self) -> usize {
            2 * self.1
        }
        fn output_len(&self) -> usize {
            self.1
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            let (a, b) = x.split_at(self.1);
            forward(self.0, a, b, y);
        }
        fn backward(&self, x: &[f64], y: &[f64], dy: &[f64], dx: &mut [f64]) {
            let (a, b) = x.split_at(self.1);
            let (da, db) = dx.split_at_mut(self.1);
            backward(self.0, a, b, y, dy, Some(da), Some(db));
        }
    }

    /// [`add_row_broadcast`] on `[x; bias]`, `x` of `[rows, cols]`.
    #[cfg(feature = "alloc")]
    struct Broadcast {
        rows: usize,
        cols: usize,
    }

    #[cfg(feature = "alloc")]
    impl GradCase for Broadcast {
        fn name(&self) -> &str {
            ADD_ROW_BROADCAST
        }
        fn input_len(&self) -> usize {
            (self.rows + 1) * self.cols
        }
        fn output_len(&self) -> usize {
            self.rows * self.cols
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            let (x, b) = x.split_at(self.rows * self.cols);
            add_row_broadcast(x, b, y);
        }
        fn backward(&self, _x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            let (dx, db) = dx.split_at_mut(self.rows * self.cols);
            add_row_broadcast_backward(dy, self.cols, Some(dx), Some(db));
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        use super::super::testing::gradcheck;
        let n = 10;
        let x = inputs(1, 2 * n, -2.0, 2.0, &[]);
        let mut names = alloc::vec![
            gradcheck(&Case(Add, n), &x, 1),
            gradcheck(&Case(Sub, n), &x, 2),
            gradcheck(&Case(Mul, n), &x, 3),
        ];
        // Divisors away from zero, of both signs.
        let mut x = inputs(4, 2 * n, -2.0, 2.0, &[]);
        for (i, b) in x[n..].iter_mut().enumerate() {
            *b = if i % 2 == 0 { 0.5 + b.abs() } else { -0.5 - b.abs() };
        }
        names.push(gradcheck(&Case(Div, n), &x, 4));
        let case = Broadcast { rows: 4, cols: 3 };
        names.push(gradcheck(&case, &inputs(5, case.input_len(), -2.0, 2.0, &[]), 5));
        names
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [Add::NAME, Sub::NAME, Mul::NAME, Div::NAME, ADD_ROW_BROADCAST]);
    }
}
