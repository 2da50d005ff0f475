//! The input quantization of a twin's `predict` in AVX-512: sixteen values per pass, each
//! `clamp(zero_point + roundf(x / scale))` with the scalar code's division (IEEE, the same
//! bits), rounding (halves away from zero) and clamp (tested below against it).

use core::arch::x86_64::*;

use crate::params::QParams;

/// Whether the CPU runs [`quantize`].
#[inline]
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
}

/// `q[i] = p.quantize(x[i])` for `i < min(x.len(), q.len())`; `false` (with `q` partly
/// written) if some `x[i]` is not finite, for the caller to report. `p.zero_point` must be
/// in `-128..=127` (checked by the caller).
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) fn quantize(p: QParams, x: &[f32], q: &mut [i8]) -> bool {
    let n = x.len().min(q.len());
    let scale = _mm512_set1_ps(p.scale);
    // Quotients beyond ±2^20 give the same clamped output as their own value (the zero
    // point is an `i8`); inside, `trunc` and the fraction are exact.
    let (lo, hi) = (_mm512_set1_ps(-1_048_576.0), _mm512_set1_ps(1_048_576.0));
    let (half, neg_half, one) = (_mm512_set1_ps(0.5), _mm512_set1_ps(-0.5), _mm512_set1_epi32(1));
    let zp = _mm512_set1_epi32(p.zero_point);
    let (qmin, qmax) = (_mm512_set1_epi32(-128), _mm512_set1_epi32(127));
    let mut i = 0;
    while i < n {
        let mask: __mmask16 = if n - i >= 16 { !0 } else { (1u16 << (n - i)) - 1 };
        // SAFETY: the masked load reads elements `i..min(i + 16, n)` of `x` only.
        let v = unsafe { _mm512_maskz_loadu_ps(mask, x.as_ptr().add(i)) };
        // `v − v` is NaN exactly where `v` is infinite or NaN.
        let d = _mm512_sub_ps(v, v);
        if _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(d, d) != 0 {
            return false;
        }
        let f = _mm512_div_ps(v, scale);
        // `roundf` of NaN (0 / 0 with a zero scale) is 0 in the scalar code.
        let f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(f, f), _mm512_setzero_ps());
        let f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
        let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(f);
        let frac = _mm512_sub_ps(f, t);
        let t = _mm512_cvttps_epi32(t);
        let t = _mm512_mask_add_epi32(t, _mm512_cmp_ps_mask::<_CMP_GE_OQ>(frac, half), t, one);
        let t = _mm512_mask_sub_epi32(t, _mm512_cmp_ps_mask::<_CMP_LE_OQ>(frac, neg_half), t, one);
        let r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(t, zp), qmin), qmax);
        // SAFETY: the masked store writes elements `i..min(i + 16, n)` of `q` only.
        unsafe { _mm_mask_storeu_epi8(q.as_mut_ptr().add(i), mask, _mm512_cvtepi32_epi8(r)) };
        i += 16;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn equals_the_scalar_code() {
        if !available() {
            return;
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let scales = [1.0f32, 0.5, 0.02, 0.007_843_138, 1e-3, 3.0, 1e-30, 0.0];
        for (k, &scale) in scales.iter().enumerate() {
            for zero_point in [-128, -1, 0, 5, 127] {
                let p = QParams { scale, zero_point };
                for n in (0..40).chain([784, 1000]) {
                    let x: Vec<f32> = (0..n)
                        .map(|i| match (i + k) % 7 {
                            // Halves, their neighbours and extremes.
                            0 => ((next() % 600) as f32 - 300.0 + 0.5) * scale,
                            1 => f32::from_bits(next() as u32 & 0x7f7f_ffff) * if i % 2 == 0 { 1.0 } else { -1.0 },
                            2 => -0.0,
                            3 => 1e30,
                            _ => (next() % 20000) as f32 / 1000.0 - 10.0,
                        })
                        .collect();
                    let mut got = std::vec![0i8; n];
                    // SAFETY: the CPU has AVX-512 F, BW and VL, checked above.
                    assert!(unsafe { quantize(p, &x, &mut got) });
                    let want: Vec<i8> = x.iter().map(|&v| p.quantize(v)).collect();
                    assert_eq!(got, want, "{p:?}, n = {n}");
                }
            }
        }
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = std::vec![0.5f32; 37];
            x[33] = bad;
            // SAFETY: as above.
            assert!(!unsafe { quantize(QParams { scale: 0.1, zero_point: 0 }, &x, &mut [0; 37]) });
        }
    }
}
