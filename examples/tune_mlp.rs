//! Tunes the MNIST MLP of `mnist_mlp.rs` (learning rate, weight decay, dropout, hidden
//! width) on the validation digits with TPE, stopping poor trials early with the median
//! rule fed each epoch's validation accuracy, and evaluates the best configuration on the
//! test digits once, at the end.
//!
//! Run: `cargo run --release --features tune --example tune_mlp -- [--trials 12]
//! [--epochs 3] [--parallel 1] [--seed 0] [--out runs]`
//!
//! The width is a const generic (`Linear<784, W>`), so each candidate width is its own
//! network type: `with_const!` compiles and shape-checks `Mlp<W>` for every width listed,
//! and maps the width a trial drew onto it. The journal (`runs/tune_mlp.jsonl`) lets an
//! interrupted search resume: run the same command again.

mod common;

use std::error::Error;

use monograd::prelude::*;
use monograd::tune::prelude::*;
use monograd::tune::study::{Objective, Pruned};

network! {
    /// 784 -> W -> W -> 10, ReLU and dropout after each hidden layer (`W / 2` cannot be
    /// written with const generics on stable Rust).
    pub struct Mlp<const W: usize> {
        input: [784],
        fc1: Linear<784, W>,
        act1: ReLU,
        drop1: Dropout,
        fc2: Linear<W, W>,
        act2: ReLU,
        drop2: Dropout,
        fc3: Linear<W, 10>,
    }
}

search_space! {
    /// What each trial trains with.
    struct Cfg {
        lr: f64 = log_uniform(3e-4, 1e-2),
        weight_decay: f64 = log_uniform(1e-4, 1e-1),
        dropout: f64 = uniform(0.0, 0.5),
        width: usize = choice([64, 128, 256]), // the same list as `with_const!` below
    }
}

const BATCH: usize = 64;

struct Data {
    train: Dataset,
    val: Dataset,
}

type Report<'a> = &'a mut dyn FnMut(usize, f64) -> Result<(), Pruned>;

/// Trains `Mlp<W>` for `epochs` from `seed`, handing the validation accuracy after each to
/// `report`; returns the last one and, given test digits, the test accuracy. The same
/// seed gives the same network, bit for bit, so the best trial can be trained again.
fn fit<const W: usize>(
    cfg: &Cfg,
    seed: u64,
    data: &Data,
    epochs: usize,
    report: Report<'_>,
    test: Option<&Dataset>,
) -> Result<(f64, Option<f64>), Box<dyn Error + Send + Sync>> {
    let mut net = Mlp::<W>::new(&mut Rng::seed(seed));
    net.drop1.p = cfg.dropout;
    net.drop2.p = cfg.dropout;
    let per_epoch = data.train.len().div_ceil(BATCH);
    let mut trainer = Trainer::new(
        net,
        AdamW::new(cfg.lr as f32).weight_decay(cfg.weight_decay as f32),
        CrossEntropyLoss::new().label_smoothing(0.1),
    )
    .epochs(epochs)
    .batch_size(BATCH)
    .seed(seed)
    .schedule(CosineAnnealingLr::new(cfg.lr, epochs * per_epoch, 0.0), Every::Step);
    let mut last = 0.0f64;
    for _ in 0..epochs {
        let r = trainer.epoch(&data.train, Some(&data.val), &mut ()).map_err(|e| e.to_string())?;
        last = r.val.and_then(|m| m.accuracy).unwrap_or(0.0);
        report(r.epoch, last)?;
    }
    let test = match test {
        Some(t) => trainer.evaluate(t).map_err(|e| e.to_string())?.accuracy,
        None => None,
    };
    Ok((last, test))
}

/// `fit` for the width the configuration names: one instantiation per listed width.
fn fit_any(
    cfg: &Cfg,
    seed: u64,
    data: &Data,
    epochs: usize,
    report: Report<'_>,
    test: Option<&Dataset>,
) -> Result<(f64, Option<f64>), Box<dyn Error + Send + Sync>> {
    with_const!(cfg.width, [64, 128, 256], |W| fit::<W>(cfg, seed, data, epochs, report, test))
        .ok_or_else(|| format!("width {} is not among the compiled candidates", cfg.width))?
}

fn objective(cfg: &Cfg, trial: &mut Trial, data: &Data, epochs: usize) -> Objective {
    let seed = trial.seed();
    Ok(fit_any(cfg, seed, data, epochs, &mut |epoch, acc| trial.report(epoch, acc), None)?.0)
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut trials = 12usize;
    let mut epochs = 3usize;
    let mut parallel = 1usize;
    let mut seed = 0u64;
    let mut out = std::path::PathBuf::from("runs");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--trials" => trials = value()?.parse()?,
            "--epochs" => epochs = value()?.parse()?,
            "--parallel" => parallel = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            "--out" => out = value()?.into(),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let (train, val, test) = common::mnist()?;
    let data = Data { train, val };
    std::fs::create_dir_all(&out)?;
    let journal = out.join(format!("tune_mlp-seed{seed}.jsonl"));

    let study = Study::<Cfg>::new(Tpe::new(seed).startup(5))
        .maximize()
        .trials(trials)
        .parallel(parallel)
        .seed(seed)
        .pruner(MedianPruner::new().startup(3).warmup(1))
        .journal(&journal);
    let result = study.run(|cfg: &Cfg, trial: &mut Trial| {
        let r = objective(cfg, trial, &data, epochs);
        match &r {
            Ok(acc) => println!("trial {:>2}: {cfg:?} -> val accuracy {acc:.4}", trial.number()),
            Err(e) => println!("trial {:>2}: {cfg:?} -> {e}", trial.number()),
        }
        r
    })?;
    println!("\n{result}");
    result.to_csv(out.join(format!("tune_mlp-seed{seed}.csv")))?;
    result.chart_history(out.join(format!("tune_mlp-seed{seed}-history.png")), "tune_mlp: validation accuracy")?;
    result.chart_params(out.join(format!("tune_mlp-seed{seed}-params.png")), "tune_mlp: parameters")?;

    // The test digits, once: the best trial trained again from its seed (the same
    // network, bit for bit), then evaluated.
    let best = result.best().ok_or("no trial completed")?;
    let cfg = result.best_config()?.ok_or("no trial completed")?;
    println!("\nbest: trial {} {cfg:?}, validation accuracy {:.4}", best.number, best.value.unwrap_or(0.0));
    let (val_again, test_acc) =
        fit_any(&cfg, best.seed, &data, epochs, &mut |_, _| Ok(()), Some(&test)).map_err(|e| e.to_string())?;
    assert_eq!(Some(val_again), best.value, "training is deterministic");
    println!("test_accuracy={:.4}", test_acc.unwrap_or(0.0));
    Ok(())
}
