//! Losses on the tape: a `[1, 1]` scalar from predictions and fixed targets, through the
//! functions of [`ops::loss`](crate::ops::loss). Targets and class weights are data: they
//! are copied into the record and get no gradient.

use alloc::vec;
use alloc::vec::Vec;

use super::{Op, Tape, Var};
use crate::ops::loss;
use crate::{Scalar, ShapeError};

/// A loss of predictions against targets of the same shape, elementwise.
#[derive(Clone, Copy, Debug)]
pub(super) enum Regression<T> {
    Mse,
    L1,
    Huber(T),
}

impl<T: Scalar> Regression<T> {
    fn what(self) -> &'static str {
        match self {
            Self::Mse => "Tape::mse target",
            Self::L1 => "Tape::l1 target",
            Self::Huber(_) => "Tape::huber target",
        }
    }

    fn forward(self, pred: &[T], target: &[T]) -> T {
        match self {
            Self::Mse => loss::mse(pred, target),
            Self::L1 => loss::l1(pred, target),
            Self::Huber(delta) => loss::huber(pred, target, delta),
        }
    }

    pub(super) fn backward(self, pred: &[T], target: &[T], dloss: T, dpred: &mut [T]) {
        match self {
            Self::Mse => loss::mse_backward(pred, target, dloss, dpred),
            Self::L1 => loss::l1_backward(pred, target, dloss, dpred),
            Self::Huber(delta) => loss::huber_backward(pred, target, delta, dloss, dpred),
        }
    }
}

/// A classification loss over rows of `classes` values with one target index per row.
#[derive(Clone, Debug)]
pub(super) enum Classification<T> {
    /// Cross-entropy of logits with class weights and label smoothing.
    CrossEntropy { weight: Option<Vec<T>>, smoothing: T },
    /// Negative log-likelihood of log-probabilities, with class weights.
    Nll { weight: Option<Vec<T>> },
}

impl<T: Scalar> Classification<T> {
    pub(super) fn backward(
        &self,
        x: &[T],
        targets: &[usize],
        classes: usize,
        dloss: T,
        dx: &mut [T],
    ) -> Result<(), ShapeError> {
        match self {
            Self::CrossEntropy { weight, smoothing } => {
                loss::cross_entropy_with_backward(x, targets, classes, weight.as_deref(), *smoothing, dloss, dx)
            }
            Self::Nll { weight } => loss::nll_backward(x, targets, classes, weight.as_deref(), dloss, dx),
        }
    }
}

impl<T: Scalar> Tape<T> {
    fn regression(&mut self, pred: Var, target: &[T], kind: Regression<T>) -> Result<Var, ShapeError> {
        let pn = self.node(pred);
        if target.len() != pn.value.len() {
            return Err(ShapeError::Length { what: kind.what(), expected: pn.value.len(), found: target.len() });
        }
        let (l, tracked) = (kind.forward(&pn.value, target), pn.tracked);
        Ok(self.push(vec![l], [1, 1], Op::Regression { pred: pred.0, target: target.to_vec(), kind }, tracked))
    }

    /// Mean squared error of `pred` against fixed `target` values (same count, row-major),
    /// as a `[1, 1]` scalar. The target is data and gets no gradient.
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `target` does not have as many values as `pred`.
    pub fn mse(&mut self, pred: Var, target: &[T]) -> Result<Var, ShapeError> {
        self.regression(pred, target, Regression::Mse)
    }

    /// Mean absolute error, `torch.nn.L1Loss`, as [`mse`](Self::mse).
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `target` does not have as many values as `pred`.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let p = tape.leaf(vec![1.0, -2.0], [1, 2])?;
    /// let l = tape.l1(p, &[0.0, 0.0])?;
    /// assert_eq!(tape.item(l)?, 1.5);
    /// assert_eq!(tape.backward(l)?.get(p), Some(&[0.5, -0.5][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn l1(&mut self, pred: Var, target: &[T]) -> Result<Var, ShapeError> {
        self.regression(pred, target, Regression::L1)
    }

    /// The Huber loss with threshold `delta`, `torch.nn.HuberLoss(delta=δ)`, as
    /// [`mse`](Self::mse).
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `target` does not have as many values as `pred`.
    pub fn huber(&mut self, pred: Var, target: &[T], delta: T) -> Result<Var, ShapeError> {
        self.regression(pred, target, Regression::Huber(delta))
    }

    /// Cross-entropy of `logits` `[batch, classes]` against one class index per row,
    /// averaged over the batch, as a `[1, 1]` scalar (fused with log-softmax: stable).
    ///
    /// # Errors
    /// [`ShapeError::Rank`] unless `logits` is a matrix;
    /// [`ShapeError::Length`] if there is not one target per row;
    /// [`ShapeError::IndexOutOfRange`] if a target is not below `classes`.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let logits = tape.leaf(vec![2.0, 2.0, 0.0, 0.0], [2, 2])?;
    /// let loss = tape.cross_entropy(logits, &[0, 1])?;
    /// assert!((tape.item(loss)? - core::f64::consts::LN_2).abs() < 1e-15);
    /// let g = tape.backward(loss)?;
    /// assert_eq!(g.get(logits), Some(&[-0.25, 0.25, 0.25, -0.25][..]));
    /// assert!(tape.cross_entropy(logits, &[0, 2]).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn cross_entropy(&mut self, logits: Var, targets: &[usize]) -> Result<Var, ShapeError> {
        let ln = self.node(logits);
        let [rows, classes] = ln.shape.expect("Tape::cross_entropy logits")?;
        if targets.len() != rows {
            let what = "Tape::cross_entropy targets";
            return Err(ShapeError::Length { what, expected: rows, found: targets.len() });
        }
        let (l, tracked) = (loss::cross_entropy(&ln.value, targets, classes)?, ln.tracked);
        let op = Op::CrossEntropy { logits: logits.0, targets: targets.to_vec(), classes };
        Ok(self.push(vec![l], [1, 1], op, tracked))
    }

    /// Cross-entropy with PyTorch's `weight` (one per class) and `label_smoothing`
    /// arguments, as `torch.nn.functional.cross_entropy` computes it (see
    /// [`ops::loss`](crate::ops::loss) for the formula).
    ///
    /// # Errors
    /// As [`cross_entropy`](Self::cross_entropy), and [`ShapeError::Length`] if `weight`
    /// does not hold one value per class.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let logits = tape.leaf(vec![2.0, 0.0, 0.0, 1.0], [2, 2])?;
    /// let plain = tape.cross_entropy(logits, &[0, 1])?;
    /// let same = tape.cross_entropy_with(logits, &[0, 1], None, 0.0)?;
    /// assert_eq!(tape.item(plain)?, tape.item(same)?);
    /// let smooth = tape.cross_entropy_with(logits, &[0, 1], Some(&[1.0, 2.0]), 0.1)?;
    /// assert!(tape.item(smooth)? > tape.item(plain)?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cross_entropy_with(
        &mut self,
        logits: Var,
        targets: &[usize],
        weight: Option<&[T]>,
        label_smoothing: T,
    ) -> Result<Var, ShapeError> {
        let what = "Tape::cross_entropy_with";
        let [_, classes] = self.class_rows(logits, targets, weight, what)?;
        let ln = self.node(logits);
        let (l, tracked) =
            (loss::cross_entropy_with(&ln.value, targets, classes, weight, label_smoothing)?, ln.tracked);
        let kind = Classification::CrossEntropy { weight: weight.map(<[T]>::to_vec), smoothing: label_smoothing };
        let op = Op::Classification { x: logits.0, targets: targets.to_vec(), classes, kind };
        Ok(self.push(vec![l], [1, 1], op, tracked))
    }

    /// The negative log-likelihood of log-probabilities `logp` `[batch, classes]` (from
    /// [`log_softmax`](Self::log_softmax)) with optional class weights:
    /// `torch.nn.functional.nll_loss`.
    ///
    /// # Errors
    /// As [`cross_entropy_with`](Self::cross_entropy_with).
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let logits = tape.leaf(vec![2.0, 0.0, 0.0, 1.0], [2, 2])?;
    /// let lp = tape.log_softmax(logits);
    /// let nll = tape.nll(lp, &[0, 1], None)?;
    /// let ce = tape.cross_entropy(logits, &[0, 1])?;
    /// assert!((tape.item(nll)? - tape.item(ce)?).abs() < 1e-15);
    /// # Ok(())
    /// # }
    /// ```
    pub fn nll(&mut self, logp: Var, targets: &[usize], weight: Option<&[T]>) -> Result<Var, ShapeError> {
        let [_, classes] = self.class_rows(logp, targets, weight, "Tape::nll")?;
        let ln = self.node(logp);
        let (l, tracked) = (loss::nll(&ln.value, targets, classes, weight)?, ln.tracked);
        let kind = Classification::Nll { weight: weight.map(<[T]>::to_vec) };
        let op = Op::Classification { x: logp.0, targets: targets.to_vec(), classes, kind };
        Ok(self.push(vec![l], [1, 1], op, tracked))
    }

    /// The shape `[rows, classes]` of `x`, with one target per row and a weight per class.
    fn class_rows(
        &self,
        x: Var,
        targets: &[usize],
        weight: Option<&[T]>,
        what: &'static str,
    ) -> Result<[usize; 2], ShapeError> {
        let [rows, classes] = self.node(x).shape.expect(what)?;
        if targets.len() != rows {
            return Err(ShapeError::Length { what, expected: rows, found: targets.len() });
        }
        if let Some(w) = weight {
            if w.len() != classes {
                return Err(ShapeError::Length { what: "class weights", expected: classes, found: w.len() });
            }
        }
        Ok([rows, classes])
    }

    /// Binary cross-entropy of `logits` against targets in `[0, 1]` of the same count,
    /// with an optional weight of the positive term per class (the last dimension):
    /// `torch.nn.functional.binary_cross_entropy_with_logits`.
    ///
    /// # Errors
    /// [`ShapeError::Length`] if the targets do not match the logits, or `pos_weight` does
    /// not hold one value per entry of the last dimension.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![0.0, 0.0], [1, 2])?;
    /// let l = tape.bce_with_logits(x, &[1.0, 0.0], None)?;
    /// assert!((tape.item(l)? - core::f64::consts::LN_2).abs() < 1e-15);
    /// assert_eq!(tape.backward(l)?.get(x), Some(&[-0.25, 0.25][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn bce_with_logits(&mut self, logits: Var, targets: &[T], pos_weight: Option<&[T]>) -> Result<Var, ShapeError> {
        let ln = self.node(logits);
        if targets.len() != ln.value.len() {
            let what = "Tape::bce_with_logits targets";
            return Err(ShapeError::Length { what, expected: ln.value.len(), found: targets.len() });
        }
        if let Some(pw) = pos_weight {
            let last = ln.shape.last();
            if pw.len() != last {
                return Err(ShapeError::Length {
                    what: "Tape::bce_with_logits pos_weight",
                    expected: last,
                    found: pw.len(),
                });
            }
        }
        let (l, tracked) = (loss::bce_with_logits(&ln.value, targets, pos_weight), ln.tracked);
        let op = Op::Bce { logits: logits.0, targets: targets.to_vec(), pos_weight: pos_weight.map(<[T]>::to_vec) };
        Ok(self.push(vec![l], [1, 1], op, tracked))
    }
}
