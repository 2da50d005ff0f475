//! Runs a `.tflite` file in TFLite Micro through `scripts/tflite_check.py`, with the
//! Python that `MONOGRAD_TFLITE_PYTHON` names (scripts/check-tflite.sh sets it to its
//! venv's).

use std::path::PathBuf;
use std::process::Command;

use monograd::quant::graph::Graph;
use monograd::quant::tflite::{from_channels_last, to_channels_last};

/// The Python to run the harness with, or a message saying how to get one.
pub fn python() -> Result<PathBuf, String> {
    std::env::var_os("MONOGRAD_TFLITE_PYTHON")
        .map(PathBuf::from)
        .ok_or_else(|| "set MONOGRAD_TFLITE_PYTHON to a Python with tflite-micro (scripts/check-tflite.sh does)".into())
}

/// TFLite Micro's int8 outputs for `input` (samples one after another, channels first,
/// the graph's single input), channels first like monograd's.
pub fn run(graph: &Graph, model: &[u8], input: &[i8], tag: &str) -> Result<Vec<i8>, String> {
    let py = python()?;
    let in_shape = &graph.tensors[graph.inputs[0]].shape;
    let out_shape = &graph.tensors[graph.outputs[0]].shape;
    let dir = std::env::temp_dir().join(format!("monograd-tflite-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (m, x, y) = (dir.join("model.tflite"), dir.join("input.bin"), dir.join("output.bin"));
    let bytes: Vec<u8> = to_channels_last(in_shape, input).iter().map(|v| *v as u8).collect();
    std::fs::write(&m, model).map_err(|e| e.to_string())?;
    std::fs::write(&x, bytes).map_err(|e| e.to_string())?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/tflite_check.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(&m)
        .arg(&x)
        .arg(&y)
        .output()
        .map_err(|e| format!("running {}: {e}", py.display()))?;
    if !out.status.success() {
        return Err(format!(
            "tflite_check.py failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let raw = std::fs::read(&y).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    let got: Vec<i8> = raw.into_iter().map(|b| b as i8).collect();
    Ok(from_channels_last(out_shape, &got))
}
