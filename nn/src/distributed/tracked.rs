//! [`Tracked`]: a network that knows whether it changed since a data-parallel step left
//! the workers' replicas equal to it, so that the next step need not copy it.

use core::ops::{Deref, DerefMut};

#[cfg(doc)]
use super::DataParallel;

/// A network that [`DataParallel::train_step`] keeps in step with its workers' replicas,
/// so that they need not copy its weights each step: any mutable access (through
/// `DerefMut`) marks it changed, and the next step copies it again.
///
/// ```
/// use monograd_core::Rng;
/// use monograd_nn::distributed::Tracked;
/// # type Net = monograd_nn::train::testing::Dense<2, 2>;
/// let mut net = Tracked::new(Net::new(&mut Rng::seed(0)));
/// net.0.bias[0] = 1.0; // allowed: the next step copies the weights again
/// let net: Net = net.into_inner();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Tracked<N> {
    pub(super) net: N,
    /// The pool and its step whose replicas hold this network's weights, if any.
    pub(super) synced: Option<(u64, u64)>,
}

impl<N> Tracked<N> {
    /// `net`, in step with no pool yet.
    pub fn new(net: N) -> Self {
        Self { net, synced: None }
    }

    /// The network.
    pub fn into_inner(self) -> N {
        self.net
    }
}

/// Compares the networks only, not which pool they are in step with.
impl<N: PartialEq> PartialEq for Tracked<N> {
    fn eq(&self, other: &Self) -> bool {
        self.net == other.net
    }
}

impl<N> Deref for Tracked<N> {
    type Target = N;
    fn deref(&self) -> &N {
        &self.net
    }
}

impl<N> DerefMut for Tracked<N> {
    /// The network, marked changed: the next step copies it into the replicas.
    fn deref_mut(&mut self) -> &mut N {
        self.synced = None;
        &mut self.net
    }
}
