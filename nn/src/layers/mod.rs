//! Layers: each file holds one layer's docs, forward, backward and gradient check.

/// A layer's tensors written out as flat slices, whatever their nesting.
pub(crate) trait Flat<T> {
    fn flat(&self) -> &[T];
    fn flat_mut(&mut self) -> &mut [T];
}

impl<T, const A: usize> Flat<T> for [T; A] {
    fn flat(&self) -> &[T] {
        self
    }
    fn flat_mut(&mut self) -> &mut [T] {
        self
    }
}

impl<T, const A: usize, const B: usize> Flat<T> for [[T; B]; A] {
    fn flat(&self) -> &[T] {
        self.as_flattened()
    }
    fn flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut()
    }
}

impl<T, const A: usize, const B: usize, const C: usize> Flat<T> for [[[T; C]; B]; A] {
    fn flat(&self) -> &[T] {
        self.as_flattened().as_flattened()
    }
    fn flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut().as_flattened_mut()
    }
}

impl<T, const A: usize, const B: usize, const C: usize, const D: usize> Flat<T> for [[[[T; D]; C]; B]; A] {
    fn flat(&self) -> &[T] {
        self.as_flattened().as_flattened().as_flattened()
    }
    fn flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut().as_flattened_mut().as_flattened_mut()
    }
}

/// A layer's setting as the `f64` that [`Module::visit_config`](monograd_core::Module::visit_config)
/// hands out: itself, or NaN for an optional setting that is unset.
pub(crate) trait SettingValue: Copy {
    fn get(self) -> f64;
    fn set(v: f64) -> Self;
}

impl SettingValue for f64 {
    fn get(self) -> f64 {
        self
    }
    fn set(v: f64) -> Self {
        v
    }
}

impl SettingValue for Option<f64> {
    fn get(self) -> f64 {
        self.unwrap_or(f64::NAN)
    }
    fn set(v: f64) -> Self {
        (!v.is_nan()).then_some(v)
    }
}

/// `visit_config` and `visit_config_mut` over the listed settings, each a field with the
/// function that says whether a value is valid (a value handed back that is not leaves
/// the field unchanged, as the layer's builder would refuse it).
macro_rules! layer_config {
    ($($setting:ident if $valid:expr),*) => {
        fn visit_config<Visitor: FnMut(::monograd_core::module::Setting<'_, &f64>)>(
            &self,
            path: &::monograd_core::module::Path<'_>,
            f: &mut Visitor,
        ) {
            let _ = (path, &f);
            $({
                let v = $crate::layers::SettingValue::get(self.$setting);
                f(::monograd_core::module::Setting { path: &path.field(stringify!($setting)), value: &v });
            })*
        }

        fn visit_config_mut<Visitor: FnMut(::monograd_core::module::Setting<'_, &mut f64>)>(
            &mut self,
            path: &::monograd_core::module::Path<'_>,
            f: &mut Visitor,
        ) {
            let _ = (path, &f);
            $({
                let mut v = $crate::layers::SettingValue::get(self.$setting);
                f(::monograd_core::module::Setting { path: &path.field(stringify!($setting)), value: &mut v });
                let valid: fn(f64) -> bool = $valid;
                if valid(v) {
                    self.$setting = $crate::layers::SettingValue::set(v);
                }
            })*
        }
    };
}
use layer_config;

/// A layer's tensors, stated once: the parameters, buffers and saved counters it holds,
/// as fields with their PyTorch shapes, in `state_dict` order. From that list come
/// `Module<T>` (`PARAMS`, `visit`, `visit_mut`, `visit_update`, the counters, and `init`
/// by the given function) and `Embed` over `f32` (the layer built from embedded weights
/// at compile time, every other field from `base`).
macro_rules! layer_tensors {
    (
        [$($g:tt)*] $name:ident<$($arg:ident),*>, base = $base:expr, init = $init:expr;
        params: $($param:ident: [$($pdim:expr),*]),*;
        buffers: $($buffer:ident: [$($bdim:expr),*]),*;
        counters: $($counter:ident),*
        $(; config: $($setting:ident if $valid:expr),*)?
    ) => {
        impl<$($g)*, T: ::monograd_core::Scalar> ::monograd_core::Module<T> for $name<$($arg,)* T> {
            const PARAMS: usize = 0 $(+ 1 $(* $pdim)*)*;

            fn init(&mut self, rng: &mut ::monograd_core::Rng) {
                let init: fn(&mut Self, &mut ::monograd_core::Rng) = $init;
                init(self, rng);
            }

            fn visit<F: FnMut(::monograd_core::module::Tensor<'_, &[T]>)>(
                &self,
                path: &::monograd_core::module::Path<'_>,
                f: &mut F,
            ) {
                use $crate::layers::Flat;
                $($crate::layers::layer_tensors!(@visit f, path, Param, $param [$($pdim),*], self.$param.flat());)*
                $($crate::layers::layer_tensors!(@visit f, path, Buffer, $buffer [$($bdim),*], self.$buffer.flat());)*
            }

            fn visit_mut<F: FnMut(::monograd_core::module::Tensor<'_, &mut [T]>)>(
                &mut self,
                path: &::monograd_core::module::Path<'_>,
                f: &mut F,
            ) {
                use $crate::layers::Flat;
                $($crate::layers::layer_tensors!(@visit f, path, Param, $param [$($pdim),*], self.$param.flat_mut());)*
                $($crate::layers::layer_tensors!(@visit f, path, Buffer, $buffer [$($bdim),*], self.$buffer.flat_mut());)*
            }

            fn visit_update<F: FnMut(::monograd_core::module::ParamUpdate<'_, T>)>(
                &mut self,
                grad: &Self,
                path: &::monograd_core::module::Path<'_>,
                offset: &mut usize,
                f: &mut F,
            ) {
                use $crate::layers::Flat;
                $(
                    let value = self.$param.flat_mut();
                    let len = value.len();
                    f(::monograd_core::module::ParamUpdate {
                        path: &path.field(stringify!($param)),
                        offset: *offset,
                        value,
                        grad: grad.$param.flat(),
                    });
                    *offset += len;
                )*
            }

            fn visit_counters<F: FnMut(::monograd_core::module::Counter<'_, &u64>)>(
                &self,
                path: &::monograd_core::module::Path<'_>,
                f: &mut F,
            ) {
                let _ = (path, &f);
                $(f(::monograd_core::module::Counter {
                    path: &path.field(stringify!($counter)),
                    kind: ::monograd_core::module::CounterKind::Buffer,
                    value: &self.$counter,
                });)*
            }

            fn visit_counters_mut<F: FnMut(::monograd_core::module::Counter<'_, &mut u64>)>(
                &mut self,
                path: &::monograd_core::module::Path<'_>,
                f: &mut F,
            ) {
                let _ = (path, &f);
                $(f(::monograd_core::module::Counter {
                    path: &path.field(stringify!($counter)),
                    kind: ::monograd_core::module::CounterKind::Buffer,
                    value: &mut self.$counter,
                });)*
            }

            $crate::layers::layer_config!($($($setting if $valid),*)?);
        }

        impl<At: ::monograd_core::embed::Place, $($g)*> ::monograd_core::embed::Embed<At> for $name<$($arg,)* f32> {
            const EMBEDDED: ::monograd_core::embed::Embedded<Self> = {
                let mut value = $base;
                let mut report = ::monograd_core::embed::Report::EMPTY;
                $(
                    let t = ::monograd_core::embed::param::<At, _>(stringify!($param), &[$($pdim),*]);
                    report = report.merge(&t.report);
                    value.$param = t.value();
                )*
                $(
                    let t = ::monograd_core::embed::param::<At, _>(stringify!($buffer), &[$($bdim),*]);
                    report = report.merge(&t.report);
                    value.$buffer = t.value();
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
    // One tensor passed to a visitor `f`, under `path`.
    (@visit $f:ident, $path:ident, $kind:ident, $field:ident [$($dim:expr),*], $values:expr) => {
        $f(::monograd_core::module::Tensor {
            path: &$path.field(stringify!($field)),
            kind: ::monograd_core::module::Kind::$kind,
            shape: const { &[$($dim),*] },
            values: $values,
        })
    };
}
use layer_tensors;

/// Implements `Module` for a layer without parameters: nothing to visit or update, and
/// the settings listed after `config:` (see `layer_config!`); and `Embed`, with the
/// layer's value as given (the unit struct itself if none is). A layer with const
/// parameters names them first: `no_params!([const F: usize] Upsample<F> = Upsample)`.
macro_rules! no_params {
    ($name:ident) => {
        $crate::layers::no_params!($name = $name);
    };
    ($name:ident = $value:expr $(; config: $($setting:ident if $valid:expr),*)?) => {
        $crate::layers::no_params!([] $name<> = $value $(; config: $($setting if $valid),*)?);
    };
    ([$($g:tt)*] $name:ident<$($p:ident),*> = $value:expr $(; config: $($setting:ident if $valid:expr),*)?) => {
        ::monograd_core::__embed_plain!([$($g)*] $name<$($p),*> = $value;);
        impl<T: ::monograd_core::Scalar, $($g)*> ::monograd_core::Module<T> for $name<$($p),*> {
            const PARAMS: usize = 0;
            fn visit<Visitor: FnMut(::monograd_core::module::Tensor<'_, &[T]>)>(
                &self,
                _: &::monograd_core::module::Path<'_>,
                _: &mut Visitor,
            ) {
            }
            fn visit_mut<Visitor: FnMut(::monograd_core::module::Tensor<'_, &mut [T]>)>(
                &mut self,
                _: &::monograd_core::module::Path<'_>,
                _: &mut Visitor,
            ) {
            }
            fn visit_update<Visitor: FnMut(::monograd_core::module::ParamUpdate<'_, T>)>(
                &mut self,
                _: &Self,
                _: &::monograd_core::module::Path<'_>,
                _: &mut usize,
                _: &mut Visitor,
            ) {
            }

            $crate::layers::layer_config!($($($setting if $valid),*)?);
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
pub mod permute;
pub mod pool;
pub mod reshape;
pub mod upsample;

mod in_place;

pub use activation::{LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh, ELU, GELU};
pub use conv::{Conv1d, Conv2d, GroupedConv2d};
pub use depthwise::{DepthwiseConv2d, SeparableConv2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::{Linear, LinearNoBias};
pub use merge::{Add, Concat};
pub use norm::{BatchNorm1d, BatchNorm2d, LayerNorm};
pub use permute::{Permute, Transpose};
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use reshape::{Flatten, Reshape, Unflatten};
pub use upsample::{Upsample, Upsample1d};

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
    Transpose,
    Permute<const A: usize, const B: usize, const C: usize>,
    Upsample<const F: usize>,
    Upsample1d<const F: usize>,
);

// Covers `Unflatten`, an alias of a reshape.
impl<B: ::monograd_core::Shape> ::monograd_core::BuiltinLayer for Reshape<B> {}

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
