//! When to prune and how much: one shot, or gradually along Zhu & Gupta's polynomial.
//!
//! Zhu and Gupta ("To prune, or not to prune", 2017) raise the sparsity from `s_i` to
//! `s_f` over `n` pruning steps `Δt` apart, starting at step `t_0`:
//!
//! ```text
//! s_t = s_f + (s_i - s_f) · (1 - (t - t_0) / (n Δt))^3      for t in {t_0, t_0 + Δt, ..., t_0 + n Δt}
//! ```
//!
//! pruning fast while the network has many redundant weights and slowly near the end.
//! [`PruneSchedule::polynomial`] is that schedule with `t_0 = start`, `t_0 + n Δt = end`,
//! `Δt = every` (default 1) and the power 3 (changeable). Steps count optimizer steps from
//! 0, as learning-rate schedules do.

use monograd_core::Scalar;

use super::mask::check_sparsity;
use super::PruneError;

/// A pruning schedule: at which optimizer steps the mask is recomputed, and to what
/// sparsity.
///
/// ```
/// use monograd_nn::prune::PruneSchedule;
/// // From 0 to 90% between steps 0 and 1000, a pruning every 100 steps.
/// let s = PruneSchedule::polynomial(0.0, 0.9, 0, 1000).every(100);
/// assert_eq!(s.sparsity_at(0), 0.0);
/// assert!((s.sparsity_at(500) - 0.7875).abs() < 1e-12); // 0.9 - 0.9 · 0.5³
/// assert_eq!(s.sparsity_at(550), s.sparsity_at(500)); // between prunings: the last one
/// assert_eq!(s.sparsity_at(1000), 0.9);
/// assert!(s.prunes_at(300) && !s.prunes_at(301) && !s.prunes_at(1100));
/// let once = PruneSchedule::one_shot(0.8, 10);
/// assert!(once.prunes_at(10) && !once.prunes_at(11));
/// assert_eq!((once.sparsity_at(9), once.sparsity_at(10)), (0.0, 0.8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PruneSchedule {
    initial: f64,
    target: f64,
    start: u64,
    end: u64,
    every: u64,
    power: f64,
}

impl PruneSchedule {
    /// Prunes once, to `sparsity`, at step `at`.
    ///
    /// # Panics
    /// If `sparsity` is outside `[0, 1]`, with [`PruneSchedule::try_one_shot`]'s message.
    #[track_caller]
    pub fn one_shot(sparsity: f64, at: u64) -> Self {
        built(Self::try_one_shot(sparsity, at))
    }

    /// [`PruneSchedule::one_shot`], with a sparsity out of range returned as an error.
    ///
    /// # Errors
    /// [`PruneError::Setting`] for a sparsity outside `[0, 1]` or NaN.
    pub fn try_one_shot(sparsity: f64, at: u64) -> Result<Self, PruneError> {
        check_sparsity(sparsity)?;
        Ok(Self { initial: sparsity, target: sparsity, start: at, end: at, every: 1, power: 3.0 })
    }

    /// From `initial` at step `start` to `target` at step `end`, along the cubic (Zhu &
    /// Gupta), pruning every step in between (see [`PruneSchedule::every`]).
    ///
    /// # Panics
    /// With [`PruneSchedule::try_polynomial`]'s message where it returns an error.
    #[track_caller]
    pub fn polynomial(initial: f64, target: f64, start: u64, end: u64) -> Self {
        built(Self::try_polynomial(initial, target, start, end))
    }

    /// [`PruneSchedule::polynomial`], with bad settings returned as an error.
    ///
    /// # Errors
    /// [`PruneError::Setting`] for a sparsity outside `[0, 1]`, or `end <= start`.
    pub fn try_polynomial(initial: f64, target: f64, start: u64, end: u64) -> Result<Self, PruneError> {
        check_sparsity(initial)?;
        check_sparsity(target)?;
        if end <= start {
            return Err(PruneError::Setting {
                setting: "end",
                value: end as f64,
                expected: "use an end step after the start step",
            });
        }
        Ok(Self { initial, target, start, end, every: 1, power: 3.0 })
    }

    /// Prunes every `every` steps (`Δt`) from the start, and at the end.
    ///
    /// # Panics
    /// If `every` is 0.
    #[track_caller]
    pub fn every(mut self, every: u64) -> Self {
        assert!(every > 0, "PruneSchedule: every = 0 is out of range; prune every 1 step or more");
        self.every = every;
        self
    }

    /// The power of the polynomial (3 in Zhu & Gupta; 1 is linear).
    ///
    /// # Panics
    /// If `power` is not positive and finite.
    #[track_caller]
    pub fn power(mut self, power: f64) -> Self {
        assert!(
            power > 0.0 && power.is_finite(),
            "PruneSchedule: power = {power} is out of range; use a power above 0"
        );
        self.power = power;
        self
    }

    /// The final sparsity.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// Whether the mask is recomputed after step `step`.
    pub fn prunes_at(&self, step: u64) -> bool {
        (self.start..=self.end).contains(&step) && ((step - self.start).is_multiple_of(self.every) || step == self.end)
    }

    /// The sparsity after the pruning at or before `step` (0 before the first).
    pub fn sparsity_at(&self, step: u64) -> f64 {
        self.sparsity_for(step, self.target)
    }

    /// [`PruneSchedule::sparsity_at`] for a tensor whose final sparsity is `target` (a
    /// per-tensor target): the same curve from the same initial sparsity, scaled to it.
    pub fn sparsity_for(&self, step: u64, target: f64) -> f64 {
        if step < self.start {
            return 0.0;
        }
        if step >= self.end {
            return target;
        }
        let last = self.start + (step - self.start) / self.every * self.every;
        let initial = self.initial.min(target);
        let left = 1.0 - (last - self.start) as f64 / (self.end - self.start) as f64;
        target + (initial - target) * <f64 as Scalar>::powf(left, self.power)
    }
}

#[track_caller]
fn built(r: Result<PruneSchedule, PruneError>) -> PruneSchedule {
    match r {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}
