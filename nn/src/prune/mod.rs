//! Magnitude pruning: masks that remove weights, schedules that remove them gradually,
//! an optimizer wrapper that keeps them removed while fine-tuning, a sparse format whose
//! kernels run the result faster, and structured pruning that copies a network into a
//! smaller network type. docs/PRUNING.md tells the whole story, with measurements.
//!
//! | item | what | needs |
//! | --- | --- | --- |
//! | [`Mask`], [`Pruning`] | which parameters are pruned; magnitude ranking, global or per layer, single weights or output channels | nothing (a caller's buffer) |
//! | [`PruneSchedule`] | one shot, or Zhu & Gupta's polynomial | nothing |
//! | [`Masked`] | an optimizer whose pruned weights stay exactly zero, pruning on a schedule | nothing |
//! | [`SparseLinear`] | a `Linear` layer in compressed sparse rows, with batch-1 and small-batch kernels | `alloc` |
//! | [`shrink`] | copies the kept channels of a network into a smaller network type | `alloc` |
//!
//! ```
//! use monograd_nn::prune::{Mask, Masked, PruneSchedule, Pruning};
//! use monograd_nn::{Linear, Optimizer, Sgd};
//!
//! let mut fc = Linear::<8, 4, f64>::ZERO;
//! fc.weight.as_flattened_mut().iter_mut().enumerate().for_each(|(i, w)| *w = i as f64 - 15.5);
//! let grad = Linear::<8, 4, f64> { weight: [[0.1; 8]; 4], bias: [0.1; 4] };
//! // 75% of the weights over 10 steps, pruning every 2, with momentum.
//! let mut opt = Masked::new(Sgd::new(0.01).momentum(0.9), Mask::new())
//!     .schedule(Pruning::per_layer(), PruneSchedule::polynomial(0.0, 0.75, 0, 10).every(2));
//! for _ in 0..20 {
//!     opt.step(&mut fc, &grad);
//! }
//! assert_eq!(fc.weight.as_flattened().iter().filter(|w| **w == 0.0).count(), 24);
//! ```

use core::fmt;

use monograd_core::ShapeError;

pub mod mask;
mod masked;
pub mod schedule;
#[cfg(feature = "alloc")]
mod shrink;
#[cfg(feature = "alloc")]
pub mod sparse;

pub use mask::{conv_weights, weights, Mask, Norm, Pruning, Scope, Select, Structure};
pub use masked::Masked;
pub use schedule::PruneSchedule;
#[cfg(feature = "alloc")]
pub use shrink::{shrink, Channels, Kept};
#[cfg(feature = "alloc")]
pub use sparse::SparseLinear;

/// Why pruning, shrinking or a sparse conversion could not be done.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PruneError {
    /// A setting out of its range (a sparsity above 1).
    Setting {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: f64,
        /// What to give instead.
        expected: &'static str,
    },
    /// The mask's store cannot hold one value per parameter of the model.
    Mask(ShapeError),
    /// A per-tensor target names no tensor the pruning selects.
    UnknownTarget {
        /// The name given.
        name: &'static str,
    },
    /// A layer of the two networks [`shrink`] copies between does not fit, or a tensor
    /// cannot be converted to the sparse format.
    #[cfg(feature = "alloc")]
    Layer {
        /// The tensor or layer (`conv2.weight`).
        layer: alloc::string::String,
        /// What is wrong, in words.
        problem: alloc::string::String,
    },
}

impl fmt::Display for PruneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setting { setting, value, expected } => {
                write!(f, "pruning: {setting} = {value} is out of range; {expected}")
            }
            Self::Mask(e) => write!(f, "{e}"),
            Self::UnknownTarget { name } => {
                write!(f, "pruning: the target `{name}` names no tensor the pruning selects (check the name and the selection)")
            }
            #[cfg(feature = "alloc")]
            Self::Layer { layer, problem } => write!(f, "`{layer}`: {problem}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PruneError {}
