//! The trait every generated network implements: whole-batch forward, training forward
//! and backward over a state of statically shaped buffers.
//!
//! `network!` writes the struct, a state struct with one buffer per node (activations and
//! their gradients, in a [`Storage`] of your choice: the heap, or fixed-capacity arrays
//! for programs without an allocator), and this trait's methods as straight-line code:
//! one statement per node forward, one per node in reverse topological order backward.
//! Training loops, losses and checkpoints are written once against this trait.

use crate::storage::Storage;
use crate::{Module, Scalar, Shape, ShapeError};

/// A network with one input and one primary output.
pub trait Network<T: Scalar>: Module<T> {
    /// Shape of one input sample.
    type Input: Shape;
    /// Shape of one output sample.
    type Output: Shape;
    /// Buffers for every node, for batches held by storage `S`.
    type State<S: Storage>;

    /// Fresh, empty buffers. With [`Fixed<CAP>`](crate::storage::Fixed) nothing is
    /// allocated, ever; with [`Heap`](crate::storage::Heap) buffers grow on first use.
    fn state<S: Storage>() -> Self::State<S>;

    /// Inference on a batch: `x` holds whole `Input` samples, flat. Returns the output.
    fn forward<'s, S: Storage>(&self, x: &[T], state: &'s mut Self::State<S>) -> Result<&'s [T], ShapeError>;

    /// Training forward: like [`Network::forward`], keeping what backward needs in `state`
    /// and updating running statistics.
    fn forward_train<'s, S: Storage>(&mut self, x: &[T], state: &'s mut Self::State<S>)
        -> Result<&'s [T], ShapeError>;

    /// Backward after [`Network::forward_train`] on the same `x`: adds every parameter
    /// gradient into `grad` and leaves `∂L/∂x` in the state (see
    /// [`Network::input_grad`]). `dy` is `∂L/∂output`.
    fn backward<S: Storage>(&self, x: &[T], dy: &[T], grad: &mut Self, state: &mut Self::State<S>)
        -> Result<(), ShapeError>;

    /// `∂L/∂x` from the last [`Network::backward`].
    fn input_grad<S: Storage>(state: &Self::State<S>) -> &[T];
}
