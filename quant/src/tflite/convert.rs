//! From [`Graph`] (channels first, per-sample shapes) to TFLite's tensors and operators
//! (NHWC, batch 1): shapes computed and checked, filters transposed, a linear layer's
//! columns permuted where its input is held channels last, padding mapped to SAME or
//! VALID.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::schema::{activation as act, op, padding, tensor_type};
use super::Error;
use crate::graph::{Activation, DType, Data, Graph, Op, Pad, QuantParams, Tensor};

/// A TFLite tensor, ready to serialize.
#[derive(Debug)]
pub(crate) struct TflTensor {
    pub name: String,
    pub shape: Vec<i32>,
    pub ty: i8,
    /// Little-endian bytes of a constant.
    pub data: Option<Vec<u8>>,
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

/// A TFLite operator's `BuiltinOptions`.
#[derive(Debug)]
pub(crate) enum Options {
    None,
    Conv { padding: i8, stride: [i32; 2], dilation: [i32; 2], activation: i8 },
    Depthwise { padding: i8, stride: [i32; 2], dilation: [i32; 2], multiplier: i32, activation: i8 },
    Pool { padding: i8, stride: [i32; 2], filter: [i32; 2] },
    FullyConnected { activation: i8 },
    Add { activation: i8 },
    Concat { axis: i32 },
    Reshape { new_shape: Vec<i32> },
}

/// A TFLite operator.
#[derive(Debug)]
pub(crate) struct TflOp {
    /// `BuiltinOperator`.
    pub code: i32,
    /// The operator version TFLite's converter gives the int8 kernel.
    pub version: i32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Options,
}

/// A whole TFLite subgraph.
#[derive(Debug, Default)]
pub(crate) struct TflModel {
    pub tensors: Vec<TflTensor>,
    pub ops: Vec<TflOp>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
}

/// How an activation's elements lie in memory on the TFLite side, compared with
/// monograd's row-major channels-first order: `Some((c, s))` when monograd's element
/// `c * S + s` sits at `s * C + c` (channels last), `None` when the orders agree (one
/// channel, one position, or a plain vector).
type Perm = Option<(usize, usize)>;

fn perm(c: usize, s: usize) -> Perm {
    (c > 1 && s > 1).then_some((c, s))
}

/// An activation of the graph, once its producer has been converted.
#[derive(Clone, Debug)]
struct Act {
    /// Index of its TFLite tensor.
    tfl: i32,
    /// monograd's per-sample shape, channels first.
    shape: Vec<usize>,
    /// Its memory order on the TFLite side.
    perm: Perm,
}

/// `[c, h, w]` of a per-sample image shape: rank 3, or rank 2 `[c, l]` as `[c, 1, l]`.
fn chw(shape: &[usize]) -> Option<[usize; 3]> {
    match *shape {
        [c, h, w] => Some([c, h, w]),
        [c, l] => Some([c, 1, l]),
        _ => None,
    }
}

/// The memory order TFLite keeps a tensor of this per-sample shape in when nothing else
/// decides it: images channels last, vectors as they are.
fn natural_perm(shape: &[usize]) -> Perm {
    chw(shape).and_then(|[c, h, w]| perm(c, h * w))
}

/// TFLite's (batch 1, NHWC) shape of a per-sample shape.
fn tfl_shape(shape: &[usize]) -> Result<Vec<i32>, String> {
    let dims: Vec<usize> = match *shape {
        [n] => vec![1, n],
        [c, l] => vec![1, 1, l, c],
        [c, h, w] => vec![1, h, w, c],
        _ => {
            return Err(format!("activations of rank {} are not supported (rank 1 to 3, channels first)", shape.len()))
        }
    };
    dims.iter().map(|&d| to_i32(d)).collect()
}

fn to_i32(v: usize) -> Result<i32, String> {
    i32::try_from(v).map_err(|_| format!("{v} does not fit TFLite's 32-bit sizes"))
}

/// Elements of `shape`, or an error when the count does not fit TFLite's 32-bit sizes.
fn numel(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| i32::try_from(n).is_ok())
        .ok_or_else(|| format!("shape {shape:?} holds more elements than TFLite's 32-bit sizes"))
}

/// Windows, strides and dilations are at least 1, and all of them (padding too) small
/// enough that the size arithmetic below cannot overflow.
fn check_geometry(what: &str, values: &[usize], min: usize) -> Result<(), String> {
    const MAX: usize = 1 << 15;
    match values.iter().find(|&&v| v < min || v > MAX) {
        Some(v) => Err(format!("{what} {v} outside {min}..={MAX}")),
        None => Ok(()),
    }
}

fn fused(a: Activation) -> i8 {
    match a {
        Activation::None => act::NONE,
        Activation::Relu => act::RELU,
        Activation::Relu6 => act::RELU6,
    }
}

/// SAME or VALID for explicit, symmetric padding `pad` of a window sliding over `input`,
/// or `None` when neither gives the same output size and leading padding.
fn map_padding(input: [usize; 2], window: [usize; 2], stride: [usize; 2], pad: Pad) -> Option<i8> {
    if pad == [0, 0] {
        return Some(padding::VALID);
    }
    // TFLite's SAME: out = ceil(in / stride), total padding max((out - 1) * stride + window
    // - in, 0), of which the first half (rounded down) before; only that and the output
    // size enter its kernels.
    // Sizes fit 32 bits and windows 2^15 (`check_geometry`): u64 holds every product
    // here, on any target.
    for d in 0..2 {
        let (i, k, s, p) = (input[d] as u64, window[d] as u64, stride[d] as u64, pad[d] as u64);
        let out_same = i.div_ceil(s);
        let total = ((out_same.max(1) - 1) * s + k).saturating_sub(i);
        let out_explicit = (i + 2 * p).checked_sub(k).map(|r| r / s + 1);
        if total / 2 != p || Some(out_same) != out_explicit {
            return None;
        }
    }
    Some(padding::SAME)
}

/// Output size of a window over `input` with explicit padding, or an error when the
/// window does not fit.
fn window_out(input: [usize; 2], window: [usize; 2], stride: [usize; 2], pad: Pad) -> Result<[usize; 2], String> {
    let mut out = [0; 2];
    for d in 0..2 {
        if stride[d] == 0 || window[d] == 0 {
            return Err("zero stride or window".to_string());
        }
        let padded = input[d] as u64 + 2 * pad[d] as u64;
        if padded < window[d] as u64 {
            return Err(format!("window {window:?} larger than the input {input:?} padded by {pad:?}"));
        }
        out[d] = ((padded - window[d] as u64) / stride[d] as u64 + 1) as usize;
    }
    Ok(out)
}

struct Converter<'g> {
    graph: &'g Graph,
    model: TflModel,
    /// Per graph tensor: the converted activation, once produced.
    acts: Vec<Option<Act>>,
}

impl<'g> Converter<'g> {
    fn tensor(&self, i: usize) -> Result<&'g Tensor, String> {
        self.graph
            .tensors
            .get(i)
            .ok_or_else(|| format!("tensor index {i} out of range ({} tensors)", self.graph.tensors.len()))
    }

    fn check_quant(t: &Tensor, channels: Option<usize>) -> Result<(), String> {
        let q = &t.quant;
        if q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
            return Err(format!("`{}`: {} scales and {} zero points", t.name, q.scale.len(), q.zero_point.len()));
        }
        if let Some(bad) = q.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("`{}`: scale {bad} is not a positive finite number", t.name));
        }
        if q.scale.len() > 1 && Some(q.scale.len()) != channels {
            return Err(format!(
                "`{}`: {} scales, but per-channel quantization needs one per output channel ({})",
                t.name,
                q.scale.len(),
                channels.map_or_else(|| "none here".to_string(), |c| c.to_string())
            ));
        }
        if q.scale.len() > 1 && q.axis != 0 {
            return Err(format!(
                "`{}`: per-channel scales along axis {}, TFLite's kernels want the output channel (axis 0)",
                t.name, q.axis
            ));
        }
        if t.dtype == DType::I8 {
            if let Some(z) = q.zero_point.iter().find(|z| !(-128..=127).contains(*z)) {
                return Err(format!("`{}`: zero point {z} outside int8", t.name));
            }
        }
        Ok(())
    }

    fn push_tensor(&mut self, t: TflTensor) -> Result<i32, String> {
        let i = to_i32(self.model.tensors.len())?;
        self.model.tensors.push(t);
        Ok(i)
    }

    fn quant_of(q: &QuantParams, quantized_dimension: i32) -> (Vec<f32>, Vec<i64>, i32) {
        (q.scale.clone(), q.zero_point.iter().map(|&z| i64::from(z)).collect(), quantized_dimension)
    }

    /// The converted activation `i`, which an earlier operator (or the input) produced.
    fn act(&self, i: usize) -> Result<Act, String> {
        let t = self.tensor(i)?;
        if t.data.is_some() {
            return Err(format!("`{}` is a constant where an activation is expected", t.name));
        }
        self.acts.get(i).cloned().flatten().ok_or_else(|| format!("`{}` is read before any operator writes it", t.name))
    }

    /// Declares activation `i` with TFLite memory order `perm`, checking that its
    /// declared shape is `shape`.
    fn define(&mut self, i: usize, shape: &[usize], perm: Perm) -> Result<i32, String> {
        let t = self.tensor(i)?;
        if t.data.is_some() || t.dtype != DType::I8 {
            return Err(format!("`{}`: an operator's output must be an int8 activation", t.name));
        }
        if self.acts[i].is_some() {
            return Err(format!("`{}` is written twice", t.name));
        }
        if t.shape != shape {
            return Err(format!("`{}` is declared {:?}, but the operator yields {:?}", t.name, t.shape, shape));
        }
        if shape.contains(&0) {
            return Err(format!("`{}` has an empty dimension: {shape:?}", t.name));
        }
        numel(shape)?;
        Self::check_quant(t, None)?;
        let (scale, zero_point, qd) = Self::quant_of(&t.quant, 0);
        let tfl = self.push_tensor(TflTensor {
            name: t.name.clone(),
            shape: tfl_shape(shape)?,
            ty: tensor_type::INT8,
            data: None,
            scale,
            zero_point,
            quantized_dimension: qd,
        })?;
        self.acts[i] = Some(Act { tfl, shape: shape.to_vec(), perm });
        Ok(tfl)
    }

    /// A constant `i` checked to have `shape` and `dtype`, with its data.
    fn constant(&self, i: usize, shape: &[usize], dtype: DType) -> Result<(&'g Tensor, &'g Data), String> {
        let t = self.tensor(i)?;
        let data = t.data.as_ref().ok_or_else(|| format!("`{}` should be a constant but has no data", t.name))?;
        if t.shape != shape {
            return Err(format!("`{}` has shape {:?}, expected {:?}", t.name, t.shape, shape));
        }
        let len = match data {
            Data::I8(v) => v.len(),
            Data::I32(v) => v.len(),
        };
        let matches = matches!((data, dtype), (Data::I8(_), DType::I8) | (Data::I32(_), DType::I32));
        if t.dtype != dtype || !matches {
            return Err(format!("`{}` should hold {:?} values", t.name, dtype));
        }
        if len != numel(shape)? {
            return Err(format!("`{}` holds {len} values for shape {:?}", t.name, shape));
        }
        Ok((t, data))
    }

    /// A weight tensor reordered by `index` (TFLite's element `k` is the graph's
    /// `index(k)`), with TFLite shape `shape`.
    fn push_weight(
        &mut self,
        t: &Tensor,
        data: &[i8],
        shape: &[usize],
        quantized_dimension: i32,
        index: impl Fn(usize) -> usize,
    ) -> Result<i32, String> {
        let bytes: Vec<u8> = (0..data.len()).map(|k| data[index(k)] as u8).collect();
        let (scale, zero_point, qd) = Self::quant_of(&t.quant, quantized_dimension);
        if zero_point.iter().any(|&z| z != 0) {
            return Err(format!("`{}`: TFLite's int8 weights are symmetric (zero point 0)", t.name));
        }
        let shape = shape.iter().map(|&d| to_i32(d)).collect::<Result<_, _>>()?;
        self.push_tensor(TflTensor {
            name: t.name.clone(),
            shape,
            ty: tensor_type::INT8,
            data: Some(bytes),
            scale,
            zero_point,
            quantized_dimension: qd,
        })
    }

    fn push_bias(&mut self, i: usize, out: usize) -> Result<i32, String> {
        let (t, data) = self.constant(i, &[out], DType::I32)?;
        Self::check_quant(t, Some(out))?;
        let Data::I32(v) = data else {
            return Err(format!("`{}` should hold i32 values", t.name));
        };
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let (scale, zero_point, qd) = Self::quant_of(&t.quant, 0);
        self.push_tensor(TflTensor {
            name: t.name.clone(),
            shape: vec![to_i32(out)?],
            ty: tensor_type::INT32,
            data: Some(bytes),
            scale,
            zero_point,
            quantized_dimension: qd,
        })
    }

    fn op(&mut self, code: i32, version: i32, inputs: Vec<i32>, output: i32, options: Options) {
        self.model.ops.push(TflOp { code, version, inputs, outputs: vec![output], options });
    }

    fn image_input(&self, i: usize) -> Result<(Act, [usize; 3]), String> {
        let a = self.act(i)?;
        let name = &self.graph.tensors[i].name;
        let dims =
            chw(&a.shape).ok_or_else(|| format!("`{name}` has shape {:?}; expected [C, H, W] or [C, L]", a.shape))?;
        if a.perm != natural_perm(&a.shape) {
            return Err(format!(
                "`{name}` {:?} comes from a reshape that TFLite would hold in another order; \
                 a TRANSPOSE is not written by this exporter",
                a.shape
            ));
        }
        Ok((a, dims))
    }

    /// The output shape of an image operator, in the rank its input had.
    fn image_shape(like: &[usize], c: usize, hw: [usize; 2]) -> Vec<usize> {
        if like.len() == 2 {
            vec![c, hw[1]]
        } else {
            vec![c, hw[0], hw[1]]
        }
    }

    fn convert_op(&mut self, o: &Op) -> Result<(), String> {
        match o {
            Op::Linear { input, weight, bias, output, activation } => {
                let a = self.act(*input)?;
                let n_in = numel(&a.shape)?;
                let wt = self.tensor(*weight)?;
                let [n_out, w_in] = wt.shape[..] else {
                    return Err(format!("`{}`: linear weights must be [out, in], not {:?}", wt.name, wt.shape));
                };
                if w_in != n_in {
                    return Err(format!(
                        "`{}` is [{n_out}, {w_in}], but its input `{}` has {n_in} elements",
                        wt.name, self.graph.tensors[*input].name
                    ));
                }
                let (wt, data) = self.constant(*weight, &[n_out, n_in], DType::I8)?;
                Self::check_quant(wt, Some(n_out))?;
                let Data::I8(w) = data else { unreachable!("checked by constant") };
                // TFLite reads the input in its memory order: when that is channels last,
                // column `s * C + c` must hold the weight of monograd's `c * S + s`.
                let p = a.perm;
                let wi = self.push_weight(wt, w, &[n_out, n_in], 0, |k| {
                    let (row, col) = (k / n_in, k % n_in);
                    let src = match p {
                        Some((c, s)) => (col % c) * s + col / c,
                        None => col,
                    };
                    row * n_in + src
                })?;
                let bi = self.push_bias(*bias, n_out)?;
                let out = self.define(*output, &[n_out], None)?;
                let options = Options::FullyConnected { activation: fused(*activation) };
                self.op(op::FULLY_CONNECTED, 4, vec![a.tfl, wi, bi], out, options);
            }
            Op::Conv2d { input, weight, bias, output, stride, padding: pad, dilation, activation } => {
                let (a, [c, h, w]) = self.image_input(*input)?;
                let wt = self.tensor(*weight)?;
                let [co, ci, kh, kw] = wt.shape[..] else {
                    return Err(format!("`{}`: conv weights must be [out, in, kh, kw], not {:?}", wt.name, wt.shape));
                };
                if ci != c {
                    return Err(format!("`{}` expects {ci} input channels, its input has {c}", wt.name));
                }
                let (wt, data) = self.constant(*weight, &[co, ci, kh, kw], DType::I8)?;
                Self::check_quant(wt, Some(co))?;
                let Data::I8(wd) = data else { unreachable!("checked by constant") };
                check_geometry("kernel size", &[kh, kw], 1)?;
                check_geometry("stride", stride, 1)?;
                check_geometry("dilation", dilation, 1)?;
                check_geometry("padding", pad, 0)?;
                let eff = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1];
                let hw = window_out([h, w], eff, *stride, *pad)?;
                let padding = map_padding([h, w], eff, *stride, *pad).ok_or_else(|| {
                    format!("padding {pad:?} is neither TFLite's SAME nor VALID for this input, window and stride")
                })?;
                // OIHW -> OHWI.
                let wi = self.push_weight(wt, wd, &[co, kh, kw, ci], 0, |k| {
                    let (o, r) = (k / (kh * kw * ci), k % (kh * kw * ci));
                    let (y, r) = (r / (kw * ci), r % (kw * ci));
                    let (x, i) = (r / ci, r % ci);
                    ((o * ci + i) * kh + y) * kw + x
                })?;
                let bi = self.push_bias(*bias, co)?;
                let shape = Self::image_shape(&a.shape, co, hw);
                let out = self.define(*output, &shape, natural_perm(&shape))?;
                let options = Options::Conv {
                    padding,
                    stride: [to_i32(stride[0])?, to_i32(stride[1])?],
                    dilation: [to_i32(dilation[0])?, to_i32(dilation[1])?],
                    activation: fused(*activation),
                };
                self.op(op::CONV_2D, 3, vec![a.tfl, wi, bi], out, options);
            }
            Op::DepthwiseConv2d {
                input,
                weight,
                bias,
                output,
                multiplier,
                stride,
                padding: pad,
                dilation,
                activation,
            } => {
                let (a, [c, h, w]) = self.image_input(*input)?;
                let co = c.checked_mul(*multiplier).ok_or("depth multiplier overflows")?;
                let wt = self.tensor(*weight)?;
                let [wo, one, kh, kw] = wt.shape[..] else {
                    return Err(format!(
                        "`{}`: depthwise weights must be [channels * multiplier, 1, kh, kw], not {:?}",
                        wt.name, wt.shape
                    ));
                };
                if wo != co || one != 1 || *multiplier == 0 {
                    return Err(format!(
                        "`{}` is {:?}; {c} channels with multiplier {multiplier} need [{co}, 1, kh, kw]",
                        wt.name, wt.shape
                    ));
                }
                let (wt, data) = self.constant(*weight, &[co, 1, kh, kw], DType::I8)?;
                Self::check_quant(wt, Some(co))?;
                let Data::I8(wd) = data else { unreachable!("checked by constant") };
                check_geometry("kernel size", &[kh, kw], 1)?;
                check_geometry("stride", stride, 1)?;
                check_geometry("dilation", dilation, 1)?;
                check_geometry("padding", pad, 0)?;
                let eff = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1];
                let hw = window_out([h, w], eff, *stride, *pad)?;
                let padding = map_padding([h, w], eff, *stride, *pad).ok_or_else(|| {
                    format!("padding {pad:?} is neither TFLite's SAME nor VALID for this input, window and stride")
                })?;
                // [C*M, 1, KH, KW] -> [1, KH, KW, C*M]; per-channel scales run along the
                // last dimension, which TFLite's depthwise kernels read as channels.
                let wi = self.push_weight(wt, wd, &[1, kh, kw, co], 3, |k| {
                    let (y, r) = (k / (kw * co), k % (kw * co));
                    let (x, o) = (r / co, r % co);
                    (o * kh + y) * kw + x
                })?;
                let bi = self.push_bias(*bias, co)?;
                let shape = Self::image_shape(&a.shape, co, hw);
                let out = self.define(*output, &shape, natural_perm(&shape))?;
                let options = Options::Depthwise {
                    padding,
                    stride: [to_i32(stride[0])?, to_i32(stride[1])?],
                    dilation: [to_i32(dilation[0])?, to_i32(dilation[1])?],
                    multiplier: to_i32(*multiplier)?,
                    activation: fused(*activation),
                };
                self.op(op::DEPTHWISE_CONV_2D, 3, vec![a.tfl, wi, bi], out, options);
            }
            Op::MaxPool2d { input, output, window, stride, padding: pad }
            | Op::AvgPool2d { input, output, window, stride, padding: pad } => {
                let (a, [c, h, w]) = self.image_input(*input)?;
                check_geometry("window", window, 1)?;
                check_geometry("stride", stride, 1)?;
                check_geometry("padding", pad, 0)?;
                let hw = window_out([h, w], *window, *stride, *pad)?;
                let padding = map_padding([h, w], *window, *stride, *pad).ok_or_else(|| {
                    format!("padding {pad:?} is neither TFLite's SAME nor VALID for this input, window and stride")
                })?;
                // TFLite's int8 pooling neither rescales nor checks: the graph must not
                // ask for a rescale it would silently skip.
                let (ti, to) = (self.tensor(*input)?, self.tensor(*output)?);
                if ti.quant != to.quant {
                    return Err(format!(
                        "pooling `{}` -> `{}` changes quantization; TFLite's int8 pooling keeps it",
                        ti.name, to.name
                    ));
                }
                let shape = Self::image_shape(&a.shape, c, hw);
                let out = self.define(*output, &shape, natural_perm(&shape))?;
                let code = if matches!(o, Op::MaxPool2d { .. }) { op::MAX_POOL_2D } else { op::AVERAGE_POOL_2D };
                let options = Options::Pool {
                    padding,
                    stride: [to_i32(stride[0])?, to_i32(stride[1])?],
                    filter: [to_i32(window[0])?, to_i32(window[1])?],
                };
                self.op(code, 2, vec![a.tfl], out, options);
            }
            Op::Activation { input, output, kind } => {
                let a = self.act(*input)?;
                let code = match kind {
                    Activation::Relu => op::RELU,
                    Activation::Relu6 => op::RELU6,
                    Activation::None => {
                        return Err("a standalone activation of kind `None` has no TFLite operator".to_string())
                    }
                };
                let (ti, to) = (self.tensor(*input)?, self.tensor(*output)?);
                if *kind == Activation::Relu6 && ti.quant != to.quant {
                    return Err(format!(
                        "ReLU6 `{}` -> `{}` changes quantization; TFLite Micro's int8 RELU6 clamps in \
                         its input's and does not rescale (fuse it, or keep the quantization)",
                        ti.name, to.name
                    ));
                }
                let out = self.define(*output, &a.shape, a.perm)?;
                self.op(code, 2, vec![a.tfl], out, Options::None);
            }
            Op::Reshape { input, output } => {
                let a = self.act(*input)?;
                let t = self.tensor(*output)?;
                let (n_in, n_out) = (numel(&a.shape)?, numel(&t.shape)?);
                if n_in != n_out {
                    return Err(format!(
                        "reshape of {:?} ({n_in} elements) into `{}` {:?} ({n_out} elements)",
                        a.shape, t.name, t.shape
                    ));
                }
                let (ti, shape) = (self.tensor(*input)?, t.shape.clone());
                if ti.quant != t.quant {
                    return Err(format!("reshape `{}` -> `{}` changes quantization", ti.name, t.name));
                }
                // The elements stay where they are: a channels-last input stays in that
                // order (the next linear layer permutes its columns), and an image output
                // must already be in its own channels-last order.
                let natural = natural_perm(&shape);
                if shape.len() > 1 && natural != a.perm {
                    return Err(format!(
                        "reshape of {:?} into `{}` {:?} reorders channels-last data; \
                         a TRANSPOSE is not written by this exporter",
                        a.shape, t.name, shape
                    ));
                }
                let out = self.define(*output, &shape, a.perm)?;
                let new_shape = self.model.tensors[out as usize].shape.clone();
                self.op(op::RESHAPE, 1, vec![a.tfl], out, Options::Reshape { new_shape });
            }
            Op::Add { a, b, output, activation } => {
                let (x, y) = (self.act(*a)?, self.act(*b)?);
                if x.shape != y.shape || x.perm != y.perm {
                    return Err(format!(
                        "add of {:?} and {:?}: shapes (and their memory order) must agree, \
                         no broadcasting",
                        x.shape, y.shape
                    ));
                }
                let out = self.define(*output, &x.shape, x.perm)?;
                let options = Options::Add { activation: fused(*activation) };
                self.op(op::ADD, 2, vec![x.tfl, y.tfl], out, options);
            }
            Op::Concat { inputs, output, axis } => {
                let first = inputs.first().ok_or("concatenation of nothing")?;
                let a0 = self.act(*first)?;
                let rank = a0.shape.len();
                if *axis >= rank {
                    return Err(format!("axis {axis} of a rank-{rank} shape"));
                }
                let t_out = self.tensor(*output)?;
                let mut shape = a0.shape.clone();
                shape[*axis] = 0;
                let mut tfl_inputs = Vec::with_capacity(inputs.len());
                for &i in inputs {
                    let x = self.act(i)?;
                    let ti = self.tensor(i)?;
                    let same_rest = x.shape.len() == rank && (0..rank).all(|d| d == *axis || x.shape[d] == a0.shape[d]);
                    if !same_rest {
                        return Err(format!("concatenation along {axis} of {:?} and {:?}", a0.shape, x.shape));
                    }
                    if x.perm != natural_perm(&x.shape) {
                        return Err(format!(
                            "`{}` comes from a reshape TFLite holds in another order; \
                             a TRANSPOSE is not written by this exporter",
                            ti.name
                        ));
                    }
                    shape[*axis] = shape[*axis].checked_add(x.shape[*axis]).ok_or("concatenation too long")?;
                    // TFLite's int8 CONCATENATION copies bytes (it refuses inputs quantized
                    // unlike its output): an input that needs rescaling goes through a
                    // QUANTIZE from int8 to int8 first, TFLite's requantization.
                    if ti.quant == t_out.quant {
                        tfl_inputs.push(x.tfl);
                        continue;
                    }
                    Self::check_quant(ti, None)?;
                    let (scale, zero_point, qd) = Self::quant_of(&t_out.quant, 0);
                    let requantized = self.push_tensor(TflTensor {
                        name: format!("{}/requantized", ti.name),
                        shape: tfl_shape(&x.shape)?,
                        ty: tensor_type::INT8,
                        data: None,
                        scale,
                        zero_point,
                        quantized_dimension: qd,
                    })?;
                    self.op(op::QUANTIZE, 1, vec![x.tfl], requantized, Options::None);
                    tfl_inputs.push(requantized);
                }
                // The axis in TFLite's layout: [1, N], [1, 1, L, C], [1, H, W, C].
                let tfl_axis = match (rank, axis) {
                    (1, 0) => 1,
                    (2, 0) | (3, 0) => 3,
                    (2, 1) => 2,
                    (3, a) => *a as i32,
                    _ => return Err(format!("axis {axis} of a rank-{rank} shape")),
                };
                let out = self.define(*output, &shape, natural_perm(&shape))?;
                self.op(op::CONCATENATION, 2, tfl_inputs, out, Options::Concat { axis: tfl_axis });
            }
        }
        Ok(())
    }
}

fn op_name(graph: &Graph, o: &Op) -> String {
    let out = match o {
        Op::Linear { output, .. }
        | Op::Conv2d { output, .. }
        | Op::DepthwiseConv2d { output, .. }
        | Op::MaxPool2d { output, .. }
        | Op::AvgPool2d { output, .. }
        | Op::Activation { output, .. }
        | Op::Reshape { output, .. }
        | Op::Add { output, .. }
        | Op::Concat { output, .. } => *output,
    };
    graph.tensors.get(out).map_or_else(String::new, |t| t.name.clone())
}

/// Converts `graph` operator by operator.
pub(crate) fn convert(graph: &Graph) -> Result<TflModel, Error> {
    let mut cv = Converter { graph, model: TflModel::default(), acts: vec![None; graph.tensors.len()] };
    let whole = |message: String| Error { op: None, message };
    for &i in &graph.inputs {
        let t = cv.tensor(i).map_err(whole)?;
        let shape = t.shape.clone();
        let tfl = cv.define(i, &shape, natural_perm(&shape)).map_err(whole)?;
        cv.model.inputs.push(tfl);
    }
    if graph.inputs.is_empty() || graph.outputs.is_empty() {
        return Err(whole("the graph needs at least one input and one output".to_string()));
    }
    for (k, o) in graph.ops.iter().enumerate() {
        cv.convert_op(o).map_err(|message| Error { op: Some((k, op_name(graph, o))), message })?;
    }
    for &i in &graph.outputs {
        let a = cv.act(i).map_err(whole)?;
        if a.shape.len() == 1 && a.perm.is_some() {
            return Err(whole(format!(
                "the output `{}` is a flattened channels-first image, which TFLite holds in \
                 channels-last order",
                graph.tensors[i].name
            )));
        }
        cv.model.outputs.push(a.tfl);
    }
    Ok(cv.model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_maps_to_same_only_where_it_agrees() {
        // 3x3, stride 1, pad 1: SAME.
        assert_eq!(map_padding([28, 28], [3, 3], [1, 1], [1, 1]), Some(padding::SAME));
        // 5x5, pad 2: SAME.
        assert_eq!(map_padding([14, 14], [5, 5], [1, 1], [2, 2]), Some(padding::SAME));
        // No padding: VALID.
        assert_eq!(map_padding([28, 28], [5, 5], [1, 1], [0, 0]), Some(padding::VALID));
        // 3x3 stride 2 pad 1 on an even input: SAME pads 0 before, 1 after.
        assert_eq!(map_padding([28, 28], [3, 3], [2, 2], [1, 1]), None);
        // ... but on an odd input SAME pads 1 and 1.
        assert_eq!(map_padding([27, 27], [3, 3], [2, 2], [1, 1]), Some(padding::SAME));
        // Too much padding.
        assert_eq!(map_padding([8, 8], [3, 3], [1, 1], [2, 2]), None);
    }
}
