//! Per-sample shapes as types, and batches of run-time length on top of them.
//!
//! A shape is a zero-sized type whose dimensions are const generics: [`Rank1<784>`],
//! [`Rank3<1, 28, 28>`]. Layers name their input and output shapes with these types, so a
//! mismatch is a type error, and the `network!` macro computes every shape from the
//! literals it is given to report mismatches in words before the type checker runs.
//!
//! Data is stored flat and row-major (`[batch, dims...]`, PyTorch's NCHW for images). A
//! [`Batch`] is a borrowed slice of whole samples with its shape in the type; its length
//! is known only at run time. [`Shape::Sample`] is the nested-array type of one sample
//! (`[[[T; 28]; 28]; 1]`), so statically sized buffers (`[S::Sample<T>; CAP]`) need no
//! generic arithmetic, and `&[[f32; 784]]` is viewed as a batch without copying.

pub mod check;
pub mod computed;

use core::fmt::Debug;
use core::marker::PhantomData;

use crate::error::ShapeError;

/// The static shape of one sample.
///
/// ```
/// use monograd_core::shape::{Rank3, Shape};
/// assert_eq!(<Rank3<1, 28, 28>>::NUMEL, 784);
/// assert_eq!(<Rank3<1, 28, 28>>::DIMS, &[1, 28, 28]);
/// ```
pub trait Shape: Copy + Default + Debug + Send + Sync + 'static {
    /// Number of elements in one sample.
    const NUMEL: usize;
    /// The dimensions, outermost first.
    const DIMS: &'static [usize];
    /// One sample as a nested array, e.g. `[[T; W]; H]` for [`Rank2<H, W>`].
    type Sample<T: Copy>: Copy;

    /// A sample with every element set to `v`.
    fn filled<T: Copy>(v: T) -> Self::Sample<T>;
    /// A slice of samples as one flat slice (same address, no copy).
    fn flatten<T: Copy>(samples: &[Self::Sample<T>]) -> &[T];
    /// A mutable slice of samples as one flat slice (same address, no copy).
    fn flatten_mut<T: Copy>(samples: &mut [Self::Sample<T>]) -> &mut [T];
}

/// A vector of `N` features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rank1<const N: usize>;

/// A matrix: `R` rows of `C` (a sequence of `R` steps of `C` features, or a 1-D signal of
/// `R` channels and `C` positions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rank2<const R: usize, const C: usize>;

/// An image: `C` channels of `H` by `W` (PyTorch's CHW).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rank3<const C: usize, const H: usize, const W: usize>;

impl<const N: usize> Shape for Rank1<N> {
    const NUMEL: usize = N;
    const DIMS: &'static [usize] = &[N];
    type Sample<T: Copy> = [T; N];

    fn filled<T: Copy>(v: T) -> [T; N] {
        [v; N]
    }
    fn flatten<T: Copy>(s: &[[T; N]]) -> &[T] {
        s.as_flattened()
    }
    fn flatten_mut<T: Copy>(s: &mut [[T; N]]) -> &mut [T] {
        s.as_flattened_mut()
    }
}

impl<const R: usize, const C: usize> Shape for Rank2<R, C> {
    const NUMEL: usize = R * C;
    const DIMS: &'static [usize] = &[R, C];
    type Sample<T: Copy> = [[T; C]; R];

    fn filled<T: Copy>(v: T) -> [[T; C]; R] {
        [[v; C]; R]
    }
    fn flatten<T: Copy>(s: &[[[T; C]; R]]) -> &[T] {
        s.as_flattened().as_flattened()
    }
    fn flatten_mut<T: Copy>(s: &mut [[[T; C]; R]]) -> &mut [T] {
        s.as_flattened_mut().as_flattened_mut()
    }
}

impl<const C: usize, const H: usize, const W: usize> Shape for Rank3<C, H, W> {
    const NUMEL: usize = C * H * W;
    const DIMS: &'static [usize] = &[C, H, W];
    type Sample<T: Copy> = [[[T; W]; H]; C];

    fn filled<T: Copy>(v: T) -> [[[T; W]; H]; C] {
        [[[v; W]; H]; C]
    }
    fn flatten<T: Copy>(s: &[[[[T; W]; H]; C]]) -> &[T] {
        s.as_flattened().as_flattened().as_flattened()
    }
    fn flatten_mut<T: Copy>(s: &mut [[[[T; W]; H]; C]]) -> &mut [T] {
        s.as_flattened_mut().as_flattened_mut().as_flattened_mut()
    }
}

/// A borrowed batch of samples of shape `S`: `len() * S::NUMEL` values, row-major.
///
/// ```
/// use monograd_core::shape::{Batch, Rank1};
///
/// let samples = [[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
/// let batch = Batch::<f32, Rank1<2>>::from_samples(&samples);
/// assert_eq!(batch.len(), 3);
/// assert_eq!(batch.sample(1), &[3.0, 4.0]);
///
/// // A flat slice whose length is not a whole number of samples is an error, not a panic.
/// let err = Batch::<f32, Rank1<2>>::new(&[1.0, 2.0, 3.0]).unwrap_err();
/// assert!(err.to_string().contains("whole number of samples"));
/// ```
#[derive(Debug)]
pub struct Batch<'a, T, S: Shape> {
    data: &'a [T],
    shape: PhantomData<S>,
}

impl<T, S: Shape> Clone for Batch<'_, T, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, S: Shape> Copy for Batch<'_, T, S> {}

impl<'a, T: Copy, S: Shape> Batch<'a, T, S> {
    /// Views a flat slice as a batch; its length must be a multiple of `S::NUMEL`.
    pub fn new(data: &'a [T]) -> Result<Self, ShapeError> {
        check_whole_samples::<S>("Batch::new", data.len())?;
        Ok(Self { data, shape: PhantomData })
    }

    /// Views a slice of nested-array samples (`&[[f32; 784]]`) as a batch, without copying.
    pub fn from_samples(samples: &'a [S::Sample<T>]) -> Self {
        Self { data: S::flatten(samples), shape: PhantomData }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(S::NUMEL).unwrap_or(0)
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// All values, flat.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }

    /// The values of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`, like slice indexing.
    pub fn sample(&self, i: usize) -> &'a [T] {
        &self.data[i * S::NUMEL..(i + 1) * S::NUMEL]
    }
}

/// A mutable batch of samples of shape `S`.
#[derive(Debug)]
pub struct BatchMut<'a, T, S: Shape> {
    data: &'a mut [T],
    shape: PhantomData<S>,
}

impl<'a, T: Copy, S: Shape> BatchMut<'a, T, S> {
    /// Views a flat mutable slice as a batch; its length must be a multiple of `S::NUMEL`.
    pub fn new(data: &'a mut [T]) -> Result<Self, ShapeError> {
        check_whole_samples::<S>("BatchMut::new", data.len())?;
        Ok(Self { data, shape: PhantomData })
    }

    /// Views mutable nested-array samples as a batch, without copying.
    pub fn from_samples(samples: &'a mut [S::Sample<T>]) -> Self {
        Self { data: S::flatten_mut(samples), shape: PhantomData }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(S::NUMEL).unwrap_or(0)
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// All values, flat.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.data
    }

    /// All values, flat, read-only.
    pub fn as_slice(&self) -> &[T] {
        self.data
    }
}

fn check_whole_samples<S: Shape>(what: &'static str, len: usize) -> Result<(), ShapeError> {
    if S::NUMEL == 0 || !len.is_multiple_of(S::NUMEL) {
        return Err(ShapeError::NotWholeSamples { what, len, sample: S::NUMEL });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_samples_flatten_in_place() {
        let mut imgs = [<Rank3<2, 3, 4>>::filled(0.0f32); 5];
        imgs[1][1][2][3] = 7.0;
        let flat = <Rank3<2, 3, 4>>::flatten(&imgs);
        assert_eq!(flat.len(), 5 * 24);
        assert_eq!(flat[24 + 12 + 2 * 4 + 3], 7.0);
        assert_eq!(flat.as_ptr(), imgs.as_ptr().cast());
    }

    #[test]
    fn batch_rejects_partial_samples() {
        assert!(Batch::<f32, Rank2<2, 2>>::new(&[0.0; 8]).is_ok());
        let e = Batch::<f32, Rank2<2, 2>>::new(&[0.0; 7]).unwrap_err();
        assert_eq!(e, ShapeError::NotWholeSamples { what: "Batch::new", len: 7, sample: 4 });
    }
}
