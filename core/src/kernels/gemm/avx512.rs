//! The AVX-512 build for `f32`, chosen at run time: the generic loop nest compiled with
//! AVX-512F, around a microkernel in intrinsics.
//!
//! The register tile is 12 rows by 2 vectors of 16 lanes: 24 of the 32 `zmm` registers
//! hold accumulators, 2 the current row of the `B` panel, and the `A` values are
//! broadcast from memory into the multiply-adds. Each step of `k` is 24 FMAs for 2 vector
//! loads and 12 broadcasts, unrolled by 4 steps, with the `B` panel prefetched a few
//! steps ahead (it streams from L2) and the tile's rows of `C` prefetched when the tile
//! starts. The tile is stored into `C` with masked loads and stores, so partial tiles at
//! the right edge need no scalar loop and no copy; partial panels at the bottom edge run
//! a 4- or 8-row loop instead of 12 rows of which some are zeros. Products of a few rows
//! run 8-row tiles, products of at most 16 columns one-vector-wide tiles; an 8-row tile
//! reads a row-major `A` where it lies instead of from a packed panel. Full panels of 16
//! or 32 rows are transposed in 16x16 blocks; the other packing and the matrix-vector dot
//! products are those of the AVX2 build (they are bound by memory, not by vector width).

use core::arch::x86_64::*;

use super::avx2::Fused;
use super::epilogue::Epilogue;
use super::packed::{gemm_packed, gemm_packed_fused, microkernel, store, Float, MulAdd};
use super::{MatMut, MatRef};

/// The register tile `(MR, NR)` for `f32`.
pub(super) const TILE_F32: (usize, usize) = (12, 32);

/// The AVX-512 build: [`Fused`] for everything but the tile.
pub(super) struct Avx512;

impl MulAdd for Avx512 {
    const PREFETCHES_C: bool = true;

    #[inline(always)]
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        Fused::mul_add(a, b, c)
    }

    #[inline(always)]
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        Fused::dots(x, ys)
    }

    #[inline(always)]
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        // SAFETY: as for `tile` below.
        unsafe { T::transpose_avx512(rows, r, panel) }
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
        // SAFETY: `Avx512` runs only inside `gemm_f32`, which `dispatch` calls only after
        // finding AVX-512F, AVX2 and FMA on this CPU.
        unsafe { T::tile_avx512::<MR, NR>(a, b, c, at, alpha, beta) }
    }

    const DIRECT_A: bool = true;

    #[inline(always)]
    fn tile_direct<T: Float, const MR: usize, const NR: usize>(
        a: MatRef<'_, T>,
        b: &[T],
        c: &mut MatMut<'_, T>,
        at: (usize, usize, usize, usize),
        alpha: T,
        beta: T,
    ) {
        // SAFETY: as for `tile`.
        unsafe { T::tile_direct_avx512::<MR, NR>(a, b, c, at, alpha, beta) }
    }
}

/// The packed `f32` kernel compiled for AVX-512F (and the AVX2 and FMA it implies): every
/// function it calls is inlined, so the loop nest gets the same features. Calling it is
/// `unsafe` only because the CPU must have them.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn gemm_f32(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    match (short_rows(c.rows()), narrow(c.cols())) {
        (true, false) => gemm_packed::<f32, { SHORT_TILE.0 }, { SHORT_TILE.1 }, Avx512>(alpha, a, b, beta, c, pack),
        (false, false) => gemm_packed::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Avx512>(alpha, a, b, beta, c, pack),
        (true, true) => gemm_packed::<f32, { SHORT_TILE.0 }, NARROW_NR, Avx512>(alpha, a, b, beta, c, pack),
        (false, true) => gemm_packed::<f32, { TILE_F32.0 }, NARROW_NR, Avx512>(alpha, a, b, beta, c, pack),
    }
}

/// The width of the tile for products of at most that many columns (a classifier's
/// last layer, 10 outputs): one vector instead of two, so that 10 columns fill 62% of
/// the multiply-adds instead of 31%.
pub(super) const NARROW_NR: usize = 16;

/// Whether `n` columns run in tiles [`NARROW_NR`] wide.
pub(super) fn narrow(n: usize) -> bool {
    n <= NARROW_NR
}

/// The tile for products of a few rows that 12 does not divide: 8 rows by 2 vectors.
pub(super) const SHORT_TILE: (usize, usize) = (8, 32);

/// Whether `m` rows run faster in [`SHORT_TILE`]s: a batch of 64 is five full 12-row
/// panels and one a third full (11% of the multiply-adds wasted), eight full 8-row ones.
/// Only for short products: for tall ones the 12-row tile's denser loop wins.
pub(super) fn short_rows(m: usize) -> bool {
    m <= 96 && m.is_multiple_of(8) && !m.is_multiple_of(12)
}

/// [`gemm_f32`] with an epilogue and row sums of `A` ([`gemm_fused`](super::gemm_fused)).
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_f32_fused<E: Epilogue<f32>>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
    epi: &E,
    a_row_sums: Option<&mut [f32]>,
) {
    match (short_rows(c.rows()), narrow(c.cols())) {
        (true, false) => gemm_packed_fused::<f32, { SHORT_TILE.0 }, { SHORT_TILE.1 }, Avx512, E>(
            alpha, a, b, beta, c, pack, epi, a_row_sums,
        ),
        (false, false) => gemm_packed_fused::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Avx512, E>(
            alpha, a, b, beta, c, pack, epi, a_row_sums,
        ),
        (true, true) => gemm_packed_fused::<f32, { SHORT_TILE.0 }, NARROW_NR, Avx512, E>(
            alpha, a, b, beta, c, pack, epi, a_row_sums,
        ),
        (false, true) => {
            gemm_packed_fused::<f32, { TILE_F32.0 }, NARROW_NR, Avx512, E>(alpha, a, b, beta, c, pack, epi, a_row_sums)
        }
    }
}

/// Step `$p` of the `B` panel `$b` (`$bp`, `NR = 16 V` values) as `V` vectors, with the
/// panel's lines a few steps ahead prefetched: it streams from L2 while `A` stays in L1,
/// and past its end the next panel's first lines come. A prefetch never faults, whatever
/// the address. A macro, so that the vectors never leave registers (a function returning
/// them that the compiler did not inline would pass them through memory).
macro_rules! load_b {
    ($b:expr, $bp:expr, $p:expr, $nr:expr, $v:expr) => {{
        let (b, bp): (&[f32], &[f32; $nr]) = ($b, $bp);
        let ahead = b.as_ptr().wrapping_add(($p + PREFETCH_STEPS) * $nr);
        for v in 0..$v {
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16 * v).cast());
        }
        let mut bv = [_mm512_setzero_ps(); $v];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: `bp` is an array of NR = 16 V values, so the 16 read from 16 v lie
            // inside it.
            *x = unsafe { _mm512_loadu_ps(bp.as_ptr().add(16 * v)) };
        }
        bv
    }};
}

/// `C = alpha * acc + beta * C` over the `mr x nr` corner at `(i0, j0)` of a tile whose
/// function has `NR = 16 V` and `ROWS` in scope: masked loads and stores along contiguous
/// rows, else through an array and the portable store. A macro, so that the accumulators
/// stay in registers (passed by value to a function the compiler did not inline, they
/// went through a 1.5 KB copy per tile).
macro_rules! store_acc {
    ($acc:ident, $c:ident, $at:expr, $alpha:ident, $beta:ident) => {{
        let (i0, j0, mr, nr): (usize, usize, usize, usize) = $at;
        assert!(NR == 16 * V && mr <= ROWS && nr <= NR);
        if $c.cs != 1 {
            // C's rows are not contiguous (a transposed C): through an array and the
            // portable store.
            let mut t = [[0.0f32; NR]; ROWS];
            for (out, row) in t.iter_mut().zip(&$acc) {
                for (v, &x) in row.iter().enumerate() {
                    // SAFETY: `out` holds NR = 16 V values; lanes 16 v .. 16 v + 16 lie
                    // inside.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * v), x) };
                }
            }
            store(&t, $c, i0, j0, mr, nr, $alpha, $beta);
        } else {
            let (alpha_v, beta_v) = (_mm512_set1_ps($alpha), _mm512_set1_ps($beta));
            // Lanes of vector v that lie in C.
            let masks: [__mmask16; V] = core::array::from_fn(|v| {
                let lanes = nr.saturating_sub(16 * v);
                if lanes >= 16 {
                    !0
                } else {
                    (1 << lanes) - 1
                }
            });
            // By value: the loop reads a copy of the accumulators, which then stay in
            // registers throughout the loop over k (indexing them by a variable row spills
            // them there).
            for (i, row) in $acc.into_iter().enumerate().take(mr) {
                // Checked: the tile's corner lies in C.
                let out = &mut $c.data[(i0 + i) * $c.rs + j0..][..nr];
                for ((v, x), &mask) in row.into_iter().enumerate().zip(&masks) {
                    if mask == 0 {
                        break;
                    }
                    let p = out[16 * v..].as_mut_ptr();
                    // SAFETY: the mask selects lanes 0..min(16, nr - 16 v) from `p`, which
                    // lie in `out[16 v..nr]` (16 v < nr, or the mask would be empty);
                    // masked-off lanes are neither read nor written (nor fault).
                    unsafe {
                        let r = _mm512_mul_ps(alpha_v, x);
                        // beta == 0 overwrites: C may hold garbage or NaN.
                        let r =
                            if $beta == 0.0 { r } else { _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(mask, p), r) };
                        _mm512_mask_storeu_ps(p, mask, r);
                    }
                }
            }
        }
    }};
}

/// One `MR x NR` tile: the product of an `MR`-row panel of `A` and an `NR`-column panel of
/// `B` (both packed, `kc` steps each), stored into the `mr x nr` corner of `C` at
/// `(i0, j0)`. `NR` of 16, 32 or 48 runs in intrinsics; any other width (only the tests
/// ask for one) takes the portable microkernel.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) fn tile<const MR: usize, const NR: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    at: (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    match NR {
        16 => tile_v::<MR, NR, 1>(a, b, c, at, alpha, beta),
        32 => tile_v::<MR, NR, 2>(a, b, c, at, alpha, beta),
        48 => tile_v::<MR, NR, 3>(a, b, c, at, alpha, beta),
        _ => {
            let t = microkernel::<f32, MR, NR, Fused>(a, b);
            store(&t, c, at.0, at.1, at.2, at.3, alpha, beta);
        }
    }
}

/// [`tile`] for `NR = 16 V`: `V` vectors per row of the tile.
///
/// A panel cut short by the bottom edge of `C` (`mr < MR`) runs only the rows it stores,
/// in a loop of 4 or 8 rows, instead of multiplying the packing's zeros: at n = 256
/// (21 full 12-row panels and one of 4 rows) that is 3% of the multiply-adds.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn tile_v<const MR: usize, const NR: usize, const V: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    at: (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    let mr = at.2;
    if MR > 8 && mr <= 4 {
        tile_rows::<MR, NR, V, 4>(a, b, c, at, alpha, beta);
    } else if MR > 8 && mr <= 8 {
        tile_rows::<MR, NR, V, 8>(a, b, c, at, alpha, beta);
    } else {
        tile_rows::<MR, NR, V, MR>(a, b, c, at, alpha, beta);
    }
}

/// [`tile`] with the `mr` rows of `A` read where they lie (`a` is `mr x kc`, rows
/// contiguous: a row-major `A`, such as a batch of inputs), broadcast from there instead
/// of from a packed panel: the same multiply-adds in the same order as [`tile`] (so the
/// same bits), without the pass that transposes `A` into panels. A block's rows stay in
/// L1 while the `B` panels stream past them, as a packed panel would.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) fn tile_direct<const MR: usize, const NR: usize>(
    a: MatRef<'_, f32>,
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    at: (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    match NR {
        16 => direct_v::<MR, NR, 1>(a, b, c, at, alpha, beta),
        32 => direct_v::<MR, NR, 2>(a, b, c, at, alpha, beta),
        48 => direct_v::<MR, NR, 3>(a, b, c, at, alpha, beta),
        _ => <Fused as MulAdd>::tile_direct::<f32, MR, NR>(a, b, c, at, alpha, beta),
    }
}

/// [`tile_direct`] for `NR = 16 V`, with the 4- and 8-row loops of [`tile_v`].
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn direct_v<const MR: usize, const NR: usize, const V: usize>(
    a: MatRef<'_, f32>,
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    at: (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    let mr = at.2;
    if MR > 4 && mr <= 4 {
        rows_direct::<NR, V, 4>(a, b, c, at, alpha, beta);
    } else if MR > 8 && mr <= 8 {
        rows_direct::<NR, V, 8>(a, b, c, at, alpha, beta);
    } else {
        rows_direct::<NR, V, MR>(a, b, c, at, alpha, beta);
    }
}

/// The `mr <= ROWS` rows of `A` in `a` against a `B` panel, `NR = 16 V`.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn rows_direct<const NR: usize, const V: usize, const ROWS: usize>(
    a: MatRef<'_, f32>,
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    (i0, j0, mr, nr): (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    assert!(NR == 16 * V && mr >= 1 && mr <= ROWS && a.rows == mr && a.cs == 1 && nr <= NR);
    prefetch_c(c, i0, j0, mr, nr);
    let (b_steps, _) = b.as_chunks::<NR>();
    let steps = a.cols.min(b_steps.len());
    // Row i's values; the rows from mr on repeat the last one (their sums are not stored).
    let rows: [&[f32]; ROWS] = core::array::from_fn(|i| &a.data[i.min(mr - 1) * a.rs..][..steps]);
    let ptrs = rows.map(|r| r.as_ptr());
    let mut acc = [[_mm512_setzero_ps(); V]; ROWS];
    macro_rules! step {
        ($bp:expr, $p:expr) => {{
            let p: usize = $p;
            let bv = load_b!(b, $bp, p, NR, V);
            for (row, ptr) in acc.iter_mut().zip(&ptrs) {
                // SAFETY: p < steps, and each of `rows` holds `steps` values.
                let av = _mm512_set1_ps(unsafe { *ptr.add(p) });
                for (x, &bx) in row.iter_mut().zip(&bv) {
                    *x = _mm512_fmadd_ps(av, bx, *x);
                }
            }
        }};
    }
    let (b_u, b_rest) = b_steps[..steps].as_chunks::<UNROLL>();
    for (q, bp) in b_u.iter().enumerate() {
        for (u, bp) in bp.iter().enumerate() {
            step!(bp, q * UNROLL + u);
        }
    }
    let done = b_u.len() * UNROLL;
    for (p, bp) in b_rest.iter().enumerate() {
        step!(bp, done + p);
    }
    store_acc!(acc, c, (i0, j0, mr, nr), alpha, beta);
}

/// How far ahead (in steps of `k`) the microkernel prefetches the `B` panel into L1: a
/// step takes about 12 cycles at full speed, so 8 steps cover a load from L2 several
/// times over.
const PREFETCH_STEPS: usize = 8;

/// Steps of `k` per iteration of the microkernel's loop.
const UNROLL: usize = 4;

/// The first `ROWS` rows (`ROWS <= MR`, at least the `mr` that lie in `C`) of an
/// `MR x NR` tile, `NR = 16 V`.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn tile_rows<const MR: usize, const NR: usize, const V: usize, const ROWS: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut MatMut<'_, f32>,
    (i0, j0, mr, nr): (usize, usize, usize, usize),
    alpha: f32,
    beta: f32,
) {
    assert!(NR == 16 * V && ROWS <= MR && mr <= ROWS && nr <= NR);
    prefetch_c(c, i0, j0, mr, nr);
    let (a_steps, _) = a.as_chunks::<MR>();
    let (b_steps, _) = b.as_chunks::<NR>();
    let steps = a_steps.len().min(b_steps.len());
    let mut acc = [[_mm512_setzero_ps(); V]; ROWS];
    // One step of k: V loads of B, ROWS broadcasts of A, ROWS x V multiply-adds.
    macro_rules! step {
        ($ap:expr, $bp:expr, $p:expr) => {{
            let (ap, bp): (&[f32; MR], &[f32; NR]) = ($ap, $bp);
            let bv = load_b!(b, bp, $p, NR, V);
            for (row, &ai) in acc.iter_mut().zip(ap) {
                let av = _mm512_set1_ps(ai);
                for (x, &bx) in row.iter_mut().zip(&bv) {
                    *x = _mm512_fmadd_ps(av, bx, *x);
                }
            }
        }};
    }
    // Unrolled, so that the loop's bookkeeping (scalar instructions, which may take the
    // ports the multiply-adds run on) is spread over several steps.
    let (a_u, a_rest) = a_steps[..steps].as_chunks::<UNROLL>();
    let (b_u, b_rest) = b_steps[..steps].as_chunks::<UNROLL>();
    for (q, (ap, bp)) in a_u.iter().zip(b_u).enumerate() {
        for u in 0..UNROLL {
            step!(&ap[u], &bp[u], q * UNROLL + u);
        }
    }
    let done = a_u.len() * UNROLL;
    for (p, (ap, bp)) in a_rest.iter().zip(b_rest).enumerate() {
        step!(ap, bp, done + p);
    }
    store_acc!(acc, c, (i0, j0, mr, nr), alpha, beta);
}

/// The tile's rows of C, fetched when the tile starts so that their misses overlap with
/// the loop over k instead of stalling the store after it.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn prefetch_c(c: &MatMut<'_, f32>, i0: usize, j0: usize, mr: usize, nr: usize) {
    if c.cs == 1 {
        for i in 0..mr {
            let row = &c.data[(i0 + i) * c.rs + j0..][..nr];
            _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().cast());
            _mm_prefetch::<_MM_HINT_T0>(row[nr - 1..].as_ptr().cast());
        }
    }
}

/// [`transpose`](super::packed::transpose) for `f32` panels of a multiple of 16 rows, all
/// of them present (the weights of a dense layer packed as `B`, `Wᵀ`, in its forward
/// pass): 16x16 blocks, 16 loads along the rows, 64 shuffles and 16 stores along the
/// panel, against 24 shuffles per 8x8 block of the AVX2 transpose (which the other
/// panels take).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) fn transpose_f32<const R: usize>(rows: &[&[f32]; R], r: usize, panel: &mut [[f32; R]]) {
    if !R.is_multiple_of(16) || r != R {
        return super::avx2::transpose_f32(rows, r, panel);
    }
    let kc = panel.len();
    let rows: [&[f32]; R] = core::array::from_fn(|i| &rows[i][..kc]);
    let (blocks, tail) = panel.as_chunks_mut::<16>();
    for (q, block) in blocks.iter_mut().enumerate() {
        let p0 = q * 16;
        for g in (0..R).step_by(16) {
            let v: [__m512; 16] = core::array::from_fn(|i| {
                let src: &[f32; 16] = rows[g + i][p0..p0 + 16].try_into().unwrap();
                // SAFETY: `src` holds 16 values.
                unsafe { _mm512_loadu_ps(src.as_ptr()) }
            });
            for (out, col) in block.iter_mut().zip(transpose16(v)) {
                let dst: &mut [f32; 16] = (&mut out[g..g + 16]).try_into().unwrap();
                // SAFETY: `dst` holds 16 values.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), col) };
            }
        }
    }
    let p0 = blocks.len() * 16;
    for (p, out) in tail.iter_mut().enumerate() {
        for (o, row) in out.iter_mut().zip(&rows) {
            *o = row[p0 + p];
        }
    }
}

/// Rows `r[i]` of 16 values to columns: `out[j]` holds `r[i][j]` in lane `i`.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // Pairs of rows interleaved: a[2k] holds, in each 128-bit lane L, r[2k] and r[2k+1] at
    // columns 4L and 4L+1; a[2k+1] at 4L+2 and 4L+3.
    let a: [__m512; 16] = core::array::from_fn(|i| {
        let (x, y) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(x, y)
        } else {
            _mm512_unpackhi_ps(x, y)
        }
    });
    // b[4k + c] holds, in lane L, rows 4k..4k+4 of column 4L + c.
    let b: [__m512; 16] = core::array::from_fn(|i| {
        let (k, c) = (i / 4, i % 4);
        let (x, y) = (_mm512_castps_pd(a[4 * k + c / 2]), _mm512_castps_pd(a[4 * k + 2 + c / 2]));
        _mm512_castpd_ps(if c % 2 == 0 { _mm512_unpacklo_pd(x, y) } else { _mm512_unpackhi_pd(x, y) })
    });
    // Column 4L + c gathers lane L of b[c], b[4 + c], b[8 + c], b[12 + c].
    let mut out = [_mm512_setzero_ps(); 16];
    for c in 0..4 {
        let e0 = _mm512_shuffle_f32x4::<0x44>(b[c], b[4 + c]);
        let e1 = _mm512_shuffle_f32x4::<0xee>(b[c], b[4 + c]);
        let e2 = _mm512_shuffle_f32x4::<0x44>(b[8 + c], b[12 + c]);
        let e3 = _mm512_shuffle_f32x4::<0xee>(b[8 + c], b[12 + c]);
        out[c] = _mm512_shuffle_f32x4::<0x88>(e0, e2);
        out[4 + c] = _mm512_shuffle_f32x4::<0xdd>(e0, e2);
        out[8 + c] = _mm512_shuffle_f32x4::<0x88>(e1, e3);
        out[12 + c] = _mm512_shuffle_f32x4::<0xdd>(e1, e3);
    }
    out
}

/// [`Avx512`] with `A` always packed ([`MulAdd::DIRECT_A`] off), so that the tests can
/// compare the two ways of reading `A` bit for bit.
#[cfg(test)]
pub(super) struct Avx512Packed;

#[cfg(test)]
impl MulAdd for Avx512Packed {
    const PREFETCHES_C: bool = true;

    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        Avx512::mul_add(a, b, c)
    }

    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        Avx512::dots(x, ys)
    }

    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        Avx512::transpose(rows, r, panel)
    }

    fn tile<T: Float, const MR: usize, const NR: usize>(
        a: &[T],
        b: &[T],
        c: &mut MatMut<'_, T>,
        at: (usize, usize, usize, usize),
        alpha: T,
        beta: T,
    ) {
        Avx512::tile::<T, MR, NR>(a, b, c, at, alpha, beta)
    }
}

/// [`gemm_f32_tile`] with `A` always packed.
#[cfg(test)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn gemm_f32_tile_packed_a<const MR: usize, const NR: usize>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    gemm_packed::<f32, MR, NR, Avx512Packed>(alpha, a, b, beta, c, pack);
}

/// [`gemm_f32`] with any register tile, so that the tests cover other widths and heights.
#[cfg(test)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn gemm_f32_tile<const MR: usize, const NR: usize>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    gemm_packed::<f32, MR, NR, Avx512>(alpha, a, b, beta, c, pack);
}
