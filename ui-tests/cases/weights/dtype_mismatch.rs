// The file holds F64 tensors; the layer is f32, and embedding does not round.
use monograd::prelude::*;

static FC2: Linear<16, 4> = include_weights!(Linear<16, 4>, "../../../tests/fixtures/torch/mlp-f64.safetensors", prefix = "fc2");

fn main() {
    let _ = &FC2;
}
