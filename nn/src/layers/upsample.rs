//! Nearest-neighbour upsampling: each value repeated `F` times along every spatial axis.
//!
//! For images, `y[c, i, j] = x[c, ⌊i / F⌋, ⌊j / F⌋]` ([`Upsample`], PyTorch's
//! `nn.Upsample(scale_factor=F, mode='nearest')` on `[N, C, H, W]`); for signals,
//! `y[c, i] = x[c, ⌊i / F⌋]` ([`Upsample1d`], the same module on `[N, C, L]`). Each input
//! value feeds an `F x F` block (or `F` values), so backward sums their gradients:
//! `∂L/∂x[c, h, w] = Σ_{0 ≤ a, b < F} ∂L/∂y[c, F·h + a, F·w + b]`. No parameters, no
//! allocation, every scalar (dual numbers included).
//!
//! Decoders use it between convolutions to grow the feature map again; the scale is an
//! integer because a fractional one has no nearest-neighbour gradient worth having.
//!
//! # Shapes
//! - [`Upsample<F>`](Upsample): [`Rank3<C, H, W>`] → `Rank3<C, F·H, F·W>`
//! - [`Upsample1d<F>`](Upsample1d): [`Rank2<C, L>`] → `Rank2<C, F·L>`

use monograd_core::{Ctx, Layer, Rank2, Rank3, Scalar};

/// Enlarges each channel of an image `F` times along both axes by repeating each pixel
/// into an `F x F` block: PyTorch's `nn.Upsample(scale_factor=F, mode='nearest')`.
///
/// `network!` computes the output shape `[C, F·H, F·W]`; outside it, name both shapes
/// (stable Rust cannot compute `F·H` in a type). A scale of 0, or an output that is not `F`
/// times the input, fails to compile.
///
/// # Shapes
/// - input: [`Rank3<C, H, W>`] per sample
/// - output: `Rank3<C, F·H, F·W>` per sample
///
/// ```
/// use monograd_nn::Upsample;
/// use monograd_core::{Ctx, Layer, Rank3};
///
/// let x = [1.0f32, 2.0, 3.0, 4.0]; // one channel: [[1, 2], [3, 4]]
/// let mut y = [0.0f32; 16];
/// Layer::<f32, Rank3<1, 2, 2>, Rank3<1, 4, 4>>::forward(&Upsample::<2>, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [
///     1.0, 1.0, 2.0, 2.0,
///     1.0, 1.0, 2.0, 2.0,
///     3.0, 3.0, 4.0, 4.0,
///     3.0, 3.0, 4.0, 4.0,
/// ]);
/// ```
///
/// ```compile_fail
/// use monograd_nn::Upsample;
/// use monograd_core::{Ctx, Layer, Rank3};
/// let mut y = [0.0f32; 9];
/// // 3 x 3 is not twice 2 x 2.
/// Layer::<f32, Rank3<1, 2, 2>, Rank3<1, 3, 3>>::forward(&Upsample::<2>, &[0.0; 4], &mut y, &mut Ctx::new(&mut []));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Upsample<const F: usize>;
super::no_params!([const F: usize] Upsample<F> = Upsample);

/// Repeats each value of a signal `F` times: PyTorch's
/// `nn.Upsample(scale_factor=F, mode='nearest')` on `[N, C, L]`.
///
/// # Shapes
/// - input: [`Rank2<C, L>`] per sample
/// - output: `Rank2<C, F·L>` per sample
///
/// ```
/// use monograd_nn::Upsample1d;
/// use monograd_core::{Ctx, Layer, Rank2};
///
/// let x = [1.0f32, 2.0, 3.0, 4.0]; // two channels of two values
/// let mut y = [0.0f32; 12];
/// Layer::<f32, Rank2<2, 2>, Rank2<2, 6>>::forward(&Upsample1d::<3>, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Upsample1d<const F: usize>;
super::no_params!([const F: usize] Upsample1d<F> = Upsample1d);

/// Checks at compile time (in a constant) that `F ≥ 1` and each output size is `F` times
/// the input's.
const fn check_scale(f: usize, input: &[usize], output: &[usize]) {
    if f == 0 {
        panic!("Upsample: the scale factor F must be at least 1");
    }
    let mut i = 0;
    while i < input.len() {
        if input[i].checked_mul(f).is_none() || output[i] != input[i] * f {
            panic!("Upsample: each output size must be F times the input's");
        }
        i += 1;
    }
}

impl<T: Scalar, const F: usize, const C: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>
    Layer<T, Rank3<C, H, W>, Rank3<C, OH, OW>> for Upsample<F>
{
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        const { check_scale(F, &[H, W], &[OH, OW]) };
        if H * W == 0 {
            return;
        }
        for (plane, out) in x.chunks_exact(H * W).zip(y.chunks_exact_mut(OH * OW)) {
            // Each input row becomes one widened row, written `F` times.
            for (row, block) in plane.chunks_exact(W).zip(out.chunks_exact_mut(F * OW)) {
                let (first, rest) = block.split_at_mut(OW);
                for (&v, run) in row.iter().zip(first.chunks_exact_mut(F)) {
                    run.fill(v);
                }
                for copy in rest.chunks_exact_mut(OW) {
                    copy.copy_from_slice(first);
                }
            }
        }
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        const { check_scale(F, &[H, W], &[OH, OW]) };
        let Some(dx) = dx else { return };
        if H * W == 0 {
            return;
        }
        for (dplane, grad) in dx.chunks_exact_mut(H * W).zip(dy.chunks_exact(OH * OW)) {
            // Input row `h` receives the `F` output rows it was copied to, `F` values each.
            for (drow, block) in dplane.chunks_exact_mut(W).zip(grad.chunks_exact(F * OW)) {
                for grow in block.chunks_exact(OW) {
                    for (d, run) in drow.iter_mut().zip(grow.chunks_exact(F)) {
                        *d += run.iter().fold(T::ZERO, |s, &g| s + g);
                    }
                }
            }
        }
    }
}

impl<T: Scalar, const F: usize, const C: usize, const L: usize, const OL: usize> Layer<T, Rank2<C, L>, Rank2<C, OL>>
    for Upsample1d<F>
{
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        const { check_scale(F, &[L], &[OL]) };
        for (&v, run) in x.iter().zip(y.chunks_exact_mut(F)) {
            run.fill(v);
        }
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        const { check_scale(F, &[L], &[OL]) };
        let Some(dx) = dx else { return };
        for (d, run) in dx.iter_mut().zip(dy.chunks_exact(F)) {
            *d += run.iter().fold(T::ZERO, |s, &g| s + g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::Module;

    struct Up2;
    impl LayerFamily for Up2 {
        type In = Rank3<2, 2, 3>;
        type Out = Rank3<2, 4, 6>;
        type At<T: Scalar> = Upsample<2>;
        const NAME: &'static str = "Upsample<2>";
        fn zero<T: Scalar>() -> Upsample<2> {
            Upsample
        }
    }

    struct Up3;
    impl LayerFamily for Up3 {
        type In = Rank3<1, 3, 2>;
        type Out = Rank3<1, 9, 6>;
        type At<T: Scalar> = Upsample<3>;
        const NAME: &'static str = "Upsample<3>";
        fn zero<T: Scalar>() -> Upsample<3> {
            Upsample
        }
    }

    struct Up1d;
    impl LayerFamily for Up1d {
        type In = Rank2<3, 4>;
        type Out = Rank2<3, 8>;
        type At<T: Scalar> = Upsample1d<2>;
        const NAME: &'static str = "Upsample1d<2>";
        fn zero<T: Scalar>() -> Upsample1d<2> {
            Upsample1d
        }
    }

    #[test]
    fn upsample_passes_the_gradient_check() {
        let case = LayerCase::<Up2, 2>::new();
        let x = gradcheck::inputs(0, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 0).unwrap();
        let case = LayerCase::<Up3, 2>::new();
        let x = gradcheck::inputs(1, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 1).unwrap();
    }

    #[test]
    fn upsample1d_passes_the_gradient_check() {
        let case = LayerCase::<Up1d, 3>::new();
        let x = gradcheck::inputs(2, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 2).unwrap();
    }

    /// The formula written out: `y[c, i, j] = x[c, i / F, j / F]`, and backward the sum of
    /// each block, added to what `dx` held.
    #[test]
    fn upsample_repeats_each_pixel_and_sums_each_block() {
        const F: usize = 3;
        let x: [f64; 2 * 2 * 3] = core::array::from_fn(|i| i as f64 + 1.0);
        let mut y = [0.0f64; 2 * 6 * 9];
        let up = Upsample::<F>;
        Layer::<f64, Rank3<2, 2, 3>, Rank3<2, 6, 9>>::forward(&up, &x, &mut y, &mut Ctx::new(&mut []));
        for c in 0..2 {
            for i in 0..6 {
                for j in 0..9 {
                    assert_eq!(y[(c * 6 + i) * 9 + j], x[(c * 2 + i / F) * 3 + j / F]);
                }
            }
        }
        let dy: [f64; 2 * 6 * 9] = core::array::from_fn(|i| (i % 7) as f64);
        let mut dx = [1.0f64; 12];
        Layer::<f64, Rank3<2, 2, 3>, Rank3<2, 6, 9>>::backward(
            &up,
            &x,
            &y,
            &(),
            &dy,
            Some(&mut dx),
            &mut Upsample,
            &mut Ctx::new(&mut []),
        );
        for c in 0..2 {
            for h in 0..2 {
                for w in 0..3 {
                    let mut sum = 1.0;
                    for a in 0..F {
                        for b in 0..F {
                            sum += dy[(c * 6 + h * F + a) * 9 + w * F + b];
                        }
                    }
                    assert_eq!(dx[(c * 2 + h) * 3 + w], sum);
                }
            }
        }
        assert_eq!(<Upsample<2> as Module<f32>>::PARAMS, 0);
    }

    #[test]
    fn a_scale_of_one_is_the_identity() {
        let x = [1.0f32, -2.0, 3.5, 4.0];
        let mut y = [0.0f32; 4];
        Layer::<f32, Rank3<1, 2, 2>, Rank3<1, 2, 2>>::forward(&Upsample::<1>, &x, &mut y, &mut Ctx::new(&mut []));
        assert_eq!(y, x);
        Layer::<f32, Rank2<2, 2>, Rank2<2, 2>>::forward(&Upsample1d::<1>, &x, &mut y, &mut Ctx::new(&mut []));
        assert_eq!(y, x);
    }
}
