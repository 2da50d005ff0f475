//! Weights trained in PyTorch load into the matching monograd networks, which then compute
//! PyTorch's outputs: within 1e-5 absolute plus 1e-4 relative in f32 (and 1e-12 in f64).
//!
//! The fixtures in tests/fixtures/torch/ are written by scripts/make-torch-fixtures.py
//! (PyTorch and the Python `safetensors` package, outside CI); the script's docstring
//! tells how to re-record them. Two networks: an MLP written as a `torch.nn.Module` with
//! named attributes (PyTorch's names are monograd's unchanged) and a CNN written as a
//! `torch.nn.Sequential` (index names, mapped with `names::Sequential`), both with batch
//! norm in eval mode after a few training steps.

use std::path::PathBuf;

use monograd::core::module::Path;
use monograd::nn::serialize::names::{Prefix, Sequential};
use monograd::nn::serialize::safetensors::{self, LoadOptions, SaveOptions};
use monograd::nn::serialize::SerializeError;
use monograd::prelude::*;

network! {
    /// torch: `fc1 = nn.Linear(6, 16)`, `bn = nn.BatchNorm1d(16)`, `act = nn.ReLU()`,
    /// `fc2 = nn.Linear(16, 4)`.
    pub struct Mlp {
        input: [6],
        fc1: Linear<6, 16>,
        bn: BatchNorm1d<16>,
        act: ReLU,
        fc2: Linear<16, 4>,
    }
}

network! {
    /// torch: `nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
    /// nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(24, 5))`.
    pub struct Cnn {
        input: [1, 8, 8],
        conv1: Conv2d<1, 4, 3, 1, 1>,
        bn: BatchNorm2d<4>,
        act1: ReLU,
        pool: MaxPool2d<2>,
        conv2: Conv2d<4, 6, 3>,
        act2: ReLU,
        flat: Flatten,
        fc: Linear<24, 5>,
    }
}

const BATCH: usize = 5;

/// Inputs and PyTorch's outputs, read through the same loader as raw parameters.
#[derive(Clone, Module)]
struct MlpIo<T: Scalar> {
    x: [[T; 6]; BATCH],
    y: [[T; 4]; BATCH],
}

#[derive(Clone, Module)]
struct CnnIo {
    x: [[[[f32; 8]; 8]; 1]; BATCH],
    y: [[f32; 5]; BATCH],
}

/// Edge values of the half formats, as a raw parameter (`values`).
#[derive(Clone, Module)]
struct Edges {
    values: [f32; 12],
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch").join(name)
}

fn assert_close<T: Scalar>(got: &[T], want: &[T], abs: f64, rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f64(), w.to_f64());
        assert!((g - w).abs() <= abs + rel * w.abs(), "{what}[{i}]: monograd {g}, PyTorch {w}");
    }
}

/// Every tensor of a module, flat, in visit order, with its name.
fn tensors<T: Scalar, M: Module<T>>(m: &M) -> Vec<(String, Vec<T>)> {
    let mut out = Vec::new();
    m.visit(&Path::ROOT, &mut |t| out.push((t.path.to_string(), t.values.to_vec())));
    out
}

#[test]
fn a_pytorch_mlp_loads_by_its_own_names_and_computes_pytorchs_outputs() -> Result<(), SerializeError> {
    let mut net = Mlp::new(&mut Rng::seed(0));
    let report = safetensors::load(&mut net, fixture("mlp.safetensors"), &LoadOptions::strict())?;
    assert_eq!(
        report.loaded,
        [
            "fc1.weight",
            "fc1.bias",
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "fc2.weight",
            "fc2.bias",
            "bn.num_batches_tracked"
        ]
    );
    assert!(report.ignored.is_empty() && report.converted.is_empty(), "{report:?}");
    // Three training steps in PyTorch: the int64 counter came across.
    assert_eq!(net.bn.num_batches_tracked, 3);
    assert!(net.bn.running_var.iter().all(|&v| v != 1.0), "running statistics were loaded");

    let mut io = MlpIo { x: [[0.0f32; 6]; BATCH], y: [[0.0; 4]; BATCH] };
    safetensors::load(&mut io, fixture("mlp-io.safetensors"), &LoadOptions::strict())?;
    let mut st = Mlp::state::<Heap>();
    let y = net.forward(io.x.as_flattened(), &mut st).unwrap();
    assert_close(y, io.y.as_flattened(), 1e-5, 1e-4, "mlp f32 output");
    Ok(())
}

#[test]
fn a_float64_mlp_loads_as_float64_and_matches_to_1e_12() -> Result<(), SerializeError> {
    let mut net = Mlp::<f64>::default();
    let report = safetensors::load(&mut net, fixture("mlp-f64.safetensors"), &LoadOptions::strict())?;
    assert!(report.converted.is_empty());
    let mut io = MlpIo { x: [[0.0f64; 6]; BATCH], y: [[0.0; 4]; BATCH] };
    safetensors::load(&mut io, fixture("mlp-f64-io.safetensors"), &LoadOptions::strict())?;
    let mut st = Mlp::<f64>::state::<Heap>();
    let y = net.forward(io.x.as_flattened(), &mut st).unwrap();
    assert_close(y, io.y.as_flattened(), 1e-12, 1e-12, "mlp f64 output");

    // Into f32, F64 rounds: refused unless asked for, then the f32 outputs match.
    let mut net32 = Mlp::default();
    let err = safetensors::load(&mut net32, fixture("mlp-f64.safetensors"), &LoadOptions::strict()).unwrap_err();
    assert!(
        matches!(&err, SerializeError::Dtype { name, expected: "F32 (or F16, BF16)", found, .. }
            if name == "fc1.weight" && found == "F64"),
        "{err}"
    );
    assert_eq!(net32.fc1.weight, Linear::<6, 16>::ZERO.weight, "a failed load changes nothing");
    safetensors::load(&mut net32, fixture("mlp-f64.safetensors"), &LoadOptions::strict().narrowing(true))?;
    let mut io32 = MlpIo { x: [[0.0f32; 6]; BATCH], y: [[0.0; 4]; BATCH] };
    safetensors::load(&mut io32, fixture("mlp-io.safetensors"), &LoadOptions::strict())?;
    let y = net32.forward(io32.x.as_flattened(), &mut Mlp::state::<Heap>()).unwrap().to_vec();
    assert_close(&y, io32.y.as_flattened(), 1e-5, 1e-4, "mlp f64 weights narrowed to f32");
    Ok(())
}

#[test]
fn a_pytorch_sequential_cnn_loads_through_index_names() -> Result<(), SerializeError> {
    // The layer order of the network is the order of torch's Sequential.
    let seq = Sequential::from_summary(&Cnn::summary());
    assert_eq!(seq.layers(), ["conv1", "bn", "act1", "pool", "conv2", "act2", "flat", "fc"]);

    // By monograd's own names, nothing matches: the error says what the file has instead.
    let mut net = Cnn::new(&mut Rng::seed(0));
    let err = safetensors::load(&mut net, fixture("cnn.safetensors"), &LoadOptions::strict()).unwrap_err();
    let SerializeError::Missing { names, unexpected, .. } = &err else { panic!("{err}") };
    assert_eq!(names.len(), 11);
    assert!(unexpected.contains(&"0.weight".to_string()), "{err}");

    let report = safetensors::load(&mut net, fixture("cnn.safetensors"), &LoadOptions::strict().names(&seq))?;
    assert_eq!(
        report.loaded,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "4.weight",
            "4.bias",
            "7.weight",
            "7.bias",
            "1.num_batches_tracked"
        ]
    );
    assert_eq!(net.bn.num_batches_tracked, 3);

    let mut io = CnnIo { x: [[[[0.0; 8]; 8]; 1]; BATCH], y: [[0.0; 5]; BATCH] };
    safetensors::load(&mut io, fixture("cnn-io.safetensors"), &LoadOptions::strict())?;
    let mut st = Cnn::state::<Heap>();
    let y = net.forward(io.x.as_flattened().as_flattened().as_flattened(), &mut st).unwrap();
    assert_close(y, io.y.as_flattened(), 1e-5, 1e-4, "cnn output");

    // Saved back through the same names, it is PyTorch's file again: same names, shapes,
    // types and values (PyTorch's metadata aside).
    let bytes = safetensors::to_bytes(&net, &SaveOptions::new().names(&seq))?;
    let mut again = Cnn::default();
    safetensors::load_bytes(&mut again, &bytes, &LoadOptions::strict().names(&seq))?;
    assert_eq!(tensors(&again), tensors(&net));
    assert_eq!(again.bn.num_batches_tracked, 3);
    Ok(())
}

#[test]
fn half_precision_tensors_widen_exactly_as_pytorch_widens_them() -> Result<(), SerializeError> {
    let file = fixture("halves.safetensors");
    for (half, reference, dtype) in [("f16.", "f16_ref.", "F16"), ("bf16.", "bf16_ref.", "BF16")] {
        // One file holds several models: each is read through its prefix, leniently.
        let mut from_half = Mlp::default();
        let report = safetensors::load(&mut from_half, &file, &LoadOptions::lenient().names(&Prefix(half)))?;
        assert_eq!(report.converted.len(), 8, "{report:?}");
        assert!(report.converted.iter().all(|(_, d)| d == dtype), "{report:?}");
        assert!(!report.ignored.is_empty());
        let mut from_ref = Mlp::default();
        let report = safetensors::load(&mut from_ref, &file, &LoadOptions::lenient().names(&Prefix(reference)))?;
        assert!(report.converted.is_empty());
        let bits = |m: &Mlp| -> Vec<(String, Vec<u32>)> {
            tensors(m).into_iter().map(|(n, v)| (n, v.iter().map(|x| x.to_bits()).collect())).collect()
        };
        assert_eq!(bits(&from_half), bits(&from_ref), "{dtype}");
        assert_eq!(from_half.bn.num_batches_tracked, 3);

        // Zeros of both signs, the largest half, subnormals, infinities, overflow to
        // infinity in F16, flush to zero.
        let (mut edges, mut edges_ref) = (Edges { values: [0.0; 12] }, Edges { values: [0.0; 12] });
        let lenient = LoadOptions::lenient();
        let (p, r) = (format!("edges.{half}"), format!("edges.{reference}"));
        safetensors::load(&mut edges, &file, &lenient.names(&Prefix(&p)))?;
        safetensors::load(&mut edges_ref, &file, &lenient.names(&Prefix(&r)))?;
        assert_eq!(edges.values.map(f32::to_bits), edges_ref.values.map(f32::to_bits), "{dtype}");
        assert_eq!(edges.values[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(edges.values[8], f32::INFINITY);
    }
    // In f16, 3e38 overflows and 1e-40 flushes to zero; in bf16 both survive, rounded.
    let mut edges = Edges { values: [0.0; 12] };
    safetensors::load(&mut edges, &file, &LoadOptions::lenient().names(&Prefix("edges.f16.")))?;
    assert_eq!((edges.values[10], edges.values[11]), (0.0, f32::INFINITY));
    assert_eq!(edges.values[6], 2f32.powi(-24), "the smallest f16 subnormal");
    safetensors::load(&mut edges, &file, &LoadOptions::lenient().names(&Prefix("edges.bf16.")))?;
    assert!(edges.values[10] > 0.0 && edges.values[11].is_finite());
    Ok(())
}
