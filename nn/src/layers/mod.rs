//! Layers: each file holds one layer's docs, forward, backward and gradient check.

/// Implements `Embed` (building the layer over `f32` from embedded weights at compile
/// time) for a layer whose tensors are the listed fields, each with its PyTorch shape,
/// and whose counters are the listed `u64` fields; everything else comes from `base`.
macro_rules! embed_tensors {
    (
        [$($g:tt)*] $ty:ty = $base:expr;
        tensors: $($field:ident: $shape:expr),*;
        counters: $($counter:ident),*
    ) => {
        impl<At: ::monograd_core::embed::Place, $($g)*> ::monograd_core::embed::Embed<At> for $ty {
            const EMBEDDED: ::monograd_core::embed::Embedded<Self> = {
                let mut value = $base;
                let mut report = ::monograd_core::embed::Report::EMPTY;
                $(
                    let t = ::monograd_core::embed::param::<At, _>(stringify!($field), $shape);
                    report = report.merge(&t.report);
                    value.$field = t.value();
                )*
                $(
                    let c = ::monograd_core::embed::counter::<At>(stringify!($counter), value.$counter);
                    report = report.merge(&c.report);
                    value.$counter = c.value();
                )*
                ::monograd_core::embed::Embedded::new(value, report)
            };
        }
    };
}
use embed_tensors;

/// Implements `Module` for a layer without parameters: nothing to visit or update; and
/// `Embed`, with the layer's value as given (the unit struct itself if none is).
macro_rules! no_params {
    ($name:ident) => {
        $crate::layers::no_params!($name = $name);
    };
    ($name:ident = $value:expr) => {
        ::monograd_core::__embed_plain!([] $name = $value;);
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
pub mod conv;
pub mod depthwise;
pub mod dropout;
pub mod embedding;
pub mod linear;
pub mod merge;
pub mod norm;
pub mod pool;
pub mod reshape;

pub use activation::{LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh, ELU, GELU};
pub use conv::{Conv1d, Conv2d, GroupedConv2d};
pub use depthwise::{DepthwiseConv2d, SeparableConv2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::{Linear, LinearNoBias};
pub use merge::{Add, Concat};
pub use norm::{BatchNorm1d, BatchNorm2d, LayerNorm};
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use reshape::{Flatten, Reshape};

builtin!(
    Linear<const I: usize, const O: usize; T>,
    LinearNoBias<const I: usize, const O: usize; T>,
    ReLU, Tanh, Sigmoid, GELU, SiLU, Softplus, LeakyReLU, ELU, Softmax, LogSoftmax,
    Dropout,
    BatchNorm1d<const C: usize; T>,
    BatchNorm2d<const C: usize; T>,
    LayerNorm<const N: usize; T>,
    Embedding<const V: usize, const D: usize; T>,
    Add, Concat, Flatten, GlobalAvgPool2d,
    MaxPool2d<const K: usize, const S: usize>,
    AvgPool2d<const K: usize, const S: usize>,
);

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T>
    ::monograd_core::BuiltinLayer for Conv1d<CI, CO, K, S, P, D, T>
{
}
impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T>
    ::monograd_core::BuiltinLayer for Conv2d<CI, CO, K, S, P, D, T>
{
}
impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T>
    ::monograd_core::BuiltinLayer for SeparableConv2d<CI, CO, K, S, P, D, T>
{
}
// Covers `DepthwiseConv2d`, an alias of a grouped convolution.
impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const G: usize,
        const CIG: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T,
    > ::monograd_core::BuiltinLayer for GroupedConv2d<CI, CO, K, G, CIG, S, P, D, T>
{
}
