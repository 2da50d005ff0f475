//! Inference with the dense layers' weights packed once: [`Prepared`] borrows a network,
//! copies each of its weight matrices into the matrix kernel's panels
//! ([`prepack`](crate::kernels::gemm::prepack)), and runs its forward pass with
//! those panels, so that a call packs only the activations.
//!
//! The panels cannot go stale: `Prepared` holds the network by shared reference for as
//! long as it lives, so its weights cannot change in the meantime, and a layer finds its
//! panels by the address and length of its own weights ([`PackedWeights::find`]), so the
//! panels of another network are never used. Building one allocates (feature `alloc`);
//! each forward pass then allocates nothing beyond what [`Network::forward`] does.

use crate::kernels::gemm::PackedLayout;
#[cfg(feature = "alloc")]
use crate::{
    kernels::gemm::{self, MatRef},
    module::{Kind, Path},
    storage::Storage,
    Network, Scalar, ShapeError,
};

/// Where one weight matrix's panels are.
#[derive(Clone, Copy, Debug)]
pub struct PackedEntry {
    addr: usize,
    len: usize,
    offset: usize,
    layout: PackedLayout,
}

/// Packed weight panels, as a layer's [`Ctx`](crate::Ctx) carries them; only a
/// [`Prepared`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct PackedWeights<'a, T> {
    data: &'a [T],
    entries: &'a [PackedEntry],
}

impl<'a, T> PackedWeights<'a, T> {
    /// The panels of the weight matrix `w` (`[out, in]`, row-major) and their layout, if
    /// `w` itself (the same memory) was packed.
    pub fn find(&self, w: &[T]) -> Option<(&'a [T], &'a PackedLayout)> {
        let addr = w.as_ptr() as usize;
        let e = self.entries.iter().find(|e| e.addr == addr && e.len == w.len())?;
        Some((&self.data[e.offset..], &e.layout))
    }
}

/// A network borrowed for inference with its weight matrices packed once.
///
/// Through the `monograd` facade (this crate cannot run `network!` in its own doctests;
/// tests/network_prepared.rs of the workspace runs the same):
///
/// ```rust,ignore
/// use monograd::prelude::*;
/// use monograd::core::prepared::Prepared;
/// network! { struct Net { input: [64], fc1: Linear<64, 32>, act: ReLU, fc2: Linear<32, 10> } }
/// let net = Net::new(&mut Rng::seed(0));
/// let x = vec![0.5f32; 16 * 64];
/// let (mut a, mut b) = (Net::state::<Heap>(), Net::state::<Heap>());
/// let prepared = Prepared::new(&net);
/// assert_eq!(prepared.forward(&x, &mut a)?, net.forward(&x, &mut b)?);
/// # Ok::<(), ShapeError>(())
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct Prepared<'a, T, N> {
    net: &'a N,
    data: alloc::vec::Vec<T>,
    entries: alloc::vec::Vec<PackedEntry>,
}

#[cfg(feature = "alloc")]
impl<'a, T: Scalar, N: Network<T>> Prepared<'a, T, N> {
    /// Packs every two-dimensional parameter of `net` (the weights of its dense layers,
    /// `[out, in]`) as the `B = Wᵀ` of their forward products. Where the running build
    /// has no kernel for packed operands (or `T` is not `f32`), nothing is packed and the
    /// forward pass is the network's own.
    pub fn new(net: &'a N) -> Self {
        let mut data = alloc::vec::Vec::new();
        let mut entries = alloc::vec::Vec::new();
        net.visit(&Path::ROOT, &mut |t| {
            let [out, inp] = t.shape else { return };
            if t.kind != Kind::Param || (*out, *inp) == (0, 0) {
                return;
            }
            let Ok(w) = MatRef::row_major(t.values, *out, *inp) else { return };
            let offset = data.len();
            data.resize(offset + gemm::prepacked_len(*inp, *out), T::ZERO);
            match gemm::prepack(w.t(), &mut data[offset..]) {
                Some(layout) => {
                    data.truncate(offset + layout.len());
                    entries.push(PackedEntry { addr: t.values.as_ptr() as usize, len: t.values.len(), offset, layout });
                }
                None => data.truncate(offset),
            }
        });
        Self { net, data, entries }
    }

    /// The network.
    pub fn net(&self) -> &'a N {
        self.net
    }

    /// Bytes of packed panels held.
    pub fn packed_bytes(&self) -> usize {
        self.data.len() * core::mem::size_of::<T>()
    }

    /// The panels, as layers receive them.
    pub fn weights(&self) -> PackedWeights<'_, T> {
        PackedWeights { data: &self.data, entries: &self.entries }
    }

    /// [`Network::forward`] with the packed weights: the same results to the bit.
    ///
    /// # Errors
    /// As [`Network::forward`].
    pub fn forward<'s, S: Storage>(&self, x: &[T], state: &'s mut N::State<S>) -> Result<&'s [T], ShapeError> {
        self.net.forward_packed(x, state, self.weights())
    }
}
