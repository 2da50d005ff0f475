//! The reverse direction, checked by Python's own `safetensors` package in CI: a model
//! trained and saved by monograd loads with `safetensors.numpy` under PyTorch's names,
//! shapes and types, with exactly the values monograd holds, and numpy computes monograd's
//! outputs from it; a file numpy writes back (scaled weights, float16 and float64 copies)
//! loads into monograd.
//!
//! The test makes its own virtual environment (`python3 -m venv` in a temporary
//! directory) and pip-installs `numpy` and `safetensors` (about 25 s). Any failure there
//! fails the test, with Python's output: it never skips. .ci/run makes sure `python3 -m
//! venv` works on a fresh machine.

use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;

use monograd::core::module::Path;
use monograd::nn::serialize::safetensors::{self, LoadOptions};
use monograd::nn::serialize::SerializeError;
use monograd::prelude::*;

network! {
    /// In PyTorch: `fc1 = nn.Linear(4, 8)`, `bn = nn.BatchNorm1d(8)`, `act = nn.ReLU()`,
    /// `drop = nn.Dropout(0.1)`, `fc2 = nn.Linear(8, 3)`.
    pub struct Net {
        input: [4],
        fc1: Linear<4, 8>,
        bn: BatchNorm1d<8>,
        act: ReLU,
        drop: Dropout,
        fc2: Linear<8, 3>,
    }
}

const STEPS: u64 = 5;
const BATCH: usize = 6;

/// A directory removed when the test passes (kept, and named, when it fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("monograd-python-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs a command; on failure, panics with everything it printed.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let program = cmd.get_program().to_string_lossy();
    assert!(
        out.status.success(),
        "{what} failed ({}): {program}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout.into_owned()
}

/// A fresh virtual environment with numpy and safetensors: its python.
fn python_with_safetensors(dir: &FsPath) -> PathBuf {
    let venv = dir.join("venv");
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv (on Debian or Ubuntu: apt-get install python3-venv)",
    );
    let python = venv.join(if cfg!(windows) { "Scripts/python.exe" } else { "bin/python" });
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "numpy", "safetensors"])
            .env("PIP_NO_INPUT", "1"),
        "pip install numpy safetensors",
    );
    python
}

/// Trains `STEPS` steps of Adam on a fixed regression problem.
fn trained() -> (Net, Vec<f32>) {
    let mut rng = Rng::seed(7);
    let mut net = Net::new(&mut rng);
    let x: Vec<f32> = (0..BATCH * 4).map(|_| rng.normal() as f32).collect();
    let target: Vec<f32> = (0..BATCH * 3).map(|_| rng.normal() as f32).collect();
    let (mut grad, mut st, mut adam) = (Net::default(), Net::state::<Heap>(), Adam::new(0.01f32));
    let mut dy = vec![0.0f32; BATCH * 3];
    for _ in 0..STEPS {
        let y = net.forward_train(&x, &mut st).unwrap();
        MseLoss.backward(y, &target[..], &mut dy).unwrap();
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut st).unwrap();
        adam.step(&mut net, &grad);
    }
    (net, x)
}

/// The checks on the Python side: argv[1] is the directory with `model.safetensors`,
/// `expected.txt` (one tensor a line: `name dtype dims values`, shapes as `8x4` or `-`
/// for a scalar, float values as the hex of their bits) and `io.txt` (input and monograd's
/// output, the same way). Writes `back.safetensors`.
const PYTHON: &str = r#"
import sys, os
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

d = sys.argv[1]
path = os.path.join(d, "model.safetensors")
t = load_file(path)
with safe_open(path, framework="np") as f:
    assert f.metadata() == {"format": "pt"}, f.metadata()

def parse(line):
    name, dtype, dims, values = line.split(" ")
    shape = () if dims == "-" else tuple(int(s) for s in dims.split("x"))
    if dtype == "F32":
        a = np.array([int(v, 16) for v in values.split(",")], dtype=np.uint32).view(np.float32)
    else:
        a = np.array([int(v) for v in values.split(",")], dtype=np.int64)
    return name, a.reshape(shape)

expected = dict(parse(l) for l in open(os.path.join(d, "expected.txt")).read().splitlines())
assert set(t) == set(expected), (sorted(t), sorted(expected))
for name, want in expected.items():
    got = t[name]
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    assert got.tobytes() == want.tobytes(), name  # bit for bit
assert t["bn.num_batches_tracked"].dtype == np.int64 and t["bn.num_batches_tracked"].shape == ()

# PyTorch's eval-mode forward, in numpy (float64), from the loaded tensors alone.
io = dict(parse(l) for l in open(os.path.join(d, "io.txt")).read().splitlines())
x = io["x"].astype(np.float64)
h = x @ t["fc1.weight"].T.astype(np.float64) + t["fc1.bias"]
h = (h - t["bn.running_mean"]) / np.sqrt(t["bn.running_var"].astype(np.float64) + 1e-5) * t["bn.weight"] + t["bn.bias"]
h = np.maximum(h, 0.0)
y = h @ t["fc2.weight"].T.astype(np.float64) + t["fc2.bias"]
err = np.abs(y - io["y"]) - (1e-5 + 1e-4 * np.abs(io["y"]))
assert (err <= 0).all(), (y, io["y"])

# Back: weights doubled (float32), the counter moved on, and float16 and float64 copies.
back = {k: np.asarray(v * 2 if v.dtype == np.float32 else v + 10) for k, v in t.items()}
back.update({"f16." + k: v.astype(np.float16) for k, v in t.items() if v.dtype == np.float32})
back.update({"f64." + k: v.astype(np.float64) for k, v in t.items() if v.dtype == np.float32})
save_file(back, os.path.join(d, "back.safetensors"))
print("python ok:", len(t), "tensors")
"#;

fn dims(shape: &[usize]) -> String {
    if shape.is_empty() {
        "-".into()
    } else {
        shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
    }
}

fn hex(values: &[f32]) -> String {
    values.iter().map(|v| format!("{:x}", v.to_bits())).collect::<Vec<_>>().join(",")
}

#[test]
fn a_model_trained_and_saved_by_monograd_loads_in_python_and_back() -> Result<(), SerializeError> {
    let dir = TempDir::new();
    let (net, x) = trained();
    assert_eq!(net.bn.num_batches_tracked, STEPS);
    safetensors::save(&net, dir.0.join("model.safetensors"))?;

    let mut expected = String::new();
    net.visit(&Path::ROOT, &mut |t| {
        writeln!(expected, "{} F32 {} {}", t.path, dims(t.shape), hex(t.values)).unwrap();
    });
    writeln!(expected, "bn.num_batches_tracked I64 - {}", net.bn.num_batches_tracked).unwrap();
    std::fs::write(dir.0.join("expected.txt"), expected).unwrap();
    let y = net.forward(&x, &mut Net::state::<Heap>()).unwrap().to_vec();
    let io = format!("x F32 {BATCH}x4 {}\ny F32 {BATCH}x3 {}\n", hex(&x), hex(&y));
    std::fs::write(dir.0.join("io.txt"), io).unwrap();

    let python = python_with_safetensors(&dir.0);
    let out = run(Command::new(&python).arg("-c").arg(PYTHON).arg(&dir.0), "the Python checks");
    assert!(out.contains("python ok: 9 tensors"), "{out}");

    // And back: what numpy wrote loads into monograd.
    let back = dir.0.join("back.safetensors");
    let mut doubled: Net = Net::default();
    let report = safetensors::load(&mut doubled, &back, &LoadOptions::lenient())?;
    assert_eq!(report.ignored.len(), 16, "the f16. and f64. copies: {report:?}");
    assert_eq!(doubled.bn.num_batches_tracked, STEPS + 10);
    assert_eq!(doubled.fc1.weight[3].map(|v| v / 2.0), net.fc1.weight[3]);
    assert_eq!(doubled.bn.running_var.map(|v| v / 2.0), net.bn.running_var);

    let prefixed = |p: &'static str| move |name: &str| format!("{p}{name}");
    let mut from_f16: Net = Net::default();
    let f16 = prefixed("f16.");
    let err = safetensors::load(&mut from_f16, &back, &LoadOptions::lenient().names(&f16)).unwrap_err();
    assert!(matches!(&err, SerializeError::Missing { names, .. } if names == &["f16.bn.num_batches_tracked"]), "{err}");
    // The counter is not among the copies: load the tensors alone, layer by layer.
    let fc1 = |name: &str| format!("f16.fc1.{name}");
    let report = safetensors::load(&mut from_f16.fc1, &back, &LoadOptions::lenient().names(&fc1))?;
    assert_eq!(report.converted, [("f16.fc1.weight".into(), "F16".into()), ("f16.fc1.bias".into(), "F16".into())]);
    for (h, w) in from_f16.fc1.weight.as_flattened().iter().zip(net.fc1.weight.as_flattened()) {
        assert!((h - w).abs() <= w.abs() * 2f32.powi(-11) + 2f32.powi(-25), "f16 rounding: {h} from {w}");
    }

    // F64 into an f32 model only when narrowing is allowed; then exact (they were f32).
    let mut from_f64: Net = Net::default();
    let fc2 = |name: &str| format!("f64.fc2.{name}");
    let err = safetensors::load(&mut from_f64.fc2, &back, &LoadOptions::lenient().names(&fc2)).unwrap_err();
    assert!(matches!(err, SerializeError::Dtype { .. }), "{err}");
    safetensors::load(&mut from_f64.fc2, &back, &LoadOptions::lenient().narrowing(true).names(&fc2))?;
    assert_eq!(from_f64.fc2, net.fc2);
    Ok(())
}
