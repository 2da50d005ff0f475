//! Which x86-64 kernels the integer paths may use: the best this CPU has, unless
//! [`force_isa`] lowers the ceiling (to time the AVX2 kernels on a CPU with AVX-512, as a
//! CPU without it would run them).

use core::sync::atomic::{AtomicU8, Ordering};

/// A ceiling on the instruction sets of the integer kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// The portable loops only (what a microcontroller runs).
    Portable,
    /// AVX2 kernels at most.
    Avx2,
    /// AVX-512 (VNNI for the dense kernels, BW for pooling and input quantization) where
    /// the CPU has it: the default.
    Avx512,
}

/// The ceiling: [`Isa::Avx512`] (no limit) unless lowered.
static CEILING: AtomicU8 = AtomicU8::new(2);

/// Makes the integer kernels use at most `isa` from now on, in every thread; `false`,
/// changing nothing, if this CPU cannot run it. Every path gives the same bits, so this
/// changes speed only.
///
/// ```
/// use monograd_quant::kernels::{force_isa, isa_ceiling, Isa};
/// assert!(force_isa(Isa::Portable)); // every CPU runs the portable loops
/// assert_eq!(isa_ceiling(), Isa::Portable);
/// assert!(force_isa(Isa::Avx512)); // no limit: each path still checks the CPU
/// ```
pub fn force_isa(isa: Isa) -> bool {
    let runs = match isa {
        Isa::Portable | Isa::Avx512 => true,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => std::is_x86_feature_detected!("avx2"),
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2 => false,
    };
    if runs {
        CEILING.store(isa as u8, Ordering::Relaxed);
    }
    runs
}

/// The ceiling [`force_isa`] set ([`Isa::Avx512`] if never called).
pub fn isa_ceiling() -> Isa {
    match CEILING.load(Ordering::Relaxed) {
        0 => Isa::Portable,
        1 => Isa::Avx2,
        _ => Isa::Avx512,
    }
}

/// Whether the kernels may use `isa` (the CPU is checked by each path).
#[inline]
pub(crate) fn allows(isa: Isa) -> bool {
    CEILING.load(Ordering::Relaxed) >= isa as u8
}
