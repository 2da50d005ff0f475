//! Elementwise functions `y_i = f(x_i)` and their vector-Jacobian product
//! `dx_i += dy_i f'(x_i)`.
//!
//! Each function is a small `Copy` value implementing [`UnaryFn`]; [`forward`] and
//! [`backward`] run any of them over a slice.
//!
//! | op | `f(x)` | `f'(x)` | from `y` |
//! | --- | --- | --- | --- |
//! | [`Relu`] | `max(0, x)` | `1` if `x > 0`, else `0` | yes |
//! | [`LeakyRelu`] | `x` if `x > 0`, else `slope x` | `1`, else `slope` | yes (`slope >= 0`) |
//! | [`Elu`] | `x` if `x > 0`, else `alpha (e^x - 1)` | `1`, else `alpha e^x = y + alpha` | yes (`alpha > 0`) |
//! | [`Sigmoid`] | `1 / (1 + e^-x)` | `y (1 - y)` | yes |
//! | [`Tanh`] | `tanh x` | `1 - y^2` | yes |
//! | [`Gelu`] | `x Φ(x)`, `Φ(x) = (1 + erf(x / √2)) / 2` | `Φ(x) + x φ(x)`, `φ(x) = e^(-x^2/2) / √(2π)` | no |
//! | [`Silu`] | `x σ(x)` | `σ(x) (1 + x (1 - σ(x)))` | no |
//! | [`Softplus`] | `ln(1 + e^x)` | `σ(x)` | no |
//! | [`Exp`] | `e^x` | `y` | yes |
//! | [`Ln`] | `ln x` | `1 / x` | no |
//! | [`Sqrt`] | `√x` | `1 / (2 y)` | yes |
//! | [`Square`] | `x^2` | `2 x` | no |
//! | [`Abs`] | `\|x\|` | `sign x` (`0` at `0`) | no |
//! | [`Sin`] | `sin x` | `cos x` | no |
//! | [`Cos`] | `cos x` | `-sin x` | no |
//! | [`Scale`] | `factor x` | `factor` | yes |
//! | [`Neg`] | `-x` | `-1` | yes |
//!
//! "From `y`" is [`UnaryFn::DERIV_FROM_OUTPUT`]: the derivative follows from the output
//! alone, so the activation can be fused into the layer that produces its input and the
//! input need not be kept for backward.
//!
//! # Shapes
//! - `x`, `y`, `dy`, `dx`: any length `n`, all equal.

use crate::Scalar;

/// An elementwise differentiable function.
///
/// Parameters (a slope, a factor) are `f64` fields converted with [`Scalar::from_f64`], so
/// one value of the op works at every scalar type.
///
/// ```
/// use monograd_core::ops::unary::{Tanh, UnaryFn};
/// let y = Tanh.f(0.5f64);
/// assert_eq!(Tanh.df(0.5, y), 1.0 - y * y);
/// assert!(<Tanh as UnaryFn>::DERIV_FROM_OUTPUT);
/// ```
pub trait UnaryFn: Copy {
    /// The op's name in [`OPS`](super::OPS) and in gradient-check messages.
    const NAME: &'static str;
    /// Whether [`UnaryFn::df`] reads only `y`: then it is exact whatever `x` is passed,
    /// and a fused layer may call it without having kept the input.
    const DERIV_FROM_OUTPUT: bool;

    /// `f(x)`.
    fn f<T: Scalar>(&self, x: T) -> T;

    /// `f'(x)`, given `x` and `y = f(x)` so that each op uses whichever is cheaper.
    fn df<T: Scalar>(&self, x: T, y: T) -> T;

    /// `y_i = f(x_i)` over a slice (equal lengths). The default calls [`UnaryFn::f`] on
    /// each value; an op with a vectorized kernel (`Tanh`) overrides it, with the same bits.
    #[inline]
    fn f_slice<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = self.f(x);
        }
    }

    /// `y_i = f(y_i)` over a slice, in place; see [`UnaryFn::f_slice`].
    #[inline]
    fn f_in_place<T: Scalar>(&self, y: &mut [T]) {
        for y in y {
            *y = self.f(*y);
        }
    }
}

/// `y_i = f(x_i)`.
///
/// # Panics
/// If `y` and `x` differ in length.
///
/// ```
/// use monograd_core::ops::unary::{forward, Relu};
/// let mut y = [0.0f32; 3];
/// forward(Relu, &[-1.0, 0.5, 2.0], &mut y);
/// assert_eq!(y, [0.0, 0.5, 2.0]);
/// ```
#[inline]
#[track_caller]
pub fn forward<T: Scalar, F: UnaryFn>(op: F, x: &[T], y: &mut [T]) {
    super::expect_len(F::NAME, "y", y.len(), x.len());
    op.f_slice(x, y);
}

/// `dx_i += dy_i f'(x_i)`, given `x` and `y = f(x)`.
///
/// # Panics
/// If the four slices differ in length.
///
/// ```
/// use monograd_core::ops::unary::{backward, forward, Square};
/// let x = [3.0f64, -1.0];
/// let mut y = [0.0; 2];
/// forward(Square, &x, &mut y);
/// let mut dx = [1.0, 1.0]; // accumulates
/// backward(Square, &x, &y, &[1.0, 0.5], &mut dx);
/// assert_eq!(dx, [7.0, 0.0]);
/// ```
#[inline]
#[track_caller]
pub fn backward<T: Scalar, F: UnaryFn>(op: F, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
    let n = x.len();
    super::expect_len(F::NAME, "y", y.len(), n);
    super::expect_len(F::NAME, "dy", dy.len(), n);
    super::expect_len(F::NAME, "dx", dx.len(), n);
    for (((dx, &x), &y), &dy) in dx.iter_mut().zip(x).zip(y).zip(dy) {
        *dx += dy * op.df(x, y);
    }
}

/// `y_i = f(y_i)` in place: the activation of a fused layer, applied to what the layer
/// just wrote, so the pre-activation needs no buffer of its own.
///
/// ```
/// use monograd_core::ops::unary::{forward_in_place, Relu};
/// let mut y = [-1.0f32, 2.0];
/// forward_in_place(Relu, &mut y);
/// assert_eq!(y, [0.0, 2.0]);
/// ```
#[inline]
pub fn forward_in_place<T: Scalar, F: UnaryFn>(op: F, y: &mut [T]) {
    op.f_in_place(y);
}

/// `dy_i *= f'(·)` from the output alone, in place: backward through a fused activation,
/// turning the gradient of its output into the gradient of its input.
///
/// Only for ops whose derivative follows from the output
/// ([`UnaryFn::DERIV_FROM_OUTPUT`]); using it with another op fails to compile.
///
/// # Panics
/// If `y` and `dy` differ in length.
///
/// ```
/// use monograd_core::ops::unary::{backward_in_place, Tanh, UnaryFn};
/// let y = [0.5f64];
/// let mut dy = [2.0];
/// backward_in_place(Tanh, &y, &mut dy);
/// assert_eq!(dy, [2.0 * (1.0 - 0.25)]);
/// ```
#[inline]
#[track_caller]
pub fn backward_in_place<T: Scalar, F: UnaryFn>(op: F, y: &[T], dy: &mut [T]) {
    const { assert!(F::DERIV_FROM_OUTPUT, "backward_in_place needs an op whose derivative follows from its output") };
    super::expect_len(F::NAME, "dy", dy.len(), y.len());
    // The input is gone; NaN makes any use of it visible, and these ops do not read it.
    let gone = T::from_f64(f64::NAN);
    for (dy, &y) in dy.iter_mut().zip(y) {
        *dy *= op.df(gone, y);
    }
}

/// `ln(1 + u)` for `u >= 0`, accurate when `u` is tiny (where `1 + u` rounds to `1`).
#[inline]
fn ln_1p<T: Scalar>(u: T) -> T {
    if u < T::from_f64(1e-4) {
        // The series' first omitted term, u^5/5, is below 1e-16 u here.
        let u2 = u * u;
        u - u2 * T::from_f64(0.5) + u2 * u * T::from_f64(1.0 / 3.0) - u2 * u2 * T::from_f64(0.25)
    } else {
        (T::ONE + u).ln()
    }
}

/// `e^x - 1`, accurate near `0` (where `e^x - 1` cancels).
#[inline]
fn exp_m1<T: Scalar>(x: T) -> T {
    if x.abs() < T::from_f64(1e-3) {
        // Taylor to x^5; the next term, x^6/720, is below 2e-18 |x| here.
        let c = [1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0];
        let mut acc = T::from_f64(c[4]);
        for &k in c[..4].iter().rev() {
            acc = acc * x + T::from_f64(k);
        }
        acc * x
    } else {
        x.exp() - T::ONE
    }
}

/// Rectified linear unit: `max(0, x)`; derivative `0` at `0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;

impl UnaryFn for Relu {
    const NAME: &'static str = "relu";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn f<T: Scalar>(&self, x: T) -> T {
        // `!(x <= 0)` is `x > 0` or NaN: NaN passes through as PyTorch's ReLU lets it,
        // with the same single comparison (and select) as `x > 0`.
        if !(x <= T::ZERO) {
            x
        } else {
            T::ZERO
        }
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, y: T) -> T {
        if y > T::ZERO {
            T::ONE
        } else {
            T::ZERO
        }
    }
}

/// Leaky ReLU: `x` for `x > 0`, else `slope * x`. The slope must be non-negative (the
/// derivative is read from the sign of `y`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    /// The slope for negative inputs (PyTorch's default is `0.01`).
    pub slope: f64,
}

impl Default for LeakyRelu {
    fn default() -> Self {
        Self { slope: 0.01 }
    }
}

impl UnaryFn for LeakyRelu {
    const NAME: &'static str = "leaky_relu";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        if x > T::ZERO {
            x
        } else {
            x * T::from_f64(self.slope)
        }
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, y: T) -> T {
        if y > T::ZERO {
            T::ONE
        } else {
            T::from_f64(self.slope)
        }
    }
}

/// Exponential linear unit: `x` for `x > 0`, else `alpha (e^x - 1)`. `alpha` must be
/// positive (the derivative is read from the sign of `y`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu {
    /// The negative saturation value (PyTorch's default is `1.0`).
    pub alpha: f64,
}

impl Default for Elu {
    fn default() -> Self {
        Self { alpha: 1.0 }
    }
}

impl UnaryFn for Elu {
    const NAME: &'static str = "elu";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        if x > T::ZERO {
            x
        } else {
            T::from_f64(self.alpha) * exp_m1(x)
        }
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, y: T) -> T {
        if y > T::ZERO {
            T::ONE
        } else {
            // alpha e^x = alpha (e^x - 1) + alpha
            y + T::from_f64(self.alpha)
        }
    }
}

/// The logistic function `1 / (1 + e^-x)`, stable for large `|x|`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

impl UnaryFn for Sigmoid {
    const NAME: &'static str = "sigmoid";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x.sigmoid()
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, y: T) -> T {
        y * (T::ONE - y)
    }
}

/// Hyperbolic tangent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

impl UnaryFn for Tanh {
    const NAME: &'static str = "tanh";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x.tanh()
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, y: T) -> T {
        T::ONE - y * y
    }
    #[inline]
    fn f_slice<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        // As far as both go, like the default's `zip`.
        let n = x.len().min(y.len());
        y[..n].copy_from_slice(&x[..n]);
        T::tanh_in_place(&mut y[..n]);
    }
    #[inline]
    fn f_in_place<T: Scalar>(&self, y: &mut [T]) {
        T::tanh_in_place(y);
    }
}

/// The exact (erf-based) Gaussian error linear unit `x Φ(x)`, PyTorch's default GELU.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gelu;

impl UnaryFn for Gelu {
    const NAME: &'static str = "gelu";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        let half = T::from_f64(0.5);
        half * x * (T::ONE + (x * T::from_f64(core::f64::consts::FRAC_1_SQRT_2)).erf())
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        let half = T::from_f64(0.5);
        let cdf = half * (T::ONE + (x * T::from_f64(core::f64::consts::FRAC_1_SQRT_2)).erf());
        // 1 / √(2π)
        let pdf = T::from_f64(0.398_942_280_401_432_7) * (-(half * x * x)).exp();
        cdf + x * pdf
    }
}

/// Sigmoid linear unit (swish): `x σ(x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Silu;

impl UnaryFn for Silu {
    const NAME: &'static str = "silu";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x * x.sigmoid()
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        let s = x.sigmoid();
        s * (T::ONE + x * (T::ONE - s))
    }
}

/// `ln(1 + e^x)`, stable for large `|x|` and accurate for very negative `x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softplus;

impl UnaryFn for Softplus {
    const NAME: &'static str = "softplus";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        // ln(1 + e^x) = x + ln(1 + e^-x): keep the exponent negative so it cannot overflow.
        if x > T::ZERO {
            x + ln_1p((-x).exp())
        } else {
            ln_1p(x.exp())
        }
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        x.sigmoid()
    }
}

/// `e^x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Exp;

impl UnaryFn for Exp {
    const NAME: &'static str = "exp";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x.exp()
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, y: T) -> T {
        y
    }
}

/// Natural logarithm, for positive inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ln;

impl UnaryFn for Ln {
    const NAME: &'static str = "ln";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x.ln()
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        x.recip()
    }
}

/// Square root, for positive inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sqrt;

impl UnaryFn for Sqrt {
    const NAME: &'static str = "sqrt";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x.sqrt()
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, y: T) -> T {
        (y + y).recip()
    }
}

/// `x^2`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Square;

impl UnaryFn for Square {
    const NAME: &'static str = "square";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x * x
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        x + x
    }
}

/// Absolute value; derivative `0` at `0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Abs;

impl UnaryFn for Abs {
    const NAME: &'static str = "abs";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        // Three branches rather than `Scalar::abs`, so that dual numbers also see a zero
        // derivative at 0, matching `df`.
        if x > T::ZERO {
            x
        } else if x < T::ZERO {
            -x
        } else {
            // 0 at ±0 (never -0), NaN at NaN, as PyTorch's `abs`; for dual numbers a zero
            // derivative.
            #[allow(clippy::eq_op)]
            let zero_or_nan = x - x;
            zero_or_nan
        }
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        if x > T::ZERO {
            T::ONE
        } else if x < T::ZERO {
            -T::ONE
        } else {
            T::ZERO
        }
    }
}

/// Sine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sin;

impl UnaryFn for Sin {
    const NAME: &'static str = "sin";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x.sin()
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        x.cos()
    }
}

/// Cosine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cos;

impl UnaryFn for Cos {
    const NAME: &'static str = "cos";
    const DERIV_FROM_OUTPUT: bool = false;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x.cos()
    }
    #[inline]
    fn df<T: Scalar>(&self, x: T, _y: T) -> T {
        -x.sin()
    }
}

/// Multiplication by a constant: `factor * x`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// The constant.
    pub factor: f64,
}

impl UnaryFn for Scale {
    const NAME: &'static str = "scale";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        x * T::from_f64(self.factor)
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, _y: T) -> T {
        T::from_f64(self.factor)
    }
}

/// Negation: `-x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Neg;

impl UnaryFn for Neg {
    const NAME: &'static str = "neg";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline]
    fn f<T: Scalar>(&self, x: T) -> T {
        -x
    }
    #[inline]
    fn df<T: Scalar>(&self, _x: T, _y: T) -> T {
        -T::ONE
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Dual;

    /// Every op here with its input range for tests and its kinks.
    macro_rules! for_each_op {
        ($m:ident) => {{
            $m!(Relu, -2.0, 2.0, &[0.0]);
            $m!(LeakyRelu { slope: 0.1 }, -2.0, 2.0, &[0.0]);
            $m!(Elu { alpha: 1.5 }, -3.0, 2.0, &[0.0]);
            $m!(Sigmoid, -6.0, 6.0, &[]);
            $m!(Tanh, -3.0, 3.0, &[]);
            $m!(Gelu, -4.0, 4.0, &[]);
            $m!(Silu, -5.0, 5.0, &[]);
            $m!(Softplus, -8.0, 8.0, &[]);
            $m!(Exp, -3.0, 3.0, &[]);
            $m!(Ln, 0.1, 5.0, &[]);
            $m!(Sqrt, 0.1, 5.0, &[]);
            $m!(Square, -3.0, 3.0, &[]);
            $m!(Abs, -2.0, 2.0, &[0.0]);
            $m!(Sin, -4.0, 4.0, &[]);
            $m!(Cos, -4.0, 4.0, &[]);
            $m!(Scale { factor: -2.5 }, -3.0, 3.0, &[]);
            $m!(Neg, -3.0, 3.0, &[]);
        }};
    }

    #[test]
    fn literal_values() {
        let e = core::f64::consts::E;
        let cases: [(&str, f64, f64); 24] = [
            ("relu(-1)", Relu.f(-1.0), 0.0),
            ("relu(2.5)", Relu.f(2.5), 2.5),
            ("leaky_relu(-2)", LeakyRelu { slope: 0.1 }.f(-2.0), -0.2),
            ("leaky_relu(3)", LeakyRelu { slope: 0.1 }.f(3.0), 3.0),
            ("elu(-1)", Elu { alpha: 2.0 }.f(-1.0), 2.0 * (-1f64).exp_m1()),
            ("elu(3)", Elu { alpha: 2.0 }.f(3.0), 3.0),
            ("sigmoid(0)", Sigmoid.f(0.0), 0.5),
            ("sigmoid(-1000)", Sigmoid.f(-1000.0), 0.0),
            ("tanh(0.5)", Tanh.f(0.5), 0.5f64.tanh()),
            // PyTorch: gelu(1) = 0.8413447460685429, gelu(-1) = -0.15865525393145707
            ("gelu(1)", Gelu.f(1.0), 0.841_344_746_068_542_9),
            ("gelu(-1)", Gelu.f(-1.0), -0.158_655_253_931_457_07),
            ("silu(1)", Silu.f(1.0), 1.0 / (1.0 + (-1f64).exp())),
            ("softplus(0)", Softplus.f(0.0), core::f64::consts::LN_2),
            ("softplus(800)", Softplus.f(800.0), 800.0),
            ("softplus(-50)", Softplus.f(-50.0), 1.928_749_847_963_917_8e-22),
            ("exp(1)", Exp.f(1.0), e),
            ("ln(e)", Ln.f(e), 1.0),
            ("sqrt(9)", Sqrt.f(9.0), 3.0),
            ("square(-3)", Square.f(-3.0), 9.0),
            ("abs(-3)", Abs.f(-3.0), 3.0),
            ("sin(pi/2)", Sin.f(core::f64::consts::FRAC_PI_2), 1.0),
            ("cos(0)", Cos.f(0.0), 1.0),
            ("scale(2)", Scale { factor: 3.0 }.f(2.0), 6.0),
            ("neg(2)", Neg.f(2.0), -2.0),
        ];
        for (what, got, want) in cases {
            assert!((got - want).abs() <= 1e-15 * want.abs(), "{what}: {got} vs {want}");
        }
    }

    #[test]
    fn kinks_take_the_derivative_of_the_branch_taken() {
        assert_eq!(Relu.df(0.0, Relu.f(0.0)), 0.0);
        assert_eq!(LeakyRelu { slope: 0.1 }.df(0.0, 0.0), 0.1);
        assert_eq!(Elu { alpha: 2.0 }.df(0.0, 0.0), 2.0);
        assert_eq!(Abs.df(0.0, 0.0), 0.0);
        // Dual numbers agree with `df` at the kinks.
        let d = |f: &dyn Fn(Dual<f64, 1>) -> Dual<f64, 1>| f(Dual::variable(0.0, 0)).eps[0];
        assert_eq!(d(&|x| Relu.f(x)), 0.0);
        assert_eq!(d(&|x| Abs.f(x)), 0.0);
        assert_eq!(d(&|x| LeakyRelu { slope: 0.1 }.f(x)), 0.1);
        assert_eq!(d(&|x| Elu { alpha: 2.0 }.f(x)), 2.0);
    }

    #[test]
    fn derivatives_claimed_from_the_output_are_right_without_the_input() {
        // An op that claims DERIV_FROM_OUTPUT must give the true derivative (by dual
        // numbers) when handed a NaN input, so that fused layers can drop the input.
        fn claims<F: UnaryFn>(_: &F) -> bool {
            F::DERIV_FROM_OUTPUT
        }
        let mut claimed = 0;
        macro_rules! check {
            ($op:expr, $lo:expr, $hi:expr, $kinks:expr) => {{
                let op = $op;
                if claims(&op) {
                    claimed += 1;
                    for k in 0..=20 {
                        let x: f64 = $lo + ($hi - $lo) * f64::from(k) / 20.0;
                        let exact = op.f(Dual::<f64, 1>::variable(x, 0)).eps[0];
                        let got = op.df(f64::NAN, op.f(x));
                        assert!((got - exact).abs() <= 1e-12 * exact.abs().max(1.0), "{op:?} at {x}: {got} vs {exact}");
                    }
                }
            }};
        }
        for_each_op!(check);
        assert_eq!(claimed, 9);
    }

    /// `Tanh` over a slice (the vectorized `f32` kernel) gives the bits of its value one
    /// at a time (as a fused layer computes it), for lengths around the vector widths.
    #[test]
    fn tanh_over_a_slice_equals_tanh_value_by_value() {
        let xs: [f32; 37] = core::array::from_fn(|i| (i as f32 - 18.0) * 0.37);
        for n in [0, 1, 8, 15, 16, 17, 37] {
            let (mut y, mut z) = ([0.0f32; 37], xs);
            forward(Tanh, &xs[..n], &mut y[..n]);
            forward_in_place(Tanh, &mut z[..n]);
            for i in 0..n {
                assert_eq!(y[i].to_bits(), Tanh.f(xs[i]).to_bits(), "forward, {n} values, at {i}");
                assert_eq!(z[i].to_bits(), Tanh.f(xs[i]).to_bits(), "forward_in_place, {n} values, at {i}");
            }
        }
        // The override stops where the shorter slice does, as the default's `zip`.
        let mut y = [7.0f32; 3];
        Tanh.f_slice(&xs[..2], &mut y);
        assert_eq!(y[2], 7.0);
    }

    #[test]
    fn nan_propagates_through_every_op() {
        // As PyTorch's: a NaN input gives a NaN output, never a number that hides it.
        let mut n = 0;
        macro_rules! check {
            ($op:expr, $lo:expr, $hi:expr, $kinks:expr) => {{
                let op = $op;
                assert!(op.f(f64::NAN).is_nan(), "{op:?}");
                assert!(op.f(f32::NAN).is_nan(), "{op:?}");
                assert!(op.f(Dual::<f64, 1>::variable(f64::NAN, 0)).re.is_nan(), "{op:?}");
                let mut y = [0.0f32; 3];
                forward(op, &[1.0, f32::NAN, -1.0], &mut y);
                assert!(y[1].is_nan(), "{op:?}: {y:?}");
                n += 1;
            }};
        }
        for_each_op!(check);
        assert_eq!(n, 17, "every op of the table");
        // The fused path applies the same function in place.
        let mut y = [f32::NAN, -1.0, 2.0];
        forward_in_place(Relu, &mut y);
        assert!(y[0].is_nan() && y[1] == 0.0 && y[1].is_sign_positive() && y[2] == 2.0);
    }

    #[test]
    fn extreme_inputs_stay_finite() {
        for x in [-800.0f64, -40.0, 40.0, 800.0] {
            for v in [Sigmoid.f(x), Softplus.f(x), Silu.f(x), Gelu.f(x), Tanh.f(x), Elu::default().f(x)] {
                assert!(v.is_finite(), "{v} at {x}");
            }
            assert!(Softplus.df(x, Softplus.f(x)).is_finite());
        }
        // Where 1 + e^x rounds to 1, softplus is still e^x to full precision.
        assert_eq!(Softplus.f(-40.0), (-40f64).exp());
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    /// `forward`/`backward` of one op over a vector, as a gradient-check case.
    #[cfg(feature = "alloc")]
    struct Case<F>(F, usize);

    #[cfg(feature = "alloc")]
    impl<F: UnaryFn> crate::gradcheck::GradCase for Case<F> {
        fn name(&self) -> &str {
            F::NAME
        }
        fn input_len(&self) -> usize {
            self.1
        }
        fn output_len(&self) -> usize {
            self.1
        }
        fn forward<T: Scalar>(&self, x: &[T], y: &mut [T]) {
            forward(self.0, x, y);
        }
        fn backward(&self, x: &[f64], y: &[f64], dy: &[f64], dx: &mut [f64]) {
            backward(self.0, x, y, dy, dx);
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        let mut names = Vec::new();
        let mut seed = 0;
        macro_rules! check {
            ($op:expr, $lo:expr, $hi:expr, $kinks:expr) => {{
                seed += 1;
                let x = crate::gradcheck::inputs(seed, 24, $lo, $hi, $kinks);
                names.push(super::super::testing::gradcheck(&Case($op, 24), &x, seed));
            }};
        }
        for_each_op!(check);
        names
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks().len(), 17);
    }
}
