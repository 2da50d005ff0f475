//! Forward-mode differentiation with dual numbers.
//!
//! A [`Dual<T, N>`] carries a value and `N` tangent components. Running any code that is
//! generic over [`Scalar`] on duals computes `N` directional derivatives along with the
//! value, exactly (to rounding), in one pass. Nesting (`Dual<Dual<f64, 1>, 1>`) gives
//! second derivatives.
//!
//! [`jvp`], [`jacobian`] and [`derivative`] wrap the seeding and reading.

use core::cmp::Ordering;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::Scalar;

/// A dual number: `re + Σ eps[i] ε_i` with `ε_i ε_j = 0`.
///
/// ```
/// use monograd_core::{Dual, Scalar};
///
/// // d/dx (x^2 sin x) at x = 1
/// let x = Dual::<f64, 1>::variable(1.0, 0);
/// let y = x * x * x.sin();
/// let expected = 2.0 * 1f64.sin() + 1f64.cos();
/// assert!((y.eps[0] - expected).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual<T, const N: usize> {
    /// The primal value.
    pub re: T,
    /// The tangent components.
    pub eps: [T; N],
}

impl<T: Scalar, const N: usize> Dual<T, N> {
    /// A constant: zero tangent.
    #[inline]
    pub const fn constant(re: T) -> Self {
        Self { re, eps: [T::ZERO; N] }
    }

    /// The `i`-th independent variable: tangent `e_i`.
    ///
    /// # Panics
    /// If `i >= N` (a programming error, not a data error).
    #[inline]
    pub fn variable(re: T, i: usize) -> Self {
        let mut d = Self::constant(re);
        d.eps[i] = T::ONE;
        d
    }

    /// A value with the given tangent.
    #[inline]
    pub const fn new(re: T, eps: [T; N]) -> Self {
        Self { re, eps }
    }

    /// Applies the chain rule for `f(re)` with derivative `df = f'(re)`.
    #[inline]
    fn chain(self, f: T, df: T) -> Self {
        let mut eps = self.eps;
        for e in &mut eps {
            *e *= df;
        }
        Self { re: f, eps }
    }
}

impl<T: Scalar, const N: usize> Default for Dual<T, N> {
    fn default() -> Self {
        Self::constant(T::ZERO)
    }
}

impl<T: Scalar, const N: usize> PartialOrd for Dual<T, N> {
    /// Orders by primal value, so that branches pick the derivative of the branch taken.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
}

impl<T: Scalar, const N: usize> Add for Dual<T, N> {
    type Output = Self;
    #[inline]
    fn add(mut self, o: Self) -> Self {
        self += o;
        self
    }
}
impl<T: Scalar, const N: usize> AddAssign for Dual<T, N> {
    #[inline]
    fn add_assign(&mut self, o: Self) {
        self.re += o.re;
        for (a, b) in self.eps.iter_mut().zip(o.eps) {
            *a += b;
        }
    }
}
impl<T: Scalar, const N: usize> Sub for Dual<T, N> {
    type Output = Self;
    #[inline]
    fn sub(mut self, o: Self) -> Self {
        self -= o;
        self
    }
}
impl<T: Scalar, const N: usize> SubAssign for Dual<T, N> {
    #[inline]
    fn sub_assign(&mut self, o: Self) {
        self.re -= o.re;
        for (a, b) in self.eps.iter_mut().zip(o.eps) {
            *a -= b;
        }
    }
}
impl<T: Scalar, const N: usize> Mul for Dual<T, N> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        let mut eps = self.eps;
        for (i, e) in eps.iter_mut().enumerate() {
            *e = *e * o.re + self.re * o.eps[i];
        }
        Self { re: self.re * o.re, eps }
    }
}
impl<T: Scalar, const N: usize> MulAssign for Dual<T, N> {
    #[inline]
    fn mul_assign(&mut self, o: Self) {
        *self = *self * o;
    }
}
impl<T: Scalar, const N: usize> Div for Dual<T, N> {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        let inv = T::ONE / o.re;
        let re = self.re * inv;
        let mut eps = self.eps;
        for (i, e) in eps.iter_mut().enumerate() {
            *e = (*e - re * o.eps[i]) * inv;
        }
        Self { re, eps }
    }
}
impl<T: Scalar, const N: usize> DivAssign for Dual<T, N> {
    #[inline]
    fn div_assign(&mut self, o: Self) {
        *self = *self / o;
    }
}
impl<T: Scalar, const N: usize> Neg for Dual<T, N> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        let mut eps = self.eps;
        for e in &mut eps {
            *e = -*e;
        }
        Self { re: -self.re, eps }
    }
}

impl<T: Scalar, const N: usize> Scalar for Dual<T, N> {
    const ZERO: Self = Self::constant(T::ZERO);
    const ONE: Self = Self::constant(T::ONE);
    const NAME: &'static str = "dual";

    #[inline]
    fn from_f64(v: f64) -> Self {
        Self::constant(T::from_f64(v))
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self.re.to_f64()
    }
    #[inline]
    fn exp(self) -> Self {
        let e = self.re.exp();
        self.chain(e, e)
    }
    #[inline]
    fn ln(self) -> Self {
        self.chain(self.re.ln(), self.re.recip())
    }
    #[inline]
    fn sqrt(self) -> Self {
        let s = self.re.sqrt();
        self.chain(s, T::ONE / (s + s))
    }
    #[inline]
    fn tanh(self) -> Self {
        let t = self.re.tanh();
        self.chain(t, T::ONE - t * t)
    }
    #[inline]
    fn sin(self) -> Self {
        self.chain(self.re.sin(), self.re.cos())
    }
    #[inline]
    fn cos(self) -> Self {
        self.chain(self.re.cos(), -self.re.sin())
    }
    #[inline]
    fn powf(self, p: Self) -> Self {
        // d(x^p) = p x^(p-1) dx + x^p ln(x) dp; the second term only where p varies.
        let v = self.re.powf(p.re);
        let mut out = self.chain(v, p.re * self.re.powf(p.re - T::ONE));
        if p.eps.iter().any(|e| *e != T::ZERO) {
            let l = v * self.re.ln();
            for (o, e) in out.eps.iter_mut().zip(p.eps) {
                *o += l * e;
            }
        }
        out
    }
    #[inline]
    fn erf(self) -> Self {
        // d erf(x) = 2/sqrt(pi) e^(-x^2)
        let k = T::from_f64(core::f64::consts::FRAC_2_SQRT_PI);
        self.chain(self.re.erf(), k * (-(self.re * self.re)).exp())
    }
    #[inline]
    fn is_finite(self) -> bool {
        self.re.is_finite() && self.eps.iter().all(|e| e.is_finite())
    }
}

/// Jacobian-vector product: returns `f(x)` and `J_f(x) v` in one forward pass.
///
/// `f` reads `n` inputs and writes `m` outputs; it must be generic over the scalar, which
/// is why it is passed as a [`DualFn`] rather than a closure.
///
/// ```
/// use monograd_core::{dual::{jvp, DualFn}, Scalar};
///
/// struct Square;
/// impl DualFn for Square {
///     fn eval<T: Scalar>(&self, x: &[T], y: &mut [T]) {
///         for (y, x) in y.iter_mut().zip(x) {
///             *y = *x * *x;
///         }
///     }
/// }
/// let (mut y, mut jv) = ([0.0; 2], [0.0; 2]);
/// jvp(&Square, &[3.0, 4.0], &[1.0, 0.5], &mut y, &mut jv);
/// assert_eq!(y, [9.0, 16.0]);
/// assert_eq!(jv, [6.0, 4.0]);
/// ```
pub fn jvp<F: DualFn + ?Sized>(f: &F, x: &[f64], v: &[f64], y: &mut [f64], jv: &mut [f64]) {
    assert_eq!(x.len(), v.len(), "jvp: x and v differ in length");
    assert_eq!(y.len(), jv.len(), "jvp: y and jv differ in length");
    with_dual_buffers::<1, _>(x.len(), y.len(), |xd, yd| {
        for ((d, &x), &v) in xd.iter_mut().zip(x).zip(v) {
            *d = Dual::new(x, [v]);
        }
        f.eval(xd, yd);
        for ((y, jv), d) in y.iter_mut().zip(jv.iter_mut()).zip(yd.iter()) {
            *y = d.re;
            *jv = d.eps[0];
        }
    });
}

/// The full Jacobian `J[i][j] = ∂y_i / ∂x_j`, written row-major into `jac` (`m * n`).
///
/// Uses `n` forward passes with one tangent each, so it needs no allocation beyond the
/// dual buffers (on the stack for up to 256 values, on the heap with `alloc` above that).
///
/// ```
/// use monograd_core::{dual::{jacobian, DualFn}, Scalar};
///
/// struct Polar;
/// impl DualFn for Polar {
///     fn eval<T: Scalar>(&self, x: &[T], y: &mut [T]) {
///         y[0] = x[0] * x[1].cos();
///         y[1] = x[0] * x[1].sin();
///     }
/// }
/// let mut y = [0.0; 2];
/// let mut jac = [0.0; 4];
/// jacobian(&Polar, &[2.0, 0.0], &mut y, &mut jac);
/// assert_eq!(jac, [1.0, 0.0, 0.0, 2.0]);
/// ```
pub fn jacobian<F: DualFn + ?Sized>(f: &F, x: &[f64], y: &mut [f64], jac: &mut [f64]) {
    let (n, m) = (x.len(), y.len());
    assert_eq!(jac.len(), n * m, "jacobian: jac must hold m * n values");
    with_dual_buffers::<1, _>(n, m, |xd, yd| {
        for j in 0..n {
            for (i, (d, &x)) in xd.iter_mut().zip(x).enumerate() {
                *d = Dual::new(x, [if i == j { 1.0 } else { 0.0 }]);
            }
            f.eval(xd, yd);
            for (i, d) in yd.iter().enumerate() {
                jac[i * n + j] = d.eps[0];
                y[i] = d.re;
            }
        }
    });
}

/// The derivative of a scalar function of one variable, by one dual evaluation.
///
/// ```
/// use monograd_core::{dual::derivative, Scalar};
/// let d = derivative(|x| x.tanh(), 0.5);
/// assert!((d - (1.0 - 0.5f64.tanh().powi(2))).abs() < 1e-15);
/// ```
pub fn derivative(f: impl Fn(Dual<f64, 1>) -> Dual<f64, 1>, x: f64) -> f64 {
    f(Dual::variable(x, 0)).eps[0]
}

/// A vector function generic over the scalar, so that it can be evaluated on duals.
///
/// Closures cannot be generic, hence a trait with one method.
pub trait DualFn {
    /// Evaluates the function: reads `x`, writes every element of `y`.
    fn eval<T: Scalar>(&self, x: &[T], y: &mut [T]);
}

/// Runs `body` with dual buffers of `n` and `m` elements: on the stack when small.
fn with_dual_buffers<const K: usize, R>(
    n: usize,
    m: usize,
    body: impl FnOnce(&mut [Dual<f64, K>], &mut [Dual<f64, K>]) -> R,
) -> R {
    const STACK: usize = 256;
    if n <= STACK && m <= STACK {
        let mut xs = [Dual::<f64, K>::ZERO; STACK];
        let mut ys = [Dual::<f64, K>::ZERO; STACK];
        return body(&mut xs[..n], &mut ys[..m]);
    }
    #[cfg(feature = "alloc")]
    {
        let mut xs = alloc::vec![Dual::<f64, K>::ZERO; n];
        let mut ys = alloc::vec![Dual::<f64, K>::ZERO; m];
        body(&mut xs, &mut ys)
    }
    #[cfg(not(feature = "alloc"))]
    panic!("forward mode over more than 256 values needs the `alloc` feature")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn elementary_derivatives_match_their_formulas() {
        type Elementary = fn(Dual<f64, 1>) -> Dual<f64, 1>;
        let x = 0.7;
        let cases: [(Elementary, f64); 8] = [
            (|x| x.exp(), x.exp()),
            (|x| x.ln(), 1.0 / x),
            (|x| x.sqrt(), 0.5 / x.sqrt()),
            (|x| x.tanh(), 1.0 - x.tanh().powi(2)),
            (|x| x.sin(), x.cos()),
            (|x| x.cos(), -x.sin()),
            (|x| x.powf(Dual::constant(3.0)), 3.0 * x * x),
            (|x| x.erf(), core::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp()),
        ];
        for (i, (f, want)) in cases.iter().enumerate() {
            let got = derivative(f, x);
            assert!(close(got, *want), "case {i}: {got} vs {want}");
        }
    }

    #[test]
    fn quotient_and_product_rules() {
        let x = Dual::<f64, 2>::variable(3.0, 0);
        let y = Dual::<f64, 2>::variable(2.0, 1);
        let q = x / y;
        assert!(close(q.eps[0], 0.5) && close(q.eps[1], -0.75));
        let p = x * y;
        assert_eq!(p.eps, [2.0, 3.0]);
    }

    #[test]
    fn nested_duals_give_second_derivatives() {
        // f(x) = x^3, f''(x) = 6x
        type D2 = Dual<Dual<f64, 1>, 1>;
        let x: D2 = Dual::new(Dual::variable(2.0, 0), [Dual::constant(1.0)]);
        let y = x * x * x;
        assert!(close(y.eps[0].eps[0], 12.0));
    }
}
