//! Normalisation layers: [`BatchNorm1d`], [`BatchNorm2d`] and [`LayerNorm`].
//!
//! Each normalises values to zero mean and unit variance, then applies a learned
//! per-feature scale `γ` (`weight`) and shift `β` (`bias`):
//!
//! `x̂ = (x - μ) / √(σ² + ε)`, `y = γ x̂ + β`
//!
//! - **Batch norm** takes `μ`, `σ²` per channel over the batch and every position
//!   (`[batch, C, L]` or `[batch, C, H, W]`: `m = batch · L` or `batch · H · W` values).
//!   In training it uses the batch's statistics (the biased variance, dividing by `m`) and
//!   updates the running estimates with the unbiased one, as PyTorch does:
//!   `running = (1 - f) running + f · stat`, `f = momentum` (or `1 / num_batches_tracked`,
//!   a cumulative average, when `momentum` is `None`). In inference it uses the running
//!   estimates, and the layer is an affine map per channel.
//! - **Layer norm** takes `μ`, `σ²` over the last dimension of each sample, in training
//!   and inference alike, and keeps no running state.
//!
//! Derivatives, with `g = ∂L/∂y`, sums over the `m` values that share the statistics and
//! `s = 1 / √(σ² + ε)`:
//!
//! - `∂L/∂β = Σ g`, `∂L/∂γ = Σ g x̂`
//! - through batch (or layer) statistics:
//!   `∂L/∂x = γ s (g - Σ g / m - x̂ Σ (g x̂) / m)` (layer norm: `γ` inside the sums, per
//!   feature)
//! - through running statistics (batch norm in inference): `∂L/∂x = γ s g`
//!
//! The running-statistics update is not differentiable and not part of the output. The
//! normalisations themselves are [`monograd_core::ops::norm`], which the eager tape calls
//! too; the layers add the running statistics and the shapes.
//!
//! # Shapes
//! - `BatchNorm1d<C>`: `Rank1<C>` → `Rank1<C>` (`[batch, C]`), and `Rank2<C, L>` →
//!   `Rank2<C, L>` (`[batch, C, L]`)
//! - `BatchNorm2d<C>`: `Rank3<C, H, W>` → `Rank3<C, H, W>`
//! - `LayerNorm<N>`: `Rank1<N>`, `Rank2<R, N>`, `Rank3<A, B, N>` → the same shape
//! - `weight`, `bias`, `running_mean`, `running_var`: `[C]` (`[N]` for layer norm);
//!   `num_batches_tracked`: a scalar, PyTorch's int64

use monograd_core::ops::norm::{self, ChannelStats};
use monograd_core::shape::computed::{ConvOut, PoolOut};
use monograd_core::{Ctx, Layer, OutputShape, Rank1, Rank2, Rank3, Scalar, Shape};

/// What a training pass of a batch norm saves for backward: the batch statistics of each
/// channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormCache<const C: usize, T> {
    /// The batch mean `μ` per channel.
    pub mean: [T; C],
    /// The biased batch variance `σ²` per channel (the running update reads it).
    pub var: [T; C],
    /// `1 / √(σ² + ε)` per channel.
    pub inv_std: [T; C],
    /// Whether a training pass filled the cache. A default cache is not filled: backward
    /// then differentiates the inference map (through the running statistics).
    pub batch_stats: bool,
}

impl<const C: usize, T: Scalar> Default for BatchNormCache<C, T> {
    fn default() -> Self {
        Self { mean: [T::ZERO; C], var: [T::ZERO; C], inv_std: [T::ZERO; C], batch_stats: false }
    }
}

impl<const C: usize, T: Scalar> monograd_core::storage::ConstDefault for BatchNormCache<C, T> {
    const DEFAULT: Self = Self { mean: [T::ZERO; C], var: [T::ZERO; C], inv_std: [T::ZERO; C], batch_stats: false };
}

/// A batch norm's tensors, borrowed: what the shared functions of
/// [`monograd_core::ops::norm`] read.
struct Params<'a, T, const C: usize> {
    weight: &'a [T; C],
    bias: &'a [T; C],
    running_mean: &'a [T; C],
    running_var: &'a [T; C],
    eps: T,
}

impl<T: Scalar, const C: usize> Params<'_, T, C> {
    /// Inference: `y = γ (x - running_mean) / √(running_var + ε) + β`.
    #[inline]
    fn forward_eval(&self, x: &[T], y: &mut [T], inner: usize) {
        norm::batch_norm_eval(x, y, self.weight, self.bias, self.running_mean, self.running_var, self.eps, inner);
    }

    /// Training: batch statistics into `cache`, then `y`. Returns the number of values
    /// per channel, `m`.
    #[inline]
    fn forward_batch(&self, x: &[T], y: &mut [T], cache: &mut BatchNormCache<C, T>, inner: usize) -> usize {
        cache.batch_stats = true;
        let (w, b, eps) = (self.weight, self.bias, self.eps);
        norm::batch_norm_train(x, y, w, b, eps, inner, &mut cache.mean, &mut cache.var, &mut cache.inv_std)
    }

    /// Backward, through the batch statistics when `cache` holds them, else through the
    /// running ones. Adds into `dx` (when given), `dweight` and `dbias`.
    #[allow(clippy::too_many_arguments)] // the tensors of backward, the gradients, the layout
    #[inline]
    fn backward(
        &self,
        x: &[T],
        cache: &BatchNormCache<C, T>,
        dy: &[T],
        dx: Option<&mut [T]>,
        dweight: &mut [T; C],
        dbias: &mut [T; C],
        inner: usize,
    ) {
        let running_inv_std: [T; C];
        let stats = if cache.batch_stats {
            ChannelStats { mean: &cache.mean, inv_std: &cache.inv_std, from_batch: true }
        } else {
            running_inv_std = core::array::from_fn(|c| (self.running_var[c] + self.eps).sqrt().recip());
            ChannelStats { mean: self.running_mean, inv_std: &running_inv_std, from_batch: false }
        };
        norm::batch_norm_backward(x, dy, self.weight, stats, dx, Some(dweight), Some(dbias), inner);
    }
}

/// `eps` is non-negative (PyTorch allows 0); not NaN.
const fn valid_eps(eps: f64) -> bool {
    eps >= 0.0
}

/// `momentum` is a weight in `[0, 1]`; not NaN.
const fn valid_momentum(m: f64) -> bool {
    m >= 0.0 && m <= 1.0
}

/// Defines a batch-norm struct: fields, constructors and `Module`; the `Layer` impls,
/// which differ in shapes, follow each.
macro_rules! batch_norm {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name<const C: usize, T = f32> {
            /// `γ`, the scale per channel: a parameter, initially 1.
            pub weight: [T; C],
            /// `β`, the shift per channel: a parameter, initially 0.
            pub bias: [T; C],
            /// The running mean per channel: a buffer, initially 0.
            pub running_mean: [T; C],
            /// The running (unbiased) variance per channel: a buffer, initially 1.
            pub running_var: [T; C],
            /// Training passes so far: PyTorch's int64 buffer. Not a tensor of `T`, so
            /// [`Module::visit`](monograd_core::Module::visit) does not pass it;
            /// [`Module::visit_counters`](monograd_core::Module::visit_counters) does, as a
            /// [`CounterKind::Buffer`](monograd_core::module::CounterKind::Buffer), and safetensors files store it as an int64 scalar
            /// (it changes the running average only when `momentum` is `None`).
            pub num_batches_tracked: u64,
            /// The weight of each new batch in the running statistics (PyTorch's default,
            /// `Some(0.1)`), or `None` for a cumulative average over every batch so far.
            pub momentum: Option<f64>,
            /// Added to the variance before the square root (PyTorch's default, `1e-5`).
            pub eps: f64,
        }

        impl<const C: usize, T: Scalar> $name<C, T> {
            /// Every tensor zero (and PyTorch's `momentum` and `eps`): for gradients,
            /// optimizer state and `static` models. Use [`Self::new`] for a fresh layer.
            pub const ZERO: Self = Self {
                weight: [T::ZERO; C],
                bias: [T::ZERO; C],
                running_mean: [T::ZERO; C],
                running_var: [T::ZERO; C],
                num_batches_tracked: 0,
                momentum: Some(0.1),
                eps: 1e-5,
            };

            /// PyTorch's initial state: `weight` 1, `bias` 0, `running_mean` 0,
            /// `running_var` 1, no batch tracked, `momentum` 0.1, `eps` 1e-5.
            pub const fn new() -> Self {
                Self {
                    weight: [T::ONE; C],
                    bias: [T::ZERO; C],
                    running_mean: [T::ZERO; C],
                    running_var: [T::ONE; C],
                    num_batches_tracked: 0,
                    momentum: Some(0.1),
                    eps: 1e-5,
                }
            }

            /// The same layer with `eps`: the builder `network!` calls for
            /// `bn: BatchNorm2d<16>(1e-3)` or `(eps = 1e-3)`.
            ///
            /// # Panics
            /// If `eps` is negative or NaN (at compile time in a constant).
            #[must_use]
            pub const fn eps(mut self, eps: f64) -> Self {
                assert!(valid_eps(eps), "BatchNorm: eps must be non-negative");
                self.eps = eps;
                self
            }

            /// The same layer with the running statistics updated by `momentum`, the
            /// weight of each new batch: the builder `network!` calls for
            /// `bn: BatchNorm2d<16>(1e-5, 0.01)` or `(momentum = 0.01)`.
            ///
            /// # Panics
            /// If `momentum` is not in `[0, 1]` (at compile time in a constant).
            #[must_use]
            pub const fn momentum(mut self, momentum: f64) -> Self {
                assert!(valid_momentum(momentum), "BatchNorm: momentum must be in [0, 1]");
                self.momentum = Some(momentum);
                self
            }

            /// The same layer with running statistics that average every batch so far
            /// equally (PyTorch's `momentum=None`): `network!` calls it for
            /// `bn: BatchNorm1d<8>(cumulative = true)`.
            #[must_use]
            pub const fn cumulative(mut self, cumulative: bool) -> Self {
                self.momentum = if cumulative { None } else { Some(0.1) };
                self
            }

            /// The number of training passes so far (PyTorch's `num_batches_tracked`).
            pub fn num_batches_tracked(&self) -> u64 {
                self.num_batches_tracked
            }

            /// The same layer over another scalar, every tensor mapped by `f`.
            pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> $name<C, U> {
                $name {
                    weight: self.weight.map(&f),
                    bias: self.bias.map(&f),
                    running_mean: self.running_mean.map(&f),
                    running_var: self.running_var.map(&f),
                    num_batches_tracked: self.num_batches_tracked,
                    momentum: self.momentum,
                    eps: self.eps,
                }
            }

            fn params(&self) -> Params<'_, T, C> {
                Params {
                    weight: &self.weight,
                    bias: &self.bias,
                    running_mean: &self.running_mean,
                    running_var: &self.running_var,
                    eps: T::from_f64(self.eps),
                }
            }

            /// A training pass: batch statistics, then the running update.
            fn train(&mut self, x: &[T], y: &mut [T], cache: &mut BatchNormCache<C, T>, inner: usize) {
                let m = self.params().forward_batch(x, y, cache, inner);
                if m == 0 {
                    return;
                }
                self.num_batches_tracked = self.num_batches_tracked.wrapping_add(1);
                let f = match self.momentum {
                    Some(f) => f,
                    None => 1.0 / self.num_batches_tracked as f64,
                };
                let (f, keep) = (T::from_f64(f), T::from_f64(1.0 - f));
                // The running variance is the unbiased one, m / (m - 1) times the batch's;
                // with one value per channel it is undefined, and left as it is.
                let unbias = (m > 1).then(|| T::from_f64(m as f64 / (m - 1) as f64));
                for c in 0..C {
                    self.running_mean[c] = f * cache.mean[c] + keep * self.running_mean[c];
                    if let Some(u) = unbias {
                        self.running_var[c] = f * (cache.var[c] * u) + keep * self.running_var[c];
                    }
                }
            }
        }

        impl<const C: usize, T: Scalar> Default for $name<C, T> {
            /// Every tensor zero, as [`Self::ZERO`]: the gradient and optimizer-state shape.
            fn default() -> Self {
                Self::ZERO
            }
        }

        super::layer_tensors!(
            [const C: usize] $name<C>, base = $name::ZERO,
            // PyTorch's `reset_parameters`: the state of `new`, whatever the generator.
            init = |bn, _| *bn = $name { momentum: bn.momentum, eps: bn.eps, ..$name::new() };
            params: weight: [C], bias: [C];
            buffers: running_mean: [C], running_var: [C];
            counters: num_batches_tracked;
            // An unset momentum (a cumulative average) is handed out as NaN.
            config: eps if valid_eps, momentum if |m| m.is_nan() || valid_momentum(m)
        );
    };
}

/// Implements `Layer` and `OutputShape` for a batch norm over one shape, whose values per
/// channel and sample number `$inner`.
macro_rules! batch_norm_layer {
    ($name:ident, $shape:ty, $inner:expr $(, $g:ident)*) => {
        batch_norm_layer!(@impl $name, [$(const $g: usize,)*] $shape, $inner);
    };
    (@impl $name:ident, [$($g:tt)*] $shape:ty, $inner:expr) => {
        impl<const C: usize, T: Scalar, $($g)*> OutputShape<$shape> for $name<C, T> {
            type Output = $shape;
        }

        impl<const C: usize, T: Scalar, $($g)*> Layer<T, $shape, $shape> for $name<C, T> {
            type Cache = BatchNormCache<C, T>;

            /// Inference, with the running statistics.
            #[inline]
            fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
                self.params().forward_eval(x, y, const { $inner });
            }

            /// Training, with the batch statistics; updates the running ones.
            #[inline]
            fn forward_train(&mut self, x: &[T], y: &mut [T], cache: &mut Self::Cache, _: &mut Ctx<'_, T>) {
                self.train(x, y, cache, const { $inner });
            }

            #[inline]
            fn backward(
                &self,
                x: &[T],
                _y: &[T],
                cache: &Self::Cache,
                dy: &[T],
                dx: Option<&mut [T]>,
                grad: &mut Self,
                _: &mut Ctx<'_, T>,
            ) {
                self.params().backward(x, cache, dy, dx, &mut grad.weight, &mut grad.bias, const { $inner });
            }
        }
    };
}

batch_norm! {
    /// Batch normalisation over `C` features or channels, like `torch.nn.BatchNorm1d(C)`:
    /// `[batch, C]` (statistics over the batch) or `[batch, C, L]` (over the batch and the
    /// `L` positions).
    ///
    /// Parameters `weight` and `bias`, buffers `running_mean` and `running_var` (visited
    /// as [`Kind::Buffer`](monograd_core::module::Kind::Buffer)) and the counter `num_batches_tracked`, under PyTorch's names.
    /// [`Layer::forward_train`] normalises with the batch's statistics and updates the
    /// running ones; [`Layer::forward`] uses the running ones.
    ///
    /// ```
    /// use monograd_nn::BatchNorm1d;
    /// use monograd_core::{Ctx, Layer, Rank1};
    ///
    /// let mut bn = BatchNorm1d::<2, f64>::new();
    /// let x = [1.0, 2.0, 3.0, 6.0]; // two samples of two features
    /// let mut y = [0.0; 4];
    /// let mut cache = Default::default();
    /// Layer::<f64, Rank1<2>, Rank1<2>>::forward_train(&mut bn, &x, &mut y, &mut cache, &mut Ctx::new(&mut []));
    /// // Each feature normalised over the batch: means 2 and 4, variances 1 and 4.
    /// let s = 1.0 / (1.0f64 + 1e-5).sqrt();
    /// assert!((y[0] + s).abs() < 1e-12 && (y[2] - s).abs() < 1e-12);
    /// // The running statistics moved by momentum 0.1 (unbiased variances 2 and 8).
    /// assert!((bn.running_mean[0] - 0.2).abs() < 1e-15 && (bn.running_var[1] - 1.7).abs() < 1e-15);
    /// assert_eq!(bn.num_batches_tracked(), 1);
    /// ```
    BatchNorm1d
}

batch_norm_layer!(BatchNorm1d, Rank1<C>, 1);
batch_norm_layer!(BatchNorm1d, Rank2<C, L>, L, L);

batch_norm! {
    /// Batch normalisation over the `C` channels of images, like `torch.nn.BatchNorm2d(C)`:
    /// statistics per channel over the batch and the `H × W` positions.
    ///
    /// Parameters `weight` and `bias`, buffers `running_mean` and `running_var` (visited
    /// as [`Kind::Buffer`](monograd_core::module::Kind::Buffer)) and the counter `num_batches_tracked`, under PyTorch's names.
    /// [`Layer::forward_train`] normalises with the batch's statistics and updates the
    /// running ones; [`Layer::forward`] uses the running ones.
    ///
    /// ```
    /// use monograd_nn::BatchNorm2d;
    /// use monograd_core::{Ctx, Layer, Rank3};
    ///
    /// // A fresh layer in inference is the identity (up to eps).
    /// let bn = BatchNorm2d::<3, f32>::new();
    /// let x = [0.5f32; 3 * 2 * 2];
    /// let mut y = [0.0f32; 12];
    /// Layer::<f32, Rank3<3, 2, 2>, Rank3<3, 2, 2>>::forward(&bn, &x, &mut y, &mut Ctx::new(&mut []));
    /// assert!(y.iter().all(|v| (v - 0.5).abs() < 1e-5));
    ///
    /// // Settings by builder, in a constant too (`network!` writes
    /// // `bn: BatchNorm2d<3>(eps = 1e-3, momentum = 0.01)`).
    /// const BN: BatchNorm2d<3> = BatchNorm2d::new().eps(1e-3).momentum(0.01);
    /// assert_eq!((BN.eps, BN.momentum), (1e-3, Some(0.01)));
    /// assert_eq!(BatchNorm2d::<3>::new().cumulative(true).momentum, None);
    /// ```
    BatchNorm2d
}

batch_norm_layer!(BatchNorm2d, Rank3<C, H, W>, H * W, H, W);
// Over images whose size is computed from a network's generic parameter
// (`shape::computed`): the plane size read from the type, the channels checked.
batch_norm_layer!(
    @impl BatchNorm2d,
    [I: Shape, const K: usize, const S: usize, const P: usize, const D: usize]
    ConvOut<I, C, K, S, P, D>,
    plane_of::<ConvOut<I, C, K, S, P, D>>(C)
);
batch_norm_layer!(
    @impl BatchNorm2d,
    [I: Shape, const K: usize, const S: usize]
    PoolOut<I, K, S>,
    plane_of::<PoolOut<I, K, S>>(C)
);

/// The values per channel of images `S` of `c` channels, checked at compile time.
const fn plane_of<S: Shape>(c: usize) -> usize {
    let d = S::DIMS;
    if d.len() != 3 || d[0] != c {
        panic!("BatchNorm2d: the samples must be images [C, H, W] of the layer's C channels");
    }
    d[1] * d[2]
}

/// Layer normalisation over the last dimension, like `torch.nn.LayerNorm(N)`: each row of
/// `N` values gets zero mean and unit (biased) variance, then `weight` and `bias`
/// (elementwise, `[N]`).
///
/// The statistics are those of the row itself, in training and inference alike; backward
/// recomputes them from the input, so the layer keeps no cache.
///
/// ```
/// use monograd_nn::LayerNorm;
/// use monograd_core::{Ctx, Layer, Rank2};
///
/// let ln = LayerNorm::<2, f64>::new();
/// // Two rows of two: each becomes (-1, 1) up to eps.
/// let x = [1.0, 3.0, -5.0, 5.0];
/// let mut y = [0.0; 4];
/// Layer::<f64, Rank2<2, 2>, Rank2<2, 2>>::forward(&ln, &x, &mut y, &mut Ctx::new(&mut []));
/// assert!((y[0] + 1.0).abs() < 1e-5 && (y[3] - 1.0).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm<const N: usize, T = f32> {
    /// `γ`, the scale per feature: a parameter, initially 1.
    pub weight: [T; N],
    /// `β`, the shift per feature: a parameter, initially 0.
    pub bias: [T; N],
    /// Added to the variance before the square root (PyTorch's default, `1e-5`).
    pub eps: f64,
}

impl<const N: usize, T: Scalar> LayerNorm<N, T> {
    /// Every tensor zero (and PyTorch's `eps`): for gradients and optimizer state. Use
    /// [`LayerNorm::new`] for a fresh layer.
    pub const ZERO: Self = Self { weight: [T::ZERO; N], bias: [T::ZERO; N], eps: 1e-5 };

    /// PyTorch's initial state: `weight` 1, `bias` 0, `eps` 1e-5.
    pub const fn new() -> Self {
        Self { weight: [T::ONE; N], bias: [T::ZERO; N], eps: 1e-5 }
    }

    /// The same layer with `eps`: the builder `network!` calls for
    /// `ln: LayerNorm<64>(1e-6)` or `(eps = 1e-6)`.
    ///
    /// ```
    /// use monograd_nn::LayerNorm;
    /// const LN: LayerNorm<4> = LayerNorm::new().eps(1e-6);
    /// assert_eq!(LN.eps, 1e-6);
    /// ```
    ///
    /// # Panics
    /// If `eps` is negative or NaN (at compile time in a constant).
    #[must_use]
    pub const fn eps(mut self, eps: f64) -> Self {
        assert!(valid_eps(eps), "LayerNorm: eps must be non-negative");
        self.eps = eps;
        self
    }

    /// The same layer over another scalar, every tensor mapped by `f`.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> LayerNorm<N, U> {
        LayerNorm { weight: self.weight.map(&f), bias: self.bias.map(&f), eps: self.eps }
    }

    #[inline]
    fn forward_rows(&self, x: &[T], y: &mut [T]) {
        norm::layer_norm(x, y, &self.weight, &self.bias, T::from_f64(self.eps));
    }

    #[inline]
    fn backward_rows(&self, x: &[T], dy: &[T], dx: Option<&mut [T]>, grad: &mut Self) {
        let (dw, db) = (Some(&mut grad.weight[..]), Some(&mut grad.bias[..]));
        norm::layer_norm_backward(x, dy, &self.weight, T::from_f64(self.eps), dx, dw, db);
    }
}

impl<const N: usize, T: Scalar> Default for LayerNorm<N, T> {
    /// Every tensor zero, as [`LayerNorm::ZERO`]: the gradient and optimizer-state shape.
    fn default() -> Self {
        Self::ZERO
    }
}

super::layer_tensors!(
    [const N: usize] LayerNorm<N>, base = LayerNorm::ZERO,
    // PyTorch's `reset_parameters`: `weight` 1, `bias` 0, whatever the generator.
    init = |norm, _| *norm = LayerNorm { eps: norm.eps, ..LayerNorm::new() };
    params: weight: [N], bias: [N];
    buffers: ;
    counters: ;
    config: eps if valid_eps
);

/// Implements `Layer` and `OutputShape` for a layer norm over one shape whose last
/// dimension is `N`.
macro_rules! layer_norm_layer {
    ($shape:ty $(, $g:ident)*) => {
        impl<const N: usize, T: Scalar $(, const $g: usize)*> OutputShape<$shape> for LayerNorm<N, T> {
            type Output = $shape;
        }

        impl<const N: usize, T: Scalar $(, const $g: usize)*> Layer<T, $shape, $shape> for LayerNorm<N, T> {
            type Cache = ();

            #[inline]
            fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
                self.forward_rows(x, y);
            }

            #[inline]
            fn backward(
                &self,
                x: &[T],
                _y: &[T],
                _: &(),
                dy: &[T],
                dx: Option<&mut [T]>,
                grad: &mut Self,
                _: &mut Ctx<'_, T>,
            ) {
                self.backward_rows(x, dy, dx, grad);
            }
        }
    };
}

layer_norm_layer!(Rank1<N>);
layer_norm_layer!(Rank2<R, N>, R);
layer_norm_layer!(Rank3<A, B, N>, A, B);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::module::{Kind, Path};
    use monograd_core::{Module, Rng};

    fn ctx() -> Ctx<'static, f64> {
        Ctx::new(&mut [])
    }

    /// Every setting as `(name, value)`, through `visit_config`.
    fn settings<M: Module<f64>>(m: &M) -> alloc::vec::Vec<(alloc::string::String, f64)> {
        use alloc::string::ToString;
        let mut out = alloc::vec::Vec::new();
        m.visit_config(&Path::ROOT, &mut |s| out.push((s.path.to_string(), *s.value)));
        out
    }

    #[test]
    fn settings_are_visited_by_name_and_checked_when_set() {
        let mut bn = BatchNorm1d::<2, f64>::new().eps(1e-3).momentum(0.2);
        assert_eq!(settings(&bn), [("eps".into(), 1e-3), ("momentum".into(), 0.2)]);
        // Out of range: left as it was. NaN for the momentum: a cumulative average.
        bn.visit_config_mut(&Path::ROOT, &mut |s| *s.value = if s.path.ends_with("eps") { -1.0 } else { f64::NAN });
        assert_eq!((bn.eps, bn.momentum), (1e-3, None));
        bn.visit_config_mut(&Path::ROOT, &mut |s| *s.value = if s.path.ends_with("eps") { 0.0 } else { 1.5 });
        assert_eq!((bn.eps, bn.momentum), (0.0, None));
        let cumulative = BatchNorm2d::<1, f64>::new().cumulative(true);
        assert!(settings(&cumulative)[1].1.is_nan());
        assert_eq!(BatchNorm2d::<1, f64>::new().cumulative(false).momentum, Some(0.1));

        let mut ln = LayerNorm::<3, f64>::new().eps(1e-6);
        assert_eq!(settings(&ln), [("eps".into(), 1e-6)]);
        ln.visit_config_mut(&Path::ROOT, &mut |s| *s.value = f64::NAN);
        assert_eq!(ln.eps, 1e-6);
        // Init keeps the settings.
        bn.init(&mut Rng::seed(0));
        ln.init(&mut Rng::seed(0));
        assert_eq!((bn.eps, bn.momentum, ln.eps), (0.0, None, 1e-6));
    }

    #[test]
    #[should_panic(expected = "eps must be non-negative")]
    fn a_negative_eps_is_refused() {
        let _ = BatchNorm2d::<1, f64>::new().eps(-1e-5);
    }

    #[test]
    #[should_panic(expected = "momentum must be in [0, 1]")]
    fn a_momentum_above_one_is_refused() {
        let _ = BatchNorm1d::<1, f64>::new().momentum(1.5);
    }

    /// A layer family over a batch norm or layer norm whose tensors the check loads.
    macro_rules! family {
        ($fam:ident, $layer:ident<$($arg:literal),*>, $shape:ty) => {
            struct $fam;
            impl LayerFamily for $fam {
                type In = $shape;
                type Out = $shape;
                type At<T: Scalar> = $layer<$($arg,)* T>;
                const NAME: &'static str = concat!(stringify!($layer), " over ", stringify!($shape));
                fn zero<T: Scalar>() -> $layer<$($arg,)* T> {
                    $layer::ZERO
                }
            }
        };
    }

    family!(Bn1, BatchNorm1d<3>, Rank1<3>);
    family!(Bn1Seq, BatchNorm1d<2>, Rank2<2, 3>);
    family!(Bn2, BatchNorm2d<2>, Rank3<2, 2, 3>);
    family!(Bn2Computed, BatchNorm2d<2>, PoolOut<ConvOut<Rank3<1, 6, 7>, 2, 3, 1, 0, 1>, 2, 1>);
    family!(Ln1, LayerNorm<5>, Rank1<5>);
    family!(Ln2, LayerNorm<4>, Rank2<3, 4>);
    family!(Ln3, LayerNorm<3>, Rank3<2, 2, 3>);

    #[test]
    fn batch_norms_pass_the_gradient_check_in_training_mode() {
        // The input, weight and bias are differentiated through the batch statistics; the
        // running statistics (buffers, also in the checked vector) do not reach the output.
        let c1 = LayerCase::<Bn1, 4>::new();
        gradcheck::check(&c1, &gradcheck::inputs(21, c1.input_len(), -1.0, 1.0, &[]), 1).unwrap();
        let c2 = LayerCase::<Bn1Seq, 3>::new();
        gradcheck::check(&c2, &gradcheck::inputs(22, c2.input_len(), -1.0, 1.0, &[]), 2).unwrap();
        let c3 = LayerCase::<Bn2, 3>::new();
        gradcheck::check(&c3, &gradcheck::inputs(23, c3.input_len(), -1.0, 1.0, &[]), 3).unwrap();
        // Over a shape computed from a generic parameter ([2, 3, 4]).
        let c4 = LayerCase::<Bn2Computed, 2>::new();
        gradcheck::check(&c4, &gradcheck::inputs(24, c4.input_len(), -1.0, 1.0, &[]), 4).unwrap();
    }

    #[test]
    fn layer_norms_pass_the_gradient_check() {
        let c1 = LayerCase::<Ln1, 3>::new();
        gradcheck::check(&c1, &gradcheck::inputs(31, c1.input_len(), -1.0, 1.0, &[]), 1).unwrap();
        let c2 = LayerCase::<Ln2, 2>::new();
        gradcheck::check(&c2, &gradcheck::inputs(32, c2.input_len(), -1.0, 1.0, &[]), 2).unwrap();
        let c3 = LayerCase::<Ln3, 2>::new();
        gradcheck::check(&c3, &gradcheck::inputs(33, c3.input_len(), -1.0, 1.0, &[]), 3).unwrap();
    }

    /// Batch norm in inference, differentiated: input, weight and bias, with fixed running
    /// statistics. Backward gets a default cache, as after an inference pass.
    struct EvalCase;
    impl EvalCase {
        const B: usize = 3;
        fn layer<T: Scalar>(p: &[T]) -> BatchNorm2d<2, T> {
            let mut bn = BatchNorm2d::<2, T>::new();
            bn.weight.copy_from_slice(&p[..2]);
            bn.bias.copy_from_slice(&p[2..]);
            bn.running_mean = [T::from_f64(0.3), T::from_f64(-0.2)];
            bn.running_var = [T::from_f64(0.5), T::from_f64(2.0)];
            bn
        }
    }
    impl GradCase for EvalCase {
        fn name(&self) -> &str {
            "BatchNorm2d in inference"
        }
        fn input_len(&self) -> usize {
            Self::B * 8 + 4
        }
        fn output_len(&self) -> usize {
            Self::B * 8
        }
        fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
            let (x, p) = v.split_at(Self::B * 8);
            Layer::<T, Rank3<2, 2, 2>, Rank3<2, 2, 2>>::forward(&Self::layer(p), x, y, &mut Ctx::new(&mut []));
        }
        fn backward(&self, v: &[f64], y: &[f64], dy: &[f64], dv: &mut [f64]) {
            let (x, p) = v.split_at(Self::B * 8);
            let (dx, dp) = dv.split_at_mut(Self::B * 8);
            let bn = Self::layer(p);
            let mut grad = BatchNorm2d::ZERO;
            let cache = BatchNormCache::default();
            Layer::<f64, Rank3<2, 2, 2>, Rank3<2, 2, 2>>::backward(
                &bn,
                x,
                y,
                &cache,
                dy,
                Some(dx),
                &mut grad,
                &mut ctx(),
            );
            for (d, g) in dp.iter_mut().zip(grad.weight.iter().chain(&grad.bias)) {
                *d += g;
            }
        }
    }

    #[test]
    fn batch_norm_in_inference_passes_the_gradient_check() {
        gradcheck::check(&EvalCase, &gradcheck::inputs(41, EvalCase.input_len(), -1.0, 1.0, &[]), 4).unwrap();
    }

    #[test]
    fn batch_norm_literal_values_and_running_statistics() {
        // torch.nn.BatchNorm1d(2) in training on [[1, 2], [3, 6]], then on [[0, 0], [2, 4]]:
        // batch means (2, 4), then (1, 2); biased variances (1, 4), then (1, 4);
        // unbiased (2, 8) both times.
        let mut bn = BatchNorm1d::<2, f64>::new();
        bn.weight = [2.0, 0.5];
        bn.bias = [1.0, -1.0];
        let mut y = [0.0; 4];
        let mut cache = BatchNormCache::default();
        Layer::<f64, Rank1<2>, Rank1<2>>::forward_train(&mut bn, &[1.0, 2.0, 3.0, 6.0], &mut y, &mut cache, &mut ctx());
        let (s0, s1) = (1.0 / (1.0f64 + 1e-5).sqrt(), 2.0 / (4.0f64 + 1e-5).sqrt());
        let want = [1.0 - 2.0 * s0, -1.0 - 0.5 * s1, 1.0 + 2.0 * s0, -1.0 + 0.5 * s1];
        for (g, w) in y.iter().zip(&want) {
            assert!((g - w).abs() < 1e-15, "{y:?} vs {want:?}");
        }
        assert_eq!((cache.mean, cache.var, cache.batch_stats), ([2.0, 4.0], [1.0, 4.0], true));
        assert_eq!(bn.running_mean, [0.1 * 2.0, 0.1 * 4.0]);
        assert_eq!(bn.running_var, [0.1 * 2.0 + 0.9, 0.1 * 8.0 + 0.9]);
        assert_eq!(bn.num_batches_tracked(), 1);
        Layer::<f64, Rank1<2>, Rank1<2>>::forward_train(&mut bn, &[0.0, 0.0, 2.0, 4.0], &mut y, &mut cache, &mut ctx());
        assert_eq!(bn.running_mean, [0.1 * 1.0 + 0.9 * 0.2, 0.1 * 2.0 + 0.9 * 0.4]);
        assert_eq!(bn.running_var, [0.1 * 2.0 + 0.9 * 1.1, 0.1 * 8.0 + 0.9 * 1.7]);
        assert_eq!(bn.num_batches_tracked, 2);

        // Inference: the running statistics, not the batch's.
        let mut e = [0.0; 2];
        Layer::<f64, Rank1<2>, Rank1<2>>::forward(&bn, &[1.0, 1.0], &mut e, &mut ctx());
        let (rm, rv) = (bn.running_mean, bn.running_var);
        assert_eq!(e[0], (1.0 - rm[0]) * (2.0 * (rv[0] + 1e-5).sqrt().recip()) + 1.0);
        assert_eq!(e[1], (1.0 - rm[1]) * (0.5 * (rv[1] + 1e-5).sqrt().recip()) - 1.0);
    }

    #[test]
    fn momentum_none_is_a_cumulative_average() {
        let mut bn = BatchNorm1d::<1, f64>::new();
        bn.momentum = None;
        let mut y = [0.0; 2];
        let mut cache = BatchNormCache::default();
        for x in [[1.0, 3.0], [5.0, 7.0], [0.0, 6.0]] {
            Layer::<f64, Rank1<1>, Rank1<1>>::forward_train(&mut bn, &x, &mut y, &mut cache, &mut ctx());
        }
        // Means 2, 6, 3; unbiased variances 2, 2, 18: their plain averages.
        assert!((bn.running_mean[0] - 11.0 / 3.0).abs() < 1e-15);
        assert!((bn.running_var[0] - 22.0 / 3.0).abs() < 1e-14);
        assert_eq!(bn.num_batches_tracked, 3);
    }

    #[test]
    fn batch_norm_2d_takes_statistics_over_batch_and_positions() {
        // Two samples of two channels of 1 × 2: channel 0 holds 0, 1, 2, 3; channel 1 holds
        // 10, 10, 30, 30.
        let x = [0.0, 1.0, 10.0, 10.0, 2.0, 3.0, 30.0, 30.0];
        let mut bn = BatchNorm2d::<2, f64>::new();
        let mut y = [0.0; 8];
        let mut cache = BatchNormCache::default();
        Layer::<f64, Rank3<2, 1, 2>, Rank3<2, 1, 2>>::forward_train(&mut bn, &x, &mut y, &mut cache, &mut ctx());
        assert_eq!((cache.mean, cache.var), ([1.5, 20.0], [1.25, 100.0]));
        // Unbiased over m = 4 values: times 4 / 3.
        assert_eq!(bn.running_var, [0.1 * (1.25 * (4.0 / 3.0)) + 0.9, 0.1 * (100.0 * (4.0 / 3.0)) + 0.9]);
        let s = (100.0f64 + 1e-5).sqrt().recip();
        assert_eq!([y[2], y[3], y[6], y[7]], [-10.0 * s, -10.0 * s, 10.0 * s, 10.0 * s]);
        // The same through BatchNorm1d over Rank2<C, L>, with L = H W.
        let mut bn1 = BatchNorm1d::<2, f64>::new();
        let mut y1 = [0.0; 8];
        Layer::<f64, Rank2<2, 2>, Rank2<2, 2>>::forward_train(&mut bn1, &x, &mut y1, &mut cache, &mut ctx());
        assert_eq!((y1, bn1.running_mean, bn1.running_var), (y, bn.running_mean, bn.running_var));
    }

    #[test]
    fn one_value_per_channel_leaves_the_running_variance() {
        // PyTorch refuses this batch; here the normalised output is the bias and the
        // undefined unbiased variance is not folded in.
        let mut bn = BatchNorm1d::<2, f64>::new();
        bn.bias = [0.5, -0.5];
        let mut y = [0.0; 2];
        Layer::<f64, Rank1<2>, Rank1<2>>::forward_train(
            &mut bn,
            &[3.0, 4.0],
            &mut y,
            &mut Default::default(),
            &mut ctx(),
        );
        assert_eq!(y, [0.5, -0.5]);
        assert_eq!((bn.running_mean, bn.running_var), ([0.1 * 3.0, 0.1 * 4.0], [1.0, 1.0]));
        // An empty batch changes nothing.
        Layer::<f64, Rank1<2>, Rank1<2>>::forward_train(&mut bn, &[], &mut [], &mut Default::default(), &mut ctx());
        assert_eq!(bn.num_batches_tracked, 1);
    }

    #[test]
    fn names_kinds_and_shapes_follow_pytorch() {
        use core::fmt::Write;
        let bn = BatchNorm2d::<4, f32>::new();
        let mut seen = [(Kind::Param, 0usize, 0usize); 4];
        let mut names = [[0u8; 24]; 4];
        let mut i = 0;
        bn.visit(&Path::ROOT.field("bn"), &mut |t| {
            let mut buf = Buf(&mut names[i], 0);
            write!(buf, "{}", t.path).unwrap();
            seen[i] = (t.kind, t.shape[0], t.values.len());
            i += 1;
        });
        let name = |n: &[u8; 24]| n.iter().position(|&b| b == 0).map_or(&n[..], |e| &n[..e]).to_vec();
        assert_eq!(name(&names[0]), b"bn.weight");
        assert_eq!(name(&names[1]), b"bn.bias");
        assert_eq!(name(&names[2]), b"bn.running_mean");
        assert_eq!(name(&names[3]), b"bn.running_var");
        assert_eq!(seen, [(Kind::Param, 4, 4), (Kind::Param, 4, 4), (Kind::Buffer, 4, 4), (Kind::Buffer, 4, 4)]);
        assert_eq!(<BatchNorm2d<4> as Module<f32>>::PARAMS, 8);
        assert_eq!(<LayerNorm<6> as Module<f32>>::PARAMS, 12);

        // Optimizers see only the parameters, at consecutive offsets.
        let mut m = BatchNorm1d::<3, f32>::new();
        let (mut offsets, mut n, mut offset) = ([0usize; 2], 0, 0);
        m.visit_update(&BatchNorm1d::ZERO, &Path::ROOT, &mut offset, &mut |u| {
            offsets[n] = u.offset;
            n += 1;
        });
        assert_eq!((offsets, n, offset), ([0, 3], 2, 6));
    }

    /// A fixed-size `fmt::Write` sink, so the test runs without `alloc`.
    struct Buf<'a>(&'a mut [u8], usize);
    impl core::fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.1 + s.len();
            self.0.get_mut(self.1..end).ok_or(core::fmt::Error)?.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }

    #[test]
    fn init_resets_to_pytorch_state_and_keeps_the_configuration() {
        let mut bn = BatchNorm1d::<2, f32>::ZERO;
        bn.num_batches_tracked = 9;
        bn.momentum = None;
        bn.eps = 1e-3;
        Module::<f32>::init(&mut bn, &mut Rng::seed(0));
        assert_eq!((bn.weight, bn.bias, bn.running_mean, bn.running_var), ([1.0; 2], [0.0; 2], [0.0; 2], [1.0; 2]));
        assert_eq!((bn.num_batches_tracked, bn.momentum, bn.eps), (0, None, 1e-3));
        let mut ln = LayerNorm::<3, f32>::ZERO;
        Module::<f32>::init(&mut ln, &mut Rng::seed(0));
        assert_eq!(ln, LayerNorm::new());
        // Initialisation draws nothing: the generator is where it was.
        let mut r = Rng::seed(1);
        Module::<f32>::init(&mut bn, &mut r);
        assert_eq!(r, Rng::seed(1));
    }

    #[test]
    fn layer_norm_literal_values() {
        // torch.nn.LayerNorm(3) with weight (1, 2, 3), bias (0, 1, 0) on (1, 2, 4):
        // mean 7/3, biased variance 14/9.
        let mut ln = LayerNorm::<3, f64>::new();
        ln.weight = [1.0, 2.0, 3.0];
        ln.bias = [0.0, 1.0, 0.0];
        let mut y = [0.0; 3];
        Layer::<f64, Rank1<3>, Rank1<3>>::forward(&ln, &[1.0, 2.0, 4.0], &mut y, &mut ctx());
        let s = 1.0 / (14.0f64 / 9.0 + 1e-5).sqrt();
        let want = [(1.0 - 7.0 / 3.0) * s, (2.0 - 7.0 / 3.0) * s * 2.0 + 1.0, (4.0 - 7.0 / 3.0) * s * 3.0];
        for (g, w) in y.iter().zip(&want) {
            assert!((g - w).abs() < 1e-14, "{y:?} vs {want:?}");
        }
        // Each row of a larger sample on its own; training and inference agree.
        let x = [1.0, 2.0, 4.0, -3.0, 0.0, 3.0];
        let mut rows = [0.0; 6];
        let mut ln2 = ln.clone();
        Layer::<f64, Rank2<2, 3>, Rank2<2, 3>>::forward_train(&mut ln2, &x, &mut rows, &mut (), &mut ctx());
        assert_eq!(rows[..3], y);
        assert_eq!(ln2, ln);
    }

    #[test]
    fn layers_run_on_dual_numbers() {
        use monograd_core::Dual;
        type D = Dual<f64, 1>;
        // d/dx₀ of the first output of a batch norm in training, by forward mode, against
        // backward with dy = e₀.
        let x = [0.3, -1.2, 0.7, 2.0];
        let mut bn = BatchNorm1d::<1, D>::new();
        let xd: [D; 4] = core::array::from_fn(|i| if i == 0 { D::variable(x[i], 0) } else { D::constant(x[i]) });
        let mut yd = [D::constant(0.0); 4];
        Layer::<D, Rank1<1>, Rank1<1>>::forward_train(
            &mut bn,
            &xd,
            &mut yd,
            &mut Default::default(),
            &mut Ctx::new(&mut []),
        );
        let mut b = BatchNorm1d::<1, f64>::new();
        let (mut y, mut dx, mut cache) = ([0.0; 4], [0.0; 4], BatchNormCache::default());
        Layer::<f64, Rank1<1>, Rank1<1>>::forward_train(&mut b, &x, &mut y, &mut cache, &mut ctx());
        let mut g = BatchNorm1d::ZERO;
        Layer::<f64, Rank1<1>, Rank1<1>>::backward(
            &b,
            &x,
            &y,
            &cache,
            &[1.0, 0.0, 0.0, 0.0],
            Some(&mut dx),
            &mut g,
            &mut ctx(),
        );
        assert!((yd[0].eps[0] - dx[0]).abs() < 1e-12);
        assert_eq!(bn.map(|v| v.re).running_mean, b.running_mean);
    }
}
