//! Optimizers stepped by ranges of the parameters ([`RangeOptimizer`]), so that several
//! threads may each update their own part of a model in one step.
//!
//! A step is split in two: [`RangeOptimizer::begin_step`] does once what a step does once
//! (checks the rate and the model's layout, sizes the state, counts the step) and returns
//! the step's coefficients; [`RangeOptimizer::apply`] then updates any run of consecutive
//! parameters from their gradient and their own state values. Every built-in optimizer
//! that implements it computes its whole-model step through the same `apply`, so a model
//! updated range by range gets exactly the bits of [`Optimizer::try_step`].

use monograd_core::{Module, Scalar};

use super::{OptimError, Optimizer};

/// The most state blocks (values per parameter) an optimizer stepped by ranges may keep.
pub const MAX_BLOCKS: usize = 4;

/// An optimizer whose update of a parameter reads only that parameter, its gradient and
/// its own state values (one per block), with coefficients fixed for the step: `Sgd` (with
/// or without momentum), `Adam` and `AdamW` (with or without AMSGrad) are. Used by the data-parallel pool
/// ([`DataParallel::train_step`](crate::distributed::DataParallel::train_step)), where each
/// thread updates the range of the parameters whose gradient it summed.
///
/// ```
/// use monograd_nn::optim::{for_each_param, slots, RangeOptimizer};
/// use monograd_nn::{Linear, Optimizer, Sgd};
/// let grad = Linear::<2, 1, f64> { weight: [[0.5, -0.5]], bias: [1.0] };
/// let (mut a, mut b) = (Linear::<2, 1, f64> { weight: [[1.0, 1.0]], bias: [0.0] }, Linear::default());
/// b.clone_from(&a);
/// let (mut whole, mut ranged) = (Sgd::new(0.1).momentum(0.9), Sgd::new(0.1).momentum(0.9));
/// whole.step(&mut a, &grad);
/// // The same step, one value at a time.
/// let (update, state) = ranged.begin_step(&b)?;
/// for_each_param(&mut b, &grad, |offset, value, g| {
///     for i in 0..value.len() {
///         let [m] = slots::<1, _>(state, 3, offset + i, 1);
///         Sgd::<f64, Vec<f64>>::apply(&update, &mut value[i..=i], &g[i..=i], &mut [m]);
///     }
/// });
/// assert_eq!(a, b);
/// # Ok::<(), monograd_nn::OptimError>(())
/// ```
pub trait RangeOptimizer<T: Scalar>: Optimizer<T> {
    /// The step's coefficients: what every range of the step applies.
    type Update: Copy + Send + Sync + 'static;

    /// Begins one step of `model`: the checks of [`Optimizer::try_step`], the state sized
    /// (and initialised on a first step), the step counted. Returns the coefficients and
    /// the state: `K` blocks of `M::PARAMS` values laid out by parameter offset (as
    /// [`slots`](super::slots) reads them), `K` at most [`MAX_BLOCKS`]; the caller must
    /// then [`apply`](RangeOptimizer::apply) the update to every trainable parameter, once.
    ///
    /// # Errors
    /// As [`Optimizer::try_step`]; nothing is then counted or changed.
    fn begin_step<M: Module<T>>(&mut self, model: &M) -> Result<(Self::Update, &mut [T]), OptimError>;

    /// Updates the consecutive parameters `value` from their gradient `grad` (as long)
    /// and their state: `state[k]` is their slice of block `k` (as long; empty when the
    /// optimizer keeps no state).
    fn apply(update: &Self::Update, value: &mut [T], grad: &[T], state: &mut [&mut [T]]);
}

/// How many blocks of `params` values `state` holds (as [`RangeOptimizer::begin_step`]
/// returns it): an error unless whole blocks, at most [`MAX_BLOCKS`].
#[cfg(feature = "parallel")]
pub(crate) fn state_blocks(state_len: usize, params: usize) -> Result<usize, OptimError> {
    let blocks = state_len.checked_div(params).unwrap_or(0);
    super::require(
        blocks * params == state_len && blocks <= MAX_BLOCKS,
        "RangeOptimizer",
        "the state is not whole blocks of the model's parameters, at most 4",
    )?;
    Ok(blocks)
}

/// The values `from .. from + len` of each of the first `blocks` blocks of `params` values
/// in `state` (the other slices empty), for [`RangeOptimizer::apply`]; `None` if the range
/// leaves a block. `state` holds `blocks` whole blocks ([`state_blocks`]).
#[cfg(feature = "mpi")]
pub(crate) fn block_slices<T>(
    state: &mut [T],
    params: usize,
    blocks: usize,
    from: usize,
    len: usize,
) -> Option<[&mut [T]; MAX_BLOCKS]> {
    let mut slices: [&mut [T]; MAX_BLOCKS] = Default::default();
    let mut rest = state;
    for slot in slices.iter_mut().take(blocks) {
        let (block, tail) = core::mem::take(&mut rest).split_at_mut(params);
        rest = tail;
        *slot = block.get_mut(from..from + len)?;
    }
    Some(slices)
}
