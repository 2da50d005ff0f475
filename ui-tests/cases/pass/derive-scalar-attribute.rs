//! `#[module(scalar = ...)]`: a concrete scalar, or a type parameter without a bound.
#![deny(warnings)]

use monograd::prelude::*;

#[derive(Clone, Module)]
#[module(scalar = f64)]
struct Precise {
    fc: Linear<2, 2, f64>,
    bias: [f64; 2],
}

#[derive(Clone, Module)]
#[module(scalar = "T")]
struct Unbounded<T> {
    weights: [[T; 3]; 2],
}

fn main() {
    assert_eq!(<Precise as Module<f64>>::PARAMS, 8);
    assert_eq!(<Unbounded<f32> as Module<f32>>::PARAMS, 6);
}
