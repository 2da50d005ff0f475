//! Layers: each file holds one layer's docs, forward, backward and gradient check.

/// Implements `Module` for a layer without parameters: nothing to visit or update.
macro_rules! no_params {
    ($name:ident) => {
        impl<T: ::monograd_core::Scalar> ::monograd_core::Module<T> for $name {
            const PARAMS: usize = 0;
            fn visit<F: FnMut(::monograd_core::module::Tensor<'_, &[T]>)>(
                &self,
                _: &::monograd_core::module::Path<'_>,
                _: &mut F,
            ) {
            }
            fn visit_mut<F: FnMut(::monograd_core::module::Tensor<'_, &mut [T]>)>(
                &mut self,
                _: &::monograd_core::module::Path<'_>,
                _: &mut F,
            ) {
            }
            fn visit_update<F: FnMut(::monograd_core::module::ParamUpdate<'_, T>)>(
                &mut self,
                _: &Self,
                _: &::monograd_core::module::Path<'_>,
                _: &mut usize,
                _: &mut F,
            ) {
            }
        }
    };
}
use no_params;

pub mod activation;
pub mod linear;
pub mod merge;
pub mod reshape;

pub use activation::{ReLU, Tanh};
pub use linear::Linear;
pub use merge::{Add, Concat};
pub use reshape::Flatten;
