//! monograd's layers, losses and optimizers.
//!
//! Every layer is generic over the scalar (so it runs on dual numbers for forward-mode
//! derivatives), implements [`Module`](monograd_core::Module) and
//! [`Layer`](monograd_core::Layer), keeps its parameters in PyTorch's layout, and allocates
//! nothing. Builds without `std`; the gradient-check adapter needs `alloc`.
//!
//! | module | what |
//! | --- | --- |
//! | [`layers`] | [`Linear`], activations ([`ReLU`], [`Tanh`]), graph nodes ([`Add`], [`Concat`], [`Flatten`]) |
//! | [`loss`] | the [`Loss`] trait and [`MseLoss`] |
//! | [`optim`] | the [`Optimizer`] trait and [`Sgd`] |
//! | `gradcheck` | any layer as a case of the shared gradient check (feature `alloc`) |
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod gradcheck;
pub mod layers;
pub mod loss;
pub mod optim;

pub use layers::{Add, Concat, Flatten, Linear, ReLU, Tanh};
pub use loss::{Loss, MseLoss};
pub use optim::{Optimizer, Sgd};
