//! [`Trainer`]: the training loop, written once for every network.
//!
//! Each step: take the next mini-batch ([`Batches`], shuffled from the seed and the
//! epoch), augment it if asked, set the learning rate from the schedule, run the training
//! forward, the loss and its gradient, count correct predictions, check the loss is
//! finite, zero the gradient, run backward, check the gradient is finite, clip it if
//! asked, step the optimizer (or, for plain SGD without clipping or worker threads, run
//! backward with the update inside it: `Optimizer::fused_sgd`), and check (as [`Checks`] says) that the parameters, the
//! buffers and the optimizer's state are finite; a step that fails a check is undone
//! (module `guard`). After each epoch: evaluate on the validation data (in
//! inference mode), keep the best epoch, and stop early if the validation quantity has
//! not improved for `patience` epochs.
//!
//! Two ways to drive it:
//! - [`Trainer::fit`] runs every epoch with early stopping and reports to a
//!   [`Callback`] (a progress bar, a closure, or `()`);
//! - [`Trainer::epoch`] runs one epoch and returns its [`EpochReport`], for a loop of
//!   your own (change the data, save checkpoints, stop on any rule).
//!
//! A callback's [`Control::Pause`] interrupts either mid-epoch; the next call continues
//! with the next batch. `save_checkpoint` and `load_checkpoint` (feature `safetensors`)
//! carry a run, paused or between epochs, to a fresh trainer that continues it
//! bit-identically.
//!
//! Everything is reproducible: the same seed and the same network give bit-identical
//! weights and metrics on every run (batches come from `(seed, epoch)`, augmentation from
//! a generator seeded the same way, dropout masks from the layer's seed and step).

use std::boxed::Box;
use std::time::Instant;
use std::vec::Vec;

use monograd_core::boxed::{boxed_clone, boxed_zeros_like, InPlace};
use monograd_core::storage::Heap;
use monograd_core::{Network, Rng, Scalar};

use super::callback::{Callback, Control, Event, Plan, StepReport};
use super::guard::{self, Checks, Snapshot};
use super::history::{EarlyStopping, EpochReport, History, Stopped};
use super::metric::{Metric, Metrics, Target};
use super::{Cause, NonFinite, TrainError};
use crate::data::{Batches, Cursor, Dataset};
use crate::loss::Loss;
use crate::optim::clip::clip_grad_norm;
use crate::optim::{OptimizerState, Schedule};

/// When a schedule set on a [`Trainer`] advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    /// Before each optimizer step: the rate of step `k` (from 0 over the whole run) is
    /// `schedule.lr(k)`. Warmup and cosine annealing are usually stepped this way.
    Step,
    /// At the start of each epoch: the rate of epoch `e` (from 0) is `schedule.lr(e)`.
    Epoch,
}

/// An augmentation: transforms a batch of inputs in place, drawing from a seeded generator.
type Augment<T> = Box<dyn FnMut(&mut [T], &mut Rng)>;

#[cfg(feature = "safetensors")]
mod checkpoint;
#[cfg(feature = "parallel")]
mod threads;

/// An epoch paused mid-way ([`Control::Pause`], a checkpoint saved so, or a step undone):
/// where it stands and what it has summed so far. The epoch is `history.epochs.len()`.
#[derive(Clone, Debug, PartialEq)]
struct Open {
    /// Samples of the epoch's order already served.
    position: usize,
    /// Batches done.
    batch: usize,
    /// The sums behind the epoch's training metrics.
    loss_sum: f64,
    correct: usize,
    samples: usize,
    /// The augmentation generator, where it stands.
    rng: Rng,
    /// Training time so far, in seconds.
    seconds: f64,
}

/// Settings of a run.
#[derive(Clone, Copy, Debug)]
struct Config {
    epochs: usize,
    batch_size: usize,
    eval_batch_size: usize,
    seed: u64,
    drop_last: bool,
    early_stopping: Option<EarlyStopping>,
    clip: Option<f64>,
    check_gradients: bool,
    checks: Checks,
}

/// Where the run stood when the snapshot was taken: what undoing steps puts back besides
/// the model and the optimizer.
struct Mark {
    steps: usize,
    history: usize,
    open: Open,
}

/// Trains a network `N` over the scalar `T` (`f32` unless said otherwise) with an
/// optimizer `O` on a loss `L` over a [`Dataset`] of `T` inputs and targets `Y` (class
/// indices `usize`, or values `T`).
///
/// The trainer owns the network (on the heap, with its gradient and buffers) and lends it
/// out ([`Trainer::net`], [`Trainer::into_net`]). Settings are builder methods; every one
/// has a default:
///
/// | setting | default |
/// | --- | --- |
/// | [`epochs`](Trainer::epochs) | 10 |
/// | [`batch_size`](Trainer::batch_size) | 64, last partial batch kept ([`drop_last`](Trainer::drop_last)) |
/// | [`eval_batch_size`](Trainer::eval_batch_size) | 500 |
/// | [`seed`](Trainer::seed) | 0: batch order and augmentation |
/// | [`schedule`](Trainer::schedule) | none: the optimizer's rate as it is |
/// | [`early_stopping`](Trainer::early_stopping) | none: every epoch runs; the best epoch by validation loss is still reported |
/// | [`clip_grad_norm`](Trainer::clip_grad_norm) | none |
/// | [`augment`](Trainer::augment) | none |
/// | [`metric`](Trainer::metric) | [`Argmax`](super::Argmax) accuracy for `usize` targets, none for `f32` |
/// | [`check_gradients`](Trainer::check_gradients) | on: a non-finite gradient is an error |
/// | [`checks`](Trainer::checks) | [`Checks::Every(50)`](Checks::Every): parameters, buffers and optimizer state every 50 steps and at each epoch's end |
///
/// A step is a transaction: when anything it changed (the loss, the gradient, the
/// parameters, BatchNorm's running statistics, the optimizer's state) is NaN or infinite,
/// the trainer puts the model, the optimizer and the run back as they were before it (or,
/// with [`Checks::Every`], at the last full check) and returns
/// [`TrainError::NonFinite`], which names the step, the epoch, the first tensor that went
/// bad and the likely [`Cause`] (a sample of the batch holding a NaN, by its index in the
/// data set; an update that overflowed, by the learning rate). [`Trainer::fit`] never
/// returns `Ok` with a non-finite value in the model or the optimizer.
/// | `threads` (feature `parallel`) | 1: each batch on the calling thread |
///
/// ```
/// use monograd_core::Rng;
/// use monograd_nn::data::Dataset;
/// use monograd_nn::train::{Event, Control, Trainer, Within};
/// use monograd_nn::{MseLoss, Sgd};
/// # type Net = monograd_nn::train::testing::Dense<1, 1>;
///
/// // Regression: y = 3x - 1.
/// let x: Vec<f32> = (0..64).map(|i| i as f32 / 32.0 - 1.0).collect();
/// let y: Vec<f32> = x.iter().map(|x| 3.0 * x - 1.0).collect();
/// let data = Dataset::new(x, y, 1)?;
/// let mut trainer = Trainer::new(Net::new(&mut Rng::seed(0)), Sgd::new(0.1), MseLoss)
///     .epochs(50)
///     .batch_size(8)
///     .metric(Within(0.01));
/// let mut steps = 0;
/// trainer.fit(&data, None, &mut |e: &Event<'_>| {
///     steps += matches!(e, Event::Step(_)) as usize;
///     Control::Continue
/// })?;
/// assert_eq!(steps, 50 * 8);
/// let m = trainer.evaluate(&data)?;
/// assert!(m.loss < 1e-6 && m.accuracy == Some(1.0));
/// assert!((trainer.net().0.weight[0][0] - 3.0).abs() < 1e-3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Trainer<N: Network<T>, O, L, Y, T: Scalar = f32> {
    net: Box<N>,
    grad: Box<N>,
    best: Option<Box<N>>,
    state: N::State<Heap>,
    optimizer: O,
    loss: L,
    metric: Option<Box<dyn Metric<Y, T>>>,
    schedule: Option<(Box<dyn Schedule>, Every)>,
    augment: Option<Augment<T>>,
    config: Config,
    batches: Option<Batches<T, Y>>,
    eval: Option<Batches<T, Y>>,
    x: Vec<T>,
    dy: Vec<T>,
    /// The model and the optimizer as they were at the last full check.
    snapshot: Snapshot<T>,
    steps: usize,
    since_best: usize,
    /// What a callback asked for during the last epoch.
    requested: Control,
    open: Option<Open>,
    history: History,
    /// Worker threads for data-parallel steps ([`Trainer::threads`]).
    #[cfg(feature = "parallel")]
    parallel: Option<Box<dyn crate::distributed::ParallelStep<N, Y, T>>>,
}

impl<N, O, L, Y, T> Trainer<N, O, L, Y, T>
where
    N: Network<T> + InPlace,
    O: OptimizerState<T>,
    L: Loss<T, Target = [Y]>,
    Y: Target,
    T: Scalar,
{
    /// A trainer of `net` with `optimizer` on `loss`, with the default settings.
    ///
    /// `net` passes through the stack; for a large network build it with
    /// `Net::boxed(&mut rng)` and use [`Trainer::from_box`].
    pub fn new(net: N, optimizer: O, loss: L) -> Self {
        Self::from_box(Box::new(net), optimizer, loss)
    }

    /// A trainer of a network already on the heap: nothing of the network's size passes
    /// through the stack, here or later (its gradient is built zeroed in place, the best
    /// epoch's weights are copied in place), so networks of any size train on a thread
    /// with a small stack.
    ///
    /// ```
    /// use monograd_core::Rng;
    /// use monograd_core::boxed::boxed_new;
    /// use monograd_nn::train::Trainer;
    /// use monograd_nn::{MseLoss, Sgd};
    /// # type Net = monograd_nn::train::testing::Dense<1, 1>;
    ///
    /// let net: Box<Net> = boxed_new(&mut Rng::seed(0)); // `Net::boxed` for a `network!`
    /// let trainer = Trainer::from_box(net, Sgd::new(0.1), MseLoss);
    /// assert_eq!(trainer.steps(), 0);
    /// ```
    pub fn from_box(net: Box<N>, optimizer: O, loss: L) -> Self {
        let grad = boxed_zeros_like(&*net);
        Self {
            net,
            grad,
            best: None,
            state: N::state::<Heap>(),
            optimizer,
            loss,
            metric: Y::default_metric::<T>(),
            schedule: None,
            augment: None,
            config: Config {
                epochs: 10,
                batch_size: 64,
                eval_batch_size: 500,
                seed: 0,
                drop_last: false,
                early_stopping: None,
                clip: None,
                check_gradients: true,
                checks: Checks::default(),
            },
            batches: None,
            eval: None,
            x: Vec::new(),
            dy: Vec::new(),
            snapshot: Snapshot::default(),
            steps: 0,
            since_best: 0,
            requested: Control::Continue,
            open: None,
            history: History::default(),
            #[cfg(feature = "parallel")]
            parallel: None,
        }
    }

    /// Epochs [`Trainer::fit`] runs in all (fewer if it stops early).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.config.epochs = epochs;
        self
    }

    /// Samples per training batch (at least 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = batch_size;
        self
    }

    /// Samples per batch when evaluating (at least 1); any size gives the same metrics up
    /// to rounding.
    pub fn eval_batch_size(mut self, eval_batch_size: usize) -> Self {
        self.config.eval_batch_size = eval_batch_size;
        self
    }

    /// Whether to drop an epoch's last batch when it is smaller than the batch size.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.config.drop_last = drop_last;
        self
    }

    /// The seed of the batch order and of the augmentation generator. The network's own
    /// randomness (initialisation, dropout) comes from the generator it was built with.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Drives the optimizer's learning rate by `schedule`, advanced every step or every
    /// epoch.
    ///
    /// ```
    /// use monograd_nn::optim::schedule::{CosineAnnealingLr, LinearLr, Schedule};
    /// use monograd_nn::train::{Every, Trainer};
    /// use monograd_nn::{AdamW, CrossEntropyLoss};
    /// # type Net = monograd_nn::train::testing::Dense<4, 3>;
    /// let (epochs, per_epoch) = (10, 100);
    /// // One epoch of linear warmup, then cosine annealing to zero.
    /// let sched = LinearLr::warmup(3e-3, 0.01, per_epoch)
    ///     .then(per_epoch, CosineAnnealingLr::new(3e-3, (epochs - 1) * per_epoch, 0.0));
    /// let trainer = Trainer::new(Net::default(), AdamW::new(3e-3), CrossEntropyLoss::new())
    ///     .epochs(epochs)
    ///     .schedule(sched, Every::Step);
    /// ```
    pub fn schedule(mut self, schedule: impl Schedule + 'static, every: Every) -> Self {
        self.schedule = Some((Box::new(schedule), every));
        self
    }

    /// Stops when the validation quantity stops improving; see [`EarlyStopping`]. It
    /// needs validation data: without it, every epoch runs.
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.config.early_stopping = Some(early_stopping);
        self
    }

    /// Scales each step's gradient to an L2 norm of at most `max_norm`
    /// ([`clip_grad_norm`]).
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        self.config.clip = Some(max_norm);
        self
    }

    /// Transforms each training batch's inputs before the forward pass (flat, `len *
    /// numel` values), drawing from a generator seeded by the trainer's seed and the
    /// epoch. Validation and test data are never augmented.
    ///
    /// ```
    /// use monograd_nn::train::{RandomShift, Trainer};
    /// use monograd_nn::{Adam, CrossEntropyLoss};
    /// # type Net = monograd_nn::train::testing::Dense<784, 10>;
    /// let shift = RandomShift::new(1, 28, 28, 2); // up to 2 pixels each way
    /// let trainer = Trainer::new(Net::default(), Adam::new(1e-3), CrossEntropyLoss::new())
    ///     .augment(move |batch, rng| shift.apply(batch, rng));
    /// ```
    pub fn augment(mut self, augment: impl FnMut(&mut [T], &mut Rng) + 'static) -> Self {
        self.augment = Some(Box::new(augment));
        self
    }

    /// Counts correct predictions with `metric` (reported as accuracy).
    pub fn metric(mut self, metric: impl Metric<Y, T> + 'static) -> Self {
        self.metric = Some(Box::new(metric));
        self
    }

    /// Whether to check every step's gradient for NaN and infinities (default: on; it
    /// costs one pass over the parameters). The loss is always checked.
    pub fn check_gradients(mut self, check: bool) -> Self {
        self.config.check_gradients = check;
        self
    }

    /// How often the parameters, the buffers and the optimizer's state are checked, and
    /// so how far back a failing check undoes the run (see [`Checks`]).
    pub fn checks(mut self, checks: Checks) -> Self {
        self.config.checks = checks;
        self
    }

    /// The network.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The network, to change between epochs.
    pub fn net_mut(&mut self) -> &mut N {
        &mut self.net
    }

    /// The trained network.
    pub fn into_net(self) -> Box<N> {
        self.net
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// The optimizer, to change between epochs.
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.optimizer
    }

    /// What the run recorded so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Where the run stands: the epoch in progress, or the next one between epochs
    /// (counted from 0), and the samples of its order already served.
    pub fn cursor(&self) -> Cursor {
        let position = self.open.as_ref().map_or(0, |o| o.position);
        Cursor { epoch: self.history.epochs.len() as u64, position }
    }

    /// Whether an epoch is open: paused mid-way by [`Control::Pause`] (or restored so from a
    /// checkpoint). The next [`Trainer::fit`] or [`Trainer::epoch`] continues it.
    pub fn is_mid_epoch(&self) -> bool {
        self.open.is_some()
    }

    /// Records the test set's metrics in the history (for its report and chart). Evaluate
    /// the test set once, at the end: it must play no part in training or selection.
    pub fn record_test(&mut self, test: Metrics) {
        self.history.test = Some(test);
    }

    /// Runs the remaining epochs (up to [`Trainer::epochs`] in all), validating on `val`
    /// after each, with early stopping if set; `callback` sees every [`Event`].
    ///
    /// # Errors
    /// [`TrainError::NonFinite`] if a loss, a gradient, a parameter, a buffer or the
    /// optimizer's state is NaN or infinite (naming the epoch, the step, the tensor and
    /// the likely cause); [`TrainError::Shape`] if the data does not fit the network or
    /// the loss; [`TrainError::Config`] for a batch size of 0 or no training data;
    /// [`TrainError::Optim`] if the optimizer cannot step; [`TrainError::Overflow`] if a
    /// counter of the run would overflow. A step that fails is undone first (see
    /// [`Checks`]): the model, the optimizer and the run are as they were before it, and
    /// the next call continues from there.
    pub fn fit<C: Callback + ?Sized>(
        &mut self,
        train: &Dataset<T, Y>,
        val: Option<&Dataset<T, Y>>,
        callback: &mut C,
    ) -> Result<&History, TrainError> {
        self.check(train)?;
        let batches = self.per_epoch(train.len());
        let done = self.history.epochs.len();
        let remaining = self.config.epochs.saturating_sub(done);
        self.history.epochs.reserve(remaining);
        self.history.steps.reserve(remaining * batches);
        self.history.monitor = self.config.early_stopping.map(|e| e.monitor).unwrap_or_default();
        self.history.stopped = None;
        self.history.restored_best = false;
        let plan = Plan {
            epochs: self.config.epochs,
            done,
            batches,
            batch_size: self.config.batch_size,
            train: train.len(),
            val: val.map_or(0, Dataset::len),
        };
        self.requested = callback.event(&Event::Start(&plan));
        let mut stop = self.requested != Control::Continue;
        while !stop && self.history.epochs.len() < self.config.epochs {
            self.epoch(train, val, callback)?;
            if self.requested != Control::Continue {
                stop = true;
            } else if let (Some(es), Some(_)) = (self.config.early_stopping, val) {
                if self.since_best >= es.patience && self.history.epochs.len() < self.config.epochs {
                    self.history.stopped = Some(Stopped::EarlyStopping { patience: es.patience });
                    stop = true;
                }
            }
        }
        match self.requested {
            Control::Stop => self.history.stopped = Some(Stopped::Callback),
            // The run goes on later: keep the weights as they are.
            Control::Pause => self.history.stopped = Some(Stopped::Paused),
            Control::Continue => {}
        }
        if self.requested != Control::Pause {
            self.restore_best();
        }
        // Every epoch ends checked; this one check more makes it a guarantee of `fit`
        // whatever happened between (the best weights put back, a change by hand).
        if let Err(bad) = guard::verify(&*self.net, &self.optimizer) {
            let cause = guard::diagnose::<T>(Some(&bad.what), &[], &[], self.optimizer.lr());
            return Err(TrainError::NonFinite {
                epoch: self.history.epochs.len(),
                step: self.steps,
                batch: 0,
                batches,
                what: bad.what,
                tensor: Some(bad.tensor),
                cause,
                restored: None,
            });
        }
        callback.event(&Event::End(&self.history));
        Ok(&self.history)
    }

    /// Puts back the best epoch's weights if early stopping kept them
    /// ([`EarlyStopping::restore_best`]) and they differ from the last epoch's; returns
    /// whether it did. [`Trainer::fit`] calls it at the end.
    pub fn restore_best(&mut self) -> bool {
        let last = self.history.epochs.len().checked_sub(1);
        match (&self.best, self.history.best) {
            (Some(best), Some(b)) if Some(b) != last => {
                self.net.copy_from(best);
                self.history.restored_best = true;
                true
            }
            _ => false,
        }
    }

    /// One epoch of training over `train`, then validation on `val`: the next epoch of the
    /// run (epoch `history().epochs.len() + 1`). The report is also pushed to the history
    /// and sent to `callback` as [`Event::Epoch`]. A [`Control::Stop`] from the callback
    /// during the epoch ends it after that step (validation still runs). A
    /// [`Control::Pause`] leaves it open after that step: the report returned then covers
    /// the batches so far, with no validation, and is not recorded; the next call
    /// continues the epoch ([`Trainer::is_mid_epoch`]).
    ///
    /// ```
    /// use monograd_core::Rng;
    /// use monograd_nn::data::Dataset;
    /// use monograd_nn::train::Trainer;
    /// use monograd_nn::{CrossEntropyLoss, Sgd};
    /// # type Net = monograd_nn::train::testing::Dense<1, 2>;
    /// let data = Dataset::new(vec![-1.0f32, -0.5, 0.5, 1.0], vec![0usize, 0, 1, 1], 1)?;
    /// let mut trainer = Trainer::new(Net::new(&mut Rng::seed(0)), Sgd::new(0.5), CrossEntropyLoss::new())
    ///     .batch_size(2);
    /// // Your own loop: stop when the validation accuracy is perfect.
    /// for _ in 0..100 {
    ///     let report = trainer.epoch(&data, Some(&data), &mut ())?;
    ///     if report.val.unwrap().accuracy == Some(1.0) {
    ///         break;
    ///     }
    /// }
    /// assert_eq!(trainer.evaluate(&data)?.accuracy, Some(1.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Trainer::fit`].
    pub fn epoch<C: Callback + ?Sized>(
        &mut self,
        train: &Dataset<T, Y>,
        val: Option<&Dataset<T, Y>>,
        callback: &mut C,
    ) -> Result<EpochReport, TrainError> {
        self.check(train)?;
        let (train_metrics, train_seconds) = self.train_epoch(train, callback)?;
        if self.open.is_some() {
            // Paused mid-epoch: the epoch so far, not recorded.
            return Ok(EpochReport {
                epoch: self.history.epochs.len() + 1,
                epochs: self.config.epochs.max(self.history.epochs.len() + 1),
                train: train_metrics,
                val: None,
                lr: self.optimizer.lr(),
                steps: self.steps,
                train_seconds,
                val_seconds: 0.0,
                best: false,
            });
        }
        let t0 = Instant::now();
        let val_metrics = val.map(|v| self.evaluate(v)).transpose()?;
        let val_seconds = t0.elapsed().as_secs_f64();
        let mut report = EpochReport {
            epoch: self.history.epochs.len() + 1,
            epochs: self.config.epochs.max(self.history.epochs.len() + 1),
            train: train_metrics,
            val: val_metrics,
            lr: self.optimizer.lr(),
            steps: self.steps,
            train_seconds,
            val_seconds,
            best: false,
        };
        let es = self.config.early_stopping;
        let monitor = es.map(|e| e.monitor).unwrap_or_default();
        if let Some(score) = monitor.score(&report) {
            let best = self.history.best().and_then(|b| monitor.score(b));
            let delta = es.map_or(0.0, |e| e.min_delta);
            if best.is_none_or(|b| score < b - delta) {
                report.best = true;
                self.history.best = Some(self.history.epochs.len());
                self.since_best = 0;
                if es.is_some_and(|e| e.restore_best) {
                    match &mut self.best {
                        Some(b) => b.copy_from(&self.net),
                        None => self.best = Some(boxed_clone(&*self.net)),
                    }
                }
            } else {
                self.since_best += 1;
            }
        }
        self.history.epochs.push(report);
        let answer = callback.event(&Event::Epoch(&report));
        if answer != Control::Continue {
            self.requested = answer;
        }
        Ok(report)
    }

    /// Loss and accuracy on `data` in inference mode (no dropout, no augmentation), in
    /// batches of [`Trainer::eval_batch_size`].
    ///
    /// # Errors
    /// [`TrainError::Shape`] if the data does not fit the network or the loss.
    pub fn evaluate(&mut self, data: &Dataset<T, Y>) -> Result<Metrics, TrainError> {
        let size = self.config.eval_batch_size;
        if size == 0 {
            return Err(TrainError::Config { what: "evaluation batch size", expected: "at least 1" });
        }
        if self.eval.as_ref().is_none_or(|b| b.size() != size) {
            self.eval = Some(Batches::sequential(size)?);
        }
        let Self { net, state, loss, metric, eval, .. } = self;
        let eval = eval.as_mut().expect("set above");
        let (mut loss_sum, mut correct, mut samples) = (0.0f64, 0usize, 0usize);
        let mut epoch = eval.epoch(0, data);
        while let Some(batch) = epoch.next_batch() {
            let y = net.forward(batch.inputs, state)?;
            let l = loss.forward(y, batch.targets)?;
            if let Some(m) = metric {
                correct += m.correct(y, batch.targets);
            }
            loss_sum += l.to_f64() * batch.len() as f64;
            samples += batch.len();
        }
        Ok(Metrics::from_sums(loss_sum, metric.as_ref().map(|_| correct), samples))
    }

    /// Checks the settings against the training data.
    fn check(&self, train: &Dataset<T, Y>) -> Result<(), TrainError> {
        if self.config.batch_size == 0 {
            return Err(TrainError::Config { what: "batch size", expected: "at least 1" });
        }
        if self.per_epoch(train.len()) == 0 {
            return Err(TrainError::Config {
                what: "training data",
                expected: "at least one batch (a sample, or a whole batch with drop_last)",
            });
        }
        Ok(())
    }

    fn per_epoch(&self, n: usize) -> usize {
        if self.config.drop_last {
            n / self.config.batch_size
        } else {
            n.div_ceil(self.config.batch_size)
        }
    }

    /// Trains one epoch; returns its metrics and wall time.
    fn train_epoch<C: Callback + ?Sized>(
        &mut self,
        train: &Dataset<T, Y>,
        callback: &mut C,
    ) -> Result<(Metrics, f64), TrainError> {
        let config = self.config;
        if self.batches.as_ref().is_none_or(|b| {
            b.size() != config.batch_size || b.seed() != config.seed || b.drops_last() != config.drop_last
        }) {
            self.batches = Some(Batches::new(config.batch_size, config.seed)?.drop_last(config.drop_last));
        }
        let index = self.history.epochs.len();
        let epochs = config.epochs.max(index + 1);
        let per_epoch = self.per_epoch(train.len());
        self.history.steps.reserve(per_epoch);
        self.requested = Control::Continue;
        if self.open.as_ref().is_some_and(|o| o.position > train.len()) {
            return Err(TrainError::Config {
                what: "training data",
                expected: "at least as many samples as the paused epoch has served (the same data as before the pause)",
            });
        }
        let resumed = self.open.take();
        let Self {
            net,
            grad,
            state,
            optimizer,
            loss,
            metric,
            schedule,
            augment,
            batches,
            x,
            dy,
            snapshot,
            steps,
            history,
            requested,
            open,
            #[cfg(feature = "parallel")]
            parallel,
            ..
        } = self;
        if let Some((s, Every::Epoch)) = schedule {
            optimizer.set_lr(s.lr(index));
        }
        let batches = batches.as_mut().expect("set above");
        // A paused epoch continues where it stood: the same order, the generator and the
        // sums as they were.
        let (mut epoch, mut rng, mut loss_sum, mut correct, mut samples, mut b, before) = match resumed {
            Some(o) => {
                let at = Cursor { epoch: index as u64, position: o.position };
                (batches.resume(at, train)?, o.rng, o.loss_sum, o.correct, o.samples, o.batch, o.seconds)
            }
            None => {
                let rng = augment_rng(config.seed, index as u64);
                (batches.epoch(index as u64, train), rng, 0.0f64, 0usize, 0usize, 0usize, 0.0)
            }
        };
        let start = Instant::now();
        let period = config.checks.period();
        // The model and the optimizer as they come in: checked, then copied. A non-finite
        // value here was not made by this call: nothing to undo.
        if let Err(bad) = guard::verify(&**net, optimizer) {
            return Err(TrainError::NonFinite {
                epoch: index + 1,
                step: steps.saturating_add(1),
                batch: b.saturating_add(1),
                batches: per_epoch,
                what: bad.what,
                tensor: Some(bad.tensor),
                cause: Cause::Given,
                restored: None,
            });
        }
        let mut save = true;
        let mut since = 0usize; // steps since the last full check
        let mut mark = Mark {
            steps: *steps,
            history: history.steps.len(),
            open: Open { position: 0, batch: 0, loss_sum: 0.0, correct: 0, samples: 0, rng: rng.clone(), seconds: 0.0 },
        };
        // Undoes every step since the snapshot and returns the error for step `step`.
        macro_rules! undo {
            ($what:expr, $tensor:expr, $cause:expr) => {{
                let step = *steps;
                snapshot.restore(&mut **net, optimizer);
                *steps = mark.steps;
                history.steps.truncate(mark.history);
                // At position 0 the epoch starts afresh, as it would have.
                *open = (mark.open.position > 0).then(|| mark.open.clone());
                return Err(TrainError::NonFinite {
                    epoch: index + 1,
                    step,
                    batch: b,
                    batches: per_epoch,
                    what: $what,
                    tensor: $tensor,
                    cause: $cause,
                    restored: Some(mark.steps),
                });
            }};
        }
        // Undoes every step since the snapshot, the forward pass of this one included
        // (running statistics, dropout's step), and returns `e`.
        macro_rules! undo_err {
            ($e:expr) => {{
                snapshot.restore(&mut **net, optimizer);
                *steps = mark.steps;
                history.steps.truncate(mark.history);
                *open = (mark.open.position > 0).then(|| mark.open.clone());
                return Err($e.into());
            }};
        }
        loop {
            // (No copy when the epoch has nothing left: nothing could be undone.)
            if save && epoch.remaining() > 0 {
                snapshot.save(&**net, optimizer);
                mark.steps = *steps;
                mark.history = history.steps.len();
                mark.open = Open {
                    position: epoch.cursor().position,
                    batch: b,
                    loss_sum,
                    correct,
                    samples,
                    rng: rng.clone(),
                    seconds: before + start.elapsed().as_secs_f64(),
                };
                save = false;
            }
            let Some(batch) = epoch.next_batch() else { break };
            // Counters may come from a checkpoint: checked where they grow.
            let (Some(next), Some(after)) = (steps.checked_add(1), b.checked_add(1)) else {
                undo_err!(TrainError::Overflow { what: "step or batch count" });
            };
            b = after;
            let inputs: &[T] = match augment {
                Some(f) => {
                    x.clear();
                    x.extend_from_slice(batch.inputs);
                    f(x, &mut rng);
                    x
                }
                None => batch.inputs,
            };
            if let Some((s, Every::Step)) = schedule {
                optimizer.set_lr(s.lr(*steps));
            }
            let lr = optimizer.lr();
            // On worker threads, forward, loss and backward happen in one call.
            #[cfg(feature = "parallel")]
            let parallel_loss = match threads::step(
                parallel,
                next,
                &mut **net,
                inputs,
                batch.targets,
                &mut **grad,
                metric,
                &mut correct,
            ) {
                Ok(l) => l,
                Err(e) => undo_err!(e),
            };
            #[cfg(not(feature = "parallel"))]
            let parallel_loss: Option<T> = None;
            let l = match parallel_loss {
                Some(l) => l,
                None => {
                    let y = match net.forward_train(inputs, state) {
                        Ok(y) => y,
                        Err(e) => undo_err!(e),
                    };
                    dy.resize(y.len(), T::ZERO);
                    let l = match loss.backward(y, batch.targets, dy) {
                        Ok(l) => l,
                        Err(e) => undo_err!(e),
                    };
                    if let Some(m) = metric {
                        correct = correct.saturating_add(m.correct(y, batch.targets));
                    }
                    l
                }
            };
            *steps = next;
            since += 1;
            if !l.is_finite() {
                let bad = guard::first_bad_tensor(&**net);
                let cause = guard::diagnose(bad.as_ref().map(|b| &b.what), inputs, batch.indices, lr);
                undo!(NonFinite::LossValue(l.to_f64()), bad.map(|b| b.tensor), cause);
            }
            // Plain SGD runs inside the backward pass (no gradient buffer for the dense
            // layers) unless the gradient itself is needed: on worker threads it is
            // summed across them, and clipping scales it as a whole.
            let fused = if parallel_loss.is_none() && config.clip.is_none() {
                match optimizer.fused_sgd(&**net) {
                    Ok(f) => f,
                    Err(e) => undo_err!(e),
                }
            } else {
                None
            };
            if let Some(rate) = fused {
                if let Err(e) = net.backward_sgd(inputs, dy, rate, grad, state) {
                    undo_err!(e);
                }
                // No gradient was kept. Every parameter was finite before this step
                // (checked before the first step and after each fused one), so a
                // non-finite one now comes from its update `θ - rate · g`: either `g`
                // was not finite or the update overflowed, which the unfused step tells
                // apart by checking `g` first. Here the batch decides: an input that is
                // not finite or whose square overflows makes the gradient the culprit,
                // named as that check names it (the nearest the output); otherwise the
                // parameter is reported as an overflowing update is, with the rate as cause.
                if config.check_gradients {
                    if let Some(tensor) = guard::last_bad_grad(&**net) {
                        let cause = guard::diagnose(None, inputs, batch.indices, lr);
                        if matches!(cause, Cause::NonFiniteInput { .. } | Cause::HugeInput { .. }) {
                            undo!(NonFinite::Gradient, Some(tensor), cause);
                        }
                        if let Some(bad) = guard::first_bad_tensor(&**net) {
                            let cause = guard::diagnose(Some(&bad.what), inputs, batch.indices, lr);
                            undo!(bad.what, Some(bad.tensor), cause);
                        }
                    }
                }
            }
            if parallel_loss.is_none() && fused.is_none() {
                grad.zero();
                if let Err(e) = net.backward(inputs, dy, grad, state) {
                    undo_err!(e);
                }
            }
            if fused.is_none() && config.check_gradients && !guard::grad_finite(&**grad) {
                let cause = guard::diagnose(None, inputs, batch.indices, lr);
                undo!(NonFinite::Gradient, guard::last_bad_grad(&**grad), cause);
            }
            // What the forward pass changed besides its output: small, so every step.
            if since < period {
                if let Some(bad) = guard::first_bad_buffer(&**net) {
                    let cause = guard::diagnose(Some(&bad.what), inputs, batch.indices, lr);
                    undo!(bad.what, Some(bad.tensor), cause);
                }
            }
            if let Some(max) = config.clip {
                clip_grad_norm(&mut **grad, max);
            }
            if fused.is_none() {
                if let Err(e) = optimizer.try_step(&mut **net, grad) {
                    undo_err!(e);
                }
            }
            if since >= period {
                if let Err(bad) = guard::verify(&**net, optimizer) {
                    let cause = guard::diagnose(Some(&bad.what), inputs, batch.indices, lr);
                    undo!(bad.what, Some(bad.tensor), cause);
                }
                (since, save) = (0, true);
            }
            let n = batch.len();
            loss_sum += l.to_f64() * n as f64;
            samples = samples.saturating_add(n);
            history.steps.push((index as f64 + b as f64 / per_epoch as f64, l.to_f64() as f32));
            let so_far = Metrics::from_sums(loss_sum, metric.as_ref().map(|_| correct), samples);
            let report = StepReport {
                epoch: index + 1,
                epochs,
                batch: b,
                batches: per_epoch,
                step: *steps,
                loss: l.to_f64(),
                samples: n,
                lr,
                epoch_loss: so_far.loss,
                epoch_accuracy: so_far.accuracy,
                samples_per_sec: samples as f64 / (before + start.elapsed().as_secs_f64()).max(1e-9),
            };
            match callback.event(&Event::Step(&report)) {
                Control::Continue => {}
                Control::Stop => {
                    *requested = Control::Stop;
                    break;
                }
                Control::Pause => {
                    *requested = Control::Pause;
                    // After the last batch the epoch is complete: it closes as usual.
                    if epoch.remaining() > 0 {
                        *open = Some(Open {
                            position: epoch.cursor().position,
                            batch: b,
                            loss_sum,
                            correct,
                            samples,
                            rng: rng.clone(),
                            seconds: before + start.elapsed().as_secs_f64(),
                        });
                    }
                    break;
                }
            }
        }
        // Every call ends checked, whatever the period: an epoch never closes (nor pauses)
        // with a non-finite value.
        if since > 0 {
            if let Err(bad) = guard::verify(&**net, optimizer) {
                let cause = guard::diagnose::<T>(Some(&bad.what), &[], &[], optimizer.lr());
                undo!(bad.what, Some(bad.tensor), cause);
            }
        }
        let seconds = before + start.elapsed().as_secs_f64();
        Ok((Metrics::from_sums(loss_sum, metric.as_ref().map(|_| correct), samples), seconds))
    }
}

/// The augmentation generator of epoch `epoch`: independent of the batch order's.
fn augment_rng(seed: u64, epoch: u64) -> Rng {
    let key = Rng::seed(seed ^ 0x6175_676D_656E_7400).next_u64(); // "augment\0"
    Rng::seed(key.wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

#[cfg(test)]
mod tests {
    use std::string::{String, ToString};
    use std::{format, vec};

    use super::*;
    use crate::init::fingerprint;
    use crate::train::testing::Dense;
    use crate::train::{EarlyStopping, Monitor};
    use crate::{CrossEntropyLoss, MseLoss, Sgd};

    fn blobs(n: usize, seed: u64) -> Dataset<f32, usize> {
        let mut rng = Rng::seed(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3;
            x.push(c as f32 + 0.3 * rng.normal() as f32);
            x.push(-(c as f32) + 0.3 * rng.normal() as f32);
            y.push(c);
        }
        Dataset::new(x, y, 2).unwrap()
    }

    type Net = Dense<2, 3>;

    fn trainer(lr: f64) -> Trainer<Net, Sgd<f32, Vec<f32>>, CrossEntropyLoss<'static, f32>, usize> {
        Trainer::new(Net::new(&mut Rng::seed(3)), Sgd::new(lr as f32), CrossEntropyLoss::new()).batch_size(16)
    }

    #[test]
    fn fit_learns_and_reports_every_epoch() {
        let (train, val) = (blobs(300, 1), blobs(90, 2));
        let mut t = trainer(0.5).epochs(5);
        let mut events = vec![];
        t.fit(&train, Some(&val), &mut |e: &Event<'_>| {
            events.push(match e {
                Event::Start(p) => format!("start {} {}", p.epochs, p.batches),
                Event::Step(_) => String::from("step"),
                Event::Epoch(r) => format!("epoch {}", r.epoch),
                Event::End(h) => format!("end {}", h.epochs.len()),
            });
            Control::Continue
        })
        .unwrap();
        assert_eq!(events[0], "start 5 19");
        assert_eq!(events.iter().filter(|e| *e == "step").count(), 5 * 19);
        assert_eq!(events[20], "epoch 1");
        assert_eq!(events.last().unwrap(), "end 5");
        let h = t.history();
        assert_eq!((h.epochs.len(), h.steps.len(), t.steps()), (5, 95, 95));
        assert!(h.last().unwrap().val.unwrap().accuracy.unwrap() > 0.9, "{h}");
        assert!(h.epochs[4].train.loss < h.epochs[0].train.loss);
        assert_eq!(h.steps[18].0, 1.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_weights_and_another_seed_does_not() {
        let (train, val) = (blobs(100, 1), blobs(30, 2));
        let run = |seed| {
            let mut t = trainer(0.3).epochs(2).seed(seed);
            t.fit(&train, Some(&val), &mut ()).unwrap();
            (fingerprint(t.net()), t.history().epochs.iter().map(|r| (r.train, r.val)).collect::<Vec<_>>())
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).0, run(6).0);
    }

    #[test]
    fn early_stopping_stops_and_restores_the_best_weights() {
        let (train, val) = (blobs(100, 1), blobs(30, 2));
        // A rate so high that the validation loss gets worse after the first epoch or so.
        let mut t = trainer(40.0).epochs(30).early_stopping(EarlyStopping::new(2)).check_gradients(true);
        let mut fingerprints = vec![];
        t.fit(&train, Some(&val), &mut |e: &Event<'_>| {
            if let Event::Epoch(r) = e {
                fingerprints.push((r.best, r.val.unwrap().loss));
            }
            Control::Continue
        })
        .unwrap();
        let h = t.history().clone();
        assert!(h.epochs.len() < 30, "{h}");
        assert_eq!(h.stopped, Some(Stopped::EarlyStopping { patience: 2 }));
        let best = h.best().unwrap();
        assert_eq!(h.epochs.len(), best.epoch + 2);
        // The restored weights give the best epoch's validation loss.
        if h.restored_best {
            assert_eq!(t.evaluate(&val).unwrap().loss, best.val.unwrap().loss);
        }
        let by_acc = trainer(0.5).epochs(3).early_stopping(EarlyStopping::new(5).monitor(Monitor::ValAccuracy));
        assert_eq!(by_acc.config.early_stopping.unwrap().monitor, Monitor::ValAccuracy);
    }

    #[test]
    fn a_callback_stops_training_after_the_step_it_says_so() {
        let train = blobs(100, 1);
        let mut t = trainer(0.5).epochs(3);
        t.fit(&train, None, &mut |e: &Event<'_>| match e {
            Event::Step(s) if s.step == 10 => Control::Stop,
            _ => Control::Continue,
        })
        .unwrap();
        assert_eq!((t.steps(), t.history().epochs.len()), (10, 2)); // 7 batches per epoch
        assert_eq!(t.history().stopped, Some(Stopped::Callback));
    }

    #[test]
    fn a_nan_parameter_is_refused_before_the_step_and_nothing_changes() {
        let train = blobs(100, 1);
        let mut t = trainer(0.5).epochs(3);
        t.net_mut().0.bias[1] = f32::NAN;
        let before = t.net().clone();
        let e = t.fit(&train, None, &mut ()).unwrap_err();
        assert!(matches!(
            e,
            TrainError::NonFinite {
                epoch: 1,
                step: 1,
                batch: 1,
                batches: 7,
                what: NonFinite::Parameter,
                cause: Cause::Given,
                restored: None,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "a parameter is not finite at epoch 1, step 1 (batch 1 of 7): `bias`; likely cause: it was so \
             before the step (set by hand, or loaded)"
        );
        assert_eq!((t.steps(), t.history().steps.len()), (0, 0));
        assert_eq!(t.net().0.weight, before.0.weight);
    }

    #[test]
    fn a_non_finite_gradient_is_caught_before_the_step() {
        // Huge inputs and a huge rate: the loss overflows to infinity, or a gradient does.
        let x: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { 3e38 } else { 1.0 }).collect();
        let y: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let data = Dataset::new(x, y, 2).unwrap();
        let mut t = Trainer::new(Dense::<2, 1>::new(&mut Rng::seed(0)), Sgd::new(1.0), MseLoss).batch_size(8);
        let e = t.fit(&data, None, &mut ()).unwrap_err();
        let TrainError::NonFinite { epoch: 1, step: 1, .. } = e else { panic!("{e}") };
    }

    #[test]
    fn bad_settings_are_errors() {
        let train = blobs(10, 1);
        let e = trainer(0.1).batch_size(0).fit(&train, None, &mut ()).unwrap_err();
        assert_eq!(e.to_string(), "batch size: expected at least 1");
        let e = trainer(0.1).batch_size(16).drop_last(true).fit(&train, None, &mut ()).unwrap_err();
        assert!(matches!(e, TrainError::Config { what: "training data", .. }));
        let wrong = Dataset::new(vec![0.0f32; 30], vec![0usize; 10], 3).unwrap();
        assert!(matches!(trainer(0.1).fit(&wrong, None, &mut ()), Err(TrainError::Shape(_))));
        assert!(matches!(trainer(0.1).eval_batch_size(0).evaluate(&train), Err(TrainError::Config { .. })));
    }
}
