//! The NEON build (`aarch64`, where NEON is part of the baseline, so it is chosen at
//! compile time): the generic loop nest around a microkernel and dot products in NEON
//! intrinsics, with fused multiply-adds throughout.
//!
//! The `f32` register tile is 8 rows by 3 vectors of 4 lanes: 24 of the 32 `v` registers
//! hold accumulators, 3 the current row of the `B` panel and 2 the current column of the
//! `A` panel, whose lanes the multiply-adds take directly (`fmla v.4s, v.4s, v.s[i]`):
//! each step of `k` is 24 FMAs for 5 vector loads. `f64` has 6 rows by 4 vectors of 2
//! (24 accumulators, 4 + 3 operands). The tile goes through an array into the portable
//! [`store`], which LLVM vectorizes: it runs once per `kc` steps of the loop above.
//!
//! The microkernel and the dot products do, lane by lane, the same operations in the
//! same order as the portable loops run with a fused multiply-add: their results are
//! bit-identical to those (the tests check it); against the portable build, which
//! rounds the product and the sum separately, they differ in the last bits.

use core::arch::aarch64::*;

use super::packed::{microkernel, store, transpose, Float, MulAdd};
use super::MatMut;
#[cfg(test)]
use super::{
    packed::{dots, gemm_packed},
    MatRef,
};

/// Steps of `k` per iteration of the microkernel's loop, as in the portable one: the
/// loop's bookkeeping (5 instructions) is spread over 96 multiply-adds instead of 24.
const UNROLL: usize = 4;

/// The register tile `(MR, NR)` for `f32`: 24 accumulators of the 32 vector registers
/// (the tile BLIS uses on ARMv8-A cores).
pub(super) const TILE_F32: (usize, usize) = (8, 12);
/// The register tile for `f64`.
pub(super) const TILE_F64: (usize, usize) = (6, 8);

/// `a * b + c` rounded once (`fmadd`), without `std`.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    vget_lane_f32::<0>(vfma_f32(vdup_n_f32(c), vdup_n_f32(a), vdup_n_f32(b)))
}

/// `a * b + c` rounded once, for `f64`.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn fma_f64(a: f64, b: f64, c: f64) -> f64 {
    vget_lane_f64::<0>(vfma_f64(vdup_n_f64(c), vdup_n_f64(a), vdup_n_f64(b)))
}

/// The NEON build: fused multiply-adds, NEON dot products and microkernel.
pub(super) struct Neon;

impl MulAdd for Neon {
    #[inline(always)]
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        a.fused_mul_add(b, c)
    }

    #[inline(always)]
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        T::dots_neon(x, ys)
    }

    #[inline(always)]
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        transpose(rows, r, panel);
    }

    #[inline(always)]
    fn tile<T: Float, const MR: usize, const NR: usize>(
        a: &[T],
        b: &[T],
        c: &mut MatMut<'_, T>,
        at: (usize, usize, usize, usize),
        alpha: T,
        beta: T,
    ) {
        T::tile_neon::<MR, NR>(a, b, c, at, alpha, beta);
    }
}

/// The portable loops with a fused multiply-add: what the NEON build computes, in plain
/// Rust, for the tests to compare against bit for bit.
#[cfg(test)]
pub(super) struct FusedPortable;

#[cfg(test)]
impl MulAdd for FusedPortable {
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        a.fused_mul_add(b, c)
    }

    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        dots::<T, Self, S>(x, ys)
    }

    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        transpose(rows, r, panel);
    }
}

/// The NEON `f32` kernel with any register tile, so that the tests cover other widths
/// and heights.
#[cfg(test)]
pub(super) fn gemm_f32_tile<const MR: usize, const NR: usize>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    gemm_packed::<f32, MR, NR, Neon>(alpha, a, b, beta, c, pack);
}

/// The NEON `f64` kernel with any register tile.
#[cfg(test)]
pub(super) fn gemm_f64_tile<const MR: usize, const NR: usize>(
    alpha: f64,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    beta: f64,
    c: MatMut<'_, f64>,
    pack: &mut [f64],
) {
    gemm_packed::<f64, MR, NR, Neon>(alpha, a, b, beta, c, pack);
}

/// 4 `f32` from an array, as one vector.
#[target_feature(enable = "neon")]
#[inline]
fn ld4(x: &[f32; 4]) -> float32x4_t {
    // SAFETY: the array holds the 4 values read.
    unsafe { vld1q_f32(x.as_ptr()) }
}

/// 2 `f64` from an array, as one vector.
#[target_feature(enable = "neon")]
#[inline]
fn ld2(x: &[f64; 2]) -> float64x2_t {
    // SAFETY: the array holds the 2 values read.
    unsafe { vld1q_f64(x.as_ptr()) }
}

/// `MR` values of `A` in vectors of 4 (zeros past `MR`); `MR <= 16`.
#[target_feature(enable = "neon")]
#[inline]
fn a_vectors_f32<const MR: usize>(ap: &[f32; MR]) -> [float32x4_t; 4] {
    core::array::from_fn(|q| {
        let lo = 4 * q;
        if lo + 4 <= MR {
            ld4(ap[lo..lo + 4].try_into().unwrap())
        } else {
            let mut t = [0.0f32; 4];
            if lo < MR {
                t[..MR - lo].copy_from_slice(&ap[lo..]);
            }
            ld4(&t)
        }
    })
}

/// `acc + b * a[i]`, with lane `i` of `a` taken by the multiply-add itself.
#[target_feature(enable = "neon")]
#[inline]
fn fma_lane_f32(acc: float32x4_t, b: float32x4_t, a: &[float32x4_t; 4], i: usize) -> float32x4_t {
    let v = a[i / 4];
    // `i` is a constant once the tile's loops are unrolled: one arm remains.
    match i % 4 {
        0 => vfmaq_laneq_f32::<0>(acc, b, v),
        1 => vfmaq_laneq_f32::<1>(acc, b, v),
        2 => vfmaq_laneq_f32::<2>(acc, b, v),
        _ => vfmaq_laneq_f32::<3>(acc, b, v),
    }
}

/// One `MR x NR` `f32` tile: the product of an `MR`-row panel of `A` and an `NR`-column
/// panel of `B` (both packed, `kc` steps each), stored into the `mr x nr` corner of `C`
/// at `(i0, j0)`. `NR` of 4 to 16 in steps of 4, with `MR` up to 16, runs in intrinsics;
/// any other tile (only the tests ask for one) takes the portable microkernel.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn tile_f32<const MR: usize, const NR: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    at: (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    match NR {
        4 if MR <= 16 => tile_f32_v::<MR, NR, 1>(a, b, c, at, alpha, beta),
        8 if MR <= 16 => tile_f32_v::<MR, NR, 2>(a, b, c, at, alpha, beta),
        12 if MR <= 16 => tile_f32_v::<MR, NR, 3>(a, b, c, at, alpha, beta),
        16 if MR <= 16 => tile_f32_v::<MR, NR, 4>(a, b, c, at, alpha, beta),
        _ => {
            let t = microkernel::<f32, MR, NR, Neon>(a, b);
            store(&t, c, at.0, at.1, at.2, at.3, alpha, beta);
        }
    }
}

/// [`tile_f32`] for `NR = 4 V`: `V` vectors per row of the tile.
#[target_feature(enable = "neon")]
#[inline]
fn tile_f32_v<const MR: usize, const NR: usize, const V: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    (i0, j0, mr, nr): (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    assert!(NR == 4 * V && MR <= 16);
    let (a_steps, _) = a.as_chunks::<MR>();
    let (b_steps, _) = b.as_chunks::<NR>();
    let steps = a_steps.len().min(b_steps.len());
    let (a4, ar) = a_steps[..steps].as_chunks::<UNROLL>();
    let (b4, br) = b_steps[..steps].as_chunks::<UNROLL>();
    let mut acc = [[vdupq_n_f32(0.0); V]; MR];
    for (ap4, bp4) in a4.iter().zip(b4) {
        for (ap, bp) in ap4.iter().zip(bp4) {
            step_f32(&mut acc, ap, bp);
        }
    }
    for (ap, bp) in ar.iter().zip(br) {
        step_f32(&mut acc, ap, bp);
    }
    let mut t = [[0.0f32; NR]; MR];
    for (out, row) in t.iter_mut().zip(&acc) {
        for (v, &x) in row.iter().enumerate() {
            let lanes: &mut [f32; 4] = (&mut out[4 * v..4 * v + 4]).try_into().unwrap();
            // SAFETY: `lanes` holds the 4 values written.
            unsafe { vst1q_f32(lanes.as_mut_ptr(), x) };
        }
    }
    store(&t, c, i0, j0, mr, nr, alpha, beta);
}

/// One step of `k`: `acc += A column x B row`.
#[target_feature(enable = "neon")]
#[inline]
fn step_f32<const MR: usize, const NR: usize, const V: usize>(
    acc: &mut [[float32x4_t; V]; MR],
    ap: &[f32; MR],
    bp: &[f32; NR],
) {
    let bv: [float32x4_t; V] = core::array::from_fn(|v| ld4(bp[4 * v..4 * v + 4].try_into().unwrap()));
    let av = a_vectors_f32(ap);
    for (i, row) in acc.iter_mut().enumerate() {
        for (x, &bx) in row.iter_mut().zip(&bv) {
            *x = fma_lane_f32(*x, bx, &av, i);
        }
    }
}

/// `MR` values of `A` in vectors of 2 (zeros past `MR`); `MR <= 8`.
#[target_feature(enable = "neon")]
#[inline]
fn a_vectors_f64<const MR: usize>(ap: &[f64; MR]) -> [float64x2_t; 4] {
    core::array::from_fn(|q| {
        let lo = 2 * q;
        if lo + 2 <= MR {
            ld2(ap[lo..lo + 2].try_into().unwrap())
        } else {
            let mut t = [0.0f64; 2];
            if lo < MR {
                t[..MR - lo].copy_from_slice(&ap[lo..]);
            }
            ld2(&t)
        }
    })
}

/// [`tile_f32`] for `f64`: `NR` of 2 to 8 in steps of 2, with `MR` up to 8, in intrinsics.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn tile_f64<const MR: usize, const NR: usize>(
    a: &[f64],
    b: &[f64],
    c: &mut MatMut<'_, f64>,
    at: (usize, usize, usize, usize),
    alpha: f64,
    beta: f64,
) {
    match NR {
        2 if MR <= 8 => tile_f64_v::<MR, NR, 1>(a, b, c, at, alpha, beta),
        4 if MR <= 8 => tile_f64_v::<MR, NR, 2>(a, b, c, at, alpha, beta),
        6 if MR <= 8 => tile_f64_v::<MR, NR, 3>(a, b, c, at, alpha, beta),
        8 if MR <= 8 => tile_f64_v::<MR, NR, 4>(a, b, c, at, alpha, beta),
        _ => {
            let t = microkernel::<f64, MR, NR, Neon>(a, b);
            store(&t, c, at.0, at.1, at.2, at.3, alpha, beta);
        }
    }
}

/// [`tile_f64`] for `NR = 2 V`.
#[target_feature(enable = "neon")]
#[inline]
fn tile_f64_v<const MR: usize, const NR: usize, const V: usize>(
    a: &[f64],
    b: &[f64],
    c: &mut MatMut<'_, f64>,
    (i0, j0, mr, nr): (usize, usize, usize, usize),
    alpha: f64,
    beta: f64,
) {
    assert!(NR == 2 * V && MR <= 8);
    let (a_steps, _) = a.as_chunks::<MR>();
    let (b_steps, _) = b.as_chunks::<NR>();
    let steps = a_steps.len().min(b_steps.len());
    let (a4, ar) = a_steps[..steps].as_chunks::<UNROLL>();
    let (b4, br) = b_steps[..steps].as_chunks::<UNROLL>();
    let mut acc = [[vdupq_n_f64(0.0); V]; MR];
    for (ap4, bp4) in a4.iter().zip(b4) {
        for (ap, bp) in ap4.iter().zip(bp4) {
            step_f64(&mut acc, ap, bp);
        }
    }
    for (ap, bp) in ar.iter().zip(br) {
        step_f64(&mut acc, ap, bp);
    }
    let mut t = [[0.0f64; NR]; MR];
    for (out, row) in t.iter_mut().zip(&acc) {
        for (v, &x) in row.iter().enumerate() {
            let lanes: &mut [f64; 2] = (&mut out[2 * v..2 * v + 2]).try_into().unwrap();
            // SAFETY: `lanes` holds the 2 values written.
            unsafe { vst1q_f64(lanes.as_mut_ptr(), x) };
        }
    }
    store(&t, c, i0, j0, mr, nr, alpha, beta);
}

/// [`step_f32`] for `f64`.
#[target_feature(enable = "neon")]
#[inline]
fn step_f64<const MR: usize, const NR: usize, const V: usize>(
    acc: &mut [[float64x2_t; V]; MR],
    ap: &[f64; MR],
    bp: &[f64; NR],
) {
    let bv: [float64x2_t; V] = core::array::from_fn(|v| ld2(bp[2 * v..2 * v + 2].try_into().unwrap()));
    let av = a_vectors_f64(ap);
    for (i, row) in acc.iter_mut().enumerate() {
        let v = av[i / 2];
        for (x, &bx) in row.iter_mut().zip(&bv) {
            *x = if i % 2 == 0 { vfmaq_laneq_f64::<0>(*x, bx, v) } else { vfmaq_laneq_f64::<1>(*x, bx, v) };
        }
    }
}

/// `[Σ_p x[p] · y_s[p]]` for `S` vectors `y_s` as long as `x`: for each `y_s`, 8 partial
/// sums in two vectors (lane `l` sums the products at `p ≡ l` mod 8), each load of `x`
/// serving all `S`; then the pairwise sum of the 8 and the fused sum of the tail. That is
/// the portable `dots` with a fused multiply-add, operation for operation.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn dots_f32<const S: usize>(x: &[f32], ys: [&[f32]; S]) -> [f32; S] {
    let (xc, xt) = x.as_chunks::<8>();
    let n = xc.len();
    let yc = ys.map(|y| &y[..x.len()].as_chunks::<8>().0[..n]);
    // Lets the compiler drop the bounds checks in the loop.
    for y in &yc {
        assert!(y.len() == n);
    }
    let (mut lo, mut hi) = ([vdupq_n_f32(0.0); S], [vdupq_n_f32(0.0); S]);
    for (p, xs) in xc.iter().enumerate() {
        let (x0, x1) = (ld4(xs[..4].try_into().unwrap()), ld4(xs[4..].try_into().unwrap()));
        for ((l, h), y) in lo.iter_mut().zip(hi.iter_mut()).zip(&yc) {
            let y = &y[p];
            *l = vfmaq_f32(*l, x0, ld4(y[..4].try_into().unwrap()));
            *h = vfmaq_f32(*h, x1, ld4(y[4..].try_into().unwrap()));
        }
    }
    let body = n * 8;
    core::array::from_fn(|s| {
        let mut tail = 0.0f32;
        for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
            tail = fma_f32(u, v, tail);
        }
        // Lanes l + 4 into l, then l + 2 into l, then lane 1 into lane 0.
        let q = vaddq_f32(lo[s], hi[s]);
        let d = vadd_f32(vget_low_f32(q), vget_high_f32(q));
        vpadds_f32(d) + tail
    })
}

/// [`dots_f32`] for `f64`: the 8 partial sums of each `y_s` in four vectors of 2.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn dots_f64<const S: usize>(x: &[f64], ys: [&[f64]; S]) -> [f64; S] {
    let (xc, xt) = x.as_chunks::<8>();
    let n = xc.len();
    let yc = ys.map(|y| &y[..x.len()].as_chunks::<8>().0[..n]);
    for y in &yc {
        assert!(y.len() == n);
    }
    let mut acc = [[vdupq_n_f64(0.0); 4]; S];
    for (p, xs) in xc.iter().enumerate() {
        let xv: [float64x2_t; 4] = core::array::from_fn(|q| ld2(xs[2 * q..2 * q + 2].try_into().unwrap()));
        for (acc, y) in acc.iter_mut().zip(&yc) {
            let y = &y[p];
            for (q, a) in acc.iter_mut().enumerate() {
                *a = vfmaq_f64(*a, xv[q], ld2(y[2 * q..2 * q + 2].try_into().unwrap()));
            }
        }
    }
    let body = n * 8;
    core::array::from_fn(|s| {
        let mut tail = 0.0f64;
        for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
            tail = fma_f64(u, v, tail);
        }
        // Lanes (0, 1) hold partial sums 0 and 1 of vector 0, 2 and 3 of vector 1, ...:
        // sums l + 4 into l (vectors 2, 3 into 0, 1), then l + 2 into l, then 1 into 0.
        let [a0, a1, a2, a3] = acc[s];
        let q = vaddq_f64(vaddq_f64(a0, a2), vaddq_f64(a1, a3));
        vpaddd_f64(q) + tail
    })
}
