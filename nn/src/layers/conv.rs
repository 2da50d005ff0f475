//! Convolutions: [`Conv2d`], [`Conv1d`] and [`GroupedConv2d`], in PyTorch's layout.
//!
//! For one sample `x` of shape `[CI, H, W]`, a kernel of `K x K`, stride `S`, zero padding
//! `P` and dilation `D`:
//!
//! ```text
//! y[o, oy, ox] = b[o] + Σ_c Σ_i Σ_j W[o, c, i, j] · x[c, oy·S + i·D − P, ox·S + j·D − P]
//! ```
//!
//! with `x` zero outside the image, and `OH = (H + 2P − D(K − 1) − 1) / S + 1` (likewise
//! `OW`), as `torch.nn.Conv2d` computes them. `Conv1d` is the same over one row.
//!
//! Derivatives, with `col = im2col(x)` the `[CI·K·K, OH·OW]` matrix whose column `(oy, ox)`
//! holds the inputs that output reads (see [`im2col`](monograd_core::kernels::im2col)):
//!
//! - `∂L/∂W = ∂L/∂y · colᵀ` (summed over the batch), `∂L/∂b[o] = Σ ∂L/∂y[o, ·, ·]`;
//! - `∂L/∂x = col2im(Wᵀ · ∂L/∂y)`: every input receives the weights of the taps that read
//!   it times the gradients of the outputs they fed.
//!
//! # How it runs
//!
//! Every convolution runs through [`ConvPlan`] (in `monograd_core::ops::conv`, which the
//! eager tape calls too). Per sample, [`im2col`](monograd_core::kernels::im2col::im2col) unfolds `x` into the
//! column buffer and one [`gemm`](monograd_core::kernels::gemm::gemm) computes `W [CO, CI·K·K] · col` straight
//! into the sample's `[CO, OH·OW]` output (NCHW needs no transpose); a second pass adds the
//! bias and, in [`Layer::forward_fused`], applies the activation. Backward unfolds `x`
//! again, accumulates `dW += dY colᵀ`, then reuses the same buffer for `dcol = Wᵀ dY`,
//! which [`col2im`](monograd_core::kernels::im2col::col2im) adds into `dx`. The column buffer is the layer's
//! [`Layer::SCRATCH`] (`CI·K·K·OH·OW` values), taken from the front of `ctx.pack`; the
//! rest of `ctx.pack` packs the GEMM operands. A `1 x 1` kernel with stride 1 and no
//! padding needs no buffer: its column matrix is `x` itself.
//!
//! The forward pass's algorithm is chosen at compile time from the layer's shape
//! ([`choose_algorithm`](monograd_core::ops::conv::choose_algorithm), shown by `summary()`):
//! a 3x3 kernel of stride 1 with at least 32 input and output channels runs Winograd's
//! F(2x2, 3x3) ([`winograd`](monograd_core::kernels::winograd)), whose backward pass is the
//! one above; its `SCRATCH` is then the larger of the column buffer and Winograd's
//! transformed filters, tiles and products.
//!
//! With less packing memory than `SCRATCH`, the layer computes the same values directly
//! with [`conv2d_direct`](monograd_core::kernels::im2col::conv2d_direct) (tap by tap, no buffer), more slowly; and it always does so when
//! each output channel reads a single input channel (depthwise), where a matrix product
//! would have nothing to reuse.
//!
//! # Groups
//!
//! PyTorch's `groups = G` splits the channels into `G` groups convolved separately; its
//! weight is `[CO, CI / G, K, K]`. Stable Rust cannot compute the array length `CI / G`
//! from const parameters, so `Conv2d` has no `groups` parameter: [`GroupedConv2d`] takes
//! the channels per group `CIG = CI / G` as a parameter of its own and checks
//! `CI == G · CIG` at compile time, and
//! [`DepthwiseConv2d`](super::depthwise::DepthwiseConv2d) names the common case
//! `G = CI = CO`.
//!
//! # Shapes
//! - [`Conv2d<CI, CO, K, S, P, D>`](Conv2d): [`Rank3<CI, H, W>`] → [`Rank3<CO, OH, OW>`];
//!   `weight`: `[CO, CI, K, K]`, `bias`: `[CO]`
//! - [`GroupedConv2d<CI, CO, K, G, CIG, S, P, D>`](GroupedConv2d): [`Rank3<CI, H, W>`] →
//!   [`Rank3<CO, OH, OW>`]; `weight`: `[CO, CIG, K, K]`, `bias`: `[CO]`
//! - [`Conv1d<CI, CO, K, S, P, D>`](Conv1d): [`Rank2<CI, L>`] → [`Rank2<CO, LO>`];
//!   `weight`: `[CO, CI, K]`, `bias`: `[CO]`
//!
//! The output sizes are parameters of the `Layer` impl, which a constant check ties to the
//! formula above: the `network!` macro computes them from the literals, and a wrong one in
//! hand-written code fails to compile.

use super::Flat;
use monograd_core::kernels::im2col::Conv2dGeometry;
pub(crate) use monograd_core::ops::conv::ConvPlan;
use monograd_core::ops::unary::UnaryFn;
use monograd_core::shape::computed::ConvOut;
use monograd_core::{Ctx, Layer, Rank2, Rank3, Rng, Scalar, Shape};

/// The `Layer` items every convolution shares, around its plan (`plan_2d` or `plan_1d`
/// with the layer's constants): no cache, the plan's scratch, forward with or without a
/// fused activation, and backward into `weight` and `bias`.
macro_rules! conv_passes {
    ($name:literal, $plan:expr) => {
        conv_passes_or_empty!($name, Some($plan));
    };
}

/// `conv_passes!` over a plan that may be `None`: a kernel that does not fit a shape
/// computed from a generic parameter gives an empty output (`shape::computed`), so the
/// passes have nothing to compute. `network!` stops the build before such a network runs,
/// with its own message; this keeps that message the only error.
macro_rules! conv_passes_or_empty {
    ($name:literal, $plan:expr) => {
        type Cache = ();
        const SCRATCH: usize = match $plan {
            Some(plan) => plan.scratch(),
            None => 0,
        };
        const ALGORITHM: &'static str = match $plan {
            Some(plan) => plan.algorithm().name(),
            None => "",
        };

        #[inline]
        fn forward(&self, x: &[T], y: &mut [T], ctx: &mut Ctx<'_, T>) {
            if let Some(plan) = const { $plan } {
                plan.forward($name, self.weight.flat(), &self.bias, x, y, ctx.pack, |v| v);
            }
        }

        #[inline]
        fn forward_fused<A: UnaryFn>(&self, x: &[T], y: &mut [T], act: A, ctx: &mut Ctx<'_, T>) {
            if let Some(plan) = const { $plan } {
                plan.forward($name, self.weight.flat(), &self.bias, x, y, ctx.pack, |v| act.f(v));
            }
        }

        #[inline]
        fn forward_train_fused<A: UnaryFn>(&mut self, x: &[T], y: &mut [T], _: &mut (), act: A, ctx: &mut Ctx<'_, T>) {
            if let Some(plan) = const { $plan } {
                plan.forward($name, self.weight.flat(), &self.bias, x, y, ctx.pack, |v| act.f(v));
            }
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
            if let Some(plan) = const { $plan } {
                let dw = grad.weight.flat_mut();
                plan.backward($name, self.weight.flat(), x, dy, dx, Some(dw), Some(&mut grad.bias), ctx.pack);
            }
        }
    };
}

/// A 2-D convolution from `CI` to `CO` channels with a `K x K` kernel, stride `S`, zero
/// padding `P` and dilation `D`, with bias: `torch.nn.Conv2d(CI, CO, K, S, P, D)`.
///
/// ```
/// use monograd_nn::Conv2d;
/// use monograd_core::kernels::gemm::PACK_LEN;
/// use monograd_core::{Ctx, Layer, Rank3, Rng};
///
/// // LeNet's first layer: 1x28x28 to 6x24x24, PyTorch's default initialisation.
/// type C1 = Conv2d<1, 6, 5>;
/// let conv = C1::new(&mut Rng::seed(0));
/// let x = vec![0.0f32; 2 * 28 * 28]; // a batch of two blank images
/// let mut y = vec![0.0f32; 2 * 6 * 24 * 24];
/// // The column buffer (25 taps by 576 positions) and GEMM's packing memory.
/// let scratch = <C1 as Layer<f32, Rank3<1, 28, 28>, Rank3<6, 24, 24>>>::SCRATCH;
/// let mut pack = vec![0.0f32; scratch + PACK_LEN];
/// Layer::<f32, Rank3<1, 28, 28>, Rank3<6, 24, 24>>::forward(&conv, &x, &mut y, &mut Ctx::new(&mut pack));
/// // A blank image gives the bias everywhere.
/// assert_eq!(y[24 * 24 * 3 + 100], conv.bias[3]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    T = f32,
> {
    /// `[CO, CI, K, K]`, row-major.
    pub weight: [[[[T; K]; K]; CI]; CO],
    /// `[CO]`.
    pub bias: [T; CO],
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    Conv2d<CI, CO, K, S, P, D, T>
{
    /// All weights and biases zero: for gradients, optimizer state and `static` models.
    pub const ZERO: Self = Self { weight: [[[[T::ZERO; K]; K]; CI]; CO], bias: [T::ZERO; CO] };

    /// PyTorch's default initialisation: weights and biases uniform in `±1/√(CI·K·K)`.
    pub fn new(rng: &mut Rng) -> Self {
        let mut layer = Self::ZERO;
        layer.init(rng);
        layer
    }

    /// Re-initialises in place, as [`Conv2d::new`] does.
    pub fn init(&mut self, rng: &mut Rng) {
        init_uniform(
            rng,
            CI * K * K,
            self.weight.as_flattened_mut().as_flattened_mut().as_flattened_mut(),
            &mut self.bias,
        );
    }

    /// The same layer over another scalar, every parameter mapped by `f`.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> Conv2d<CI, CO, K, S, P, D, U> {
        Conv2d { weight: self.weight.map(|o| o.map(|c| c.map(|r| r.map(&f)))), bias: self.bias.map(&f) }
    }
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    Default for Conv2d<CI, CO, K, S, P, D, T>
{
    /// All zero, as [`Conv2d::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

super::layer_tensors!(
    [const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize]
    Conv2d<CI, CO, K, S, P, D>, base = Conv2d::ZERO, init = Conv2d::init;
    params: weight: [CO, CI, K, K], bias: [CO];
    buffers: ;
    counters:
);

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    > Layer<T, Rank3<CI, H, W>, Rank3<CO, OH, OW>> for Conv2d<CI, CO, K, S, P, D, T>
{
    const MACS: usize = CO * OH * OW * CI * K * K;
    conv_passes!("Conv2d", plan_2d(CI, CO, 1, CI, K, S, P, D, [H, W], [OH, OW]));
}

/// A 2-D convolution in `G` groups: PyTorch's `Conv2d(CI, CO, K, S, P, D, groups=G)`, with
/// the input channels per group `CIG = CI / G` written out (see the [module docs](self)
/// for why).
///
/// Input channels `g·CIG .. (g+1)·CIG` feed output channels `g·CO/G .. (g+1)·CO/G` only.
/// `CI == G·CIG` and `CO % G == 0` are checked at compile time. With `CIG = 1` and
/// `CO = G = CI` this is [`DepthwiseConv2d`](super::depthwise::DepthwiseConv2d); with
/// `CO = M·CI` a depthwise convolution with channel multiplier `M`.
///
/// ```
/// use monograd_nn::GroupedConv2d;
/// use monograd_core::{Ctx, Layer, Rank3};
///
/// // 4 channels in 2 groups of 2, to 2 channels (one per group), 1x1 kernel, on one pixel.
/// let mut conv = GroupedConv2d::<4, 2, 1, 2, 2, 1, 0, 1, f64>::ZERO;
/// conv.weight = [[[[1.0]], [[10.0]]], [[[100.0]], [[1000.0]]]];
/// let mut y = [0.0; 2];
/// Layer::<f64, Rank3<4, 1, 1>, Rank3<2, 1, 1>>::forward(&conv, &[1.0, 2.0, 3.0, 4.0], &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [1.0 + 20.0, 300.0 + 4000.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GroupedConv2d<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const G: usize,
    const CIG: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    T = f32,
> {
    /// `[CO, CIG, K, K]`, row-major.
    pub weight: [[[[T; K]; K]; CIG]; CO],
    /// `[CO]`.
    pub bias: [T; CO],
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const G: usize,
        const CIG: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
    > GroupedConv2d<CI, CO, K, G, CIG, S, P, D, T>
{
    /// All weights and biases zero.
    pub const ZERO: Self = Self { weight: [[[[T::ZERO; K]; K]; CIG]; CO], bias: [T::ZERO; CO] };

    /// PyTorch's default initialisation: weights and biases uniform in `±1/√(CIG·K·K)`.
    pub fn new(rng: &mut Rng) -> Self {
        let mut layer = Self::ZERO;
        layer.init(rng);
        layer
    }

    /// Re-initialises in place, as [`GroupedConv2d::new`] does.
    pub fn init(&mut self, rng: &mut Rng) {
        init_uniform(
            rng,
            CIG * K * K,
            self.weight.as_flattened_mut().as_flattened_mut().as_flattened_mut(),
            &mut self.bias,
        );
    }

    /// The same layer over another scalar, every parameter mapped by `f`.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> GroupedConv2d<CI, CO, K, G, CIG, S, P, D, U> {
        GroupedConv2d { weight: self.weight.map(|o| o.map(|c| c.map(|r| r.map(&f)))), bias: self.bias.map(&f) }
    }
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const G: usize,
        const CIG: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
    > Default for GroupedConv2d<CI, CO, K, G, CIG, S, P, D, T>
{
    /// All zero, as [`GroupedConv2d::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

super::layer_tensors!(
    [const CI: usize, const CO: usize, const K: usize, const G: usize, const CIG: usize, const S: usize, const P: usize, const D: usize]
    GroupedConv2d<CI, CO, K, G, CIG, S, P, D>, base = GroupedConv2d::ZERO, init = GroupedConv2d::init;
    params: weight: [CO, CIG, K, K], bias: [CO];
    buffers: ;
    counters:
);

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const G: usize,
        const CIG: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    > Layer<T, Rank3<CI, H, W>, Rank3<CO, OH, OW>> for GroupedConv2d<CI, CO, K, G, CIG, S, P, D, T>
{
    const MACS: usize = CO * OH * OW * CIG * K * K;
    conv_passes!("GroupedConv2d", plan_2d(CI, CO, G, CIG, K, S, P, D, [H, W], [OH, OW]));
}

/// A 1-D convolution from `CI` to `CO` channels with a kernel of `K` taps, stride `S`,
/// zero padding `P` and dilation `D`, with bias: `torch.nn.Conv1d(CI, CO, K, S, P, D)`.
///
/// `y[o, t] = b[o] + Σ_c Σ_k W[o, c, k] · x[c, t·S + k·D − P]`, with
/// `LO = (L + 2P − D(K − 1) − 1) / S + 1`; it runs as the 2-D convolution of one row.
///
/// ```
/// use monograd_nn::Conv1d;
/// use monograd_core::{Ctx, Layer, Rank2};
///
/// // A centred difference with padding 1: [0, 1, 2, 3, 4, 0] against [1, 0, -1].
/// let mut conv = Conv1d::<1, 1, 3, 1, 1, 1, f64>::ZERO;
/// conv.weight = [[[1.0, 0.0, -1.0]]];
/// let mut y = [0.0; 4];
/// Layer::<f64, Rank2<1, 4>, Rank2<1, 4>>::forward(&conv, &[1.0, 2.0, 3.0, 4.0], &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [-2.0, -2.0, -2.0, 3.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1d<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    T = f32,
> {
    /// `[CO, CI, K]`, row-major.
    pub weight: [[[T; K]; CI]; CO],
    /// `[CO]`.
    pub bias: [T; CO],
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    Conv1d<CI, CO, K, S, P, D, T>
{
    /// All weights and biases zero.
    pub const ZERO: Self = Self { weight: [[[T::ZERO; K]; CI]; CO], bias: [T::ZERO; CO] };

    /// PyTorch's default initialisation: weights and biases uniform in `±1/√(CI·K)`.
    pub fn new(rng: &mut Rng) -> Self {
        let mut layer = Self::ZERO;
        layer.init(rng);
        layer
    }

    /// Re-initialises in place, as [`Conv1d::new`] does.
    pub fn init(&mut self, rng: &mut Rng) {
        init_uniform(rng, CI * K, self.weight.as_flattened_mut().as_flattened_mut(), &mut self.bias);
    }

    /// The same layer over another scalar, every parameter mapped by `f`.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> Conv1d<CI, CO, K, S, P, D, U> {
        Conv1d { weight: self.weight.map(|o| o.map(|c| c.map(&f))), bias: self.bias.map(&f) }
    }
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    Default for Conv1d<CI, CO, K, S, P, D, T>
{
    /// All zero, as [`Conv1d::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

super::layer_tensors!(
    [const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize]
    Conv1d<CI, CO, K, S, P, D>, base = Conv1d::ZERO, init = Conv1d::init;
    params: weight: [CO, CI, K], bias: [CO];
    buffers: ;
    counters:
);

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
        const L: usize,
        const LO: usize,
    > Layer<T, Rank2<CI, L>, Rank2<CO, LO>> for Conv1d<CI, CO, K, S, P, D, T>
{
    const MACS: usize = CO * LO * CI * K;
    conv_passes!("Conv1d", plan_1d(CI, CO, K, S, P, D, L, LO));
}

// Over shapes the compiler computes (`shape::computed`): a network generic over its input
// size, `struct Net<const H: usize>` with `input: [1, H, H]`, names each convolution's
// output `ConvOut<In, CO, K, S, P, D>`, whose dimensions are constants of the type rather
// than parameters of it. The passes are the same; input and output sizes are read from the
// shapes, and the plan checks them when the network is built.

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
        I: Shape,
    > Layer<T, I, ConvOut<I, CO, K, S, P, D>> for Conv2d<CI, CO, K, S, P, D, T>
{
    const MACS: usize = <ConvOut<I, CO, K, S, P, D> as Shape>::NUMEL * CI * K * K;
    conv_passes_or_empty!(
        "Conv2d",
        plan_2d_or_empty(CI, CO, 1, CI, K, S, P, D, image::<I>(CI), image::<ConvOut<I, CO, K, S, P, D>>(CO))
    );
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const G: usize,
        const CIG: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
        I: Shape,
    > Layer<T, I, ConvOut<I, CO, K, S, P, D>> for GroupedConv2d<CI, CO, K, G, CIG, S, P, D, T>
{
    const MACS: usize = <ConvOut<I, CO, K, S, P, D> as Shape>::NUMEL * CIG * K * K;
    conv_passes_or_empty!(
        "GroupedConv2d",
        plan_2d_or_empty(CI, CO, G, CIG, K, S, P, D, image::<I>(CI), image::<ConvOut<I, CO, K, S, P, D>>(CO))
    );
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        T: Scalar,
        I: Shape,
    > Layer<T, I, ConvOut<I, CO, K, S, P, D>> for Conv1d<CI, CO, K, S, P, D, T>
{
    const MACS: usize = <ConvOut<I, CO, K, S, P, D> as Shape>::NUMEL * CI * K;
    conv_passes_or_empty!("Conv1d", {
        let out = signal::<ConvOut<I, CO, K, S, P, D>>(CO);
        if out == 0 {
            None
        } else {
            Some(plan_1d(CI, CO, K, S, P, D, signal::<I>(CI), out))
        }
    });
}

/// `plan_2d`, or `None` for an empty output: the kernel does not fit (a computed shape's
/// size is then 0).
#[allow(clippy::too_many_arguments)] // the layer's parameters, one each
const fn plan_2d_or_empty(
    ci: usize,
    co: usize,
    groups: usize,
    cig: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    input: [usize; 2],
    output: [usize; 2],
) -> Option<ConvPlan> {
    if output[0] == 0 || output[1] == 0 {
        return None;
    }
    Some(plan_2d(ci, co, groups, cig, k, s, p, d, input, output))
}

/// The height and width of images `I` of `c` channels, or a compile-time error.
const fn image<I: Shape>(c: usize) -> [usize; 2] {
    if I::DIMS.len() != 3 || I::DIMS[0] != c {
        panic!("convolution: the samples must be images [C, H, W] of the layer's channels");
    }
    [I::DIMS[1], I::DIMS[2]]
}

/// The length of signals `I` of `c` channels, or a compile-time error.
const fn signal<I: Shape>(c: usize) -> usize {
    if I::DIMS.len() != 2 || I::DIMS[0] != c {
        panic!("Conv1d: the samples must be signals [C, L] of the layer's channels");
    }
    I::DIMS[1]
}

/// The plan of a 2-D convolution of `[CI, H, W]` samples in `groups` groups of `cig`
/// channels to `[CO, OH, OW]`; fails to compile (when evaluated in a constant) unless the
/// sizes fit together.
#[allow(clippy::too_many_arguments)] // the layer's parameters, one each
pub(crate) const fn plan_2d(
    ci: usize,
    co: usize,
    groups: usize,
    cig: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    input: [usize; 2],
    output: [usize; 2],
) -> ConvPlan {
    if groups == 0 || cig.checked_mul(groups).is_none() || cig * groups != ci {
        panic!("GroupedConv2d: the input channels must be the groups times the channels per group (CI == G * CIG)");
    }
    if !co.is_multiple_of(groups) {
        panic!("GroupedConv2d: the output channels must be a multiple of the groups (CO % G == 0)");
    }
    let geo = Conv2dGeometry::new(cig, input, [k, k], [s, s], [p, p], [d, d]);
    checked_plan(geo, output, groups, co / groups)
}

/// The plan of a 1-D convolution of `[CI, L]` samples to `[CO, LO]`; see [`plan_2d`].
#[allow(clippy::too_many_arguments)]
const fn plan_1d(ci: usize, co: usize, k: usize, s: usize, p: usize, d: usize, len: usize, out: usize) -> ConvPlan {
    checked_plan(Conv2dGeometry::new_1d(ci, len, k, s, p, d), [1, out], 1, co)
}

/// The plan of a convolution layer, checked at compile time (in a constant): the kernel
/// fits and the output size is the one the layer was declared with.
const fn checked_plan(
    geo: Option<Conv2dGeometry>,
    output: [usize; 2],
    groups: usize,
    out_per_group: usize,
) -> ConvPlan {
    let Some(geo) = geo else {
        panic!(
            "convolution: the kernel, stride and dilation must be positive, and the dilated kernel \
             D * (K - 1) + 1 must fit the padded input H + 2 * P"
        );
    };
    let o = geo.output();
    if o[0] != output[0] || o[1] != output[1] {
        panic!("convolution: the output size must be (H + 2 * P - D * (K - 1) - 1) / S + 1 along each axis");
    }
    match ConvPlan::new(geo, groups, out_per_group) {
        Some(plan) => plan,
        None => panic!("convolution: the layer's buffers would not fit in memory"),
    }
}

/// PyTorch's default for convolutions, `kaiming_uniform_(a = √5)` on the weight and the
/// matching bias rule: both uniform in `±1/√fan_in`, weights first.
pub(crate) fn init_uniform<T: Scalar>(rng: &mut Rng, fan_in: usize, weight: &mut [T], bias: &mut [T]) {
    // sqrt is correctly rounded everywhere, so the bound is the same on every target.
    let bound = 1.0 / Scalar::sqrt(fan_in.max(1) as f64);
    for v in weight.iter_mut().chain(bias) {
        *v = T::from_f64(rng.uniform(-bound, bound));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use alloc::vec;
    use alloc::vec::Vec;
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::kernels::gemm::PACK_LEN;
    use monograd_core::module::{ParamUpdate, Path, Tensor};
    use monograd_core::ops::unary::{Relu, Tanh};
    use monograd_core::Module;
    use monograd_core::Shape;

    /// A layer run with no packing memory at all, so that it takes its direct path (or,
    /// when it needs no scratch, the unpacked GEMM): the gradient check of the fallback.
    #[derive(Clone, Debug)]
    pub(crate) struct Starved<L>(pub L);

    impl<T: Scalar, L: Module<T>> Module<T> for Starved<L> {
        const PARAMS: usize = L::PARAMS;
        fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, path: &Path<'_>, f: &mut F) {
            self.0.visit(path, f);
        }
        fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, path: &Path<'_>, f: &mut F) {
            self.0.visit_mut(path, f);
        }
        fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(
            &mut self,
            grad: &Self,
            path: &Path<'_>,
            offset: &mut usize,
            f: &mut F,
        ) {
            self.0.visit_update(&grad.0, path, offset, f);
        }
    }

    impl<T: Scalar, I: Shape, O: Shape, L: Layer<T, I, O>> Layer<T, I, O> for Starved<L> {
        type Cache = L::Cache;
        fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
            self.0.forward(x, y, &mut Ctx::new(&mut []));
        }
        fn forward_train(&mut self, x: &[T], y: &mut [T], cache: &mut L::Cache, _: &mut Ctx<'_, T>) {
            self.0.forward_train(x, y, cache, &mut Ctx::new(&mut []));
        }
        fn backward(
            &self,
            x: &[T],
            y: &[T],
            cache: &L::Cache,
            dy: &[T],
            dx: Option<&mut [T]>,
            grad: &mut Self,
            _: &mut Ctx<'_, T>,
        ) {
            self.0.backward(x, y, cache, dy, dx, &mut grad.0, &mut Ctx::new(&mut []));
        }
    }

    /// A [`LayerFamily`] named `$fam` for the layer type `$layer` (written with `T`).
    macro_rules! family {
        ($fam:ident: $layer:ty, $in:ty => $out:ty, $zero:expr) => {
            pub(crate) struct $fam;
            impl $crate::gradcheck::LayerFamily for $fam {
                type In = $in;
                type Out = $out;
                type At<T: ::monograd_core::Scalar> = $layer;
                const NAME: &'static str = stringify!($layer);
                fn zero<T: ::monograd_core::Scalar>() -> $layer {
                    $zero
                }
            }
        };
    }
    pub(crate) use family;

    /// Reverse mode against finite differences and forward mode, on a batch of 2.
    #[track_caller]
    pub(crate) fn check<F: LayerFamily>(seed: u64) {
        let case = LayerCase::<F, 2>::new();
        let x = gradcheck::inputs(seed, case.input_len(), -1.0, 1.0, &[]);
        if let Err(e) = gradcheck::check(&case, &x, seed) {
            panic!("{e}");
        }
    }

    family!(Plain: Conv2d<2, 3, 3, 1, 0, 1, T>, Rank3<2, 5, 5> => Rank3<3, 3, 3>, Conv2d::ZERO);
    family!(Strided: Conv2d<2, 3, 3, 2, 1, 2, T>, Rank3<2, 7, 6> => Rank3<3, 3, 2>, Conv2d::ZERO);
    family!(
        StridedDirect: Starved<Conv2d<2, 3, 3, 2, 1, 2, T>>,
        Rank3<2, 7, 6> => Rank3<3, 3, 2>,
        Starved(Conv2d::ZERO)
    );
    family!(WidePadding: Conv2d<2, 2, 2, 1, 2, 1, T>, Rank3<2, 3, 3> => Rank3<2, 6, 6>, Conv2d::ZERO);
    family!(Pointwise: Conv2d<3, 2, 1, 1, 0, 1, T>, Rank3<3, 3, 4> => Rank3<2, 3, 4>, Conv2d::ZERO);
    family!(
        PointwiseUnpacked: Starved<Conv2d<3, 2, 1, 1, 0, 1, T>>,
        Rank3<3, 3, 4> => Rank3<2, 3, 4>,
        Starved(Conv2d::ZERO)
    );
    family!(StridedPointwise: Conv2d<2, 2, 1, 2, 0, 1, T>, Rank3<2, 5, 4> => Rank3<2, 3, 2>, Conv2d::ZERO);
    family!(Grouped: GroupedConv2d<4, 6, 3, 2, 2, 2, 1, 1, T>, Rank3<4, 5, 5> => Rank3<6, 3, 3>, GroupedConv2d::ZERO);
    family!(
        GroupedDirect: Starved<GroupedConv2d<4, 6, 3, 2, 2, 2, 1, 1, T>>,
        Rank3<4, 5, 5> => Rank3<6, 3, 3>,
        Starved(GroupedConv2d::ZERO)
    );
    family!(Line: Conv1d<2, 3, 3, 1, 0, 1, T>, Rank2<2, 6> => Rank2<3, 4>, Conv1d::ZERO);
    family!(LineStrided: Conv1d<2, 3, 3, 2, 1, 2, T>, Rank2<2, 9> => Rank2<3, 4>, Conv1d::ZERO);
    family!(LineDirect: Starved<Conv1d<2, 3, 3, 2, 1, 2, T>>, Rank2<2, 9> => Rank2<3, 4>, Starved(Conv1d::ZERO));

    // Over shapes computed from a generic parameter: the same plans, sizes read from the types.
    type In7x6 = Rank3<2, 7, 6>;
    family!(Computed: Conv2d<2, 3, 3, 2, 1, 2, T>, In7x6 => ConvOut<In7x6, 3, 3, 2, 1, 2>, Conv2d::ZERO);
    family!(
        ComputedGrouped: GroupedConv2d<4, 6, 3, 2, 2, 2, 1, 1, T>,
        Rank3<4, 5, 5> => ConvOut<Rank3<4, 5, 5>, 6, 3, 2, 1, 1>,
        GroupedConv2d::ZERO
    );
    family!(ComputedLine: Conv1d<2, 3, 3, 2, 1, 2, T>, Rank2<2, 9> => ConvOut<Rank2<2, 9>, 3, 3, 2, 1, 2>, Conv1d::ZERO);

    #[test]
    fn computed_shapes_pass_the_gradient_check_and_match_the_literal_impls() {
        check::<Computed>(13);
        check::<ComputedGrouped>(14);
        check::<ComputedLine>(15);
        let conv = Conv2d::<2, 3, 3, 2, 1, 2, f64>::new(&mut Rng::seed(3));
        let (x, dy) = (values(1, 2 * 84), values(2, 2 * 3 * 3 * 2));
        let mut pack = vec![0.0; 4096];
        let literal = run::<_, In7x6, Rank3<3, 3, 2>>(&conv, &x, &dy, &mut pack);
        let computed = run::<_, In7x6, ConvOut<In7x6, 3, 3, 2, 1, 2>>(&conv, &x, &dy, &mut pack);
        assert_eq!(literal.0, computed.0);
        assert_eq!(literal.1, computed.1);
        assert_eq!(literal.2, computed.2);
    }

    #[test]
    fn a_kernel_larger_than_a_computed_shape_gives_an_empty_output() {
        // `network!` refuses such a network when it is built; by hand, nothing to compute.
        let conv = Conv2d::<1, 2, 3, 1, 0, 1, f64>::new(&mut Rng::seed(3));
        let (y, dx, grad) =
            run::<_, Rank3<1, 2, 2>, ConvOut<Rank3<1, 2, 2>, 2, 3, 1, 0, 1>>(&conv, &[1.0; 4], &[], &mut []);
        assert!(y.is_empty());
        assert_eq!(dx, [0.0; 4]);
        assert_eq!(grad, Conv2d::ZERO);
    }

    #[test]
    fn conv2d_gradients_match_finite_differences_and_forward_mode() {
        check::<Plain>(1);
        check::<Strided>(2);
        check::<WidePadding>(3);
        check::<Pointwise>(4);
        check::<StridedPointwise>(5);
    }

    #[test]
    fn the_direct_fallback_passes_the_same_gradient_check() {
        check::<StridedDirect>(6);
        // A 1x1 convolution needs no column buffer: with no memory, GEMM runs unpacked.
        check::<PointwiseUnpacked>(7);
        check::<GroupedDirect>(8);
        check::<LineDirect>(9);
    }

    #[test]
    fn grouped_and_1d_gradients_match_finite_differences_and_forward_mode() {
        check::<Grouped>(10);
        check::<Line>(11);
        check::<LineStrided>(12);
    }

    /// Seeded values in `[-1, 1)`.
    fn values(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = Rng::seed(seed);
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    fn assert_close(a: &[f64], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "{what}[{i}]: {x} vs {y}");
        }
    }

    /// Runs `layer` forward and backward with `pack`, returning `(y, dx, grad)`.
    fn run<L, I: Shape, O: Shape>(layer: &L, x: &[f64], dy: &[f64], pack: &mut [f64]) -> (Vec<f64>, Vec<f64>, L)
    where
        L: Layer<f64, I, O> + Default,
    {
        let mut y = vec![f64::NAN; dy.len()];
        layer.forward(x, &mut y, &mut Ctx::new(pack));
        let (mut dx, mut grad) = (vec![0.0; x.len()], L::default());
        layer.backward(x, &y, &Default::default(), dy, Some(&mut dx), &mut grad, &mut Ctx::new(pack));
        (y, dx, grad)
    }

    #[test]
    fn the_gemm_and_direct_paths_agree() {
        type L = Conv2d<3, 4, 3, 2, 1, 2, f64>;
        type I = Rank3<3, 9, 8>;
        type O = Rank3<4, 4, 3>;
        let scratch = <L as Layer<f64, I, O>>::SCRATCH;
        assert_eq!(scratch, 3 * 9 * 4 * 3);
        let mut layer = L::ZERO;
        let mut p = values(1, <L as Module<f64>>::PARAMS).into_iter();
        layer.visit_mut(&Path::ROOT, &mut |t| t.values.iter_mut().for_each(|v| *v = p.next().unwrap()));
        let (x, dy) = (values(2, 3 * I::NUMEL), values(3, 3 * O::NUMEL));
        // Full packing memory, exactly the column buffer (GEMM unpacked), and one short.
        let full = run::<L, I, O>(&layer, &x, &dy, &mut vec![0.0; scratch + PACK_LEN]);
        let bare = run::<L, I, O>(&layer, &x, &dy, &mut vec![0.0; scratch]);
        let direct = run::<L, I, O>(&layer, &x, &dy, &mut vec![0.0; scratch - 1]);
        for other in [&bare, &direct] {
            assert_close(&other.0, &full.0, "y");
            assert_close(&other.1, &full.1, "dx");
            assert_close(other.2.weight.flat(), full.2.weight.flat(), "dweight");
            assert_close(&other.2.bias, &full.2.bias, "dbias");
        }
    }

    #[test]
    fn the_fused_activation_is_applied_in_the_bias_pass() {
        type L = Conv2d<2, 3, 3, 1, 1, 1, f64>;
        type I = Rank3<2, 4, 4>;
        type O = Rank3<3, 4, 4>;
        let mut layer = L::ZERO;
        let mut p = values(4, <L as Module<f64>>::PARAMS).into_iter();
        layer.visit_mut(&Path::ROOT, &mut |t| t.values.iter_mut().for_each(|v| *v = p.next().unwrap()));
        let x = values(5, 2 * I::NUMEL);
        for pack_len in [PACK_LEN, 0] {
            let mut pack = vec![0.0; pack_len];
            let mut y = vec![0.0; 2 * O::NUMEL];
            Layer::<f64, I, O>::forward(&layer, &x, &mut y, &mut Ctx::new(&mut pack));
            let (mut relu, mut tanh) = (vec![0.0; y.len()], vec![0.0; y.len()]);
            Layer::<f64, I, O>::forward_fused(&layer, &x, &mut relu, Relu, &mut Ctx::new(&mut pack));
            Layer::<f64, I, O>::forward_train_fused(&mut layer, &x, &mut tanh, &mut (), Tanh, &mut Ctx::new(&mut pack));
            for ((y, r), t) in y.iter().zip(&relu).zip(&tanh) {
                assert_eq!(*r, y.max(0.0));
                // The layer's own math (libm without std), not std's, which the test
                // harness links in every build.
                assert_eq!(*t, Scalar::tanh(*y));
            }
        }
    }

    /// `((i·a) mod m − c) / d` for `i` in `0..n`: values that the PyTorch script producing
    /// the references below builds the same way (all exact in binary).
    pub(crate) fn seq(n: usize, a: usize, m: usize, c: f64, d: f64) -> Vec<f64> {
        (0..n).map(|i| ((i * a % m) as f64 - c) / d).collect()
    }

    /// `Σ v_i · (i mod 5 + 1)`: a checksum of a gradient, as the script prints it.
    pub(crate) fn checksum(v: &[f64]) -> f64 {
        v.iter().enumerate().map(|(i, v)| v * ((i % 5 + 1) as f64)).sum()
    }

    /// Runs `L` on `B` samples of `seq` data and compares with the output and the
    /// gradient checksums (`[dx, dweight, dbias]`) that PyTorch 2 gave for the same
    /// numbers (float64), with the parameters from `seq(_, 7, 11, 5, 10)`, the input from
    /// `seq(_, 5, 13, 6, 8)` and the output gradient from `seq(_, 3, 7, 3, 4)`.
    #[track_caller]
    pub(crate) fn against_pytorch<L, I: Shape, O: Shape, const B: usize>(y_torch: &[f64], checksums: &[f64])
    where
        L: Layer<f64, I, O> + Default,
    {
        let mut layer = L::default();
        let mut p = seq(L::PARAMS, 7, 11, 5.0, 10.0).into_iter();
        layer.visit_mut(&Path::ROOT, &mut |t| t.values.iter_mut().for_each(|v| *v = p.next().unwrap()));
        let (x, dy) = (seq(B * I::NUMEL, 5, 13, 6.0, 8.0), seq(B * O::NUMEL, 3, 7, 3.0, 4.0));
        for pack_len in [PACK_LEN + L::SCRATCH, 0] {
            let mut pack = vec![0.0; pack_len];
            let mut y = vec![0.0; B * O::NUMEL];
            layer.forward(&x, &mut y, &mut Ctx::new(&mut pack));
            for (i, (a, b)) in y.iter().zip(y_torch).enumerate() {
                assert!((a - b).abs() < 1e-12, "y[{i}]: {a}, PyTorch {b}");
            }
            assert_eq!(y.len(), y_torch.len());
            let (mut dx, mut grad) = (vec![0.0; x.len()], L::default());
            layer.backward(&x, &y, &Default::default(), &dy, Some(&mut dx), &mut grad, &mut Ctx::new(&mut pack));
            let mut got = vec![checksum(&dx)];
            grad.visit(&Path::ROOT, &mut |t| got.push(checksum(t.values)));
            assert_eq!(got.len(), checksums.len());
            for (what, (a, b)) in ["dx", "dweight", "dbias"].iter().zip(got.iter().zip(checksums)) {
                assert!((a - b).abs() < 1e-12, "{what} checksum: {a}, PyTorch {b}");
            }
        }
    }

    #[test]
    fn values_and_gradients_match_pytorch() {
        // torch.nn.Conv2d(2, 3, 3, stride=2, padding=1, dilation=2) on 2 samples of 2x7x6.
        #[rustfmt::skip]
        let y = [
            0.0375, -0.325, 0.05, -0.5125, 0.5625, 0.475, -0.6375, -0.9, -0.2, 0.15, -1.1375, -0.0625,
            0.3375, 0.0375, 0.5125, -0.0125, 0.4625, -0.325, 0.1, -0.3125, -0.5125, 0.2375, -0.175, 0.15,
            -0.0625, -0.6, -0.45, -0.85, -0.3875, -0.3625, 0.325, -0.0625, 0.7125, 0.125, 0.3625, 0.5,
        ];
        against_pytorch::<Conv2d<2, 3, 3, 2, 1, 2, f64>, Rank3<2, 7, 6>, Rank3<3, 3, 2>, 2>(
            &y,
            &[-13.975, -2.6875, -2.0],
        );

        // torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2) on 1 sample of 4x5x5.
        #[rustfmt::skip]
        let y = [
            0.2, 1.0125, 0.2375, 1.0375, 0.825, 0.6875, 0.725, 0.2625, -0.0125, 0.625, -0.55, -0.65,
            -0.8, -1.525, -0.8375, -0.925, -0.425, 0.575, -0.6, 0.225, -0.4375, 0.8, 0.1125, -0.7125,
            0.45, -0.975, -0.2125, 0.2375, -0.05, 1.4, 0.5125, 0.0875, -0.125, 0.925, -0.25, -0.35,
            -0.8375, -0.425, -0.3125, -1.0625, 0.3375, -0.0625, -0.3, 0.525, -0.1375, 0.5625, -0.1125, 0.8625,
            0.525, 0.45, 1.2375, 0.4, 1.4375, 0.625,
        ];
        against_pytorch::<GroupedConv2d<4, 6, 3, 2, 2, 2, 1, 1, f64>, Rank3<4, 5, 5>, Rank3<6, 3, 3>, 1>(
            &y,
            &[5.7, -24.375, 2.25],
        );

        // torch.nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=2) on 2 samples of 2x9.
        #[rustfmt::skip]
        let y = [
            0.0625, 0.1875, 0.5875, -0.4125, -0.3875, -0.525, -0.4125, -0.0875, -0.0125, 0.6875, 0.1, 0.5125,
            0.0875, 0.2125, 0.6125, -0.45, -0.2625, -0.4875, -0.375, -0.1625, -0.0625, 0.6, 0.0125, 0.5375,
        ];
        against_pytorch::<Conv1d<2, 3, 3, 2, 1, 2, f64>, Rank2<2, 9>, Rank2<3, 4>, 2>(&y, &[-8.975, -1.25, 2.5]);
    }

    /// `x` = 1..=9 as one 3x3 channel.
    const NINE: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

    #[test]
    fn literal_values_computed_by_hand() {
        for pack_len in [PACK_LEN, 0] {
            let mut pack = vec![0.0; pack_len];
            let ctx = &mut Ctx::new(&mut pack);
            // 2x2 kernel [[1, 2], [3, 4]], bias 0.5: e.g. 1·1 + 2·2 + 3·4 + 4·5 + 0.5 = 37.5.
            let conv = Conv2d::<1, 1, 2, 1, 0, 1, f64> { weight: [[[[1.0, 2.0], [3.0, 4.0]]]], bias: [0.5] };
            let mut y = [0.0; 4];
            Layer::<f64, Rank3<1, 3, 3>, Rank3<1, 2, 2>>::forward(&conv, &NINE, &mut y, ctx);
            assert_eq!(y, [37.5, 47.5, 67.5, 77.5]);
            // Backward with dy = 1: dW holds the window sums, db the count, and each input
            // the sum of the weights that read it.
            let (mut dx, mut g) = ([0.0; 9], Conv2d::ZERO);
            Layer::<f64, Rank3<1, 3, 3>, Rank3<1, 2, 2>>::backward(
                &conv,
                &NINE,
                &y,
                &(),
                &[1.0; 4],
                Some(&mut dx),
                &mut g,
                ctx,
            );
            assert_eq!(g.weight, [[[[12.0, 16.0], [24.0, 28.0]]]]);
            assert_eq!(g.bias, [4.0]);
            assert_eq!(dx, [1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]);

            // A 3x3 kernel of ones, stride 2, padding 1: the four corner 2x2 blocks.
            let conv = Conv2d::<1, 1, 3, 2, 1, 1, f64> { weight: [[[[1.0; 3]; 3]]], bias: [0.0] };
            Layer::<f64, Rank3<1, 3, 3>, Rank3<1, 2, 2>>::forward(&conv, &NINE, &mut y, ctx);
            assert_eq!(y, [12.0, 16.0, 24.0, 28.0]);

            // Dilation 2: a 2x2 kernel reads the four corners, 1·1 + 2·3 + 3·7 + 4·9.
            let conv = Conv2d::<1, 1, 2, 1, 0, 2, f64> { weight: [[[[1.0, 2.0], [3.0, 4.0]]]], bias: [0.0] };
            let mut y = [0.0; 1];
            Layer::<f64, Rank3<1, 3, 3>, Rank3<1, 1, 1>>::forward(&conv, &NINE, &mut y, ctx);
            assert_eq!(y, [64.0]);

            // Two input channels, two output channels, 1x1: a matrix per pixel.
            let conv =
                Conv2d::<2, 2, 1, 1, 0, 1, f64> { weight: [[[[1.0]], [[2.0]]], [[[-1.0]], [[0.5]]]], bias: [0.0, 1.0] };
            let mut y = [0.0; 4];
            Layer::<f64, Rank3<2, 1, 2>, Rank3<2, 1, 2>>::forward(&conv, &[1.0, 2.0, 10.0, 20.0], &mut y, ctx);
            assert_eq!(y, [21.0, 42.0, 5.0, 9.0]);

            // Conv1d, two channels: [1, 2] + [2, 3] + 10·[4, 5] - [5, 6].
            let conv = Conv1d::<2, 1, 2, 1, 0, 1, f64> { weight: [[[1.0, 1.0], [10.0, -1.0]]], bias: [0.0] };
            let mut y = [0.0; 2];
            Layer::<f64, Rank2<2, 3>, Rank2<1, 2>>::forward(&conv, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut y, ctx);
            assert_eq!(y, [38.0, 49.0]);
        }
    }

    #[test]
    fn names_shapes_and_sizes_follow_pytorch() {
        let conv = Conv2d::<3, 8, 5, 1, 0, 1, f32>::ZERO;
        let mut seen = Vec::new();
        conv.visit(&Path::ROOT.field("conv1"), &mut |t| {
            seen.push((alloc::format!("{}", t.path), t.shape.to_vec(), t.values.len()));
        });
        assert_eq!(seen, [("conv1.weight".into(), vec![8, 3, 5, 5], 600), ("conv1.bias".into(), vec![8], 8)]);
        let mut shapes = Vec::new();
        GroupedConv2d::<4, 6, 3, 2, 2>::ZERO
            .visit(&Path::ROOT, &mut |t: Tensor<'_, &[f32]>| shapes.push(t.shape.to_vec()));
        Conv1d::<4, 6, 3>::ZERO.visit(&Path::ROOT, &mut |t: Tensor<'_, &[f32]>| shapes.push(t.shape.to_vec()));
        assert_eq!(shapes, [vec![6, 2, 3, 3], vec![6], vec![6, 4, 3], vec![6]]);

        assert_eq!(<Conv2d<3, 8, 5> as Module<f32>>::PARAMS, 8 * 3 * 25 + 8);
        assert_eq!(<GroupedConv2d<4, 6, 3, 2, 2> as Module<f32>>::PARAMS, 6 * 2 * 9 + 6);
        assert_eq!(<Conv1d<4, 6, 3> as Module<f32>>::PARAMS, 6 * 4 * 3 + 6);
        // LeNet's first layer: a 25 x 576 column buffer, 6·576·25 multiply-adds.
        type Lenet = Conv2d<1, 6, 5>;
        assert_eq!(<Lenet as Layer<f32, Rank3<1, 28, 28>, Rank3<6, 24, 24>>>::SCRATCH, 25 * 576);
        assert_eq!(<Lenet as Layer<f32, Rank3<1, 28, 28>, Rank3<6, 24, 24>>>::MACS, 6 * 576 * 25);
        // A 1x1 convolution at stride 1 reads its input as the column matrix.
        assert_eq!(<Conv2d<64, 32, 1> as Layer<f32, Rank3<64, 8, 8>, Rank3<32, 8, 8>>>::SCRATCH, 0);
        assert_eq!(<Conv1d<2, 3, 3, 2, 1, 2> as Layer<f32, Rank2<2, 9>, Rank2<3, 4>>>::SCRATCH, 2 * 3 * 4);
    }

    #[test]
    fn init_is_seeded_and_bounded_by_the_fan_in() {
        let a = Conv2d::<4, 8, 3>::new(&mut Rng::seed(5));
        assert_eq!(a, Conv2d::<4, 8, 3>::new(&mut Rng::seed(5)));
        assert_ne!(a, Conv2d::<4, 8, 3>::new(&mut Rng::seed(6)));
        // fan_in = 4·3·3 = 36: the bound is 1/6, and the draws spread over most of it.
        let bound = 1.0 / 6.0;
        let all: Vec<f32> = a.weight.flat().iter().chain(&a.bias).copied().collect();
        assert!(all.iter().all(|w| w.abs() <= bound));
        assert!(all.iter().any(|w| w.abs() > 0.9 * bound));
        // Groups: fan_in = CIG·K·K = 2·9.
        let g = GroupedConv2d::<4, 6, 3, 2, 2>::new(&mut Rng::seed(1));
        let gb = 1.0 / 18f32.sqrt();
        let gw: &[f32] = g.weight.flat();
        assert!(gw.iter().all(|w| w.abs() <= gb) && gw.iter().any(|w| w.abs() > 0.9 * gb));
        let c = Conv1d::<2, 3, 5>::new(&mut Rng::seed(1));
        let cw: &[f32] = c.weight.flat();
        assert!(cw.iter().all(|w| w.abs() <= 1.0 / 10f32.sqrt()));
        // `Default` and `map`.
        assert_eq!(Conv2d::<4, 8, 3>::default(), Conv2d::ZERO);
        assert_eq!(a.map(f64::from).map(|v| v as f32), a);
    }

    #[test]
    fn grads_accumulate_and_an_optimizer_sees_both_tensors() {
        let conv = Conv2d::<1, 2, 2, 1, 0, 1, f64>::new(&mut Rng::seed(3));
        let mut grad = Conv2d::ZERO;
        let x = values(9, 9);
        let mut dy = [0.5; 8];
        let mut pack = vec![0.0; PACK_LEN];
        let ctx = &mut Ctx::new(&mut pack);
        Layer::<f64, Rank3<1, 3, 3>, Rank3<2, 2, 2>>::backward(&conv, &x, &[0.0; 8], &(), &dy, None, &mut grad, ctx);
        let once = grad.clone();
        dy.iter_mut().for_each(|v| *v = 0.25);
        Layer::<f64, Rank3<1, 3, 3>, Rank3<2, 2, 2>>::backward(&conv, &x, &[0.0; 8], &(), &dy, None, &mut grad, ctx);
        let (twice, once): (&[f64], &[f64]) = (grad.weight.flat(), once.weight.flat());
        for (a, b) in twice.iter().zip(once) {
            assert!((a - 1.5 * b).abs() < 1e-15);
        }
        let mut model = conv.clone();
        let (mut names, mut offsets) = (Vec::new(), Vec::new());
        model.visit_update(&grad, &Path::ROOT, &mut 0, &mut |u| {
            names.push(alloc::format!("{}", u.path));
            offsets.push(u.offset);
            for (v, g) in u.value.iter_mut().zip(u.grad) {
                *v -= g;
            }
        });
        assert_eq!(names, ["weight", "bias"]);
        assert_eq!(offsets, [0, 8]);
        assert_eq!(model.bias[0], conv.bias[0] - grad.bias[0]);
    }
}
