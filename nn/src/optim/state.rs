//! An optimizer's state as named pieces, so that checkpoints can save and restore it:
//! [`OptimizerState`].
//!
//! State comes in two forms:
//! - **counters**: integers such as the number of steps taken (Adam's `t`, which its bias
//!   corrections need, or whether SGD's momentum buffer is initialised);
//! - **blocks**: `params` values laid out by parameter offset, like the blocks of a
//!   [`StateStore`] (Adam's `exp_avg` and `exp_avg_sq`, SGD's
//!   `momentum_buffer`). A checkpoint splits each block by the model's tensors
//!   (`exp_avg.fc1.weight`), as PyTorch's optimizer `state_dict` keeps state per parameter.
//!
//! Names follow PyTorch's optimizer state (`step`, `exp_avg`, `momentum_buffer`,
//! `square_avg`, `sum`). Nothing here allocates: the trait works without a heap, and the
//! file writing is in `serialize::checkpoint` (feature `safetensors`).

use monograd_core::module::Path;
use monograd_core::Scalar;

use super::{OptimError, Optimizer, StateStore};

/// A piece of an optimizer's state, read-only: what [`OptimizerState::visit_state`] hands
/// out.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum StateRef<'a, T> {
    /// An integer, such as the number of steps taken.
    Counter {
        /// Its name (`step`).
        path: &'a Path<'a>,
        /// Its value.
        value: u64,
    },
    /// One value per parameter, laid out by parameter offset ([`ParamUpdate::offset`]).
    ///
    /// `None` when the optimizer does not hold it yet (a `Vec` store before the first
    /// step): a checkpoint saves zeros, and the first step initialises it anyway.
    ///
    /// [`ParamUpdate::offset`]: monograd_core::module::ParamUpdate::offset
    Block {
        /// Its name (`exp_avg`).
        path: &'a Path<'a>,
        /// `params` values, or `None`.
        values: Option<&'a [T]>,
    },
}

/// A piece of an optimizer's state, to restore: what [`OptimizerState::visit_state_mut`]
/// hands out, in the order of [`OptimizerState::visit_state`].
#[derive(Debug)]
#[non_exhaustive]
pub enum StateMut<'a, T> {
    /// An integer, such as the number of steps taken.
    Counter {
        /// Its name.
        path: &'a Path<'a>,
        /// Its value, to overwrite.
        value: &'a mut u64,
    },
    /// One value per parameter, laid out by parameter offset.
    Block {
        /// Its name.
        path: &'a Path<'a>,
        /// `params` values, to overwrite.
        values: &'a mut [T],
    },
}

/// An optimizer whose state can be read and restored: what a checkpoint needs to resume
/// training bit-identically. Every built-in optimizer implements it, and so does
/// [`Scheduled`](super::Scheduled) (adding its schedule position).
///
/// Implement it for your own optimizer with three methods: its [`kind`](Self::kind) (a
/// checkpoint of another kind is refused), and two visits of the same pieces in the same
/// order, read-only and mutable. [`visit_blocks`] and [`visit_blocks_mut`] split a
/// [`StateStore`]'s values into named blocks. An optimizer that keeps a
/// [`LayoutLock`](super::LayoutLock) clears it once its state is restored: the layout is
/// not part of the saved state (a checkpoint checks the blocks against its model by
/// name and shape instead), and the next step adopts the model it is given.
///
/// ```
/// use monograd_core::module::Path;
/// use monograd_core::{Module, Scalar};
/// use monograd_nn::optim::state::{visit_blocks, visit_blocks_mut, OptimizerState, StateMut, StateRef};
/// use monograd_nn::optim::{for_each_param, slots, OptimError, Optimizer, StateStore};
/// use monograd_nn::Linear;
///
/// /// SGD with a running average of the gradient: one block, and a step count.
/// struct Averaged<S> {
///     lr: f64,
///     avg: S,
///     steps: u64,
/// }
///
/// impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Averaged<S> {
///     fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
///         let (lr, first) = (T::from_f64(self.lr), self.steps == 0);
///         let avg = self.avg.take(M::PARAMS, "Averaged state")?;
///         for_each_param(model, grad, |offset, value, grad| {
///             let [a] = slots::<1, T>(avg, M::PARAMS, offset, value.len());
///             for ((p, &g), a) in value.iter_mut().zip(grad).zip(a.iter_mut()) {
///                 *a = if first { g } else { (*a + g) / T::from_f64(2.0) };
///                 *p -= lr * *a;
///             }
///         });
///         self.steps += 1;
///         Ok(())
///     }
///     fn lr(&self) -> f64 {
///         self.lr
///     }
///     fn set_lr(&mut self, lr: f64) {
///         self.lr = lr;
///     }
/// }
///
/// impl<T: Scalar, S: StateStore<T>> OptimizerState<T> for Averaged<S> {
///     fn kind(&self) -> &'static str {
///         "Averaged"
///     }
///     fn visit_state<F: FnMut(StateRef<'_, T>)>(&self, params: usize, path: &Path<'_>, f: &mut F) {
///         f(StateRef::Counter { path: &path.field("step"), value: self.steps });
///         visit_blocks(self.avg.values(), params, &["avg"], path, f);
///     }
///     fn visit_state_mut<F: FnMut(StateMut<'_, T>)>(
///         &mut self,
///         params: usize,
///         path: &Path<'_>,
///         f: &mut F,
///     ) -> Result<(), OptimError> {
///         // Make room first: an error must come before anything is visited.
///         let avg = self.avg.take(params, "Averaged state")?;
///         f(StateMut::Counter { path: &path.field("step"), value: &mut self.steps });
///         visit_blocks_mut(avg, params, &["avg"], path, f);
///         Ok(())
///     }
/// }
///
/// // A copy of the state moves from one optimizer to another.
/// let mut fc = Linear::<2, 1, f64> { weight: [[1.0, 1.0]], bias: [0.0] };
/// let grad = Linear::<2, 1, f64> { weight: [[0.5, -0.5]], bias: [1.0] };
/// let mut a = Averaged { lr: 0.1, avg: Vec::new(), steps: 0 };
/// a.step(&mut fc, &grad);
/// let mut b = Averaged { lr: 0.1, avg: Vec::new(), steps: 0 };
/// let (mut saved, mut step) = (Vec::new(), 0);
/// a.visit_state(3, &Path::ROOT, &mut |s| match s {
///     StateRef::Counter { value, .. } => step = value,
///     StateRef::Block { values, .. } => saved.extend_from_slice(values.unwrap()),
///     _ => {}
/// });
/// b.visit_state_mut(3, &Path::ROOT, &mut |s| match s {
///     StateMut::Counter { value, .. } => *value = step,
///     StateMut::Block { values, .. } => values.copy_from_slice(&saved),
///     _ => {}
/// })?;
/// assert_eq!((b.steps, &b.avg), (1, &a.avg));
/// # Ok::<(), OptimError>(())
/// ```
pub trait OptimizerState<T: Scalar>: Optimizer<T> {
    /// The optimizer's name (`"Adam"`), saved with its state: a checkpoint refuses to
    /// load the state of another kind of optimizer.
    fn kind(&self) -> &'static str;

    /// Visits every piece of the state of this optimizer for a model of `params`
    /// parameters, under `path`: counters and blocks, in a fixed order that depends only
    /// on the configuration.
    fn visit_state<F: FnMut(StateRef<'_, T>)>(&self, params: usize, path: &Path<'_>, f: &mut F);

    /// Visits the same pieces mutably, in the same order, to restore them. The built-in
    /// optimizers then forget the layout of the model they served: the next step adopts
    /// its model's.
    ///
    /// # Errors
    /// [`OptimError::State`] if the store cannot hold the blocks (a fixed buffer too
    /// short): returned before anything is visited, so that the optimizer is unchanged.
    fn visit_state_mut<F: FnMut(StateMut<'_, T>)>(
        &mut self,
        params: usize,
        path: &Path<'_>,
        f: &mut F,
    ) -> Result<(), OptimError>;
}

/// Visits `values` as `names.len()` blocks of `params` values each, in order, under
/// `path`; a block the values do not reach is visited as `None`.
///
/// ```
/// use monograd_core::module::Path;
/// use monograd_nn::optim::state::{visit_blocks, StateRef};
/// let mut seen = Vec::new();
/// visit_blocks(&[1.0, 2.0, 3.0, 4.0], 2, &["m", "v", "w"], &Path::ROOT, &mut |s| {
///     if let StateRef::Block { path, values } = s {
///         seen.push((path.to_string(), values.map(<[f32]>::to_vec)));
///     }
/// });
/// assert_eq!(seen[1], ("v".to_string(), Some(vec![3.0, 4.0])));
/// assert_eq!(seen[2], ("w".to_string(), None));
/// ```
pub fn visit_blocks<T, F: FnMut(StateRef<'_, T>)>(
    values: &[T],
    params: usize,
    names: &[&str],
    path: &Path<'_>,
    f: &mut F,
) {
    for (k, name) in names.iter().enumerate() {
        let block = k.checked_mul(params).and_then(|start| values.get(start..start.checked_add(params)?));
        f(StateRef::Block { path: &path.field(name), values: block });
    }
}

/// Visits `state` as `names.len()` blocks of `params` values each, mutably, in order,
/// under `path`. `state` should hold `names.len() * params` values (what the optimizer
/// took from its store); blocks past its end are not visited.
pub fn visit_blocks_mut<T, F: FnMut(StateMut<'_, T>)>(
    state: &mut [T],
    params: usize,
    names: &[&str],
    path: &Path<'_>,
    f: &mut F,
) {
    let mut rest = state;
    for name in names {
        if rest.len() < params {
            return;
        }
        let (block, tail) = core::mem::take(&mut rest).split_at_mut(params);
        rest = tail;
        f(StateMut::Block { path: &path.field(name), values: block });
    }
}

/// The state built-in optimizers keep, visited as they visit it: the counter `step`, then
/// `names.len()` blocks of `params` values from `store` (an [`OptimizerState::visit_state`]
/// in one call).
///
/// ```
/// use monograd_core::module::Path;
/// use monograd_nn::optim::state::{visit_step_and_blocks, StateRef};
/// let mut seen = Vec::new();
/// visit_step_and_blocks(3, &vec![1.0f32, 2.0], 2, &["exp_avg"], &Path::ROOT, &mut |s| match s {
///     StateRef::Counter { path, value } => seen.push(format!("{path}={value}")),
///     StateRef::Block { path, values } => seen.push(format!("{path}={values:?}")),
///     _ => {}
/// });
/// assert_eq!(seen, ["step=3", "exp_avg=Some([1.0, 2.0])"]);
/// ```
pub fn visit_step_and_blocks<T: Scalar, S: StateStore<T>, F: FnMut(StateRef<'_, T>)>(
    steps: u64,
    store: &S,
    params: usize,
    names: &[&str],
    path: &Path<'_>,
    f: &mut F,
) {
    f(StateRef::Counter { path: &path.field("step"), value: steps });
    visit_blocks(store.values(), params, names, path, f);
}

/// [`visit_step_and_blocks`], mutably (an [`OptimizerState::visit_state_mut`] in one
/// call): room for the blocks is taken from `store` first, so that a store too short is
/// an error, named by `what`, before anything is visited.
///
/// # Errors
/// [`OptimError::State`] if `store` cannot hold `names.len() * params` values.
pub fn visit_step_and_blocks_mut<T: Scalar, S: StateStore<T>, F: FnMut(StateMut<'_, T>)>(
    steps: &mut u64,
    store: &mut S,
    what: &'static str,
    params: usize,
    names: &[&str],
    path: &Path<'_>,
    f: &mut F,
) -> Result<(), OptimError> {
    let state = store.take(names.len() * params, what)?;
    f(StateMut::Counter { path: &path.field("step"), value: steps });
    visit_blocks_mut(state, params, names, path, f);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_zero_parameters_are_empty_not_a_panic() {
        let mut n = 0;
        visit_blocks::<f32, _>(&[], 0, &["a", "b"], &Path::ROOT, &mut |s| {
            assert!(matches!(s, StateRef::Block { values: Some([]), .. }));
            n += 1;
        });
        visit_blocks_mut::<f32, _>(&mut [], 0, &["a", "b"], &Path::ROOT, &mut |_| n += 1);
        assert_eq!(n, 4);
    }

    #[test]
    fn mutable_blocks_stop_where_the_state_ends() {
        let mut state = [0.0f64; 5];
        let mut names = [""; 3];
        let mut i = 0;
        visit_blocks_mut(&mut state, 2, &["m", "v", "w"], &Path::ROOT.field("opt"), &mut |s| {
            if let StateMut::Block { values, .. } = s {
                values.fill(i as f64 + 1.0);
                names[i] = ["m", "v", "w"][i];
                i += 1;
            }
        });
        assert_eq!(state, [1.0, 1.0, 2.0, 2.0, 0.0]);
        assert_eq!(names, ["m", "v", ""]);
    }
}
