//! Which build of the packed kernel runs: chosen once per process by run-time feature
//! detection with `std` on `x86_64`, fixed at compile time everywhere else (NEON on
//! `aarch64`, simd128 on `wasm32` compiled with it, else the portable build).

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
use super::neon::{self, Neon};
use super::packed::gemm_packed;
use super::portable::{Separate, TILE_F32, TILE_F64};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd128::{self, Simd128};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::{avx2, avx512};
use super::{MatMut, MatRef};

/// An instruction set the `f32` and `f64` kernels can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isa {
    /// The portable build: plain Rust, vectorized by LLVM for the target features the crate
    /// was compiled with. The only build without `std`.
    Portable,
    /// AVX2 and FMA (`x86_64` with `std`): 6x16 `f32` and 4x8 `f64` register tiles.
    Avx2Fma,
    /// AVX-512F (`x86_64` with `std`): a 12x32 `f32` microkernel in intrinsics; `f64` runs
    /// the AVX2+FMA build.
    Avx512,
    /// NEON (`aarch64`, with or without `std`): 8x12 `f32` and 6x8 `f64` microkernels and
    /// dot products in intrinsics, with fused multiply-adds.
    Neon,
    /// WebAssembly's simd128 (`wasm32` compiled with `-C target-feature=+simd128`): 4x8
    /// `f32` and 4x4 `f64` microkernels and dot products in intrinsics.
    Simd128,
}

/// The build chosen at compile time: the one that runs where there is no run-time
/// detection.
const COMPILED: Isa = if cfg!(all(target_arch = "aarch64", target_feature = "neon")) {
    Isa::Neon
} else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
    Isa::Simd128
} else {
    Isa::Portable
};

/// The instruction set the `f32`/`f64` kernels use in this process: the best this CPU
/// has, unless [`force_isa`] chose another.
///
/// ```
/// use monograd_core::kernels::gemm::{isa, Isa};
/// let chosen = isa();
/// if cfg!(all(target_arch = "aarch64", target_feature = "neon")) {
///     assert_eq!(chosen, Isa::Neon); // NEON is part of every aarch64 CPU
/// }
/// ```
pub fn isa() -> Isa {
    #[cfg(feature = "std")]
    {
        use core::sync::atomic::Ordering;
        match CHOSEN.load(Ordering::Relaxed) {
            1 => Isa::Portable,
            2 => Isa::Avx2Fma,
            3 => Isa::Avx512,
            4 => Isa::Neon,
            5 => Isa::Simd128,
            _ => {
                let best = best();
                CHOSEN.store(code(best), Ordering::Relaxed);
                best
            }
        }
    }
    #[cfg(not(feature = "std"))]
    COMPILED
}

/// Makes the kernels use `isa` from now on, in every thread (to compare builds on one
/// machine); `false`, changing nothing, if this CPU cannot run it. Results may differ in
/// the last bits between builds (their sums are grouped differently), so a program that
/// needs the same bits on every run should not switch between calls it compares.
///
/// ```
/// use monograd_core::kernels::gemm::{force_isa, isa, Isa};
/// let best = isa();
/// assert!(force_isa(Isa::Portable)); // every CPU runs the portable build
/// assert_eq!(isa(), Isa::Portable);
/// assert!(force_isa(best));
/// ```
#[cfg(feature = "std")]
pub fn force_isa(isa: Isa) -> bool {
    if !available(isa) {
        return false;
    }
    CHOSEN.store(code(isa), core::sync::atomic::Ordering::Relaxed);
    true
}

/// Whether this CPU runs `isa`.
#[cfg(feature = "std")]
pub(super) fn available(isa: Isa) -> bool {
    match isa {
        Isa::Portable => true,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => available(Isa::Avx2Fma) && std::is_x86_feature_detected!("avx512f"),
        // Compiled in or not at all.
        Isa::Neon | Isa::Simd128 => isa == COMPILED,
        #[cfg(not(target_arch = "x86_64"))]
        _ => false,
    }
}

/// The chosen build: 0 before the first call, else [`code`] of it.
#[cfg(feature = "std")]
static CHOSEN: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

#[cfg(feature = "std")]
fn code(isa: Isa) -> u8 {
    match isa {
        Isa::Portable => 1,
        Isa::Avx2Fma => 2,
        Isa::Avx512 => 3,
        Isa::Neon => 4,
        Isa::Simd128 => 5,
    }
}

/// The best build this CPU runs (std caches the detection).
#[cfg(feature = "std")]
fn best() -> Isa {
    [Isa::Avx512, Isa::Avx2Fma].into_iter().find(|&i| available(i)).unwrap_or(COMPILED)
}

/// The `f32` kernel of the chosen build.
pub(super) fn gemm_f32(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    // On a Xeon with AVX-512 (docs/BENCHMARKS.md), the AVX-512 build is about 1.5x the
    // AVX2 one at n = 1024; on a Zen 3 core, AVX2+FMA was 2.8x the portable (SSE2) build.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    match isa() {
        // SAFETY: `isa` returns `Avx512` only when `available` found AVX-512F, AVX2 and
        // FMA on this CPU.
        Isa::Avx512 => return unsafe { avx512::gemm_f32(alpha, a, b, beta, c, pack) },
        Isa::Avx2Fma => {
            // SAFETY: `isa` returns `Avx2Fma` only when `available` found AVX2 and FMA.
            return unsafe {
                avx2::gemm_avx2_fma::<f32, { avx2::TILE_F32.0 }, { avx2::TILE_F32.1 }>(alpha, a, b, beta, c, pack)
            };
        }
        _ => {}
    }
    // NEON and simd128 are compile-time features: nothing to check at run time.
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    if isa() == Isa::Neon {
        return gemm_packed::<f32, { neon::TILE_F32.0 }, { neon::TILE_F32.1 }, Neon>(alpha, a, b, beta, c, pack);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if isa() == Isa::Simd128 {
        return gemm_packed::<f32, { simd128::TILE_F32.0 }, { simd128::TILE_F32.1 }, Simd128>(
            alpha, a, b, beta, c, pack,
        );
    }
    gemm_packed::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Separate>(alpha, a, b, beta, c, pack);
}

/// The `f64` kernel of the chosen build (AVX2+FMA also under `Avx512`).
pub(super) fn gemm_f64(
    alpha: f64,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    beta: f64,
    c: MatMut<'_, f64>,
    pack: &mut [f64],
) {
    // As for f32 on the Zen 3 core: about 38 against 14 GFLOP/s at n = 1024.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if matches!(isa(), Isa::Avx512 | Isa::Avx2Fma) {
        // SAFETY: `isa` returns either only when `available` found AVX2 and FMA.
        return unsafe {
            avx2::gemm_avx2_fma::<f64, { avx2::TILE_F64.0 }, { avx2::TILE_F64.1 }>(alpha, a, b, beta, c, pack)
        };
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    if isa() == Isa::Neon {
        return gemm_packed::<f64, { neon::TILE_F64.0 }, { neon::TILE_F64.1 }, Neon>(alpha, a, b, beta, c, pack);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if isa() == Isa::Simd128 {
        return gemm_packed::<f64, { simd128::TILE_F64.0 }, { simd128::TILE_F64.1 }, Simd128>(
            alpha, a, b, beta, c, pack,
        );
    }
    gemm_packed::<f64, { TILE_F64.0 }, { TILE_F64.1 }, Separate>(alpha, a, b, beta, c, pack);
}
