//! TensorFlow Lite Micro's "hello world" model: `y ≈ sin(x)` for `x` in `[0, 2π)`, a
//! 1 -> 16 -> 16 -> 1 network with ReLU, in `f32`, its weights embedded at compile time.
//!
//! The weights were trained once on the host (`cargo run --example sine_weights`, which
//! includes this file for the network) and are committed in `weights/sine.safetensors`.
//! This file (the network and its inputs) is shared with the example and with the build
//! script, which runs the same inference on the host and embeds the outputs the firmware
//! must reproduce.

use monograd::prelude::*;

network! {
    /// 1 -> 16 -> ReLU -> 16 -> ReLU -> 1, as in TensorFlow Lite Micro's example; `SineI8`
    /// is its int8 twin.
    #[quantize(SineI8)]
    pub struct Sine {
        input: [1],
        fc1: Linear<1, 16>,
        act1: ReLU,
        fc2: Linear<16, 16>,
        act2: ReLU,
        fc3: Linear<16, 1>,
    }
}

/// How many inputs the firmware checks.
pub const POINTS: usize = 64;

/// The inputs checked: `POINTS` points spread over `[0, 2π)`.
pub fn input(i: usize) -> f32 {
    i as f32 * (2.0 * core::f32::consts::PI / POINTS as f32)
}
