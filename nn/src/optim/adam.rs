//! Adam and AdamW; PyTorch's `torch.optim.Adam` and `torch.optim.AdamW`.
//!
//! Per step `t = 1, 2, ...`, for each parameter `θ` with gradient `g` (`-g` when
//! maximizing):
//!
//! ```text
//! θ ← θ (1 - lr · weight_decay)             AdamW (decoupled weight decay)
//! g ← g + weight_decay · θ                  Adam (L2 penalty)
//! m ← β1 m + (1 - β1) g
//! v ← β2 v + (1 - β2) g²
//! v̂ ← max(v̂, v)                             AMSGrad only; v̂ replaces v below
//! θ ← θ - lr / (1 - β1^t) · m / (√v / √(1 - β2^t) + eps)
//! ```

use monograd_core::{Module, Scalar};

use monograd_core::module::Path;

use super::state::{visit_step_and_blocks, visit_step_and_blocks_mut, OptimizerState, StateMut, StateRef};
use super::{for_each_param, require, slots, OptimError, Optimizer, StateStore};

/// Adam, PyTorch's semantics (defaults: `betas = (0.9, 0.999)`, `eps = 1e-8`, no weight
/// decay, no AMSGrad). [`AdamW`] builds the same type with decoupled weight decay.
///
/// ```
/// use monograd_core::Module;
/// use monograd_nn::{Adam, Linear, Optimizer};
///
/// let mut fc = Linear::<2, 1, f64> { weight: [[1.0, 1.0]], bias: [0.0] };
/// let grad = Linear::<2, 1, f64> { weight: [[0.5, -2.0]], bias: [1e-3] };
/// let mut opt = Adam::new(0.1);
/// opt.step(&mut fc, &grad);
/// // The first step moves every parameter by about lr, whatever its gradient's scale.
/// assert!((fc.weight[0][0] - 0.9).abs() < 1e-6 && (fc.weight[0][1] - 1.1).abs() < 1e-6);
/// assert!((fc.bias[0] + 0.1).abs() < 1e-5);
///
/// // Two moments per parameter; without a heap, in a buffer you own.
/// const N: usize = Adam::<f64, &mut [f64]>::STATE_PER_PARAM * <Linear<2, 1, f64> as Module<f64>>::PARAMS;
/// let mut buf = [0.0f64; N];
/// Adam::with_state(1e-3, &mut buf[..]).betas(0.8, 0.99).step(&mut fc, &grad);
/// ```
#[derive(Clone, Debug)]
pub struct Adam<T, S> {
    lr: T,
    beta1: T,
    beta2: T,
    eps: T,
    weight_decay: T,
    decoupled: bool,
    amsgrad: bool,
    maximize: bool,
    state: S,
    steps: u64,
}

/// AdamW: Adam with decoupled weight decay (`θ ← θ (1 - lr · weight_decay)` before the
/// Adam update, instead of an L2 term in the gradient); PyTorch's `torch.optim.AdamW`.
///
/// Its constructors return an [`Adam`] so configured, with PyTorch's AdamW default
/// `weight_decay = 0.01`; every [`Adam`] builder applies.
///
/// ```
/// use monograd_nn::{AdamW, Linear, Optimizer};
/// let mut fc = Linear::<1, 1, f64> { weight: [[2.0]], bias: [0.0] };
/// let zero = Linear::<1, 1, f64>::ZERO;
/// // With a zero gradient, only the decay acts: θ (1 - lr · wd).
/// AdamW::new(0.1).weight_decay(0.5).step(&mut fc, &zero);
/// assert_eq!(fc.weight, [[2.0 * (1.0 - 0.1 * 0.5)]]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AdamW;

impl AdamW {
    /// AdamW with learning rate `lr` and its state on the heap.
    #[cfg(feature = "alloc")]
    #[allow(clippy::new_ret_no_self)]
    pub fn new<T: Scalar>(lr: T) -> Adam<T, alloc::vec::Vec<T>> {
        Self::with_state(lr, alloc::vec::Vec::new())
    }

    /// AdamW with learning rate `lr`, keeping its state in `state`.
    pub fn with_state<T: Scalar, S: StateStore<T>>(lr: T, state: S) -> Adam<T, S> {
        Adam::with_state(lr, state).decoupled_weight_decay(true).weight_decay(T::from_f64(0.01))
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar> Adam<T, alloc::vec::Vec<T>> {
    /// Adam with learning rate `lr` and its moments on the heap, allocated on the first
    /// step.
    pub fn new(lr: T) -> Self {
        Self::with_state(lr, alloc::vec::Vec::new())
    }
}

impl<T: Scalar, S: StateStore<T>> Adam<T, S> {
    /// The most state values per parameter any configuration keeps (3, with AMSGrad):
    /// size a fixed buffer with `STATE_PER_PARAM * M::PARAMS` values.
    pub const STATE_PER_PARAM: usize = 3;

    /// Adam with learning rate `lr`, keeping its state in `state` (which needs
    /// [`Adam::state_len`] values).
    pub fn with_state(lr: T, state: S) -> Self {
        Self {
            lr,
            beta1: T::from_f64(0.9),
            beta2: T::from_f64(0.999),
            eps: T::from_f64(1e-8),
            weight_decay: T::ZERO,
            decoupled: false,
            amsgrad: false,
            maximize: false,
            state,
            steps: 0,
        }
    }

    /// Decay rates of the first and second moment (default `0.9, 0.999`).
    pub fn betas(mut self, beta1: T, beta2: T) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Added to the denominator for stability (default `1e-8`).
    pub fn eps(mut self, eps: T) -> Self {
        self.eps = eps;
        self
    }

    /// Weight decay (default 0 for Adam, 0.01 for [`AdamW`]): an L2 term in the gradient,
    /// or decoupled with [`Adam::decoupled_weight_decay`].
    pub fn weight_decay(mut self, weight_decay: T) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Decays the parameters directly instead of through the gradient: AdamW.
    pub fn decoupled_weight_decay(mut self, decoupled: bool) -> Self {
        self.decoupled = decoupled;
        self
    }

    /// AMSGrad: normalise by the largest second moment seen (default off; one more state
    /// value per parameter).
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    /// Ascends instead of descending (default off).
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }

    /// State values this configuration keeps for a model of `params` parameters.
    pub fn state_len(&self, params: usize) -> usize {
        params * if self.amsgrad { 3 } else { 2 }
    }

    /// Steps taken since creation or [`Adam::reset`] (the `t` of the bias corrections).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The state store: first moments, second moments, then (AMSGrad) their maxima, each
    /// a block laid out by parameter offset.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Forgets the moments: the next step starts afresh at `t = 1`.
    pub fn reset(&mut self) {
        self.steps = 0;
    }

    /// The state blocks of this configuration, in their order in the store.
    fn blocks(&self) -> &'static [&'static str] {
        if self.amsgrad {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        }
    }

    fn name(&self) -> &'static str {
        if self.decoupled {
            "AdamW"
        } else {
            "Adam"
        }
    }

    fn validate(&self) -> Result<(), OptimError> {
        let name = self.name();
        let unit = |b: T| b >= T::ZERO && b < T::ONE;
        require(self.lr >= T::ZERO, name, "the learning rate must be at least 0")?;
        require(self.eps >= T::ZERO, name, "eps must be at least 0")?;
        require(unit(self.beta1) && unit(self.beta2), name, "betas must be in [0, 1)")?;
        require(self.weight_decay >= T::ZERO, name, "weight decay must be at least 0")
    }
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Adam<T, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        self.validate()?;
        let (lr, beta1, beta2, eps, wd) = (self.lr, self.beta1, self.beta2, self.eps, self.weight_decay);
        let (decoupled, amsgrad, maximize) = (self.decoupled, self.amsgrad, self.maximize);
        let first = self.steps == 0;
        // A count restored from a file may be anything: checked, before anything changes.
        let next = self
            .steps
            .checked_add(1)
            .ok_or(OptimError::Config { optimizer: self.name(), problem: "the step count would overflow" })?;
        let t = T::from_f64(next as f64);
        let step_size = lr / (T::ONE - beta1.powf(t));
        let bc2_sqrt = (T::ONE - beta2.powf(t)).sqrt();
        let decay = T::ONE - lr * wd;
        let params = M::PARAMS;
        let what = if decoupled { "AdamW state" } else { "Adam state" };
        let state = self.state.take(self.state_len(params), what)?;
        if first {
            state.fill(T::ZERO);
        }
        for_each_param(model, grad, |offset, value, grad| {
            let n = value.len();
            let (m, v, mut vmax) = if amsgrad {
                let [m, v, vmax] = slots::<3, T>(state, params, offset, n);
                (m, v, Some(vmax))
            } else {
                let [m, v] = slots::<2, T>(state, params, offset, n);
                (m, v, None)
            };
            for i in 0..n {
                let mut g = if maximize { -grad[i] } else { grad[i] };
                if wd != T::ZERO {
                    if decoupled {
                        value[i] *= decay;
                    } else {
                        g += wd * value[i];
                    }
                }
                m[i] += (g - m[i]) * (T::ONE - beta1);
                v[i] = beta2 * v[i] + (T::ONE - beta2) * g * g;
                let second = match vmax.as_deref_mut() {
                    Some(vmax) => {
                        vmax[i] = vmax[i].max(v[i]);
                        vmax[i]
                    }
                    None => v[i],
                };
                let denom = second.sqrt() / bc2_sqrt + eps;
                value[i] -= step_size * (m[i] / denom);
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

/// `step` (the `t` of the bias corrections), then the blocks `exp_avg`, `exp_avg_sq` and,
/// with AMSGrad, `max_exp_avg_sq`: PyTorch's names. The kind is `Adam` or `AdamW`.
impl<T: Scalar, S: StateStore<T>> OptimizerState<T> for Adam<T, S> {
    fn kind(&self) -> &'static str {
        self.name()
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
        let what = if self.decoupled { "AdamW state" } else { "Adam state" };
        let blocks = self.blocks();
        visit_step_and_blocks_mut(&mut self.steps, &mut self.state, what, params, blocks, path, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::tiny;

    #[test]
    fn the_first_step_moves_by_lr_in_the_gradients_direction() {
        let (mut m, g) = tiny();
        let mut buf = [f64::NAN; 12]; // whatever it held: the first step zeroes it
        Adam::with_state(0.01, &mut buf[..]).step(&mut m, &g);
        // m̂ = g and v̂ = g², so the step is lr · g / (|g| + eps): lr · sign(g), and 0 at g = 0.
        assert!((m.a[0] - (1.0 - 0.01)).abs() < 1e-9);
        assert!((m.b[1] - (3.0 + 0.01)).abs() < 1e-9);
        assert_eq!(m.a[2], 0.5);
        assert_eq!(m.f, [7.0]);
    }

    #[test]
    fn amsgrad_needs_a_third_block() {
        let (mut m, g) = tiny();
        let mut opt = Adam::with_state(0.01, [0.0f64; 12]).amsgrad(true);
        assert!(matches!(opt.try_step(&mut m, &g), Err(OptimError::State(_))));
        let mut opt = Adam::with_state(0.01, [0.0f64; 18]).amsgrad(true);
        opt.step(&mut m, &g);
        opt.step(&mut m, &g);
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn a_step_count_at_its_limit_is_an_error_not_an_overflow() {
        let (mut m, g) = tiny();
        let before = m.clone();
        let mut opt = Adam::with_state(0.01, [0.0f64; 12]);
        opt.steps = u64::MAX;
        let e = opt.try_step(&mut m, &g).unwrap_err();
        assert_eq!(e, OptimError::Config { optimizer: "Adam", problem: "the step count would overflow" });
        assert_eq!((m, opt.steps), (before, u64::MAX));
    }

    #[test]
    fn bad_betas_are_a_config_error() {
        let (mut m, g) = tiny();
        let e = AdamW::with_state(0.01, [0.0f64; 12]).betas(0.9, 1.0).try_step(&mut m, &g).unwrap_err();
        assert_eq!(e, OptimError::Config { optimizer: "AdamW", problem: "betas must be in [0, 1)" });
    }
}
