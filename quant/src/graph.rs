//! A quantized network described operator by operator, for exporters.
//!
//! The description is in monograd's conventions: samples are channels first (`[C, H, W]`,
//! `[C, L]`, `[N]`), convolution weights `[out, in, kh, kw]` (depthwise: `[channels *
//! multiplier, 1, kh, kw]`), linear weights `[out, in]`, and a `Flatten` of a `[C, H, W]`
//! sample is row-major in that order. An exporter to a channels-last format converts
//! (transposes filters, permutes the columns of a linear layer that follows a flatten).
//! Shapes here are per sample: the batch dimension is left to the exporter.

use alloc::string::String;
use alloc::vec::Vec;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// Activations and weights.
    I8,
    /// Biases.
    I32,
}

/// How a tensor's integers map to real numbers: `real = scale * (q - zero_point)`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantParams {
    /// One scale per tensor, or one per slice along `axis` (per output channel).
    pub scale: Vec<f32>,
    /// Same length as `scale`; 0 for weights and biases.
    pub zero_point: Vec<i32>,
    /// The dimension `scale` runs along when it has more than one entry (0 for weights
    /// `[out, ...]`).
    pub axis: usize,
}

/// Constant contents of a tensor (weights, biases), row-major in the tensor's shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Weights.
    I8(Vec<i8>),
    /// Biases.
    I32(Vec<i32>),
}

/// One tensor: an activation (no data) or a constant.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The node or parameter name, as in safetensors files (`conv1.weight`, `act`).
    pub name: String,
    /// Per-sample shape of an activation; full shape of a constant.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Scale and zero point.
    pub quant: QuantParams,
    /// `Some` for constants.
    pub data: Option<Data>,
}

/// An activation fused into the operator before it stores (TFLite's fused activations:
/// the output is clamped, nothing else).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// No clamp beyond the int8 range.
    None,
    /// Clamp at the output's zero point.
    Relu,
    /// Clamp to the quantized `[0, 6]`.
    Relu6,
}

/// Padding of a convolution or pooling window, per spatial dimension (`[h, w]`, or `[0,
/// l]` for one-dimensional operators).
pub type Pad = [usize; 2];

/// One operator; fields are indices into [`Graph::tensors`].
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `y = x W^T + b`: input `[in]` (or any shape with that many elements), weights
    /// `[out, in]`, bias `[out]`.
    Linear {
        /// Input activation.
        input: usize,
        /// Weights.
        weight: usize,
        /// Bias.
        bias: usize,
        /// Output activation.
        output: usize,
        /// Fused clamp.
        activation: Activation,
    },
    /// Two-dimensional convolution over `[C, H, W]`; a one-dimensional one is written
    /// with `kernel[0] == 1` over `[C, 1, L]`.
    Conv2d {
        /// Input activation.
        input: usize,
        /// Weights `[out, in, kh, kw]`.
        weight: usize,
        /// Bias `[out]`.
        bias: usize,
        /// Output activation.
        output: usize,
        /// `[h, w]`.
        stride: [usize; 2],
        /// Zero padding (in real terms: the input's zero point) on each side.
        padding: Pad,
        /// `[h, w]`.
        dilation: [usize; 2],
        /// Fused clamp.
        activation: Activation,
    },
    /// Depthwise convolution: each input channel with its own `multiplier` filters.
    DepthwiseConv2d {
        /// Input activation.
        input: usize,
        /// Weights `[channels * multiplier, 1, kh, kw]`.
        weight: usize,
        /// Bias `[channels * multiplier]`.
        bias: usize,
        /// Output activation.
        output: usize,
        /// Output channels per input channel.
        multiplier: usize,
        /// `[h, w]`.
        stride: [usize; 2],
        /// Zero padding on each side.
        padding: Pad,
        /// `[h, w]`.
        dilation: [usize; 2],
        /// Fused clamp.
        activation: Activation,
    },
    /// Max pooling; input and output share scale and zero point.
    MaxPool2d {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// Window `[h, w]`.
        window: [usize; 2],
        /// `[h, w]`.
        stride: [usize; 2],
        /// Padding on each side (padded cells never win).
        padding: Pad,
    },
    /// Average pooling with TFLite's rounding (half away from zero); input and output
    /// share scale and zero point.
    AvgPool2d {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// Window `[h, w]`.
        window: [usize; 2],
        /// `[h, w]`.
        stride: [usize; 2],
        /// Padding on each side (padded cells are not counted).
        padding: Pad,
    },
    /// A standalone ReLU or ReLU6 (rescaling if input and output quantization differ).
    Activation {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// Which clamp.
        kind: Activation,
    },
    /// Same elements, new shape (Flatten, Reshape): no arithmetic.
    Reshape {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
    },
    /// Elementwise sum of two activations of one shape, with TFLite's rescaling.
    Add {
        /// First input.
        a: usize,
        /// Second input.
        b: usize,
        /// Output activation.
        output: usize,
        /// Fused clamp.
        activation: Activation,
    },
    /// Concatenation along `axis` of the per-sample shape, inputs rescaled to the
    /// output's quantization.
    Concat {
        /// Inputs in order.
        inputs: Vec<usize>,
        /// Output activation.
        output: usize,
        /// Per-sample axis (0 is channels).
        axis: usize,
    },
}

/// A quantized network: tensors, operators in execution order, and the network's input
/// and output tensors. The input is quantized from real numbers with its own
/// [`QuantParams`]; the output is `i8`, dequantized by the reader.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// Every activation and constant.
    pub tensors: Vec<Tensor>,
    /// Operators in the order they run.
    pub ops: Vec<Op>,
    /// Network inputs (one for a `network!`).
    pub inputs: Vec<usize>,
    /// Network outputs.
    pub outputs: Vec<usize>,
}
