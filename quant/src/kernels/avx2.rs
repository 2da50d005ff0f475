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

/// `Σ w[i] · p[i]` for four filters at once over one patch, `i16` values, `p.len()` a
/// multiple of 16 and each `w` at least that long.
#[inline]
#[target_feature(enable = "avx2")]
fn dot4(w: [&[i16]; 4], p: &[i16]) -> [i32; 4] {
    let n = p.len() - p.len() % 16;
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 16 <= n <= p.len()`, and every `w[k].len() >= p.len()` (checked by the
        // caller's slicing); unaligned loads.
        unsafe {
            let pv = _mm256_loadu_si256(p.as_ptr().add(i).cast());
            for k in 0..4 {
                let wv = _mm256_loadu_si256(w[k].as_ptr().add(i).cast());
                acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(wv, pv));
            }
        }
        i += 16;
    }
    [hsum(acc[0]), hsum(acc[1]), hsum(acc[2]), hsum(acc[3])]
}

/// The sum of eight `i32` lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let half = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let quad = _mm_add_epi32(half, _mm_shuffle_epi32::<0b01_00_11_10>(half));
    let one = _mm_add_epi32(quad, _mm_shuffle_epi32::<0b10_11_00_01>(quad));
    _mm_cvtsi128_si32(one)
}

/// A convolution with unit stride along rows, one output row at a time: for each tap, the
/// row of accumulators gets the tap's weight times a slice of an input row (the shifted
/// input `xz`), which the compiler vectorizes along the row. Suits short filters (LeNet's
/// first layer: 25 taps, 24 outputs per row), where gathering a patch per output costs more
/// than the products.
#[inline]
#[target_feature(enable = "avx2")]
fn rows(d: &super::Dense<'_>, g: &super::ConvGeometry, xz: &[i16], y: &mut [i8]) {
    const CHUNK: usize = 64;
    let n = g.patch_len();
    let [c_in, h, w] = g.input;
    let [c_out, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let (pad, dil) = (g.padding[1], g.dilation[1]);
    let mut acc = [0i32; CHUNK];
    for o in 0..c_out {
        let filter = &d.weight[o * n..(o + 1) * n];
        for oy in 0..oh {
            for start in (0..ow).step_by(CHUNK) {
                let len = CHUNK.min(ow - start);
                let acc = &mut acc[..len];
                acc.fill(0);
                if pad == 0 && len % 8 == 0 && len <= CHUNK {
                    // Whole vectors, every tap in range: the accumulators stay in registers.
                    valid_row(filter, g, xz, oy, start, acc);
                    let out = &mut y[o * oh * ow + oy * ow + start..][..len];
                    finish_row(d, o, acc, out);
                    continue;
                }
                for c in 0..c_in {
                    for ky in 0..kh {
                        let Some(iy) = g.source(0, oy, ky) else { continue };
                        let row = &xz[c * h * w + iy * w..][..w];
                        for kx in 0..kw {
                            let wv = i32::from(filter[(c * kh + ky) * kw + kx]);
                            // Outputs `start + j` read input column `start + j + kx·dil − pad`.
                            let shift = (start + kx * dil) as isize - pad as isize;
                            let lo = (-shift).clamp(0, len as isize) as usize;
                            let hi = (w as isize - shift).clamp(lo as isize, len as isize) as usize;
                            let src = &row[(lo as isize + shift) as usize..(hi as isize + shift) as usize];
                            for (a, &v) in acc[lo..hi].iter_mut().zip(src) {
                                *a += wv * i32::from(v);
                            }
                        }
                    }
                }
                let out = &mut y[o * oh * ow + oy * ow + start..][..len];
                finish_row(d, o, acc, out);
            }
        }
    }
}

/// [`finish`] for a row of accumulators of one output channel (one multiplier), eight at
/// a time: `SaturatingRoundingDoublingHighMul` as `floor((a·m + 2^30) / 2^31)` from
/// two 32x32->64-bit products per 64-bit lane (the multiplier is never `i32::MIN`, so
/// nothing saturates), then `RoundingDivideByPOT` with its mask and threshold; the same
/// integers as the scalar code, lane by lane.
#[inline]
#[target_feature(enable = "avx2")]
fn finish_row(d: &super::Dense<'_>, o: usize, acc: &[i32], out: &mut [i8]) {
    let m = d.multiplier(o);
    let bias = d.bias.map_or(0, |b| b[o]);
    let left = m.shift.max(0);
    let right = (-m.shift).max(0);
    let body = acc.len() - acc.len() % 8;
    let mult = _mm256_set1_epi64x(i64::from(m.multiplier));
    let half = _mm256_set1_epi64x(1 << 30);
    let mask = _mm256_set1_epi32(((1i64 << right) - 1) as i32);
    let base_threshold = _mm256_set1_epi32((((1i64 << right) - 1) as i32) >> 1);
    let zp = _mm256_set1_epi32(d.output.zero_point);
    let (lo, hi) = (_mm256_set1_epi32(d.output.min), _mm256_set1_epi32(d.output.max));
    let lsh = _mm_cvtsi32_si128(left);
    let rsh = _mm_cvtsi32_si128(right);
    let mut i = 0;
    while i < body {
        // SAFETY: `i + 8 <= body <= acc.len()`; unaligned load.
        let a = unsafe { _mm256_loadu_si256(acc.as_ptr().add(i).cast()) };
        let a = _mm256_sll_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(bias)), lsh);
        // Even lanes, then odd lanes moved down: signed 64-bit products.
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, mult), half);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64::<32>(a), mult), half);
        // Bits 31..62 of each sum: the floor of the quotient, low 32 bits.
        let even = _mm256_srli_epi64::<31>(even);
        let odd = _mm256_slli_epi64::<1>(odd); // bits 31..62 moved to 32..63
        let high = _mm256_blend_epi32::<0b1010_1010>(even, odd);
        // RoundingDivideByPOT.
        let rem = _mm256_and_si256(high, mask);
        let neg = _mm256_srli_epi32::<31>(high);
        let threshold = _mm256_add_epi32(base_threshold, neg);
        let up = _mm256_srli_epi32::<31>(_mm256_sub_epi32(threshold, rem)); // 1 where rem > threshold
        let q = _mm256_add_epi32(_mm256_sra_epi32(high, rsh), up);
        let q = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(q, zp), lo), hi);
        let mut lanes = [0i32; 8];
        // SAFETY: eight i32 values into an array of eight.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), q) };
        for (k, &v) in lanes.iter().enumerate() {
            out[i + k] = v as i8;
        }
        i += 8;
    }
    for j in body..acc.len() {
        out[j] = finish(d, o, acc[j]);
    }
}

/// One output row chunk of [`rows`] without padding, `acc.len()` a multiple of 8 up to 64:
/// eight accumulator vectors at most, each tap one broadcast weight times eight widened
/// input values per vector.
#[inline]
#[target_feature(enable = "avx2")]
fn valid_row(filter: &[i8], g: &super::ConvGeometry, xz: &[i16], oy: usize, start: usize, acc: &mut [i32]) {
    let [c_in, h, w] = g.input;
    let [kh, kw] = g.kernel;
    let dil = g.dilation[1];
    let nv = acc.len() / 8;
    let mut v = [_mm256_setzero_si256(); 8];
    for c in 0..c_in {
        for ky in 0..kh {
            let Some(iy) = g.source(0, oy, ky) else { continue };
            let row = &xz[c * h * w + iy * w..][..w];
            for kx in 0..kw {
                let wv = _mm256_set1_epi32(i32::from(filter[(c * kh + ky) * kw + kx]));
                let src = &row[start + kx * dil..];
                // No padding: the row holds every column the chunk reads.
                assert!(src.len() >= 8 * nv);
                for (j, vj) in v.iter_mut().enumerate().take(nv) {
                    // SAFETY: `8 * j + 8 <= 8 * nv <= src.len()`, asserted above.
                    let x = unsafe { _mm_loadu_si128(src.as_ptr().add(8 * j).cast()) };
                    *vj = _mm256_add_epi32(*vj, _mm256_mullo_epi32(_mm256_cvtepi16_epi32(x), wv));
                }
            }
        }
    }
    for (j, vj) in v.iter().enumerate().take(nv) {
        // SAFETY: `8 * j + 8 <= acc.len()`.
        unsafe { _mm256_storeu_si256(acc.as_mut_ptr().add(8 * j).cast(), *vj) };
    }
}

/// Bias, requantization and clamp of output channel `o`.
#[inline(always)]
fn finish(d: &super::Dense<'_>, o: usize, acc: i32) -> i8 {
    let acc = match d.bias {
        Some(b) => acc.wrapping_add(b[o]),
        None => acc,
    };
    d.output.finish(d.multiplier(o).apply(acc))
}

/// The `i16` values [`conv2d`] needs: the input minus its zero point, one patch padded to 16
/// values, and the filters widened and padded the same way.
pub(super) const fn conv2d_scratch(input: usize, patch: usize, out_channels: usize) -> usize {
    let padded = patch.div_ceil(16) * 16;
    input + padded * (out_channels + 1)
}

/// [`super::conv2d`] for CPUs with AVX2, given [`conv2d_scratch`] values of scratch: the
/// input is shifted by its zero point once, the filters widened to `i16` once, each patch
/// is gathered with row copies and dotted with four filters per pass. The same integer
/// sums as the portable loops, so the same bits (tested in `conv.rs`).
#[target_feature(enable = "avx2")]
pub(super) fn conv2d(d: &super::Dense<'_>, g: &super::ConvGeometry, x: &[i8], y: &mut [i8], scratch: &mut [i16]) {
    let n = g.patch_len();
    let np = n.div_ceil(16) * 16;
    let [c_in, h, w] = g.input;
    let [c_out, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let (xz, rest) = scratch.split_at_mut(x.len());
    let z = d.input_zero_point as i16;
    for (a, &b) in xz.iter_mut().zip(x) {
        *a = i16::from(b) - z;
    }
    if g.stride[1] == 1 && n < 64 {
        // Short filters over wide rows: vectorize along the output row instead.
        rows(d, g, xz, y);
        return;
    }
    let (p, wt) = rest.split_at_mut(np);
    let wt = &mut wt[..c_out * np];
    for (row, src) in wt.chunks_exact_mut(np).zip(d.weight.chunks_exact(n)) {
        for (a, &b) in row.iter_mut().zip(src) {
            *a = i16::from(b);
        }
        row[n..].fill(0);
    }
    p[n..].fill(0);
    let blocks = c_out / 4;
    for oy in 0..oh {
        for ox in 0..ow {
            let x0 = (ox * g.stride[1]).checked_sub(g.padding[1]);
            let inside = g.dilation[1] == 1 && x0.is_some_and(|x0| x0 + kw <= w);
            let mut at = 0;
            for c in 0..c_in {
                let plane = &xz[c * h * w..(c + 1) * h * w];
                for ky in 0..kh {
                    let row = g.source(0, oy, ky);
                    match (row, x0) {
                        (Some(iy), Some(x0)) if inside => {
                            // A loop, not `copy_from_slice`: rows of a few values, where a call
                            // of `memcpy` costs more than the copy.
                            for (a, &b) in p[at..at + kw].iter_mut().zip(&plane[iy * w + x0..iy * w + x0 + kw]) {
                                *a = b;
                            }
                        }
                        _ => {
                            for kx in 0..kw {
                                p[at + kx] = match (row, g.source(1, ox, kx)) {
                                    (Some(iy), Some(ix)) => plane[iy * w + ix],
                                    _ => 0,
                                };
                            }
                        }
                    }
                    at += kw;
                }
            }
            let pos = oy * ow + ox;
            for b in 0..blocks {
                let o = 4 * b;
                let f = &wt[o * np..(o + 4) * np];
                let acc = dot4([&f[..np], &f[np..2 * np], &f[2 * np..3 * np], &f[3 * np..]], p);
                for k in 0..4 {
                    y[(o + k) * oh * ow + pos] = finish(d, o + k, acc[k]);
                }
            }
            for o in 4 * blocks..c_out {
                let f = &wt[o * np..(o + 1) * np];
                let acc = dot4([f, f, f, f], p);
                y[o * oh * ow + pos] = finish(d, o, acc[0]);
            }
        }
    }
}
