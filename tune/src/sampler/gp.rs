//! Bayesian optimisation with a Gaussian process (Snoek, Larochelle and Adams 2012):
//! a Matérn 5/2 kernel with one length scale per dimension (ARD), its hyperparameters
//! fitted by maximising the log marginal likelihood (with weak priors, by
//! L-BFGS over their logarithms) to the objective values warped towards normal, and the
//! next point where the logarithm of the expected improvement is largest (many random
//! candidates, then L-BFGS from the best ones).

use nalgebra::{DMatrix, DVector};

use super::{sample_config, trial_rng, Context, Observation, Random, Sampler};
use crate::math::{log_h, maximize_box, power_standardize};
use crate::space::{Kind, Space, Value};
use crate::TuneError;

const SQRT5: f64 = 2.236_067_977_499_79;

/// The smallest noise variance: the fitted noise is this plus a free part. Optuna uses
/// 1e-6; the objectives tuned are mostly deterministic given a seed, and with 1e-6
/// Branin's median regret was 10 times larger (over 100 seeds).
const MIN_NOISE: f64 = 1e-8;
/// The prior on each inverse squared length scale `u = 1/ℓ²` is the log-density
/// `-(a/u + b u)` with `(a, b)` these. Optuna's has `a = 0.1`; `a = 3` weighs more against
/// length scales above 1 in the unit cube (its mode is ℓ = (b/a)^¼ = 0.43): on
/// Hartmann-6, long length scales fitted to the trials of one basin (where some inputs do
/// not matter) kept the search there (see docs/TUNING.md).
const LS_PRIOR: (f64, f64) = (3.0, 0.1);
/// The hyperparameter fit stops once no coordinate of the gradient of its objective (over
/// the logarithms) exceeds this, as Optuna's does.
const FIT_GTOL: f64 = 1e-2;
/// Bounds of the fitted parameters `[ln 1/ℓ².., ln s², ln(σₙ² - MIN_NOISE)]`, wide enough
/// that the priors, not the bounds, keep them finite.
const RAW_BOUNDS: (f64, f64) = (-25.0, 25.0);

/// How the kernel's hyperparameters were fitted.
#[derive(Clone, Debug, PartialEq)]
pub struct GpFit {
    /// One length scale per input dimension.
    pub length_scales: Vec<f64>,
    /// The kernel's variance `k(x, x)`.
    pub signal_variance: f64,
    /// The observation noise variance added to the diagonal.
    pub noise_variance: f64,
}

/// A Gaussian-process posterior with a zero mean and a Matérn 5/2 ARD kernel:
/// `k(x, x') = s² (1 + √5 r + 5r²/3) exp(-√5 r)`, `r² = Σ (xᵢ - x'ᵢ)² / ℓᵢ²`.
///
/// ```
/// use monograd_tune::sampler::{Gp, GpFit};
///
/// let fit = GpFit { length_scales: vec![0.5], signal_variance: 1.0, noise_variance: 1e-6 };
/// let gp = Gp::new(vec![vec![0.0], vec![1.0]], vec![1.0, -1.0], fit)?;
/// let (mean, var) = gp.predict(&[0.0]);
/// assert!((mean - 1.0).abs() < 1e-4 && var < 1e-4); // interpolates its data
/// assert!(gp.predict(&[0.5]).1 > 0.1); // unsure in between
/// # Ok::<(), monograd_tune::TuneError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Gp {
    x: Vec<Vec<f64>>,
    inv_ls2: Vec<f64>,
    sf2: f64,
    /// Row-major lower Cholesky factor of `K + σₙ² I`.
    l: Vec<f64>,
    alpha: Vec<f64>,
    fit: GpFit,
    lml: f64,
}

fn matern(sf2: f64, r2: f64) -> (f64, f64) {
    // Returns k and the factor f with ∂k/∂xᵢ = -f (xᵢ - x'ᵢ)/ℓᵢ².
    let r = r2.max(0.0).sqrt();
    let e = libm::exp(-SQRT5 * r);
    (sf2 * (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e, sf2 * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e)
}

impl Gp {
    /// The posterior given inputs `x`, targets `y` and fixed hyperparameters. An `Err`
    /// when the kernel matrix is not positive definite or the sizes disagree.
    pub fn new(x: Vec<Vec<f64>>, y: Vec<f64>, fit: GpFit) -> Result<Self, TuneError> {
        let n = x.len();
        if y.len() != n || x.iter().any(|r| r.len() != fit.length_scales.len()) {
            return Err(TuneError::Numeric("inputs, targets and length scales disagree in size".into()));
        }
        let inv_ls2: Vec<f64> = fit.length_scales.iter().map(|l| 1.0 / (l * l)).collect();
        let mut k = DMatrix::<f64>::zeros(n, n);
        for a in 0..n {
            for b in 0..=a {
                let r2: f64 = (0..inv_ls2.len()).map(|i| (x[a][i] - x[b][i]).powi(2) * inv_ls2[i]).sum();
                let v = matern(fit.signal_variance, r2).0;
                k[(a, b)] = v;
                k[(b, a)] = v;
            }
            k[(a, a)] += fit.noise_variance + 1e-10;
        }
        let chol = nalgebra::Cholesky::new(k)
            .ok_or_else(|| TuneError::Numeric("the kernel matrix is not positive definite".into()))?;
        let alpha = chol.solve(&DVector::from_vec(y.clone()));
        let lm = chol.l();
        let mut l = vec![0.0; n * n];
        let mut logdet = 0.0;
        for a in 0..n {
            for b in 0..=a {
                l[a * n + b] = lm[(a, b)];
            }
            logdet += 2.0 * libm::log(lm[(a, a)]);
        }
        let fit_term: f64 = y.iter().zip(alpha.iter()).map(|(y, a)| y * a).sum();
        let lml = -0.5 * fit_term - 0.5 * logdet - 0.5 * n as f64 * libm::log(2.0 * std::f64::consts::PI);
        Ok(Self { x, inv_ls2, sf2: fit.signal_variance, l, alpha: alpha.as_slice().to_vec(), fit, lml })
    }

    /// Fits the hyperparameters to `(x, y)` by maximising the log marginal likelihood plus
    /// weak priors (length scales around 0.4, signal variance near 1, little noise) with
    /// L-BFGS over their logarithms, and returns the posterior.
    ///
    /// The fit starts where Optuna's GP sampler starts it (every length scale, the signal
    /// variance and the noise variance 1) and stops, as Optuna's does, once no coordinate
    /// of the gradient exceeds 1e-2; that is cheaper than a tight fit from several starts
    /// and, over 100 seeds of the benchmarks, as good.
    ///
    /// ```
    /// use monograd_tune::sampler::Gp;
    /// let x: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64 / 11.0, (i as f64 * 0.618) % 1.0]).collect();
    /// let y: Vec<f64> = x.iter().map(|p| (6.0 * p[0]).sin()).collect();
    /// let gp = Gp::fit(x, y)?;
    /// // The second input varies but does not matter: its length scale is the longer.
    /// let ls = &gp.hyperparameters().length_scales;
    /// assert!(ls[0] < ls[1], "{ls:?}");
    /// assert!((gp.predict(&[0.5, 0.3]).0 - 3f64.sin()).abs() < 0.05);
    /// # Ok::<(), monograd_tune::TuneError>(())
    /// ```
    pub fn fit(x: Vec<Vec<f64>>, y: Vec<f64>) -> Result<Self, TuneError> {
        let n = x.len();
        let d = x.first().map_or(0, |r| r.len());
        if n == 0 || y.len() != n {
            return Err(TuneError::Numeric("a Gaussian process needs as many targets as inputs, and one".into()));
        }
        // Squared differences per dimension, shared by every evaluation.
        let mut diff = vec![0.0; d * n * n];
        for i in 0..d {
            for a in 0..n {
                for b in 0..n {
                    diff[(i * n + a) * n + b] = (x[a][i] - x[b][i]).powi(2);
                }
            }
        }
        let lo = vec![RAW_BOUNDS.0; d + 2];
        let hi = vec![RAW_BOUNDS.1; d + 2];
        let mut objective = |t: &[f64], g: &mut [f64]| lml_and_grad(&diff, &y, n, d, t, g);
        let mut t0 = vec![0.0; d + 2];
        t0[d + 1] = libm::log(1.0 - MIN_NOISE);
        let (t, v) = maximize_box(&mut objective, &t0, &lo, &hi, 200, FIT_GTOL);
        if !v.is_finite() {
            return Err(TuneError::Numeric("no hyperparameters give a positive definite kernel".into()));
        }
        let fit = GpFit {
            length_scales: t[..d].iter().map(|v| libm::exp(-0.5 * v)).collect(),
            signal_variance: libm::exp(t[d]),
            noise_variance: libm::exp(t[d + 1]) + MIN_NOISE,
        };
        Self::new(x, y, fit)
    }

    /// The hyperparameters in use.
    pub fn hyperparameters(&self) -> &GpFit {
        &self.fit
    }

    /// The log marginal likelihood of the data under these hyperparameters.
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.lml
    }

    /// The posterior mean and variance (of the latent function, without noise) at `p`.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let (m, v, _, _) = self.predict_grad(p, false);
        (m, v)
    }

    /// Mean, variance and, if `grad`, their gradients with respect to `p`.
    fn predict_grad(&self, p: &[f64], grad: bool) -> (f64, f64, Vec<f64>, Vec<f64>) {
        let n = self.x.len();
        let d = p.len();
        let mut k = vec![0.0; n];
        let mut f = vec![0.0; n];
        for j in 0..n {
            let r2: f64 = (0..d).map(|i| (p[i] - self.x[j][i]).powi(2) * self.inv_ls2[i]).sum();
            (k[j], f[j]) = matern(self.sf2, r2);
        }
        let mean: f64 = k.iter().zip(&self.alpha).map(|(k, a)| k * a).sum();
        // v = L⁻¹ k.
        let mut v = k.clone();
        for a in 0..n {
            let row = &self.l[a * n..a * n + a];
            let s: f64 = row.iter().zip(&v[..a]).map(|(l, v)| l * v).sum();
            v[a] = (v[a] - s) / self.l[a * n + a];
        }
        let var = (self.sf2 - v.iter().map(|v| v * v).sum::<f64>()).max(1e-12 * self.sf2);
        if !grad {
            return (mean, var, Vec::new(), Vec::new());
        }
        // u = L⁻ᵀ v = K⁻¹ k.
        let mut u = v;
        for a in (0..n).rev() {
            let s: f64 = (a + 1..n).map(|b| self.l[b * n + a] * u[b]).sum();
            u[a] = (u[a] - s) / self.l[a * n + a];
        }
        let mut dm = vec![0.0; d];
        let mut dv = vec![0.0; d];
        for j in 0..n {
            for i in 0..d {
                let dk = -f[j] * (p[i] - self.x[j][i]) * self.inv_ls2[i];
                dm[i] += dk * self.alpha[j];
                dv[i] -= 2.0 * u[j] * dk;
            }
        }
        (mean, var, dm, dv)
    }

    /// `ln EI` at `p` for minimisation below `best`, and its gradient.
    fn log_ei(&self, p: &[f64], best: f64, grad: bool) -> (f64, Vec<f64>) {
        let (m, var, dm, dv) = self.predict_grad(p, grad);
        let s = var.sqrt();
        let z = (best - m) / s;
        let (lh, dlh) = log_h(z);
        let val = libm::log(s) + lh;
        if !grad {
            return (val, Vec::new());
        }
        let g = (0..p.len())
            .map(|i| {
                let ds = dv[i] / (2.0 * s);
                let dz = (-dm[i] - z * ds) / s;
                ds / s + dlh * dz
            })
            .collect();
        (val, g)
    }
}

impl GpSampler {
    /// The expected improvement below `best` of a normal with mean `mean` and variance `var`:
    /// `E[max(best - Y, 0)]`.
    ///
    /// ```
    /// // At the incumbent with unit variance, EI = φ(0) = 1/√(2π).
    /// let ei = monograd_tune::sampler::GpSampler::expected_improvement(0.0, 1.0, 0.0);
    /// assert!((ei - 0.398_942_280_401_432_7).abs() < 1e-15);
    /// ```
    pub fn expected_improvement(mean: f64, var: f64, best: f64) -> f64 {
        let s = var.sqrt();
        if s <= 0.0 {
            return (best - mean).max(0.0);
        }
        let (lh, _) = log_h((best - mean) / s);
        s * libm::exp(lh)
    }
}

/// Log marginal likelihood (without its constant) plus log priors over
/// `t = [ln 1/ℓ².., ln s², ln(σₙ² - MIN_NOISE)]`, and its gradient in `g`; `-inf` where the
/// kernel is not positive definite.
fn lml_and_grad(diff: &[f64], y: &[f64], n: usize, d: usize, t: &[f64], g: &mut [f64]) -> f64 {
    let inv: Vec<f64> = t[..d].iter().map(|v| libm::exp(*v)).collect();
    let sf2 = libm::exp(t[d]);
    let free_noise = libm::exp(t[d + 1]);
    let sn2 = free_noise + MIN_NOISE;
    let mut k = DMatrix::<f64>::zeros(n, n);
    let mut fac = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..=a {
            let r2: f64 = (0..d).map(|i| diff[(i * n + a) * n + b] * inv[i]).sum();
            let (v, f) = matern(sf2, r2);
            k[(a, b)] = v;
            k[(b, a)] = v;
            fac[a * n + b] = f;
            fac[b * n + a] = f;
        }
    }
    let k0 = k.clone();
    for a in 0..n {
        k[(a, a)] += sn2;
    }
    let Some(chol) = nalgebra::Cholesky::new(k) else {
        return f64::NEG_INFINITY;
    };
    let alpha = chol.solve(&DVector::from_column_slice(y));
    let kinv = chol.inverse();
    let lm = chol.l();
    let logdet: f64 = (0..n).map(|a| 2.0 * libm::log(lm[(a, a)])).sum();
    let fit: f64 = y.iter().zip(alpha.iter()).map(|(y, a)| y * a).sum();
    let mut val = -0.5 * fit - 0.5 * logdet;
    // W = ααᵀ - K⁻¹; ∂lml/∂θ = ½ Σ W ∘ ∂K/∂θ.
    g.iter_mut().for_each(|v| *v = 0.0);
    let mut tr = 0.0;
    for a in 0..n {
        for b in 0..n {
            let w = alpha[a] * alpha[b] - kinv[(a, b)];
            if a == b {
                tr += w;
            }
            g[d] += 0.5 * w * k0[(a, b)];
            let f = fac[a * n + b];
            for i in 0..d {
                // ∂k/∂ln(1/ℓᵢ²) = -½ f (xᵢ - x'ᵢ)² / ℓᵢ².
                g[i] -= 0.25 * w * f * diff[(i * n + a) * n + b] * inv[i];
            }
        }
    }
    g[d + 1] = 0.5 * free_noise * tr;
    // Weak priors: on 1/ℓ² a log-density -(3 ℓ² + 0.1/ℓ²) (see LS_PRIOR), on s² a
    // Gamma(2, 1), on σₙ² a Gamma(1.1, 30) (the last two Optuna's GP sampler's).
    for i in 0..d {
        val -= LS_PRIOR.0 / inv[i] + LS_PRIOR.1 * inv[i];
        g[i] += LS_PRIOR.0 / inv[i] - LS_PRIOR.1 * inv[i];
    }
    val += t[d] - sf2;
    g[d] += 1.0 - sf2;
    val += 0.1 * libm::log(sn2) - 30.0 * sn2;
    g[d + 1] += free_noise * (0.1 / sn2 - 30.0);
    val
}

/// Bayesian optimisation with a Gaussian process and expected improvement. The first
/// trials (10 by default) are random; after that each suggestion fits a [`Gp`] to the
/// finished trials (targets standardised and Yeo-Johnson transformed towards normal, as
/// HEBO does; trials still running count as the best value
/// seen, the "constant liar", so parallel trials spread out) and maximises `ln EI` over
/// 2,048 random candidates plus 256 perturbations of the 5 best trials, refined by L-BFGS
/// from the 10 best candidates and the 3 best trials (integers are searched as continuous
/// and rounded, choices held).
///
/// ```
/// use monograd_tune::sampler::{Context, GpSampler, Observation, Sampler};
/// use monograd_tune::space::{uniform, Dist, Space, Value};
///
/// let space = Space::new(vec![Dist::<f64>::param(&uniform(-1.0, 1.0), "x")])?;
/// let observed: Vec<Observation> = [-1.0, -0.5, 0.0, 0.5, 1.0]
///     .iter()
///     .map(|&x: &f64| Observation { values: vec![Value::Float(x)], value: Some((x - 0.3f64).powi(2)) })
///     .collect();
/// let gp = GpSampler::new(0).startup(3);
/// let cx = Context { space: &space, observed: &observed, pending: &[], number: 5 };
/// let Value::Float(x) = gp.suggest(&cx)?[0] else { unreachable!() };
/// assert!((x - 0.3).abs() < 0.2, "{x}");
/// # Ok::<(), monograd_tune::TuneError>(())
/// ```
#[derive(Clone, Debug)]
pub struct GpSampler {
    seed: u64,
    startup: usize,
    candidates: usize,
    starts: usize,
}

impl GpSampler {
    /// A GP-EI sampler seeded with `seed` (random startup trials and candidates).
    pub fn new(seed: u64) -> Self {
        Self { seed, startup: 10, candidates: 2048, starts: 10 }
    }

    /// The number of random trials before the model is used (at least 1).
    pub fn startup(mut self, n: usize) -> Self {
        self.startup = n.max(1);
        self
    }
}

/// Where each parameter sits in the model's input: numbers in one coordinate, choices
/// one-hot.
struct Layout {
    offset: Vec<usize>,
    dims: usize,
}

impl Layout {
    fn new(space: &Space) -> Self {
        let mut offset = Vec::new();
        let mut dims = 0;
        for p in space.params() {
            offset.push(dims);
            dims += match &p.kind {
                Kind::Categorical { labels } => labels.len(),
                _ => 1,
            };
        }
        Self { offset, dims }
    }

    fn encode(&self, space: &Space, values: &[Value]) -> Vec<f64> {
        let mut x = vec![0.0; self.dims];
        for (i, (p, v)) in space.params().iter().zip(values).enumerate() {
            match (&p.kind, v) {
                (Kind::Categorical { .. }, Value::Cat(k)) => x[self.offset[i] + k] = 1.0,
                (Kind::Categorical { .. }, _) => {}
                (_, Value::Absent) => x[self.offset[i]] = 0.5,
                (_, v) => x[self.offset[i]] = p.to_unit(*v).unwrap_or(0.5),
            }
        }
        x
    }
}

impl Sampler for GpSampler {
    fn suggest(&self, cx: &Context<'_>) -> Result<Vec<Value>, TuneError> {
        let done: Vec<&Observation> = cx.observed.iter().filter(|o| o.value.is_some_and(f64::is_finite)).collect();
        if done.len() < self.startup {
            return Random::new(self.seed).suggest(cx);
        }
        let space = cx.space;
        let layout = Layout::new(space);
        let raw: Vec<f64> = done.iter().filter_map(|o| o.value).collect();
        // Standardised and warped towards normal: on Hartmann-6 this halved the median
        // regret (docs/TUNING.md).
        let (mut y, _) = power_standardize(&raw);
        let best = y.iter().copied().fold(f64::INFINITY, f64::min);
        let mut x: Vec<Vec<f64>> = done.iter().map(|o| layout.encode(space, &o.values)).collect();
        for p in cx.pending {
            x.push(layout.encode(space, p));
            y.push(best);
        }
        // A kernel no hyperparameters make positive definite (many duplicate points):
        // fall back to the prior rather than stop the study.
        let Ok(gp) = Gp::fit(x, y) else {
            return Random::new(self.seed).suggest(cx);
        };

        // Candidates: the prior, and perturbations of the best trials.
        let mut rng = trial_rng(self.seed, cx.number, 2);
        let mut cands: Vec<Vec<Value>> = (0..self.candidates).map(|_| sample_config(space, &mut rng)).collect();
        let mut order: Vec<usize> = (0..done.len()).collect();
        order.sort_by(|&a, &b| raw[a].total_cmp(&raw[b]));
        for &o in order.iter().take(5) {
            for _ in 0..self.candidates / 40 {
                cands.push(perturb(space, &done[o].values, &mut rng, 0.05));
            }
        }
        let mut scored: Vec<(f64, usize)> =
            cands.iter().enumerate().map(|(i, c)| (gp.log_ei(&layout.encode(space, c), best, false).0, i)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));

        let numeric: Vec<usize> =
            (0..space.len()).filter(|&i| !matches!(space.params()[i].kind, Kind::Categorical { .. })).collect();
        let mut winner = (scored[0].0, cands[scored[0].1].clone());
        // Starts: the best candidates, and the best trials themselves (to refine near them).
        let starts: Vec<Vec<Value>> = scored
            .iter()
            .take(self.starts)
            .map(|&(_, ci)| cands[ci].clone())
            .chain(order.iter().take(3).map(|&o| done[o].values.clone()))
            .collect();
        for base in starts {
            let free: Vec<usize> = numeric.iter().copied().filter(|&i| base[i] != Value::Absent).collect();
            if free.is_empty() {
                continue;
            }
            let x0 = layout.encode(space, &base);
            let u0: Vec<f64> = free.iter().map(|&i| x0[layout.offset[i]]).collect();
            let mut f = |u: &[f64], g: &mut [f64]| {
                let mut xx = x0.clone();
                for (k, &i) in free.iter().enumerate() {
                    xx[layout.offset[i]] = u[k];
                }
                let (v, gr) = gp.log_ei(&xx, best, true);
                for (k, &i) in free.iter().enumerate() {
                    g[k] = gr[layout.offset[i]];
                }
                v
            };
            let (u, _) = maximize_box(&mut f, &u0, &vec![0.0; free.len()], &vec![1.0; free.len()], 50, 0.0);
            let mut cand = base;
            for (k, &i) in free.iter().enumerate() {
                cand[i] = space.params()[i].from_unit(u[k]);
            }
            // Rounding integers moves the point: score what will actually be tried.
            let v = gp.log_ei(&layout.encode(space, &cand), best, false).0;
            if v > winner.0 {
                winner = (v, cand);
            }
        }
        Ok(winner.1)
    }

    fn name(&self) -> String {
        format!("GP-EI (seed {})", self.seed)
    }
}

/// `values` with every active number moved by a normal step of `scale` in unit
/// coordinates; choices kept.
fn perturb(space: &Space, values: &[Value], rng: &mut monograd_core::rng::Rng, scale: f64) -> Vec<Value> {
    values
        .iter()
        .zip(space.params())
        .map(|(v, p)| match (&p.kind, p.to_unit(*v)) {
            (Kind::Categorical { .. }, _) | (_, None) => *v,
            (_, Some(u)) => p.from_unit(u + scale * rng.normal()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posterior_matches_a_hand_computed_case() {
        // Two points at distance 1 with ℓ = 1, s² = 1, no noise: k(0, 1) = (1 + √5 + 5/3) e^{-√5}.
        let k01 = (1.0 + SQRT5 + 5.0 / 3.0) * (-SQRT5).exp();
        let fit = GpFit { length_scales: vec![1.0], signal_variance: 1.0, noise_variance: 0.0 };
        let gp = Gp::new(vec![vec![0.0], vec![1.0]], vec![1.0, 2.0], fit).unwrap();
        // At x = 0.5 both kernel values are k(0.5) = (1 + √5/2 + 5/12) e^{-√5/2}.
        let kh = (1.0 + SQRT5 / 2.0 + 5.0 / 12.0) * (-SQRT5 / 2.0).exp();
        // K⁻¹ = [[1, -k], [-k, 1]] / (1 - k²); mean = k* K⁻¹ y; var = 1 - k* K⁻¹ k*.
        let det = 1.0 - k01 * k01;
        let a = [(1.0 - k01 * 2.0) / det, (2.0 - k01 * 1.0) / det];
        let mean = kh * (a[0] + a[1]);
        let var = 1.0 - 2.0 * kh * kh * (1.0 - k01) / det;
        let (m, v) = gp.predict(&[0.5]);
        assert!((m - mean).abs() < 1e-8, "{m} vs {mean}");
        assert!((v - var).abs() < 1e-8, "{v} vs {var}");
        // The marginal likelihood: -½ yᵀK⁻¹y - ½ ln det K - ln 2π.
        let lml = -0.5 * (a[0] * 1.0 + a[1] * 2.0) - 0.5 * det.ln() - (2.0 * std::f64::consts::PI).ln();
        assert!((gp.log_marginal_likelihood() - lml).abs() < 1e-8);
    }

    #[test]
    fn expected_improvement_on_known_cases() {
        // Mean 1, sd 2, incumbent 0: z = -0.5, EI = 2 (z Φ(z) + φ(z)).
        let z: f64 = -0.5;
        let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let cdf = 0.308_537_538_725_986_9; // Φ(-0.5)
        let want = 2.0 * (z * cdf + phi);
        assert!((GpSampler::expected_improvement(1.0, 4.0, 0.0) - want).abs() < 1e-14);
        // Far below the incumbent EI is the improvement itself.
        assert!((GpSampler::expected_improvement(-10.0, 1e-6, 0.0) - 10.0).abs() < 1e-9);
        // No variance above the incumbent: nothing to expect.
        assert_eq!(GpSampler::expected_improvement(1.0, 0.0, 0.0), 0.0);
    }

    #[test]
    fn log_ei_gradient_matches_finite_differences() {
        let x: Vec<Vec<f64>> = (0..8).map(|i| vec![(i as f64 * 0.37) % 1.0, (i as f64 * 0.61) % 1.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (3.0 * p[0]).sin() + p[1] * p[1]).collect();
        let gp = Gp::fit(x, y).unwrap();
        let p = [0.42, 0.77];
        let (_, g) = gp.log_ei(&p, -0.5, true);
        for i in 0..2 {
            let h = 1e-6;
            let mut a = p;
            let mut b = p;
            a[i] += h;
            b[i] -= h;
            let fd = (gp.log_ei(&a, -0.5, false).0 - gp.log_ei(&b, -0.5, false).0) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-5 * (1.0 + fd.abs()), "{i}: {fd} vs {}", g[i]);
        }
    }

    #[test]
    fn likelihood_gradient_matches_finite_differences() {
        let x: Vec<Vec<f64>> = (0..7).map(|i| vec![(i as f64 * 0.37) % 1.0, (i as f64 * 0.61) % 1.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (3.0 * p[0]).sin() + p[1]).collect();
        let n = x.len();
        let mut diff = vec![0.0; 2 * n * n];
        for i in 0..2 {
            for a in 0..n {
                for b in 0..n {
                    diff[(i * n + a) * n + b] = (x[a][i] - x[b][i]).powi(2);
                }
            }
        }
        let t = [-0.3, 0.4, 0.2, -3.0];
        let mut g = [0.0; 4];
        lml_and_grad(&diff, &y, n, 2, &t, &mut g);
        for i in 0..4 {
            let (mut a, mut b) = (t, t);
            a[i] += 1e-6;
            b[i] -= 1e-6;
            let mut s = [0.0; 4];
            let fd = (lml_and_grad(&diff, &y, n, 2, &a, &mut s) - lml_and_grad(&diff, &y, n, 2, &b, &mut s)) / 2e-6;
            assert!((fd - g[i]).abs() < 1e-5 * (1.0 + fd.abs()), "{i}: {fd} vs {}", g[i]);
        }
    }
}
