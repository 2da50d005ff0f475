//! Small quantized graphs, one per TFLite operator and a few chains, built from a seed:
//! random int8 weights, per-channel and per-tensor scales of realistic size, biases with
//! the scale `s_in * s_w`, and random int8 inputs. The exporter's tests run them in TFLite
//! Micro and store its outputs in `tests/fixtures/tflite/<name>.out` (channels first, as
//! monograd holds them); the kernel tests run monograd's integer kernels on the same
//! graphs and compare with those files, with no Python.

#![allow(dead_code)] // each test target uses part of it

pub mod reference;
#[cfg(feature = "tflite")]
pub mod tflm;

use monograd::core::Rng;
use monograd::quant::graph::{Activation, DType, Data, Graph, Op, QuantParams, Tensor};

/// Samples per case.
pub const SAMPLES: usize = 48;

/// One case: a graph and its inputs (channels first, `SAMPLES` samples one after another).
pub struct Case {
    pub name: &'static str,
    pub graph: Graph,
    pub input: Vec<i8>,
}

impl Case {
    /// Elements of one output sample.
    pub fn output_len(&self) -> usize {
        self.graph.tensors[self.graph.outputs[0]].shape.iter().product()
    }

    /// Where the `.tflite` file TFLite Micro ran for this case is stored.
    pub fn model_fixture(&self) -> std::path::PathBuf {
        self.fixture().with_extension("tflite")
    }

    /// Where TFLite Micro's outputs for this case are stored.
    pub fn fixture(&self) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tflite")
            .join(format!("{}.out", self.name))
    }
}

/// Builds a graph tensor by tensor, drawing from one generator.
struct B {
    g: Graph,
    rng: Rng,
}

fn q(scale: Vec<f32>, zero_point: Vec<i32>) -> QuantParams {
    QuantParams { scale, zero_point, axis: 0 }
}

impl B {
    fn new(seed: u64) -> Self {
        Self { g: Graph::default(), rng: Rng::seed(seed) }
    }

    fn push(&mut self, t: Tensor) -> usize {
        self.g.tensors.push(t);
        self.g.tensors.len() - 1
    }

    fn act(&mut self, name: &str, shape: &[usize], scale: f32, zero_point: i32) -> usize {
        self.push(Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: q(vec![scale], vec![zero_point]),
            data: None,
        })
    }

    fn zp(&mut self) -> i32 {
        self.rng.below(41) as i32 - 20
    }

    /// Weights `shape` (output channels first) with `channels` scales (1: per tensor);
    /// returns the tensor and its scales.
    fn weight(&mut self, name: &str, shape: &[usize], per_channel: bool) -> (usize, Vec<f32>) {
        let n: usize = shape.iter().product();
        let data: Vec<i8> = (0..n).map(|_| (self.rng.below(255) as i32 - 127) as i8).collect();
        let channels = if per_channel { shape[0] } else { 1 };
        let scale: Vec<f32> = (0..channels).map(|_| self.rng.uniform(0.002, 0.02) as f32).collect();
        let t = self.push(Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: q(scale.clone(), vec![0; channels]),
            data: Some(Data::I8(data)),
        });
        (t, scale)
    }

    fn bias(&mut self, name: &str, out: usize, s_in: f32, s_w: &[f32]) -> usize {
        let data: Vec<i32> = (0..out).map(|_| self.rng.below(8001) as i32 - 4000).collect();
        let scale: Vec<f32> = (0..out).map(|o| s_in * s_w[if s_w.len() == 1 { 0 } else { o }]).collect();
        let n = scale.len();
        self.push(Tensor {
            name: name.into(),
            shape: vec![out],
            dtype: DType::I32,
            quant: q(scale, vec![0; n]),
            data: Some(Data::I32(data)),
        })
    }

    /// An output scale that lets a sum of `k` products of random int8 values span most
    /// of the int8 range (some saturate, which is tested too).
    fn out_scale(s_in: f32, s_w: &[f32], k: usize) -> f32 {
        let mean = s_w.iter().sum::<f32>() / s_w.len() as f32;
        s_in * mean * (k as f32).sqrt() * 74.0 * 74.0 * 2.5 / 128.0
    }

    fn scale_of(&self, t: usize) -> f32 {
        self.g.tensors[t].quant.scale[0]
    }

    fn shape_of(&self, t: usize) -> Vec<usize> {
        self.g.tensors[t].shape.clone()
    }

    fn linear(&mut self, name: &str, x: usize, out: usize, per_channel: bool, activation: Activation) -> usize {
        let n_in: usize = self.shape_of(x).iter().product();
        let s_in = self.scale_of(x);
        let (w, s_w) = self.weight(&format!("{name}.weight"), &[out, n_in], per_channel);
        let b = self.bias(&format!("{name}.bias"), out, s_in, &s_w);
        let s_out = Self::out_scale(s_in, &s_w, n_in);
        let zp = if activation == Activation::None { self.zp() } else { -128 };
        let y = self.act(name, &[out], s_out, zp);
        self.g.ops.push(Op::Linear { input: x, weight: w, bias: b, output: y, activation });
        y
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: &str,
        x: usize,
        out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        activation: Activation,
    ) -> usize {
        let s = self.shape_of(x);
        let (c, h, w) = (s[0], s[1], s[2]);
        let s_in = self.scale_of(x);
        let (wt, s_w) = self.weight(&format!("{name}.weight"), &[out, c, kernel[0], kernel[1]], true);
        let b = self.bias(&format!("{name}.bias"), out, s_in, &s_w);
        let s_out = Self::out_scale(s_in, &s_w, c * kernel[0] * kernel[1]);
        let oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
        let ow = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
        let zp = if activation == Activation::None { self.zp() } else { -128 };
        let y = self.act(name, &[out, oh, ow], s_out, zp);
        self.g.ops.push(Op::Conv2d { input: x, weight: wt, bias: b, output: y, stride, padding, dilation, activation });
        y
    }

    fn depthwise(
        &mut self,
        name: &str,
        x: usize,
        multiplier: usize,
        padding: [usize; 2],
        activation: Activation,
    ) -> usize {
        let s = self.shape_of(x);
        let (c, h, w) = (s[0], s[1], s[2]);
        let s_in = self.scale_of(x);
        let (wt, s_w) = self.weight(&format!("{name}.weight"), &[c * multiplier, 1, 3, 3], true);
        let b = self.bias(&format!("{name}.bias"), c * multiplier, s_in, &s_w);
        let s_out = Self::out_scale(s_in, &s_w, 9);
        let (oh, ow) = (h + 2 * padding[0] - 2, w + 2 * padding[1] - 2);
        let y = self.act(name, &[c * multiplier, oh, ow], s_out, -128);
        self.g.ops.push(Op::DepthwiseConv2d {
            input: x,
            weight: wt,
            bias: b,
            output: y,
            multiplier,
            stride: [1, 1],
            padding,
            dilation: [1, 1],
            activation,
        });
        y
    }

    fn pool(&mut self, name: &str, x: usize, max: bool, window: usize, stride: usize, padding: usize) -> usize {
        let s = self.shape_of(x);
        let t = &self.g.tensors[x];
        let (scale, zp) = (t.quant.scale[0], t.quant.zero_point[0]);
        let o = |d: usize| (d + 2 * padding - window) / stride + 1;
        let y = self.act(name, &[s[0], o(s[1]), o(s[2])], scale, zp);
        let (window, stride, padding) = ([window; 2], [stride; 2], [padding; 2]);
        self.g.ops.push(if max {
            Op::MaxPool2d { input: x, output: y, window, stride, padding }
        } else {
            Op::AvgPool2d { input: x, output: y, window, stride, padding }
        });
        y
    }

    fn reshape(&mut self, name: &str, x: usize, shape: &[usize]) -> usize {
        let t = &self.g.tensors[x];
        let (scale, zp) = (t.quant.scale[0], t.quant.zero_point[0]);
        let y = self.act(name, shape, scale, zp);
        self.g.ops.push(Op::Reshape { input: x, output: y });
        y
    }

    fn finish(mut self, name: &'static str, input: usize, output: usize) -> Case {
        self.g.inputs = vec![input];
        self.g.outputs = vec![output];
        let n: usize = self.shape_of(input).iter().product::<usize>() * SAMPLES;
        let input = (0..n).map(|_| (self.rng.below(256) as i32 - 128) as i8).collect();
        Case { name, graph: self.g, input }
    }
}

/// Every case, in a fixed order.
pub fn cases() -> Vec<Case> {
    use Activation::{None as Id, Relu, Relu6};
    let mut v = Vec::new();

    let mut b = B::new(1);
    let x = b.act("x", &[40], 0.03, 7);
    let y = b.linear("fc", x, 12, false, Relu);
    v.push(b.finish("fc_per_tensor_relu", x, y));

    let mut b = B::new(2);
    let x = b.act("x", &[64], 0.011, -9);
    let y = b.linear("fc", x, 10, true, Id);
    v.push(b.finish("fc_per_channel", x, y));

    let mut b = B::new(3);
    let x = b.act("x", &[3, 8, 8], 0.02, -3);
    let y = b.conv("conv", x, 4, [3, 3], [1, 1], [0, 0], [1, 1], Relu);
    v.push(b.finish("conv_valid_relu", x, y));

    let mut b = B::new(4);
    let x = b.act("x", &[2, 9, 9], 0.015, 11);
    let y = b.conv("conv", x, 5, [3, 3], [2, 2], [1, 1], [1, 1], Relu6);
    v.push(b.finish("conv_same_stride2_relu6", x, y));

    let mut b = B::new(5);
    let x = b.act("x", &[2, 10, 10], 0.02, 0);
    let y = b.conv("conv", x, 3, [3, 3], [1, 1], [2, 2], [2, 2], Id);
    v.push(b.finish("conv_same_dilated", x, y));

    let mut b = B::new(6);
    let x = b.act("x", &[3, 1, 12], 0.025, -1);
    let y = b.conv("conv", x, 4, [1, 5], [1, 1], [0, 2], [1, 1], Relu);
    v.push(b.finish("conv1d_same", x, y));

    let mut b = B::new(7);
    let x = b.act("x", &[3, 8, 8], 0.02, 4);
    let y = b.depthwise("dw", x, 2, [1, 1], Relu);
    v.push(b.finish("depthwise_same_mult2", x, y));

    let mut b = B::new(8);
    let x = b.act("x", &[4, 6, 6], 0.02, 2);
    let y = b.depthwise("dw", x, 1, [0, 0], Relu6);
    v.push(b.finish("depthwise_valid_relu6", x, y));

    let mut b = B::new(9);
    let x = b.act("x", &[4, 8, 8], 0.05, -6);
    let y = b.pool("pool", x, true, 2, 2, 0);
    v.push(b.finish("maxpool_2x2", x, y));

    let mut b = B::new(10);
    let x = b.act("x", &[3, 7, 7], 0.05, 5);
    let y = b.pool("pool", x, true, 3, 2, 1);
    v.push(b.finish("maxpool_3x3_same", x, y));

    let mut b = B::new(11);
    let x = b.act("x", &[4, 8, 8], 0.05, -6);
    let y = b.pool("pool", x, false, 2, 2, 0);
    v.push(b.finish("avgpool_2x2", x, y));

    let mut b = B::new(12);
    let x = b.act("x", &[3, 7, 7], 0.05, 5);
    let y = b.pool("pool", x, false, 3, 2, 1);
    v.push(b.finish("avgpool_3x3_same", x, y));

    let mut b = B::new(13);
    let x = b.act("x", &[2, 5, 5], 0.04, 10);
    let y = b.act("relu", &[2, 5, 5], 0.023, -128);
    b.g.ops.push(Op::Activation { input: x, output: y, kind: Relu });
    v.push(b.finish("relu_rescale", x, y));

    let mut b = B::new(14);
    let x = b.act("x", &[30], 0.05, -3);
    // TFLite Micro's int8 RELU6 clamps in its input's quantization: no rescale.
    let y = b.act("relu6", &[30], 0.05, -3);
    b.g.ops.push(Op::Activation { input: x, output: y, kind: Relu6 });
    v.push(b.finish("relu6", x, y));

    let mut b = B::new(15);
    let x = b.act("x", &[3, 4, 4], 0.02, 1);
    let f = b.reshape("flat", x, &[48]);
    let y = b.linear("fc", f, 6, true, Id);
    v.push(b.finish("flatten_linear", x, y));

    let mut b = B::new(16);
    let x = b.act("x", &[2, 6, 6], 0.02, -4);
    let c1 = b.conv("c1", x, 3, [3, 3], [1, 1], [1, 1], [1, 1], Id);
    let c2 = b.conv("c2", x, 3, [1, 1], [1, 1], [0, 0], [1, 1], Id);
    let s = (b.scale_of(c1) + b.scale_of(c2)) * 0.7;
    let y = b.act("sum", &[3, 6, 6], s, -128);
    b.g.ops.push(Op::Add { a: c1, b: c2, output: y, activation: Relu });
    v.push(b.finish("add_relu", x, y));

    let mut b = B::new(17);
    let x = b.act("x", &[2, 6, 6], 0.02, -4);
    let c1 = b.conv("c1", x, 3, [3, 3], [1, 1], [1, 1], [1, 1], Id);
    let c2 = b.conv("c2", x, 2, [1, 1], [1, 1], [0, 0], [1, 1], Id);
    // TFLite's int8 concatenation wants its inputs quantized as its output.
    let (s, z) = (b.scale_of(c1), b.g.tensors[c1].quant.zero_point[0]);
    b.g.tensors[c2].quant = b.g.tensors[c1].quant.clone();
    let y = b.act("cat", &[5, 6, 6], s, z);
    b.g.ops.push(Op::Concat { inputs: vec![c1, c2], output: y, axis: 0 });
    v.push(b.finish("concat_channels", x, y));

    // The same, each input quantized its own way: QUANTIZE operators rescale them.
    let mut b = B::new(19);
    let x = b.act("x", &[2, 6, 6], 0.02, -4);
    let c1 = b.conv("c1", x, 3, [3, 3], [1, 1], [1, 1], [1, 1], Relu);
    let c2 = b.conv("c2", x, 2, [1, 1], [1, 1], [0, 0], [1, 1], Id);
    let s = b.scale_of(c1).max(b.scale_of(c2)) * 1.3;
    let y = b.act("cat", &[5, 6, 6], s, -20);
    b.g.ops.push(Op::Concat { inputs: vec![c1, c2], output: y, axis: 0 });
    v.push(b.finish("concat_rescale", x, y));

    // A small LeNet: conv, pool, conv, pool, flatten, linear, linear.
    let mut b = B::new(18);
    let x = b.act("x", &[1, 12, 12], 1.0 / 255.0, -128);
    let c1 = b.conv("conv1", x, 4, [3, 3], [1, 1], [1, 1], [1, 1], Relu);
    let p1 = b.pool("pool1", c1, true, 2, 2, 0);
    let c2 = b.conv("conv2", p1, 6, [3, 3], [1, 1], [0, 0], [1, 1], Relu);
    let p2 = b.pool("pool2", c2, false, 2, 2, 0);
    let f = b.reshape("flatten", p2, &[24]);
    let h = b.linear("fc1", f, 16, true, Relu);
    let y = b.linear("fc2", h, 10, true, Id);
    v.push(b.finish("lenet_small", x, y));

    // Per-tensor FULLY_CONNECTED with the scales of a pruned LeNet-5's first linear layer,
    // where an `f32` product `s_in * s_w` and TFLite Micro's `f64` one give multipliers that
    // round an accumulator differently (±26007: 87.498 before rounding, 88 after the two
    // roundings of the `f64` multiplier, 87 with the other). Eight rows of random weights,
    // then rows of zero weights whose biases are those accumulators, so that every sample
    // meets them.
    let mut b = B::new(20);
    let (s_in, s_w, s_out) = (0.024_391_321f32, 0.003_539_175f32, 0.025_658_382f32);
    let x = b.act("x", &[128], s_in, -128);
    let wide = reference::quantize_multiplier(f64::from(s_in) * f64::from(s_w) / f64::from(s_out));
    let narrow = reference::quantize_multiplier(f64::from(s_in * s_w) / f64::from(s_out));
    // Every accumulator whose output (zero point 0, no clamp but int8's) the two tell apart.
    let ties: Vec<i32> = (-40_000..40_000)
        .filter(|&acc| {
            let (a, b) = (reference::mbqm(acc, wide.0, wide.1), reference::mbqm(acc, narrow.0, narrow.1));
            a != b && (-128..=127).contains(&a)
        })
        .collect();
    assert!(!ties.is_empty(), "the scales must tell the two products apart");
    let rows = 8 + ties.len();
    let mut w: Vec<i8> = (0..8 * 128).map(|_| (b.rng.below(31) as i32 - 15) as i8).collect();
    w.extend(std::iter::repeat_n(0i8, ties.len() * 128));
    let mut bias: Vec<i32> = (0..8).map(|_| b.rng.below(8001) as i32 - 4000).collect();
    bias.extend(&ties);
    let wt = b.push(Tensor {
        name: "fc.weight".into(),
        shape: vec![rows, 128],
        dtype: DType::I8,
        quant: q(vec![s_w], vec![0]),
        data: Some(Data::I8(w)),
    });
    let bt = b.push(Tensor {
        name: "fc.bias".into(),
        shape: vec![rows],
        dtype: DType::I32,
        quant: q(vec![s_in * s_w; rows], vec![0; rows]),
        data: Some(Data::I32(bias)),
    });
    let y = b.act("fc", &[rows], s_out, 0);
    b.g.ops.push(Op::Linear { input: x, weight: wt, bias: bt, output: y, activation: Id });
    v.push(b.finish("fc_per_tensor_f64_product", x, y));

    // A standalone RELU whose rescaling factor `s_in / s_out` is another in `f32` than in
    // `f64`, on inputs that span the int8 range (TFLite Micro's interpreter divides in `f64`).
    let mut b = B::new(21);
    let (s_in, s_out) = relu_scales_telling_quotients_apart();
    let x = b.act("x", &[4, 8, 8], s_in, -3);
    let y = b.act("relu", &[4, 8, 8], s_out, -128);
    b.g.ops.push(Op::Activation { input: x, output: y, kind: Relu });
    v.push(b.finish("relu_f64_quotient", x, y));

    v
}

/// The first scales `(s_in, s_out)` on a fixed grid for which `f32` and `f64` quotients give
/// RELU multipliers that disagree on at least one int8 input, after the clamp (input zero point -3, output -128).
fn relu_scales_telling_quotients_apart() -> (f32, f32) {
    for i in 0..10_000 {
        let (s_in, s_out) = (0.031f32 + i as f32 * 1.3e-6, 0.017f32);
        let wide = reference::quantize_multiplier(f64::from(s_in) / f64::from(s_out));
        let narrow = reference::quantize_multiplier(f64::from(s_in / s_out));
        // Outputs after the output zero point -128 and the clamp of the fused ReLU.
        let out = |x: i32, (m, s): (i32, i32)| (reference::mbqm(x, m, s) - 128).clamp(-128, 127);
        let differ = (-128..128).any(|v: i32| out(v + 3, wide) != out(v + 3, narrow));
        if differ {
            return (s_in, s_out);
        }
    }
    panic!("no RELU scales on the grid tell the two quotients apart");
}
