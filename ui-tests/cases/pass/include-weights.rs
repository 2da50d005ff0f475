//! `include_weights!` in a crate that denies warnings: a public network generic over its
//! scalar (the derived `Embed` impl applies to `f32`), a built-in layer alone under a
//! prefix, and both equal to what the file holds.
#![deny(warnings)]

use monograd::prelude::*;

/// PyTorch's MLP fixture, without its ReLU (no tensors).
#[derive(Clone, Module)]
pub struct Net<T: Scalar = f32> {
    /// `nn.Linear(6, 16)`.
    pub fc1: Linear<6, 16, T>,
    /// `nn.BatchNorm1d(16)`.
    pub bn: BatchNorm1d<16, T>,
    /// `nn.Linear(16, 4)`.
    pub fc2: Linear<16, 4, T>,
}

/// Generic over a layer type whose drop glue constant evaluation cannot see: deriving
/// `Module` still compiles (and the `Embed` impl applies where `L` has one).
#[derive(Clone, Module)]
pub struct Wrap<L: Module<f32>> {
    /// Any module.
    pub inner: L,
}

/// The whole file.
pub static NET: Net = include_weights!(Net, "../../../tests/fixtures/torch/mlp.safetensors");

/// One layer of it: the other tensors are outside the prefix.
pub const FC2: Linear<16, 4> = include_weights!(Linear<16, 4>, "../../../tests/fixtures/torch/mlp.safetensors", prefix = "fc2.");

fn main() {
    assert_eq!(NET.fc2, FC2);
    assert!(NET.fc1.weight.as_flattened().iter().all(|w| *w != 0.0));
    assert_eq!(NET.bn.num_batches_tracked, 3);
    assert_eq!(<Wrap<Linear<2, 2>> as Module<f32>>::PARAMS, 6);
}
