//! A [`Trainer`]'s checkpoints: the low-level checkpoint (model, optimizer, run) plus what
//! the trainer keeps (the open epoch's sums, the history, early stopping's state and best
//! weights), so that a fresh trainer continues the run bit-identically.

use std::borrow::{Cow, ToOwned};
use std::path::Path as FsPath;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use ::safetensors::Dtype;
use monograd_core::boxed::{boxed_clone, InPlace};
use monograd_core::Network;

use super::{Open, Trainer};
use crate::loss::Loss;
use crate::optim::OptimizerState;
use crate::serialize::checkpoint::{self, Extra, Metadata, RunState};
use crate::serialize::names::Prefix;
use crate::serialize::safetensors::header::Source;
use crate::serialize::safetensors::{commit, model_wants, Element, Holds, Want};
use crate::serialize::SerializeError;
use crate::train::history::EpochReport;
use crate::train::metric::{Metrics, Target};

/// Columns of `trainer.history.epochs`, one row per epoch (`NaN` for an absent value).
const COLUMNS: [&str; 14] = [
    "epoch",
    "epochs",
    "train_loss",
    "train_accuracy",
    "train_samples",
    "has_val",
    "val_loss",
    "val_accuracy",
    "val_samples",
    "lr",
    "steps",
    "train_seconds",
    "val_seconds",
    "best",
];

/// The prefix of the best epoch's weights, kept for early stopping.
const BEST: &str = "trainer.best.";

/// One row of `trainer.history.epochs`.
fn row(r: &EpochReport) -> [f64; 14] {
    let opt = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let val = r.val.unwrap_or(Metrics { loss: f64::NAN, accuracy: None, samples: 0 });
    [
        r.epoch as f64,
        r.epochs as f64,
        r.train.loss,
        opt(r.train.accuracy),
        r.train.samples as f64,
        f64::from(u8::from(r.val.is_some())),
        val.loss,
        opt(val.accuracy),
        val.samples as f64,
        r.lr,
        r.steps as f64,
        r.train_seconds,
        r.val_seconds,
        f64::from(u8::from(r.best)),
    ]
}

/// The report of a row (counts are whole numbers below 2^53, so exact).
fn report(c: &[f64]) -> EpochReport {
    let get = |i: usize| c.get(i).copied().unwrap_or(f64::NAN);
    // `as` saturates (NaN to 0): a tampered row gives odd numbers, never a panic.
    let count = |i: usize| get(i) as usize;
    let opt = |v: f64| (!v.is_nan()).then_some(v);
    EpochReport {
        epoch: count(0),
        epochs: count(1),
        train: Metrics { loss: get(2), accuracy: opt(get(3)), samples: count(4) },
        val: (get(5) != 0.0).then(|| Metrics { loss: get(6), accuracy: opt(get(7)), samples: count(8) }),
        lr: get(9),
        steps: count(10),
        train_seconds: get(11),
        val_seconds: get(12),
        best: get(13) != 0.0,
    }
}

/// The trainer's fields of a checkpoint, parsed and checked before anything changes.
struct Fields {
    batch_size: usize,
    steps: usize,
    epochs: usize,
    history_steps: usize,
    open: Option<Open>,
    since_best: usize,
    best: Option<usize>,
    best_weights: bool,
}

fn fields(meta: &Metadata<'_>, run: &RunState, batch_size: usize, drop_last: bool) -> Result<Fields, SerializeError> {
    let saved: usize = meta.parse("trainer.batch_size")?;
    if saved != batch_size {
        let problem = format!("the run used batches of {saved}, this trainer {batch_size}: set `batch_size({saved})`");
        return Err(meta.error("trainer.batch_size", &problem));
    }
    let saved: bool = meta.parse("trainer.drop_last")?;
    if saved != drop_last {
        let problem = format!("the run used `drop_last({saved})`, this trainer `drop_last({drop_last})`");
        return Err(meta.error("trainer.drop_last", &problem));
    }
    let epochs: usize = meta.parse("trainer.history.epochs")?;
    if run.epoch != epochs as u64 {
        let problem = format!("epoch {} in progress, but {epochs} epochs in the history", run.epoch);
        return Err(meta.error("run.epoch", &problem));
    }
    // Every count below is checked against what a run can reach, so that the run's own
    // arithmetic on them cannot overflow. The history's length is bounded by the file.
    let steps: usize = meta.parse("run.step")?;
    let history_steps: usize = meta.parse("trainer.history.steps")?;
    if steps != history_steps {
        let problem = format!("{steps} steps, but the history records {history_steps}");
        return Err(meta.error("run.step", &problem));
    }
    let open = if meta.parse("trainer.open")? {
        let rng = run.rng("augment").ok_or_else(|| meta.error("run.rng.augment", "missing for an open epoch"))?;
        if run.position == 0 {
            return Err(meta.error("run.position", "0 for an open epoch"));
        }
        let open = Open {
            position: run.position,
            batch: meta.parse("trainer.batch")?,
            loss_sum: meta.parse("trainer.loss_sum")?,
            correct: meta.parse("trainer.correct")?,
            samples: meta.parse("trainer.samples")?,
            rng,
            seconds: meta.parse("trainer.seconds")?,
        };
        // Mid-epoch, every batch served was whole.
        if open.batch.checked_mul(batch_size) != Some(open.position) {
            let problem = format!("{} batches of {batch_size} do not serve {} samples", open.batch, open.position);
            return Err(meta.error("trainer.batch", &problem));
        }
        if open.batch > steps {
            let problem = format!("{} batches in the epoch, but {steps} steps in the run", open.batch);
            return Err(meta.error("trainer.batch", &problem));
        }
        if open.samples != open.position {
            let problem = format!("{} samples summed, but {} served", open.samples, open.position);
            return Err(meta.error("trainer.samples", &problem));
        }
        if open.correct > open.samples {
            let problem = format!("{} correct of {} samples", open.correct, open.samples);
            return Err(meta.error("trainer.correct", &problem));
        }
        if !open.loss_sum.is_finite() {
            return Err(meta.error("trainer.loss_sum", "not finite"));
        }
        if !(open.seconds >= 0.0 && open.seconds.is_finite()) {
            return Err(meta.error("trainer.seconds", "not a finite time"));
        }
        Some(open)
    } else {
        if run.position != 0 {
            return Err(meta.error("run.position", &format!("{} samples served, but no epoch is open", run.position)));
        }
        None
    };
    let since_best: usize = meta.parse("trainer.since_best")?;
    if since_best > epochs {
        let problem = format!("{since_best} epochs without improvement, of {epochs}");
        return Err(meta.error("trainer.since_best", &problem));
    }
    let best = match meta.get("trainer.best")? {
        "none" => None,
        _ => {
            let best: usize = meta.parse("trainer.best")?;
            if best >= epochs {
                return Err(meta.error("trainer.best", &format!("epoch index {best} of {epochs}")));
            }
            Some(best)
        }
    };
    Ok(Fields {
        batch_size,
        steps,
        epochs,
        history_steps,
        open,
        since_best,
        best,
        best_weights: meta.parse("trainer.best_weights")?,
    })
}

/// Checks the history's rows (read from the file) against the run: epochs numbered in
/// order, counts that are whole numbers, and steps that follow from the samples of each
/// epoch and the batch size and add up to the run's step; then the optimizer's step
/// counts, which cannot exceed the run's.
fn check_rows(f: &Fields, rows: &[u8], optimizer: &[(String, u64)]) -> Result<(), (&'static str, String)> {
    let f64s: Vec<f64> = rows.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default())).collect();
    // Whole numbers that f64 holds exactly (to 2^53).
    let whole = |v: f64| (0.0..=9_007_199_254_740_992.0).contains(&v) && v.fract() == 0.0;
    let mut steps = 0usize;
    for (i, row) in f64s.chunks_exact(COLUMNS.len()).enumerate() {
        let epoch = i + 1;
        let bad =
            |column: &str, problem: &str| ("trainer.history.epochs", format!("epoch {epoch}, `{column}`: {problem}"));
        for c in [0, 1, 4, 10] {
            if !whole(row[c]) {
                return Err(bad(COLUMNS[c], &format!("{} is not a count", row[c])));
            }
        }
        if row[0] != epoch as f64 || row[1] < row[0] {
            return Err(bad("epoch", &format!("epoch {} of {}", row[0], row[1])));
        }
        for c in [5, 13] {
            if row[c] != 0.0 && row[c] != 1.0 {
                return Err(bad(COLUMNS[c], &format!("{} is not a flag", row[c])));
            }
        }
        if row[5] == 1.0 && !whole(row[8]) {
            return Err(bad("val_samples", &format!("{} is not a count", row[8])));
        }
        // Every batch of an epoch is whole but perhaps its last.
        let batches = (row[4] as usize).div_ceil(f.batch_size);
        steps = steps.checked_add(batches).filter(|&s| s as f64 == row[10]).ok_or_else(|| {
            bad(
                "steps",
                &format!(
                    "{} steps, but {} after {} samples in batches of {}",
                    row[10],
                    steps + batches,
                    row[4],
                    f.batch_size
                ),
            )
        })?;
    }
    let open = f.open.as_ref().map_or(0, |o| o.batch);
    if steps.checked_add(open) != Some(f.steps) {
        let problem = format!(
            "{} steps, but the history's epochs and the open epoch make {}",
            f.steps,
            steps.saturating_add(open)
        );
        return Err(("run.step", problem));
    }
    for (name, value) in optimizer {
        if checkpoint::is_step_count(name) && *value > f.steps as u64 {
            return Err(("optimizer.step", format!("`{name}` is {value}, beyond the run's {} steps", f.steps)));
        }
    }
    Ok(())
}

impl<N, O, L, Y, T> Trainer<N, O, L, Y, T>
where
    N: Network<T> + InPlace,
    O: OptimizerState<T>,
    L: Loss<T, Target = [Y]>,
    Y: Target,
    T: Element,
{
    /// Saves the run to `path` as a checkpoint, replacing any previous file atomically:
    /// the network (every tensor and counter: BatchNorm's statistics, Dropout's seed and
    /// step), the optimizer's state, the step, where the data stands (epoch, position,
    /// shuffle seed), the augmentation generator, the open epoch's sums, the history, and
    /// early stopping's state with the best weights.
    ///
    /// Save between epochs, or mid-epoch after a [`Control::Pause`](super::Control::Pause);
    /// [`Trainer::load_checkpoint`] on a trainer built the same way continues the run as if
    /// it had never stopped.
    ///
    /// ```
    /// use monograd_core::Rng;
    /// use monograd_nn::data::Dataset;
    /// use monograd_nn::train::{Control, Event, Trainer};
    /// use monograd_nn::{Adam, CrossEntropyLoss};
    /// # type Net = monograd_nn::train::testing::Dense<2, 2>;
    /// # let dir = std::env::temp_dir().join(format!("monograd-doc-trainer-ckpt-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("run.ckpt.safetensors");
    /// let x: Vec<f32> = (0..64).map(|i| (i % 7) as f32 - 3.0).collect();
    /// let y: Vec<usize> = x.chunks(2).map(|s| usize::from(s[0] > s[1])).collect();
    /// let data = Dataset::new(x, y, 2)?;
    /// let trainer = |seed| Trainer::new(Net::new(&mut Rng::seed(seed)), Adam::new(0.01), CrossEntropyLoss::new())
    ///     .epochs(3)
    ///     .batch_size(8)
    ///     .seed(seed);
    ///
    /// // Pause after step 6 (mid-epoch: 4 batches per epoch) and save.
    /// let mut first = trainer(1);
    /// first.fit(&data, None, &mut |e: &Event<'_>| match e {
    ///     Event::Step(s) if s.step == 6 => Control::Pause,
    ///     _ => Control::Continue,
    /// })?;
    /// assert!(first.is_mid_epoch());
    /// first.save_checkpoint(&path)?;
    ///
    /// // Another process, another seed: the checkpoint brings everything back.
    /// let mut second = trainer(2);
    /// second.load_checkpoint(&path)?;
    /// second.fit(&data, None, &mut ())?;
    /// first.fit(&data, None, &mut ())?;
    /// assert_eq!(second.net(), first.net());
    /// assert_eq!(second.history().steps, first.history().steps);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SerializeError::Io`] if the file cannot be written (the previous one stays
    /// intact).
    pub fn save_checkpoint(&self, path: impl AsRef<FsPath>) -> Result<(), SerializeError> {
        let path = path.as_ref();
        let bytes = self.encode_checkpoint(path)?;
        checkpoint::write(path, &bytes)
    }

    /// The bytes [`Trainer::save_checkpoint`] would write.
    ///
    /// # Errors
    /// As [`Trainer::save_checkpoint`], except for I/O.
    pub fn checkpoint_bytes(&self) -> Result<Vec<u8>, SerializeError> {
        self.encode_checkpoint(FsPath::new("<memory>"))
    }

    /// Continues the run saved in the checkpoint at `path`: the network, the optimizer's
    /// state, the step, the data cursor and shuffle seed ([`Trainer::seed`] is set to the
    /// run's), the open epoch, the history and early stopping's state. Build the trainer as
    /// the run's was (network type, optimizer, loss, schedule, batch size, augmentation):
    /// the schedule and the augmentation are code, not state. The next [`Trainer::fit`]
    /// continues where the run stood.
    ///
    /// # Errors
    /// Everything is checked before anything changes; on an error the trainer is as it
    /// was. The errors of [`checkpoint::load`], and [`SerializeError::Checkpoint`] for a
    /// batch size or `drop_last` that differs from the run's, or a checkpoint saved
    /// without a trainer.
    pub fn load_checkpoint(&mut self, path: impl AsRef<FsPath>) -> Result<(), SerializeError> {
        let path = path.as_ref();
        let src = checkpoint::open(path)?;
        self.decode_checkpoint(src, path)
    }

    /// [`Trainer::load_checkpoint`] from the bytes of a file.
    ///
    /// # Errors
    /// As [`Trainer::load_checkpoint`].
    pub fn load_checkpoint_bytes(&mut self, bytes: &[u8]) -> Result<(), SerializeError> {
        self.decode_checkpoint(Source::Slice(bytes), FsPath::new("<memory>"))
    }

    fn encode_checkpoint(&self, path: &FsPath) -> Result<Vec<u8>, SerializeError> {
        let mut run = RunState { step: self.steps as u64, shuffle_seed: self.config.seed, ..RunState::default() };
        run.set_cursor(self.cursor());
        let mut extra = Extra::default();
        extra.meta("trainer.batch_size", self.config.batch_size);
        extra.meta("trainer.drop_last", self.config.drop_last);
        extra.meta("trainer.open", self.open.is_some());
        if let Some(o) = &self.open {
            run.set_rng("augment", &o.rng);
            extra.meta("trainer.batch", o.batch);
            // `{}` of an f64 parses back to the same bits: the epoch's loss stays exact.
            extra.meta("trainer.loss_sum", o.loss_sum);
            extra.meta("trainer.correct", o.correct);
            extra.meta("trainer.samples", o.samples);
            extra.meta("trainer.seconds", o.seconds);
        }
        extra.meta("trainer.since_best", self.since_best);
        match self.history.best {
            Some(b) => extra.meta("trainer.best", b),
            None => extra.meta("trainer.best", "none"),
        }
        extra.meta("trainer.best_weights", self.best.is_some());
        let h = &self.history;
        extra.meta("trainer.history.epochs", h.epochs.len());
        extra.meta("trainer.history.steps", h.steps.len());
        extra.f64s("trainer.history.epochs", vec![h.epochs.len(), COLUMNS.len()], h.epochs.iter().flat_map(row));
        extra.f64s("trainer.history.step_position", vec![h.steps.len()], h.steps.iter().map(|s| s.0));
        extra.f32s("trainer.history.step_loss", vec![h.steps.len()], h.steps.iter().map(|s| s.1));
        if let Some(best) = &self.best {
            extra.module(BEST, &**best);
        }
        checkpoint::encode(&*self.net, &self.optimizer, &run, extra, path)
    }

    fn decode_checkpoint(&mut self, src: Source<'_>, path: &FsPath) -> Result<(), SerializeError> {
        let (batch_size, drop_last) = (self.config.batch_size, self.config.drop_last);
        let mut best_wants = Vec::new();
        model_wants(&*self.net, &Prefix(BEST), None, &mut best_wants);
        let (run, (f, read)) = checkpoint::decode(
            &mut *self.net,
            &mut self.optimizer,
            src,
            path,
            None,
            |meta, run| {
                let f = fields(meta, run, batch_size, drop_last)?;
                let exact = |file: &str, shape: Vec<usize>, dtype| Want {
                    model: file.into(),
                    file: file.into(),
                    shape: Cow::Owned(shape),
                    holds: Holds::Exact(dtype),
                };
                let mut wants = vec![
                    exact("trainer.history.epochs", vec![f.epochs, COLUMNS.len()], Dtype::F64),
                    exact("trainer.history.step_position", vec![f.history_steps], Dtype::F64),
                    exact("trainer.history.step_loss", vec![f.history_steps], Dtype::F32),
                ];
                if f.best_weights {
                    wants.extend(best_wants);
                }
                Ok((wants, f))
            },
            |f, optimizer, exact| {
                let rows = exact.first().map_or(&[][..], Vec::as_slice);
                check_rows(f, rows, optimizer).map_err(|(key, problem)| SerializeError::Checkpoint {
                    path: path.to_owned(),
                    problem: format!("`{key}`: {problem}"),
                })
            },
        )?;

        // Everything was read and checked, and the network and optimizer are restored:
        // now the trainer's own state, which cannot fail.
        let f64s = |b: &[u8]| -> Vec<f64> {
            b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default())).collect()
        };
        let [epochs, positions, losses] = [0, 1, 2].map(|i| read.exact.get(i).map_or(&[][..], Vec::as_slice));
        self.history.epochs = f64s(epochs).chunks_exact(COLUMNS.len()).map(report).collect();
        let losses = losses.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()));
        self.history.steps = f64s(positions).into_iter().zip(losses).collect();
        self.history.best = f.best;
        self.history.stopped = None;
        self.history.restored_best = false;
        self.since_best = f.since_best;
        self.best = f.best_weights.then(|| {
            let mut best = boxed_clone(&*self.net);
            commit(&mut *best, &read.values, &read.counters, None);
            best
        });
        self.steps = f.steps;
        self.config.seed = run.shuffle_seed;
        self.open = f.open;
        self.requested = super::Control::Continue;
        Ok(())
    }
}
