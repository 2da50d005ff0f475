//! The AVX2+FMA build, chosen at run time: the generic loop nest compiled with 256-bit
//! vectors and FMA, plus dot products and transposes written in intrinsics.

use core::arch::x86_64::*;

use super::epilogue::Epilogue;
use super::packed::{gemm_packed, gemm_packed_fused, Float, MulAdd};
use super::{MatMut, MatRef};

/// The register tile `(MR, NR)` for `f32`: 12 accumulators of the 16 AVX registers,
/// measured best against 8x8 and 4x24.
pub(super) const TILE_F32: (usize, usize) = (6, 16);
/// The register tile for `f64`.
pub(super) const TILE_F64: (usize, usize) = (4, 8);

/// `a * b + c` as one FMA instruction. Only [`gemm_avx2_fma`] (and, for `f64` and for
/// the packing and dot products, the AVX-512 build) use it.
pub(super) struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        a.fused_mul_add(b, c)
    }

    #[inline(always)]
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        // SAFETY: `Fused` runs only inside `gemm_avx2_fma` and the AVX-512 build, which
        // are called only after `dispatch` found AVX2 and FMA (and AVX-512F) on this CPU.
        unsafe { T::dots_avx2_fma(x, ys) }
    }

    #[inline(always)]
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        // SAFETY: as for `dots`.
        unsafe { T::transpose_avx2_fma(rows, r, panel) }
    }
}

/// The packed kernel compiled for AVX2 and FMA: everything it calls is inlined, so the
/// whole loop nest, not only the microkernel, gets 256-bit vectors. Calling it is
/// `unsafe` only because the CPU must have those features.
#[target_feature(enable = "avx2,fma")]
pub(super) fn gemm_avx2_fma<T: Float, const MR: usize, const NR: usize>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
) {
    gemm_packed::<T, MR, NR, Fused>(alpha, a, b, beta, c, pack);
}

/// [`gemm_avx2_fma`] with an epilogue and row sums of `A`
/// ([`gemm_fused`](super::gemm_fused)).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_avx2_fma_fused<T: Float, const MR: usize, const NR: usize, E: Epilogue<T>>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
    epi: &E,
    a_row_sums: Option<&mut [T]>,
) {
    gemm_packed_fused::<T, MR, NR, Fused, E>(alpha, a, b, beta, c, pack, epi, a_row_sums);
}

/// 8 `f32` from an array, as one vector (the compiler makes it one load).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load_f32(x: &[f32; 8]) -> __m256 {
    _mm256_set_ps(x[7], x[6], x[5], x[4], x[3], x[2], x[1], x[0])
}

/// 4 `f64` from an array, as one vector.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load_f64(x: &[f64; 4]) -> __m256d {
    _mm256_set_pd(x[3], x[2], x[1], x[0])
}

/// The dot products of [`Float::dots_avx2_fma`] for `f32`: one vector of 8 partial
/// sums per `y_s`, each load of `x` serving all `S`.
///
/// Written with intrinsics because the portable `dots` vectorizes badly here (the
/// compiler packs lanes of different columns together, or only pairs): on the
/// 784 -> 256 -> 128 -> 10 MLP at batch 1 (W2), the forward took 499k instructions
/// with it and 104k with this (128k with one vector of partial sums per column). No
/// `unsafe` inside: every intrinsic is safe in a function with these target features,
/// and the loads read checked arrays.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn dots_f32<const S: usize>(x: &[f32], ys: [&[f32]; S]) -> [f32; S] {
    let (xc, xt) = x.as_chunks::<8>();
    let n = xc.len();
    let yc = ys.map(|y| &y[..x.len()].as_chunks::<8>().0[..n]);
    // Lets the compiler drop the bounds checks in the loop.
    for y in &yc {
        assert!(y.len() == n);
    }
    // Two vectors of partial sums per y_s, for even and odd chunks: twice as many
    // independent FMAs in flight as one (their latency, not their throughput, bounded
    // the single-vector loop).
    let (mut even, mut odd) = ([_mm256_setzero_ps(); S], [_mm256_setzero_ps(); S]);
    let pairs = n / 2;
    for p in (0..pairs).map(|q| 2 * q) {
        let (x0, x1) = (load_f32(&xc[p]), load_f32(&xc[p + 1]));
        for ((e, o), y) in even.iter_mut().zip(odd.iter_mut()).zip(&yc) {
            *e = _mm256_fmadd_ps(x0, load_f32(&y[p]), *e);
            *o = _mm256_fmadd_ps(x1, load_f32(&y[p + 1]), *o);
        }
    }
    if n % 2 == 1 {
        let xv = load_f32(&xc[n - 1]);
        for (e, y) in even.iter_mut().zip(&yc) {
            *e = _mm256_fmadd_ps(xv, load_f32(&y[n - 1]), *e);
        }
    }
    for (e, o) in even.iter_mut().zip(odd) {
        *e = _mm256_add_ps(*e, o);
    }
    let acc = even;
    let body = xc.len() * 8;
    core::array::from_fn(move |s| {
        let mut tail = 0.0f32;
        for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
            tail = u.mul_add(v, tail);
        }
        let acc = acc[s];
        let q = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps::<1>(q, q));
        _mm_cvtss_f32(q) + tail
    })
}

/// The 8 lanes of a vector as an array.
#[inline(always)]
fn to_array(v: __m256) -> [f32; 8] {
    // SAFETY: `__m256` is 32 bytes holding 8 `f32` lanes in order, and every bit
    // pattern is a valid `[f32; 8]`.
    unsafe { core::mem::transmute::<__m256, [f32; 8]>(v) }
}

/// Rows `r[i]` of 8 values to columns: `out[q][i] = r[i][q]`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    // Columns q and q + 4 of rows 0-3 (u0..u3) and of rows 4-7 (u4..u7).
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xee>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xee>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xee>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xee>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// [`transpose`](super::packed::transpose) for `f32` in 8x8 blocks of vectors: eight loads along the rows,
/// shuffles, eight stores along the panel, instead of a load and a store per value.
/// On the W1 training step this took the packing of `x` and of `Wᵀ` (both with `k`
/// along their rows) from 868k to 330k instructions.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn transpose_f32<const R: usize>(rows: &[&[f32]; R], r: usize, panel: &mut [[f32; R]]) {
    let kc = panel.len();
    let rows: [&[f32]; R] = core::array::from_fn(|i| if i < r { &rows[i][..kc] } else { &[] });
    let (blocks, tail) = panel.as_chunks_mut::<8>();
    for (b, block) in blocks.iter_mut().enumerate() {
        let p0 = b * 8;
        // Rows in groups of 8; a last, shorter group (and every row from `r` on)
        // reads zeros, and a short group stores only the lanes it has.
        for g in (0..R).step_by(8) {
            let n = (R - g).min(8);
            let mut v = [_mm256_setzero_ps(); 8];
            for (i, (v, row)) in v.iter_mut().zip(&rows[g..g + n]).enumerate() {
                if g + i < r {
                    *v = load_f32(row[p0..p0 + 8].try_into().unwrap());
                }
            }
            for (out, col) in block.iter_mut().zip(transpose8(v)) {
                out[g..g + n].copy_from_slice(&to_array(col)[..n]);
            }
        }
    }
    let p0 = blocks.len() * 8;
    for (p, out) in tail.iter_mut().enumerate() {
        for (i, (o, row)) in out.iter_mut().zip(&rows).enumerate() {
            *o = if i < r { row[p0 + p] } else { 0.0 };
        }
    }
}

/// [`dots_f32`] for `f64`: vectors of 4.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn dots_f64<const S: usize>(x: &[f64], ys: [&[f64]; S]) -> [f64; S] {
    let (xc, xt) = x.as_chunks::<4>();
    let n = xc.len();
    let yc = ys.map(|y| &y[..x.len()].as_chunks::<4>().0[..n]);
    // Lets the compiler drop the bounds checks in the loop.
    for y in &yc {
        assert!(y.len() == n);
    }
    let mut acc = [_mm256_setzero_pd(); S];
    for (p, xs) in xc.iter().enumerate().take(n) {
        let xv = load_f64(xs);
        for (acc, y) in acc.iter_mut().zip(&yc) {
            *acc = _mm256_fmadd_pd(xv, load_f64(&y[p]), *acc);
        }
    }
    let body = xc.len() * 4;
    core::array::from_fn(|s| {
        let mut tail = 0.0f64;
        for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
            tail = u.mul_add(v, tail);
        }
        let q = _mm_add_pd(_mm256_castpd256_pd128(acc[s]), _mm256_extractf128_pd::<1>(acc[s]));
        let q = _mm_add_sd(q, _mm_unpackhi_pd(q, q));
        _mm_cvtsd_f64(q) + tail
    })
}
