// No batch norm in the network, and a layer the file does not have: every tensor is named.
use monograd::prelude::*;

network! {
    pub struct Mlp {
        input: [6],
        fc1: Linear<6, 16>,
        act: ReLU,
        fc2: Linear<16, 4>,
        head: Linear<4, 2>,
    }
}

static NET: Mlp = include_weights!(Mlp, "../../../tests/fixtures/torch/mlp.safetensors");

fn main() {
    let _ = &NET;
}
