//! Callbacks: what happens during [`Trainer::fit`](super::Trainer::fit), as [`Event`]s,
//! each answered with a [`Control`] (go on, or stop after this).
//!
//! A callback is any [`Callback`]: a closure `FnMut(&Event) -> Control`, a
//! [`Progress`](super::Progress) bar, `()` (silence), or a pair `(a, b)` of callbacks,
//! which both see every event (training stops if either asks).
//!
//! ```
//! use monograd_nn::train::{Control, Event};
//! let mut lines = Vec::new();
//! let mut log = |e: &Event<'_>| {
//!     if let Event::Epoch(r) = e {
//!         lines.push(format!("epoch {} loss {:.3}", r.epoch, r.train.loss));
//!     }
//!     Control::Continue
//! };
//! # use monograd_nn::train::Callback;
//! # let _ = &mut log as &mut dyn Callback;
//! ```

use super::history::{EpochReport, History};

/// What the trainer is about to do, sent once at the start of [`Trainer::fit`](super::Trainer::fit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Epochs planned (early stopping may end sooner).
    pub epochs: usize,
    /// Epochs already run by this trainer before this `fit` (0 for a fresh one).
    pub done: usize,
    /// Optimizer steps per epoch.
    pub batches: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Training samples.
    pub train: usize,
    /// Validation samples (0 without validation).
    pub val: usize,
}

/// One optimizer step, as it finished.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// The batch within the epoch, counted from 1.
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// The optimizer step over the whole run, counted from 1.
    pub step: usize,
    /// The batch's loss.
    pub loss: f64,
    /// Samples in the batch.
    pub samples: usize,
    /// The learning rate this step used.
    pub lr: f64,
    /// The epoch so far: mean loss, accuracy and samples, in training mode.
    pub epoch_loss: f64,
    /// The epoch's accuracy so far, when there is a metric.
    pub epoch_accuracy: Option<f64>,
    /// Training samples per second in this epoch so far.
    pub samples_per_sec: f64,
}

/// Something that happened during training.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// `fit` is about to start.
    Start(&'a Plan),
    /// A step finished.
    Step(&'a StepReport),
    /// An epoch finished, with its validation.
    Epoch(&'a EpochReport),
    /// `fit` finished (by completing its epochs, by early stopping or by a callback).
    End(&'a History),
}

/// What a callback answers to an [`Event`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    #[default]
    Continue,
    /// Stop after this step or epoch: `fit` returns with the history so far (and, with
    /// [`EarlyStopping::restore_best`](super::EarlyStopping::restore_best), the best weights).
    /// A stop mid-epoch ends that epoch there: it is validated and recorded.
    Stop,
    /// Stop after this step or epoch, to go on later: mid-epoch, the epoch stays open (not
    /// validated, not recorded), and the best weights are not put back. The next
    /// [`fit`](super::Trainer::fit) or [`epoch`](super::Trainer::epoch) continues with
    /// the next batch, exactly as if nothing had happened; so does a trainer restored from
    /// a checkpoint saved in between (`Trainer::save_checkpoint`).
    Pause,
}

/// Sees every [`Event`] of [`Trainer::fit`](super::Trainer::fit) and may stop it.
///
/// ```
/// use monograd_nn::train::{Callback, Control, Event};
///
/// /// Stops once the training loss is below a threshold.
/// struct StopBelow(f64);
/// impl Callback for StopBelow {
///     fn event(&mut self, event: &Event<'_>) -> Control {
///         match event {
///             Event::Epoch(r) if r.train.loss < self.0 => Control::Stop,
///             _ => Control::Continue,
///         }
///     }
/// }
/// ```
pub trait Callback {
    /// Called for each event; [`Control::Stop`] ends training after the current step,
    /// [`Control::Pause`] interrupts it there, to continue later.
    fn event(&mut self, event: &Event<'_>) -> Control;
}

/// Silence: sees everything, does nothing.
impl Callback for () {
    fn event(&mut self, _: &Event<'_>) -> Control {
        Control::Continue
    }
}

impl<F: FnMut(&Event<'_>) -> Control> Callback for F {
    fn event(&mut self, event: &Event<'_>) -> Control {
        self(event)
    }
}

/// Both callbacks see every event; training stops if either asks, and pauses if either
/// asks for a pause (which loses nothing, so it wins over a stop).
impl<A: Callback, B: Callback> Callback for (A, B) {
    fn event(&mut self, event: &Event<'_>) -> Control {
        match (self.0.event(event), self.1.event(event)) {
            (Control::Pause, _) | (_, Control::Pause) => Control::Pause,
            (Control::Stop, _) | (_, Control::Stop) => Control::Stop,
            _ => Control::Continue,
        }
    }
}
