//! What a run leaves behind: one [`EpochReport`] per epoch, the loss of every step, the
//! best epoch, and a short text report ([`History`]'s `Display`); and the rule that ends a
//! run early ([`EarlyStopping`]).

use std::fmt;
use std::vec::Vec;

use super::metric::Metrics;

/// One epoch: training metrics (in training mode, averaged over the epoch's batches),
/// validation metrics (in inference mode, after the epoch), the learning rate and timing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Training loss and accuracy over the epoch's batches (dropout and augmentation on,
    /// weights changing as they go).
    pub train: Metrics,
    /// Validation loss and accuracy after the epoch, when there is validation data.
    pub val: Option<Metrics>,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Optimizer steps so far in the run.
    pub steps: usize,
    /// Wall time of the epoch's training, in seconds.
    pub train_seconds: f64,
    /// Wall time of the validation pass, in seconds.
    pub val_seconds: f64,
    /// Whether this epoch is the best so far by the monitored quantity.
    pub best: bool,
}

impl EpochReport {
    /// Training samples per second.
    pub fn samples_per_sec(&self) -> f64 {
        self.train.samples as f64 / self.train_seconds.max(1e-9)
    }
}

/// Which validation quantity picks the best epoch and drives early stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss, lower is better (the default).
    #[default]
    ValLoss,
    /// The validation accuracy, higher is better (ties go to the earlier epoch).
    ValAccuracy,
}

impl Monitor {
    /// The monitored value of a report, signed so that lower is better.
    pub(crate) fn score(self, r: &EpochReport) -> Option<f64> {
        let val = r.val?;
        match self {
            Self::ValLoss => Some(val.loss),
            Self::ValAccuracy => val.accuracy.map(|a| -a),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ValLoss => "validation loss",
            Self::ValAccuracy => "validation accuracy",
        }
    }
}

/// Stops training when the monitored validation quantity has not improved for `patience`
/// epochs, and (by default) puts back the weights of the best epoch.
///
/// ```
/// use monograd_nn::train::{EarlyStopping, Monitor};
/// let stop = EarlyStopping::new(3).monitor(Monitor::ValAccuracy).min_delta(1e-4).restore_best(false);
/// assert_eq!((stop.patience, stop.restore_best), (3, false));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// How much better than the best an epoch must be to count as an improvement.
    pub min_delta: f64,
    /// What is watched.
    pub monitor: Monitor,
    /// Whether to restore the best epoch's weights at the end of the run (default: yes).
    pub restore_best: bool,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without a lower validation loss; restores the best
    /// weights.
    pub fn new(patience: usize) -> Self {
        Self { patience, min_delta: 0.0, monitor: Monitor::ValLoss, restore_best: true }
    }

    /// Watches `monitor` instead of the validation loss.
    pub fn monitor(self, monitor: Monitor) -> Self {
        Self { monitor, ..self }
    }

    /// The smallest change that counts as an improvement (default 0).
    pub fn min_delta(self, min_delta: f64) -> Self {
        Self { min_delta, ..self }
    }

    /// Whether to put back the best epoch's weights when the run ends (default: yes).
    pub fn restore_best(self, restore_best: bool) -> Self {
        Self { restore_best, ..self }
    }
}

/// Everything a run recorded: a report per epoch, the loss of every step, the best epoch,
/// how it ended; and, once the caller evaluates it, the test set's metrics.
///
/// Its `Display` is the short report printed at the end of a run:
///
/// ```text
/// 10 epochs, 1,100 steps, 70,000 samples in 12.3 s (5,691 samples/s)
/// best epoch 9: validation loss 0.0712, accuracy 98.10%
/// last epoch 10: train loss 0.1210, accuracy 97.31%; validation loss 0.0715, accuracy 98.00%
/// test: loss 0.0690, accuracy 98.25% (2,000 samples)
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One report per epoch run, in order.
    pub epochs: Vec<EpochReport>,
    /// `(epoch position, loss)` of every step: the position is `epoch - 1 + batch /
    /// batches`, so the steps of epoch 1 lie in `(0, 1]`.
    pub steps: Vec<(f64, f32)>,
    /// The index in `epochs` of the best epoch by the monitored quantity.
    pub best: Option<usize>,
    /// What was monitored.
    pub monitor: Monitor,
    /// Why the run ended before its planned epochs, if it did.
    pub stopped: Option<Stopped>,
    /// Whether the best epoch's weights were put back at the end.
    pub restored_best: bool,
    /// The test set's metrics, recorded by [`Trainer::record_test`](super::Trainer::record_test).
    pub test: Option<Metrics>,
}

/// Why a run ended before its planned epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Early stopping: no improvement for `patience` epochs.
    EarlyStopping {
        /// The patience that ran out.
        patience: usize,
    },
    /// A callback returned [`Control::Stop`](super::Control::Stop).
    Callback,
    /// A callback returned [`Control::Pause`](super::Control::Pause): the run goes on with
    /// the next `fit`, or from a checkpoint.
    Paused,
}

impl History {
    /// The report of the best epoch.
    pub fn best(&self) -> Option<&EpochReport> {
        self.best.and_then(|i| self.epochs.get(i))
    }

    /// The report of the last epoch.
    pub fn last(&self) -> Option<&EpochReport> {
        self.epochs.last()
    }

    /// Training wall time of every epoch, validation included, in seconds.
    pub fn seconds(&self) -> f64 {
        self.epochs.iter().map(|r| r.train_seconds + r.val_seconds).sum()
    }

    /// Training samples seen in all epochs.
    pub fn samples(&self) -> usize {
        self.epochs.iter().map(|r| r.train.samples).sum()
    }
}

/// `1234567` as `1,234,567`.
pub(crate) struct Thousands(pub u64);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.to_string();
        let b = s.as_bytes();
        for (i, c) in b.iter().enumerate() {
            if i > 0 && (b.len() - i).is_multiple_of(3) {
                f.write_str(",")?;
            }
            write!(f, "{}", *c as char)?;
        }
        Ok(())
    }
}

use std::string::ToString;

/// A loss in four decimals, or three significant digits below 0.01 (`3.21e-5`).
pub(crate) struct LossText(pub f64);

impl fmt::Display for LossText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 != 0.0 && self.0.abs() < 0.01 {
            write!(f, "{:.2e}", self.0)
        } else {
            write!(f, "{:.4}", self.0)
        }
    }
}

/// `loss 0.1234, accuracy 97.50%`.
pub(crate) struct MetricsText<'a>(pub &'a Metrics);

impl fmt::Display for MetricsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loss {}", LossText(self.0.loss))?;
        if let Some(a) = self.0.accuracy {
            write!(f, ", accuracy {:.2}%", 100.0 * a)?;
        }
        Ok(())
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(last) = self.last() else {
            return write!(f, "no epoch run");
        };
        let secs = self.seconds();
        let plural = if self.epochs.len() == 1 { "" } else { "s" };
        writeln!(
            f,
            "{} epoch{plural}, {} steps, {} samples in {secs:.1} s ({} samples/s)",
            self.epochs.len(),
            Thousands(last.steps as u64),
            Thousands(self.samples() as u64),
            Thousands((self.samples() as f64 / secs.max(1e-9)).round() as u64),
        )?;
        match self.stopped {
            Some(Stopped::EarlyStopping { patience }) => writeln!(
                f,
                "stopped early: no better {} for {patience} epochs{}",
                self.monitor.name(),
                if self.restored_best { "; restored the best epoch's weights" } else { "" }
            )?,
            Some(Stopped::Callback) => writeln!(f, "stopped by a callback")?,
            Some(Stopped::Paused) => writeln!(f, "paused by a callback")?,
            None if self.restored_best => writeln!(f, "restored the best epoch's weights")?,
            None => {}
        }
        if let Some(best) = self.best() {
            if let Some(val) = &best.val {
                writeln!(f, "best epoch {} by {}: validation {}", best.epoch, self.monitor.name(), MetricsText(val))?;
            }
        }
        write!(f, "last epoch {}: train {}", last.epoch, MetricsText(&last.train))?;
        if let Some(val) = &last.val {
            write!(f, "; validation {}", MetricsText(val))?;
        }
        if let Some(test) = &self.test {
            write!(f, "\ntest: {} ({} samples)", MetricsText(test), Thousands(test.samples as u64))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn report(epoch: usize, val_loss: f64, val_acc: f64) -> EpochReport {
        let m = |loss, acc| Metrics { loss, accuracy: Some(acc), samples: 1000 };
        EpochReport {
            epoch,
            epochs: 3,
            train: m(0.5, 0.9),
            val: Some(m(val_loss, val_acc)),
            lr: 1e-3,
            steps: 10 * epoch,
            train_seconds: 0.5,
            val_seconds: 0.0,
            best: false,
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(format!("{}", Thousands(0)), "0");
        assert_eq!(format!("{}", Thousands(999)), "999");
        assert_eq!(format!("{}", Thousands(1_234_567)), "1,234,567");
    }

    #[test]
    fn the_report_names_the_best_and_the_last_epoch() {
        let mut h = History { epochs: std::vec![report(1, 0.3, 0.91), report(2, 0.2, 0.95)], ..History::default() };
        h.best = Some(1);
        h.test = Some(Metrics { loss: 0.25, accuracy: Some(0.9425), samples: 2000 });
        let text = h.to_string();
        assert_eq!(
            text,
            "2 epochs, 20 steps, 2,000 samples in 1.0 s (2,000 samples/s)\n\
             best epoch 2 by validation loss: validation loss 0.2000, accuracy 95.00%\n\
             last epoch 2: train loss 0.5000, accuracy 90.00%; validation loss 0.2000, accuracy 95.00%\n\
             test: loss 0.2500, accuracy 94.25% (2,000 samples)"
        );
        assert_eq!(History::default().to_string(), "no epoch run");
        assert_eq!(Monitor::ValAccuracy.score(&report(1, 0.3, 0.5)), Some(-0.5));
    }
}
