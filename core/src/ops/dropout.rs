//! Dropout with a mask computed from `(seed, step, index)`, forward and VJP.
//!
//! Element `i` survives with probability `1 - p` and is then scaled by `1 / (1 - p)`, so
//! the expected output equals the input (PyTorch's "inverted" dropout):
//!
//! | | formula |
//! | --- | --- |
//! | forward | `y_i = m_i x_i / (1 - p)`, `m_i ∈ {0, 1}`, `P(m_i = 0) = p` |
//! | backward | `dx_i += m_i dy_i / (1 - p)` (the mask is a fixed linear map) |
//!
//! The mask is not drawn from a generator's stream but computed: `m_i` is a hash of
//! `(seed, step, i)`, so nothing per element is ever stored: backward regenerates it, and
//! whoever knows the seed and the step (the `Dropout` layer of `monograd-nn`, the eager
//! tape) gets the same mask with the same code.
//!
//! # Shapes
//! - `x`, `y`, `dx`, `dy`: any length, all equal; `i` is the index in the buffer

use crate::Scalar;

/// The name of [`DropoutMask::apply`] in [`OPS`](super::OPS).
pub const NAME: &str = "dropout";

/// SplitMix64's output function: a bijection of `u64` that mixes every input bit into
/// every output bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The mask of one training step: element `i` survives when the top 53 bits of its hash
/// are at least `threshold = round(p 2^53)`, which happens with probability `1 - p` to
/// within `2^-53`.
///
/// ```
/// use monograd_core::ops::dropout::DropoutMask;
/// let mask = DropoutMask::new(0.5, 7, 0);
/// let mut y = [0.0f64; 8];
/// mask.apply(&[1.0; 8], &mut y, false);
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// // Backward is the same map, added into the gradient.
/// let mut dx = [1.0; 8];
/// mask.apply(&[1.0; 8], &mut dx, true);
/// assert_eq!(dx.map(|d| d - 1.0), y);
/// // The same seed and step give the same mask, another step another one.
/// assert_eq!((0..64).map(|i| mask.keeps(i)).collect::<Vec<_>>(),
///            (0..64).map(|i| DropoutMask::new(0.5, 7, 0).keeps(i)).collect::<Vec<_>>());
/// assert_ne!((0..64).map(|i| mask.keeps(i)).collect::<Vec<_>>(),
///            (0..64).map(|i| DropoutMask::new(0.5, 7, 1).keeps(i)).collect::<Vec<_>>());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropoutMask {
    /// The key of this `(seed, step)`: element `i` hashes to `mix(key + (i + 1) GOLDEN)`,
    /// the `i`-th output of a SplitMix64 stream started at `key`.
    key: u64,
    threshold: u64,
    /// `1 / (1 - p)`, or 0 when every element is dropped, as bits (so that the mask is
    /// `Eq`).
    scale_bits: u64,
}

impl DropoutMask {
    /// The mask of drop probability `p` for `(seed, step)`. A NaN or non-positive `p`
    /// keeps everything; `p >= 1` drops everything, as PyTorch does.
    pub fn new(p: f64, seed: u64, step: u64) -> Self {
        // The step is mixed before it meets the seed, so that neighbouring pairs (seed 1 at
        // step 2, seed 2 at step 1) get unrelated keys.
        let key = mix(seed ^ mix(step.wrapping_add(GOLDEN)));
        const ONE: f64 = (1u64 << 53) as f64;
        let (threshold, scale) = if p.is_nan() || p <= 0.0 {
            (0, 1.0)
        } else if p >= 1.0 {
            (1u64 << 53, 0.0)
        } else {
            // Rounded to nearest (`f64::round` is not in core): p 2^53 + 0.5, truncated.
            ((p * ONE + 0.5) as u64, 1.0 / (1.0 - p))
        };
        Self { key, threshold, scale_bits: f64::to_bits(scale) }
    }

    /// Whether element `i` survives.
    #[inline]
    pub fn keeps(&self, i: usize) -> bool {
        let h = mix(self.key.wrapping_add((i as u64).wrapping_add(1).wrapping_mul(GOLDEN)));
        (h >> 11) >= self.threshold
    }

    /// The factor survivors are multiplied by: `1 / (1 - p)` (0 when all are dropped).
    pub fn scale(&self) -> f64 {
        f64::from_bits(self.scale_bits)
    }

    /// `out_i = m_i in_i / (1 - p)`, or `out_i += ...` when `accumulate`: the forward
    /// pass on `x`, or (accumulating) the backward pass on `dy`.
    ///
    /// # Panics
    /// If `input` and `out` differ in length.
    #[inline]
    #[track_caller]
    pub fn apply<T: Scalar>(&self, input: &[T], out: &mut [T], accumulate: bool) {
        super::expect_len(NAME, "out", out.len(), input.len());
        let scale = T::from_f64(self.scale());
        for (i, (o, &v)) in out.iter_mut().zip(input).enumerate() {
            // A dropped element is `v · 0` in PyTorch: 0, but NaN for a NaN or an
            // infinity. `v - v` is that, with +0 for every finite `v`.
            #[allow(clippy::eq_op)]
            let m = if self.keeps(i) { v * scale } else { v - v };
            if accumulate {
                *o += m;
            } else {
                *o = m;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec, vec::Vec};

    /// A fixed mask: a linear map.
    #[cfg(feature = "alloc")]
    struct Case(DropoutMask);

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            NAME
        }
        fn input_len(&self) -> usize {
            40
        }
        fn output_len(&self) -> usize {
            40
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            self.0.apply(x, y, false);
        }
        fn backward(&self, _x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            self.0.apply(dy, dx, true);
        }
    }

    /// Runs the gradient check; returns the name checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        let mask = DropoutMask::new(0.3, 11, 5);
        let kept = (0..40).filter(|&i| mask.keeps(i)).count();
        assert!(kept > 0 && kept < 40, "the check sees a real mask");
        vec![super::super::testing::gradcheck(&Case(mask), &crate::gradcheck::inputs(111, 40, -1.0, 1.0, &[]), 111)]
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [NAME]);
    }

    #[test]
    fn the_extremes_keep_or_drop_everything() {
        let mut y = [7.0f64; 16];
        DropoutMask::new(0.0, 1, 1).apply(&[1.0; 16], &mut y, false);
        assert_eq!(y, [1.0; 16]);
        DropoutMask::new(f64::NAN, 1, 1).apply(&[1.0; 16], &mut y, false);
        assert_eq!(y, [1.0; 16]);
        DropoutMask::new(1.0, 1, 1).apply(&[1.0; 16], &mut y, false);
        assert_eq!(y, [0.0; 16]);
    }
}
