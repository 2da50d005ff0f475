//! Ops on images and sequences (NCHW, NCL): convolution and pooling, through the same
//! [`ConvPlan`] and [`pool`] functions as the static layers.

use alloc::vec;
use alloc::vec::Vec;

use super::{Dims, Op, Tape, Var};
use crate::kernels::im2col::Conv2dGeometry;
use crate::ops::conv::ConvPlan;
use crate::ops::pool::{self, Pool2dGeometry};
use crate::{Scalar, ShapeError};

/// What a convolution's panics call it.
pub(super) const CONV: &str = "Tape::conv";

/// The settings of [`Tape::conv2d`] and [`Tape::conv1d`], as PyTorch's arguments of the
/// same names (one value for both axes of a 2-D convolution, as the static layers take).
/// The default is PyTorch's: stride 1, no padding, dilation 1, one group.
///
/// ```
/// use monograd_core::tape::ConvOptions;
/// let o = ConvOptions::default().stride(2).padding(1);
/// assert_eq!((o.stride, o.padding, o.dilation, o.groups), (2, 1, 1, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvOptions {
    /// The step between windows.
    pub stride: usize,
    /// Zeros added on every side.
    pub padding: usize,
    /// The step between the kernel's taps.
    pub dilation: usize,
    /// Channel groups convolved separately: the input and output channels must be
    /// multiples of it; as many groups as input channels is a depthwise convolution.
    pub groups: usize,
}

impl Default for ConvOptions {
    fn default() -> Self {
        Self { stride: 1, padding: 0, dilation: 1, groups: 1 }
    }
}

impl ConvOptions {
    /// With this stride.
    pub fn stride(self, stride: usize) -> Self {
        Self { stride, ..self }
    }

    /// With this padding.
    pub fn padding(self, padding: usize) -> Self {
        Self { padding, ..self }
    }

    /// With this dilation.
    pub fn dilation(self, dilation: usize) -> Self {
        Self { dilation, ..self }
    }

    /// With this number of groups.
    pub fn groups(self, groups: usize) -> Self {
        Self { groups, ..self }
    }
}

impl<T: Scalar> Tape<T> {
    /// A 2-D convolution, `torch.nn.functional.conv2d`: `x` `[N, CI, H, W]`, weights `w`
    /// `[CO, CI / groups, KH, KW]`, an optional bias of `CO` values (any shape), giving
    /// `[N, CO, OH, OW]` with `OH = (H + 2P − D(KH − 1) − 1) / S + 1` (likewise `OW`).
    /// With `groups = CI = CO` it is a depthwise convolution.
    ///
    /// # Errors
    /// [`ShapeError::Rank`] unless `x` and `w` have four dimensions;
    /// [`ShapeError::Setting`] for a zero stride, dilation or groups, or channels the
    /// groups do not divide; [`ShapeError::Dim`] if `w` does not match the input channels
    /// or the dilated kernel does not fit the padded input; [`ShapeError::Length`] for a
    /// bias of the wrong length.
    ///
    /// ```
    /// use monograd_core::tape::ConvOptions;
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.constant((1..=9).map(f64::from).collect(), [1, 1, 3, 3])?;
    /// let w = tape.leaf(vec![1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2])?;
    /// let b = tape.leaf(vec![0.5], [1])?;
    /// let y = tape.conv2d(x, w, Some(b), ConvOptions::default())?;
    /// assert_eq!(tape.shape(y), [1, 1, 2, 2]);
    /// assert_eq!(tape.value(y), [37.5, 47.5, 67.5, 77.5]);
    /// let loss = tape.sum(y);
    /// let g = tape.backward(loss)?;
    /// assert_eq!(g.get(w), Some(&[12.0, 16.0, 24.0, 28.0][..])); // the window sums
    /// assert_eq!(g.get(b), Some(&[4.0][..]));
    /// // Stride 2 and padding 1: a 3x3 kernel of ones over the four corners.
    /// let ones = tape.constant(vec![1.0; 9], [1, 1, 3, 3])?;
    /// let y = tape.conv2d(x, ones, None, ConvOptions::default().stride(2).padding(1))?;
    /// assert_eq!(tape.value(y), [12.0, 16.0, 24.0, 28.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn conv2d(&mut self, x: Var, w: Var, b: Option<Var>, options: ConvOptions) -> Result<Var, ShapeError> {
        let [n, ci, h, wd] = self.node(x).shape.expect::<4>("Tape::conv2d input")?;
        let [co, cig, kh, kw] = self.node(w).shape.expect::<4>("Tape::conv2d weight")?;
        let o = options;
        let geo =
            geometry([2, 3], ci, co, cig, o.groups, [h, wd], [kh, kw], [o.stride; 2], [o.padding; 2], [o.dilation; 2])?;
        let plan = plan(geo, o.groups, co)?;
        let [oh, ow] = geo.output();
        self.conv(x, w, b, plan, Dims::from([n, co, oh, ow]))
    }

    /// A 1-D convolution, `torch.nn.functional.conv1d`: `x` `[N, CI, L]`, weights `w`
    /// `[CO, CI / groups, K]`, an optional bias of `CO` values, giving `[N, CO, LO]` with
    /// `LO = (L + 2P − D(K − 1) − 1) / S + 1`. It runs as the 2-D convolution of one row.
    ///
    /// # Errors
    /// As [`conv2d`](Self::conv2d), with three dimensions for `x` and `w`.
    ///
    /// ```
    /// use monograd_core::tape::ConvOptions;
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// // A centred difference with padding 1.
    /// let x = tape.constant(vec![1.0, 2.0, 3.0, 4.0], [1, 1, 4])?;
    /// let w = tape.leaf(vec![1.0, 0.0, -1.0], [1, 1, 3])?;
    /// let y = tape.conv1d(x, w, None, ConvOptions::default().padding(1))?;
    /// assert_eq!(tape.value(y), [-2.0, -2.0, -2.0, 3.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn conv1d(&mut self, x: Var, w: Var, b: Option<Var>, options: ConvOptions) -> Result<Var, ShapeError> {
        let [n, ci, l] = self.node(x).shape.expect::<3>("Tape::conv1d input")?;
        let [co, cig, k] = self.node(w).shape.expect::<3>("Tape::conv1d weight")?;
        let o = options;
        let geo =
            geometry([1, 2], ci, co, cig, o.groups, [1, l], [1, k], [1, o.stride], [0, o.padding], [1, o.dilation])?;
        let plan = plan(geo, o.groups, co)?;
        self.conv(x, w, b, plan, Dims::from([n, co, geo.output()[1]]))
    }

    /// Records a convolution whose shapes `plan` was made from.
    fn conv(&mut self, x: Var, w: Var, b: Option<Var>, plan: ConvPlan, shape: Dims) -> Result<Var, ShapeError> {
        let (xi, wi, bi) = (self.node_index(x), self.node_index(w), b.map(|b| self.node_index(b)));
        let Tape { nodes, pack } = self;
        let (xn, wn) = (&nodes[xi], &nodes[wi]);
        let co = plan.out_channels();
        let mut tracked = xn.tracked || wn.tracked;
        let zeros: Vec<T>;
        let bias = match bi {
            Some(bi) => {
                let bn = &nodes[bi];
                if bn.value.len() != co {
                    return Err(ShapeError::Length { what: "Tape::conv bias", expected: co, found: bn.value.len() });
                }
                tracked |= bn.tracked;
                &bn.value[..]
            }
            None => {
                zeros = vec![T::ZERO; co];
                &zeros[..]
            }
        };
        let len =
            shape.numel().ok_or(ShapeError::Setting { what: "Tape::conv: the output is too large", found: co })?;
        let mut y = vec![T::ZERO; len];
        // An empty batch needs no column buffer, however large its images would be.
        if !y.is_empty() {
            let pack = Self::pack_for(pack, plan.scratch());
            plan.forward(CONV, &wn.value, bias, &xn.value, &mut y, pack, |v| v);
        }
        Ok(self.push(y, shape, Op::Conv { x: x.0, w: w.0, b: b.map(|b| b.0), plan }, tracked))
    }

    /// Max pooling over `k x k` windows at stride `s` of `x` `[N, C, H, W]`, giving
    /// `[N, C, OH, OW]` with `OH = (H − k) / s + 1`: `torch.nn.functional.max_pool2d(x, k,
    /// s)`. The gradient goes to each window's first maximum.
    ///
    /// # Errors
    /// [`ShapeError::Rank`] unless `x` has four dimensions; [`ShapeError::Setting`] for a
    /// zero window or stride; [`ShapeError::Dim`] if the window is larger than the image.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![1.0, 3.0, 0.0, 2.0, 4.0, 2.0, 5.0, 1.0], [1, 1, 2, 4])?;
    /// let y = tape.max_pool2d(x, 2, 2)?;
    /// assert_eq!(tape.value(y), [4.0, 5.0]);
    /// let loss = tape.sum(y);
    /// let g = tape.backward(loss)?;
    /// assert_eq!(g.get(x), Some(&[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_pool2d(&mut self, x: Var, k: usize, s: usize) -> Result<Var, ShapeError> {
        let (geo, shape) = self.pool_geometry("Tape::max_pool2d", x, k, s)?;
        let xn = self.node(x);
        let mut y = vec![T::ZERO; shape.numel().unwrap_or(0)];
        pool::max_pool2d(&geo, &xn.value, &mut y);
        let tracked = xn.tracked;
        Ok(self.push(y, shape, Op::MaxPool2d { x: x.0, geo }, tracked))
    }

    /// Average pooling over `k x k` windows at stride `s` of `x` `[N, C, H, W]`:
    /// `torch.nn.functional.avg_pool2d(x, k, s)`.
    ///
    /// # Errors
    /// As [`max_pool2d`](Self::max_pool2d).
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf((1..=9).map(f64::from).collect(), [1, 1, 3, 3])?;
    /// let y = tape.avg_pool2d(x, 2, 1)?;
    /// assert_eq!(tape.value(y), [3.0, 4.0, 6.0, 7.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn avg_pool2d(&mut self, x: Var, k: usize, s: usize) -> Result<Var, ShapeError> {
        let (geo, shape) = self.pool_geometry("Tape::avg_pool2d", x, k, s)?;
        let xn = self.node(x);
        let mut y = vec![T::ZERO; shape.numel().unwrap_or(0)];
        pool::avg_pool2d(&geo, &xn.value, &mut y);
        let tracked = xn.tracked;
        Ok(self.push(y, shape, Op::AvgPool2d { x: x.0, geo }, tracked))
    }

    /// The mean of each channel of `x` `[N, C, H, W]`, as `[N, C]`:
    /// `AdaptiveAvgPool2d(1)` then `Flatten`.
    ///
    /// # Errors
    /// [`ShapeError::Rank`] unless `x` has four dimensions.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 8.0], [1, 2, 2, 2])?;
    /// let y = tape.global_avg_pool2d(x)?;
    /// assert_eq!((tape.shape(y), tape.value(y)), (&[1, 2][..], &[2.5, 2.0][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn global_avg_pool2d(&mut self, x: Var) -> Result<Var, ShapeError> {
        let xn = self.node(x);
        let [n, c, h, w] = xn.shape.expect::<4>("Tape::global_avg_pool2d input")?;
        // Either product can exceed `usize` only when the other is zero (no values).
        let too_large = ShapeError::Setting { what: "Tape::global_avg_pool2d: the input is too large", found: c };
        let (out, plane) = (n.checked_mul(c).ok_or(too_large.clone())?, h.checked_mul(w).ok_or(too_large)?);
        let mut y = vec![T::ZERO; out];
        pool::global_avg_pool2d(&xn.value, &mut y, plane);
        let tracked = xn.tracked;
        Ok(self.push(y, [n, c], Op::GlobalAvgPool2d { x: x.0, plane }, tracked))
    }

    fn pool_geometry(
        &self,
        what: &'static str,
        x: Var,
        k: usize,
        s: usize,
    ) -> Result<(Pool2dGeometry, Dims), ShapeError> {
        let [n, c, h, w] = self.node(x).shape.expect::<4>(what)?;
        if k == 0 {
            return Err(ShapeError::Setting { what: "Tape pooling: the window must be positive", found: k });
        }
        if s == 0 {
            return Err(ShapeError::Setting { what: "Tape pooling: the stride must be positive", found: s });
        }
        for (axis, size) in [(2, h), (3, w)] {
            if size < k {
                return Err(ShapeError::Dim {
                    what: "Tape pooling input (at least the window)",
                    axis,
                    expected: k,
                    found: size,
                });
            }
        }
        // The values exist, so their count fits; the geometry cannot fail now.
        let geo = Pool2dGeometry::new(c, [h, w], k, s)
            .ok_or(ShapeError::Setting { what: "Tape pooling: the input is too large", found: c })?;
        let [oh, ow] = geo.output();
        Ok((geo, Dims::from([n, c, oh, ow])))
    }
}

/// The geometry of one group of a convolution, or the error that says why there is none.
#[allow(clippy::too_many_arguments)] // the convolution's settings, one each
fn geometry(
    axes: [usize; 2],
    ci: usize,
    co: usize,
    cig: usize,
    groups: usize,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> Result<Conv2dGeometry, ShapeError> {
    let setting = |what, found| Err(ShapeError::Setting { what, found });
    if stride.contains(&0) {
        return setting("Tape convolution: the stride must be positive", 0);
    }
    if dilation.contains(&0) {
        return setting("Tape convolution: the dilation must be positive", 0);
    }
    if groups == 0 || !ci.is_multiple_of(groups) {
        return setting("Tape convolution: the groups must divide the input channels", groups);
    }
    if co == 0 {
        return setting("Tape convolution: the output channels must be positive", 0);
    }
    if !co.is_multiple_of(groups) {
        return setting("Tape convolution: the groups must divide the output channels", groups);
    }
    if cig != ci / groups {
        let what = "Tape convolution weight (input channels per group)";
        return Err(ShapeError::Dim { what, axis: 1, expected: ci / groups, found: cig });
    }
    for a in 0..2 {
        if kernel[a] == 0 {
            let what = "Tape convolution weight (an empty kernel)";
            return Err(ShapeError::Dim { what, axis: axes[a], expected: 1, found: 0 });
        }
        // The dilated kernel spans D(K - 1) + 1 inputs, which the padded input must hold.
        let span = dilation[a].saturating_mul(kernel[a] - 1).saturating_add(1);
        let padded = input[a].saturating_add(padding[a].saturating_mul(2));
        if span > padded {
            let what = "Tape convolution input (too small for the dilated kernel)";
            let expected = span.saturating_sub(padding[a].saturating_mul(2));
            return Err(ShapeError::Dim { what, axis: axes[a], expected, found: input[a] });
        }
    }
    Conv2dGeometry::new(cig, input, kernel, stride, padding, dilation)
        .ok_or(ShapeError::Setting { what: "Tape convolution: the buffers would not fit in memory", found: ci })
}

/// The plan of `groups` groups of `geo` with `co` output channels in all.
fn plan(geo: Conv2dGeometry, groups: usize, co: usize) -> Result<ConvPlan, ShapeError> {
    ConvPlan::new(geo, groups, co / groups)
        .ok_or(ShapeError::Setting { what: "Tape convolution: the buffers would not fit in memory", found: co })
}
