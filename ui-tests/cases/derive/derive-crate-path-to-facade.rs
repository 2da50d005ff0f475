use monograd::prelude::*;

// serde's habit: `crate` names the facade. Here it names monograd's core.
#[derive(Clone, Module)]
#[module(crate = "monograd")]
struct Mlp {
    fc1: Linear<4, 8>,
}

fn main() {}
