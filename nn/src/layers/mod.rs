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

/// Marks built-in layers for `network!` (see `monograd_core::BuiltinLayer`).
macro_rules! builtin {
    ($($name:ident $(<$(const $p:ident: usize),* $(; $t:ident)?>)?),* $(,)?) => {
        $(impl$(<$(const $p: usize,)* $($t)?>)? ::monograd_core::BuiltinLayer for $name$(<$($p,)* $($t)?>)? {})*
    };
}

pub mod activation;
pub mod linear;
pub mod merge;
pub mod reshape;

pub use activation::{ReLU, Tanh};
pub use linear::Linear;
pub use merge::{Add, Concat};
pub use reshape::Flatten;

builtin!(Linear<const I: usize, const O: usize; T>, ReLU, Tanh, Add, Concat, Flatten);
