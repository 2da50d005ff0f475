//! Losses: a scalar from a batch of predictions and targets, and its gradient.
//!
//! | loss | PyTorch | target | value (mean reduction) |
//! | --- | --- | --- | --- |
//! | [`MseLoss`] | `MSELoss` | `[T]` | `mean((p - t)^2)` |
//! | [`L1Loss`] | `L1Loss` | `[T]` | `mean(\|p - t\|)` |
//! | [`HuberLoss`] | `HuberLoss(delta)` | `[T]` | quadratic within `δ`, linear beyond |
//! | [`CrossEntropyLoss`] | `CrossEntropyLoss(weight, label_smoothing)` | `[usize]` | from logits, fused with log-softmax |
//! | [`NllLoss`] | `NLLLoss(weight)` | `[usize]` | from log-probabilities |
//! | [`BceWithLogitsLoss`] | `BCEWithLogitsLoss(pos_weight)` | `[T]` in `[0, 1]` | from logits, stable |
//!
//! Each is a thin, checked front for its primitive in [`monograd_core::ops::loss`], where
//! the formulas, derivatives and gradient checks live; each file here adds its own
//! gradient check through the [`Loss`] interface. Run-time problems (a target of the wrong
//! length, a label out of range) are an `Err`, never a panic.
//!
//! # Custom losses
//! Two ways, both shown in `examples/custom_loss.rs`:
//! - implement [`Loss`] by hand: `forward` and `backward`, for full control (a loss over
//!   whole rows, a hand-fused backward);
//! - implement [`ElementwiseLoss`]: write the per-element formula once, generic over the
//!   scalar, and the blanket implementation gives it a [`Loss`] whose gradient comes from
//!   dual numbers, exact and with no hand-written derivative.
//!
//! ```
//! use monograd_core::Scalar;
//! use monograd_nn::loss::{ElementwiseLoss, Loss};
//!
//! /// `ln cosh(p - t)`: like MSE near the target, like L1 far from it.
//! struct LogCosh;
//! impl ElementwiseLoss for LogCosh {
//!     fn loss<S: Scalar>(&self, pred: S, target: S) -> S {
//!         let d = pred - target;
//!         // cosh from exp, halved: (e^d + e^-d) / 2
//!         ((d.exp() + (-d).exp()) * S::from_f64(0.5)).ln()
//!     }
//! }
//! let (pred, target) = ([0.5f64, -1.0], [0.0, 0.0]);
//! let mut d = [0.0; 2];
//! let value = LogCosh.backward(&pred, &target, &mut d).unwrap();
//! assert_eq!(value, LogCosh.forward(&pred, &target).unwrap());
//! // d/dp ln cosh(p - t) = tanh(p - t), averaged over the two elements.
//! assert!((d[0] - 0.5f64.tanh() / 2.0).abs() < 1e-15);
//! assert!((d[1] + 1.0f64.tanh() / 2.0).abs() < 1e-15);
//! ```

use monograd_core::{Dual, Scalar, ShapeError};

mod bce;
mod cross_entropy;
mod huber;
mod l1;
mod mse;
mod nll;

pub use bce::BceWithLogitsLoss;
pub use cross_entropy::CrossEntropyLoss;
pub use huber::HuberLoss;
pub use l1::L1Loss;
pub use mse::MseLoss;
pub use nll::NllLoss;

/// A loss over a batch: `forward` gives the scalar, `backward` its gradient with respect to
/// the predictions.
///
/// Implement it for a custom loss (or implement [`ElementwiseLoss`] and get it for free).
/// Both methods check lengths and labels and return an `Err` for data that does not fit;
/// neither panics on data.
///
/// ```
/// use monograd_core::{Scalar, ShapeError};
/// use monograd_nn::loss::Loss;
///
/// /// Sum of squares, not averaged: a hand-written loss.
/// struct SumSquares;
/// impl<T: Scalar> Loss<T> for SumSquares {
///     type Target = [T];
///     fn forward(&self, pred: &[T], target: &[T]) -> Result<T, ShapeError> {
///         if pred.len() != target.len() {
///             return Err(ShapeError::Length { what: "SumSquares target", expected: pred.len(), found: target.len() });
///         }
///         Ok(pred.iter().zip(target).fold(T::ZERO, |s, (&p, &t)| s + (p - t) * (p - t)))
///     }
///     fn backward(&self, pred: &[T], target: &[T], dpred: &mut [T]) -> Result<T, ShapeError> {
///         let value = self.forward(pred, target)?;
///         if dpred.len() != pred.len() {
///             return Err(ShapeError::Length { what: "SumSquares gradient", expected: pred.len(), found: dpred.len() });
///         }
///         for ((d, &p), &t) in dpred.iter_mut().zip(pred).zip(target) {
///             *d = (p - t) + (p - t);
///         }
///         Ok(value)
///     }
/// }
/// let mut d = [0.0f64; 2];
/// assert_eq!(SumSquares.backward(&[1.0, 2.0], &[0.0, 0.0], &mut d), Ok(5.0));
/// assert_eq!(d, [2.0, 4.0]);
/// assert!(SumSquares.forward(&[1.0f64], &[]).is_err());
/// ```
pub trait Loss<T: Scalar> {
    /// What predictions are compared with: `[T]` values for regression, `[usize]` class
    /// indices for classification.
    type Target: ?Sized;

    /// The loss value.
    ///
    /// # Errors
    /// A [`ShapeError`] if `target` does not fit `pred`, or a label is out of range.
    fn forward(&self, pred: &[T], target: &Self::Target) -> Result<T, ShapeError>;

    /// Writes `∂loss/∂pred` into `dpred` (overwriting it), and returns the loss value.
    ///
    /// # Errors
    /// As [`Loss::forward`], or if `dpred` differs from `pred` in length; `dpred` is then
    /// left unchanged.
    fn backward(&self, pred: &[T], target: &Self::Target, dpred: &mut [T]) -> Result<T, ShapeError>;
}

/// A loss that is the mean over elements of one formula `ℓ(pred, target)`, written once
/// for every scalar.
///
/// Every `ElementwiseLoss` is a [`Loss`] with `Target = [T]`: `forward` averages
/// `ℓ(p_i, t_i)`, and `backward` evaluates `ℓ` on [`Dual<T, 1>`] numbers, seeding the
/// prediction, so `∂ℓ/∂p_i` is exact (forward-mode differentiation) with no hand-written
/// derivative. The formula may branch (`if d.abs() < delta`): comparisons look at the
/// primal value, so the derivative is that of the branch taken.
///
/// ```
/// use monograd_core::Scalar;
/// use monograd_nn::loss::{ElementwiseLoss, Loss};
///
/// /// Squared error with a constant weight, as a formula.
/// struct Weighted(f64);
/// impl ElementwiseLoss for Weighted {
///     fn loss<S: Scalar>(&self, pred: S, target: S) -> S {
///         S::from_f64(self.0) * (pred - target) * (pred - target)
///     }
/// }
/// let mut d = [0.0f32; 2];
/// let value = Weighted(3.0).backward(&[1.0, 2.0], &[0.0, 0.0], &mut d).unwrap();
/// assert_eq!(value, 7.5);
/// assert_eq!(d, [3.0, 6.0]); // 2 · 3 · (p - t) / 2
/// ```
pub trait ElementwiseLoss {
    /// `ℓ(pred, target)` for one element. Parameters of the loss (a threshold, a weight)
    /// enter through [`Scalar::from_f64`].
    fn loss<S: Scalar>(&self, pred: S, target: S) -> S;
}

impl<T: Scalar, L: ElementwiseLoss> Loss<T> for L {
    type Target = [T];

    fn forward(&self, pred: &[T], target: &[T]) -> Result<T, ShapeError> {
        same_len("ElementwiseLoss target", pred.len(), target.len())?;
        let total = pred.iter().zip(target).fold(T::ZERO, |s, (&p, &t)| s + self.loss(p, t));
        Ok(total / T::from_f64(pred.len() as f64))
    }

    fn backward(&self, pred: &[T], target: &[T], dpred: &mut [T]) -> Result<T, ShapeError> {
        same_len("ElementwiseLoss target", pred.len(), target.len())?;
        same_len("ElementwiseLoss gradient buffer", pred.len(), dpred.len())?;
        let n = T::from_f64(pred.len() as f64);
        let mut total = T::ZERO;
        for ((d, &p), &t) in dpred.iter_mut().zip(pred).zip(target) {
            // One dual evaluation gives the value and ∂ℓ/∂p together.
            let l = self.loss(Dual::<T, 1>::variable(p, 0), Dual::constant(t));
            total += l.re;
            *d = l.eps[0] / n;
        }
        Ok(total / n)
    }
}

/// `Ok` if `found == expected`, else the length error naming `what`.
pub(crate) fn same_len(what: &'static str, expected: usize, found: usize) -> Result<(), ShapeError> {
    if expected != found {
        return Err(ShapeError::Length { what, expected, found });
    }
    Ok(())
}

/// The number of classes of a classification loss: `weight.len()` when class weights are
/// given, else inferred as one row of logits per target. Errs unless `pred` holds exactly
/// one row per target.
pub(crate) fn classes_of<W>(
    what: &'static str,
    pred: usize,
    targets: usize,
    weight: Option<&[W]>,
) -> Result<usize, ShapeError> {
    let classes = match (weight, targets) {
        (Some(w), _) => w.len(),
        (None, 0) => 0,
        (None, b) => pred / b,
    };
    same_len(what, targets.saturating_mul(classes), pred)?;
    Ok(classes)
}

/// Gradient checks of losses through the [`Loss`] interface, with the shared helper.
#[cfg(all(test, feature = "alloc"))]
pub(crate) mod testing {
    use alloc::vec;
    use alloc::vec::Vec;

    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::Scalar;

    /// A loss with fixed targets, buildable at any scalar.
    pub(crate) trait AtScalar {
        /// The name shown when a check fails.
        const NAME: &'static str;
        /// The number of predictions.
        fn len(&self) -> usize;
        /// The loss at `pred`, computed in `S` (targets converted).
        fn value<S: Scalar>(&self, pred: &[S]) -> S;
        /// `Loss::backward` in `f64`: overwrites `dpred`, returns the value.
        fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64;
    }

    struct Case<'a, A>(&'a A);

    impl<A: AtScalar> GradCase for Case<'_, A> {
        fn name(&self) -> &str {
            A::NAME
        }
        fn input_len(&self) -> usize {
            self.0.len()
        }
        fn output_len(&self) -> usize {
            1
        }
        fn forward<S: Scalar>(&self, x: &[S], y: &mut [S]) {
            y[0] = self.0.value(x);
        }
        fn backward(&self, x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            let mut g = vec![0.0; x.len()];
            let v = self.0.grad(x, &mut g);
            assert_eq!(v, self.0.value(x), "{}: backward returns a value other than forward's", A::NAME);
            for (d, g) in dx.iter_mut().zip(g) {
                *d += dy[0] * g;
            }
        }
    }

    /// Runs the shared gradient check (f64: reverse mode against central finite
    /// differences and against forward mode) at `x`, panicking with its message.
    #[track_caller]
    pub(crate) fn check<A: AtScalar>(loss: &A, x: &[f64], seed: u64) {
        if let Err(e) = gradcheck::check(&Case(loss), x, seed) {
            panic!("{e}");
        }
    }

    /// `v` converted to the scalar `S`.
    pub(crate) fn to<S: Scalar>(v: &[f64]) -> Vec<S> {
        v.iter().map(|&v| S::from_f64(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ln cosh(p - t)`, written once.
    struct LogCosh;
    impl ElementwiseLoss for LogCosh {
        fn loss<S: Scalar>(&self, pred: S, target: S) -> S {
            let d = pred - target;
            ((d.exp() + (-d).exp()) * S::from_f64(0.5)).ln()
        }
    }

    #[test]
    fn elementwise_losses_check_lengths() {
        let mut d = [0.0f64; 2];
        let e = LogCosh.backward(&[1.0, 2.0], &[0.0], &mut d).unwrap_err();
        assert_eq!(e, ShapeError::Length { what: "ElementwiseLoss target", expected: 2, found: 1 });
        let e = LogCosh.backward(&[1.0, 2.0], &[0.0, 0.0], &mut d[..1]).unwrap_err();
        assert_eq!(e, ShapeError::Length { what: "ElementwiseLoss gradient buffer", expected: 2, found: 1 });
        assert_eq!(d, [0.0; 2]);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn nan_propagates_through_every_loss() {
        // As PyTorch's: a NaN prediction (or regression target) makes the loss NaN, and
        // backward returns that NaN loss; nothing clamps or skips it.
        use crate::{BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MseLoss, NllLoss};
        let mut d = [0.0f64; 4];
        let mut values = alloc::vec::Vec::new();
        for at in 0..4 {
            let mut p = [0.5, -1.0, 2.0, 0.25];
            p[at] = f64::NAN;
            let t = [1.0, 0.0, 1.0, 0.0];
            values.push(("MseLoss", MseLoss.forward(&p, &t), MseLoss.backward(&p, &t, &mut d)));
            values.push(("L1Loss", L1Loss.forward(&p, &t), L1Loss.backward(&p, &t, &mut d)));
            let huber = HuberLoss::new(1.0);
            values.push(("HuberLoss", huber.forward(&p, &t), huber.backward(&p, &t, &mut d)));
            let bce = BceWithLogitsLoss::new();
            values.push(("BceWithLogitsLoss", bce.forward(&p, &t), bce.backward(&p, &t, &mut d)));
            let ce = CrossEntropyLoss::new();
            values.push(("CrossEntropyLoss", ce.forward(&p, &[0, 1]), ce.backward(&p, &[0, 1], &mut d)));
            let smooth = CrossEntropyLoss::new().label_smoothing(0.1);
            values.push((
                "CrossEntropyLoss(smoothing)",
                smooth.forward(&p, &[0, 1]),
                smooth.backward(&p, &[0, 1], &mut d),
            ));
            // NLL reads only the target's entry: a NaN there is a NaN loss.
            let nll = NllLoss::new();
            let target = [at % 2, at % 2];
            values.push(("NllLoss", nll.forward(&p, &target), nll.backward(&p, &target, &mut d)));
            // A NaN regression target.
            let (p, mut t) = ([0.5, -1.0, 2.0, 0.25], [1.0, 0.0, 1.0, 0.0]);
            t[at] = f64::NAN;
            values.push(("MseLoss target", MseLoss.forward(&p, &t), MseLoss.backward(&p, &t, &mut d)));
            values.push(("L1Loss target", L1Loss.forward(&p, &t), L1Loss.backward(&p, &t, &mut d)));
            values.push(("HuberLoss target", huber.forward(&p, &t), huber.backward(&p, &t, &mut d)));
        }
        for (what, forward, backward) in values {
            let (f, b) = (forward.unwrap(), backward.unwrap());
            assert!(f.is_nan() && b.is_nan(), "{what}: {f} {b}");
        }
    }

    #[test]
    fn classes_are_inferred_or_taken_from_the_weights() {
        assert_eq!(classes_of::<f64>("x", 6, 2, None), Ok(3));
        assert_eq!(classes_of("x", 6, 2, Some(&[1.0; 3])), Ok(3));
        assert_eq!(classes_of::<f64>("x", 0, 0, None), Ok(0));
        assert_eq!(classes_of::<f64>("x", 7, 2, None), Err(ShapeError::Length { what: "x", expected: 6, found: 7 }));
        assert!(classes_of("x", 6, 2, Some(&[1.0; 2])).is_err());
        assert!(classes_of::<f64>("x", 3, 0, None).is_err());
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn a_formula_gets_its_gradient_from_dual_numbers() {
        use super::testing::{check, to, AtScalar};
        use monograd_core::gradcheck::inputs;
        struct Case(alloc::vec::Vec<f64>);
        impl AtScalar for Case {
            const NAME: &'static str = "ElementwiseLoss(LogCosh)";
            fn len(&self) -> usize {
                self.0.len()
            }
            fn value<S: Scalar>(&self, pred: &[S]) -> S {
                LogCosh.forward(pred, &to::<S>(&self.0)).unwrap()
            }
            fn grad(&self, pred: &[f64], dpred: &mut [f64]) -> f64 {
                LogCosh.backward(pred, &self.0, dpred).unwrap()
            }
        }
        let case = Case(inputs(1, 9, -2.0, 2.0, &[]));
        check(&case, &inputs(2, 9, -2.0, 2.0, &[]), 3);
    }
}
