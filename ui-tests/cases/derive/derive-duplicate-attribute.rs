use monograd::prelude::*;

#[derive(Clone, Module)]
struct Mlp {
    #[module(freeze)]
    #[module(freeze)]
    fc1: Linear<4, 8>,
}

fn main() {}
