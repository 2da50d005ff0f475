//! Random search, GP-EI and TPE on Branin (2-d) and Hartmann-6, 50 evaluations each, over
//! seeds 0-19: the median final regret (best value found minus the true minimum) and the
//! time per 50-trial run. docs/TUNING.md puts these beside Optuna and scikit-optimize.
//!
//! Run: `cargo run --release --features tune --example tune_benchmarks`
//! (`-- --seeds 5` for fewer seeds, `--first-seed 20` for others, `--budget 30` for fewer
//! evaluations, `--sampler tpe` for one sampler: random, gp-ei, tpe, or tpe-optuna for TPE
//! with Optuna's constants; `TUNE_VERBOSE=1` prints each seed's regret).

use std::time::Instant;

use monograd::tune::bench::{branin, hartmann6, BRANIN_MIN, HARTMANN6_MIN};
use monograd::tune::prelude::*;

search_space! {
    /// Branin's domain.
    struct BraninCfg {
        x1: f64 = uniform(-5.0, 10.0),
        x2: f64 = uniform(0.0, 15.0),
    }
}

search_space! {
    /// Hartmann-6's domain.
    struct HartmannCfg {
        x1: f64 = uniform(0.0, 1.0),
        x2: f64 = uniform(0.0, 1.0),
        x3: f64 = uniform(0.0, 1.0),
        x4: f64 = uniform(0.0, 1.0),
        x5: f64 = uniform(0.0, 1.0),
        x6: f64 = uniform(0.0, 1.0),
    }
}

fn sampler(name: &str, seed: u64) -> Box<dyn Sampler> {
    match name {
        "random" => Box::new(Random::new(seed)),
        "gp-ei" => Box::new(GpSampler::new(seed)),
        "tpe-optuna" => Box::new(Tpe::optuna(seed)),
        _ => Box::new(Tpe::new(seed)),
    }
}

/// CPU seconds this thread has used, from `/proc` (Linux; `None` elsewhere): on a shared
/// machine wall time also counts waiting for a core.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs one study; returns the final regret and the seconds it took.
fn run_one<C: SearchSpace>(
    s: Box<dyn Sampler>,
    budget: usize,
    f: impl Fn(&C) -> f64 + Sync,
    min: f64,
) -> Result<(f64, f64), TuneError> {
    let t0 = Instant::now();
    let result = Study::<C>::new(s).trials(budget).run(|c: &C, _: &mut Trial| Ok(f(c)))?;
    let secs = t0.elapsed().as_secs_f64();
    let best = result.best().and_then(|b| b.value).unwrap_or(f64::INFINITY);
    Ok((best - min, secs))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut seeds = 20u64;
    let mut first = 0u64;
    let mut budget = 50usize;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = args.next().ok_or("--seeds needs a number")?.parse()?,
            "--first-seed" => first = args.next().ok_or("--first-seed needs a number")?.parse()?,
            "--budget" => budget = args.next().ok_or("--budget needs a number")?.parse()?,
            "--sampler" => {
                let name = args.next().ok_or("--sampler needs a name")?;
                if !["random", "gp-ei", "tpe", "tpe-optuna"].contains(&name.as_str()) {
                    return Err(format!("unknown sampler `{name}`: random, gp-ei, tpe or tpe-optuna").into());
                }
                only = Some(name);
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    println!("{budget} evaluations, seeds {first}-{}; median over seeds", first + seeds - 1);
    println!(
        "{:<10} {:<8} {:>14} {:>14} {:>12} {:>12}",
        "function", "sampler", "median regret", "worst regret", "s per run", "cpu s per run"
    );
    for function in ["branin", "hartmann6"] {
        for name in ["random", "gp-ei", "tpe", "tpe-optuna"] {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let mut regrets = Vec::new();
            let mut times = Vec::new();
            let cpu0 = cpu_seconds();
            for seed in first..first + seeds {
                let s = sampler(name, seed);
                let (r, t) = match function {
                    "branin" => run_one::<BraninCfg>(s, budget, |c| branin(c.x1, c.x2), BRANIN_MIN)?,
                    _ => run_one::<HartmannCfg>(
                        s,
                        budget,
                        |c| hartmann6(&[c.x1, c.x2, c.x3, c.x4, c.x5, c.x6]),
                        HARTMANN6_MIN,
                    )?,
                };
                regrets.push(r);
                times.push(t);
            }
            if std::env::var("TUNE_VERBOSE").is_ok() {
                println!("{:?}", regrets.iter().map(|r| format!("{r:.1e}")).collect::<Vec<_>>());
            }
            let worst = regrets.iter().copied().fold(0.0, f64::max);
            let mean = regrets.iter().sum::<f64>() / regrets.len() as f64;
            let cpu = match (cpu0, cpu_seconds()) {
                (Some(a), Some(b)) => format!("{:.3}", (b - a) / seeds as f64),
                _ => "-".into(),
            };
            println!(
                "{function:<10} {name:<8} {:>14.3e} {:>14.3e} {:>12.3} {cpu:>12}  mean regret {mean:.3e}",
                median(regrets),
                worst,
                times.iter().sum::<f64>() / times.len() as f64
            );
        }
    }
    Ok(())
}
