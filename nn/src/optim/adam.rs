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
use super::{
    built, for_each_param, learning_rate, setting, slots, Layout, LayoutLock, OptimError, Optimizer, Range,
    RangeOptimizer, StateStore, WEIGHT_DECAY,
};

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
    layout: LayoutLock,
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
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`AdamW::try_new`]'s message.
    #[cfg(feature = "alloc")]
    #[allow(clippy::new_ret_no_self)]
    #[track_caller]
    pub fn new<T: Scalar>(lr: T) -> Adam<T, alloc::vec::Vec<T>> {
        built(Self::try_new(lr))
    }

    /// [`AdamW::new`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    #[cfg(feature = "alloc")]
    pub fn try_new<T: Scalar>(lr: T) -> Result<Adam<T, alloc::vec::Vec<T>>, OptimError> {
        Self::try_with_state(lr, alloc::vec::Vec::new())
    }

    /// AdamW with learning rate `lr`, keeping its state in `state`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`AdamW::try_with_state`]'s message.
    #[track_caller]
    pub fn with_state<T: Scalar, S: StateStore<T>>(lr: T, state: S) -> Adam<T, S> {
        built(Self::try_with_state(lr, state))
    }

    /// [`AdamW::with_state`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_with_state<T: Scalar, S: StateStore<T>>(lr: T, state: S) -> Result<Adam<T, S>, OptimError> {
        Adam::build(lr, state, true)?.try_weight_decay(T::from_f64(0.01))
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar> Adam<T, alloc::vec::Vec<T>> {
    /// Adam with learning rate `lr` and its moments on the heap, allocated on the first
    /// step.
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`Adam::try_new`]'s message.
    #[track_caller]
    pub fn new(lr: T) -> Self {
        built(Self::try_new(lr))
    }

    /// [`Adam::new`], with an invalid learning rate returned as an error.
    ///
    /// ```
    /// use monograd_nn::Adam;
    /// let e = Adam::<f64, _>::try_new(f64::NAN).unwrap_err();
    /// assert_eq!(
    ///     e.to_string(),
    ///     "Adam: learning rate = NaN is out of range; use a finite learning rate of at least 0, such as 1e-3"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_new(lr: T) -> Result<Self, OptimError> {
        Self::try_with_state(lr, alloc::vec::Vec::new())
    }
}

impl<T: Scalar, S: StateStore<T>> Adam<T, S> {
    /// The most state values per parameter any configuration keeps (3, with AMSGrad):
    /// size a fixed buffer with `STATE_PER_PARAM * M::PARAMS` values.
    pub const STATE_PER_PARAM: usize = 3;

    /// Adam with learning rate `lr`, keeping its state in `state` (which needs
    /// [`Adam::state_len`] values).
    ///
    /// # Panics
    /// If `lr` is negative or not finite, with [`Adam::try_with_state`]'s message.
    #[track_caller]
    pub fn with_state(lr: T, state: S) -> Self {
        built(Self::try_with_state(lr, state))
    }

    /// [`Adam::with_state`], with an invalid learning rate returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `lr` is negative or not finite.
    pub fn try_with_state(lr: T, state: S) -> Result<Self, OptimError> {
        Self::build(lr, state, false)
    }

    fn build(lr: T, state: S, decoupled: bool) -> Result<Self, OptimError> {
        Ok(Self {
            lr: learning_rate(lr, if decoupled { "AdamW" } else { "Adam" })?,
            beta1: T::from_f64(0.9),
            beta2: T::from_f64(0.999),
            eps: T::from_f64(1e-8),
            weight_decay: T::ZERO,
            decoupled,
            amsgrad: false,
            maximize: false,
            state,
            steps: 0,
            layout: LayoutLock::new(),
        })
    }

    /// Decay rates of the first and second moment, each in `[0, 1)` (default
    /// `0.9, 0.999`).
    ///
    /// # Panics
    /// Where [`Adam::try_betas`] returns an error, with its message.
    #[track_caller]
    pub fn betas(self, beta1: T, beta2: T) -> Self {
        built(self.try_betas(beta1, beta2))
    }

    /// [`Adam::betas`], with an invalid value returned as an error.
    ///
    /// ```
    /// use monograd_nn::Adam;
    /// let e = Adam::<f64, _>::new(1e-3).try_betas(0.9, 1.0).unwrap_err();
    /// assert_eq!(e.to_string(), "Adam: beta2 = 1.0 is out of range; use a beta2 in [0, 1), such as 0.999");
    /// ```
    ///
    /// # Errors
    /// [`OptimError::Setting`] if either is not in `[0, 1)`.
    pub fn try_betas(mut self, beta1: T, beta2: T) -> Result<Self, OptimError> {
        let name = self.name();
        self.beta1 = setting(beta1, Range::Unit, name, "beta1", "use a beta1 in [0, 1), such as 0.9")?;
        self.beta2 = setting(beta2, Range::Unit, name, "beta2", "use a beta2 in [0, 1), such as 0.999")?;
        Ok(self)
    }

    /// Added to the denominator for stability, above 0 (default `1e-8`).
    ///
    /// # Panics
    /// If `eps` is not finite and above 0, with [`Adam::try_eps`]'s message.
    #[track_caller]
    pub fn eps(self, eps: T) -> Self {
        built(self.try_eps(eps))
    }

    /// [`Adam::eps`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `eps` is not finite and above 0 (at 0, a zero
    /// gradient divides 0 by 0).
    pub fn try_eps(mut self, eps: T) -> Result<Self, OptimError> {
        self.eps = setting(eps, Range::Positive, self.name(), "eps", "use a finite eps above 0, such as 1e-8")?;
        Ok(self)
    }

    /// Weight decay (default 0 for Adam, 0.01 for [`AdamW`]): an L2 term in the gradient,
    /// or decoupled with [`Adam::decoupled_weight_decay`].
    ///
    /// # Panics
    /// If `weight_decay` is negative or not finite, with [`Adam::try_weight_decay`]'s
    /// message.
    #[track_caller]
    pub fn weight_decay(self, weight_decay: T) -> Self {
        built(self.try_weight_decay(weight_decay))
    }

    /// [`Adam::weight_decay`], with an invalid value returned as an error.
    ///
    /// # Errors
    /// [`OptimError::Setting`] if `weight_decay` is negative or not finite.
    pub fn try_weight_decay(mut self, weight_decay: T) -> Result<Self, OptimError> {
        self.weight_decay = setting(weight_decay, Range::NonNegative, self.name(), "weight decay", WEIGHT_DECAY)?;
        Ok(self)
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

    /// Forgets the moments and the model: the next step starts afresh at `t = 1`, with
    /// any model.
    pub fn reset(&mut self) {
        self.steps = 0;
        self.layout.clear();
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
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Adam<T, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        let params = M::PARAMS;
        let (u, state) = self.begin_step(model)?;
        for_each_param(model, grad, |offset, value, grad| {
            let n = value.len();
            let (m, v, vmax) = if u.amsgrad {
                let [m, v, vmax] = slots::<3, T>(state, params, offset, n);
                (m, v, Some(vmax))
            } else {
                let [m, v] = slots::<2, T>(state, params, offset, n);
                (m, v, None)
            };
            if cfg!(target_arch = "arm") && !u.maximize && u.wd == T::ZERO && vmax.is_none() {
                // On 32-bit Arm (firmware, built at opt-level "s" or "z"; the host, not
                // measured with it, keeps the loop below as it was), the default
                // configuration in a loop of its own, the same arithmetic in
                // the same order without the per-element branches on the flags, and with
                // a bound no slice is shorter than (all are `n` long) so that the indexing
                // needs no checks: at opt-level "z" LLVM does neither itself, and keeps
                // range indexing as calls that hide the lengths (a Cortex-M4 training
                // step, docs/EMBEDDED.md).
                let (beta1, beta2, eps, step_size, bc2_sqrt) = (u.beta1, u.beta2, u.eps, u.step_size, u.bc2_sqrt);
                let n = n.min(grad.len()).min(m.len()).min(v.len());
                for i in 0..n {
                    let g = grad[i];
                    m[i] += (g - m[i]) * (T::ONE - beta1);
                    v[i] = beta2 * v[i] + (T::ONE - beta2) * g * g;
                    let denom = v[i].sqrt() / bc2_sqrt + eps;
                    value[i] -= step_size * (m[i] / denom);
                }
                return;
            }
            update(&u, value, grad, m, v, vmax);
        });
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

/// One step of [`Adam`]'s (or [`AdamW`]'s) coefficients ([`RangeOptimizer::Update`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamUpdate<T> {
    beta1: T,
    beta2: T,
    eps: T,
    wd: T,
    /// `lr / (1 - β1^t)`.
    step_size: T,
    /// `√(1 - β2^t)`.
    bc2_sqrt: T,
    /// `1 - lr · weight_decay` (AdamW).
    decay: T,
    decoupled: bool,
    amsgrad: bool,
    maximize: bool,
}

impl<T: Scalar, S: StateStore<T>> RangeOptimizer<T> for Adam<T, S> {
    type Update = AdamUpdate<T>;

    fn begin_step<M: Module<T>>(&mut self, model: &M) -> Result<(AdamUpdate<T>, &mut [T]), OptimError> {
        let lr = learning_rate(self.lr, self.name())?;
        self.layout.check(self.name(), model)?;
        let (beta1, beta2, wd) = (self.beta1, self.beta2, self.weight_decay);
        // A count restored from a file may be anything: checked, before anything changes.
        let next = self
            .steps
            .checked_add(1)
            .ok_or(OptimError::Config { optimizer: self.name(), problem: "the step count would overflow" })?;
        let t = T::from_f64(next as f64);
        let u = AdamUpdate {
            beta1,
            beta2,
            eps: self.eps,
            wd,
            step_size: lr / (T::ONE - beta1.powf(t)),
            bc2_sqrt: (T::ONE - beta2.powf(t)).sqrt(),
            decay: T::ONE - lr * wd,
            decoupled: self.decoupled,
            amsgrad: self.amsgrad,
            maximize: self.maximize,
        };
        let first = self.steps == 0;
        let what = if self.decoupled { "AdamW state" } else { "Adam state" };
        let len = self.state_len(M::PARAMS);
        let state = self.state.take(len, what)?;
        if first {
            state.fill(T::ZERO);
        }
        self.steps = next;
        Ok((u, state))
    }

    fn apply(u: &AdamUpdate<T>, value: &mut [T], grad: &[T], state: &mut [&mut [T]]) {
        match state {
            [m, v, vmax] => update(u, value, grad, m, v, Some(vmax)),
            [m, v] => update(u, value, grad, m, v, None),
            // Not the state `begin_step` gave: nothing to update with.
            _ => {}
        }
    }
}

/// The update of consecutive parameters from their gradient and moments (`vmax` with
/// AMSGrad): [`Optimizer::try_step`]'s and [`RangeOptimizer::apply`]'s arithmetic.
#[inline]
fn update<T: Scalar>(
    u: &AdamUpdate<T>,
    value: &mut [T],
    grad: &[T],
    m: &mut [T],
    v: &mut [T],
    mut vmax: Option<&mut [T]>,
) {
    let n = value.len().min(grad.len()).min(m.len()).min(v.len());
    for i in 0..n {
        let mut g = if u.maximize { -grad[i] } else { grad[i] };
        if u.wd != T::ZERO {
            if u.decoupled {
                value[i] *= u.decay;
            } else {
                g += u.wd * value[i];
            }
        }
        m[i] += (g - m[i]) * (T::ONE - u.beta1);
        v[i] = u.beta2 * v[i] + (T::ONE - u.beta2) * g * g;
        let second = match vmax.as_deref_mut() {
            Some(vmax) => {
                vmax[i] = vmax[i].max(v[i]);
                vmax[i]
            }
            None => v[i],
        };
        let denom = second.sqrt() / u.bc2_sqrt + u.eps;
        value[i] -= u.step_size * (m[i] / denom);
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
        visit_step_and_blocks_mut(&mut self.steps, &mut self.state, what, params, blocks, path, f)?;
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

    #[cfg(feature = "std")]
    #[test]
    fn every_invalid_setting_is_refused_when_built() {
        use crate::optim::testing::refused;
        use std::format;
        type Opt = Adam<f64, alloc::vec::Vec<f64>>;
        let lr = "use a finite learning rate of at least 0, such as 1e-3";
        let wd = "use a finite weight decay of at least 0, or 0 for none";
        let eps = "use a finite eps above 0, such as 1e-8";
        for (name, make) in [("Adam", Opt::new as fn(f64) -> Opt), ("AdamW", AdamW::new)] {
            for v in [-0.1, f64::NAN, f64::INFINITY] {
                let msg = format!("{name}: learning rate = {v:?} is out of range; {lr}");
                if name == "Adam" {
                    refused(Opt::try_new(v), || Opt::new(v), &msg);
                    refused(Adam::try_with_state(v, [0.0; 2]), || Adam::with_state(v, [0.0; 2]), &msg);
                } else {
                    refused(AdamW::try_new(v), || AdamW::new(v), &msg);
                    refused(AdamW::try_with_state(v, [0.0; 2]), || AdamW::with_state(v, [0.0; 2]), &msg);
                }
                let msg = format!("{name}: weight decay = {v:?} is out of range; {wd}");
                refused(make(0.1).try_weight_decay(v), || make(0.1).weight_decay(v), &msg);
            }
            for v in [0.0, -1e-8, f64::NAN, f64::INFINITY] {
                let msg = format!("{name}: eps = {v:?} is out of range; {eps}");
                refused(make(0.1).try_eps(v), || make(0.1).eps(v), &msg);
            }
            for v in [-0.1, 1.0, 2.0, f64::NAN] {
                let msg = format!("{name}: beta1 = {v:?} is out of range; use a beta1 in [0, 1), such as 0.9");
                refused(make(0.1).try_betas(v, 0.999), || make(0.1).betas(v, 0.999), &msg);
                let msg = format!("{name}: beta2 = {v:?} is out of range; use a beta2 in [0, 1), such as 0.999");
                refused(make(0.1).try_betas(0.9, v), || make(0.1).betas(0.9, v), &msg);
            }
            // The ends of each range are accepted.
            assert!(make(0.0).betas(0.0, 0.0).weight_decay(0.0).eps(f64::MIN_POSITIVE).try_betas(0.99, 0.9999).is_ok());
        }
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
}
