//! The simd128 build (`wasm32` compiled with `-C target-feature=+simd128`, chosen at
//! compile time): the generic loop nest around a microkernel and dot products in
//! WebAssembly's 128-bit vector instructions.
//!
//! simd128 has no fused multiply-add (that is the relaxed-simd proposal), so the kernels
//! multiply and add separately, lane by lane in the portable loops' order: their results
//! are bit-identical to the portable build's (the tests check it). The register tile is
//! 4 rows by 2 vectors of 4 `f32` (4 x 4 `f64`): 8 accumulators, which a runtime keeps
//! in the 16 vector registers of an x86-64 host with room for the operands.

use core::arch::wasm32::*;

use super::packed::{microkernel, store, transpose, Float, MulAdd};
use super::MatMut;
#[cfg(test)]
use super::{packed::gemm_packed, MatRef};

/// Steps of `k` per iteration of the microkernel's loop, as in the portable one.
const UNROLL: usize = 4;

/// The register tile `(MR, NR)` for `f32`.
pub(super) const TILE_F32: (usize, usize) = (4, 8);
/// The register tile for `f64`.
pub(super) const TILE_F64: (usize, usize) = (4, 4);

/// The simd128 build: separate multiplies and adds, simd128 dot products and microkernel.
pub(super) struct Simd128;

impl MulAdd for Simd128 {
    #[inline(always)]
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        a * b + c
    }

    #[inline(always)]
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        T::dots_simd128(x, ys)
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
        T::tile_simd128::<MR, NR>(a, b, c, at, alpha, beta);
    }
}

/// The simd128 kernel with any register tile, so that the tests cover other widths and
/// heights.
#[cfg(test)]
pub(super) fn gemm_tile<T: Float, const MR: usize, const NR: usize>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
) {
    gemm_packed::<T, MR, NR, Simd128>(alpha, a, b, beta, c, pack);
}

/// One 16-byte vector from an array of 16 bytes' worth of floats.
#[inline(always)]
fn ld<T: Copy, const L: usize>(x: &[T; L]) -> v128 {
    assert!(core::mem::size_of::<[T; L]>() == 16);
    // SAFETY: the array holds the 16 bytes read; wasm loads need no alignment.
    unsafe { v128_load(x.as_ptr().cast::<v128>()) }
}

/// Stores one vector into an array of 16 bytes' worth of floats.
#[inline(always)]
fn st<T: Copy, const L: usize>(x: &mut [T; L], v: v128) {
    assert!(core::mem::size_of::<[T; L]>() == 16);
    // SAFETY: the array holds the 16 bytes written.
    unsafe { v128_store(x.as_mut_ptr().cast::<v128>(), v) }
}

/// One `MR x NR` `f32` tile: the product of an `MR`-row panel of `A` and an `NR`-column
/// panel of `B` (both packed, `kc` steps each), stored into the `mr x nr` corner of `C`
/// at `(i0, j0)`. `NR` of 4 to 16 in steps of 4 runs in intrinsics; any other width (only
/// the tests ask for one) takes the portable microkernel.
#[inline(always)]
pub(super) fn tile_f32<const MR: usize, const NR: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    at: (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    match NR {
        4 => tile_v::<f32, 4, MR, NR, 1>(a, b, c, at, alpha, beta),
        8 => tile_v::<f32, 4, MR, NR, 2>(a, b, c, at, alpha, beta),
        12 => tile_v::<f32, 4, MR, NR, 3>(a, b, c, at, alpha, beta),
        16 => tile_v::<f32, 4, MR, NR, 4>(a, b, c, at, alpha, beta),
        _ => {
            let t = microkernel::<f32, MR, NR, Simd128>(a, b);
            store(&t, c, at.0, at.1, at.2, at.3, alpha, beta);
        }
    }
}

/// [`tile_f32`] for `f64`: `NR` of 2 to 8 in steps of 2 in intrinsics.
#[inline(always)]
pub(super) fn tile_f64<const MR: usize, const NR: usize>(
    a: &[f64],
    b: &[f64],
    c: &mut MatMut<'_, f64>,
    at: (usize, usize, usize, usize),
    alpha: f64,
    beta: f64,
) {
    match NR {
        2 => tile_v::<f64, 2, MR, NR, 1>(a, b, c, at, alpha, beta),
        4 => tile_v::<f64, 2, MR, NR, 2>(a, b, c, at, alpha, beta),
        6 => tile_v::<f64, 2, MR, NR, 3>(a, b, c, at, alpha, beta),
        8 => tile_v::<f64, 2, MR, NR, 4>(a, b, c, at, alpha, beta),
        _ => {
            let t = microkernel::<f64, MR, NR, Simd128>(a, b);
            store(&t, c, at.0, at.1, at.2, at.3, alpha, beta);
        }
    }
}

/// The lane operations of one float type.
trait Lanes: Float {
    fn vsplat(x: Self) -> v128;
    fn vadd(a: v128, b: v128) -> v128;
    fn vmul(a: v128, b: v128) -> v128;
}

impl Lanes for f32 {
    #[inline(always)]
    fn vsplat(x: f32) -> v128 {
        f32x4_splat(x)
    }
    #[inline(always)]
    fn vadd(a: v128, b: v128) -> v128 {
        f32x4_add(a, b)
    }
    #[inline(always)]
    fn vmul(a: v128, b: v128) -> v128 {
        f32x4_mul(a, b)
    }
}

impl Lanes for f64 {
    #[inline(always)]
    fn vsplat(x: f64) -> v128 {
        f64x2_splat(x)
    }
    #[inline(always)]
    fn vadd(a: v128, b: v128) -> v128 {
        f64x2_add(a, b)
    }
    #[inline(always)]
    fn vmul(a: v128, b: v128) -> v128 {
        f64x2_mul(a, b)
    }
}

/// The tile for `NR = L V`: `V` vectors of `L` lanes per row, `A`'s values broadcast.
#[inline(always)]
fn tile_v<T: Lanes, const L: usize, const MR: usize, const NR: usize, const V: usize>(
    a: &[T],
    b: &[T],
    c: &mut MatMut<'_, T>,
    (i0, j0, mr, nr): (usize, usize, usize, usize),
    alpha: T,
    beta: T,
) {
    assert!(NR == L * V);
    let (a_steps, _) = a.as_chunks::<MR>();
    let (b_steps, _) = b.as_chunks::<NR>();
    let steps = a_steps.len().min(b_steps.len());
    let (a4, ar) = a_steps[..steps].as_chunks::<UNROLL>();
    let (b4, br) = b_steps[..steps].as_chunks::<UNROLL>();
    let mut acc = [[T::vsplat(T::ZERO); V]; MR];
    for (ap4, bp4) in a4.iter().zip(b4) {
        for (ap, bp) in ap4.iter().zip(bp4) {
            step::<T, L, MR, NR, V>(&mut acc, ap, bp);
        }
    }
    for (ap, bp) in ar.iter().zip(br) {
        step::<T, L, MR, NR, V>(&mut acc, ap, bp);
    }
    let mut t = [[T::ZERO; NR]; MR];
    for (out, row) in t.iter_mut().zip(&acc) {
        for (v, &x) in row.iter().enumerate() {
            st::<T, L>((&mut out[L * v..L * v + L]).try_into().unwrap(), x);
        }
    }
    store(&t, c, i0, j0, mr, nr, alpha, beta);
}

/// One step of `k`: `acc += A column x B row`, each value of `A` broadcast.
#[inline(always)]
fn step<T: Lanes, const L: usize, const MR: usize, const NR: usize, const V: usize>(
    acc: &mut [[v128; V]; MR],
    ap: &[T; MR],
    bp: &[T; NR],
) {
    let bv: [v128; V] = core::array::from_fn(|v| ld::<T, L>(bp[L * v..L * v + L].try_into().unwrap()));
    for (row, &ai) in acc.iter_mut().zip(ap) {
        let av = T::vsplat(ai);
        for (x, &bx) in row.iter_mut().zip(&bv) {
            *x = T::vadd(*x, T::vmul(av, bx));
        }
    }
}

/// `[Σ_p x[p] · y_s[p]]` for `S` vectors `y_s` as long as `x`: for each `y_s`, 8 partial
/// sums (lane `l` sums the products at `p ≡ l` mod 8), each load of `x` serving all `S`;
/// then the pairwise sum of the 8 and the sum of the tail. That is the portable `dots`,
/// operation for operation.
#[inline(always)]
pub(super) fn dots_f32<const S: usize>(x: &[f32], ys: [&[f32]; S]) -> [f32; S] {
    let (xc, xt) = x.as_chunks::<8>();
    let n = xc.len();
    let yc = ys.map(|y| &y[..x.len()].as_chunks::<8>().0[..n]);
    // Lets the compiler drop the bounds checks in the loop.
    for y in &yc {
        assert!(y.len() == n);
    }
    let (mut lo, mut hi) = ([f32x4_splat(0.0); S], [f32x4_splat(0.0); S]);
    for (p, xs) in xc.iter().enumerate() {
        let (x0, x1) = (ld::<f32, 4>(xs[..4].try_into().unwrap()), ld::<f32, 4>(xs[4..].try_into().unwrap()));
        for ((l, h), y) in lo.iter_mut().zip(hi.iter_mut()).zip(&yc) {
            let y = &y[p];
            *l = f32x4_add(*l, f32x4_mul(x0, ld::<f32, 4>(y[..4].try_into().unwrap())));
            *h = f32x4_add(*h, f32x4_mul(x1, ld::<f32, 4>(y[4..].try_into().unwrap())));
        }
    }
    let body = n * 8;
    core::array::from_fn(|s| {
        let mut tail = 0.0f32;
        for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
            tail += u * v;
        }
        // Lanes l + 4 into l, then l + 2 into l, then lane 1 into lane 0.
        let q = f32x4_add(lo[s], hi[s]);
        let (q0, q1) = (f32x4_extract_lane::<0>(q), f32x4_extract_lane::<1>(q));
        let (q2, q3) = (f32x4_extract_lane::<2>(q), f32x4_extract_lane::<3>(q));
        (q0 + q2) + (q1 + q3) + tail
    })
}

/// [`dots_f32`] for `f64`: the 8 partial sums of each `y_s` in four vectors of 2.
#[inline(always)]
pub(super) fn dots_f64<const S: usize>(x: &[f64], ys: [&[f64]; S]) -> [f64; S] {
    let (xc, xt) = x.as_chunks::<8>();
    let n = xc.len();
    let yc = ys.map(|y| &y[..x.len()].as_chunks::<8>().0[..n]);
    for y in &yc {
        assert!(y.len() == n);
    }
    let mut acc = [[f64x2_splat(0.0); 4]; S];
    for (p, xs) in xc.iter().enumerate() {
        let xv: [v128; 4] = core::array::from_fn(|q| ld::<f64, 2>(xs[2 * q..2 * q + 2].try_into().unwrap()));
        for (acc, y) in acc.iter_mut().zip(&yc) {
            let y = &y[p];
            for (q, a) in acc.iter_mut().enumerate() {
                *a = f64x2_add(*a, f64x2_mul(xv[q], ld::<f64, 2>(y[2 * q..2 * q + 2].try_into().unwrap())));
            }
        }
    }
    let body = n * 8;
    core::array::from_fn(|s| {
        let mut tail = 0.0f64;
        for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
            tail += u * v;
        }
        // Vector q holds partial sums 2q and 2q + 1: l + 4 into l, l + 2 into l, 1 into 0.
        let [a0, a1, a2, a3] = acc[s];
        let q = f64x2_add(f64x2_add(a0, a2), f64x2_add(a1, a3));
        f64x2_extract_lane::<0>(q) + f64x2_extract_lane::<1>(q) + tail
    })
}
