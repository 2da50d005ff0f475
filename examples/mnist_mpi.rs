//! MNIST with the 784-256-128-10 MLP, data-parallel over MPI: every rank trains on its own
//! shard of the digits, the gradients are summed every step (through MPI shared memory when
//! the ranks share a node, by an all-reduce otherwise), and every rank holds the same
//! weights. Rank 0 prints the progress, evaluates, and writes a
//! checkpoint after each epoch.
//!
//! Run (OpenMPI; as root add `--allow-run-as-root`, and `--oversubscribe` for more ranks
//! than cores):
//!
//! `mpirun -n 2 cargo run --release --features mpi --example mnist_mpi -- --epochs 3`
//!
//! The global batch is 64 whatever the number of ranks (each rank computes `64 / ranks`
//! samples), so the training is that of one process up to rounding; the shards are taken
//! round-robin, each rank the same number of digits. A rank that stops answering ends the
//! run within the watchdog's timeout (60 s), with the rank and the step named.

mod common;

use std::time::{Duration, Instant};

use monograd::nn::data::Batches;
use monograd::nn::distributed::mpi::rsmpi::traits::Communicator;
use monograd::nn::distributed::mpi::{initialize, MpiDataParallel};
use monograd::nn::init::fingerprint;
use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::nn::train::{Argmax, Metric};
use monograd::prelude::*;

network! {
    /// 784 -> 256 -> 128 -> 10, ReLU.
    pub struct Mlp {
        input: [784],
        fc1: Linear<784, 256>,
        act1: ReLU,
        fc2: Linear<256, 128>,
        act2: ReLU,
        fc3: Linear<128, 10>,
    }
}

const BATCH: usize = 64;
const LR: f32 = 1e-3;

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("mnist_mpi", 3)?;
    let universe = initialize().ok_or("MPI was already initialised")?;
    let mut dp = MpiDataParallel::new(universe.world()).watchdog(Duration::from_secs(60));
    match train(&args, &mut dp) {
        Ok(()) => Ok(()),
        // The other ranks may be waiting in a collective for this one: end them all now
        // rather than at their watchdogs' timeouts.
        Err(e) if dp.size() > 1 => {
            eprintln!("rank {}: error: {e}", dp.rank());
            dp.world().abort(1)
        }
        Err(e) => Err(e),
    }
}

fn train(args: &common::Args, dp: &mut MpiDataParallel) -> Result<(), Box<dyn std::error::Error>> {
    let root = dp.is_root();
    let (train, val, test) = common::mnist()?;
    let shard = dp.shard(&train)?;
    let local = dp.part(BATCH).len();
    if root {
        println!("{} ranks, {} digits each, global batch {BATCH} ({local} per rank)", dp.size(), shard.len());
    }

    let mut net = Mlp::new(&mut Rng::seed(args.seed));
    dp.broadcast_weights(&mut net)?;
    // The sum through MPI shared memory when every rank is on this node: the faster path
    // (docs/DISTRIBUTED.md); an all-reduce otherwise.
    let mut shared = dp.shared(&net)?;
    let mut state = Mlp::state::<Heap>();
    let mut eval_state = Mlp::state::<Heap>();
    let mut opt = AdamW::new(LR).weight_decay(0.05);
    let loss = CrossEntropyLoss::new();
    // Every rank shuffles its own shard from the same seed: the same number of batches.
    if root {
        println!("gradients summed {}", if shared.is_shared() { "in MPI shared memory" } else { "by an all-reduce" });
    }
    let mut batches = Batches::new(local, args.seed)?.drop_last(true);
    let mut step = 0u64;
    std::fs::create_dir_all(&args.out)?;
    let ckpt = args.out.join(format!("mnist_mpi-seed{}.ckpt.safetensors", args.seed));
    for epoch in 0..args.epochs {
        let start = Instant::now();
        let (mut loss_sum, mut steps) = (0.0f64, 0usize);
        let mut it = batches.epoch(epoch as u64, &shard);
        while let Some(b) = it.next_batch() {
            step += 1;
            let l =
                shared.step(dp, step as usize, &mut net, &mut state, &loss, &mut opt, b.inputs, b.targets, BATCH)?;
            loss_sum += f64::from(l);
            steps += 1;
        }
        let seconds = start.elapsed().as_secs_f64();
        if root {
            let acc = accuracy(&net, &mut eval_state, &val)?;
            println!(
                "epoch {}/{}: train loss {:.4}, val accuracy {:.4}, {:.1} s, {:.0} samples/s over all ranks",
                epoch + 1,
                args.epochs,
                loss_sum / steps.max(1) as f64,
                acc,
                seconds,
                (steps * BATCH) as f64 / seconds
            );
            let run = RunState { step, epoch: epoch as u64 + 1, shuffle_seed: args.seed, ..RunState::default() };
            checkpoint::save(&net, &opt, &run, &ckpt)?;
        }
        // Rank 0's evaluation and checkpoint are not timed by the watchdog.
        if let Some(w) = dp.watchdog_ref() {
            w.arm(step as usize + 1);
        }
    }
    if let Some(prints) = dp.fingerprints(&net) {
        if prints.iter().any(|&p| p != prints[0]) {
            return Err(format!("the ranks' weights differ: {prints:016x?}").into());
        }
        println!("checkpoint: {}", ckpt.display());
        println!("weights fingerprint (every rank): {:016x}", fingerprint(&net));
        println!("test_accuracy={:.4}", accuracy(&net, &mut eval_state, &test)?);
    }
    Ok(())
}

/// The accuracy of `net` on `data`, in batches of 500.
fn accuracy(net: &Mlp, state: &mut MlpState<f32, Heap>, data: &Dataset) -> Result<f64, ShapeError> {
    let mut correct = 0;
    for (x, y) in data.inputs().chunks(500 * 784).zip(data.targets().chunks(500)) {
        correct += Argmax.correct(net.forward(x, state)?, y);
    }
    Ok(correct as f64 / data.len().max(1) as f64)
}
