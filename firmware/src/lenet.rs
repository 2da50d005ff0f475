//! LeNet-5 on MNIST digits, as `examples/mnist_cnn.rs` declares it, and its int8 twin
//! `LeNetI8`: the network whose twin the `lenet_int8` firmware runs.
//!
//! The twin was quantized on the host (`cargo run --release --example lenet_int8_weights
//! --features train`, which includes this file) and written as a safetensors file of `i8`,
//! `i32` and `f32` tensors, `weights/lenet_int8.safetensors`, which `include_weights!`
//! embeds. This file is shared with that example and with the build script, which runs
//! the same integer inference on the host and embeds the predictions the firmware must
//! reproduce.

use monograd::prelude::*;

network! {
    /// LeNet-5: two convolutions with max pooling, three dense layers, ReLU throughout;
    /// `LeNetI8` is its int8 twin.
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

/// Pixels per digit.
pub const PIXELS: usize = 28 * 28;

/// How many test digits the firmware embeds: the first of the repository's test split
/// (samples 8,000 onwards of `data/mnist`), as many as fit the 256 KiB flash budget.
pub const DIGITS: usize = 200;

/// A pixel byte as the network's input: `byte / 255` (the MNIST loader's), then MNIST's
/// normalisation `(x − 0.1307) / 0.3081` (`Normalize::mnist`), in the same `f32`
/// operations, so the same bits on every IEEE target.
pub fn pixel(byte: u8) -> f32 {
    (byte as f32 / 255.0 - 0.1307) / 0.3081
}

/// The quantized input of every pixel value: `LeNetI8`'s input quantization of
/// [`pixel`], which is what its `predict` computes pixel by pixel.
pub fn input_table(twin: &LeNetI8) -> [i8; 256] {
    let q = twin.input_params();
    core::array::from_fn(|b| q.quantize(pixel(b as u8)))
}

/// The index of the largest output (the first, on ties).
pub fn argmax(v: &[i8]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
