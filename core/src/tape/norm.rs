//! Normalisation on the tape: batch norm with the batch's statistics (training) or
//! running estimates (inference), and layer norm, through [`ops::norm`](crate::ops::norm).

use alloc::vec;
use alloc::vec::Vec;

use super::{Dims, Op, Tape, Var};
use crate::ops::norm::{self, ChannelStats};
use crate::{Scalar, ShapeError};

/// What a batch-norm record keeps for backward: the statistics it normalised with.
pub(super) struct Stats<T> {
    mean: Vec<T>,
    /// The biased batch variance (training), or the running variance (inference).
    var: Vec<T>,
    inv_std: Vec<T>,
    inner: usize,
    from_batch: bool,
}

impl<T: Scalar> Stats<T> {
    #[allow(clippy::too_many_arguments)] // the operands and the three gradients
    pub(super) fn backward(
        &self,
        x: &[T],
        dy: &[T],
        w: &[T],
        dx: Option<&mut [T]>,
        dw: Option<&mut [T]>,
        db: Option<&mut [T]>,
    ) {
        let stats = ChannelStats { mean: &self.mean, inv_std: &self.inv_std, from_batch: self.from_batch };
        norm::batch_norm_backward(x, dy, w, stats, dx, dw, db, self.inner);
    }
}

impl<T: Scalar> Tape<T> {
    /// Batch normalisation in training mode, `torch.nn.functional.batch_norm(training=True)`:
    /// each channel (dimension 1) of `x` `[N, C, ...]` normalised with its mean and biased
    /// variance over the batch and every position, then scaled by `weight` and shifted by
    /// `bias` (`C` values each, any shape). The gradient flows through the statistics.
    ///
    /// The tape keeps no running estimates: [`batch_statistics`](Self::batch_statistics)
    /// hands out the batch's, for a caller that keeps them (as the `BatchNorm` layers do).
    ///
    /// # Errors
    /// [`ShapeError::Rank`] if `x` has one dimension; [`ShapeError::Length`] if `weight` or
    /// `bias` does not hold `C` values.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![1.0, 2.0, 3.0, 6.0], [2, 2])?; // two samples of two features
    /// let (w, b) = (tape.leaf(vec![1.0; 2], [2])?, tape.leaf(vec![0.0; 2], [2])?);
    /// let y = tape.batch_norm(x, w, b, 0.0)?;
    /// assert_eq!(tape.value(y), [-1.0, -1.0, 1.0, 1.0]);
    /// assert_eq!(tape.batch_statistics(y), Some((&[2.0, 4.0][..], &[1.0, 4.0][..])));
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_norm(&mut self, x: Var, weight: Var, bias: Var, eps: f64) -> Result<Var, ShapeError> {
        let (c, inner) = self.channels(x, weight, bias, "Tape::batch_norm")?;
        let (xn, wn, bn) = (self.node(x), self.node(weight), self.node(bias));
        let (mut mean, mut var, mut inv_std) = (vec![T::ZERO; c], vec![T::ZERO; c], vec![T::ZERO; c]);
        let mut y = vec![T::ZERO; xn.value.len()];
        let eps = T::from_f64(eps);
        norm::batch_norm_train(&xn.value, &mut y, &wn.value, &bn.value, eps, inner, &mut mean, &mut var, &mut inv_std);
        let tracked = xn.tracked || wn.tracked || bn.tracked;
        let (shape, stats) = (xn.shape, Stats { mean, var, inv_std, inner, from_batch: true });
        Ok(self.push(y, shape, Op::BatchNorm { x: x.0, w: weight.0, b: bias.0, stats }, tracked))
    }

    /// Batch normalisation in inference mode: each channel normalised with the given
    /// running mean and variance (data, not differentiated), then scaled and shifted; an
    /// affine map per channel.
    ///
    /// # Errors
    /// As [`batch_norm`](Self::batch_norm), and [`ShapeError::Length`] if a running
    /// statistic does not hold `C` values.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![1.0, 3.0, 2.0, 5.0], [2, 2])?;
    /// let (w, b) = (tape.leaf(vec![1.0; 2], [2])?, tape.leaf(vec![0.0, 0.5], [2])?);
    /// let y = tape.batch_norm_eval(x, w, b, &[0.0, 1.0], &[1.0, 4.0], 0.0)?;
    /// assert_eq!(tape.value(y), [1.0, 1.5, 2.0, 2.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_norm_eval(
        &mut self,
        x: Var,
        weight: Var,
        bias: Var,
        running_mean: &[T],
        running_var: &[T],
        eps: f64,
    ) -> Result<Var, ShapeError> {
        let what = "Tape::batch_norm_eval";
        let (c, inner) = self.channels(x, weight, bias, what)?;
        for (what, s) in
            [("Tape::batch_norm_eval running_mean", running_mean), ("Tape::batch_norm_eval running_var", running_var)]
        {
            if s.len() != c {
                return Err(ShapeError::Length { what, expected: c, found: s.len() });
            }
        }
        let (xn, wn, bn) = (self.node(x), self.node(weight), self.node(bias));
        let eps = T::from_f64(eps);
        let mut y = vec![T::ZERO; xn.value.len()];
        norm::batch_norm_eval(&xn.value, &mut y, &wn.value, &bn.value, running_mean, running_var, eps, inner);
        let inv_std = running_var.iter().map(|&v| (v + eps).sqrt().recip()).collect();
        let (mean, var) = (running_mean.to_vec(), running_var.to_vec());
        let tracked = xn.tracked || wn.tracked || bn.tracked;
        let (shape, stats) = (xn.shape, Stats { mean, var, inv_std, inner, from_batch: false });
        Ok(self.push(y, shape, Op::BatchNorm { x: x.0, w: weight.0, b: bias.0, stats }, tracked))
    }

    /// The batch mean and biased variance per channel that the training-mode
    /// [`batch_norm`](Self::batch_norm) making `v` normalised with; `None` if `v` is not
    /// one. A caller keeping running estimates updates them from these (PyTorch uses the
    /// unbiased variance there, `m / (m - 1)` times this one, over `m` values per channel).
    pub fn batch_statistics(&self, v: Var) -> Option<(&[T], &[T])> {
        match &self.node(v).op {
            Op::BatchNorm { stats, .. } if stats.from_batch => Some((&stats.mean, &stats.var)),
            _ => None,
        }
    }

    /// Layer normalisation over the last dimension, `torch.nn.functional.layer_norm(x,
    /// [n], weight, bias, eps)`: each row of `n` values normalised with its own mean and
    /// biased variance, then scaled by `weight` and shifted by `bias` (`n` values each).
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `weight` or `bias` does not hold `n` values.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![1.0, 3.0, -5.0, 5.0], [2, 2])?;
    /// let (w, b) = (tape.leaf(vec![1.0, 2.0], [2])?, tape.leaf(vec![0.0, 0.5], [2])?);
    /// let y = tape.layer_norm(x, w, b, 0.0)?;
    /// assert_eq!(tape.value(y), [-1.0, 2.5, -1.0, 2.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn layer_norm(&mut self, x: Var, weight: Var, bias: Var, eps: f64) -> Result<Var, ShapeError> {
        let (xn, wn, bn) = (self.node(x), self.node(weight), self.node(bias));
        let n = xn.shape.last();
        for (what, len) in [("Tape::layer_norm weight", wn.value.len()), ("Tape::layer_norm bias", bn.value.len())] {
            if len != n {
                return Err(ShapeError::Length { what, expected: n, found: len });
            }
        }
        let eps = T::from_f64(eps);
        let mut y = vec![T::ZERO; xn.value.len()];
        norm::layer_norm(&xn.value, &mut y, &wn.value, &bn.value, eps);
        let (shape, tracked) = (xn.shape, xn.tracked || wn.tracked || bn.tracked);
        Ok(self.push(y, shape, Op::LayerNorm { x: x.0, w: weight.0, b: bias.0, eps }, tracked))
    }

    /// The channels `C` (dimension 1) of `x` and the values per channel and sample, with
    /// `weight` and `bias` checked to hold `C` values.
    fn channels(&self, x: Var, weight: Var, bias: Var, what: &'static str) -> Result<(usize, usize), ShapeError> {
        let shape: Dims = self.node(x).shape;
        let dims = shape.as_slice();
        if dims.len() < 2 {
            return Err(ShapeError::Rank { what, expected: 2, found: dims.len() });
        }
        let inner = dims[2..].iter().try_fold(1usize, |p, &d| p.checked_mul(d));
        let (c, inner) = match inner.filter(|&i| i.checked_mul(dims[1]).is_some()) {
            Some(inner) => (dims[1], inner),
            // Possible only for a batch of no samples, with enormous other dimensions.
            None => return Err(ShapeError::Setting { what: "batch norm: a sample is too large", found: dims[1] }),
        };
        for (what, v) in [("batch norm weight", weight), ("batch norm bias", bias)] {
            let len = self.node(v).value.len();
            if len != c {
                return Err(ShapeError::Length { what, expected: c, found: len });
            }
        }
        Ok((c, inner))
    }
}
