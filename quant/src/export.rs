//! Building a [`Graph`] from a quantized twin: tensors named as PyTorch names parameters
//! (`conv1.weight`), activations named after their node.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::graph::{Activation, DType, Data, Graph, QuantParams, Tensor};
use crate::params::{Fused, QParams};
use crate::twin::QDense;

impl From<Fused> for Activation {
    fn from(f: Fused) -> Self {
        match f {
            Fused::None => Activation::None,
            Fused::Relu => Activation::Relu,
            Fused::Relu6 => Activation::Relu6,
        }
    }
}

impl From<QParams> for QuantParams {
    fn from(q: QParams) -> Self {
        QuantParams { scale: vec![q.scale], zero_point: vec![q.zero_point], axis: 0 }
    }
}

impl Graph {
    /// Adds a tensor; returns its index.
    pub fn push(&mut self, t: Tensor) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// Adds an `i8` activation of per-sample `shape`; returns its index.
    pub fn push_activation(&mut self, name: &str, shape: &[usize], q: QParams) -> usize {
        self.push(Tensor {
            name: String::from(name),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: q.into(),
            data: None,
        })
    }

    /// The index of the tensor named `name`, if any.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.tensors.iter().position(|t| t.name == name)
    }
}

impl<const O: usize, const N: usize> QDense<O, N> {
    /// Adds the weight (`name.weight`, of `shape`, PyTorch's layout) and the bias
    /// (`name.bias`, zeros for a layer without one, as TFLite wants a bias for `i8`
    /// kernels); returns their indices.
    pub fn export_tensors(&self, g: &mut Graph, name: &str, shape: &[usize]) -> (usize, usize) {
        let scales: Vec<f32> = if self.per_channel { self.weight_scale.to_vec() } else { vec![self.weight_scale[0]] };
        let zeros = vec![0; scales.len()];
        let weight = g.push(Tensor {
            name: alloc::format!("{name}.weight"),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: QuantParams { scale: scales.clone(), zero_point: zeros.clone(), axis: 0 },
            data: Some(Data::I8(self.weight.as_flattened().to_vec())),
        });
        // TFLite's bias scale: s_in · s_w, as an f32 product.
        let bias_scales = scales.iter().map(|s| self.input.scale * s).collect();
        let bias = g.push(Tensor {
            name: alloc::format!("{name}.bias"),
            shape: vec![O],
            dtype: DType::I32,
            quant: QuantParams { scale: bias_scales, zero_point: zeros, axis: 0 },
            data: Some(Data::I32(self.bias.to_vec())),
        });
        (weight, bias)
    }
}
