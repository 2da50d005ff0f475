//! Samplers: what to try next, given what was tried.
//!
//! A sampler is a pure function of its seed, the trial's number, the finished trials and
//! the trials started but not finished ([`Context`]): the same inputs give the same
//! suggestion, bit for bit, which is what makes studies reproducible and resumable.
//! Objectives are minimised; a study that maximises hands the samplers negated values.

mod gp;
mod grid;
mod random;
mod tpe;

pub use gp::{Gp, GpFit, GpSampler};
pub use grid::Grid;
pub use random::Random;
pub use tpe::Tpe;

use monograd_core::rng::Rng;

use crate::space::{Kind, Space, Value};
use crate::TuneError;

/// A finished trial, as samplers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// One value per parameter of the space.
    pub values: Vec<Value>,
    /// The objective, to minimise; `None` for a pruned trial (worse than every finished one).
    pub value: Option<f64>,
}

/// How far a pruned trial got: the last step it reported and its value there (to
/// minimise, as [`Observation::value`]). Optuna's TPE ranks pruned trials by it: those that
/// got further first, then by that value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reached {
    /// The last step reported (the epoch at which it was stopped).
    pub step: usize,
    /// The value reported there.
    pub value: f64,
}

/// Everything a suggestion may depend on.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The space.
    pub space: &'a Space,
    /// Finished trials (completed or pruned), in trial order.
    pub observed: &'a [Observation],
    /// Configurations handed out but without a result yet (trials running in parallel).
    pub pending: &'a [Vec<Value>],
    /// The number of the trial to suggest for (0 for the first).
    pub number: usize,
}

/// Suggests configurations.
pub trait Sampler: Send + Sync {
    /// The next configuration: one value per parameter, `Absent` where a condition does
    /// not hold. [`TuneError::Exhausted`] when there is nothing left to try (a grid).
    fn suggest(&self, cx: &Context<'_>) -> Result<Vec<Value>, TuneError>;

    /// A short name for reports.
    fn name(&self) -> String;

    /// [`Sampler::suggest`], told also how far each pruned trial got: `reached[i]` belongs
    /// to `cx.observed[i]` (`None` for a completed trial or one that reported nothing; a
    /// shorter slice means `None` for the rest). Studies call this one. By default the
    /// progress is ignored; [`Tpe`] ranks pruned trials by it.
    ///
    /// ```
    /// use monograd_tune::sampler::{Context, Observation, Random, Reached, Sampler};
    /// use monograd_tune::space::{uniform, Dist, Space, Value};
    ///
    /// let space = Space::new(vec![Dist::<f64>::param(&uniform(0.0, 1.0), "x")])?;
    /// let observed = vec![Observation { values: vec![Value::Float(0.5)], value: None }];
    /// let cx = Context { space: &space, observed: &observed, pending: &[], number: 1 };
    /// let reached = [Some(Reached { step: 3, value: 0.1 })];
    /// // Random search has no use for it.
    /// assert_eq!(Random::new(0).suggest_with_progress(&cx, &reached)?, Random::new(0).suggest(&cx)?);
    /// # Ok::<(), monograd_tune::TuneError>(())
    /// ```
    fn suggest_with_progress(&self, cx: &Context<'_>, reached: &[Option<Reached>]) -> Result<Vec<Value>, TuneError> {
        let _ = reached;
        self.suggest(cx)
    }
}

/// The generator for trial `number` of a sampler seeded with `seed`: independent streams
/// per trial, so that a suggestion does not depend on how many numbers earlier ones drew.
pub(crate) fn trial_rng(seed: u64, number: usize, salt: u64) -> Rng {
    let mut r = Rng::seed(seed ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let a = r.next_u64();
    Rng::seed(a ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// A value of parameter `i` drawn from its prior (uniform in its unit coordinate, every
/// integer and choice equally likely).
pub(crate) fn sample_prior(space: &Space, i: usize, rng: &mut Rng) -> Value {
    let p = &space.params()[i];
    match &p.kind {
        Kind::Float { .. } => p.from_unit(rng.next_f64()),
        Kind::Int { log: false, .. } | Kind::Categorical { .. } => {
            let n = p.cardinality().unwrap_or(1);
            let k = rng.below(n);
            match p.kind {
                Kind::Categorical { .. } => Value::Cat(k),
                _ => p.from_unit(if n > 1 { k as f64 / (n - 1) as f64 } else { 0.5 }),
            }
        }
        Kind::Int { log: true, .. } => {
            // Uniform in the logarithm over [low - 1/2, high + 1/2], then rounded.
            let n = p.cardinality().unwrap_or(1);
            let h = if n > 1 { 0.5 / (n - 1) as f64 } else { 0.5 };
            p.from_unit(-h + rng.next_f64() * (1.0 + 2.0 * h))
        }
    }
}

/// A whole configuration from the prior, conditions respected.
pub(crate) fn sample_config(space: &Space, rng: &mut Rng) -> Vec<Value> {
    let mut values = Vec::with_capacity(space.len());
    for i in 0..space.len() {
        let v = if space.active(i, &values) { sample_prior(space, i, rng) } else { Value::Absent };
        values.push(v);
    }
    values
}

impl<S: Sampler + ?Sized> Sampler for Box<S> {
    fn suggest(&self, cx: &Context<'_>) -> Result<Vec<Value>, TuneError> {
        (**self).suggest(cx)
    }

    fn name(&self) -> String {
        (**self).name()
    }

    fn suggest_with_progress(&self, cx: &Context<'_>, reached: &[Option<Reached>]) -> Result<Vec<Value>, TuneError> {
        (**self).suggest_with_progress(cx, reached)
    }
}
