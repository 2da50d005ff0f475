//! Training on more than one core: data parallelism on threads (feature `parallel`) and
//! over MPI (feature `mpi`).
//!
//! | file | what |
//! | --- | --- |
//! | [`flat`] | a module's tensors as one flat slice; the fixed-order sum of gradients |
//! | [`pool`] | [`DataParallel`]: a batch split across worker threads, gradients combined in a fixed order, and with [`DataParallel::train_step`] the optimizer applied by every thread to its range ([`Tracked`]); [`Trainer::threads`](crate::train::Trainer::threads) uses it |
//! | `signal` | where the pool's threads wait for one another: a short spin, then a park |
//! | `tracked` | [`Tracked`]: a network that knows whether it changed since the pool's replicas were made equal to it |
//! | [`async_sgd`] | [`AsyncSgd`]: asynchronous SGD with a parameter server on threads, bounded staleness, the staleness of every update recorded |
//! | [`pipeline`] | pipeline model parallelism on threads: stages (each a network), micro-batches in GPipe's schedule |
//! | `mpi` | synchronous data parallelism across processes: sharded data, an all-reduce of the gradients each step, a watchdog (feature `mpi`) |
//!
//! The design, its choices and measured figures are in `docs/DISTRIBUTED.md`.

use std::fmt;
use std::string::String;
use std::time::Duration;

use monograd_core::ShapeError;

use crate::optim::OptimError;

pub mod async_sgd;
pub mod flat;
#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub mod mpi;
pub mod pipeline;
pub mod pool;
mod signal;
mod tracked;

pub use async_sgd::{AsyncReport, AsyncSgd};
pub use pool::{DataParallel, Fault, ParallelStep, StepOutput};
pub use tracked::Tracked;

/// What ended a distributed step.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DistError {
    /// A worker panicked during the step.
    Panicked {
        /// The worker's index (thread) or rank (process).
        worker: usize,
        /// The step, as the caller numbered it.
        step: usize,
        /// The panic's message.
        message: String,
    },
    /// Workers did not finish the step within the timeout.
    Timeout {
        /// The first worker that had not finished.
        worker: usize,
        /// The step, as the caller numbered it.
        step: usize,
        /// How many workers had not finished.
        waiting: usize,
        /// The timeout.
        after: Duration,
    },
    /// A worker thread could not be started.
    Spawn {
        /// The worker's index.
        worker: usize,
        /// The system's reason.
        message: String,
    },
    /// The data does not fit the network or the loss.
    Shape(ShapeError),
    /// The optimizer refused the step ([`DataParallel::train_step`]); the weights are
    /// unchanged.
    Optim(OptimError),
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked { worker, step, message } => {
                write!(f, "worker {worker} failed at step {step}: {message}")
            }
            Self::Timeout { worker, step, waiting, after } => write!(
                f,
                "worker {worker} did not finish step {step} within {:.1} s ({waiting} worker(s) still running)",
                after.as_secs_f64()
            ),
            Self::Spawn { worker, message } => write!(f, "worker {worker} could not be started: {message}"),
            Self::Shape(e) => write!(f, "{e}"),
            Self::Optim(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DistError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Shape(e) => Some(e),
            Self::Optim(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ShapeError> for DistError {
    fn from(e: ShapeError) -> Self {
        Self::Shape(e)
    }
}
