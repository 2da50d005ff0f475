// A layer of the user's own has no `Embed` impl, and a struct with a skipped field gets
// none: the error names the type and says what implements `Embed`.
use monograd::prelude::*;

#[derive(Clone, Module)]
struct Scale {
    gain: [f32; 4],
    #[module(skip)]
    label: &'static str,
}

#[derive(Clone, Module)]
struct Net {
    fc2: Linear<16, 4>,
    scale: Scale,
}

static NET: Net = include_weights!(Net, "../../../tests/fixtures/torch/mlp.safetensors", prefix = "fc2");

fn main() {
    let _ = &NET;
}
