//! Writes the seed corpus of the `load_checkpoint` fuzz target (fuzz/corpus/load_checkpoint/):
//! valid checkpoints of its model, so that the fuzzer starts from inputs that load.
//!
//!   cargo run --manifest-path fuzz/Cargo.toml --example checkpoint_seeds
//!
//! The trainer's checkpoints hold wall-clock seconds, so two runs differ in those bytes.

use std::path::Path;

use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::prelude::*;

#[path = "../common/checkpoint.rs"]
mod common;

/// Two classes in 3 dimensions.
fn data(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::seed(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 2;
        x.extend((0..3).map(|d| if d == c { 1.0 } else { 0.0 } + 0.5 * rng.normal() as f32));
        y.push(c);
    }
    Dataset::new(x, y, 3).expect("a dataset")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join("load_checkpoint");
    std::fs::create_dir_all(&dir)?;
    let (train, val) = (data(12, 1), data(4, 2));
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(format!("{name}.safetensors")), bytes);

    // A custom loop's, before any step (Adam holds no state yet: zeros in the file).
    let (net, adam) = common::model();
    write("fresh", checkpoint::to_bytes(&net, &adam, &RunState::default())?)?;

    // A trainer's: fresh, paused mid-epoch (the open epoch's sums and generator), finished
    // (history and early stopping's best weights).
    write("trainer-fresh", common::trainer().checkpoint_bytes()?)?;
    let mut paused = common::trainer();
    paused.fit(&train, Some(&val), &mut |e: &Event<'_>| match e {
        Event::Step(s) if s.step == 5 => Control::Pause,
        _ => Control::Continue,
    })?;
    assert!(paused.is_mid_epoch());
    write("trainer-paused", paused.checkpoint_bytes()?)?;
    let mut done = common::trainer();
    done.fit(&train, Some(&val), &mut ())?;
    write("trainer-done", done.checkpoint_bytes()?)?;

    // A custom loop's after steps, with generators and values of its own.
    let mut run = RunState { step: 5, epoch: 1, position: 8, shuffle_seed: 3, ..RunState::default() };
    run.set_rng("noise", &Rng::seed(9));
    run.metadata.insert("note".into(), "seed".into());
    write("steps", checkpoint::to_bytes(paused.net(), paused.optimizer(), &run)?)?;

    let mut names: Vec<_> = std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort();
    println!("{names:?}");
    Ok(())
}
