//! What the MNIST and regression examples share: command-line arguments and the MNIST
//! split. Not an example itself (Cargo runs `examples/*.rs`, not this directory).

#![allow(dead_code)] // each example uses part of it

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use monograd::prelude::*;

/// The examples' command line: `--seed N` (default 0), `--epochs N`, `--out DIR`,
/// `--threads N` (default 1).
pub struct Args {
    /// Seeds the initialisation, the batch order, dropout and augmentation.
    pub seed: u64,
    /// Epochs to train.
    pub epochs: usize,
    /// Where the chart goes.
    pub out: PathBuf,
    /// Worker threads each training batch is split across (`Trainer::threads`).
    pub threads: usize,
}

impl Args {
    /// Parses `std::env::args()`; `--help` prints the usage and exits. `--threads` is
    /// refused: the example trains on one thread.
    pub fn parse(name: &str, epochs: usize) -> Result<Self, String> {
        Self::parse_with(name, epochs, false)
    }

    /// As [`Args::parse`], for an example that splits its batches across `--threads N`.
    pub fn parse_threaded(name: &str, epochs: usize) -> Result<Self, String> {
        Self::parse_with(name, epochs, true)
    }

    fn parse_with(name: &str, epochs: usize, threaded: bool) -> Result<Self, String> {
        let mut args = Self { seed: 0, epochs, out: PathBuf::from("runs"), threads: 1 };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = |what: &str| it.next().ok_or_else(|| format!("`{flag}` needs {what}"));
            match flag.as_str() {
                "--seed" => {
                    let v = value("a number")?;
                    args.seed = v.parse().map_err(|_| format!("`--seed`: expected a whole number, found `{v}`"))?;
                }
                "--epochs" => {
                    let v = value("a number")?;
                    args.epochs = v.parse().map_err(|_| format!("`--epochs`: expected a whole number, found `{v}`"))?;
                }
                "--out" => args.out = PathBuf::from(value("a directory")?),
                "--threads" if !threaded => return Err(format!("`--threads`: {name} trains on one thread")),
                "--threads" => {
                    let v = value("a number")?;
                    args.threads = match v.parse() {
                        Ok(n) if n >= 1 => n,
                        _ => return Err(format!("`--threads`: expected a whole number of at least 1, found `{v}`")),
                    };
                }
                "-h" | "--help" => {
                    let threads = if threaded { " [--threads N]" } else { "" };
                    println!(
                        "usage: cargo run --release --example {name} -- [--seed N] [--epochs N] [--out DIR]{threads}\n\
                         \n  --seed N     seed of the initialisation, batch order, dropout and augmentation (default 0)\
                         \n  --epochs N   epochs to train (default {epochs})\
                         \n  --out DIR    where to write the chart (default runs/)"
                    );
                    if threaded {
                        println!("  --threads N  split each training batch across N threads (default 1)");
                    }
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument `{other}` (try --help)")),
            }
        }
        Ok(args)
    }

    /// The chart's path: `<out>/<name>-seed<N>.png`.
    pub fn chart(&self, name: &str) -> PathBuf {
        self.out.join(format!("{name}-seed{}.png", self.seed))
    }
}

/// MNIST as the project splits it: the training part (the repository's first 8,000
/// digits, or full MNIST's 60,000 from `MONOGRAD_MNIST_DIR`) less its last eighth, which
/// validates; the test part (the last 2,000, or full MNIST's 10,000), used once at the end.
/// Pixels normalised with MNIST's mean and standard deviation.
pub fn mnist() -> Result<(Dataset, Dataset, Dataset), Box<dyn Error>> {
    let mnist = Mnist::load_env_or_default()?;
    let (mut train, mut val) = mnist.train.holdout(Holdout::Last(mnist.train.len() / 8))?;
    let mut test = mnist.test;
    let norm = Normalize::mnist();
    for part in [&mut train, &mut val, &mut test] {
        norm.apply_dataset(part)?;
    }
    println!(
        "MNIST from {}: {} training, {} validation, {} test digits",
        mnist.dir.display(),
        train.len(),
        val.len(),
        test.len()
    );
    Ok((train, val, test))
}

/// The value of a blank pixel after normalisation: what a shifted image is padded with.
pub fn background() -> f32 {
    let mut px = [0.0f32];
    Normalize::mnist().apply(&mut px).expect("one value fits global statistics");
    px[0]
}

/// The exit status of an example: an error is printed with its message (`Display`, not
/// the `Debug` form `main` would print) and the status is 1.
pub fn exit(result: Result<(), Box<dyn Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
