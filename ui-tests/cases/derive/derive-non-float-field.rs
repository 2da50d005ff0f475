use monograd::prelude::*;

#[derive(Clone, Module)]
struct Mlp {
    fc1: Linear<4, 8>,
    steps: u32,
}

fn main() {}
