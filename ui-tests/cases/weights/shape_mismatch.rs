// PyTorch's MLP has `fc2 = nn.Linear(16, 4)`; this network has 5 outputs.
use monograd::prelude::*;

network! {
    pub struct Mlp {
        input: [6],
        fc1: Linear<6, 16>,
        bn: BatchNorm1d<16>,
        act: ReLU,
        fc2: Linear<16, 5>,
    }
}

static NET: Mlp = include_weights!(Mlp, "../../../tests/fixtures/torch/mlp.safetensors");

fn main() {
    let _ = &NET;
}
