use monograd::prelude::*;

#[derive(Clone, Module)]
struct Mlp {
    fc1: Linear<4, 8>,
    #[module(frozen)]
    fc2: Linear<8, 2>,
}

fn main() {}
