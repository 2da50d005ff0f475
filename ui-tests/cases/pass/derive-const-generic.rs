//! Structs generic over dimensions, and arrays of modules of generic length.
#![deny(warnings)]

use monograd::prelude::*;

#[derive(Clone, Module)]
struct Block<const N: usize> {
    fc: Linear<N, N>,
}

#[derive(Clone, Module)]
struct Tower<const N: usize, const DEPTH: usize, T: Scalar = f32> {
    blocks: [Linear<N, N, T>; DEPTH],
    gains: [[T; N]; DEPTH],
}

fn main() {
    assert_eq!(<Block<3> as Module<f32>>::PARAMS, 12);
    assert_eq!(<Tower<3, 4> as Module<f32>>::PARAMS, 4 * 12 + 4 * 3);
    assert_eq!(<Tower<2, 0, f64> as Module<f64>>::PARAMS, 0);
}
