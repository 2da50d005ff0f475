//! A training step as a transaction: what the [`Trainer`](super::Trainer) checks after a
//! step, the copy of the model and the optimizer it puts back when a check fails, and the
//! likely cause it names.
//!
//! Before a step (or, with [`Checks::Every`], before a run of steps) the trainer verifies
//! that every tensor of the model (parameters, frozen parameters, buffers such as
//! BatchNorm's running statistics) and every block of the optimizer's state is finite,
//! then copies them, with every counter, into one [`Snapshot`] allocated on the first
//! step and reused after. When a check fails, the snapshot is written back: the model and
//! the optimizer are as they were, and the run continues from the same batch once the
//! cause is fixed.
//!
//! A check is branch-free: `Σ v·0` is 0 exactly when every `v` is finite (NaN and
//! infinities give NaN). Only a failing check looks for the first bad value.

use std::string::{String, ToString};
use std::vec::Vec;

use monograd_core::module::{Kind, Path};
use monograd_core::{Module, Scalar};

use super::{Cause, NonFinite};
use crate::optim::state::{OptimizerState, StateMut, StateRef};

/// How much a [`Trainer`](super::Trainer) checks, and how far back it can undo a step.
///
/// The loss and the buffers (BatchNorm's running statistics) are checked every step, and
/// the gradient too unless [`check_gradients(false)`](super::Trainer::check_gradients).
/// The rest (every parameter
/// after the update, every buffer, the optimizer's state) is checked as this says, always
/// at the end of each epoch and of [`fit`](super::Trainer::fit): a run never ends `Ok` with
/// a non-finite value in the model or the optimizer.
///
/// ```
/// use monograd_nn::train::{Checks, Trainer};
/// use monograd_nn::{Adam, CrossEntropyLoss};
/// # type Net = monograd_nn::train::testing::Dense<4, 3>;
/// // Everything after every step: a failing step is undone exactly.
/// let trainer = Trainer::new(Net::default(), Adam::new(1e-3), CrossEntropyLoss::new()).checks(Checks::Full);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checks {
    /// Everything after every step. A step that leaves a non-finite value anywhere is
    /// undone: the model, the optimizer and the run are as they were before it. Costs a
    /// copy and a scan of the parameters, buffers and optimizer state per step.
    Full,
    /// The loss, the buffers and the gradient every step; everything every `n` steps (at least 1),
    /// and at the end of each epoch. A failure (a non-finite value, or any error of a
    /// step, such as a label out of range) undoes every step since the last full check
    /// (at most `n`, never across an epoch's start).
    Every(usize),
}

impl Default for Checks {
    /// `Every(50)`: docs/BENCHMARKS.md has the measurement behind it.
    fn default() -> Self {
        Self::Every(50)
    }
}

impl Checks {
    /// Steps between full checks.
    pub(crate) fn period(self) -> usize {
        match self {
            Self::Full => 1,
            Self::Every(n) => n.max(1),
        }
    }
}

/// A tensor or a block of optimizer state that holds a non-finite value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bad {
    pub(crate) what: NonFinite,
    pub(crate) tensor: String,
}

/// `Σ v·0`: 0 when every value is finite, NaN otherwise. No branch per value, and 16
/// independent sums, so that the loop is not bound by the latency of one chain of
/// additions and compiles to vector instructions.
#[inline]
fn poison<T: Scalar>(values: &[T]) -> T {
    const LANES: usize = 16;
    let mut acc = [T::ZERO; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += v * T::ZERO;
        }
    }
    let mut sum = tail.iter().fold(T::ZERO, |s, &v| s + v * T::ZERO);
    for a in acc {
        sum += a;
    }
    sum
}

/// Whether every value is finite.
#[inline]
pub(crate) fn finite<T: Scalar>(values: &[T]) -> bool {
    poison(values) == T::ZERO
}

/// Whether every trainable value of `grad` is finite.
pub(crate) fn grad_finite<T: Scalar, N: Module<T>>(grad: &N) -> bool {
    let mut acc = T::ZERO;
    grad.visit(&Path::ROOT, &mut |t| {
        if t.kind == Kind::Param {
            acc += poison(t.values);
        }
    });
    acc == T::ZERO
}

/// The last trainable tensor (in declaration order: the nearest the output) of `grad`
/// holding a NaN or an infinity: backward reaches it first. (After a fused SGD step,
/// `grad` is the network itself: its parameters carry their updates.)
pub(crate) fn last_bad_grad<T: Scalar, N: Module<T>>(grad: &N) -> Option<String> {
    let mut found = None;
    grad.visit(&Path::ROOT, &mut |t| {
        if t.kind == Kind::Param && !finite(t.values) {
            found = Some(t.path.to_string());
        }
    });
    found
}

/// The first tensor of `net` (in declaration order) holding a NaN or an infinity.
pub(crate) fn first_bad_tensor<T: Scalar, N: Module<T>>(net: &N) -> Option<Bad> {
    let mut found = None;
    net.visit(&Path::ROOT, &mut |t| {
        if found.is_none() && !finite(t.values) {
            let what = if t.kind == Kind::Buffer { NonFinite::Buffer } else { NonFinite::Parameter };
            found = Some(Bad { what, tensor: t.path.to_string() });
        }
    });
    found
}

/// The first buffer of `net` (BatchNorm's running statistics: what a forward pass
/// changes) holding a NaN or an infinity. Buffers are small: checked every step.
pub(crate) fn first_bad_buffer<T: Scalar, N: Module<T>>(net: &N) -> Option<Bad> {
    let mut found = None;
    net.visit(&Path::ROOT, &mut |t| {
        if found.is_none() && t.kind == Kind::Buffer && !finite(t.values) {
            found = Some(Bad { what: NonFinite::Buffer, tensor: t.path.to_string() });
        }
    });
    found
}

/// The first block of `opt`'s state holding a NaN or an infinity, named by the block and
/// the model's tensor it belongs to (`exp_avg_sq of fc1.weight`).
fn first_bad_state<T: Scalar, N: Module<T>, O: OptimizerState<T>>(net: &N, opt: &O) -> Option<Bad> {
    let mut at = None;
    opt.visit_state(N::PARAMS, &Path::ROOT, &mut |s| {
        if let StateRef::Block { path, values: Some(values) } = s {
            if at.is_none() && !finite(values) {
                let i = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
                at = Some((path.to_string(), i));
            }
        }
    });
    let (block, index) = at?;
    // The tensor at that offset, as `Module::visit_update` counts offsets.
    let (mut offset, mut tensor) = (0, None);
    net.visit(&Path::ROOT, &mut |t| {
        if matches!(t.kind, Kind::Param | Kind::Frozen) {
            if tensor.is_none() && (offset..offset + t.values.len()).contains(&index) {
                tensor = Some(t.path.to_string());
            }
            offset += t.values.len();
        }
    });
    let tensor = match tensor {
        Some(t) => std::format!("optimizer {block} of {t}"),
        None => std::format!("optimizer {block}"),
    };
    Some(Bad { what: NonFinite::OptimizerState, tensor })
}

/// Whether every tensor of `net` and every block of `opt`'s state is finite; if not, the
/// first that is not.
pub(crate) fn verify<T: Scalar, N: Module<T>, O: OptimizerState<T>>(net: &N, opt: &O) -> Result<(), Bad> {
    let mut acc = T::ZERO;
    net.visit(&Path::ROOT, &mut |t| acc += poison(t.values));
    opt.visit_state(N::PARAMS, &Path::ROOT, &mut |s| {
        if let StateRef::Block { values: Some(values), .. } = s {
            acc += poison(values);
        }
    });
    if acc == T::ZERO {
        return Ok(());
    }
    // Not reached with every value finite: name the culprit.
    Err(first_bad_tensor(net)
        .or_else(|| first_bad_state(net, opt))
        .unwrap_or(Bad { what: NonFinite::Parameter, tensor: String::from("?") }))
}

/// The likely cause of a non-finite value found after a step on `inputs` (the batch,
/// `indices` its samples' places in the data set), given what the first bad tensor was
/// (`None` for a gradient, or when none was found), at learning rate `lr`.
pub(crate) fn diagnose<T: Scalar>(tensor: Option<&NonFinite>, inputs: &[T], indices: &[usize], lr: f64) -> Cause {
    let per = inputs.len().checked_div(indices.len()).unwrap_or(0);
    if per > 0 && !finite(inputs) {
        let i = inputs.iter().position(|v| !v.is_finite()).unwrap_or(0) / per;
        return Cause::NonFiniteInput { sample: indices[i], in_batch: i };
    }
    // A value whose square overflows overflows variances, norms and squared errors.
    if let Some(at) = inputs.iter().position(|&v| !(v * v).is_finite()) {
        let i = at / per;
        return Cause::HugeInput { sample: indices[i], in_batch: i, value: inputs[at].to_f64() };
    }
    match tensor {
        Some(NonFinite::Parameter | NonFinite::OptimizerState) => Cause::LearningRate(lr),
        _ => Cause::Overflow,
    }
}

/// A copy of a model's tensors and counters and of an optimizer's state: grown on the
/// first [`Snapshot::save`], reused by every later one.
#[derive(Debug, Default)]
pub(crate) struct Snapshot<T> {
    net: Vec<T>,
    net_counters: Vec<u64>,
    opt: Vec<T>,
    opt_counters: Vec<u64>,
    /// Whether each optimizer block was held (a `Vec` store holds none before the first step).
    opt_held: Vec<bool>,
}

impl<T: Scalar> Snapshot<T> {
    /// Copies `net` and `opt` in. Allocates only while the copy grows to their size.
    pub(crate) fn save<N: Module<T>, O: OptimizerState<T>>(&mut self, net: &N, opt: &O) {
        self.net.clear();
        self.net_counters.clear();
        self.opt.clear();
        self.opt_counters.clear();
        self.opt_held.clear();
        net.visit(&Path::ROOT, &mut |t| self.net.extend_from_slice(t.values));
        net.visit_counters(&Path::ROOT, &mut |c| self.net_counters.push(*c.value));
        // A block the optimizer does not hold yet (before its first step) will hold
        // `PARAMS` values: room for it now, so that a later copy allocates nothing.
        let mut pending = 0usize;
        opt.visit_state(N::PARAMS, &Path::ROOT, &mut |s| match s {
            StateRef::Counter { value, .. } => self.opt_counters.push(value),
            StateRef::Block { values, .. } => {
                self.opt_held.push(values.is_some());
                match values {
                    Some(v) => self.opt.extend_from_slice(v),
                    None => pending = pending.saturating_add(N::PARAMS),
                }
            }
        });
        self.opt.reserve(pending);
    }

    /// Writes the copy back into `net` and `opt`.
    pub(crate) fn restore<N: Module<T>, O: OptimizerState<T>>(&self, net: &mut N, opt: &mut O) {
        let mut at = 0;
        net.visit_mut(&Path::ROOT, &mut |t| {
            if let Some(src) = self.net.get(at..at + t.values.len()) {
                t.values.copy_from_slice(src);
            }
            at += t.values.len();
        });
        let mut counters = self.net_counters.iter();
        net.visit_counters_mut(&Path::ROOT, &mut |c| {
            if let Some(&v) = counters.next() {
                *c.value = v;
            }
        });
        let (mut at, mut counters, mut held) = (0, self.opt_counters.iter(), self.opt_held.iter());
        // The store held its blocks at the failed step, so making room cannot fail; if it
        // did, the optimizer is left as it is and the error already names the step.
        let _ = opt.visit_state_mut(N::PARAMS, &Path::ROOT, &mut |s| match s {
            StateMut::Counter { value, .. } => {
                if let Some(&v) = counters.next() {
                    *value = v;
                }
            }
            StateMut::Block { values, .. } => {
                if held.next() == Some(&true) {
                    if let Some(src) = self.opt.get(at..at + values.len()) {
                        values.copy_from_slice(src);
                    }
                    at += values.len();
                } else {
                    // Not held at the snapshot: the first step initialises it anyway.
                    values.fill(T::ZERO);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::testing::Dense;
    use crate::{Adam, Optimizer};

    #[test]
    fn scans_find_the_first_bad_tensor_and_the_nearest_bad_gradient() {
        let mut g = Dense::<2, 2>::default();
        assert!(grad_finite(&g) && verify(&g, &Adam::new(0.1f32)).is_ok());
        g.0.weight[1][0] = f32::INFINITY;
        assert!(!grad_finite(&g));
        assert_eq!(last_bad_grad(&g).as_deref(), Some("weight"));
        g.0.bias[0] = f32::NAN;
        assert_eq!(last_bad_grad(&g).as_deref(), Some("bias"));
        let bad = verify(&g, &Adam::new(0.1f32)).unwrap_err();
        assert_eq!(bad, Bad { what: NonFinite::Parameter, tensor: "weight".into() });
    }

    #[test]
    fn a_snapshot_puts_back_the_model_and_the_optimizer() {
        let mut net = Dense::<2, 2>::new(&mut monograd_core::Rng::seed(1));
        let mut grad = Dense::<2, 2>::default();
        grad.0.weight = [[0.5, -0.5], [1.0, 2.0]];
        let mut adam = Adam::new(0.1f32);
        let mut snap = Snapshot::default();
        snap.save(&net, &adam);
        let (net0, steps0) = (net.clone(), adam.steps());
        adam.step(&mut net, &grad);
        // A step that went bad: a weight and a moment.
        net.0.bias[1] = f32::NAN;
        grad.0.weight[0][0] = f32::INFINITY;
        adam.step(&mut net, &grad);
        let bad = verify(&net, &adam).unwrap_err();
        assert_eq!(bad.tensor, "weight");
        snap.restore(&mut net, &mut adam);
        assert_eq!((&net, adam.steps()), (&net0, steps0));
        // The optimizer's blocks were not held at the snapshot: they restart at zero, as
        // a fresh optimizer's first step would have them.
        assert!(adam.state().iter().all(|&v| v == 0.0));
        assert!(verify(&net, &adam).is_ok());
        // A snapshot after a step holds the moments, and puts them back.
        adam.step(&mut net, &Dense::<2, 2>::default());
        snap.save(&net, &adam);
        let (net1, moments) = (net.clone(), adam.state().clone());
        adam.step(&mut net, &grad);
        assert!(verify(&net, &adam).is_err());
        assert_eq!(first_bad_state(&net, &adam).map(|b| b.tensor), Some("optimizer exp_avg of weight".to_string()));
        snap.restore(&mut net, &mut adam);
        assert_eq!((&net, adam.state(), adam.steps()), (&net1, &moments, 1));
    }
}
