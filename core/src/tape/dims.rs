//! The run-time shape of a tensor on the tape.

use core::fmt;

use crate::ShapeError;

/// The shape of a tensor on a [`Tape`](super::Tape): one to four dimensions, row-major.
/// Images are NCHW (`[batch, channels, height, width]`), sequences `[batch, channels,
/// length]`, dense activations `[batch, features]`.
///
/// Every op that takes a shape takes `impl Into<Dims>`, so an array of one to four sizes
/// will do; other lengths fail to compile.
///
/// ```
/// use monograd_core::tape::Dims;
/// let d = Dims::from([2, 3, 4]);
/// assert_eq!(d.as_slice(), &[2, 3, 4]);
/// assert_eq!(d.numel(), Some(24));
/// assert_eq!(d.to_string(), "[2, 3, 4]");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    rank: usize,
    dims: [usize; 4],
}

impl<const N: usize> From<[usize; N]> for Dims {
    fn from(d: [usize; N]) -> Self {
        const { assert!(N >= 1 && N <= 4, "a tape tensor has one to four dimensions") };
        let mut dims = [1; 4];
        dims[..N].copy_from_slice(&d);
        Self { rank: N, dims }
    }
}

impl Dims {
    /// The shape with these sizes, if there are one to four of them.
    pub fn from_slice(d: &[usize]) -> Option<Self> {
        if d.is_empty() || d.len() > 4 {
            return None;
        }
        let mut dims = [1; 4];
        dims[..d.len()].copy_from_slice(d);
        Some(Self { rank: d.len(), dims })
    }

    /// The sizes, outermost first.
    pub fn as_slice(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of values, or `None` if it overflows `usize`.
    pub fn numel(&self) -> Option<usize> {
        self.as_slice().iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// The size of the last dimension: the length of a row.
    pub(crate) fn last(&self) -> usize {
        self.dims[self.rank - 1]
    }

    /// Sets the size of dimension `axis`, which must exist.
    pub(crate) fn set(&mut self, axis: usize, size: usize) {
        self.dims[..self.rank][axis] = size;
    }

    /// The same sizes with the last one replaced.
    pub(crate) fn with_last(mut self, last: usize) -> Self {
        self.dims[self.rank - 1] = last;
        self
    }

    /// The sizes, if there are `N` of them; else a [`ShapeError::Rank`] naming `what`.
    pub(crate) fn expect<const N: usize>(&self, what: &'static str) -> Result<[usize; N], ShapeError> {
        if self.rank != N {
            return Err(ShapeError::Rank { what, expected: N, found: self.rank });
        }
        let mut d = [0; N];
        d.copy_from_slice(self.as_slice());
        Ok(d)
    }

    /// An error saying how `other` differs from `self`: in rank, or at the first axis
    /// whose size differs.
    pub(crate) fn mismatch(&self, what: &'static str, other: &Dims) -> ShapeError {
        if self.rank != other.rank {
            return ShapeError::Rank { what, expected: self.rank, found: other.rank };
        }
        let axis = (0..self.rank).find(|&a| self.dims[a] != other.dims[a]).unwrap_or(0);
        ShapeError::Dim { what, axis, expected: self.dims[axis], found: other.dims[axis] }
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}
