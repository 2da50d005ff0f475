//! The sparse format computes what the dense layer computes, for every batch size and
//! both index types, and refuses what does not fit.

use monograd::core::ops::unary::Relu;
use monograd::nn::prune::{Mask, PruneError, Pruning, SparseLinear};
use monograd::prelude::*;

const IN: usize = 37;
const OUT: usize = 19;

fn pruned(sparsity: f64, seed: u64) -> Linear<IN, OUT> {
    let mut fc = Linear::<IN, OUT>::new(&mut Rng::seed(seed));
    let mut mask = Mask::new();
    mask.prune(&fc, &Pruning::per_layer(), sparsity).unwrap();
    mask.apply(&mut fc).unwrap();
    fc
}

fn dense(fc: &Linear<IN, OUT>, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len() / IN * OUT];
    let mut pack = vec![0.0; PACK_LEN];
    fc.forward(x, &mut y, &mut Ctx::new(&mut pack));
    y
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (a, b)) in a.iter().zip(b).enumerate() {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}: [{i}] sparse {a} dense {b}");
    }
}

#[test]
fn sparse_equals_dense_for_every_batch_and_sparsity() {
    for (k, sparsity) in [0.0, 0.5, 0.9, 0.95, 1.0].into_iter().enumerate() {
        let fc = pruned(sparsity, k as u64);
        let a = SparseLinear::<f32, u16>::from_linear(&fc).unwrap();
        let b = SparseLinear::<f32, u32>::from_linear(&fc).unwrap();
        assert_eq!(a.nnz(), fc.weight.as_flattened().iter().filter(|w| **w != 0.0).count());
        assert_eq!(a.to_dense(), fc.weight.as_flattened());
        let mut scratch = vec![0.0; a.scratch_len()];
        for batch in [1, 2, 3, 7, 8, 9, 16, 17, 33] {
            let mut rng = Rng::seed(100 + batch as u64);
            let x: Vec<f32> = (0..batch * IN).map(|_| rng.uniform(-2.0, 2.0) as f32).collect();
            let want = dense(&fc, &x);
            let what = format!("sparsity {sparsity} batch {batch}");
            let mut y = vec![f32::NAN; batch * OUT];
            a.forward(&x, &mut y, &mut scratch).unwrap();
            close(&y, &want, &what);
            // No scratch: the one-sample kernel for every sample.
            let mut y1 = vec![f32::NAN; batch * OUT];
            b.forward(&x, &mut y1, &mut []).unwrap();
            close(&y1, &want, &what);
            // Fused with ReLU.
            let mut yr = vec![f32::NAN; batch * OUT];
            a.forward_act(&x, &mut yr, Relu, &mut scratch).unwrap();
            let relu: Vec<f32> = want.iter().map(|v| v.max(0.0)).collect();
            close(&yr, &relu, &what);
        }
    }
}

#[test]
fn the_format_is_compact_at_high_sparsity() {
    let fc = pruned(0.9, 1);
    let s = SparseLinear::<f32, u16>::from_linear(&fc).unwrap();
    let nnz = (0.1f64 * (IN * OUT) as f64).round() as usize;
    assert_eq!(s.nnz(), nnz);
    assert_eq!(s.bytes(), nnz * 6 + (OUT + 1) * 4 + OUT * 4);
    assert!(s.bytes() < 4 * (IN * OUT + OUT) / 3);
    assert!((s.density() - nnz as f64 / (IN * OUT) as f64).abs() < 1e-12);
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    let fc = pruned(0.5, 2);
    let s = SparseLinear::<f32, u16>::from_linear(&fc).unwrap();
    let x = vec![0.0; IN + 1];
    assert!(matches!(s.forward(&x, &mut [0.0; OUT], &mut []), Err(ShapeError::NotWholeSamples { .. })));
    let x = vec![0.0; 2 * IN];
    assert!(matches!(s.forward(&x, &mut [0.0; OUT], &mut []), Err(ShapeError::Length { .. })));
    let e = SparseLinear::<f32, u16>::from_dense("fc9", &[0.0; 5], None, 2, 3).unwrap_err();
    assert_eq!(e.to_string(), "`fc9`: the weight holds 5 values, but 2 outputs of 3 inputs need 6");
    let e = SparseLinear::<f32, u16>::from_dense("wide", &vec![0.0; 70_000], None, 1, 70_000).unwrap_err();
    assert!(matches!(&e, PruneError::Layer { layer, .. } if layer == "wide"), "{e}");
    assert!(e.to_string().contains("use u32 indices"), "{e}");
    assert!(SparseLinear::<f32, u32>::from_dense("wide", &vec![0.0; 70_000], None, 1, 70_000).is_ok());
    // A layer of no inputs outputs its bias.
    let s = SparseLinear::<f32, u16>::from_dense("empty", &[], Some(&[1.5, -2.0]), 2, 0).unwrap();
    let mut y = [0.0; 4];
    s.forward(&[], &mut y[..2], &mut []).unwrap();
    assert_eq!(y[..2], [1.5, -2.0]);
}
