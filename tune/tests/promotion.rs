//! ASHA's promotion form end to end: trials pause at rungs and the best go on, nothing is
//! decided on fewer than `η` values, the study is deterministic, and a study killed at any
//! point resumes from its journal to the same result.

use std::path::PathBuf;

use monograd_tune::prelude::*;
use monograd_tune::space::Value;
use monograd_tune::study::TrialRecord;

search_space! {
    struct P {
        x: f64 = uniform(0.0, 1.0),
    }
}

/// A noisy learning curve, minimised: `x` plus noise that fades with the steps.
fn curve(x: f64, seed: u64, step: usize) -> f64 {
    x + ((seed >> (step % 13)) % 5) as f64 * 0.05 / step as f64
}

fn promotion_study(journal: Option<&PathBuf>, trials: usize) -> Vec<TrialRecord> {
    let (trials, order) = promotion_study_order(journal, trials);
    // Every step trained is in the order once, each trial's stretches in turn.
    for t in &trials {
        let steps: usize = order.iter().filter(|&&(n, _)| n == t.number).map(|&(_, s)| s).sum();
        assert_eq!(steps, t.intermediate.len(), "trial {}", t.number);
    }
    trials
}

/// The study's trials and the order in which they trained.
fn promotion_study_order(journal: Option<&PathBuf>, trials: usize) -> (Vec<TrialRecord>, Vec<(usize, usize)>) {
    let mut study =
        Study::<P>::new(Tpe::new(3).startup(4)).trials(trials).seed(5).pruner(SuccessiveHalving::new(1, 3).promotion());
    if let Some(j) = journal {
        study = study.journal(j);
    }
    study
        .run(|c: &P, t: &mut Trial| {
            // Rungs at 1 and 3; the last step, 6, is before the next rung (9).
            for step in 1..=6 {
                t.report(step, curve(c.x, t.seed(), step))?;
            }
            Ok(curve(c.x, t.seed(), 6))
        })
        .map(|r| (r.trials().to_vec(), r.order().to_vec()))
        .unwrap()
}

fn x(t: &TrialRecord) -> f64 {
    match t.values[0] {
        Value::Float(x) => x,
        _ => unreachable!(),
    }
}

fn same_trials(a: &[TrialRecord], b: &[TrialRecord]) {
    assert_eq!(a.len(), b.len());
    for (p, q) in a.iter().zip(b) {
        assert_eq!((p.number, p.state, p.seed), (q.number, q.state, q.seed));
        assert_eq!(x(p).to_bits(), x(q).to_bits(), "trial {}", p.number);
        assert_eq!(p.value.map(f64::to_bits), q.value.map(f64::to_bits), "trial {}", p.number);
        assert_eq!(p.intermediate, q.intermediate, "trial {}", p.number);
    }
}

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("monograd-tune-promotion-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn trials_pause_at_rungs_and_the_best_third_goes_on() {
    let trials = promotion_study(None, 27);
    assert_eq!(trials.len(), 27);
    let reached = |step: usize| trials.iter().filter(|t| t.intermediate.iter().any(|&(s, _)| s == step)).count();
    assert_eq!(reached(1), 27);
    // At least a third of each rung goes on (a few more: promotions are decided as trials
    // arrive, and one that ranked high early stays promoted).
    assert!(reached(3) >= 27 / 3 && reached(3) < 27, "{} reached rung 3", reached(3));
    assert!(reached(6) >= reached(3) / 3 && reached(6) < reached(3), "{} reached the end", reached(6));
    for t in &trials {
        let last = t.intermediate.last().unwrap().0;
        match t.state {
            // Stopped where it paused: at a rung.
            TrialState::Pruned => assert!(last == 1 || last == 3, "trial {} stopped at {last}", t.number),
            TrialState::Complete => assert_eq!(last, 6),
            TrialState::Failed => panic!("trial {} failed: {:?}", t.number, t.error),
        }
    }
    // The trial that ranks first at rung 1 went on from it, and the best complete trial
    // is the best of the trials that got there.
    let at = |t: &TrialRecord, step: usize| t.intermediate.iter().find(|&&(s, _)| s == step).map(|&(_, v)| v);
    let first = trials.iter().min_by(|a, b| at(a, 1).unwrap().total_cmp(&at(b, 1).unwrap())).unwrap();
    assert!(at(first, 3).is_some(), "trial {} ranked first at rung 1 and was not promoted", first.number);
    // Deterministic: the same study again is the same, bit for bit.
    same_trials(&trials, &promotion_study(None, 27));
}

#[test]
fn nothing_is_decided_on_fewer_than_eta_values() {
    // Two trials reach rung 1: the best third of two is nobody, so neither goes on, and
    // neither was stopped before the study ran out of trials.
    let trials = promotion_study(None, 2);
    assert!(trials.iter().all(|t| t.state == TrialState::Pruned && t.intermediate.len() == 1));
    // With three, the best of them goes on.
    let trials = promotion_study(None, 3);
    let best = trials.iter().min_by(|a, b| a.intermediate[0].1.total_cmp(&b.intermediate[0].1)).unwrap();
    assert!(best.intermediate.len() > 1);
    assert_eq!(trials.iter().filter(|t| t.intermediate.len() > 1).count(), 1);
}

#[test]
fn a_resumed_promotion_study_ends_as_an_uninterrupted_one() {
    let whole = temp("whole.jsonl");
    let uninterrupted = promotion_study(Some(&whole), 20);
    assert!(uninterrupted.iter().any(|t| t.state == TrialState::Pruned));
    let text = std::fs::read_to_string(&whole).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 21, "a header and one line per trial");
    let (_, order) = promotion_study_order(None, 20);
    // Killed after any number of finished trials (lines are written as trials finish, so
    // trials paused at that moment are in none of them), and with a torn last line.
    let cut = temp("cut.jsonl");
    for k in [0, 1, 4, 9, 15, 20] {
        std::fs::write(&cut, lines[..=k].join("\n") + "\n").unwrap();
        let (trials, resumed_order) = promotion_study_order(Some(&cut), 20);
        same_trials(&trials, &uninterrupted);
        assert_eq!(resumed_order, order, "killed after {k} trials");
    }
    let mut torn = lines[..8].join("\n");
    torn.push('\n');
    torn.push_str(&lines[8][..lines[8].len() / 2]);
    std::fs::write(&cut, torn).unwrap();
    same_trials(&promotion_study(Some(&cut), 20), &uninterrupted);
    // A shorter study stops its paused trials at its end; carried on to 20 trials, the
    // ones that the longer study promotes are trained again from their seeds and go on.
    let short = temp("short.jsonl");
    let mut trained_again = 0;
    for n in [2, 4, 5, 7, 8, 11] {
        let _ = std::fs::remove_file(&short);
        let first = promotion_study(Some(&short), n);
        same_trials(&promotion_study(Some(&short), 20), &uninterrupted);
        // A trial the short study stopped and the long one took further was written twice.
        let again = first.iter().filter(|t| t.intermediate.len() < uninterrupted[t.number].intermediate.len()).count();
        let written = std::fs::read_to_string(&short).unwrap().lines().count();
        assert_eq!(written, 21 + again, "after {n} trials");
        trained_again += again;
    }
    assert!(trained_again > 0, "no stopped trial went on: the test does not test it");
    for p in [whole, cut, short] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn the_promotion_form_runs_one_trial_at_a_time() {
    let err = Study::<P>::new(Random::new(0))
        .parallel(2)
        .pruner(SuccessiveHalving::new(1, 3).promotion())
        .run(|c: &P, _: &mut Trial| Ok(c.x))
        .unwrap_err()
        .to_string();
    assert!(err.contains("parallel(1)"), "{err}");
}

/// Suggests like `Random` until trial `fail_at`, then fails.
struct FailsAt(usize);

impl Sampler for FailsAt {
    fn suggest(&self, cx: &monograd_tune::sampler::Context<'_>) -> Result<Vec<Value>, TuneError> {
        if cx.number == self.0 {
            return Err(TuneError::Numeric("the sampler gave up".into()));
        }
        Random::new(0).suggest(cx)
    }

    fn name(&self) -> String {
        "fails".into()
    }
}

#[test]
fn an_error_with_trials_paused_ends_the_study_instead_of_hanging() {
    // Trials 0 and 1 wait at rung 1 (two values: nobody goes on yet) when the sampler
    // fails on trial 2: their threads must be released for the study to return.
    let err = Study::<P>::new(FailsAt(2))
        .trials(5)
        .pruner(SuccessiveHalving::new(1, 3).promotion())
        .run(|c: &P, t: &mut Trial| {
            for step in 1..=3 {
                t.report(step, c.x)?;
            }
            Ok(c.x)
        })
        .unwrap_err();
    assert!(err.to_string().contains("gave up"), "{err}");
}
