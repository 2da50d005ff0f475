//! Mini-batches: every sample once per epoch, in an order that follows from `(seed, epoch)`.
//!
//! [`Batches`] keeps the batch size, the seed and whether to drop a last partial batch,
//! plus three buffers it reuses: the epoch's order and one batch of inputs and targets.
//! [`Batches::epoch`] computes the epoch's permutation ([`permutation`]: the identity
//! shuffled by [`Rng::shuffle`] with a generator seeded from `(seed, epoch)`), and
//! [`Epoch::next_batch`] copies the next samples into the batch buffers and lends them out.
//! After the first batch nothing is allocated (as long as the dataset does not grow).
//!
//! The order depends on `(seed, epoch)` alone, never on what ran before, so a checkpoint
//! resumes mid-epoch from a [`Cursor`] (`epoch` and the position in its order):
//! [`Batches::resume`] recomputes the permutation and carries on with the same batches.
//!
//! ```
//! use monograd_nn::data::{Batches, Dataset};
//! let data = Dataset::new((0..10).map(|v| v as f32).collect(), (0..10usize).collect(), 1)?;
//! let mut batches = Batches::new(4, 7)?; // batch size 4, seed 7; `.drop_last(true)` would drop the 2
//! let mut sizes = Vec::new();
//! let mut epoch = batches.epoch(0, &data);
//! while let Some(b) = epoch.next_batch() {
//!     assert_eq!(b.inputs.len(), b.targets.len()); // one value per sample here
//!     sizes.push(b.len());
//! }
//! assert_eq!(sizes, [4, 4, 2]);
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```
//!
//! [`Epoch`] lends each batch out of buffers it overwrites on the next call, which a
//! standard `Iterator` cannot express; loop with `while let Some(batch) = epoch.next_batch()`.

use std::vec::Vec;

use monograd_core::Rng;

use super::{DataError, Dataset};

/// Fills `order` with the permutation of `0..order.len()` of epoch `epoch` under `seed`: a
/// pure function, the same on every run and platform.
///
/// ```
/// use monograd_nn::data::batch::permutation;
/// let (mut a, mut b, mut c) = ([0usize; 8], [0usize; 8], [0usize; 8]);
/// permutation(1, 0, &mut a);
/// permutation(1, 0, &mut b);
/// permutation(1, 1, &mut c);
/// assert_eq!(a, b);
/// assert_ne!(a, c);
/// ```
pub fn permutation(seed: u64, epoch: u64, order: &mut [usize]) {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    epoch_rng(seed, epoch).shuffle(order);
}

/// The generator of one epoch: a key drawn from `seed`, offset by the epoch (golden-ratio
/// step), reseeded through SplitMix64. Changing it changes every seeded run: a format.
fn epoch_rng(seed: u64, epoch: u64) -> Rng {
    let key = Rng::seed(seed).next_u64();
    Rng::seed(key.wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// Where an epoch stands: which epoch, and how many samples of its order were served.
/// Save it with a checkpoint and hand it to [`Batches::resume`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The epoch.
    pub epoch: u64,
    /// Samples of the epoch's order already served (the next batch starts here).
    pub position: usize,
}

/// A batch lent by [`Epoch::next_batch`]: `inputs` holds `len()` samples of `numel` values,
/// row-major; `targets` one per sample; `indices` the samples' places in the dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Batch<'a, X, Y> {
    /// The samples' inputs, flat (`len() * numel` values).
    pub inputs: &'a [X],
    /// The samples' targets.
    pub targets: &'a [Y],
    /// Each sample's index in the dataset.
    pub indices: &'a [usize],
}

impl<X, Y> Batch<'_, X, Y> {
    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the batch is empty (never, for a batch lent by [`Epoch`]).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Mini-batch settings and the buffers reused across batches and epochs.
#[derive(Clone, Debug)]
pub struct Batches<X = f32, Y = usize> {
    size: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
    order: Vec<usize>,
    inputs: Vec<X>,
    targets: Vec<Y>,
}

impl<X: Copy, Y: Copy> Batches<X, Y> {
    /// Shuffled batches of `size` samples from `seed`, keeping a last partial batch. A size of
    /// 0 is an error.
    pub fn new(size: usize, seed: u64) -> Result<Self, DataError> {
        if size == 0 {
            return Err(DataError::argument("batch size", "at least 1", 0));
        }
        Ok(Self {
            size,
            seed,
            shuffle: true,
            drop_last: false,
            order: Vec::new(),
            inputs: Vec::new(),
            targets: Vec::new(),
        })
    }

    /// Batches in the dataset's order, for evaluation; the epoch number plays no part.
    pub fn sequential(size: usize) -> Result<Self, DataError> {
        Ok(Self { shuffle: false, ..Self::new(size, 0)? })
    }

    /// Whether to drop a last batch smaller than the batch size (default: keep it).
    pub fn drop_last(self, drop_last: bool) -> Self {
        Self { drop_last, ..self }
    }

    /// The batch size.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether batches are shuffled.
    pub fn shuffles(&self) -> bool {
        self.shuffle
    }

    /// Whether a last partial batch is dropped.
    pub fn drops_last(&self) -> bool {
        self.drop_last
    }

    /// Batches in one epoch over `n` samples.
    pub fn per_epoch(&self, n: usize) -> usize {
        if self.drop_last {
            n / self.size
        } else {
            n.div_ceil(self.size)
        }
    }

    /// The order of the last epoch started: `order()[k]` is the dataset index of the
    /// `k`-th sample served.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Starts epoch `epoch` over `data` from its beginning.
    pub fn epoch<'a>(&'a mut self, epoch: u64, data: &'a Dataset<X, Y>) -> Epoch<'a, X, Y> {
        self.start(epoch, data);
        Epoch { batches: self, data, epoch, position: 0 }
    }

    /// Resumes an epoch where `at` says it stood: the remaining batches are those an
    /// uninterrupted epoch would still have served. A position past the dataset's end is an
    /// error.
    pub fn resume<'a>(&'a mut self, at: Cursor, data: &'a Dataset<X, Y>) -> Result<Epoch<'a, X, Y>, DataError> {
        if at.position > data.len() {
            return Err(DataError::argument(
                "resume position",
                format_args!("at most the dataset's {} samples", data.len()),
                at.position,
            ));
        }
        self.start(at.epoch, data);
        Ok(Epoch { batches: self, data, epoch: at.epoch, position: at.position })
    }

    fn start(&mut self, epoch: u64, data: &Dataset<X, Y>) {
        let n = data.len();
        self.order.resize(n, 0);
        if self.shuffle {
            permutation(self.seed, epoch, &mut self.order);
        } else {
            for (i, o) in self.order.iter_mut().enumerate() {
                *o = i;
            }
        }
        let want = self.size.min(n);
        self.inputs.reserve_exact((want * data.numel()).saturating_sub(self.inputs.len()));
        self.targets.reserve_exact(want.saturating_sub(self.targets.len()));
    }
}

/// One epoch in progress: lends batch after batch ([`Epoch::next_batch`]) and says where it
/// stands ([`Epoch::cursor`]).
#[derive(Debug)]
pub struct Epoch<'a, X, Y> {
    batches: &'a mut Batches<X, Y>,
    data: &'a Dataset<X, Y>,
    epoch: u64,
    position: usize,
}

impl<X: Copy, Y: Copy> Epoch<'_, X, Y> {
    /// The next batch, copied into the reused buffers, or `None` at the epoch's end (or
    /// before a last partial batch that is dropped).
    pub fn next_batch(&mut self) -> Option<Batch<'_, X, Y>> {
        let n = self.batches.order.len();
        let end = (self.position + self.batches.size).min(n);
        if end == self.position || (self.batches.drop_last && end - self.position < self.batches.size) {
            return None;
        }
        let indices = &self.batches.order[self.position..end];
        self.batches.inputs.clear();
        self.batches.targets.clear();
        for &i in indices {
            self.batches.inputs.extend_from_slice(self.data.input(i));
            self.batches.targets.push(*self.data.target(i));
        }
        self.position = end;
        Some(Batch { inputs: &self.batches.inputs, targets: &self.batches.targets, indices })
    }

    /// Where the epoch stands: after the batches served so far.
    pub fn cursor(&self) -> Cursor {
        Cursor { epoch: self.epoch, position: self.position }
    }

    /// Batches still to come.
    pub fn remaining(&self) -> usize {
        self.batches.per_epoch(self.batches.order.len().saturating_sub(self.position))
    }

    /// The epoch's order (see [`Batches::order`]).
    pub fn order(&self) -> &[usize] {
        &self.batches.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, numel: usize) -> Dataset<f32, usize> {
        Dataset::new((0..n * numel).map(|v| v as f32).collect(), (0..n).collect(), numel).unwrap()
    }

    /// Every batch of an epoch: (inputs, targets).
    fn run(b: &mut Batches<f32, usize>, epoch: u64, d: &Dataset<f32, usize>) -> Vec<(Vec<f32>, Vec<usize>)> {
        let mut out = Vec::new();
        let mut e = b.epoch(epoch, d);
        while let Some(x) = e.next_batch() {
            out.push((x.inputs.to_vec(), x.targets.to_vec()));
        }
        out
    }

    #[test]
    fn every_sample_once_per_epoch_with_its_own_inputs() {
        let d = data(103, 3);
        let mut b = Batches::new(10, 5).unwrap();
        for epoch in 0..3 {
            let batches = run(&mut b, epoch, &d);
            assert_eq!(batches.len(), 11);
            assert_eq!(batches.last().unwrap().1.len(), 3);
            let mut seen: Vec<usize> = batches.iter().flat_map(|(_, y)| y.iter().copied()).collect();
            for (x, y) in &batches {
                for (k, &i) in y.iter().enumerate() {
                    assert_eq!(&x[k * 3..k * 3 + 3], d.input(i));
                }
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..103).collect::<Vec<_>>());
        }
    }

    #[test]
    fn reproducible_from_the_seed_and_different_across_epochs_and_seeds() {
        let d = data(50, 1);
        let mut a = Batches::new(8, 1).unwrap();
        let mut b = Batches::new(8, 1).unwrap();
        let mut c = Batches::new(8, 2).unwrap();
        // b runs epochs in another order: the order depends on (seed, epoch) alone.
        let b1 = run(&mut b, 1, &d);
        let b0 = run(&mut b, 0, &d);
        assert_eq!(run(&mut a, 0, &d), b0);
        assert_eq!(run(&mut a, 1, &d), b1);
        assert_ne!(b0, b1);
        assert_ne!(run(&mut c, 0, &d), b0);
        let mut s = Batches::sequential(8).unwrap();
        let seq: Vec<usize> = run(&mut s, 3, &d).into_iter().flat_map(|(_, y)| y).collect();
        assert_eq!(seq, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn a_partial_last_batch_is_kept_or_dropped() {
        let d = data(10, 2);
        let mut keep = Batches::new(4, 0).unwrap();
        let mut drop = Batches::new(4, 0).unwrap().drop_last(true);
        assert_eq!((keep.per_epoch(10), drop.per_epoch(10), drop.per_epoch(3)), (3, 2, 0));
        let k = run(&mut keep, 0, &d);
        let dr = run(&mut drop, 0, &d);
        assert_eq!(k.iter().map(|b| b.1.len()).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(dr.iter().map(|b| b.1.len()).collect::<Vec<_>>(), [4, 4]);
        assert_eq!(&k[..2], &dr[..]);
        let empty = data(0, 2);
        assert!(run(&mut keep, 0, &empty).is_empty());
        assert!(matches!(Batches::<f32, usize>::new(0, 0), Err(DataError::Argument { .. })));
    }

    #[test]
    fn resuming_from_a_cursor_serves_the_rest_of_the_epoch() {
        let d = data(30, 2);
        let mut b = Batches::new(4, 9).unwrap();
        let whole = run(&mut b, 2, &d);
        let mut e = b.epoch(2, &d);
        e.next_batch();
        e.next_batch();
        let at = e.cursor();
        assert_eq!((at, e.remaining()), (Cursor { epoch: 2, position: 8 }, 6));
        let mut fresh = Batches::new(4, 9).unwrap();
        let mut e = fresh.resume(at, &d).unwrap();
        let mut rest = Vec::new();
        while let Some(x) = e.next_batch() {
            rest.push((x.inputs.to_vec(), x.targets.to_vec()));
        }
        assert_eq!(rest, whole[2..]);
        assert!(fresh.resume(Cursor { epoch: 0, position: 31 }, &d).is_err());
    }

    #[test]
    fn buffers_are_reused_across_batches_and_epochs() {
        let d = data(20, 4);
        let mut b = Batches::new(6, 3).unwrap();
        let mut ptrs = Vec::new();
        for epoch in 0..3 {
            let mut e = b.epoch(epoch, &d);
            while let Some(x) = e.next_batch() {
                ptrs.push((x.inputs.as_ptr() as usize, x.targets.as_ptr() as usize));
            }
        }
        assert!(ptrs.windows(2).all(|w| w[0] == w[1]), "a buffer moved: {ptrs:?}");
        assert!(b.inputs.capacity() == 24 && b.targets.capacity() == 6);
    }
}
