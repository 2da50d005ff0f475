//! Integer-only forward kernels, TFLite Micro's reference arithmetic in monograd's layout.
//!
//! Every kernel runs one sample, channels first (`[C, H, W]`, `[C, L]` as `[C, 1, L]`,
//! `[N]`), reads `i8`, accumulates in `i32`, requantizes with
//! [`Multiplier::apply`](crate::math::Multiplier::apply) and clamps. Nothing allocates and
//! nothing computes in floating point: integer sums are exact, so the order in which a
//! kernel adds (channels first here, channels last in TFLite) does not change a bit of the
//! result. Lengths are checked: a wrong slice is an `Err`, never a panic.

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
mod conv;
mod depthwise;
mod elementwise;
#[cfg(feature = "std")]
mod isa;
mod pool;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod pool_avx2;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod pool_avx512;
#[cfg(all(test, feature = "std", target_arch = "x86_64"))]
mod simd_check;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod vnni;

pub use conv::{conv2d, conv2d_scratch, linear, ConvGeometry, Dense};
pub use depthwise::depthwise_conv2d;
pub use elementwise::{add, concat, requantize, AddParams, Requantize};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use isa::allows;
#[cfg(feature = "std")]
pub use isa::{force_isa, isa_ceiling, Isa};
pub use pool::{avg_pool2d, max_pool2d, PoolGeometry};

/// What every kernel does last: add the output's zero point and clamp (TFLite's fused
/// activation is this clamp).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputStage {
    /// The output's zero point.
    pub zero_point: i32,
    /// Lowest output value (`-128`, or the zero point after a fused ReLU).
    pub min: i32,
    /// Highest output value (`127`, or the quantized 6 after a fused ReLU6).
    pub max: i32,
}

impl OutputStage {
    /// No clamp beyond `i8`.
    pub const fn plain(zero_point: i32) -> Self {
        Self { zero_point, min: -128, max: 127 }
    }

    /// `clamp(scaled + zero_point)` as `i8`.
    #[inline(always)]
    pub fn finish(self, scaled: i32) -> i8 {
        let v = scaled.wrapping_add(self.zero_point);
        v.max(self.min).min(self.max) as i8
    }
}

/// `Σ w[i] · p[i]` in `i32`: the inner loop of the portable dense kernels. Written so that
/// the compiler turns it into widening multiply-adds (`pmaddwd` on x86, `smlal` on Arm).
#[inline(always)]
fn dot(w: &[i8], p: &[i16]) -> i32 {
    w.iter().zip(p).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum()
}
