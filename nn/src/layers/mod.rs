//! Layers: each file holds one layer's docs, forward, backward and gradient check.

pub mod activation;
pub mod linear;

pub use activation::{ReLU, Tanh};
pub use linear::Linear;
