//! Products with an operand packed once and kept: `C = epilogue(alpha A B + beta C)` where
//! `B` (a dense layer's `Wᵀ`, which does not change during inference) was copied into the
//! kernel's `NR`-column panels ahead of time by [`prepack`], so that a call packs only `A`.
//!
//! The panels are laid out for the build that runs when they are packed (its panel width
//! and depth blocks, recorded in a [`PackedLayout`]); a call under another build
//! ([`force_isa`](super::force_isa)), a shape that takes the unpacked loops, or a scalar
//! without a prepacked kernel runs the ordinary product on the original `B` instead, so a
//! layout is never misread. Only the `f32` AVX-512 and AVX2+FMA builds pack ahead; every
//! other build keeps the ordinary product.
//!
//! Nothing here knows whether the panels still match `B`: the caller keeps them tied to
//! it (`network::Prepared` borrows the network it packed, so its weights cannot change).

// Builds without a prepacked kernel compile the API and its fallbacks only.
#![cfg_attr(not(all(feature = "std", target_arch = "x86_64")), allow(dead_code, unused_imports))]

use super::epilogue::{epilogue_all, Epilogue};
use super::packed::{pack_panels, reads_rows_in_place, round_down, round_up, touch, Float, MulAdd};
use super::{blocking, Isa, MatMut, MatRef};
use crate::{Scalar, ShapeError};

/// Where and how `B` was packed: its shape, the build, and the blocks its panels follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedLayout {
    k: usize,
    n: usize,
    kc: usize,
    nc: usize,
    nr: usize,
    isa: Isa,
    /// Elements skipped at the start of the buffer so that panels start on 64 bytes.
    skip: usize,
}

impl PackedLayout {
    /// The elements of the buffer the panels occupy (from its start).
    pub fn len(&self) -> usize {
        self.skip + round_up(self.n, self.nr) * self.k
    }

    /// Whether the panels are empty (`B` has no element).
    pub fn is_empty(&self) -> bool {
        self.k == 0 || self.n == 0
    }
}

/// Elements of packing memory [`prepack`] may need for a `k x n` `B`, on any build.
///
/// ```
/// use monograd_core::kernels::gemm::prepacked_len;
/// assert!(prepacked_len(784, 256) >= 784 * 256);
/// ```
pub const fn prepacked_len(k: usize, n: usize) -> usize {
    // Panels of at most 32 columns (the widest tile), plus the alignment slack.
    k * n.div_ceil(super::MAX_TILE) * super::MAX_TILE + super::ALIGN_SLACK
}

/// The `f32` build that packs ahead in this process, with the width of the panels its
/// ordinary product packs `n` columns of `B` into.
fn build_f32(n: usize) -> Option<(Isa, usize)> {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    match super::isa() {
        Isa::Avx512 => return Some((Isa::Avx512, if narrow(n) { NARROW_NR } else { TILE_512.1 })),
        Isa::Avx2Fma => return Some((Isa::Avx2Fma, super::avx2::TILE_F32.1)),
        _ => {}
    }
    let _ = n;
    None
}

/// The AVX-512 build's `f32` tiles: the packed panels must be the ones its ordinary
/// product would pack, so they are its own constants and rules, not copies.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::avx512::{narrow, short_rows, NARROW_NR, SHORT_TILE as SHORT_512, TILE_F32 as TILE_512};

/// Packs `b` (`k x n`) into `buf` for [`gemm_prepacked`]; `None` when this build has no
/// prepacked kernel for `T` or `buf` is shorter than [`prepacked_len`] (the caller then
/// runs the ordinary product).
pub fn prepack<T: Scalar>(b: MatRef<'_, T>, buf: &mut [T]) -> Option<PackedLayout> {
    T::prepack(b, buf)
}

/// `C = epilogue(alpha A B + beta C)` with `B` as [`prepack`] left it in `packed`;
/// `b` is the same matrix unpacked, for the shapes and builds that do not read the
/// panels. Shapes are checked as [`gemm_fused`](super::gemm_fused) checks them.
///
/// ```
/// use monograd_core::kernels::gemm::{gemm_prepacked, prepack, prepacked_len, Identity, MatMut, MatRef};
/// let (a, b) = ([1.0f32; 8 * 8], [2.0f32; 8 * 8]);
/// let b = MatRef::row_major(&b, 8, 8).unwrap();
/// let mut panels = vec![0.0f32; prepacked_len(8, 8)];
/// let layout = prepack(b, &mut panels); // None where no build packs ahead
/// let mut c = [0.0f32; 64];
/// let c_view = MatMut::row_major(&mut c, 8, 8).unwrap();
/// let a = MatRef::row_major(&a, 8, 8).unwrap();
/// gemm_prepacked(1.0, a, b, &panels, layout.as_ref(), 0.0, c_view, &mut vec![0.0; 4096], &Identity).unwrap();
/// assert!(c.iter().all(|&v| v == 16.0));
/// ```
///
/// # Errors
/// As [`gemm_fused`](super::gemm_fused), and if `layout` was packed from a `B` of another
/// shape.
#[allow(clippy::too_many_arguments)] // gemm's operands, the panels and the epilogue
pub fn gemm_prepacked<T: Scalar, E: Epilogue<T>>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    packed: &[T],
    layout: Option<&PackedLayout>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
    epi: &E,
) -> Result<(), crate::ShapeError> {
    if a.cols != b.rows || a.rows != c.rows || b.cols != c.cols {
        return Err(ShapeError::MatrixMismatch {
            what: "gemm_prepacked",
            dims: [(a.rows, a.cols), (b.rows, b.cols), (c.rows, c.cols)],
        });
    }
    if let Some(w) = epi.width().filter(|&w| w != c.cols) {
        return Err(ShapeError::Length { what: "gemm_prepacked epilogue", expected: c.cols, found: w });
    }
    match layout {
        Some(l) => {
            if (l.k, l.n) != (b.rows, b.cols) || packed.len() < l.len() {
                return Err(ShapeError::MatrixMismatch {
                    what: "gemm_prepacked panels",
                    dims: [(l.k, l.n), (b.rows, b.cols), (packed.len(), l.len())],
                });
            }
            T::gemm_prepacked(alpha, a, b, packed, l, beta, c, pack, epi);
        }
        None => T::gemm_fused(alpha, a, b, beta, c, pack, epi, None),
    }
    Ok(())
}

/// [`prepack`] for `f32`: the panels of the build running now.
pub(crate) fn prepack_f32(b: MatRef<'_, f32>, buf: &mut [f32]) -> Option<PackedLayout> {
    let (k, n) = (b.rows, b.cols);
    let (isa, nr) = build_f32(n)?;
    if buf.len() < prepacked_len(k, n) {
        return None;
    }
    // The blocks depend on the tile only through its width here: kc and nc are the same
    // for the AVX-512 build's 12- and 8-row tiles (kc is capped at 256 either way).
    let target = match (isa, nr) {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        (Isa::Avx2Fma, _) => blocking::target::<f32, { super::avx2::TILE_F32.0 }, { super::avx2::TILE_F32.1 }>(),
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        (_, NARROW_NR) => blocking::target::<f32, { TILE_512.0 }, NARROW_NR>(),
        _ => blocking::target::<f32, 12, 32>(),
    };
    // The blocks the ordinary product takes with full packing memory (`Blocks::fit`):
    // equal slices of k, and B's columns in blocks of whole panels.
    let kc = k.max(1).div_ceil(k.max(1).div_ceil(target.kc.min(k.max(1))));
    let nc = round_up(n.max(1), nr).min(round_down(target.nc, nr).max(nr));
    let skip = buf.as_ptr().align_offset(64).min(super::ALIGN_SLACK);
    let layout = PackedLayout { k, n, kc, nc, nr, isa, skip };
    let mut off = skip;
    for jc in (0..n).step_by(nc) {
        let ncb = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            let len = round_up(ncb, nr) * kcb;
            pack_b(isa, nr, b.sub(pc, jc, kcb, ncb).t(), &mut buf[off..off + len]);
            off += len;
        }
    }
    Some(layout)
}

/// Packs one block of `B` (given as its transpose) in `nr`-column panels of `isa`.
fn pack_b(isa: Isa, nr: usize, src: MatRef<'_, f32>, dst: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    match isa {
        // SAFETY: the layout records a build `build_f32` found on this CPU.
        Isa::Avx512 if nr == NARROW_NR => return unsafe { pack_b_avx512_narrow(src, dst) },
        // SAFETY: as above.
        Isa::Avx512 => return unsafe { pack_b_avx512(src, dst) },
        // SAFETY: as above.
        Isa::Avx2Fma => return unsafe { pack_b_avx2(src, dst) },
        _ => {}
    }
    let _ = (isa, nr, src, dst);
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
fn pack_b_avx512(src: MatRef<'_, f32>, dst: &mut [f32]) {
    pack_panels::<f32, { TILE_512.1 }, super::avx512::Avx512>(src, dst);
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
fn pack_b_avx512_narrow(src: MatRef<'_, f32>, dst: &mut [f32]) {
    pack_panels::<f32, NARROW_NR, super::avx512::Avx512>(src, dst);
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
fn pack_b_avx2(src: MatRef<'_, f32>, dst: &mut [f32]) {
    pack_panels::<f32, { super::avx2::TILE_F32.1 }, super::avx2::Fused>(src, dst);
}

/// [`gemm_prepacked`] for `f32`, shapes checked: the prepacked loop nest when the build
/// that packed `B` runs now and the shape is one the packed kernel takes; otherwise the
/// ordinary product on `b`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_prepacked_f32<E: Epilogue<f32>>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    packed: &[f32],
    layout: &PackedLayout,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
    epi: &E,
) {
    let m = c.rows;
    // The ordinary product's rule for shapes it runs unpacked (see `packed::SKINNY`).
    let skinny = m < 4 || layout.n < 4 || layout.k == 0;
    if skinny || build_f32(layout.n) != Some((layout.isa, layout.nr)) {
        return super::gemm_fused_f32(alpha, a, b, beta, c, pack, epi, None);
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    match layout.isa {
        // SAFETY: `build_f32` just found this build on this CPU.
        Isa::Avx512 => return unsafe { run_avx512(alpha, a, b, packed, layout, beta, c, pack, epi) },
        // SAFETY: as above.
        Isa::Avx2Fma => return unsafe { run_avx2(alpha, a, b, packed, layout, beta, c, pack, epi) },
        _ => {}
    }
    let _ = packed;
    super::gemm_fused_f32(alpha, a, b, beta, c, pack, epi, None);
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn run_avx512<E: Epilogue<f32>>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    packed: &[f32],
    layout: &PackedLayout,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
    epi: &E,
) {
    use super::avx512::Avx512;
    match (short_rows(c.rows), layout.nr == NARROW_NR) {
        (true, false) => {
            run::<f32, { SHORT_512.0 }, { SHORT_512.1 }, Avx512, E>(alpha, a, b, packed, layout, beta, c, pack, epi)
        }
        (false, false) => {
            run::<f32, { TILE_512.0 }, { TILE_512.1 }, Avx512, E>(alpha, a, b, packed, layout, beta, c, pack, epi)
        }
        (true, true) => {
            run::<f32, { SHORT_512.0 }, NARROW_NR, Avx512, E>(alpha, a, b, packed, layout, beta, c, pack, epi)
        }
        (false, true) => {
            run::<f32, { TILE_512.0 }, NARROW_NR, Avx512, E>(alpha, a, b, packed, layout, beta, c, pack, epi)
        }
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn run_avx2<E: Epilogue<f32>>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    packed: &[f32],
    layout: &PackedLayout,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
    epi: &E,
) {
    use super::avx2::{Fused, TILE_F32};
    run::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Fused, E>(alpha, a, b, packed, layout, beta, c, pack, epi);
}

/// The packed loop nest of `packed::gemm_packed_fused` with `B`'s blocks read from the
/// panels instead of packed: the same order, blocks and tiles.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn run<T: Float, const MR: usize, const NR: usize, M: MulAdd, E: Epilogue<T>>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    packed: &[T],
    layout: &PackedLayout,
    beta: T,
    mut c: MatMut<'_, T>,
    pack: &mut [T],
    epi: &E,
) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    debug_assert!(NR == layout.nr);
    let (kc, nc) = (layout.kc, layout.nc);
    let skip = pack.as_ptr().align_offset(64);
    let pack = if skip <= pack.len() { &mut pack[skip..] } else { pack };
    // A's block: as many whole MR-row panels as the packing memory holds, up to the target.
    let target = blocking::target::<T, MR, NR>();
    let mc = round_up(m, MR).min(round_down(target.mc, MR).max(MR)).min(pack.len() / kc / MR * MR);
    if mc == 0 {
        // Not even one panel of A fits: the ordinary product decides how to run.
        return T::gemm_fused(alpha, a, b, beta, c, pack, epi, None);
    }
    let a_pack = &mut pack[..kc * mc];
    let tiled_epilogue = !E::IDENTITY && c.cs == 1;
    let direct_a = reads_rows_in_place::<T, MR, M>(&a);
    let mut off = layout.skip;
    for jc in (0..n).step_by(nc) {
        let ncb = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            let len = round_up(ncb, NR) * kcb;
            let b_pack = &packed[off..off + len];
            off += len;
            let beta = if pc == 0 { beta } else { T::ONE };
            let last = pc + kcb == k;
            for ic in (0..m).step_by(mc) {
                let mcb = mc.min(m - ic);
                if !direct_a {
                    pack_panels::<T, MR, M>(a.sub(ic, pc, mcb, kcb), a_pack);
                }
                let b_panels = b_pack.chunks_exact(NR * kcb);
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

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::kernels::gemm::{gemm_fused, BiasAct, Identity, PACK_LEN};
    use crate::rng::Rng;
    use std::{vec, vec::Vec};

    fn v(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()
    }

    /// Against the ordinary product on the same operands: the same blocks of `k` in the
    /// same order, so the same bits, with and without an epilogue, for dense layers'
    /// shapes (`B` = `Wᵀ`, a transposed view, as the layers pass it) and odd ones.
    #[test]
    fn prepacked_products_equal_the_ordinary_ones_to_the_bit() {
        let mut rng = Rng::seed(3);
        let mut pack = vec![0.0f32; PACK_LEN];
        for (m, k, n) in [(64, 784, 256), (64, 256, 128), (64, 128, 10), (50, 70, 65), (3, 40, 20), (200, 600, 33)] {
            let (x, w, bias) = (v(m * k, &mut rng), v(n * k, &mut rng), v(n, &mut rng));
            let a = MatRef::row_major(&x, m, k).unwrap();
            let b = MatRef::row_major(&w, n, k).unwrap().t();
            let mut panels = vec![f32::NAN; prepacked_len(k, n)];
            let layout = prepack(b, &mut panels);
            assert_eq!(layout.is_some(), build_f32(n).is_some(), "{m}x{k}x{n}");
            let relu = |t: f32| t.max(0.0);
            let epi = BiasAct::new(Some(&bias[..]), relu);
            let (mut want, mut got) = (vec![0.0f32; m * n], vec![f32::NAN; m * n]);
            gemm_fused(1.0, a, b, 0.0, MatMut::row_major(&mut want, m, n).unwrap(), &mut pack, &epi, None).unwrap();
            let c = MatMut::row_major(&mut got, m, n).unwrap();
            gemm_prepacked(1.0, a, b, &panels, layout.as_ref(), 0.0, c, &mut pack, &epi).unwrap();
            assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n} with bias and ReLU");
            // Accumulating (beta = 1, alpha = 0.5), no epilogue.
            let (mut want2, mut got2) = (want.clone(), want.clone());
            gemm_fused(0.5, a, b, 1.0, MatMut::row_major(&mut want2, m, n).unwrap(), &mut pack, &Identity, None)
                .unwrap();
            let c = MatMut::row_major(&mut got2, m, n).unwrap();
            gemm_prepacked(0.5, a, b, &panels, layout.as_ref(), 1.0, c, &mut pack, &Identity).unwrap();
            assert_eq!(bits(&got2), bits(&want2), "{m}x{k}x{n} accumulating");
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Panels packed by another build are never read: the ordinary product runs on `b`
    /// (here the panels hold NaN, so reading them would show).
    #[test]
    fn panels_of_another_build_or_shape_are_not_read() {
        let mut rng = Rng::seed(4);
        let (m, k, n) = (16, 32, 48);
        let (x, w) = (v(m * k, &mut rng), v(k * n, &mut rng));
        let (a, b) = (MatRef::row_major(&x, m, k).unwrap(), MatRef::row_major(&w, k, n).unwrap());
        let panels = vec![f32::NAN; prepacked_len(k, n)];
        let other = PackedLayout { k, n, kc: k, nc: 64, nr: 32, isa: Isa::Portable, skip: 0 };
        let mut pack = vec![0.0f32; PACK_LEN];
        let mut c = vec![0.0f32; m * n];
        let view = MatMut::row_major(&mut c, m, n).unwrap();
        gemm_prepacked(1.0, a, b, &panels, Some(&other), 0.0, view, &mut pack, &Identity).unwrap();
        assert!(c.iter().all(|v| v.is_finite()));
        // A layout of another shape is an error.
        let wrong = PackedLayout { k: k + 1, ..other };
        let view = MatMut::row_major(&mut c, m, n).unwrap();
        assert!(gemm_prepacked(1.0, a, b, &panels, Some(&wrong), 0.0, view, &mut pack, &Identity).is_err());
        // Too short a buffer packs nothing.
        assert!(prepack(b, &mut [0.0f32; 8]).is_none());
    }
}
