//! Studies: run trials (in parallel on threads), keep a journal, resume, report.
//!
//! Trials run in rounds of `parallel`: every trial of a round is suggested from the
//! trials of the rounds before it (and the ones suggested earlier in its round, as
//! pending), and its pruner sees the same. So a study is a function of its settings and
//! its objective alone, not of how threads were scheduled; and a study stopped midway
//! and resumed from its journal suggests, runs and ends exactly as one never stopped.
//! ASHA's promotion form (`promote.rs`) runs one trial at a time instead, pausing trials
//! at rungs, with the same guarantees.

use std::error::Error;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::prune::{NoPruner, Pruner};
use crate::sampler::{trial_rng, Context, Observation, Reached, Sampler};
use crate::space::{Kind, SearchSpace, Space, Value};
use crate::TuneError;

mod promote;

/// Whether the objective is to be made small or large.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better (a loss, a regret).
    Minimize,
    /// Larger is better (an accuracy).
    Maximize,
}

impl Direction {
    /// `v` as samplers and pruners see it: to be minimised.
    fn orient(self, v: f64) -> f64 {
        match self {
            Direction::Minimize => v,
            Direction::Maximize => -v,
        }
    }
}

/// How a trial ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// It returned a value.
    Complete,
    /// The pruner stopped it.
    Pruned,
    /// It returned an error, a value that is not finite, or panicked.
    Failed,
}

/// The error an objective returns (through `?` on [`Trial::report`]) when the pruner
/// stopped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// The step at which it was stopped.
    pub step: usize,
}

impl fmt::Display for Pruned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pruned at step {}", self.step)
    }
}

impl Error for Pruned {}

/// What an objective returns: its value, or an error (a [`Pruned`] from
/// [`Trial::report`], or any other, which fails the trial).
pub type Objective = Result<f64, Box<dyn Error + Send + Sync>>;

/// A running trial, handed to the objective with its configuration: its number, a seed
/// for whatever the objective draws at random, and [`Trial::report`] for the pruner.
pub struct Trial {
    number: usize,
    seed: u64,
    direction: Direction,
    reports: Vec<(usize, f64)>,
    pruner: Arc<dyn Pruner>,
    others: Arc<Vec<Vec<(usize, f64)>>>,
    /// Under ASHA's promotion form: where the trial pauses and how it hears back.
    gate: Option<promote::Gate>,
}

impl Trial {
    /// The trial's number, from 0.
    pub fn number(&self) -> usize {
        self.number
    }

    /// A seed for this trial (from the study's seed and the trial's number): use it to
    /// initialise and shuffle, so that the trial is reproducible.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Reports an intermediate value (the validation accuracy after epoch `step`) and
    /// asks the pruner: `Err(Pruned)` means stop, and `?` returns it. A value that is not
    /// finite (a diverged run) stops the trial too. Under ASHA's promotion form
    /// ([`SuccessiveHalving::promotion`](crate::prune::SuccessiveHalving::promotion)) a
    /// report on a rung waits here until the study resumes the trial (`Ok`) or stops it.
    ///
    /// ```
    /// use monograd_tune::prelude::*;
    /// search_space! { struct Cfg { x: f64 = uniform(0.0, 1.0) } }
    /// let study = Study::<Cfg>::new(Random::new(0)).trials(8).pruner(MedianPruner::new().startup(2));
    /// let result = study.run(|cfg: &Cfg, trial: &mut Trial| {
    ///     for epoch in 1..=3 {
    ///         trial.report(epoch, cfg.x / epoch as f64)?;
    ///     }
    ///     Ok(cfg.x / 3.0)
    /// })?;
    /// assert!(result.trials().iter().any(|t| t.state == TrialState::Pruned));
    /// # Ok::<(), TuneError>(())
    /// ```
    pub fn report(&mut self, step: usize, value: f64) -> Result<(), Pruned> {
        self.reports.push((step, value));
        if !value.is_finite() {
            return Err(Pruned { step });
        }
        if let Some(gate) = &mut self.gate {
            return gate.pass(step, &self.reports);
        }
        let own: Vec<(usize, f64)> = self.reports.iter().map(|&(s, v)| (s, self.direction.orient(v))).collect();
        if self.pruner.prune(&own, &self.others) {
            Err(Pruned { step })
        } else {
            Ok(())
        }
    }
}

/// One finished trial, as the journal and the reports have it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRecord {
    /// The trial's number.
    pub number: usize,
    /// The seed [`Trial::seed`] gave it.
    pub seed: u64,
    /// How it ended.
    pub state: TrialState,
    /// The objective, for a complete trial.
    pub value: Option<f64>,
    /// One value per parameter of the space.
    pub values: Vec<Value>,
    /// What it reported on the way (`(step, value)`).
    pub intermediate: Vec<(usize, f64)>,
    /// Wall-clock seconds it took.
    pub seconds: f64,
    /// Why it failed.
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    monograd_tune_journal: u32,
    params: Vec<String>,
    sampler: String,
    direction: Direction,
    parallel: usize,
    seed: u64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    number: usize,
    seed: u64,
    state: TrialState,
    value: Option<f64>,
    params: Map<String, Json>,
    intermediate: Vec<(usize, Option<f64>)>,
    seconds: f64,
    error: Option<String>,
}

/// A hyperparameter search over the configurations `C` (declared with
/// [`search_space!`](crate::search_space)).
///
/// ```
/// use monograd_tune::prelude::*;
///
/// search_space! {
///     struct Cfg {
///         lr: f64 = log_uniform(1e-4, 1e-1),
///         width: usize = choice([64, 128, 256]),
///     }
/// }
///
/// let study = Study::<Cfg>::new(GpSampler::new(0)).trials(14).parallel(2);
/// // A stand-in for training: best at lr = 1e-2, width = 128.
/// let result = study.run(|cfg: &Cfg, _: &mut Trial| {
///     Ok((cfg.lr.log10() + 2.0).powi(2) + if cfg.width == 128 { 0.0 } else { 0.5 })
/// })?;
/// let best = result.best_config()?.unwrap();
/// println!("{result}\nbest: {best:?}");
/// # Ok::<(), TuneError>(())
/// ```
pub struct Study<C: SearchSpace> {
    sampler: Box<dyn Sampler>,
    pruner: Arc<dyn Pruner>,
    direction: Direction,
    trials: usize,
    parallel: usize,
    seed: u64,
    journal: Option<PathBuf>,
    stack: usize,
    _c: PhantomData<fn() -> C>,
}

impl<C: SearchSpace> Study<C> {
    /// A study of 20 trials with `sampler`, minimising, one trial at a time (each on a
    /// thread of its own), no pruner, no journal, seed 0 for the trials' own seeds.
    pub fn new(sampler: impl Sampler + 'static) -> Self {
        Self {
            sampler: Box::new(sampler),
            pruner: Arc::new(NoPruner),
            direction: Direction::Minimize,
            trials: 20,
            parallel: 1,
            seed: 0,
            journal: None,
            stack: 64 << 20,
            _c: PhantomData,
        }
    }

    /// The number of trials (a grid may end the study sooner).
    pub fn trials(mut self, n: usize) -> Self {
        self.trials = n;
        self
    }

    /// Minimise or maximise.
    pub fn direction(mut self, d: Direction) -> Self {
        self.direction = d;
        self
    }

    /// Maximise (an accuracy).
    pub fn maximize(self) -> Self {
        self.direction(Direction::Maximize)
    }

    /// The pruner that [`Trial::report`] asks.
    pub fn pruner(mut self, p: impl Pruner + 'static) -> Self {
        self.pruner = Arc::new(p);
        self
    }

    /// How many trials run at once, each on its own thread (at least 1; ASHA's promotion
    /// form runs one at a time and refuses more).
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// The seed from which each trial's [`Trial::seed`] follows.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The stack size of each trial's thread (default 64 MiB, reserved, not committed):
    /// networks built by value, as `network!`'s `new` builds them, live on it.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack = bytes;
        self
    }

    /// A journal file: every trial is appended (and synced) as it ends, and a study
    /// started on an existing journal of the same study resumes: trials already in it
    /// are not run again.
    ///
    /// ```no_run
    /// use monograd_tune::prelude::*;
    /// search_space! { struct Cfg { x: f64 = uniform(-5.0, 10.0), y: f64 = uniform(0.0, 15.0) } }
    /// // Run it, stop it at any point, run it again: it ends as if never stopped.
    /// let result = Study::<Cfg>::new(Tpe::new(0))
    ///     .trials(100)
    ///     .journal("runs/branin.jsonl")
    ///     .run(|c: &Cfg, _: &mut Trial| Ok(branin(c.x, c.y)))?;
    /// # Ok::<(), TuneError>(())
    /// ```
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// Runs the trials not yet in the journal, and returns every trial.
    pub fn run<F>(&self, objective: F) -> Result<StudyResult<C>, TuneError>
    where
        F: Fn(&C, &mut Trial) -> Objective + Sync,
    {
        let space = C::space()?;
        let header = Header {
            monograd_tune_journal: 1,
            params: space.params().iter().map(|p| p.name.clone()).collect(),
            sampler: self.sampler.name(),
            direction: self.direction,
            parallel: self.parallel,
            seed: self.seed,
        };
        let mut records: Vec<Option<TrialRecord>> = Vec::new();
        let journal = match &self.journal {
            Some(path) => Some(Mutex::new(open_journal(path, &header, &space, &mut records)?)),
            None => None,
        };
        if let Some(rungs) = self.pruner.rungs() {
            let (trials, order) = self.run_promotion(&objective, rungs, &space, journal.as_ref(), records)?;
            let sampler = self.sampler.name();
            return Ok(StudyResult { space, direction: self.direction, sampler, trials, order, _c: PhantomData });
        }
        let mut exhausted = false;
        let mut start = 0;
        while start < self.trials && !exhausted {
            let end = (start + self.parallel).min(self.trials);
            records.resize(records.len().max(end), None);
            // What this round may see: the trials of earlier rounds.
            let seen: Vec<&TrialRecord> = records[..start].iter().flatten().collect();
            let (observed, reached) =
                self.observe(seen.iter().map(|r| (r.state, r.value, &r.values[..], r.intermediate.last().copied())));
            let others: Arc<Vec<Vec<(usize, f64)>>> = Arc::new(
                seen.iter()
                    .filter(|r| r.state != TrialState::Failed)
                    .map(|r| r.intermediate.iter().map(|&(s, v)| (s, self.direction.orient(v))).collect())
                    .collect(),
            );
            let mut round: Vec<(usize, Vec<Value>)> = Vec::new();
            let mut pending: Vec<Vec<Value>> = Vec::new();
            for (number, record) in records.iter().enumerate().take(end).skip(start) {
                let values = match record {
                    Some(r) => r.values.clone(),
                    None => {
                        let cx = Context { space: &space, observed: &observed, pending: &pending, number };
                        match self.sampler.suggest_with_progress(&cx, &reached) {
                            Ok(v) => {
                                space.check(&v)?;
                                round.push((number, v.clone()));
                                v
                            }
                            Err(TuneError::Exhausted) => {
                                exhausted = true;
                                break;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                };
                pending.push(values);
            }
            let results: Vec<Result<TrialRecord, TuneError>> = std::thread::scope(|s| {
                let handles: Vec<_> = round
                    .iter()
                    .map(|(number, values)| {
                        let others = Arc::clone(&others);
                        let objective = &objective;
                        let journal = &journal;
                        let space = &space;
                        std::thread::Builder::new().name(format!("trial {number}")).stack_size(self.stack).spawn_scoped(
                            s,
                            move || {
                                let record = self.run_trial::<F>(*number, values.clone(), others, objective, None)?;
                                self.write(journal.as_ref(), space, &record)?;
                                Ok(record)
                            },
                        )
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| match h {
                        Ok(h) => {
                            h.join().unwrap_or_else(|_| Err(TuneError::Numeric("a trial's thread panicked".into())))
                        }
                        Err(e) => Err(TuneError::Numeric(format!("cannot start a trial's thread: {e}"))),
                    })
                    .collect()
            });
            for r in results {
                let r = r?;
                let n = r.number;
                records[n] = Some(r);
            }
            if exhausted {
                records.truncate(start + pending.len());
            }
            start = end;
        }
        let trials: Vec<TrialRecord> = records.into_iter().flatten().collect();
        let order = trials.iter().map(|t| (t.number, t.intermediate.len())).collect();
        Ok(StudyResult {
            space,
            direction: self.direction,
            sampler: self.sampler.name(),
            trials,
            order,
            _c: PhantomData,
        })
    }

    /// Appends a finished trial to the journal, if the study keeps one.
    fn write(&self, journal: Option<&Mutex<File>>, space: &Space, record: &TrialRecord) -> Result<(), TuneError> {
        if let (Some(j), Some(path)) = (journal, &self.journal) {
            let mut file = j.lock().unwrap_or_else(|e| e.into_inner());
            append(&mut file, path, &record_line(space, record))?;
        }
        Ok(())
    }

    /// What samplers see of earlier trials, given as (state, value, parameters, last
    /// report): each trial that did not fail, with its value, and how far each pruned
    /// one got, for samplers that rank pruned trials.
    fn observe<'a>(
        &self,
        seen: impl Iterator<Item = (TrialState, Option<f64>, &'a [Value], Option<(usize, f64)>)>,
    ) -> (Vec<Observation>, Vec<Option<Reached>>) {
        seen.filter(|(state, ..)| *state != TrialState::Failed)
            .map(|(state, value, values, last)| {
                let observed = Observation { values: values.to_vec(), value: value.map(|v| self.direction.orient(v)) };
                let reached = match (state, last) {
                    (TrialState::Pruned, Some((step, v))) if v.is_finite() => {
                        Some(Reached { step, value: self.direction.orient(v) })
                    }
                    _ => None,
                };
                (observed, reached)
            })
            .unzip()
    }

    fn run_trial<F>(
        &self,
        number: usize,
        values: Vec<Value>,
        others: Arc<Vec<Vec<(usize, f64)>>>,
        objective: &F,
        gate: Option<promote::Gate>,
    ) -> Result<TrialRecord, TuneError>
    where
        F: Fn(&C, &mut Trial) -> Objective + Sync,
    {
        let config = C::decode(&values)?;
        let seed = trial_rng(self.seed, number, 4).next_u64();
        let mut trial = Trial {
            number,
            seed,
            direction: self.direction,
            reports: Vec::new(),
            pruner: Arc::clone(&self.pruner),
            others,
            gate,
        };
        let t0 = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| objective(&config, &mut trial)));
        let seconds = t0.elapsed().as_secs_f64();
        let (state, value, error) = match outcome {
            Ok(Ok(v)) if v.is_finite() => (TrialState::Complete, Some(v), None),
            Ok(Ok(v)) => (TrialState::Failed, None, Some(format!("the objective returned {v}"))),
            Ok(Err(e)) if e.downcast_ref::<Pruned>().is_some() => (TrialState::Pruned, None, None),
            Ok(Err(e)) => (TrialState::Failed, None, Some(e.to_string())),
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                (TrialState::Failed, None, Some(format!("panicked: {msg}")))
            }
        };
        Ok(TrialRecord { number, seed, state, value, values, intermediate: trial.reports, seconds, error })
    }
}

fn record_line(space: &Space, r: &TrialRecord) -> Line {
    let params = space
        .params()
        .iter()
        .zip(&r.values)
        .map(|(p, v)| {
            let j = match (&p.kind, v) {
                (_, Value::Absent) => Json::Null,
                (Kind::Categorical { labels }, Value::Cat(k)) => Json::String(labels[*k].clone()),
                (_, Value::Int(i)) => Json::from(*i),
                (_, Value::Float(x)) => Json::from(*x),
                (_, Value::Cat(k)) => Json::from(*k),
            };
            (p.name.clone(), j)
        })
        .collect();
    Line {
        number: r.number,
        seed: r.seed,
        state: r.state,
        value: r.value,
        params,
        intermediate: r.intermediate.iter().map(|&(s, v)| (s, v.is_finite().then_some(v))).collect(),
        seconds: r.seconds,
        error: r.error.clone(),
    }
}

fn parse_line(space: &Space, line: Line) -> Result<TrialRecord, String> {
    let mut values = Vec::with_capacity(space.len());
    for p in space.params() {
        let j = line.params.get(&p.name).ok_or_else(|| format!("no value for `{}`", p.name))?;
        let v = match (&p.kind, j) {
            (_, Json::Null) => Value::Absent,
            (Kind::Float { .. }, j) => Value::Float(j.as_f64().ok_or_else(|| format!("`{}` is not a number", p.name))?),
            (Kind::Int { .. }, j) => Value::Int(j.as_i64().ok_or_else(|| format!("`{}` is not an integer", p.name))?),
            (Kind::Categorical { labels }, Json::String(s)) => Value::Cat(
                labels.iter().position(|l| l == s).ok_or_else(|| format!("`{}` has no choice `{s}`", p.name))?,
            ),
            _ => return Err(format!("`{}`: {j} is not one of its choices", p.name)),
        };
        values.push(v);
    }
    space.check(&values).map_err(|e| e.to_string())?;
    if line.state == TrialState::Complete && !line.value.is_some_and(f64::is_finite) {
        return Err("a complete trial without a finite value".into());
    }
    Ok(TrialRecord {
        number: line.number,
        seed: line.seed,
        state: line.state,
        value: line.value,
        values,
        intermediate: line.intermediate.into_iter().map(|(s, v)| (s, v.unwrap_or(f64::NAN))).collect(),
        seconds: line.seconds,
        error: line.error,
    })
}

/// Opens (or creates) the journal, checks that it belongs to this study, and reads its
/// trials into `records`. A last line cut short (the program was killed while writing it)
/// is dropped; a bad line anywhere else is an error that names it.
fn open_journal(
    path: &Path,
    header: &Header,
    space: &Space,
    records: &mut Vec<Option<TrialRecord>>,
) -> Result<File, TuneError> {
    let err = |problem: String| TuneError::Journal { path: path.to_path_buf(), problem };
    let head = serde_json::to_string(header).map_err(|e| err(e.to_string()))?;
    if path.exists() {
        let file = File::open(path).map_err(|e| err(e.to_string()))?;
        let lines: Vec<String> =
            BufReader::new(file).lines().collect::<Result<_, _>>().map_err(|e| err(e.to_string()))?;
        let mut good_bytes = 0usize;
        if let Some(first) = lines.first() {
            let h: Header =
                serde_json::from_str(first).map_err(|e| err(format!("line 1: not a journal header: {e}")))?;
            if h.params != header.params
                || h.sampler != header.sampler
                || h.direction != header.direction
                || h.parallel != header.parallel
                || h.seed != header.seed
            {
                return Err(err(format!("it belongs to another study: {first}, not {head}")));
            }
            good_bytes += first.len() + 1;
            for (i, l) in lines.iter().enumerate().skip(1) {
                let last = i + 1 == lines.len();
                let parsed =
                    serde_json::from_str::<Line>(l).map_err(|e| e.to_string()).and_then(|x| parse_line(space, x));
                match parsed {
                    Ok(r) => {
                        let n = r.number;
                        if records.len() <= n {
                            records.resize(n + 1, None);
                        }
                        records[n] = Some(r);
                        good_bytes += l.len() + 1;
                    }
                    Err(_) if last => break,
                    Err(e) => return Err(err(format!("line {}: {e}", i + 1))),
                }
            }
        }
        let file = OpenOptions::new().write(true).open(path).map_err(|e| err(e.to_string()))?;
        if good_bytes == 0 {
            let mut file = file;
            file.set_len(0).map_err(|e| err(e.to_string()))?;
            append(&mut file, path, header)?;
            return Ok(file);
        }
        // Drop a torn last line, so the next trial starts on a line of its own.
        file.set_len(good_bytes as u64).map_err(|e| err(e.to_string()))?;
        let mut file = file;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0)).map_err(|e| err(e.to_string()))?;
        Ok(file)
    } else {
        let mut file = File::create(path).map_err(|e| err(e.to_string()))?;
        append(&mut file, path, header)?;
        Ok(file)
    }
}

fn append(file: &mut File, path: &Path, line: &impl Serialize) -> Result<(), TuneError> {
    let err = |e: String| TuneError::Journal { path: path.to_path_buf(), problem: e };
    let mut text = serde_json::to_string(line).map_err(|e| err(e.to_string()))?;
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(|e| err(e.to_string()))?;
    file.sync_data().map_err(|e| err(e.to_string()))
}

/// Every trial of a study, with the best, a table (`Display`), CSV and charts
/// ([`crate::report`]).
///
/// ```
/// use monograd_tune::prelude::*;
/// search_space! { struct Cfg { x: f64 = uniform(0.0, 1.0) } }
/// let result = Study::<Cfg>::new(Random::new(0)).trials(5).maximize().run(|c: &Cfg, _: &mut Trial| Ok(c.x))?;
/// let best = result.best().unwrap();
/// assert!(result.trials().iter().all(|t| t.value <= best.value));
/// // The best so far only ever improves, and ends at the best.
/// let curve = result.best_so_far();
/// assert!(curve.windows(2).all(|w| w[1] >= w[0]));
/// assert_eq!(curve.last().copied().flatten(), best.value);
/// assert_eq!(result.best_config()?.unwrap().x, best.value.unwrap());
/// # Ok::<(), TuneError>(())
/// ```
#[derive(Clone, Debug)]
pub struct StudyResult<C> {
    pub(crate) space: Space,
    pub(crate) direction: Direction,
    pub(crate) sampler: String,
    pub(crate) trials: Vec<TrialRecord>,
    pub(crate) order: Vec<(usize, usize)>,
    _c: PhantomData<fn() -> C>,
}

impl<C: SearchSpace> StudyResult<C> {
    /// The order in which the trials trained: `(trial, steps)` for each stretch a trial
    /// ran, with the steps it reported in it. Trials run whole, in number order (those of
    /// a round side by side); under ASHA's promotion form a trial runs from rung to rung,
    /// as the study resumed it. What a search cost up to a point is the sum of the steps
    /// before it.
    ///
    /// ```
    /// use monograd_tune::prelude::*;
    /// search_space! { struct Cfg { x: f64 = uniform(0.0, 1.0) } }
    /// let result = Study::<Cfg>::new(Random::new(0))
    ///     .trials(6)
    ///     .pruner(SuccessiveHalving::new(1, 3).promotion())
    ///     .run(|c: &Cfg, t: &mut Trial| {
    ///         for step in 1..=2 {
    ///             t.report(step, c.x)?;
    ///         }
    ///         Ok(c.x)
    ///     })?;
    /// // Every step trained is in the order once.
    /// let steps: usize = result.order().iter().map(|&(_, s)| s).sum();
    /// assert_eq!(steps, result.trials().iter().map(|t| t.intermediate.len()).sum::<usize>());
    /// // The first three trials paused at rung 1 before the best of them went on.
    /// assert_eq!(&result.order()[..3], &[(0, 1), (1, 1), (2, 1)]);
    /// # Ok::<(), TuneError>(())
    /// ```
    pub fn order(&self) -> &[(usize, usize)] {
        &self.order
    }

    /// Every trial, by number.
    pub fn trials(&self) -> &[TrialRecord] {
        &self.trials
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// The direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The complete trial with the best value (the first, on a tie).
    pub fn best(&self) -> Option<&TrialRecord> {
        let d = self.direction;
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .min_by(|a, b| d.orient(a.value.unwrap_or(0.0)).total_cmp(&d.orient(b.value.unwrap_or(0.0))))
    }

    /// The best trial's configuration.
    pub fn best_config(&self) -> Result<Option<C>, TuneError> {
        self.best().map(|t| C::decode(&t.values)).transpose()
    }

    /// The best value after each trial (as many as trials; `None` before the first
    /// complete one).
    pub fn best_so_far(&self) -> Vec<Option<f64>> {
        let d = self.direction;
        let mut best: Option<f64> = None;
        self.trials
            .iter()
            .map(|t| {
                if let Some(v) = t.value {
                    if best.is_none_or(|b| d.orient(v) < d.orient(b)) {
                        best = Some(v);
                    }
                }
                best
            })
            .collect()
    }

    /// The sampler's name.
    pub fn sampler(&self) -> &str {
        &self.sampler
    }
}
