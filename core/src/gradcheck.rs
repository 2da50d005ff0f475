//! The shared gradient check: reverse mode against finite differences and forward mode.
//!
//! Anything differentiable (a primitive, a layer, a whole network, the eager tape) becomes
//! a [`GradCase`]: a forward pass generic over the scalar, and a reverse-mode backward in
//! `f64`. [`check`] then draws a seeded random cotangent `dy`, computes the reverse-mode
//! gradient `dx = Jᵀ dy`, and compares every element of it with
//!
//! 1. central finite differences of `<dy, f(x)>` in `f64` (Richardson-extrapolated), within
//!    `1e-6 · max(1, |a|, |b|)`;
//! 2. forward mode: `<dy, J e_i>` from the same forward pass run on
//!    [`Dual<f64, 8>`](crate::Dual) numbers (eight input directions per pass), within
//!    `1e-10 · max(1, |a|, |b|)`: the two modes must agree to rounding;
//! 3. itself, run again onto a non-zero `dx`: backward must add to what is there (the
//!    accumulation convention of [`Layer::backward`](crate::Layer::backward)).
//!
//! A failure is a [`GradError`] naming the case, the input index, both values and the
//! check that failed.
//!
//! Finite differences are wrong across a kink (ReLU at 0), so [`inputs`] draws seeded
//! points that keep away from given kinks. A composite whose *intermediate* values can
//! land on a kink (a ReLU after a linear layer) needs inputs chosen with that in mind, or
//! a smooth activation in the check.
//!
//! ```
//! use monograd_core::gradcheck::{check, inputs, GradCase};
//! use monograd_core::Scalar;
//!
//! /// y_i = x_i^2 sin(x_i)
//! struct Wiggle(usize);
//!
//! impl GradCase for Wiggle {
//!     fn name(&self) -> &str {
//!         "wiggle"
//!     }
//!     fn input_len(&self) -> usize {
//!         self.0
//!     }
//!     fn output_len(&self) -> usize {
//!         self.0
//!     }
//!     fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
//!         for (y, &x) in y.iter_mut().zip(x) {
//!             *y = x * x * x.sin();
//!         }
//!     }
//!     fn backward(&self, x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
//!         for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
//!             *dx += dy * (2.0 * x * x.sin() + x * x * x.cos());
//!         }
//!     }
//! }
//!
//! let x = inputs(1, 10, -3.0, 3.0, &[]);
//! let report = check(&Wiggle(10), &x, 7).unwrap();
//! assert!(report.finite_difference_error < 1e-6);
//!
//! // A wrong derivative is caught, and the error says where.
//! struct Wrong;
//! impl GradCase for Wrong {
//!     fn name(&self) -> &str {
//!         "wrong"
//!     }
//!     fn input_len(&self) -> usize {
//!         1
//!     }
//!     fn output_len(&self) -> usize {
//!         1
//!     }
//!     fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
//!         y[0] = x[0] * x[0];
//!     }
//!     fn backward(&self, x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
//!         dx[0] += dy[0] * x[0]; // should be 2 x
//!     }
//! }
//! let err = check(&Wrong, &[1.5], 0).unwrap_err();
//! assert!(err.to_string().starts_with("gradient check `wrong`, input 0"));
//! ```

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::rng::Rng;
use crate::{Dual, Scalar};

/// Something whose gradient can be checked: a vector function `x ↦ y` with a forward pass
/// generic over the scalar and a reverse-mode backward in `f64`.
///
/// Every differentiable input is in `x`, concatenated (for a dense layer: the input batch,
/// then the weight, then the bias). Fixed data such as targets lives in the case itself.
pub trait GradCase {
    /// The name shown in reports and errors.
    fn name(&self) -> &str;

    /// Number of differentiable inputs, all concatenated.
    fn input_len(&self) -> usize;

    /// Number of outputs.
    fn output_len(&self) -> usize;

    /// Computes `y = f(x)`, writing every element of `y`. Runs on `f64` for the values and
    /// finite differences and on [`Dual<f64, N>`](crate::Dual) for forward mode.
    fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]);

    /// Reverse mode: given `x`, `y = f(x)` and a cotangent `dy`, **adds** `Jᵀ dy` to `dx`.
    fn backward(&self, x: &[f64], y: &[f64], dy: &[f64], dx: &mut [f64]);
}

/// Which comparison a [`GradError::Mismatch`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Reverse mode against central finite differences.
    FiniteDifference,
    /// Reverse mode against forward mode (dual numbers).
    ForwardMode,
    /// Reverse mode onto a non-zero gradient against reverse mode onto zero: backward must
    /// accumulate, not overwrite.
    Accumulation,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FiniteDifference => "central finite differences",
            Self::ForwardMode => "forward mode",
            Self::Accumulation => "backward run onto a non-zero gradient (it must add, not overwrite)",
        })
    }
}

/// Why a gradient check failed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GradError {
    /// The point given does not have [`GradCase::input_len`] values.
    InputLength {
        /// The case.
        case: String,
        /// `input_len()`.
        expected: usize,
        /// The length of the point given.
        found: usize,
    },
    /// The forward pass or the gradient produced a NaN or an infinity.
    NotFinite {
        /// The case.
        case: String,
        /// `"output"` or `"gradient"`.
        what: &'static str,
        /// The element.
        index: usize,
    },
    /// An element of the reverse-mode gradient disagrees with a reference.
    Mismatch {
        /// The case.
        case: String,
        /// The input index.
        index: usize,
        /// The reference it was compared with.
        check: Check,
        /// The reverse-mode value.
        reverse: f64,
        /// The reference value.
        reference: f64,
        /// The relative tolerance that was exceeded.
        tolerance: f64,
    },
}

impl fmt::Display for GradError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InputLength { case, expected, found } => {
                write!(f, "gradient check `{case}`: the case has {expected} inputs but the point has {found} values")
            }
            Self::NotFinite { case, what, index } => {
                write!(f, "gradient check `{case}`: {what} element {index} is not finite")
            }
            Self::Mismatch { case, index, check, reverse, reference, tolerance } => write!(
                f,
                "gradient check `{case}`, input {index}: reverse mode gives {reverse:e} but {check} gives \
                 {reference:e} (difference {:e}, tolerance {tolerance:e} relative)",
                (reverse - reference).abs()
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for GradError {}

/// What a passing check measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The case.
    pub case: String,
    /// Number of inputs checked.
    pub inputs: usize,
    /// Number of outputs.
    pub outputs: usize,
    /// The largest `|a - b| / max(1, |a|, |b|)` between reverse mode and finite differences.
    pub finite_difference_error: f64,
    /// The same against forward mode.
    pub forward_mode_error: f64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradient check `{}`: {} inputs, {} outputs; worst relative error {:.1e} against finite \
             differences, {:.1e} against forward mode",
            self.case, self.inputs, self.outputs, self.finite_difference_error, self.forward_mode_error
        )
    }
}

/// Tolerances and step of [`check_with`]; [`check`] uses the defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Relative tolerance against finite differences (default `1e-6`).
    pub finite_difference: f64,
    /// Relative tolerance against forward mode, and of the accumulation check (default
    /// `1e-10`).
    pub forward_mode: f64,
    /// The finite-difference step is `step · max(1, |x_i|)` (default `1e-4`). It must stay
    /// below the distance to the nearest kink, which [`inputs`] keeps above `1e-3`.
    pub step: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self { finite_difference: 1e-6, forward_mode: 1e-10, step: 1e-4 }
    }
}

/// Checks `case` at the point `x` with a cotangent drawn from `seed`, with the default
/// [`Options`]. See the [module docs](self) for what is compared.
///
/// # Errors
/// A [`GradError`] for the first element that fails, or if `x` has the wrong length or a
/// value is not finite.
pub fn check<C: GradCase>(case: &C, x: &[f64], seed: u64) -> Result<Report, GradError> {
    check_with(case, x, seed, &Options::default())
}

/// [`check`] with explicit tolerances and step.
///
/// # Errors
/// As [`check`].
pub fn check_with<C: GradCase>(case: &C, x: &[f64], seed: u64, opts: &Options) -> Result<Report, GradError> {
    let name = || case.name().to_string();
    let (n, m) = (case.input_len(), case.output_len());
    if x.len() != n {
        return Err(GradError::InputLength { case: name(), expected: n, found: x.len() });
    }
    let mut rng = Rng::seed(seed);
    let dy: Vec<f64> = (0..m).map(|_| rng.uniform(-1.0, 1.0)).collect();

    let mut y = vec![0.0; m];
    case.forward(x, &mut y);
    if let Some(index) = y.iter().position(|v| !v.is_finite()) {
        return Err(GradError::NotFinite { case: name(), what: "output", index });
    }
    let mut rev = vec![0.0; n];
    case.backward(x, &y, &dy, &mut rev);
    if let Some(index) = rev.iter().position(|v| !v.is_finite()) {
        return Err(GradError::NotFinite { case: name(), what: "gradient", index });
    }
    let mismatch = |index, check, reverse, reference, tolerance| GradError::Mismatch {
        case: name(),
        index,
        check,
        reverse,
        reference,
        tolerance,
    };

    // Accumulation: start from arbitrary values and take them off again.
    let start: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut acc = start.clone();
    case.backward(x, &y, &dy, &mut acc);
    for (i, ((&a, &s), &r)) in acc.iter().zip(&start).zip(&rev).enumerate() {
        let e = relative_error(a - s, r);
        if e.is_nan() || e > opts.forward_mode {
            return Err(mismatch(i, Check::Accumulation, a - s, r, opts.forward_mode));
        }
    }

    let fwd = forward_mode(case, x, &dy);
    let mut forward_mode_error = 0.0f64;
    for (i, (&r, &f)) in rev.iter().zip(&fwd).enumerate() {
        let e = relative_error(r, f);
        if e.is_nan() || e > opts.forward_mode {
            return Err(mismatch(i, Check::ForwardMode, r, f, opts.forward_mode));
        }
        forward_mode_error = forward_mode_error.max(e);
    }

    let mut finite_difference_error = 0.0f64;
    let mut probe = x.to_vec();
    let (mut y_plus, mut y_minus) = (vec![0.0; m], vec![0.0; m]);
    for (i, &r) in rev.iter().enumerate() {
        let fd = central_difference(case, &mut probe, i, opts.step, &dy, (&mut y_plus, &mut y_minus));
        let e = relative_error(r, fd);
        if e.is_nan() || e > opts.finite_difference {
            return Err(mismatch(i, Check::FiniteDifference, r, fd, opts.finite_difference));
        }
        finite_difference_error = finite_difference_error.max(e);
    }

    Ok(Report { case: name(), inputs: n, outputs: m, finite_difference_error, forward_mode_error })
}

/// `|a - b| / max(1, |a|, |b|)`.
fn relative_error(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1.0)
}

/// Tangent directions per forward-mode pass.
const LANES: usize = 8;

/// `(Jᵀ dy)_i = <dy, J e_i>` for every `i`, by forward passes on duals, `LANES` inputs at a
/// time.
fn forward_mode<C: GradCase>(case: &C, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![0.0; n];
    let mut xd: Vec<Dual<f64, LANES>> = x.iter().map(|&v| Dual::constant(v)).collect();
    let mut yd = vec![Dual::<f64, LANES>::ZERO; dy.len()];
    for start in (0..n).step_by(LANES) {
        let end = (start + LANES).min(n);
        for (lane, i) in (start..end).enumerate() {
            xd[i] = Dual::variable(x[i], lane);
        }
        case.forward(&xd, &mut yd);
        for (lane, o) in out[start..end].iter_mut().enumerate() {
            *o = dot(dy, yd.iter().map(|d| d.eps[lane]));
        }
        for i in start..end {
            xd[i] = Dual::constant(x[i]);
        }
    }
    out
}

/// `∂<dy, f(x)>/∂x_i` by central differences with steps `h` and `h/2`, combined by
/// Richardson extrapolation so that the truncation error is `O(h^4)`: a step large enough
/// for rounding not to matter.
///
/// Outputs are differenced before they are weighted and summed, so that outputs which do
/// not depend on `x_i` contribute exactly zero instead of their rounding error.
fn central_difference<C: GradCase>(
    case: &C,
    x: &mut [f64],
    i: usize,
    step: f64,
    dy: &[f64],
    (y_plus, y_minus): (&mut [f64], &mut [f64]),
) -> f64 {
    let xi = x[i];
    let h = step * xi.abs().max(1.0);
    let mut diff = |h: f64| {
        // Divide by the steps actually taken, which rounding makes slightly off `h`.
        let (hi, lo) = (xi + h, xi - h);
        x[i] = hi;
        case.forward(x, y_plus);
        x[i] = lo;
        case.forward(x, y_minus);
        dot(dy, y_plus.iter().zip(y_minus.iter()).map(|(p, m)| p - m)) / (hi - lo)
    };
    let (d1, d2) = (diff(h), diff(h / 2.0));
    x[i] = xi;
    (4.0 * d2 - d1) / 3.0
}

/// `Σ a_k b_k` with Neumaier's compensated summation, so that the finite differences of a
/// long output do not lose digits to the sum itself.
fn dot(a: &[f64], b: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (&a, b) in a.iter().zip(b) {
        let v = a * b;
        let t = s + v;
        c += if s.abs() >= v.abs() { (s - t) + v } else { (v - t) + s };
        s = t;
    }
    s + c
}

/// How far [`inputs`] keeps from each kink `k`: `KINK_GAP · max(1, |k|)`.
pub const KINK_GAP: f64 = 1e-3;

/// `len` seeded values uniform in `[lo, hi)`, each at least [`KINK_GAP`]` · max(1, |k|)`
/// away from every kink `k` (where a derivative jumps, as ReLU's at 0).
///
/// ```
/// use monograd_core::gradcheck::inputs;
/// let x = inputs(3, 1000, -1.0, 1.0, &[0.0, 0.5]);
/// assert!(x.iter().all(|v| (-1.0..1.0).contains(v)));
/// assert!(x.iter().all(|v| v.abs() >= 1e-3 && (v - 0.5).abs() >= 1e-3));
/// assert_eq!(x, inputs(3, 1000, -1.0, 1.0, &[0.0, 0.5]));
/// ```
///
/// # Panics
/// If `lo >= hi` or the kinks leave (almost) no room in the interval: test parameters,
/// not data.
pub fn inputs(seed: u64, len: usize, lo: f64, hi: f64, kinks: &[f64]) -> Vec<f64> {
    assert!(lo < hi, "gradcheck::inputs: empty interval [{lo}, {hi})");
    let near_kink = |v: f64| kinks.iter().any(|&k| (v - k).abs() < KINK_GAP * k.abs().max(1.0));
    let mut rng = Rng::seed(seed);
    (0..len)
        .map(|_| {
            // Rejection sampling keeps the distribution uniform on what is left.
            for _ in 0..10_000 {
                let v = rng.uniform(lo, hi);
                if !near_kink(v) {
                    return v;
                }
            }
            panic!("gradcheck::inputs: the kinks {kinks:?} leave no room in [{lo}, {hi})")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y = A x` for a fixed `A`, with a backward that can be broken on purpose.
    struct Affine {
        bug: Option<Bug>,
    }

    #[derive(Clone, Copy)]
    enum Bug {
        Overwrite,
        OffByTiny,
        Nan,
    }

    const A: [[f64; 3]; 2] = [[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]];

    impl GradCase for Affine {
        fn name(&self) -> &str {
            "affine"
        }
        fn input_len(&self) -> usize {
            3
        }
        fn output_len(&self) -> usize {
            2
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            for (y, row) in y.iter_mut().zip(A) {
                *y = row.iter().zip(x).fold(T::ZERO, |s, (&a, &x)| s + T::from_f64(a) * x);
            }
        }
        fn backward(&self, _x: &[f64], _y: &[f64], dy: &[f64], dx: &mut [f64]) {
            for (j, dx) in dx.iter_mut().enumerate() {
                let g: f64 = (0..2).map(|i| A[i][j] * dy[i]).sum();
                match self.bug {
                    None => *dx += g,
                    Some(Bug::Overwrite) => *dx = g,
                    // Below what finite differences can see, far above what forward mode allows.
                    Some(Bug::OffByTiny) => *dx += g + if j == 2 { 1e-8 } else { 0.0 },
                    Some(Bug::Nan) => *dx += f64::NAN,
                }
            }
        }
    }

    #[test]
    fn a_correct_case_passes_with_small_errors() {
        let r = check(&Affine { bug: None }, &[0.1, 0.2, 0.3], 1).unwrap();
        assert_eq!((r.inputs, r.outputs), (3, 2));
        assert!(r.finite_difference_error < 1e-9, "{r}");
        assert!(r.forward_mode_error < 1e-15, "{r}");
    }

    #[test]
    fn each_kind_of_bug_is_caught_by_the_right_check() {
        let x = [0.1, 0.2, 0.3];
        let err = |bug| check(&Affine { bug: Some(bug) }, &x, 1).unwrap_err();
        assert!(matches!(err(Bug::Overwrite), GradError::Mismatch { check: Check::Accumulation, .. }));
        match err(Bug::OffByTiny) {
            GradError::Mismatch { check, index, case, .. } => {
                assert_eq!((check, index, case.as_str()), (Check::ForwardMode, 2, "affine"));
            }
            e => panic!("unexpected {e}"),
        }
        assert_eq!(err(Bug::Nan), GradError::NotFinite { case: "affine".into(), what: "gradient", index: 0 });
        let e = check(&Affine { bug: None }, &[0.0; 2], 1).unwrap_err();
        assert_eq!(e, GradError::InputLength { case: "affine".into(), expected: 3, found: 2 });
    }

    #[test]
    fn finite_differences_catch_what_forward_mode_shares() {
        // A forward pass whose dual-number derivative is wrong (it drops the tangent) fools
        // the forward-mode check only if backward is wrong the same way; finite
        // differences still see the truth.
        struct Frozen;
        impl GradCase for Frozen {
            fn name(&self) -> &str {
                "frozen"
            }
            fn input_len(&self) -> usize {
                1
            }
            fn output_len(&self) -> usize {
                1
            }
            fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
                y[0] = T::from_f64(x[0].to_f64() * 2.0);
            }
            fn backward(&self, _: &[f64], _: &[f64], _: &[f64], _: &mut [f64]) {}
        }
        let e = check(&Frozen, &[1.0], 3).unwrap_err();
        assert!(matches!(e, GradError::Mismatch { check: Check::FiniteDifference, .. }), "{e}");
    }

    #[test]
    fn the_steps_are_accurate_on_a_curved_function() {
        // exp at large arguments: big higher derivatives and a big value to round.
        struct ExpCase;
        impl GradCase for ExpCase {
            fn name(&self) -> &str {
                "exp"
            }
            fn input_len(&self) -> usize {
                12
            }
            fn output_len(&self) -> usize {
                12
            }
            fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = x.exp();
                }
            }
            fn backward(&self, x: &[f64], _: &[f64], dy: &[f64], dx: &mut [f64]) {
                for ((dx, x), dy) in dx.iter_mut().zip(x).zip(dy) {
                    *dx += dy * x.exp();
                }
            }
        }
        let r = check(&ExpCase, &inputs(9, 12, -5.0, 5.0, &[]), 9).unwrap();
        assert!(r.finite_difference_error < 1e-8, "{r}");
    }

    #[test]
    fn messages_name_case_index_values_and_check() {
        let e = GradError::Mismatch {
            case: "relu".into(),
            index: 4,
            check: Check::FiniteDifference,
            reverse: 1.0,
            reference: 0.5,
            tolerance: 1e-6,
        };
        assert_eq!(
            e.to_string(),
            "gradient check `relu`, input 4: reverse mode gives 1e0 but central finite differences gives 5e-1 \
             (difference 5e-1, tolerance 1e-6 relative)"
        );
    }

    #[test]
    fn inputs_avoid_kinks_scaled_by_their_size() {
        let x = inputs(5, 5000, 95.0, 105.0, &[100.0]);
        assert!(x.iter().all(|v| (v - 100.0).abs() >= 0.1));
        assert!(x.iter().any(|v| *v > 100.0) && x.iter().any(|v| *v < 100.0));
        assert_ne!(inputs(1, 4, 0.0, 1.0, &[]), inputs(2, 4, 0.0, 1.0, &[]));
    }

    #[test]
    #[should_panic(expected = "leave no room")]
    fn inputs_refuse_an_interval_that_is_all_kink() {
        inputs(0, 1, -1e-4, 1e-4, &[0.0]);
    }
}
