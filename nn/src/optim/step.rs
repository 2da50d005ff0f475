//! A training step's backward pass and update, fused where the optimizer allows it
//! ([`Optimizer::backward_step`]).

use core::fmt;

use monograd_core::storage::Storage;
use monograd_core::{Network, Scalar, ShapeError};

use super::{OptimError, Optimizer};

/// Why [`Optimizer::backward_step`] failed: the backward pass (a batch or gradient of the
/// wrong length, no training forward before it) or the optimizer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StepError {
    /// From the network's backward pass; nothing was updated.
    Shape(ShapeError),
    /// From the optimizer; nothing was updated.
    Optim(OptimError),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shape(e) => write!(f, "backward: {e}"),
            Self::Optim(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StepError {}

impl From<ShapeError> for StepError {
    fn from(e: ShapeError) -> Self {
        Self::Shape(e)
    }
}

impl From<OptimError> for StepError {
    fn from(e: OptimError) -> Self {
        Self::Optim(e)
    }
}

/// The body of [`Optimizer::backward_step`].
pub(super) fn backward_step<T: Scalar, O: Optimizer<T> + ?Sized, N: Network<T>, S: Storage>(
    opt: &mut O,
    net: &mut N,
    x: &[T],
    dy: &[T],
    grad: &mut N,
    state: &mut N::State<S>,
) -> Result<(), StepError> {
    match opt.fused_sgd(net)? {
        Some(lr) => net.backward_sgd(x, dy, lr, grad, state)?,
        None => {
            grad.zero();
            net.backward(x, dy, grad, state)?;
            opt.try_step(net, grad)?;
        }
    }
    Ok(())
}
