//! Pooling: [`MaxPool2d`], [`AvgPool2d`] and [`GlobalAvgPool2d`], as PyTorch computes them.
//!
//! Windows of `K x K` at stride `S`, no padding, no dilation, windows that would cross the
//! border dropped (PyTorch's defaults: `padding=0`, `ceil_mode=False`), so
//! `OH = (H − K) / S + 1` and `OW = (W − K) / S + 1`. With window
//! `R(oy, ox) = {(oy·S + i, ox·S + j) : 0 ≤ i, j < K}`:
//!
//! - max: `y[c, oy, ox] = max_{R} x[c, ·, ·]`; `∂L/∂x` receives `∂L/∂y[c, oy, ox]` at the
//!   window's argmax only, the first one in row-major order on ties (as PyTorch), recomputed
//!   from `x` in backward. A NaN in a window is its maximum, as in PyTorch.
//! - average: `y[c, oy, ox] = (1 / K²) Σ_{R} x[c, ·, ·]`; every element of the window
//!   receives `∂L/∂y[c, oy, ox] / K²`.
//! - global average: `y[c] = (1 / (H·W)) Σ x[c, ·, ·]` (`AdaptiveAvgPool2d(1)` followed by
//!   a flatten); every element receives `∂L/∂y[c] / (H·W)`.
//!
//! Overlapping windows (`S < K`) add their gradients. None of these layers has parameters
//! or allocates, and each works at every scalar, dual numbers included. The math is in
//! [`monograd_core::ops::pool`], which the eager tape calls too.
//!
//! # Shapes
//! - [`MaxPool2d<K, S>`](MaxPool2d), [`AvgPool2d<K, S>`](AvgPool2d): [`Rank3<C, H, W>`] →
//!   [`Rank3<C, OH, OW>`] (`S` defaults to `K`)
//! - [`GlobalAvgPool2d`]: [`Rank3<C, H, W>`] → [`Rank1<C>`]

use monograd_core::ops::pool::{self, Pool2dGeometry};
use monograd_core::shape::computed::{ConvOut, PoolOut};
use monograd_core::{Ctx, Layer, OutputShape, Rank1, Rank3, Scalar, Shape};

/// Implements `Module` for a parameterless pooling layer with const parameters `K`, `S`.
macro_rules! no_params_pool {
    ($name:ident) => {
        monograd_core::__embed_plain!([const K: usize, const S: usize] $name<K, S> = $name;);
        impl<T: Scalar, const K: usize, const S: usize> monograd_core::Module<T> for $name<K, S> {
            const PARAMS: usize = 0;
            fn visit<F: FnMut(monograd_core::module::Tensor<'_, &[T]>)>(
                &self,
                _: &monograd_core::module::Path<'_>,
                _: &mut F,
            ) {
            }
            fn visit_mut<F: FnMut(monograd_core::module::Tensor<'_, &mut [T]>)>(
                &mut self,
                _: &monograd_core::module::Path<'_>,
                _: &mut F,
            ) {
            }
            fn visit_update<F: FnMut(monograd_core::module::ParamUpdate<'_, T>)>(
                &mut self,
                _: &Self,
                _: &monograd_core::module::Path<'_>,
                _: &mut usize,
                _: &mut F,
            ) {
            }
        }
    };
}

/// The geometry of `K x K` windows at stride `S` over `C x H x W`, checked at compile time
/// (in a constant) to give `OH x OW`.
const fn check_pool(c: usize, k: usize, s: usize, input: [usize; 2], output: [usize; 2]) -> Pool2dGeometry {
    let Some(g) = Pool2dGeometry::new(c, input, k, s) else {
        panic!("pooling: the window and the stride must be positive, and the window K must fit the input");
    };
    let o = g.output();
    if o[0] != output[0] || o[1] != output[1] {
        panic!("pooling: the output size must be (H - K) / S + 1 along each axis");
    }
    g
}

/// Max pooling over `K x K` windows at stride `S`: `torch.nn.MaxPool2d(K, S)`.
///
/// ```
/// use monograd_nn::MaxPool2d;
/// use monograd_core::{Ctx, Layer, Rank3};
///
/// let x = [
///     1.0, 3.0, 0.0, 2.0, //
///     4.0, 2.0, 5.0, 1.0,
///     0.0, 1.0, 1.0, 1.0,
///     2.0, 0.0, 1.0, 1.0,
/// ];
/// let mut y = [0.0f32; 4];
/// Layer::<f32, Rank3<1, 4, 4>, Rank3<1, 2, 2>>::forward(&MaxPool2d::<2>, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [4.0, 5.0, 2.0, 1.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaxPool2d<const K: usize, const S: usize = K>;
no_params_pool!(MaxPool2d);

impl<const K: usize, const S: usize> MaxPool2d<K, S> {
    /// The layer (it has no parameters).
    pub const ZERO: Self = Self;
}

impl<
        T: Scalar,
        const K: usize,
        const S: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    > Layer<T, Rank3<C, H, W>, Rank3<C, OH, OW>> for MaxPool2d<K, S>
{
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        pool::max_pool2d(&const { check_pool(C, K, S, [H, W], [OH, OW]) }, x, y);
    }

    #[inline]
    fn backward(&self, x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            pool::max_pool2d_backward(&const { check_pool(C, K, S, [H, W], [OH, OW]) }, x, dy, dx);
        }
    }
}

/// Average pooling over `K x K` windows at stride `S`: `torch.nn.AvgPool2d(K, S)`.
///
/// ```
/// use monograd_nn::AvgPool2d;
/// use monograd_core::{Ctx, Layer, Rank3};
///
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let mut y = [0.0f64; 4];
/// // 2x2 windows at stride 1 overlap.
/// Layer::<f64, Rank3<1, 3, 3>, Rank3<1, 2, 2>>::forward(&AvgPool2d::<2, 1>, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [3.0, 4.0, 6.0, 7.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AvgPool2d<const K: usize, const S: usize = K>;
no_params_pool!(AvgPool2d);

impl<const K: usize, const S: usize> AvgPool2d<K, S> {
    /// The layer (it has no parameters).
    pub const ZERO: Self = Self;
}

impl<
        T: Scalar,
        const K: usize,
        const S: usize,
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    > Layer<T, Rank3<C, H, W>, Rank3<C, OH, OW>> for AvgPool2d<K, S>
{
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        pool::avg_pool2d(&const { check_pool(C, K, S, [H, W], [OH, OW]) }, x, y);
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            pool::avg_pool2d_backward(&const { check_pool(C, K, S, [H, W], [OH, OW]) }, dy, dx);
        }
    }
}

/// The mean of each channel: `torch.nn.AdaptiveAvgPool2d(1)` then `Flatten`, the usual
/// head of a convolutional classifier.
///
/// ```
/// use monograd_nn::GlobalAvgPool2d;
/// use monograd_core::{Ctx, Layer, Rank1, Rank3};
///
/// let x = [1.0, 2.0, 3.0, 4.0, /* channel 1 */ 0.0, 0.0, 0.0, 8.0];
/// let mut y = [0.0f32; 2];
/// Layer::<f32, Rank3<2, 2, 2>, Rank1<2>>::forward(&GlobalAvgPool2d, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [2.5, 2.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalAvgPool2d;
super::no_params!(GlobalAvgPool2d);

impl GlobalAvgPool2d {
    /// The layer (it has no parameters).
    pub const ZERO: Self = Self;
}

impl<const C: usize, const H: usize, const W: usize> OutputShape<Rank3<C, H, W>> for GlobalAvgPool2d {
    type Output = Rank1<C>;
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> Layer<T, Rank3<C, H, W>, Rank1<C>> for GlobalAvgPool2d {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        const { assert!(H * W > 0, "GlobalAvgPool2d: the mean of an empty plane is undefined") };
        pool::global_avg_pool2d(x, y, H * W);
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        const { assert!(H * W > 0, "GlobalAvgPool2d: the mean of an empty plane is undefined") };
        if let Some(dx) = dx {
            pool::global_avg_pool2d_backward(dy, dx, H * W);
        }
    }
}

// Over shapes the compiler computes (`shape::computed`): pooling after a node whose size
// follows from a network's const parameter names its output `PoolOut<In, K, S>`; global
// pooling reads the channels from the type (`ConvOut`'s `C`) or checks them.

impl<T: Scalar, const K: usize, const S: usize, I: Shape> Layer<T, I, PoolOut<I, K, S>> for MaxPool2d<K, S> {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        if let Some(g) = const { computed_pool::<I, K, S>() } {
            pool::max_pool2d(&g, x, y);
        }
    }

    #[inline]
    fn backward(&self, x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let (Some(g), Some(dx)) = (const { computed_pool::<I, K, S>() }, dx) {
            pool::max_pool2d_backward(&g, x, dy, dx);
        }
    }
}

impl<T: Scalar, const K: usize, const S: usize, I: Shape> Layer<T, I, PoolOut<I, K, S>> for AvgPool2d<K, S> {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        if let Some(g) = const { computed_pool::<I, K, S>() } {
            pool::avg_pool2d(&g, x, y);
        }
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let (Some(g), Some(dx)) = (const { computed_pool::<I, K, S>() }, dx) {
            pool::avg_pool2d_backward(&g, dy, dx);
        }
    }
}

/// The geometry of pooling images `I` into `PoolOut<I, K, S>`, checked at compile time;
/// `None` when the window does not fit, the output then being empty (`network!` stops the
/// build with its own message before such a network runs).
const fn computed_pool<I: Shape, const K: usize, const S: usize>() -> Option<Pool2dGeometry> {
    let d = I::DIMS;
    if d.len() != 3 {
        panic!("pooling: the samples must be images [C, H, W]");
    }
    let o = <PoolOut<I, K, S> as Shape>::DIMS;
    if o[1] == 0 || o[2] == 0 {
        return None;
    }
    Some(check_pool(d[0], K, S, [d[1], d[2]], [o[1], o[2]]))
}

/// The plane size `H * W` of images `I` of `c` channels, checked at compile time. An empty
/// plane (a window before it did not fit) gives NaN, the mean of nothing, as the op does;
/// `network!` stops the build with its own message before such a network runs.
const fn plane<I: Shape>(c: usize) -> usize {
    let d = I::DIMS;
    if d.len() != 3 || d[0] != c {
        panic!("GlobalAvgPool2d: the samples must be images [C, H, W] of C channels, to [C]");
    }
    d[1] * d[2]
}

/// `GlobalAvgPool2d` over a computed image shape `$in` of `C` channels.
macro_rules! global_pool_computed {
    ([$($g:tt)*] $in:ty) => {
        impl<T: Scalar, I: Shape, const C: usize, $($g)*> Layer<T, $in, Rank1<C>> for GlobalAvgPool2d {
            type Cache = ();

            #[inline]
            fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
                pool::global_avg_pool2d(x, y, const { plane::<$in>(C) });
            }

            #[inline]
            fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
                if let Some(dx) = dx {
                    pool::global_avg_pool2d_backward(dy, dx, const { plane::<$in>(C) });
                }
            }
        }
    };
}
global_pool_computed!([const K: usize, const S: usize, const P: usize, const D: usize] ConvOut<I, C, K, S, P, D>);
// The channels of pooled images are their input's: `C` is checked against them.
global_pool_computed!([const K: usize, const S: usize] PoolOut<I, K, S>);

impl<I: Shape, const C: usize, const K: usize, const S: usize, const P: usize, const D: usize>
    OutputShape<ConvOut<I, C, K, S, P, D>> for GlobalAvgPool2d
{
    type Output = Rank1<C>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::LayerCase;
    use crate::layers::conv::tests::{checksum, family, seq};
    use alloc::vec::Vec;
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::module::Path;
    use monograd_core::{Module, Rng};

    family!(Max2: MaxPool2d<2>, Rank3<2, 4, 4> => Rank3<2, 2, 2>, MaxPool2d);
    family!(MaxOverlap: MaxPool2d<3, 2>, Rank3<2, 7, 5> => Rank3<2, 3, 2>, MaxPool2d);
    family!(Avg2: AvgPool2d<2>, Rank3<2, 4, 6> => Rank3<2, 2, 3>, AvgPool2d);
    family!(AvgOverlap: AvgPool2d<3, 2>, Rank3<2, 7, 5> => Rank3<2, 3, 2>, AvgPool2d);
    family!(Global: GlobalAvgPool2d, Rank3<3, 4, 5> => Rank1<3>, GlobalAvgPool2d);
    // Over shapes computed from a generic parameter.
    type Conv5 = ConvOut<Rank3<1, 9, 7>, 2, 3, 1, 0, 1>;
    family!(MaxComputed: MaxPool2d<3, 2>, Conv5 => PoolOut<Conv5, 3, 2>, MaxPool2d);
    family!(AvgComputed: AvgPool2d<2>, Conv5 => PoolOut<Conv5, 2, 2>, AvgPool2d);
    family!(GlobalComputed: GlobalAvgPool2d, Conv5 => Rank1<2>, GlobalAvgPool2d);
    family!(GlobalPooled: GlobalAvgPool2d, PoolOut<Conv5, 2, 2> => Rank1<2>, GlobalAvgPool2d);

    /// `n` distinct values evenly spread over `[-1, 1)` in a seeded order: no two within a
    /// finite-difference step of each other, so no maximum changes place.
    fn distinct(seed: u64, n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n).map(|k| (k as f64 + 0.5) / n as f64 * 2.0 - 1.0).collect();
        Rng::seed(seed).shuffle(&mut v);
        v
    }

    #[track_caller]
    fn check<F: crate::gradcheck::LayerFamily>(seed: u64, x: &[f64]) {
        let case = LayerCase::<F, 2>::new();
        if let Err(e) = gradcheck::check(&case, x, seed) {
            panic!("{e}");
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        check::<Max2>(31, &distinct(31, LayerCase::<Max2, 2>::new().input_len()));
        check::<MaxOverlap>(32, &distinct(32, LayerCase::<MaxOverlap, 2>::new().input_len()));
        let len = LayerCase::<Avg2, 2>::new().input_len();
        check::<Avg2>(33, &gradcheck::inputs(33, len, -1.0, 1.0, &[]));
        let len = LayerCase::<AvgOverlap, 2>::new().input_len();
        check::<AvgOverlap>(34, &gradcheck::inputs(34, len, -1.0, 1.0, &[]));
        let len = LayerCase::<Global, 2>::new().input_len();
        check::<Global>(35, &gradcheck::inputs(35, len, -1.0, 1.0, &[]));
    }

    #[test]
    fn computed_shapes_pass_the_gradient_check() {
        assert_eq!(<PoolOut<Conv5, 3, 2> as Shape>::DIMS, &[2, 3, 2]);
        check::<MaxComputed>(36, &distinct(36, LayerCase::<MaxComputed, 2>::new().input_len()));
        let len = LayerCase::<AvgComputed, 2>::new().input_len();
        check::<AvgComputed>(37, &gradcheck::inputs(37, len, -1.0, 1.0, &[]));
        let len = LayerCase::<GlobalComputed, 2>::new().input_len();
        check::<GlobalComputed>(38, &gradcheck::inputs(38, len, -1.0, 1.0, &[]));
        let len = LayerCase::<GlobalPooled, 2>::new().input_len();
        check::<GlobalPooled>(39, &gradcheck::inputs(39, len, -1.0, 1.0, &[]));
    }

    #[test]
    fn nan_propagates_through_every_pooling() {
        // As PyTorch's: a window holding a NaN gives NaN, wherever the NaN sits in it;
        // the other windows are untouched.
        let ctx = &mut Ctx::new(&mut []);
        for at in [0, 1, 4, 5] {
            let mut x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
            x[at] = f64::NAN;
            let mut y = [0.0f64; 2];
            Layer::<f64, Rank3<1, 2, 4>, Rank3<1, 1, 2>>::forward(&MaxPool2d::<2>, &x, &mut y, ctx);
            assert!(y[0].is_nan() && y[1] == 8.0, "MaxPool2d, NaN at {at}: {y:?}");
            Layer::<f64, Rank3<1, 2, 4>, Rank3<1, 1, 2>>::forward(&AvgPool2d::<2>, &x, &mut y, ctx);
            assert!(y[0].is_nan() && y[1] == 5.5, "AvgPool2d, NaN at {at}: {y:?}");
            let mut g = [0.0f64; 1];
            Layer::<f64, Rank3<1, 2, 4>, Rank1<1>>::forward(&GlobalAvgPool2d, &x, &mut g, ctx);
            assert!(g[0].is_nan(), "GlobalAvgPool2d, NaN at {at}: {g:?}");
        }
    }

    #[test]
    fn max_pool_routes_ties_to_the_first_maximum() {
        // Window 0 holds a three-way tie at 3: PyTorch's argmax is the first in row-major
        // order, (0, 0). Window 1's maximum 5 is at (1, 2).
        let x = [
            3.0, 1.0, 0.0, 2.0, //
            3.0, 3.0, 5.0, 1.0,
        ];
        let mut y = [0.0f64; 2];
        let pool = MaxPool2d::<2>;
        let ctx = &mut Ctx::new(&mut []);
        Layer::<f64, Rank3<1, 2, 4>, Rank3<1, 1, 2>>::forward(&pool, &x, &mut y, ctx);
        assert_eq!(y, [3.0, 5.0]);
        let mut dx = [0.0; 8];
        Layer::<f64, Rank3<1, 2, 4>, Rank3<1, 1, 2>>::backward(
            &pool,
            &x,
            &y,
            &(),
            &[10.0, 20.0],
            Some(&mut dx),
            &mut MaxPool2d,
            ctx,
        );
        assert_eq!(dx, [10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0, 0.0]);
        // Overlapping windows that share a maximum both send it their gradient.
        let x = [0.0, 1.0, 9.0, 1.0, 0.0];
        let x3 = [x, x, x];
        let x3 = x3.as_flattened();
        let mut y = [0.0; 2];
        Layer::<f64, Rank3<1, 3, 5>, Rank3<1, 1, 2>>::forward(&MaxPool2d::<3, 2>, x3, &mut y, ctx);
        assert_eq!(y, [9.0, 9.0]);
        let mut dx = [0.0; 15];
        Layer::<f64, Rank3<1, 3, 5>, Rank3<1, 1, 2>>::backward(
            &MaxPool2d::<3, 2>,
            x3,
            &y,
            &(),
            &[1.0, 2.0],
            Some(&mut dx),
            &mut MaxPool2d,
            ctx,
        );
        assert_eq!(dx[2], 3.0);
        assert_eq!(dx.iter().sum::<f64>(), 3.0);
    }

    #[test]
    fn pools_match_pytorch() {
        // torch.nn.MaxPool2d(3, 2) and AvgPool2d(3, 2) on seq(70, 5, 13, 6, 8) as 2x7x5,
        // output gradient seq(12, 3, 7, 3, 4). The input repeats values, so the max windows
        // hold ties: PyTorch sends the gradient to the first.
        let (x, dy) = (seq(70, 5, 13, 6.0, 8.0), seq(12, 3, 7, 3.0, 4.0));
        let ctx = &mut Ctx::new(&mut []);
        let mut y = [0.0; 12];
        let mut dx = [0.0; 70];
        Layer::<f64, Rank3<2, 7, 5>, Rank3<2, 3, 2>>::forward(&MaxPool2d::<3, 2>, &x, &mut y, ctx);
        assert_eq!(y, [0.75, 0.5, 0.625, 0.75, 0.75, 0.625, 0.625, 0.75, 0.75, 0.75, 0.75, 0.75]);
        Layer::<f64, Rank3<2, 7, 5>, Rank3<2, 3, 2>>::backward(
            &MaxPool2d::<3, 2>,
            &x,
            &y,
            &(),
            &dy,
            Some(&mut dx),
            &mut MaxPool2d,
            ctx,
        );
        assert_eq!(checksum(&dx), -2.25);

        #[rustfmt::skip]
        let want = [
            0.111111111111111, -0.083333333333333, 0.041666666666667, 0.027777777777778, -0.027777777777778,
            -0.041666666666667, -0.041666666666667, -0.055555555555556, -0.111111111111111, 0.055555555555556,
            0.0, 0.166666666666667,
        ];
        Layer::<f64, Rank3<2, 7, 5>, Rank3<2, 3, 2>>::forward(&AvgPool2d::<3, 2>, &x, &mut y, ctx);
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        let mut dx = [0.0; 70];
        Layer::<f64, Rank3<2, 7, 5>, Rank3<2, 3, 2>>::backward(
            &AvgPool2d::<3, 2>,
            &x,
            &y,
            &(),
            &dy,
            Some(&mut dx),
            &mut AvgPool2d,
            ctx,
        );
        assert!(checksum(&dx).abs() < 1e-14);
    }

    #[test]
    fn max_pool_propagates_nan_as_pytorch_does() {
        let x = [1.0, f32::NAN, 7.0, 2.0];
        let mut y = [0.0f32; 1];
        Layer::<f32, Rank3<1, 2, 2>, Rank3<1, 1, 1>>::forward(&MaxPool2d::<2>, &x, &mut y, &mut Ctx::new(&mut []));
        assert!(y[0].is_nan());
    }

    #[test]
    fn average_pools_literal_values() {
        let ctx = &mut Ctx::new(&mut []);
        // Two channels of 2x4 in 2x2 windows.
        let x = [
            1.0, 2.0, 3.0, 4.0, //
            5.0, 6.0, 7.0, 8.0, 0.0, 0.0, 1.0, 1.0, 0.0, 4.0, 1.0, 1.0,
        ];
        let mut y = [0.0f64; 4];
        Layer::<f64, Rank3<2, 2, 4>, Rank3<2, 1, 2>>::forward(&AvgPool2d::<2>, &x, &mut y, ctx);
        assert_eq!(y, [3.5, 5.5, 1.0, 1.0]);
        let mut dx = [1.0; 16]; // accumulates
        Layer::<f64, Rank3<2, 2, 4>, Rank3<2, 1, 2>>::backward(
            &AvgPool2d::<2>,
            &x,
            &y,
            &(),
            &[4.0, 8.0, 0.0, -4.0],
            Some(&mut dx),
            &mut AvgPool2d,
            ctx,
        );
        assert_eq!(dx[..8], [2.0, 2.0, 3.0, 3.0, 2.0, 2.0, 3.0, 3.0]);
        assert_eq!(dx[8..], [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);

        let mut g = [0.0f64; 2];
        Layer::<f64, Rank3<2, 2, 4>, Rank1<2>>::forward(&GlobalAvgPool2d, &x, &mut g, ctx);
        assert_eq!(g, [4.5, 1.0]);
        let mut dx = [0.0; 16];
        Layer::<f64, Rank3<2, 2, 4>, Rank1<2>>::backward(
            &GlobalAvgPool2d,
            &x,
            &g,
            &(),
            &[8.0, -16.0],
            Some(&mut dx),
            &mut GlobalAvgPool2d,
            ctx,
        );
        assert_eq!(dx, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0]);
    }

    #[test]
    fn pools_have_no_parameters() {
        fn count<M: Module<f32>>(m: &M) -> usize {
            let mut n = 0;
            m.visit(&Path::ROOT, &mut |_| n += 1);
            n
        }
        assert_eq!(<MaxPool2d<2> as Module<f32>>::PARAMS + <AvgPool2d<3, 2> as Module<f32>>::PARAMS, 0);
        assert_eq!(<GlobalAvgPool2d as Module<f64>>::PARAMS, 0);
        assert_eq!(count(&MaxPool2d::<2>::ZERO) + count(&AvgPool2d::<2>::ZERO) + count(&GlobalAvgPool2d::ZERO), 0);
        // The stride defaults to the window.
        let _: MaxPool2d<2, 2> = MaxPool2d::<2>;
    }
}
