use monograd::prelude::*;

#[derive(Clone, Module)]
#[module(scaler = f64)]
struct Mlp {
    fc1: Linear<4, 8, f64>,
}

fn main() {}
