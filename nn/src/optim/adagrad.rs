//! Adagrad; PyTorch's `torch.optim.Adagrad`.
//!
//! Per step `t = 1, 2, ...`, for each parameter `θ` with gradient `g` (`-g` when
//! maximizing):
//!
//! ```text
//! g ← g + weight_decay · θ
//! lr_t = lr / (1 + (t - 1) · lr_decay)
//! s ← s + g²                     (s starts at initial_accumulator_value)
//! θ ← θ - lr_t · g / (√s + eps)
//! ```

use monograd_core::{Module, Scalar};

use monograd_core::module::Path;

use super::state::{visit_step_and_blocks, visit_step_and_blocks_mut, OptimizerState, StateMut, StateRef};
use super::{
    built, for_each_param, learning_rate, setting, slots, Layout, LayoutLock, OptimError, Optimizer, Range, StateStore,
    WEIGHT_DECAY,
};

/// Adagrad, PyTorch's semantics (defaults: no learning-rate decay, no weight decay,
/// `initial_accumulator_value = 0`, `eps = 1e-10`).
///
/// ```
/// use monograd_nn::{Adagrad, Linear, Optimizer};
/// let mut fc = Linear::<1, 1, f64> { weight: [[1.0]], bias: [0.0] };
/// let grad = Linear::<1, 1, f64> { weight: [[3.0]], bias: [0.0] };
/// let mut opt = Adagrad::new(0.1).initial_accumulator_value(16.0);
/// opt.step(&mut fc, &grad);
/// // s = 16 + 9 = 25: the step is 0.1 · 3 / (5 + eps).
/// assert!((fc.weight[0][0] - 0.94).abs() < 1e-11);
/// ```
#[derive(Clone, Debug)]
pub struct Adagrad<T, S> {
    lr: T,
    lr_decay: T,
    weight_decay: T,
    initial: T,
    eps: T,
    maximize: bool,
    state: S,
    steps: u64,
    layout: LayoutLock,
}

const NAME: &str = "Adagrad";

#[cfg(feature = "alloc")]
impl<T: Scalar> Adagrad<T, alloc::vec::Vec<T>> {
    /// Adagrad with learning rate `lr` and its accumulators on the heap, allocated on the
    /// first step.
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`Adagrad::try_new`]'s message.
    #[track_caller]
    pub fn new(lr: T) -> Self {
        built(Self::try_new(lr))
    }

    /// [`Adagrad::new`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_new(lr: T) -> Result<Self, OptimError> {
        Self::try_with_state(lr, alloc::vec::Vec::new())
    }
}

impl<T: Scalar, S: StateStore<T>> Adagrad<T, S> {
    /// State values per parameter (the accumulated square): size a fixed buffer with
    /// `STATE_PER_PARAM * M::PARAMS` values.
    pub const STATE_PER_PARAM: usize = 1;

    /// Adagrad with learning rate `lr`, keeping its accumulators in `state`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`Adagrad::try_with_state`]'s message.
    #[track_caller]
    pub fn with_state(lr: T, state: S) -> Self {
        built(Self::try_with_state(lr, state))
    }

    /// [`Adagrad::with_state`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_with_state(lr: T, state: S) -> Result<Self, OptimError> {
        Ok(Self {
            lr: learning_rate(lr, NAME)?,
            lr_decay: T::ZERO,
            weight_decay: T::ZERO,
            initial: T::ZERO,
            eps: T::from_f64(1e-10),
            maximize: false,
            state,
            steps: 0,
            layout: LayoutLock::new(),
        })
    }

    /// Learning-rate decay: step `t` uses `lr / (1 + (t - 1) · lr_decay)` (default 0).
    ///
    /// # Panics
    /// Where [`Adagrad::try_lr_decay`] returns an error, with its message.
    #[track_caller]
    pub fn lr_decay(self, lr_decay: T) -> Self {
        built(self.try_lr_decay(lr_decay))
    }

    /// [`Adagrad::lr_decay`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr_decay` is negative or not finite.
    pub fn try_lr_decay(mut self, lr_decay: T) -> Result<Self, OptimError> {
        self.lr_decay = setting(
            lr_decay,
            Range::NonNegative,
            NAME,
            "lr_decay",
            "use a finite lr_decay of at least 0, or 0 for none",
        )?;
        Ok(self)
    }

    /// L2 penalty added to the gradient (default 0).
    ///
    /// # Panics
    /// Where [`Adagrad::try_weight_decay`] returns an error, with its message.
    #[track_caller]
    pub fn weight_decay(self, weight_decay: T) -> Self {
        built(self.try_weight_decay(weight_decay))
    }

    /// [`Adagrad::weight_decay`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `weight_decay` is negative or not finite.
    pub fn try_weight_decay(mut self, weight_decay: T) -> Result<Self, OptimError> {
        self.weight_decay = setting(weight_decay, Range::NonNegative, NAME, "weight decay", WEIGHT_DECAY)?;
        Ok(self)
    }

    /// The accumulators' starting value (default 0).
    ///
    /// # Panics
    /// Where [`Adagrad::try_initial_accumulator_value`] returns an error, with its message.
    #[track_caller]
    pub fn initial_accumulator_value(self, value: T) -> Self {
        built(self.try_initial_accumulator_value(value))
    }

    /// [`Adagrad::initial_accumulator_value`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `value` is negative or not finite.
    pub fn try_initial_accumulator_value(mut self, value: T) -> Result<Self, OptimError> {
        self.initial = setting(
            value,
            Range::NonNegative,
            NAME,
            "initial_accumulator_value",
            "use a finite initial_accumulator_value of at least 0, such as 0",
        )?;
        Ok(self)
    }

    /// Added to the denominator for stability, above 0 (default `1e-10`).
    ///
    /// # Panics
    /// Where [`Adagrad::try_eps`] returns an error, with its message.
    #[track_caller]
    pub fn eps(self, eps: T) -> Self {
        built(self.try_eps(eps))
    }

    /// [`Adagrad::eps`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `eps` is not finite and above 0 (at 0, a zero gradient with a zero accumulator divides 0 by 0).
    pub fn try_eps(mut self, eps: T) -> Result<Self, OptimError> {
        self.eps = setting(eps, Range::Positive, NAME, "eps", "use a finite eps above 0, such as 1e-10")?;
        Ok(self)
    }

    /// Ascends instead of descending (default off).
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }

    /// State values for a model of `params` parameters.
    pub fn state_len(&self, params: usize) -> usize {
        params
    }

    /// Steps taken since creation or [`Adagrad::reset`].
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The accumulators, laid out by parameter offset.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Forgets the accumulators and the model: the next step starts again from the
    /// initial value, with any model.
    pub fn reset(&mut self) {
        self.steps = 0;
        self.layout.clear();
    }
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Adagrad<T, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        let lr = learning_rate(self.lr, NAME)?;
        self.layout.check(NAME, model)?;
        let (eps, wd, maximize) = (self.eps, self.weight_decay, self.maximize);
        // A count restored from a file may be anything: checked, before anything changes.
        let next = self
            .steps
            .checked_add(1)
            .ok_or(OptimError::Config { optimizer: "Adagrad", problem: "the step count would overflow" })?;
        let clr = lr / (T::ONE + T::from_f64(self.steps as f64) * self.lr_decay);
        let params = M::PARAMS;
        let state = self.state.take(self.state_len(params), "Adagrad state")?;
        if self.steps == 0 {
            state.fill(self.initial);
        }
        for_each_param(model, grad, |offset, value, grad| {
            let [sum] = slots::<1, T>(state, params, offset, value.len());
            for ((p, &g), s) in value.iter_mut().zip(grad).zip(sum.iter_mut()) {
                let mut g = if maximize { -g } else { g };
                if wd != T::ZERO {
                    g += wd * *p;
                }
                *s += g * g;
                *p -= clr * (g / (s.sqrt() + eps));
            }
        });
        self.steps = next;
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

/// `step` (the `t` of the learning-rate decay, and whether the accumulators are
/// initialised), then the block `sum`.
impl<T: Scalar, S: StateStore<T>> OptimizerState<T> for Adagrad<T, S> {
    fn kind(&self) -> &'static str {
        "Adagrad"
    }

    fn visit_state<F: FnMut(StateRef<'_, T>)>(&self, params: usize, path: &Path<'_>, f: &mut F) {
        visit_step_and_blocks(self.steps, &self.state, params, &["sum"], path, f);
    }

    fn visit_state_mut<F: FnMut(StateMut<'_, T>)>(
        &mut self,
        params: usize,
        path: &Path<'_>,
        f: &mut F,
    ) -> Result<(), OptimError> {
        visit_step_and_blocks_mut(&mut self.steps, &mut self.state, "Adagrad state", params, &["sum"], path, f)?;
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
    fn lr_decay_divides_by_the_step_count() {
        let (mut m, g) = tiny();
        // An eps that vanishes next to these gradients (0 is refused: a zero gradient
        // with a zero accumulator would divide 0 by 0).
        let mut opt = Adagrad::with_state(1.0, [0.0f64; 6]).lr_decay(1.0).eps(1e-300);
        opt.step(&mut m, &g);
        // Step 1: lr, s = g², step g / |g| = 1. Step 2: lr / 2, s = 2 g², step 1/√2.
        assert!((m.b[0] - (0.25 - 1.0)).abs() < 1e-15);
        opt.step(&mut m, &g);
        assert!((m.b[0] - (0.25 - 1.0 - 0.5 / 2f64.sqrt())).abs() < 1e-15);
        assert_eq!(m.f, [7.0]);
    }

    #[cfg(feature = "std")]
    #[test]
    fn every_invalid_setting_is_refused_when_built() {
        use crate::optim::testing::refused;
        use std::format;
        type Opt = Adagrad<f64, alloc::vec::Vec<f64>>;
        let lr = "use a finite learning rate of at least 0, such as 1e-3";
        let wd = "use a finite weight decay of at least 0, or 0 for none";
        for v in [-0.1, f64::NAN, f64::INFINITY] {
            let msg = format!("Adagrad: learning rate = {v:?} is out of range; {lr}");
            refused(Opt::try_new(v), || Opt::new(v), &msg);
            refused(Adagrad::try_with_state(v, [0.0; 2]), || Adagrad::with_state(v, [0.0; 2]), &msg);
            let msg = format!("Adagrad: weight decay = {v:?} is out of range; {wd}");
            refused(Opt::new(0.1).try_weight_decay(v), || Opt::new(0.1).weight_decay(v), &msg);
            let msg = format!(
                "Adagrad: lr_decay = {v:?} is out of range; use a finite lr_decay of at least 0, or 0 for none"
            );
            refused(Opt::new(0.1).try_lr_decay(v), || Opt::new(0.1).lr_decay(v), &msg);
            let msg = format!(
                "Adagrad: initial_accumulator_value = {v:?} is out of range; \
                 use a finite initial_accumulator_value of at least 0, such as 0"
            );
            let make = || Opt::new(0.1).initial_accumulator_value(v);
            refused(Opt::new(0.1).try_initial_accumulator_value(v), make, &msg);
        }
        for v in [0.0, -1e-8, f64::NAN, f64::INFINITY] {
            let msg = format!("Adagrad: eps = {v:?} is out of range; use a finite eps above 0, such as 1e-10");
            refused(Opt::new(0.1).try_eps(v), || Opt::new(0.1).eps(v), &msg);
        }
        let edge = Opt::new(0.0).lr_decay(0.0).weight_decay(0.0).initial_accumulator_value(0.0);
        assert!(edge.try_eps(f64::MIN_POSITIVE).is_ok());
    }
}
