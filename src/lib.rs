//! monograd: neural networks the compiler understands.
#![no_std]

pub use monograd_core as core;
pub use monograd_nn as nn;
