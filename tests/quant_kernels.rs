//! Each integer kernel against the same computation in real numbers: dequantize the
//! inputs, compute in `f64`, quantize the result. TFLite's fixed-point requantization
//! approximates the real multiplier (31 bits) and rounds twice, so an output may differ
//! from the real computation's by one step, never more; most are equal. (Exact results on
//! hand-computed TFLite values, rounding edge cases included, are the unit tests of
//! `monograd-quant`'s `math`, `kernels` and `params` modules.)

use monograd::prelude::Rng;
use monograd::quant::kernels::{self, ConvGeometry, Dense, OutputStage, PoolGeometry};
use monograd::quant::math::Multiplier;
use monograd::quant::params::{add_params, per_channel_multiplier, per_tensor_multiplier, requantize_params};
use monograd::quant::{Fused, QParams};

fn i8s(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| (rng.next_u64() % 256) as u8 as i8).collect()
}

fn weights(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| ((rng.next_u64() % 255) as i32 - 127) as i8).collect()
}

fn params(rng: &mut Rng, lo: f64, hi: f64) -> QParams {
    let scale = rng.uniform(lo, hi) as f32;
    QParams { scale, zero_point: (rng.next_u64() % 200) as i32 - 100 }
}

/// The real result quantized: `clamp(round(real / s_out) + z_out)`.
fn quantize(real: f64, out: QParams, stage: OutputStage) -> i32 {
    let q = (real / f64::from(out.scale)).round() as i64 + i64::from(out.zero_point);
    q.clamp(i64::from(stage.min), i64::from(stage.max)) as i32
}

/// Counts outputs off by one; panics on any further off.
fn compare(what: &str, got: &[i8], want: &[i32]) -> usize {
    assert_eq!(got.len(), want.len());
    let mut off = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = (i32::from(g) - w).abs();
        assert!(d <= 1, "{what}[{i}]: kernel {g}, real arithmetic {w}");
        off += usize::from(d == 1);
    }
    off
}

/// A convolution in real numbers, channels first; `groups` = channels for depthwise.
#[allow(clippy::too_many_arguments)]
fn conv_real(
    g: &ConvGeometry,
    depthwise: bool,
    x: &[i8],
    xq: QParams,
    w: &[i8],
    ws: &[f32],
    b: &[i32],
    out: QParams,
    stage: OutputStage,
) -> Vec<i32> {
    let [ci, h, wd] = g.input;
    let [co, oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let mut y = vec![0; co * oh * ow];
    for o in 0..co {
        let s_w = f64::from(ws[o]);
        let bias = f64::from(b[o]) * f64::from(xq.scale) * s_w;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = bias;
                let chans: Vec<usize> = if depthwise { vec![o] } else { (0..ci).collect() };
                for (j, &c) in chans.iter().enumerate() {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.padding[0] as isize;
                            let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize - g.padding[1] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue; // zero padding: real 0
                            }
                            let xv = f64::from(xq.scale)
                                * f64::from(i32::from(x[c * h * wd + iy as usize * wd + ix as usize]) - xq.zero_point);
                            let n = if depthwise { kh * kw } else { ci * kh * kw };
                            let wv = s_w * f64::from(w[o * n + j * kh * kw + ky * kw + kx]);
                            acc += xv * wv;
                        }
                    }
                }
                y[o * oh * ow + oy * ow + ox] = quantize(acc, out, stage);
            }
        }
    }
    y
}

/// Filters, their scales, biases, input and output parameters, multipliers, output stage.
type DenseCase = (Vec<i8>, Vec<f32>, Vec<i32>, QParams, QParams, Vec<Multiplier>, OutputStage);

fn dense_case(rng: &mut Rng, out: usize, n: usize, per_channel: bool, act: Fused) -> DenseCase {
    let w = weights(rng, out * n);
    let ws: Vec<f32> = if per_channel {
        (0..out).map(|_| rng.uniform(0.002, 0.02) as f32).collect()
    } else {
        vec![rng.uniform(0.002, 0.02) as f32; out]
    };
    let b: Vec<i32> = (0..out).map(|_| (rng.next_u64() % 4001) as i32 - 2000).collect();
    let xq = params(rng, 0.005, 0.05);
    // An output range of about the size the inputs give.
    let yq = QParams {
        scale: (f64::from(xq.scale) * f64::from(ws[0]) * (n as f64).sqrt() * 20.0) as f32,
        zero_point: (rng.next_u64() % 60) as i32 - 30,
    };
    let m: Vec<Multiplier> = ws
        .iter()
        .map(|&s| {
            Multiplier::new(if per_channel {
                per_channel_multiplier(xq.scale, s, yq.scale)
            } else {
                per_tensor_multiplier(xq.scale, s, yq.scale)
            })
        })
        .collect();
    (w, ws, b, xq, yq, m, act.stage(yq))
}

#[test]
fn linear_per_tensor_and_per_channel() {
    let mut rng = Rng::seed(1);
    let mut off = 0;
    let mut total = 0;
    for round in 0..40 {
        let (o, n) = (1 + round % 7, 1 + (round * 13) % 90);
        let per_channel = round % 2 == 0;
        let act = [Fused::None, Fused::Relu, Fused::Relu6][round % 3];
        let (w, ws, b, xq, yq, m, stage) = dense_case(&mut rng, o, n, per_channel, act);
        let x = i8s(&mut rng, n);
        let mult = if per_channel { &m[..] } else { &m[..1] };
        let d = Dense { weight: &w, bias: Some(&b), multipliers: mult, input_zero_point: xq.zero_point, output: stage };
        let mut y = vec![0i8; o];
        kernels::linear(&d, &x, &mut y, &mut vec![0; n]).unwrap();
        let g = ConvGeometry {
            input: [n, 1, 1],
            output: [o, 1, 1],
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        };
        let want = conv_real(&g, false, &x, xq, &w, &ws, &b, yq, stage);
        off += compare("linear", &y, &want);
        total += o;
    }
    assert!(off * 10 < total, "{off} of {total} off by one");
}

#[test]
fn convolutions_with_stride_padding_dilation() {
    let mut rng = Rng::seed(2);
    let mut off = 0;
    let mut total = 0;
    for round in 0..24 {
        let (ci, co) = (1 + round % 3, 1 + round % 4);
        let k = [1, 3, 5][round % 3];
        let (s, p, d) = (1 + round % 2, round % 3, 1 + (round / 3) % 2);
        let (h, w) = (9 + round % 4, 8 + round % 5);
        let span = d * (k - 1) + 1;
        let rank1 = round % 4 == 3;
        let (hh, kh, sh, ph, dh) = if rank1 { (1, 1, 1, 0, 1) } else { (h, k, s, p, d) };
        let oh = (hh + 2 * ph - (dh * (kh - 1) + 1)) / sh + 1;
        let ow = (w + 2 * p - span) / s + 1;
        let g = ConvGeometry {
            input: [ci, hh, w],
            output: [co, oh, ow],
            kernel: [kh, k],
            stride: [sh, s],
            padding: [ph, p],
            dilation: [dh, d],
        };
        let (wt, ws, b, xq, yq, m, stage) =
            dense_case(&mut rng, co, ci * kh * k, true, [Fused::None, Fused::Relu][round % 2]);
        let x = i8s(&mut rng, ci * hh * w);
        let dense =
            Dense { weight: &wt, bias: Some(&b), multipliers: &m, input_zero_point: xq.zero_point, output: stage };
        let mut y = vec![0i8; co * oh * ow];
        kernels::conv2d(&dense, &g, &x, &mut y, &mut vec![0; g.patch_len()]).unwrap();
        off += compare("conv2d", &y, &conv_real(&g, false, &x, xq, &wt, &ws, &b, yq, stage));
        total += y.len();

        // Depthwise over the same input, one filter per channel.
        let gd = ConvGeometry { output: [ci, oh, ow], ..g };
        let (wt, ws, b, _, yq, _, stage) = dense_case(&mut rng, ci, kh * k, true, Fused::Relu6);
        let m: Vec<Multiplier> =
            ws.iter().map(|&s| Multiplier::new(per_channel_multiplier(xq.scale, s, yq.scale))).collect();
        let dense =
            Dense { weight: &wt, bias: Some(&b), multipliers: &m, input_zero_point: xq.zero_point, output: stage };
        let mut y = vec![0i8; ci * oh * ow];
        kernels::depthwise_conv2d(&dense, &gd, 1, &x, &mut y).unwrap();
        off += compare("depthwise", &y, &conv_real(&gd, true, &x, xq, &wt, &ws, &b, yq, stage));
        total += y.len();
    }
    assert!(off * 10 < total, "{off} of {total} off by one");
}

#[test]
fn pooling_is_exact_where_real_arithmetic_is() {
    let mut rng = Rng::seed(3);
    for round in 0..20 {
        let k = 1 + round % 3;
        let (s, p) = (1 + round % 2, (round % 4 / 2).min(k - 1)); // no window wholly in the padding
        let (c, h, w) = (2, 7 + round % 3, 6 + round % 4);
        let oh = (h + 2 * p - k) / s + 1;
        let ow = (w + 2 * p - k) / s + 1;
        let g = PoolGeometry { input: [c, h, w], output: [c, oh, ow], window: [k, k], stride: [s, s], padding: [p, p] };
        let x = i8s(&mut rng, c * h * w);
        let (mut ym, mut ya) = (vec![0i8; c * oh * ow], vec![0i8; c * oh * ow]);
        kernels::max_pool2d(&g, OutputStage::plain(0), &x, &mut ym).unwrap();
        kernels::avg_pool2d(&g, OutputStage::plain(0), &x, &mut ya).unwrap();
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut cells = Vec::new();
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) = ((oy * s + ky) as isize - p as isize, (ox * s + kx) as isize - p as isize);
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                cells.push(i32::from(x[ch * h * w + iy as usize * w + ix as usize]));
                            }
                        }
                    }
                    let at = ch * oh * ow + oy * ow + ox;
                    assert_eq!(i32::from(ym[at]), *cells.iter().max().unwrap());
                    // The mean rounded half away from zero: exact.
                    let mean = cells.iter().sum::<i32>() as f64 / cells.len() as f64;
                    assert_eq!(i32::from(ya[at]), mean.round() as i32, "{cells:?}");
                }
            }
        }
    }
}

#[test]
fn add_requantize_and_concat() {
    let mut rng = Rng::seed(4);
    let (mut off, mut total) = (0, 0);
    for round in 0..50 {
        let (a, b) = (params(&mut rng, 0.01, 0.1), params(&mut rng, 0.01, 0.1));
        let out = params(&mut rng, 0.02, 0.2);
        let act = [Fused::None, Fused::Relu][round % 2];
        let p = add_params("add", a, b, out, act).unwrap();
        let (xa, xb) = (i8s(&mut rng, 64), i8s(&mut rng, 64));
        let mut y = vec![0i8; 64];
        kernels::add(&p, &xa, &xb, &mut y).unwrap();
        let want: Vec<i32> = xa
            .iter()
            .zip(&xb)
            .map(|(&u, &v)| {
                let real = f64::from(a.dequantize(u)) + f64::from(b.dequantize(v));
                quantize(real, out, act.stage(out))
            })
            .collect();
        off += compare("add", &y, &want);
        total += 64;

        let r = requantize_params(a, out, Fused::None);
        let mut y = vec![0i8; 64];
        kernels::requantize(&r, &xa, &mut y).unwrap();
        let want: Vec<i32> =
            xa.iter().map(|&u| quantize(f64::from(a.dequantize(u)), out, OutputStage::plain(out.zero_point))).collect();
        off += compare("requantize", &y, &want);
        total += 64;

        let rb = requantize_params(b, out, Fused::None);
        let mut y = vec![0i8; 128];
        kernels::concat((&r, &xa), (&rb, &xb), &mut y).unwrap();
        let want: Vec<i32> = xa
            .iter()
            .map(|&u| f64::from(a.dequantize(u)))
            .chain(xb.iter().map(|&v| f64::from(b.dequantize(v))))
            .map(|real| quantize(real, out, OutputStage::plain(out.zero_point)))
            .collect();
        off += compare("concat", &y, &want);
        total += 128;
    }
    assert!(off * 10 < total, "{off} of {total} off by one");
}

#[test]
fn same_quantization_concat_is_a_copy() {
    let q = QParams { scale: 0.05, zero_point: -7 };
    let r = requantize_params(q, q, Fused::None);
    let x: Vec<i8> = (-128..=127).collect();
    let mut y = vec![0i8; 512];
    kernels::concat((&r, &x), (&r, &x), &mut y).unwrap();
    assert_eq!(&y[..256], &x[..]);
    assert_eq!(&y[256..], &x[..]);
}
