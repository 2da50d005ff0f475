// A missing file, a file that is not safetensors, a prefix the file does not have, and
// arguments the macro does not take.
use monograd::prelude::*;

#[derive(Clone, Module)]
struct Fc {
    fc2: Linear<16, 4>,
}

static A: Fc = include_weights!(Fc, "no/such/file.safetensors");
static B: Fc = include_weights!(Fc, "file_errors.rs");
static C: Fc = include_weights!(Fc, "../../../tests/fixtures/torch/mlp.safetensors", prefix = "decoder");
static D: Fc = include_weights!(Fc, "../../../tests/fixtures/torch/mlp.safetensors", strict = false);
static E: Fc = include_weights!("../../../tests/fixtures/torch/mlp.safetensors");

fn main() {
    let _ = (&A, &B, &C, &D, &E);
}
