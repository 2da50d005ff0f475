//! Puts `memory.x` on the linker's path, and runs the firmware's models on the host: the
//! sine model's outputs and the final weights of the training run, which the firmware
//! embeds (`$OUT_DIR/expected.rs`) and must reproduce.
//!
//! The models are the firmware's own source files, compiled here for the host with the
//! same library, so both sides run the same arithmetic: `f32` operations in the same
//! order (the library fixes its summation order), IEEE single precision on both.

#[path = "src/sine.rs"]
#[allow(dead_code)]
mod sine;
#[path = "src/train.rs"]
#[allow(dead_code)]
mod train;

use std::fmt::Write as _;
use std::path::PathBuf;

use monograd::core::storage::Fixed;
use monograd::include_weights;
use monograd::quant::calibrate::Calibration;

static SINE: sine::Sine = include_weights!(sine::Sine, "weights/sine.safetensors");

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    for f in ["build.rs", "memory.x", "src/sine.rs", "src/train.rs", "weights/sine.safetensors"] {
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
    std::fs::write(out.join("expected.rs"), code).expect("write expected.rs");
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}
