//! Learning-rate schedules: the learning rate as a function of the step, PyTorch's
//! `torch.optim.lr_scheduler` formulas in closed form.
//!
//! | schedule | PyTorch | `lr(step)` |
//! | --- | --- | --- |
//! | [`Constant`] | - | `base` |
//! | [`StepLr`] | `StepLR(step_size, gamma)` | `base · γ^⌊step / step_size⌋` |
//! | [`ExponentialLr`] | `ExponentialLR(gamma)` | `base · γ^step` |
//! | [`CosineAnnealingLr`] | `CosineAnnealingLR(T_max, eta_min)` | `η_min + (base - η_min) (1 + cos(π step / T_max)) / 2` |
//! | [`LinearLr`] | `LinearLR(start_factor, end_factor, total_iters)` | `base · (s + (e - s) min(step, total) / total)` |
//! | [`Sequential`] (`a.then(m, b)`) | `SequentialLR([a, b], milestones=[m])` | `a(step)` before `m`, `b(step - m)` from it |
//! | any `Fn(usize) -> f64` | `LambdaLR` (with the base folded in) | the closure |
//!
//! `step` counts optimizer steps from 0: the rate the first step uses is `lr(0)`, as
//! PyTorch's `scheduler.step()` after each `optimizer.step()` gives. Like PyTorch's, the
//! cosine continues past `T_max` (rising again, period `2 T_max`); cap it with
//! [`Schedule::then`] and a [`Constant`] if that is not wanted. Drive an optimizer with
//! [`Optimizer::set_lr`] each step, or wrap it in [`Scheduled`].
//!
//! ```
//! use monograd_nn::optim::schedule::{CosineAnnealingLr, LinearLr, Schedule};
//!
//! // 100 steps of linear warmup from 1% of the rate, then cosine annealing over 900.
//! let sched = LinearLr::warmup(1e-3, 0.01, 100).then(100, CosineAnnealingLr::new(1e-3, 900, 0.0));
//! assert!((sched.lr(0) - 1e-5).abs() < 1e-18);
//! assert!((sched.lr(100) - 1e-3).abs() < 1e-18);
//! assert!(sched.lr(550) < 1e-3 && sched.lr(550) > 0.0);
//! assert!(sched.lr(1000).abs() < 1e-18);
//! ```

use monograd_core::{Module, Scalar};

use monograd_core::module::Path;

use super::state::{OptimizerState, StateMut, StateRef};
use super::{Layout, OptimError, Optimizer};

/// A learning rate for each step, counted from 0.
///
/// Implemented by the schedules here and by every `Fn(usize) -> f64`.
pub trait Schedule {
    /// The learning rate of step `step`.
    fn lr(&self, step: usize) -> f64;

    /// This schedule before step `milestone`, then `next` restarted from step 0:
    /// PyTorch's `SequentialLR`.
    ///
    /// ```
    /// use monograd_nn::optim::schedule::{Constant, Schedule};
    /// let s = Constant(0.1).then(2, |step: usize| 0.01 * step as f64);
    /// assert_eq!([s.lr(0), s.lr(1), s.lr(2), s.lr(3)], [0.1, 0.1, 0.0, 0.01]);
    /// ```
    fn then<S: Schedule>(self, milestone: usize, next: S) -> Sequential<Self, S>
    where
        Self: Sized,
    {
        Sequential { first: self, milestone, next }
    }
}

impl<F: Fn(usize) -> f64> Schedule for F {
    fn lr(&self, step: usize) -> f64 {
        self(step)
    }
}

/// The same rate at every step.
///
/// ```
/// use monograd_nn::optim::schedule::{Constant, Schedule};
/// assert_eq!(Constant(0.1).lr(1000), 0.1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant(pub f64);

impl Schedule for Constant {
    fn lr(&self, _: usize) -> f64 {
        self.0
    }
}

/// Decays by `gamma` every `step_size` steps: `base · γ^⌊step / step_size⌋`
/// (PyTorch's `StepLR`).
///
/// ```
/// use monograd_nn::optim::schedule::{Schedule, StepLr};
/// let s = StepLr::new(1.0, 2, 0.5);
/// assert_eq!([s.lr(0), s.lr(1), s.lr(2), s.lr(5)], [1.0, 1.0, 0.5, 0.25]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    /// The rate at step 0.
    pub base: f64,
    /// Steps between decays (0 is taken as 1).
    pub step_size: usize,
    /// The factor of each decay.
    pub gamma: f64,
}

impl StepLr {
    /// `base · gamma^⌊step / step_size⌋`.
    pub fn new(base: f64, step_size: usize, gamma: f64) -> Self {
        Self { base, step_size, gamma }
    }
}

impl Schedule for StepLr {
    fn lr(&self, step: usize) -> f64 {
        self.base * pow(self.gamma, step / self.step_size.max(1))
    }
}

/// Decays by `gamma` every step: `base · γ^step` (PyTorch's `ExponentialLR`).
///
/// ```
/// use monograd_nn::optim::schedule::{ExponentialLr, Schedule};
/// assert_eq!(ExponentialLr::new(1.0, 0.5).lr(3), 0.125);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialLr {
    /// The rate at step 0.
    pub base: f64,
    /// The factor per step.
    pub gamma: f64,
}

impl ExponentialLr {
    /// `base · gamma^step`.
    pub fn new(base: f64, gamma: f64) -> Self {
        Self { base, gamma }
    }
}

impl Schedule for ExponentialLr {
    fn lr(&self, step: usize) -> f64 {
        self.base * pow(self.gamma, step)
    }
}

/// Cosine annealing from `base` to `eta_min` over `t_max` steps (PyTorch's
/// `CosineAnnealingLR`, without restarts).
///
/// ```
/// use monograd_nn::optim::schedule::{CosineAnnealingLr, Schedule};
/// let s = CosineAnnealingLr::new(1.0, 10, 0.0);
/// assert_eq!(s.lr(0), 1.0);
/// assert!((s.lr(5) - 0.5).abs() < 1e-15);
/// assert!(s.lr(10).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    /// The rate at step 0.
    pub base: f64,
    /// Steps to reach `eta_min` (0 is taken as 1).
    pub t_max: usize,
    /// The lowest rate.
    pub eta_min: f64,
}

impl CosineAnnealingLr {
    /// Cosine annealing from `base` to `eta_min` over `t_max` steps.
    pub fn new(base: f64, t_max: usize, eta_min: f64) -> Self {
        Self { base, t_max, eta_min }
    }
}

impl Schedule for CosineAnnealingLr {
    fn lr(&self, step: usize) -> f64 {
        let phase = core::f64::consts::PI * step as f64 / self.t_max.max(1) as f64;
        self.eta_min + (self.base - self.eta_min) * (1.0 + Scalar::cos(phase)) / 2.0
    }
}

/// A linear ramp of the factor from `start_factor` to `end_factor` over `total_iters`
/// steps, constant after: `base · (s + (e - s) min(step, total) / total)` (PyTorch's
/// `LinearLR`). [`LinearLr::warmup`] is the usual warmup.
///
/// ```
/// use monograd_nn::optim::schedule::{LinearLr, Schedule};
/// let warm = LinearLr::warmup(1.0, 0.25, 3);
/// assert_eq!([warm.lr(0), warm.lr(1), warm.lr(2), warm.lr(3), warm.lr(9)], [0.25, 0.5, 0.75, 1.0, 1.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearLr {
    /// The rate the factors multiply.
    pub base: f64,
    /// The factor at step 0.
    pub start_factor: f64,
    /// The factor from step `total_iters` on.
    pub end_factor: f64,
    /// Steps of the ramp (0: `end_factor` throughout).
    pub total_iters: usize,
}

impl LinearLr {
    /// The factor ramps from `start_factor` to `end_factor` over `total_iters` steps.
    pub fn new(base: f64, start_factor: f64, end_factor: f64, total_iters: usize) -> Self {
        Self { base, start_factor, end_factor, total_iters }
    }

    /// Linear warmup: from `base · start_factor` to `base` over `steps` steps, then
    /// `base` (PyTorch's `LinearLR(start_factor, 1.0, steps)`).
    pub fn warmup(base: f64, start_factor: f64, steps: usize) -> Self {
        Self::new(base, start_factor, 1.0, steps)
    }
}

impl Schedule for LinearLr {
    fn lr(&self, step: usize) -> f64 {
        if self.total_iters == 0 {
            return self.base * self.end_factor;
        }
        let t = step.min(self.total_iters) as f64 / self.total_iters as f64;
        self.base * (self.start_factor + (self.end_factor - self.start_factor) * t)
    }
}

/// `first` before step `milestone`, then `next` counted from 0 at the milestone
/// (PyTorch's `SequentialLR`); built by [`Schedule::then`], and chains: `a.then(m1,
/// b).then(m2, c)` switches to `c` at step `m2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sequential<A, B> {
    /// The schedule before the milestone.
    pub first: A,
    /// The step at which `next` takes over.
    pub milestone: usize,
    /// The schedule from the milestone, restarted at 0.
    pub next: B,
}

impl<A: Schedule, B: Schedule> Schedule for Sequential<A, B> {
    fn lr(&self, step: usize) -> f64 {
        if step < self.milestone {
            self.first.lr(step)
        } else {
            self.next.lr(step - self.milestone)
        }
    }
}

/// `x^n` by repeated squaring: exact enough, with no platform math.
fn pow(x: f64, mut n: usize) -> f64 {
    let (mut base, mut acc) = (x, 1.0);
    while n > 0 {
        if n & 1 == 1 {
            acc *= base;
        }
        base *= base;
        n >>= 1;
    }
    acc
}

/// An optimizer whose learning rate follows a schedule: before its `k`-th step (from 0)
/// it sets the rate to `schedule.lr(k)`.
///
/// ```
/// use monograd_nn::optim::schedule::StepLr;
/// use monograd_nn::optim::{Optimizer, Scheduled};
/// use monograd_nn::{Linear, Sgd};
///
/// let mut fc = Linear::<1, 1, f64> { weight: [[0.0]], bias: [0.0] };
/// let grad = Linear::<1, 1, f64> { weight: [[1.0]], bias: [0.0] };
/// let mut opt = Scheduled::new(Sgd::new(0.0), StepLr::new(1.0, 1, 0.5));
/// for _ in 0..3 {
///     opt.step(&mut fc, &grad);
/// }
/// assert_eq!(fc.weight, [[-(1.0 + 0.5 + 0.25)]]);
/// assert_eq!(opt.steps(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct Scheduled<O, S> {
    /// The optimizer.
    pub optimizer: O,
    /// The schedule.
    pub schedule: S,
    step: usize,
}

impl<O, S: Schedule> Scheduled<O, S> {
    /// `optimizer` driven by `schedule`, from step 0.
    pub fn new(optimizer: O, schedule: S) -> Self {
        Self { optimizer, schedule, step: 0 }
    }

    /// Steps taken: the next step uses `schedule.lr(steps())`.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Continues from `step` (resuming a run).
    pub fn set_steps(&mut self, step: usize) {
        self.step = step;
    }
}

impl<T: Scalar, O: Optimizer<T>, S: Schedule> Optimizer<T> for Scheduled<O, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        let next = self.step.checked_add(1).ok_or(OptimError::Config {
            optimizer: "Scheduled",
            problem: "the schedule's step count would overflow",
        })?;
        self.optimizer.set_lr(self.schedule.lr(self.step));
        self.optimizer.try_step(model, grad)?;
        self.step = next;
        Ok(())
    }

    /// The inner optimizer's, at the rate the schedule gives this step.
    fn fused_sgd<M: Module<T>>(&mut self, model: &M) -> Result<Option<T>, OptimError> {
        let next = self.step.checked_add(1).ok_or(OptimError::Config {
            optimizer: "Scheduled",
            problem: "the schedule's step count would overflow",
        })?;
        self.optimizer.set_lr(self.schedule.lr(self.step));
        let fused = self.optimizer.fused_sgd(model)?;
        if fused.is_some() {
            self.step = next;
        }
        Ok(fused)
    }

    /// The inner optimizer's: it checks every model it is given against the first.
    fn layout(&self) -> Option<Layout> {
        self.optimizer.layout()
    }

    /// The rate the next step will use: the schedule's.
    fn lr(&self) -> f64 {
        self.schedule.lr(self.step)
    }

    /// Sets the inner optimizer's rate; the schedule overrides it at the next step.
    fn set_lr(&mut self, lr: f64) {
        self.optimizer.set_lr(lr);
    }
}

/// The inner optimizer's state (and kind), then the counter `schedule_step`: the
/// schedule's position. The schedule itself is code, not state: rebuild it the same way.
impl<T: Scalar, O: OptimizerState<T>, S: Schedule> OptimizerState<T> for Scheduled<O, S> {
    fn kind(&self) -> &'static str {
        self.optimizer.kind()
    }

    fn visit_state<F: FnMut(StateRef<'_, T>)>(&self, params: usize, path: &Path<'_>, f: &mut F) {
        self.optimizer.visit_state(params, path, f);
        f(StateRef::Counter { path: &path.field("schedule_step"), value: self.step as u64 });
    }

    fn visit_state_mut<F: FnMut(StateMut<'_, T>)>(
        &mut self,
        params: usize,
        path: &Path<'_>,
        f: &mut F,
    ) -> Result<(), OptimError> {
        self.optimizer.visit_state_mut(params, path, f)?;
        let mut step = self.step as u64;
        f(StateMut::Counter { path: &path.field("schedule_step"), value: &mut step });
        // A position past `usize` (a file from a 64-bit machine on a 32-bit one) saturates.
        self.step = usize::try_from(step).unwrap_or(usize::MAX);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_is_exact_on_powers_of_two_and_close_elsewhere() {
        assert_eq!(pow(0.5, 10), 1.0 / 1024.0);
        assert_eq!(pow(3.0, 0), 1.0);
        assert!((pow(0.9, 37) / 0.9f64.powi(37) - 1.0).abs() < 1e-14);
    }

    #[test]
    fn sequential_chains_restart_each_schedule() {
        let s = Constant(1.0).then(2, ExponentialLr::new(0.5, 0.5)).then(4, Constant(0.0));
        let got: [f64; 6] = core::array::from_fn(|k| s.lr(k));
        assert_eq!(got, [1.0, 1.0, 0.5, 0.25, 0.0, 0.0]);
    }

    #[test]
    fn cosine_keeps_going_past_t_max_as_pytorch() {
        let s = CosineAnnealingLr::new(1.0, 4, 0.0);
        assert!((s.lr(6) - s.lr(2)).abs() < 1e-15);
        assert!((s.lr(8) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn degenerate_settings_do_not_divide_by_zero() {
        assert_eq!(StepLr::new(1.0, 0, 0.5).lr(2), 0.25);
        assert_eq!(LinearLr::new(2.0, 0.1, 0.5, 0).lr(0), 1.0);
        assert!(CosineAnnealingLr::new(1.0, 0, 0.0).lr(1).abs() < 1e-15);
    }
}
