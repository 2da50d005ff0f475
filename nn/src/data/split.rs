//! Train/validation splits of a training part: by position, or drawn from a seed.
//!
//! Validation data comes out of the training part only; the test part is never split,
//! tuned on, or looked at before the final evaluation. A seeded holdout depends on the
//! seed and the number of samples alone, so it is the same on every run and machine, and
//! both parts keep the samples' original order.
//!
//! ```
//! use monograd_nn::data::{Dataset, Holdout};
//! let ds = Dataset::new((0..10).map(|v| v as f32).collect(), (0..10usize).collect(), 1)?;
//! let (train, val) = ds.holdout(Holdout::Last(3))?;
//! assert_eq!((train.len(), val.targets()), (7, &[7, 8, 9][..]));
//! let (train, val) = ds.holdout(Holdout::Seeded { len: 3, seed: 1 })?;
//! assert_eq!((train.len(), val.len()), (7, 3));
//! assert_eq!(ds.holdout(Holdout::Seeded { len: 3, seed: 1 })?.1, val); // reproducible
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```

use std::vec::Vec;

use monograd_core::Rng;

use super::{DataError, Dataset};

/// Which samples of a training part are held out for validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holdout {
    /// The first `k` samples validate; the rest train.
    First(usize),
    /// The last `k` samples validate; the first `n - k` train (training on "the first
    /// `n - k` samples").
    Last(usize),
    /// `len` samples drawn without replacement by a generator seeded with `seed`.
    Seeded {
        /// Samples held out.
        len: usize,
        /// The seed of the draw.
        seed: u64,
    },
}

impl Holdout {
    /// The number of samples held out.
    pub fn len(&self) -> usize {
        match *self {
            Self::First(k) | Self::Last(k) | Self::Seeded { len: k, .. } => k,
        }
    }

    /// Whether nothing is held out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The indices of the training and the validation samples among `n`, each ascending.
    /// Holding out more than `n` is an error.
    ///
    /// ```
    /// use monograd_nn::data::Holdout;
    /// assert_eq!(Holdout::First(2).indices(5)?, (vec![2, 3, 4], vec![0, 1]));
    /// # Ok::<(), monograd_nn::data::DataError>(())
    /// ```
    pub fn indices(&self, n: usize) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        let k = self.len();
        if k > n {
            return Err(DataError::argument(
                "validation holdout",
                format_args!("at most the {n} samples of the training part"),
                format_args!("{k} samples"),
            ));
        }
        Ok(match *self {
            Self::First(_) => ((k..n).collect(), (0..k).collect()),
            Self::Last(_) => ((0..n - k).collect(), (n - k..n).collect()),
            Self::Seeded { seed, .. } => {
                let mut order: Vec<usize> = (0..n).collect();
                Rng::seed(seed).shuffle(&mut order);
                let mut val = order.split_off(n - k);
                order.sort_unstable();
                val.sort_unstable();
                (order, val)
            }
        })
    }
}

impl<X: Clone, Y: Clone> Dataset<X, Y> {
    /// Splits off a validation set: `(train, validation)`, each in the original order.
    pub fn holdout(&self, holdout: Holdout) -> Result<(Self, Self), DataError> {
        let (train, val) = holdout.indices(self.len())?;
        Ok((self.select(&train)?, self.select(&val)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn holdouts_partition_the_samples() {
        let n = 100;
        for h in [Holdout::First(10), Holdout::Last(10), Holdout::Seeded { len: 10, seed: 3 }, Holdout::Last(0)] {
            let (t, v) = h.indices(n).unwrap();
            assert_eq!((t.len(), v.len()), (n - h.len(), h.len()));
            let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
            assert!(t.windows(2).all(|w| w[0] < w[1]) && v.windows(2).all(|w| w[0] < w[1]));
        }
        let a = Holdout::Seeded { len: 10, seed: 3 }.indices(n).unwrap();
        let b = Holdout::Seeded { len: 10, seed: 4 }.indices(n).unwrap();
        assert_ne!(a.1, b.1);
        assert_ne!(a.1, (90..100).collect::<Vec<_>>());
        assert!(matches!(Holdout::Last(101).indices(n), Err(DataError::Argument { .. })));
        let ds = Dataset::new(vec![0.0f32; 4], vec![0usize, 1, 2, 3], 1).unwrap();
        let (t, v) = ds.holdout(Holdout::First(1)).unwrap();
        assert_eq!((t.targets(), v.targets()), (&[1, 2, 3][..], &[0][..]));
    }
}
