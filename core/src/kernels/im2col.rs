//! im2col and col2im: a 2-D convolution as one matrix product, and its adjoint.
//!
//! For one sample `x` of shape `[C, H, W]` (NCHW without the batch), [`im2col`] writes the
//! column matrix `col` of shape `[C * KH * KW, OH * OW]`, row-major:
//!
//! ```text
//! col[(c * KH + i) * KW + j, oy * OW + ox] = x[c, oy * SH + i * DH - PH, ox * SW + j * DW - PW]
//! ```
//!
//! and zero where that index falls in the padding. Row `(c, i, j)` is one kernel tap,
//! column `(oy, ox)` one output position, so with weights in PyTorch's layout
//! `[OC, C, KH, KW]` (a row-major `[OC, C * KH * KW]` matrix) the convolution is
//! `out[OC, OH * OW] = weight · col`, one [`gemm`](super::gemm::gemm).
//!
//! Backward: `d weight += d out · colᵀ`, `d col = weightᵀ · d out`, and [`col2im`], the
//! adjoint of `im2col`, adds `d col` back into the input gradient: every input element
//! receives the sum over the taps that read it.
//!
//! Output sizes follow PyTorch: `O = (I + 2P - D (K - 1) - 1) / S + 1`, see
//! [`conv2d_out_size`]. A 1-D convolution is the 2-D one over a single row:
//! [`Conv2dGeometry::new_1d`].
//!
//! [`conv2d_direct`] and [`conv2d_direct_backward`] compute the same convolution and its
//! gradients without the column matrix, tap by tap: for layers with no room for it, and
//! for depthwise convolutions, where each output channel reads one input channel and a
//! matrix product would have nothing to reuse. None of these functions allocates.

use crate::{Scalar, ShapeError};

/// The output length of a convolution along one axis, or `None` when the (dilated)
/// kernel does not fit the padded input, or a kernel, stride or dilation is zero.
///
/// ```
/// use monograd_core::kernels::im2col::conv2d_out_size;
/// assert_eq!(conv2d_out_size(28, 5, 1, 0, 1), Some(24)); // LeNet's first conv
/// assert_eq!(conv2d_out_size(7, 3, 2, 1, 1), Some(4));
/// assert_eq!(conv2d_out_size(4, 3, 1, 0, 2), None); // a dilated 3-tap kernel spans 5
/// ```
pub const fn conv2d_out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    // The dilated kernel spans dilation * (kernel - 1) + 1 input elements.
    let span = match dilation.checked_mul(kernel - 1) {
        Some(s) if s < usize::MAX => s + 1,
        _ => return None,
    };
    let padded = match padding.checked_mul(2) {
        Some(p) => match input.checked_add(p) {
            Some(v) => v,
            None => return None,
        },
        None => return None,
    };
    if span > padded {
        None
    } else {
        Some((padded - span) / stride + 1)
    }
}

/// The numbers that describe a 2-D convolution over one `[C, H, W]` sample; a value of
/// this type always describes a convolution whose kernel fits and whose buffer sizes do
/// not overflow.
///
/// Pairs are `[height, width]`.
///
/// ```
/// use monograd_core::kernels::im2col::Conv2dGeometry;
/// // 3 channels of 32x32, a 3x3 kernel, stride 2, padding 1.
/// let g = Conv2dGeometry::new(3, [32, 32], [3, 3], [2, 2], [1, 1], [1, 1]).unwrap();
/// assert_eq!(g.output(), [16, 16]);
/// assert_eq!((g.col_rows(), g.col_cols()), (27, 256));
/// assert!(Conv2dGeometry::new(1, [2, 2], [3, 3], [1, 1], [0, 0], [1, 1]).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeometry {
    channels: usize,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    output: [usize; 2],
}

impl Conv2dGeometry {
    /// The geometry of a convolution, or `None` when the kernel does not fit along an
    /// axis (see [`conv2d_out_size`]) or a buffer length would overflow `usize`.
    ///
    /// A `const fn`, so that a layer can compute its geometry at compile time.
    pub const fn new(
        channels: usize,
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Option<Self> {
        let oh = conv2d_out_size(input[0], kernel[0], stride[0], padding[0], dilation[0]);
        let ow = conv2d_out_size(input[1], kernel[1], stride[1], padding[1], dilation[1]);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return None;
        };
        let g = Self { channels, input, kernel, stride, padding, dilation, output: [oh, ow] };
        // Every length the accessors compute must fit, so that they need no checks.
        let input_len = checked_product(&[channels, input[0], input[1]]);
        let col_len = checked_product(&[channels, kernel[0], kernel[1], oh, ow]);
        if input_len.is_none() || col_len.is_none() {
            return None;
        }
        Some(g)
    }

    /// The geometry of a 1-D convolution over `[C, L]`: the 2-D one over one row of
    /// `len`, with a `1 x kernel` kernel and no padding above or below.
    ///
    /// ```
    /// use monograd_core::kernels::im2col::Conv2dGeometry;
    /// let g = Conv2dGeometry::new_1d(4, 10, 3, 2, 1, 1).unwrap();
    /// assert_eq!(g.output(), [1, 5]);
    /// assert_eq!((g.col_rows(), g.col_cols()), (12, 5));
    /// ```
    pub const fn new_1d(
        channels: usize,
        len: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> Option<Self> {
        Self::new(channels, [1, len], [1, kernel], [1, stride], [0, padding], [1, dilation])
    }

    /// Whether the column matrix is the input itself (a `1 x 1` kernel, stride 1, no
    /// padding): then a convolution is a plain matrix product with the input, and
    /// [`im2col`] is a copy that callers can skip.
    ///
    /// ```
    /// use monograd_core::kernels::im2col::Conv2dGeometry;
    /// assert!(Conv2dGeometry::new(8, [4, 4], [1, 1], [1, 1], [0, 0], [3, 3]).unwrap().is_identity());
    /// assert!(!Conv2dGeometry::new(8, [4, 4], [1, 1], [2, 2], [0, 0], [1, 1]).unwrap().is_identity());
    /// ```
    pub const fn is_identity(&self) -> bool {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        k[0] == 1 && k[1] == 1 && s[0] == 1 && s[1] == 1 && p[0] == 0 && p[1] == 0
    }

    /// Whether the windows need no padding and move by one element along each axis (no
    /// stride, no dilation): each output row of a tap reads one whole run of an input
    /// row.
    pub const fn is_dense(&self) -> bool {
        self.padding[0] == 0
            && self.padding[1] == 0
            && self.stride[0] == 1
            && self.stride[1] == 1
            && self.dilation[0] == 1
            && self.dilation[1] == 1
    }

    /// Input channels `C`.
    pub const fn channels(&self) -> usize {
        self.channels
    }
    /// Input size `[H, W]`.
    pub const fn input(&self) -> [usize; 2] {
        self.input
    }
    /// Kernel size `[KH, KW]`.
    pub const fn kernel(&self) -> [usize; 2] {
        self.kernel
    }
    /// Stride `[SH, SW]`.
    pub const fn stride(&self) -> [usize; 2] {
        self.stride
    }
    /// Zero padding on each side `[PH, PW]`.
    pub const fn padding(&self) -> [usize; 2] {
        self.padding
    }
    /// Dilation `[DH, DW]`: the distance between kernel taps.
    pub const fn dilation(&self) -> [usize; 2] {
        self.dilation
    }
    /// Output size `[OH, OW]`.
    pub const fn output(&self) -> [usize; 2] {
        self.output
    }
    /// Elements of one input sample: `C * H * W`.
    pub const fn input_len(&self) -> usize {
        self.channels * self.input[0] * self.input[1]
    }
    /// Rows of the column matrix: `C * KH * KW`, the length of one output's receptive field.
    pub const fn col_rows(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }
    /// Columns of the column matrix: `OH * OW`, the output positions.
    pub const fn col_cols(&self) -> usize {
        self.output[0] * self.output[1]
    }
    /// Elements of the column matrix: `col_rows() * col_cols()`.
    pub const fn col_len(&self) -> usize {
        self.col_rows() * self.col_cols()
    }

    /// Checks the lengths of an input-shaped and a column-shaped slice.
    fn check(&self, what: [&'static str; 2], input: usize, col: usize) -> Result<(), ShapeError> {
        if input != self.input_len() {
            return Err(ShapeError::Length { what: what[0], expected: self.input_len(), found: input });
        }
        if col != self.col_len() {
            return Err(ShapeError::Length { what: what[1], expected: self.col_len(), found: col });
        }
        Ok(())
    }
}

/// The product of `factors`, or `None` on overflow.
const fn checked_product(factors: &[usize]) -> Option<usize> {
    let mut acc = 1usize;
    let mut i = 0;
    while i < factors.len() {
        acc = match acc.checked_mul(factors[i]) {
            Some(v) => v,
            None => return None,
        };
        i += 1;
    }
    Some(acc)
}

/// The outputs `o` in `0..out` whose input index `o * stride + tap - pad` lies in
/// `0..len`, as `lo..hi`: the positions where a kernel tap at offset `tap` reads real
/// input rather than padding. Computed once per tap so the inner loops never test.
#[inline]
fn inside(out: usize, stride: usize, tap: usize, pad: usize, len: usize) -> core::ops::Range<usize> {
    // o * stride + tap >= pad
    let lo = if pad > tap { (pad - tap).div_ceil(stride) } else { 0 };
    // o * stride + tap - pad <= len - 1
    let hi = if len + pad > tap { (len + pad - tap - 1) / stride + 1 } else { 0 };
    let hi = hi.min(out);
    lo.min(hi)..hi
}

/// Unfolds one `[C, H, W]` sample into the `[C * KH * KW, OH * OW]` column matrix
/// (row-major; the layout is in the [module docs](self)), overwriting `col`.
///
/// # Errors
/// [`ShapeError::Length`] if `x` does not hold [`Conv2dGeometry::input_len`] values or
/// `col` does not hold [`Conv2dGeometry::col_len`].
///
/// ```
/// use monograd_core::kernels::im2col::{im2col, Conv2dGeometry};
/// // One 3x3 channel, a 2x2 kernel: four output positions, four taps each.
/// let g = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let mut col = [0.0; 16];
/// im2col(&g, &x, &mut col).unwrap();
/// assert_eq!(
///     col,
///     [
///         1.0, 2.0, 4.0, 5.0, // tap (0, 0) at each output position
///         2.0, 3.0, 5.0, 6.0, // tap (0, 1)
///         4.0, 5.0, 7.0, 8.0, // tap (1, 0)
///         5.0, 6.0, 8.0, 9.0, // tap (1, 1)
///     ]
/// );
/// ```
#[inline(always)]
pub fn im2col<T: Scalar>(g: &Conv2dGeometry, x: &[T], col: &mut [T]) -> Result<(), ShapeError> {
    g.check(["im2col input", "im2col columns"], x.len(), col.len())?;
    let ([h, w], [kh, kw], [sh, sw]) = (g.input, g.kernel, g.stride);
    let ([ph, pw], [dh, dw], [oh, ow]) = (g.padding, g.dilation, g.output);
    if h * w == 0 {
        // All padding: nothing to read.
        col.fill(T::ZERO);
        return Ok(());
    }
    if g.is_dense() {
        // No padding, stride and dilation 1 (LeNet's convolutions): every output row of
        // a tap is a run of the input row, copied whole. Known sizes after inlining make
        // these copies a few vector moves rather than calls to memcpy.
        for (plane, taps) in x.chunks_exact(h * w).zip(col.chunks_exact_mut(kh * kw * oh * ow)) {
            for (t, row) in taps.chunks_exact_mut(oh * ow).enumerate() {
                let (i, j) = (t / kw, t % kw);
                for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                    out.copy_from_slice(&plane[(oy + i) * w + j..][..ow]);
                }
            }
        }
        return Ok(());
    }
    // Channel c's plane of x feeds the KH * KW rows (c, i, j) of col.
    for (plane, taps) in x.chunks_exact(h * w).zip(col.chunks_exact_mut(kh * kw * oh * ow)) {
        for (t, row) in taps.chunks_exact_mut(oh * ow).enumerate() {
            let (i, j) = (t / kw, t % kw);
            let (oys, oxs) = (inside(oh, sh, i * dh, ph, h), inside(ow, sw, j * dw, pw, w));
            for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                if !oys.contains(&oy) || oxs.is_empty() {
                    out.fill(T::ZERO);
                    continue;
                }
                let src = &plane[(oy * sh + i * dh - ph) * w..][..w];
                out[..oxs.start].fill(T::ZERO);
                out[oxs.end..].fill(T::ZERO);
                let src = &src[oxs.start * sw + j * dw - pw..];
                if sw == 1 {
                    out[oxs.clone()].copy_from_slice(&src[..oxs.len()]);
                } else {
                    for (o, &v) in out[oxs.clone()].iter_mut().zip(src.iter().step_by(sw)) {
                        *o = v;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The adjoint of [`im2col`]: adds each entry of the column matrix `col` into the
/// element of `dx` that `im2col` read it from (entries from the padding are dropped).
///
/// This is the input gradient of a convolution given `d col = weightᵀ · d out`. It adds,
/// so gradients from several sources accumulate; zero `dx` first to overwrite.
///
/// # Errors
/// [`ShapeError::Length`] if `dx` does not hold [`Conv2dGeometry::input_len`] values or
/// `col` does not hold [`Conv2dGeometry::col_len`].
///
/// ```
/// use monograd_core::kernels::im2col::{col2im, Conv2dGeometry};
/// // A column matrix of ones: each input element receives the number of windows it is in.
/// let g = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
/// let mut dx = [0.0; 9];
/// col2im(&g, &[1.0; 16], &mut dx).unwrap();
/// assert_eq!(dx, [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
/// ```
#[inline(always)]
pub fn col2im<T: Scalar>(g: &Conv2dGeometry, col: &[T], dx: &mut [T]) -> Result<(), ShapeError> {
    g.check(["col2im input gradient", "col2im columns"], dx.len(), col.len())?;
    let ([h, w], [kh, kw], [sh, sw]) = (g.input, g.kernel, g.stride);
    let ([ph, pw], [dh, dw], [oh, ow]) = (g.padding, g.dilation, g.output);
    if h * w == 0 {
        return Ok(());
    }
    if g.is_dense() {
        // As in `im2col`: whole runs of input rows.
        for (plane, taps) in dx.chunks_exact_mut(h * w).zip(col.chunks_exact(kh * kw * oh * ow)) {
            for (t, row) in taps.chunks_exact(oh * ow).enumerate() {
                let (i, j) = (t / kw, t % kw);
                for (oy, grad) in row.chunks_exact(ow).enumerate() {
                    for (d, &v) in plane[(oy + i) * w + j..][..ow].iter_mut().zip(grad) {
                        *d += v;
                    }
                }
            }
        }
        return Ok(());
    }
    for (plane, taps) in dx.chunks_exact_mut(h * w).zip(col.chunks_exact(kh * kw * oh * ow)) {
        for (t, row) in taps.chunks_exact(oh * ow).enumerate() {
            let (i, j) = (t / kw, t % kw);
            let (oys, oxs) = (inside(oh, sh, i * dh, ph, h), inside(ow, sw, j * dw, pw, w));
            if oxs.is_empty() {
                continue;
            }
            // Only the rows and columns that im2col read from x; the rest was padding.
            for (oy, grad) in row.chunks_exact(ow).enumerate().take(oys.end).skip(oys.start) {
                let dst = &mut plane[(oy * sh + i * dh - ph) * w..][..w];
                let dst = &mut dst[oxs.start * sw + j * dw - pw..];
                add_strided(dst, sw, &grad[oxs.clone()], |v| v);
            }
        }
    }
    Ok(())
}

/// Every run of output positions along one output row at which kernel tap `t`
/// (`(t / KW, t % KW)`) reads real input: `f(oy, iy, oxs, ix0)` says that outputs
/// `(oy, ox)` for `ox` in `oxs` read input row `iy` at columns `ix0, ix0 + SW, ...`.
/// Positions in the padding are skipped, so callers never test bounds.
#[inline]
fn runs(g: &Conv2dGeometry, t: usize, mut f: impl FnMut(usize, usize, core::ops::Range<usize>, usize)) {
    let ([h, w], [_, kw], [sh, sw]) = (g.input, g.kernel, g.stride);
    let ([ph, pw], [dh, dw], [oh, ow]) = (g.padding, g.dilation, g.output);
    let (i, j) = (t / kw, t % kw);
    let (oys, oxs) = (inside(oh, sh, i * dh, ph, h), inside(ow, sw, j * dw, pw, w));
    if oxs.is_empty() {
        return;
    }
    let ix0 = oxs.start * sw + j * dw - pw;
    for oy in oys {
        f(oy, oy * sh + i * dh - ph, oxs.clone(), ix0);
    }
}

/// `dst[k · stride] += f(src[k])` for every `k` in `0..src.len()`, with a plain loop (which
/// the compiler vectorizes) for stride 1.
#[inline]
fn add_strided<T: Scalar>(dst: &mut [T], stride: usize, src: &[T], f: impl Fn(T) -> T) {
    if stride == 1 {
        for (d, &v) in dst[..src.len()].iter_mut().zip(src) {
            *d += f(v);
        }
    } else {
        for (d, &v) in dst.iter_mut().step_by(stride).zip(src) {
            *d += f(v);
        }
    }
}

/// `dst[k] += f(src[k · stride])` for every `k` in `0..dst.len()`: the transpose of
/// [`add_strided`], likewise with a plain loop for stride 1.
#[inline]
fn add_gathered<T: Scalar>(dst: &mut [T], src: &[T], stride: usize, f: impl Fn(T) -> T) {
    if stride == 1 {
        let src = &src[..dst.len()];
        for (d, &v) in dst.iter_mut().zip(src) {
            *d += f(v);
        }
    } else {
        for (d, &v) in dst.iter_mut().zip(src.iter().step_by(stride)) {
            *d += f(v);
        }
    }
}

/// Checks the slices of a direct convolution and returns the number of output channels.
fn check_direct(
    g: &Conv2dGeometry,
    what: &'static str,
    weight: usize,
    x: usize,
    y: usize,
) -> Result<usize, ShapeError> {
    let rows = g.col_rows();
    let oc = weight.checked_div(rows).unwrap_or(0);
    if oc * rows != weight {
        return Err(ShapeError::NotWholeSamples { what, len: weight, sample: rows });
    }
    if x != g.input_len() {
        return Err(ShapeError::Length { what, expected: g.input_len(), found: x });
    }
    if y != oc * g.col_cols() {
        return Err(ShapeError::Length { what, expected: oc * g.col_cols(), found: y });
    }
    Ok(oc)
}

/// The convolution computed directly, without the column matrix: **adds**
/// `weight · im2col(x)` into `y`.
///
/// `weight` is `[OC, C * KH * KW]` row-major (PyTorch's `[OC, C, KH, KW]`) for any number
/// `OC` of output channels, and `y` is `[OC, OH * OW]`. It loops over output channels,
/// input channels and kernel taps, and for each tap adds the weight times a shifted
/// (strided) row of the input into a row of the output; padding is skipped, not tested.
/// Equal to [`im2col`] followed by a matrix product, up to rounding.
///
/// # Errors
/// [`ShapeError`] if `weight` is not a whole number of `C * KH * KW` rows, or `x` or `y`
/// has the wrong length.
///
/// ```
/// use monograd_core::kernels::im2col::{conv2d_direct, Conv2dGeometry};
/// // One 3x3 channel, a 2x2 kernel of ones: each output sums a 2x2 window.
/// let g = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let mut y = [100.0; 4]; // adds to what is there
/// conv2d_direct(&g, &[1.0; 4], &x, &mut y).unwrap();
/// assert_eq!(y, [112.0, 116.0, 124.0, 128.0]);
/// ```
pub fn conv2d_direct<T: Scalar>(g: &Conv2dGeometry, weight: &[T], x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
    check_direct(g, "direct convolution", weight.len(), x.len(), y.len())?;
    if g.col_len() == 0 || g.input_len() == 0 {
        // No output, or nothing but padding to read.
        return Ok(());
    }
    let ([h, w], [kh, kw], [_, sw]) = (g.input, g.kernel, g.stride);
    let ow = g.output[1];
    for (yo, wo) in y.chunks_exact_mut(g.col_cols()).zip(weight.chunks_exact(g.col_rows())) {
        for (plane, wc) in x.chunks_exact(h * w).zip(wo.chunks_exact(kh * kw)) {
            for (t, &wt) in wc.iter().enumerate() {
                runs(g, t, |oy, iy, oxs, ix0| {
                    add_gathered(&mut yo[oy * ow..][oxs], &plane[iy * w + ix0..], sw, |v| wt * v);
                });
            }
        }
    }
    Ok(())
}

/// Backward of [`conv2d_direct`]: given `dy = ∂L/∂y` (`[OC, OH * OW]`), **adds**
/// `∂L/∂weight = dy · im2col(x)ᵀ` into `dweight` and `∂L/∂x = col2im(weightᵀ · dy)` into
/// `dx`, each when given, tap by tap without the column matrix.
///
/// # Errors
/// As [`conv2d_direct`], for `weight`, `x` and `dy`; and if `dweight` or `dx` differs in
/// length from `weight` or `x`.
///
/// ```
/// use monograd_core::kernels::im2col::{conv2d_direct_backward, Conv2dGeometry};
/// let g = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let (mut dw, mut dx) = ([0.0; 4], [0.0; 9]);
/// conv2d_direct_backward(&g, &[1.0; 4], &x, &[1.0; 4], Some(&mut dx), Some(&mut dw)).unwrap();
/// assert_eq!(dw, [12.0, 16.0, 24.0, 28.0]); // each tap's window sums
/// assert_eq!(dx, [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
/// ```
pub fn conv2d_direct_backward<T: Scalar>(
    g: &Conv2dGeometry,
    weight: &[T],
    x: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dweight: Option<&mut [T]>,
) -> Result<(), ShapeError> {
    let what = "direct convolution backward";
    check_direct(g, what, weight.len(), x.len(), dy.len())?;
    if let Some(dx) = &dx {
        if dx.len() != x.len() {
            return Err(ShapeError::Length { what, expected: x.len(), found: dx.len() });
        }
    }
    if let Some(dw) = &dweight {
        if dw.len() != weight.len() {
            return Err(ShapeError::Length { what, expected: weight.len(), found: dw.len() });
        }
    }
    if g.col_len() == 0 || g.input_len() == 0 {
        return Ok(());
    }
    let ([h, w], [kh, kw], [_, sw]) = (g.input, g.kernel, g.stride);
    let (ow, plane_len, taps) = (g.output[1], h * w, kh * kw);
    if let Some(dweight) = dweight {
        // dweight[o, c, t] += Σ dy[o, oy, ox] x[c, iy, ix] over the positions tap t reads.
        for (dyo, dwo) in dy.chunks_exact(g.col_cols()).zip(dweight.chunks_exact_mut(g.col_rows())) {
            for (plane, dwc) in x.chunks_exact(plane_len).zip(dwo.chunks_exact_mut(taps)) {
                for (t, dwt) in dwc.iter_mut().enumerate() {
                    let mut acc = T::ZERO;
                    runs(g, t, |oy, iy, oxs, ix0| {
                        let (grad, src) = (&dyo[oy * ow..][oxs], &plane[iy * w + ix0..]);
                        if sw == 1 {
                            for (&d, &v) in grad.iter().zip(src) {
                                acc += d * v;
                            }
                        } else {
                            for (&d, &v) in grad.iter().zip(src.iter().step_by(sw)) {
                                acc += d * v;
                            }
                        }
                    });
                    *dwt += acc;
                }
            }
        }
    }
    if let Some(dx) = dx {
        // dx[c, iy, ix] += weight[o, c, t] dy[o, oy, ox]: the adjoint of the forward loop.
        for (dyo, wo) in dy.chunks_exact(g.col_cols()).zip(weight.chunks_exact(g.col_rows())) {
            for (plane, wc) in dx.chunks_exact_mut(plane_len).zip(wo.chunks_exact(taps)) {
                for (t, &wt) in wc.iter().enumerate() {
                    runs(g, t, |oy, iy, oxs, ix0| {
                        add_strided(&mut plane[iy * w + ix0..], sw, &dyo[oy * ow..][oxs], |v| wt * v);
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::kernels::gemm::{gemm, MatMut, MatRef, PACK_LEN};

    /// xorshift64*: reproducible values in [-1, 1).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
        fn below(&mut self, n: usize) -> usize {
            ((self.next() + 1.0) / 2.0 * n as f64) as usize % n
        }
        fn vec(&mut self, len: usize) -> Vec<f64> {
            (0..len).map(|_| self.next()).collect()
        }
    }

    /// A random geometry that fits, with its settings spread over the cases that matter:
    /// strides above 1, padding wider than the kernel reach, dilation.
    fn random_geometry(rng: &mut Rng) -> Conv2dGeometry {
        loop {
            let pair = |rng: &mut Rng, lo: usize, n: usize| [lo + rng.below(n), lo + rng.below(n)];
            let g = Conv2dGeometry::new(
                1 + rng.below(3),
                pair(rng, 1, 9),
                pair(rng, 1, 4),
                pair(rng, 1, 3),
                pair(rng, 0, 3),
                pair(rng, 1, 2),
            );
            if let Some(g) = g {
                return g;
            }
        }
    }

    /// The convolution computed directly from its definition, zero padding included.
    fn direct_conv(g: &Conv2dGeometry, weight: &[f64], oc: usize, x: &[f64]) -> Vec<f64> {
        let ([h, w], [kh, kw], [sh, sw]) = (g.input, g.kernel, g.stride);
        let ([ph, pw], [dh, dw], [oh, ow]) = (g.padding, g.dilation, g.output);
        let mut out = vec![0.0; oc * oh * ow];
        for o in 0..oc {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0.0;
                    for c in 0..g.channels {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * sh + i * dh) as isize - ph as isize;
                                let ix = (ox * sw + j * dw) as isize - pw as isize;
                                if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                    let wv = weight[((o * g.channels + c) * kh + i) * kw + j];
                                    acc += wv * x[(c * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                    }
                    out[(o * oh + oy) * ow + ox] = acc;
                }
            }
        }
        out
    }

    #[test]
    fn im2col_then_gemm_is_the_direct_convolution() {
        let mut rng = Rng(0x1234_5678);
        let mut pack = vec![0.0; PACK_LEN];
        for case in 0..200 {
            let g = random_geometry(&mut rng);
            let oc = 1 + rng.below(3);
            let x = rng.vec(g.input_len());
            let weight = rng.vec(oc * g.col_rows());
            let mut col = vec![f64::NAN; g.col_len()]; // im2col must overwrite all of it
            im2col(&g, &x, &mut col).unwrap();
            let mut out = vec![0.0; oc * g.col_cols()];
            gemm(
                1.0,
                MatRef::row_major(&weight, oc, g.col_rows()).unwrap(),
                MatRef::row_major(&col, g.col_rows(), g.col_cols()).unwrap(),
                0.0,
                MatMut::row_major(&mut out, oc, g.col_cols()).unwrap(),
                &mut pack,
            )
            .unwrap();
            let want = direct_conv(&g, &weight, oc, &x);
            for (k, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-12, "case {case} {g:?}: output {k} is {a}, want {b}");
            }
        }
    }

    #[test]
    fn the_direct_kernel_is_the_convolution_and_adds() {
        let mut rng = Rng(0x5eed_0001);
        for case in 0..200 {
            let g = random_geometry(&mut rng);
            let oc = 1 + rng.below(3);
            let x = rng.vec(g.input_len());
            let weight = rng.vec(oc * g.col_rows());
            let start = rng.vec(oc * g.col_cols());
            let mut out = start.clone();
            conv2d_direct(&g, &weight, &x, &mut out).unwrap();
            let want = direct_conv(&g, &weight, oc, &x);
            for (k, ((a, s), b)) in out.iter().zip(&start).zip(&want).enumerate() {
                assert!((a - s - b).abs() < 1e-12, "case {case} {g:?}: output {k} is {}, want {b}", a - s);
            }
        }
    }

    #[test]
    fn the_direct_backward_is_the_column_backward() {
        // dweight = dy colᵀ and dx = col2im(weightᵀ dy), computed through the column matrix.
        let mut rng = Rng(0x5eed_0002);
        let mut pack = vec![0.0; PACK_LEN];
        for case in 0..200 {
            let g = random_geometry(&mut rng);
            let oc = 1 + rng.below(3);
            let (rows, cols) = (g.col_rows(), g.col_cols());
            let x = rng.vec(g.input_len());
            let weight = rng.vec(oc * rows);
            let dy = rng.vec(oc * cols);
            let mut col = vec![0.0; g.col_len()];
            im2col(&g, &x, &mut col).unwrap();
            let mut dw_want = vec![0.0; oc * rows];
            let dyv = MatRef::row_major(&dy, oc, cols).unwrap();
            let colv = MatRef::row_major(&col, rows, cols).unwrap();
            gemm(1.0, dyv, colv.t(), 0.0, MatMut::row_major(&mut dw_want, oc, rows).unwrap(), &mut pack).unwrap();
            let wv = MatRef::row_major(&weight, oc, rows).unwrap();
            gemm(1.0, wv.t(), dyv, 0.0, MatMut::row_major(&mut col, rows, cols).unwrap(), &mut pack).unwrap();
            let mut dx_want = vec![0.0; g.input_len()];
            col2im(&g, &col, &mut dx_want).unwrap();

            let (mut dx, mut dw) = (vec![0.0; g.input_len()], vec![0.0; oc * rows]);
            conv2d_direct_backward(&g, &weight, &x, &dy, Some(&mut dx), Some(&mut dw)).unwrap();
            for (a, b) in dx.iter().zip(&dx_want).chain(dw.iter().zip(&dw_want)) {
                assert!((a - b).abs() < 1e-12, "case {case} {g:?}: {a} vs {b}");
            }
            // Either gradient alone is the same.
            let mut dw_only = vec![0.0; oc * rows];
            conv2d_direct_backward(&g, &weight, &x, &dy, None, Some(&mut dw_only)).unwrap();
            assert_eq!(dw_only, dw);
        }
    }

    #[test]
    fn one_dimensional_geometry_is_one_row() {
        let g = Conv2dGeometry::new_1d(2, 7, 3, 2, 1, 2).unwrap();
        assert_eq!(g.input(), [1, 7]);
        assert_eq!(g.output(), [1, conv2d_out_size(7, 3, 2, 1, 2).unwrap()]);
        assert_eq!(g.padding(), [0, 1]);
        assert!(Conv2dGeometry::new_1d(1, 2, 3, 1, 0, 1).is_none());
    }

    #[test]
    fn direct_kernels_check_lengths() {
        let g = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
        let e = conv2d_direct(&g, &[0.0f32; 5], &[0.0; 9], &mut [0.0; 4]).unwrap_err();
        assert!(matches!(e, ShapeError::NotWholeSamples { len: 5, sample: 4, .. }), "{e:?}");
        let e = conv2d_direct(&g, &[0.0f32; 8], &[0.0; 9], &mut [0.0; 4]).unwrap_err();
        assert!(matches!(e, ShapeError::Length { expected: 8, found: 4, .. }), "{e:?}");
        let e = conv2d_direct_backward(&g, &[0.0f32; 4], &[0.0; 9], &[0.0; 4], Some(&mut [0.0; 8]), None);
        assert!(matches!(e, Err(ShapeError::Length { expected: 9, found: 8, .. })), "{e:?}");
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for random x and c.
        let mut rng = Rng(0x9e37_79b9);
        for case in 0..200 {
            let g = random_geometry(&mut rng);
            let x = rng.vec(g.input_len());
            let c = rng.vec(g.col_len());
            let mut col = vec![0.0; g.col_len()];
            im2col(&g, &x, &mut col).unwrap();
            let mut xt = vec![0.0; g.input_len()];
            col2im(&g, &c, &mut xt).unwrap();
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&xt).map(|(a, b)| a * b).sum();
            let size: f64 = col.iter().zip(&c).map(|(a, b)| (a * b).abs()).sum::<f64>() + 1.0;
            assert!((lhs - rhs).abs() < 1e-12 * size, "case {case} {g:?}: {lhs} != {rhs}");
        }
    }

    #[test]
    fn col2im_adds_into_the_gradient() {
        let g = Conv2dGeometry::new(2, [4, 5], [3, 2], [2, 1], [1, 0], [1, 2]).unwrap();
        let c: Vec<f32> = (0..g.col_len()).map(|v| v as f32).collect();
        let mut once = vec![0.0f32; g.input_len()];
        col2im(&g, &c, &mut once).unwrap();
        let mut twice = vec![1.0f32; g.input_len()];
        col2im(&g, &c, &mut twice).unwrap();
        col2im(&g, &c, &mut twice).unwrap();
        for (a, b) in once.iter().zip(&twice) {
            assert_eq!(*b, 1.0 + 2.0 * a);
        }
    }

    #[test]
    fn padding_only_positions_are_zero() {
        // A 1x1 input with padding 1 and a 3x3 kernel: one output, only the centre tap
        // reads the input.
        let g = Conv2dGeometry::new(1, [1, 1], [3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
        assert_eq!(g.output(), [1, 1]);
        let mut col = [f32::NAN; 9];
        im2col(&g, &[7.0], &mut col).unwrap();
        assert_eq!(col, [0.0, 0.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0, 0.0]);

        // An empty input with padding still has outputs, all zero.
        let g = Conv2dGeometry::new(1, [0, 0], [1, 1], [1, 1], [1, 1], [1, 1]).unwrap();
        assert_eq!(g.output(), [2, 2]);
        let mut col = [f32::NAN; 4];
        im2col(&g, &[], &mut col).unwrap();
        assert_eq!(col, [0.0; 4]);
        col2im(&g, &col, &mut []).unwrap();
    }

    #[test]
    fn output_sizes_follow_pytorch() {
        // (input, kernel, stride, padding, dilation) -> output, as torch.nn.Conv2d gives.
        let cases = [
            ((28, 5, 1, 0, 1), Some(24)),
            ((12, 5, 1, 0, 1), Some(8)),
            ((28, 3, 1, 1, 1), Some(28)),
            ((7, 3, 2, 1, 1), Some(4)),
            ((8, 3, 2, 0, 1), Some(3)),
            ((5, 3, 1, 0, 2), Some(1)),
            ((4, 3, 1, 0, 2), None),
            ((0, 1, 1, 1, 1), Some(2)),
            ((0, 1, 1, 0, 1), None),
            ((5, 0, 1, 0, 1), None),
            ((5, 1, 0, 0, 1), None),
            ((5, 1, 1, 0, 0), None),
            ((5, 3, 1, usize::MAX, 1), None),
            ((5, usize::MAX, 1, 0, 2), None),
        ];
        for ((i, k, s, p, d), want) in cases {
            assert_eq!(conv2d_out_size(i, k, s, p, d), want, "{i} {k} {s} {p} {d}");
        }
        assert!(Conv2dGeometry::new(usize::MAX, [2, 2], [1, 1], [1, 1], [0, 0], [1, 1]).is_none());
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let g = Conv2dGeometry::new(1, [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]).unwrap();
        let mut col = [0.0f32; 16];
        assert_eq!(
            im2col(&g, &[0.0; 8], &mut col),
            Err(ShapeError::Length { what: "im2col input", expected: 9, found: 8 })
        );
        assert_eq!(
            col2im(&g, &[0.0; 15], &mut [0.0f32; 9]),
            Err(ShapeError::Length { what: "col2im columns", expected: 16, found: 15 })
        );
    }
}
