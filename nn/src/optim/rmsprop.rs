//! RMSprop; PyTorch's `torch.optim.RMSprop`.
//!
//! Per step, for each parameter `θ` with gradient `g` (`-g` when maximizing):
//!
//! ```text
//! g ← g + weight_decay · θ
//! s ← α s + (1 - α) g²
//! a ← α a + (1 - α) g;   d ← √(s - a²) + eps      centered
//!                        d ← √s + eps             otherwise
//! b ← momentum · b + g / d;   θ ← θ - lr · b      with momentum > 0
//! θ ← θ - lr · g / d                              otherwise
//! ```
//!
//! No bias correction: `s` starts at zero, so early steps are large, as PyTorch's.

use monograd_core::{Module, Scalar};

use monograd_core::module::Path;

use super::state::{visit_step_and_blocks, visit_step_and_blocks_mut, OptimizerState, StateMut, StateRef};
use super::{
    built, for_each_param, learning_rate, setting, Layout, LayoutLock, OptimError, Optimizer, Range, StateStore,
    WEIGHT_DECAY,
};

/// RMSprop, PyTorch's semantics (defaults: `lr = 0.01` is PyTorch's, but the rate is
/// always given here; `alpha = 0.99`, `eps = 1e-8`, no momentum, not centered).
///
/// ```
/// use monograd_nn::{Linear, Optimizer, RmsProp};
/// let mut fc = Linear::<1, 1, f64> { weight: [[1.0]], bias: [0.0] };
/// let grad = Linear::<1, 1, f64> { weight: [[4.0]], bias: [0.0] };
/// RmsProp::new(0.01).alpha(0.75).step(&mut fc, &grad);
/// // s = 0.25 · 16 = 4, so the step is lr · 4 / (2 + eps).
/// assert!((fc.weight[0][0] - (1.0 - 0.02)).abs() < 1e-9);
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp<T, S> {
    lr: T,
    alpha: T,
    eps: T,
    weight_decay: T,
    momentum: T,
    centered: bool,
    maximize: bool,
    state: S,
    steps: u64,
    layout: LayoutLock,
}

const NAME: &str = "RmsProp";

#[cfg(feature = "alloc")]
impl<T: Scalar> RmsProp<T, alloc::vec::Vec<T>> {
    /// RmsProp with learning rate `lr` and its state on the heap, allocated on the
    /// first step.
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`RmsProp::try_new`]'s message.
    #[track_caller]
    pub fn new(lr: T) -> Self {
        built(Self::try_new(lr))
    }

    /// [`RmsProp::new`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_new(lr: T) -> Result<Self, OptimError> {
        Self::try_with_state(lr, alloc::vec::Vec::new())
    }
}

impl<T: Scalar, S: StateStore<T>> RmsProp<T, S> {
    /// The most state values per parameter any configuration keeps (3: square average,
    /// momentum buffer, gradient average): size a fixed buffer with
    /// `STATE_PER_PARAM * M::PARAMS` values.
    pub const STATE_PER_PARAM: usize = 3;

    /// RMSprop with learning rate `lr`, keeping its state in `state` (which needs
    /// [`RmsProp::state_len`] values).
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`RmsProp::try_with_state`]'s message.
    #[track_caller]
    pub fn with_state(lr: T, state: S) -> Self {
        built(Self::try_with_state(lr, state))
    }

    /// [`RmsProp::with_state`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_with_state(lr: T, state: S) -> Result<Self, OptimError> {
        Ok(Self {
            lr: learning_rate(lr, NAME)?,
            alpha: T::from_f64(0.99),
            eps: T::from_f64(1e-8),
            weight_decay: T::ZERO,
            momentum: T::ZERO,
            centered: false,
            maximize: false,
            state,
            steps: 0,
            layout: LayoutLock::new(),
        })
    }

    /// Smoothing constant of the square average, in `[0, 1)` (default 0.99).
    ///
    /// # Panics
    /// Where [`RmsProp::try_alpha`] returns an error, with its message.
    #[track_caller]
    pub fn alpha(self, alpha: T) -> Self {
        built(self.try_alpha(alpha))
    }

    /// [`RmsProp::alpha`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `alpha` is not in `[0, 1)`.
    pub fn try_alpha(mut self, alpha: T) -> Result<Self, OptimError> {
        self.alpha = setting(alpha, Range::Unit, NAME, "alpha", "use an alpha in [0, 1), such as 0.99")?;
        Ok(self)
    }

    /// Added to the denominator for stability, above 0 (default `1e-8`).
    ///
    /// # Panics
    /// Where [`RmsProp::try_eps`] returns an error, with its message.
    #[track_caller]
    pub fn eps(self, eps: T) -> Self {
        built(self.try_eps(eps))
    }

    /// [`RmsProp::eps`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `eps` is not finite and above 0 (at 0, a zero gradient divides 0 by 0).
    pub fn try_eps(mut self, eps: T) -> Result<Self, OptimError> {
        self.eps = setting(eps, Range::Positive, NAME, "eps", "use a finite eps above 0, such as 1e-8")?;
        Ok(self)
    }

    /// L2 penalty added to the gradient (default 0).
    ///
    /// # Panics
    /// Where [`RmsProp::try_weight_decay`] returns an error, with its message.
    #[track_caller]
    pub fn weight_decay(self, weight_decay: T) -> Self {
        built(self.try_weight_decay(weight_decay))
    }

    /// [`RmsProp::weight_decay`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `weight_decay` is negative or not finite.
    pub fn try_weight_decay(mut self, weight_decay: T) -> Result<Self, OptimError> {
        self.weight_decay = setting(weight_decay, Range::NonNegative, NAME, "weight decay", WEIGHT_DECAY)?;
        Ok(self)
    }

    /// Momentum factor, in `[0, 1)` (default 0: none; otherwise one more state value per
    /// parameter).
    ///
    /// # Panics
    /// Where [`RmsProp::try_momentum`] returns an error, with its message.
    #[track_caller]
    pub fn momentum(self, momentum: T) -> Self {
        built(self.try_momentum(momentum))
    }

    /// [`RmsProp::momentum`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `momentum` is not in `[0, 1)`.
    pub fn try_momentum(mut self, momentum: T) -> Result<Self, OptimError> {
        self.momentum =
            setting(momentum, Range::Unit, NAME, "momentum", "use a momentum in [0, 1), such as 0.9, or 0 for none")?;
        Ok(self)
    }

    /// Normalises by the estimated variance instead of the second moment (default off;
    /// one more state value per parameter).
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }

    /// Ascends instead of descending (default off).
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }

    /// State values this configuration keeps for a model of `params` parameters.
    pub fn state_len(&self, params: usize) -> usize {
        params * (1 + usize::from(self.momentum > T::ZERO) + usize::from(self.centered))
    }

    /// Steps taken since creation or [`RmsProp::reset`].
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The state store: square averages, then the momentum buffer (with momentum), then
    /// gradient averages (centered), each a block laid out by parameter offset.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Forgets the averages and the model: the next step starts afresh, with any model.
    pub fn reset(&mut self) {
        self.steps = 0;
        self.layout.clear();
    }

    /// The state blocks of this configuration, in their order in the store.
    fn blocks(&self) -> &'static [&'static str] {
        match (self.momentum > T::ZERO, self.centered) {
            (false, false) => &["square_avg"],
            (true, false) => &["square_avg", "momentum_buffer"],
            (false, true) => &["square_avg", "grad_avg"],
            (true, true) => &["square_avg", "momentum_buffer", "grad_avg"],
        }
    }
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for RmsProp<T, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        let lr = learning_rate(self.lr, NAME)?;
        self.layout.check(NAME, model)?;
        let (alpha, eps, wd, momentum) = (self.alpha, self.eps, self.weight_decay, self.momentum);
        let (centered, maximize) = (self.centered, self.maximize);
        let params = M::PARAMS;
        let state = self.state.take(self.state_len(params), "RmsProp state")?;
        if self.steps == 0 {
            state.fill(T::ZERO);
        }
        for_each_param(model, grad, |offset, value, grad| {
            let n = value.len();
            // Blocks in order: square average, momentum buffer, gradient average.
            let mut blocks = state.chunks_exact_mut(params).map(|b| &mut b[offset..offset + n]);
            let (Some(sq), mut buf, mut avg) = (blocks.next(), None, None) else {
                return;
            };
            if momentum > T::ZERO {
                buf = blocks.next();
            }
            if centered {
                avg = blocks.next();
            }
            for i in 0..n {
                let mut g = if maximize { -grad[i] } else { grad[i] };
                if wd != T::ZERO {
                    g += wd * value[i];
                }
                sq[i] = alpha * sq[i] + (T::ONE - alpha) * g * g;
                let d = match avg.as_deref_mut() {
                    Some(a) => {
                        a[i] += (g - a[i]) * (T::ONE - alpha);
                        (sq[i] - a[i] * a[i]).sqrt() + eps
                    }
                    None => sq[i].sqrt() + eps,
                };
                match buf.as_deref_mut() {
                    Some(b) => {
                        b[i] = momentum * b[i] + g / d;
                        value[i] -= lr * b[i];
                    }
                    None => value[i] -= lr * (g / d),
                }
            }
        });
        // Only "after the first step" matters: a restored count at its limit stays there.
        self.steps = self.steps.saturating_add(1);
        Ok(())
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

/// `step`, then the blocks `square_avg`, `momentum_buffer` (with momentum) and `grad_avg`
/// (centered).
impl<T: Scalar, S: StateStore<T>> OptimizerState<T> for RmsProp<T, S> {
    fn kind(&self) -> &'static str {
        "RmsProp"
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
        visit_step_and_blocks_mut(&mut self.steps, &mut self.state, "RmsProp state", params, blocks, path, f)?;
        // Restored state is checked against its model by the checkpoint, by name and
        // shape: the next step adopts that model's layout.
        self.layout.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::tiny;

    #[test]
    fn state_grows_with_momentum_and_centering() {
        let opt = RmsProp::with_state(0.01, [0.0f64; 0]);
        assert_eq!(opt.state_len(6), 6);
        assert_eq!(opt.clone().momentum(0.9).state_len(6), 12);
        assert_eq!(opt.momentum(0.9).centered(true).state_len(6), 18);
    }

    #[test]
    fn centered_momentum_runs_in_a_fixed_buffer() {
        let (mut m, g) = tiny();
        let mut opt = RmsProp::with_state(0.01, [f64::NAN; 18]).momentum(0.5).centered(true);
        opt.step(&mut m, &g);
        opt.step(&mut m, &g);
        assert!(m.a.iter().chain(&m.b).all(|v| v.is_finite()));
        assert_eq!(m.f, [7.0]);
        assert!(opt.try_step(&mut m, &g).is_ok());
        let mut short = RmsProp::with_state(0.01, [0.0f64; 17]).momentum(0.5).centered(true);
        assert!(short.try_step(&mut m, &g).is_err());
    }

    #[cfg(feature = "std")]
    #[test]
    fn every_invalid_setting_is_refused_when_built() {
        use crate::optim::testing::refused;
        use std::format;
        type Opt = RmsProp<f64, alloc::vec::Vec<f64>>;
        let lr = "use a finite learning rate of at least 0, such as 1e-3";
        let wd = "use a finite weight decay of at least 0, or 0 for none";
        for v in [-0.1, f64::NAN, f64::INFINITY] {
            let msg = format!("RmsProp: learning rate = {v:?} is out of range; {lr}");
            refused(Opt::try_new(v), || Opt::new(v), &msg);
            refused(RmsProp::try_with_state(v, [0.0; 2]), || RmsProp::with_state(v, [0.0; 2]), &msg);
            let msg = format!("RmsProp: weight decay = {v:?} is out of range; {wd}");
            refused(Opt::new(0.1).try_weight_decay(v), || Opt::new(0.1).weight_decay(v), &msg);
        }
        for v in [0.0, -1e-8, f64::NAN, f64::INFINITY] {
            let msg = format!("RmsProp: eps = {v:?} is out of range; use a finite eps above 0, such as 1e-8");
            refused(Opt::new(0.1).try_eps(v), || Opt::new(0.1).eps(v), &msg);
        }
        for v in [-0.1, 1.0, 2.0, f64::NAN] {
            let msg = format!("RmsProp: alpha = {v:?} is out of range; use an alpha in [0, 1), such as 0.99");
            refused(Opt::new(0.1).try_alpha(v), || Opt::new(0.1).alpha(v), &msg);
            let msg = format!(
                "RmsProp: momentum = {v:?} is out of range; use a momentum in [0, 1), such as 0.9, or 0 for none"
            );
            refused(Opt::new(0.1).try_momentum(v), || Opt::new(0.1).momentum(v), &msg);
        }
        assert!(Opt::new(0.0).alpha(0.0).momentum(0.0).weight_decay(0.0).try_eps(f64::MIN_POSITIVE).is_ok());
    }
}
