//! int8 twins as safetensors files, and built from one by the compiler:
//! `twin.to_safetensors()` on the host, `include_weights!(NetI8, "net_int8.safetensors")`
//! in firmware (no heap, no run-time work: the twin is a constant in flash).
//!
//! The file holds what a `.tflite` file holds for the same model, by name:
//!
//! | tensor | dtype, shape | what |
//! | --- | --- | --- |
//! | `L.weight` | `I8`, the float layer's (`[6, 1, 5, 5]`) | filters |
//! | `L.bias` | `I32 [O]` (absent for a layer without one) | biases at scale `s_in · s_w` |
//! | `L.weight_scale` | `F32 [O]` per channel, `F32 []` per tensor | the filters' scales |
//! | `L.input.scale`, `L.input.zero_point` | `F32 []`, `I32 []` | the layer's input quantization |
//! | `L.output.scale`, `L.output.zero_point` | `F32 []`, `I32 []` | its output's |
//! | `input.*`, `output.*` | as above | the twin's input and output quantization |
//!
//! for every layer `L` with filters (`Linear`, convolutions; a separable convolution is
//! `L.depthwise.*` and `L.pointwise.*`), and `L.input.*`, `L.output.*` for a standalone
//! ReLU or a concatenation (`L.inputs.0.*`, `L.inputs.1.*`). The rescaling factors
//! (multipliers and shifts, clamps) are not in the file: embedding derives them from the
//! scales with the functions quantizing uses (`Multiplier::new`, `Fused::stage`, all
//! `const fn`), so an embedded twin equals the quantized one field for field. Networks
//! with `Add` have no embedding yet (its parameters are not derived in constant
//! evaluation).

use monograd_core::embed::{ints, param, shape_of, Embedded, Field, Index, Place, Report};

use crate::math::Multiplier;
use crate::params::{per_channel_multiplier, per_tensor_multiplier, requantize_params, Fused, QParams};
use crate::twin::{QActivation, QConcat, QDense, QSeparable};

/// The field names of the file's tensors, as [`Place`] segments. Not public API: what
/// the code `#[quantize(..)]` generates names.
#[doc(hidden)]
pub mod names {
    macro_rules! names {
        ($($ty:ident = $name:literal;)*) => {$(
            #[doc = concat!("`", $name, "`")]
            pub struct $ty;
            impl monograd_core::embed::FieldName for $ty {
                const NAME: &'static str = $name;
            }
        )*};
    }
    names! {
        Input = "input";
        Output = "output";
        Inputs = "inputs";
        Depthwise = "depthwise";
        Pointwise = "pointwise";
    }
}

impl QParams {
    /// The quantization at `P` of an embedded file: `scale` (`F32 []`) and `zero_point`
    /// (`I32 []`).
    pub const fn embedded<P: Place>() -> Embedded<QParams> {
        let scale = param::<P, f32>("scale", &[]);
        let zero_point = ints::<P, i32>("zero_point", &[]);
        let report = scale.report.merge(&zero_point.report);
        Embedded::new(QParams { scale: scale.value(), zero_point: zero_point.value() }, report)
    }
}

impl<const O: usize, const N: usize> QDense<O, N> {
    /// The layer with filters at `P` of an embedded file (see the module's table), its
    /// float layer's weight of `shape`, with a bias or not, and its fused clamp; the
    /// multipliers and the output stage derived as [`QDense::from_f32`] derives them.
    pub const fn embedded<P: Place>(shape: &[usize], has_bias: bool, activation: Fused) -> Embedded<Self> {
        let weight = ints::<P, [[i8; N]; O]>("weight", shape);
        let mut report = weight.report;
        let bias = if has_bias {
            let b = ints::<P, [i32; O]>("bias", &[O]);
            report = report.merge(&b.report);
            b.value()
        } else {
            [0; O]
        };
        let input = QParams::embedded::<Field<P, names::Input>>();
        let output = QParams::embedded::<Field<P, names::Output>>();
        report = report.merge(&input.report).merge(&output.report);
        let (input, output) = (input.value(), output.value());
        // One scale for the tensor (a scalar) or one per output channel.
        let per_channel = !matches!(shape_of::<P>("weight_scale"), Some(&[]));
        let weight_scale = if per_channel {
            let s = param::<P, [f32; O]>("weight_scale", &[O]);
            report = report.merge(&s.report);
            s.value()
        } else {
            let s = param::<P, f32>("weight_scale", &[]);
            report = report.merge(&s.report);
            [s.value(); O]
        };
        let mut multiplier = [Multiplier { multiplier: 0, shift: 0 }; O];
        let mut o = 0;
        while o < O {
            let real = if per_channel {
                per_channel_multiplier(input.scale, weight_scale[o], output.scale)
            } else {
                per_tensor_multiplier(input.scale, weight_scale[o], output.scale)
            };
            // What `from_f32` refuses: a factor TFLite's kernels cannot take.
            if !(real > 0.0 && real < 128.0) {
                report.add(P::NAME.as_str(), "the scales give a rescaling factor outside (0, 128)");
                break;
            }
            multiplier[o] = Multiplier::new(real);
            o += 1;
        }
        let value = QDense {
            weight: weight.value(),
            bias,
            has_bias,
            weight_scale,
            per_channel,
            multiplier,
            input,
            output,
            activation,
            stage: activation.stage(output),
        };
        Embedded::new(value, report)
    }
}

impl<const C: usize, const KK: usize, const CO: usize> QSeparable<C, KK, CO> {
    /// The separable convolution at `P`: `depthwise.*` (its weight `[C, 1, k, k]`) and
    /// `pointwise.*` (`[CO, C, 1, 1]`), the clamp on the pointwise output.
    pub const fn embedded<P: Place>(k: usize, activation: Fused) -> Embedded<Self> {
        let depthwise = QDense::embedded::<Field<P, names::Depthwise>>(&[C, 1, k, k], true, Fused::None);
        let pointwise = QDense::embedded::<Field<P, names::Pointwise>>(&[CO, C, 1, 1], true, activation);
        let report = depthwise.report.merge(&pointwise.report);
        Embedded::new(QSeparable { depthwise: depthwise.value(), pointwise: pointwise.value() }, report)
    }
}

impl QActivation {
    /// The standalone ReLU at `P`: `input.*` and `output.*`.
    pub const fn embedded<P: Place>(kind: Fused) -> Embedded<Self> {
        let input = QParams::embedded::<Field<P, names::Input>>();
        let output = QParams::embedded::<Field<P, names::Output>>();
        let report = input.report.merge(&output.report);
        let (input, output) = (input.value(), output.value());
        Embedded::new(QActivation { input, output, kind, params: requantize_params(input, output, kind) }, report)
    }
}

impl QConcat {
    /// The concatenation at `P`: `inputs.0.*`, `inputs.1.*` and `output.*`.
    pub const fn embedded<P: Place>() -> Embedded<Self> {
        let a = QParams::embedded::<Index<Field<P, names::Inputs>, 0>>();
        let b = QParams::embedded::<Index<Field<P, names::Inputs>, 1>>();
        let output = QParams::embedded::<Field<P, names::Output>>();
        let report = a.report.merge(&b.report).merge(&output.report);
        let (a, b, output) = (a.value(), b.value(), output.value());
        Embedded::new(
            QConcat {
                inputs: [a, b],
                output,
                rescale: [requantize_params(a, output, Fused::None), requantize_params(b, output, Fused::None)],
            },
            report,
        )
    }
}

/// Merges `part`'s report into `report` and returns its value: what generated `Embed`
/// impls do for each field.
#[doc(hidden)]
pub const fn take<T>(report: &mut Report, part: Embedded<T>) -> T {
    *report = report.merge(&part.report);
    part.value()
}

#[cfg(feature = "alloc")]
pub use writer::{safetensors, Tensors};

#[cfg(feature = "alloc")]
mod writer {
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt::Write as _;

    use crate::params::QParams;
    use crate::twin::{QActivation, QConcat, QDense, QSeparable};

    /// The tensors of a twin's file, as they are collected: name, dtype (`"I8"`, `"I32"`,
    /// `"F32"`), shape, little-endian bytes.
    #[derive(Default, Debug)]
    pub struct Tensors(pub Vec<(String, &'static str, Vec<usize>, Vec<u8>)>);

    impl Tensors {
        fn push(&mut self, name: String, dtype: &'static str, shape: &[usize], bytes: Vec<u8>) {
            self.0.push((name, dtype, shape.to_vec(), bytes));
        }

        /// A quantization under `name` (`name.scale`, `name.zero_point`).
        pub fn params(&mut self, name: &str, q: QParams) {
            self.push(alloc::format!("{name}.scale"), "F32", &[], q.scale.to_le_bytes().to_vec());
            self.push(alloc::format!("{name}.zero_point"), "I32", &[], q.zero_point.to_le_bytes().to_vec());
        }

        /// A layer with filters under `name`, its weight of `shape` (the float layer's).
        pub fn dense<const O: usize, const N: usize>(&mut self, name: &str, shape: &[usize], d: &QDense<O, N>) {
            let w = d.weight.as_flattened().iter().map(|&v| v as u8).collect();
            self.push(alloc::format!("{name}.weight"), "I8", shape, w);
            if d.has_bias {
                let b = d.bias.iter().flat_map(|v| v.to_le_bytes()).collect();
                self.push(alloc::format!("{name}.bias"), "I32", &[O], b);
            }
            let (scales, shape): (&[f32], &[usize]) =
                if d.per_channel { (&d.weight_scale, &[O]) } else { (&d.weight_scale[..1], &[]) };
            let s = scales.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.push(alloc::format!("{name}.weight_scale"), "F32", shape, s);
            self.params(&alloc::format!("{name}.input"), d.input);
            self.params(&alloc::format!("{name}.output"), d.output);
        }

        /// A separable convolution under `name` with `k x k` filters.
        pub fn separable<const C: usize, const KK: usize, const CO: usize>(
            &mut self,
            name: &str,
            k: usize,
            s: &QSeparable<C, KK, CO>,
        ) {
            self.dense(&alloc::format!("{name}.depthwise"), &[C, 1, k, k], &s.depthwise);
            self.dense(&alloc::format!("{name}.pointwise"), &[CO, C, 1, 1], &s.pointwise);
        }

        /// A standalone ReLU under `name`.
        pub fn activation(&mut self, name: &str, a: &QActivation) {
            self.params(&alloc::format!("{name}.input"), a.input);
            self.params(&alloc::format!("{name}.output"), a.output);
        }

        /// A concatenation under `name`.
        pub fn concat(&mut self, name: &str, c: &QConcat) {
            self.params(&alloc::format!("{name}.inputs.0"), c.inputs[0]);
            self.params(&alloc::format!("{name}.inputs.1"), c.inputs[1]);
            self.params(&alloc::format!("{name}.output"), c.output);
        }
    }

    /// A safetensors file of `tensors`: the header (names sorted, padded with spaces to
    /// 8 bytes), then the data in the header's order.
    pub fn safetensors(mut tensors: Tensors) -> Vec<u8> {
        tensors.0.sort_by(|a, b| a.0.cmp(&b.0));
        let mut header = String::from("{\"__metadata__\":{\"format\":\"monograd-int8\"}");
        let mut at = 0;
        for (name, dtype, shape, bytes) in &tensors.0 {
            let dims: Vec<String> = shape.iter().map(|d| alloc::format!("{d}")).collect();
            let _ = write!(
                header,
                ",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{at},{}]}}",
                dims.join(","),
                at + bytes.len()
            );
            at += bytes.len();
        }
        header.push('}');
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        for (_, _, _, bytes) in &tensors.0 {
            out.extend_from_slice(bytes);
        }
        out
    }
}
