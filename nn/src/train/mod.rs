//! Training: epochs over a [`Dataset`](crate::data::Dataset), metrics, schedules, early stopping, and what a
//! person expects to see while it runs (feature `train`).
//!
//! | file | what |
//! | --- | --- |
//! | [`trainer`] | [`Trainer`]: mini-batches, forward, loss, backward, optimizer step, evaluation; [`Trainer::fit`] or your own loop over [`Trainer::epoch`] |
//! | [`metric`] | [`Metric`]: accuracy by [`Argmax`] (classes) or [`Within`] a tolerance (regression); [`Metrics`] |
//! | [`callback`] | [`Callback`]: [`Event`]s (start, step, epoch, end), each answered with a [`Control`] |
//! | [`history`] | [`EpochReport`], [`History`] (with a short text report), [`EarlyStopping`] |
//! | [`progress`] | [`Progress`]: a progress bar with loss, accuracy and samples/s in a terminal, one line per epoch everywhere |
//! | [`plot`] | [`Chart`]: the loss and accuracy curves as a PNG, with an embedded font |
//! | [`augment`] | [`RandomShift`]: images moved by a few pixels, a simple augmentation |
//!
//! Any network made by `network!` trains: the [`Trainer`] is generic over
//! `N: `[`Network<f32>`](monograd_core::Network), any [`Optimizer`](crate::Optimizer) and
//! any [`Loss`](crate::Loss) whose target is a slice of the dataset's targets. After the
//! first step nothing is allocated per step: batches, the output gradient and the network's
//! buffers are reused.
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
pub mod callback;
pub mod history;
pub mod metric;
pub mod plot;
pub mod progress;
pub mod trainer;

pub use augment::RandomShift;
pub use callback::{Callback, Control, Event, Plan, StepReport};
pub use history::{EarlyStopping, EpochReport, History, Monitor};
pub use metric::{Argmax, Metric, Metrics, Target, Within};
pub use plot::{Chart, PlotError};
pub use progress::Progress;
pub use trainer::{Every, Trainer};

/// What stopped training.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrainError {
    /// The loss or a gradient is NaN or infinite: training cannot go on.
    NonFinite {
        /// The epoch, counted from 1.
        epoch: usize,
        /// The optimizer step over the whole run, counted from 1.
        step: usize,
        /// The batch within the epoch, counted from 1.
        batch: usize,
        /// Batches in the epoch.
        batches: usize,
        /// What was not finite.
        what: NonFinite,
        /// The dotted name of the tensor that points at the cause, when one was found:
        /// for a loss, the first parameter holding a non-finite value; for a gradient,
        /// the tensor nearest the output whose gradient is not finite (where backward
        /// first produced one).
        tensor: Option<String>,
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
}

/// Which value went non-finite, in a [`TrainError::NonFinite`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NonFinite {
    /// The loss of a batch, with its value (NaN or an infinity).
    LossValue(f64),
    /// A parameter gradient (the loss was finite).
    Gradient,
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFinite { epoch, step, batch, batches, what, tensor } => {
                match what {
                    NonFinite::LossValue(v) => write!(f, "the loss is {v}")?,
                    NonFinite::Gradient => write!(f, "a gradient is not finite")?,
                }
                write!(f, " at epoch {epoch}, step {step} (batch {batch} of {batches})")?;
                match (what, tensor) {
                    (NonFinite::LossValue(_), Some(t)) => write!(f, "; the parameter `{t}` is not finite"),
                    (NonFinite::Gradient, Some(t)) => {
                        write!(f, "; first non-finite from the output: the gradient of `{t}`")
                    }
                    _ => Ok(()),
                }?;
                write!(f, " (try a lower learning rate or gradient clipping)")
            }
            Self::Shape(e) => write!(f, "{e}"),
            Self::Optim(e) => write!(f, "{e}"),
            Self::Data(e) => write!(f, "{e}"),
            #[cfg(feature = "parallel")]
            Self::Distributed(e) => write!(f, "{e}"),
            Self::Config { what, expected } => write!(f, "{what}: expected {expected}"),
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

/// Small networks written by hand, for doctests (the crate cannot use `network!`, which
/// generates paths through the `monograd` facade).
#[doc(hidden)]
pub mod testing {
    pub use super::trainer::testing::Dense;
}
