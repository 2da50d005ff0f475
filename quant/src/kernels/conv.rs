//! Fully connected layers and convolutions: TFLite's `FULLY_CONNECTED` (per tensor and per
//! channel) and `CONV_2D` (per channel), both as "gather a patch, dot it with each filter".

#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::{avx2, vnni};
use super::{dot, OutputStage};
use crate::error::{check_len, QuantError};
use crate::math::Multiplier;

/// The constants of a dense kernel: filters, biases, rescaling, zero points.
#[derive(Clone, Copy, Debug)]
pub struct Dense<'a> {
    /// Filters `[out, n]` row-major (`n` = inputs per output: `in` for a linear layer,
    /// `in · kh · kw` for a convolution, in PyTorch's order).
    pub weight: &'a [i8],
    /// `[out]` biases at scale `s_in · s_w`, or `None`.
    pub bias: Option<&'a [i32]>,
    /// One rescaling per output channel, or a single one for the whole tensor.
    pub multipliers: &'a [Multiplier],
    /// The input's zero point (TFLite's `input_offset` is its negation).
    pub input_zero_point: i32,
    /// Zero point and clamp of the output.
    pub output: OutputStage,
}

impl Dense<'_> {
    pub(crate) fn check(&self, what: &'static str, out: usize, n: usize) -> Result<(), QuantError> {
        check_len(what, out * n, self.weight.len())?;
        if let Some(b) = self.bias {
            check_len(what, out, b.len())?;
        }
        if self.multipliers.len() != 1 {
            check_len(what, out, self.multipliers.len())?;
        }
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn multiplier(&self, o: usize) -> Multiplier {
        if self.multipliers.len() == 1 {
            self.multipliers[0]
        } else {
            self.multipliers[o]
        }
    }

    /// Writes output channel `o` at `y[o · step]` for every `o`, from the patch `p`.
    #[inline(always)]
    pub(super) fn outputs(&self, p: &[i16], n: usize, y: &mut [i8], at: usize, step: usize) {
        self.outputs_with(p, n, y, at, step, dot);
    }

    /// [`Dense::outputs`] with the dot product given.
    #[inline(always)]
    fn outputs_with(
        &self,
        p: &[i16],
        n: usize,
        y: &mut [i8],
        at: usize,
        step: usize,
        dot: impl Fn(&[i8], &[i16]) -> i32,
    ) {
        for (o, w) in self.weight.chunks_exact(n).enumerate() {
            let mut acc = dot(w, p);
            if let Some(b) = self.bias {
                acc = acc.wrapping_add(b[o]);
            }
            y[o * step + at] = self.output.finish(self.multiplier(o).apply(acc));
        }
    }
}

/// TFLite's `FULLY_CONNECTED` on one sample: `y[o] = clamp(M_o · (Σ w[o, i] · (x[i] −
/// z_in) + b[o]) + z_out)`. `scratch` holds at least `x.len()` values.
///
/// ```
/// use monograd_quant::kernels::{linear, Dense, OutputStage};
/// use monograd_quant::math::Multiplier;
///
/// // 2 inputs, 1 output: (3 − 1)·2 + (5 − 1)·(−1) + 10 = 10, times 0.5 is 5, plus 3.
/// let m = [Multiplier::new(0.5)];
/// let d = Dense { weight: &[2, -1], bias: Some(&[10]), multipliers: &m, input_zero_point: 1, output: OutputStage::plain(3) };
/// let mut y = [0i8; 1];
/// linear(&d, &[3, 5], &mut y, &mut [0i16; 2])?;
/// assert_eq!(y, [8]);
/// # Ok::<(), monograd_quant::QuantError>(())
/// ```
pub fn linear(d: &Dense<'_>, x: &[i8], y: &mut [i8], scratch: &mut [i16]) -> Result<(), QuantError> {
    let n = x.len();
    d.check("linear weight", y.len(), n)?;
    if scratch.len() < n {
        return Err(QuantError::Length { what: "linear scratch", expected: n, got: scratch.len() });
    }
    if n == 0 {
        // No inputs: each output is its bias (and rows of no weights cannot be chunked).
        for (o, yo) in y.iter_mut().enumerate() {
            *yo = d.output.finish(d.multiplier(o).apply(d.bias.map_or(0, |b| b[o])));
        }
        return Ok(());
    }
    // The SIMD paths take the zero point as an `i8` (TFLite's range), as every twin's is.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if (-128..=127).contains(&d.input_zero_point) {
        if super::allows(super::Isa::Avx512) && vnni::available() {
            // SAFETY: the CPU has AVX-512 VNNI, checked on the line above; `scratch` holds
            // `n` values, checked above.
            unsafe { vnni::linear(d, x, y, scratch) };
            return Ok(());
        }
        if super::allows(super::Isa::Avx2) && std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked on the line above; `scratch` holds `n`
            // values, checked above.
            unsafe { avx2::linear(d, x, y, scratch) };
            return Ok(());
        }
    }
    let p = &mut scratch[..n];
    for (pi, &xi) in p.iter_mut().zip(x) {
        *pi = i16::from(xi) - d.input_zero_point as i16;
    }
    d.outputs(p, n, y, 0, 1);
    Ok(())
}

/// The geometry of a two-dimensional convolution or of a one-dimensional one written as
/// `[C, 1, L]` with `kernel[0] == 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input `[C, H, W]`.
    pub input: [usize; 3],
    /// Output `[C, OH, OW]`.
    pub output: [usize; 3],
    /// Window `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[h, w]`.
    pub stride: [usize; 2],
    /// Zero padding on each side, `[h, w]`.
    pub padding: [usize; 2],
    /// `[h, w]`.
    pub dilation: [usize; 2],
}

impl ConvGeometry {
    /// Values of one patch: `C · kh · kw`.
    pub const fn patch_len(&self) -> usize {
        self.input[0] * self.kernel[0] * self.kernel[1]
    }

    pub(crate) fn check(&self, what: &'static str, x: usize, y: usize) -> Result<(), QuantError> {
        check_len(what, self.input[0] * self.input[1] * self.input[2], x)?;
        check_len(what, self.output[0] * self.output[1] * self.output[2], y)?;
        for a in 0..2 {
            let span = self.dilation[a] * (self.kernel[a].max(1) - 1) + 1;
            let padded = self.input[a + 1] + 2 * self.padding[a];
            let fits =
                padded >= span && self.stride[a] > 0 && (padded - span) / self.stride[a] + 1 == self.output[a + 1];
            if !fits {
                return Err(QuantError::Length {
                    what,
                    expected: (padded.saturating_sub(span)) / self.stride[a].max(1) + 1,
                    got: self.output[a + 1],
                });
            }
        }
        Ok(())
    }

    /// The input row (or column) read by output `o` through tap `k` along axis `a`, if
    /// inside the input.
    #[inline(always)]
    pub(crate) fn source(&self, a: usize, o: usize, k: usize) -> Option<usize> {
        let i = (o * self.stride[a] + k * self.dilation[a]).checked_sub(self.padding[a])?;
        (i < self.input[a + 1]).then_some(i)
    }
}

/// The `i16` scratch values [`conv2d`] uses for `g` at its fastest: one patch
/// ([`ConvGeometry::patch_len`]) on every target, more where a faster path needs them (x86-64
/// with `std`: the im2col patches and packed filters of the AVX2 and AVX-512 paths). Less
/// than this but at least one patch still works, more slowly.
pub const fn conv2d_scratch(g: &ConvGeometry) -> usize {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        let avx2 = avx2::conv2d_scratch(g);
        let vnni = vnni::conv2d_scratch(g);
        if avx2 > vnni {
            avx2
        } else {
            vnni
        }
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    {
        g.patch_len()
    }
}

/// TFLite's `CONV_2D` (per channel) on one sample, channels first: for each output
/// position the patch `x[c, iy, ix] − z_in` (0 where the window leaves the input, which
/// TFLite skips) is gathered once into `scratch` (at least
/// [`ConvGeometry::patch_len`] values) and dotted with every filter `[out, C · kh · kw]`.
pub fn conv2d(d: &Dense<'_>, g: &ConvGeometry, x: &[i8], y: &mut [i8], scratch: &mut [i16]) -> Result<(), QuantError> {
    g.check("conv2d", x.len(), y.len())?;
    let n = g.patch_len();
    d.check("conv2d weight", g.output[0], n)?;
    if scratch.len() < n {
        return Err(QuantError::Length { what: "conv2d scratch", expected: n, got: scratch.len() });
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if (-128..=127).contains(&d.input_zero_point) {
        if super::allows(super::Isa::Avx512) && scratch.len() >= vnni::conv2d_scratch(g) && vnni::available() {
            // SAFETY: the CPU has AVX-512 VNNI and the scratch is what that path needs, both
            // checked on the line above.
            unsafe { vnni::conv2d(d, g, x, y, scratch) };
            return Ok(());
        }
        if super::allows(super::Isa::Avx2)
            && scratch.len() >= avx2::conv2d_scratch(g)
            && std::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU has AVX2 and the scratch is what that path needs, both
            // checked on the lines above.
            unsafe { avx2::conv2d(d, g, x, y, scratch) };
            return Ok(());
        }
    }
    conv2d_loops(d, g, x, y, &mut scratch[..n], dot);
    Ok(())
}

/// The portable loops of [`conv2d`] (what runs without `std` and off x86-64), after its
/// checks; `p` holds one patch. The reference the SIMD paths are tested against.
#[cfg(test)]
pub(super) fn conv2d_portable(d: &Dense<'_>, g: &ConvGeometry, x: &[i8], y: &mut [i8], p: &mut [i16]) {
    conv2d_loops(d, g, x, y, p, dot);
}

/// The loops of [`conv2d`], after its checks; `p` holds one patch.
#[inline(always)]
fn conv2d_loops(
    d: &Dense<'_>,
    g: &ConvGeometry,
    x: &[i8],
    y: &mut [i8],
    p: &mut [i16],
    dot: impl Fn(&[i8], &[i16]) -> i32 + Copy,
) {
    let n = p.len();
    let [c_in, h, w] = g.input;
    let [_, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let z = d.input_zero_point as i16;
    for oy in 0..oh {
        for ox in 0..ow {
            // A window inside the input along x, taps adjacent: each row is one copy.
            let x0 = (ox * g.stride[1]).checked_sub(g.padding[1]);
            let inside = g.dilation[1] == 1 && x0.is_some_and(|x0| x0 + kw <= w);
            let mut at = 0;
            for c in 0..c_in {
                let plane = &x[c * h * w..(c + 1) * h * w];
                for ky in 0..kh {
                    let row = g.source(0, oy, ky);
                    match (row, x0) {
                        (Some(iy), Some(x0)) if inside => {
                            for (pi, &xi) in p[at..at + kw].iter_mut().zip(&plane[iy * w + x0..iy * w + x0 + kw]) {
                                *pi = i16::from(xi) - z;
                            }
                        }
                        _ => {
                            for kx in 0..kw {
                                p[at + kx] = match (row, g.source(1, ox, kx)) {
                                    (Some(iy), Some(ix)) => i16::from(plane[iy * w + ix]) - z,
                                    _ => 0,
                                };
                            }
                        }
                    }
                    at += kw;
                }
            }
            d.outputs_with(p, n, y, oy * ow + ox, oh * ow, dot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_hand_computed_with_padding() {
        // One 2x2 input channel, zero point -1, one 3x3 filter of ones, padding 1:
        // the centre output sees all four values: (1+1)+(2+1)+(3+1)+(4+1) = 14.
        let g = ConvGeometry {
            input: [1, 2, 2],
            output: [1, 2, 2],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
        };
        let m = [Multiplier::new(1.0)];
        let d = Dense {
            weight: &[1; 9],
            bias: Some(&[-4]),
            multipliers: &m,
            input_zero_point: -1,
            output: OutputStage::plain(0),
        };
        let mut y = [0i8; 4];
        conv2d(&d, &g, &[1, 2, 3, 4], &mut y, &mut [0; 9]).unwrap();
        // Every output's window covers the whole input here: 14 - 4 = 10.
        assert_eq!(y, [10; 4]);
    }

    #[test]
    fn every_path_gives_the_same_bits() {
        let mut s = 0x0123_4567_89ab_cdefu64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for round in 0..32usize {
            let (ci, co, k) = (1 + round % 3, 1 + round % 7, 1 + round % 5);
            let (st, p, dl) = (1 + round % 2, round % 3, 1 + (round / 5) % 2);
            let (h, w) = (10 + round % 3, 9 + round % 4);
            // The last two: LeNet's convolutions (rows of 24 and 8 outputs, no padding).
            let (ci, co, k, st, p, dl, h, w) = match round {
                30 => (1, 6, 5, 1, 0, 1, 28, 28),
                31 => (6, 16, 5, 1, 0, 1, 12, 12),
                _ => (ci, co, k, st, p, dl, h, w),
            };
            let span = dl * (k - 1) + 1;
            let (oh, ow) = ((h + 2 * p - span) / st + 1, (w + 2 * p - span) / st + 1);
            let g = ConvGeometry {
                input: [ci, h, w],
                output: [co, oh, ow],
                kernel: [k, k],
                stride: [st, st],
                padding: [p, p],
                dilation: [dl, dl],
            };
            let x: std::vec::Vec<i8> = (0..ci * h * w).map(|_| next() as i8).collect();
            let wt: std::vec::Vec<i8> = (0..co * g.patch_len()).map(|_| (next() % 255) as i8).collect();
            let b: std::vec::Vec<i32> = (0..co).map(|_| (next() % 2000) as i32 - 1000).collect();
            let m: std::vec::Vec<Multiplier> = (0..co).map(|o| Multiplier::new(0.001 * (o + 1) as f64)).collect();
            let d = Dense {
                weight: &wt,
                bias: Some(&b),
                multipliers: &m,
                input_zero_point: (next() % 50) as i32 - 25,
                output: OutputStage::plain(3),
            };
            let mut slow = std::vec![0i8; co * oh * ow];
            conv2d_loops(&d, &g, &x, &mut slow, &mut std::vec![0; g.patch_len()], dot);
            for scratch in [g.patch_len(), conv2d_scratch(&g)] {
                let mut y = std::vec![0i8; co * oh * ow];
                conv2d(&d, &g, &x, &mut y, &mut std::vec![0; scratch]).unwrap();
                assert_eq!(y, slow, "round {round}, scratch {scratch}");
            }
            // The AVX2 path with its full scratch, which `conv2d` skips where AVX-512 VNNI is.
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if std::is_x86_feature_detected!("avx2") {
                let mut y = std::vec![0i8; co * oh * ow];
                let mut scratch = std::vec![0; avx2::conv2d_scratch(&g)];
                // SAFETY: the CPU has AVX2, checked above; the scratch is what the path needs.
                unsafe { avx2::conv2d(&d, &g, &x, &mut y, &mut scratch) };
                assert_eq!(y, slow, "round {round}, AVX2");
            }
        }
    }

    #[test]
    fn linear_paths_give_the_same_bits() {
        let mut s = 0x0fed_cba9_8765_4321u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for n in [1, 15, 16, 17, 84, 120, 256, 257] {
            let rows = 1 + n % 11;
            let x: std::vec::Vec<i8> = (0..n).map(|_| next() as i8).collect();
            let wt: std::vec::Vec<i8> = (0..rows * n).map(|_| (next() % 255) as i8).collect();
            let b: std::vec::Vec<i32> = (0..rows).map(|_| (next() % 2000) as i32 - 1000).collect();
            let m: std::vec::Vec<Multiplier> = (0..rows).map(|o| Multiplier::new(0.003 * (o + 1) as f64)).collect();
            let d = Dense {
                weight: &wt,
                bias: Some(&b),
                multipliers: &m,
                input_zero_point: (next() % 256) as i32 - 128,
                output: OutputStage::plain(1),
            };
            let p: std::vec::Vec<i16> = x.iter().map(|&v| i16::from(v) - d.input_zero_point as i16).collect();
            let mut slow = std::vec![0i8; rows];
            d.outputs(&p, n, &mut slow, 0, 1);
            let mut y = std::vec![0i8; rows];
            linear(&d, &x, &mut y, &mut std::vec![0; n]).unwrap();
            assert_eq!(y, slow, "n = {n}");
            // The AVX2 path, which `linear` skips where AVX-512 VNNI is.
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if std::is_x86_feature_detected!("avx2") {
                let mut y = std::vec![0i8; rows];
                // SAFETY: the CPU has AVX2, checked above; the scratch holds `n` values.
                unsafe { avx2::linear(&d, &x, &mut y, &mut std::vec![0; n]) };
                assert_eq!(y, slow, "n = {n}, AVX2");
            }
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let g = ConvGeometry {
            input: [1, 4, 4],
            output: [1, 2, 2],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        };
        let m = [Multiplier::new(1.0)];
        let d =
            Dense { weight: &[1; 9], bias: None, multipliers: &m, input_zero_point: 0, output: OutputStage::plain(0) };
        assert!(conv2d(&d, &g, &[0; 15], &mut [0; 4], &mut [0; 9]).is_err());
        assert!(conv2d(&d, &g, &[0; 16], &mut [0; 4], &mut [0; 8]).is_err());
        assert!(conv2d(&d, &g, &[0; 16], &mut [0; 4], &mut [0; 9]).is_ok());
        let bad = ConvGeometry { output: [1, 3, 3], ..g };
        assert!(conv2d(&d, &bad, &[0; 16], &mut [0; 9], &mut [0; 9]).is_err());
        assert!(linear(&d, &[0; 8], &mut [0; 1], &mut [0; 8]).is_err());
        // No inputs: the bias alone, requantized (10 · 1 + 3), not a panic.
        let none = Dense { weight: &[], bias: Some(&[10, -4]), output: OutputStage::plain(3), ..d };
        let mut y = [0i8; 2];
        linear(&none, &[], &mut y, &mut []).unwrap();
        assert_eq!(y, [13, -1]);
    }
}
