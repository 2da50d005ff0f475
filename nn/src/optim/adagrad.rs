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
use super::{for_each_param, require, slots, OptimError, Optimizer, StateStore};

/// Adagrad, PyTorch's semantics (defaults: no learning-rate decay, no weight decay,
/// `initial_accumulator_value = 0`, `eps = 1e-10`).
///
/// ```
/// use monograd_nn::{Adagrad, Linear, Optimizer};
/// let mut fc = Linear::<1, 1, f64> { weight: [[1.0]], bias: [0.0] };
/// let grad = Linear::<1, 1, f64> { weight: [[3.0]], bias: [0.0] };
/// let mut opt = Adagrad::new(0.1).eps(0.0).initial_accumulator_value(16.0);
/// opt.step(&mut fc, &grad);
/// // s = 16 + 9 = 25: the step is 0.1 · 3 / 5.
/// assert!((fc.weight[0][0] - 0.94).abs() < 1e-15);
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
}

#[cfg(feature = "alloc")]
impl<T: Scalar> Adagrad<T, alloc::vec::Vec<T>> {
    /// Adagrad with learning rate `lr` and its accumulators on the heap, allocated on the
    /// first step.
    pub fn new(lr: T) -> Self {
        Self::with_state(lr, alloc::vec::Vec::new())
    }
}

impl<T: Scalar, S: StateStore<T>> Adagrad<T, S> {
    /// State values per parameter (the accumulated square): size a fixed buffer with
    /// `STATE_PER_PARAM * M::PARAMS` values.
    pub const STATE_PER_PARAM: usize = 1;

    /// Adagrad with learning rate `lr`, keeping its accumulators in `state`.
    pub fn with_state(lr: T, state: S) -> Self {
        Self {
            lr,
            lr_decay: T::ZERO,
            weight_decay: T::ZERO,
            initial: T::ZERO,
            eps: T::from_f64(1e-10),
            maximize: false,
            state,
            steps: 0,
        }
    }

    /// Learning-rate decay: step `t` uses `lr / (1 + (t - 1) · lr_decay)` (default 0).
    pub fn lr_decay(mut self, lr_decay: T) -> Self {
        self.lr_decay = lr_decay;
        self
    }

    /// L2 penalty added to the gradient (default 0).
    pub fn weight_decay(mut self, weight_decay: T) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The accumulators' starting value (default 0).
    pub fn initial_accumulator_value(mut self, value: T) -> Self {
        self.initial = value;
        self
    }

    /// Added to the denominator for stability (default `1e-10`).
    pub fn eps(mut self, eps: T) -> Self {
        self.eps = eps;
        self
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

    /// Forgets the accumulators: the next step starts again from the initial value.
    pub fn reset(&mut self) {
        self.steps = 0;
    }

    fn validate(&self) -> Result<(), OptimError> {
        let name = "Adagrad";
        require(self.lr >= T::ZERO, name, "the learning rate must be at least 0")?;
        require(self.lr_decay >= T::ZERO, name, "lr_decay must be at least 0")?;
        require(self.weight_decay >= T::ZERO, name, "weight decay must be at least 0")?;
        require(self.initial >= T::ZERO, name, "initial_accumulator_value must be at least 0")?;
        require(self.eps >= T::ZERO, name, "eps must be at least 0")
    }
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Adagrad<T, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        self.validate()?;
        let (eps, wd, maximize) = (self.eps, self.weight_decay, self.maximize);
        // A count restored from a file may be anything: checked, before anything changes.
        let next = self
            .steps
            .checked_add(1)
            .ok_or(OptimError::Config { optimizer: "Adagrad", problem: "the step count would overflow" })?;
        let clr = self.lr / (T::ONE + T::from_f64(self.steps as f64) * self.lr_decay);
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
        visit_step_and_blocks_mut(&mut self.steps, &mut self.state, "Adagrad state", params, &["sum"], path, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::tiny;

    #[test]
    fn lr_decay_divides_by_the_step_count() {
        let (mut m, g) = tiny();
        let mut opt = Adagrad::with_state(1.0, [0.0f64; 6]).lr_decay(1.0).eps(0.0);
        opt.step(&mut m, &g);
        // Step 1: lr, s = g², step g / |g| = 1. Step 2: lr / 2, s = 2 g², step 1/√2.
        assert!((m.b[0] - (0.25 - 1.0)).abs() < 1e-15);
        opt.step(&mut m, &g);
        assert!((m.b[0] - (0.25 - 1.0 - 0.5 / 2f64.sqrt())).abs() < 1e-15);
        assert_eq!(m.f, [7.0]);
    }

    #[test]
    fn negative_settings_are_config_errors() {
        let (mut m, g) = tiny();
        let e = Adagrad::with_state(0.1, [0.0f64; 6]).lr_decay(-1.0).try_step(&mut m, &g).unwrap_err();
        assert_eq!(e, OptimError::Config { optimizer: "Adagrad", problem: "lr_decay must be at least 0" });
    }
}
