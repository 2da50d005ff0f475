//! The fully connected layer.
//!
//! `y = x Wᵀ + b`, with `W` of shape `[out, in]` and `b` of shape `[out]` (PyTorch's
//! layout, so weights move across unchanged).
//!
//! Derivatives: `∂L/∂x = ∂L/∂y · W`, `∂L/∂W = (∂L/∂y)ᵀ · x`, `∂L/∂b = Σ_batch ∂L/∂y`.
//!
//! [`LinearNoBias`] is `torch.nn.Linear(I, O, bias=False)`: `y = x Wᵀ`, with `weight` alone.
//!
//! # Shapes
//! - input: [`Rank1<I>`] per sample, `[batch, I]` flat
//! - output: [`Rank1<O>`] per sample, `[batch, O]` flat
//! - `weight`: `[O, I]`, `bias`: `[O]` ([`Linear`] only)

use monograd_core::ops::linear;
use monograd_core::ops::unary::UnaryFn;
use monograd_core::{Ctx, Layer, OutputShape, Rank1, Rng, Scalar};

/// A dense layer from `I` to `O` features, with bias.
///
/// ```
/// use monograd_nn::Linear;
/// use monograd_core::{Ctx, Layer, Rank1, Rng};
///
/// // PyTorch's default initialisation, from a seed.
/// let fc = Linear::<3, 2>::new(&mut Rng::seed(0));
/// let x = [[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]];
/// let mut y = [[0.0f32; 2]; 2];
/// fc.forward(x.as_flattened(), y.as_flattened_mut(), &mut Ctx::new(&mut []));
/// // With a zero input, the output is the bias.
/// assert_eq!(y[1], fc.bias);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<const I: usize, const O: usize, T = f32> {
    /// `[out, in]`, row-major.
    pub weight: [[T; I]; O],
    /// `[out]`.
    pub bias: [T; O],
}

impl<const I: usize, const O: usize, T: Scalar> Linear<I, O, T> {
    /// All weights and biases zero: for gradients, optimizer state and `static` models on
    /// devices without a heap.
    pub const ZERO: Self = Self { weight: [[T::ZERO; I]; O], bias: [T::ZERO; O] };

    /// PyTorch's default initialisation: weights and biases uniform in `±1/√I`.
    pub fn new(rng: &mut Rng) -> Self {
        let mut layer = Self::ZERO;
        layer.init(rng);
        layer
    }

    /// The same layer over another scalar, every parameter mapped by `f`: for example
    /// `Dual::constant` to differentiate a trained layer by forward mode.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> Linear<I, O, U> {
        Linear { weight: self.weight.map(|row| row.map(&f)), bias: self.bias.map(&f) }
    }

    /// Re-initialises in place, as [`Linear::new`] does; no large value on the stack.
    pub fn init(&mut self, rng: &mut Rng) {
        // sqrt is correctly rounded everywhere, so the bound is the same on every target.
        let bound = 1.0 / Scalar::sqrt(I as f64);
        for w in self.weight.as_flattened_mut() {
            *w = T::from_f64(rng.uniform(-bound, bound));
        }
        for b in &mut self.bias {
            *b = T::from_f64(rng.uniform(-bound, bound));
        }
    }

    /// Backward and a plain SGD step in one ([`linear::backward_sgd`]): adds `∂L/∂x` into
    /// `dx` with the weights as they were, then moves the weights and bias by `-lr` times
    /// their gradients, which are never stored. The weight update is the weight-gradient
    /// product itself (`alpha = -lr`, `beta = 1` into the weights), so a step reads and
    /// writes the parameters once instead of zeroing, filling and reading a gradient. The
    /// same values as `backward` into a zeroed gradient and [`Sgd`](crate::optim::Sgd)
    /// without momentum or weight decay, to the bit for batches of at most 64.
    ///
    /// ```
    /// use monograd_nn::Linear;
    /// use monograd_core::{Ctx, Layer, Rng};
    ///
    /// let mut fc = Linear::<3, 2>::new(&mut Rng::seed(0));
    /// let (x, dy) = ([1.0f32, 2.0, 3.0], [0.5f32, -1.0]);
    /// // The unfused way: a gradient, then the update.
    /// let mut grad = Linear::<3, 2>::ZERO;
    /// let mut dx = [0.0f32; 3];
    /// fc.backward(&x, &[0.0; 2], &(), &dy, Some(&mut dx), &mut grad, &mut Ctx::new(&mut []));
    /// let mut want = fc.clone();
    /// for (w, g) in want.weight.as_flattened_mut().iter_mut().zip(grad.weight.as_flattened()) {
    ///     *w -= 0.1 * g;
    /// }
    /// for (b, g) in want.bias.iter_mut().zip(&grad.bias) {
    ///     *b -= 0.1 * g;
    /// }
    /// let mut dx_fused = [0.0f32; 3];
    /// fc.backward_sgd(&x, &dy, Some(&mut dx_fused), 0.1, &mut Ctx::new(&mut []));
    /// assert_eq!((fc, dx_fused), (want, dx));
    /// ```
    #[inline]
    pub fn backward_sgd(&mut self, x: &[T], dy: &[T], dx: Option<&mut [T]>, lr: T, ctx: &mut Ctx<'_, T>) {
        linear::backward_sgd(x, self.weight.as_flattened_mut(), Some(&mut self.bias), dy, dx, lr, I, O, ctx.pack);
    }
}

impl<const I: usize, const O: usize, T: Scalar> Default for Linear<I, O, T> {
    /// All zero, as [`Linear::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

super::layer_tensors!(
    [const I: usize, const O: usize] Linear<I, O>, base = Linear::ZERO, init = Linear::init;
    params: weight: [O, I], bias: [O];
    buffers: ;
    counters:
);

impl<const I: usize, const O: usize, T: Scalar> OutputShape<Rank1<I>> for Linear<I, O, T> {
    type Output = Rank1<O>;
}

impl<const I: usize, const O: usize, T: Scalar> Layer<T, Rank1<I>, Rank1<O>> for Linear<I, O, T> {
    type Cache = ();
    const MACS: usize = I * O;

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], ctx: &mut Ctx<'_, T>) {
        let w = self.weight.as_flattened();
        match ctx.packed(w) {
            Some(p) => linear::forward_prepacked(x, w, Some(&self.bias), y, I, O, p, ctx.pack),
            None => linear::forward(x, w, Some(&self.bias), y, I, O, ctx.pack),
        }
    }

    #[inline]
    fn forward_fused<A: UnaryFn>(&self, x: &[T], y: &mut [T], act: A, ctx: &mut Ctx<'_, T>) {
        let w = self.weight.as_flattened();
        match ctx.packed(w) {
            Some(p) => linear::forward_act_prepacked(x, w, Some(&self.bias), act, y, I, O, p, ctx.pack),
            None => linear::forward_act(x, w, Some(&self.bias), act, y, I, O, ctx.pack),
        }
    }

    #[inline]
    fn forward_train_fused<A: UnaryFn>(&mut self, x: &[T], y: &mut [T], _: &mut (), act: A, ctx: &mut Ctx<'_, T>) {
        self.forward_fused(x, y, act, ctx);
    }

    #[inline]
    fn backward(
        &self,
        x: &[T],
        _y: &[T],
        _cache: &(),
        dy: &[T],
        dx: Option<&mut [T]>,
        grad: &mut Self,
        ctx: &mut Ctx<'_, T>,
    ) {
        linear::backward(
            x,
            self.weight.as_flattened(),
            dy,
            dx,
            Some(grad.weight.as_flattened_mut()),
            Some(&mut grad.bias),
            I,
            O,
            ctx.pack,
        );
    }

    const FUSED_SGD: bool = true;

    /// [`Linear::backward_sgd`]: the update is the weight-gradient product itself.
    #[inline]
    fn backward_sgd(&mut self, x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, lr: T, ctx: &mut Ctx<'_, T>) {
        Linear::backward_sgd(self, x, dy, dx, lr, ctx);
    }
}

/// A dense layer from `I` to `O` features without bias: `y = x Wᵀ`, as
/// `torch.nn.Linear(I, O, bias=False)`, whose `state_dict` holds `weight` alone.
///
/// A type of its own rather than a flag on [`Linear`], so that a model without biases
/// stores, visits and saves no bias at all, and its parameter count is `I * O` by type.
///
/// ```
/// use monograd_nn::LinearNoBias;
/// use monograd_core::{Ctx, Layer, Module, Rank1};
///
/// let fc = LinearNoBias::<2, 2, f64> { weight: [[1.0, 2.0], [3.0, 4.0]] };
/// let mut y = [0.0; 2];
/// fc.forward(&[1.0, 1.0], &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [3.0, 7.0]);
/// assert_eq!(<LinearNoBias<784, 10> as Module<f32>>::PARAMS, 7840);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinearNoBias<const I: usize, const O: usize, T = f32> {
    /// `[out, in]`, row-major.
    pub weight: [[T; I]; O],
}

impl<const I: usize, const O: usize, T: Scalar> LinearNoBias<I, O, T> {
    /// All weights zero: for gradients, optimizer state and `static` models.
    pub const ZERO: Self = Self { weight: [[T::ZERO; I]; O] };

    /// PyTorch's default initialisation: weights uniform in `±1/√I` (the same draws as the
    /// weights of [`Linear::new`]).
    pub fn new(rng: &mut Rng) -> Self {
        let mut layer = Self::ZERO;
        layer.init(rng);
        layer
    }

    /// The same layer over another scalar, every weight mapped by `f`.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> LinearNoBias<I, O, U> {
        LinearNoBias { weight: self.weight.map(|row| row.map(&f)) }
    }

    /// Re-initialises in place, as [`LinearNoBias::new`] does.
    pub fn init(&mut self, rng: &mut Rng) {
        let bound = 1.0 / Scalar::sqrt(I as f64);
        for w in self.weight.as_flattened_mut() {
            *w = T::from_f64(rng.uniform(-bound, bound));
        }
    }
}

impl<const I: usize, const O: usize, T: Scalar> Default for LinearNoBias<I, O, T> {
    /// All zero, as [`LinearNoBias::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

super::layer_tensors!(
    [const I: usize, const O: usize] LinearNoBias<I, O>, base = LinearNoBias::ZERO, init = LinearNoBias::init;
    params: weight: [O, I];
    buffers: ;
    counters:
);

impl<const I: usize, const O: usize, T: Scalar> OutputShape<Rank1<I>> for LinearNoBias<I, O, T> {
    type Output = Rank1<O>;
}

impl<const I: usize, const O: usize, T: Scalar> Layer<T, Rank1<I>, Rank1<O>> for LinearNoBias<I, O, T> {
    type Cache = ();
    const MACS: usize = I * O;

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], ctx: &mut Ctx<'_, T>) {
        let w = self.weight.as_flattened();
        match ctx.packed(w) {
            Some(p) => linear::forward_prepacked(x, w, None, y, I, O, p, ctx.pack),
            None => linear::forward(x, w, None, y, I, O, ctx.pack),
        }
    }

    #[inline]
    fn forward_fused<A: UnaryFn>(&self, x: &[T], y: &mut [T], act: A, ctx: &mut Ctx<'_, T>) {
        let w = self.weight.as_flattened();
        match ctx.packed(w) {
            Some(p) => linear::forward_act_prepacked(x, w, None, act, y, I, O, p, ctx.pack),
            None => linear::forward_act(x, w, None, act, y, I, O, ctx.pack),
        }
    }

    #[inline]
    fn forward_train_fused<A: UnaryFn>(&mut self, x: &[T], y: &mut [T], _: &mut (), act: A, ctx: &mut Ctx<'_, T>) {
        self.forward_fused(x, y, act, ctx);
    }

    #[inline]
    fn backward(
        &self,
        x: &[T],
        _y: &[T],
        _cache: &(),
        dy: &[T],
        dx: Option<&mut [T]>,
        grad: &mut Self,
        ctx: &mut Ctx<'_, T>,
    ) {
        linear::backward(
            x,
            self.weight.as_flattened(),
            dy,
            dx,
            Some(grad.weight.as_flattened_mut()),
            None,
            I,
            O,
            ctx.pack,
        );
    }

    const FUSED_SGD: bool = true;

    /// The update as the weight-gradient product itself, as [`Linear::backward_sgd`].
    #[inline]
    fn backward_sgd(&mut self, x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, lr: T, ctx: &mut Ctx<'_, T>) {
        linear::backward_sgd(x, self.weight.as_flattened_mut(), None, dy, dx, lr, I, O, ctx.pack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::module::{Kind, Path};
    use monograd_core::Module;

    struct Fc;
    impl LayerFamily for Fc {
        type In = Rank1<5>;
        type Out = Rank1<3>;
        type At<T: Scalar> = Linear<5, 3, T>;
        const NAME: &'static str = "Linear<5, 3>";
        fn zero<T: Scalar>() -> Linear<5, 3, T> {
            Linear::ZERO
        }
    }

    #[test]
    fn gradients_match_finite_differences_and_forward_mode() {
        let case = LayerCase::<Fc, 4>::new();
        let x = gradcheck::inputs(11, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 1).unwrap();
    }

    struct NoBias;
    impl LayerFamily for NoBias {
        type In = Rank1<5>;
        type Out = Rank1<3>;
        type At<T: Scalar> = LinearNoBias<5, 3, T>;
        const NAME: &'static str = "LinearNoBias<5, 3>";
        fn zero<T: Scalar>() -> LinearNoBias<5, 3, T> {
            LinearNoBias::ZERO
        }
    }

    #[test]
    fn without_bias_gradients_match_finite_differences_and_forward_mode() {
        let case = LayerCase::<NoBias, 4>::new();
        let x = gradcheck::inputs(12, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 2).unwrap();
    }

    #[test]
    fn without_bias_equals_linear_with_a_zero_bias() {
        let mut rng = Rng::seed(9);
        let nb = LinearNoBias::<4, 3, f64>::new(&mut rng);
        let full = Linear::<4, 3, f64> { weight: nb.weight, bias: [0.0; 3] };
        let x = [0.5, -1.0, 2.0, 0.25, 1.5, 0.0, -0.5, 1.0];
        let (mut a, mut b) = ([0.0; 6], [0.0; 6]);
        let mut ctx_pack = [0.0; 64];
        nb.forward(&x, &mut a, &mut Ctx::new(&mut ctx_pack));
        full.forward(&x, &mut b, &mut Ctx::new(&mut ctx_pack));
        assert_eq!(a, b);
        // Fused with an activation, as network! emits it.
        let act = monograd_core::ops::unary::Tanh;
        nb.forward_fused(&x, &mut a, act, &mut Ctx::new(&mut []));
        // `Scalar::tanh`, the layer's own math (libm without std), not the standard
        // library's, which the test harness links in every build.
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(*a, Scalar::tanh(*b));
        }
        // Backward: the same weight gradient and input gradient.
        let dy = [1.0, -2.0, 0.5, 0.25, 1.0, -1.0];
        let (mut dxa, mut dxb) = ([0.0; 8], [0.0; 8]);
        let (mut ga, mut gb) = (LinearNoBias::ZERO, Linear::ZERO);
        nb.backward(&x, &a, &(), &dy, Some(&mut dxa), &mut ga, &mut Ctx::new(&mut []));
        full.backward(&x, &b, &(), &dy, Some(&mut dxb), &mut gb, &mut Ctx::new(&mut []));
        assert_eq!((dxa, ga.weight), (dxb, gb.weight));
        // Only `weight` is visited, under PyTorch's name.
        let mut n = 0;
        nb.visit(&Path::ROOT, &mut |t| {
            assert!(t.path.ends_with("weight") && t.shape == [3, 4] && t.kind == Kind::Param);
            n += 1;
        });
        assert_eq!(n, 1);
        assert_eq!(<LinearNoBias<4, 3> as Module<f32>>::PARAMS, 12);
        // The same draws as Linear's weights.
        assert_eq!(Linear::<4, 3, f64>::new(&mut Rng::seed(9)).weight, nb.weight);
    }

    #[test]
    fn forward_matches_the_formula() {
        let fc = Linear::<2, 2, f64> { weight: [[1.0, 2.0], [3.0, 4.0]], bias: [0.5, -0.5] };
        let mut y = [0.0; 2];
        fc.forward(&[1.0, 1.0], &mut y, &mut Ctx::new(&mut []));
        assert_eq!(y, [3.5, 6.5]);
    }

    #[test]
    fn names_and_shapes_follow_pytorch() {
        let fc = Linear::<3, 2, f32>::ZERO;
        let mut seen = [("", 0usize, [0usize; 2]); 2];
        let mut i = 0;
        let mut names = [[0u8; 16]; 2];
        fc.visit(&Path::ROOT.field("fc1"), &mut |t| {
            use core::fmt::Write;
            let mut s = Buf(&mut names[i], 0);
            write!(s, "{}", t.path).unwrap();
            seen[i] = ("", t.values.len(), [t.shape[0], *t.shape.get(1).unwrap_or(&0)]);
            i += 1;
        });
        assert_eq!(&names[0][..10], b"fc1.weight");
        assert_eq!(&names[1][..8], b"fc1.bias");
        assert_eq!((seen[0].1, seen[0].2), (6, [2, 3]));
        assert_eq!((seen[1].1, seen[1].2), (2, [2, 0]));
        assert_eq!(<Linear<784, 256> as Module<f32>>::PARAMS, 784 * 256 + 256);
    }

    /// A fixed-size `fmt::Write` sink, so the test runs without `alloc`.
    struct Buf<'a>(&'a mut [u8], usize);
    impl core::fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.1 + s.len();
            self.0.get_mut(self.1..end).ok_or(core::fmt::Error)?.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }

    #[test]
    fn init_is_seeded_and_bounded() {
        let a = Linear::<16, 4>::new(&mut Rng::seed(5));
        let b = Linear::<16, 4>::new(&mut Rng::seed(5));
        assert_eq!(a, b);
        assert!(a.weight.as_flattened().iter().all(|w| w.abs() <= 0.25));
        assert_ne!(a, Linear::<16, 4>::new(&mut Rng::seed(6)));
    }
}
