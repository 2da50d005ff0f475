//! TFLite's fixed-point arithmetic, as its reference kernels compute it.
//!
//! Requantization multiplies an `i32` accumulator by a real number `M` given as a Q31
//! multiplier and a power-of-two shift (`M = multiplier · 2^(shift − 31)`). TFLite
//! (without `TFLITE_SINGLE_ROUNDING`, its default) rounds twice: once in
//! [`saturating_rounding_doubling_high_mul`] and once in [`rounding_divide_by_pot`]; the
//! single-rounding variant differs on some values, so this is the one to match.
//!
//! Everything here except [`quantize_multiplier`] and the other functions that start from
//! real scales (run once, when a network is quantized) is integer arithmetic only.

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `a · b / 2^31` rounded to nearest,
/// halves upwards (its nudge is `2^30` for positive products and `1 − 2^30` for negative
/// ones, then the division truncates: `0.5 → 1` but `−0.5 → 0`), saturating the one
/// overflowing case (`a = b = i32::MIN`).
///
/// ```
/// use monograd_quant::math::saturating_rounding_doubling_high_mul as srdhm;
/// assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
/// assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
/// ```
#[inline(always)]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    // C++ integer division truncates towards zero, as Rust's does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, halves away
/// from zero; `exponent` in `0..=31`.
///
/// ```
/// use monograd_quant::math::rounding_divide_by_pot as rdbp;
/// assert_eq!((rdbp(5, 1), rdbp(-5, 1), rdbp(-6, 2), rdbp(7, 0)), (3, -3, -2, 7));
/// ```
#[inline(always)]
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    (x >> exponent) + if remainder > threshold { 1 } else { 0 }
}

/// TFLite's `MultiplyByQuantizedMultiplier` (double rounding): `x · multiplier ·
/// 2^(shift − 31)`, the shift's positive part applied before the product (wrapping, as
/// the C++ does), its negative part after it, rounded.
///
/// ```
/// use monograd_quant::math::{multiply_by_quantized_multiplier, quantize_multiplier};
/// let (m, s) = quantize_multiplier(0.5);
/// assert_eq!(multiply_by_quantized_multiplier(3, m, s), 2); // 1.5 rounds up
/// assert_eq!(multiply_by_quantized_multiplier(-3, m, s), -1); // and so does -1.5
/// ```
#[inline(always)]
pub const fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32.wrapping_shl(left as u32)), multiplier),
        right,
    )
}

/// A real multiplier as TFLite stores it: `multiplier` in `[2^30, 2^31)` (or 0) and a
/// power-of-two `shift`, so that the real value is `multiplier · 2^(shift − 31)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Multiplier {
    /// The Q31 significand.
    pub multiplier: i32,
    /// The power of two; positive shifts left.
    pub shift: i32,
}

impl Multiplier {
    /// From a real multiplier, as [`quantize_multiplier`].
    pub const fn new(real: f64) -> Self {
        let (multiplier, shift) = quantize_multiplier(real);
        Self { multiplier, shift }
    }

    /// `x` times this multiplier, TFLite's rounding.
    #[inline(always)]
    pub const fn apply(self, x: i32) -> i32 {
        multiply_by_quantized_multiplier(x, self.multiplier, self.shift)
    }
}

/// C's `frexp`: `x = m · 2^e` with `|m|` in `[0.5, 1)`; `(x, 0)` for 0, infinities and NaN.
pub const fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first (2^54 is exact).
        let (m, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000));
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, exp - 1022)
}

/// `round` of C (`TfLiteRound`): to nearest, halves away from zero; saturates to the
/// `i64` range.
pub const fn round_f64(v: f64) -> i64 {
    if v.is_nan() {
        return 0;
    }
    let t = v as i64; // truncates towards zero, saturating
    if v.abs() >= 4_503_599_627_370_496.0 {
        return t; // 2^52 and above: already an integer
    }
    let frac = v - t as f64; // exact below 2^52
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// `roundf` of C: to nearest, halves away from zero; saturates to the `i32` range.
pub const fn round_f32(v: f32) -> i32 {
    if v.is_nan() {
        return 0;
    }
    let t = v as i32;
    if v.abs() >= 8_388_608.0 {
        return t; // 2^23 and above: already an integer
    }
    let frac = v - t as f32;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// TFLite's `QuantizeMultiplier`: `(multiplier, shift)` with `real = multiplier ·
/// 2^(shift − 31)`, the significand rounded half away from zero; a multiplier below about
/// `2^-31` flushes to `(0, 0)`.
///
/// ```
/// use monograd_quant::math::quantize_multiplier;
/// assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
/// assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
/// assert_eq!(quantize_multiplier(0.0), (0, 0));
/// ```
pub const fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = round_f64(q * 2_147_483_648.0);
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// TFLite's `Quantize` of one real value with an `f32` scale, as its kernels compute
/// clamping bounds: `zero_point + roundf(f / scale)`.
pub const fn quantize_f32(f: f32, scale: f32, zero_point: i32) -> i32 {
    zero_point.saturating_add(round_f32(f / scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The double-rounding `MultiplyByQuantizedMultiplier` in 128-bit arithmetic, written
    /// from its definition rather than from gemmlowp's code: floor(x·2^left·m / 2^31 + 1/2)
    /// (halves upwards), then x / 2^right with halves away from zero.
    fn reference(x: i32, m: i32, shift: i32) -> i32 {
        fn div_round(n: i128, d: i128) -> i128 {
            let q = n / d;
            let r = n % d;
            if 2 * r.abs() >= d {
                q + n.signum()
            } else {
                q
            }
        }
        let left = shift.max(0);
        let right = (-shift).max(0);
        let xl = (x as i128) << left;
        let xl = xl as i32 as i128; // the C++ wraps
        if xl == i32::MIN as i128 && m == i32::MIN {
            return div_round(i32::MAX as i128, 1 << right) as i32;
        }
        let high = (xl * m as i128 + (1 << 30)).div_euclid(1 << 31);
        div_round(high, 1i128 << right) as i32
    }

    #[test]
    fn srdhm_hand_computed() {
        // 3 · 2^30 / 2^31 = 1.5 -> 2; -1.5 -> -1 (halves upwards).
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        // 1 · 2^30 / 2^31 = 0.5 -> 1; -0.5 -> 0.
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        // Not a half: -0.5000000005 -> -1.
        assert_eq!(saturating_rounding_doubling_high_mul(-1, (1 << 30) + 1), -1);
        // 0.25 -> 0, -0.25 -> 0.
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 29), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 29), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX), i32::MAX - 1);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX), i32::MIN + 1);
    }

    #[test]
    fn rounding_divide_hand_computed() {
        // Halves away from zero: 2.5 -> 3, -2.5 -> -3; 1.25 -> 1; -1.75 -> -2.
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(5, 2), 1);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 -> -2
        assert_eq!(rounding_divide_by_pot(-5, 2), -1); // -1.25 -> -1
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(-1, 31), 0);
    }

    #[test]
    fn quantize_multiplier_hand_computed() {
        // 0.75 = 0.75 · 2^0: significand round(0.75 · 2^31) = 1610612736.
        assert_eq!(quantize_multiplier(0.75), (1_610_612_736, 0));
        // 0.1 = 0.8 · 2^-3: round(0.8 · 2^31) = round(1717986918.4) = 1717986918.
        assert_eq!(quantize_multiplier(0.1), (1_717_986_918, -3));
        // 3.0 = 0.75 · 2^2.
        assert_eq!(quantize_multiplier(3.0), (1_610_612_736, 2));
        // A significand that rounds up to 2^31 moves to the next power.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
        // Below 2^-31 (after normalising): flushed.
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        // Subnormals normalise like normals before the flush.
        assert_eq!(frexp(f64::from_bits(1)), (0.5, -1073));
        assert_eq!(frexp(-6.0), (-0.75, 3));
    }

    #[test]
    fn multiply_hand_computed() {
        // 0.1 · 1000 = 100 exactly representable after rounding.
        let (m, s) = quantize_multiplier(0.1);
        assert_eq!(multiply_by_quantized_multiplier(1000, m, s), 100);
        assert_eq!(multiply_by_quantized_multiplier(-1000, m, s), -100);
        // 0.1 · 15 = 1.5: SRDHM gives round(15 · 0.8) = 12, then 12 / 8 = 1.5 -> 2.
        assert_eq!(multiply_by_quantized_multiplier(15, m, s), 2);
        assert_eq!(multiply_by_quantized_multiplier(-15, m, s), -2);
        // 0.1 · 25 = 2.5: SRDHM 20, 20 / 8 = 2.5 -> 3; -25 -> -3.
        assert_eq!(multiply_by_quantized_multiplier(25, m, s), 3);
        assert_eq!(multiply_by_quantized_multiplier(-25, m, s), -3);
        // Double rounding: 0.1 · 5; SRDHM gives round(3.9999999991) = 4, then 4 / 8 = 0.5 -> 1
        // (one rounding of 0.49999999988 would give 0).
        assert_eq!(multiply_by_quantized_multiplier(5, m, s), 1);
        // A multiplier above one: 3 · 7 = 21, shift 2 applied first.
        let (m3, s3) = quantize_multiplier(3.0);
        assert_eq!(multiply_by_quantized_multiplier(7, m3, s3), 21);
        assert_eq!(multiply_by_quantized_multiplier(-7, m3, s3), -21);
    }

    #[test]
    fn edge_cases_match_the_definition() {
        let m = (1 << 30) + 1;
        for x in [-(1 << 20) - 1, 3, -3, 12345, -12345, 1 << 30, i32::MIN, i32::MAX] {
            assert_eq!(multiply_by_quantized_multiplier(x, m, -1), reference(x, m, -1), "{x}");
        }
    }

    #[test]
    fn matches_the_definition_on_many_values() {
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..200_000 {
            let r = next();
            let x = match r % 4 {
                0 => (r >> 8) as i32,
                1 => ((r >> 8) as i32) >> 12,
                2 => ((r >> 8) as i32) >> 24,
                _ => [i32::MIN, i32::MAX, -1, 0, 1][(r >> 40) as usize % 5],
            };
            let m = ((next() >> 33) as i32) | (1 << 30);
            let shift = (next() % 39) as i32 - 31; // what quantize_multiplier gives: -31..=7
            assert_eq!(multiply_by_quantized_multiplier(x, m, shift), reference(x, m, shift), "{x} {m} {shift}");
        }
    }

    #[test]
    fn rounding_of_reals() {
        assert_eq!((round_f64(2.5), round_f64(-2.5), round_f64(2.4999), round_f64(-0.5)), (3, -3, 2, -1));
        assert_eq!((round_f32(0.5), round_f32(-1.5), round_f32(1e10), round_f32(f32::NAN)), (1, -2, i32::MAX, 0));
        assert_eq!(quantize_f32(6.0, 0.05, -128), -8);
    }
}
