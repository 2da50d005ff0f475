//! Structured pruning of LeNet-5: half the channels of each convolution go, and the rest
//! become a genuinely smaller network type, `LeNetHalf`, whose parameter bytes and
//! multiply-accumulates the compiler knows.
//!
//! LeNet-5 is trained with the MNIST recipe; the weakest half of each convolution's
//! filters (L1 norm) are masked to zero with their biases, gradually, while the network
//! fine-tunes with the mask held (`Masked` on a polynomial schedule); then `shrink`
//! copies the kept channels, and the matching inputs of the layers after them, into
//! `LeNetHalf`, which computes what the masked network computes. Prints the accuracies and budgets on the last lines.
//!
//! Run: `cargo run --release --example prune_lenet -- --seed 0` (`--epochs N`: dense
//! epochs, default 10; then 3 epochs of gradual pruning and 4 of fine-tuning).

mod common;

use std::time::Instant;

use monograd::nn::optim::schedule::Schedule;
use monograd::nn::prune::{shrink, Channels, Mask, Masked, Norm, PruneSchedule, Pruning};
use monograd::prelude::*;

network! {
    /// LeNet-5, as in examples/mnist_cnn.rs.
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d<1, 6, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<6, 16, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<256, 120>,
        act3: ReLU,
        fc2: Linear<120, 84>,
        act4: ReLU,
        fc3: Linear<84, 10>,
    }
}

network! {
    /// LeNet-5 with half the channels: 3 and 8 filters, so `fc1` reads 8 · 4 · 4 values.
    pub struct LeNetHalf {
        input: [1, 28, 28],
        conv1: Conv2d<1, 3, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<3, 8, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<128, 120>,
        act3: ReLU,
        fc2: Linear<120, 84>,
        act4: ReLU,
        fc3: Linear<84, 10>,
    }
}

const BATCH: usize = 64;
const LR: f64 = 3e-3;
const PRUNE_EPOCHS: usize = 3;
const TUNE_EPOCHS: usize = 4;

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("prune_lenet", 10)?;
    let (train, val, test) = common::mnist()?;
    let per_epoch = train.len().div_ceil(BATCH);
    let loss = || CrossEntropyLoss::new().label_smoothing(0.1);
    let shift = || {
        let s = RandomShift::new(1, 28, 28, 2).fill(common::background());
        move |batch: &mut [f32], rng: &mut Rng| s.apply(batch, rng)
    };

    // 1. The full network, as examples/mnist_cnn.rs trains it.
    let t0 = Instant::now();
    let schedule = LinearLr::warmup(LR, 0.1, per_epoch)
        .then(per_epoch, CosineAnnealingLr::new(LR, (args.epochs.max(2) - 1) * per_epoch, 0.0));
    let mut full =
        Trainer::new(LeNet::new(&mut Rng::seed(args.seed)), AdamW::new(LR as f32).weight_decay(0.05), loss())
            .epochs(args.epochs)
            .batch_size(BATCH)
            .seed(args.seed)
            .schedule(schedule, Every::Step)
            .augment(shift())
            .early_stopping(EarlyStopping::new(3));
    full.fit(&train, Some(&val), &mut Progress::auto())?;
    let full_test = full.evaluate(&test)?.accuracy.unwrap_or(0.0);
    println!("LeNet: test accuracy {full_test:.4} ({:.1} s)", t0.elapsed().as_secs_f64());

    // 2. Half of each convolution's filters, by L1 norm, removed gradually over
    //    PRUNE_EPOCHS (Zhu & Gupta's cubic, a pruning every tenth of an epoch) while
    //    fine-tuning, then TUNE_EPOCHS more with the mask held; the recipe's learning
    //    rate, annealed over the whole run.
    let t1 = Instant::now();
    let total = (PRUNE_EPOCHS + TUNE_EPOCHS) * per_epoch;
    let prune =
        PruneSchedule::polynomial(0.0, 0.5, 0, (PRUNE_EPOCHS * per_epoch) as u64).every((per_epoch / 10).max(1) as u64);
    let opt =
        Masked::new(AdamW::new(LR as f32).weight_decay(0.05), Mask::new()).schedule(Pruning::channels(Norm::L1), prune);
    let mut tune = Trainer::from_box(full.into_net(), opt, loss())
        .epochs(PRUNE_EPOCHS + TUNE_EPOCHS)
        .batch_size(BATCH)
        .seed(args.seed + 1)
        .schedule(CosineAnnealingLr::new(LR, total, 0.0), Every::Step)
        .augment(shift());
    tune.fit(&train, Some(&val), &mut Progress::auto())?;
    let tuned_test = tune.evaluate(&test)?.accuracy.unwrap_or(0.0);
    println!("channels masked, fine-tuned: test accuracy {tuned_test:.4} ({:.1} s)", t1.elapsed().as_secs_f64());

    // 3. The kept channels into the smaller type.
    let big = tune.into_net();
    let mut half = LeNetHalf::boxed_default();
    let plan = [Channels::new("conv1", "conv2"), Channels::new("conv2", "fc1")];
    for kept in shrink(&*big, &mut *half, &plan, Norm::L1)? {
        println!("  {}: kept channels {:?} of {}", kept.layer, kept.channels, kept.of);
    }
    // The same outputs, on the whole test set.
    let (mut sb, mut ss) = (LeNet::state::<Heap>(), LeNetHalf::state::<Heap>());
    let yb = big.forward(test.inputs(), &mut sb)?.to_vec();
    let ys = half.forward(test.inputs(), &mut ss)?;
    let diff = yb.iter().zip(ys).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let correct = ys.chunks(10).zip(test.targets()).filter(|(y, t)| argmax(y) == **t).count();
    let half_test = correct as f64 / test.len() as f64;
    println!("LeNetHalf: test accuracy {half_test:.4}; largest difference from the masked LeNet's outputs {diff:e}");
    println!(
        "budgets: PARAMS {} -> {}, PARAM_BYTES {} -> {}, MACS {} -> {}, PEAK_ACTIVATION_BYTES {} -> {}",
        LeNet::PARAMS,
        LeNetHalf::PARAMS,
        LeNet::PARAM_BYTES,
        LeNetHalf::PARAM_BYTES,
        LeNet::MACS,
        LeNetHalf::MACS,
        LeNet::PEAK_ACTIVATION_BYTES,
        LeNetHalf::PEAK_ACTIVATION_BYTES
    );
    println!("full_test_accuracy={full_test:.4} half_test_accuracy={half_test:.4}");
    Ok(())
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, x)| if *x > v[best] { i } else { best })
}
