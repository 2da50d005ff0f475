//! Gradient clipping on a model's gradient: by global norm, as PyTorch's
//! `clip_grad_norm_`, and by value, as `clip_grad_value_`.
//!
//! Only trainable tensors ([`Kind::Param`]) are read and changed; frozen parameters and
//! buffers are left alone, as they have no gradient in PyTorch.
//!
//! ```
//! use monograd_nn::optim::clip::{clip_grad_norm, clip_grad_value};
//! use monograd_nn::Linear;
//!
//! let mut grad = Linear::<2, 1, f64> { weight: [[3.0, 0.0]], bias: [4.0] };
//! let norm = clip_grad_norm(&mut grad, 1.0);
//! assert_eq!(norm, 5.0); // the norm before clipping
//! assert!((grad.weight[0][0] - 0.6).abs() < 1e-6 && (grad.bias[0] - 0.8).abs() < 1e-6);
//!
//! let mut grad = Linear::<2, 1, f64> { weight: [[3.0, -0.5]], bias: [-4.0] };
//! clip_grad_value(&mut grad, 1.0);
//! assert_eq!((grad.weight, grad.bias), ([[1.0, -0.5]], [-1.0]));
//! ```

use core::cmp::Ordering;

use monograd_core::module::{Kind, Path};
use monograd_core::{Module, Scalar};

/// The norm of a whole gradient: the `norm_type`-norm of the per-tensor norms of every
/// trainable tensor, as PyTorch computes it (`f64::INFINITY` for the largest magnitude).
///
/// ```
/// use monograd_nn::optim::clip::grad_norm;
/// use monograd_nn::Linear;
/// let grad = Linear::<2, 1, f64> { weight: [[3.0, -1.0]], bias: [-4.0] };
/// assert_eq!(grad_norm(&grad, 1.0), 8.0);
/// assert_eq!(grad_norm(&grad, f64::INFINITY), 4.0);
/// assert!((grad_norm(&grad, 2.0) - 26f64.sqrt()).abs() < 1e-15);
/// ```
pub fn grad_norm<T: Scalar, M: Module<T>>(grad: &M, norm_type: f64) -> T {
    let p = Norm::of(norm_type);
    let mut acc = T::ZERO;
    grad.visit(&Path::ROOT, &mut |t| {
        if t.kind == Kind::Param {
            acc = p.add(acc, p.norm(t.values.iter().copied()));
        }
    });
    p.finish(acc)
}

/// Scales the whole gradient so that its L2 norm is at most `max_norm` and returns the
/// norm before clipping: PyTorch's `clip_grad_norm_(params, max_norm)`.
///
/// As PyTorch's, the scale is `max_norm / (norm + 1e-6)` when that is below 1, so a
/// clipped norm lands just under `max_norm`; a non-finite norm is returned as it is and
/// scales the gradient to NaN (check the return value to skip such a step).
///
/// ```
/// use monograd_nn::optim::clip::clip_grad_norm;
/// use monograd_nn::Linear;
/// let mut small = Linear::<1, 1, f64> { weight: [[0.3]], bias: [0.4] };
/// assert!((clip_grad_norm(&mut small, 1.0) - 0.5).abs() < 1e-15);
/// assert_eq!(small.weight, [[0.3]]); // under the limit: unchanged
/// ```
pub fn clip_grad_norm<T: Scalar, M: Module<T>>(grad: &mut M, max_norm: f64) -> T {
    clip_grad_norm_with(grad, max_norm, 2.0)
}

/// [`clip_grad_norm`] with the norm of [`grad_norm`]`(grad, norm_type)`.
///
/// ```
/// use monograd_nn::optim::clip::clip_grad_norm_with;
/// use monograd_nn::Linear;
/// let mut grad = Linear::<1, 1, f64> { weight: [[-8.0]], bias: [2.0] };
/// assert_eq!(clip_grad_norm_with(&mut grad, 4.0, f64::INFINITY), 8.0);
/// assert!((grad.weight[0][0] + 4.0).abs() < 1e-6);
/// ```
pub fn clip_grad_norm_with<T: Scalar, M: Module<T>>(grad: &mut M, max_norm: f64, norm_type: f64) -> T {
    let norm = grad_norm(grad, norm_type);
    let coef = T::from_f64(max_norm) / (norm + T::from_f64(1e-6));
    // A NaN coefficient also scales, as PyTorch's clamp passes NaN on.
    let under_limit = matches!(coef.partial_cmp(&T::ONE), Some(Ordering::Greater | Ordering::Equal));
    if !under_limit {
        for_each_grad(grad, |g| *g *= coef);
    }
    norm
}

/// Clamps every gradient element into `[-clip_value, clip_value]`: PyTorch's
/// `clip_grad_value_`. NaN elements stay NaN.
pub fn clip_grad_value<T: Scalar, M: Module<T>>(grad: &mut M, clip_value: f64) {
    let (hi, lo) = (T::from_f64(clip_value), T::from_f64(-clip_value));
    for_each_grad(grad, |g| {
        if *g > hi {
            *g = hi;
        } else if *g < lo {
            *g = lo;
        }
    });
}

/// Calls `f` on every element of every trainable tensor.
fn for_each_grad<T: Scalar, M: Module<T>>(grad: &mut M, mut f: impl FnMut(&mut T)) {
    grad.visit_mut(&Path::ROOT, &mut |t| {
        if t.kind == Kind::Param {
            t.values.iter_mut().for_each(&mut f);
        }
    });
}

/// A vector norm, accumulated tensor by tensor.
#[derive(Clone, Copy)]
enum Norm {
    Max,
    L1,
    L2,
    P(f64),
}

impl Norm {
    fn of(p: f64) -> Self {
        if p == f64::INFINITY {
            Self::Max
        } else if p == 1.0 {
            Self::L1
        } else if p == 2.0 {
            Self::L2
        } else {
            Self::P(p)
        }
    }

    /// The norm of one tensor.
    fn norm<T: Scalar>(self, values: impl Iterator<Item = T>) -> T {
        let mut acc = T::ZERO;
        for v in values {
            acc = self.add(acc, v);
        }
        self.finish(acc)
    }

    /// Folds `|v|` into the running accumulator (`Σ|v|^p`, or the maximum).
    fn add<T: Scalar>(self, acc: T, v: T) -> T {
        let a = v.abs();
        match self {
            // NaN wins (it compares with nothing), as in PyTorch's max.
            Self::Max => {
                if a > acc || a.partial_cmp(&a).is_none() {
                    a
                } else {
                    acc
                }
            }
            Self::L1 => acc + a,
            Self::L2 => acc + a * a,
            Self::P(p) => acc + a.powf(T::from_f64(p)),
        }
    }

    /// The accumulator to the norm.
    fn finish<T: Scalar>(self, acc: T) -> T {
        match self {
            Self::Max | Self::L1 => acc,
            Self::L2 => acc.sqrt(),
            Self::P(p) => acc.powf(T::from_f64(1.0 / p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::Tiny;

    #[test]
    fn frozen_tensors_are_neither_counted_nor_clipped() {
        let mut g = Tiny { a: [3.0f64, 0.0, 0.0], f: [100.0], b: [0.0, 4.0] };
        assert_eq!(clip_grad_norm(&mut g, 10.0), 5.0);
        assert_eq!(g.f, [100.0]);
        clip_grad_value(&mut g, 1.0);
        assert_eq!((g.a, g.f, g.b), ([1.0, 0.0, 0.0], [100.0], [0.0, 1.0]));
    }

    #[test]
    fn a_p_norm_combines_per_tensor_norms() {
        let g = Tiny { a: [1.0f64, 2.0, 2.0], f: [0.0], b: [3.0, 0.0] };
        let want = (1.0f64 + 8.0 + 8.0 + 27.0).powf(1.0 / 3.0);
        assert!((grad_norm(&g, 3.0) - want).abs() < 1e-14);
    }

    #[test]
    fn a_nan_gradient_is_reported_and_spreads() {
        let mut g = Tiny { a: [f64::NAN, 1.0, 0.0], f: [0.0], b: [0.0, 0.0] };
        assert!(grad_norm(&g, f64::INFINITY).is_nan());
        assert!(clip_grad_norm(&mut g, 1.0).is_nan());
        assert!(g.a[1].is_nan());
    }
}
