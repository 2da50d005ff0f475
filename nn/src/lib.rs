//! monograd's layers, losses and optimizers.
//!
//! Every layer is generic over the scalar (so it runs on dual numbers for forward-mode
//! derivatives), implements [`Module`](monograd_core::Module) and
//! [`Layer`](monograd_core::Layer), keeps its parameters in PyTorch's layout, and allocates
//! nothing. Builds without `std`; the gradient-check adapter needs `alloc`.
//!
//! | module | what |
//! | --- | --- |
//! | [`layers`] | [`Linear`], activations ([`ReLU`], [`Tanh`]), graph nodes ([`Add`], [`Concat`], [`Flatten`]), rearranging ([`Reshape`], [`Transpose`], [`Permute`], [`Upsample`]) |
//! | [`loss`] | the [`Loss`] trait, [`ElementwiseLoss`] (a formula differentiated by dual numbers), [`MseLoss`], [`L1Loss`], [`HuberLoss`], [`CrossEntropyLoss`], [`NllLoss`], [`BceWithLogitsLoss`] |
//! | [`optim`] | the [`Optimizer`] trait, [`Sgd`], [`Adam`], [`AdamW`], [`RmsProp`], [`Adagrad`]; learning-rate [`schedule`](optim::schedule)s; gradient [`clip`](optim::clip)ping |
//! | [`init`] | Xavier/Glorot and Kaiming/He initialisation, PyTorch's per-layer defaults, bit-identical from a seed on every platform |
//! | `gradcheck` | any layer as a case of the shared gradient check (feature `alloc`) |
//! | `data` | IDX/MNIST and CSV readers, splits, normalisation, seeded mini-batches (feature `data`) |
//! | `serialize` | safetensors files with PyTorch's names, atomic saves, checked loads, checkpoints (feature `safetensors`) |
//! | `distributed` | data-parallel training on threads (feature `parallel`) and over MPI (feature `mpi`) |
//! | `train` | the training loop, metrics, early stopping, callbacks, progress bar, PNG charts, augmentation (feature `train`) |
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "data")]
#[cfg_attr(docsrs, doc(cfg(feature = "data")))]
pub mod data;
#[cfg(feature = "parallel")]
#[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
pub mod distributed;
#[cfg(any(feature = "data", feature = "safetensors"))]
mod file;
#[cfg(feature = "alloc")]
pub mod gradcheck;
pub mod init;
pub mod layers;
pub mod loss;
pub mod optim;
pub mod prune;
#[cfg(feature = "safetensors")]
#[cfg_attr(docsrs, doc(cfg(feature = "safetensors")))]
pub mod serialize;
#[cfg(feature = "train")]
#[cfg_attr(docsrs, doc(cfg(feature = "train")))]
pub mod train;

pub use layers::{Add, Concat, Flatten, Linear, ReLU, Tanh};
pub use layers::{
    AvgPool2d, Conv1d, Conv2d, DepthwiseConv2d, GlobalAvgPool2d, GroupedConv2d, MaxPool2d, SeparableConv2d,
};
pub use layers::{
    BatchNorm1d, BatchNorm2d, Dropout, Embedding, LayerNorm, LeakyReLU, LinearNoBias, LogSoftmax, Reshape, SiLU,
    Sigmoid, Softmax, Softplus, ELU, GELU,
};
pub use layers::{Permute, Transpose, Unflatten, Upsample, Upsample1d};
pub use loss::{BceWithLogitsLoss, CrossEntropyLoss, ElementwiseLoss, HuberLoss, L1Loss, Loss, MseLoss, NllLoss};
pub use optim::{
    Adagrad, Adam, AdamW, OptimError, Optimizer, OptimizerState, RmsProp, Schedule, Scheduled, Sgd, StepError,
};
