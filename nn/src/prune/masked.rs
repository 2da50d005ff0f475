//! An optimizer whose masked weights get no update: [`Masked`].

use monograd_core::module::Path;
use monograd_core::{Module, Scalar};

use super::mask::{apply, check_targets, Mask, Pruning};
use super::schedule::PruneSchedule;
use super::PruneError;
use crate::optim::state::{OptimizerState, StateMut, StateRef};
use crate::optim::{Layout, OptimError, Optimizer, StateStore};

/// Wraps an optimizer so that pruned weights stay exactly zero, whatever it does (momentum,
/// Adam's moments, weight decay), and optionally prunes more as training goes
/// ([`Masked::schedule`]).
///
/// After each step of the inner optimizer the mask is applied: every pruned weight is set
/// back to zero. Optimizers here update each value from its own gradient and state only,
/// so the kept weights move exactly as they would with the pruned weights' gradients
/// zeroed (gradient clipping by norm aside, which sees the whole gradient). The inner
/// optimizer's state for pruned weights is left as it is and never reaches a weight.
///
/// On a step that is a pruning step of the schedule, the mask is recomputed from the
/// weights just updated, then applied. If the inner step fails, nothing changes.
///
/// It implements [`OptimizerState`], so the `Trainer` (feature `train`) takes it
/// as any optimizer: its state is the inner optimizer's, then the counter `prune_step`
/// and the block `pruned` (the mask), so that a checkpoint or a rolled-back step restores
/// the mask with the weights.
///
/// ```
/// use monograd_nn::prune::{Mask, Masked, PruneSchedule, Pruning};
/// use monograd_nn::{AdamW, Linear, Optimizer};
///
/// let mut fc = Linear::<4, 2, f64> { weight: [[0.1, -4.0, 0.3, 2.0], [-0.2, 1.0, 3.0, 0.05]], bias: [0.0; 2] };
/// let grad = Linear::<4, 2, f64> { weight: [[1.0; 4]; 2], bias: [1.0; 2] };
/// // 50% of the weights at the first step, then fine-tuning with them held at zero.
/// let mut opt = Masked::new(AdamW::new(0.1).weight_decay(0.1), Mask::new())
///     .schedule(Pruning::global(), PruneSchedule::one_shot(0.5, 0));
/// for _ in 0..5 {
///     opt.step(&mut fc, &grad);
/// }
/// assert_eq!(fc.weight.as_flattened().iter().filter(|w| **w == 0.0).count(), 4);
/// ```
#[derive(Clone, Debug)]
pub struct Masked<O, T, S> {
    /// The optimizer that updates the weights.
    pub optimizer: O,
    mask: Mask<T, S>,
    plan: Option<(Pruning, PruneSchedule)>,
    steps: u64,
}

impl<O: Optimizer<T>, T: Scalar, S: StateStore<T>> Masked<O, T, S> {
    /// `optimizer` with `mask` held applied (no pruning beyond it unless
    /// [`Masked::schedule`]d).
    pub fn new(optimizer: O, mask: Mask<T, S>) -> Self {
        Self { optimizer, mask, plan: None, steps: 0 }
    }

    /// Prunes as `pruning` says, at the steps and sparsities of `schedule`.
    ///
    /// # Panics
    /// If a per-tensor target of `pruning` is outside `[0, 1]`.
    #[track_caller]
    pub fn schedule(mut self, pruning: Pruning, schedule: PruneSchedule) -> Self {
        if let Err(e) = pruning.check() {
            panic!("{e}");
        }
        self.plan = Some((pruning, schedule));
        self
    }

    /// The mask.
    pub fn mask(&self) -> &Mask<T, S> {
        &self.mask
    }

    /// The mask, mutably (to prune more by hand, or to read its counts).
    pub fn mask_mut(&mut self) -> &mut Mask<T, S> {
        &mut self.mask
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

fn to_optim(e: PruneError) -> OptimError {
    match e {
        PruneError::Mask(s) => OptimError::State(s),
        PruneError::UnknownTarget { .. } => OptimError::Config {
            optimizer: "Masked",
            problem: "a per-tensor pruning target names no tensor the pruning selects (see Mask::prune for the name)",
        },
        _ => OptimError::Config { optimizer: "Masked", problem: "the pruning settings are out of range" },
    }
}

impl<T: Scalar, O: Optimizer<T>, S: StateStore<T>> Optimizer<T> for Masked<O, T, S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        // Everything that can fail is checked before the model changes.
        let next = self
            .steps
            .checked_add(1)
            .ok_or(OptimError::Config { optimizer: "Masked", problem: "the step count would overflow" })?;
        self.mask.values(M::PARAMS).map_err(to_optim)?;
        let prune = self.plan.filter(|(_, s)| s.prunes_at(self.steps));
        if let Some((pruning, _)) = &prune {
            // A target naming no tensor is found here, before the step.
            check_targets(model, pruning).map_err(to_optim)?;
        }
        self.optimizer.try_step(model, grad)?;
        if let Some((pruning, schedule)) = prune {
            let step = self.steps;
            let target = schedule.target();
            self.mask
                .prune_with(model, &pruning, |own| schedule.sparsity_for(step, own.unwrap_or(target)))
                .map_err(to_optim)?;
        }
        apply(self.mask.values(M::PARAMS).map_err(to_optim)?, model);
        self.steps = next;
        Ok(())
    }

    fn layout(&self) -> Option<Layout> {
        self.optimizer.layout()
    }

    fn lr(&self) -> f64 {
        self.optimizer.lr()
    }

    fn set_lr(&mut self, lr: f64) {
        self.optimizer.set_lr(lr);
    }
}

impl<T: Scalar, O: OptimizerState<T>, S: StateStore<T>> OptimizerState<T> for Masked<O, T, S> {
    fn kind(&self) -> &'static str {
        self.optimizer.kind()
    }

    fn visit_state<F: FnMut(StateRef<'_, T>)>(&self, params: usize, path: &Path<'_>, f: &mut F) {
        self.optimizer.visit_state(params, path, f);
        f(StateRef::Counter { path: &path.field("prune_step"), value: self.steps });
        let values = self.mask.store().values().get(..params);
        f(StateRef::Block { path: &path.field("pruned"), values });
    }

    fn visit_state_mut<F: FnMut(StateMut<'_, T>)>(
        &mut self,
        params: usize,
        path: &Path<'_>,
        f: &mut F,
    ) -> Result<(), OptimError> {
        // Room first: an error must come before anything is visited.
        self.mask.values(params).map_err(to_optim)?;
        self.optimizer.visit_state_mut(params, path, f)?;
        f(StateMut::Counter { path: &path.field("prune_step"), value: &mut self.steps });
        let values = self.mask.values(params).map_err(to_optim)?;
        f(StateMut::Block { path: &path.field("pruned"), values });
        Ok(())
    }
}
