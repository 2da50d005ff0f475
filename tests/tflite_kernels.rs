//! monograd's integer kernels against TFLite Micro, with no Python: each per-operator case
//! of `tflite_cases` (built from a seed) runs through `monograd::quant::kernels`, operator
//! by operator, and every output must equal the one TFLite Micro gave for the exported
//! file (`tests/fixtures/tflite/<case>.out`, written by scripts/check-tflite.sh).

mod tflite_cases;

use monograd::quant::graph::{Activation, Data, Graph, Op, Tensor};
use monograd::quant::kernels::{self, ConvGeometry, Dense, OutputStage, PoolGeometry};
use monograd::quant::math::Multiplier;
use monograd::quant::params::{add_params, per_channel_multiplier, per_tensor_multiplier, requantize_params};
use monograd::quant::{Fused, QParams};
use tflite_cases::{cases, SAMPLES};

fn qp(t: &Tensor) -> QParams {
    QParams { scale: t.quant.scale[0], zero_point: t.quant.zero_point[0] }
}

fn fused(a: Activation) -> Fused {
    match a {
        Activation::None => Fused::None,
        Activation::Relu => Fused::Relu,
        Activation::Relu6 => Fused::Relu6,
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

/// The multipliers TFLite derives for a layer with filters, through monograd's own
/// functions: per channel, or per tensor (fully connected only).
fn multipliers(x: &Tensor, w: &Tensor, y: &Tensor, per_tensor_fc: bool) -> Vec<Multiplier> {
    let (s_in, s_out) = (x.quant.scale[0], y.quant.scale[0]);
    if per_tensor_fc {
        return vec![Multiplier::new(per_tensor_multiplier(s_in, w.quant.scale[0], s_out))];
    }
    let out = w.shape[0];
    (0..out)
        .map(|o| {
            let s_w = w.quant.scale[if w.quant.scale.len() == 1 { 0 } else { o }];
            Multiplier::new(per_channel_multiplier(s_in, s_w, s_out))
        })
        .collect()
}

/// Runs `g` on one channels-first sample with monograd's integer kernels.
fn run(g: &Graph, input: &[i8]) -> Vec<i8> {
    let mut vals: Vec<Vec<i8>> = vec![Vec::new(); g.tensors.len()];
    vals[g.inputs[0]] = input.to_vec();
    let mut scratch = vec![0i16; 4096];
    for o in &g.ops {
        let t = |i: usize| &g.tensors[i];
        let n = |i: usize| -> usize { t(i).shape.iter().product() };
        match o {
            Op::Linear { input, weight, bias, output, activation } => {
                let per_tensor = t(*weight).quant.scale.len() == 1;
                let m = multipliers(t(*input), t(*weight), t(*output), per_tensor);
                let d = Dense {
                    weight: i8s(t(*weight)),
                    bias: Some(i32s(t(*bias))),
                    multipliers: &m,
                    input_zero_point: qp(t(*input)).zero_point,
                    output: fused(*activation).stage(qp(t(*output))),
                };
                let mut y = vec![0; n(*output)];
                kernels::linear(&d, &vals[*input], &mut y, &mut scratch).unwrap();
                vals[*output] = y;
            }
            Op::Conv2d { input, weight, bias, output, stride, padding, dilation, activation }
            | Op::DepthwiseConv2d { input, weight, bias, output, stride, padding, dilation, activation, .. } => {
                let m = multipliers(t(*input), t(*weight), t(*output), false);
                let d = Dense {
                    weight: i8s(t(*weight)),
                    bias: Some(i32s(t(*bias))),
                    multipliers: &m,
                    input_zero_point: qp(t(*input)).zero_point,
                    output: fused(*activation).stage(qp(t(*output))),
                };
                let w = &t(*weight).shape;
                let geo = ConvGeometry {
                    input: chw(&t(*input).shape),
                    output: chw(&t(*output).shape),
                    kernel: [w[2], w[3]],
                    stride: *stride,
                    padding: *padding,
                    dilation: *dilation,
                };
                let mut y = vec![0; n(*output)];
                match o {
                    Op::DepthwiseConv2d { multiplier, .. } => {
                        kernels::depthwise_conv2d(&d, &geo, *multiplier, &vals[*input], &mut y).unwrap()
                    }
                    _ => kernels::conv2d(&d, &geo, &vals[*input], &mut y, &mut scratch).unwrap(),
                }
                vals[*output] = y;
            }
            Op::MaxPool2d { input, output, window, stride, padding }
            | Op::AvgPool2d { input, output, window, stride, padding } => {
                let geo = PoolGeometry {
                    input: chw(&t(*input).shape),
                    output: chw(&t(*output).shape),
                    window: *window,
                    stride: *stride,
                    padding: *padding,
                };
                let stage = OutputStage::plain(qp(t(*output)).zero_point);
                let mut y = vec![0; n(*output)];
                if matches!(o, Op::MaxPool2d { .. }) {
                    kernels::max_pool2d(&geo, stage, &vals[*input], &mut y).unwrap();
                } else {
                    kernels::avg_pool2d(&geo, stage, &vals[*input], &mut y).unwrap();
                }
                vals[*output] = y;
            }
            Op::Activation { input, output, kind } => {
                let p = requantize_params(qp(t(*input)), qp(t(*output)), fused(*kind));
                let mut y = vec![0; n(*output)];
                kernels::requantize(&p, &vals[*input], &mut y).unwrap();
                vals[*output] = y;
            }
            Op::Reshape { input, output } => vals[*output] = vals[*input].clone(),
            Op::Add { a, b, output, activation } => {
                let p = add_params("add", qp(t(*a)), qp(t(*b)), qp(t(*output)), fused(*activation)).unwrap();
                let mut y = vec![0; n(*output)];
                kernels::add(&p, &vals[*a], &vals[*b], &mut y).unwrap();
                vals[*output] = y;
            }
            Op::Concat { inputs, output, axis } => {
                assert_eq!((inputs.len(), *axis), (2, 0), "the kernel joins two inputs along channels");
                let out = qp(t(*output));
                let ra = requantize_params(qp(t(inputs[0])), out, Fused::None);
                let rb = requantize_params(qp(t(inputs[1])), out, Fused::None);
                let mut y = vec![0; n(*output)];
                kernels::concat((&ra, &vals[inputs[0]]), (&rb, &vals[inputs[1]]), &mut y).unwrap();
                vals[*output] = y;
            }
        }
    }
    vals[g.outputs[0]].clone()
}

#[test]
fn integer_kernels_equal_tflite_micro_on_every_case() {
    let mut report = Vec::new();
    for case in cases() {
        let want: Vec<i8> = std::fs::read(case.fixture()).unwrap().into_iter().map(|b| b as i8).collect();
        let (n_in, n_out) = (case.input.len() / SAMPLES, case.output_len());
        assert_eq!(want.len(), SAMPLES * n_out, "{}", case.name);
        let mut diff = 0;
        for k in 0..SAMPLES {
            let got = run(&case.graph, &case.input[k * n_in..(k + 1) * n_in]);
            diff += got.iter().zip(&want[k * n_out..(k + 1) * n_out]).filter(|(a, b)| a != b).count();
        }
        if diff != 0 {
            report.push(format!("{}: {diff} of {} outputs differ", case.name, want.len()));
        }
    }
    assert!(report.is_empty(), "monograd's kernels differ from TFLite Micro:\n{}", report.join("\n"));
}
