//! MNIST with a small residual network whose blocks are networks of their own: a
//! `network!` used as a layer of another, once by name and then repeated as an array.
//!
//! Run: `cargo run --release --example mnist_resnet -- --seed 0`
//!
//! `ResBlock` is declared once: two 3x3 convolutions with batch normalisation (its running
//! statistics with the momentum declared beside it) and a skip connection added back
//! before the last ReLU, keeping its input's shape. `ResNet` uses it
//! as `block1: ResBlock<T>` and then as `blocks: [ResBlock<T>; 2]`, two more copies applied
//! in sequence. Its parameters are named as PyTorch would name them
//! (`block1.conv1.weight`, `blocks.0.bn2.running_var`), and the pooling and dense layers
//! after the blocks get their shapes from the block's declared output. The recipe and the
//! data split are those of `mnist_cnn`.

mod common;

use monograd::nn::init::fingerprint;
use monograd::nn::optim::schedule::Schedule;
use monograd::prelude::*;

/// Channels inside the residual blocks.
const WIDTH: usize = 12;

network! {
    /// A residual block: conv-BN-ReLU-conv-BN, plus its input, then ReLU.
    pub struct ResBlock {
        input x: [WIDTH, 14, 14],
        conv1: Conv2d<WIDTH, WIDTH, 3, 1, 1>,
        bn1: BatchNorm2d<WIDTH>(momentum = 0.05),
        act1: ReLU,
        conv2: Conv2d<WIDTH, WIDTH, 3, 1, 1>,
        bn2: BatchNorm2d<WIDTH>(momentum = 0.05),
        sum(bn2, x): Add,
        act2: ReLU,
    }
}

network! {
    /// A stem convolution, three residual blocks at 14x14, pooling and a two-layer classifier.
    pub struct ResNet {
        input: [1, 28, 28],
        stem: Conv2d<1, WIDTH, 3, 1, 1>,
        bn: BatchNorm2d<WIDTH>,
        act: ReLU,
        pool: MaxPool2d<2>,
        block1: ResBlock<T>,
        blocks: [ResBlock<T>; 2],
        down: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<{ WIDTH * 7 * 7 }, 64>,
        act3: ReLU,
        drop: Dropout(0.1),
        fc2: Linear<64, 10>,
    }
}

const BATCH: usize = 64;
const LR: f64 = 3e-3;

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("mnist_resnet", 10)?;
    let (train, val, test) = common::mnist()?;

    let net = ResNet::new(&mut Rng::seed(args.seed));
    println!("{}\n", ResNet::summary());
    println!("the block, as each of the three copies runs it:\n{}\n", ResBlock::summary());
    let mut names = Vec::new();
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| names.push(t.path.to_string()));
    println!(
        "{} tensors, named as in PyTorch: {} ... {}\n",
        names.len(),
        names[..4].join(", "),
        names[names.len() - 2..].join(", ")
    );

    let per_epoch = train.len().div_ceil(BATCH);
    let schedule = LinearLr::warmup(LR, 0.1, per_epoch)
        .then(per_epoch, CosineAnnealingLr::new(LR, (args.epochs.max(2) - 1) * per_epoch, 0.0));
    let shift = RandomShift::new(1, 28, 28, 2).fill(common::background());
    let loss = CrossEntropyLoss::new().label_smoothing(0.1);
    let mut trainer = Trainer::new(net, AdamW::new(LR as f32).weight_decay(0.05), loss)
        .epochs(args.epochs)
        .batch_size(BATCH)
        .seed(args.seed)
        .schedule(schedule, Every::Step)
        .augment(move |batch, rng| shift.apply(batch, rng))
        .early_stopping(EarlyStopping::new(3));
    trainer.fit(&train, Some(&val), &mut Progress::auto())?;

    let test = trainer.evaluate(&test)?;
    trainer.record_test(test);
    println!("\n{}", trainer.history());
    let chart = args.chart("mnist_resnet");
    Chart::new(trainer.history())
        .title(format!("mnist_resnet: nested residual blocks, seed {}", args.seed))
        .save(&chart)?;
    println!("chart: {}", chart.display());
    println!("weights fingerprint: {:016x}", fingerprint(trainer.net()));
    println!("test_accuracy={:.4}", test.accuracy.unwrap_or(0.0));
    Ok(())
}
