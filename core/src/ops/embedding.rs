//! Embedding lookup: `y[l] = W[x[l]]`, and its scatter-add backward.
//!
//! Position `l` of a list of token indices becomes row `x[l]` of the weight `W` of shape
//! `[V, D]` (PyTorch's `nn.Embedding(V, D)`, same layout). Derivatives:
//! `∂L/∂W[v] = Σ_{l : x[l] = v} ∂L/∂y[l]` (a token used twice gets both gradients);
//! indices are not differentiable.
//!
//! Indices travel as values of the scalar type (whole numbers, exact in `f32` below
//! 2^24), as they do through a network; [`token`] says whether a value is one. Callers
//! check their data with it first, so that bad data is an `Err`; [`embedding`] and
//! [`embedding_backward`] never panic on a bad index all the same: they skip it (forward
//! writes a zero row for it).
//!
//! The `Embedding` layer of `monograd-nn` and the eager tape call these functions.
//!
//! # Shapes
//! - `x`: `[n]` token indices; `y`, `dy`: `[n, D]`; `weight`, `dweight`: `[V, D]`

use crate::{Scalar, ShapeError};

/// The name of [`embedding`] in [`OPS`](super::OPS).
pub const NAME: &str = "embedding";

/// The row a token value stands for, or why it stands for none: not a non-negative whole
/// number, or not below `vocab`.
///
/// ```
/// use monograd_core::ops::embedding::token;
/// assert_eq!(token(3.0f32, 10), Ok(3));
/// assert!(token(10.0f32, 10).is_err());
/// assert!(token(2.5f64, 10).is_err() && token(f64::NAN, 10).is_err());
/// ```
#[inline]
pub fn token<T: Scalar>(v: T, vocab: usize) -> Result<usize, ShapeError> {
    let f = v.to_f64();
    // NaN fails every comparison; the round trip through u64 rejects fractions.
    if !(f >= 0.0 && f < u64::MAX as f64 && (f as u64) as f64 == f) {
        return Err(ShapeError::IndexOutOfRange {
            what: "Embedding input: a token is not a non-negative whole number",
            index: usize::MAX,
            bound: vocab,
        });
    }
    let i = usize::try_from(f as u64).unwrap_or(usize::MAX);
    if i >= vocab {
        return Err(ShapeError::IndexOutOfRange { what: "Embedding input", index: i, bound: vocab });
    }
    Ok(i)
}

/// Row `x[l]` of `weight` (`[V, d]`) into row `l` of `y`, overwriting; a zero row for a
/// value that is not a token below `V`.
///
/// # Panics
/// If `weight` is not whole rows of `d`, or `y` does not hold `x.len()` rows.
///
/// ```
/// use monograd_core::ops::embedding::{embedding, embedding_backward};
/// let w = [0.0, 0.0, 1.0, 10.0, 2.0, 20.0]; // three tokens, two values each
/// let mut y = [0.0; 6];
/// embedding(&w, &[2.0, 1.0, 2.0], &mut y, 2);
/// assert_eq!(y, [2.0, 20.0, 1.0, 10.0, 2.0, 20.0]);
/// let mut dw = [0.0; 6];
/// embedding_backward(&[2.0, 1.0, 2.0], &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], &mut dw, 2);
/// assert_eq!(dw, [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]); // token 2 twice
/// ```
#[inline]
#[track_caller]
pub fn embedding<T: Scalar>(weight: &[T], x: &[T], y: &mut [T], d: usize) {
    let vocab = super::rows_of(NAME, "weight", weight.len(), d);
    super::expect_len(NAME, "y", y.len(), x.len() * d);
    if d == 0 {
        return;
    }
    for (&v, row) in x.iter().zip(y.chunks_exact_mut(d)) {
        match token(v, vocab) {
            Ok(i) => row.copy_from_slice(&weight[i * d..(i + 1) * d]),
            // Not reachable after the caller's check; a zero row rather than a panic.
            Err(_) => row.fill(T::ZERO),
        }
    }
}

/// Backward of [`embedding`]: **adds** row `l` of `dy` into row `x[l]` of `dweight`,
/// skipping values that are not tokens.
///
/// # Panics
/// If `dweight` is not whole rows of `d`, or `dy` does not hold `x.len()` rows.
#[inline]
#[track_caller]
pub fn embedding_backward<T: Scalar>(x: &[T], dy: &[T], dweight: &mut [T], d: usize) {
    let vocab = super::rows_of(NAME, "dweight", dweight.len(), d);
    super::expect_len(NAME, "dy", dy.len(), x.len() * d);
    if d == 0 {
        return;
    }
    for (&v, g) in x.iter().zip(dy.chunks_exact(d)) {
        if let Ok(i) = token(v, vocab) {
            for (w, &g) in dweight[i * d..(i + 1) * d].iter_mut().zip(g) {
                *w += g;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec, vec::Vec};

    /// Repeated tokens (scatter-add) and an invalid one (skipped); the weight `[5, 3]` is
    /// the differentiable input.
    #[cfg(feature = "alloc")]
    const TOKENS: [f64; 8] = [1.0, 4.0, 1.0, 0.0, 2.0, 2.0, 7.0, 1.0];

    #[cfg(feature = "alloc")]
    struct Case;

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            NAME
        }
        fn input_len(&self) -> usize {
            15
        }
        fn output_len(&self) -> usize {
            TOKENS.len() * 3
        }
        fn forward<T: Scalar>(&self, w: &[T], y: &mut [T]) {
            embedding(w, &TOKENS.map(T::from_f64), y, 3);
        }
        fn backward(&self, _w: &[f64], _y: &[f64], dy: &[f64], dw: &mut [f64]) {
            embedding_backward(&TOKENS, dy, dw, 3);
        }
    }

    /// Runs the gradient check; returns the name checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        vec![super::super::testing::gradcheck(&Case, &crate::gradcheck::inputs(101, 15, -1.0, 1.0, &[]), 101)]
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [NAME]);
    }

    #[test]
    fn an_invalid_token_is_a_zero_row() {
        let mut y = [f64::NAN; 3];
        embedding(&[1.0; 6], &[-1.0], &mut y, 3);
        assert_eq!(y, [0.0; 3]);
    }
}
