//! Studies end to end: determinism of every sampler, the grid's coverage, conditional
//! parameters under TPE, pruning, and resuming from a journal.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use monograd_tune::prelude::*;
use monograd_tune::sampler::{Context, Grid, Reached};
use monograd_tune::space::Value;
use monograd_tune::study::TrialRecord;

search_space! {
    struct Cfg {
        x: f64 = uniform(-5.0, 10.0),
        lr: f64 = log_uniform(1e-4, 1e-1),
        units: usize = int_step(16, 64, 16),
        opt: &'static str = choice(["sgd", "adam", "rmsprop"]),
        momentum: Option<f64> = when(opt in ["sgd", "rmsprop"], uniform(0.0, 0.99)),
        beta: Option<f64> = when(opt == "adam", uniform(0.8, 0.999)),
    }
}

/// Best near x = 2, lr = 1e-2, 32 units, sgd with momentum 0.9.
fn objective(c: &Cfg) -> f64 {
    let opt = match (c.opt, c.momentum, c.beta) {
        ("sgd", Some(m), None) => (m - 0.9).powi(2),
        ("rmsprop", Some(m), None) => 2.0 + (m - 0.5).powi(2),
        ("adam", None, Some(b)) => 3.0 + (b - 0.9).powi(2),
        other => panic!("conditions broken: {other:?}"),
    };
    (c.x - 2.0).powi(2) / 10.0 + (c.lr.log10() + 2.0).powi(2) + (c.units as f64 - 32.0).abs() / 32.0 + opt
}

fn bits(t: &TrialRecord) -> (Vec<u64>, Option<u64>, u64) {
    let v = t
        .values
        .iter()
        .map(|v| match v {
            Value::Float(x) => x.to_bits(),
            Value::Int(i) => *i as u64,
            Value::Cat(k) => *k as u64 + (1 << 40),
            Value::Absent => u64::MAX,
        })
        .collect();
    (v, t.value.map(f64::to_bits), t.seed)
}

fn run(sampler: impl Sampler + 'static, trials: usize) -> Vec<TrialRecord> {
    Study::<Cfg>::new(sampler).trials(trials).run(|c: &Cfg, _: &mut Trial| Ok(objective(c))).unwrap().trials().to_vec()
}

#[test]
fn samplers_are_seeded_and_deterministic() {
    let same = |a: &[TrialRecord], b: &[TrialRecord]| a.iter().map(bits).eq(b.iter().map(bits));
    assert!(same(&run(Random::new(3), 15), &run(Random::new(3), 15)));
    assert!(!same(&run(Random::new(3), 15), &run(Random::new(4), 15)));
    assert!(same(&run(Tpe::new(3).startup(5), 15), &run(Tpe::new(3).startup(5), 15)));
    assert!(!same(&run(Tpe::new(3).startup(5), 15), &run(Tpe::new(4).startup(5), 15)));
    assert!(same(&run(GpSampler::new(3).startup(5), 12), &run(GpSampler::new(3).startup(5), 12)));
    assert!(same(&run(Grid::points(2), 30), &run(Grid::points(2), 30)));
    // In parallel, the same: rounds see only earlier rounds.
    let par = |s: u64| {
        Study::<Cfg>::new(Tpe::new(s).startup(4))
            .trials(12)
            .parallel(3)
            .run(|c: &Cfg, _: &mut Trial| Ok(objective(c)))
            .unwrap()
            .trials()
            .to_vec()
    };
    assert!(same(&par(1), &par(1)));
}

#[test]
fn grid_visits_every_point_once() {
    let grid = Grid::points(3);
    let space = Cfg::space().unwrap();
    let all = grid.all(&space).unwrap();
    // x, lr: 3 each; units: 3 of 4; opt: sgd and rmsprop with 3 momenta, adam with 3 betas.
    assert_eq!(all.len(), 3 * 3 * 3 * (3 + 3 + 3));
    let trials = run(grid, 1000);
    assert_eq!(trials.len(), all.len(), "the study stops when the grid is exhausted");
    let seen: Vec<Vec<Value>> = trials.iter().map(|t| t.values.clone()).collect();
    for (i, p) in all.iter().enumerate() {
        assert_eq!(seen.iter().filter(|s| *s == p).count(), 1, "point {i} {p:?}");
    }
    assert!(Grid::new().all(&space).is_err(), "floats need a number of points");
}

#[test]
fn tpe_handles_conditional_parameters() {
    let trials = run(Tpe::new(0), 60);
    let space = Cfg::space().unwrap();
    for t in &trials {
        space.check(&t.values).unwrap();
    }
    // After the random start, TPE favours the branch with the best values (sgd).
    let sgd = |ts: &[TrialRecord]| ts.iter().filter(|t| t.values[3] == Value::Cat(0)).count() as f64 / ts.len() as f64;
    assert!(sgd(&trials[30..]) > 0.6, "sgd share after 30 trials: {}", sgd(&trials[30..]));
    // .. and within it, momenta nearer the best one, 0.9, than chance (uniform on [0, 0.99]
    // is 0.41 away on average).
    let late: Vec<f64> = trials[30..]
        .iter()
        .filter_map(|t| match t.values[4] {
            Value::Float(m) if t.values[3] == Value::Cat(0) => Some((m - 0.9).abs()),
            _ => None,
        })
        .collect();
    let mean = late.iter().sum::<f64>() / late.len() as f64;
    assert!(mean < 0.3, "mean distance of momentum to 0.9: {mean}");
    let best = trials.iter().filter_map(|t| t.value).fold(f64::INFINITY, f64::min);
    let random_best = run(Random::new(0), 60).iter().filter_map(|t| t.value).fold(f64::INFINITY, f64::min);
    assert!(best < random_best, "TPE {best} vs random {random_best}");
}

#[test]
fn gp_beats_random_on_branin() {
    search_space! { struct B { x1: f64 = uniform(-5.0, 10.0), x2: f64 = uniform(0.0, 15.0) } }
    let best = |s: Box<dyn Sampler>| {
        Study::<B>::new(s)
            .trials(25)
            .run(|c: &B, _: &mut Trial| Ok(branin(c.x1, c.x2)))
            .unwrap()
            .best()
            .unwrap()
            .value
            .unwrap()
    };
    let gp = best(Box::new(GpSampler::new(0)));
    assert!(gp - monograd_tune::bench::BRANIN_MIN < 0.05, "GP-EI after 25: {gp}");
    assert!(gp < best(Box::new(Random::new(0))));
}

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("monograd-tune-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// A study with a pruner, in parallel, whose objective reports a curve per epoch.
fn study(journal: &PathBuf, trials: usize) -> Vec<TrialRecord> {
    Study::<Cfg>::new(Tpe::new(7).startup(3))
        .trials(trials)
        .parallel(2)
        .seed(11)
        .pruner(MedianPruner::new().startup(2))
        .journal(journal)
        .run(|c: &Cfg, t: &mut Trial| {
            let v = objective(c);
            for epoch in 1..=3 {
                t.report(epoch, v + 1.0 / epoch as f64)?;
            }
            Ok(v + (t.seed() % 7) as f64 * 1e-3)
        })
        .unwrap()
        .trials()
        .to_vec()
}

fn same_trials(a: &[TrialRecord], b: &[TrialRecord]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(bits(x), bits(y), "trial {}", x.number);
        assert_eq!((x.number, x.state), (y.number, y.state));
        assert_eq!(x.intermediate, y.intermediate, "trial {}", x.number);
    }
}

#[test]
fn a_resumed_study_ends_as_an_uninterrupted_one() {
    let whole = temp("whole.jsonl");
    let uninterrupted = study(&whole, 10);
    assert!(uninterrupted.iter().any(|t| t.state == TrialState::Pruned), "the pruner takes part");

    // Stopped after 4 trials, then resumed to 10.
    let cut = temp("cut.jsonl");
    let first = study(&cut, 4);
    assert_eq!(first.len(), 4);
    same_trials(&first, &uninterrupted[..4]);
    same_trials(&study(&cut, 10), &uninterrupted);

    // Killed while writing trial 5: the journal ends with half a line.
    let torn = temp("torn.jsonl");
    let text = std::fs::read_to_string(&whole).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = lines[..6].join("\n");
    kept.push('\n');
    kept.push_str(&lines[6][..lines[6].len() / 2]);
    std::fs::write(&torn, kept).unwrap();
    same_trials(&study(&torn, 10), &uninterrupted);
    // Resumed on a finished journal, nothing runs again.
    same_trials(&study(&torn, 10), &uninterrupted);
    assert_eq!(std::fs::read_to_string(&torn).unwrap().lines().count(), 11);

    // A journal of another study is refused, with the file named.
    let other = Study::<Cfg>::new(Random::new(0)).journal(&whole).run(|c: &Cfg, _: &mut Trial| Ok(objective(c)));
    let err = other.unwrap_err().to_string();
    assert!(err.contains("another study") && err.contains("whole.jsonl"), "{err}");
    for p in [whole, cut, torn] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn pruners_stop_the_trials_they_should() {
    search_space! { struct P { q: f64 = uniform(0.0, 1.0) } }
    // A curve per trial that ends at q: the pruner sees from epoch 1 which ones are bad.
    let run = |pruner: Box<dyn Fn() -> Study<P>>| {
        pruner()
            .run(|c: &P, t: &mut Trial| {
                for epoch in 1..=9 {
                    t.report(epoch, c.q + 1.0 / epoch as f64)?;
                }
                Ok(c.q)
            })
            .unwrap()
    };
    let median = run(Box::new(|| Study::new(Random::new(0)).trials(30).pruner(MedianPruner::new().startup(5))));
    let t = median.trials();
    let done: Vec<f64> = t[..5].iter().map(|t| t.value.unwrap()).collect();
    assert!(done.len() == 5, "the first five always complete");
    for tr in &t[5..] {
        // Pruned exactly when the first report is above the median of the finished ones.
        let mut before: Vec<f64> = t[..tr.number].iter().filter_map(|o| o.intermediate.first().map(|p| p.1)).collect();
        before.sort_by(f64::total_cmp);
        let m = if before.len() % 2 == 1 {
            before[before.len() / 2]
        } else {
            0.5 * (before[before.len() / 2 - 1] + before[before.len() / 2])
        };
        // Stopped at the first report exactly when it is above the median of the earlier
        // trials' first reports (later steps compare with the trials that got that far).
        let first = tr.intermediate[0].1;
        let at_first = tr.state == TrialState::Pruned && tr.intermediate.len() == 1;
        assert_eq!(at_first, first > m, "trial {}: {first} vs median {m}", tr.number);
    }
    assert!(t.iter().filter(|t| t.state == TrialState::Pruned).count() >= 8);

    // Successive halving, rungs at 1, 3, 9: the trials that survive to the end are the best.
    let sh = run(Box::new(|| Study::new(Random::new(1)).trials(30).pruner(SuccessiveHalving::new(1, 3))));
    let complete: Vec<&TrialRecord> = sh.trials().iter().filter(|t| t.state == TrialState::Complete).collect();
    assert!(complete.len() < 10, "{} trials reached the end", complete.len());
    for t in sh.trials().iter().filter(|t| t.state == TrialState::Pruned) {
        let last = t.intermediate.last().unwrap().0;
        assert!([1, 3, 9].contains(&last), "pruned only at a rung, not at step {last}");
    }
    // The best trial of all is never pruned.
    let best_q = sh.trials().iter().map(|t| t.intermediate[0].1).fold(f64::INFINITY, f64::min);
    let best = sh.trials().iter().find(|t| t.intermediate[0].1 == best_q).unwrap();
    assert_eq!(best.state, TrialState::Complete);
}

/// Random search under a pruner: trial `n` gets the configuration and the training seed it
/// gets without one, whatever earlier trials reported, so the pruner is all that differs
/// between the two studies and a trial that runs to the end ends with the same value.
#[test]
fn random_search_suggests_the_same_trials_whatever_the_pruner() {
    search_space! { struct P { q: f64 = uniform(0.0, 1.0), w: usize = choice([1, 2, 4]) } }
    let run = |study: Study<P>| {
        study
            .run(|c: &P, t: &mut Trial| {
                // Deterministic per trial seed, as a seeded training run is.
                let noise = (t.seed() % 1000) as f64 * 1e-4;
                for epoch in 1..=9 {
                    t.report(epoch, c.q * c.w as f64 + noise + 1.0 / epoch as f64)?;
                }
                Ok(c.q * c.w as f64 + noise)
            })
            .unwrap()
            .trials()
            .to_vec()
    };
    let full = run(Study::new(Random::new(6)).seed(6).trials(30));
    let sh = run(Study::new(Random::new(6)).seed(6).trials(30).pruner(SuccessiveHalving::new(2, 3)));
    let pruned = sh.iter().filter(|t| t.state == TrialState::Pruned).count();
    assert!(pruned >= 10, "only {pruned} trials pruned: the histories hardly differ");
    assert_eq!(full.len(), sh.len());
    for (f, s) in full.iter().zip(&sh) {
        assert_eq!(f.number, s.number);
        assert_eq!(f.values, s.values, "trial {}: another configuration under the pruner", f.number);
        assert_eq!(f.seed, s.seed, "trial {}: another seed under the pruner", f.number);
        if s.state == TrialState::Complete {
            assert_eq!(f.value.map(f64::to_bits), s.value.map(f64::to_bits));
        }
    }
    // A study that has seen other results (another objective) still draws the same trials
    // (TPE fails this: its suggestions follow the results).
    let other = Study::<P>::new(Random::new(6)).seed(6).trials(30).run(|c: &P, _: &mut Trial| Ok(-c.q)).unwrap();
    assert!(other.trials().iter().zip(&full).all(|(o, f)| o.values == f.values && o.seed == f.seed));
}

#[test]
fn failures_are_recorded_not_fatal() {
    search_space! { struct F { q: f64 = uniform(0.0, 1.0) } }
    let result = Study::<F>::new(Random::new(0))
        .trials(6)
        .run(|c: &F, t: &mut Trial| match t.number() {
            1 => Err("out of memory".into()),
            2 => panic!("a bug"),
            3 => Ok(f64::NAN),
            _ => Ok(c.q),
        })
        .unwrap();
    let t = result.trials();
    assert_eq!(t.iter().filter(|t| t.state == TrialState::Failed).count(), 3);
    assert_eq!(t[1].error.as_deref(), Some("out of memory"));
    assert!(t[2].error.as_deref().unwrap().contains("a bug"));
    assert!(result.best().unwrap().value.unwrap() >= 0.0);
    let table = result.to_string();
    assert!(table.contains("failed") && table.contains("best: trial"), "{table}");
}

#[test]
fn reports_write_csv_and_charts() {
    let result = Study::<Cfg>::new(Random::new(2)).trials(8).run(|c: &Cfg, _: &mut Trial| Ok(objective(c))).unwrap();
    let csv = temp("trials.csv");
    result.to_csv(&csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 9);
    assert!(text.starts_with("number,state,value,seed,seconds,x,lr,units,opt,momentum,beta\n"));
    let png = temp("history.png");
    result.chart_history(&png, "test").unwrap();
    let params = temp("params.png");
    result.chart_params(&params, "test").unwrap();
    for p in [&png, &params] {
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
    for p in [csv, png, params] {
        let _ = std::fs::remove_file(p);
    }
}

type Seen = Vec<(usize, Vec<Option<f64>>, Vec<Option<Reached>>)>;

/// Random search that keeps what the study told it about pruned trials.
struct Spy {
    inner: Random,
    seen: Arc<Mutex<Seen>>,
}

impl Sampler for Spy {
    fn suggest(&self, cx: &Context<'_>) -> Result<Vec<Value>, TuneError> {
        self.inner.suggest(cx)
    }

    fn suggest_with_progress(&self, cx: &Context<'_>, reached: &[Option<Reached>]) -> Result<Vec<Value>, TuneError> {
        let values = cx.observed.iter().map(|o| o.value).collect();
        self.seen.lock().unwrap().push((cx.number, values, reached.to_vec()));
        self.inner.suggest(cx)
    }

    fn name(&self) -> String {
        "spy".into()
    }
}

#[test]
fn samplers_learn_how_far_pruned_trials_got() {
    search_space! { struct P { q: f64 = uniform(0.0, 1.0) } }
    let seen = Arc::new(Mutex::new(Seen::new()));
    // Maximised: samplers see values negated, the progress too.
    let result = Study::<P>::new(Spy { inner: Random::new(2), seen: Arc::clone(&seen) })
        .trials(20)
        .maximize()
        .pruner(SuccessiveHalving::new(1, 3))
        .run(|c: &P, t: &mut Trial| {
            for epoch in 1..=9 {
                t.report(epoch, c.q - 1.0 / epoch as f64)?;
            }
            Ok(c.q)
        })
        .unwrap();
    let trials = result.trials();
    assert!(trials.iter().any(|t| t.state == TrialState::Pruned && t.intermediate.len() > 1), "pruned past rung 1");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 20);
    for (number, values, reached) in seen.iter() {
        assert_eq!((values.len(), reached.len()), (*number, *number));
        for (t, (v, r)) in trials.iter().zip(values.iter().zip(reached)) {
            match t.state {
                TrialState::Complete => assert_eq!((*v, *r), (t.value.map(|v| -v), None)),
                _ => {
                    let &(step, last) = t.intermediate.last().unwrap();
                    assert_eq!((*v, *r), (None, Some(Reached { step, value: -last })), "trial {}", t.number);
                }
            }
        }
    }
}
