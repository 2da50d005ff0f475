//! [`Progress`]: what a person watching a run sees.
//!
//! In a terminal, a progress bar per epoch with the running loss, accuracy and throughput
//! (samples per second) and the time left, drawn by `indicatif`; everywhere, one line per
//! epoch with the training and validation metrics, the learning rate and the time, so
//! that a log (CI, a file) keeps the story without the bar's control characters.
//!
//! The bar is off when standard output is not a terminal or when the `CI` environment
//! variable is set (to anything but `""`, `0` or `false`), as CI services do.
//!
//! ```
//! use monograd_nn::train::Progress;
//! let mut progress = Progress::auto(); // bar in a terminal, epoch lines everywhere
//! let mut silent = Progress::new(false).lines(false); // nothing at all
//! ```

use std::fmt;
use std::io::IsTerminal;
use std::string::String;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::callback::{Callback, Control, Event, Plan, StepReport};
use super::history::{EpochReport, LossText, Thousands};

/// A [`Callback`] that shows a run's progress: a bar in a terminal, a line per epoch.
#[derive(Debug)]
pub struct Progress {
    bar_on: bool,
    lines: bool,
    every: usize,
    bar: Option<ProgressBar>,
    last_message: Option<Instant>,
}

impl Progress {
    /// The bar when standard output is a terminal and not in CI; epoch lines always.
    pub fn auto() -> Self {
        Self::new(std::io::stdout().is_terminal() && !in_ci())
    }

    /// The bar if `bar` (drawn only where standard output is a terminal); epoch lines on.
    pub fn new(bar: bool) -> Self {
        Self { bar_on: bar, lines: true, every: 1, bar: None, last_message: None }
    }

    /// Whether to print a line at the start and after each epoch (default: yes).
    pub fn lines(mut self, lines: bool) -> Self {
        self.lines = lines;
        self
    }

    /// Prints the line of every `n`-th epoch only (and of the first and the last): for
    /// long runs of short epochs.
    pub fn every(mut self, n: usize) -> Self {
        self.every = n.max(1);
        self
    }

    /// Whether the bar is on.
    pub fn shows_bar(&self) -> bool {
        self.bar_on
    }

    fn print(&self, line: fmt::Arguments<'_>) {
        if !self.lines {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(std::fmt::format(line)),
            None => std::println!("{line}"),
        }
    }

    fn step(&mut self, s: &StepReport) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(s.batches as u64), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template("{prefix} [{bar:28.cyan/blue}] {pos:>4}/{len:4} {msg} eta {eta}")
                .expect("a valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        if s.batch == 1 {
            bar.reset();
            bar.set_length(s.batches as u64);
            bar.set_prefix(std::format!("epoch {:>2}/{}", s.epoch, s.epochs));
        }
        bar.set_position(s.batch as u64);
        // Formatting allocates: refresh the text at most ten times a second.
        let now = Instant::now();
        if s.batch == 1 || self.last_message.is_none_or(|t| now - t >= Duration::from_millis(100)) {
            self.last_message = Some(now);
            bar.set_message(std::format!("{}", StepText(s)));
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::auto()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Whether the `CI` environment variable says this is a CI run.
fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

impl Callback for Progress {
    fn event(&mut self, event: &Event<'_>) -> Control {
        match event {
            Event::Start(plan) => self.print(format_args!("{}", PlanText(plan))),
            Event::Step(s) if self.bar_on => self.step(s),
            Event::Epoch(r) => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
                if r.epoch == 1 || r.epoch.is_multiple_of(self.every) || r.epoch == r.epochs {
                    self.print(format_args!("{}", EpochText(r)));
                }
                self.bar = None;
            }
            _ => {}
        }
        Control::Continue
    }
}

/// The start line: `training on 7,000 samples (validation: 1,000) for 10 epochs of 110 batches of 64`.
pub(crate) struct PlanText<'a>(pub &'a Plan);

impl fmt::Display for PlanText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        write!(f, "training on {} samples", Thousands(p.train as u64))?;
        if p.val > 0 {
            write!(f, " (validation: {})", Thousands(p.val as u64))?;
        }
        write!(f, " for {} epochs of {} batches of {}", p.epochs, p.batches, p.batch_size)?;
        if p.done > 0 {
            write!(f, ", {} done", p.done)?;
        }
        Ok(())
    }
}

/// The bar's message: `loss 0.2345  acc 93.12%  12,345 samples/s`.
struct StepText<'a>(&'a StepReport);

impl fmt::Display for StepText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "loss {}", LossText(s.epoch_loss))?;
        if let Some(a) = s.epoch_accuracy {
            write!(f, "  acc {:.2}%", 100.0 * a)?;
        }
        write!(f, "  {} samples/s", Thousands(s.samples_per_sec.round() as u64))
    }
}

/// The line after an epoch:
/// `epoch  3/10  train loss 0.2345 acc 93.12%  val loss 0.1234 acc 96.50%  lr 1.20e-3  1.2 s  5,833 samples/s  best`.
pub(crate) struct EpochText<'a>(pub &'a EpochReport);

impl fmt::Display for EpochText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let width = digits(r.epochs);
        write!(f, "epoch {:>width$}/{}  train loss {}", r.epoch, r.epochs, LossText(r.train.loss))?;
        if let Some(a) = r.train.accuracy {
            write!(f, " acc {:.2}%", 100.0 * a)?;
        }
        if let Some(v) = &r.val {
            write!(f, "  val loss {}", LossText(v.loss))?;
            if let Some(a) = v.accuracy {
                write!(f, " acc {:.2}%", 100.0 * a)?;
            }
        }
        write!(
            f,
            "  lr {}  {:.1} s  {} samples/s",
            Lr(r.lr),
            r.train_seconds + r.val_seconds,
            Thousands(r.samples_per_sec().round() as u64)
        )?;
        if r.best && r.val.is_some() {
            write!(f, "  best")?;
        }
        Ok(())
    }
}

/// A learning rate in 3 significant digits, `1.20e-3` style.
struct Lr(f64);

impl fmt::Display for Lr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: String = std::format!("{:.2e}", self.0);
        f.write_str(&s)
    }
}

fn digits(n: usize) -> usize {
    n.max(1).ilog10() as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Metrics;
    use std::string::ToString;

    #[test]
    fn lines_say_what_a_person_wants_to_know() {
        let m = |loss, acc| Metrics { loss, accuracy: Some(acc), samples: 7000 };
        let r = EpochReport {
            epoch: 3,
            epochs: 10,
            train: m(0.23456, 0.93125),
            val: Some(m(0.1234, 0.965)),
            lr: 1.2e-3,
            steps: 330,
            train_seconds: 1.0,
            val_seconds: 0.2,
            best: true,
        };
        assert_eq!(
            EpochText(&r).to_string(),
            "epoch  3/10  train loss 0.2346 acc 93.12%  val loss 0.1234 acc 96.50%  lr 1.20e-3  1.2 s  7,000 samples/s  best"
        );
        let p = Plan { epochs: 10, done: 0, batches: 110, batch_size: 64, train: 7000, val: 1000 };
        assert_eq!(
            PlanText(&p).to_string(),
            "training on 7,000 samples (validation: 1,000) for 10 epochs of 110 batches of 64"
        );
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
    }

    #[test]
    fn the_bar_is_off_when_asked_and_events_pass_through() {
        let mut p = Progress::new(false).lines(false);
        assert!(!p.shows_bar());
        let s = StepReport {
            epoch: 1,
            epochs: 1,
            batch: 1,
            batches: 2,
            step: 1,
            loss: 1.0,
            samples: 4,
            lr: 0.1,
            epoch_loss: 1.0,
            epoch_accuracy: None,
            samples_per_sec: 10.0,
        };
        assert_eq!(p.event(&Event::Step(&s)), Control::Continue);
        assert!(p.bar.is_none());
        // A bar drawn to a non-terminal draws nothing but keeps count.
        let mut p = Progress::new(true).lines(false);
        p.event(&Event::Step(&s));
        assert_eq!(p.bar.as_ref().map(|b| b.position()), Some(1));
    }
}
