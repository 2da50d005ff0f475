//! [`Dataset`]: samples of a fixed number of values, flat and row-major, with one target each.
//!
//! The inputs of sample `i` are `inputs[i * numel..(i + 1) * numel]`, the layout every layer
//! reads (`[batch, dims...]`), so a batch is a contiguous run of samples.

use std::vec::Vec;

use monograd_core::ShapeError;

use super::DataError;

/// `len` samples of `numel` values each (`X`, `f32` by default) and one target each (`Y`:
/// a class index, `usize` by default, or a regression value).
///
/// ```
/// use monograd_nn::data::Dataset;
/// let ds = Dataset::new(vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0], vec![1usize, 0, 1], 2)?;
/// assert_eq!((ds.len(), ds.numel()), (3, 2));
/// assert_eq!(ds.input(1), &[2.0, 3.0]);
/// assert_eq!(*ds.target(2), 1);
/// let picked = ds.select(&[2, 0])?;
/// assert_eq!(picked.inputs(), &[4.0, 5.0, 0.0, 1.0]);
/// # Ok::<(), monograd_nn::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<X = f32, Y = usize> {
    inputs: Vec<X>,
    targets: Vec<Y>,
    numel: usize,
}

impl<X, Y> Dataset<X, Y> {
    /// A dataset of `targets.len()` samples of `numel` values each; `inputs` must hold
    /// exactly `targets.len() * numel` values, and `numel` must be at least 1.
    pub fn new(inputs: Vec<X>, targets: Vec<Y>, numel: usize) -> Result<Self, DataError> {
        if numel == 0 {
            return Err(DataError::argument("values per sample", "at least 1", 0));
        }
        let expected = targets.len().saturating_mul(numel);
        if inputs.len() != expected {
            return Err(ShapeError::Length {
                what: "dataset inputs (targets x values per sample)",
                expected,
                found: inputs.len(),
            }
            .into());
        }
        Ok(Self { inputs, targets, numel })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Values per sample.
    pub fn numel(&self) -> usize {
        self.numel
    }

    /// Every sample's inputs, flat and row-major (`len * numel` values).
    pub fn inputs(&self) -> &[X] {
        &self.inputs
    }

    /// Every sample's inputs, to transform in place (normalisation).
    pub fn inputs_mut(&mut self) -> &mut [X] {
        &mut self.inputs
    }

    /// Every sample's target.
    pub fn targets(&self) -> &[Y] {
        &self.targets
    }

    /// Every sample's target, to transform in place.
    pub fn targets_mut(&mut self) -> &mut [Y] {
        &mut self.targets
    }

    /// The inputs of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`, as slice indexing does; [`Dataset::get`] returns an `Option`.
    pub fn input(&self, i: usize) -> &[X] {
        &self.inputs[i * self.numel..(i + 1) * self.numel]
    }

    /// The target of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn target(&self, i: usize) -> &Y {
        &self.targets[i]
    }

    /// Sample `i`'s inputs and target, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<(&[X], &Y)> {
        let y = self.targets.get(i)?;
        Some((&self.inputs[i * self.numel..(i + 1) * self.numel], y))
    }

    /// The inputs and targets, by value.
    pub fn into_parts(self) -> (Vec<X>, Vec<Y>) {
        (self.inputs, self.targets)
    }
}

impl<X: Clone, Y: Clone> Dataset<X, Y> {
    /// A new dataset of the samples at `indices`, in that order (repeats allowed).
    ///
    /// An index past the end is an error, not a panic.
    pub fn select(&self, indices: &[usize]) -> Result<Self, DataError> {
        let mut inputs = Vec::with_capacity(indices.len() * self.numel);
        let mut targets = Vec::with_capacity(indices.len());
        for &i in indices {
            let Some((x, y)) = self.get(i) else {
                return Err(ShapeError::IndexOutOfRange { what: "dataset sample", index: i, bound: self.len() }.into());
            };
            inputs.extend_from_slice(x);
            targets.push(y.clone());
        }
        Ok(Self { inputs, targets, numel: self.numel })
    }

    /// The first `k` samples and the rest, in their order. `k` past the end is an error.
    ///
    /// ```
    /// use monograd_nn::data::Dataset;
    /// let ds = Dataset::new(vec![0.0f32, 1.0, 2.0], vec![0usize, 1, 2], 1)?;
    /// let (head, tail) = ds.split_at(2)?;
    /// assert_eq!((head.targets(), tail.targets()), (&[0, 1][..], &[2][..]));
    /// # Ok::<(), monograd_nn::data::DataError>(())
    /// ```
    pub fn split_at(&self, k: usize) -> Result<(Self, Self), DataError> {
        if k > self.len() {
            return Err(DataError::argument("split point", format_args!("at most {} samples", self.len()), k));
        }
        let cut = k * self.numel;
        let head = Self { inputs: self.inputs[..cut].to_vec(), targets: self.targets[..k].to_vec(), numel: self.numel };
        let tail = Self { inputs: self.inputs[cut..].to_vec(), targets: self.targets[k..].to_vec(), numel: self.numel };
        Ok((head, tail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn lengths_must_agree_and_indices_must_exist() {
        let e = Dataset::new(vec![0.0f32; 5], vec![0usize; 3], 2).unwrap_err();
        assert!(matches!(e, DataError::Shape(ShapeError::Length { expected: 6, found: 5, .. })), "{e}");
        assert!(matches!(Dataset::<f32, usize>::new(vec![], vec![], 0), Err(DataError::Argument { .. })));
        let ds = Dataset::new(vec![1.0f32, 2.0], vec![7usize, 8], 1).unwrap();
        assert!(ds.get(2).is_none());
        let e = ds.select(&[0, 2]).unwrap_err();
        assert!(matches!(e, DataError::Shape(ShapeError::IndexOutOfRange { index: 2, bound: 2, .. })), "{e}");
        assert!(ds.split_at(3).is_err());
        let (a, b) = ds.split_at(0).unwrap();
        assert_eq!((a.len(), b.len()), (0, 2));
    }
}
