//! Magnitude pruning of the MNIST MLP to 90% sparsity: the dense network is trained with
//! the MNIST recipe, then pruned gradually (Zhu & Gupta's cubic schedule, one global
//! threshold over the three weight matrices) while it fine-tunes, with the pruned weights
//! held at zero by `Masked`. The pruned network then runs in the sparse format
//! (`SparseLinear`, compressed rows), which gives the same predictions and runs faster.
//! Prints the accuracies and the timings on the last lines.
//!
//! Run: `cargo run --release --example prune_mlp -- --seed 0` (`--epochs N`: dense epochs,
//! default 10; the pruning run is 6 more epochs: 4 of pruning, 2 at the final sparsity).

mod common;

use std::time::Instant;

use monograd::core::ops::unary::Relu;
use monograd::nn::optim::schedule::Schedule;
use monograd::nn::prune::{Mask, Masked, PruneSchedule, Pruning, SparseLinear};
use monograd::prelude::*;

network! {
    /// 784 -> 256 -> 128 -> 10, ReLU, dropout after each hidden layer (as in mnist_mlp).
    pub struct Mlp {
        input: [784],
        fc1: Linear<784, 256>,
        act1: ReLU,
        drop1: Dropout(0.2),
        fc2: Linear<256, 128>,
        act2: ReLU,
        drop2: Dropout(0.2),
        fc3: Linear<128, 10>,
    }
}

const BATCH: usize = 64;
const LR: f64 = 2e-3;
const SPARSITY: f64 = 0.9;
const PRUNE_EPOCHS: usize = 4;
const TUNE_EPOCHS: usize = 2;

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("prune_mlp", 10)?;
    let (train, val, test) = common::mnist()?;
    let per_epoch = train.len().div_ceil(BATCH);
    let shift = RandomShift::new(1, 28, 28, 2).fill(common::background());
    let loss = || CrossEntropyLoss::new().label_smoothing(0.1);

    // 1. The dense network, as examples/mnist_mlp.rs trains it.
    let t0 = Instant::now();
    let schedule = LinearLr::warmup(LR, 0.1, per_epoch)
        .then(per_epoch, CosineAnnealingLr::new(LR, (args.epochs.max(2) - 1) * per_epoch, 0.0));
    let mut dense = Trainer::new(Mlp::new(&mut Rng::seed(args.seed)), AdamW::new(LR as f32).weight_decay(0.05), loss())
        .epochs(args.epochs)
        .batch_size(BATCH)
        .seed(args.seed)
        .schedule(schedule, Every::Step)
        .augment(move |batch, rng| shift.apply(batch, rng))
        .early_stopping(EarlyStopping::new(3));
    dense.fit(&train, Some(&val), &mut Progress::auto())?;
    let dense_test = dense.evaluate(&test)?.accuracy.unwrap_or(0.0);
    let dense_secs = t0.elapsed().as_secs_f64();
    println!("dense: test accuracy {dense_test:.4} ({dense_secs:.1} s)");

    // 2. Gradual pruning to 90% over PRUNE_EPOCHS epochs (a pruning every tenth of an
    //    epoch), then TUNE_EPOCHS at 90%; no early stopping, which could go back to a
    //    less sparse epoch.
    let t1 = Instant::now();
    let lr = LR / 2.0;
    let total = (PRUNE_EPOCHS + TUNE_EPOCHS) * per_epoch;
    let end = (PRUNE_EPOCHS * per_epoch) as u64;
    let prune = PruneSchedule::polynomial(0.0, SPARSITY, 0, end).every((per_epoch / 10).max(1) as u64);
    let opt = Masked::new(AdamW::new(lr as f32).weight_decay(0.05), Mask::new()).schedule(Pruning::global(), prune);
    let shift = RandomShift::new(1, 28, 28, 2).fill(common::background());
    let mut tune = Trainer::from_box(dense.into_net(), opt, loss())
        .epochs(PRUNE_EPOCHS + TUNE_EPOCHS)
        .batch_size(BATCH)
        .seed(args.seed + 1)
        .schedule(CosineAnnealingLr::new(lr, total, 0.0), Every::Step)
        .augment(move |batch, rng| shift.apply(batch, rng));
    tune.fit(&train, Some(&val), &mut Progress::auto())?;
    let pruned_test = tune.evaluate(&test)?.accuracy.unwrap_or(0.0);
    let tune_secs = t1.elapsed().as_secs_f64();

    let net = tune.net().clone();
    let pruning = Pruning::global();
    let mut mask = tune.optimizer().mask().clone();
    let sparsity = mask.sparsity(&net, &pruning)?;
    mask.counts(&net, |path, pruned, total| {
        if path.ends_with("weight") {
            println!("  {path}: {pruned} of {total} pruned ({:.1}%)", 100.0 * pruned as f64 / total as f64);
        }
    })?;
    let zeros = [net.fc1.weight.as_flattened(), net.fc2.weight.as_flattened(), net.fc3.weight.as_flattened()]
        .iter()
        .map(|w| w.iter().filter(|v| **v == 0.0).count())
        .sum::<usize>();
    println!(
        "pruned: {:.2}% of the weights ({zeros} exact zeros), test accuracy {pruned_test:.4} ({tune_secs:.1} s)",
        100.0 * sparsity
    );

    // 3. The pruned network in the sparse format: the same predictions, one sample at a time.
    let fc1 = SparseLinear::<f32, u16>::from_linear(&net.fc1)?;
    let fc2 = SparseLinear::<f32, u16>::from_linear(&net.fc2)?;
    let fc3 = SparseLinear::<f32, u16>::from_linear(&net.fc3)?;
    let dense_bytes = Mlp::PARAM_BYTES;
    let sparse_bytes = fc1.bytes() + fc2.bytes() + fc3.bytes();
    let (mut h1, mut h2, mut out) = ([0.0f32; 256], [0.0f32; 128], [0.0f32; 10]);
    let mut scratch = vec![0.0f32; fc1.scratch_len()];
    let mut state = Mlp::state::<Fixed<1>>();
    let (mut agree, mut correct) = (0, 0);
    let mut sparse_ns = 0.0;
    let mut dense_ns = 0.0;
    for i in 0..test.len() {
        let x = test.input(i);
        let t = Instant::now();
        fc1.forward_act(x, &mut h1, Relu, &mut scratch)?;
        fc2.forward_act(&h1, &mut h2, Relu, &mut scratch)?;
        fc3.forward(&h2, &mut out, &mut scratch)?;
        sparse_ns += t.elapsed().as_nanos() as f64;
        let t = Instant::now();
        let y = net.forward(x, &mut state)?;
        dense_ns += t.elapsed().as_nanos() as f64;
        let (s, d) = (argmax(&out), argmax(y));
        agree += usize::from(s == d);
        correct += usize::from(s == *test.target(i));
    }
    let n = test.len() as f64;
    println!(
        "sparse format: {sparse_bytes} bytes against {dense_bytes} dense; same prediction as dense on {agree} of {} test digits; \
         accuracy {:.4}",
        test.len(),
        correct as f64 / n
    );
    println!(
        "one digit at a time (the same loop, interleaved): sparse {:.1} us, dense {:.1} us",
        sparse_ns / n / 1e3,
        dense_ns / n / 1e3
    );
    println!("dense_test_accuracy={dense_test:.4} pruned_test_accuracy={pruned_test:.4} sparsity={sparsity:.4}");
    Ok(())
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, x)| if *x > v[best] { i } else { best })
}
