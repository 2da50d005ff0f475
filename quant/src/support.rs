//! What the code `#[quantize(Twin)]` generates calls: running float layers while
//! calibrating, and reading a float layer's tensors by name. Not public API.

use alloc::string::ToString;
use alloc::vec;
pub use alloc::vec::Vec;

use monograd_core::kernels::gemm::PACK_LEN;
use monograd_core::module::{Ctx, Layer, Merge, Module, Path};
use monograd_core::Shape;

use crate::error::QuantError;

/// `n` zeros.
pub fn zeros(n: usize) -> Vec<f32> {
    vec![0.0; n]
}

/// A float layer's inference on a batch, with packing memory grown to what it wants (so
/// that convolutions take their fast path).
pub fn run<L, I, O>(layer: &L, x: &[f32], y: &mut [f32], pack: &mut Vec<f32>)
where
    L: Layer<f32, I, O>,
    I: Shape,
    O: Shape,
{
    let need = <L as Layer<f32, I, O>>::SCRATCH + PACK_LEN;
    if pack.len() < need {
        pack.resize(need, 0.0);
    }
    layer.forward(x, y, &mut Ctx::new(pack));
}

/// A float merge (`Add`, `Concat`) on a batch.
pub fn run_merge<L, A, B, O>(layer: &L, a: &[f32], b: &[f32], y: &mut [f32])
where
    L: Merge<f32, A, B, O>,
    A: Shape,
    B: Shape,
    O: Shape,
{
    layer.forward(a, b, y);
}

/// The values of the tensor `name` (`weight`, `bias`) of a float layer.
pub fn tensor<M: Module<f32>>(what: &'static str, layer: &M, name: &str) -> Result<Vec<f32>, QuantError> {
    let mut found = None;
    layer.visit(&Path::ROOT, &mut |t| {
        if t.path.to_string() == name {
            found = Some(t.values.to_vec());
        }
    });
    found.ok_or(QuantError::Missing { what })
}

/// `[a, b]` as a `Vec` (for code that may not name `alloc`).
pub fn pair(a: usize, b: usize) -> Vec<usize> {
    vec![a, b]
}
