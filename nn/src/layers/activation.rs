//! Activations as layers.
//!
//! | layer | PyTorch | `f(x)` | `f'(x)` |
//! | --- | --- | --- | --- |
//! | [`ReLU`] | `nn.ReLU()` | `max(0, x)` | `1` if `x > 0`, else `0` |
//! | [`LeakyReLU`] | `nn.LeakyReLU(negative_slope)` | `x` if `x > 0`, else `negative_slope x` | `1`, else `negative_slope` |
//! | [`ELU`] | `nn.ELU(alpha)` | `x` if `x > 0`, else `alpha (e^x - 1)` | `1`, else `alpha e^x` |
//! | [`Sigmoid`] | `nn.Sigmoid()` | `σ(x) = 1 / (1 + e^-x)` | `σ(x) (1 - σ(x))` |
//! | [`Tanh`] | `nn.Tanh()` | `tanh x` | `1 - tanh² x` |
//! | [`GELU`] | `nn.GELU()` | `x Φ(x)` (exact, through `erf`) | `Φ(x) + x φ(x)` |
//! | [`SiLU`] | `nn.SiLU()` | `x σ(x)` | `σ(x) (1 + x (1 - σ(x)))` |
//! | [`Softplus`] | `nn.Softplus()` | `ln(1 + e^x)` | `σ(x)` |
//! | [`Softmax`] | `nn.Softmax(dim=-1)` | `e^(x_j) / Σ_k e^(x_k)` | `dx_j = y_j (dy_j - Σ_k y_k dy_k)` |
//! | [`LogSoftmax`] | `nn.LogSoftmax(dim=-1)` | `x_j - ln Σ_k e^(x_k)` | `dx_j = dy_j - e^(y_j) Σ_k dy_k` |
//!
//! The elementwise ones have no parameters and map any shape to itself through the
//! matching primitive of [`monograd_core::ops::unary`], where their formulas, derivatives
//! and gradient checks live; each also implements [`Activation`], so `network!` can fuse it
//! into the layer that feeds it. [`LeakyReLU`] and [`ELU`] carry their configuration as a
//! field. Backward reads the saved input and output, so none needs a cache.
//!
//! [`Softmax`] and [`LogSoftmax`] are not elementwise: they normalise over the last
//! dimension of each sample (the whole sample for a [`Rank1`](monograd_core::Rank1), each
//! row of `W` values for a `Rank3<C, H, W>`), through [`monograd_core::ops::softmax`], and
//! their backward reads only the output.
//!
//! # Shapes
//! - input: any [`Shape`] `S`
//! - output: `S`

use monograd_core::module::Activation;
use monograd_core::ops::{softmax, unary};
use monograd_core::{Ctx, Layer, OutputShape, Scalar, Shape};

/// Defines an elementwise activation layer over a unary primitive.
///
/// `activation!(docs Name => OpType = op)` defines a unit struct `Name` whose
/// [`Activation::op`] is `op`; `activation!(@layer Name)` adds the `Module`, `OutputShape`
/// and `Layer` impls to a struct that already implements [`Activation`] (a configured one).
macro_rules! activation {
    (@layer $name:ident $(= $value:expr $(; config: $($setting:ident if $valid:expr),*)?)?) => {
        super::no_params!($name $(= $value $(; config: $($setting if $valid),*)?)?);

        impl<S: Shape> OutputShape<S> for $name {
            type Output = S;
        }

        impl<T: Scalar, S: Shape> Layer<T, S, S> for $name {
            type Cache = ();

            #[inline]
            fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
                unary::forward(Activation::op(self), x, y);
            }

            #[inline]
            fn backward(&self, x: &[T], y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
                if let Some(dx) = dx {
                    unary::backward(Activation::op(self), x, y, dy, dx);
                }
            }
        }
    };
    ($(#[$doc:meta])* $name:ident => $op_ty:ty = $op:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        impl Activation for $name {
            type Op = $op_ty;
            #[inline]
            fn op(&self) -> $op_ty {
                $op
            }
        }

        activation!(@layer $name);
    };
}

activation! {
    /// Rectified linear unit: `max(0, x)`.
    ///
    /// ```
    /// use monograd_nn::ReLU;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f32; 3];
    /// Layer::<f32, Rank1<3>, Rank1<3>>::forward(&ReLU, &[-1.0, 0.5, 2.0], &mut y, &mut Ctx::new(&mut []));
    /// assert_eq!(y, [0.0, 0.5, 2.0]);
    /// ```
    ReLU => unary::Relu = unary::Relu
}

/// Leaky ReLU: `x` for `x > 0`, else `negative_slope · x`, like
/// `torch.nn.LeakyReLU(negative_slope)`; the default slope is PyTorch's, `0.01`.
///
/// The derivative is read from the sign of the output (so that `network!` can fuse the
/// activation), which needs `negative_slope >= 0`.
///
/// ```
/// use monograd_nn::LeakyReLU;
/// use monograd_core::{Ctx, Layer, Rank1};
/// let mut y = [0.0f64; 2];
/// let act = LeakyReLU::new(0.1);
/// Layer::<f64, Rank1<2>, Rank1<2>>::forward(&act, &[-2.0, 3.0], &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [-0.2, 3.0]);
/// assert_eq!(LeakyReLU::default().negative_slope, 0.01);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    /// The slope for negative inputs; must be non-negative.
    pub negative_slope: f64,
}

impl LeakyReLU {
    /// A leaky ReLU with the given slope for negative inputs.
    ///
    /// # Panics
    /// If `negative_slope` is negative or NaN.
    pub const fn new(negative_slope: f64) -> Self {
        assert!(Self::valid_slope(negative_slope), "LeakyReLU: the negative slope must be non-negative");
        Self { negative_slope }
    }

    /// The same layer with the given slope: the builder `network!` calls for
    /// `act: LeakyReLU(0.1)` or `LeakyReLU(negative_slope = 0.1)`.
    ///
    /// ```
    /// use monograd_nn::LeakyReLU;
    /// const ACT: LeakyReLU = LeakyReLU::new(0.01).negative_slope(0.2);
    /// assert_eq!(ACT.negative_slope, 0.2);
    /// ```
    ///
    /// # Panics
    /// If `negative_slope` is negative or NaN (at compile time in a constant).
    #[must_use]
    pub const fn negative_slope(mut self, negative_slope: f64) -> Self {
        assert!(Self::valid_slope(negative_slope), "LeakyReLU: the negative slope must be non-negative");
        self.negative_slope = negative_slope;
        self
    }

    const fn valid_slope(s: f64) -> bool {
        s >= 0.0
    }
}

impl Default for LeakyReLU {
    /// PyTorch's default slope, `0.01`.
    fn default() -> Self {
        Self::new(0.01)
    }
}

impl Activation for LeakyReLU {
    type Op = unary::LeakyRelu;
    #[inline]
    fn op(&self) -> unary::LeakyRelu {
        unary::LeakyRelu { slope: self.negative_slope }
    }
}

activation!(@layer LeakyReLU = LeakyReLU::new(0.01); config: negative_slope if LeakyReLU::valid_slope);

/// Exponential linear unit: `x` for `x > 0`, else `alpha (e^x - 1)`, like
/// `torch.nn.ELU(alpha)`; the default `alpha` is PyTorch's, `1.0`.
///
/// The derivative is read from the output (`alpha e^x = y + alpha` for `x <= 0`, so that
/// `network!` can fuse the activation), which needs `alpha > 0`.
///
/// ```
/// use monograd_nn::ELU;
/// use monograd_core::{Ctx, Layer, Rank1};
/// let mut y = [0.0f64; 2];
/// Layer::<f64, Rank1<2>, Rank1<2>>::forward(&ELU::default(), &[-1.0, 3.0], &mut y, &mut Ctx::new(&mut []));
/// assert!((y[0] - (-1f64).exp_m1()).abs() < 1e-15);
/// assert_eq!(y[1], 3.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ELU {
    /// The value approached for very negative inputs is `-alpha`; must be positive.
    pub alpha: f64,
}

impl ELU {
    /// An ELU with the given `alpha`.
    ///
    /// # Panics
    /// If `alpha` is not positive (or NaN).
    pub const fn new(alpha: f64) -> Self {
        assert!(Self::valid_alpha(alpha), "ELU: alpha must be positive");
        Self { alpha }
    }

    /// The same layer with the given `alpha`: the builder `network!` calls for
    /// `elu: ELU(0.5)` or `ELU(alpha = 0.5)`.
    ///
    /// ```
    /// use monograd_nn::ELU;
    /// const ACT: ELU = ELU::new(1.0).alpha(0.5);
    /// assert_eq!(ACT.alpha, 0.5);
    /// ```
    ///
    /// # Panics
    /// If `alpha` is not positive (or NaN); at compile time in a constant.
    #[must_use]
    pub const fn alpha(mut self, alpha: f64) -> Self {
        assert!(Self::valid_alpha(alpha), "ELU: alpha must be positive");
        self.alpha = alpha;
        self
    }

    const fn valid_alpha(a: f64) -> bool {
        a > 0.0
    }
}

impl Default for ELU {
    /// PyTorch's default, `alpha = 1.0`.
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl Activation for ELU {
    type Op = unary::Elu;
    #[inline]
    fn op(&self) -> unary::Elu {
        unary::Elu { alpha: self.alpha }
    }
}

activation!(@layer ELU = ELU::new(1.0); config: alpha if ELU::valid_alpha);

activation! {
    /// The logistic function `σ(x) = 1 / (1 + e^-x)`, stable for large `|x|`.
    ///
    /// ```
    /// use monograd_nn::Sigmoid;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f32; 3];
    /// Layer::<f32, Rank1<3>, Rank1<3>>::forward(&Sigmoid, &[0.0, -1000.0, 1000.0], &mut y, &mut Ctx::new(&mut []));
    /// assert_eq!(y, [0.5, 0.0, 1.0]);
    /// ```
    Sigmoid => unary::Sigmoid = unary::Sigmoid
}

activation! {
    /// Hyperbolic tangent.
    ///
    /// ```
    /// use monograd_nn::Tanh;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f64; 1];
    /// Layer::<f64, Rank1<1>, Rank1<1>>::forward(&Tanh, &[0.5], &mut y, &mut Ctx::new(&mut []));
    /// assert_eq!(y[0], 0.5f64.tanh());
    /// ```
    Tanh => unary::Tanh = unary::Tanh
}

activation! {
    /// The exact Gaussian error linear unit `x Φ(x)`, with `Φ(x) = (1 + erf(x / √2)) / 2`:
    /// PyTorch's default `nn.GELU()` (not the `tanh` approximation).
    ///
    /// ```
    /// use monograd_nn::GELU;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f64; 2];
    /// Layer::<f64, Rank1<2>, Rank1<2>>::forward(&GELU, &[1.0, -1.0], &mut y, &mut Ctx::new(&mut []));
    /// // torch.nn.functional.gelu on float64
    /// assert!((y[0] - 0.8413447460685429).abs() < 1e-15);
    /// assert!((y[1] + 0.15865525393145707).abs() < 1e-15);
    /// ```
    GELU => unary::Gelu = unary::Gelu
}

activation! {
    /// Sigmoid linear unit (swish): `x σ(x)`.
    ///
    /// ```
    /// use monograd_nn::SiLU;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f64; 1];
    /// Layer::<f64, Rank1<1>, Rank1<1>>::forward(&SiLU, &[1.0], &mut y, &mut Ctx::new(&mut []));
    /// assert!((y[0] - 0.7310585786300049).abs() < 1e-15);
    /// ```
    SiLU => unary::Silu = unary::Silu
}

activation! {
    /// `ln(1 + e^x)`, stable for large `|x|`: `nn.Softplus()` with its default `beta = 1`.
    ///
    /// ```
    /// use monograd_nn::Softplus;
    /// use monograd_core::{Ctx, Layer, Rank1};
    /// let mut y = [0.0f64; 2];
    /// Layer::<f64, Rank1<2>, Rank1<2>>::forward(&Softplus, &[0.0, 800.0], &mut y, &mut Ctx::new(&mut []));
    /// assert_eq!(y, [core::f64::consts::LN_2, 800.0]);
    /// ```
    Softplus => unary::Softplus = unary::Softplus
}

/// The length of the last dimension of `S`: the rows that [`Softmax`] and [`LogSoftmax`]
/// normalise.
#[inline]
fn last_dim<S: Shape>() -> usize {
    S::DIMS.last().copied().unwrap_or(S::NUMEL)
}

/// Softmax over the last dimension of each sample, like `torch.nn.Softmax(dim=-1)`:
/// `y_j = e^(x_j) / Σ_k e^(x_k)`, computed with the row maximum subtracted so that nothing
/// overflows.
///
/// Not elementwise, so it implements [`Layer`] directly (not [`Activation`]) and is never
/// fused. Backward reads only the output: `dx_j += y_j (dy_j - Σ_k y_k dy_k)`.
///
/// ```
/// use monograd_nn::Softmax;
/// use monograd_core::{Ctx, Layer, Rank2};
/// // Two rows of two: each row sums to one.
/// let x = [0.0f64, 3f64.ln(), 1000.0, 1000.0];
/// let mut y = [0.0f64; 4];
/// Layer::<f64, Rank2<2, 2>, Rank2<2, 2>>::forward(&Softmax, &x, &mut y, &mut Ctx::new(&mut []));
/// assert!((y[0] - 0.25).abs() < 1e-15 && (y[1] - 0.75).abs() < 1e-15);
/// assert_eq!(y[2..], [0.5, 0.5]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Softmax;
super::no_params!(Softmax);

impl<S: Shape> OutputShape<S> for Softmax {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Softmax {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        softmax::softmax(x, y, last_dim::<S>());
    }

    #[inline]
    fn backward(&self, _x: &[T], y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            softmax::softmax_backward(y, dy, dx, last_dim::<S>());
        }
    }
}

/// Log-softmax over the last dimension of each sample, like `torch.nn.LogSoftmax(dim=-1)`:
/// `y_j = x_j - ln Σ_k e^(x_k)`, stable for any logits.
///
/// Not elementwise, so it implements [`Layer`] directly (not [`Activation`]) and is never
/// fused. Backward reads only the output: `dx_j += dy_j - e^(y_j) Σ_k dy_k`.
///
/// ```
/// use monograd_nn::LogSoftmax;
/// use monograd_core::{Ctx, Layer, Rank1};
/// let mut y = [0.0f64; 2];
/// Layer::<f64, Rank1<2>, Rank1<2>>::forward(&LogSoftmax, &[-1000.0, -1000.0], &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [-core::f64::consts::LN_2; 2]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogSoftmax;
super::no_params!(LogSoftmax);

impl<S: Shape> OutputShape<S> for LogSoftmax {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for LogSoftmax {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        softmax::log_softmax(x, y, last_dim::<S>());
    }

    #[inline]
    fn backward(&self, _x: &[T], y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            softmax::log_softmax_backward(y, dy, dx, last_dim::<S>());
        }
    }
}

/// The names of the activation layers, for tests that enumerate them.
pub const ACTIVATIONS: &[&str] =
    &["ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "GELU", "SiLU", "Softplus", "Softmax", "LogSoftmax"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::{Rank1, Rank2, Rank3};

    #[test]
    fn slopes_and_alphas_are_settings_checked_when_set() {
        use monograd_core::module::Path;
        use monograd_core::Module;
        let (mut leaky, mut elu) = (LeakyReLU::default().negative_slope(0.5), ELU::default().alpha(0.25));
        let mut seen = [0.0; 2];
        Module::<f32>::visit_config(&leaky, &Path::ROOT, &mut |s| {
            assert!(s.path.ends_with("negative_slope"));
            seen[0] = *s.value;
        });
        Module::<f32>::visit_config(&elu, &Path::ROOT, &mut |s| {
            assert!(s.path.ends_with("alpha"));
            seen[1] = *s.value;
        });
        assert_eq!(seen, [0.5, 0.25]);
        // A negative slope and a zero alpha are refused: the fields keep their values.
        Module::<f32>::visit_config_mut(&mut leaky, &Path::ROOT, &mut |s| *s.value = -1.0);
        Module::<f32>::visit_config_mut(&mut elu, &Path::ROOT, &mut |s| *s.value = 0.0);
        assert_eq!((leaky.negative_slope, elu.alpha), (0.5, 0.25));
        Module::<f32>::visit_config_mut(&mut leaky, &Path::ROOT, &mut |s| *s.value = 0.0);
        assert_eq!(leaky.negative_slope, 0.0);
    }

    #[test]
    #[should_panic(expected = "alpha must be positive")]
    fn the_builder_refuses_a_zero_alpha() {
        let _ = ELU::default().alpha(0.0);
    }

    /// Each activation as a layer family over a `[2, 3]` sample, named after the layer.
    macro_rules! check_all {
        ($($name:ident = $value:expr),* $(,)?) => {{
            let mut checked = [""; ACTIVATIONS.len()];
            let mut n = 0;
            $({
                struct Fam;
                impl LayerFamily for Fam {
                    type In = Rank2<2, 3>;
                    type Out = Rank2<2, 3>;
                    type At<T: Scalar> = $name;
                    const NAME: &'static str = stringify!($name);
                    fn zero<T: Scalar>() -> $name {
                        $value
                    }
                }
                let case = LayerCase::<Fam, 3>::new();
                // Away from the kinks of ReLU, LeakyReLU and ELU at 0.
                let x = gradcheck::inputs(n as u64, case.input_len(), -3.0, 3.0, &[0.0]);
                gradcheck::check(&case, &x, 7).unwrap();
                checked[n] = stringify!($name);
                n += 1;
            })*
            assert_eq!(n, ACTIVATIONS.len());
            checked
        }};
    }

    #[test]
    fn every_activation_passes_the_gradient_check() {
        let checked = check_all!(
            ReLU = ReLU,
            LeakyReLU = LeakyReLU::new(0.2),
            ELU = ELU::new(1.5),
            Sigmoid = Sigmoid,
            Tanh = Tanh,
            GELU = GELU,
            SiLU = SiLU,
            Softplus = Softplus,
            Softmax = Softmax,
            LogSoftmax = LogSoftmax,
        );
        assert_eq!(&checked[..], ACTIVATIONS);
    }

    /// Runs one layer forward on `x` over samples of shape `S`.
    fn run<L: Layer<f64, S, S>, S: Shape, const N: usize>(layer: &L, x: [f64; N]) -> [f64; N] {
        let mut y = [f64::NAN; N];
        layer.forward(&x, &mut y, &mut Ctx::new(&mut []));
        y
    }

    fn assert_close<const N: usize>(what: &str, got: [f64; N], want: [f64; N]) {
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-15 * w.abs().max(1.0), "{what}: {got:?} vs {want:?}");
        }
    }

    #[test]
    fn literal_values() {
        // Reference values computed in f64 with Python's `math` module (GELU's from PyTorch).
        type V = Rank1<2>;
        assert_close("ReLU", run::<_, V, 2>(&ReLU, [-1.0, 2.5]), [0.0, 2.5]);
        assert_close("LeakyReLU()", run::<_, V, 2>(&LeakyReLU::default(), [-2.0, 3.0]), [-0.02, 3.0]);
        assert_close("LeakyReLU(0.2)", run::<_, V, 2>(&LeakyReLU::new(0.2), [-2.0, 3.0]), [-0.4, 3.0]);
        assert_close("ELU()", run::<_, V, 2>(&ELU::default(), [-1.0, 3.0]), [-0.632_120_558_828_557_7, 3.0]);
        assert_close("ELU(2)", run::<_, V, 2>(&ELU::new(2.0), [-1.0, 0.5]), [-1.264_241_117_657_115_3, 0.5]);
        assert_close("Sigmoid", run::<_, V, 2>(&Sigmoid, [0.0, 1.0]), [0.5, 0.731_058_578_630_004_9]);
        assert_close("Tanh", run::<_, V, 2>(&Tanh, [0.5, -1.0]), [0.462_117_157_260_009_74, -0.761_594_155_955_764_9]);
        assert_close("GELU", run::<_, V, 2>(&GELU, [1.0, -1.0]), [0.841_344_746_068_542_9, -0.158_655_253_931_457_07]);
        assert_close("SiLU", run::<_, V, 2>(&SiLU, [1.0, -2.0]), [0.731_058_578_630_004_9, -0.238_405_844_044_235_1]);
        assert_close(
            "Softplus",
            run::<_, V, 2>(&Softplus, [0.0, 1.0]),
            [core::f64::consts::LN_2, 1.313_261_687_518_222_8],
        );
        assert_close(
            "Softmax",
            run::<_, Rank1<3>, 3>(&Softmax, [1.0, 2.0, 3.0]),
            [0.090_030_573_170_380_46, 0.244_728_471_054_797_67, 0.665_240_955_774_821_9],
        );
        assert_close(
            "LogSoftmax",
            run::<_, Rank1<3>, 3>(&LogSoftmax, [1.0, 2.0, 3.0]),
            [-2.407_605_964_444_38, -1.407_605_964_444_380_1, -0.407_605_964_444_380_13],
        );
    }

    #[test]
    fn softmax_normalises_each_row_of_the_last_dimension() {
        // Rank3<1, 2, 3>: two rows of three per sample, two samples: four rows in all.
        let x = [0.5, -1.0, 2.0, 3.0, 3.0, 3.0, -4.0, 0.0, 4.0, 1.0, 1.0, -1.0];
        let y = run::<_, Rank3<1, 2, 3>, 12>(&Softmax, x);
        for (row, xr) in y.chunks(3).zip(x.chunks(3)) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            // Each row on its own: the same as softmax of that row as a Rank1 sample.
            let alone = run::<_, Rank1<3>, 3>(&Softmax, [xr[0], xr[1], xr[2]]);
            assert_eq!(row, alone);
        }
        assert_eq!(y[3..6], [1.0 / 3.0; 3]);
        let logs = run::<_, Rank3<1, 2, 3>, 12>(&LogSoftmax, x);
        for (l, s) in logs.iter().zip(&y) {
            assert!((l.exp() - s).abs() < 1e-15);
        }
        // For a vector, the whole sample is one row.
        let v = run::<_, Rank1<4>, 4>(&Softmax, [1.0, 1.0, 1.0, 1.0]);
        assert_eq!(v, [0.25; 4]);
    }

    #[test]
    fn nan_propagates_through_every_activation() {
        // As PyTorch's layers: a NaN input gives NaN where it lands (for the normalising
        // ones, its whole row), never a number that hides it; the other rows stay finite.
        type V = Rank2<2, 2>;
        let x = [f64::NAN, 1.0, -1.0, 0.5];
        let elementwise = [
            ("ReLU", run::<_, V, 4>(&ReLU, x)),
            ("LeakyReLU", run::<_, V, 4>(&LeakyReLU::new(0.2), x)),
            ("ELU", run::<_, V, 4>(&ELU::new(1.5), x)),
            ("Sigmoid", run::<_, V, 4>(&Sigmoid, x)),
            ("Tanh", run::<_, V, 4>(&Tanh, x)),
            ("GELU", run::<_, V, 4>(&GELU, x)),
            ("SiLU", run::<_, V, 4>(&SiLU, x)),
            ("Softplus", run::<_, V, 4>(&Softplus, x)),
        ];
        for (what, y) in elementwise {
            assert!(y[0].is_nan() && y[1..].iter().all(|v| v.is_finite()), "{what}: {y:?}");
        }
        for (what, y) in [("Softmax", run::<_, V, 4>(&Softmax, x)), ("LogSoftmax", run::<_, V, 4>(&LogSoftmax, x))] {
            assert!(y[..2].iter().all(|v| v.is_nan()) && y[2..].iter().all(|v| v.is_finite()), "{what}: {y:?}");
        }
        // A NaN that is not the first of its row: the row maximum must not skip it.
        let y = run::<_, V, 4>(&Softmax, [1.0, f64::NAN, 0.0, 0.0]);
        assert!(y[0].is_nan() && y[1].is_nan(), "{y:?}");
        assert_eq!(elementwise_names(), ACTIVATIONS.len() - 2);
    }

    /// The elementwise activations counted by the test above.
    fn elementwise_names() -> usize {
        ACTIVATIONS.iter().filter(|n| !n.contains("Softmax")).count()
    }

    #[test]
    fn configured_activations_hand_their_configuration_to_the_fused_op() {
        assert_eq!(LeakyReLU::new(0.3).op(), unary::LeakyRelu { slope: 0.3 });
        assert_eq!(ELU::new(0.5).op(), unary::Elu { alpha: 0.5 });
        assert_eq!(LeakyReLU::default().op(), unary::LeakyRelu::default());
        assert_eq!(ELU::default().op(), unary::Elu::default());
    }

    #[test]
    #[should_panic(expected = "negative slope must be non-negative")]
    fn a_negative_slope_is_refused() {
        let _ = LeakyReLU::new(-0.1);
    }

    #[test]
    #[should_panic(expected = "alpha must be positive")]
    fn a_non_positive_alpha_is_refused() {
        let _ = ELU::new(0.0);
    }
}
