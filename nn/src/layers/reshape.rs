//! Reshaping: the same values, another per-sample shape.
//!
//! Data is flat and row-major, so a reshape moves nothing: forward and backward are
//! copies (and `network!` may alias the buffers instead).
//!
//! # Shapes
//! - `Flatten`: any `S` → `Rank1<S::NUMEL>` (`torch.nn.Flatten()` on NCHW)
//! - `Reshape<B>`: any `A` with `A::NUMEL == B::NUMEL` → `B` (`x.reshape(batch, *B)`,
//!   `torch.nn.Unflatten` when `A` is a vector)
//! - `Unflatten<C, H, W>`: `Reshape<Rank3<C, H, W>>` under the name PyTorch gives it
//!   (`torch.nn.Unflatten(1, (C, H, W))`)
//!
//! In `network!`, a `Reshape` whose target is written `Rank1<..>`, `Rank2<..>` or
//! `Rank3<..>` (and every `Unflatten`) has a known output shape: the macro checks that the
//! number of values matches and computes the shapes of the layers after it, so a
//! convolution may follow.

use core::fmt;
use core::marker::PhantomData;

use monograd_core::module::{ParamUpdate, Path, Tensor};
use monograd_core::{Ctx, Layer, Module, OutputShape, Rank1, Rank3, Scalar, Shape};

/// Flattens each sample to a vector, like `torch.nn.Flatten()`.
///
/// ```
/// use monograd_nn::Flatten;
/// use monograd_core::{Ctx, Layer, Rank1, Rank3};
/// let x = [1.0f32, 2.0, 3.0, 4.0];
/// let mut y = [0.0f32; 4];
/// Layer::<f32, Rank3<1, 2, 2>, Rank1<4>>::forward(&Flatten, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, x);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flatten;
super::no_params!(Flatten);

impl<T: Scalar, S: Shape, const N: usize> Layer<T, S, Rank1<N>> for Flatten {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        const { assert!(S::NUMEL == N, "Flatten: the output width must be the number of values in a sample") };
        y.copy_from_slice(x);
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            for (d, &g) in dx.iter_mut().zip(dy) {
                *d += g;
            }
        }
    }
}

/// Gives each sample the shape `B`, keeping its values in row-major order: `Flatten`'s
/// inverse and more (`Rank1<784>` to `Rank3<1, 28, 28>`, `Rank3<16, 4, 4>` to
/// `Rank2<16, 16>`).
///
/// The target shape is in the type, so the output follows from it alone ([`OutputShape`]
/// for any input); an input whose number of values differs fails to compile.
///
/// ```
/// use monograd_nn::Reshape;
/// use monograd_core::{Ctx, Layer, Rank1, Rank2};
/// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let mut y = [0.0f32; 6];
/// let r = Reshape::<Rank2<2, 3>>::new();
/// Layer::<f32, Rank1<6>, Rank2<2, 3>>::forward(&r, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, x);
/// ```
///
/// ```compile_fail
/// use monograd_nn::Reshape;
/// use monograd_core::{Ctx, Layer, Rank1, Rank2};
/// let mut y = [0.0f32; 6];
/// // 5 values do not make a 2 by 3 sample.
/// Layer::<f32, Rank1<5>, Rank2<2, 3>>::forward(&Reshape::<Rank2<2, 3>>::new(), &[0.0; 5], &mut y, &mut Ctx::new(&mut []));
/// ```
pub struct Reshape<B: Shape>(PhantomData<B>);

/// Turns a vector of `C·H·W` values into an image `[C, H, W]`, like PyTorch's
/// `nn.Unflatten(1, (C, H, W))` after a `Flatten` or a `Linear`: the first layer of a
/// convolutional decoder.
///
/// It is [`Reshape<Rank3<C, H, W>>`](Reshape) under another name (one type, so the two
/// spellings are interchangeable) and, like it, accepts any sample of `C·H·W` values.
/// Write `Reshape<Rank1<..>>` or `Reshape<Rank2<..>>` for other targets.
///
/// ```
/// use monograd_nn::{Reshape, Unflatten};
/// use monograd_core::{Ctx, Layer, Rank1, Rank3};
///
/// let x: [f32; 12] = core::array::from_fn(|i| i as f32);
/// let mut y = [0.0f32; 12];
/// let up = Unflatten::<3, 2, 2>::new();
/// Layer::<f32, Rank1<12>, Rank3<3, 2, 2>>::forward(&up, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, x); // channel 1 is [[4, 5], [6, 7]]: row-major, nothing moves
/// let same: Reshape<Rank3<3, 2, 2>> = up;
/// assert_eq!(same, up);
/// ```
pub type Unflatten<const C: usize, const H: usize, const W: usize> = Reshape<Rank3<C, H, W>>;

impl<B: Shape> Reshape<B> {
    /// The reshape to `B`.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

// By hand rather than derived: a derive would bound `B` as well, which `Shape` already
// implies, and print `PhantomData`.
impl<B: Shape> Clone for Reshape<B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Shape> Copy for Reshape<B> {}
impl<B: Shape> Default for Reshape<B> {
    fn default() -> Self {
        Self::new()
    }
}
impl<B: Shape> PartialEq for Reshape<B> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<B: Shape> Eq for Reshape<B> {}
impl<B: Shape> fmt::Debug for Reshape<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reshape({:?})", B::DIMS)
    }
}

monograd_core::__embed_plain!([B: Shape] Reshape<B> = Reshape::new(););

impl<T: Scalar, B: Shape> Module<T> for Reshape<B> {
    const PARAMS: usize = 0;
    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
}

impl<A: Shape, B: Shape> OutputShape<A> for Reshape<B> {
    type Output = B;
}

impl<T: Scalar, A: Shape, B: Shape> Layer<T, A, B> for Reshape<B> {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        const { assert!(A::NUMEL == B::NUMEL, "Reshape: the input and output shapes must hold the same number of values") };
        y.copy_from_slice(x);
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        const { assert!(A::NUMEL == B::NUMEL, "Reshape: the input and output shapes must hold the same number of values") };
        if let Some(dx) = dx {
            for (d, &g) in dx.iter_mut().zip(dy) {
                *d += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::{Rank2, Rank3};

    struct Fam;
    impl LayerFamily for Fam {
        type In = Rank3<2, 2, 3>;
        type Out = Rank1<12>;
        type At<T: Scalar> = Flatten;
        const NAME: &'static str = "Flatten";
        fn zero<T: Scalar>() -> Flatten {
            Flatten
        }
    }

    #[test]
    fn flatten_passes_the_gradient_check() {
        let case = LayerCase::<Fam, 2>::new();
        let x = gradcheck::inputs(0, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 0).unwrap();
    }

    struct Unflatten;
    impl LayerFamily for Unflatten {
        type In = Rank1<12>;
        type Out = Rank3<2, 3, 2>;
        type At<T: Scalar> = Reshape<Rank3<2, 3, 2>>;
        const NAME: &'static str = "Reshape<Rank3<2, 3, 2>>";
        fn zero<T: Scalar>() -> Reshape<Rank3<2, 3, 2>> {
            Reshape::new()
        }
    }

    #[test]
    fn reshape_passes_the_gradient_check() {
        let case = LayerCase::<Unflatten, 2>::new();
        let x = gradcheck::inputs(1, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 1).unwrap();
    }

    #[test]
    fn reshape_keeps_row_major_order_and_inverts_flatten() {
        let img = [[[1.0f64, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]];
        let x = <Rank3<2, 2, 2>>::flatten(core::slice::from_ref(&img));
        let mut rows = [[0.0f64; 4]; 2];
        let r = Reshape::<Rank2<2, 4>>::new();
        Layer::<f64, Rank3<2, 2, 2>, Rank2<2, 4>>::forward(&r, x, rows.as_flattened_mut(), &mut Ctx::new(&mut []));
        assert_eq!(rows, [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]);
        let mut back = [0.0f64; 8];
        let r = Reshape::<Rank3<2, 2, 2>>::new();
        Layer::<f64, Rank2<2, 4>, Rank3<2, 2, 2>>::forward(&r, rows.as_flattened(), &mut back, &mut Ctx::new(&mut []));
        assert_eq!(back, x);
        // Backward accumulates.
        let mut dx = [1.0f64; 8];
        let dy = [0.5f64; 8];
        Layer::<f64, Rank2<2, 4>, Rank3<2, 2, 2>>::backward(
            &r,
            &[0.0; 8],
            &back,
            &(),
            &dy,
            Some(&mut dx),
            &mut Reshape::new(),
            &mut Ctx::new(&mut []),
        );
        assert_eq!(dx, [1.5; 8]);
        assert_eq!(<Reshape<Rank2<2, 4>> as Module<f32>>::PARAMS, 0);
    }

    #[test]
    fn reshape_debug_names_its_target() {
        extern crate std;
        assert_eq!(std::format!("{:?}", Reshape::<Rank3<1, 28, 28>>::new()), "Reshape([1, 28, 28])");
    }
}
