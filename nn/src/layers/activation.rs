//! Elementwise activations as layers.
//!
//! Each is a unit struct with no parameters that maps any shape to itself through the
//! matching primitive of [`monograd_core::ops::unary`], where its formula, derivative and
//! gradient check live. Backward reads the saved input and output, so it needs no cache.
//!
//! # Shapes
//! - input: any [`Shape`] `S`
//! - output: `S`

use monograd_core::module::Activation;
use monograd_core::ops::unary;
use monograd_core::{Ctx, Layer, OutputShape, Scalar, Shape};

/// Defines a parameterless activation layer over a unary primitive.
macro_rules! activation {
    ($(#[$doc:meta])* $name:ident => $op_ty:ty = $op:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        super::no_params!($name);

        impl<S: Shape> OutputShape<S> for $name {
            type Output = S;
        }

        impl<T: Scalar, S: Shape> Layer<T, S, S> for $name {
            type Cache = ();

            #[inline]
            fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
                unary::forward($op, x, y);
            }

            #[inline]
            fn backward(&self, x: &[T], y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
                if let Some(dx) = dx {
                    unary::backward($op, x, y, dy, dx);
                }
            }
        }

        impl Activation for $name {
            type Op = $op_ty;
            fn op(&self) -> $op_ty {
                $op
            }
        }
    };
}

activation! {
    /// Rectified linear unit: `max(0, x)`.
    ///
    /// ```
    /// use monograd_nn::ReLU;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f32; 3];
    /// Layer::<f32, Rank1<3>, Rank1<3>>::forward(&ReLU, &[-1.0, 0.5, 2.0], &mut y, &mut Ctx::new(&mut []));
    /// assert_eq!(y, [0.0, 0.5, 2.0]);
    /// ```
    ReLU => unary::Relu = unary::Relu
}

activation! {
    /// Hyperbolic tangent.
    ///
    /// ```
    /// use monograd_nn::Tanh;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f64; 1];
    /// Layer::<f64, Rank1<1>, Rank1<1>>::forward(&Tanh, &[0.5], &mut y, &mut Ctx::new(&mut []));
    /// assert_eq!(y[0], 0.5f64.tanh());
    /// ```
    Tanh => unary::Tanh = unary::Tanh
}

/// The names of the activation layers, for tests that enumerate them.
pub const ACTIVATIONS: &[&str] = &["ReLU", "Tanh"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::Rank2;

    /// Each activation as a layer family over a `[2, 3]` sample, named after the layer.
    macro_rules! check_all {
        ($($name:ident),*) => {{
            let mut checked = [""; ACTIVATIONS.len()];
            let mut n = 0;
            $({
                struct Fam;
                impl LayerFamily for Fam {
                    type In = Rank2<2, 3>;
                    type Out = Rank2<2, 3>;
                    type At<T: Scalar> = $name;
                    const NAME: &'static str = stringify!($name);
                    fn zero<T: Scalar>() -> $name {
                        $name
                    }
                }
                let case = LayerCase::<Fam, 3>::new();
                let x = gradcheck::inputs(n as u64, case.input_len(), -2.0, 2.0, &[0.0]);
                gradcheck::check(&case, &x, 7).unwrap();
                checked[n] = stringify!($name);
                n += 1;
            })*
            assert_eq!(n, ACTIVATIONS.len());
            checked
        }};
    }

    #[test]
    fn every_activation_passes_the_gradient_check() {
        let checked = { check_all!(ReLU, Tanh) };
        assert_eq!(&checked[..], ACTIVATIONS);
    }
}
