//! Optimizers: update a model's parameters from its gradient.
//!
//! An optimizer walks the model and its gradient (a value of the same type: modules are
//! their own gradient type) with [`Module::visit_update`], which hands it each trainable
//! tensor with its gradient and its offset in traversal order; stateful optimizers keep
//! their state in flat buffers indexed by that offset. Implement [`Optimizer`] to add your
//! own.

use monograd_core::module::Path;
use monograd_core::{Module, Scalar};

mod sgd;
pub use sgd::Sgd;

/// Updates parameters from gradients.
pub trait Optimizer<T: Scalar> {
    /// One update of `model` from `grad` (a value of the model's type holding gradients).
    fn step<M: Module<T>>(&mut self, model: &mut M, grad: &M);
}

/// Calls `f(value, grad)` for every trainable tensor of `model`: the loop most optimizers
/// need.
pub fn for_each_param<T: Scalar, M: Module<T>>(model: &mut M, grad: &M, mut f: impl FnMut(usize, &mut [T], &[T])) {
    let mut offset = 0;
    model.visit_update(grad, &Path::ROOT, &mut offset, &mut |u| f(u.offset, u.value, u.grad));
}
