//! Random search (Bergstra and Bengio 2012): every trial drawn from the prior.

use super::{sample_config, trial_rng, Context, Sampler};
use crate::space::Value;
use crate::TuneError;

/// Draws every configuration independently from the prior, seeded: trial `n` of seed `s`
/// is the same whatever came before it.
///
/// ```
/// use monograd_tune::sampler::{Context, Random, Sampler};
/// use monograd_tune::space::{uniform, Dist, Space};
///
/// let space = Space::new(vec![Dist::<f64>::param(&uniform(0.0, 1.0), "x")])?;
/// let cx = Context { space: &space, observed: &[], pending: &[], number: 3 };
/// assert_eq!(Random::new(7).suggest(&cx)?, Random::new(7).suggest(&cx)?);
/// # Ok::<(), monograd_tune::TuneError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Random {
    seed: u64,
}

impl Random {
    /// A random sampler seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

impl Sampler for Random {
    fn suggest(&self, cx: &Context<'_>) -> Result<Vec<Value>, TuneError> {
        Ok(sample_config(cx.space, &mut trial_rng(self.seed, cx.number, 1)))
    }

    fn name(&self) -> String {
        format!("random (seed {})", self.seed)
    }
}
