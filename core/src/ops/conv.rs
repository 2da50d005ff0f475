//! Convolution: a batch of (grouped) 2-D convolutions with bias, forward and VJP, through
//! [`im2col`] and [`gemm`] or, without room for a column buffer, the direct kernel.
//!
//! For one sample `x` of `[CI, H, W]` in `G` groups of `CIG = CI / G` channels, weights
//! `w` of `[CO, CIG, KH, KW]` and bias `b` of `[CO]`, output channel `o` in group
//! `g = o / (CO / G)` is
//!
//! ```text
//! y[o, oy, ox] = b[o] + Σ_c Σ_i Σ_j w[o, c, i, j] · x[g·CIG + c, oy·SH + i·DH − PH, ox·SW + j·DW − PW]
//! ```
//!
//! (`x` zero outside the image), as `torch.nn.Conv2d` computes it. With `col = im2col(x_g)`:
//!
//! | | formula |
//! | --- | --- |
//! | forward | `y_g = w_g · col + b` |
//! | `∂L/∂w_g` | `+= ∂L/∂y_g · colᵀ` |
//! | `∂L/∂b[o]` | `+= Σ ∂L/∂y[o, ·, ·]` |
//! | `∂L/∂x_g` | `+= col2im(w_gᵀ · ∂L/∂y_g)` |
//!
//! A 1-D convolution is the 2-D one over a single row
//! ([`Conv2dGeometry::new_1d`]); a depthwise one has `G = CI` groups of one channel.
//!
//! Every convolution layer of `monograd-nn` and the eager tape run through [`ConvPlan`],
//! so the two compute the same values with the same code.
//!
//! # Shapes
//! - `x`, `dx`: `[batch, G·CIG, H, W]`; `y`, `dy`: `[batch, CO, OH, OW]`
//! - `w`, `dw`: `[CO, CIG, KH, KW]`; `b`, `db`: `[CO]`
//! - `pack`: at least [`ConvPlan::scratch`] values for the GEMM path, plus GEMM's packing
//!   memory ([`PACK_LEN`](crate::kernels::gemm::PACK_LEN)); with less the direct kernel
//!   runs and gives the same values

use crate::kernels::gemm::{gemm, MatMut, MatRef};
use crate::kernels::im2col::{col2im, conv2d_direct, conv2d_direct_backward, im2col, Conv2dGeometry};
use crate::kernels::winograd;
use crate::{Scalar, ShapeError};

/// The name of the convolution in [`OPS`](super::OPS).
pub const NAME: &str = "conv2d";

/// How one sample of a (grouped) convolution is computed: the geometry of one group
/// (its `channels()` are the input channels per group), the number of groups and the
/// output channels per group.
///
/// ```
/// use monograd_core::kernels::im2col::Conv2dGeometry;
/// use monograd_core::ops::conv::ConvPlan;
/// // One 3x3 input channel, two output channels with 2x2 kernels.
/// let geo = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
/// let plan = ConvPlan::new(geo, 1, 2).unwrap();
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let w = [1.0, 0.0, 0.0, 0.0, /* second channel */ 0.0, 0.0, 0.0, 1.0];
/// let mut y = [0.0; 8];
/// plan.forward("conv", &w, &[0.0, 0.5], &x, &mut y, &mut [], |v| v);
/// assert_eq!(y, [1.0, 2.0, 4.0, 5.0, 5.5, 6.5, 8.5, 9.5]);
/// let (mut dw, mut db) = ([0.0; 8], [0.0; 2]);
/// plan.backward("conv", &w, &x, &[1.0; 8], None, Some(&mut dw), Some(&mut db), &mut []);
/// assert_eq!(dw, [12.0, 16.0, 24.0, 28.0, 12.0, 16.0, 24.0, 28.0]);
/// assert_eq!(db, [4.0, 4.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvPlan {
    geo: Conv2dGeometry,
    groups: usize,
    out_per_group: usize,
    algorithm: ConvAlgorithm,
}

/// How a convolution's forward pass is computed. All three give the same values up to
/// rounding; the backward pass runs `im2col` and GEMM for both matrix algorithms (the
/// gradient of a Winograd forward is the exact convolution's) and the direct loops for
/// `Direct`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvAlgorithm {
    /// Loops over taps and rows with no scratch memory
    /// ([`conv2d_direct`]).
    Direct,
    /// The input unfolded into a column matrix, then one GEMM per sample and group.
    Im2col,
    /// Winograd's F(2x2, 3x3) ([`winograd`]): 3x3 kernels of
    /// stride 1 without groups only.
    Winograd,
}

impl ConvAlgorithm {
    /// The name `summary()` shows: `direct`, `im2col` or `winograd`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Im2col => "im2col",
            Self::Winograd => "winograd",
        }
    }
}

/// The algorithm [`ConvPlan::new`] picks for a convolution whose every size is known at
/// compile time, from the crossover measured by `benches/conv_algorithms.rs`
/// (docs/BENCHMARKS.md, "Convolution algorithms"):
///
/// - every output channel reading one input channel (depthwise): `Direct`, as a matrix
///   product would have nothing to reuse;
/// - a 3x3 kernel of stride 1 without groups, with at least [`WINOGRAD_MIN_CHANNELS`]
///   input and output channels: `Winograd`, whose 16 products are large enough there to
///   repay the transforms;
/// - anything else: `Im2col`.
///
/// ```
/// use monograd_core::kernels::im2col::Conv2dGeometry;
/// use monograd_core::ops::conv::{choose_algorithm, ConvAlgorithm};
/// let wide = Conv2dGeometry::new(64, [16, 16], [3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
/// assert_eq!(choose_algorithm(&wide, 1, 64), ConvAlgorithm::Winograd);
/// let stem = Conv2dGeometry::new(1, [28, 28], [3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
/// assert_eq!(choose_algorithm(&stem, 1, 12), ConvAlgorithm::Im2col);
/// ```
pub const fn choose_algorithm(geo: &Conv2dGeometry, groups: usize, out_per_group: usize) -> ConvAlgorithm {
    if geo.channels() == 1 && out_per_group == 1 {
        ConvAlgorithm::Direct
    } else if groups == 1
        && winograd::applies(geo)
        && geo.channels() >= WINOGRAD_MIN_CHANNELS
        && out_per_group >= WINOGRAD_MIN_CHANNELS
    {
        ConvAlgorithm::Winograd
    } else {
        ConvAlgorithm::Im2col
    }
}

/// The fewest input and output channels for which [`choose_algorithm`] picks Winograd.
/// Measured (docs/BENCHMARKS.md): with 32 channels and more, Winograd took 15-23% less
/// time than `im2col` at every size tried; with 16 it took 25% more at 28x28 (products
/// with `k = 16` are too shallow for the GEMM), with 8 and 12 the two were level.
pub const WINOGRAD_MIN_CHANNELS: usize = 32;

impl ConvPlan {
    /// The plan of `groups` groups of the convolution `geo` (whose channels are the input
    /// channels of one group), each with `out_per_group` output channels; `None` when a
    /// buffer length would overflow `usize` or `groups` is zero.
    pub const fn new(geo: Conv2dGeometry, groups: usize, out_per_group: usize) -> Option<Self> {
        if groups == 0 {
            return None;
        }
        let cols = geo.col_cols();
        if !fits(groups, geo.input_len())
            || !fits(groups, out_per_group)
            || !fits(groups * out_per_group, cols)
            || !fits(groups * out_per_group, geo.col_rows())
        {
            return None;
        }
        let plan = Self { geo, groups, out_per_group, algorithm: choose_algorithm(&geo, groups, out_per_group) };
        match plan.with_algorithm(plan.algorithm) {
            Some(plan) => Some(plan),
            None => plan.with_algorithm(ConvAlgorithm::Im2col),
        }
    }

    /// The same plan computing its forward pass with `algorithm`; `None` where it does
    /// not apply (Winograd needs a 3x3 kernel of stride 1 without groups, and scratch
    /// sizes that fit `usize`). For measurements and tests: [`ConvPlan::new`] picks one.
    pub const fn with_algorithm(self, algorithm: ConvAlgorithm) -> Option<Self> {
        if let ConvAlgorithm::Winograd = algorithm {
            if self.groups != 1
                || !winograd::applies(&self.geo)
                || winograd::scratch(&self.geo, self.out_per_group, winograd::samples_per_call(&self.geo)).is_none()
            {
                return None;
            }
        }
        Some(Self { algorithm, ..self })
    }

    /// The algorithm of the forward pass.
    pub const fn algorithm(&self) -> ConvAlgorithm {
        self.algorithm
    }

    /// The geometry of one group.
    pub const fn geometry(&self) -> &Conv2dGeometry {
        &self.geo
    }

    /// The number of groups.
    pub const fn groups(&self) -> usize {
        self.groups
    }

    /// Output channels in all.
    pub const fn out_channels(&self) -> usize {
        self.groups * self.out_per_group
    }

    /// Values in one input sample.
    pub const fn in_len(&self) -> usize {
        self.groups * self.geo.input_len()
    }

    /// Values in one output sample.
    pub const fn out_len(&self) -> usize {
        self.groups * self.out_per_group * self.geo.col_cols()
    }

    /// Values in the weight: `[CO, CIG, KH, KW]`.
    pub const fn weight_len(&self) -> usize {
        self.groups * self.group_weights()
    }

    /// Weights of one group: `[out_per_group, channels · KH · KW]`.
    const fn group_weights(&self) -> usize {
        self.out_per_group * self.geo.col_rows()
    }

    /// Whether every output channel reads one input channel: then a matrix product would
    /// be a matrix-vector product per channel with nothing to reuse, and the direct
    /// kernel is faster than unfolding the input first.
    const fn direct_only(&self) -> bool {
        matches!(self.algorithm, ConvAlgorithm::Direct)
    }

    /// The scratch memory the plan takes from the front of `pack`: for `im2col`, one
    /// group's column matrix (nothing when the column matrix is the input itself); for
    /// Winograd, the larger of that (for the backward pass) and the transformed filters,
    /// tiles and products; nothing for the direct kernel.
    pub const fn scratch(&self) -> usize {
        let wino = match self.algorithm {
            ConvAlgorithm::Winograd => self.winograd_scratch(),
            _ => 0,
        };
        let col = self.col_scratch();
        if wino > col {
            wino
        } else {
            col
        }
    }

    /// The column matrix of the `im2col` path (forward and backward).
    const fn col_scratch(&self) -> usize {
        if self.direct_only() || self.geo.is_identity() {
            0
        } else {
            self.geo.col_len()
        }
    }

    /// The Winograd forward's scratch (`with_algorithm` checked that it fits).
    const fn winograd_scratch(&self) -> usize {
        match winograd::scratch(&self.geo, self.out_per_group, winograd::samples_per_call(&self.geo)) {
            Some(n) => n,
            None => 0,
        }
    }

    /// Whether `pack` leaves room for the GEMM path.
    fn uses_gemm(&self, pack: usize) -> bool {
        !self.direct_only() && pack >= self.col_scratch()
    }

    /// `y = act(conv(x) + b)` for a batch, overwriting `y`; `name` names the caller in
    /// panic messages.
    ///
    /// # Panics
    /// If a slice does not fit the plan (a bug in the caller, which sizes the buffers).
    #[allow(clippy::too_many_arguments)] // operands, output, scratch, activation
    #[inline(always)]
    #[track_caller]
    pub fn forward<T: Scalar>(
        &self,
        name: &str,
        w: &[T],
        b: &[T],
        x: &[T],
        y: &mut [T],
        pack: &mut [T],
        act: impl Fn(T) -> T,
    ) {
        let (inp, out, gw) = (self.in_len(), self.out_len(), self.group_weights());
        let batch = samples(name, "y", y.len(), out);
        super::expect_len(name, "x", x.len(), batch * inp);
        super::expect_len(name, "weight", w.len(), self.groups * gw);
        super::expect_len(name, "bias", b.len(), self.groups * self.out_per_group);
        let g = &self.geo;
        // A copy that only inlined code sees, so that the compiler keeps its sizes as the
        // constants they are (`g` goes to the direct kernel, which is not inlined): the
        // unfolding then copies rows of known length, with no call to memcpy.
        let geo = self.geo;
        let (rows, cols, gin) = (g.col_rows(), g.col_cols(), g.input_len());
        let gout = self.out_per_group * cols;
        if self.algorithm == ConvAlgorithm::Winograd && inp > 0 && out > 0 && pack.len() >= self.winograd_scratch() {
            // The filters transformed once for the batch, then each sample.
            let (opg, ci) = (self.out_per_group, g.channels());
            let (u, rest) = pack.split_at_mut(16 * opg * ci);
            must(winograd::transform_filters(w, opg, ci, u));
            let (tiles, pack) = rest.split_at_mut(self.winograd_scratch() - 16 * opg * ci);
            let cap = winograd::samples_per_call(&geo);
            for (xs, ys) in x.chunks(cap * inp).zip(y.chunks_mut(cap * out)) {
                must(winograd::forward(&geo, u, opg, xs, ys, tiles, pack, cap));
                for ys in ys.chunks_exact_mut(out) {
                    bias_act(ys, b, cols, &act);
                }
            }
            return;
        }
        let gemm_path = self.uses_gemm(pack.len());
        let (col, pack) = pack.split_at_mut(if gemm_path { self.col_scratch() } else { 0 });
        for s in 0..batch {
            let (xs, ys) = (&x[s * inp..][..inp], &mut y[s * out..][..out]);
            for k in 0..self.groups {
                let (xg, yg, wg) = (&xs[k * gin..][..gin], &mut ys[k * gout..][..gout], &w[k * gw..][..gw]);
                if gemm_path {
                    // y_g = W_g · col_g, overwriting.
                    let colm: &[T] = if g.is_identity() {
                        xg
                    } else {
                        must(im2col(&geo, xg, col));
                        col
                    };
                    let (wv, cv) = (
                        must(MatRef::row_major(wg, self.out_per_group, rows)),
                        must(MatRef::row_major(colm, rows, cols)),
                    );
                    must(gemm(T::ONE, wv, cv, T::ZERO, must(MatMut::row_major(yg, self.out_per_group, cols)), pack));
                } else {
                    yg.fill(T::ZERO);
                    must(conv2d_direct(g, wg, xg, yg));
                }
            }
            bias_act(ys, b, cols, &act);
        }
    }

    /// Backward of [`forward`](Self::forward) without an activation, for a batch, group
    /// by group: **adds** `dY · colᵀ` into `dw`, `Σ dY` into `db` and
    /// `col2im(Wᵀ · dY)` into `dx`, each when given (and only the work it needs).
    ///
    /// # Panics
    /// If a slice does not fit the plan.
    #[allow(clippy::too_many_arguments)] // operands, three gradients, scratch
    #[inline(always)]
    #[track_caller]
    pub fn backward<T: Scalar>(
        &self,
        name: &str,
        w: &[T],
        x: &[T],
        dy: &[T],
        mut dx: Option<&mut [T]>,
        mut dw: Option<&mut [T]>,
        db: Option<&mut [T]>,
        pack: &mut [T],
    ) {
        let (inp, out, gw) = (self.in_len(), self.out_len(), self.group_weights());
        let batch = samples(name, "dy", dy.len(), out);
        super::expect_len(name, "x", x.len(), batch * inp);
        if let Some(dx) = &dx {
            super::expect_len(name, "dx", dx.len(), batch * inp);
        }
        super::expect_len(name, "weight", w.len(), self.groups * gw);
        if let Some(dw) = &dw {
            super::expect_len(name, "weight gradient", dw.len(), self.groups * gw);
        }
        if let Some(db) = &db {
            super::expect_len(name, "bias gradient", db.len(), self.groups * self.out_per_group);
        }
        let g = &self.geo;
        // As in `forward`.
        let geo = self.geo;
        let (rows, cols, gin) = (g.col_rows(), g.col_cols(), g.input_len());
        let (opg, gout) = (self.out_per_group, self.out_per_group * cols);
        let gemm_path = self.uses_gemm(pack.len());
        let (col, pack) = pack.split_at_mut(if gemm_path { self.col_scratch() } else { 0 });
        if dx.is_some() || dw.is_some() {
            for s in 0..batch {
                let (xs, dys) = (&x[s * inp..][..inp], &dy[s * out..][..out]);
                let mut dxs = dx.as_deref_mut().map(|d| &mut d[s * inp..][..inp]);
                for k in 0..self.groups {
                    let (xg, dyg, wg) = (&xs[k * gin..][..gin], &dys[k * gout..][..gout], &w[k * gw..][..gw]);
                    let dwg = dw.as_deref_mut().map(|d| &mut d[k * gw..][..gw]);
                    let dxg = dxs.as_deref_mut().map(|d| &mut d[k * gin..][..gin]);
                    if !gemm_path {
                        must(conv2d_direct_backward(g, wg, xg, dyg, dxg, dwg));
                        continue;
                    }
                    let dyv = must(MatRef::row_major(dyg, opg, cols));
                    let wv = must(MatRef::row_major(wg, opg, rows));
                    if g.is_identity() {
                        // The column matrix is x_g: dW_g += dY_g x_gᵀ, dx_g += W_gᵀ dY_g.
                        if let Some(dwg) = dwg {
                            let xv = must(MatRef::row_major(xg, rows, cols));
                            must(gemm(T::ONE, dyv, xv.t(), T::ONE, must(MatMut::row_major(dwg, opg, rows)), pack));
                        }
                        if let Some(dxg) = dxg {
                            must(gemm(T::ONE, wv.t(), dyv, T::ONE, must(MatMut::row_major(dxg, rows, cols)), pack));
                        }
                    } else {
                        if let Some(dwg) = dwg {
                            must(im2col(&geo, xg, col));
                            let cv = must(MatRef::row_major(col, rows, cols));
                            must(gemm(T::ONE, dyv, cv.t(), T::ONE, must(MatMut::row_major(dwg, opg, rows)), pack));
                        }
                        if let Some(dxg) = dxg {
                            // The columns are spent: the buffer now takes dcol = W_gᵀ dY_g.
                            must(gemm(T::ONE, wv.t(), dyv, T::ZERO, must(MatMut::row_major(col, rows, cols)), pack));
                            must(col2im(&geo, col, dxg));
                        }
                    }
                }
            }
        }
        if let (Some(db), true) = (db, out > 0) {
            for dys in dy.chunks_exact(out) {
                for (row, d) in dys.chunks_exact(cols).zip(db.iter_mut()) {
                    *d += row.iter().fold(T::ZERO, |a, &v| a + v);
                }
            }
        }
    }
}

/// The bias and the activation in one pass over a sample's output (`cols` values per
/// channel).
#[inline(always)]
fn bias_act<T: Scalar>(ys: &mut [T], b: &[T], cols: usize, act: &impl Fn(T) -> T) {
    if cols > 0 {
        for (row, &bo) in ys.chunks_exact_mut(cols).zip(b) {
            for v in row {
                *v = act(*v + bo);
            }
        }
    }
}

/// Whether `a · b` fits in `usize`.
const fn fits(a: usize, b: usize) -> bool {
    a.checked_mul(b).is_some()
}

/// The number of samples in a buffer of `len` values, `per` each; none when `per` is 0.
#[track_caller]
fn samples(op: &str, buffer: &str, len: usize, per: usize) -> usize {
    match len.checked_div(per) {
        Some(n) if n * per == len => n,
        Some(_) => {
            #[cfg(not(feature = "std"))]
            let _ = (op, buffer);
            super::check_failed!("{op}: `{buffer}` holds {len} values, not a whole number of samples of {per}")
        }
        None => 0,
    }
}

/// Unwraps a kernel's result whose lengths the plan already checked.
#[track_caller]
fn must<V>(r: Result<V, ShapeError>) -> V {
    match r {
        Ok(v) => v,
        #[cfg_attr(not(feature = "std"), allow(unused_variables))]
        Err(e) => super::check_failed!("convolution: {e}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec, vec::Vec};

    /// A convolution's gradient check over `[x, w, b]`, with the packing memory given
    /// (none: the direct kernel; enough: im2col and GEMM).
    #[cfg(feature = "alloc")]
    struct Case {
        name: &'static str,
        plan: ConvPlan,
        batch: usize,
        pack: usize,
    }

    #[cfg(feature = "alloc")]
    impl Case {
        fn lens(&self) -> [usize; 3] {
            [self.batch * self.plan.in_len(), self.plan.weight_len(), self.plan.out_channels()]
        }
    }

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            self.name
        }
        fn input_len(&self) -> usize {
            self.lens().iter().sum()
        }
        fn output_len(&self) -> usize {
            self.batch * self.plan.out_len()
        }
        fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
            let [nx, nw, _] = self.lens();
            let (x, rest) = v.split_at(nx);
            let (w, b) = rest.split_at(nw);
            self.plan.forward(NAME, w, b, x, y, &mut vec![T::ZERO; self.pack], |v| v);
        }
        fn backward(&self, v: &[f64], _y: &[f64], dy: &[f64], dv: &mut [f64]) {
            let [nx, nw, _] = self.lens();
            let (x, rest) = v.split_at(nx);
            let w = &rest[..nw];
            let (dx, rest) = dv.split_at_mut(nx);
            let (dw, db) = rest.split_at_mut(nw);
            self.plan.backward(NAME, w, x, dy, Some(dx), Some(dw), Some(db), &mut vec![0.0; self.pack]);
        }
    }

    /// Runs the gradient check of every path here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        use crate::kernels::gemm::PACK_LEN;
        let gc = super::super::testing::gradcheck;
        let plan =
            |c, hw, k, s, p, d, g, opg| ConvPlan::new(Conv2dGeometry::new(c, hw, k, s, p, d).unwrap(), g, opg).unwrap();
        let cases = [
            // Strided, padded, dilated, rectangular; through GEMM and directly.
            Case {
                name: "conv2d/gemm",
                plan: plan(2, [5, 6], [3, 2], [2, 1], [1, 0], [1, 2], 1, 3),
                batch: 2,
                pack: 4096,
            },
            Case {
                name: "conv2d/direct",
                plan: plan(2, [5, 6], [3, 2], [2, 1], [1, 0], [1, 2], 1, 3),
                batch: 2,
                pack: 0,
            },
            // Two groups of two channels, and depthwise (one channel per group).
            Case {
                name: "conv2d/groups",
                plan: plan(2, [4, 4], [3, 3], [1, 1], [1, 1], [1, 1], 2, 2),
                batch: 2,
                pack: PACK_LEN + 200,
            },
            Case {
                name: "conv2d/depthwise",
                plan: plan(1, [4, 5], [3, 3], [1, 2], [1, 1], [1, 1], 3, 1),
                batch: 2,
                pack: PACK_LEN,
            },
            // A 1x1 kernel reads the input as its column matrix.
            Case {
                name: "conv2d/pointwise",
                plan: plan(3, [3, 3], [1, 1], [1, 1], [0, 0], [1, 1], 1, 2),
                batch: 2,
                pack: PACK_LEN,
            },
            // Winograd's forward (odd sizes: partial tiles; padding 1 and 0), whose
            // backward is im2col's.
            Case {
                name: "conv2d/winograd",
                plan: plan(2, [5, 6], [3, 3], [1, 1], [1, 1], [1, 1], 1, 3)
                    .with_algorithm(ConvAlgorithm::Winograd)
                    .unwrap(),
                batch: 2,
                pack: PACK_LEN + 2048,
            },
            Case {
                name: "conv2d/winograd_unpadded",
                plan: plan(3, [5, 5], [3, 3], [1, 1], [0, 0], [1, 1], 1, 2)
                    .with_algorithm(ConvAlgorithm::Winograd)
                    .unwrap(),
                batch: 1,
                pack: PACK_LEN + 2048,
            },
            // The direct loops chosen as the plan's algorithm (no scratch at all).
            Case {
                name: "conv2d/direct_chosen",
                plan: plan(2, [5, 5], [3, 3], [1, 1], [1, 1], [1, 1], 1, 2)
                    .with_algorithm(ConvAlgorithm::Direct)
                    .unwrap(),
                batch: 2,
                pack: PACK_LEN,
            },
        ];
        cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let x =
                    crate::gradcheck::inputs(61 + i as u64, crate::gradcheck::GradCase::input_len(c), -1.0, 1.0, &[]);
                gc(c, &x, 61 + i as u64)
            })
            .collect()
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks().len(), 8);
    }

    /// The three algorithms give the same forward values on the 3x3 shapes Winograd
    /// takes, and the plan refuses Winograd where it does not apply.
    #[test]
    #[cfg(feature = "alloc")]
    fn the_algorithms_agree() {
        use crate::kernels::gemm::PACK_LEN;
        let geo = Conv2dGeometry::new(32, [9, 8], [3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
        let base = ConvPlan::new(geo, 1, 32).unwrap();
        assert_eq!(base.algorithm(), ConvAlgorithm::Winograd);
        let x: Vec<f64> = (0..2 * base.in_len()).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
        let w: Vec<f64> = (0..base.weight_len()).map(|i| ((i * 104729) % 1000) as f64 / 5000.0 - 0.1).collect();
        let b: Vec<f64> = (0..32).map(|i| i as f64 / 32.0).collect();
        let mut outs = Vec::new();
        for algo in [ConvAlgorithm::Direct, ConvAlgorithm::Im2col, ConvAlgorithm::Winograd] {
            let plan = base.with_algorithm(algo).unwrap();
            let mut y = vec![f64::NAN; 2 * plan.out_len()];
            plan.forward(NAME, &w, &b, &x, &mut y, &mut vec![0.0; PACK_LEN + plan.scratch()], |v| v);
            outs.push(y);
        }
        for y in &outs[1..] {
            assert!(y.iter().zip(&outs[0]).all(|(a, b)| (a - b).abs() < 1e-12));
        }
        let strided = Conv2dGeometry::new(32, [9, 8], [3, 3], [2, 2], [1, 1], [1, 1]).unwrap();
        assert_eq!(ConvPlan::new(strided, 1, 32).unwrap().with_algorithm(ConvAlgorithm::Winograd), None);
        assert_eq!(ConvPlan::new(geo, 2, 16).unwrap().algorithm(), ConvAlgorithm::Im2col);
    }

    #[test]
    fn only_the_asked_gradients_are_touched() {
        let geo = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
        let plan = ConvPlan::new(geo, 1, 1).unwrap();
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let w = [1.0, 2.0, 3.0, 4.0];
        for pack in [&mut [][..], &mut [0.0; 4096][..]] {
            let mut dx = [0.0; 9];
            plan.backward(NAME, &w, &x, &[1.0; 4], Some(&mut dx), None, None, pack);
            assert_eq!(dx, [1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]);
            let mut db = [0.5];
            plan.backward(NAME, &w, &x, &[1.0; 4], None, None, Some(&mut db), pack);
            assert_eq!(db, [4.5]);
        }
    }

    #[test]
    fn plans_that_would_overflow_are_refused() {
        let geo = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
        assert!(ConvPlan::new(geo, 0, 1).is_none());
        assert!(ConvPlan::new(geo, usize::MAX, 2).is_none());
        assert_eq!(ConvPlan::new(geo, 2, 3).map(|p| (p.in_len(), p.out_len(), p.weight_len())), Some((18, 24, 24)));
    }

    #[test]
    #[cfg_attr(
        feature = "std",
        should_panic(expected = "conv: `y` holds 7 values, not a whole number of samples of 4")
    )]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_partial_sample_panics() {
        let geo = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
        ConvPlan::new(geo, 1, 1).unwrap().forward("conv", &[0.0; 4], &[0.0], &[0.0; 18], &mut [0.0; 7], &mut [], |v| v);
    }
}
