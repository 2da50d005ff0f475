//! TFLite Micro's int8 reference arithmetic, transcribed loop for loop on monograd's
//! channels-first graph: an oracle for the exporter's layout conversions (it reads the
//! graph, not the file) that also pins down the details an integer kernel must copy:
//! - multipliers from `f64` products and quotients of the `f32` scales, per-tensor
//!   FULLY_CONNECTED and RELU included (their source rounds `s_in * s_w` and `s_in / s_out`
//!   to `f32` first, but the `tflite-micro` package's interpreter computes both in `f64`);
//! - `QuantizeMultiplier` (frexp, round half away from zero) and the double rounding of
//!   `SaturatingRoundingDoublingHighMul` then `RoundingDivideByPOT`;
//! - fused clamps at `zp + round(0 / s)` and `zp + round(6 / s)` computed in `f32`;
//! - average pooling rounds the mean of the raw int8 values (zero point included) half
//!   away from zero, over the cells inside the input only;
//! - standalone RELU6 clamps in the input's quantization and never rescales (the exporter
//!   refuses one whose output is quantized otherwise);
//! - CONCATENATION copies bytes; an input quantized otherwise is requantized by QUANTIZE
//!   (`s_in / s_out` in `f64`);
//! - ADD rescales both inputs by `s / (2 max(s_a, s_b))` after a left shift of 20.

use monograd::quant::graph::{Activation, Data, Graph, Op, Tensor};

/// `QuantizeMultiplier`: (Q31 significand, exponent).
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m == 0.0 {
        return (0, 0);
    }
    // frexp: m = q * 2^e with q in [0.5, 1).
    let bits = m.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        e += 1;
    }
    if e < -31 {
        return (0, 0);
    }
    (q_fixed as i32, e)
}

fn srdhm(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge = if ab >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

fn rdbpot(x: i32, exponent: i32) -> i32 {
    let mask = (1i32 << exponent).wrapping_sub(1);
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `MultiplyByQuantizedMultiplier`, double rounding.
pub fn mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let (left, right) = (shift.max(0), (-shift).max(0));
    rdbpot(srdhm(x.wrapping_mul(1 << left), m), right)
}

fn zp(t: &Tensor) -> i32 {
    t.quant.zero_point[0]
}

fn scale(t: &Tensor) -> f32 {
    t.quant.scale[0]
}

/// The fused clamp of an output quantized as `t`.
fn clamp_range(t: &Tensor, a: Activation) -> (i32, i32) {
    let q = |f: f32| zp(t) + (f / scale(t)).round() as i32;
    match a {
        Activation::None => (-128, 127),
        Activation::Relu => (q(0.0).max(-128), 127),
        Activation::Relu6 => (q(0.0).max(-128), q(6.0).min(127)),
    }
}

fn i8s(t: &Tensor) -> &[i8] {
    match &t.data {
        Some(Data::I8(v)) => v,
        _ => panic!("`{}`: int8 constant expected", t.name),
    }
}

fn i32s(t: &Tensor) -> &[i32] {
    match &t.data {
        Some(Data::I32(v)) => v,
        _ => panic!("`{}`: int32 constant expected", t.name),
    }
}

fn chw(s: &[usize]) -> [usize; 3] {
    match *s {
        [c, h, w] => [c, h, w],
        [c, l] => [c, 1, l],
        _ => panic!("image shape expected, found {s:?}"),
    }
}

/// Multipliers per output channel for `s_in * s_w[c] / s_out`, in `f64`.
fn channel_multipliers(x: &Tensor, w: &Tensor, y: &Tensor, channels: usize) -> Vec<(i32, i32)> {
    (0..channels)
        .map(|c| {
            let s_w = w.quant.scale[if w.quant.scale.len() == 1 { 0 } else { c }];
            quantize_multiplier(f64::from(scale(x)) * f64::from(s_w) / f64::from(scale(y)))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn conv(
    g: &Graph,
    vals: &[Vec<i8>],
    input: usize,
    weight: usize,
    bias: usize,
    output: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    act: Activation,
    groups_mult: Option<usize>,
) -> Vec<i8> {
    let (tx, tw, ty) = (&g.tensors[input], &g.tensors[weight], &g.tensors[output]);
    let [c, h, w] = chw(&tx.shape);
    let [co, oh, ow] = chw(&ty.shape);
    let (kh, kw) = (tw.shape[2], tw.shape[3]);
    let ci = tw.shape[1];
    let (wd, bd, x) = (i8s(tw), i32s(&g.tensors[bias]), &vals[input]);
    let mult = channel_multipliers(tx, tw, ty, co);
    let (lo, hi) = clamp_range(ty, act);
    let mut y = vec![0i8; co * oh * ow];
    for o in 0..co {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0i32;
                for i in 0..ci {
                    let src_c = match groups_mult {
                        Some(m) => o / m,
                        None => i,
                    };
                    debug_assert!(src_c < c);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * stride[0] + ky * dil[0]) as isize - pad[0] as isize;
                            let ix = (ox * stride[1] + kx * dil[1]) as isize - pad[1] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let xv = i32::from(x[(src_c * h + iy as usize) * w + ix as usize]) - zp(tx);
                            acc += i32::from(wd[((o * ci + i) * kh + ky) * kw + kx]) * xv;
                        }
                    }
                }
                acc += bd[o];
                let v = mbqm(acc, mult[o].0, mult[o].1) + zp(ty);
                y[(o * oh + oy) * ow + ox] = v.clamp(lo, hi) as i8;
            }
        }
    }
    y
}

/// Runs `g` on one sample (channels first); returns the first output.
pub fn run(g: &Graph, input: &[i8]) -> Vec<i8> {
    let mut vals: Vec<Vec<i8>> = vec![Vec::new(); g.tensors.len()];
    vals[g.inputs[0]] = input.to_vec();
    for o in &g.ops {
        match o {
            Op::Linear { input, weight, bias, output, activation } => {
                let (tx, tw, ty) = (&g.tensors[*input], &g.tensors[*weight], &g.tensors[*output]);
                let (n_out, n_in) = (tw.shape[0], tw.shape[1]);
                let mult: Vec<(i32, i32)> = if tw.quant.scale.len() == 1 {
                    // Per tensor: the interpreter widens both scales before the product.
                    let m = quantize_multiplier(f64::from(scale(tx)) * f64::from(scale(tw)) / f64::from(scale(ty)));
                    vec![m; n_out]
                } else {
                    channel_multipliers(tx, tw, ty, n_out)
                };
                let (lo, hi) = clamp_range(ty, *activation);
                let (wd, bd, x) = (i8s(tw), i32s(&g.tensors[*bias]), &vals[*input]);
                let y = (0..n_out)
                    .map(|r| {
                        let acc: i32 =
                            (0..n_in).map(|k| i32::from(wd[r * n_in + k]) * (i32::from(x[k]) - zp(tx))).sum::<i32>()
                                + bd[r];
                        (mbqm(acc, mult[r].0, mult[r].1) + zp(ty)).clamp(lo, hi) as i8
                    })
                    .collect();
                vals[*output] = y;
            }
            Op::Conv2d { input, weight, bias, output, stride, padding, dilation, activation } => {
                vals[*output] =
                    conv(g, &vals, *input, *weight, *bias, *output, *stride, *padding, *dilation, *activation, None);
            }
            Op::DepthwiseConv2d { input, weight, bias, output, multiplier, stride, padding, dilation, activation } => {
                vals[*output] = conv(
                    g,
                    &vals,
                    *input,
                    *weight,
                    *bias,
                    *output,
                    *stride,
                    *padding,
                    *dilation,
                    *activation,
                    Some(*multiplier),
                );
            }
            Op::MaxPool2d { input, output, window, stride, padding }
            | Op::AvgPool2d { input, output, window, stride, padding } => {
                let max = matches!(o, Op::MaxPool2d { .. });
                let [c, h, w] = chw(&g.tensors[*input].shape);
                let [_, oh, ow] = chw(&g.tensors[*output].shape);
                let x = &vals[*input];
                let mut y = vec![0i8; c * oh * ow];
                for ch in 0..c {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let (mut best, mut sum, mut count) = (i32::MIN, 0i32, 0i32);
                            for ky in 0..window[0] {
                                for kx in 0..window[1] {
                                    let iy = (oy * stride[0] + ky) as isize - padding[0] as isize;
                                    let ix = (ox * stride[1] + kx) as isize - padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let v = i32::from(x[(ch * h + iy as usize) * w + ix as usize]);
                                    best = best.max(v);
                                    sum += v;
                                    count += 1;
                                }
                            }
                            let v = if max {
                                best
                            } else if sum > 0 {
                                (sum + count / 2) / count
                            } else {
                                (sum - count / 2) / count
                            };
                            y[(ch * oh + oy) * ow + ox] = v.clamp(-128, 127) as i8;
                        }
                    }
                }
                vals[*output] = y;
            }
            Op::Activation { input, output, kind } => {
                let (tx, ty) = (&g.tensors[*input], &g.tensors[*output]);
                let x = &vals[*input];
                vals[*output] = match kind {
                    Activation::Relu => {
                        let (m, s) = quantize_multiplier(f64::from(scale(tx)) / f64::from(scale(ty)));
                        let (lo, hi) = clamp_range(ty, Activation::Relu);
                        x.iter().map(|&v| (zp(ty) + mbqm(i32::from(v) - zp(tx), m, s)).clamp(lo, hi) as i8).collect()
                    }
                    Activation::Relu6 => {
                        let six = zp(tx) + (6.0 / scale(tx)).round() as i32;
                        x.iter().map(|&v| i32::from(v).clamp(zp(tx), six) as i8).collect()
                    }
                    Activation::None => x.clone(),
                };
            }
            Op::Reshape { input, output } => vals[*output] = vals[*input].clone(),
            Op::Add { a, b, output, activation } => {
                let (ta, tb, ty) = (&g.tensors[*a], &g.tensors[*b], &g.tensors[*output]);
                let twice_max = 2.0 * f64::from(scale(ta).max(scale(tb)));
                let ma = quantize_multiplier(f64::from(scale(ta)) / twice_max);
                let mb = quantize_multiplier(f64::from(scale(tb)) / twice_max);
                let my = quantize_multiplier(twice_max / ((1 << 20) as f64 * f64::from(scale(ty))));
                let (lo, hi) = clamp_range(ty, *activation);
                vals[*output] = vals[*a]
                    .iter()
                    .zip(&vals[*b])
                    .map(|(&x, &z)| {
                        let xa = mbqm((i32::from(x) - zp(ta)) << 20, ma.0, ma.1);
                        let xb = mbqm((i32::from(z) - zp(tb)) << 20, mb.0, mb.1);
                        (mbqm(xa + xb, my.0, my.1) + zp(ty)).clamp(lo, hi) as i8
                    })
                    .collect();
            }
            Op::Concat { inputs, output, axis } => {
                // Inputs quantized unlike the output go through QUANTIZE (int8 to int8:
                // `s_in / s_out` in f64, no clamp beyond int8); then bytes are copied in
                // order: the outer dimensions before `axis`, then each input's block.
                let ty = &g.tensors[*output];
                let parts: Vec<Vec<i8>> = inputs
                    .iter()
                    .map(|&i| {
                        let tx = &g.tensors[i];
                        if tx.quant == ty.quant {
                            return vals[i].clone();
                        }
                        let (m, s) = quantize_multiplier(f64::from(scale(tx)) / f64::from(scale(ty)));
                        vals[i]
                            .iter()
                            .map(|&v| (zp(ty) + mbqm(i32::from(v) - zp(tx), m, s)).clamp(-128, 127) as i8)
                            .collect()
                    })
                    .collect();
                let shape = &ty.shape;
                let outer: usize = shape[..*axis].iter().product();
                let mut y = Vec::with_capacity(shape.iter().product());
                for k in 0..outer {
                    for (part, &i) in parts.iter().zip(inputs) {
                        let inner: usize = g.tensors[i].shape[*axis..].iter().product();
                        y.extend_from_slice(&part[k * inner..(k + 1) * inner]);
                    }
                }
                vals[*output] = y;
            }
        }
    }
    vals[g.outputs[0]].clone()
}
