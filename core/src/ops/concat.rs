//! Concatenation of two tensors along the first dimension of each sample, and its adjoint.
//!
//! Per sample, `y = [a; b]`: `a`'s `na` values, then `b`'s `nb`. For NCHW images with
//! `na = C1·H·W` and `nb = C2·H·W` this is `torch.cat([a, b], dim=1)`: the channels of `a`,
//! then those of `b`. Backward splits `dy` the same way and adds each part into its
//! input's gradient.
//!
//! The `Concat` layer of `monograd-nn` and the eager tape both call these functions.
//!
//! # Shapes
//! - `a`, `da`: `[batch, na]`; `b`, `db`: `[batch, nb]`; `y`, `dy`: `[batch, na + nb]`

use crate::Scalar;

/// The name of [`concat()`] in [`OPS`](super::OPS).
pub const NAME: &str = "concat";

/// Per sample: `a`'s `na` values, then `b`'s `nb`, overwriting `y`.
///
/// # Panics
/// If `a`, `b` and `y` do not hold the same number of samples.
///
/// ```
/// use monograd_core::ops::concat::{concat, concat_backward};
/// let mut y = [0.0; 6]; // a batch of 2, 1 + 2 values each
/// concat(&[1.0, 2.0], &[3.0, 4.0, 5.0, 6.0], &mut y, 1, 2);
/// assert_eq!(y, [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
/// let (mut da, mut db) = ([0.0; 2], [0.0; 4]);
/// concat_backward(&y, Some(&mut da), Some(&mut db), 1, 2);
/// assert_eq!((da, db), ([1.0, 2.0], [3.0, 4.0, 5.0, 6.0]));
/// ```
#[inline]
#[track_caller]
pub fn concat<T: Scalar>(a: &[T], b: &[T], y: &mut [T], na: usize, nb: usize) {
    let batch = super::rows_of(NAME, "y", y.len(), na + nb);
    super::expect_len(NAME, "a", a.len(), batch * na);
    super::expect_len(NAME, "b", b.len(), batch * nb);
    for s in 0..batch {
        let y = &mut y[s * (na + nb)..][..na + nb];
        y[..na].copy_from_slice(&a[s * na..][..na]);
        y[na..].copy_from_slice(&b[s * nb..][..nb]);
    }
}

/// The adjoint of [`concat()`]: splits `dy` and **adds** each part into its input's
/// gradient, when given.
///
/// # Panics
/// If `dy` and a given gradient do not hold the same number of samples.
#[inline]
#[track_caller]
pub fn concat_backward<T: Scalar>(dy: &[T], da: Option<&mut [T]>, db: Option<&mut [T]>, na: usize, nb: usize) {
    let batch = super::rows_of(NAME, "dy", dy.len(), na + nb);
    let add = |d: &mut [T], n: usize, off: usize| {
        for (d, dy) in d.chunks_exact_mut(n.max(1)).zip(dy.chunks_exact(na + nb)) {
            for (d, &g) in d.iter_mut().zip(&dy[off..off + n]) {
                *d += g;
            }
        }
    };
    if let Some(da) = da {
        super::expect_len(NAME, "da", da.len(), batch * na);
        add(da, na, 0);
    }
    if let Some(db) = db {
        super::expect_len(NAME, "db", db.len(), batch * nb);
        add(db, nb, na);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    /// Two samples of `[a; b]`, inputs `a` then `b`.
    #[cfg(feature = "alloc")]
    struct Case(usize, usize, &'static str);

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            self.2
        }
        fn input_len(&self) -> usize {
            2 * (self.0 + self.1)
        }
        fn output_len(&self) -> usize {
            2 * (self.0 + self.1)
        }
        fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
            let (a, b) = v.split_at(2 * self.0);
            concat(a, b, y, self.0, self.1);
        }
        fn backward(&self, _v: &[f64], _y: &[f64], dy: &[f64], dv: &mut [f64]) {
            let (da, db) = dv.split_at_mut(2 * self.0);
            concat_backward(dy, Some(da), Some(db), self.0, self.1);
        }
    }

    /// Runs the gradient check of every case here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        let gc = super::super::testing::gradcheck;
        [Case(2, 3, "concat"), Case(4, 8, "concat/channels"), Case(0, 3, "concat/empty")]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let x =
                    crate::gradcheck::inputs(81 + i as u64, crate::gradcheck::GradCase::input_len(c), -1.0, 1.0, &[]);
                gc(c, &x, 81 + i as u64)
            })
            .collect()
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks().len(), 3);
    }

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "concat: `b` holds 3 values, expected 4"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn operands_of_different_batches_panic() {
        concat(&[1.0f64, 2.0], &[0.0; 3], &mut [0.0; 6], 1, 2);
    }
}
