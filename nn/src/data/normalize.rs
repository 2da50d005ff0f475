//! Normalisation: `x' = (x - mean) / std`, per feature or with one global pair.
//!
//! Statistics are fitted on the training part only and then applied, unchanged, to the
//! validation and test parts, so that nothing about held-out data leaks into training.
//! They are computed in `f64` with two passes (mean, then the population variance, as
//! PyTorch's and scikit-learn's scalers do). A feature that never varies has std 0; it is
//! stored as 1, so the feature becomes 0 instead of NaN.
//!
//! ```
//! use monograd_nn::data::Normalize;
//! let train = [1.0f32, 10.0, 3.0, 30.0]; // 2 samples of 2 features
//! let norm = Normalize::fit_per_feature(&train, 2)?;
//! assert_eq!((norm.mean(), norm.std()), (&[2.0, 20.0][..], &[1.0, 10.0][..]));
//! let mut test = [2.0f32, 40.0];
//! norm.apply(&mut test)?;
//! assert_eq!(test, [0.0, 2.0]);
//! norm.invert(&mut test)?;
//! assert_eq!(test, [2.0, 40.0]);
//! # Ok::<(), monograd_nn::data::DataError>(())
//! ```

use std::vec;
use std::vec::Vec;

use monograd_core::{Scalar, ShapeError};

use super::{DataError, Dataset};

/// MNIST's usual pixel mean (of `[0, 1]` pixels over the 60,000 training digits).
pub const MNIST_MEAN: f32 = 0.1307;
/// MNIST's usual pixel standard deviation.
pub const MNIST_STD: f32 = 0.3081;

/// A mean and standard deviation per feature, or one pair for every value (global).
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize<T = f32> {
    mean: Vec<T>,
    std: Vec<T>,
}

impl Normalize<f32> {
    /// MNIST's usual global statistics, ([`MNIST_MEAN`], [`MNIST_STD`]) = (0.1307, 0.3081).
    ///
    /// ```
    /// use monograd_nn::data::Normalize;
    /// let mut px = [0.1307f32, 1.0];
    /// Normalize::mnist().apply(&mut px)?;
    /// assert!(px[0].abs() < 1e-7 && (px[1] - 2.8215).abs() < 1e-4);
    /// # Ok::<(), monograd_nn::data::DataError>(())
    /// ```
    pub fn mnist() -> Self {
        Self { mean: vec![MNIST_MEAN], std: vec![MNIST_STD] }
    }
}

impl<T: Scalar> Normalize<T> {
    /// Given statistics: one pair (global) or one per feature. Lengths must match, and
    /// every std must be finite and positive, every mean finite.
    pub fn new(mean: Vec<T>, std: Vec<T>) -> Result<Self, DataError> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(ShapeError::Length {
                what: "normalisation std (one per mean)",
                expected: mean.len(),
                found: std.len(),
            }
            .into());
        }
        if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
            return Err(DataError::argument(
                "normalisation mean",
                "finite values",
                format_args!("{:?} at {i}", mean[i]),
            ));
        }
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && s.to_f64() > 0.0)) {
            return Err(DataError::argument(
                "normalisation std",
                "finite positive values",
                format_args!("{:?} at {i}", std[i]),
            ));
        }
        Ok(Self { mean, std })
    }

    /// One global pair, fitted on every value of `train`.
    pub fn fit_global(train: &[T]) -> Result<Self, DataError> {
        let (mean, std) = fit(train.iter().copied(), "global")?;
        Ok(Self { mean: vec![mean], std: vec![std] })
    }

    /// One pair per feature, fitted on `train`, samples of `numel` features each.
    pub fn fit_per_feature(train: &[T], numel: usize) -> Result<Self, DataError> {
        let n = samples(train.len(), numel, "normalisation fit")?;
        if n == 0 {
            return Err(DataError::argument("normalisation fit", "at least one sample", "none"));
        }
        let mut mean = Vec::with_capacity(numel);
        let mut std = Vec::with_capacity(numel);
        for f in 0..numel {
            let (m, s) = fit(train.iter().skip(f).step_by(numel).copied(), "per feature")?;
            mean.push(m);
            std.push(s);
        }
        Ok(Self { mean, std })
    }

    /// Per-feature statistics fitted on a training [`Dataset`]'s inputs.
    pub fn fit_dataset<Y>(train: &Dataset<T, Y>) -> Result<Self, DataError> {
        Self::fit_per_feature(train.inputs(), train.numel())
    }

    /// The means: one, or one per feature.
    pub fn mean(&self) -> &[T] {
        &self.mean
    }

    /// The standard deviations: one, or one per feature.
    pub fn std(&self) -> &[T] {
        &self.std
    }

    /// Whether one pair applies to every value.
    pub fn is_global(&self) -> bool {
        self.mean.len() == 1
    }

    /// Normalises `values` in place: any length for global statistics, a whole number of
    /// samples for per-feature ones.
    pub fn apply(&self, values: &mut [T]) -> Result<(), DataError> {
        self.check(values.len())?;
        for chunk in values.chunks_mut(self.mean.len()) {
            for ((v, &m), &s) in chunk.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }

    /// Undoes [`Normalize::apply`]: `x = x' * std + mean`.
    pub fn invert(&self, values: &mut [T]) -> Result<(), DataError> {
        self.check(values.len())?;
        for chunk in values.chunks_mut(self.mean.len()) {
            for ((v, &m), &s) in chunk.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = *v * s + m;
            }
        }
        Ok(())
    }

    /// Normalises a dataset's inputs in place.
    pub fn apply_dataset<Y>(&self, data: &mut Dataset<T, Y>) -> Result<(), DataError> {
        if !self.is_global() && data.numel() != self.mean.len() {
            return Err(ShapeError::Length {
                what: "normalised features per sample",
                expected: self.mean.len(),
                found: data.numel(),
            }
            .into());
        }
        self.apply(data.inputs_mut())
    }

    fn check(&self, len: usize) -> Result<(), DataError> {
        if !self.is_global() {
            samples(len, self.mean.len(), "normalised values")?;
        }
        Ok(())
    }
}

fn samples(len: usize, numel: usize, what: &'static str) -> Result<usize, DataError> {
    if numel == 0 || !len.is_multiple_of(numel) {
        return Err(ShapeError::NotWholeSamples { what, len, sample: numel }.into());
    }
    Ok(len / numel)
}

/// Mean and population std in f64 (two passes); std 0 becomes 1.
fn fit<T: Scalar>(values: impl Iterator<Item = T> + Clone, what: &'static str) -> Result<(T, T), DataError> {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for v in values.clone() {
        n += 1;
        sum += v.to_f64();
    }
    if n == 0 {
        return Err(DataError::argument("normalisation fit", "at least one value", "none"));
    }
    let mean = sum / n as f64;
    let var = values.map(|v| (v.to_f64() - mean) * (v.to_f64() - mean)).sum::<f64>() / n as f64;
    if !(mean.is_finite() && var.is_finite()) {
        return Err(DataError::argument(
            "normalisation fit",
            "finite training values",
            format_args!("NaN or infinity ({what})"),
        ));
    }
    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
    Ok((T::from_f64(mean), T::from_f64(std)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_on_train_applied_to_any_part() {
        let train = [0.0f64, 4.0, 2.0, 4.0, 4.0, 4.0]; // 3 samples, feature 1 constant
        let norm = Normalize::fit_per_feature(&train, 2).unwrap();
        assert_eq!(norm.mean(), &[2.0, 4.0]);
        assert!((norm.std()[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(norm.std()[1], 1.0);
        let mut part = train;
        norm.apply(&mut part).unwrap();
        let m0 = (part[0] + part[2] + part[4]) / 3.0;
        let v0 = (part[0] * part[0] + part[2] * part[2] + part[4] * part[4]) / 3.0;
        assert!(m0.abs() < 1e-12 && (v0 - 1.0).abs() < 1e-12);
        assert_eq!([part[1], part[3], part[5]], [0.0; 3]);

        let g = Normalize::fit_global(&[1.0f32, 3.0]).unwrap();
        assert_eq!((g.mean(), g.std(), g.is_global()), (&[2.0][..], &[1.0][..], true));
        let mut odd = [5.0f32; 3];
        g.apply(&mut odd).unwrap();
        assert_eq!(odd, [3.0; 3]);
    }

    #[test]
    fn bad_statistics_and_lengths_are_errors() {
        let norm = Normalize::fit_per_feature(&[1.0f32, 2.0, 3.0, 4.0], 2).unwrap();
        assert!(matches!(norm.apply(&mut [0.0; 3]), Err(DataError::Shape(ShapeError::NotWholeSamples { .. }))));
        assert!(Normalize::fit_per_feature(&[1.0f32; 3], 2).is_err());
        assert!(Normalize::fit_per_feature(&[] as &[f32], 2).is_err());
        assert!(Normalize::fit_global(&[] as &[f32]).is_err());
        assert!(Normalize::fit_global(&[1.0f32, f32::NAN]).is_err());
        assert!(Normalize::new(vec![0.0f32], vec![0.0]).is_err());
        assert!(Normalize::new(vec![0.0f32, 1.0], vec![1.0]).is_err());
        assert!(Normalize::new(vec![f32::INFINITY], vec![1.0]).is_err());
        let mut ds = Dataset::new(vec![0.0f32; 6], vec![0usize; 2], 3).unwrap();
        assert!(norm.apply_dataset(&mut ds).is_err());
        assert!(Normalize::mnist().apply_dataset(&mut ds).is_ok());
    }
}
