//! The sparse format against the dense layer: `Linear<784, 256>` forward (the MLP's first
//! layer) pruned by magnitude to 50, 80, 90 and 95%, run dense (the GEMM every `Linear`
//! uses) and in compressed rows (`SparseLinear` with `u16` indices), at batch 1, 8 and 32.
//! Dense and sparse are timed in the same run with their repeats interleaved, so that the
//! load of a shared machine falls on both alike. Results: docs/PRUNING.md.
//!
//! Run: `cargo bench --bench prune` (a name filter as first argument: `prune b1`).

mod common;

use monograd::core::kernels::gemm::PACK_LEN;
use monograd::nn::prune::{Mask, Pruning, SparseLinear};
use monograd::prelude::*;

const IN: usize = 784;
const OUT: usize = 256;

fn main() {
    let mut pack = vec![0.0f32; PACK_LEN];
    for batch in [1usize, 8, 32] {
        let x = common::uniform(batch * IN, 1);
        let mut y = vec![0.0f32; batch * OUT];
        let mut ys = vec![0.0f32; batch * OUT];
        for sparsity in [0.5, 0.8, 0.9, 0.95] {
            let name = format!("linear_784x256_b{batch}_s{}", (sparsity * 100.0) as u32);
            if !common::selected(&name) {
                continue;
            }
            let mut fc = Linear::<IN, OUT>::new(&mut Rng::seed(0));
            let mut mask = Mask::new();
            mask.prune(&fc, &Pruning::per_layer(), sparsity).expect("a sparsity in range");
            mask.apply(&mut fc).expect("a mask of the layer's size");
            let sparse = SparseLinear::<f32, u16>::from_linear(&fc).expect("784 inputs fit u16");
            let mut scratch = vec![0.0f32; sparse.scratch_len()];
            let times = common::measure_interleaved(&mut [
                &mut || fc.forward(&x, &mut y, &mut Ctx::new(&mut pack)),
                &mut || sparse.forward(&x, &mut ys, &mut scratch).expect("shapes fit"),
            ]);
            let (dense, sparse_t) = (times[0].0, times[1].0);
            common::report(
                "monograd",
                &name,
                &[
                    ("batch", &batch),
                    ("sparsity", &sparsity),
                    ("nnz", &sparse.nnz()),
                    ("dense_us", &common::micros(dense)),
                    ("sparse_us", &common::micros(sparse_t)),
                    ("speedup", &common::fixed1(dense / sparse_t)),
                    ("sparse_bytes", &sparse.bytes()),
                    ("dense_bytes", &(4 * (IN * OUT + OUT))),
                ],
            );
        }
    }
}
