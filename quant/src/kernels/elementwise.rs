//! Elementwise kernels: TFLite's `ADD` (with its rescaling), requantization (TFLite's
//! `QUANTIZE` from `i8` to `i8`, and `RELU`/`RELU6` with their clamps) and concatenation.

use super::OutputStage;
use crate::error::{check_len, QuantError};
use crate::math::Multiplier;

/// TFLite's `ADD` parameters for `i8` (from `add_common.cc`): both inputs shifted left by
/// 20 bits, scaled to twice the larger input scale, summed, scaled to the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddParams {
    /// First input's zero point.
    pub a_zero_point: i32,
    /// Second input's zero point.
    pub b_zero_point: i32,
    /// 20 for `i8`.
    pub left_shift: i32,
    /// `s_a / (2 · max(s_a, s_b))`.
    pub a: Multiplier,
    /// `s_b / (2 · max(s_a, s_b))`.
    pub b: Multiplier,
    /// `2 · max(s_a, s_b) / (2^20 · s_out)`.
    pub out: Multiplier,
    /// Zero point and clamp of the output.
    pub output: OutputStage,
}

/// TFLite's `ADD` of two `i8` tensors of one shape.
pub fn add(p: &AddParams, a: &[i8], b: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
    check_len("add second input", a.len(), b.len())?;
    check_len("add output", a.len(), y.len())?;
    let lift = 1i32 << p.left_shift;
    for ((yi, &ai), &bi) in y.iter_mut().zip(a).zip(b) {
        let sa = p.a.apply((i32::from(ai) - p.a_zero_point).wrapping_mul(lift));
        let sb = p.b.apply((i32::from(bi) - p.b_zero_point).wrapping_mul(lift));
        *yi = p.output.finish(p.out.apply(sa.wrapping_add(sb)));
    }
    Ok(())
}

/// Rescaling from one quantization to another, with a clamp: TFLite's `QUANTIZE` from `i8`
/// to `i8` (`Requantize`), and its `RELU` (`ReluQuantized`) and `RELU6`, whose clamps
/// start at the output's zero point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requantize {
    /// The input's zero point.
    pub input_zero_point: i32,
    /// `s_in / s_out`.
    pub scale: Multiplier,
    /// Zero point and clamp of the output.
    pub output: OutputStage,
}

/// `y = clamp(M · (x − z_in) + z_out)`.
pub fn requantize(p: &Requantize, x: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
    check_len("requantize output", x.len(), y.len())?;
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = p.output.finish(p.scale.apply(i32::from(xi) - p.input_zero_point));
    }
    Ok(())
}

/// Concatenation along the first dimension of two channels-first samples, each input
/// requantized to the output's quantization (a plain copy where they share it, as TFLite
/// Micro requires of its `CONCATENATION`).
pub fn concat(a: (&Requantize, &[i8]), b: (&Requantize, &[i8]), y: &mut [i8]) -> Result<(), QuantError> {
    check_len("concat output", a.1.len() + b.1.len(), y.len())?;
    let (ya, yb) = y.split_at_mut(a.1.len());
    requantize(a.0, a.1, ya)?;
    requantize(b.0, b.1, yb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_hand_computed() {
        // Equal scales 0.5, output scale 1: real sum 2·0.5 + 4·0.5 = 3. Multipliers:
        // a = b = 0.5 / (2·0.5) = 0.5, out = (2·0.5) / (2^20·1).
        let p = AddParams {
            a_zero_point: 0,
            b_zero_point: 0,
            left_shift: 20,
            a: Multiplier::new(0.5),
            b: Multiplier::new(0.5),
            out: Multiplier::new(1.0 / f64::from(1 << 20)),
            output: OutputStage::plain(-1),
        };
        let mut y = [0i8; 3];
        add(&p, &[2, -3, 127], &[4, 0, 127], &mut y).unwrap();
        // 3 - 1 = 2; -1.5 -> the 2^20-scaled sum is exact, then -1.5 rounds to -2 (away from
        // zero in RoundingDivideByPOT) minus 1 = -3; 127 + 127 halves to 127, minus 1.
        assert_eq!(y, [2, -3, 126]);
    }

    #[test]
    fn relu_is_a_clamp_at_the_zero_point() {
        let p = Requantize {
            input_zero_point: -10,
            scale: Multiplier::new(1.0),
            output: OutputStage { zero_point: -10, min: -10, max: 127 },
        };
        let mut y = [0i8; 4];
        requantize(&p, &[-128, -11, -10, 100], &mut y).unwrap();
        assert_eq!(y, [-10, -10, -10, 100]);
    }
}
