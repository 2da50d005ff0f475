//! The dense kernels for CPUs with AVX2 (and no AVX-512 VNNI): the design of
//! [`super::vnni`] with `vpmaddwd` (`_mm256_madd_epi16`) as the product: sixteen `i16`
//! values times sixteen, each adjacent pair of products summed into an `i32` lane. The
//! activations are taken as `x − z_in` (in `-255..=255`) and the weights widened to `i16`,
//! so each pair sums to at most `2 · 255 · 128 = 65,280` in magnitude: exact, with no
//! saturation (unlike `vpmaddubsw`, whose `i16` pair sums can saturate) and no zero-point
//! correction; cells outside the input are 0, as TFLite skips them. Integer sums wrap alike
//! in any order, so the results are the portable loops' bits (tested below against them).
//!
//! Convolutions are im2col and a register-blocked GEMM: with unit strides the input is
//! copied once (padded, as `i16`) and each output row of an im2col row is a run of it at a
//! fixed offset, interleaved from there (no outputs computed and dropped, unlike the
//! "wide" rows of [`super::vnni`], which cost a wider GEMM); other strides gather a row
//! per tap. Two taps are interleaved per position (the layout `vpmaddwd`
//! reads), and a micro-kernel keeps 4 output channels by 24 positions in
//! 12 registers, requantizing in SIMD as it stores (`MultiplyByQuantizedMultiplier` lane by
//! lane, TFLite's double rounding), so each output byte is written once.

use core::arch::x86_64::*;

use super::{ConvGeometry, Dense};

/// Output channels per micro-kernel tile.
const MR: usize = 4;
/// 8-position vectors per micro-kernel tile.
const NV: usize = 3;

/// `(taps rounded up to 2, positions rounded up to 16)`.
const fn padded(g: &ConvGeometry) -> (usize, usize) {
    let k = g.input[0] * g.kernel[0] * g.kernel[1];
    (k.div_ceil(2) * 2, (g.output[1] * g.output[2]).div_ceil(16) * 16)
}

/// The constants of one output channel's requantization, in vectors.
#[derive(Clone, Copy)]
struct Channel {
    bias: __m256i,
    multiplier: __m256i,
    left: __m128i,
    right: __m128i,
    mask: __m256i,
    threshold: __m256i,
}

impl Channel {
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(d: &Dense<'_>, o: usize) -> Self {
        let m = d.multiplier(o);
        let right = (-m.shift).max(0);
        let mask = ((1i64 << right) - 1) as i32;
        Self {
            bias: _mm256_set1_epi32(d.bias.map_or(0, |b| b[o])),
            multiplier: _mm256_set1_epi32(m.multiplier),
            left: _mm_cvtsi32_si128(m.shift.max(0)),
            right: _mm_cvtsi32_si128(right),
            mask: _mm256_set1_epi32(mask),
            threshold: _mm256_set1_epi32(mask >> 1),
        }
    }

    /// The output values of eight sums `Σ w · (x − z_in)`: bias, then
    /// `MultiplyByQuantizedMultiplier` as in [`super::vnni`] (the high half of
    /// `a · m + 2^30` from two 64-bit products per lane pair, then `RoundingDivideByPOT`
    /// with its mask and threshold), zero point and clamp.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn finish(&self, acc: __m256i, s: &Stage) -> __m256i {
        let a = _mm256_sll_epi32(_mm256_add_epi32(acc, self.bias), self.left);
        let half = _mm256_set1_epi64x(1 << 30);
        // Signed 64-bit products of the even lanes, then of the odd lanes moved down.
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, self.multiplier), half);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64::<32>(a), self.multiplier), half);
        // Bits 31..62 of each sum: the even ones moved to bits 0..31, the odd ones to 32..63.
        let high = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<31>(even), _mm256_slli_epi64::<1>(odd));
        let rem = _mm256_and_si256(high, self.mask);
        let threshold = _mm256_add_epi32(self.threshold, _mm256_srli_epi32::<31>(high));
        // −1 where the quotient rounds up, so subtracting it adds one.
        let up = _mm256_cmpgt_epi32(rem, threshold);
        let q = _mm256_sub_epi32(_mm256_sra_epi32(high, self.right), up);
        _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(q, s.zp), s.lo), s.hi)
    }
}

/// The output's zero point and clamp, in vectors.
struct Stage {
    zp: __m256i,
    lo: __m256i,
    hi: __m256i,
}

impl Stage {
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(d: &Dense<'_>) -> Self {
        Self {
            zp: _mm256_set1_epi32(d.output.zero_point),
            lo: _mm256_set1_epi32(d.output.min),
            hi: _mm256_set1_epi32(d.output.max),
        }
    }
}

/// One im2col row: tap `t` (channel, row, column of the window) at every output position,
/// as `x − z`, 0 where the window leaves the input and after the last position.
#[inline]
#[target_feature(enable = "avx2")]
fn im2col_row(g: &ConvGeometry, x: &[i8], t: usize, z: i16, row: &mut [i16]) {
    let [_, h, w] = g.input;
    let [_, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let (c, ky, kx) = (t / (kh * kw), (t / kw) % kh, t % kw);
    let plane = &x[c * h * w..][..h * w];
    let (valid, rest) = row.split_at_mut(oh * ow);
    rest.fill(0);
    for (oy, out) in valid.chunks_exact_mut(ow).enumerate() {
        let Some(iy) = g.source(0, oy, ky) else {
            out.fill(0);
            continue;
        };
        let src = &plane[iy * w..][..w];
        if g.stride[1] == 1 {
            // Output `ox` reads column `ox + kx·dil − pad`: one run of columns inside.
            let shift = (kx * g.dilation[1]) as isize - g.padding[1] as isize;
            let lo = (-shift).clamp(0, ow as isize) as usize;
            let hi = (w as isize - shift).clamp(lo as isize, ow as isize) as usize;
            out[..lo].fill(0);
            out[hi..].fill(0);
            let from = (lo as isize + shift) as usize;
            for (a, &b) in out[lo..hi].iter_mut().zip(&src[from..from + (hi - lo)]) {
                *a = i16::from(b) - z;
            }
        } else {
            for (ox, a) in out.iter_mut().enumerate() {
                *a = g.source(1, ox, kx).map_or(0, |ix| i16::from(src[ix]) - z);
            }
        }
    }
}

/// Interleaves two rows of at least `pp` values into `out`: for each position the values
/// of both rows, the pairs `vpmaddwd` multiplies.
#[inline]
#[target_feature(enable = "avx2")]
fn interleave(r0: &[i16], r1: &[i16], pp: usize, out: &mut [i16]) {
    assert!(r0.len() >= pp && r1.len() >= pp && out.len() >= 2 * pp && pp.is_multiple_of(16));
    let mut j = 0;
    while j < pp {
        // SAFETY: `j + 16 <= pp`, so each load reads inside its row and the stores write
        // `out[2j..2j + 32]`, within the lengths asserted above; unaligned accesses.
        unsafe {
            let a = _mm256_loadu_si256(r0.as_ptr().add(j).cast());
            let b = _mm256_loadu_si256(r1.as_ptr().add(j).cast());
            // Within each 128-bit lane: positions 0..4 and 8..12, then 4..8 and 12..16.
            let lo = _mm256_unpacklo_epi16(a, b);
            let hi = _mm256_unpackhi_epi16(a, b);
            let o = out.as_mut_ptr().add(2 * j);
            _mm256_storeu_si256(o.cast(), _mm256_permute2x128_si256::<0x20>(lo, hi));
            _mm256_storeu_si256(o.add(16).cast(), _mm256_permute2x128_si256::<0x31>(lo, hi));
        }
        j += 16;
    }
}

/// The padded planes `[hp, wp]` of a convolution with unit strides: the input is copied
/// once, padded (0 around it) and as `x − z`; tap `(c, ky, kx)` of output `(oy, ox)` then
/// reads it at `c·hp·wp + (oy + ky·dil)·wp + ox + kx·dil`, so each output row of an im2col
/// row is a run of `ow` values, interleaved straight from there.
const fn padded_planes(g: &ConvGeometry) -> [usize; 2] {
    [g.input[1] + 2 * g.padding[0], g.input[2] + 2 * g.padding[1]]
}

/// The `i16` scratch values [`conv2d`] needs: the interleaved patches and the filters
/// widened to `i16`, and either the padded input ([`padded_planes`], unit strides) or two
/// im2col rows.
pub(super) const fn conv2d_scratch(g: &ConvGeometry) -> usize {
    let (kp, pp) = padded(g);
    let [hp, wp] = padded_planes(g);
    let first = if g.stride[0] == 1 && g.stride[1] == 1 { g.input[0] * hp * wp } else { 2 * pp };
    first + kp * pp + g.output[0] * kp
}

/// The filters widened to `i16`, padded with zeros to whole pairs of taps (`kp` each).
#[inline]
#[target_feature(enable = "avx2")]
fn pack_filters<'a>(d: &Dense<'_>, k: usize, kp: usize, filters: &'a mut [i16]) -> &'a [i16] {
    for (dst, src) in filters.chunks_exact_mut(kp).zip(d.weight.chunks_exact(k)) {
        dst[k..].fill(0);
        for (a, &b) in dst.iter_mut().zip(src) {
            *a = i16::from(b);
        }
    }
    filters
}

/// `dst[i] = src[i] − z` as `i16`.
#[inline]
#[target_feature(enable = "avx2")]
fn widen(src: &[i8], z: i16, dst: &mut [i16]) {
    for (a, &b) in dst.iter_mut().zip(src) {
        *a = i16::from(b) - z;
    }
}

/// Interleaves two taps of every output position, read as runs of `ow` values per output
/// row from the padded input `xp` (tap `t` of row `oy` at `xp[start[t] + oy·wp..]`), into
/// `out`; positions past the last get 0.
#[inline]
#[target_feature(enable = "avx2")]
fn interleave_runs(xp: &[i16], start: [usize; 2], wp: usize, [oh, ow]: [usize; 2], out: &mut [i16]) {
    assert!(oh == 0 || start.iter().all(|&s| s + (oh - 1) * wp + ow <= xp.len()));
    let (valid, rest) = out.split_at_mut(2 * oh * ow);
    rest.fill(0);
    let body = ow - ow % 8;
    // SAFETY: row `oy < oh` reads values `start[t] + oy·wp + j` for `j < ow`, inside `xp`
    // (asserted above), and writes `valid[2·oy·ow + i]` for `i < 2·ow`, inside `valid`
    // (`2·oh·ow` long); unaligned accesses. Raw pointers: short rows (LeNet's 8 and 24
    // outputs) cost more in slicing than in copying.
    unsafe {
        let mut o = valid.as_mut_ptr();
        for oy in 0..oh {
            let s0 = xp.as_ptr().add(start[0] + oy * wp);
            let s1 = xp.as_ptr().add(start[1] + oy * wp);
            let mut j = 0;
            while j < body {
                let a = _mm_loadu_si128(s0.add(j).cast());
                let b = _mm_loadu_si128(s1.add(j).cast());
                _mm_storeu_si128(o.add(2 * j).cast(), _mm_unpacklo_epi16(a, b));
                _mm_storeu_si128(o.add(2 * j + 8).cast(), _mm_unpackhi_epi16(a, b));
                j += 8;
            }
            while j < ow {
                *o.add(2 * j) = *s0.add(j);
                *o.add(2 * j + 1) = *s1.add(j);
                j += 1;
            }
            o = o.add(2 * ow);
        }
    }
}

/// [`super::conv2d`] for CPUs with AVX2, given [`conv2d_scratch`] values of scratch and an
/// input zero point in `-128..=127` (both checked by the caller): with unit strides from
/// the padded input ([`padded_planes`]), otherwise with an im2col row gathered per tap.
#[target_feature(enable = "avx2")]
pub(super) fn conv2d(d: &Dense<'_>, g: &ConvGeometry, x: &[i8], y: &mut [i8], scratch: &mut [i16]) {
    let k = g.patch_len();
    let [c_in, h, w] = g.input;
    let [c_out, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let z = d.input_zero_point as i16;
    if g.stride == [1, 1] {
        let (kp, pp) = padded(g);
        let [hp, wp] = padded_planes(g);
        let (xp, rest) = scratch.split_at_mut(c_in * hp * wp);
        let (packed, rest) = rest.split_at_mut(kp * pp);
        let filters = &mut rest[..c_out * kp];
        let [ph, pw] = g.padding;
        if ph == 0 && pw == 0 {
            widen(x, z, xp);
        } else {
            xp.fill(0);
            for (src, dst) in
                x.chunks_exact(w).zip(xp.chunks_exact_mut(hp * wp).flat_map(|plane| {
                    plane[ph * wp..(ph + h) * wp].chunks_exact_mut(wp).map(|row| &mut row[pw..pw + w])
                }))
            {
                widen(src, z, dst);
            }
        }
        let xp = &*xp;
        // The offset of each tap in order, stepped along `(c, ky, kx)`; `None` past the last.
        let (mut at, mut ky, mut kx) = (0, 0, 0);
        let mut next = || {
            if ky == kh {
                return None;
            }
            let tap = at + ky * g.dilation[0] * wp + kx * g.dilation[1];
            kx += 1;
            if kx == kw {
                (kx, ky) = (0, ky + 1);
                if ky == kh && at + hp * wp < c_in * hp * wp {
                    (ky, at) = (0, at + hp * wp);
                }
            }
            Some(tap)
        };
        for out in packed.chunks_exact_mut(2 * pp) {
            let a = next().unwrap_or(0);
            // A tap past the last has weights 0: any values do, the first tap's are read.
            let b = next().unwrap_or(a);
            interleave_runs(xp, [a, b], wp, [oh, ow], out);
        }
        gemm(d, pack_filters(d, k, kp, filters), kp, packed, pp, oh * ow, y);
    } else {
        let (kp, pp) = padded(g);
        let (rows, rest) = scratch.split_at_mut(2 * pp);
        let (packed, rest) = rest.split_at_mut(kp * pp);
        let filters = &mut rest[..c_out * kp];
        let (r0, r1) = rows.split_at_mut(pp);
        for (kg, out) in packed.chunks_exact_mut(2 * pp).enumerate() {
            im2col_row(g, x, 2 * kg, z, r0);
            if 2 * kg + 1 < k {
                im2col_row(g, x, 2 * kg + 1, z, r1);
            } else {
                r1.fill(0);
            }
            interleave(r0, r1, pp, out);
        }
        gemm(d, pack_filters(d, k, kp, filters), kp, packed, pp, oh * ow, y);
    }
}

/// Every output channel at `pp` positions from the interleaved patches, `positions` of them
/// stored per channel (one after the other in `y`).
#[inline]
#[target_feature(enable = "avx2")]
fn gemm(d: &Dense<'_>, filters: &[i16], kp: usize, packed: &[i16], pp: usize, positions: usize, y: &mut [i8]) {
    let c_out = filters.len() / kp;
    let stage = Stage::new(d);
    let mut o = 0;
    while o < c_out {
        let mr = (c_out - o).min(MR);
        match mr {
            4 => channels::<4>(d, &stage, filters, kp, packed, pp, positions, o, y),
            3 => channels::<3>(d, &stage, filters, kp, packed, pp, positions, o, y),
            2 => channels::<2>(d, &stage, filters, kp, packed, pp, positions, o, y),
            _ => channels::<1>(d, &stage, filters, kp, packed, pp, positions, o, y),
        }
        o += mr;
    }
}

/// Output channels `o..o + R` at every position, tile by tile.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2")]
fn channels<const R: usize>(
    d: &Dense<'_>,
    stage: &Stage,
    filters: &[i16],
    kp: usize,
    packed: &[i16],
    pp: usize,
    positions: usize,
    o: usize,
    y: &mut [i8],
) {
    let f: [&[i16]; R] = core::array::from_fn(|r| &filters[(o + r) * kp..][..kp]);
    let ch: [Channel; R] = core::array::from_fn(|r| Channel::new(d, o + r));
    let vectors = pp / 8;
    let mut v = 0;
    while v < vectors {
        let nv = (vectors - v).min(NV);
        match nv {
            3 => tile::<R, 3>(stage, &f, &ch, packed, pp, positions, o, v, y),
            2 => tile::<R, 2>(stage, &f, &ch, packed, pp, positions, o, v, y),
            _ => tile::<R, 1>(stage, &f, &ch, packed, pp, positions, o, v, y),
        }
        v += nv;
    }
}

/// The micro-kernel: `R` output channels by `V` vectors of 8 positions from vector `v0` on,
/// accumulated in `R · V` registers over every pair of taps, then requantized and stored
/// (only up to the last position).
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2")]
fn tile<const R: usize, const V: usize>(
    stage: &Stage,
    f: &[&[i16]; R],
    ch: &[Channel; R],
    packed: &[i16],
    pp: usize,
    positions: usize,
    o: usize,
    v0: usize,
    y: &mut [i8],
) {
    let kp = f[0].len();
    assert!(packed.len() >= kp * pp && 8 * (v0 + V) <= pp && f.iter().all(|f| f.len() == kp));
    let mut acc = [[_mm256_setzero_si256(); V]; R];
    let mut kg = 0;
    while kg < kp / 2 {
        // SAFETY: pair `kg < kp / 2` of vectors `v0..v0 + V` lies at values
        // `2·kg·pp + 16·(v0 + V)` at most, and `16·(v0 + V) <= 2·pp`, so inside
        // `packed[..kp·pp]`; each filter read is values `2·kg..2·kg + 2 <= kp`. Asserted above.
        unsafe {
            let base = packed.as_ptr().add(2 * kg * pp + 16 * v0);
            let a: [__m256i; V] = core::array::from_fn(|j| _mm256_loadu_si256(base.add(16 * j).cast()));
            for r in 0..R {
                let w = _mm256_set1_epi32(f[r].as_ptr().add(2 * kg).cast::<i32>().read_unaligned());
                for j in 0..V {
                    acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(a[j], w));
                }
            }
        }
        kg += 1;
    }
    for r in 0..R {
        let row = &mut y[(o + r) * positions..][..positions];
        for (j, &a) in acc[r].iter().enumerate() {
            let v = ch[r].finish(a, stage);
            // Eight values in `-128..=127` to bytes: packing saturates nothing.
            let p16 = _mm256_packs_epi32(v, v);
            let p8 = _mm256_packs_epi16(p16, p16);
            let q = _mm_unpacklo_epi32(_mm256_castsi256_si128(p8), _mm256_extracti128_si256::<1>(p8));
            let p = 8 * (v0 + j);
            if p + 8 <= positions {
                // SAFETY: bytes `p..p + 8` of `row`, inside it.
                unsafe { _mm_storel_epi64(row.as_mut_ptr().add(p).cast(), q) };
            } else if p < positions {
                let mut tmp = [0i8; 16];
                // SAFETY: sixteen bytes into an array of sixteen.
                unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), q) };
                row[p..].copy_from_slice(&tmp[..positions - p]);
            }
        }
    }
}

/// [`super::linear`] for CPUs with AVX2: four rows at a time, sixteen inputs per
/// instruction (then eight, then the last few in scalar code); `scratch` holds at least `x.len()` values (checked by the caller).
#[target_feature(enable = "avx2")]
pub(super) fn linear(d: &Dense<'_>, x: &[i8], y: &mut [i8], scratch: &mut [i16]) {
    let n = x.len();
    let p = &mut scratch[..n];
    let z = d.input_zero_point as i16;
    for (pi, &xi) in p.iter_mut().zip(x) {
        *pi = i16::from(xi) - z;
    }
    let p = &*p;
    let rows = y.len();
    let mut o = 0;
    while o < rows {
        let r = (rows - o).min(4);
        let sums = match r {
            4 => dot_rows::<4>(d.weight, n, o, p),
            3 => dot_rows::<3>(d.weight, n, o, p),
            2 => dot_rows::<2>(d.weight, n, o, p),
            _ => dot_rows::<1>(d.weight, n, o, p),
        };
        for (i, acc) in sums.into_iter().take(r).enumerate() {
            let acc = match d.bias {
                Some(b) => acc.wrapping_add(b[o + i]),
                None => acc,
            };
            y[o + i] = d.output.finish(d.multiplier(o + i).apply(acc));
        }
        o += r;
    }
}

/// `Σ w · p` (wrapping) for rows `o..o + R` of the `[rows, n]` weights (four sums, the
/// last `4 − R` zero), the four rows' vectors reduced together.
#[inline]
#[target_feature(enable = "avx2")]
fn dot_rows<const R: usize>(weight: &[i8], n: usize, o: usize, p: &[i16]) -> [i32; 4] {
    assert!(weight.len() >= (o + R) * n && p.len() >= n);
    let body = n - n % 16;
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i < body {
        // SAFETY: `i + 16 <= body <= n`: the loads read values `i..i + 16` of `p` and of
        // each row `o + r` (inside `weight`, asserted above); unaligned accesses.
        unsafe {
            let pv = _mm256_loadu_si256(p.as_ptr().add(i).cast());
            for (r, acc) in acc.iter_mut().enumerate().take(R) {
                let w = _mm256_cvtepi8_epi16(_mm_loadu_si128(weight.as_ptr().add((o + r) * n + i).cast()));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(w, pv));
            }
        }
        i += 16;
    }
    if i + 8 <= n {
        // SAFETY: `i + 8 <= n`: the loads read values `i..i + 8` of `p` and of each row
        // `o + r` (inside `weight`, asserted above); unaligned accesses.
        unsafe {
            let pv = _mm_loadu_si128(p.as_ptr().add(i).cast());
            for (r, acc) in acc.iter_mut().enumerate().take(R) {
                let w = _mm_cvtepi8_epi16(_mm_loadl_epi64(weight.as_ptr().add((o + r) * n + i).cast()));
                *acc = _mm256_add_epi32(*acc, _mm256_set_m128i(_mm_setzero_si128(), _mm_madd_epi16(w, pv)));
            }
        }
        i += 8;
    }
    // The four rows reduced together: two rounds of pairwise horizontal sums leave each
    // 128-bit lane holding the four rows' partial sums; then the lanes are added.
    let a = _mm256_hadd_epi32(acc[0], acc[1]);
    let b = _mm256_hadd_epi32(acc[2], acc[3]);
    let c = _mm256_hadd_epi32(a, b);
    let c = _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256::<1>(c));
    let mut all = [0i32; 4];
    // SAFETY: four `i32` values into an array of four.
    unsafe { _mm_storeu_si128(all.as_mut_ptr().cast(), c) };
    for (r, s) in all.iter_mut().enumerate().take(R) {
        let w = &weight[(o + r) * n..][i..n];
        for (&a, &b) in w.iter().zip(&p[i..n]) {
            *s = s.wrapping_add(i32::from(a) * i32::from(b));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::super::simd_check;
    use super::*;
    use std::vec;

    fn available() -> bool {
        std::is_x86_feature_detected!("avx2")
    }

    #[test]
    fn conv_equals_the_portable_loops() {
        if !available() {
            return;
        }
        simd_check::conv_equals_the_portable_loops(-128, |d, g, x, y| {
            // SAFETY: the CPU has AVX2 (checked above); the scratch is what it needs.
            unsafe { conv2d(d, g, x, y, &mut vec![0; conv2d_scratch(g)]) }
        });
    }

    #[test]
    fn requantization_equals_the_scalar_code() {
        if !available() {
            return;
        }
        simd_check::requantization_equals_the_scalar_code::<8>(|d, accs| {
            let mut got = [0i32; 8];
            // SAFETY: the CPU has AVX2 (checked above); eight lanes into eight values.
            unsafe {
                let s = Stage::new(d);
                let v = Channel::new(d, 0).finish(_mm256_loadu_si256(accs.as_ptr().cast()), &s);
                _mm256_storeu_si256(got.as_mut_ptr().cast(), v);
            }
            got
        });
    }

    #[test]
    fn linear_equals_the_portable_loop() {
        if !available() {
            return;
        }
        simd_check::linear_equals_the_portable_loop(true, |d, x, y| {
            // SAFETY: the CPU has AVX2 (checked above); the scratch holds `n` values.
            unsafe { linear(d, x, y, &mut vec![0; x.len()]) }
        });
    }
}
