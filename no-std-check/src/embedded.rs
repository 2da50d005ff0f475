//! Inference from weights embedded at compile time: `include_weights!` reads two
//! safetensors files while this crate compiles, checks them against the networks, and
//! the networks are `static`s, their weights in the binary's read-only data. Nothing is
//! loaded, copied or allocated at run time.
//!
//! Shared word for word with the std build (the workspace test `tests/include_weights.rs`
//! includes this file), which loads the same files at run time and compares.

use monograd::prelude::*;

network! {
    /// PyTorch's MLP fixture: `fc1 = nn.Linear(6, 16)`, `bn = nn.BatchNorm1d(16)`,
    /// `act = nn.ReLU()`, `fc2 = nn.Linear(16, 4)`, trained in PyTorch.
    pub struct TorchMlp {
        input: [6],
        fc1: Linear<6, 16>,
        bn: BatchNorm1d<16>,
        act: ReLU,
        fc2: Linear<16, 4>,
    }
}

network! {
    /// A small convolutional network, saved by monograd (tests/include_weights.rs writes
    /// the file).
    pub struct SmallCnn {
        input: [1, 8, 8],
        conv: Conv2d<1, 4, 3, 1, 1>,
        bn: BatchNorm2d<4>,
        act: ReLU,
        pool: MaxPool2d<2>,
        dw: DepthwiseConv2d<4, 3, 1, 1>,
        act2: Tanh,
        flat: Flatten,
        fc: Linear<64, 3>,
    }
}

/// Written by PyTorch (scripts/make-torch-fixtures.py).
pub static MLP: TorchMlp = include_weights!(TorchMlp, "../../tests/fixtures/torch/mlp.safetensors");

/// Written by monograd.
pub static CNN: SmallCnn = include_weights!(SmallCnn, "../../tests/fixtures/embed/cnn.safetensors");

/// Deterministic inputs: one sample for each network.
pub fn inputs() -> ([f32; 6], [f32; 64]) {
    let mut mlp = [0.0f32; 6];
    for (i, v) in mlp.iter_mut().enumerate() {
        *v = (i as f32 - 2.5) * 0.4;
    }
    let mut cnn = [0.0f32; 64];
    for (i, v) in cnn.iter_mut().enumerate() {
        *v = ((i * 7 % 13) as f32 - 6.0) / 6.0;
    }
    (mlp, cnn)
}

/// Both networks' outputs for [`inputs`], in `Fixed` storage: no heap anywhere.
pub fn outputs() -> Result<([f32; 4], [f32; 3]), ShapeError> {
    let (x_mlp, x_cnn) = inputs();
    let mut mlp_state = TorchMlp::state::<Fixed<1>>();
    let mut cnn_state = SmallCnn::state::<Fixed<1>>();
    let mut y_mlp = [0.0f32; 4];
    let mut y_cnn = [0.0f32; 3];
    y_mlp.copy_from_slice(MLP.forward(&x_mlp, &mut mlp_state)?);
    y_cnn.copy_from_slice(CNN.forward(&x_cnn, &mut cnn_state)?);
    Ok((y_mlp, y_cnn))
}
