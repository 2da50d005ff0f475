//! Tunes the MNIST MLP of `mnist_mlp.rs` (learning rate, weight decay, dropout, hidden
//! width) on the validation digits with TPE, against that example's own recipe trained the
//! same way, and evaluates the best configuration on the test digits once, at the end.
//!
//! Run: `cargo run --release --features tune --example tune_mlp -- [--trials 30]
//! [--epochs 9] [--sampler tpe|random] [--pruner asha|median|none] [--first-rung 2]
//! [--reduction 3] [--form promotion|stopping] [--startup 3] [--guide averaged|raw]
//! [--parallel 1] [--seed 0] [--reach ACC] [--out runs]`
//!
//! Every trial, and the default recipe it is compared with, trains the same way: the
//! network of `mnist_mlp.rs` (784 -> W -> W/2 -> 10, dropout after each hidden layer),
//! AdamW, one epoch of linear warmup then cosine annealing to zero, label smoothing 0.1,
//! random shifts of up to 2 pixels, batch 64, `--epochs` epochs, on the same 7,000
//! training and 1,000 validation digits; the objective is the validation accuracy after
//! the last epoch. The default recipe (learning rate 2e-3, weight decay 0.05, dropout 0.2,
//! width 256) is trained first from three seeds; the search has to beat the best of them.
//! The search space is centred on it (each range spans it a factor of about 5 either way).
//!
//! Pruners, fed after each epoch but the last the validation accuracy of a moving average
//! of the weights (`--guide raw`: of the weights themselves; see `fit`): `asha` (the
//! default: successive halving in ASHA's promotion form, rungs at epochs 2 and 6, after
//! the warmup epoch (`--first-rung 1`: 1, 3, 9); a trial pauses at a rung and goes on once
//! among the best third (`--reduction`) of the trials that reached it; `--form stopping`
//! decides on arrival, once `--startup` earlier trials reached the rung), `median`, or
//! `none` (every trial to the end).
//! The run ends with the epochs actually trained and the search's progress: after how
//! many epochs (all trials' epochs, in trial order) each new best was found, and with
//! `--reach ACC` after how many the best first reached `ACC` (the full search's best, to
//! compare `--pruner asha` with `--pruner none`).
//!
//! The width is a const generic (`Linear<784, W>`), so each candidate width is its own
//! network type: `with_const!` compiles and shape-checks `Mlp<W, W/2>` for every width
//! listed, and maps the width a trial drew onto it. The journal
//! (`runs/tune_mlp-seed0-e9-asha2p.jsonl`; `tune_mlp-random-seed0-...` with `--sampler
//! random`) lets an interrupted search resume: run the same
//! command again (with more `--trials`, it runs only the new ones: trial `n` does not
//! depend on how many follow).

mod common;

use std::error::Error;

use monograd::prelude::*;
use monograd::tune::prelude::*;
use monograd::tune::study::{Objective, Pruned};

network! {
    /// 784 -> W -> H -> 10, ReLU and dropout after each hidden layer; `mnist_mlp.rs` is
    /// `Mlp<256, 128>`.
    pub struct Mlp<const W: usize, const H: usize> {
        input: [784],
        fc1: Linear<784, W>,
        act1: ReLU,
        drop1: Dropout,
        fc2: Linear<W, H>,
        act2: ReLU,
        drop2: Dropout,
        fc3: Linear<H, 10>,
    }
}

search_space! {
    /// What each trial trains with.
    struct Cfg {
        lr: f64 = log_uniform(4e-4, 1e-2),
        weight_decay: f64 = log_uniform(1e-2, 0.25),
        dropout: f64 = uniform(0.0, 0.5),
        width: usize = choice([128, 256, 512]), // the same list as `with_const!` below
    }
}

/// `mnist_mlp.rs`'s recipe, in the search's terms.
const DEFAULT: Cfg = Cfg { lr: 2e-3, weight_decay: 0.05, dropout: 0.2, width: 256 };
const BATCH: usize = 64;

struct Data {
    train: Dataset,
    val: Dataset,
    guide: Guide,
}

/// What a trial reports to the pruner after each epoch but the last (after the last, the
/// objective: the raw weights' validation accuracy).
#[derive(Clone, Copy, PartialEq)]
enum Guide {
    /// The validation accuracy of the weights' moving average ([`Ema`]).
    Averaged,
    /// The validation accuracy of the weights themselves.
    Raw,
}

type Report<'a> = &'a mut dyn FnMut(usize, f64) -> Result<(), Pruned>;

/// Trains `Mlp<W, H>` for `epochs` from `seed`, handing the validation accuracy after each
/// to `report`; returns the last one and, given test digits, the test accuracy. The same
/// seed gives the same network, bit for bit, so the best trial can be trained again.
fn fit<const W: usize, const H: usize>(
    cfg: &Cfg,
    seed: u64,
    data: &Data,
    epochs: usize,
    report: Report<'_>,
    test: Option<&Dataset>,
) -> Result<(f64, Option<f64>), Box<dyn Error + Send + Sync>> {
    let mut net = Mlp::<W, H>::new(&mut Rng::seed(seed));
    net.drop1.p = cfg.dropout;
    net.drop2.p = cfg.dropout;
    let per_epoch = data.train.len().div_ceil(BATCH);
    let schedule = LinearLr::warmup(cfg.lr, 0.1, per_epoch)
        .then(per_epoch, CosineAnnealingLr::new(cfg.lr, (epochs.max(2) - 1) * per_epoch, 0.0));
    let shift = RandomShift::new(1, 28, 28, 2).fill(common::background());
    let mut trainer = Trainer::new(
        net,
        AdamW::new(cfg.lr as f32).weight_decay(cfg.weight_decay as f32),
        CrossEntropyLoss::new().label_smoothing(0.1),
    )
    .epochs(epochs)
    .batch_size(BATCH)
    .seed(seed)
    .schedule(schedule, Every::Step)
    .augment(move |batch, rng| shift.apply(batch, rng));
    // What the pruner sees before the last epoch: by default the accuracy of a moving
    // average of the weights over about the last epoch's steps (decay 0.9 every 10 steps).
    // Early on, at the peak of the schedule, the raw weights of a high learning rate
    // bounce around and rank below where annealing takes them; their average ranks much
    // nearer. Averaging reads the weights and changes nothing in the run.
    let mut average = Ema::new(0.9).every(10);
    let mut last = 0.0f64;
    for epoch in 1..=epochs {
        let r = average.epoch(&mut trainer, &data.train, Some(&data.val), &mut ()).map_err(|e| e.to_string())?;
        last = r.val.and_then(|m| m.accuracy).unwrap_or(0.0);
        let guide = match data.guide {
            Guide::Averaged if epoch < epochs => {
                average.evaluate(&mut trainer, &data.val).map_err(|e| e.to_string())?.accuracy.unwrap_or(0.0)
            }
            _ => last,
        };
        // After the last epoch there is nothing left to save: a trial that got there is
        // complete, whatever the pruner says (its last rung may fall on this epoch).
        match report(r.epoch, guide) {
            Err(stop) if epoch < epochs => return Err(stop.into()),
            _ => {}
        }
    }
    let test = match test {
        Some(t) => trainer.evaluate(t).map_err(|e| e.to_string())?.accuracy,
        None => None,
    };
    Ok((last, test))
}

/// `fit` for the width the configuration names (the second hidden layer half as wide):
/// one instantiation per listed width.
fn fit_any(
    cfg: &Cfg,
    seed: u64,
    data: &Data,
    epochs: usize,
    report: Report<'_>,
    test: Option<&Dataset>,
) -> Result<(f64, Option<f64>), Box<dyn Error + Send + Sync>> {
    with_const!(cfg.width, [128, 256, 512], |W| fit::<W, { W / 2 }>(cfg, seed, data, epochs, report, test))
        .ok_or_else(|| format!("width {} is not among the compiled candidates", cfg.width))?
}

fn objective(cfg: &Cfg, trial: &mut Trial, data: &Data, epochs: usize) -> Objective {
    let seed = trial.seed();
    Ok(fit_any(cfg, seed, data, epochs, &mut |epoch, acc| trial.report(epoch, acc), None)?.0)
}

/// The pruner named on the command line.
enum Stop {
    Asha(SuccessiveHalving),
    Median(MedianPruner),
    Never,
}

impl Pruner for Stop {
    fn rungs(&self) -> Option<Rungs> {
        match self {
            Stop::Asha(p) => p.rungs(),
            _ => None,
        }
    }

    fn prune(&self, own: &[(usize, f64)], others: &[Vec<(usize, f64)>]) -> bool {
        match self {
            Stop::Asha(p) => p.prune(own, others),
            Stop::Median(p) => p.prune(own, others),
            Stop::Never => false,
        }
    }
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut trials = 30usize;
    let mut epochs = 9usize;
    let mut parallel = 1usize;
    let mut seed = 0u64;
    let mut pruner = String::from("asha");
    let mut sampler = String::from("tpe");
    let mut rung = 2usize;
    let mut reduction = 3usize;
    let mut startup: Option<usize> = None;
    let mut promotion = true;
    let mut guide = Guide::Averaged;
    let mut reach: Option<f64> = None;
    let mut out = std::path::PathBuf::from("runs");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--trials" => trials = value()?.parse()?,
            "--epochs" => epochs = value()?.parse()?,
            "--parallel" => parallel = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            "--pruner" => pruner = value()?,
            "--sampler" => sampler = value()?,
            "--first-rung" => rung = value()?.parse()?,
            "--reduction" => reduction = value()?.parse()?,
            "--startup" => startup = Some(value()?.parse()?),
            "--form" => {
                promotion = match value()?.as_str() {
                    "promotion" => true,
                    "stopping" => false,
                    other => return Err(format!("unknown form `{other}`: promotion or stopping").into()),
                }
            }
            "--guide" => {
                guide = match value()?.as_str() {
                    "averaged" => Guide::Averaged,
                    "raw" => Guide::Raw,
                    other => return Err(format!("unknown guide `{other}`: averaged or raw").into()),
                }
            }
            "--reach" => reach = Some(value()?.parse()?),
            "--out" => out = value()?.into(),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    // ASHA's promotion form by default: a trial pauses at a rung and goes on once it is
    // among the best third of the trials that reached it. The stopping form (`--form
    // stopping`) decides on arrival; a rung then judges once as many earlier trials
    // reached it as the reduction, as the promotion form waits for that many.
    let startup = startup.unwrap_or(reduction);
    let stop = match pruner.as_str() {
        "asha" if promotion => Stop::Asha(SuccessiveHalving::new(rung, reduction).promotion()),
        "asha" => Stop::Asha(SuccessiveHalving::new(rung, reduction).startup(startup)),
        "median" => Stop::Median(MedianPruner::new().startup(3).warmup(1)),
        "none" => Stop::Never,
        other => return Err(format!("unknown pruner `{other}`: asha, median or none").into()),
    };
    let (search, prefix): (Box<dyn Sampler>, &str) = match sampler.as_str() {
        "tpe" => (Box::new(Tpe::new(seed).startup(8)), "tune_mlp"),
        // A journal of its own, so that the two samplers' runs never resume each other.
        "random" => (Box::new(Random::new(seed)), "tune_mlp-random"),
        other => return Err(format!("unknown sampler `{other}`: tpe or random").into()),
    };
    let (train, val, test) = common::mnist()?;
    let data = Data { train, val, guide };
    std::fs::create_dir_all(&out)?;
    let name = match pruner.as_str() {
        "asha" if promotion && reduction != 3 => format!("{prefix}-seed{seed}-e{epochs}-asha{rung}x{reduction}p"),
        "asha" if promotion => format!("{prefix}-seed{seed}-e{epochs}-asha{rung}p"),
        "asha" if reduction != 3 || startup != reduction => {
            format!("{prefix}-seed{seed}-e{epochs}-asha{rung}x{reduction}s{startup}")
        }
        "asha" => format!("{prefix}-seed{seed}-e{epochs}-asha{rung}"),
        _ => format!("{prefix}-seed{seed}-e{epochs}-{pruner}"),
    };
    // Journals of the raw guide are named apart: the two never resume each other.
    let name = if guide == Guide::Raw { format!("{name}-raw") } else { name };

    // The default recipe, trained exactly as the trials are, from three seeds: the
    // validation accuracy to beat is the best of them.
    let mut baseline = Vec::new();
    for s in 0..3u64 {
        let (acc, _) =
            fit_any(&DEFAULT, 1000 + s, &data, epochs, &mut |_, _| Ok(()), None).map_err(|e| e.to_string())?;
        println!("default recipe, seed {}: val accuracy {acc:.4}", 1000 + s);
        baseline.push(acc);
    }
    let to_beat = baseline.iter().copied().fold(0.0, f64::max);

    let study = Study::<Cfg>::new(search)
        .maximize()
        .trials(trials)
        .parallel(parallel)
        .seed(seed)
        .pruner(stop)
        .journal(out.join(format!("{name}.jsonl")));
    let result = study.run(|cfg: &Cfg, trial: &mut Trial| {
        let r = objective(cfg, trial, &data, epochs);
        match &r {
            Ok(acc) => println!("trial {:>2}: {cfg:?} -> val accuracy {acc:.4}", trial.number()),
            Err(e) => println!("trial {:>2}: {cfg:?} -> {e}", trial.number()),
        }
        r
    })?;
    println!("\n{result}");
    result.to_csv(out.join(format!("{name}.csv")))?;
    result.chart_history(out.join(format!("{name}-history.png")), "tune_mlp: validation accuracy")?;
    result.chart_params(out.join(format!("{name}-params.png")), "tune_mlp: parameters")?;

    // What the search cost: the epochs actually trained (one report per epoch), counted
    // in the order they were trained (under ASHA's promotion form a trial trains from rung
    // to rung, between others), and after how many each new best had finished.
    let trained: usize = result.order().iter().map(|&(_, steps)| steps).sum();
    let best = result.best().ok_or("no trial completed")?;
    let pruned = result.trials().iter().filter(|t| t.state == TrialState::Pruned).count();
    let numbers = result.trials().iter().map(|t| t.number + 1).max().unwrap_or(0);
    let mut by_number = vec![None; numbers];
    for t in result.trials() {
        by_number[t.number] = Some(t);
    }
    let mut done = vec![0usize; numbers];
    let mut spent = 0usize;
    let mut best_so_far = f64::NEG_INFINITY;
    let mut reached_at = None;
    let mut until_best = 0;
    let mut news = Vec::new();
    for &(n, steps) in result.order() {
        spent += steps;
        done[n] += steps;
        let Some(t) = by_number.get(n).copied().flatten() else { continue };
        let Some(v) = t.value.filter(|_| t.state == TrialState::Complete && done[n] == t.intermediate.len()) else {
            continue;
        };
        if steps == 0 {
            continue; // finished before, not now
        }
        if v > best_so_far {
            best_so_far = v;
            news.push(format!("after {spent:>4} epochs: best val accuracy {v:.4} (trial {n})"));
        }
        if n == best.number {
            until_best = spent;
        }
        if reach.is_some_and(|r| v >= r - 5e-5) && reached_at.is_none() {
            reached_at = Some((spent, n));
        }
    }
    println!(
        "\npruner {pruner}: {trials} trials ({pruned} pruned), {trained} epochs trained of {} without pruning; \
         the best trial ended at epoch {until_best} of the search",
        trials * epochs
    );
    for line in news {
        println!("{line}");
    }
    if let Some(r) = reach {
        match reached_at {
            Some((e, n)) => println!("reached {r:.4} after {e} epochs (trial {n})"),
            None => println!("did not reach {r:.4} in {trained} epochs"),
        }
    }

    // The test digits, once: the best trial trained again from its seed (the same
    // network, bit for bit, checked), then evaluated; and the default recipe's first run.
    let cfg = result.best_config()?.ok_or("no trial completed")?;
    let best_val = best.value.unwrap_or(0.0);
    println!(
        "best: trial {} {cfg:?}, val accuracy {best_val:.4} against the default recipe's {to_beat:.4} \
         (best of 3 seeds): {}",
        best.number,
        if best_val > to_beat { "beaten" } else { "not beaten" }
    );
    let (val_again, test_acc) =
        fit_any(&cfg, best.seed, &data, epochs, &mut |_, _| Ok(()), Some(&test)).map_err(|e| e.to_string())?;
    if Some(val_again) != best.value {
        return Err(format!("training again gave {val_again}, not {best_val}: not deterministic").into());
    }
    let (_, default_test) =
        fit_any(&DEFAULT, 1000, &data, epochs, &mut |_, _| Ok(()), Some(&test)).map_err(|e| e.to_string())?;
    println!("default recipe (seed 1000): test accuracy {:.4}", default_test.unwrap_or(0.0));
    println!("test_accuracy={:.4}", test_acc.unwrap_or(0.0));
    Ok(())
}
