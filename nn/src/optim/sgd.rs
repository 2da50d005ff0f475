//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight
//! decay; PyTorch's `torch.optim.SGD`.
//!
//! Per step, for each parameter `θ` with gradient `g` (`-g` when maximizing):
//!
//! ```text
//! g ← g + weight_decay · θ
//! b ← g                                   on the first step
//! b ← momentum · b + (1 - dampening) · g  after it           (only with momentum ≠ 0)
//! g ← g + momentum · b   (Nesterov)   or   g ← b
//! θ ← θ - lr · g
//! ```

use monograd_core::{Module, Scalar};

use monograd_core::module::Path;

use super::state::{visit_step_and_blocks, visit_step_and_blocks_mut, OptimizerState, StateMut, StateRef};
use super::{
    built, for_each_param, learning_rate, require, setting, slots, Layout, LayoutLock, OptimError, Optimizer, Range,
    RangeOptimizer, StateStore, WEIGHT_DECAY,
};

/// Stochastic gradient descent, PyTorch's semantics (defaults: no momentum, no dampening,
/// no weight decay).
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
///
/// // Momentum keeps one value per parameter; without a heap, in a buffer you own.
/// let mut buf = [0.0f64; <Linear<2, 1, f64> as Module<f64>>::PARAMS];
/// let mut opt = Sgd::with_state(0.1, &mut buf[..]).momentum(0.9).nesterov(true);
/// opt.step(&mut fc, &grad);
/// opt.step(&mut fc, &grad);
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T, S> {
    lr: T,
    momentum: T,
    dampening: T,
    weight_decay: T,
    nesterov: bool,
    maximize: bool,
    state: S,
    steps: u64,
    layout: LayoutLock,
}

const NAME: &str = "Sgd";
const NESTEROV: &str = "Nesterov momentum requires a momentum above 0 and zero dampening: \
                        set the momentum first, as in .momentum(0.9).nesterov(true)";

#[cfg(feature = "alloc")]
impl<T: Scalar> Sgd<T, alloc::vec::Vec<T>> {
    /// SGD with learning rate `lr`, its momentum buffer (if any) on the heap, allocated on
    /// the first step.
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`Sgd::try_new`]'s message.
    #[track_caller]
    pub fn new(lr: T) -> Self {
        built(Self::try_new(lr))
    }

    /// [`Sgd::new`], with an invalid learning rate returned as an error.
    ///
    /// ```
    /// use monograd_nn::Sgd;
    /// let e = Sgd::<f64, _>::try_new(-0.1).unwrap_err();
    /// assert_eq!(
    ///     e.to_string(),
    ///     "Sgd: learning rate = -0.1 is out of range; use a finite learning rate of at least 0, such as 1e-3"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_new(lr: T) -> Result<Self, OptimError> {
        Self::try_with_state(lr, alloc::vec::Vec::new())
    }
}

impl<T: Scalar, S: StateStore<T>> Sgd<T, S> {
    /// The most state values per parameter any configuration keeps: size a fixed buffer
    /// with `STATE_PER_PARAM * M::PARAMS` values.
    pub const STATE_PER_PARAM: usize = 1;

    /// SGD with learning rate `lr`, keeping its state in `state` (which needs
    /// [`Sgd::state_len`] values; none without momentum).
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`Sgd::try_with_state`]'s message.
    #[track_caller]
    pub fn with_state(lr: T, state: S) -> Self {
        built(Self::try_with_state(lr, state))
    }

    /// [`Sgd::with_state`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_with_state(lr: T, state: S) -> Result<Self, OptimError> {
        Ok(Self {
            lr: learning_rate(lr, NAME)?,
            momentum: T::ZERO,
            dampening: T::ZERO,
            weight_decay: T::ZERO,
            nesterov: false,
            maximize: false,
            state,
            steps: 0,
            layout: LayoutLock::new(),
        })
    }

    /// The learning rate when this is plain SGD (no momentum, no weight decay, not
    /// maximizing), so that a caller may fuse the update into the backward pass
    /// ([`Linear::backward_sgd`](crate::Linear::backward_sgd)); `None` otherwise. This only
    /// looks: [`Optimizer::fused_sgd`] also checks and counts the step, as a network's
    /// fused pass needs.
    ///
    /// ```
    /// use monograd_nn::Sgd;
    /// assert_eq!(Sgd::new(0.01f32).fused_rate(), Some(0.01));
    /// assert_eq!(Sgd::new(0.01f32).momentum(0.9).fused_rate(), None);
    /// ```
    pub fn fused_rate(&self) -> Option<T> {
        let plain = self.momentum == T::ZERO && self.weight_decay == T::ZERO && !self.maximize;
        plain.then_some(self.lr)
    }

    /// Momentum factor, in `[0, 1)` (default 0: none).
    ///
    /// # Panics
    /// Where [`Sgd::try_momentum`] returns an error, with its message.
    #[track_caller]
    pub fn momentum(self, momentum: T) -> Self {
        built(self.try_momentum(momentum))
    }

    /// [`Sgd::momentum`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `momentum` is not in `[0, 1)`; [`OptimError::Config`]
    /// if it is 0 with Nesterov momentum on.
    pub fn try_momentum(mut self, momentum: T) -> Result<Self, OptimError> {
        self.momentum =
            setting(momentum, Range::Unit, NAME, "momentum", "use a momentum in [0, 1), such as 0.9, or 0 for none")?;
        self.nesterov_fits()
    }

    /// Dampening of the gradient added to the momentum buffer, in `[0, 1]` (default 0).
    ///
    /// # Panics
    /// Where [`Sgd::try_dampening`] returns an error, with its message.
    #[track_caller]
    pub fn dampening(self, dampening: T) -> Self {
        built(self.try_dampening(dampening))
    }

    /// [`Sgd::dampening`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `dampening` is not in `[0, 1]`; [`OptimError::Config`]
    /// if it is not 0 with Nesterov momentum on.
    pub fn try_dampening(mut self, dampening: T) -> Result<Self, OptimError> {
        self.dampening =
            setting(dampening, Range::Closed, NAME, "dampening", "use a dampening in [0, 1], or 0 for none")?;
        self.nesterov_fits()
    }

    /// L2 penalty added to the gradient: `g + weight_decay · θ` (default 0).
    ///
    /// # Panics
    /// If `weight_decay` is negative or not finite, with [`Sgd::try_weight_decay`]'s
    /// message.
    #[track_caller]
    pub fn weight_decay(self, weight_decay: T) -> Self {
        built(self.try_weight_decay(weight_decay))
    }

    /// [`Sgd::weight_decay`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `weight_decay` is negative or not finite.
    pub fn try_weight_decay(mut self, weight_decay: T) -> Result<Self, OptimError> {
        self.weight_decay = setting(weight_decay, Range::NonNegative, NAME, "weight decay", WEIGHT_DECAY)?;
        Ok(self)
    }

    /// Nesterov momentum (default off); needs a momentum above 0 and no dampening, set
    /// before it: `.momentum(0.9).nesterov(true)`.
    ///
    /// # Panics
    /// Where [`Sgd::try_nesterov`] returns an error, with its message.
    #[track_caller]
    pub fn nesterov(self, nesterov: bool) -> Self {
        built(self.try_nesterov(nesterov))
    }

    /// [`Sgd::nesterov`], with an invalid combination returned as an error.
    ///
    /// ```
    /// use monograd_nn::Sgd;
    /// assert!(Sgd::<f64, _>::new(0.1).momentum(0.9).try_nesterov(true).is_ok());
    /// let e = Sgd::<f64, _>::new(0.1).try_nesterov(true).unwrap_err();
    /// assert!(e.to_string().contains("set the momentum first, as in .momentum(0.9).nesterov(true)"));
    /// ```
    ///
    /// # Errors
    /// [`OptimError::Config`] if `nesterov` is on while the momentum is 0 or the
    /// dampening is not.
    pub fn try_nesterov(mut self, nesterov: bool) -> Result<Self, OptimError> {
        self.nesterov = nesterov;
        self.nesterov_fits()
    }

    /// `self` if Nesterov momentum is off or has what it needs.
    fn nesterov_fits(self) -> Result<Self, OptimError> {
        let fits = !self.nesterov || (self.momentum > T::ZERO && self.dampening == T::ZERO);
        require(fits, NAME, NESTEROV)?;
        Ok(self)
    }

    /// Ascends instead of descending (default off).
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }

    /// State values this configuration keeps for a model of `params` parameters.
    pub fn state_len(&self, params: usize) -> usize {
        if self.momentum == T::ZERO {
            0
        } else {
            params
        }
    }

    /// Steps taken since creation or [`Sgd::reset`].
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The state store (the momentum buffer, laid out by parameter offset).
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Forgets the momentum and the model: the next step starts afresh, as a new
    /// optimizer would, with any model.
    pub fn reset(&mut self) {
        self.steps = 0;
        self.layout.clear();
    }

    /// The state blocks of this configuration.
    fn blocks(&self) -> &'static [&'static str] {
        if self.momentum == T::ZERO {
            &[]
        } else {
            &["momentum_buffer"]
        }
    }
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Sgd<T, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        let params = M::PARAMS;
        let (update, state) = self.begin_step(model)?;
        // The same `apply` as a step by ranges, tensor by tensor: the same bits.
        for_each_param(model, grad, |offset, value, grad| {
            if update.momentum == T::ZERO {
                Self::apply(&update, value, grad, &mut []);
            } else {
                let [buf] = slots::<1, T>(state, params, offset, value.len());
                Self::apply(&update, value, grad, &mut [buf]);
            }
        });
        Ok(())
    }

    /// `Some(lr)` for plain SGD (no momentum, no weight decay, not maximizing): the
    /// update is then `θ ← θ - lr · g`, which a dense layer runs inside its
    /// weight-gradient product. Checks the rate and the model's layout as
    /// [`Optimizer::try_step`] does, and counts the step.
    fn fused_sgd<M: Module<T>>(&mut self, model: &M) -> Result<Option<T>, OptimError> {
        if self.fused_rate().is_none() {
            return Ok(None);
        }
        let lr = learning_rate(self.lr, NAME)?;
        self.layout.check(NAME, model)?;
        self.steps = self.steps.saturating_add(1);
        Ok(Some(lr))
    }

    fn layout(&self) -> Option<Layout> {
        self.layout.layout()
    }

    fn lr(&self) -> f64 {
        self.lr.to_f64()
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = T::from_f64(lr);
    }
}

/// One step of [`Sgd`]'s coefficients ([`RangeOptimizer::Update`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdUpdate<T> {
    lr: T,
    momentum: T,
    /// `1 - dampening`.
    keep: T,
    weight_decay: T,
    nesterov: bool,
    maximize: bool,
    /// The momentum buffer starts as the gradient.
    first: bool,
}

impl<T: Scalar, S: StateStore<T>> RangeOptimizer<T> for Sgd<T, S> {
    type Update = SgdUpdate<T>;

    fn begin_step<M: Module<T>>(&mut self, model: &M) -> Result<(SgdUpdate<T>, &mut [T]), OptimError> {
        let lr = learning_rate(self.lr, NAME)?;
        self.layout.check(NAME, model)?;
        let update = SgdUpdate {
            lr,
            momentum: self.momentum,
            keep: T::ONE - self.dampening,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
            maximize: self.maximize,
            first: self.steps == 0,
        };
        let len = self.state_len(M::PARAMS);
        let state = self.state.take(len, "Sgd momentum buffer")?;
        // Only "after the first step" matters: a restored count at its limit stays there.
        self.steps = self.steps.saturating_add(1);
        Ok((update, state))
    }

    #[inline]
    fn apply(u: &SgdUpdate<T>, value: &mut [T], grad: &[T], state: &mut [&mut [T]]) {
        let (lr, wd) = (u.lr, u.weight_decay);
        let buf = match state.first_mut() {
            Some(buf) if u.momentum != T::ZERO => buf,
            _ => {
                // The options chosen once per call, not per value: the plain update then
                // vectorizes (8x fewer instructions in the W1 and W3 workloads).
                match (u.maximize, wd != T::ZERO) {
                    (false, false) => plain::<T, false, false>(lr, wd, value, grad),
                    (false, true) => plain::<T, false, true>(lr, wd, value, grad),
                    (true, false) => plain::<T, true, false>(lr, wd, value, grad),
                    (true, true) => plain::<T, true, true>(lr, wd, value, grad),
                }
                return;
            }
        };
        for ((p, &g), b) in value.iter_mut().zip(grad).zip(buf.iter_mut()) {
            let mut g = if u.maximize { -g } else { g };
            if wd != T::ZERO {
                g += wd * *p;
            }
            *b = if u.first { g } else { u.momentum * *b + u.keep * g };
            let d = if u.nesterov { g + u.momentum * *b } else { *b };
            *p -= lr * d;
        }
    }
}

/// `step` (whether the momentum buffer is initialised), then, with momentum, the block
/// `momentum_buffer`.
impl<T: Scalar, S: StateStore<T>> OptimizerState<T> for Sgd<T, S> {
    fn kind(&self) -> &'static str {
        "Sgd"
    }

    fn visit_state<F: FnMut(StateRef<'_, T>)>(&self, params: usize, path: &Path<'_>, f: &mut F) {
        visit_step_and_blocks(self.steps, &self.state, params, self.blocks(), path, f);
    }

    fn visit_state_mut<F: FnMut(StateMut<'_, T>)>(
        &mut self,
        params: usize,
        path: &Path<'_>,
        f: &mut F,
    ) -> Result<(), OptimError> {
        let blocks = self.blocks();
        visit_step_and_blocks_mut(&mut self.steps, &mut self.state, "Sgd momentum buffer", params, blocks, path, f)?;
        // Restored state is checked against its model by the checkpoint, by name and
        // shape: the next step adopts that model's layout.
        self.layout.clear();
        Ok(())
    }
}

/// `θ ← θ - lr · g` without momentum, `g` negated when maximizing and with
/// `weight_decay · θ` added when decaying: one loop per combination, with no branch inside.
#[inline(always)]
fn plain<T: Scalar, const MAXIMIZE: bool, const DECAY: bool>(lr: T, wd: T, value: &mut [T], grad: &[T]) {
    for (p, &g) in value.iter_mut().zip(grad) {
        let mut g = if MAXIMIZE { -g } else { g };
        if DECAY {
            g += wd * *p;
        }
        *p -= lr * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::tiny;

    #[test]
    fn momentum_follows_the_formula_and_skips_frozen_parameters() {
        let (mut m, g) = tiny();
        let mut buf = [f64::NAN; 6]; // the first step initialises whatever is there
        let mut opt = Sgd::with_state(0.1, &mut buf[..]).momentum(0.5).dampening(0.25);
        opt.step(&mut m, &g);
        opt.step(&mut m, &g);
        // b1 = g, b2 = 0.5 g + 0.75 g = 1.25 g; θ = θ0 - 0.1 (g + 1.25 g)
        assert!((m.a[1] - (-2.0 + 0.1 * 0.3 * 2.25)).abs() < 1e-15);
        assert!((m.b[0] - (0.25 - 0.1 * 2.0 * 2.25)).abs() < 1e-15);
        assert_eq!(m.f, [7.0]);
        assert_eq!(opt.steps(), 2);
    }

    #[cfg(feature = "std")]
    #[test]
    fn every_invalid_setting_is_refused_when_built() {
        use crate::optim::testing::refused;
        type Opt = Sgd<f64, alloc::vec::Vec<f64>>;
        let lr = "use a finite learning rate of at least 0, such as 1e-3";
        let momentum = "use a momentum in [0, 1), such as 0.9, or 0 for none";
        let dampening = "use a dampening in [0, 1], or 0 for none";
        let wd = "use a finite weight decay of at least 0, or 0 for none";
        for v in [-0.1, f64::NAN, f64::INFINITY] {
            refused(Opt::try_new(v), || Opt::new(v), &std::format!("Sgd: learning rate = {v:?} is out of range; {lr}"));
            let fixed = || Sgd::with_state(v, [0.0; 4]);
            refused(
                Sgd::try_with_state(v, [0.0; 4]),
                fixed,
                &std::format!("Sgd: learning rate = {v:?} is out of range; {lr}"),
            );
            let msg = std::format!("Sgd: weight decay = {v:?} is out of range; {wd}");
            refused(Opt::new(0.1).try_weight_decay(v), || Opt::new(0.1).weight_decay(v), &msg);
        }
        for v in [-0.5, 1.0, 1.5, f64::NAN] {
            let msg = std::format!("Sgd: momentum = {v:?} is out of range; {momentum}");
            refused(Opt::new(0.1).try_momentum(v), || Opt::new(0.1).momentum(v), &msg);
        }
        for v in [-0.5, 1.5, f64::NEG_INFINITY] {
            let msg = std::format!("Sgd: dampening = {v:?} is out of range; {dampening}");
            refused(Opt::new(0.1).try_dampening(v), || Opt::new(0.1).dampening(v), &msg);
        }
        // Nesterov momentum needs momentum and no dampening, whichever is set last.
        let msg = std::format!("Sgd: {NESTEROV}");
        refused(Opt::new(0.1).try_nesterov(true), || Opt::new(0.1).nesterov(true), &msg);
        let damped = || Opt::new(0.1).momentum(0.9).dampening(0.1);
        refused(damped().try_nesterov(true), || damped().nesterov(true), &msg);
        let nesterov = || Opt::new(0.1).momentum(0.9).nesterov(true);
        refused(nesterov().try_dampening(0.1), || nesterov().dampening(0.1), &msg);
        refused(nesterov().try_momentum(0.0), || nesterov().momentum(0.0), &msg);
        // The ends of each range are accepted.
        let edge = Opt::new(0.0).momentum(0.0).dampening(1.0).weight_decay(0.0).momentum(0.999).dampening(0.0);
        assert!(edge.try_nesterov(true).is_ok());
    }

    #[test]
    fn a_short_buffer_is_an_error_and_changes_nothing() {
        let (mut m, g) = tiny();
        let before = m.clone();
        let mut opt = Sgd::with_state(0.1, [0.0f64; 5]).momentum(0.9);
        assert!(matches!(opt.try_step(&mut m, &g), Err(OptimError::State(_))));
        assert_eq!(m, before);
        // Plain SGD needs no state at all.
        Sgd::with_state(0.1, [0.0f64; 0]).step(&mut m, &g);
        assert_ne!(m, before);
    }

    #[test]
    #[should_panic(expected = "Sgd momentum buffer: the view needs 6 values but the data holds 2")]
    fn step_panics_with_the_error_message() {
        let (mut m, g) = tiny();
        Sgd::with_state(0.1, [0.0f64; 2]).momentum(0.9).step(&mut m, &g);
    }
}
