//! monograd's core: scalars, dual numbers, static shapes, allocation-free kernels, and
//! the differentiation rule of every primitive.
//!
//! Everything here builds without `std` and, unless the `alloc` feature is on, without a
//! heap. Users normally depend on the `monograd` facade, which re-exports this crate.
//!
//! | module | what |
//! | --- | --- |
//! | [`scalar`] | the [`Scalar`] trait over `f32`, `f64` and [`Dual`] |
//! | [`dual`] | forward mode: [`Dual<T, N>`], [`dual::jvp`], [`dual::jacobian`] |
//! | [`shape`] | per-sample shapes as types, [`Batch`] views of run-time length |
//! | [`kernels`] | GEMM, elementwise and reduction kernels, im2col |
//! | [`ops`] | each primitive's forward and vector-Jacobian product, side by side |
//! | [`embed`] | building modules from weights files at compile time (`include_weights!`) |
//! | [`half`] | `F16` and `BF16` widened to `f32`, exactly |
//! | [`module`] | the [`Module`] and [`Layer`] traits layers and networks implement |
//! | [`boxed`] | models of any size: built, cloned and zeroed on the heap, in place |
//! | `tape` | define-by-run reverse mode over the same primitives (feature `alloc`) |
//! | `gradcheck` | the shared gradient-check helper (feature `alloc`) |
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod block;
pub mod boxed;
pub mod budget;
pub mod dual;
pub mod embed;
pub mod error;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod gradcheck;
pub mod half;
pub mod kernels;
pub mod module;
pub mod network;
pub mod ops;
pub mod prepared;
pub mod rng;
pub mod scalar;
pub mod shape;
pub mod storage;
pub mod summary;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod tape;

pub use block::Block;
pub use dual::Dual;
pub use error::ShapeError;
pub use module::{Activation, BuiltinLayer, Ctx, Layer, Merge, Module, OutputShape};
pub use network::Network;
pub use rng::Rng;
pub use scalar::{Real, Scalar};
pub use shape::{Batch, BatchMut, Rank1, Rank2, Rank3, Shape};
#[cfg(feature = "alloc")]
pub use tape::{Gradients, Tape, Var};
