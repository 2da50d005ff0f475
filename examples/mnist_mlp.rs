//! MNIST with a multilayer perceptron, 784-256-128-10 with ReLU, declared with `network!`
//! and trained with the `Trainer`: a progress bar while it runs, a line per epoch, a
//! report and a PNG chart of the curves at the end, and the test accuracy on the last line.
//!
//! Run: `cargo run --release --example mnist_mlp -- --seed 0` (add `--threads 2` to split each
//! batch across two threads: the same training up to rounding)
//!
//! The recipe, beyond plain Adam: AdamW with weight decay, one epoch of linear warmup then
//! cosine annealing to zero (stepped every batch), label smoothing, dropout, and random
//! shifts of up to 2 pixels. Data: the repository's first 8,000 digits, of which the last
//! 1,000 validate (early stopping, best epoch), and the last 2,000 digits, which test once
//! at the end and play no other part.

mod common;

use monograd::nn::init::fingerprint;
use monograd::nn::optim::schedule::Schedule;
use monograd::prelude::*;

network! {
    /// 784 -> 256 -> 128 -> 10, ReLU, dropout after each hidden layer.
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

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse_threaded("mnist_mlp", 10)?;
    let (train, val, test) = common::mnist()?;

    let net = Mlp::new(&mut Rng::seed(args.seed));
    println!("{}\n", Mlp::summary());

    let per_epoch = train.len().div_ceil(BATCH);
    let schedule = LinearLr::warmup(LR, 0.1, per_epoch)
        .then(per_epoch, CosineAnnealingLr::new(LR, (args.epochs.max(2) - 1) * per_epoch, 0.0));
    let shift = RandomShift::new(1, 28, 28, 2).fill(common::background());
    let mut trainer =
        Trainer::new(net, AdamW::new(LR as f32).weight_decay(0.05), CrossEntropyLoss::new().label_smoothing(0.1))
            .epochs(args.epochs)
            .batch_size(BATCH)
            .seed(args.seed)
            .schedule(schedule, Every::Step)
            .augment(move |batch, rng| shift.apply(batch, rng))
            .early_stopping(EarlyStopping::new(3))
            .threads(args.threads);
    trainer.fit(&train, Some(&val), &mut Progress::auto())?;

    // The test digits, once, with the weights training chose.
    let test = trainer.evaluate(&test)?;
    trainer.record_test(test);
    println!("\n{}", trainer.history());
    let chart = args.chart("mnist_mlp");
    Chart::new(trainer.history()).title(format!("mnist_mlp: 784-256-128-10 MLP, seed {}", args.seed)).save(&chart)?;
    println!("chart: {}", chart.display());
    // The same seed gives the same weights, bit for bit: compare this across runs.
    println!("weights fingerprint: {:016x}", fingerprint(trainer.net()));
    println!("test_accuracy={:.4}", test.accuracy.unwrap_or(0.0));
    Ok(())
}
