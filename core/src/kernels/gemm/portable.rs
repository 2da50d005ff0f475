//! The portable build: the generic loop nest with separate multiplies and adds, which
//! LLVM vectorizes for whatever the target has (SSE2 on plain `x86_64`, NEON, or scalar
//! registers on a Cortex-M4F). Every target can run it; without `std` it is the only
//! build, and `-C target-cpu=...` is how it gets wider vectors.

use super::packed::{dots, transpose, Float, MulAdd};

// Register tiles `(MR, NR)`: as many accumulators as the registers hold, with room left
// for the operands. 64-bit targets without AVX2 (SSE2, NEON): 4x8 f32 is eight SSE
// accumulators. A Cortex-M4F has 32 single-precision registers and no vectors: 4x4 keeps
// 16 accumulators and 8 operands. When AVX2 is on at compile time (`-C
// target-cpu=native`, the only way a no_std build gets it), the AVX2 tiles: 6x16 f32 is
// 12 accumulators of the 16 registers, measured best against 8x8 and 4x24; 4x8 for f64
// likewise. (With AVX-512 on at compile time the portable build keeps the AVX2 tiles: the
// 12x32 AVX-512 tile is written in intrinsics, in the std build only.)
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
pub(super) const TILE_F32: (usize, usize) = (6, 16);
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
pub(super) const TILE_F64: (usize, usize) = (4, 8);
#[cfg(all(target_pointer_width = "64", not(all(target_arch = "x86_64", target_feature = "avx2"))))]
pub(super) const TILE_F32: (usize, usize) = (4, 8);
#[cfg(all(target_pointer_width = "64", not(all(target_arch = "x86_64", target_feature = "avx2"))))]
pub(super) const TILE_F64: (usize, usize) = (4, 4);
#[cfg(not(target_pointer_width = "64"))]
pub(super) const TILE_F32: (usize, usize) = (4, 4);
#[cfg(not(target_pointer_width = "64"))]
pub(super) const TILE_F64: (usize, usize) = (4, 4);

/// `a * b + c` as two operations.
pub(super) struct Separate;

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        a * b + c
    }

    #[inline(always)]
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        dots::<T, Self, S>(x, ys)
    }

    #[inline(always)]
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        transpose(rows, r, panel);
    }
}
