//! Where batch buffers live: on the heap, or inline with a capacity fixed at compile time.
//!
//! Generated networks keep one buffer per node (activations, gradients) in a state struct
//! generic over a [`Storage`] policy:
//!
//! - [`Heap`] (feature `alloc`): `Vec`s that grow to the largest batch seen, so a training
//!   step allocates only the first time a batch size is seen;
//! - [`Fixed<CAP>`]: arrays of `CAP` samples inside the struct, no allocator at all; a batch
//!   larger than `CAP` is an `Err`, never a panic.
//!
//! ```
//! use monograd_core::storage::{Buffer, Fixed, Storage};
//! use monograd_core::Rank1;
//!
//! let mut buf = <Fixed<4> as Storage>::Buf::<f32, Rank1<3>>::new();
//! assert_eq!(buf.prepare(2).unwrap().len(), 6);
//! assert!(buf.prepare(5).is_err()); // over capacity: an error that says so
//! ```

#[cfg(feature = "alloc")]
use core::marker::PhantomData;

use crate::{Scalar, Shape, ShapeError};

/// A buffer for a batch of samples of one shape.
pub trait Buffer<T>: Sized {
    /// An empty buffer.
    fn new() -> Self;

    /// Makes room for `batch` samples and returns them, flat. Values are whatever the
    /// buffer last held (zero when new): callers overwrite or zero them.
    fn prepare(&mut self, batch: usize) -> Result<&mut [T], ShapeError>;

    /// The values of the batch last prepared.
    fn as_slice(&self) -> &[T];

    /// The values of the batch last prepared, mutably.
    fn as_mut_slice(&mut self) -> &mut [T];

    /// How many samples it can hold without allocating (`None`: unbounded, grows).
    fn capacity(&self) -> Option<usize>;
}

/// A policy choosing the buffer type for every shape and scalar.
pub trait Storage: 'static {
    /// The buffer for a batch of `S` samples of `T`.
    type Buf<T: Scalar, S: Shape>: Buffer<T>;
    /// Packing and scratch memory for the kernels.
    type Pack<T: Scalar>: AsMut<[T]>;
    /// Fresh packing memory of `len` values where the policy can choose (`Heap`); a fixed
    /// policy gives what its type says.
    fn pack<T: Scalar>(len: usize) -> Self::Pack<T>;
    /// Whether buffers hold samples inline as nested arrays (`Fixed`), which a shape
    /// computed from a generic parameter does not have (`shape::computed`): `network!`
    /// refuses such a state, naming the node, when the network is built.
    const INLINE: bool = false;
}

/// Growable buffers on the heap.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Heap;

/// Buffers of `CAP` samples inline, for programs without an allocator, with `PACK`
/// values of packing memory for the matrix kernel (0, the default, runs it unpacked:
/// right for the small layers of a microcontroller).
#[derive(Clone, Copy, Debug, Default)]
pub struct Fixed<const CAP: usize, const PACK: usize = 0>;

#[cfg(feature = "alloc")]
impl Storage for Heap {
    type Buf<T: Scalar, S: Shape> = HeapBuf<T, S>;
    type Pack<T: Scalar> = alloc::vec::Vec<T>;
    fn pack<T: Scalar>(len: usize) -> alloc::vec::Vec<T> {
        alloc::vec![T::ZERO; len]
    }
}

impl<const CAP: usize, const PACK: usize> Storage for Fixed<CAP, PACK> {
    type Buf<T: Scalar, S: Shape> = FixedBuf<T, S, CAP>;
    type Pack<T: Scalar> = [T; PACK];
    const INLINE: bool = true;
    fn pack<T: Scalar>(_: usize) -> [T; PACK] {
        [T::ZERO; PACK]
    }
}

/// A growable buffer of `S` samples.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug)]
pub struct HeapBuf<T, S> {
    data: alloc::vec::Vec<T>,
    shape: PhantomData<S>,
}

#[cfg(feature = "alloc")]
impl<T: Scalar, S: Shape> Buffer<T> for HeapBuf<T, S> {
    fn new() -> Self {
        Self { data: alloc::vec::Vec::new(), shape: PhantomData }
    }

    fn prepare(&mut self, batch: usize) -> Result<&mut [T], ShapeError> {
        let len = batch.checked_mul(S::NUMEL).ok_or(ShapeError::Capacity {
            what: "heap buffer",
            capacity: usize::MAX / S::NUMEL.max(1),
            requested: batch,
        })?;
        // `resize` keeps the allocation when shrinking, so alternating batch sizes
        // allocate only once, for the largest.
        self.data.resize(len, T::ZERO);
        Ok(&mut self.data)
    }

    fn as_slice(&self) -> &[T] {
        &self.data
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    fn capacity(&self) -> Option<usize> {
        None
    }
}

/// `CAP` samples of shape `S`, inline.
#[derive(Clone, Debug)]
pub struct FixedBuf<T: Copy, S: Shape, const CAP: usize> {
    data: [S::Sample<T>; CAP],
    len: usize,
}

impl<T: Scalar, S: ZeroSample<T>, const CAP: usize> FixedBuf<T, S, CAP> {
    /// An empty buffer, as a constant: what [`Buffer::new`] gives, for `static`s and
    /// `const fn` states (a trait method cannot be called in constant evaluation).
    ///
    /// ```
    /// use monograd_core::storage::{Buffer, FixedBuf};
    /// use monograd_core::Rank1;
    /// static EMPTY: FixedBuf<f32, Rank1<3>, 2> = FixedBuf::EMPTY;
    /// assert_eq!(EMPTY.as_slice().len(), 0);
    /// ```
    pub const EMPTY: Self = Self { data: [S::ZERO_SAMPLE; CAP], len: 0 };
}

/// A shape whose zero sample is a constant, for buffers built in constant evaluation: the
/// library's shapes ([`Rank1`](crate::Rank1), [`Rank2`](crate::Rank2),
/// [`Rank3`](crate::Rank3)) over any scalar.
pub trait ZeroSample<T: Scalar>: Shape {
    /// One sample of zeros.
    const ZERO_SAMPLE: Self::Sample<T>;
}

impl<T: Scalar, const N: usize> ZeroSample<T> for crate::Rank1<N> {
    const ZERO_SAMPLE: [T; N] = [T::ZERO; N];
}

impl<T: Scalar, const R: usize, const C: usize> ZeroSample<T> for crate::Rank2<R, C> {
    const ZERO_SAMPLE: [[T; C]; R] = [[T::ZERO; C]; R];
}

impl<T: Scalar, const C: usize, const H: usize, const W: usize> ZeroSample<T> for crate::Rank3<C, H, W> {
    const ZERO_SAMPLE: [[[T; W]; H]; C] = [[[T::ZERO; W]; H]; C];
}

/// Values with a default that constant evaluation can build: the caches of the built-in
/// layers, which a `const fn` state needs (`Default::default` is not `const`).
pub trait ConstDefault {
    /// The value `Default::default()` gives.
    const DEFAULT: Self;
}

impl ConstDefault for () {
    const DEFAULT: Self = ();
}

impl<T: Scalar, S: Shape, const CAP: usize> Buffer<T> for FixedBuf<T, S, CAP> {
    fn new() -> Self {
        Self { data: [S::filled(T::ZERO); CAP], len: 0 }
    }

    fn prepare(&mut self, batch: usize) -> Result<&mut [T], ShapeError> {
        // A shape computed from a generic parameter has no nested-array sample to hold
        // (`shape::computed`): no capacity at all. `network!` refuses such a state when it
        // is built; this is the same answer for a buffer used by hand.
        if !crate::shape::computed::is_inline::<S>() && batch > 0 {
            return Err(ShapeError::Capacity {
                what: "fixed buffer (its shape is computed from a generic parameter: use `Heap`)",
                capacity: 0,
                requested: batch,
            });
        }
        if batch > CAP {
            return Err(ShapeError::Capacity { what: "fixed buffer", capacity: CAP, requested: batch });
        }
        self.len = batch;
        Ok(S::flatten_mut(&mut self.data[..batch]))
    }

    // `len <= CAP` always holds (`prepare` checks it). `min` says so to the optimizer with
    // no panic path (whose message would link `core::fmt` into a firmware), and the bound
    // it gives lets a layer after this buffer drop its large-batch code path when `CAP`
    // is small.
    fn as_slice(&self) -> &[T] {
        S::flatten(&self.data[..self.len.min(CAP)])
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        S::flatten_mut(&mut self.data[..self.len.min(CAP)])
    }

    fn capacity(&self) -> Option<usize> {
        Some(CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rank3;

    #[test]
    fn fixed_buffers_hold_up_to_their_capacity() {
        let mut b = FixedBuf::<f32, Rank3<2, 2, 2>, 3>::new();
        assert_eq!(b.capacity(), Some(3));
        b.prepare(3).unwrap()[23] = 1.0;
        assert_eq!(b.as_slice().len(), 24);
        assert_eq!(b.prepare(1).unwrap().len(), 8);
        assert_eq!(b.as_slice().len(), 8);
        let e = b.prepare(4).unwrap_err();
        assert_eq!(e, ShapeError::Capacity { what: "fixed buffer", capacity: 3, requested: 4 });
    }

    #[test]
    fn fixed_buffers_refuse_computed_shapes() {
        type Out = crate::shape::computed::ConvOut<Rank3<1, 5, 5>, 2, 3, 1, 0, 1>;
        let mut b = FixedBuf::<f32, Out, 4>::new();
        assert!(b.prepare(0).unwrap().is_empty());
        let e = b.prepare(1).unwrap_err();
        assert!(matches!(e, ShapeError::Capacity { capacity: 0, requested: 1, .. }), "{e:?}");
        assert!(matches!(e, ShapeError::Capacity { what, .. } if what.contains("use `Heap`")));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn heap_buffers_grow_and_keep_their_allocation() {
        let mut b = HeapBuf::<f64, crate::Rank1<5>>::new();
        b.prepare(10).unwrap();
        let ptr = b.as_slice().as_ptr();
        b.prepare(2).unwrap();
        b.prepare(10).unwrap();
        assert_eq!(b.as_slice().as_ptr(), ptr);
        assert_eq!(b.as_mut_slice().len(), 50);
    }
}
