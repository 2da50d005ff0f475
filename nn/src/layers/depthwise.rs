//! Depthwise and depthwise-separable convolutions.
//!
//! A depthwise convolution filters each channel on its own: PyTorch's
//! `Conv2d(C, C, K, S, P, D, groups=C)`, weight `[C, 1, K, K]`:
//!
//! ```text
//! y[c, oy, ox] = b[c] + Σ_i Σ_j W[c, 0, i, j] · x[c, oy·S + i·D − P, ox·S + j·D − P]
//! ```
//!
//! with derivatives `∂L/∂W[c, 0, i, j] = Σ_{oy, ox} ∂L/∂y[c, oy, ox] · x[c, oy·S + i·D − P, ...]`,
//! `∂L/∂b[c] = Σ ∂L/∂y[c, ·, ·]`, and `∂L/∂x[c, ·, ·]` the sum over taps of the weight times
//! the shifted output gradient. Each output channel reads one input channel, so there is
//! no matrix product to form: it runs tap by tap
//! ([`conv2d_direct`](monograd_core::kernels::im2col::conv2d_direct)) and needs no scratch.
//!
//! A depthwise-separable convolution ([`SeparableConv2d`], MobileNet's building block) is a
//! depthwise `K x K` convolution followed by a pointwise `1 x 1` [`Conv2d`] that mixes the
//! channels: nearly the receptive field of a full `K x K` convolution for a fraction of
//! its weights and multiply-adds.
//!
//! # Why not a `groups` parameter
//!
//! A grouped convolution's weight is `[CO, CI / G, K, K]`, and stable Rust cannot compute
//! an array length such as `CI / G` from const parameters. So the depthwise case has its
//! own name, [`DepthwiseConv2d<C, K, ...>`](DepthwiseConv2d), whose weight `[C, 1, K, K]`
//! needs no arithmetic, and any other `groups` is a
//! [`GroupedConv2d<CI, CO, K, G, CIG, ...>`](GroupedConv2d) with the channels per group
//! `CIG = CI / G` written out (checked at compile time). `DepthwiseConv2d` is that type
//! with `G = CI = CO` and `CIG = 1`; a depthwise convolution with channel multiplier `M`
//! is `GroupedConv2d<C, CO, K, C, 1>` with `CO = M·C`.
//!
//! # Shapes
//! - [`DepthwiseConv2d<C, K, S, P, D>`](DepthwiseConv2d): [`Rank3<C, H, W>`] →
//!   [`Rank3<C, OH, OW>`], `OH = (H + 2P − D(K − 1) − 1) / S + 1` (likewise `OW`);
//!   `weight`: `[C, 1, K, K]`, `bias`: `[C]`
//! - [`SeparableConv2d<CI, CO, K, S, P, D>`](SeparableConv2d): [`Rank3<CI, H, W>`] →
//!   [`Rank3<CO, OH, OW>`]; `depthwise.weight`: `[CI, 1, K, K]`, `depthwise.bias`: `[CI]`,
//!   `pointwise.weight`: `[CO, CI, 1, 1]`, `pointwise.bias`: `[CO]`

use monograd_core::embed::{Embed, Embedded, Field, FieldName, Place};
use monograd_core::module::{ParamUpdate, Path, Tensor};
use monograd_core::ops::unary::UnaryFn;
use monograd_core::{Ctx, Layer, Module, Rank3, Rng, Scalar};

use super::conv::{plan_2d, Conv2d, ConvPlan, GroupedConv2d};

/// A depthwise 2-D convolution of `C` channels with a `K x K` kernel, stride `S`, zero
/// padding `P` and dilation `D`, with bias: `torch.nn.Conv2d(C, C, K, S, P, D, groups=C)`.
///
/// It is [`GroupedConv2d`] with `G = CI = CO = C` and one channel per group, so it has the
/// same fields, constructors and `Layer` impl.
///
/// ```
/// use monograd_nn::DepthwiseConv2d;
/// use monograd_core::{Ctx, Layer, Rank3};
///
/// // Two channels of 3x3, a 2x2 kernel each: one sums a diagonal, the other the other one.
/// let mut conv = DepthwiseConv2d::<2, 2, 1, 0, 1, f64>::ZERO;
/// conv.weight = [[[[1.0, 0.0], [0.0, 1.0]]], [[[0.0, 1.0], [1.0, 0.0]]]];
/// conv.bias = [0.0, 0.5];
/// let x: Vec<f64> = (1..=18).map(f64::from).collect();
/// let mut y = [0.0; 8];
/// Layer::<f64, Rank3<2, 3, 3>, Rank3<2, 2, 2>>::forward(&conv, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [6.0, 8.0, 12.0, 14.0, 24.5, 26.5, 30.5, 32.5]);
/// ```
pub type DepthwiseConv2d<
    const C: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    T = f32,
> = GroupedConv2d<C, C, K, C, 1, S, P, D, T>;

/// A depthwise-separable convolution: a [`DepthwiseConv2d<CI, K, S, P, D>`] followed by a
/// pointwise [`Conv2d<CI, CO, 1>`], each with bias and nothing between them (insert a
/// normalisation or an activation by using the two layers separately).
///
/// `y = pointwise(depthwise(x))`; backward runs the two backwards in reverse. The
/// intermediate `[CI, OH, OW]` sample and its gradient live in the layer's
/// [`Layer::SCRATCH`] (`2·CI·OH·OW` values at the front of `ctx.pack`), one sample at a
/// time, and the depthwise output is recomputed in backward rather than kept. With less
/// packing memory than that, the layer computes each intermediate value where it is used,
/// with no buffer, more slowly.
///
/// ```
/// use monograd_nn::SeparableConv2d;
/// use monograd_core::kernels::gemm::PACK_LEN;
/// use monograd_core::{Ctx, Layer, Module, Rank3, Rng};
///
/// // 16 to 32 channels, 3x3, padding 1: 16·9 + 16 + 32·16 + 32 parameters where a full
/// // Conv2d<16, 32, 3> has 32·16·9 + 32.
/// let sep = SeparableConv2d::<16, 32, 3, 1, 1>::new(&mut Rng::seed(0));
/// assert_eq!(<SeparableConv2d<16, 32, 3, 1, 1> as Module<f32>>::PARAMS, 704);
/// let x = vec![0.5f32; 16 * 8 * 8];
/// let mut y = vec![0.0f32; 32 * 8 * 8];
/// let mut pack = vec![0.0f32; PACK_LEN + 2 * 16 * 8 * 8];
/// Layer::<f32, Rank3<16, 8, 8>, Rank3<32, 8, 8>>::forward(&sep, &x, &mut y, &mut Ctx::new(&mut pack));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SeparableConv2d<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    T = f32,
> {
    /// The per-channel `K x K` convolution.
    pub depthwise: DepthwiseConv2d<CI, K, S, P, D, T>,
    /// The `1 x 1` convolution that mixes channels.
    pub pointwise: Conv2d<CI, CO, 1, 1, 0, 1, T>,
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    SeparableConv2d<CI, CO, K, S, P, D, T>
{
    /// All weights and biases zero.
    pub const ZERO: Self = Self { depthwise: DepthwiseConv2d::ZERO, pointwise: Conv2d::ZERO };

    /// PyTorch's default initialisation of each part, depthwise first.
    pub fn new(rng: &mut Rng) -> Self {
        let mut layer = Self::ZERO;
        layer.init(rng);
        layer
    }

    /// Re-initialises in place, as [`SeparableConv2d::new`] does.
    pub fn init(&mut self, rng: &mut Rng) {
        self.depthwise.init(rng);
        self.pointwise.init(rng);
    }

    /// The same layer over another scalar, every parameter mapped by `f`.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> SeparableConv2d<CI, CO, K, S, P, D, U> {
        SeparableConv2d { depthwise: self.depthwise.map(&f), pointwise: self.pointwise.map(&f) }
    }
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    Default for SeparableConv2d<CI, CO, K, S, P, D, T>
{
    /// All zero, as [`SeparableConv2d::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

/// The names of [`SeparableConv2d`]'s two parts, for [`Embed`].
struct DepthwiseName;
impl FieldName for DepthwiseName {
    const NAME: &'static str = "depthwise";
}
struct PointwiseName;
impl FieldName for PointwiseName {
    const NAME: &'static str = "pointwise";
}

impl<At: Place, const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize>
    Embed<At> for SeparableConv2d<CI, CO, K, S, P, D, f32>
{
    const EMBEDDED: Embedded<Self> = {
        let dw = <DepthwiseConv2d<CI, K, S, P, D> as Embed<Field<At, DepthwiseName>>>::EMBEDDED;
        let pw = <Conv2d<CI, CO, 1> as Embed<Field<At, PointwiseName>>>::EMBEDDED;
        let report = dw.report.merge(&pw.report);
        Embedded::new(Self { depthwise: dw.value(), pointwise: pw.value() }, report)
    };
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    Module<T> for SeparableConv2d<CI, CO, K, S, P, D, T>
{
    const PARAMS: usize = <DepthwiseConv2d<CI, K, S, P, D, T> as Module<T>>::PARAMS
        + <Conv2d<CI, CO, 1, 1, 0, 1, T> as Module<T>>::PARAMS;

    fn init(&mut self, rng: &mut Rng) {
        SeparableConv2d::init(self, rng);
    }

    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, path: &Path<'_>, f: &mut F) {
        self.depthwise.visit(&path.field("depthwise"), f);
        self.pointwise.visit(&path.field("pointwise"), f);
    }

    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, path: &Path<'_>, f: &mut F) {
        self.depthwise.visit_mut(&path.field("depthwise"), f);
        self.pointwise.visit_mut(&path.field("pointwise"), f);
    }

    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(
        &mut self,
        grad: &Self,
        path: &Path<'_>,
        offset: &mut usize,
        f: &mut F,
    ) {
        self.depthwise.visit_update(&grad.depthwise, &path.field("depthwise"), offset, f);
        self.pointwise.visit_update(&grad.pointwise, &path.field("pointwise"), offset, f);
    }
}

/// The plans of the two parts, checked at compile time.
#[allow(clippy::too_many_arguments)] // the layer's parameters, one each
const fn plans(
    ci: usize,
    co: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    hw: [usize; 2],
    out: [usize; 2],
) -> [ConvPlan; 2] {
    [plan_2d(ci, ci, ci, 1, k, s, p, d, hw, out), plan_2d(ci, co, 1, ci, 1, 1, 0, 1, out, out)]
}

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
    > Layer<T, Rank3<CI, H, W>, Rank3<CO, OH, OW>> for SeparableConv2d<CI, CO, K, S, P, D, T>
{
    type Cache = ();
    const MACS: usize = CI * OH * OW * K * K + CO * OH * OW * CI;
    // The intermediate sample and its gradient; neither part needs a column buffer.
    const SCRATCH: usize = {
        let _ = plans(CI, CO, K, S, P, D, [H, W], [OH, OW]);
        2 * CI * OH * OW
    };

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], ctx: &mut Ctx<'_, T>) {
        self.run_forward::<H, W, OH, OW>(x, y, ctx.pack, |v| v);
    }

    #[inline]
    fn forward_fused<A: UnaryFn>(&self, x: &[T], y: &mut [T], act: A, ctx: &mut Ctx<'_, T>) {
        self.run_forward::<H, W, OH, OW>(x, y, ctx.pack, |v| act.f(v));
    }

    #[inline]
    fn forward_train_fused<A: UnaryFn>(&mut self, x: &[T], y: &mut [T], _: &mut (), act: A, ctx: &mut Ctx<'_, T>) {
        self.run_forward::<H, W, OH, OW>(x, y, ctx.pack, |v| act.f(v));
    }

    fn backward(
        &self,
        x: &[T],
        _y: &[T],
        _cache: &(),
        dy: &[T],
        mut dx: Option<&mut [T]>,
        grad: &mut Self,
        ctx: &mut Ctx<'_, T>,
    ) {
        let [dplan, pplan] = const { plans(CI, CO, K, S, P, D, [H, W], [OH, OW]) };
        let (inp, mid, out) = (CI * H * W, CI * OH * OW, CO * OH * OW);
        let batch = batch_of(x.len(), inp, dy.len(), out);
        if let Some(dx) = &dx {
            batch_of(dx.len(), inp, dy.len(), out);
        }
        if batch == 0 {
            return;
        }
        if ctx.pack.len() < 2 * mid {
            return self.backward_direct::<H, W, OH, OW>(x, dy, dx, grad);
        }
        let (h, rest) = ctx.pack.split_at_mut(mid);
        let (dh, rest) = rest.split_at_mut(mid);
        let (dw, pw) = (self.depthwise.weight.as_flattened().as_flattened().as_flattened(), pw_flat(&self.pointwise));
        for s in 0..batch {
            let (xs, dys) = (&x[s * inp..][..inp], &dy[s * out..][..out]);
            // Recompute the depthwise output, then go back through the pointwise part.
            dplan.forward("SeparableConv2d", dw, &self.depthwise.bias, xs, h, rest, |v| v);
            dh.fill(T::ZERO);
            let gpw = grad.pointwise.weight.as_flattened_mut().as_flattened_mut().as_flattened_mut();
            pplan.backward("SeparableConv2d", pw, h, dys, Some(dh), Some(gpw), Some(&mut grad.pointwise.bias), rest);
            let dxs = dx.as_deref_mut().map(|d| &mut d[s * inp..][..inp]);
            let gdw = grad.depthwise.weight.as_flattened_mut().as_flattened_mut().as_flattened_mut();
            dplan.backward("SeparableConv2d", dw, xs, dh, dxs, Some(gdw), Some(&mut grad.depthwise.bias), rest);
        }
    }
}

/// The pointwise weights as a flat `[CO, CI]` slice.
fn pw_flat<const CI: usize, const CO: usize, T: Scalar>(c: &Conv2d<CI, CO, 1, 1, 0, 1, T>) -> &[T] {
    c.weight.as_flattened().as_flattened().as_flattened()
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, const D: usize, T: Scalar>
    SeparableConv2d<CI, CO, K, S, P, D, T>
{
    /// Forward for a batch: through the intermediate buffer one sample at a time, or,
    /// without room for it, directly.
    fn run_forward<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[T],
        y: &mut [T],
        pack: &mut [T],
        act: impl Fn(T) -> T + Copy,
    ) {
        let [dplan, pplan] = const { plans(CI, CO, K, S, P, D, [H, W], [OH, OW]) };
        let (inp, mid, out) = (CI * H * W, CI * OH * OW, CO * OH * OW);
        if batch_of(x.len(), inp, y.len(), out) == 0 {
            return;
        }
        if pack.len() < mid {
            return self.forward_direct::<H, W, OH, OW>(x, y, act);
        }
        let (h, rest) = pack.split_at_mut(mid);
        let (dw, pw) = (self.depthwise.weight.as_flattened().as_flattened().as_flattened(), pw_flat(&self.pointwise));
        for (s, ys) in y.chunks_exact_mut(out).enumerate() {
            let xs = &x[s * inp..][..inp];
            dplan.forward("SeparableConv2d", dw, &self.depthwise.bias, xs, h, rest, |v| v);
            pplan.forward("SeparableConv2d", pw, &self.pointwise.bias, h, ys, rest, act);
        }
    }

    /// The depthwise output at channel `c` and output position `(oy, ox)`, from `x` (one
    /// sample), computed on the spot.
    fn mid_at<const H: usize, const W: usize>(&self, x: &[T], c: usize, oy: usize, ox: usize) -> T {
        let mut acc = self.depthwise.bias[c];
        for (i, row) in self.depthwise.weight[c][0].iter().enumerate() {
            for (j, &w) in row.iter().enumerate() {
                if let Some(at) = tap::<H, W, S, P, D>(oy, ox, i, j) {
                    acc += w * x[c * H * W + at];
                }
            }
        }
        acc
    }

    /// Forward without scratch: each intermediate value is computed where it is used.
    fn forward_direct<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[T],
        y: &mut [T],
        act: impl Fn(T) -> T,
    ) {
        let (inp, out, plane) = (CI * H * W, CO * OH * OW, OH * OW);
        for (s, ys) in y.chunks_exact_mut(out).enumerate() {
            let xs = &x[s * inp..][..inp];
            for (o, b) in self.pointwise.bias.iter().enumerate() {
                ys[o * plane..][..plane].fill(*b);
            }
            for p in 0..plane {
                let (oy, ox) = (p / OW, p % OW);
                for c in 0..CI {
                    let h = self.mid_at::<H, W>(xs, c, oy, ox);
                    for (o, w) in self.pointwise.weight.iter().enumerate() {
                        ys[o * plane + p] += w[c][0][0] * h;
                    }
                }
            }
            for v in ys {
                *v = act(*v);
            }
        }
    }

    /// Backward without scratch: the chain rule one intermediate value at a time.
    fn backward_direct<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[T],
        dy: &[T],
        mut dx: Option<&mut [T]>,
        grad: &mut Self,
    ) {
        let (inp, out, plane) = (CI * H * W, CO * OH * OW, OH * OW);
        for (s, dys) in dy.chunks_exact(out).enumerate() {
            let xs = &x[s * inp..][..inp];
            let mut dxs = dx.as_deref_mut().map(|d| &mut d[s * inp..][..inp]);
            for (db, row) in grad.pointwise.bias.iter_mut().zip(dys.chunks_exact(plane)) {
                *db += row.iter().fold(T::ZERO, |a, &v| a + v);
            }
            for p in 0..plane {
                let (oy, ox) = (p / OW, p % OW);
                for c in 0..CI {
                    let h = self.mid_at::<H, W>(xs, c, oy, ox);
                    // Through the pointwise part: dh = Σ_o W[o, c] dy[o], dW[o, c] += dy[o] h.
                    let mut dh = T::ZERO;
                    for (o, (w, gw)) in self.pointwise.weight.iter().zip(grad.pointwise.weight.iter_mut()).enumerate() {
                        let g = dys[o * plane + p];
                        dh += w[c][0][0] * g;
                        gw[c][0][0] += g * h;
                    }
                    // Through the depthwise part.
                    grad.depthwise.bias[c] += dh;
                    for i in 0..K {
                        for j in 0..K {
                            if let Some(at) = tap::<H, W, S, P, D>(oy, ox, i, j) {
                                grad.depthwise.weight[c][0][i][j] += dh * xs[c * H * W + at];
                                if let Some(dxs) = dxs.as_deref_mut() {
                                    dxs[c * H * W + at] += self.depthwise.weight[c][0][i][j] * dh;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The number of samples in `x` (`inp` values each) and `y` (`out` each), which must agree.
#[track_caller]
fn batch_of(x: usize, inp: usize, y: usize, out: usize) -> usize {
    let n = y.checked_div(out).unwrap_or(0);
    if n * out != y || n * inp != x {
        panic!("SeparableConv2d: {x} input values and {y} output values are not the same number of samples");
    }
    n
}

/// The index in an `H x W` plane that tap `(i, j)` of output `(oy, ox)` reads, or `None`
/// in the padding.
fn tap<const H: usize, const W: usize, const S: usize, const P: usize, const D: usize>(
    oy: usize,
    ox: usize,
    i: usize,
    j: usize,
) -> Option<usize> {
    let iy = (oy * S + i * D).checked_sub(P).filter(|&v| v < H)?;
    let ix = (ox * S + j * D).checked_sub(P).filter(|&v| v < W)?;
    Some(iy * W + ix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::conv::tests::{against_pytorch, check, family, Starved};
    use alloc::vec;
    use alloc::vec::Vec;
    use monograd_core::kernels::gemm::PACK_LEN;
    use monograd_core::ops::unary::Tanh;
    use monograd_core::Shape;

    family!(Depthwise: DepthwiseConv2d<3, 3, 2, 1, 1, T>, Rank3<3, 6, 6> => Rank3<3, 3, 3>, DepthwiseConv2d::ZERO);
    family!(Dilated: DepthwiseConv2d<2, 3, 1, 2, 2, T>, Rank3<2, 5, 5> => Rank3<2, 5, 5>, DepthwiseConv2d::ZERO);
    family!(
        Multiplier: GroupedConv2d<2, 4, 3, 2, 1, 1, 0, 1, T>,
        Rank3<2, 4, 4> => Rank3<4, 2, 2>,
        GroupedConv2d::ZERO
    );
    family!(Separable: SeparableConv2d<3, 4, 3, 1, 1, 1, T>, Rank3<3, 4, 4> => Rank3<4, 4, 4>, SeparableConv2d::ZERO);
    family!(
        SeparableStrided: SeparableConv2d<2, 3, 3, 2, 1, 2, T>,
        Rank3<2, 7, 6> => Rank3<3, 3, 2>,
        SeparableConv2d::ZERO
    );
    family!(
        SeparableDirect: Starved<SeparableConv2d<2, 3, 3, 2, 1, 2, T>>,
        Rank3<2, 7, 6> => Rank3<3, 3, 2>,
        Starved(SeparableConv2d::ZERO)
    );

    #[test]
    fn depthwise_gradients_match_finite_differences_and_forward_mode() {
        check::<Depthwise>(21);
        check::<Dilated>(22);
        check::<Multiplier>(23);
    }

    #[test]
    fn separable_gradients_match_finite_differences_and_forward_mode() {
        check::<Separable>(24);
        check::<SeparableStrided>(25);
        check::<SeparableDirect>(26);
    }

    #[test]
    fn depthwise_matches_pytorch() {
        // torch.nn.Conv2d(3, 3, 3, stride=2, padding=1, groups=3) on 1 sample of 3x6x6.
        #[rustfmt::skip]
        let y = [
            -0.4875, -0.0125, -0.6125, -0.075, -1.0, -0.4375, -0.5125, 0.2625, 0.175, 0.2875, -0.4125, 0.1375,
            0.35, 1.025, 1.0375, 0.9625, -0.2, -0.35, -0.7, 0.4125, 0.4125, 0.5125, 0.0625, -0.55,
            -0.9125, -0.525, 0.65,
        ];
        against_pytorch::<DepthwiseConv2d<3, 3, 2, 1, 1, f64>, Rank3<3, 6, 6>, Rank3<3, 3, 3>, 1>(
            &y,
            &[18.5, 3.125, 0.25],
        );
    }

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

    /// A module with seeded parameters.
    fn seeded<M: Module<f64> + Default>(seed: u64) -> M {
        let mut m = M::default();
        let mut p = values(seed, M::PARAMS).into_iter();
        m.visit_mut(&Path::ROOT, &mut |t| t.values.iter_mut().for_each(|v| *v = p.next().unwrap()));
        m
    }

    #[test]
    fn depthwise_literal_values_and_gradients() {
        let mut conv = DepthwiseConv2d::<2, 2, 1, 0, 1, f64>::ZERO;
        conv.weight = [[[[1.0, 0.0], [0.0, 1.0]]], [[[0.0, 1.0], [1.0, 0.0]]]];
        conv.bias = [0.0, 0.5];
        let x: Vec<f64> = (1..=18).map(f64::from).collect();
        let mut y = [0.0; 8];
        let ctx = &mut Ctx::new(&mut []);
        Layer::<f64, Rank3<2, 3, 3>, Rank3<2, 2, 2>>::forward(&conv, &x, &mut y, ctx);
        assert_eq!(y, [6.0, 8.0, 12.0, 14.0, 24.5, 26.5, 30.5, 32.5]);
        // dy = 1 on channel 0 only: channel 0's taps get its window sums, channel 1 nothing.
        let (mut dx, mut g) = ([0.0; 18], DepthwiseConv2d::ZERO);
        let dy = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        Layer::<f64, Rank3<2, 3, 3>, Rank3<2, 2, 2>>::backward(&conv, &x, &y, &(), &dy, Some(&mut dx), &mut g, ctx);
        assert_eq!(g.weight, [[[[12.0, 16.0], [24.0, 28.0]]], [[[0.0; 2]; 2]]]);
        assert_eq!(g.bias, [4.0, 0.0]);
        assert_eq!(dx[..9], [1.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 1.0]);
        assert_eq!(dx[9..], [0.0; 9]);
        // No column buffer: each channel is filtered in place.
        assert_eq!(<DepthwiseConv2d<32, 3, 1, 1> as Layer<f32, Rank3<32, 8, 8>, Rank3<32, 8, 8>>>::SCRATCH, 0);
        assert_eq!(<DepthwiseConv2d<32, 3, 1, 1> as Layer<f32, Rank3<32, 8, 8>, Rank3<32, 8, 8>>>::MACS, 32 * 64 * 9);
    }

    /// `(y, dx, grad)` of the separable layer with `pack`.
    fn run_separable(
        sep: &SeparableConv2d<2, 3, 3, 2, 1, 2, f64>,
        x: &[f64],
        dy: &[f64],
        pack: &mut [f64],
    ) -> (Vec<f64>, Vec<f64>, SeparableConv2d<2, 3, 3, 2, 1, 2, f64>) {
        type I = Rank3<2, 7, 6>;
        type O = Rank3<3, 3, 2>;
        let mut y = vec![f64::NAN; dy.len()];
        Layer::<f64, I, O>::forward_fused(sep, x, &mut y, Tanh, &mut Ctx::new(pack));
        let (mut dx, mut grad) = (vec![0.0; x.len()], SeparableConv2d::ZERO);
        Layer::<f64, I, O>::backward(sep, x, &y, &(), dy, Some(&mut dx), &mut grad, &mut Ctx::new(pack));
        (y, dx, grad)
    }

    #[test]
    fn separable_is_depthwise_then_pointwise_on_every_path() {
        type I = Rank3<2, 7, 6>;
        type M = Rank3<2, 3, 2>;
        type O = Rank3<3, 3, 2>;
        let sep: SeparableConv2d<2, 3, 3, 2, 1, 2, f64> = seeded(1);
        let (x, dy) = (values(2, 3 * I::NUMEL), values(3, 3 * O::NUMEL));
        assert_eq!(<SeparableConv2d<2, 3, 3, 2, 1, 2> as Layer<f32, I, O>>::SCRATCH, 2 * M::NUMEL);

        // The two layers run one after the other, with their own buffers.
        let mut pack = vec![0.0; PACK_LEN];
        let ctx = &mut Ctx::new(&mut pack);
        let (mut h, mut y) = (vec![0.0; 3 * M::NUMEL], vec![0.0; 3 * O::NUMEL]);
        Layer::<f64, I, M>::forward(&sep.depthwise, &x, &mut h, ctx);
        Layer::<f64, M, O>::forward_fused(&sep.pointwise, &h, &mut y, Tanh, ctx);
        let mut dpre = dy.clone();
        monograd_core::ops::unary::backward_in_place(Tanh, &y, &mut dpre);
        let (mut dh, mut dx, mut grad) = (vec![0.0; h.len()], vec![0.0; x.len()], SeparableConv2d::ZERO);
        Layer::<f64, M, O>::backward(&sep.pointwise, &h, &y, &(), &dpre, Some(&mut dh), &mut grad.pointwise, ctx);
        Layer::<f64, I, M>::backward(&sep.depthwise, &x, &h, &(), &dh, Some(&mut dx), &mut grad.depthwise, ctx);

        // The fused activation's derivative is taken from the output, as `network!` does.
        let mut dy_in = dy.clone();
        monograd_core::ops::unary::backward_in_place(Tanh, &y, &mut dy_in);
        let mid = M::NUMEL;
        for pack_len in [PACK_LEN + 2 * mid, 2 * mid, 2 * mid - 1, mid, 0] {
            let (ys, dxs, gs) = run_separable(&sep, &x, &dy_in, &mut vec![0.0; pack_len]);
            assert_close(&ys, &y, "y");
            assert_close(&dxs, &dx, "dx");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            gs.visit(&Path::ROOT, &mut |t| a.extend_from_slice(t.values));
            grad.visit(&Path::ROOT, &mut |t| b.extend_from_slice(t.values));
            assert_close(&a, &b, "grad");
        }
    }

    #[test]
    fn separable_names_follow_its_fields() {
        let sep = SeparableConv2d::<4, 8, 3>::new(&mut Rng::seed(0));
        let mut seen = Vec::new();
        sep.visit(&Path::ROOT.field("block"), &mut |t: monograd_core::module::Tensor<'_, &[f32]>| {
            seen.push((alloc::format!("{}", t.path), t.shape.to_vec()));
        });
        let want = [
            ("block.depthwise.weight", vec![4, 1, 3, 3]),
            ("block.depthwise.bias", vec![4]),
            ("block.pointwise.weight", vec![8, 4, 1, 1]),
            ("block.pointwise.bias", vec![8]),
        ];
        assert_eq!(seen.len(), want.len());
        for ((name, shape), (n, s)) in seen.iter().zip(&want) {
            assert_eq!((name.as_str(), shape), (*n, s));
        }
        assert_eq!(<SeparableConv2d<4, 8, 3> as Module<f32>>::PARAMS, 4 * 9 + 4 + 8 * 4 + 8);
        // PyTorch's bounds: depthwise fan_in = 1·3·3, pointwise fan_in = 4·1·1.
        assert!(sep.depthwise.weight.as_flattened().as_flattened().as_flattened().iter().all(|w| w.abs() <= 1.0 / 3.0));
        assert!(sep.pointwise.weight.as_flattened().as_flattened().as_flattened().iter().all(|w| w.abs() <= 0.5));
        assert_eq!(sep.map(f64::from).map(|v| v as f32), sep);
        let mut offsets = Vec::new();
        sep.clone().visit_update(&sep, &Path::ROOT, &mut 0, &mut |u| offsets.push(u.offset));
        assert_eq!(offsets, [0, 36, 40, 72]);
    }
}
