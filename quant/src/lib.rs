//! # monograd-quant: int8 networks in TFLite's scheme
//!
//! Post-training quantization as TensorFlow Lite defines it, so that results can be
//! checked against TFLite Micro's own kernels bit for bit:
//! - weights `i8`, symmetric (zero point 0, range -127..=127), per output channel or per
//!   tensor;
//! - activations `i8`, asymmetric, per tensor;
//! - biases `i32` with scale `s_in * s_w`;
//! - requantization by a fixed-point multiplier and shift, with TFLite's rounding.
//!
//! The integer path allocates nothing and uses no floating-point arithmetic, so it runs on
//! a microcontroller without a float unit. Scales are kept as the `f32` values a `.tflite`
//! file stores, and the multipliers derived from them once, when a network is quantized.
//!
//! [`graph`] describes a quantized network operator by operator, in monograd's layout
//! (channels first); exporters (such as the `.tflite` writer) read it.
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod calibrate;
pub mod embed;
mod error;
#[cfg(feature = "alloc")]
mod export;
#[cfg(feature = "alloc")]
pub mod graph;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod input_avx512;
pub mod kernels;
pub mod math;
pub mod params;
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub mod support;
pub mod twin;

pub use error::QuantError;

/// Expands to its input when this crate has `alloc`: code `#[quantize(Twin)]` generates
/// wraps what needs a heap (calibration, `to_graph`) in it, so that a twin's type and its
/// integer forward pass compile in a crate with no allocator.
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_alloc {
    ($($t:tt)*) => { $($t)* };
}

/// Without `alloc`: nothing.
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_alloc {
    ($($t:tt)*) => {};
}
pub use params::{Fused, QParams};

#[cfg(feature = "tflite")]
pub mod tflite;
