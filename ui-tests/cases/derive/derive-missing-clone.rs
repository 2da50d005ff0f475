use monograd::prelude::*;

#[derive(Module)]
struct Mlp {
    fc1: Linear<4, 8>,
}

fn main() {}
