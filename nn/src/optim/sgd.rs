//! Stochastic gradient descent: `θ ← θ - lr · g`.

use super::{for_each_param, Optimizer};
use monograd_core::{Module, Scalar};

/// Plain stochastic gradient descent.
///
/// ```
/// use monograd_nn::{Linear, Optimizer, Sgd};
/// use monograd_core::Module;
///
/// let mut fc = Linear::<2, 1, f64> { weight: [[1.0, 1.0]], bias: [0.0] };
/// let grad = Linear::<2, 1, f64> { weight: [[0.5, -0.5]], bias: [1.0] };
/// Sgd::new(0.1).step(&mut fc, &grad);
/// assert_eq!(fc.weight, [[0.95, 1.05]]);
/// assert_eq!(fc.bias, [-0.1]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Sgd<T> {
    /// The learning rate.
    pub lr: T,
}

impl<T: Scalar> Sgd<T> {
    /// SGD with learning rate `lr`.
    pub fn new(lr: T) -> Self {
        Self { lr }
    }
}

impl<T: Scalar> Optimizer<T> for Sgd<T> {
    fn step<M: Module<T>>(&mut self, model: &mut M, grad: &M) {
        let lr = self.lr;
        for_each_param(model, grad, |_, value, grad| {
            for (v, g) in value.iter_mut().zip(grad) {
                *v -= lr * *g;
            }
        });
    }
}
