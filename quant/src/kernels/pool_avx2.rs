//! 2x2 max pooling with stride 2 for CPUs with AVX2 (and no AVX-512 BW): 8 outputs from two
//! input rows of 16 bytes per pass. Loads may read past the end of a row into the next one
//! (those lanes are dropped); only where 16 bytes would leave the input do the last
//! outputs take the scalar loop. The same maxima and clamp as the portable loops (tested
//! below against them).

use core::arch::x86_64::*;

use super::OutputStage;

/// Each plane `[h, w]` of `x` pooled into `[oh, ow]` of `y` (`2·oh <= h`, `2·ow <= w`,
/// whole planes in both), each maximum clamped to `out`'s bounds, which must be `i16`
/// values (checked by the caller).
#[target_feature(enable = "avx2")]
pub(super) fn max_pool_2x2(x: &[i8], y: &mut [i8], [h, w]: [usize; 2], [oh, ow]: [usize; 2], out: OutputStage) {
    assert!(2 * oh <= h && 2 * ow <= w);
    let (lo, hi) = (_mm_set1_epi16(out.min as i16), _mm_set1_epi16(out.max as i16));
    for (c, yp) in y.chunks_exact_mut(oh * ow).enumerate() {
        for (oy, yr) in yp.chunks_exact_mut(ow).enumerate() {
            let (s0, s1) = (c * h * w + 2 * oy * w, c * h * w + (2 * oy + 1) * w);
            let mut i = 0;
            while i < ow {
                let n = (ow - i).min(8);
                if s1 + 2 * i + 16 > x.len() {
                    for (ox, yo) in yr.iter_mut().enumerate().skip(i) {
                        let m = x[s0 + 2 * ox].max(x[s0 + 2 * ox + 1]).max(x[s1 + 2 * ox]).max(x[s1 + 2 * ox + 1]);
                        *yo = i32::from(m).max(out.min).min(out.max) as i8;
                    }
                    break;
                }
                // SAFETY: `s0 < s1` and `s1 + 2i + 16 <= x.len()` (checked above): both loads
                // read inside `x`.
                let v = unsafe {
                    let a = _mm_loadu_si128(x.as_ptr().add(s0 + 2 * i).cast());
                    let b = _mm_loadu_si128(x.as_ptr().add(s1 + 2 * i).cast());
                    _mm_max_epi8(a, b)
                };
                // Even and odd bytes sign-extended to 16 bits, then their maximum.
                let even = _mm_srai_epi16::<8>(_mm_slli_epi16::<8>(v));
                let odd = _mm_srai_epi16::<8>(v);
                let m = _mm_min_epi16(_mm_max_epi16(_mm_max_epi16(even, odd), lo), hi);
                let q = _mm_packs_epi16(m, m);
                if n == 8 {
                    // SAFETY: bytes `i..i + 8 <= ow` of `yr`.
                    unsafe { _mm_storel_epi64(yr.as_mut_ptr().add(i).cast(), q) };
                } else {
                    let mut tmp = [0i8; 16];
                    // SAFETY: sixteen bytes into an array of sixteen.
                    unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), q) };
                    yr[i..i + n].copy_from_slice(&tmp[..n]);
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
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut s = 0x2468_1357_aaaa_5555u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let shapes = [(1, 2, 2), (3, 5, 7), (6, 24, 24), (16, 8, 8), (2, 9, 64), (1, 4, 65), (2, 6, 130), (1, 3, 17)];
        for (c, h, w) in shapes {
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
                // SAFETY: the CPU has AVX2, checked above.
                unsafe { max_pool_2x2(&x, &mut got, [h, w], [oh, ow], out) };
                assert_eq!(got, want, "{c}x{h}x{w}, {out:?}");
            }
        }
    }
}
