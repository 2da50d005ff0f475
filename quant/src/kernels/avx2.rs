//! The dot product of the dense kernels in AVX2 intrinsics: 16 weights widened from `i8`
//! (`vpmovsxbw`) and multiplied with 16 patch values, pairs summed into `i32`
//! (`vpmaddwd`, the `_mm256_madd_epi16` TFLite's x86 kernels use). Integer sums are exact,
//! so the result is the portable [`super::dot`]'s to the bit (tested below).

use core::arch::x86_64::*;

/// `Σ w[i] · p[i]` over `min(w.len(), p.len())` values. Callers run it only where the CPU
/// has AVX2 (inside a function compiled with it, after `is_x86_feature_detected!`).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn dot(w: &[i8], p: &[i16]) -> i32 {
    let n = w.len().min(p.len());
    let body = n - n % 16;
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i < body {
        // SAFETY: `i + 16 <= body <= n`, within both slices; unaligned loads.
        let (wv, pv) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().add(i).cast())),
                _mm256_loadu_si256(p.as_ptr().add(i).cast()),
            )
        };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(wv, pv));
        i += 16;
    }
    let half = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
    let quad = _mm_add_epi32(half, _mm_shuffle_epi32::<0b01_00_11_10>(half));
    let one = _mm_add_epi32(quad, _mm_shuffle_epi32::<0b10_11_00_01>(quad));
    let mut sum = _mm_cvtsi128_si32(one);
    for j in body..n {
        sum += i32::from(w[j]) * i32::from(p[j]);
    }
    sum
}

#[cfg(test)]
mod tests {
    #[test]
    fn equals_the_portable_dot() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut s = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for n in 0..100 {
            let w: std::vec::Vec<i8> = (0..n).map(|_| next() as i8).collect();
            let p: std::vec::Vec<i16> = (0..n).map(|_| (next() % 511) as i16 - 255).collect();
            // SAFETY: the CPU has AVX2, checked above.
            let fast = unsafe { super::dot(&w, &p) };
            assert_eq!(fast, super::super::dot(&w, &p), "n = {n}");
        }
    }
}
