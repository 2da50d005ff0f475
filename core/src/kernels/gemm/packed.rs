//! The packed kernel's loop nest, generic over the float type, the register tile and the
//! instruction set ([`MulAdd`]): blocking, packing, the portable microkernel and tile
//! store, and the unpacked loops for skinny shapes.

use super::epilogue::{epilogue_all, row_sums, Epilogue, Identity};
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
use super::neon;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd128;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::{avx2, avx512};
use super::{blocking, MatMut, MatRef};
use crate::Scalar;

/// The float types with a packed kernel.
pub(super) trait Float: Scalar {
    /// `self * a + b` rounded once; only called where the target has FMA instructions.
    #[cfg(any(all(feature = "std", target_arch = "x86_64"), all(target_arch = "aarch64", target_feature = "neon")))]
    fn fused_mul_add(self, a: Self, b: Self) -> Self;

    /// `[Σ_p x[p] · y_s[p]]` in NEON vectors: `neon::dots_f32` and `neon::dots_f64`.
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    fn dots_neon<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S];

    /// One register tile of the NEON build: `neon::tile_f32` and `neon::tile_f64`.
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    fn tile_neon<const MR: usize, const NR: usize>(
        a: &[Self],
        b: &[Self],
        c: &mut MatMut<'_, Self>,
        at: (usize, usize, usize, usize),
        alpha: Self,
        beta: Self,
    );

    /// `[Σ_p x[p] · y_s[p]]` in simd128 vectors: `simd128::dots_f32` and `simd128::dots_f64`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn dots_simd128<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S];

    /// One register tile of the simd128 build: `simd128::tile_f32` and `simd128::tile_f64`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn tile_simd128<const MR: usize, const NR: usize>(
        a: &[Self],
        b: &[Self],
        c: &mut MatMut<'_, Self>,
        at: (usize, usize, usize, usize),
        alpha: Self,
        beta: Self,
    );

    /// `[Σ_p x[p] · y_s[p]]` for `S` vectors `y_s` as long as `x`, in AVX2 vectors with
    /// FMA: `avx2::dots_f32` and `avx2::dots_f64`.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    unsafe fn dots_avx2_fma<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S];

    /// [`transpose`] in AVX2 vectors, for the packing of an operand whose rows run along
    /// `k`: `avx2::transpose_f32`; the portable loop for `f64`.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn transpose_avx2_fma<const R: usize>(rows: &[&[Self]; R], r: usize, panel: &mut [[Self; R]]) {
        transpose(rows, r, panel);
    }

    /// [`transpose`] for the AVX-512 build: `avx512::transpose_f32` for `f32`; the AVX2
    /// transpose otherwise.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, AVX2 and FMA.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn transpose_avx512<const R: usize>(rows: &[&[Self]; R], r: usize, panel: &mut [[Self; R]]) {
        // SAFETY: the caller guarantees AVX2 and FMA (with AVX-512F).
        unsafe { Self::transpose_avx2_fma(rows, r, panel) }
    }

    /// One register tile of the AVX-512 build: `avx512::tile` for `f32`; for `f64`,
    /// which has no AVX-512 kernel, the portable microkernel with FMA.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, AVX2 and FMA.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn tile_avx512<const MR: usize, const NR: usize>(
        a: &[Self],
        b: &[Self],
        c: &mut MatMut<'_, Self>,
        (i0, j0, mr, nr): (usize, usize, usize, usize),
        alpha: Self,
        beta: Self,
    ) {
        let tile = microkernel::<Self, MR, NR, avx2::Fused>(a, b);
        store(&tile, c, i0, j0, mr, nr, alpha, beta);
    }

    /// [`MulAdd::tile_direct`] of the AVX-512 build: `avx512::tile_direct` for `f32`; for
    /// `f64`, the portable loop with FMA.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, AVX2 and FMA.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn tile_direct_avx512<const MR: usize, const NR: usize>(
        a: MatRef<'_, Self>,
        b: &[Self],
        c: &mut MatMut<'_, Self>,
        at: (usize, usize, usize, usize),
        alpha: Self,
        beta: Self,
    ) {
        <avx2::Fused as MulAdd>::tile_direct::<Self, MR, NR>(a, b, c, at, alpha, beta);
    }
}

/// The methods every build forwards alike for `f32` and `f64` (`$t`) to its kernels
/// (`neon::fma_f32`, `neon::dots_f32`, `simd128::tile_f32`, `avx2::dots_f32`, ...).
macro_rules! forward_to_builds {
    ($t:ty, $fma:ident, $dots:ident, $tile:ident) => {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        #[inline(always)]
        fn fused_mul_add(self, a: Self, b: Self) -> Self {
            <$t>::mul_add(self, a, b)
        }

        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        #[inline(always)]
        fn fused_mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: NEON is enabled at compile time (this is cfg'd on it).
            unsafe { neon::$fma(self, a, b) }
        }

        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        #[inline(always)]
        fn dots_neon<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S] {
            // SAFETY: NEON is enabled at compile time (this is cfg'd on it).
            unsafe { neon::$dots(x, ys) }
        }

        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        #[inline(always)]
        fn tile_neon<const MR: usize, const NR: usize>(
            a: &[Self],
            b: &[Self],
            c: &mut MatMut<'_, Self>,
            at: (usize, usize, usize, usize),
            alpha: Self,
            beta: Self,
        ) {
            // SAFETY: NEON is enabled at compile time (this is cfg'd on it).
            unsafe { neon::$tile::<MR, NR>(a, b, c, at, alpha, beta) };
        }

        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        #[inline(always)]
        fn dots_simd128<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S] {
            simd128::$dots(x, ys)
        }

        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        #[inline(always)]
        fn tile_simd128<const MR: usize, const NR: usize>(
            a: &[Self],
            b: &[Self],
            c: &mut MatMut<'_, Self>,
            at: (usize, usize, usize, usize),
            alpha: Self,
            beta: Self,
        ) {
            simd128::$tile::<MR, NR>(a, b, c, at, alpha, beta);
        }

        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        #[inline(always)]
        unsafe fn dots_avx2_fma<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S] {
            // SAFETY: the caller guarantees AVX2 and FMA.
            unsafe { avx2::$dots(x, ys) }
        }
    };
}

impl Float for f32 {
    forward_to_builds!(f32, fma_f32, dots_f32, tile_f32);

    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn transpose_avx2_fma<const R: usize>(rows: &[&[Self]; R], r: usize, panel: &mut [[Self; R]]) {
        // SAFETY: the caller guarantees AVX2 and FMA.
        unsafe { avx2::transpose_f32(rows, r, panel) }
    }

    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn transpose_avx512<const R: usize>(rows: &[&[Self]; R], r: usize, panel: &mut [[Self; R]]) {
        // SAFETY: the caller guarantees AVX-512F, AVX2 and FMA.
        unsafe { avx512::transpose_f32(rows, r, panel) }
    }

    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn tile_avx512<const MR: usize, const NR: usize>(
        a: &[Self],
        b: &[Self],
        c: &mut MatMut<'_, Self>,
        at: (usize, usize, usize, usize),
        alpha: Self,
        beta: Self,
    ) {
        // SAFETY: the caller guarantees AVX-512F, AVX2 and FMA.
        unsafe { avx512::tile::<MR, NR>(a, b, c, at, alpha, beta) }
    }

    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn tile_direct_avx512<const MR: usize, const NR: usize>(
        a: MatRef<'_, Self>,
        b: &[Self],
        c: &mut MatMut<'_, Self>,
        at: (usize, usize, usize, usize),
        alpha: Self,
        beta: Self,
    ) {
        // SAFETY: the caller guarantees AVX-512F, AVX2 and FMA.
        unsafe { avx512::tile_direct::<MR, NR>(a, b, c, at, alpha, beta) }
    }
}

impl Float for f64 {
    forward_to_builds!(f64, fma_f64, dots_f64, tile_f64);
}

/// How the kernel multiplies and adds: fused where FMA is known to exist, separately
/// otherwise (a software `fma` would be far slower than two instructions).
pub(super) trait MulAdd: Sized {
    /// Whether [`MulAdd::tile`] fetches the rows of a row-major `C` itself (so the loop
    /// nest need not [`touch`] them first).
    const PREFETCHES_C: bool = false;

    /// `a * b + c`.
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T;

    /// `[Σ_p x[p] · y_s[p]]` for `S` vectors `y_s` as long as `x`: the unpacked kernel's
    /// matrix-vector products.
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S];

    /// [`transpose`]: the packing of an operand whose rows run along `k`.
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]);

    /// `C[i0.., j0..] = alpha * (A panel x B panel) + beta * C` over the `mr x nr` corner
    /// that lies in `C`: the portable microkernel and [`store`], unless a build has a
    /// microkernel of its own.
    #[inline(always)]
    fn tile<T: Float, const MR: usize, const NR: usize>(
        a: &[T],
        b: &[T],
        c: &mut MatMut<'_, T>,
        (i0, j0, mr, nr): (usize, usize, usize, usize),
        alpha: T,
        beta: T,
    ) {
        let tile = microkernel::<T, MR, NR, Self>(a, b);
        store(&tile, c, i0, j0, mr, nr, alpha, beta);
    }

    /// Whether the loop nest leaves an `A` whose rows run along `k` unpacked and calls
    /// [`MulAdd::tile_direct`] with its rows instead of [`MulAdd::tile`] with a panel.
    const DIRECT_A: bool = false;

    /// [`MulAdd::tile`] with the `mr` rows of `A` read where they lie (`a` is `mr x kc`
    /// with contiguous rows) instead of from a packed panel: the same multiply-adds in the
    /// same order, so the same bits.
    #[inline(always)]
    fn tile_direct<T: Float, const MR: usize, const NR: usize>(
        a: MatRef<'_, T>,
        b: &[T],
        c: &mut MatMut<'_, T>,
        (i0, j0, mr, nr): (usize, usize, usize, usize),
        alpha: T,
        beta: T,
    ) {
        let kc = a.cols;
        let mut tile = [[T::ZERO; NR]; MR];
        for (i, row) in tile.iter_mut().enumerate().take(mr) {
            let ar = &a.data[i * a.rs..][..kc];
            for (&ap, bp) in ar.iter().zip(b.as_chunks::<NR>().0) {
                for (t, &bv) in row.iter_mut().zip(bp) {
                    *t = Self::mul_add(ap, bv, *t);
                }
            }
        }
        store(&tile, c, i0, j0, mr, nr, alpha, beta);
    }
}

/// Block sizes for one call, fitted to the packing memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Blocks {
    pub(super) kc: usize,
    pub(super) mc: usize,
    pub(super) nc: usize,
}

impl Blocks {
    /// The largest blocks up to `target` (the sizes the caches ask for, see
    /// [`blocking`]) with `kc * (mc + nc) <= len`, or `None` when not even
    /// one `MR`-row and one `NR`-column panel fit.
    pub(super) fn fit<const MR: usize, const NR: usize>(
        m: usize,
        n: usize,
        k: usize,
        len: usize,
        target: Blocks,
    ) -> Option<Self> {
        let kc = k.min(target.kc).min(len / (MR + NR));
        if kc == 0 {
            return None;
        }
        // Equal slices of k rather than a full block and a sliver.
        let kc = k.div_ceil(k.div_ceil(kc));
        let budget = len / kc;
        // A block of A first (it is what the microkernel streams), then B gets the rest.
        // Whole panels only: the packing loops fill round_up(rows, MR) rows.
        let mc = round_up(m, MR).min(round_down(target.mc, MR).max(MR)).min(round_down(budget - NR, MR));
        let nc = round_up(n, NR).min(round_down(target.nc, NR).max(NR)).min(round_down(budget - mc, NR));
        Some(Self { kc, mc, nc })
    }
}

pub(super) fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

pub(super) fn round_down(x: usize, to: usize) -> usize {
    x / to * to
}

/// The blocked loop nest, generic over the float, the register tile and the multiply-add.
///
/// `#[inline(always)]` down to the microkernel so that the AVX2 and AVX-512 builds compile
/// all of it with their wider vectors.
#[inline(always)]
pub(super) fn gemm_packed<T: Float, const MR: usize, const NR: usize, M: MulAdd>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
) {
    gemm_packed_fused::<T, MR, NR, M, Identity>(alpha, a, b, beta, c, pack, &Identity, None);
}

/// [`gemm_packed`] with an [`Epilogue`] applied to each tile of `C` right after its last
/// store (while the tile is in L1), and, when `a_row_sums` is given, `Σ_p A[i, p]` added
/// into `a_row_sums[i]` from the packed panels of `A` (in the order of `p`, so that the
/// sums equal a plain loop's to the bit).
#[inline(always)]
#[allow(clippy::too_many_arguments)] // gemm's operands plus the two fused passes
pub(super) fn gemm_packed_fused<T: Float, const MR: usize, const NR: usize, M: MulAdd, E: Epilogue<T>>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    pack: &mut [T],
    epi: &E,
    mut a_row_sums: Option<&mut [T]>,
) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    assert!(a.rows == m && b.rows == k && b.cols == n, "gemm: operands do not fit");
    assert!(a_row_sums.as_ref().is_none_or(|s| s.len() == m), "gemm: row sums do not fit");
    if m == 0 || n == 0 {
        if let Some(sums) = a_row_sums {
            row_sums(&a, sums);
        }
        return;
    }
    if k == 0 {
        scale(beta, &mut c);
        epilogue_all(epi, &mut c);
        return;
    }
    // Start at a 64-byte boundary, or where we are if that is out of reach
    // (`align_offset` may also decline with usize::MAX).
    let skip = pack.as_ptr().align_offset(64);
    let pack = if skip <= pack.len() { &mut pack[skip..] } else { pack };
    // Packing pays off only when each packed value is reused: not for a matrix-vector
    // product, nor for a few rows or columns that the unpacked loops stream contiguously.
    let skinny = m == 1 || n == 1 || ((m < SKINNY || n < SKINNY) && contiguous_unpacked(&a, &b, &c));
    let blocks =
        if skinny { None } else { Blocks::fit::<MR, NR>(m, n, k, pack.len(), blocking::target::<T, MR, NR>()) };
    // The tile-by-tile epilogue needs rows of C that are contiguous.
    let tiled_epilogue = !E::IDENTITY && c.cs == 1;
    let Some(Blocks { kc, mc, nc }) = blocks else {
        gemm_unpacked::<T, M>(alpha, a, b, beta, &mut c);
        epilogue_all(epi, &mut c);
        if let Some(sums) = a_row_sums {
            row_sums(&a, sums);
        }
        return;
    };
    let (b_pack, a_pack) = pack.split_at_mut(kc * nc);
    let a_pack = &mut a_pack[..kc * mc];
    // Rows of A that run along k are read in place by builds whose tile can (no packing
    // pass over A), unless the row sums are wanted from the packed panels.
    let direct_a = reads_rows_in_place::<T, MR, M>(&a) && a_row_sums.is_none();
    for jc in (0..n).step_by(nc) {
        let ncb = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            // B's block is packed as the rows of its transpose: NR-column panels.
            pack_panels::<T, NR, M>(b.sub(pc, jc, kcb, ncb).t(), b_pack);
            // Only the first pass over k applies beta; later ones accumulate.
            let beta = if pc == 0 { beta } else { T::ONE };
            for ic in (0..m).step_by(mc) {
                let mcb = mc.min(m - ic);
                if !direct_a {
                    pack_panels::<T, MR, M>(a.sub(ic, pc, mcb, kcb), a_pack);
                }
                if let (0, Some(sums)) = (jc, a_row_sums.as_deref_mut()) {
                    // The block was just packed: summed from L1, not from A again.
                    sum_panels::<T, MR>(&a_pack[..round_up(mcb, MR) * kcb], kcb, &mut sums[ic..ic + mcb]);
                }
                let last = pc + kcb == k;
                let b_panels = b_pack[..round_up(ncb, NR) * kcb].chunks_exact(NR * kcb);
                // One A panel (in L1) against every B panel of the block (in L2), so that
                // the tiles of C are visited along its rows.
                for ir in 0..mcb.div_ceil(MR) {
                    let i0 = ic + ir * MR;
                    let mr = MR.min(m - i0);
                    let a_panel = if direct_a { &[][..] } else { &a_pack[ir * MR * kcb..][..MR * kcb] };
                    let a_rows = a.sub(i0, pc, mr, kcb);
                    for (jr, b_panel) in b_panels.clone().enumerate() {
                        let j0 = jc + jr * NR;
                        let nr = NR.min(n - j0);
                        if !(M::PREFETCHES_C && c.cs == 1) {
                            touch(&c, i0, j0, mr, nr);
                        }
                        if direct_a {
                            M::tile_direct::<T, MR, NR>(a_rows, b_panel, &mut c, (i0, j0, mr, nr), alpha, beta);
                        } else {
                            M::tile::<T, MR, NR>(a_panel, b_panel, &mut c, (i0, j0, mr, nr), alpha, beta);
                        }
                        if tiled_epilogue && last {
                            for i in i0..i0 + mr {
                                epi.row(i, j0, &mut c.data[i * c.rs + j0..][..nr]);
                            }
                        }
                    }
                }
            }
        }
    }
    if !E::IDENTITY && !tiled_epilogue {
        epilogue_all(epi, &mut c);
    }
}

/// Whether the loop nest reads `a`'s rows in place ([`MulAdd::DIRECT_A`]): rows along `k`,
/// in tiles of at most [`DIRECT_ROWS`] rows.
#[inline(always)]
pub(super) fn reads_rows_in_place<T: Float, const MR: usize, M: MulAdd>(a: &MatRef<'_, T>) -> bool {
    M::DIRECT_A && MR <= DIRECT_ROWS && a.cs == 1
}

/// The most rows a tile reads in place. The AVX-512 build's 8-row tiles (products of at
/// most 96 rows, such as a batch of 64) gained by it: W2 at batch 64 took 176-186 µs of
/// CPU against 184-203 µs with `A` packed (alternated, under load). Its 12-row tiles lost
/// badly: square products at n = 256-1024 ran at 97-116 GFLOP/s against 165-178 (twelve
/// rows a power of two apart share the same few sets of L1, and twelve row pointers
/// leave the loop short of registers).
const DIRECT_ROWS: usize = 8;

/// `sums[q * R + i] += Σ_p panel_q[p][i]` over packed `R`-row panels of `kc` steps, `p` in
/// order; rows past `sums.len()` are the packing's zeros.
#[inline(always)]
fn sum_panels<T: Float, const R: usize>(packed: &[T], kc: usize, sums: &mut [T]) {
    for (panel, sums) in packed.chunks_exact(R * kc).zip(sums.chunks_mut(R)) {
        let (steps, _) = panel.as_chunks::<R>();
        for step in steps {
            for (s, &v) in sums.iter_mut().zip(step) {
                *s += v;
            }
        }
    }
}

/// Copies `src` (`rows x kc`) into panels of `R` rows: panel `q` holds, for each `p`, the
/// `R` values `src[q * R + i, p]`, with zeros past the last row. The zeros meet only
/// parts of the tile that [`store`] never writes.
#[inline(always)]
pub(super) fn pack_panels<T: Float, const R: usize, M: MulAdd>(src: MatRef<'_, T>, dst: &mut [T]) {
    let (rows, kc) = (src.rows, src.cols);
    let (steps, _) = dst[..round_up(rows, R) * kc].as_chunks_mut::<R>();
    if src.rs == 1 && rows >= 2 * R {
        pack_along_rows::<T, R>(src, steps);
        return;
    }
    for (q, panel) in steps.chunks_exact_mut(kc).enumerate() {
        let i0 = q * R;
        let r = R.min(rows - i0);
        if r == R && src.rs == 1 {
            // The R values for each p are adjacent: plain copies (of a constant length, so
            // no call to memcpy).
            for (p, out) in panel.iter_mut().enumerate() {
                let s = i0 + p * src.cs;
                *out = src.data[s..s + R].try_into().unwrap();
            }
        } else if src.cs == 1 {
            // The r rows are contiguous along p: a transpose (zeros for rows r..R).
            let rows: [&[T]; R] =
                core::array::from_fn(|i| if i < r { &src.data[(i0 + i) * src.rs..][..kc] } else { &[] });
            M::transpose(&rows, r, panel);
        } else {
            for (p, out) in panel.iter_mut().enumerate() {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = if i < r { src.data[(i0 + i) * src.rs + p * src.cs] } else { T::ZERO };
                }
            }
        }
    }
}

/// [`pack_panels`] for a `src` whose rows are contiguous along `i` (`B` row-major, seen
/// through its transpose): the values of one `p` for every panel lie in one line of
/// memory. Panel by panel, each `p` would read `R` values and jump a whole line ahead,
/// a new page per `p` when the lines are long, which the hardware prefetchers do not
/// follow; here a few lines are read from end to end at a time, and each panel gets
/// `PACK_STEPS` consecutive steps. At n = 1024 on the AVX-512 Xeon of docs/BENCHMARKS.md
/// this took the packing of `B` from about 4% of the product's time to 2.5%.
#[inline(always)]
fn pack_along_rows<T: Float, const R: usize>(src: MatRef<'_, T>, steps: &mut [[T; R]]) {
    let (rows, kc) = (src.rows, src.cols);
    let full = rows / R;
    for p0 in (0..kc).step_by(PACK_STEPS) {
        let ps = PACK_STEPS.min(kc - p0);
        for (q, panel) in steps.chunks_exact_mut(kc).enumerate() {
            let i0 = q * R;
            for (p, out) in (p0..p0 + ps).zip(&mut panel[p0..p0 + ps]) {
                let line = &src.data[p * src.cs..];
                if q < full {
                    *out = line[i0..i0 + R].try_into().unwrap();
                } else {
                    // The last panel, cut short: zeros past the last row.
                    let r = rows - i0;
                    out[..r].copy_from_slice(&line[i0..i0 + r]);
                    out[r..].fill(T::ZERO);
                }
            }
        }
    }
}

/// Steps of `k` [`pack_along_rows`] copies into each panel in turn.
const PACK_STEPS: usize = 8;

/// `panel[p][i] = rows[i][p]` for the first `r` rows of `panel.len()` values each, and
/// zero for the rows from `r` on (which may be empty).
#[inline(always)]
pub(super) fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
    let kc = panel.len();
    let rows: [&[T]; R] = core::array::from_fn(|i| if i < r { &rows[i][..kc] } else { &[] });
    if r == R {
        for (p, out) in panel.iter_mut().enumerate() {
            for (o, row) in out.iter_mut().zip(&rows) {
                *o = row[p];
            }
        }
        return;
    }
    for (p, out) in panel.iter_mut().enumerate() {
        for (i, (o, row)) in out.iter_mut().zip(&rows).enumerate() {
            *o = if i < r { row[p] } else { T::ZERO };
        }
    }
}

/// Steps of `k` per iteration of the microkernel's loop: unrolled by 4, the loop's
/// bookkeeping is spread over 48 FMAs instead of 12, and a GEMM of W1's first layer
/// (64 x 784 by 784 x 256) took 7% less CPU time (best of 12 alternated runs).
const UNROLL: usize = 4;

/// The `MR x NR` product of one packed `A` panel and one packed `B` panel.
///
/// Fixed-size arrays with constant trip counts: LLVM keeps the tile in registers and
/// vectorizes along `NR`.
#[inline(always)]
pub(super) fn microkernel<T: Float, const MR: usize, const NR: usize, M: MulAdd>(a: &[T], b: &[T]) -> [[T; NR]; MR] {
    let mut ab = [[T::ZERO; NR]; MR];
    let (a4, at) = a.as_chunks::<MR>();
    let (b4, bt) = b.as_chunks::<NR>();
    debug_assert!(at.is_empty() && bt.is_empty());
    let steps = a4.len().min(b4.len());
    let (a4, b4) = (&a4[..steps], &b4[..steps]);
    let (au, ar) = a4.as_chunks::<UNROLL>();
    let (bu, br) = b4.as_chunks::<UNROLL>();
    for (ap4, bp4) in au.iter().zip(bu) {
        for u in 0..UNROLL {
            let (ap, bp) = (&ap4[u], &bp4[u]);
            for i in 0..MR {
                for j in 0..NR {
                    ab[i][j] = M::mul_add(ap[i], bp[j], ab[i][j]);
                }
            }
        }
    }
    for (ap, bp) in ar.iter().zip(br) {
        for i in 0..MR {
            for j in 0..NR {
                ab[i][j] = M::mul_add(ap[i], bp[j], ab[i][j]);
            }
        }
    }
    ab
}

/// `C[i0.., j0..] = alpha * tile + beta * C` over the `mr x nr` corner that lies in `C`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the tile's place and extent are all needed here
pub(super) fn store<T: Float, const MR: usize, const NR: usize>(
    tile: &[[T; NR]; MR],
    c: &mut MatMut<'_, T>,
    i0: usize,
    j0: usize,
    mr: usize,
    nr: usize,
    alpha: T,
    beta: T,
) {
    // beta == 0 overwrites: C may hold garbage or NaN.
    let update = |out: &mut T, v: T| *out = if beta == T::ZERO { alpha * v } else { alpha * v + beta * *out };
    if nr == NR && c.cs == 1 {
        // Whole rows of the tile, contiguous in C: each row read into an array, combined
        // and written back whole, so that the compiler sees no aliasing and makes a few
        // vector instructions of it (a third of the instructions of the general loop on
        // W4, whose convolutions store many small tiles).
        for (i, row) in tile.iter().enumerate().take(mr) {
            let out: &mut [T; NR] = (&mut c.data[(i0 + i) * c.rs + j0..][..NR]).try_into().unwrap();
            let old = *out;
            *out =
                core::array::from_fn(|j| if beta == T::ZERO { alpha * row[j] } else { alpha * row[j] + beta * old[j] });
        }
        return;
    }
    for (i, row) in tile.iter().enumerate().take(mr) {
        let base = (i0 + i) * c.rs + j0 * c.cs;
        if c.cs == 1 {
            // A contiguous row: one bounds check, and the loop vectorizes.
            for (out, &v) in c.data[base..][..nr].iter_mut().zip(row) {
                update(out, v);
            }
        } else {
            for (j, &v) in row.iter().enumerate().take(nr) {
                update(&mut c.data[base + j * c.cs], v);
            }
        }
    }
}

/// Loads both ends of each row (or column, when `C` is column-major) of a tile of `C`,
/// so that its cache misses overlap with the microkernel instead of stalling the store
/// after it: 3-5% at n = 1024, and safe code where a prefetch intrinsic would not be.
#[inline(always)]
pub(super) fn touch<T: Float>(c: &MatMut<'_, T>, i0: usize, j0: usize, mr: usize, nr: usize) {
    let (lines, len, step, along) = if c.cs <= c.rs { (mr, nr, c.rs, c.cs) } else { (nr, mr, c.cs, c.rs) };
    let start = i0 * c.rs + j0 * c.cs;
    for l in 0..lines {
        let base = start + l * step;
        core::hint::black_box(c.data[base]);
        core::hint::black_box(c.data[base + (len - 1) * along]);
    }
}

/// `C = beta * C`; zero when `beta` is zero, whatever `C` held.
pub(super) fn scale<T: Scalar>(beta: T, c: &mut MatMut<'_, T>) {
    if beta == T::ONE {
        return;
    }
    for i in 0..c.rows {
        for j in 0..c.cols {
            let out = &mut c.data[i * c.rs + j * c.cs];
            *out = if beta == T::ZERO { T::ZERO } else { beta * *out };
        }
    }
}

/// Below this many rows or columns, the unpacked loops beat packing (when
/// [`contiguous_unpacked`] holds): at 2 x 784 x 256 they take half the time or less.
const SKINNY: usize = 4;

/// Whether [`gemm_unpacked`] takes one of its contiguous loops for these strides.
fn contiguous_unpacked<T>(a: &MatRef<'_, T>, b: &MatRef<'_, T>, c: &MatMut<'_, T>) -> bool {
    (a.cs == 1 && b.rs == 1) || (b.cs == 1 && c.cs == 1) || (a.rs == 1 && c.rs == 1)
}

/// `C = alpha * A * B + beta * C` without packing: for matrix-vector and other skinny
/// shapes, where packing would cost as much as the product, and when the packing memory
/// is too short. Each branch walks memory in the order the strides make contiguous.
#[inline(always)]
fn gemm_unpacked<T: Float, M: MulAdd>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut MatMut<'_, T>) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    let combine = |out: &mut T, acc: T| *out = if beta == T::ZERO { alpha * acc } else { alpha * acc + beta * *out };
    if a.cs == 1 && b.rs == 1 {
        // Rows of A and columns of B are contiguous: dot products, DOT_COLS columns of B
        // at a time so that each load of A's row serves several.
        for i in 0..m {
            let x = &a.data[i * a.rs..][..k];
            let mut j = 0;
            while j + DOT_COLS <= n {
                let ys: [&[T]; DOT_COLS] = core::array::from_fn(|s| &b.data[(j + s) * b.cs..][..k]);
                for (s, d) in M::dots::<T, DOT_COLS>(x, ys).into_iter().enumerate() {
                    combine(&mut c.data[i * c.rs + (j + s) * c.cs], d);
                }
                j += DOT_COLS;
            }
            for j in j..n {
                let [d] = M::dots::<T, 1>(x, [&b.data[j * b.cs..][..k]]);
                combine(&mut c.data[i * c.rs + j * c.cs], d);
            }
        }
    } else if b.cs == 1 && c.cs == 1 {
        // Rows of B and C are contiguous: C[i, :] += (alpha A[i, p]) B[p, :].
        scale(beta, c);
        for i in 0..m {
            let cr = &mut c.data[i * c.rs..][..n];
            for p in 0..k {
                axpy::<T, M>(alpha * a.data[i * a.rs + p * a.cs], &b.data[p * b.rs..][..n], cr);
            }
        }
    } else if a.rs == 1 && c.rs == 1 {
        // Columns of A and C are contiguous: C[:, j] += (alpha B[p, j]) A[:, p].
        scale(beta, c);
        for j in 0..n {
            let cc = &mut c.data[j * c.cs..][..m];
            for p in 0..k {
                axpy::<T, M>(alpha * b.data[p * b.rs + j * b.cs], &a.data[p * a.cs..][..m], cc);
            }
        }
    } else {
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::ZERO;
                for p in 0..k {
                    acc = M::mul_add(a.data[i * a.rs + p * a.cs], b.data[p * b.rs + j * b.cs], acc);
                }
                combine(&mut c.data[i * c.rs + j * c.cs], acc);
            }
        }
    }
}

/// Columns of B per pass in the unpacked dot products.
const DOT_COLS: usize = 4;
/// Partial sums per column in [`dots`]: with `DOT_COLS` columns, 32 in flight on 64-bit
/// targets (four AVX or eight SSE or NEON f32 vectors) and in WebAssembly with simd128
/// (eight vectors), 8 on other 32-bit targets (a Cortex-M4F has 32 float registers in
/// all). The NEON and simd128 dot products keep the same 8 sums per column, so that their
/// results are this loop's.
#[cfg(any(target_pointer_width = "64", all(target_arch = "wasm32", target_feature = "simd128")))]
const DOT_LANES: usize = 8;
#[cfg(not(any(target_pointer_width = "64", all(target_arch = "wasm32", target_feature = "simd128"))))]
const DOT_LANES: usize = 2;

/// `[sum x[p] * y_s[p]]` for `S` vectors `y_s`, in interleaved partial sums so that the
/// loop vectorizes and hides the latency of the adds. Every `y_s` has `x`'s length.
#[inline(always)]
pub(super) fn dots<T: Float, M: MulAdd, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
    let k = x.len();
    let ys = ys.map(|y| &y[..k]);
    let mut acc = [[T::ZERO; DOT_LANES]; S];
    let body = k / DOT_LANES * DOT_LANES;
    for p in (0..body).step_by(DOT_LANES) {
        // Fixed-size arrays, so that LLVM vectorizes along the lanes of each column.
        let xs = lanes(x, p);
        for (acc, y) in acc.iter_mut().zip(&ys) {
            let yv = lanes(y, p);
            for l in 0..DOT_LANES {
                acc[l] = M::mul_add(xs[l], yv[l], acc[l]);
            }
        }
    }
    let mut out = [T::ZERO; S];
    for ((o, acc), y) in out.iter_mut().zip(&acc).zip(&ys) {
        let mut tail = T::ZERO;
        for (&u, &v) in x[body..].iter().zip(&y[body..]) {
            tail = M::mul_add(u, v, tail);
        }
        // Pairwise, so the rounding does not grow with DOT_LANES.
        let mut acc = *acc;
        let mut width = DOT_LANES;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                acc[l] += acc[l + width];
            }
        }
        *o = acc[0] + tail;
    }
    out
}

/// `x[p..p + DOT_LANES]` as an array.
#[inline(always)]
fn lanes<T: Copy>(x: &[T], p: usize) -> &[T; DOT_LANES] {
    // Cannot fail: the slice has DOT_LANES elements.
    x[p..p + DOT_LANES].try_into().unwrap()
}

/// `y += s * x`.
#[inline(always)]
fn axpy<T: Float, M: MulAdd>(s: T, x: &[T], y: &mut [T]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = M::mul_add(s, v, *o);
    }
}
