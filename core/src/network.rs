//! The trait every generated network implements: whole-batch forward, training forward
//! and backward over a state of statically shaped buffers.
//!
//! `network!` writes the struct, a state struct with one buffer per node (activations and
//! their gradients, in a [`Storage`] of your choice: the heap, or fixed-capacity arrays
//! for programs without an allocator), and this trait's methods as straight-line code:
//! one statement per node forward, one per node in reverse topological order backward.
//! Training loops, losses and checkpoints are written once against this trait.

use crate::storage::Storage;
use crate::summary::Summary;
use crate::{Module, Scalar, Shape, ShapeError};

/// A network with one input and one primary output.
///
/// Generated networks also have these as inherent methods, so calling them needs no
/// import; the trait is for code generic over networks (training loops, checkpoints).
pub trait Network<T: Scalar>: Module<T> {
    /// Shape of one input sample.
    type Input: Shape;
    /// Shape of one output sample.
    type Output: Shape;
    /// Buffers for every node, for batches held by storage `S`.
    type State<S: Storage>;

    /// Multiply-accumulates per sample of the inference forward (FLOPs are twice this).
    const MACS: usize;
    /// Bytes of every node's output for one sample, summed.
    const ACTIVATION_BYTES: usize;
    /// The most bytes of node outputs alive at once for one sample, in inference.
    const PEAK_ACTIVATION_BYTES: usize;
    /// Bytes of parameters.
    const PARAM_BYTES: usize = Self::PARAMS * core::mem::size_of::<T>();

    /// Fresh, empty buffers. With [`Fixed<CAP>`](crate::storage::Fixed) nothing is
    /// allocated, ever; with [`Heap`](crate::storage::Heap) buffers grow on first use.
    fn state<S: Storage>() -> Self::State<S>;

    /// Inference on a batch: `x` holds whole `Input` samples, flat. Returns the output.
    fn forward<'s, S: Storage>(&self, x: &[T], state: &'s mut Self::State<S>) -> Result<&'s [T], ShapeError>;

    /// Training forward: like [`Network::forward`], keeping what backward needs in `state`
    /// and updating running statistics.
    fn forward_train<'s, S: Storage>(&mut self, x: &[T], state: &'s mut Self::State<S>) -> Result<&'s [T], ShapeError>;

    /// Backward after [`Network::forward_train`] on the same `x`: adds every parameter
    /// gradient into `grad`. `dy` is `∂L/∂output`.
    fn backward<S: Storage>(
        &self,
        x: &[T],
        dy: &[T],
        grad: &mut Self,
        state: &mut Self::State<S>,
    ) -> Result<(), ShapeError>;

    /// Like [`Network::backward`], and also returns `∂L/∂x`.
    fn backward_input<'s, S: Storage>(
        &self,
        x: &[T],
        dy: &[T],
        grad: &mut Self,
        state: &'s mut Self::State<S>,
    ) -> Result<&'s [T], ShapeError>;

    /// The nodes, their shapes, parameters and FLOPs.
    fn summary() -> Summary;
}

/// The batch length of `len` values of `S` samples, or an error naming `what`.
///
/// Generated code calls it on every input.
pub fn batch_of<S: Shape>(what: &'static str, len: usize) -> Result<usize, ShapeError> {
    if S::NUMEL == 0 || !len.is_multiple_of(S::NUMEL) {
        return Err(ShapeError::NotWholeSamples { what, len, sample: S::NUMEL });
    }
    Ok(len / S::NUMEL)
}

/// Checks that a gradient holds `batch` samples of `S`.
pub fn expect_batch<S: Shape>(what: &'static str, len: usize, batch: usize) -> Result<(), ShapeError> {
    if len != batch * S::NUMEL {
        return Err(ShapeError::Length { what, expected: batch * S::NUMEL, found: len });
    }
    Ok(())
}
