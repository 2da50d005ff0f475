//! The dense kernels for CPUs with AVX-512 VNNI: `vpdpbusd` multiplies 64 unsigned bytes by
//! 64 signed ones and adds each group of four products into an `i32` lane, exactly (no
//! intermediate saturation, unlike `vpmaddubsw`).
//!
//! The activations become unsigned by adding 128 (`x ^ 0x80`), so each sum is
//! `Σ w · (x + 128)`; subtracting `(z_in + 128) · Σ w` per output channel gives the
//! portable kernels' `Σ w · (x − z_in)`. Cells of the window outside the input take the
//! value `z_in + 128`, whose term the same correction cancels (TFLite skips them). Integer
//! sums are exact and wrap alike in any order, so the results are the portable loops' bits
//! (tested below against them).
//!
//! Convolutions are im2col and a register-blocked GEMM: the patches of all output positions
//! are gathered once, four taps interleaved per position (the layout `vpdpbusd` reads), and
//! a micro-kernel keeps 4 output channels by 64 positions in 16 registers, requantizing in
//! SIMD as it stores (`MultiplyByQuantizedMultiplier` lane by lane, TFLite's double
//! rounding), so each output byte is written once.

use core::arch::x86_64::*;

use super::{ConvGeometry, Dense};

/// Whether the CPU runs this module's kernels (checked once per call; the standard library
/// caches the answer).
#[inline]
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vnni")
}

/// Output channels per micro-kernel tile.
const MR: usize = 4;
/// 16-position vectors per micro-kernel tile.
const NV: usize = 4;

/// `(taps rounded up to 4, positions rounded up to 16)`.
const fn padded(g: &ConvGeometry) -> (usize, usize) {
    let k = g.input[0] * g.kernel[0] * g.kernel[1];
    (k.div_ceil(4) * 4, (g.output[1] * g.output[2]).div_ceil(16) * 16)
}

/// The scratch as bytes.
fn bytes(s: &mut [i16]) -> &mut [u8] {
    // SAFETY: the same memory, twice as many elements of a type with alignment 1 for which
    // every bit pattern is valid; the borrow of `s` covers the result's lifetime.
    unsafe { core::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<u8>(), 2 * s.len()) }
}

/// Bytes as `i8`.
fn signed(s: &mut [u8]) -> &mut [i8] {
    // SAFETY: the same memory and length, a type of the same size and alignment for which
    // every bit pattern is valid; the borrow of `s` covers the result's lifetime.
    unsafe { core::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<i8>(), s.len()) }
}

/// `x` as the unsigned byte `x + 128`.
#[inline(always)]
fn unsigned(x: i8) -> u8 {
    x as u8 ^ 0x80
}

/// The constants of one output channel's requantization, in vectors.
#[derive(Clone, Copy)]
struct Channel {
    /// `bias − (z_in + 128) · Σ w`, wrapping.
    offset: __m512i,
    multiplier: __m512i,
    left: __m128i,
    right: __m128i,
    mask: __m512i,
    threshold: __m512i,
}

impl Channel {
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn new(d: &Dense<'_>, o: usize, weight_sum: i32) -> Self {
        let m = d.multiplier(o);
        let bias = d.bias.map_or(0, |b| b[o]);
        let offset = bias.wrapping_sub((d.input_zero_point + 128).wrapping_mul(weight_sum));
        let right = (-m.shift).max(0);
        let mask = ((1i64 << right) - 1) as i32;
        Self {
            offset: _mm512_set1_epi32(offset),
            multiplier: _mm512_set1_epi32(m.multiplier),
            left: _mm_cvtsi32_si128(m.shift.max(0)),
            right: _mm_cvtsi32_si128(right),
            mask: _mm512_set1_epi32(mask),
            threshold: _mm512_set1_epi32(mask >> 1),
        }
    }

    /// The output values of sixteen sums `Σ w · (x + 128)`: offset, then
    /// `MultiplyByQuantizedMultiplier` (`SaturatingRoundingDoublingHighMul` as
    /// `floor((a · m + 2^30) / 2^31)`, which equals TFLite's nudged, truncating quotient for
    /// both signs and never saturates since `m` is never `i32::MIN`; then
    /// `RoundingDivideByPOT` with its mask and threshold), zero point and clamp.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn finish(&self, acc: __m512i, zp: __m512i, lo: __m512i, hi: __m512i) -> __m512i {
        let a = _mm512_sll_epi32(_mm512_add_epi32(acc, self.offset), self.left);
        let half = _mm512_set1_epi64(1 << 30);
        // Signed 64-bit products of the even lanes, then of the odd lanes moved down.
        let even = _mm512_add_epi64(_mm512_mul_epi32(a, self.multiplier), half);
        let odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64::<32>(a), self.multiplier), half);
        // Bits 31..62 of each sum: the even ones moved to bits 0..31, the odd ones to 32..63.
        let high = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<31>(even), _mm512_slli_epi64::<1>(odd));
        let rem = _mm512_and_si512(high, self.mask);
        let threshold = _mm512_add_epi32(self.threshold, _mm512_srli_epi32::<31>(high));
        let up = _mm512_cmpgt_epi32_mask(rem, threshold);
        let q = _mm512_sra_epi32(high, self.right);
        let q = _mm512_mask_add_epi32(q, up, q, _mm512_set1_epi32(1));
        _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(q, zp), lo), hi)
    }
}

/// One im2col row: tap `t` (channel, row, column of the window) at every output position,
/// as unsigned bytes, `fill` where the window leaves the input and after the last position.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn im2col_row(g: &ConvGeometry, x: &[i8], t: usize, fill: u8, row: &mut [u8]) {
    let [_, h, w] = g.input;
    let [_, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let (c, ky, kx) = (t / (kh * kw), (t / kw) % kh, t % kw);
    let plane = &x[c * h * w..][..h * w];
    let (valid, rest) = row.split_at_mut(oh * ow);
    fill_bytes(rest, fill);
    for (oy, out) in valid.chunks_exact_mut(ow).enumerate() {
        let Some(iy) = g.source(0, oy, ky) else {
            fill_bytes(out, fill);
            continue;
        };
        let src = &plane[iy * w..][..w];
        if g.stride[1] == 1 {
            // Output `ox` reads column `ox + kx·dil − pad`: one run of columns inside.
            let shift = (kx * g.dilation[1]) as isize - g.padding[1] as isize;
            let lo = (-shift).clamp(0, ow as isize) as usize;
            let hi = (w as isize - shift).clamp(lo as isize, ow as isize) as usize;
            if lo > 0 || hi < ow {
                fill_bytes(out, fill);
            }
            let from = (lo as isize + shift) as usize;
            copy_unsigned(&src[from..from + (hi - lo)], &mut out[lo..hi]);
        } else {
            for (ox, a) in out.iter_mut().enumerate() {
                *a = g.source(1, ox, kx).map_or(fill, |ix| unsigned(src[ix]));
            }
        }
    }
}

/// `dst[i] = v` for every `i`, 64 bytes per store (rows here are short: a call of `memset`
/// costs more).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn fill_bytes(dst: &mut [u8], v: u8) {
    let vv = _mm512_set1_epi8(v as i8);
    let mut i = 0;
    while i < dst.len() {
        let mask: __mmask64 = if dst.len() - i >= 64 { !0 } else { (1u64 << (dst.len() - i)) - 1 };
        // SAFETY: the masked store writes bytes `i..min(i + 64, dst.len())` only.
        unsafe { _mm512_mask_storeu_epi8(dst.as_mut_ptr().add(i).cast(), mask, vv) };
        i += 64;
    }
}

/// `dst.copy_from_slice(&src[..dst.len()])`, 64 bytes at a time (short rows: a call of
/// `memcpy` costs more).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn copy_signed(src: &[i8], dst: &mut [i8]) {
    assert!(src.len() >= dst.len());
    let mut i = 0;
    while i < dst.len() {
        let mask: __mmask64 = if dst.len() - i >= 64 { !0 } else { (1u64 << (dst.len() - i)) - 1 };
        // SAFETY: the masked load and store touch bytes `i..min(i + 64, dst.len())` only,
        // inside both slices (asserted above).
        unsafe {
            let v = _mm512_maskz_loadu_epi8(mask, src.as_ptr().add(i));
            _mm512_mask_storeu_epi8(dst.as_mut_ptr().add(i), mask, v);
        }
        i += 64;
    }
}

/// `dst[i] = src[i] + 128` as unsigned bytes, 64 at a time; `src` at least as long as `dst`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn copy_unsigned(src: &[i8], dst: &mut [u8]) {
    assert!(src.len() >= dst.len());
    let flip = _mm512_set1_epi8(i8::MIN);
    let mut i = 0;
    while i < dst.len() {
        let mask: __mmask64 = if dst.len() - i >= 64 { !0 } else { (1u64 << (dst.len() - i)) - 1 };
        // SAFETY: the masked load and store touch bytes `i..min(i + 64, dst.len())` only,
        // inside both slices (asserted above).
        unsafe {
            let v = _mm512_maskz_loadu_epi8(mask, src.as_ptr().add(i));
            _mm512_mask_storeu_epi8(dst.as_mut_ptr().add(i).cast(), mask, _mm512_xor_si512(v, flip));
        }
        i += 64;
    }
}

/// Interleaves four rows of at least `pp` bytes into `out`: for each position the four
/// bytes of the four rows, the layout `vpdpbusd` multiplies.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn interleave(rows: [&[u8]; 4], pp: usize, out: &mut [u8]) {
    assert!(rows.iter().all(|r| r.len() >= pp) && out.len() >= 4 * pp && pp.is_multiple_of(16));
    let mut j = 0;
    while j + 64 <= pp {
        // SAFETY: `j + 64 <= pp`, so each load reads inside its row and each store inside
        // `out[4j..4j + 256]`, all within the lengths asserted above; unaligned accesses.
        unsafe {
            let r0 = _mm512_loadu_si512(rows[0].as_ptr().add(j).cast());
            let r1 = _mm512_loadu_si512(rows[1].as_ptr().add(j).cast());
            let r2 = _mm512_loadu_si512(rows[2].as_ptr().add(j).cast());
            let r3 = _mm512_loadu_si512(rows[3].as_ptr().add(j).cast());
            // Within each 128-bit lane `l` (positions 16l..16l + 16), as the loop below.
            let (a, c) = (_mm512_unpacklo_epi8(r0, r1), _mm512_unpackhi_epi8(r0, r1));
            let (b, e) = (_mm512_unpacklo_epi8(r2, r3), _mm512_unpackhi_epi8(r2, r3));
            let s0 = _mm512_unpacklo_epi16(a, b); // positions 16l + 0..4 of lane l
            let s1 = _mm512_unpackhi_epi16(a, b); // 16l + 4..8
            let s2 = _mm512_unpacklo_epi16(c, e); // 16l + 8..12
            let s3 = _mm512_unpackhi_epi16(c, e); // 16l + 12..16
                                                  // Lanes transposed: output vector `l` is lane `l` of s0, s1, s2, s3.
            let t0 = _mm512_shuffle_i64x2::<0b01_00_01_00>(s0, s1);
            let t1 = _mm512_shuffle_i64x2::<0b11_10_11_10>(s0, s1);
            let t2 = _mm512_shuffle_i64x2::<0b01_00_01_00>(s2, s3);
            let t3 = _mm512_shuffle_i64x2::<0b11_10_11_10>(s2, s3);
            let o = out.as_mut_ptr().add(4 * j);
            _mm512_storeu_si512(o.cast(), _mm512_shuffle_i64x2::<0b10_00_10_00>(t0, t2));
            _mm512_storeu_si512(o.add(64).cast(), _mm512_shuffle_i64x2::<0b11_01_11_01>(t0, t2));
            _mm512_storeu_si512(o.add(128).cast(), _mm512_shuffle_i64x2::<0b10_00_10_00>(t1, t3));
            _mm512_storeu_si512(o.add(192).cast(), _mm512_shuffle_i64x2::<0b11_01_11_01>(t1, t3));
        }
        j += 64;
    }
    while j < pp {
        // SAFETY: `j + 16 <= pp`, so each load reads inside its row and each store inside
        // `out[4j..4j + 64]`, all within the lengths asserted above; unaligned accesses.
        unsafe {
            let r0 = _mm_loadu_si128(rows[0].as_ptr().add(j).cast());
            let r1 = _mm_loadu_si128(rows[1].as_ptr().add(j).cast());
            let r2 = _mm_loadu_si128(rows[2].as_ptr().add(j).cast());
            let r3 = _mm_loadu_si128(rows[3].as_ptr().add(j).cast());
            let (a, c) = (_mm_unpacklo_epi8(r0, r1), _mm_unpackhi_epi8(r0, r1));
            let (b, e) = (_mm_unpacklo_epi8(r2, r3), _mm_unpackhi_epi8(r2, r3));
            let o = out.as_mut_ptr().add(4 * j);
            _mm_storeu_si128(o.cast(), _mm_unpacklo_epi16(a, b));
            _mm_storeu_si128(o.add(16).cast(), _mm_unpackhi_epi16(a, b));
            _mm_storeu_si128(o.add(32).cast(), _mm_unpacklo_epi16(c, e));
            _mm_storeu_si128(o.add(48).cast(), _mm_unpackhi_epi16(c, e));
        }
        j += 16;
    }
}

/// The layout of a convolution with unit strides, computed over "wide" rows: the input is
/// copied once, padded (`fill` around it) and unsigned, into planes `hp x wp`; output
/// position `(oy, ox)` for every `ox < wp` (the last `wp − ow` of each row are computed and
/// dropped) is then at `p = oy · wp + ox`, and tap `(c, ky, kx)` of every position reads
/// the padded input at `p` plus a constant offset, so each im2col row is a slice of it.
#[derive(Clone, Copy)]
struct Wide {
    /// Padded planes.
    hp: usize,
    wp: usize,
    /// Wide positions rounded up to 16.
    pp: usize,
    /// The padded input's bytes, with room for the last tap's reads past the last plane.
    input: usize,
}

impl Wide {
    const fn new(g: &ConvGeometry) -> Self {
        let (hp, wp) = (g.input[1] + 2 * g.padding[0], g.input[2] + 2 * g.padding[1]);
        let pp = (g.output[1] * wp).div_ceil(16) * 16;
        let input = g.input[0] * hp * wp + g.dilation[1] * g.kernel[1] + pp;
        Self { hp, wp, pp, input }
    }

    /// Scratch bytes: the padded input, the interleaved patches, the filters and the wide
    /// outputs.
    const fn bytes(&self, g: &ConvGeometry) -> usize {
        let kp = padded(g).0;
        self.input + kp * self.pp + g.output[0] * (kp + self.pp)
    }
}

/// The `i16` scratch values [`conv2d`] needs (as bytes).
pub(super) const fn conv2d_scratch(g: &ConvGeometry) -> usize {
    let (kp, pp) = padded(g);
    let rows = 4 * pp + kp * pp + g.output[0] * kp;
    let wide = Wide::new(g).bytes(g);
    (if rows > wide { rows } else { wide }).div_ceil(2)
}

/// [`super::conv2d`] for CPUs with AVX-512 VNNI, given [`conv2d_scratch`] values of
/// scratch and an input zero point in `-128..=127` (both checked by the caller): with unit strides over wide rows ([`Wide`]), otherwise
/// with an im2col row gathered per tap.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn conv2d(d: &Dense<'_>, g: &ConvGeometry, x: &[i8], y: &mut [i8], scratch: &mut [i16]) {
    let k = g.patch_len();
    let kp = padded(g).0;
    let [c_in, h, w] = g.input;
    let [c_out, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let fill = (d.input_zero_point + 128) as u8;
    let bytes = bytes(scratch);
    if g.stride == [1, 1] {
        let l = Wide::new(g);
        let (xp, rest) = bytes.split_at_mut(l.input);
        let (packed, rest) = rest.split_at_mut(kp * l.pp);
        let (filters, rest) = rest.split_at_mut(c_out * kp);
        let wide = signed(&mut rest[..c_out * l.pp]);
        let [ph, pw] = g.padding;
        if ph == 0 && pw == 0 {
            copy_unsigned(x, &mut xp[..x.len()]);
            fill_bytes(&mut xp[x.len()..], fill);
        } else {
            fill_bytes(xp, fill);
            for (src, dst) in
                x.chunks_exact(w).zip(xp[..c_in * l.hp * l.wp].chunks_exact_mut(l.hp * l.wp).flat_map(|plane| {
                    plane[ph * l.wp..(ph + h) * l.wp].chunks_exact_mut(l.wp).map(|row| &mut row[pw..pw + w])
                }))
            {
                copy_unsigned(src, dst);
            }
        }
        let xp = &*xp;
        // The offset of each tap in order, stepped along `(c, ky, kx)`; taps past the last
        // (weights 0) read the last one's row.
        let (mut at, mut last, mut ky, mut kx) = (0, 0, 0, 0);
        let mut next = || {
            if ky == kh {
                return last;
            }
            last = at + ky * g.dilation[0] * l.wp + kx * g.dilation[1];
            kx += 1;
            if kx == kw {
                (kx, ky) = (0, ky + 1);
                if ky == kh && at + l.hp * l.wp < c_in * l.hp * l.wp {
                    (ky, at) = (0, at + l.hp * l.wp);
                }
            }
            last
        };
        for out in packed.chunks_exact_mut(4 * l.pp) {
            let rows: [&[u8]; 4] = core::array::from_fn(|_| &xp[next()..][..l.pp]);
            interleave(rows, l.pp, out);
        }
        gemm(d, pack_filters(d, k, kp, filters), kp, packed, l.pp, l.pp, wide);
        // The wide rows' first `ow` outputs.
        for (dst, src) in y.chunks_exact_mut(oh * ow).zip(wide.chunks_exact(l.pp)) {
            for (dst, src) in dst.chunks_exact_mut(ow).zip(src.chunks(l.wp)) {
                copy_signed(src, dst);
            }
        }
    } else {
        let pp = padded(g).1;
        let (rows, rest) = bytes.split_at_mut(4 * pp);
        let (packed, rest) = rest.split_at_mut(kp * pp);
        let filters = &mut rest[..c_out * kp];
        for (kg, out) in packed.chunks_exact_mut(4 * pp).enumerate() {
            for (r, row) in rows.chunks_exact_mut(pp).enumerate() {
                let t = 4 * kg + r;
                if t < k {
                    im2col_row(g, x, t, fill, row);
                } else {
                    fill_bytes(row, 0);
                }
            }
            let (r01, r23) = rows.split_at(2 * pp);
            let (r0, r1) = r01.split_at(pp);
            let (r2, r3) = r23.split_at(pp);
            interleave([r0, r1, r2, r3], pp, out);
        }
        gemm(d, pack_filters(d, k, kp, filters), kp, packed, pp, oh * ow, y);
    }
}

/// The filters padded with zeros to whole groups of four taps (`kp` bytes each).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn pack_filters<'a>(d: &Dense<'_>, k: usize, kp: usize, filters: &'a mut [u8]) -> &'a [u8] {
    for (dst, src) in filters.chunks_exact_mut(kp).zip(d.weight.chunks_exact(k)) {
        fill_bytes(&mut dst[k..], 0);
        for (a, &b) in dst.iter_mut().zip(src) {
            *a = b as u8;
        }
    }
    filters
}

/// Every output channel at `pp` positions from the interleaved patches, `positions` of them
/// stored per channel (one after the other in `y`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm(d: &Dense<'_>, filters: &[u8], kp: usize, packed: &[u8], pp: usize, positions: usize, y: &mut [i8]) {
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

/// The output's zero point and clamp, in vectors.
struct Stage {
    zp: __m512i,
    lo: __m512i,
    hi: __m512i,
}

impl Stage {
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn new(d: &Dense<'_>) -> Self {
        Self {
            zp: _mm512_set1_epi32(d.output.zero_point),
            lo: _mm512_set1_epi32(d.output.min),
            hi: _mm512_set1_epi32(d.output.max),
        }
    }
}

/// Output channels `o..o + R` at every position, tile by tile.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn channels<const R: usize>(
    d: &Dense<'_>,
    stage: &Stage,
    filters: &[u8],
    kp: usize,
    packed: &[u8],
    pp: usize,
    positions: usize,
    o: usize,
    y: &mut [i8],
) {
    let f: [&[u8]; R] = core::array::from_fn(|r| &filters[(o + r) * kp..][..kp]);
    let ch: [Channel; R] = core::array::from_fn(|r| {
        let sum = f[r].iter().map(|&b| i32::from(b as i8)).sum();
        Channel::new(d, o + r, sum)
    });
    let vectors = pp / 16;
    let mut v = 0;
    while v < vectors {
        let nv = (vectors - v).min(NV);
        match nv {
            4 => tile::<R, 4>(stage, &f, &ch, packed, pp, positions, o, v, y),
            3 => tile::<R, 3>(stage, &f, &ch, packed, pp, positions, o, v, y),
            2 => tile::<R, 2>(stage, &f, &ch, packed, pp, positions, o, v, y),
            _ => tile::<R, 1>(stage, &f, &ch, packed, pp, positions, o, v, y),
        }
        v += nv;
    }
}

/// The micro-kernel: `R` output channels by `V` vectors of 16 positions from vector `v0`
/// on, accumulated in `R · V` registers over every group of four taps, then requantized
/// and stored (masked past the last position).
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile<const R: usize, const V: usize>(
    stage: &Stage,
    f: &[&[u8]; R],
    ch: &[Channel; R],
    packed: &[u8],
    pp: usize,
    positions: usize,
    o: usize,
    v0: usize,
    y: &mut [i8],
) {
    let kp = f[0].len();
    assert!(packed.len() >= kp * pp && 16 * (v0 + V) <= pp && f.iter().all(|f| f.len() == kp));
    let mut acc = [[_mm512_setzero_si512(); V]; R];
    let mut kg = 0;
    while kg < kp / 4 {
        // SAFETY: group `kg < kp / 4` of vectors `v0..v0 + V` lies at bytes
        // `4·kg·pp + 64·(v0 + V)` at most, and `64·(v0 + V) <= 4·pp`, so inside
        // `packed[..kp·pp]`; each filter read is bytes `4·kg..4·kg + 4 <= kp`. Asserted above.
        unsafe {
            let base = packed.as_ptr().add(4 * kg * pp + 64 * v0);
            let a: [__m512i; V] = core::array::from_fn(|j| _mm512_loadu_si512(base.add(64 * j).cast()));
            for r in 0..R {
                let w = _mm512_set1_epi32(f[r].as_ptr().add(4 * kg).cast::<i32>().read_unaligned());
                for j in 0..V {
                    acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], a[j], w);
                }
            }
        }
        kg += 1;
    }
    for r in 0..R {
        let row = &mut y[(o + r) * positions..][..positions];
        for (j, &a) in acc[r].iter().enumerate() {
            let q = _mm512_cvtepi32_epi8(ch[r].finish(a, stage.zp, stage.lo, stage.hi));
            let p = 16 * (v0 + j);
            if p + 16 <= positions {
                // SAFETY: bytes `p..p + 16` of `row`, inside it.
                unsafe { _mm_storeu_si128(row.as_mut_ptr().add(p).cast(), q) };
            } else if p < positions {
                let mask = (1u16 << (positions - p)) - 1;
                // SAFETY: only the `positions − p < 16` bytes from `p` on are written, inside `row`.
                unsafe { _mm_mask_storeu_epi8(row.as_mut_ptr().add(p).cast(), mask, q) };
            }
        }
    }
}

/// [`super::linear`] for CPUs with AVX-512 VNNI: four rows at a time, 64 inputs per
/// instruction, the last ones by masked loads; `scratch` holds at least `x.len()` values
/// and the input zero point is in `-128..=127` (both checked by the caller).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn linear(d: &Dense<'_>, x: &[i8], y: &mut [i8], scratch: &mut [i16]) {
    let n = x.len();
    let u = &mut bytes(scratch)[..n];
    copy_unsigned(x, u);
    let u = &*u;
    let zc = d.input_zero_point + 128;
    let rows = y.len();
    let mut o = 0;
    while o < rows {
        let r = (rows - o).min(4);
        let sums = match r {
            4 => dot_rows::<4>(d.weight, n, o, u, zc),
            3 => pad(dot_rows::<3>(d.weight, n, o, u, zc)),
            2 => pad(dot_rows::<2>(d.weight, n, o, u, zc)),
            _ => pad(dot_rows::<1>(d.weight, n, o, u, zc)),
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

/// Four results from fewer.
fn pad<const R: usize>(s: [i32; R]) -> [i32; 4] {
    core::array::from_fn(|i| if i < R { s[i] } else { 0 })
}

/// `Σ w · u − zc · Σ w` (wrapping) for rows `o..o + R` of the `[rows, n]` weights: the
/// second sum by `vpdpbusd` with bytes of ones, both reduced as one vector.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_rows<const R: usize>(weight: &[i8], n: usize, o: usize, u: &[u8], zc: i32) -> [i32; R] {
    assert!(weight.len() >= (o + R) * n && u.len() >= n);
    let ones = _mm512_set1_epi8(1);
    let mut acc = [_mm512_setzero_si512(); R];
    let mut sum = [_mm512_setzero_si512(); R];
    let mut i = 0;
    while i < n {
        let mask: __mmask64 = if n - i >= 64 { !0 } else { (1u64 << (n - i)) - 1 };
        // SAFETY: the masked loads read bytes `i..min(i + 64, n)` only, of `u` and of each
        // row `o + r` (inside `weight`, asserted above).
        unsafe {
            let a = _mm512_maskz_loadu_epi8(mask, u.as_ptr().add(i).cast());
            for r in 0..R {
                let w = _mm512_maskz_loadu_epi8(mask, weight.as_ptr().add((o + r) * n + i));
                acc[r] = _mm512_dpbusd_epi32(acc[r], a, w);
                sum[r] = _mm512_dpbusd_epi32(sum[r], ones, w);
            }
        }
        i += 64;
    }
    let zc = _mm512_set1_epi32(zc);
    let v: [__m512i; 4] = core::array::from_fn(|r| {
        if r < R {
            _mm512_sub_epi32(acc[r], _mm512_mullo_epi32(sum[r], zc))
        } else {
            _mm512_setzero_si512()
        }
    });
    // The four rows reduced together: pairs of rows interleaved and added, twice, leave
    // each 128-bit lane holding the four rows' partial sums; then the lanes are added.
    let a = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
    let b = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
    let c = _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
    let c = _mm256_add_epi32(_mm512_castsi512_si256(c), _mm512_extracti64x4_epi64::<1>(c));
    let c = _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256::<1>(c));
    let mut all = [0i32; 4];
    // SAFETY: four `i32` values into an array of four.
    unsafe { _mm_storeu_si128(all.as_mut_ptr().cast(), c) };
    core::array::from_fn(|r| all[r])
}

#[cfg(test)]
mod tests {
    use super::super::simd_check;
    use super::*;
    use std::vec;

    #[test]
    fn conv_equals_the_portable_loops() {
        if !available() {
            return;
        }
        simd_check::conv_equals_the_portable_loops(127, |d, g, x, y| {
            // SAFETY: the CPU has AVX-512 VNNI (checked above); the scratch is what it needs.
            unsafe { conv2d(d, g, x, y, &mut vec![0; conv2d_scratch(g)]) }
        });
    }

    #[test]
    fn requantization_equals_the_scalar_code() {
        if !available() {
            return;
        }
        simd_check::requantization_equals_the_scalar_code::<16>(|d, accs| {
            let mut got = [0i32; 16];
            // SAFETY: the CPU has AVX-512 (checked above); sixteen lanes into sixteen values.
            unsafe {
                let s = Stage::new(d);
                let v = Channel::new(d, 0, 0).finish(_mm512_loadu_si512(accs.as_ptr().cast()), s.zp, s.lo, s.hi);
                _mm512_storeu_si512(got.as_mut_ptr().cast(), v);
            }
            got
        });
    }

    #[test]
    fn linear_equals_the_portable_loop() {
        if !available() {
            return;
        }
        simd_check::linear_equals_the_portable_loop(false, |d, x, y| {
            // SAFETY: the CPU has AVX-512 VNNI (checked above); the scratch holds `n` values.
            unsafe { linear(d, x, y, &mut vec![0; x.len()]) }
        });
    }
}
