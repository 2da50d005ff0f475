//! A dense layer's training pass: `Linear<784, 256>` forward and backward (input gradient,
//! weight and bias gradients) at batch 64, through the `Layer` trait as generated networks
//! call it; and the profile of W2 at batch 64 (`w2_profile`): each of its three products
//! by CPU time, with the weights as the layer reads them (`Wᵀ`, rows along `k`, packed
//! through transposes) and pre-transposed (`[in, out]`, packed by plain copies), and the
//! bare square GEMM for the kernel's peak. Run pinned to one core:
//! `taskset -c 0 cargo bench --bench linear`.
//! Results and the machine: docs/BENCHMARKS.md.

mod common;

use monograd::core::kernels::gemm::PACK_LEN;
use monograd::prelude::*;

const BATCH: usize = 64;
const IN: usize = 784;
const OUT: usize = 256;

fn main() {
    let fc = Linear::<IN, OUT>::new(&mut Rng::seed(0));
    let mut grad = Linear::<IN, OUT>::default();
    let x = common::uniform(BATCH * IN, 1);
    let dy = common::uniform(BATCH * OUT, 2);
    let (mut y, mut dx) = (vec![0.0f32; BATCH * OUT], vec![0.0f32; BATCH * IN]);
    let mut pack = vec![0.0f32; PACK_LEN];
    // Three GEMMs of 2 * batch * in * out flops each: y, dx and dW.
    let macs = (BATCH * IN * OUT) as f64;

    if common::selected("linear_fwd_b64") {
        let (secs, iters, reps) = common::measure(|| fc.forward(&x, &mut y, &mut Ctx::new(&mut pack)));
        report("linear_784x256_fwd_b64", secs, 2.0 * macs, iters, reps);
    }
    if common::selected("linear_fwd_bwd_b64") {
        let (secs, iters, reps) = common::measure(|| {
            let mut ctx = Ctx::new(&mut pack);
            fc.forward(&x, &mut y, &mut ctx);
            dx.fill(0.0);
            fc.backward(&x, &y, &(), &dy, Some(&mut dx), &mut grad, &mut ctx);
        });
        report("linear_784x256_fwd_bwd_b64", secs, 6.0 * macs, iters, reps);
    }
    if common::selected("w2_profile") {
        w2_profile();
    }
}

/// W2's products at batch 64 by CPU time (median of the interleaved repeats), GFLOP/s.
fn w2_profile() {
    use monograd::core::kernels::gemm::{gemm, MatMut, MatRef};
    let mut pack = vec![0.0f32; PACK_LEN];
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (k, n) in [(784usize, 256usize), (256, 128), (128, 10)] {
        let x = common::uniform(BATCH * k, 1);
        let w = common::uniform(n * k, 2); // [out, in], as Linear keeps it
        let wt: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect(); // [in, out]
        let (mut y1, mut y2) = (vec![0.0f32; BATCH * n], vec![0.0f32; BATCH * n]);
        let (mut p1, mut p2) = (pack.clone(), pack.clone());
        let mut as_layer = || {
            let (xv, wv) = (MatRef::row_major(&x, BATCH, k).unwrap(), MatRef::row_major(&w, n, k).unwrap());
            gemm(1.0, xv, wv.t(), 0.0, MatMut::row_major(&mut y1, BATCH, n).unwrap(), &mut p1).unwrap();
        };
        let mut pre_transposed = || {
            let (xv, wv) = (MatRef::row_major(&x, BATCH, k).unwrap(), MatRef::row_major(&wt, k, n).unwrap());
            gemm(1.0, xv, wv, 0.0, MatMut::row_major(&mut y2, BATCH, n).unwrap(), &mut p2).unwrap();
        };
        let t = common::interleaved_times(&mut [&mut as_layer, &mut pre_transposed]);
        let flops = 2.0 * (BATCH * k * n) as f64;
        for (what, t) in ["w_transposed", "w_pre_transposed"].iter().zip(&t) {
            let cpu = median(&t.cpu);
            common::report(
                "monograd",
                &format!("w2_b64_gemm_{k}x{n}_{what}"),
                &[
                    ("cpu_us_per_call", &common::micros(cpu)),
                    ("gflops_cpu", &common::fixed1(common::gflops(flops, cpu))),
                ],
            );
        }
    }
    let n = 512;
    let (a, b) = (common::uniform(n * n, 3), common::uniform(n * n, 4));
    let mut c = vec![0.0f32; n * n];
    let mut square = || {
        let (av, bv) = (MatRef::row_major(&a, n, n).unwrap(), MatRef::row_major(&b, n, n).unwrap());
        gemm(1.0, av, bv, 0.0, MatMut::row_major(&mut c, n, n).unwrap(), &mut pack).unwrap();
    };
    let t = common::interleaved_times(&mut [&mut square]);
    let cpu = median(&t[0].cpu);
    common::report(
        "monograd",
        "gemm_square_512",
        &[
            ("cpu_us_per_call", &common::micros(cpu)),
            ("gflops_cpu", &common::fixed1(common::gflops(2.0 * (n * n * n) as f64, cpu))),
        ],
    );
}

fn report(name: &str, secs: f64, flops: f64, iters: u64, reps: usize) {
    common::report(
        "monograd",
        name,
        &[
            ("batch", &BATCH),
            ("us_per_call", &common::micros(secs)),
            ("gflops", &common::fixed1(common::gflops(flops, secs))),
            ("iters", &iters),
            ("reps", &reps),
        ],
    );
}
