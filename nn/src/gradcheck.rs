//! Gradient checks for layers: any [`Layer`] becomes a [`GradCase`] of the shared helper.
//!
//! The differentiable vector is the input batch followed by every parameter in
//! [`Module::visit`] order, so one check covers `∂L/∂x` and `∂L/∂θ` against central finite
//! differences and against forward mode (the same layer built over dual numbers).
//!
//! ```
//! use monograd_core::gradcheck;
//! use monograd_core::{Rank1, Scalar};
//! use monograd_nn::gradcheck::{LayerCase, LayerFamily};
//! use monograd_nn::Linear;
//!
//! struct Fc;
//! impl LayerFamily for Fc {
//!     type In = Rank1<3>;
//!     type Out = Rank1<2>;
//!     type At<T: Scalar> = Linear<3, 2, T>;
//!     const NAME: &'static str = "Linear<3, 2>";
//!     fn zero<T: Scalar>() -> Linear<3, 2, T> {
//!         Linear::ZERO
//!     }
//! }
//! let case = LayerCase::<Fc, 2>::new();
//! let x = gradcheck::inputs(0, gradcheck::GradCase::input_len(&case), -1.0, 1.0, &[]);
//! gradcheck::check(&case, &x, 0).unwrap();
//! ```

use alloc::vec;
use core::marker::PhantomData;

use monograd_core::gradcheck::GradCase;
use monograd_core::kernels::gemm::PACK_LEN;
use monograd_core::module::{load_flat, to_vec, Path};
use monograd_core::{Ctx, Layer, Module, Scalar, Shape};

/// One layer type at every scalar, so that it can run on `f64` and on dual numbers.
pub trait LayerFamily {
    /// Input shape of one sample.
    type In: Shape;
    /// Output shape of one sample.
    type Out: Shape;
    /// The layer over scalar `T`.
    type At<T: Scalar>: Layer<T, Self::In, Self::Out>;
    /// The name shown when a check fails.
    const NAME: &'static str;
    /// The layer with every parameter zero (the check loads its own values).
    fn zero<T: Scalar>() -> Self::At<T>;
}

/// A [`GradCase`] over a batch of `B` samples through the layer family `F`, in training
/// mode (`forward_train`).
pub struct LayerCase<F, const B: usize>(PhantomData<F>);

impl<F: LayerFamily, const B: usize> LayerCase<F, B> {
    /// The case.
    pub fn new() -> Self {
        Self(PhantomData)
    }

    fn x_len() -> usize {
        B * F::In::NUMEL
    }

    /// The layer over `T` with its parameters taken from `p`, in visit order.
    fn build<T: Scalar>(p: &[T]) -> F::At<T> {
        let mut layer = F::zero::<T>();
        load_flat(&mut layer, p).expect("the case sizes its vector from the layer's tensors");
        layer
    }
}

impl<F: LayerFamily, const B: usize> Default for LayerCase<F, B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: LayerFamily, const B: usize> GradCase for LayerCase<F, B> {
    fn name(&self) -> &str {
        F::NAME
    }

    fn input_len(&self) -> usize {
        Self::x_len() + to_vec(&F::zero::<f64>()).len()
    }

    fn output_len(&self) -> usize {
        B * F::Out::NUMEL
    }

    fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
        let (x, p) = v.split_at(Self::x_len());
        let mut layer = Self::build(p);
        let mut cache = Default::default();
        let mut pack = vec![T::ZERO; PACK_LEN];
        layer.forward_train(x, y, &mut cache, &mut Ctx::new(&mut pack));
    }

    fn backward(&self, v: &[f64], y: &[f64], dy: &[f64], dv: &mut [f64]) {
        let (x, p) = v.split_at(Self::x_len());
        let mut layer = Self::build(p);
        let mut pack = vec![0.0; PACK_LEN];
        let mut ctx = Ctx::new(&mut pack);
        // Backward may read what the training forward saved.
        let mut cache = Default::default();
        let mut y_again = vec![0.0; y.len()];
        layer.forward_train(x, &mut y_again, &mut cache, &mut ctx);
        let mut grad = F::zero::<f64>();
        let (dx, dp) = dv.split_at_mut(Self::x_len());
        layer.backward(x, &y_again, &cache, dy, Some(dx), &mut grad, &mut ctx);
        let mut at = 0;
        grad.visit(&Path::ROOT, &mut |t| {
            for (d, g) in dp[at..at + t.values.len()].iter_mut().zip(t.values) {
                *d += g;
            }
            at += t.values.len();
        });
    }
}
