//! The two traits every layer and network implements.
//!
//! - [`Module`]: owns parameters, visits them with stable dotted names
//!   (`encoder.fc1.weight`), and is its own gradient type: the gradient of a model is a
//!   value of the same struct, so optimizers walk parameters, gradients and their own
//!   state (momentum, Adam moments: more values of the same struct) in lockstep, with
//!   no allocation and no `dyn`.
//! - [`Layer<T, In, Out>`]: a differentiable map from a batch of `In` samples to a batch
//!   of `Out` samples: `forward` for inference, `forward_train` which also fills the
//!   layer's [`Layer::Cache`], and `backward`, which reads the input, the output, the cache
//!   and the output gradient, accumulates parameter gradients and writes the input
//!   gradient. Forward and backward of one layer sit side by side in one file.
//!
//! Both shapes are trait parameters rather than an associated output type because
//! convolutions, pooling, flattening and concatenation compute their output size, which
//! stable Rust cannot express on const generics; the `network!` macro computes it from the
//! literals and names it, and a layer whose output follows from its input by type alone
//! also implements [`OutputShape`] so that user-defined layers need no macro support.
//!
//! Buffers hold whole batches flat and row-major; the batch length is
//! `x.len() / In::NUMEL`. Callers (the generated network code, the eager tape) size the
//! buffers; layers may assume consistent lengths and check them with `debug_assert!`.

use core::fmt;

use crate::ops::unary::{self, UnaryFn};
use crate::{Scalar, Shape};

/// A place in a module tree, built on the stack as traversal descends.
///
/// It prints as PyTorch's `state_dict` keys do: `blocks.2.conv.weight`.
///
/// ```
/// use monograd_core::module::Path;
/// let root = Path::ROOT;
/// let blocks = root.field("blocks");
/// let second = blocks.index(2);
/// let w = second.field("weight");
/// assert_eq!(w.to_string(), "blocks.2.weight");
/// assert!(w.ends_with("weight"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Seg<'a> {
    Root,
    Field(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// The root: prints as the empty string.
    pub const ROOT: Path<'static> = Path { parent: None, seg: Seg::Root };

    /// The child field `name` of this path.
    pub fn field(&'a self, name: &'a str) -> Path<'a> {
        Path { parent: Some(self), seg: Seg::Field(name) }
    }

    /// The `i`-th element of an array field at this path.
    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path { parent: Some(self), seg: Seg::Index(i) }
    }

    /// Whether the last segment is the field `name`.
    pub fn ends_with(&self, name: &str) -> bool {
        matches!(self.seg, Seg::Field(f) if f == name)
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        matches!(self.seg, Seg::Root)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = match self.parent {
            Some(p) if !p.is_root() => {
                fmt::Display::fmt(p, f)?;
                "."
            }
            _ => "",
        };
        match self.seg {
            Seg::Root => Ok(()),
            Seg::Field(n) => write!(f, "{sep}{n}"),
            Seg::Index(i) => write!(f, "{sep}{i}"),
        }
    }
}

/// What a visited tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A trainable parameter: it has a gradient and optimizers update it.
    Param,
    /// A parameter that is saved and loaded but not trained (`#[module(freeze)]`).
    Frozen,
    /// Saved state that is not a parameter, such as BatchNorm's running statistics.
    Buffer,
}

/// A tensor met while visiting a module: its name, kind, PyTorch-layout shape and values.
#[derive(Debug)]
pub struct Tensor<'a, V> {
    /// The dotted name.
    pub path: &'a Path<'a>,
    /// Parameter, frozen parameter or buffer.
    pub kind: Kind,
    /// Dimensions in PyTorch's layout (`Linear.weight` is `[out, in]`).
    pub shape: &'static [usize],
    /// The values, flat and row-major.
    pub values: V,
}

/// What a visited counter is: which saved form it belongs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterKind {
    /// Part of the model as PyTorch's `state_dict` has it, saved with the weights as an
    /// int64 scalar: BatchNorm's `num_batches_tracked`.
    Buffer,
    /// State of a training run that PyTorch keeps outside the model, such as Dropout's
    /// seed and step (PyTorch draws masks from a global generator): not saved with the
    /// weights, only in a checkpoint that resumes the run.
    Run,
}

/// An integer a module keeps beside its tensors (a count, a seed), met while visiting its
/// counters with [`Module::visit_counters`].
#[derive(Debug)]
pub struct Counter<'a, V> {
    /// The dotted name (`bn.num_batches_tracked`).
    pub path: &'a Path<'a>,
    /// Saved with the weights, or only in checkpoints.
    pub kind: CounterKind,
    /// The value: `&u64` or `&mut u64`.
    pub value: V,
}

/// A setting of a module: a number that configures it rather than being learned or
/// counted (Dropout's `p`, LeakyReLU's `negative_slope`, a norm's `eps` and `momentum`), met
/// while visiting its configuration with [`Module::visit_config`].
///
/// Settings are plain `f64`s whatever the module's scalar, so that [`convert`] carries them
/// from a network over one scalar to its twin over another. An optional setting that is
/// unset (BatchNorm's `momentum` for a cumulative average) is handed out as NaN.
#[derive(Debug)]
pub struct Setting<'a, V> {
    /// The dotted name (`drop.p`, `bn.eps`).
    pub path: &'a Path<'a>,
    /// The value: `&f64` or `&mut f64`.
    pub value: V,
}

/// One trainable tensor with its gradient, as optimizers see it.
///
/// Optimizers keep their state (momentum, moments) in one flat slice of
/// `K * M::PARAMS` values, indexed by `offset`: a `static` array on a device without a heap.
#[derive(Debug)]
pub struct ParamUpdate<'a, T> {
    /// The dotted name.
    pub path: &'a Path<'a>,
    /// Where this tensor starts in the module's traversal order (the sum of the lengths of
    /// the trainable and frozen tensors visited before it).
    pub offset: usize,
    /// The parameter values to update.
    pub value: &'a mut [T],
    /// Its accumulated gradient.
    pub grad: &'a [T],
}

/// A struct of parameters (a layer, a block, a network) that can be visited by name.
///
/// A module is its own gradient type: `backward` accumulates into a `&mut Self` that holds
/// gradients. Implemented by hand for built-in layers and by `#[derive(Module)]` for
/// everything else.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a module of `{T}` values",
    label = "not a module of `{T}`",
    note = "a network nested in another follows the outer network's scalar when written with it, `Block<T>`: \
            `Block` alone is `Block<f32>`"
)]
pub trait Module<T: Scalar>: Clone {
    /// Number of scalar parameters (trainable and frozen; not buffers).
    const PARAMS: usize;

    /// Visits every tensor read-only, depth first, in declaration order.
    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, path: &Path<'_>, f: &mut F);

    /// Visits every tensor mutably, in the same order as [`Module::visit`].
    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, path: &Path<'_>, f: &mut F);

    /// Visits each trainable tensor with its gradient (the same tensor in `grad`), in
    /// the order of [`Module::visit`]. Frozen parameters and buffers are skipped, but
    /// frozen ones still count towards [`ParamUpdate::offset`].
    ///
    /// `offset` is the running position: start it at 0 and the implementation advances it
    /// by the length of every parameter it passes.
    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(
        &mut self,
        grad: &Self,
        path: &Path<'_>,
        offset: &mut usize,
        f: &mut F,
    );

    /// Visits every integer the module keeps beside its tensors (BatchNorm's
    /// `num_batches_tracked`, Dropout's seed and step), depth first, in declaration order.
    ///
    /// The default visits nothing: a layer with such state overrides this and
    /// [`Module::visit_counters_mut`], and `#[derive(Module)]` (hence `network!`) forwards
    /// both to every field. Saving and loading read them here, so that a layer's integer
    /// state needs no special case in any file format.
    ///
    /// ```
    /// use monograd_core::module::{CounterKind, Path};
    /// use monograd_core::Module;
    /// # #[derive(Clone)]
    /// # struct Steps(u64);
    /// # impl<T: monograd_core::Scalar> Module<T> for Steps {
    /// #     const PARAMS: usize = 0;
    /// #     fn visit<F: FnMut(monograd_core::module::Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    /// #     fn visit_mut<F: FnMut(monograd_core::module::Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    /// #     fn visit_update<F: FnMut(monograd_core::module::ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
    /// #     fn visit_counters<F: FnMut(monograd_core::module::Counter<'_, &u64>)>(&self, p: &Path<'_>, f: &mut F) {
    /// #         f(monograd_core::module::Counter { path: &p.field("steps"), kind: CounterKind::Run, value: &self.0 })
    /// #     }
    /// # }
    /// // A module that counts its steps reports the count under its name.
    /// let mut seen = Vec::new();
    /// Module::<f32>::visit_counters(&Steps(3), &Path::ROOT, &mut |c| seen.push((c.path.to_string(), *c.value)));
    /// assert_eq!(seen, [("steps".to_string(), 3)]);
    /// ```
    fn visit_counters<F: FnMut(Counter<'_, &u64>)>(&self, path: &Path<'_>, f: &mut F) {
        let _ = (path, f);
    }

    /// Visits every counter mutably, in the order of [`Module::visit_counters`].
    fn visit_counters_mut<F: FnMut(Counter<'_, &mut u64>)>(&mut self, path: &Path<'_>, f: &mut F) {
        let _ = (path, f);
    }

    /// Visits every setting of the module (see [`Setting`]), depth first, in declaration
    /// order.
    ///
    /// The default visits nothing: a configurable layer overrides this and
    /// [`Module::visit_config_mut`], and `#[derive(Module)]` (hence `network!`) forwards both
    /// to every field. [`convert`] copies settings through them, so that a network's twin
    /// over another scalar is configured as the original; loading a file writes tensors and
    /// counters only, so the loaded model keeps the configuration it was built with.
    ///
    /// ```
    /// use monograd_core::module::{Path, Setting};
    /// use monograd_core::Module;
    /// # #[derive(Clone)]
    /// # struct Scale(f64);
    /// # impl<T: monograd_core::Scalar> Module<T> for Scale {
    /// #     const PARAMS: usize = 0;
    /// #     fn visit<F: FnMut(monograd_core::module::Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    /// #     fn visit_mut<F: FnMut(monograd_core::module::Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    /// #     fn visit_update<F: FnMut(monograd_core::module::ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
    /// #     fn visit_config<F: FnMut(Setting<'_, &f64>)>(&self, p: &Path<'_>, f: &mut F) {
    /// #         f(Setting { path: &p.field("factor"), value: &self.0 })
    /// #     }
    /// # }
    /// // A layer that scales by a configured factor reports it under its name.
    /// let mut seen = Vec::new();
    /// Module::<f32>::visit_config(&Scale(0.5), &Path::ROOT, &mut |s| seen.push((s.path.to_string(), *s.value)));
    /// assert_eq!(seen, [("factor".to_string(), 0.5)]);
    /// ```
    fn visit_config<F: FnMut(Setting<'_, &f64>)>(&self, path: &Path<'_>, f: &mut F) {
        let _ = (path, f);
    }

    /// Visits every setting mutably, in the order of [`Module::visit_config`]. A layer
    /// validates what it is handed back as its constructor would, keeping its old value
    /// in place of one out of range (a setting read from another module of the same type
    /// is always in range).
    fn visit_config_mut<F: FnMut(Setting<'_, &mut f64>)>(&mut self, path: &Path<'_>, f: &mut F) {
        let _ = (path, f);
    }

    /// Initialises every parameter from `rng`, each layer by its own rule (PyTorch's
    /// default for the built-in layers). Layers without parameters keep the default, which
    /// does nothing; `#[derive(Module)]` initialises each field in declaration order.
    fn init(&mut self, rng: &mut crate::rng::Rng) {
        let _ = rng;
    }

    /// Sets every tensor to zero: turns a copy of a model into an empty gradient.
    fn zero(&mut self) {
        self.visit_mut(&Path::ROOT, &mut |t| t.values.fill(T::ZERO));
    }

    /// A zeroed copy: a fresh gradient or optimizer state for this model.
    ///
    /// The copy is returned by value, through the stack: for a model larger than about a
    /// megabyte use [`boxed_zeros_like`](crate::boxed::boxed_zeros_like) (feature `alloc`),
    /// which builds it on the heap in place.
    fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        z.zero();
        z
    }
}

/// Scratch memory for the kernels a layer calls (packing buffers for GEMM).
///
/// Layers never allocate: whoever runs them passes a `Ctx` over memory it owns. Any length
/// works, including zero (kernels then run unpacked, more slowly).
#[derive(Debug)]
pub struct Ctx<'a, T> {
    /// Packing memory for [`gemm`](crate::kernels::gemm::gemm).
    pub pack: &'a mut [T],
    /// Weight matrices packed ahead, during inference through a
    /// [`Prepared`](crate::prepared::Prepared) network.
    packed: Option<crate::prepared::PackedWeights<'a, T>>,
}

impl<'a, T> Ctx<'a, T> {
    /// A context over the given packing memory.
    pub fn new(pack: &'a mut [T]) -> Self {
        Self { pack, packed: None }
    }

    /// A context that also carries packed weight panels, which dense layers use in place
    /// of packing their weights (what a [`Prepared`](crate::prepared::Prepared) network's
    /// forward pass runs with).
    pub fn with_packed(pack: &'a mut [T], packed: crate::prepared::PackedWeights<'a, T>) -> Self {
        Self { pack, packed: Some(packed) }
    }

    /// The packed panels of the weight matrix `w`, if this context carries them.
    pub fn packed(&self, w: &[T]) -> Option<(&'a [T], &'a crate::kernels::gemm::PackedLayout)> {
        self.packed.as_ref()?.find(w)
    }
}

/// A differentiable map from a batch of `In` samples to a batch of `Out` samples.
///
/// ```
/// use monograd_core::module::{Ctx, Layer};
/// use monograd_core::shape::Rank1;
///
/// // Every built-in layer implements this; here a tiny one by hand.
/// #[derive(Clone)]
/// struct Double;
/// # impl<T: monograd_core::Scalar> monograd_core::module::Module<T> for Double {
/// #     const PARAMS: usize = 0;
/// #     fn visit<F: FnMut(monograd_core::module::Tensor<'_, &[T]>)>(&self, _: &monograd_core::module::Path<'_>, _: &mut F) {}
/// #     fn visit_mut<F: FnMut(monograd_core::module::Tensor<'_, &mut [T]>)>(&mut self, _: &monograd_core::module::Path<'_>, _: &mut F) {}
/// #     fn visit_update<F: FnMut(monograd_core::module::ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &monograd_core::module::Path<'_>, _: &mut usize, _: &mut F) {}
/// # }
/// impl<const N: usize> Layer<f32, Rank1<N>, Rank1<N>> for Double {
///     type Cache = ();
///     fn forward(&self, x: &[f32], y: &mut [f32], _: &mut Ctx<'_, f32>) {
///         for (y, x) in y.iter_mut().zip(x) {
///             *y = 2.0 * x;
///         }
///     }
///     fn backward(&self, _x: &[f32], _y: &[f32], _c: &(), dy: &[f32], dx: Option<&mut [f32]>, _g: &mut Self, _: &mut Ctx<'_, f32>) {
///         if let Some(dx) = dx {
///             for (dx, dy) in dx.iter_mut().zip(dy) {
///                 *dx += 2.0 * dy;
///             }
///         }
///     }
/// }
/// let mut y = [0.0; 2];
/// Layer::<f32, Rank1<2>, Rank1<2>>::forward(&Double, &[1.0, 2.0], &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [2.0, 4.0]);
/// ```
#[diagnostic::on_unimplemented(
    message = "the layer `{Self}` cannot map samples of shape `{In}` to `{Out}`",
    label = "this layer does not take `{In}` to `{Out}`",
    note = "check the input width the layer was declared with against what the previous layer produces"
)]
pub trait Layer<T: Scalar, In: Shape, Out: Shape>: Module<T> {
    /// What a training forward saves for backward beyond the input and output, with no
    /// batch dimension (e.g. BatchNorm's batch statistics). Most layers need `()`.
    type Cache: Default;

    /// Multiply-accumulates per sample, for `summary()` and the `MACS` constant of
    /// generated networks.
    const MACS: usize = 0;

    /// How the layer computes, where it has a choice, for `summary()`: a convolution's
    /// algorithm (`direct`, `im2col`, `winograd`), chosen at compile time from its shape.
    /// Empty for other layers.
    const ALGORITHM: &'static str = "";

    /// Scratch values the layer takes from the front of `ctx.pack` beyond what GEMM
    /// packing uses (a convolution's column buffer). Generated networks size their packing
    /// memory to the largest layer's `SCRATCH` plus
    /// [`PACK_LEN`](crate::kernels::gemm::PACK_LEN); with less, a layer must still compute
    /// the right values (more slowly).
    const SCRATCH: usize = 0;

    /// Checks values that come from user data before any pass runs: an `Embedding`'s
    /// indices must be whole numbers below its vocabulary. Generated networks call it on
    /// every layer that reads the network's input, so that bad data is an `Err`, never a
    /// panic. The default accepts everything.
    fn check_input(&self, x: &[T]) -> Result<(), crate::ShapeError> {
        let _ = x;
        Ok(())
    }

    /// Inference: `y = f(x)` for a whole batch. Allocates nothing.
    fn forward(&self, x: &[T], y: &mut [T], ctx: &mut Ctx<'_, T>);

    /// Inference followed by the activation `act`, which `network!` fuses into this layer
    /// when the activation is this layer's only consumer and its derivative follows from
    /// its output. The default applies `act` in place after [`Layer::forward`]; layers
    /// override it to apply `act` in the pass that writes `y` (`Linear` does, with its bias).
    fn forward_fused<A: UnaryFn>(&self, x: &[T], y: &mut [T], act: A, ctx: &mut Ctx<'_, T>) {
        self.forward(x, y, ctx);
        unary::forward_in_place(act, y);
    }

    /// Training forward followed by the fused activation `act`; see [`Layer::forward_fused`].
    ///
    /// A layer fused this way is later called with `y` holding the activation's output, so
    /// `network!` fuses only into layers whose `backward` does not read `y`.
    fn forward_train_fused<A: UnaryFn>(
        &mut self,
        x: &[T],
        y: &mut [T],
        cache: &mut Self::Cache,
        act: A,
        ctx: &mut Ctx<'_, T>,
    ) {
        self.forward_train(x, y, cache, ctx);
        unary::forward_in_place(act, y);
    }

    /// Training forward: like [`Layer::forward`], and fills `cache` for backward. Takes
    /// `&mut self` so that layers can update running statistics.
    fn forward_train(&mut self, x: &[T], y: &mut [T], cache: &mut Self::Cache, ctx: &mut Ctx<'_, T>) {
        let _ = cache;
        self.forward(x, y, ctx);
    }

    /// Backward: given `x`, `y = f(x)`, the cache and `dy = ∂L/∂y`, adds `∂L/∂θ` into
    /// `grad` and, when `dx` is given, adds `∂L/∂x` into it.
    ///
    /// Both accumulate, so that a node used twice (fan-out, shared weights) sums the
    /// gradients of its uses with no extra buffer; callers zero them once per step.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        x: &[T],
        y: &[T],
        cache: &Self::Cache,
        dy: &[T],
        dx: Option<&mut [T]>,
        grad: &mut Self,
        ctx: &mut Ctx<'_, T>,
    );

    /// Whether [`Layer::backward_sgd`] runs the update inside the backward pass (with no
    /// gradient buffer). `network!`'s fused training step calls it only where this is
    /// true; elsewhere it runs [`Layer::backward`] into the gradient and then the update.
    const FUSED_SGD: bool = false;

    /// Backward and a plain SGD step in one: adds `∂L/∂x` into `dx` (when given) with the
    /// parameters as they were, then `θ ← θ - lr · ∂L/∂θ` for every trainable parameter,
    /// which must equal [`Layer::backward`] into a zeroed gradient followed by that update.
    ///
    /// The default does exactly that, with the gradient in a zeroed copy of the layer on
    /// the stack; a layer with a fused form ([`FUSED_SGD`](Layer::FUSED_SGD)) overrides it
    /// (`Linear` runs the update as the weight-gradient product itself).
    #[allow(clippy::too_many_arguments)]
    fn backward_sgd(
        &mut self,
        x: &[T],
        y: &[T],
        cache: &Self::Cache,
        dy: &[T],
        dx: Option<&mut [T]>,
        lr: T,
        ctx: &mut Ctx<'_, T>,
    ) {
        let mut grad = self.zeros_like();
        self.backward(x, y, cache, dy, dx, &mut grad, ctx);
        sgd_update(self, &grad, lr);
    }
}

/// `θ ← θ - lr · g` for every trainable parameter of `module`, with `g` from `grad`: plain
/// SGD, in the arithmetic of the optimizer's plain step (`p -= lr * g`), so that a step
/// taken here equals one taken by it to the bit.
///
/// ```
/// use monograd_core::module::sgd_update;
/// # use monograd_core::Module;
/// # use monograd_core::module::{Kind, ParamUpdate, Path, Tensor};
/// # #[derive(Clone, Debug, PartialEq)]
/// # struct W([f32; 2]);
/// # impl Module<f32> for W {
/// #     const PARAMS: usize = 2;
/// #     fn visit<F: FnMut(Tensor<'_, &[f32]>)>(&self, p: &Path<'_>, f: &mut F) {
/// #         f(Tensor { path: p, kind: Kind::Param, shape: &[2], values: &self.0 })
/// #     }
/// #     fn visit_mut<F: FnMut(Tensor<'_, &mut [f32]>)>(&mut self, p: &Path<'_>, f: &mut F) {
/// #         f(Tensor { path: p, kind: Kind::Param, shape: &[2], values: &mut self.0 })
/// #     }
/// #     fn visit_update<F: FnMut(ParamUpdate<'_, f32>)>(&mut self, g: &Self, p: &Path<'_>, o: &mut usize, f: &mut F) {
/// #         f(ParamUpdate { path: p, offset: *o, value: &mut self.0, grad: &g.0 });
/// #         *o += 2;
/// #     }
/// # }
/// let mut w = W([1.0, 2.0]);
/// sgd_update(&mut w, &W([10.0, -10.0]), 0.5);
/// assert_eq!(w, W([-4.0, 7.0]));
/// ```
pub fn sgd_update<T: Scalar, M: Module<T>>(module: &mut M, grad: &M, lr: T) {
    module.visit_update(grad, &Path::ROOT, &mut 0, &mut |u| {
        for (p, &g) in u.value.iter_mut().zip(u.grad) {
            *p -= lr * g;
        }
    });
}

/// The output shape of a layer whose output follows from its input by type alone
/// (`Linear<I, O>` maps `Rank1<I>` to `Rank1<O>`, activations keep their shape).
///
/// The `network!` macro uses it for layers whose shape rule it does not know, such as
/// user-defined ones.
#[diagnostic::on_unimplemented(
    message = "the layer `{Self}` states no output shape for samples of shape `{In}`",
    label = "`network!` reads this layer's output shape from `OutputShape<{In}>`",
    note = "a layer of your own implements `OutputShape<In>` for each input it takes (`type Output = ...;`), as the \
            built-in layers do"
)]
pub trait OutputShape<In: Shape> {
    /// The shape of one output sample.
    type Output: Shape;

    /// The one input shape the layer takes, when it takes only one: a network declares
    /// its input, and `network!` checks the node before a nested network against it, in
    /// words (`` `blk`: `Blk` takes [6, 12, 12], the input it declares, but `c1` yields
    /// [4, 24, 24] ``). `None` (the default) for a layer that takes many shapes.
    const DECLARED_INPUT: Option<&'static [usize]> = None;
}

/// A differentiable map from two batches, of `A` and `B` samples, to one of `Out`
/// samples: the nodes of a graph where two branches meet (`Add`, `Concat`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot combine samples of shapes `{A}` and `{B}` into `{Out}`",
    label = "these inputs do not fit together",
    note = "`Add` needs two inputs of the same shape; `Concat` joins along the first dimension"
)]
pub trait Merge<T: Scalar, A: Shape, B: Shape, Out: Shape>: Module<T> {
    /// `y = f(a, b)` for a whole batch.
    fn forward(&self, a: &[T], b: &[T], y: &mut [T]);

    /// Adds `∂L/∂a` into `da` and `∂L/∂b` into `db`, each when given.
    fn backward(&self, a: &[T], b: &[T], dy: &[T], da: Option<&mut [T]>, db: Option<&mut [T]>);
}

/// An elementwise activation layer backed by a unary primitive: what `network!` needs to
/// compute it inside the pass of the layer that feeds it.
///
/// `network!` requires it only of the activations it recognises by name and fuses, so a
/// type that lacks it is a layer of the user's own named like a built-in one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not monograd's activation of that name, which `network!` fuses into the layer before it",
    label = "`network!` recognises built-in activations by name, and this one is not built in",
    note = "rename your layer (for example `MyTanh`) so that `network!` treats it as a layer of your own"
)]
pub trait Activation {
    /// The primitive.
    type Op: UnaryFn;
    /// The primitive with this layer's configuration (a slope, an alpha).
    fn op(&self) -> Self::Op;
}

/// Copies every tensor of `from` into `to`, a module of the same structure over another
/// scalar, through `f`: a trained `f32` network into its `Dual` twin for forward-mode
/// derivatives, or into `f64` for a gradient check.
///
/// The configuration comes along ([`Module::visit_config`]: a dropout probability, a
/// LeakyReLU slope, a norm's `eps`), and so do the counters ([`Module::visit_counters`]:
/// BatchNorm's `num_batches_tracked`, Dropout's seed and step), so the twin computes what
/// the original does, whatever `to` was built with.
///
/// ```
/// use monograd_core::module::convert;
/// use monograd_core::{Dual, Module};
/// # use monograd_core::module::{ParamUpdate, Path, Tensor};
/// # #[derive(Clone, Default)]
/// # struct W<T>([T; 2]);
/// # impl<T: monograd_core::Scalar> Module<T> for W<T> {
/// #     const PARAMS: usize = 2;
/// #     fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, p: &Path<'_>, f: &mut F) {
/// #         f(Tensor { path: p, kind: monograd_core::module::Kind::Param, shape: &[2], values: &self.0 })
/// #     }
/// #     fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, p: &Path<'_>, f: &mut F) {
/// #         f(Tensor { path: p, kind: monograd_core::module::Kind::Param, shape: &[2], values: &mut self.0 })
/// #     }
/// #     fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
/// # }
/// let trained = W([1.5f32, -2.0]);
/// let mut dual = W([Dual::<f32, 1>::constant(0.0); 2]);
/// convert(&trained, &mut dual, Dual::constant);
/// assert_eq!(dual.0[1].re, -2.0);
/// ```
#[cfg(feature = "alloc")]
pub fn convert<T: Scalar, U: Scalar, A: Module<T>, B: Module<U>>(from: &A, to: &mut B, f: impl Fn(T) -> U) {
    let values: alloc::vec::Vec<U> = to_vec(from).into_iter().map(f).collect();
    // Same structure, same order: the lengths agree.
    let _ = load_flat(to, &values);
    copy_config(from, to);
    let mut counters = alloc::vec::Vec::new();
    from.visit_counters(&Path::ROOT, &mut |c| counters.push(*c.value));
    let mut rest = counters.iter();
    to.visit_counters_mut(&Path::ROOT, &mut |c| {
        if let Some(&v) = rest.next() {
            *c.value = v;
        }
    });
}

/// Copies every setting ([`Module::visit_config`]) of `from` into `to`, a module of the
/// same structure over any scalar, in visiting order; tensors and counters are left alone.
/// [`convert`] calls it; on its own it configures a fresh model like another.
///
/// ```
/// use monograd_core::module::{copy_config, Path, Setting};
/// # use monograd_core::module::{ParamUpdate, Tensor};
/// # use monograd_core::Module;
/// # #[derive(Clone)]
/// # struct Scale(f64);
/// # impl<T: monograd_core::Scalar> Module<T> for Scale {
/// #     const PARAMS: usize = 0;
/// #     fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
/// #     fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
/// #     fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
/// #     fn visit_config<F: FnMut(Setting<'_, &f64>)>(&self, p: &Path<'_>, f: &mut F) {
/// #         f(Setting { path: &p.field("factor"), value: &self.0 })
/// #     }
/// #     fn visit_config_mut<F: FnMut(Setting<'_, &mut f64>)>(&mut self, p: &Path<'_>, f: &mut F) {
/// #         f(Setting { path: &p.field("factor"), value: &mut self.0 })
/// #     }
/// # }
/// let mut fresh = Scale(1.0);
/// copy_config::<f32, f64, _, _>(&Scale(0.5), &mut fresh);
/// assert_eq!(fresh.0, 0.5);
/// ```
#[cfg(feature = "alloc")]
pub fn copy_config<T: Scalar, U: Scalar, A: Module<T>, B: Module<U>>(from: &A, to: &mut B) {
    let mut settings = alloc::vec::Vec::new();
    from.visit_config(&Path::ROOT, &mut |s| settings.push(*s.value));
    let mut rest = settings.iter();
    to.visit_config_mut(&Path::ROOT, &mut |s| {
        if let Some(&v) = rest.next() {
            *s.value = v;
        }
    });
}

/// Every tensor of `module` (parameters and buffers), concatenated in [`Module::visit`]
/// order: the vector a gradient check or an optimizer experiment works on.
///
/// ```
/// use monograd_core::module::{load_flat, to_vec};
/// # use monograd_core::module::{Kind, Module, ParamUpdate, Path, Tensor};
/// # #[derive(Clone, Default)]
/// # struct W([f64; 3]);
/// # impl Module<f64> for W {
/// #     const PARAMS: usize = 3;
/// #     fn visit<F: FnMut(Tensor<'_, &[f64]>)>(&self, p: &Path<'_>, f: &mut F) {
/// #         f(Tensor { path: p, kind: Kind::Param, shape: &[3], values: &self.0 })
/// #     }
/// #     fn visit_mut<F: FnMut(Tensor<'_, &mut [f64]>)>(&mut self, p: &Path<'_>, f: &mut F) {
/// #         f(Tensor { path: p, kind: Kind::Param, shape: &[3], values: &mut self.0 })
/// #     }
/// #     fn visit_update<F: FnMut(ParamUpdate<'_, f64>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
/// # }
/// let mut w = W([1.0, 2.0, 3.0]);
/// assert_eq!(to_vec(&w), [1.0, 2.0, 3.0]);
/// load_flat(&mut w, &[4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(w.0, [4.0, 5.0, 6.0]);
/// assert!(load_flat(&mut w, &[1.0]).is_err());
/// ```
#[cfg(feature = "alloc")]
pub fn to_vec<T: Scalar, M: Module<T>>(module: &M) -> alloc::vec::Vec<T> {
    let mut values = alloc::vec::Vec::with_capacity(M::PARAMS);
    module.visit(&Path::ROOT, &mut |t| values.extend_from_slice(t.values));
    values
}

/// Sets every tensor of `module` from `values`, in [`Module::visit`] order; the inverse of
/// [`to_vec`]. Fails, changing nothing, unless `values` holds exactly as many values as
/// the module's tensors.
pub fn load_flat<T: Scalar, M: Module<T>>(module: &mut M, values: &[T]) -> Result<(), crate::ShapeError> {
    let mut expected = 0;
    module.visit(&Path::ROOT, &mut |t| expected += t.values.len());
    if expected != values.len() {
        return Err(crate::ShapeError::Length { what: "load_flat values", expected, found: values.len() });
    }
    let mut rest = values;
    module.visit_mut(&Path::ROOT, &mut |t| {
        let (head, tail) = rest.split_at(t.values.len());
        t.values.copy_from_slice(head);
        rest = tail;
    });
    Ok(())
}

/// Marks monograd's own layers, which `network!` recognises by name to apply its shape
/// rules, merging of repeated computations and activation fusion.
///
/// A proc macro sees names, not types, so the code it generates requires this trait of
/// every layer it treats as built-in: a layer of your own that happens to be called
/// `Tanh` or `Linear` is then a compile error that says to rename it, rather than being
/// merged or fused by rules meant for another layer. Implement it only for a type that
/// behaves exactly as the built-in layer of that name (a wrapper that counts calls, say).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not monograd's layer of that name",
    label = "`network!` recognises built-in layers by name, and this one is not built in",
    note = "rename your layer (for example `MyTanh`) so that `network!` treats it as a layer of your own"
)]
pub trait BuiltinLayer {}
