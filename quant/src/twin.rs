//! The parts a quantized twin of a `network!` is made of (`#[quantize(Twin)]`): one value
//! per layer with its `i8` weights, `i32` biases, scales and rescaling factors, the
//! integer forward of each (no allocation, no floating point), how each is built from a
//! float layer's tensors, and how each describes itself in a [`crate::graph::Graph`].

use crate::error::QuantError;
use crate::kernels::{self, ConvGeometry, Dense, OutputStage, PoolGeometry, Requantize};
use crate::math::{round_f64, Multiplier};
use crate::params::{per_channel_multiplier, per_tensor_multiplier, requantize_params, Fused, QParams};

/// A layer with filters: `Linear` (`N` = inputs), a convolution (`N` = `C · kh · kw`) or
/// a depthwise one (`N` = `kh · kw`), `O` output channels.
#[derive(Clone, Debug, PartialEq)]
pub struct QDense<const O: usize, const N: usize> {
    /// Filters, symmetric (`-127..=127`, zero point 0).
    pub weight: [[i8; N]; O],
    /// Biases at scale `s_in · s_w[o]`.
    pub bias: [i32; O],
    /// Whether the float layer had a bias (`LinearNoBias` has none).
    pub has_bias: bool,
    /// The weights' scale per output channel (all equal when per tensor).
    pub weight_scale: [f32; O],
    /// One scale per output channel, or one for the tensor.
    pub per_channel: bool,
    /// `s_in · s_w[o] / s_out` as TFLite's multiplier and shift.
    pub multiplier: [Multiplier; O],
    /// The input's quantization.
    pub input: QParams,
    /// The output's quantization.
    pub output: QParams,
    /// The fused clamp.
    pub activation: Fused,
    /// Zero point and clamp of the output.
    pub stage: OutputStage,
}

impl<const O: usize, const N: usize> QDense<O, N> {
    /// The constants as the kernels take them.
    pub fn dense(&self) -> Dense<'_> {
        Dense {
            weight: self.weight.as_flattened(),
            bias: if self.has_bias { Some(&self.bias) } else { None },
            multipliers: if self.per_channel { &self.multiplier } else { &self.multiplier[..1] },
            input_zero_point: self.input.zero_point,
            output: self.stage,
        }
    }

    /// `Linear` on one sample.
    pub fn linear(&self, x: &[i8], y: &mut [i8], scratch: &mut [i16]) -> Result<(), QuantError> {
        kernels::linear(&self.dense(), x, y, scratch)
    }

    /// A convolution on one sample.
    pub fn conv2d(&self, g: &ConvGeometry, x: &[i8], y: &mut [i8], scratch: &mut [i16]) -> Result<(), QuantError> {
        kernels::conv2d(&self.dense(), g, x, y, scratch)
    }

    /// A depthwise convolution on one sample (one filter per input channel).
    pub fn depthwise(&self, g: &ConvGeometry, x: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
        kernels::depthwise_conv2d(&self.dense(), g, 1, x, y)
    }

    /// Quantizes a float layer's weight (`O · N` values, PyTorch's layout) and bias:
    /// weights symmetric with scale `max|w| / 127` per channel or per tensor, biases
    /// `round(b / (s_in · s_w))` in `i32`, multipliers as TFLite derives them.
    pub fn from_f32(
        what: &'static str,
        weight: &[f32],
        bias: Option<&[f32]>,
        input: QParams,
        output: QParams,
        activation: Fused,
        per_channel: bool,
    ) -> Result<Self, QuantError> {
        crate::error::check_len(what, O * N, weight.len())?;
        if let Some(b) = bias {
            crate::error::check_len(what, O, b.len())?;
        }
        if weight.iter().chain(bias.unwrap_or(&[])).any(|v| !v.is_finite()) {
            return Err(QuantError::NotFinite { what });
        }
        let absmax = |w: &[f32]| w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale_of = |m: f32| if m > 0.0 { m / 127.0 } else { 1.0 };
        let tensor_scale = scale_of(absmax(weight));
        let mut q = Self {
            weight: [[0; N]; O],
            bias: [0; O],
            has_bias: bias.is_some(),
            weight_scale: [tensor_scale; O],
            per_channel,
            multiplier: [Multiplier::default(); O],
            input,
            output,
            activation,
            stage: activation.stage(output),
        };
        for o in 0..O {
            let w = &weight[o * N..(o + 1) * N];
            let s = if per_channel { scale_of(absmax(w)) } else { tensor_scale };
            q.weight_scale[o] = s;
            for (qi, &wi) in q.weight[o].iter_mut().zip(w) {
                *qi = round_f64(f64::from(wi / s)).clamp(-127, 127) as i8;
            }
            if let Some(b) = bias {
                let bias_scale = f64::from(input.scale) * f64::from(s);
                let v = round_f64(f64::from(b[o]) / bias_scale);
                if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) {
                    return Err(QuantError::OutOfRange { what, value: f64::from(b[o]) / bias_scale });
                }
                q.bias[o] = v as i32;
            }
            let real = if per_channel {
                per_channel_multiplier(input.scale, s, output.scale)
            } else {
                per_tensor_multiplier(input.scale, s, output.scale)
            };
            if !(real > 0.0 && real.is_finite()) || real >= 128.0 {
                return Err(QuantError::OutOfRange { what, value: real });
            }
            q.multiplier[o] = Multiplier::new(real);
        }
        Ok(q)
    }
}

/// A depthwise-separable convolution: depthwise `K x K` then pointwise `1 x 1`, each
/// requantized (two TFLite operators).
#[derive(Clone, Debug, PartialEq)]
pub struct QSeparable<const C: usize, const KK: usize, const CO: usize> {
    /// The per-channel convolution.
    pub depthwise: QDense<C, KK>,
    /// The channel mix.
    pub pointwise: QDense<CO, C>,
}

/// A standalone ReLU or ReLU6 (one that no layer before it could take as a fused clamp).
#[derive(Clone, Debug, PartialEq)]
pub struct QActivation {
    /// The input's quantization.
    pub input: QParams,
    /// The output's quantization.
    pub output: QParams,
    /// Which clamp.
    pub kind: Fused,
    /// The rescaling and clamp.
    pub params: Requantize,
}

impl QActivation {
    /// TFLite Micro's `RELU` (or `RELU6`) parameters from the two quantizations.
    pub fn new(input: QParams, output: QParams, kind: Fused) -> Self {
        Self { input, output, kind, params: requantize_params(input, output, kind) }
    }

    /// On one sample.
    pub fn forward(&self, x: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
        kernels::requantize(&self.params, x, y)
    }
}

/// Elementwise sum with TFLite's rescaling.
#[derive(Clone, Debug, PartialEq)]
pub struct QAdd {
    /// First input's quantization.
    pub a: QParams,
    /// Second input's quantization.
    pub b: QParams,
    /// The output's quantization.
    pub output: QParams,
    /// The fused clamp.
    pub activation: Fused,
    /// The integer parameters.
    pub params: kernels::AddParams,
}

impl QAdd {
    /// TFLite Micro's `ADD` parameters.
    pub fn new(
        what: &'static str,
        a: QParams,
        b: QParams,
        output: QParams,
        activation: Fused,
    ) -> Result<Self, QuantError> {
        Ok(Self { a, b, output, activation, params: crate::params::add_params(what, a, b, output, activation)? })
    }

    /// On one sample.
    pub fn forward(&self, a: &[i8], b: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
        kernels::add(&self.params, a, b, y)
    }
}

/// Concatenation along the first dimension, each input rescaled to the output's
/// quantization.
#[derive(Clone, Debug, PartialEq)]
pub struct QConcat {
    /// The inputs' quantizations.
    pub inputs: [QParams; 2],
    /// The output's quantization.
    pub output: QParams,
    /// The rescaling of each input (TFLite's `QUANTIZE` from `i8` to `i8`).
    pub rescale: [Requantize; 2],
}

impl QConcat {
    /// From the quantizations.
    pub fn new(a: QParams, b: QParams, output: QParams) -> Self {
        Self {
            inputs: [a, b],
            output,
            rescale: [requantize_params(a, output, Fused::None), requantize_params(b, output, Fused::None)],
        }
    }

    /// On one sample.
    pub fn forward(&self, a: &[i8], b: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
        kernels::concat((&self.rescale[0], a), (&self.rescale[1], b), y)
    }
}

/// Max pooling on one sample (the output shares the input's quantization).
pub fn max_pool(g: &PoolGeometry, x: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
    kernels::max_pool2d(g, OutputStage::plain(0), x, y)
}

/// Average pooling on one sample (the output shares the input's quantization).
pub fn avg_pool(g: &PoolGeometry, x: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
    kernels::avg_pool2d(g, OutputStage::plain(0), x, y)
}

/// Quantizes `x` into `q` with `p` (floating point: the input of a twin's `predict`).
pub fn quantize_input(what: &'static str, p: QParams, x: &[f32], q: &mut [i8]) -> Result<(), QuantError> {
    crate::error::check_len(what, q.len(), x.len())?;
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if (-128..=127).contains(&p.zero_point)
        && crate::kernels::allows(crate::kernels::Isa::Avx512)
        && crate::input_avx512::available()
    {
        // SAFETY: the CPU has AVX-512 F, BW and VL, checked on the line above.
        if unsafe { crate::input_avx512::quantize(p, x, q) } {
            return Ok(());
        }
        // A value that is not finite: the loop below finds it and says so.
    }
    for (qi, &xi) in q.iter_mut().zip(x) {
        if !xi.is_finite() {
            return Err(QuantError::NotFinite { what });
        }
        *qi = p.quantize(xi);
    }
    Ok(())
}
