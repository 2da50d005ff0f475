//! What the trainer's checks cost on W1 (the 784-256-128-10 MLP at batch 64, plain SGD,
//! cross-entropy): the same run of the `Trainer` with `Checks::Full` (every tensor of the
//! model and the optimizer checked and copied at every step, so that a failing step is
//! undone exactly) and with `Checks::Every(n)` for a few `n`, beside W1's bare step
//! (forward, loss, backward, SGD: no trainer at all), all interleaved in one run.
//!
//! `taskset -c 0 cargo bench --bench train_checks` (`ROUNDS=n`, default 21). Each trainer
//! call is one epoch of 50 steps over 3,200 samples (shuffling, batch copies and the
//! epoch's own checks included); each line reports the median over the rounds of the
//! thread's CPU time per step, the rounds of all runs interleaved so that a change in the
//! machine's load falls on all of them alike. The cost of the full check is
//! `Full - Every(1000)` per step, against W1's step. Results: docs/BENCHMARKS.md.

mod common;

use monograd::nn::train::Checks;
use monograd::prelude::*;

#[path = "common/workloads.rs"]
mod workloads;
use workloads::Mlp;

const B: usize = 64;
const STEPS: usize = 50;

fn labels(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.below(10)).collect()
}

fn main() {
    let data = Dataset::new(common::uniform(STEPS * B * 784, 1), labels(STEPS * B, 2), 784).unwrap();
    // A low rate: thousands of epochs on the same data must stay finite.
    let trainer = |checks| {
        Trainer::new(Mlp::new(&mut Rng::seed(0)), Sgd::new(1e-4), CrossEntropyLoss::new())
            .batch_size(B)
            .epochs(usize::MAX)
            .checks(checks)
    };
    let modes = [Checks::Full, Checks::Every(10), Checks::Every(50), Checks::Every(1000)];
    let mut trainers: Vec<_> = modes.iter().map(|&c| trainer(c)).collect();

    // W1's bare step, as benches/workloads.rs times it.
    let mut net = Mlp::new(&mut Rng::seed(0));
    let mut grad = Mlp::default();
    let mut st = Mlp::state::<Heap>();
    let mut opt = Sgd::new(1e-4f32);
    let x = common::uniform(B * 784, 1);
    let y = labels(B, 2);
    let mut dy = vec![0.0f32; B * 10];
    let mut bare = || {
        let out = net.forward_train(&x, &mut st).unwrap();
        CrossEntropyLoss::new().backward(out, &y, &mut dy).unwrap();
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut st).unwrap();
        opt.step(&mut net, &grad);
    };

    let mut runs: Vec<Box<dyn FnMut()>> = Vec::new();
    runs.push(Box::new(move || {
        for _ in 0..STEPS {
            bare();
        }
    }));
    for t in trainers.iter_mut() {
        runs.push(Box::new(|| {
            t.epoch(&data, None, &mut ()).unwrap();
        }));
    }
    // The machine may be shared: the thread's CPU time per call (not wall time), over
    // interleaved rounds (round 1 of each, then round 2 of each, ...), median per run.
    for f in runs.iter_mut() {
        f(); // warm-up: buffers grown, snapshot allocated
    }
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(21);
    let mut samples = vec![Vec::with_capacity(rounds); runs.len()];
    for _ in 0..rounds {
        for (f, s) in runs.iter_mut().zip(&mut samples) {
            let t0 = common::cpu_ns();
            f();
            s.push((common::cpu_ns() - t0) * 1e-9);
        }
    }
    let times: Vec<(f64, u64, usize)> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            (s[s.len() / 2], 1, rounds)
        })
        .collect();
    let names = ["W1_bare_step", "W1_trainer_full", "W1_trainer_every10", "W1_trainer_every50", "W1_trainer_every1000"];
    for (name, (secs, iters, reps)) in names.iter().zip(&times) {
        let per_step = secs / STEPS as f64;
        common::report(
            "monograd",
            name,
            &[("batch", &B), ("us_per_step", &format!("{:.3}", per_step * 1e6)), ("iters", iters), ("reps", reps)],
        );
    }
    let step = |i: usize| times[i].0 / STEPS as f64;
    let full_cost = step(1) - step(4);
    println!(
        "full check: {:.1} us per step = {:.2}% of W1's bare step ({:.1} us); Every(10) {:+.2}%, Every(50) {:+.2}%",
        full_cost * 1e6,
        100.0 * full_cost / step(0),
        step(0) * 1e6,
        100.0 * (step(2) - step(4)) / step(0),
        100.0 * (step(3) - step(4)) / step(0),
    );
}
