//! Training: epochs over a [`Dataset`](crate::data::Dataset), metrics, schedules, early stopping, and what a
//! person expects to see while it runs (feature `train`).
//!
//! | file | what |
//! | --- | --- |
//! | [`trainer`] | [`Trainer`]: mini-batches, forward, loss, backward, optimizer step, evaluation; [`Trainer::fit`] or your own loop over [`Trainer::epoch`] |
//! | [`metric`] | [`Metric`]: accuracy by [`Argmax`] (classes) or [`Within`] a tolerance (regression); [`Metrics`] |
//! | `guard` | [`Checks`]: a step as a transaction, checked and undone when anything goes non-finite |
//! | [`callback`] | [`Callback`]: [`Event`]s (start, step, epoch, end), each answered with a [`Control`] |
//! | [`history`] | [`EpochReport`], [`History`] (with a short text report), [`EarlyStopping`] |
//! | [`progress`] | [`Progress`]: a progress bar with loss, accuracy and samples/s in a terminal, one line per epoch everywhere |
//! | [`plot`] | [`Chart`]: the loss and accuracy curves as a PNG, with an embedded font |
//! | [`augment`] | [`RandomShift`]: images moved by a few pixels, a simple augmentation |
//! | [`average`] | [`Ema`]: a moving average of the weights, updated as a trainer runs and evaluated beside it |
//!
//! Any network made by `network!` trains: the [`Trainer`] is generic over
//! `N: `[`Network<T>`](monograd_core::Network) (`T` is `f32` unless the network is of
//! another scalar, such as `f64`), any [`OptimizerState`](crate::optim::OptimizerState)
//! (every built-in optimizer) and any [`Loss`](crate::Loss) whose target is a slice of the
//! dataset's targets. After the first step nothing is allocated per step: batches, the
//! output gradient, the network's buffers and the copy that undoes a failing step are
//! reused.
//!
//! A step that leaves a NaN or an infinity anywhere (the loss, a gradient, a parameter,
//! BatchNorm's statistics, the optimizer's state) is undone and reported with its likely
//! cause ([`TrainError::NonFinite`], [`Checks`]); [`Trainer::fit`] never returns `Ok` with
//! a non-finite value in the model or the optimizer.
//!
//! ```
//! use monograd_core::{Network, Rng};
//! use monograd_nn::data::Dataset;
//! use monograd_nn::optim::schedule::CosineAnnealingLr;
//! use monograd_nn::train::{EarlyStopping, Every, Trainer};
//! use monograd_nn::{AdamW, CrossEntropyLoss, Linear};
//!
//! // Two classes: is the sum of the two inputs positive?
//! let mut rng = Rng::seed(1);
//! let x: Vec<f32> = (0..400).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
//! let y: Vec<usize> = x.chunks(2).map(|s| usize::from(s[0] + s[1] > 0.0)).collect();
//! let (train, val) = Dataset::new(x, y, 2)?.split_at(150)?;
//!
//! // A single dense layer is a network too (any `Network<f32>` trains).
//! # type Net = monograd_nn::train::testing::Dense<2, 2>;
//! let net = Net::new(&mut Rng::seed(0));
//! let mut trainer = Trainer::new(net, AdamW::new(0.05), CrossEntropyLoss::new())
//!     .epochs(20)
//!     .batch_size(16)
//!     .seed(0)
//!     .schedule(CosineAnnealingLr::new(0.05, 20, 0.0), Every::Epoch)
//!     .early_stopping(EarlyStopping::new(5));
//! let history = trainer.fit(&train, Some(&val), &mut ())?;
//! let best = history.best().unwrap();
//! assert!(best.val.unwrap().accuracy.unwrap() > 0.9);
//! println!("{history}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::string::String;

use monograd_core::ShapeError;

use crate::data::DataError;
use crate::optim::OptimError;

pub mod augment;
pub mod average;
pub mod callback;
mod guard;
pub mod history;
pub mod metric;
pub mod plot;
pub mod progress;
#[doc(hidden)]
pub mod testing;
pub mod trainer;

pub use augment::RandomShift;
pub use average::Ema;
pub use callback::{Callback, Control, Event, Plan, StepReport};
pub use guard::Checks;
pub use history::{EarlyStopping, EpochReport, History, Monitor};
pub use metric::{Argmax, Metric, Metrics, Target, Within};
pub use plot::{Chart, PlotError};
pub use progress::Progress;
pub use trainer::{Every, Trainer};

/// What stopped training.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrainError {
    /// A NaN or an infinity in the loss, a gradient, a parameter, a buffer or the
    /// optimizer's state: the step that made it was undone (see [`Checks`]).
    NonFinite {
        /// The epoch, counted from 1.
        epoch: usize,
        /// The optimizer step over the whole run, counted from 1: the step that failed a
        /// check.
        step: usize,
        /// The batch within the epoch, counted from 1.
        batch: usize,
        /// Batches in the epoch.
        batches: usize,
        /// What was not finite.
        what: NonFinite,
        /// The dotted name of the first tensor that went bad, when one was found: for a
        /// loss, the first tensor of the model holding a non-finite value; for a gradient,
        /// the tensor nearest the output whose gradient is not finite (where backward
        /// first produced one); otherwise the tensor (or optimizer block) itself.
        tensor: Option<String>,
        /// What most likely made it.
        cause: Cause,
        /// The step the model, the optimizer and the run were put back to (the state
        /// after it; 0 for before the first step), or `None` when nothing had changed.
        /// The next [`Trainer::fit`] or [`Trainer::epoch`] continues from there.
        restored: Option<usize>,
    },
    /// Data that does not fit the network (a sample of the wrong size, a label out of range).
    Shape(ShapeError),
    /// The optimizer could not step (a state buffer too short, a hyperparameter out of range).
    Optim(OptimError),
    /// A data argument out of range (a batch size of 0).
    Data(DataError),
    /// A worker of a data-parallel step failed or timed out, or its data did not fit.
    #[cfg(feature = "parallel")]
    Distributed(crate::distributed::DistError),
    /// A training setting out of range.
    Config {
        /// The setting.
        what: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A counter of the run (steps, batches, samples) would overflow.
    Overflow {
        /// The counter.
        what: &'static str,
    },
}

/// Which value went non-finite, in a [`TrainError::NonFinite`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum NonFinite {
    /// The loss of a batch, with its value (NaN or an infinity).
    LossValue(f64),
    /// A parameter gradient (the loss was finite).
    Gradient,
    /// A parameter (trainable or frozen), after the update or before the step.
    Parameter,
    /// A buffer, such as BatchNorm's running statistics (updated by the forward pass).
    Buffer,
    /// A block of the optimizer's state (Adam's moments, a momentum buffer).
    OptimizerState,
}

/// The likely cause of a [`TrainError::NonFinite`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Cause {
    /// A sample of the batch holds a NaN or an infinity.
    NonFiniteInput {
        /// Its index in the data set.
        sample: usize,
        /// Its index in the batch, from 0.
        in_batch: usize,
    },
    /// A sample of the batch holds a value whose square overflows the scalar type (it
    /// overflows variances, norms and squared errors).
    HugeInput {
        /// Its index in the data set.
        sample: usize,
        /// Its index in the batch, from 0.
        in_batch: usize,
        /// The value.
        value: f64,
    },
    /// The loss and the gradient were finite but the update was not: the learning rate
    /// (given) is too high for this gradient.
    LearningRate(f64),
    /// The model or the optimizer held the value before the step (set by hand, or
    /// loaded): nothing was changed.
    Given,
    /// Nothing more specific: the loss or a gradient overflowed.
    Overflow,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFiniteInput { sample, in_batch } => {
                write!(f, "sample {sample} of the data (number {in_batch} in the batch) holds a NaN or an infinity")
            }
            Self::HugeInput { sample, in_batch, value } => write!(
                f,
                "sample {sample} of the data (number {in_batch} in the batch) holds {value:.3e}, whose square overflows"
            ),
            Self::LearningRate(lr) => {
                write!(
                    f,
                    "the update overflowed at learning rate {lr} (try a lower learning rate or gradient clipping)"
                )
            }
            Self::Given => write!(f, "it was so before the step (set by hand, or loaded)"),
            Self::Overflow => write!(f, "an overflow (try a lower learning rate or gradient clipping)"),
        }
    }
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFinite { epoch, step, batch, batches, what, tensor, cause, restored } => {
                match what {
                    NonFinite::LossValue(v) => write!(f, "the loss is {v}")?,
                    NonFinite::Gradient => write!(f, "a gradient is not finite")?,
                    NonFinite::Parameter => write!(f, "a parameter is not finite")?,
                    NonFinite::Buffer => write!(f, "a buffer is not finite")?,
                    NonFinite::OptimizerState => write!(f, "the optimizer's state is not finite")?,
                }
                write!(f, " at epoch {epoch}, step {step} (batch {batch} of {batches})")?;
                match (what, tensor) {
                    (NonFinite::LossValue(_), Some(t)) => write!(f, "; the first non-finite tensor: `{t}`"),
                    (NonFinite::Gradient, Some(t)) => {
                        write!(f, "; first non-finite from the output: the gradient of `{t}`")
                    }
                    (_, Some(t)) => write!(f, ": `{t}`"),
                    _ => Ok(()),
                }?;
                write!(f, "; likely cause: {cause}")?;
                match restored {
                    Some(0) => write!(f, "; the model and the optimizer are back as they were before step 1"),
                    Some(s) => write!(f, "; the model and the optimizer are back as they were after step {s}"),
                    None => Ok(()),
                }
            }
            Self::Shape(e) => write!(f, "{e}"),
            Self::Optim(e) => write!(f, "{e}"),
            Self::Data(e) => write!(f, "{e}"),
            #[cfg(feature = "parallel")]
            Self::Distributed(e) => write!(f, "{e}"),
            Self::Config { what, expected } => write!(f, "{what}: expected {expected}"),
            Self::Overflow { what } => write!(f, "the {what} would overflow"),
        }
    }
}

impl std::error::Error for TrainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Shape(e) => Some(e),
            Self::Optim(e) => Some(e),
            Self::Data(e) => Some(e),
            #[cfg(feature = "parallel")]
            Self::Distributed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ShapeError> for TrainError {
    fn from(e: ShapeError) -> Self {
        Self::Shape(e)
    }
}

impl From<OptimError> for TrainError {
    fn from(e: OptimError) -> Self {
        Self::Optim(e)
    }
}

#[cfg(feature = "parallel")]
impl From<crate::distributed::DistError> for TrainError {
    fn from(e: crate::distributed::DistError) -> Self {
        match e {
            crate::distributed::DistError::Shape(e) => Self::Shape(e),
            e => Self::Distributed(e),
        }
    }
}

impl From<DataError> for TrainError {
    fn from(e: DataError) -> Self {
        Self::Data(e)
    }
}
