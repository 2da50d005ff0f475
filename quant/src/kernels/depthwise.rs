//! Depthwise convolution: TFLite's `DEPTHWISE_CONV_2D` (per channel).

use super::conv::{ConvGeometry, Dense};
use crate::error::{check_len, QuantError};

/// TFLite's `DEPTHWISE_CONV_2D` on one sample, channels first: output channel `c · M + m`
/// (`M` = `multiplier`) filters input channel `c` alone with weights `[C · M, 1, kh, kw]`;
/// cells outside the input are skipped, as TFLite does.
pub fn depthwise_conv2d(
    d: &Dense<'_>,
    g: &ConvGeometry,
    multiplier: usize,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), QuantError> {
    g.check("depthwise_conv2d", x.len(), y.len())?;
    check_len("depthwise_conv2d output channels", g.input[0] * multiplier, g.output[0])?;
    let [kh, kw] = g.kernel;
    d.check("depthwise_conv2d weight", g.output[0], kh * kw)?;
    let [_, h, w] = g.input;
    let [c_out, oh, ow] = g.output;
    let z = d.input_zero_point;
    for oc in 0..c_out {
        let plane = &x[(oc / multiplier) * h * w..][..h * w];
        let filter = &d.weight[oc * kh * kw..][..kh * kw];
        let m = d.multiplier(oc);
        let b = d.bias.map_or(0, |b| b[oc]);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0i32;
                for ky in 0..kh {
                    let Some(iy) = g.source(0, oy, ky) else { continue };
                    for kx in 0..kw {
                        if let Some(ix) = g.source(1, ox, kx) {
                            acc += i32::from(filter[ky * kw + kx]) * (i32::from(plane[iy * w + ix]) - z);
                        }
                    }
                }
                y[oc * oh * ow + oy * ow + ox] = d.output.finish(m.apply(acc.wrapping_add(b)));
            }
        }
    }
    Ok(())
}
