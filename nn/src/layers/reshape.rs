//! Reshaping: the same values, another per-sample shape.
//!
//! Data is flat and row-major, so a reshape moves nothing: forward and backward are
//! copies (and `network!` may alias the buffers instead).
//!
//! # Shapes
//! - `Flatten`: any `S` → `Rank1<S::NUMEL>` (`torch.nn.Flatten()` on NCHW)

use monograd_core::{Ctx, Layer, Rank1, Scalar, Shape};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::Rank3;

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
}
