use monograd::prelude::*;

#[derive(Clone, Module)]
#[module(skip)]
struct Mlp {
    #[module(scalar = f64)]
    fc1: Linear<4, 8>,
}

fn main() {}
