//! Shapes the compiler computes from another shape: the output of a convolution or of a
//! pooling window over a sample whose size is a network's const parameter.
//!
//! `struct Net<const H: usize>` with a `Conv2d<1, 8, 3>` over `[1, H, H]` has an output of
//! `[8, H - 2, H - 2]`, but stable Rust rejects `Rank3<8, { H - 2 }, { H - 2 }>` in generic
//! code ("generic parameters may not be used in const operations"). What it accepts is a
//! type whose arguments are bare parameters, with the arithmetic in associated constants:
//! [`ConvOut<Rank3<1, H, H>, 8, 3, 1, 0, 1>`](ConvOut) names that output, and its
//! [`Shape::DIMS`] are computed by [`conv_out`] when the network is built for a given `H`.
//! Layers implement `Layer` for these types beside their plain `Rank3` impls, so a
//! convolution or pooling after such a node still type-checks.
//!
//! These shapes have no nested-array sample (their length is not a type): a
//! [`Fixed`](crate::storage::Fixed) buffer cannot hold them, and says so (`network!` stops
//! the build with the network and node named); [`Heap`](crate::storage::Heap) buffers hold
//! them as any other shape.
//!
//! ```
//! use monograd_core::shape::computed::{ConvOut, PoolOut};
//! use monograd_core::{Rank3, Shape};
//!
//! type Conv1<const H: usize> = ConvOut<Rank3<1, H, H>, 8, 3, 1, 0, 1>;
//! assert_eq!(<Conv1<28>>::DIMS, &[8, 26, 26]);
//! assert_eq!(<PoolOut<Conv1<28>, 2, 2>>::DIMS, &[8, 13, 13]);
//! assert_eq!(<PoolOut<Conv1<28>, 2, 2>>::NUMEL, 8 * 13 * 13);
//! // A window that does not fit gives an empty dimension, which `network!` reports.
//! assert_eq!(<Conv1<2>>::DIMS, &[8, 0, 0]);
//! ```

use core::fmt;
use core::marker::PhantomData;

use super::check::{conv_out, dim, numel};
use super::Shape;

/// The output of a convolution of `C` output channels, kernel `K`, stride `S`, zero
/// padding `P` and dilation `D` over samples of shape `I` (a signal `[C', L]` or an image
/// `[C', H, W]`): `[C, conv_out(L, ..)]` or `[C, conv_out(H, ..), conv_out(W, ..)]`.
pub struct ConvOut<I, const C: usize, const K: usize, const S: usize, const P: usize, const D: usize>(
    PhantomData<fn() -> I>,
);

/// The output of `K x K` pooling windows at stride `S` over images `I`: `I`'s channels,
/// each spatial dimension `(n - K) / S + 1`.
pub struct PoolOut<I, const K: usize, const S: usize>(PhantomData<fn() -> I>);

/// `[c, window(d1), window(d2)]` of `I`, as many as `I` has (at most 3).
const fn windowed<I: Shape>(c: usize, k: usize, s: usize, p: usize, d: usize) -> [usize; 3] {
    [c, conv_out(dim::<I>(1), k, s, p, d), conv_out(dim::<I>(2), k, s, p, d)]
}

/// The first `rank` (at most 3) of `all`.
const fn first(all: &'static [usize; 3], rank: usize) -> &'static [usize] {
    let all: &'static [usize] = all;
    all.split_at(if rank < 3 { rank } else { 3 }).0
}

/// The impls every computed shape shares: the marker traits `Shape` requires (written out:
/// derives would bound `I` needlessly), and no nested-array sample.
macro_rules! computed_shape {
    ([$($g:tt)*] $ty:ty, $all:expr) => {
        impl<I, $($g)*> Clone for $ty {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<I, $($g)*> Copy for $ty {}
        impl<I, $($g)*> Default for $ty {
            fn default() -> Self {
                Self(PhantomData)
            }
        }
        impl<I: Shape, $($g)*> fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", Self::DIMS)
            }
        }
        impl<I: Shape, $($g)*> $ty {
            const ALL: [usize; 3] = $all;
            const FULL: &'static [usize; 3] = &Self::ALL;
        }
        impl<I: Shape, $($g)*> Shape for $ty {
            const NUMEL: usize = numel(Self::DIMS);
            const DIMS: &'static [usize] = first(Self::FULL, I::DIMS.len());
            /// No nested array: its length is not a type. Fixed buffers refuse these shapes.
            type Sample<T: Copy> = [T; 0];

            fn filled<T: Copy>(_: T) -> [T; 0] {
                []
            }
            fn flatten<T: Copy>(_: &[[T; 0]]) -> &[T] {
                &[]
            }
            fn flatten_mut<T: Copy>(_: &mut [[T; 0]]) -> &mut [T] {
                &mut []
            }
        }
    };
}

computed_shape!(
    [const C: usize, const K: usize, const S: usize, const P: usize, const D: usize]
    ConvOut<I, C, K, S, P, D>, windowed::<I>(C, K, S, P, D)
);
computed_shape!(
    [const K: usize, const S: usize]
    PoolOut<I, K, S>, windowed::<I>(dim::<I>(0), K, S, 0, 1)
);

/// Whether samples of `S` have a nested-array form a fixed buffer can hold: every shape
/// but the computed ones of this module.
///
/// ```
/// use monograd_core::shape::computed::{is_inline, PoolOut};
/// use monograd_core::Rank3;
/// assert!(is_inline::<Rank3<8, 13, 13>>());
/// assert!(!is_inline::<PoolOut<Rank3<8, 26, 26>, 2, 2>>());
/// ```
pub const fn is_inline<S: Shape>() -> bool {
    core::mem::size_of::<S::Sample<u8>>() == S::NUMEL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rank2, Rank3};

    #[test]
    fn dimensions_follow_the_window_arithmetic() {
        assert_eq!(<ConvOut<Rank3<3, 32, 32>, 16, 3, 1, 1, 1>>::DIMS, &[16, 32, 32]);
        assert_eq!(<ConvOut<Rank3<3, 9, 7>, 4, 3, 2, 0, 1>>::DIMS, &[4, 4, 3]);
        assert_eq!(<ConvOut<Rank2<2, 10>, 5, 3, 1, 0, 2>>::DIMS, &[5, 6]);
        type Nested = PoolOut<ConvOut<Rank3<1, 32, 32>, 8, 3, 1, 0, 1>, 2, 2>;
        assert_eq!(<Nested>::DIMS, &[8, 15, 15]);
        assert_eq!(<ConvOut<Nested, 16, 3, 1, 0, 1>>::NUMEL, 16 * 13 * 13);
    }

    #[test]
    fn computed_shapes_are_not_inline() {
        assert!(is_inline::<Rank3<1, 2, 3>>());
        assert!(!is_inline::<PoolOut<Rank3<1, 4, 4>, 2, 2>>());
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn computed_shapes_print_their_dimensions() {
        let s = <ConvOut<Rank3<1, 4, 4>, 2, 3, 1, 0, 1>>::default();
        assert_eq!(alloc::format!("{s:?}"), "[2, 2, 2]");
    }
}
