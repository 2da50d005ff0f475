//! The tree-structured Parzen estimator (Bergstra, Bardenet, Bengio and Kégl 2011,
//! "Algorithms for hyper-parameter optimization"; the multivariate form of Falkner, Klein
//! and Hutter 2018, "BOHB"), with the choices Optuna's `TPESampler` makes for its
//! constants (Watanabe 2023, "Tree-structured Parzen estimator: understanding its
//! algorithm components").

use monograd_core::rng::Rng;

use super::{trial_rng, Context, Random, Sampler};
use crate::space::{Kind, Space, Value};
use crate::TuneError;

/// TPE: the finished trials split into the best `γ(n) = min(⌈n/10⌉, 25)` and the rest;
/// each group becomes a mixture density `l` (good) and `g` (bad), one product kernel per
/// trial plus a broad prior component; 24 candidates drawn from `l` are scored by
/// `ln l(x) - ln g(x)` and the best is tried. Kernels are truncated normals in unit
/// coordinates, as wide as the larger gap to the neighbouring trials (the end ones: the
/// inner gap), at least `1/min(n + 2, 100)` of the range; for a choice, the trial's choice
/// plus `1/(n + 1)` on every choice, normalised. The prior component is a normal centred
/// on the range as wide as it (uniform over choices). These are Optuna's constants.
///
/// Conditional parameters: a trial in which a parameter is absent contributes the prior
/// kernel for it, and a candidate is scored on the parameters it has (the same for `l` and
/// `g`). Pruned trials and trials still running count among the bad.
///
/// ```
/// use monograd_tune::sampler::{Context, Observation, Sampler, Tpe};
/// use monograd_tune::space::{uniform, Dist, Space, Value};
///
/// let space = Space::new(vec![Dist::<f64>::param(&uniform(0.0, 1.0), "x")])?;
/// let observed: Vec<Observation> = (0..30)
///     .map(|i| {
///         let x = i as f64 / 29.0;
///         Observation { values: vec![Value::Float(x)], value: Some((x - 0.8f64).abs()) }
///     })
///     .collect();
/// let cx = Context { space: &space, observed: &observed, pending: &[], number: 30 };
/// let Value::Float(x) = Tpe::new(0).suggest(&cx)?[0] else { unreachable!() };
/// assert!((x - 0.8).abs() < 0.15, "{x}");
/// # Ok::<(), monograd_tune::TuneError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Tpe {
    seed: u64,
    startup: usize,
    candidates: usize,
    multivariate: bool,
}

impl Tpe {
    /// A TPE sampler seeded with `seed`: 10 random trials, then 24 candidates per trial.
    pub fn new(seed: u64) -> Self {
        Self { seed, startup: 10, candidates: 24, multivariate: true }
    }

    /// The number of random trials before the densities are used (at least 1).
    pub fn startup(mut self, n: usize) -> Self {
        self.startup = n.max(1);
        self
    }

    /// Whether a candidate's parameters are drawn together, from one trial's kernels
    /// (`true`, the default, as Optuna 5.1 does by default), or
    /// each parameter on its own from its own mixture and chosen by its own ratio (the
    /// original, independent TPE).
    pub fn multivariate(mut self, joint: bool) -> Self {
        self.multivariate = joint;
        self
    }

    /// The number of candidates drawn from `l` per suggestion (at least 1).
    pub fn candidates(mut self, n: usize) -> Self {
        self.candidates = n.max(1);
        self
    }
}

/// Optuna's weights by age: equal for the last 25 trials, a ramp from `1/n` before.
fn age_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|k| {
            if ramp == 1 {
                1.0 / n as f64
            } else {
                1.0 / n as f64 + (1.0 - 1.0 / n as f64) * k as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// The bounds of a number's unit coordinate: integers reach half a step past each end so
/// that the end values get their share.
fn bounds(space: &Space, i: usize) -> (f64, f64) {
    let p = &space.params()[i];
    match (&p.kind, p.cardinality()) {
        (Kind::Int { .. }, Some(n)) if n > 1 => {
            let h = 0.5 / (n - 1) as f64;
            (-h, 1.0 + h)
        }
        _ => (0.0, 1.0),
    }
}

/// A mixture with one product kernel per trial and a prior component.
struct Parzen<'a> {
    space: &'a Space,
    /// Unit coordinates (numbers) or choice indices; `None` where absent.
    points: Vec<Vec<Option<f64>>>,
    /// Log weights, the prior's last.
    log_w: Vec<f64>,
    /// Per trial and parameter, the kernel's standard deviation (numbers only).
    sigma: Vec<Vec<f64>>,
    /// The prior's mass added to each choice of a trial's choice kernel.
    prior_share: f64,
}

impl<'a> Parzen<'a> {
    fn new(space: &'a Space, trials: &[&[Value]]) -> Self {
        let points: Vec<Vec<Option<f64>>> =
            trials.iter().map(|v| v.iter().zip(space.params()).map(|(v, p)| p.to_unit(*v)).collect()).collect();
        let mut w = age_weights(points.len());
        w.push(1.0);
        let total: f64 = w.iter().sum();
        let log_w = w.iter().map(|w| libm::log(w / total)).collect();
        let mut sigma = vec![vec![0.0; space.len()]; points.len()];
        for i in 0..space.len() {
            if matches!(space.params()[i].kind, Kind::Categorical { .. }) {
                continue;
            }
            let (a, b) = bounds(space, i);
            // The trials that have it, in order; each kernel as wide as the larger gap to
            // its neighbours (the end ones: the inner gap), at least 1/(n + 2) of the range.
            let mut mus: Vec<(f64, usize)> =
                points.iter().enumerate().filter_map(|(j, p)| p[i].map(|u| (u, j))).collect();
            mus.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            let n = mus.len();
            let min_sigma = (b - a) / (n as f64 + 2.0).min(100.0);
            for k in 0..n {
                let left = if k == 0 { mus[k].0 - a } else { mus[k].0 - mus[k - 1].0 };
                let right = if k + 1 == n { b - mus[k].0 } else { mus[k + 1].0 - mus[k].0 };
                let s = match (k, n >= 2) {
                    (0, true) => right,
                    (_, true) if k + 1 == n => left,
                    _ => left.max(right),
                };
                sigma[mus[k].1][i] = s.clamp(min_sigma, b - a);
            }
        }
        // A choice kernel: the trial's choice, plus a share of the prior's mass on each.
        let prior_share = 1.0 / (points.len() as f64 + 1.0);
        Self { space, points, log_w, sigma, prior_share }
    }

    /// The kernel of component `j` for parameter `i`: (centre, sd) for numbers, the
    /// chosen index for choices; `None` for the prior.
    fn centre(&self, j: usize, i: usize) -> Option<f64> {
        self.points.get(j).and_then(|p| p[i])
    }

    fn log_kernel(&self, j: usize, i: usize, u: f64) -> f64 {
        let p = &self.space.params()[i];
        match &p.kind {
            Kind::Categorical { labels } => {
                let k = labels.len() as f64;
                match self.centre(j, i) {
                    Some(c) => {
                        libm::log((if c == u { 1.0 } else { 0.0 } + self.prior_share) / (1.0 + k * self.prior_share))
                    }
                    None => -libm::log(k),
                }
            }
            _ => {
                let (a, b) = bounds(self.space, i);
                let (mu, sd) = match self.centre(j, i) {
                    Some(c) => (c, self.sigma[j][i]),
                    None => (0.5 * (a + b), b - a),
                };
                let mass = crate::math::cdf((b - mu) / sd) - crate::math::cdf((a - mu) / sd);
                let z = (u - mu) / sd;
                -0.5 * z * z - libm::log(sd) - 0.918_938_533_204_672_8 - libm::log(mass.max(1e-300))
            }
        }
    }

    fn sample_kernel(&self, j: usize, i: usize, rng: &mut Rng) -> Value {
        let p = &self.space.params()[i];
        match &p.kind {
            Kind::Categorical { labels } => {
                let k = labels.len();
                match self.centre(j, i) {
                    // The trial's choice with probability 1/(1 + k·share), else any evenly.
                    Some(c) if rng.next_f64() < 1.0 / (1.0 + k as f64 * self.prior_share) => Value::Cat(c as usize),
                    _ => Value::Cat(rng.below(k)),
                }
            }
            _ => {
                let (a, b) = bounds(self.space, i);
                let (mu, sd) = match self.centre(j, i) {
                    Some(c) => (c, self.sigma[j][i]),
                    None => (0.5 * (a + b), b - a),
                };
                let mut u = mu;
                for _ in 0..64 {
                    let t = mu + sd * rng.normal();
                    if (a..=b).contains(&t) {
                        u = t;
                        break;
                    }
                }
                p.from_unit(u)
            }
        }
    }

    fn sample(&self, rng: &mut Rng) -> Vec<Value> {
        // A component by weight, then each parameter that exists from its kernel.
        let j = self.component(rng);
        let mut values = Vec::with_capacity(self.space.len());
        for i in 0..self.space.len() {
            let v = if self.space.active(i, &values) { self.sample_kernel(j, i, rng) } else { Value::Absent };
            values.push(v);
        }
        values
    }

    /// The log density of parameter `i` alone at `u` (the mixture of its kernels).
    fn log_marginal(&self, i: usize, u: f64) -> f64 {
        let terms: Vec<f64> = (0..self.log_w.len()).map(|j| self.log_w[j] + self.log_kernel(j, i, u)).collect();
        let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + libm::log(terms.iter().map(|t| libm::exp(t - m)).sum::<f64>())
    }

    /// A value of parameter `i` from its marginal: a component by weight, then its kernel.
    fn sample_marginal(&self, i: usize, rng: &mut Rng) -> Value {
        let j = self.component(rng);
        self.sample_kernel(j, i, rng)
    }

    fn component(&self, rng: &mut Rng) -> usize {
        let r = rng.next_f64();
        let mut acc = 0.0;
        for (k, lw) in self.log_w.iter().enumerate() {
            acc += libm::exp(*lw);
            if r < acc {
                return k;
            }
        }
        self.log_w.len() - 1
    }

    fn log_density(&self, values: &[Value]) -> f64 {
        let us: Vec<Option<f64>> = values.iter().zip(self.space.params()).map(|(v, p)| p.to_unit(*v)).collect();
        let terms: Vec<f64> = (0..self.log_w.len())
            .map(|j| {
                self.log_w[j]
                    + us.iter().enumerate().filter_map(|(i, u)| u.map(|u| self.log_kernel(j, i, u))).sum::<f64>()
            })
            .collect();
        let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + libm::log(terms.iter().map(|t| libm::exp(t - m)).sum::<f64>())
    }
}

impl Sampler for Tpe {
    fn suggest(&self, cx: &Context<'_>) -> Result<Vec<Value>, TuneError> {
        let n = cx.observed.len();
        if cx.observed.iter().filter(|o| o.value.is_some()).count() < self.startup {
            return Random::new(self.seed).suggest(cx);
        }
        // Rank: completed by value, then pruned; ties by trial order.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let va = cx.observed[a].value.unwrap_or(f64::INFINITY);
            let vb = cx.observed[b].value.unwrap_or(f64::INFINITY);
            va.total_cmp(&vb).then(a.cmp(&b))
        });
        let n_below = n.div_ceil(10).min(25);
        let mut below: Vec<usize> = order[..n_below].to_vec();
        let mut above: Vec<usize> = order[n_below..].to_vec();
        below.sort_unstable();
        above.sort_unstable();
        let below: Vec<&[Value]> = below.iter().map(|&i| cx.observed[i].values.as_slice()).collect();
        let mut above: Vec<&[Value]> = above.iter().map(|&i| cx.observed[i].values.as_slice()).collect();
        above.extend(cx.pending.iter().map(Vec::as_slice));
        let l = Parzen::new(cx.space, &below);
        let g = Parzen::new(cx.space, &above);
        let mut rng = trial_rng(self.seed, cx.number, 3);
        if !self.multivariate {
            // Each parameter on its own, in order: candidates from l's marginal, the best
            // by its own ratio.
            let mut values = Vec::with_capacity(cx.space.len());
            for i in 0..cx.space.len() {
                if !cx.space.active(i, &values) {
                    values.push(Value::Absent);
                    continue;
                }
                let p = &cx.space.params()[i];
                let mut best: Option<(f64, Value)> = None;
                for _ in 0..self.candidates {
                    let v = l.sample_marginal(i, &mut rng);
                    let u = p.to_unit(v).unwrap_or(0.5);
                    let score = l.log_marginal(i, u) - g.log_marginal(i, u);
                    if best.as_ref().is_none_or(|b| score > b.0) {
                        best = Some((score, v));
                    }
                }
                values.push(best.map_or(Value::Absent, |b| b.1));
            }
            return Ok(values);
        }
        let mut best: Option<(f64, Vec<Value>)> = None;
        for _ in 0..self.candidates {
            let c = l.sample(&mut rng);
            let score = l.log_density(&c) - g.log_density(&c);
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, c));
            }
        }
        best.map(|b| b.1).ok_or(TuneError::Exhausted)
    }

    fn name(&self) -> String {
        format!("TPE (seed {})", self.seed)
    }
}
