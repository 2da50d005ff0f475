//! Quantization parameters of activations and weights, chosen from real ranges as TFLite
//! does, and the rescaling factors derived from them.
//!
//! This is the quantize-time side: it computes in floating point, once. The integer
//! kernels only read what it produced.

use crate::error::QuantError;
use crate::kernels::{AddParams, OutputStage, Requantize};
use crate::math::{quantize_f32, round_f32, Multiplier};

/// How an activation's integers map to reals: `real = scale · (q − zero_point)`, `i8`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// The real step between two integers.
    pub scale: f32,
    /// The integer that stands for real 0, in `-128..=127`.
    pub zero_point: i32,
}

impl QParams {
    /// TFLite's asymmetric `i8` parameters for the real range `[min, max]`, widened to hold
    /// 0 (so that zero padding and ReLU's floor are exact): `scale = (max − min) / 255`,
    /// `zero_point = round(−128 − min / scale)`. A range of one point gives scale 1.
    ///
    /// ```
    /// use monograd_quant::QParams;
    /// let q = QParams::from_range(0.0, 2.55);
    /// assert_eq!(q.zero_point, -128);
    /// assert!((q.scale - 0.01).abs() < 1e-9);
    /// ```
    pub fn from_range(min: f32, max: f32) -> QParams {
        let (min, max) = (min.min(0.0), max.max(0.0));
        if max - min <= f32::MIN_POSITIVE || !(max - min).is_finite() {
            return QParams { scale: 1.0, zero_point: 0 };
        }
        let scale = (f64::from(max) - f64::from(min)) / 255.0;
        let scale = scale as f32;
        let zp = round_f32(-128.0 - min / scale).clamp(-128, 127);
        QParams { scale, zero_point: zp }
    }

    /// `clamp(round(x / scale) + zero_point)`: quantizes one real (not integer-only: for
    /// inputs of a network and tests).
    pub fn quantize(&self, x: f32) -> i8 {
        quantize_f32(x, self.scale, self.zero_point).clamp(-128, 127) as i8
    }

    /// `scale · (q − zero_point)`.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (i32::from(q) - self.zero_point) as f32
    }
}

/// An activation fused into the operator before it (TFLite's fused activations): a clamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fused {
    /// Only the `i8` range.
    None,
    /// From the output's zero point.
    Relu,
    /// From the output's zero point to the quantized 6.
    Relu6,
}

impl Fused {
    /// TFLite's `CalculateActivationRangeQuantized` for an `i8` output.
    pub const fn stage(self, out: QParams) -> OutputStage {
        let zero = quantize_f32(0.0, out.scale, out.zero_point);
        // `max` and `min` by hand: `Ord`'s are not `const`, and embedding computes this
        // in constant evaluation.
        let min = if zero > -128 { zero } else { -128 };
        match self {
            Fused::None => OutputStage::plain(out.zero_point),
            Fused::Relu => OutputStage { zero_point: out.zero_point, min, max: 127 },
            Fused::Relu6 => {
                let six = quantize_f32(6.0, out.scale, out.zero_point);
                OutputStage { zero_point: out.zero_point, min, max: if six < 127 { six } else { 127 } }
            }
        }
    }
}

/// TFLite's real multiplier of a per-channel filter: `s_in · s_w / s_out`, in `f64` from
/// the `f32` scales (`PopulateConvolutionQuantizationParams`).
pub const fn per_channel_multiplier(s_in: f32, s_w: f32, s_out: f32) -> f64 {
    // `as f64` is `f64::from`'s exact widening, in a `const fn`.
    s_in as f64 * s_w as f64 / s_out as f64
}

/// TFLite Micro's real multiplier of a per-tensor fully connected layer
/// (`GetQuantizedConvolutionMultipler`): `s_in · s_w / s_out` with every operation in
/// `f64`, as for a per-channel filter.
///
/// Its source reads `static_cast<double>(input_scale * filter_scale)`, a product rounded
/// to `f32` first, but the `tflite-micro` package's interpreter is built so that it
/// widens both scales and multiplies in `f64` (`cvtss2sd`, `cvtss2sd`, `mulsd`). The two
/// multipliers differ in their last bits for most scales, which changes an output where
/// the accumulator lands near a rounding tie (a pruned LeNet-5 showed it on one test
/// digit in 2,000); the interpreter is what the exported files run in, so it is followed.
///
/// ```
/// use monograd_quant::params::{per_channel_multiplier, per_tensor_multiplier};
/// let (s_in, s_w, s_out) = (0.024_391_321f32, 0.003_539_175f32, 0.025_658_382f32);
/// assert_eq!(per_tensor_multiplier(s_in, s_w, s_out), per_channel_multiplier(s_in, s_w, s_out));
/// assert_ne!(per_tensor_multiplier(s_in, s_w, s_out), f64::from(s_in * s_w) / f64::from(s_out));
/// ```
pub const fn per_tensor_multiplier(s_in: f32, s_w: f32, s_out: f32) -> f64 {
    s_in as f64 * s_w as f64 / s_out as f64
}

/// TFLite Micro's `ADD` parameters for `i8` (`CalculateOpDataAdd`).
pub fn add_params(
    what: &'static str,
    a: QParams,
    b: QParams,
    out: QParams,
    act: Fused,
) -> Result<AddParams, QuantError> {
    let left_shift = 20;
    let twice_max = 2.0 * f64::from(a.scale.max(b.scale));
    let ma = f64::from(a.scale) / twice_max;
    let mb = f64::from(b.scale) / twice_max;
    let mo = twice_max / (f64::from(1u32 << left_shift) * f64::from(out.scale));
    // QuantizeMultiplierSmallerThanOneExp: each factor in (0, 1).
    for m in [ma, mb, mo] {
        if !(m > 0.0 && m < 1.0) {
            return Err(QuantError::OutOfRange { what, value: m });
        }
    }
    Ok(AddParams {
        a_zero_point: a.zero_point,
        b_zero_point: b.zero_point,
        left_shift,
        a: Multiplier::new(ma),
        b: Multiplier::new(mb),
        out: Multiplier::new(mo),
        output: act.stage(out),
    })
}

/// A rescaling from `input` to `output` with a clamp. `relu` gives TFLite Micro's `RELU`,
/// otherwise its `QUANTIZE` from `i8` to `i8`; both take the factor `s_in / s_out` in
/// `f64`. (`RELU`'s source divides in `f32` and widens the quotient, but the `tflite-micro`
/// package's interpreter divides the widened scales, `divsd`, as for
/// [`per_tensor_multiplier`].)
pub const fn requantize_params(input: QParams, output: QParams, act: Fused) -> Requantize {
    let real = input.scale as f64 / output.scale as f64;
    Requantize { input_zero_point: input.zero_point, scale: Multiplier::new(real), output: act.stage(output) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_zero() {
        let q = QParams::from_range(0.5, 1.0);
        assert_eq!(q.zero_point, -128);
        assert_eq!(q.quantize(0.0), -128);
        let q = QParams::from_range(-1.0, -0.5);
        assert_eq!(q.zero_point, 127);
        let q = QParams::from_range(-1.0, 1.0);
        assert_eq!(q.quantize(0.0) as i32, q.zero_point);
        assert!((q.dequantize(q.quantize(0.7)) - 0.7).abs() <= q.scale / 2.0 + 1e-6);
        assert_eq!(QParams::from_range(0.0, 0.0), QParams { scale: 1.0, zero_point: 0 });
    }

    #[test]
    fn fused_bounds_hand_computed() {
        let out = QParams { scale: 0.05, zero_point: -100 };
        assert_eq!(Fused::Relu.stage(out), OutputStage { zero_point: -100, min: -100, max: 127 });
        // 6 / 0.05 = 120 -> -100 + 120 = 20.
        assert_eq!(Fused::Relu6.stage(out).max, 20);
        assert_eq!(Fused::None.stage(out), OutputStage::plain(-100));
    }

    #[test]
    fn per_tensor_takes_the_product_in_f64() {
        // The scales of a pruned LeNet-5's first linear layer, where TFLite Micro's
        // interpreter gave one output one step above an `f32` product's.
        let (a, b, c) = (0.024_391_321f32, 0.003_539_175f32, 0.025_658_382f32);
        let pt = per_tensor_multiplier(a, b, c);
        assert_eq!(pt, f64::from(a) * f64::from(b) / f64::from(c));
        assert_eq!(pt, per_channel_multiplier(a, b, c));
        let f32_product = Multiplier::new(f64::from(a * b) / f64::from(c));
        let ours = Multiplier::new(pt);
        assert_eq!((ours.multiplier, ours.shift), (1_849_600_497, -8));
        assert_eq!((f32_product.multiplier, f32_product.shift), (1_849_600_486, -8));
        // The accumulator of that output: 87.498 before rounding, a tie after the first
        // of the two roundings for the f64 multiplier only.
        assert_eq!(ours.apply(26007), 88);
        assert_eq!(f32_product.apply(26007), 87);
    }

    #[test]
    fn relu_factor_is_an_f64_quotient() {
        let (i, o) = (QParams { scale: 0.013_245_7, zero_point: 3 }, QParams { scale: 0.093_1, zero_point: -128 });
        let r = requantize_params(i, o, Fused::Relu);
        assert_eq!(r.scale, Multiplier::new(f64::from(i.scale) / f64::from(o.scale)));
        assert_eq!(r.scale, requantize_params(i, o, Fused::None).scale);
        // Scales for which the f32 quotient would give another significand.
        assert_eq!(r.scale.multiplier, 1_222_123_527);
        assert_eq!(Multiplier::new(f64::from(i.scale / o.scale)).multiplier, 1_222_123_520);
    }
}
