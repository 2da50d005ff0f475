//! Optimizers, learning-rate schedules and gradient clipping.
//!
//! | item | PyTorch | state per parameter |
//! | --- | --- | --- |
//! | [`Sgd`] | `SGD(lr, momentum, dampening, weight_decay, nesterov, maximize)` | 0, or 1 with momentum |
//! | [`Adam`] | `Adam(lr, betas, eps, weight_decay, amsgrad, maximize)` | 2, or 3 with AMSGrad |
//! | [`AdamW`] | `AdamW(...)`: Adam with decoupled weight decay | as Adam |
//! | [`RmsProp`] | `RMSprop(lr, alpha, eps, weight_decay, momentum, centered, maximize)` | 1, +1 with momentum, +1 centered |
//! | [`Adagrad`] | `Adagrad(lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize)` | 1 |
//! | [`schedule`] | `lr_scheduler`: `StepLR`, `ExponentialLR`, `CosineAnnealingLR`, `LinearLR`, `SequentialLR`, `LambdaLR` | - |
//! | [`clip`] | `clip_grad_norm_`, `clip_grad_value_` | - |
//!
//! Each update follows PyTorch's `torch.optim` formula for formula (the integration test
//! `tests/optim_torch.rs` replays trajectories recorded from PyTorch and matches them to
//! `1e-6` relative in `f64`).
//!
//! # How an optimizer sees a model
//! A model is its own gradient type: the gradient is a value of the same struct.
//! [`Optimizer::step`] walks both with [`Module::visit_update`], which hands over each
//! trainable tensor with its gradient and its `offset`, the position of the tensor in
//! traversal order. Stateful optimizers keep `K` values per parameter (momentum, moments)
//! in one flat buffer of `K * M::PARAMS` values: block `k` holds the `k`-th state of every
//! parameter, and a tensor's state sits at `k * M::PARAMS + offset ..` (see [`slots`]).
//!
//! # Where the state lives
//! Any [`StateStore`]:
//! - a `Vec<T>` (feature `alloc`): `Adam::new(lr)`; it is allocated on the first step and
//!   reused after, so training allocates nothing after its first step;
//! - a caller's `&mut [T]` or an owned `[T; N]`, for programs without a heap:
//!   `Adam::with_state(lr, &mut buf[..])` with `buf` of `Adam::STATE_PER_PARAM * PARAMS`
//!   values (a `static` on a microcontroller). A buffer that is too short is an `Err` from
//!   [`Optimizer::try_step`].
//!
//! The first step initialises the state (zeros, or Adagrad's initial accumulator), so a
//! caller's buffer may hold anything beforehand.
//!
//! # One optimizer, one model
//! The state is laid out by the offsets of the model it was built up with, so it means
//! nothing for another model. Every optimizer here remembers the [`Layout`] of the model
//! of its first step (its parameter count and a fingerprint of its tensors' names and
//! shapes, see [`layout`]), and a step with a model of another layout is an
//! [`OptimError::Layout`] that names both, and leaves the model unchanged; `step` panics
//! with the same message. A model of the same layout (a clone) is accepted. `reset()`
//! forgets the model with the state; [`Scheduled`] checks through the optimizer it
//! drives. Checkpoints do not save the layout: they check the state against the model's
//! tensors by name and shape, and a restored optimizer adopts the layout of the model it
//! is stepped with next.
//!
//! # Settings are checked when the optimizer is built
//! Each builder checks its value where it is called: the infallible one
//! (`Adam::new(lr).betas(0.9, 0.999)`) panics there with the message, and each has a
//! `try_` twin (`Adam::try_new`, `try_betas`) that returns it as an
//! [`OptimError::Setting`] or [`OptimError::Config`], for settings read from a file or a
//! command line. So an optimizer that exists is valid; only the learning rate can still
//! go wrong at run time (a schedule's [`Optimizer::set_lr`]), and the step refuses it.
//! What is refused follows PyTorch's checks in `torch.optim`, also refusing values that
//! PyTorch accepts but that can only turn into NaN or divergence:
//!
//! | setting | refused | PyTorch refuses |
//! | --- | --- | --- |
//! | learning rate, weight decay, `lr_decay`, `initial_accumulator_value` | negative, NaN, infinite | negative |
//! | `momentum` ([`Sgd`], [`RmsProp`]) | outside `[0, 1)`, NaN | negative |
//! | `dampening` ([`Sgd`]) | outside `[0, 1]`, NaN | - |
//! | `betas` ([`Adam`], [`AdamW`]) | outside `[0, 1)`, NaN | the same |
//! | `alpha` ([`RmsProp`]) | outside `[0, 1)`, NaN | negative |
//! | `eps` | 0 or less, NaN, infinite (at 0 a zero gradient divides 0 by 0) | negative |
//! | `nesterov(true)` | without momentum, or with dampening | the same |
//!
//! Settings that depend on each other are checked in the order written: set the momentum
//! before `nesterov(true)`.
//!
//! ```
//! use monograd_nn::{Adam, OptimError, Sgd};
//! let e = Sgd::<f64, _>::new(0.1).try_momentum(1.0).unwrap_err();
//! assert_eq!(e.to_string(), "Sgd: momentum = 1.0 is out of range; use a momentum in [0, 1), such as 0.9, or 0 for none");
//! assert!(matches!(Adam::<f64, _>::try_new(-1e-3), Err(OptimError::Setting { .. })));
//! ```
//!
//! # Your own optimizer
//! Implement [`Optimizer`]: `try_step` walks the parameters with [`for_each_param`] and
//! keeps state through a [`StateStore`] and [`slots`]; `lr`/`set_lr` let schedules drive
//! it. An optimizer with state keeps a [`LayoutLock`] too, and calls its `check` first in
//! `try_step`, so that its state serves one model as the built-in ones' do (a stateless
//! one, such as the sign descent below, has nothing to mix up and may skip it).
//! `examples/custom_optimizer.rs` adds Lion this way, with its rate checked when built.
//!
//! # Checkpoints
//! [`OptimizerState`] hands an optimizer's state out by name (step counts, and blocks such
//! as Adam's `exp_avg` laid out by parameter offset) and takes it back, so that a
//! checkpoint resumes training bit for bit. Every optimizer here and [`Scheduled`]
//! implement it; implement it for your own optimizer to checkpoint it too ([`state`] shows
//! how).
//!
//! ```
//! use monograd_core::{Module, Scalar};
//! use monograd_nn::optim::{for_each_param, OptimError, Optimizer};
//! use monograd_nn::Linear;
//!
//! /// Sign descent: `θ ← θ - lr · sign(g)`. No state.
//! struct SignSgd(f64);
//! impl<T: Scalar> Optimizer<T> for SignSgd {
//!     fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
//!         let lr = T::from_f64(self.0);
//!         for_each_param(model, grad, |_offset, value, grad| {
//!             for (v, &g) in value.iter_mut().zip(grad) {
//!                 if g > T::ZERO {
//!                     *v -= lr;
//!                 } else if g < T::ZERO {
//!                     *v += lr;
//!                 }
//!             }
//!         });
//!         Ok(())
//!     }
//!     fn lr(&self) -> f64 {
//!         self.0
//!     }
//!     fn set_lr(&mut self, lr: f64) {
//!         self.0 = lr;
//!     }
//! }
//!
//! let mut fc = Linear::<2, 1, f64> { weight: [[1.0, 1.0]], bias: [0.0] };
//! let grad = Linear::<2, 1, f64> { weight: [[3.0, -0.1]], bias: [0.0] };
//! SignSgd(0.5).step(&mut fc, &grad);
//! assert_eq!(fc.weight, [[0.5, 1.5]]);
//! ```

use core::fmt;

use monograd_core::module::Path;
use monograd_core::storage::Storage;
use monograd_core::{Module, Network, Scalar, ShapeError};

mod adagrad;
mod adam;
pub mod clip;
pub mod layout;
pub mod ranged;
mod rmsprop;
pub mod schedule;
mod sgd;
pub mod state;
mod step;

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamUpdate, AdamW};
pub use layout::{Layout, LayoutLock, LayoutMismatch};
pub use ranged::RangeOptimizer;
pub use rmsprop::RmsProp;
pub use schedule::{Schedule, Scheduled};
pub use sgd::{Sgd, SgdUpdate};
pub use state::{OptimizerState, StateMut, StateRef};
pub use step::StepError;

/// Updates a model's parameters from its gradient.
///
/// Implementors write [`Optimizer::try_step`] and the learning-rate accessors; callers
/// usually call [`Optimizer::step`]. One optimizer serves one model: its state is laid
/// out by the model's parameter offsets, so the built-in optimizers refuse a model of
/// another layout than their first ([`OptimError::Layout`]; see [`LayoutLock`]).
///
/// ```
/// use monograd_nn::{Linear, Optimizer, Sgd};
/// let mut fc = Linear::<2, 1, f64> { weight: [[1.0, 1.0]], bias: [0.0] };
/// let grad = Linear::<2, 1, f64> { weight: [[0.5, -0.5]], bias: [1.0] };
/// let mut opt = Sgd::new(0.1);
/// opt.step(&mut fc, &grad);
/// assert_eq!(fc.weight, [[0.95, 1.05]]);
/// // Schedules set the learning rate between steps.
/// Optimizer::<f64>::set_lr(&mut opt, 0.05);
/// assert_eq!(Optimizer::<f64>::lr(&opt), 0.05);
/// ```
pub trait Optimizer<T: Scalar> {
    /// One update of `model` from `grad` (a value of the model's type holding gradients).
    ///
    /// # Errors
    /// [`OptimError::Layout`] if the optimizer was first used with a model of another
    /// layout (its state belongs to that model), [`OptimError::State`] if a
    /// caller-provided state buffer is too short for this model, [`OptimError::Setting`]
    /// if the learning rate was set out of range (by [`Optimizer::set_lr`]; every other
    /// setting is checked when the optimizer is built). The model is then unchanged.
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError>;

    /// One update; see [`Optimizer::try_step`].
    ///
    /// # Panics
    /// Where [`Optimizer::try_step`] returns an error (a model of another layout than the
    /// first, a state buffer too short for the model, a learning rate set out of range),
    /// with its message.
    #[track_caller]
    fn step<M: Module<T>>(&mut self, model: &mut M, grad: &M) {
        if let Err(e) = self.try_step(model, grad) {
            panic!("{e}");
        }
    }

    /// The layout of the model this optimizer serves: the one it was first used with, or
    /// `None` before its first step (and after a reset). The default, for an optimizer
    /// that keeps no [`LayoutLock`], is `None`.
    fn layout(&self) -> Option<Layout> {
        None
    }

    /// Whether this optimizer's next step may run inside the backward pass: when it is
    /// plain SGD, `θ ← θ - lr · g` on every trainable parameter with no state, this takes
    /// the step (its checks, as [`Optimizer::try_step`] makes them, and its count) and
    /// returns `Some(lr)`, and the caller must then apply exactly that update, usually
    /// through [`Network::backward_sgd`], which
    /// updates dense layers inside their weight-gradient products with no gradient
    /// buffer. `None` (the default, and every optimizer with state, decay or a rule of
    /// its own): the caller computes the gradient and calls [`Optimizer::try_step`].
    ///
    /// ```
    /// use monograd_nn::{Adam, Linear, Optimizer, Sgd};
    /// let fc = Linear::<2, 1, f32>::default();
    /// assert_eq!(Sgd::new(0.1f32).fused_sgd(&fc), Ok(Some(0.1)));
    /// assert_eq!(Sgd::new(0.1f32).momentum(0.9).fused_sgd(&fc), Ok(None));
    /// assert_eq!(Adam::new(1e-3f32).fused_sgd(&fc), Ok(None));
    /// ```
    ///
    /// # Errors
    /// Those of [`Optimizer::try_step`] before a step (a model of another layout, a rate
    /// set out of range); no step is then counted.
    fn fused_sgd<M: Module<T>>(&mut self, model: &M) -> Result<Option<T>, OptimError> {
        let _ = model;
        Ok(None)
    }

    /// A training step after `net.forward_train(x, state)` and the loss's gradient `dy`:
    /// the backward pass and this optimizer's update, fused when
    /// [`Optimizer::fused_sgd`] allows it (plain SGD: no gradient buffer for the dense
    /// layers), else zeroing `grad`, [`Network::backward`]
    /// and [`Optimizer::try_step`]. Both give the same weights (to the bit for batches of
    /// at most 64; see [`Network::backward_sgd`]).
    ///
    /// ```
    /// # #[cfg(feature = "train")] {
    /// use monograd_core::{Network, Rng};
    /// use monograd_nn::{CrossEntropyLoss, Loss, Optimizer, Sgd};
    /// use monograd_nn::train::testing::Dense; // a network, as `network!` writes them
    ///
    /// let (mut net, mut grad) = (Dense::<4, 3>::new(&mut Rng::seed(0)), Dense::default());
    /// let mut st = Dense::<4, 3>::state::<monograd_core::storage::Heap>();
    /// let (x, labels, mut dy) = ([0.5f32; 8], [0usize, 2], [0.0f32; 6]);
    /// let mut opt = Sgd::new(0.1);
    /// let mut losses = Vec::new();
    /// for _ in 0..5 {
    ///     let y = net.forward_train::<monograd_core::storage::Heap>(&x, &mut st)?;
    ///     losses.push(CrossEntropyLoss::new().backward(y, &labels, &mut dy)?);
    ///     opt.backward_step::<_, monograd_core::storage::Heap>(&mut net, &x, &dy, &mut grad, &mut st)?;
    /// }
    /// assert!(losses[4] < losses[0]);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`StepError::Shape`] from the backward pass, [`StepError::Optim`] from the
    /// optimizer; the network is then unchanged.
    fn backward_step<N: Network<T>, S: Storage>(
        &mut self,
        net: &mut N,
        x: &[T],
        dy: &[T],
        grad: &mut N,
        state: &mut N::State<S>,
    ) -> Result<(), StepError>
    where
        Self: Sized,
    {
        step::backward_step(self, net, x, dy, grad, state)
    }

    /// The learning rate the next step will use.
    fn lr(&self) -> f64;

    /// Sets the learning rate for the following steps (what a [`Schedule`] drives).
    fn set_lr(&mut self, lr: f64);
}

/// Why an optimizer could not be built or could not step.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OptimError {
    /// The state buffer cannot hold the state this model needs.
    State(ShapeError),
    /// Settings that do not go together (Nesterov momentum without momentum).
    Config {
        /// The optimizer.
        optimizer: &'static str,
        /// What is wrong, in words, and what to do.
        problem: &'static str,
    },
    /// A setting out of its range (a negative learning rate, a beta of 1): refused when
    /// the optimizer is built, or at the step for a learning rate set by
    /// [`Optimizer::set_lr`].
    Setting {
        /// The optimizer.
        optimizer: &'static str,
        /// The setting (`"momentum"`).
        setting: &'static str,
        /// The value given.
        value: f64,
        /// What to give instead (`"use a momentum in [0, 1), such as 0.9, or 0 for none"`).
        expected: &'static str,
    },
    /// A model of another layout than the one the optimizer was first used with.
    Layout(LayoutMismatch),
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::State(e) => write!(f, "{e}"),
            Self::Config { optimizer, problem } => write!(f, "{optimizer}: {problem}"),
            Self::Setting { optimizer, setting, value, expected } => {
                write!(f, "{optimizer}: {setting} = ")?;
                // An `f32` setting as it was written (`-0.1`, not its widening
                // `-0.10000000149011612`): a value an `f32` holds exactly prints as one.
                // `Debug`, because `Display` writes 1e-300 with 300 digits.
                let narrow = *value as f32;
                if f64::from(narrow) == *value || value.is_nan() {
                    write!(f, "{narrow:?}")?;
                } else {
                    write!(f, "{value:?}")?;
                }
                write!(f, " is out of range; {expected}")
            }
            Self::Layout(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OptimError {}

impl From<ShapeError> for OptimError {
    fn from(e: ShapeError) -> Self {
        Self::State(e)
    }
}

/// Where an optimizer keeps its per-parameter state: a `Vec` that grows once, or fixed
/// memory the caller owns.
///
/// ```
/// use monograd_nn::optim::StateStore;
/// let mut buf = [1.0f32; 8];
/// let mut store = &mut buf[..];
/// assert_eq!(store.take(6, "state").unwrap().len(), 6);
/// assert!(store.take(9, "state").is_err()); // too short: an error, not a panic
/// ```
pub trait StateStore<T> {
    /// The first `len` values, making room if the store can grow, or `None` if it cannot
    /// hold that many. Values are whatever the store held (zero when a `Vec` grows).
    fn prepare(&mut self, len: usize) -> Option<&mut [T]>;

    /// How many values the store holds now.
    fn held(&self) -> usize;

    /// The values the store holds now ([`StateStore::held`] of them), read-only: what a
    /// checkpoint saves.
    fn values(&self) -> &[T];

    /// [`StateStore::prepare`], with a too-short store reported as an [`OptimError`]
    /// naming `what`.
    ///
    /// # Errors
    /// [`OptimError::State`] if the store cannot hold `len` values.
    fn take(&mut self, len: usize, what: &'static str) -> Result<&mut [T], OptimError> {
        let held = self.held();
        self.prepare(len).ok_or(OptimError::State(ShapeError::OutOfBounds { what, needed: len, len: held }))
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar> StateStore<T> for alloc::vec::Vec<T> {
    fn prepare(&mut self, len: usize) -> Option<&mut [T]> {
        if self.len() < len {
            // The first step only: afterwards the length is already right.
            self.resize(len, T::ZERO);
        }
        Some(&mut self[..len])
    }
    fn held(&self) -> usize {
        self.len()
    }
    fn values(&self) -> &[T] {
        self
    }
}

impl<T> StateStore<T> for &mut [T] {
    fn prepare(&mut self, len: usize) -> Option<&mut [T]> {
        self.get_mut(..len)
    }
    fn held(&self) -> usize {
        self.len()
    }
    fn values(&self) -> &[T] {
        self
    }
}

impl<T, const N: usize> StateStore<T> for [T; N] {
    fn prepare(&mut self, len: usize) -> Option<&mut [T]> {
        self.get_mut(..len)
    }
    fn held(&self) -> usize {
        N
    }
    fn values(&self) -> &[T] {
        self
    }
}

/// Calls `f(offset, value, grad)` for every trainable tensor of `model`, with its gradient
/// from `grad` and its offset in traversal order: the loop most optimizers need.
///
/// ```
/// use monograd_nn::optim::for_each_param;
/// use monograd_nn::Linear;
/// let mut fc = Linear::<3, 2, f32>::ZERO;
/// let grad = Linear::<3, 2, f32>::ZERO;
/// let mut seen = [(0, 0); 2];
/// let mut i = 0;
/// for_each_param(&mut fc, &grad, |offset, value, _| {
///     seen[i] = (offset, value.len());
///     i += 1;
/// });
/// assert_eq!(seen, [(0, 6), (6, 2)]); // weight, then bias
/// ```
pub fn for_each_param<T: Scalar, M: Module<T>>(model: &mut M, grad: &M, mut f: impl FnMut(usize, &mut [T], &[T])) {
    let mut offset = 0;
    model.visit_update(grad, &Path::ROOT, &mut offset, &mut |u| f(u.offset, u.value, u.grad));
}

/// The `K` state slices of one tensor: `state` is `K` blocks of `params` values, and the
/// tensor at `offset` with `len` values owns `block[offset..offset + len]` of each.
///
/// ```
/// use monograd_nn::optim::slots;
/// let mut state = [0, 1, 2, 3, 4, 5, 6, 7]; // 2 blocks of 4 parameters
/// let [m, v] = slots::<2, _>(&mut state, 4, 1, 2);
/// assert_eq!((&*m, &*v), (&[1, 2][..], &[5, 6][..]));
/// ```
///
/// # Panics
/// If `state` holds fewer than `K * params` values or `offset + len > params`: the
/// caller sized the state from the model, so either is a bug in the optimizer.
#[track_caller]
pub fn slots<const K: usize, T>(state: &mut [T], params: usize, offset: usize, len: usize) -> [&mut [T]; K] {
    assert!(offset + len <= params, "slots: tensor at {offset}..{} is outside {params} parameters", offset + len);
    assert!(state.len() >= K * params, "slots: state holds {} values, {K} blocks of {params} need more", state.len());
    let mut rest = state;
    core::array::from_fn(|_| {
        let (block, tail) = core::mem::take(&mut rest).split_at_mut(params);
        rest = tail;
        &mut block[offset..offset + len]
    })
}

/// Returns a config error for `optimizer` unless `ok`.
pub(crate) fn require(ok: bool, optimizer: &'static str, problem: &'static str) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::Config { optimizer, problem })
    }
}

/// What values a setting accepts.
#[derive(Clone, Copy)]
pub(crate) enum Range {
    /// Finite and at least 0 (a learning rate, a weight decay).
    NonNegative,
    /// Finite and above 0 (eps).
    Positive,
    /// In `[0, 1)` (momentum, betas, alpha).
    Unit,
    /// In `[0, 1]` (dampening).
    Closed,
}

/// `value` if it is in `range`, else an [`OptimError::Setting`] for `optimizer`'s
/// `setting` that tells what to give instead.
pub(crate) fn setting<T: Scalar>(
    value: T,
    range: Range,
    optimizer: &'static str,
    setting: &'static str,
    expected: &'static str,
) -> Result<T, OptimError> {
    // NaN fails every comparison, so it is refused by each range.
    let ok = value.is_finite()
        && match range {
            Range::NonNegative => value >= T::ZERO,
            Range::Positive => value > T::ZERO,
            Range::Unit => value >= T::ZERO && value < T::ONE,
            Range::Closed => value >= T::ZERO && value <= T::ONE,
        };
    if ok {
        Ok(value)
    } else {
        Err(OptimError::Setting { optimizer, setting, value: value.to_f64(), expected })
    }
}

/// What to give for a weight decay out of range.
pub(crate) const WEIGHT_DECAY: &str = "use a finite weight decay of at least 0, or 0 for none";

/// The learning rate, checked (what every builder and every step does).
pub(crate) fn learning_rate<T: Scalar>(lr: T, optimizer: &'static str) -> Result<T, OptimError> {
    setting(
        lr,
        Range::NonNegative,
        optimizer,
        "learning rate",
        "use a finite learning rate of at least 0, such as 1e-3",
    )
}

/// The value of a checked builder, or a panic with its message: what the infallible
/// builders do, so that an invalid setting fails where it is written.
#[track_caller]
pub(crate) fn built<X>(result: Result<X, OptimError>) -> X {
    match result {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    }
}

/// A tiny model with two tensors and a frozen one, for the optimizers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use monograd_core::module::{Kind, ParamUpdate, Path, Tensor};
    use monograd_core::{Module, Scalar};

    /// `a` (3 values), a frozen `f` (1 value, counted in offsets but never updated) and
    /// `b` (2 values).
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) struct Tiny<T> {
        pub a: [T; 3],
        pub f: [T; 1],
        pub b: [T; 2],
    }

    impl<T: Scalar> Module<T> for Tiny<T> {
        const PARAMS: usize = 6;
        fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, p: &Path<'_>, f: &mut F) {
            f(Tensor { path: &p.field("a"), kind: Kind::Param, shape: &[3], values: &self.a });
            f(Tensor { path: &p.field("f"), kind: Kind::Frozen, shape: &[1], values: &self.f });
            f(Tensor { path: &p.field("b"), kind: Kind::Param, shape: &[2], values: &self.b });
        }
        fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, p: &Path<'_>, f: &mut F) {
            f(Tensor { path: &p.field("a"), kind: Kind::Param, shape: &[3], values: &mut self.a });
            f(Tensor { path: &p.field("f"), kind: Kind::Frozen, shape: &[1], values: &mut self.f });
            f(Tensor { path: &p.field("b"), kind: Kind::Param, shape: &[2], values: &mut self.b });
        }
        fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, g: &Self, p: &Path<'_>, o: &mut usize, f: &mut F) {
            f(ParamUpdate { path: &p.field("a"), offset: *o, value: &mut self.a, grad: &g.a });
            *o += 4; // a, and the frozen f
            f(ParamUpdate { path: &p.field("b"), offset: *o, value: &mut self.b, grad: &g.b });
            *o += 2;
        }
    }

    /// A model and a gradient.
    pub(crate) fn tiny() -> (Tiny<f64>, Tiny<f64>) {
        (Tiny { a: [1.0, -2.0, 0.5], f: [7.0], b: [0.25, 3.0] }, Tiny { a: [0.1, -0.3, 0.0], f: [9.0], b: [2.0, -1.0] })
    }

    /// The message `f` panics with (a `String` from `panic!("{e}")`).
    #[cfg(all(feature = "std", panic = "unwind"))]
    pub(crate) fn panic_message<X>(f: impl FnOnce() -> X) -> std::string::String {
        let payload = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(_) => panic!("no panic"),
            Err(payload) => payload,
        };
        match payload.downcast::<std::string::String>() {
            Ok(s) => *s,
            Err(_) => panic!("the panic did not carry a formatted message"),
        }
    }

    /// Checks that the checked builder `refused` returns an error with `message` and
    /// that the panicking one, `panics`, panics with the same message where it is called.
    #[cfg(feature = "std")]
    pub(crate) fn refused<X: core::fmt::Debug, Y>(
        refused: Result<X, super::OptimError>,
        panics: impl FnOnce() -> Y,
        message: &str,
    ) {
        let e = refused.expect_err(message);
        assert!(matches!(e, super::OptimError::Setting { .. } | super::OptimError::Config { .. }), "{e:?}");
        assert_eq!(std::string::ToString::to_string(&e), message);
        // A target that aborts on panic (wasm) cannot catch one: the message is checked
        // where panics unwind.
        #[cfg(panic = "unwind")]
        assert_eq!(panic_message(panics), message);
        #[cfg(not(panic = "unwind"))]
        let _ = panics;
    }

    /// Steps `opt` with `Tiny`, then: a model of another layout (a `Linear<2, 3>`) is
    /// refused with an error naming both layouts and stays unchanged, `step` panics with
    /// the same message, a clone of the first model is accepted, and after `reset` the
    /// other model is adopted.
    #[cfg(feature = "std")]
    pub(crate) fn refuses_another_layout<O: super::Optimizer<f64>>(mut opt: O, name: &str, reset: impl Fn(&mut O)) {
        use super::{Layout, OptimError};
        use std::string::ToString;
        let (mut m, g) = tiny();
        assert_eq!(opt.layout(), None);
        opt.step(&mut m, &g);
        assert_eq!(opt.layout(), Some(Layout::of(&m)));
        let mut other = crate::Linear::<2, 3, f64> { weight: [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], bias: [0.5; 3] };
        let other_grad = crate::Linear::<2, 3, f64> { weight: [[1.0; 2]; 3], bias: [1.0; 3] };
        let before = other.clone();
        let e = opt.try_step(&mut other, &other_grad).unwrap_err();
        let OptimError::Layout(mismatch) = &e else { panic!("{name}: {e:?}") };
        assert_eq!(mismatch.optimizer(), name);
        assert_eq!((mismatch.first(), mismatch.this()), (Layout::of(&m), Layout::of(&other)));
        let text = e.to_string();
        let first = std::format!("this {name} was first used with a model of 6 parameters in 3 tensors (layout 0x");
        assert!(text.starts_with(&first), "{text}");
        assert!(text.contains("; this model has 9 parameters in 2 tensors (layout 0x"), "{text}");
        assert!(text.contains("; first difference: a [3] there, weight [3, 2] here."), "{text}");
        assert_eq!(other, before, "{name}: a refused step changed the model");
        #[cfg(panic = "unwind")]
        assert_eq!(panic_message(|| opt.step(&mut other, &other_grad)), text);
        // The same layout: a clone, or another value of the type.
        let mut clone = m.clone();
        opt.try_step(&mut clone, &g).unwrap();
        opt.try_step(&mut Tiny { a: [0.0; 3], f: [0.0], b: [0.0; 2] }, &g).unwrap();
        reset(&mut opt);
        assert_eq!(opt.layout(), None);
        opt.try_step(&mut other, &other_grad).unwrap();
        assert_ne!(other, before);
        assert_eq!(opt.layout(), Some(Layout::of(&other)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_split_blocks_by_offset() {
        let mut s = [0, 1, 2, 3, 4, 5, 6, 7, 8];
        let [a, b, c] = slots::<3, _>(&mut s, 3, 2, 1);
        assert_eq!((a[0], b[0], c[0]), (2, 5, 8));
        let [] = slots::<0, i32>(&mut [], 0, 0, 0);
    }

    #[test]
    #[should_panic(expected = "slots: tensor at 2..4 is outside 3 parameters")]
    fn slots_refuse_a_tensor_past_the_parameters() {
        let _ = slots::<1, _>(&mut [0; 3], 3, 2, 2);
    }

    #[test]
    fn fixed_stores_report_what_they_hold() {
        let mut arr = [0.0f32; 4];
        assert_eq!(StateStore::<f32>::held(&arr), 4);
        let e = arr.take(5, "Adam state").unwrap_err();
        assert_eq!(e, OptimError::State(ShapeError::OutOfBounds { what: "Adam state", needed: 5, len: 4 }));
        #[cfg(feature = "alloc")]
        assert_eq!(alloc::string::ToString::to_string(&e), "Adam state: the view needs 5 values but the data holds 4");
    }

    /// Copies `from`'s state into `to` through the two visits, as a checkpoint does.
    #[cfg(feature = "alloc")]
    fn copy_state<O: OptimizerState<f64>>(from: &O, to: &mut O, params: usize) {
        use alloc::string::{String, ToString};
        use alloc::vec::Vec;
        let mut counters: Vec<(String, u64)> = Vec::new();
        let mut blocks: Vec<(String, Vec<f64>)> = Vec::new();
        from.visit_state(params, &Path::ROOT, &mut |s| match s {
            StateRef::Counter { path, value } => counters.push((path.to_string(), value)),
            StateRef::Block { path, values } => blocks.push((path.to_string(), values.unwrap().to_vec())),
        });
        let (mut c, mut b) = (counters.iter(), blocks.iter());
        to.visit_state_mut(params, &Path::ROOT, &mut |s| match s {
            StateMut::Counter { path, value } => {
                let (name, v) = c.next().unwrap();
                assert_eq!(&path.to_string(), name);
                *value = *v;
            }
            StateMut::Block { path, values } => {
                let (name, v) = b.next().unwrap();
                assert_eq!(&path.to_string(), name);
                values.copy_from_slice(v);
            }
        })
        .unwrap();
        assert!(c.next().is_none() && b.next().is_none());
    }

    /// Steps `a` three times, copies its state into the fresh `b`, then steps both
    /// twice more: the models must agree to the bit, and must not without the copy.
    #[cfg(feature = "alloc")]
    fn resumes_exactly<O: OptimizerState<f64> + Clone>(mut a: O, names: &[&str]) {
        use alloc::string::ToString;
        use alloc::vec::Vec;
        let (mut m, g) = testing::tiny();
        let fresh = a.clone();
        for _ in 0..3 {
            a.step(&mut m, &g);
        }
        let mut seen = Vec::new();
        a.visit_state(6, &Path::ROOT.field("opt"), &mut |s| match s {
            StateRef::Counter { path, .. } | StateRef::Block { path, .. } => seen.push(path.to_string()),
        });
        assert_eq!(seen, names);
        let (mut b, mut ignorant) = (fresh.clone(), fresh);
        copy_state(&a, &mut b, 6);
        let (mut mb, mut mi) = (m.clone(), m.clone());
        for _ in 0..2 {
            a.step(&mut m, &g);
            b.step(&mut mb, &g);
            ignorant.step(&mut mi, &g);
        }
        let bits = |t: &testing::Tiny<f64>| t.a.iter().chain(&t.b).map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&m), bits(&mb), "{names:?}");
        assert_ne!(bits(&m), bits(&mi), "{names:?}: the state made no difference");
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn every_optimizer_resumes_from_its_state_bit_for_bit() {
        resumes_exactly(Adam::new(0.1), &["opt.step", "opt.exp_avg", "opt.exp_avg_sq"]);
        resumes_exactly(
            AdamW::new(0.1).amsgrad(true),
            &["opt.step", "opt.exp_avg", "opt.exp_avg_sq", "opt.max_exp_avg_sq"],
        );
        resumes_exactly(Sgd::new(0.1).momentum(0.9), &["opt.step", "opt.momentum_buffer"]);
        resumes_exactly(
            RmsProp::new(0.01).momentum(0.5).centered(true),
            &["opt.step", "opt.square_avg", "opt.momentum_buffer", "opt.grad_avg"],
        );
        resumes_exactly(Adagrad::new(0.1).lr_decay(0.1), &["opt.step", "opt.sum"]);
        let sched = |step: usize| 0.1 / (1.0 + step as f64);
        resumes_exactly(Scheduled::new(Sgd::new(0.0), sched), &["opt.step", "opt.schedule_step"]);
        assert_eq!(OptimizerState::<f64>::kind(&AdamW::new(0.1)), "AdamW");
        assert_eq!(OptimizerState::<f64>::kind(&Scheduled::new(Adam::new(0.1), sched)), "Adam");
    }

    #[test]
    fn a_store_too_short_for_the_state_is_an_error_before_anything_is_visited() {
        let mut buf = [0.0f64; 11];
        let mut adam = Adam::with_state(0.1, &mut buf[..]);
        let mut visited = 0;
        let e = adam.visit_state_mut(6, &Path::ROOT, &mut |_| visited += 1).unwrap_err();
        assert_eq!(e, OptimError::State(ShapeError::OutOfBounds { what: "Adam state", needed: 12, len: 11 }));
        assert_eq!(visited, 0);
    }

    #[cfg(feature = "std")]
    #[test]
    fn every_optimizer_refuses_a_model_of_another_layout() {
        use testing::refuses_another_layout;
        refuses_another_layout(Sgd::new(0.1), "Sgd", Sgd::reset);
        refuses_another_layout(Sgd::new(0.1).momentum(0.9), "Sgd", Sgd::reset);
        refuses_another_layout(Sgd::with_state(0.1, [0.0; 9]).momentum(0.9), "Sgd", Sgd::reset);
        refuses_another_layout(Adam::new(0.1), "Adam", Adam::reset);
        refuses_another_layout(AdamW::new(0.1).amsgrad(true), "AdamW", Adam::reset);
        refuses_another_layout(Adam::with_state(0.1, [0.0; 27]).amsgrad(true), "Adam", Adam::reset);
        refuses_another_layout(RmsProp::new(0.01).momentum(0.5).centered(true), "RmsProp", RmsProp::reset);
        refuses_another_layout(Adagrad::new(0.1), "Adagrad", Adagrad::reset);
        let sched = |step: usize| 0.1 / (1.0 + step as f64);
        refuses_another_layout(Scheduled::new(Adam::new(0.0), sched), "Adam", |s| s.optimizer.reset());
    }

    /// Restoring state (what loading a checkpoint does) forgets the layout: the
    /// checkpoint has checked the state against its model by name and shape, and the next
    /// step adopts that model.
    #[cfg(feature = "alloc")]
    #[test]
    fn a_restored_optimizer_adopts_the_layout_at_its_next_step() {
        let (mut m, g) = testing::tiny();
        let mut a = Adam::new(0.1);
        a.step(&mut m, &g);
        let mut b = Adam::new(0.1);
        let mut small = crate::Linear::<1, 1, f64>::ZERO;
        b.step(&mut small, &crate::Linear::ZERO);
        copy_state(&a, &mut b, 6);
        assert_eq!(b.layout(), None);
        b.step(&mut m, &g);
        assert_eq!(b.layout(), Some(Layout::of(&m)));
    }

    #[cfg(feature = "std")]
    #[test]
    fn settings_print_as_written_in_f32_and_f64() {
        use std::string::ToString;
        let lr = "is out of range; use a finite learning rate of at least 0, such as 1e-3";
        let f32_message = Sgd::<f32, _>::try_new(-0.1).unwrap_err().to_string();
        assert_eq!(f32_message, std::format!("Sgd: learning rate = -0.1 {lr}"));
        let f64_message = Sgd::<f64, _>::try_new(-0.1).unwrap_err().to_string();
        assert_eq!(f64_message, std::format!("Sgd: learning rate = -0.1 {lr}"));
        let tiny = Sgd::<f64, _>::try_new(-1e-300).unwrap_err().to_string();
        assert_eq!(tiny, std::format!("Sgd: learning rate = -1e-300 {lr}"));
        let inf = Sgd::<f32, _>::try_new(f32::NEG_INFINITY).unwrap_err().to_string();
        assert_eq!(inf, std::format!("Sgd: learning rate = -inf {lr}"));
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_learning_rate_set_out_of_range_is_refused_at_the_step() {
        let (mut m, g) = testing::tiny();
        let before = m.clone();
        let mut opt = Adam::new(0.1);
        Optimizer::<f64>::set_lr(&mut opt, -1.0);
        let e = opt.try_step(&mut m, &g).unwrap_err();
        let expected = "use a finite learning rate of at least 0, such as 1e-3";
        assert_eq!(e, OptimError::Setting { optimizer: "Adam", setting: "learning rate", value: -1.0, expected });
        assert_eq!(m, before);
        // A schedule that yields NaN, through the wrapper.
        let mut opt = Scheduled::new(Sgd::new(0.1), |_: usize| f64::NAN);
        assert!(matches!(opt.try_step(&mut m, &g), Err(OptimError::Setting { .. })));
        assert_eq!((m, opt.steps()), (before, 0));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn a_vec_grows_once_and_keeps_its_values() {
        let mut v: alloc::vec::Vec<f64> = alloc::vec::Vec::new();
        v.take(3, "x").unwrap()[1] = 5.0;
        let ptr = v.as_ptr();
        assert_eq!(v.take(3, "x").unwrap(), [0.0, 5.0, 0.0]);
        assert_eq!(v.as_ptr(), ptr);
    }
}
