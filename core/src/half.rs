//! Half-precision floats widened to `f32`: IEEE 754 binary16 (safetensors' `F16`,
//! PyTorch's `torch.float16`) and bfloat16 (`BF16`, `torch.bfloat16`).
//!
//! Every value of either format is exactly an `f32`, so both conversions are exact: no
//! rounding, infinities stay infinite, NaNs stay NaN (with their payload shifted into
//! place), and the sign of zero is kept.
//!
//! - binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. Normal values
//!   are `±2^(e-15) (1 + m/1024)`; subnormals (`e = 0`) are `±m 2^-24`.
//! - bfloat16: the top 16 bits of an `f32` (1 sign, 8 exponent, 7 fraction bits), so
//!   widening appends 16 zero bits.

/// The `f32` equal to the binary16 value with these bits (little-endian in files).
///
/// ```
/// use monograd_core::half::f16_to_f32;
/// assert_eq!(f16_to_f32(0x3C00), 1.0);
/// assert_eq!(f16_to_f32(0xC000), -2.0);
/// assert_eq!(f16_to_f32(0x7BFF), 65504.0); // the largest finite half
/// assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24)); // the smallest subnormal
/// assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
/// assert!(f16_to_f32(0x7E00).is_nan());
/// ```
pub const fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits & 0x8000) as u32) << 16;
    let exp = ((bits >> 10) & 0x1F) as u32;
    let frac = (bits & 0x03FF) as u32;
    let magnitude = if exp == 0x1F {
        // Infinity (frac 0) or NaN: the fraction moves to the top of f32's.
        0x7F80_0000 | (frac << 13)
    } else if exp != 0 {
        // Normal: rebias the exponent from 15 to 127.
        ((exp + 127 - 15) << 23) | (frac << 13)
    } else if frac == 0 {
        0
    } else {
        // Subnormal: frac 2^-24 with the highest set bit of frac at position p becomes
        // 2^(p-24) (1 + rest), a normal f32 with exponent field p - 24 + 127.
        let p = 31 - frac.leading_zeros();
        ((p + 127 - 24) << 23) | ((frac << (23 - p)) & 0x007F_FFFF)
    };
    f32::from_bits(sign | magnitude)
}

/// The `f32` equal to the bfloat16 value with these bits: they are its top half.
///
/// ```
/// use monograd_core::half::bf16_to_f32;
/// assert_eq!(bf16_to_f32(0x3F80), 1.0);
/// assert_eq!(bf16_to_f32(0xC049), -3.140625); // pi, to 8 significant bits
/// assert_eq!(bf16_to_f32(0xFF80), f32::NEG_INFINITY);
/// ```
pub const fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// binary16 by its definition, in f64 arithmetic.
    fn f16_reference(bits: u16) -> f64 {
        let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
        let exp = i32::from((bits >> 10) & 0x1F);
        let frac = f64::from(bits & 0x03FF);
        sign * match exp {
            0 => frac * 2f64.powi(-24),
            0x1F if frac == 0.0 => f64::INFINITY,
            0x1F => f64::NAN,
            e => 2f64.powi(e - 15) * (1.0 + frac / 1024.0),
        }
    }

    #[test]
    fn every_half_widens_to_its_value() {
        for bits in 0..=u16::MAX {
            let (got, want) = (f16_to_f32(bits), f16_reference(bits));
            if want.is_nan() {
                assert!(got.is_nan(), "{bits:#06x}");
                // A quiet NaN stays quiet, and the payload is kept.
                assert_eq!(got.to_bits() >> 13 & 0x3FF, u32::from(bits & 0x3FF), "{bits:#06x}");
            } else {
                assert_eq!(f64::from(got), want, "{bits:#06x}");
                assert_eq!(got.is_sign_negative(), bits & 0x8000 != 0, "{bits:#06x}");
            }
        }
    }

    #[test]
    fn every_bfloat16_is_the_top_half_of_its_f32() {
        for bits in 0..=u16::MAX {
            let got = bf16_to_f32(bits);
            assert_eq!(got.to_bits(), u32::from(bits) << 16);
        }
        assert_eq!(bf16_to_f32(0x0001), f32::from_bits(0x0001_0000)); // a subnormal
        assert_eq!(bf16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }
}
