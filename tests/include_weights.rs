//! `include_weights!`: networks built from safetensors files at compile time equal the
//! same networks loaded at run time, tensor for tensor and bit for bit, and compute
//! PyTorch's outputs. The networks are those of the no_std proof (no-std-check/src/
//! embedded.rs, included here), whose outputs `scripts/check-no-std.sh` passes in
//! `MONOGRAD_NO_STD_EMBEDDED` to compare the two builds.

use std::path::PathBuf;

use monograd::core::module::Path;
use monograd::nn::serialize::names::Prefix;
use monograd::nn::serialize::safetensors::{self, LoadOptions, SaveOptions};
use monograd::prelude::*;

#[path = "../no-std-check/src/embedded.rs"]
mod embedded;
use embedded::{SmallCnn, TorchMlp, CNN, MLP};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// Every tensor and counter of a module: names with values as bits.
fn contents<M: Module<f32>>(m: &M) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    m.visit(&Path::ROOT, &mut |t| out.push((t.path.to_string(), t.values.iter().map(|v| v.to_bits()).collect())));
    m.visit_counters(&Path::ROOT, &mut |c| {
        let v = *c.value;
        out.push((c.path.to_string(), vec![v as u32, (v >> 32) as u32]))
    });
    out
}

fn loaded<M: Module<f32> + Default>(file: &str, options: &LoadOptions<'_>) -> M {
    let mut m = M::default();
    safetensors::load(&mut m, fixture(file), options).unwrap_or_else(|e| panic!("{file}: {e}"));
    m
}

/// The CNN fixture: seeded weights, and running statistics that are not the initial ones
/// (so that a BatchNorm read as new would differ).
fn cnn_weights() -> SmallCnn {
    let mut net = SmallCnn::new(&mut Rng::seed(3));
    for c in 0..4 {
        net.bn.running_mean[c] = 0.1 * c as f32 - 0.15;
        net.bn.running_var[c] = 0.5 + 0.25 * c as f32;
        net.bn.weight[c] = 1.0 + 0.1 * c as f32;
        net.bn.bias[c] = -0.05 * c as f32;
    }
    net.bn.num_batches_tracked = 12;
    net
}

#[test]
fn the_cnn_fixture_is_what_monograd_saves() {
    let bytes = safetensors::to_bytes(&cnn_weights(), &SaveOptions::default()).unwrap();
    let path = fixture("embed/cnn.safetensors");
    if std::env::var_os("MONOGRAD_BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let committed = std::fs::read(&path).unwrap();
    assert!(committed == bytes, "{} is stale: rerun with MONOGRAD_BLESS=1 and rebuild", path.display());
}

#[test]
fn embedded_networks_equal_the_run_time_loader_bit_for_bit() {
    let strict = LoadOptions::default();
    let mlp: TorchMlp = loaded("torch/mlp.safetensors", &strict);
    let cnn: SmallCnn = loaded("embed/cnn.safetensors", &strict);
    assert_eq!(contents(&MLP), contents(&mlp));
    assert_eq!(contents(&CNN), contents(&cnn));
    assert_eq!(contents(&CNN), contents(&cnn_weights()));
    // Not vacuous: the tensors are there and not zero, the counters are PyTorch's.
    assert_eq!(contents(&MLP).len(), 8 + 1);
    assert!(MLP.fc1.weight.as_flattened().iter().all(|w| *w != 0.0));
    assert_eq!((MLP.bn.num_batches_tracked, CNN.bn.num_batches_tracked), (3, 12));
}

/// Inputs and PyTorch's outputs of the MLP fixture, embedded too (raw parameters).
#[derive(Clone, Module)]
struct MlpIo {
    x: [[f32; 6]; 5],
    y: [[f32; 4]; 5],
}

#[test]
fn the_embedded_pytorch_mlp_computes_pytorchs_outputs() -> Result<(), ShapeError> {
    static IO: MlpIo = include_weights!(MlpIo, "fixtures/torch/mlp-io.safetensors");
    let mut state = TorchMlp::state::<Heap>();
    let y = MLP.forward(IO.x.as_flattened(), &mut state)?;
    for (i, (g, w)) in y.iter().zip(IO.y.as_flattened()).enumerate() {
        assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "[{i}]: monograd {g}, PyTorch {w}");
    }
    Ok(())
}

#[test]
fn outputs_match_the_no_std_build() -> Result<(), ShapeError> {
    let (y_mlp, y_cnn) = embedded::outputs()?;
    let (x_mlp, x_cnn) = embedded::inputs();
    // The same inputs through the networks loaded at run time, in the same storage (the
    // same kernels): the same bits.
    let mlp: TorchMlp = loaded("torch/mlp.safetensors", &LoadOptions::default());
    let cnn: SmallCnn = loaded("embed/cnn.safetensors", &LoadOptions::default());
    assert_eq!(mlp.forward(&x_mlp, &mut TorchMlp::state::<Fixed<1>>())?, y_mlp);
    assert_eq!(cnn.forward(&x_cnn, &mut SmallCnn::state::<Fixed<1>>())?, y_cnn);
    assert!(y_mlp.iter().chain(&y_cnn).all(|v| v.is_finite() && *v != 0.0));
    let printed: Vec<String> = y_mlp.iter().chain(&y_cnn).map(|v| v.to_string()).collect();
    println!("std build: embedded outputs {}", printed.join(" "));
    if let Ok(v) = std::env::var("MONOGRAD_NO_STD_EMBEDDED") {
        let no_std: Vec<f32> =
            v.split_whitespace().map(|s| s.parse().expect("floats printed by no-std-check")).collect();
        assert_eq!(no_std.len(), 7, "{v}");
        for (i, (a, b)) in y_mlp.iter().chain(&y_cnn).zip(&no_std).enumerate() {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "output {i}: std {a}, no_std {b}");
        }
        println!("matches the no_std build's outputs within 1e-5");
    }
    Ok(())
}

/// Cargo rebuilds the crate when an embedded file changes: the compiler listed each file
/// in this test binary's dep-info (`<binary>.d`, beside it), which cargo compares.
#[test]
fn embedded_files_are_dependencies_of_the_build() {
    let exe = std::env::current_exe().unwrap();
    let dep_info = exe.with_extension("d");
    let deps = std::fs::read_to_string(&dep_info).unwrap_or_else(|e| panic!("{}: {e}", dep_info.display()));
    for file in
        ["embed/cnn.safetensors", "embed/stack.safetensors", "torch/mlp.safetensors", "torch/halves.safetensors"]
    {
        assert!(deps.contains(&format!("tests/fixtures/{file}")), "{file} is not in {}", dep_info.display());
    }
}

/// A derived struct with an array of modules, a raw parameter and a tuple struct of
/// layers named as a `torch.nn.Sequential` names them.
#[derive(Clone, Module)]
struct Stack {
    blocks: [Linear<2, 2>; 3],
    scale: [f32; 2],
}

#[derive(Clone, Module)]
struct SeqCnn(Conv2d<1, 4, 3, 1, 1>, BatchNorm2d<4>, ReLU, MaxPool2d<2>, Conv2d<4, 6, 3>, ReLU, Flatten, Linear<24, 5>);

#[test]
fn derived_structs_embed_arrays_raw_parameters_and_index_names() {
    // PyTorch's Sequential CNN, by its own names `0.weight`, `1.running_mean`, ...
    static SEQ: SeqCnn = include_weights!(SeqCnn, "fixtures/torch/cnn.safetensors");
    let mut seq = SeqCnn(Conv2d::ZERO, BatchNorm2d::ZERO, ReLU, MaxPool2d, Conv2d::ZERO, ReLU, Flatten, Linear::ZERO);
    safetensors::load(&mut seq, fixture("torch/cnn.safetensors"), &LoadOptions::default()).unwrap();
    assert_eq!(contents(&SEQ), contents(&seq));
    assert!(SEQ.7.weight.as_flattened().iter().all(|w| *w != 0.0) && SEQ.1.num_batches_tracked > 0);

    // Half-precision tensors, widened as the run-time loader widens them, under a prefix.
    static F16: TorchMlp = include_weights!(TorchMlp, "fixtures/torch/halves.safetensors", prefix = "f16");
    static BF16: TorchMlp = include_weights!(TorchMlp, "fixtures/torch/halves.safetensors", prefix = "bf16");
    let lenient = LoadOptions::lenient();
    assert_eq!(
        contents(&F16),
        contents(&loaded::<TorchMlp>("torch/halves.safetensors", &lenient.names(&Prefix("f16."))))
    );
    assert_eq!(
        contents(&BF16),
        contents(&loaded::<TorchMlp>("torch/halves.safetensors", &lenient.names(&Prefix("bf16."))))
    );
    assert_ne!(contents(&F16), contents(&BF16));

    // Arrays of modules at `blocks.0`, `blocks.1`, ...; a raw parameter at `scale`.
    static STACK: Stack = include_weights!(Stack, "fixtures/embed/stack.safetensors");
    let mut rng = Rng::seed(5);
    let mut want =
        Stack { blocks: [Linear::new(&mut rng), Linear::new(&mut rng), Linear::new(&mut rng)], scale: [0.5, -2.0] };
    let bytes = safetensors::to_bytes(&want, &SaveOptions::default()).unwrap();
    let path = fixture("embed/stack.safetensors");
    if std::env::var_os("MONOGRAD_BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    assert!(std::fs::read(&path).unwrap() == bytes, "{} is stale: rerun with MONOGRAD_BLESS=1", path.display());
    assert_eq!(contents(&STACK), contents(&want));
    want.blocks[2].bias[1] += 1.0;
    assert_ne!(contents(&STACK), contents(&want));
}
