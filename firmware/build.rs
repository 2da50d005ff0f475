//! Puts `memory.x` on the linker's path, and runs the firmware's models on the host: the
//! sine model's outputs, the final weights of the training run and LeNet-5's int8
//! predictions on the embedded MNIST digits, which the firmware embeds
//! (`$OUT_DIR/expected.rs`) and must reproduce. Writes the digits too
//! (`$OUT_DIR/digits.bin`, from `data/mnist`).
//!
//! The models are the firmware's own source files, compiled here for the host with the
//! same library, so both sides run the same arithmetic: `f32` operations in the same
//! order (the library fixes its summation order), IEEE single precision on both.

#[path = "src/lenet.rs"]
#[allow(dead_code)]
mod lenet;
#[path = "src/sine.rs"]
#[allow(dead_code)]
mod sine;
#[path = "src/train.rs"]
#[allow(dead_code)]
mod train;

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use monograd::core::storage::Fixed;
use monograd::include_weights;
use monograd::quant::calibrate::Calibration;

static SINE: sine::Sine = include_weights!(sine::Sine, "weights/sine.safetensors");
/// The same embedding as the firmware's: the host runs the very twin the device holds.
static LENET_I8: lenet::LeNetI8 = include_weights!(lenet::LeNetI8, "weights/lenet_int8.safetensors");
/// Where the repository's MNIST digits are.
const MNIST: &str = "../data/mnist";

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    for f in [
        "build.rs",
        "memory.x",
        "src/sine.rs",
        "src/train.rs",
        "src/lenet.rs",
        "weights/sine.safetensors",
        "weights/lenet_int8.safetensors",
        "../data/mnist/mnist-10k-images-idx3-ubyte.gz",
        "../data/mnist/mnist-10k-labels-idx1-ubyte.gz",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }

    let mut code = String::from("// Written by build.rs from the host's run of the same models.\n");
    // The sine model at its test points, and the sine itself (for the firmware's check
    // that the model is worth testing: it needs no sine of its own).
    let mut state = sine::Sine::state::<Fixed<1>>();
    let (mut ys, mut sines) = (Vec::new(), Vec::new());
    let mut worst = 0.0f32;
    for i in 0..sine::POINTS {
        let x = sine::input(i);
        let y = SINE.forward(&[x], &mut state).expect("host inference")[0];
        worst = worst.max((y - x.sin()).abs());
        ys.push(y);
        sines.push(x.sin());
    }
    assert!(worst < 0.1, "the embedded sine model is off by {worst} on the host");
    writeln!(code, "/// The sine model's outputs at `sine::input(i)`, as bits.").unwrap();
    writeln!(code, "pub const SINE_Y: [u32; {}] = {:#010x?};", ys.len(), bits(&ys)).unwrap();
    writeln!(code, "/// `sin(sine::input(i))`, as bits.").unwrap();
    writeln!(code, "pub const SINE_TRUE: [u32; {}] = {:#010x?};", sines.len(), bits(&sines)).unwrap();

    // The int8 twin: quantized here (calibration needs a heap), embedded as a constant
    // written from its `Debug` form (every field of a twin is public), and its integer
    // outputs at the same points.
    let samples: Vec<f32> = (0..256).map(|i| i as f32 * (2.0 * std::f32::consts::PI / 256.0)).collect();
    let twin = sine::Sine::quantize(&SINE, &Calibration::new(&samples)).expect("quantize the sine model");
    let mut qstate = sine::SineI8::state();
    let mut qys = Vec::new();
    for i in 0..sine::POINTS {
        qys.push(twin.predict(&[sine::input(i)], &mut qstate).expect("host int8 inference")[0]);
    }
    writeln!(code, "/// The int8 twin's outputs at `sine::input(i)`.").unwrap();
    writeln!(code, "pub const SINE_I8_Y: [i8; {}] = {:?};", qys.len(), qys).unwrap();
    // `Fused::None` prints as `None`, which would read as `Option::None`.
    let literal = format!("{twin:?}").replace("activation: ", "activation: Fused::");
    std::fs::write(
        out.join("sine_i8.rs"),
        format!("// Written by build.rs: `Sine::quantize` on the host.\n{literal}\n"),
    )
    .expect("write sine_i8.rs");

    // The training run.
    let mut net: train::Trainee = monograd::core::embed::zeroed();
    let mut grad: train::Trainee = monograd::core::embed::zeroed();
    let mut state = train::State::EMPTY;
    let mut opt = [0.0f32; train::OPT_LEN];
    let losses = train::train(&mut net, &mut grad, &mut state, &mut opt).expect("host training");
    assert!(losses.last < 0.5 * losses.initial, "host training did not halve the loss: {losses:?}");
    let mut w = [0.0f32; train::Trainee::PARAMS];
    train::flat(&net, &mut w);
    writeln!(code, "/// The trained weights, flat in `visit` order, as bits.").unwrap();
    writeln!(code, "pub const TRAIN_W: [u32; {}] = {:#010x?};", w.len(), bits(&w)).unwrap();
    writeln!(code, "/// The loss before and after training, as bits.").unwrap();
    writeln!(code, "pub const TRAIN_LOSSES: [u32; 2] = {:#010x?};", bits(&[losses.initial, losses.last])).unwrap();

    // LeNet-5's int8 twin on the first test digits: the digits as bytes, their labels, and
    // the host's integer predictions.
    let (images, labels) = test_digits(Path::new(MNIST), lenet::DIGITS);
    let table = lenet::input_table(&LENET_I8);
    let mut state = lenet::LeNetI8::state();
    let mut classes = Vec::new();
    for digit in images.chunks_exact(lenet::PIXELS) {
        let x: Vec<i8> = digit.iter().map(|&b| table[b as usize]).collect();
        classes.push(lenet::argmax(LENET_I8.forward(&x, &mut state).expect("host int8 inference")) as u8);
    }
    let correct = classes.iter().zip(&labels).filter(|(c, l)| c == l).count();
    assert!(
        correct * 10 >= 9 * lenet::DIGITS,
        "the embedded LeNet-5 gets {correct} of {} digits on the host",
        lenet::DIGITS
    );
    std::fs::write(out.join("digits.bin"), &images).expect("write digits.bin");
    writeln!(code, "/// The labels of the embedded digits.").unwrap();
    writeln!(code, "pub const LENET_LABELS: [u8; {}] = {:?};", labels.len(), labels).unwrap();
    writeln!(code, "/// The int8 LeNet-5's classes for the embedded digits, on the host.").unwrap();
    writeln!(code, "pub const LENET_I8_CLASS: [u8; {}] = {:?};", classes.len(), classes).unwrap();
    std::fs::write(out.join("expected.rs"), code).expect("write expected.rs");
}

/// The first `n` digits of the test split (samples 8,000 onwards) of the repository's
/// MNIST files: `n · 784` pixel bytes and `n` labels.
fn test_digits(dir: &Path, n: usize) -> (Vec<u8>, Vec<u8>) {
    const FIRST: usize = 8000;
    let gunzip = |name: &str| {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        bytes
    };
    let images = gunzip("mnist-10k-images-idx3-ubyte.gz");
    let labels = gunzip("mnist-10k-labels-idx1-ubyte.gz");
    // IDX headers: magic, count (and rows, columns), big-endian u32s.
    let be = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    assert_eq!((be(&images, 0), be(&images, 4), be(&images, 8), be(&images, 12)), (0x803, 10_000, 28, 28));
    assert_eq!((be(&labels, 0), be(&labels, 4)), (0x801, 10_000));
    let px = lenet::PIXELS;
    (images[16 + FIRST * px..16 + (FIRST + n) * px].to_vec(), labels[8 + FIRST..8 + FIRST + n].to_vec())
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}
