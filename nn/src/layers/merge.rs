//! Where two branches of a graph meet: [`Add`] (residual connections) and [`Concat`].
//!
//! # Shapes
//! - `Add`: `a`: `S`, `b`: `S` → `S`
//! - `Concat`: joins along the first dimension, per sample: `Rank1<A>` and `Rank1<B>` →
//!   `Rank1<A + B>`; `Rank3<C1, H, W>` and `Rank3<C2, H, W>` → `Rank3<C1 + C2, H, W>`
//!   (channels, as `torch.cat(dim=1)` on NCHW); the math is
//!   [`monograd_core::ops::concat`], which the eager tape calls too.

use monograd_core::ops::binary::{self, Add as AddOp};
use monograd_core::ops::concat::{concat, concat_backward};
use monograd_core::{Merge, Rank1, Rank3, Scalar, Shape};

/// Elementwise sum of two branches: `y = a + b`. Its backward passes `dy` to both.
///
/// ```
/// use monograd_nn::Add;
/// use monograd_core::{Merge, Rank1};
/// let mut y = [0.0f32; 2];
/// Merge::<f32, Rank1<2>, Rank1<2>, Rank1<2>>::forward(&Add, &[1.0, 2.0], &[10.0, 20.0], &mut y);
/// assert_eq!(y, [11.0, 22.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Add;
super::no_params!(Add);

impl<T: Scalar, S: Shape> Merge<T, S, S, S> for Add {
    #[inline]
    fn forward(&self, a: &[T], b: &[T], y: &mut [T]) {
        binary::forward(AddOp, a, b, y);
    }

    #[inline]
    fn backward(&self, _a: &[T], _b: &[T], dy: &[T], da: Option<&mut [T]>, db: Option<&mut [T]>) {
        // d(a + b) = da + db: both receive dy, whatever the values.
        for d in [da, db].into_iter().flatten() {
            for (d, &g) in d.iter_mut().zip(dy) {
                *d += g;
            }
        }
    }
}

/// Concatenation along the first dimension of each sample.
///
/// ```
/// use monograd_nn::Concat;
/// use monograd_core::{Merge, Rank1};
/// let mut y = [0.0f32; 6]; // batch of 2, 1 + 2 features
/// Merge::<f32, Rank1<1>, Rank1<2>, Rank1<3>>::forward(&Concat, &[1.0, 2.0], &[3.0, 4.0, 5.0, 6.0], &mut y);
/// assert_eq!(y, [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Concat;
super::no_params!(Concat);

impl<T: Scalar, const A: usize, const B: usize, const C: usize> Merge<T, Rank1<A>, Rank1<B>, Rank1<C>> for Concat {
    #[inline]
    fn forward(&self, a: &[T], b: &[T], y: &mut [T]) {
        const { assert!(A + B == C, "Concat: the output width must be the sum of the input widths") };
        concat(a, b, y, A, B);
    }

    #[inline]
    fn backward(&self, _a: &[T], _b: &[T], dy: &[T], da: Option<&mut [T]>, db: Option<&mut [T]>) {
        concat_backward(dy, da, db, A, B);
    }
}

impl<T: Scalar, const C1: usize, const C2: usize, const C: usize, const H: usize, const W: usize>
    Merge<T, Rank3<C1, H, W>, Rank3<C2, H, W>, Rank3<C, H, W>> for Concat
{
    #[inline]
    fn forward(&self, a: &[T], b: &[T], y: &mut [T]) {
        const { assert!(C1 + C2 == C, "Concat: the output channels must be the sum of the input channels") };
        concat(a, b, y, C1 * H * W, C2 * H * W);
    }

    #[inline]
    fn backward(&self, _a: &[T], _b: &[T], dy: &[T], da: Option<&mut [T]>, db: Option<&mut [T]>) {
        concat_backward(dy, da, db, C1 * H * W, C2 * H * W);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monograd_core::gradcheck::{self, GradCase};

    /// A merge node over a batch of 2 as a gradient-check case: inputs `a` then `b`.
    struct Case<M, SA, SB, SO>(M, &'static str, core::marker::PhantomData<(SA, SB, SO)>);

    impl<M, SA: Shape, SB: Shape, SO: Shape> GradCase for Case<M, SA, SB, SO>
    where
        M: Merge<f64, SA, SB, SO> + AnyScalar<SA, SB, SO>,
    {
        fn name(&self) -> &str {
            self.1
        }
        fn input_len(&self) -> usize {
            2 * (SA::NUMEL + SB::NUMEL)
        }
        fn output_len(&self) -> usize {
            2 * SO::NUMEL
        }
        fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
            let (a, b) = v.split_at(2 * SA::NUMEL);
            self.0.run(a, b, y);
        }
        fn backward(&self, v: &[f64], _: &[f64], dy: &[f64], dv: &mut [f64]) {
            let (a, b) = v.split_at(2 * SA::NUMEL);
            let (da, db) = dv.split_at_mut(2 * SA::NUMEL);
            Merge::backward(&self.0, a, b, dy, Some(da), Some(db));
        }
    }

    /// The node's forward at any scalar (these layers hold none, so one value serves all).
    trait AnyScalar<SA, SB, SO> {
        fn run<T: Scalar>(&self, a: &[T], b: &[T], y: &mut [T]);
    }
    impl<S: Shape> AnyScalar<S, S, S> for Add {
        fn run<T: Scalar>(&self, a: &[T], b: &[T], y: &mut [T]) {
            Merge::<T, S, S, S>::forward(self, a, b, y);
        }
    }
    impl AnyScalar<Rank1<2>, Rank1<3>, Rank1<5>> for Concat {
        fn run<T: Scalar>(&self, a: &[T], b: &[T], y: &mut [T]) {
            Merge::<T, Rank1<2>, Rank1<3>, Rank1<5>>::forward(self, a, b, y);
        }
    }
    impl AnyScalar<Rank3<1, 2, 2>, Rank3<2, 2, 2>, Rank3<3, 2, 2>> for Concat {
        fn run<T: Scalar>(&self, a: &[T], b: &[T], y: &mut [T]) {
            Merge::<T, Rank3<1, 2, 2>, Rank3<2, 2, 2>, Rank3<3, 2, 2>>::forward(self, a, b, y);
        }
    }

    fn check<M, SA: Shape, SB: Shape, SO: Shape>(m: M, name: &'static str)
    where
        M: Merge<f64, SA, SB, SO> + AnyScalar<SA, SB, SO>,
    {
        let case = Case::<M, SA, SB, SO>(m, name, core::marker::PhantomData);
        let x = gradcheck::inputs(1, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 3).unwrap();
    }

    #[test]
    fn merges_pass_the_gradient_check() {
        check::<_, Rank3<2, 1, 3>, Rank3<2, 1, 3>, Rank3<2, 1, 3>>(Add, "Add");
        check::<_, Rank1<2>, Rank1<3>, Rank1<5>>(Concat, "Concat (features)");
        check::<_, Rank3<1, 2, 2>, Rank3<2, 2, 2>, Rank3<3, 2, 2>>(Concat, "Concat (channels)");
    }

    #[test]
    fn channel_concat_matches_torch_cat_on_nchw() {
        // batch 1: a has 1 channel of 2x1, b has 1 channel of 2x1
        let mut y = [0.0f32; 4];
        Merge::<f32, Rank3<1, 2, 1>, Rank3<1, 2, 1>, Rank3<2, 2, 1>>::forward(
            &Concat,
            &[1.0, 2.0],
            &[3.0, 4.0],
            &mut y,
        );
        assert_eq!(y, [1.0, 2.0, 3.0, 4.0]);
    }
}
