//! A dense layer's training pass: `Linear<784, 256>` forward and backward (input gradient,
//! weight and bias gradients) at batch 64, through the `Layer` trait as generated networks
//! call it. Run pinned to one core: `taskset -c 0 cargo bench --bench linear`.
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
