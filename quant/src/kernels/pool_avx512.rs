//! 2x2 max pooling with stride 2 in AVX-512 (BW): 32 outputs from two input rows of 64
//! bytes per pass, the last ones by masked loads and stores; the same maxima and clamp as
//! the portable loops (tested below against them).

use core::arch::x86_64::*;

use super::OutputStage;

/// Whether the CPU runs [`max_pool_2x2`].
#[inline]
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
}

/// Each plane `[h, w]` of `x` pooled into `[oh, ow]` of `y` (`2·oh <= h`, `2·ow <= w`,
/// whole planes in both), each maximum clamped to `out`'s bounds, which must be `i16`
/// values (checked by the caller).
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) fn max_pool_2x2(x: &[i8], y: &mut [i8], [h, w]: [usize; 2], [oh, ow]: [usize; 2], out: OutputStage) {
    assert!(2 * oh <= h && 2 * ow <= w);
    let (lo, hi) = (_mm512_set1_epi16(out.min as i16), _mm512_set1_epi16(out.max as i16));
    for (plane, yp) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
        for (oy, yr) in yp.chunks_exact_mut(ow).enumerate() {
            let (r0, r1) = (&plane[2 * oy * w..][..2 * ow], &plane[(2 * oy + 1) * w..][..2 * ow]);
            let mut i = 0;
            while i < ow {
                let n = (ow - i).min(32);
                let in_mask: __mmask64 = if n == 32 { !0 } else { (1u64 << (2 * n)) - 1 };
                // SAFETY: the masked loads read bytes `2i..2i + 2n <= 2·ow` of each row and
                // the masked store writes bytes `i..i + n <= ow` of `yr`, inside them.
                unsafe {
                    let a = _mm512_maskz_loadu_epi8(in_mask, r0.as_ptr().add(2 * i));
                    let b = _mm512_maskz_loadu_epi8(in_mask, r1.as_ptr().add(2 * i));
                    let v = _mm512_max_epi8(a, b);
                    // Even and odd bytes sign-extended to 16 bits, then their maximum.
                    let even = _mm512_srai_epi16::<8>(_mm512_slli_epi16::<8>(v));
                    let odd = _mm512_srai_epi16::<8>(v);
                    let m = _mm512_min_epi16(_mm512_max_epi16(_mm512_max_epi16(even, odd), lo), hi);
                    let out_mask: __mmask32 = if n == 32 { !0 } else { (1u32 << n) - 1 };
                    _mm256_mask_storeu_epi8(yr.as_mut_ptr().add(i), out_mask, _mm512_cvtepi16_epi8(m));
                }
                i += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn equals_the_portable_loops() {
        if !available() {
            return;
        }
        let mut s = 0x2468_1357_aaaa_5555u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for (c, h, w) in [(1, 2, 2), (3, 5, 7), (6, 24, 24), (16, 8, 8), (2, 9, 64), (1, 4, 65), (2, 6, 130)] {
            for out in [OutputStage::plain(0), OutputStage { zero_point: 0, min: -20, max: 100 }] {
                let (oh, ow) = (h / 2, w / 2);
                let x: Vec<i8> = (0..c * h * w).map(|_| next() as i8).collect();
                let mut want = std::vec![0i8; c * oh * ow];
                for ch in 0..c {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let at = |dy: usize, dx: usize| x[ch * h * w + (2 * oy + dy) * w + 2 * ox + dx];
                            let m = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                            want[ch * oh * ow + oy * ow + ox] = i32::from(m).max(out.min).min(out.max) as i8;
                        }
                    }
                }
                let mut got = std::vec![0i8; c * oh * ow];
                // SAFETY: the CPU has AVX-512 BW and VL, checked above.
                unsafe { max_pool_2x2(&x, &mut got, [h, w], [oh, ow], out) };
                assert_eq!(got, want, "{c}x{h}x{w}, {out:?}");
            }
        }
    }
}
