//! ASHA's promotion form (Li et al. 2020, Algorithm 2) for one trial at a time: a trial
//! reaching a rung pauses inside [`Trial::report`] (its thread waits on a channel); the
//! study then resumes the best paused trial that may go on, or starts a new one. The
//! objective needs no checkpoints: a paused trial is a waiting thread.
//!
//! Resuming from a journal replays the same decisions: a trial in the journal is played
//! back from its reports (it pauses where they cross a rung), and one the journal does not
//! know far enough (it was paused when the study stopped, or was stopped at the end of a
//! shorter study) is trained again from its seed, passing the rungs it had passed, so the
//! study ends as one never stopped.

use std::collections::BTreeSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;

use super::{Objective, Pruned, Study, Trial, TrialRecord, TrialState};
use crate::prune::Rungs;
use crate::sampler::Context;
use crate::space::{SearchSpace, Space, Value};
use crate::TuneError;

/// The stretches trials trained in, in order: `(trial, steps)`.
type Order = Vec<(usize, usize)>;

/// What a trial's thread tells the study.
pub(super) enum Msg {
    /// Paused at a rung, with its reports so far, waiting for `true` (go on) or `false`
    /// (stop).
    Paused { step: usize, reports: Vec<(usize, f64)> },
    /// The objective returned.
    Done(Result<TrialRecord, TuneError>),
}

/// A trial's side of the channel: where it pauses and how it hears back.
pub(super) struct Gate {
    rungs: Rungs,
    /// Rungs up to this step were passed before (a trial trained again to resume it).
    passed: usize,
    tx: Sender<Msg>,
    rx: Receiver<bool>,
}

impl Gate {
    /// At a rung not passed yet: pause until the study decides.
    pub(super) fn pass(&mut self, step: usize, reports: &[(usize, f64)]) -> Result<(), Pruned> {
        if step <= self.passed || self.rungs.index(step).is_none() {
            return Ok(());
        }
        if self.tx.send(Msg::Paused { step, reports: reports.to_vec() }).is_err() {
            return Err(Pruned { step });
        }
        match self.rx.recv() {
            Ok(true) => {
                self.passed = step;
                Ok(())
            }
            _ => Err(Pruned { step }),
        }
    }
}

/// One trial as the scheduler sees it.
struct Slot {
    values: Vec<Value>,
    /// Reports so far (raw values), up to the pause.
    reports: Vec<(usize, f64)>,
    /// The step it is paused at (0 before it starts).
    at: usize,
    /// A live thread waiting at `at`: how to wake it, and where it answers.
    live: Option<(Sender<bool>, Receiver<Msg>)>,
    /// The finished record, once it ended.
    done: Option<TrialRecord>,
}

/// Where a step took a trial.
enum Outcome {
    Paused,
    Finished,
}

impl<C: SearchSpace> Study<C> {
    /// Runs the study under ASHA's promotion form; `known` holds the journal's trials.
    pub(super) fn run_promotion<F>(
        &self,
        objective: &F,
        rungs: Rungs,
        space: &Space,
        journal: Option<&Mutex<std::fs::File>>,
        known: Vec<Option<TrialRecord>>,
    ) -> Result<(Vec<TrialRecord>, Order), TuneError>
    where
        F: Fn(&C, &mut Trial) -> Objective + Sync,
    {
        if self.parallel != 1 {
            return Err(TuneError::Space(format!(
                "ASHA's promotion form runs one trial at a time, so that the study does not depend on timing: \
                 set parallel(1), not {}",
                self.parallel
            )));
        }
        let eta = rungs.reduction.max(2);
        let known_at = |n: usize| known.get(n).and_then(Option::as_ref);
        let mut slots: Vec<Slot> = Vec::new();
        // Per rung: (oriented value, trial) of every trial that reached it.
        let mut reached: Vec<Vec<(f64, usize)>> = Vec::new();
        let mut promoted: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut order: Vec<(usize, usize)> = Vec::new();
        std::thread::scope(|s| -> Result<(), TuneError> {
            let mut schedule = || -> Result<(), TuneError> {
                loop {
                    let job = promotable(&reached, &promoted, eta);
                    let n = if let Some((k, n)) = job {
                        promoted.insert((k, n));
                        n
                    } else if slots.len() < self.trials {
                        let n = slots.len();
                        let values = match known_at(n) {
                            Some(r) => r.values.clone(),
                            None => match self.suggest(space, &slots, n) {
                                Ok(v) => v,
                                Err(TuneError::Exhausted) => break,
                                Err(e) => return Err(e),
                            },
                        };
                        slots.push(Slot { values, reports: Vec::new(), at: 0, live: None, done: None });
                        n
                    } else {
                        break;
                    };
                    let before = slots[n].reports.len();
                    let outcome = self.advance(s, objective, rungs, &mut slots[n], n, known_at(n))?;
                    let after = match &slots[n].done {
                        Some(r) => r.intermediate.len(),
                        None => slots[n].reports.len(),
                    };
                    order.push((n, after.saturating_sub(before)));
                    match outcome {
                        Outcome::Paused => {
                            let slot = &slots[n];
                            let Some(k) = rungs.index(slot.at) else {
                                return Err(TuneError::Numeric(format!(
                                    "trial {n} paused off the rungs, at {}",
                                    slot.at
                                )));
                            };
                            let value = slot.reports.last().map_or(f64::NAN, |&(_, v)| self.direction.orient(v));
                            if reached.len() <= k {
                                reached.resize(k + 1, Vec::new());
                            }
                            reached[k].push((value, n));
                        }
                        Outcome::Finished => {
                            // A record played back from the journal is there already.
                            if let Some(r) = slots[n].done.as_ref().filter(|&r| known_at(n) != Some(r)) {
                                self.write(journal, space, r)?;
                            }
                        }
                    }
                }
                // Nothing left to start or promote: the paused trials stop where they are.
                for (n, slot) in slots.iter_mut().enumerate() {
                    if slot.done.is_some() {
                        continue;
                    }
                    let record = match slot.live.take() {
                        Some((wake, answer)) => {
                            let _ = wake.send(false);
                            match answer.recv() {
                                Ok(Msg::Done(r)) => r?,
                                _ => {
                                    return Err(TuneError::Numeric(format!(
                                        "trial {n}'s thread ended without a record"
                                    )))
                                }
                            }
                        }
                        // Played back from the journal: it stopped here in the run that wrote it.
                        None => self.stopped(slot, n, known_at(n)),
                    };
                    if known_at(n) != Some(&record) {
                        self.write(journal, space, &record)?;
                    }
                    slot.done = Some(record);
                }
                Ok(())
            };
            let result = schedule();
            if result.is_err() {
                // Wake every paused trial with a closed channel, so that its objective
                // returns and the scope can end.
                for slot in &mut slots {
                    slot.live = None;
                }
            }
            result
        })?;
        Ok((slots.into_iter().filter_map(|s| s.done).collect(), order))
    }

    /// Takes trial `n` from where it is to its next pause or its end: by waking its
    /// thread, by playing back its journal record, or by training it (again).
    fn advance<'scope, 'env, F>(
        &'env self,
        s: &'scope std::thread::Scope<'scope, 'env>,
        objective: &'env F,
        rungs: Rungs,
        slot: &mut Slot,
        n: usize,
        known: Option<&TrialRecord>,
    ) -> Result<Outcome, TuneError>
    where
        F: Fn(&C, &mut Trial) -> Objective + Sync,
    {
        let (wake, answer) = if let Some((wake, answer)) = slot.live.take() {
            let _ = wake.send(true);
            (wake, answer)
        } else if let Some(r) = known.filter(|r| !needs_training(r, slot.at)) {
            // Played back: the next finite report on a rung past `at` is a pause, as it
            // was when the record was written.
            let next = r
                .intermediate
                .iter()
                .position(|&(step, v)| step > slot.at && v.is_finite() && rungs.index(step).is_some());
            return Ok(match next {
                Some(i) => {
                    slot.reports = r.intermediate[..=i].to_vec();
                    slot.at = r.intermediate[i].0;
                    Outcome::Paused
                }
                None => {
                    slot.done = Some(r.clone());
                    Outcome::Finished
                }
            });
        } else {
            let (tx, answer) = mpsc::channel();
            let (wake, rx) = mpsc::channel();
            let gate = Gate { rungs, passed: slot.at, tx: tx.clone(), rx };
            let values = slot.values.clone();
            std::thread::Builder::new()
                .name(format!("trial {n}"))
                .stack_size(self.stack)
                .spawn_scoped(s, move || {
                    let record = self.run_trial::<F>(n, values, std::sync::Arc::default(), objective, Some(gate));
                    let _ = tx.send(Msg::Done(record));
                })
                .map_err(|e| TuneError::Numeric(format!("cannot start a trial's thread: {e}")))?;
            (wake, answer)
        };
        match answer.recv() {
            Ok(Msg::Paused { step, reports }) => {
                slot.at = step;
                slot.reports = reports;
                slot.live = Some((wake, answer));
                Ok(Outcome::Paused)
            }
            Ok(Msg::Done(r)) => {
                slot.done = Some(r?);
                Ok(Outcome::Finished)
            }
            Err(_) => Err(TuneError::Numeric(format!("trial {n}'s thread ended without a record"))),
        }
    }

    /// A played-back trial stopped where it is paused: its record if the record ends
    /// there, else the record cut there (a shorter study than the one that wrote it).
    fn stopped(&self, slot: &Slot, n: usize, known: Option<&TrialRecord>) -> TrialRecord {
        match known {
            Some(r) if r.intermediate.last().is_some_and(|&(step, _)| step == slot.at) => r.clone(),
            _ => TrialRecord {
                number: n,
                seed: known.map_or(0, |r| r.seed),
                state: TrialState::Pruned,
                value: None,
                values: slot.values.clone(),
                intermediate: slot.reports.clone(),
                seconds: known.map_or(0.0, |r| r.seconds),
                error: None,
            },
        }
    }

    /// A configuration for trial `n`, from every trial before it: finished ones as they
    /// ended, paused ones as pruned where they wait.
    fn suggest(&self, space: &Space, slots: &[Slot], n: usize) -> Result<Vec<Value>, TuneError> {
        let (observed, progress) = self.observe(slots.iter().map(|slot| match &slot.done {
            Some(r) => (r.state, r.value, &r.values[..], r.intermediate.last().copied()),
            None => (TrialState::Pruned, None, &slot.values[..], slot.reports.last().copied()),
        }));
        let cx = Context { space, observed: &observed, pending: &[], number: n };
        let values = self.sampler.suggest_with_progress(&cx, &progress)?;
        space.check(&values)?;
        Ok(values)
    }
}

/// The highest rung's first trial that is among the best `1/η` of its rung and not yet
/// promoted from it: `(rung, trial)`.
fn promotable(
    reached: &[Vec<(f64, usize)>],
    promoted: &BTreeSet<(usize, usize)>,
    eta: usize,
) -> Option<(usize, usize)> {
    for k in (0..reached.len()).rev() {
        let mut ranked = reached[k].clone();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let top = ranked.len() / eta;
        if let Some(&(_, n)) = ranked[..top].iter().find(|(_, n)| !promoted.contains(&(k, *n))) {
            return Some((k, n));
        }
    }
    None
}

/// Whether a journal record cannot be played back past step `at`: it was stopped there
/// (paused at the end of the study that wrote it), so going on means training it again.
fn needs_training(r: &TrialRecord, at: usize) -> bool {
    at > 0
        && r.state == TrialState::Pruned
        && r.intermediate.last().is_some_and(|&(step, v)| step <= at && v.is_finite())
}
