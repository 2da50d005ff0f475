//! Pooling: TFLite's `MAX_POOL_2D` and `AVERAGE_POOL_2D` (input and output share their
//! quantization, so no rescaling).

use super::OutputStage;
use crate::error::{check_len, QuantError};

/// The geometry of a pooling window over `[C, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Input `[C, H, W]`.
    pub input: [usize; 3],
    /// Output `[C, OH, OW]`.
    pub output: [usize; 3],
    /// Window `[h, w]`.
    pub window: [usize; 2],
    /// `[h, w]`.
    pub stride: [usize; 2],
    /// Padding on each side (padded cells are never read).
    pub padding: [usize; 2],
}

impl PoolGeometry {
    fn check(&self, what: &'static str, x: usize, y: usize) -> Result<(), QuantError> {
        check_len(what, self.input.iter().product(), x)?;
        check_len(what, self.output.iter().product(), y)?;
        check_len(what, self.input[0], self.output[0])?;
        if self.stride.contains(&0) || self.window.contains(&0) {
            return Err(QuantError::Length { what, expected: 1, got: 0 });
        }
        Ok(())
    }

    /// Runs `f(plane, width, rows, cols)` over the window of each output clipped to the
    /// input, and stores what it returns.
    #[inline(always)]
    fn each(&self, x: &[i8], y: &mut [i8], mut f: impl FnMut(&[i8], usize, [usize; 2], [usize; 2]) -> i8) {
        let [c_n, h, w] = self.input;
        let [_, oh, ow] = self.output;
        for c in 0..c_n {
            let plane = &x[c * h * w..][..h * w];
            for oy in 0..oh {
                let y0 = (oy * self.stride[0]) as isize - self.padding[0] as isize;
                let rows = [y0.max(0) as usize, ((y0 + self.window[0] as isize).min(h as isize)).max(0) as usize];
                for ox in 0..ow {
                    let x0 = (ox * self.stride[1]) as isize - self.padding[1] as isize;
                    let cols = [x0.max(0) as usize, ((x0 + self.window[1] as isize).min(w as isize)).max(0) as usize];
                    y[c * oh * ow + oy * ow + ox] = f(plane, w, rows, cols);
                }
            }
        }
    }
}

/// TFLite's `MAX_POOL_2D`: the largest value of each window, clamped to `out`'s bounds.
pub fn max_pool2d(g: &PoolGeometry, out: OutputStage, x: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
    g.check("max_pool2d", x.len(), y.len())?;
    let [_, h, w] = g.input;
    let [_, oh, ow] = g.output;
    if g.window == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0] && 2 * oh <= h && 2 * ow <= w {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if i16::try_from(out.min).is_ok()
            && i16::try_from(out.max).is_ok()
            && super::allows(super::Isa::Avx512)
            && super::pool_avx512::available()
        {
            // SAFETY: the CPU has AVX-512 BW and VL and the bounds are `i16` values, both
            // checked on the line above; the geometry is checked above.
            unsafe { super::pool_avx512::max_pool_2x2(x, y, [h, w], [oh, ow], out) };
            return Ok(());
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if i16::try_from(out.min).is_ok()
            && i16::try_from(out.max).is_ok()
            && super::allows(super::Isa::Avx2)
            && std::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU has AVX2 and the bounds are `i16` values, both checked on the
            // lines above; the geometry is checked above.
            unsafe { super::pool_avx2::max_pool_2x2(x, y, [h, w], [oh, ow], out) };
            return Ok(());
        }
        // The common case, as straight loops over pairs of rows.
        for (plane, yp) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
            for (oy, yr) in yp.chunks_exact_mut(ow).enumerate() {
                let (r0, r1) = (&plane[2 * oy * w..][..2 * ow], &plane[(2 * oy + 1) * w..][..2 * ow]);
                for (ox, yo) in yr.iter_mut().enumerate() {
                    let m = r0[2 * ox].max(r0[2 * ox + 1]).max(r1[2 * ox]).max(r1[2 * ox + 1]);
                    *yo = i32::from(m).max(out.min).min(out.max) as i8;
                }
            }
        }
        return Ok(());
    }
    g.each(x, y, |plane, w, [ys, ye], [xs, xe]| {
        let mut m = i8::MIN;
        for iy in ys..ye {
            for &v in &plane[iy * w + xs..iy * w + xe.max(xs)] {
                m = m.max(v);
            }
        }
        i32::from(m).max(out.min).min(out.max) as i8
    });
    Ok(())
}

/// TFLite's `AVERAGE_POOL_2D`: the sum of each window's cells inside the input divided by
/// their count, rounded half away from zero in integers (`(acc ± n/2) / n`), clamped.
/// A window with no cell inside the input is an error, as in TFLite.
pub fn avg_pool2d(g: &PoolGeometry, out: OutputStage, x: &[i8], y: &mut [i8]) -> Result<(), QuantError> {
    g.check("avg_pool2d", x.len(), y.len())?;
    let mut empty = false;
    g.each(x, y, |plane, w, [ys, ye], [xs, xe]| {
        let (mut acc, mut n) = (0i32, 0i32);
        for iy in ys..ye {
            for &v in &plane[iy * w + xs..iy * w + xe.max(xs)] {
                acc += i32::from(v);
                n += 1;
            }
        }
        if n == 0 {
            empty = true;
            return 0;
        }
        let avg = if acc > 0 { (acc + n / 2) / n } else { (acc - n / 2) / n };
        avg.max(out.min).min(out.max) as i8
    });
    if empty {
        return Err(QuantError::Length { what: "avg_pool2d window inside the input", expected: 1, got: 0 });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_rounds_as_tflite() {
        // Windows of 2 cells: 1+2 = 3 -> (3+1)/2 = 2; -1-2 = -3 -> (-3-1)/2 = -2;
        // 0 + -1 = -1 -> (-1-1)/2 = -1; 2 + 2 -> 2.
        let g = PoolGeometry { input: [1, 1, 8], output: [1, 1, 4], window: [1, 2], stride: [1, 2], padding: [0, 0] };
        let mut y = [0i8; 4];
        avg_pool2d(&g, OutputStage::plain(0), &[1, 2, -1, -2, 0, -1, 2, 2], &mut y).unwrap();
        assert_eq!(y, [2, -2, -1, 2]);
        max_pool2d(&g, OutputStage::plain(0), &[1, 2, -1, -2, 0, -1, 2, 2], &mut y).unwrap();
        assert_eq!(y, [2, -1, 0, 2]);
    }

    #[test]
    fn padded_cells_are_not_counted() {
        // 2x2 input, window 2, stride 2, padding 1: outputs see 1 cell each.
        let g = PoolGeometry { input: [1, 2, 2], output: [1, 2, 2], window: [2, 2], stride: [2, 2], padding: [1, 1] };
        let mut y = [0i8; 4];
        avg_pool2d(&g, OutputStage::plain(0), &[-5, 6, 7, -8], &mut y).unwrap();
        assert_eq!(y, [-5, 6, 7, -8]);
        max_pool2d(&g, OutputStage::plain(0), &[-5, 6, 7, -8], &mut y).unwrap();
        assert_eq!(y, [-5, 6, 7, -8]);
    }
}
