//! Export of a quantized [`Graph`] as a `.tflite` file (TFLite's FlatBuffers format,
//! schema version 3) for TFLite Micro: scripts/check-tflite.sh runs the files in its
//! reference interpreter and requires monograd's integer outputs bit for bit.
//!
//! The graph is channels first; TFLite is channels last with a batch dimension. The
//! writer converts:
//! - activations `[C, H, W]` become `[1, H, W, C]`, `[C, L]` become `[1, 1, L, C]`,
//!   vectors `[N]` become `[1, N]`; the network takes one sample per call;
//! - convolution filters `[O, I, KH, KW]` become `[O, KH, KW, I]`; depthwise filters
//!   `[C*M, 1, KH, KW]` become `[1, KH, KW, C*M]` (per-channel scales along dimension 3);
//! - a `Reshape` (a flatten) of a channels-last image keeps the bytes where they are, and
//!   the linear layer that reads it gets its weight columns permuted so that it computes
//!   the same sums; so does a linear layer reading an image directly;
//! - explicit padding becomes `SAME` or `VALID` where one of them pads alike, and is an
//!   error otherwise;
//! - ReLU and ReLU6 fused into the operator before them stay fused;
//! - a concatenation input quantized unlike the output is requantized first by a
//!   `QUANTIZE` operator (int8 to int8), since TFLite's int8 `CONCATENATION` only copies.
//!
//! Inputs and outputs of rank 2 or 3 are channels last in the file: [`to_channels_last`]
//! and [`from_channels_last`] convert samples. What TFLite cannot express as the graph
//! asks (a reshape that reorders channels-last data, a standalone ReLU6 that rescales,
//! padding TFLite has no name for) is an [`Error`] naming the operator, never a panic and
//! never a file that computes something else.
//!
//! ```
//! use monograd_quant::graph::{Activation, DType, Data, Graph, Op, QuantParams, Tensor};
//!
//! let q = |s: f32, z: i32| QuantParams { scale: vec![s], zero_point: vec![z], axis: 0 };
//! let act = |name: &str, n: usize, s: f32, z: i32| Tensor {
//!     name: name.into(), shape: vec![n], dtype: DType::I8, quant: q(s, z), data: None,
//! };
//! let graph = Graph {
//!     tensors: vec![
//!         act("x", 3, 0.02, -5),
//!         Tensor { name: "fc.weight".into(), shape: vec![2, 3], dtype: DType::I8,
//!                  quant: q(0.01, 0), data: Some(Data::I8(vec![1, -2, 3, 4, 5, -6])) },
//!         Tensor { name: "fc.bias".into(), shape: vec![2], dtype: DType::I32,
//!                  quant: q(0.0002, 0), data: Some(Data::I32(vec![100, -100])) },
//!         act("y", 2, 0.05, 3),
//!     ],
//!     ops: vec![Op::Linear { input: 0, weight: 1, bias: 2, output: 3,
//!                            activation: Activation::Relu }],
//!     inputs: vec![0],
//!     outputs: vec![3],
//! };
//! let bytes = monograd_quant::tflite::to_tflite(&graph)?;
//! assert_eq!(&bytes[4..8], b"TFL3");
//! # Ok::<(), monograd_quant::tflite::Error>(())
//! ```

mod convert;
mod schema;
mod write;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::graph::Graph;

/// Why a graph cannot be written as a `.tflite` file.
///
/// ```
/// use monograd_quant::graph::{DType, Graph, QuantParams, Tensor};
///
/// // An input that no operator reads, and an output nothing writes.
/// let q = QuantParams { scale: vec![0.1], zero_point: vec![0], axis: 0 };
/// let t = |name: &str| Tensor {
///     name: name.into(), shape: vec![4], dtype: DType::I8, quant: q.clone(), data: None,
/// };
/// let graph = Graph { tensors: vec![t("x"), t("y")], ops: vec![], inputs: vec![0], outputs: vec![1] };
/// let err = monograd_quant::tflite::to_tflite(&graph).unwrap_err();
/// assert_eq!(err.op, None);
/// assert_eq!(err.to_string(), "tflite export: `y` is read before any operator writes it");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The operator (index in [`Graph::ops`] and its output's name), or `None` for the
    /// graph's inputs and outputs.
    pub op: Option<(usize, String)>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            Some((i, name)) => write!(f, "tflite export, operator {i} (`{name}`): {}", self.message),
            None => write!(f, "tflite export: {}", self.message),
        }
    }
}

impl core::error::Error for Error {}

/// Writes `graph` as the bytes of a `.tflite` file.
///
/// Every shape is computed from the operators and checked against the graph's tensors
/// (TFLite's kernels trust the file's shapes). Constants are stored 16-byte aligned.
///
/// # Errors
/// An [`Error`] when the graph is inconsistent (indices, shapes, data lengths,
/// quantization parameters) or asks for something TFLite's int8 kernels do not do.
pub fn to_tflite(graph: &Graph) -> Result<Vec<u8>, Error> {
    let model = convert::convert(graph)?;
    let constants: usize = model.tensors.iter().filter_map(|t| t.data.as_ref()).map(Vec::len).sum();
    // FlatBuffers addresses with 32-bit offsets; keep well inside them.
    if constants > (1 << 30) {
        return Err(Error {
            op: None,
            message: alloc::format!("{constants} bytes of constants: more than a FlatBuffer holds"),
        });
    }
    Ok(write::write(&model, "monograd"))
}

/// Reorders samples of per-sample shape `shape` (channels first) into TFLite's order:
/// `[C, H, W]` as `[H, W, C]`, `[C, L]` as `[L, C]`; vectors are unchanged. `x` may hold
/// several samples one after another.
///
/// ```
/// use monograd_quant::tflite::{from_channels_last, to_channels_last};
///
/// let x = [1, 2, 3, 4, 5, 6]; // [C = 2, L = 3]
/// let t = to_channels_last(&[2, 3], &x);
/// assert_eq!(t, [1, 4, 2, 5, 3, 6]);
/// assert_eq!(from_channels_last(&[2, 3], &t), x);
/// ```
pub fn to_channels_last<T: Copy>(shape: &[usize], x: &[T]) -> Vec<T> {
    reorder(shape, x, true)
}

/// The inverse of [`to_channels_last`]: TFLite's order back to channels first.
///
/// ```
/// use monograd_quant::tflite::from_channels_last;
///
/// // Two samples of [C = 3, H = 1, W = 2], each held as [H, W, C].
/// let t = [1, 3, 5, 2, 4, 6, 7, 9, 11, 8, 10, 12];
/// assert_eq!(from_channels_last(&[3, 1, 2], &t), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
/// ```
pub fn from_channels_last<T: Copy>(shape: &[usize], x: &[T]) -> Vec<T> {
    reorder(shape, x, false)
}

fn reorder<T: Copy>(shape: &[usize], x: &[T], to_last: bool) -> Vec<T> {
    let (c, s) = match *shape {
        [c, l] => (c, l),
        [c, h, w] => (c, h * w),
        _ => return x.to_vec(),
    };
    let n = c * s;
    if n == 0 {
        return x.to_vec();
    }
    let mut out = x.to_vec();
    for (src, dst) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        for ci in 0..c {
            for si in 0..s {
                let (first, last) = (ci * s + si, si * c + ci);
                if to_last {
                    dst[last] = src[first];
                } else {
                    dst[first] = src[last];
                }
            }
        }
    }
    out
}
