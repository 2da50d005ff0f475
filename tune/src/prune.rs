//! Pruners: stop trials that are going nowhere, from the values they report on the way
//! (validation accuracy per epoch). Values are seen as to be minimised: a study that
//! maximises hands pruners negated values.

/// Decides, each time a trial reports, whether it should stop.
pub trait Pruner: Send + Sync {
    /// Whether to stop a trial that has reported `own` so far (`(step, value)`, the newest
    /// last), given what the finished trials reported (`others`, one list each).
    fn prune(&self, own: &[(usize, f64)], others: &[Vec<(usize, f64)>]) -> bool;

    /// For ASHA's promotion form ([`SuccessiveHalving::promotion`]): the rungs at which
    /// trials pause, to be resumed or stopped by the study, which then never calls
    /// [`Pruner::prune`]. `None` (the default): the study asks `prune` at every report.
    fn rungs(&self) -> Option<Rungs> {
        None
    }
}

/// Where trials pause under ASHA's promotion form: steps `min_resource · reduction^k`; the
/// best `1/reduction` of the trials that reached a rung go on from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rungs {
    /// The first rung.
    pub min_resource: usize,
    /// The factor between rungs, and the share (`1/reduction`) that goes on.
    pub reduction: usize,
}

impl Rungs {
    /// Which rung `step` is (0 for `min_resource`), if it is one.
    pub fn index(&self, step: usize) -> Option<usize> {
        let (mut r, mut k) = (self.min_resource.max(1), 0);
        while r < step {
            r = r.saturating_mul(self.reduction.max(2));
            k += 1;
        }
        (r == step).then_some(k)
    }
}

/// Never stops a trial.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPruner;

impl Pruner for NoPruner {
    fn prune(&self, _: &[(usize, f64)], _: &[Vec<(usize, f64)>]) -> bool {
        false
    }
}

/// Median stopping (Golovin et al. 2017, "Google Vizier"): stops a trial whose best value
/// so far is worse than the median of what the finished trials reported at the same
/// step, once `startup` trials have reported there and from step `warmup` on.
///
/// ```
/// use monograd_tune::prune::{MedianPruner, Pruner};
/// let others = vec![vec![(1, 0.5)], vec![(1, 0.6)], vec![(1, 0.7)]];
/// let p = MedianPruner::new().startup(3);
/// assert!(p.prune(&[(1, 0.9)], &others)); // worse than the median 0.6
/// assert!(!p.prune(&[(1, 0.55)], &others));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MedianPruner {
    startup: usize,
    warmup: usize,
}

impl Default for MedianPruner {
    fn default() -> Self {
        Self::new()
    }
}

impl MedianPruner {
    /// Prunes from 5 finished trials on, from the first step.
    pub fn new() -> Self {
        Self { startup: 5, warmup: 0 }
    }

    /// How many finished trials must have reported at a step before it judges there.
    pub fn startup(mut self, n: usize) -> Self {
        self.startup = n.max(1);
        self
    }

    /// The first step at which it may stop a trial.
    pub fn warmup(mut self, step: usize) -> Self {
        self.warmup = step;
        self
    }
}

impl Pruner for MedianPruner {
    fn prune(&self, own: &[(usize, f64)], others: &[Vec<(usize, f64)>]) -> bool {
        let Some(&(step, _)) = own.last() else { return false };
        if step < self.warmup {
            return false;
        }
        let mut at: Vec<f64> =
            others.iter().filter_map(|o| o.iter().find(|(s, _)| *s == step).map(|(_, v)| *v)).collect();
        if at.len() < self.startup {
            return false;
        }
        at.sort_by(f64::total_cmp);
        let m = at.len();
        let median = if m % 2 == 1 { at[m / 2] } else { 0.5 * (at[m / 2 - 1] + at[m / 2]) };
        let best = own.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
        best > median
    }
}

/// Successive halving, in its asynchronous form (Li et al. 2020, "A system for massively
/// parallel hyperparameter tuning", ASHA): rungs at steps `r, rη, rη², ..`; a trial
/// reaching a rung goes on only if its value there is among the best `1/η` of all values
/// reported at that rung so far (itself included; the single best while fewer than `η`
/// have been reported), as Optuna's `SuccessiveHalvingPruner` decides. This is ASHA's
/// stopping form: a trial is judged on reaching a rung and never waits; the promotion form
/// (pause at a rung, resume the best later) would need objectives that checkpoint. Put
/// `min_resource` after any learning-rate warmup: values measured during it rank learning
/// rates more than configurations.
///
/// ```
/// use monograd_tune::prune::{Pruner, SuccessiveHalving};
/// let sh = SuccessiveHalving::new(1, 3); // rungs at steps 1, 3, 9, ..
/// let others: Vec<Vec<(usize, f64)>> = (0..5).map(|i| vec![(1, i as f64)]).collect();
/// // With 6 values at rung 1, the best 6/3 = 2 go on: values 0 and 1.
/// assert!(!sh.prune(&[(1, 0.5)], &others));
/// assert!(sh.prune(&[(1, 2.5)], &others));
/// assert!(!sh.prune(&[(1, 9.0), (2, 9.0)], &others)); // step 2 is not a rung
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SuccessiveHalving {
    min_resource: usize,
    reduction: usize,
    startup: usize,
    promotion: bool,
}

impl SuccessiveHalving {
    /// Rungs at `min_resource · reduction^k` (both at least 1 and 2).
    pub fn new(min_resource: usize, reduction: usize) -> Self {
        Self { min_resource: min_resource.max(1), reduction: reduction.max(2), startup: 0, promotion: false }
    }

    /// Judges a trial at a rung only once `n` earlier trials have reported there; before,
    /// every trial goes on. The default, 0, judges from the first: with fewer than `η`
    /// values the single best goes on, so the first trials must each beat every one
    /// before them, a harsher bar than the best `1/η` they face later. `n = η` gives them
    /// the same bar: from then on the best `1/η` is a real share.
    ///
    /// ```
    /// use monograd_tune::prune::{Pruner, SuccessiveHalving};
    /// let others = vec![vec![(2, 0.1)], vec![(2, 0.2)]]; // minimised: 0.1 is the best
    /// assert!(SuccessiveHalving::new(2, 3).prune(&[(2, 0.3)], &others));
    /// assert!(!SuccessiveHalving::new(2, 3).startup(3).prune(&[(2, 0.3)], &others));
    /// ```
    pub fn startup(mut self, n: usize) -> Self {
        self.startup = n;
        self
    }

    /// ASHA's promotion form (Li et al. 2020, Algorithm 2), run by the study: a trial
    /// reaching a rung pauses there (its thread waits inside [`Trial::report`]); whenever
    /// the running trial pauses or ends, the study resumes a paused trial that is among
    /// the best `1/η` of everything that reached its rung (the highest rung first), or
    /// else starts a new trial; when no trial is left to start and none can be promoted,
    /// the paused trials are stopped. The first trials wait for company instead of being
    /// judged against the few before them, and nothing is decided on fewer than `η`
    /// values. Trials run one at a time (`parallel` must be 1), so the study does not
    /// depend on timing; a study resumed from its journal ends as one never stopped
    /// (a trial that was paused when it stopped is trained again from its seed up to where
    /// it paused, so the objective must be deterministic given
    /// [`Trial::seed`](crate::study::Trial::seed)).
    /// [`SuccessiveHalving::startup`] does not apply. A trial pauses at every rung it
    /// reports, its last report included: put the last step before the next rung (rungs
    /// 2 and 6 for 9 epochs), or a trial that ended on a rung waits there.
    ///
    /// [`Trial::report`]: crate::study::Trial::report
    ///
    /// ```
    /// use monograd_tune::prelude::*;
    /// search_space! { struct Cfg { x: f64 = uniform(0.0, 1.0) } }
    /// let result = Study::<Cfg>::new(Random::new(0))
    ///     .trials(12)
    ///     .pruner(SuccessiveHalving::new(1, 3).promotion()) // rungs at 1 and 3
    ///     .run(|cfg: &Cfg, trial: &mut Trial| {
    ///         for step in 1..=6 {
    ///             trial.report(step, cfg.x + 1.0 / step as f64)?; // minimised
    ///         }
    ///         Ok(cfg.x)
    ///     })?;
    /// // 12 trials reach rung 1, at least 4 go on to rung 3 and one of those to the end
    /// // (promotions are decided as trials arrive, so a few more may).
    /// let done = result.trials().iter().filter(|t| t.state == TrialState::Complete).count();
    /// assert!((1..=4).contains(&done));
    /// // The smallest x ranks first at every rung: it went all the way.
    /// let xs = result.trials().iter().map(|t| match t.values[0] {
    ///     monograd_tune::space::Value::Float(x) => x,
    ///     _ => unreachable!(),
    /// });
    /// assert_eq!(result.best_config()?.unwrap().x, xs.fold(f64::MAX, f64::min));
    /// # Ok::<(), TuneError>(())
    /// ```
    pub fn promotion(mut self) -> Self {
        self.promotion = true;
        self
    }

    fn ladder(&self) -> Rungs {
        Rungs { min_resource: self.min_resource, reduction: self.reduction }
    }
}

impl Pruner for SuccessiveHalving {
    fn rungs(&self) -> Option<Rungs> {
        self.promotion.then_some(self.ladder())
    }

    fn prune(&self, own: &[(usize, f64)], others: &[Vec<(usize, f64)>]) -> bool {
        let Some(&(step, value)) = own.last() else { return false };
        if self.ladder().index(step).is_none() {
            return false;
        }
        let mut at: Vec<f64> =
            others.iter().filter_map(|o| o.iter().find(|(s, _)| *s == step).map(|(_, v)| *v)).collect();
        if at.len() < self.startup {
            return false;
        }
        at.push(value);
        at.sort_by(f64::total_cmp);
        let k = (at.len() / self.reduction).max(1);
        value > at[k - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_start_at_the_minimum_resource() {
        let sh = SuccessiveHalving::new(2, 3);
        let rungs: Vec<usize> = (0..=20).filter(|&s| sh.ladder().index(s).is_some()).collect();
        assert_eq!(rungs, vec![2, 6, 18]);
        // Between rungs nothing is judged, however bad the value.
        let others: Vec<Vec<(usize, f64)>> = (0..5).map(|i| vec![(2, i as f64), (3, i as f64)]).collect();
        assert!(!sh.prune(&[(2, 0.0), (3, 99.0)], &others));
        assert!(sh.prune(&[(2, 4.5)], &others));
    }

    #[test]
    fn startup_waits_for_that_many_earlier_reports_at_each_rung() {
        let sh = SuccessiveHalving::new(2, 3).startup(3);
        let two: Vec<Vec<(usize, f64)>> = (0..2).map(|i| vec![(2, i as f64), (6, i as f64)]).collect();
        assert!(!sh.prune(&[(2, 9.0)], &two), "2 earlier reports: not judged yet");
        let three: Vec<Vec<(usize, f64)>> = (0..3).map(|i| vec![(2, i as f64)]).collect();
        // 4 values at rung 2, the best 4/3 = 1 goes on.
        assert!(sh.prune(&[(2, 0.5)], &three));
        assert!(!sh.prune(&[(2, -1.0)], &three));
        // Rung 6 counts its own reports: only 0 of the three earlier trials got there.
        assert!(!sh.prune(&[(2, -1.0), (6, 9.0)], &three));
    }
}
