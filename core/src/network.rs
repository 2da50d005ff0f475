//! The trait every generated network implements: whole-batch forward, training forward
//! and backward over a state of statically shaped buffers.
//!
//! `network!` writes the struct, a state struct with one buffer per node (activations and
//! their gradients, in a [`Storage`] of your choice: the heap, or fixed-capacity arrays
//! for programs without an allocator), and this trait's methods as straight-line code:
//! one statement per node forward, one per node in reverse topological order backward.
//! Training loops, losses and checkpoints are written once against this trait.

use crate::storage::{Fixed, Storage};
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
    /// Bytes of RAM one-sample inference takes besides the weights. `network!` gives the
    /// size of its inference-only state in `Fixed<1>` storage (`ACTIVATION_BYTES` and a
    /// length per buffer); a network written by hand without such a state may keep this
    /// default, `ACTIVATION_BYTES`.
    const RAM_BYTES: usize = Self::ACTIVATION_BYTES;

    /// A network with every layer initialised from `rng`, each by its own rule.
    ///
    /// Generated networks also have `new` as an inherent function for the default scalar,
    /// so `Net::new(&mut rng)` is an `f32` network with no annotation;
    /// `Net::<f64>::new(&mut rng)` goes through this trait.
    fn new(rng: &mut crate::rng::Rng) -> Self
    where
        Self: Default,
    {
        let mut net = Self::default();
        net.init(rng);
        net
    }

    /// Fresh, empty buffers. With [`Fixed<CAP>`](crate::storage::Fixed) nothing is
    /// allocated, ever; with [`Heap`](crate::storage::Heap) buffers grow on first use.
    fn state<S: Storage>() -> Self::State<S>;

    /// Inference on a batch: `x` holds whole `Input` samples, flat. Returns the output.
    fn forward<'s, S: Storage>(&self, x: &[T], state: &'s mut Self::State<S>) -> Result<&'s [T], ShapeError>;

    /// [`Network::forward`] with weight matrices packed ahead, which the dense layers
    /// read instead of packing their own (what [`Prepared`](crate::prepared::Prepared)
    /// calls). The default ignores them; `network!` passes them to every layer. Panels
    /// are found by the address of the weights they were packed from, so those of
    /// another network are never used.
    ///
    /// # Errors
    /// As [`Network::forward`].
    fn forward_packed<'s, S: Storage>(
        &self,
        x: &[T],
        state: &'s mut Self::State<S>,
        packed: crate::prepared::PackedWeights<'_, T>,
    ) -> Result<&'s [T], ShapeError> {
        let _ = packed;
        self.forward(x, state)
    }

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

    /// Backward and a plain SGD step in one, after [`Network::forward_train`] on the same
    /// `x`: `θ ← θ - lr · ∂L/∂θ` for every trainable parameter, as [`Network::backward`]
    /// into a zeroed `grad` followed by that update would do. `grad` is scratch for the
    /// layers that cannot update inside their backward pass; what it holds afterwards is
    /// unspecified.
    ///
    /// This default does exactly that (zero, backward, update). `network!` generates a
    /// pass that updates each layer with a fused form (`Layer::FUSED_SGD`: the dense
    /// layers) inside its backward, with no gradient written, zeroed or read for it, and
    /// runs the other layers through `grad`; with a batch the matrix kernel sums in one
    /// block (at most 64 samples on any machine) it gives the same bits as this default.
    ///
    /// # Errors
    /// As [`Network::backward`], before anything is updated.
    fn backward_sgd<S: Storage>(
        &mut self,
        x: &[T],
        dy: &[T],
        lr: T,
        grad: &mut Self,
        state: &mut Self::State<S>,
    ) -> Result<(), ShapeError> {
        grad.zero();
        self.backward(x, dy, grad, state)?;
        crate::module::sgd_update(self, grad, lr);
        Ok(())
    }

    /// The nodes, their shapes, parameters and FLOPs.
    fn summary() -> Summary;

    /// Inference on one sample, with no state to keep: the buffers live on the stack for
    /// the call (one sample each), and nothing is allocated. (Examples: the `network!`
    /// docs of the `monograd` crate.)
    fn predict(&self, x: &<Self::Input as Shape>::Sample<T>) -> Result<<Self::Output as Shape>::Sample<T>, ShapeError> {
        let mut st = Self::state::<Fixed<1>>();
        let y = self.forward(Self::Input::flatten(core::slice::from_ref(x)), &mut st)?;
        let mut out = Self::Output::filled(T::ZERO);
        copy_checked("prediction", Self::Output::flatten_mut(core::slice::from_mut(&mut out)), y)?;
        Ok(out)
    }

    /// Inference on a batch of samples given as typed arrays (`&[[f32; 784]]`), giving one
    /// typed output per sample (`Vec<[f32; 10]>`).
    #[cfg(feature = "alloc")]
    fn predict_batch(
        &self,
        xs: &[<Self::Input as Shape>::Sample<T>],
    ) -> Result<alloc::vec::Vec<<Self::Output as Shape>::Sample<T>>, ShapeError> {
        let mut out = alloc::vec![Self::Output::filled(T::ZERO); xs.len()];
        if xs.is_empty() {
            return Ok(out);
        }
        let mut st = Self::state::<crate::storage::Heap>();
        let y = self.forward(Self::Input::flatten(xs), &mut st)?;
        copy_checked("predictions", Self::Output::flatten_mut(&mut out), y)?;
        Ok(out)
    }
}

/// A cheap fingerprint of a batch: its length and eight values spread across it. A
/// generated network keeps the one of the input `forward_train` saw, and `backward`
/// refuses an input whose fingerprint differs (a different batch, or one changed since),
/// which would otherwise give a wrong gradient and `Ok`.
///
/// ```
/// use monograd_core::network::fingerprint;
/// let x = [1.0f32, 2.0, 3.0];
/// assert_eq!(fingerprint(&x), fingerprint(&[1.0f32, 2.0, 3.0]));
/// assert_ne!(fingerprint(&x), fingerprint(&[1.0f32, 2.0, 3.5]));
/// assert_ne!(fingerprint(&x), fingerprint(&x[..2]));
/// ```
pub fn fingerprint<T: Scalar>(x: &[T]) -> u64 {
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = 0xcbf2_9ce4_8422_2325 ^ x.len() as u64;
    h = h.wrapping_mul(FNV_PRIME);
    if x.is_empty() {
        return h;
    }
    let last = x.len() - 1;
    for k in 0..8 {
        let v = x[last * k / 7].to_f64().to_bits();
        h = (h ^ v).wrapping_mul(FNV_PRIME);
    }
    h
}

/// Makes room for `batch` samples in a node's buffer; a batch over a fixed capacity is an
/// error naming the network and the node (`what`).
pub fn prepare<'b, T, B: crate::storage::Buffer<T>>(
    buf: &'b mut B,
    batch: usize,
    what: &'static str,
) -> Result<&'b mut [T], ShapeError> {
    buf.prepare(batch).map_err(|e| match e {
        ShapeError::Capacity { capacity, requested, .. } => ShapeError::Capacity { what, capacity, requested },
        other => other,
    })
}

/// `dst.copy_from_slice(src)`, or an error naming `what` when the lengths differ.
pub fn copy_checked<T: Copy>(what: &'static str, dst: &mut [T], src: &[T]) -> Result<(), ShapeError> {
    if dst.len() != src.len() {
        return Err(ShapeError::Length { what, expected: dst.len(), found: src.len() });
    }
    dst.copy_from_slice(src);
    Ok(())
}

/// Adds `src` into `dst`, or an error naming `what` when the lengths differ.
pub fn add_checked<T: Scalar>(what: &'static str, dst: &mut [T], src: &[T]) -> Result<(), ShapeError> {
    if dst.len() != src.len() {
        return Err(ShapeError::Length { what, expected: dst.len(), found: src.len() });
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
    Ok(())
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
