//! An int8 twin written as a safetensors file (`to_safetensors`) and embedded by the
//! compiler (`include_weights!`) is the twin that was quantized, field for field: the
//! weights and biases as written, and every rescaling factor and clamp derived again
//! from the file's scales in constant evaluation, as quantizing derived them.
//!
//! The network has every part embedding handles: a convolution with a fused ReLU
//! (per-channel filters), a standalone ReLU (after pooling, where it cannot be fused), a
//! `LinearNoBias` with per-channel scales, a `Linear` with a per-tensor scale, a
//! separable convolution and a concatenation. The file is committed
//! (`tests/fixtures/embed/twin.safetensors`); `MONOGRAD_WRITE_FIXTURE=1 cargo test --test
//! quant_embed` writes it again after a change to initialisation or calibration.

use monograd::prelude::*;
use monograd::quant::calibrate::{Calibration, Granularity};

network! {
    #[quantize(SmallI8)]
    pub struct Small {
        input: [2, 8, 8],
        conv: Conv2d<2, 4, 3, 1, 1>,
        act1: ReLU,
        sep(input): SeparableConv2d<2, 4, 3, 1, 1>,
        both(act1, sep): Concat,
        pool: MaxPool2d<2>,
        act2: ReLU,
        flat: Flatten,
        fc1: LinearNoBias<128, 16>,
        act3: ReLU,
        fc2: Linear<16, 3>,
    }
}

const FIXTURE: &str = "tests/fixtures/embed/twin.safetensors";
static EMBEDDED: SmallI8 = include_weights!(SmallI8, "fixtures/embed/twin.safetensors");

fn quantized() -> SmallI8 {
    let net = Small::new(&mut Rng::seed(7));
    let mut rng = Rng::seed(8);
    let samples: Vec<f32> = (0..32 * 128).map(|_| rng.normal() as f32).collect();
    Small::quantize(&net, &Calibration::new(&samples).layer("fc1", Granularity::PerChannel)).unwrap()
}

#[test]
fn the_embedded_twin_is_the_quantized_one() {
    let twin = quantized();
    let bytes = twin.to_safetensors();
    if std::env::var_os("MONOGRAD_WRITE_FIXTURE").is_some() {
        std::fs::write(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), &bytes).unwrap();
    }
    assert!(
        bytes == include_bytes!("fixtures/embed/twin.safetensors"),
        "the twin's file differs from {FIXTURE}: if initialisation or calibration changed on purpose, \
         write it again with MONOGRAD_WRITE_FIXTURE=1"
    );
    // Every field, the derived ones included (multipliers, shifts, clamps).
    assert_eq!(EMBEDDED, twin);
    assert!(twin.fc1.per_channel && !twin.fc1.has_bias && !twin.fc2.per_channel && twin.conv.per_channel);
    // And so the same outputs.
    let x: Vec<i8> = (0..128).map(|i| (i * 37 % 256) as u8 as i8).collect();
    let (mut a, mut b) = (SmallI8::state(), SmallI8::state());
    assert_eq!(EMBEDDED.forward(&x, &mut a).unwrap(), twin.forward(&x, &mut b).unwrap());
}

#[test]
fn the_file_holds_integers_and_scales() {
    let bytes = quantized().to_safetensors();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    for want in [
        r#""conv.weight":{"dtype":"I8","shape":[4,2,3,3]"#,
        r#""conv.bias":{"dtype":"I32","shape":[4]"#,
        r#""conv.weight_scale":{"dtype":"F32","shape":[4]"#,
        r#""fc2.weight_scale":{"dtype":"F32","shape":[]"#,
        r#""sep.depthwise.weight":{"dtype":"I8","shape":[2,1,3,3]"#,
        r#""both.inputs.1.zero_point":{"dtype":"I32","shape":[]"#,
        r#""act2.output.scale":{"dtype":"F32","shape":[]"#,
        r#""input.zero_point":{"dtype":"I32","shape":[]"#,
    ] {
        assert!(header.contains(want), "{want} not in {header}");
    }
    // `LinearNoBias` writes no bias; no rescaling factor is written.
    assert!(!header.contains("fc1.bias") && !header.contains("multiplier"));
}
