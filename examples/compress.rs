//! The compression pipeline on LeNet-5, end to end: train, prune and fine-tune, quantize
//! to int8, export, and measure the four networks side by side.
//!
//! 1. LeNet-5 trains on the repository's digits with the MNIST recipe (examples/mnist_cnn.rs).
//! 2. Structured pruning, as examples/prune_lenet.rs does it: half of each convolution's
//!    filters (weakest L1 norm) are masked gradually while a copy fine-tunes (`Masked`),
//!    then `shrink` copies the kept channels into `LeNetHalf`, a network declared with 3 and
//!    8 filters. Its parameters, bytes and multiply-accumulates are really smaller, in any
//!    format, and it runs with the dense kernels: nothing here is counted as a sparse
//!    saving.
//! 3. Both networks are quantized to int8 (`#[quantize(..)]` twins, calibrated on 1,000
//!    training digits; convolutions per channel, linear layers per tensor), as
//!    examples/tflite_mnist.rs does.
//! 4. Files: the two float networks as safetensors, the two int8 twins as `.tflite`. With
//!    `MONOGRAD_TFLITE_PYTHON` set (as scripts/check-tflite.sh sets it), both `.tflite`
//!    files also run on the test digits in TFLite Micro, compared output by output.
//! 5. Every network classifies each of the test digits one at a time (batch 1) in the
//!    same loop, several rounds with the networks interleaved; the table gives the median
//!    time per digit, then the targets for the int8 network, each as met or not met.
//!
//! Run: `cargo run --release --example compress -- --seed 0` (`--epochs N`: dense epochs,
//! default 8, then 3 epochs of gradual pruning and 3 of fine-tuning; `--out DIR`: where
//! the files go, default `compress/` beside the build's `release/` directory, so
//! `target/compress/`).

mod common;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use monograd::nn::optim::schedule::Schedule;
use monograd::nn::prune::{shrink, Channels, Mask, Masked, Norm, PruneSchedule, Pruning};
use monograd::nn::serialize::safetensors;
use monograd::prelude::*;
use monograd::quant::calibrate::Calibration;
use monograd::quant::graph::{Data, Graph};
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
    /// LeNet-5 with half the channels (3 and 8 filters), as examples/prune_lenet.rs.
    #[quantize(LeNetHalfI8)]
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
const DENSE_EPOCHS: usize = 8;
const PRUNE_EPOCHS: usize = 3;
const TUNE_EPOCHS: usize = 3;
/// Training digits the calibration reads.
const CALIBRATION: usize = 1000;
/// Timing rounds over the test digits (after one untimed round that also counts hits).
const ROUNDS: usize = 7;

fn main() -> std::process::ExitCode {
    common::exit(run())
}

/// The examples' shared arguments, with this example's default output directory.
fn options() -> Result<common::Args, Box<dyn Error>> {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: cargo run --release --example compress -- [--seed N] [--epochs N] [--out DIR]\n\
             \n  --seed N     seed of the initialisation, batch order and augmentation (default 0)\
             \n  --epochs N   dense epochs before pruning (default {DENSE_EPOCHS})\
             \n  --out DIR    where the .safetensors and .tflite files go (default: compress/ in the build directory)"
        );
        std::process::exit(0);
    }
    let mut args = common::Args::parse("compress", DENSE_EPOCHS)?;
    if !std::env::args().any(|a| a == "--out") {
        args.out = default_out();
    }
    Ok(args)
}

/// `compress/` beside the directory of the build (`target/release/examples/compress` gives
/// `target/compress/`), or the system's temporary directory: never the source tree.
fn default_out() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent()?.parent().map(|target| target.join("compress")))
        .unwrap_or_else(|| std::env::temp_dir().join("monograd-compress"))
}

/// One network in the table.
struct Row {
    name: &'static str,
    params: usize,
    param_bytes: usize,
    file: PathBuf,
    file_bytes: u64,
    hits: usize,
    /// Mean µs per digit in each timed round.
    micros: Vec<f64>,
}

impl Row {
    /// A row for a network of `params` parameters in `param_bytes`, saved in `file`.
    fn new(name: &'static str, params: usize, param_bytes: usize, file: &Path) -> Result<Self, Box<dyn Error>> {
        Ok(Self {
            name,
            params,
            param_bytes,
            file: file.to_path_buf(),
            file_bytes: file_len(file)?,
            hits: 0,
            micros: Vec::new(),
        })
    }

    fn accuracy(&self, digits: usize) -> f64 {
        100.0 * self.hits as f64 / digits as f64
    }

    fn median(&self) -> f64 {
        let mut v = self.micros.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

/// A network that classifies one digit (f32 pixels) into 0..10.
type Classify<'a> = Box<dyn FnMut(&[f32]) -> Result<usize, Box<dyn Error>> + 'a>;

fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// Bytes of the int8 weight tensors and of the i32 bias tensors in a quantized graph.
fn weight_and_bias_bytes(graph: &Graph) -> (usize, usize) {
    let (mut w, mut b) = (0, 0);
    for t in &graph.tensors {
        match &t.data {
            Some(Data::I8(d)) => w += d.len(),
            Some(Data::I32(d)) => b += 4 * d.len(),
            None => {}
        }
    }
    (w, b)
}

/// With `MONOGRAD_TFLITE_PYTHON` set to a Python with `tflite-micro` (scripts/check-tflite.sh
/// makes one), runs the `.tflite` file on the test digits in TFLite Micro's reference
/// interpreter, through scripts/tflite_check.py, and compares every int8 output with the
/// twin's own: (outputs that differ, digits TFLite Micro classifies right).
fn tflite_micro(
    model: &Path,
    graph: &Graph,
    input_params: QParams,
    test: &Dataset,
    mut forward: impl FnMut(&[i8]) -> Result<Vec<i8>, Box<dyn Error>>,
) -> Result<Option<(usize, usize)>, Box<dyn Error>> {
    let Some(python) = std::env::var_os("MONOGRAD_TFLITE_PYTHON") else { return Ok(None) };
    let in_shape = &graph.tensors[graph.inputs[0]].shape;
    let out_shape = &graph.tensors[graph.outputs[0]].shape;
    let inputs: Vec<i8> = test.inputs().iter().map(|&v| input_params.quantize(v)).collect();
    let mut ours = Vec::with_capacity(test.len() * 10);
    for x in inputs.chunks(test.numel()) {
        ours.extend(forward(x)?);
    }
    let (x, y) = (model.with_extension("input.bin"), model.with_extension("output.bin"));
    std::fs::write(&x, to_channels_last(in_shape, &inputs).iter().map(|v| *v as u8).collect::<Vec<u8>>())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tflite_check.py");
    let status = Command::new(python).arg(script).arg(model).arg(&x).arg(&y).status()?;
    if !status.success() {
        return Err(format!("tflite_check.py failed on {}: {status}", model.display()).into());
    }
    let raw: Vec<i8> = std::fs::read(&y)?.into_iter().map(|b| b as i8).collect();
    std::fs::remove_file(&x)?;
    std::fs::remove_file(&y)?;
    let theirs = from_channels_last(out_shape, &raw);
    if theirs.len() != ours.len() {
        return Err(format!("TFLite Micro gave {} outputs, the twin {}", theirs.len(), ours.len()).into());
    }
    let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    for (i, (a, b)) in ours.chunks(10).zip(theirs.chunks(10)).enumerate().filter(|(_, (a, b))| a != b).take(5) {
        println!("   {}: digit {i}: twin {a:?}, TFLite Micro {b:?}", model.display());
    }
    let hits = theirs.chunks(10).zip(test.targets()).filter(|(o, t)| argmax(o) == **t).count();
    Ok(Some((differ, hits)))
}

fn file_len(path: &Path) -> Result<u64, Box<dyn Error>> {
    Ok(std::fs::metadata(path)?.len())
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = options()?;
    let rounds = ROUNDS;
    let t_start = Instant::now();
    let (train, val, test) = common::mnist()?;
    std::fs::create_dir_all(&args.out)?;
    let per_epoch = train.len().div_ceil(BATCH);
    let loss = || CrossEntropyLoss::new().label_smoothing(0.1);
    let shift = || {
        let s = RandomShift::new(1, 28, 28, 2).fill(common::background());
        move |batch: &mut [f32], rng: &mut Rng| s.apply(batch, rng)
    };

    // 1. LeNet-5 with the MNIST recipe.
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
    full.fit(&train, Some(&val), &mut ())?;
    println!("1. LeNet trained: at most {} epochs, early stopping ({:.1} s)", args.epochs, t0.elapsed().as_secs_f64());

    // 2. A copy loses half of each convolution's filters, gradually, while it fine-tunes;
    //    then the kept channels move into LeNetHalf.
    let t1 = Instant::now();
    let total = (PRUNE_EPOCHS + TUNE_EPOCHS) * per_epoch;
    let prune =
        PruneSchedule::polynomial(0.0, 0.5, 0, (PRUNE_EPOCHS * per_epoch) as u64).every((per_epoch / 10).max(1) as u64);
    let opt =
        Masked::new(AdamW::new(LR as f32).weight_decay(0.05), Mask::new()).schedule(Pruning::channels(Norm::L1), prune);
    let mut tune = Trainer::from_box(Box::new(full.net().clone()), opt, loss())
        .epochs(PRUNE_EPOCHS + TUNE_EPOCHS)
        .batch_size(BATCH)
        .seed(args.seed + 1)
        .schedule(CosineAnnealingLr::new(LR, total, 0.0), Every::Step)
        .augment(shift());
    tune.fit(&train, Some(&val), &mut ())?;
    let masked = tune.into_net();
    let mut half = LeNetHalf::boxed_default();
    let plan = [Channels::new("conv1", "conv2"), Channels::new("conv2", "fc1")];
    let kept = shrink(&*masked, &mut *half, &plan, Norm::L1)?;
    println!(
        "2. pruned: half the channels by L1 norm ({} epochs gradual, {} held), shrunk into LeNetHalf ({:.1} s)",
        PRUNE_EPOCHS,
        TUNE_EPOCHS,
        t1.elapsed().as_secs_f64()
    );
    for k in &kept {
        println!("   {}: kept channels {:?} of {}", k.layer, k.channels, k.of);
    }
    let dense = full.into_net();

    // 3. The int8 twins, calibrated on training digits.
    let t2 = Instant::now();
    let cal = Calibration::new(&train.inputs()[..CALIBRATION * train.numel()]);
    let dense_i8 = LeNet::quantize(&dense, &cal)?;
    let half_i8 = LeNetHalf::quantize(&half, &cal)?;
    println!("3. quantized to int8 on {CALIBRATION} training digits ({:.1} s)", t2.elapsed().as_secs_f64());

    // 4. Files.
    let seed = args.seed;
    let files = [
        args.out.join(format!("lenet-f32-seed{seed}.safetensors")),
        args.out.join(format!("lenet-half-f32-seed{seed}.safetensors")),
        args.out.join(format!("lenet-int8-seed{seed}.tflite")),
        args.out.join(format!("lenet-half-int8-seed{seed}.tflite")),
    ];
    safetensors::save(&*dense, &files[0])?;
    safetensors::save(&*half, &files[1])?;
    let (dense_graph, half_graph) = (dense_i8.to_graph(), half_i8.to_graph());
    std::fs::write(&files[2], to_tflite(&dense_graph)?)?;
    std::fs::write(&files[3], to_tflite(&half_graph)?)?;
    println!("4. written to {}", args.out.display());
    let (mut q0, mut q1) = (LeNetI8::state(), LeNetHalfI8::state());
    let checks = [
        tflite_micro(&files[2], &dense_graph, dense_i8.input_params(), &test, |x| {
            Ok(dense_i8.forward(x, &mut q0)?.to_vec())
        })?,
        tflite_micro(&files[3], &half_graph, half_i8.input_params(), &test, |x| {
            Ok(half_i8.forward(x, &mut q1)?.to_vec())
        })?,
    ];
    for (file, check) in files[2..].iter().zip(checks) {
        let name = file.file_name().and_then(|f| f.to_str()).unwrap_or("?");
        match check {
            Some((differ, hits)) => println!(
                "   {name} in TFLite Micro: {differ} of {} int8 outputs differ from the twin's; test accuracy {:.2}%",
                test.len() * 10,
                100.0 * hits as f64 / test.len() as f64
            ),
            None => println!("   {name}: not run in TFLite Micro (set MONOGRAD_TFLITE_PYTHON, see docs/TFLITE.md)"),
        }
    }

    // 5. Batch 1 over the test digits: each network classifies every digit in turn, the
    //    networks interleaved round by round so that a load on the machine falls on all.
    let mut rows = vec![
        Row::new("f32", LeNet::PARAMS, LeNet::PARAM_BYTES, &files[0])?,
        Row::new("pruned (LeNetHalf)", LeNetHalf::PARAMS, LeNetHalf::PARAM_BYTES, &files[1])?,
        Row::new("int8", LeNetI8::PARAMS, LeNetI8::PARAM_BYTES, &files[2])?,
        Row::new("pruned+int8", LeNetHalfI8::PARAMS, LeNetHalfI8::PARAM_BYTES, &files[3])?,
        Row::new("f32, Fixed<1> state", LeNet::PARAMS, LeNet::PARAM_BYTES, &files[0])?,
    ];
    // The float networks with `Heap` state (their fastest host path: im2col and the GEMM);
    // the twins take f32 pixels too (`predict` quantizes the input first).
    let (mut s0, mut s1) = (LeNet::state::<Heap>(), LeNetHalf::state::<Heap>());
    let (mut s2, mut s3) = (LeNetI8::state(), LeNetHalfI8::state());
    // For reference, the f32 network once more with a `Fixed<1>` state, whose direct loops
    // are what a microcontroller runs (no im2col buffer, no GEMM).
    let mut s4 = LeNet::state::<Fixed<1>>();
    let mut nets: [Classify; 5] = [
        Box::new(|x| Ok(argmax(dense.forward(x, &mut s0)?))),
        Box::new(|x| Ok(argmax(half.forward(x, &mut s1)?))),
        Box::new(|x| Ok(argmax(dense_i8.predict(x, &mut s2)?))),
        Box::new(|x| Ok(argmax(half_i8.predict(x, &mut s3)?))),
        Box::new(|x| Ok(argmax(dense.forward(x, &mut s4)?))),
    ];
    let digits = test.len();
    for round in 0..=rounds {
        for (net, row) in nets.iter_mut().zip(&mut rows) {
            let t = Instant::now();
            let mut hits = 0;
            for i in 0..digits {
                let (x, &y) = test.get(i).ok_or("a test digit")?;
                hits += usize::from(net(x)? == y);
            }
            let micros = t.elapsed().as_secs_f64() * 1e6 / digits as f64;
            if round == 0 {
                row.hits = hits; // the untimed round: warms caches, counts hits
            } else {
                row.micros.push(micros);
            }
        }
    }
    drop(nets);

    println!();
    println!(
        "LeNet-5 on {digits} test digits, seed {seed}; pruned = structured (half the channels of each convolution, \
         LeNetHalf); bytes = dense parameters (f32: 4 per value; int8: i8 weights + i32 biases); \
         µs = median over {rounds} rounds of the mean time per digit, batch 1, one thread"
    );
    println!();
    println!("| variant | test accuracy | parameters | parameter bytes | file | file bytes | µs per digit (min-max) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        let (lo, hi) = r.micros.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &m| (l.min(m), h.max(m)));
        println!(
            "| {} | {:.2}% | {} | {} | {} | {} | {:.1} ({:.1}-{:.1}) |",
            r.name,
            r.accuracy(digits),
            r.params,
            r.param_bytes,
            r.file.file_name().and_then(|f| f.to_str()).unwrap_or("?"),
            r.file_bytes,
            r.median(),
            lo,
            hi
        );
    }

    // The targets for the int8 network against the f32 one: measured, not asserted.
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let (f, q) = (&rows[0], &rows[2]);
    let lost = f.accuracy(digits) - q.accuracy(digits);
    let (w8, b32) = weight_and_bias_bytes(&dense_graph);
    let ratio = f.param_bytes as f64 / q.param_bytes as f64;
    let speedup = f.median() / q.median();
    println!();
    println!("targets (int8 LeNet against f32 LeNet):");
    println!(
        "  test accuracy within 0.5 points: {:.2}% -> {:.2}% ({:+.2} points): {}",
        f.accuracy(digits),
        q.accuracy(digits),
        -lost,
        verdict(lost.abs() <= 0.5)
    );
    println!(
        "  weights 4x smaller: {} -> {} parameter bytes, {ratio:.2}x ({} bytes of i8 weights, {}x; {} bytes of i32 biases, \
         as large as in f32): {}",
        f.param_bytes,
        q.param_bytes,
        w8,
        (f.param_bytes - b32) as f64 / w8 as f64,
        b32,
        verdict(ratio >= 4.0)
    );
    println!(
        "  batch-1 inference 1.5x faster: {:.1} µs -> {:.1} µs, {speedup:.2}x: {}",
        f.median(),
        q.median(),
        verdict(speedup >= 1.5)
    );
    println!(
        "pruned+int8 against f32: {:.2}x fewer parameter bytes, {:.2}x the speed, {:+.2} points",
        f.param_bytes as f64 / rows[3].param_bytes as f64,
        f.median() / rows[3].median(),
        rows[3].accuracy(digits) - f.accuracy(digits)
    );
    println!(
        "int8 against the f32 network's direct loops (Fixed<1> state, the microcontroller path): {:.2}x the speed",
        rows[4].median() / q.median()
    );
    println!("total {:.1} s", t_start.elapsed().as_secs_f64());
    Ok(())
}
