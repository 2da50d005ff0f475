//! LeNet-5 and the MLP of the MNIST examples, trained, quantized to int8, exported as
//! `.tflite` files, and run on the 2,000 test digits twice: by monograd's integer kernels
//! and by TFLite Micro's reference interpreter. Every int8 output must agree, bit for bit.
//!
//! Run: `scripts/check-tflite.sh` (it makes the Python venv with `tflite-micro`), or
//! `MONOGRAD_TFLITE_PYTHON=target/tflite-venv/bin/python cargo run --release --example
//! tflite_mnist -- --seed 0`. The files land in `--out` (default `runs/`).
//!
//! Training follows examples/mnist_cnn.rs and examples/mnist_mlp.rs (AdamW, warmup and
//! cosine annealing, label smoothing, random shifts, early stopping); calibration reads
//! 1,000 training digits; convolutions are quantized per channel, linear layers per
//! tensor (TFLite's default) and, for the MLP, per channel too. The program prints, per
//! network, the int8 outputs that differ (the check: it fails unless 0) and the test
//! accuracy of the float network, of monograd's int8 twin and of TFLite Micro.

mod common;

use std::error::Error;
use std::path::Path;
use std::process::Command;

use monograd::nn::optim::schedule::Schedule;
use monograd::prelude::*;
use monograd::quant::calibrate::{Calibration, Granularity};
use monograd::quant::graph::Graph;
use monograd::quant::tflite::{from_channels_last, to_channels_last, to_tflite};
use monograd::quant::QParams;

network! {
    /// LeNet-5, as examples/mnist_cnn.rs declares it.
    #[quantize(LeNetI8)]
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
    /// 784 -> 256 -> 128 -> 10, as examples/mnist_mlp.rs declares it.
    #[quantize(MlpI8)]
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
/// Training digits the calibration reads.
const CALIBRATION: usize = 1000;

fn main() -> std::process::ExitCode {
    common::exit(run())
}

/// Trains `$net` with the MNIST examples' recipe at learning rate `$lr`.
macro_rules! train {
    ($net:ident, $lr:expr, $args:expr, $train:expr, $val:expr) => {{
        let (args, train, val) = ($args, $train, $val);
        let per_epoch = train.len().div_ceil(BATCH);
        let lr: f64 = $lr;
        let schedule = LinearLr::warmup(lr, 0.1, per_epoch)
            .then(per_epoch, CosineAnnealingLr::new(lr, (args.epochs.max(2) - 1) * per_epoch, 0.0));
        let shift = RandomShift::new(1, 28, 28, 2).fill(common::background());
        let loss = CrossEntropyLoss::new().label_smoothing(0.1);
        let mut trainer =
            Trainer::new($net::new(&mut Rng::seed(args.seed)), AdamW::new(lr as f32).weight_decay(0.05), loss)
                .epochs(args.epochs)
                .batch_size(BATCH)
                .seed(args.seed)
                .schedule(schedule, Every::Step)
                .augment(move |batch, rng| shift.apply(batch, rng))
                .early_stopping(EarlyStopping::new(3));
        trainer.fit(train, Some(val), &mut ())?;
        trainer
    }};
}

/// What one network gave on the test digits.
struct Outcome {
    name: String,
    digits: usize,
    /// int8 outputs (10 per digit) where monograd and TFLite Micro differ.
    differing_outputs: usize,
    /// Digits with at least one differing output.
    differing_digits: usize,
    float_hits: usize,
    monograd_hits: usize,
    tflm_hits: usize,
    bytes: usize,
}

impl Outcome {
    fn print(&self) {
        let pct = |h: usize| 100.0 * h as f64 / self.digits as f64;
        println!(
            "{}: {} of {} int8 outputs differ ({} of {} digits); test accuracy: float {:.2}%, \
             monograd int8 {:.2}%, TFLite Micro int8 {:.2}%; {} bytes of .tflite",
            self.name,
            self.differing_outputs,
            self.digits * 10,
            self.differing_digits,
            self.digits,
            pct(self.float_hits),
            pct(self.monograd_hits),
            pct(self.tflm_hits),
            self.bytes
        );
    }
}

fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// Runs `model` in TFLite Micro on `inputs` (int8 samples, channels first, of per-sample
/// `in_shape`) through scripts/tflite_check.py; outputs channels first.
fn tflite_micro(
    dir: &Path,
    name: &str,
    model: &[u8],
    in_shape: &[usize],
    out_shape: &[usize],
    inputs: &[i8],
) -> Result<Vec<i8>, Box<dyn Error>> {
    let python = std::env::var_os("MONOGRAD_TFLITE_PYTHON")
        .ok_or("set MONOGRAD_TFLITE_PYTHON to a Python with tflite-micro (scripts/check-tflite.sh does)")?;
    let (m, x, y) = (
        dir.join(format!("{name}.tflite")),
        dir.join(format!("{name}-input.bin")),
        dir.join(format!("{name}-output.bin")),
    );
    std::fs::write(&m, model)?;
    std::fs::write(&x, to_channels_last(in_shape, inputs).iter().map(|v| *v as u8).collect::<Vec<u8>>())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tflite_check.py");
    let status = Command::new(python).arg(script).arg(&m).arg(&x).arg(&y).status()?;
    if !status.success() {
        return Err(format!("tflite_check.py failed on {}: {status}", m.display()).into());
    }
    let raw: Vec<i8> = std::fs::read(&y)?.into_iter().map(|b| b as i8).collect();
    std::fs::remove_file(&x)?;
    std::fs::remove_file(&y)?;
    Ok(from_channels_last(out_shape, &raw))
}

/// Compares monograd's int8 outputs with TFLite Micro's on the same int8 inputs.
#[allow(clippy::too_many_arguments)]
fn compare(
    dir: &Path,
    name: &str,
    graph: &Graph,
    input_params: QParams,
    test: &Dataset,
    float_hits: usize,
    mut forward: impl FnMut(&[i8]) -> Result<Vec<i8>, Box<dyn Error>>,
) -> Result<Outcome, Box<dyn Error>> {
    let model = to_tflite(graph)?;
    let in_shape = graph.tensors[graph.inputs[0]].shape.clone();
    let out_shape = graph.tensors[graph.outputs[0]].shape.clone();
    // The int8 inputs both runtimes see: quantized once, here.
    let inputs: Vec<i8> = test.inputs().iter().map(|&v| input_params.quantize(v)).collect();
    let n_in = test.numel();
    let mut ours = Vec::with_capacity(test.len() * 10);
    for x in inputs.chunks(n_in) {
        ours.extend(forward(x)?);
    }
    let theirs = tflite_micro(dir, name, &model, &in_shape, &out_shape, &inputs)?;
    if theirs.len() != ours.len() {
        return Err(format!("{name}: TFLite Micro gave {} outputs, monograd {}", theirs.len(), ours.len()).into());
    }
    let mut outcome = Outcome {
        name: name.into(),
        digits: test.len(),
        differing_outputs: 0,
        differing_digits: 0,
        float_hits,
        monograd_hits: 0,
        tflm_hits: 0,
        bytes: model.len(),
    };
    for (i, (a, b)) in ours.chunks(10).zip(theirs.chunks(10)).enumerate() {
        let label = *test.get(i).ok_or("a test digit")?.1;
        let diff = a.iter().zip(b).filter(|(p, q)| p != q).count();
        if diff > 0 && outcome.differing_digits < 5 {
            println!("{name}: digit {i}: monograd {a:?}, TFLite Micro {b:?}");
        }
        outcome.differing_outputs += diff;
        outcome.differing_digits += usize::from(diff > 0);
        outcome.monograd_hits += usize::from(argmax(a) == label);
        outcome.tflm_hits += usize::from(argmax(b) == label);
    }
    outcome.print();
    Ok(outcome)
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = common::Args::parse("tflite_mnist", 10)?;
    // Before any training: without TFLite Micro there is nothing to compare with.
    if std::env::var_os("MONOGRAD_TFLITE_PYTHON").is_none() {
        return Err("set MONOGRAD_TFLITE_PYTHON to a Python with tflite-micro (scripts/check-tflite.sh does)".into());
    }
    let (train, val, test) = common::mnist()?;
    std::fs::create_dir_all(&args.out)?;
    let cal = &train.inputs()[..CALIBRATION * train.numel()];
    let mut outcomes = Vec::new();

    let trainer = train!(LeNet, 3e-3, &args, &train, &val);
    let net = trainer.net();
    let mut fst = LeNet::state::<Heap>();
    let mut float_hits = 0;
    for i in 0..test.len() {
        let (x, &y) = test.get(i).ok_or("a test digit")?;
        float_hits += usize::from(argmax(net.forward(x, &mut fst)?) == y);
    }
    let twin = LeNet::quantize(net, &Calibration::new(cal))?;
    let mut st = LeNetI8::state();
    outcomes.push(compare(&args.out, "lenet", &twin.to_graph(), twin.input_params(), &test, float_hits, |x| {
        Ok(twin.forward(x, &mut st)?.to_vec())
    })?);

    let trainer = train!(Mlp, 2e-3, &args, &train, &val);
    let net = trainer.net();
    let mut fst = Mlp::state::<Heap>();
    let mut float_hits = 0;
    for i in 0..test.len() {
        let (x, &y) = test.get(i).ok_or("a test digit")?;
        float_hits += usize::from(argmax(net.forward(x, &mut fst)?) == y);
    }
    for (name, g) in [("mlp", Granularity::PerTensor), ("mlp-per-channel", Granularity::PerChannel)] {
        let twin = Mlp::quantize(net, &Calibration::new(cal).linear(g))?;
        let mut st = MlpI8::state();
        outcomes.push(compare(&args.out, name, &twin.to_graph(), twin.input_params(), &test, float_hits, |x| {
            Ok(twin.forward(x, &mut st)?.to_vec())
        })?);
    }

    println!();
    for o in &outcomes {
        o.print();
    }
    let bad: Vec<&str> = outcomes.iter().filter(|o| o.differing_outputs > 0).map(|o| o.name.as_str()).collect();
    println!("models: {}", args.out.display());
    if !bad.is_empty() {
        return Err(format!("monograd's int8 outputs differ from TFLite Micro's for {}", bad.join(", ")).into());
    }
    println!("tflite_mismatches=0");
    Ok(())
}
