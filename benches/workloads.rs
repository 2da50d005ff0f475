//! The shared workloads W1-W4 (WORKLOADS.md), as the other frameworks' benches run them:
//!
//! - W1: MLP 784-256-ReLU-128-ReLU-10 training step at batch 64: forward, mean
//!   cross-entropy from the logits, backward, plain SGD (lr 0.01) on every weight and bias;
//! - W2: the same MLP's inference at batch 1 and 64;
//! - W3: the tiny 2-16-tanh-16-tanh-1 MLP's training step at batch 1, MSE against a scalar
//!   (`W3u`: the same step unfused, for comparison);
//! - W4: the LeNet-5 training step at batch 32 (cross-entropy, SGD).
//!
//! f32, PyTorch's default initialisation (`Net::new`), synthetic data made once before
//! timing: inputs uniform in [0, 1) (W3: [-1, 1)), labels uniform in 0..10. A training step
//! includes the gradient zeroing monograd needs (`grad.zero()`).
//!
//! Run pinned to one core: `taskset -c 0 cargo bench --bench workloads` (a filter such as
//! `-- W3` runs one workload). `BENCH_ISA=portable` in the environment runs the portable
//! GEMM kernels instead of the best this CPU has (to compare builds on one machine). `benches/peers/run.py` runs PyTorch beside it and prints
//! both side by side. Results and the machine: docs/BENCHMARKS.md.

mod common;

use monograd::prelude::*;

#[path = "common/workloads.rs"]
mod workloads;
use workloads::{LeNet, Mlp, Tiny};

const LR: f32 = 0.01;

fn main() {
    if std::env::var("BENCH_ISA").as_deref() == Ok("portable") {
        use monograd::core::kernels::gemm::{force_isa, Isa};
        force_isa(Isa::Portable);
    }
    if common::selected("W1_mlp_train_b64") {
        w1();
    }
    if common::selected("W1u_mlp_train_b64_unfused") {
        w1_unfused();
    }
    if ["W2_mlp_infer_b1", "W2_mlp_infer_b64", "W2u_mlp_infer_b64_unprepared"].iter().any(|n| common::selected(n)) {
        w2();
    }
    if ["W3_tiny_train_b1", "W3u_tiny_train_b1_unfused"].iter().any(|n| common::selected(n)) {
        w3();
    }
    if common::selected("W4_lenet_train_b32") {
        w4();
    }
}

/// Class labels uniform in 0..10.
fn labels(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.below(10)).collect()
}

/// Every parameter's bits, in visiting order.
fn bits(net: &Mlp) -> Vec<u32> {
    let mut out = Vec::new();
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| out.extend(t.values.iter().map(|v| v.to_bits())));
    out
}

/// Prints a step's line in the shared format.
fn report(name: &str, batch: usize, (secs, iters, reps): (f64, u64, usize)) {
    common::report(
        "monograd",
        name,
        &[
            ("batch", &batch),
            ("us_per_step", &format!("{:.3}", secs * 1e6)),
            ("steps_per_s", &common::fixed1(1.0 / secs)),
            ("samples_per_s", &common::fixed1(batch as f64 / secs)),
            ("iters", &iters),
            ("reps", &reps),
        ],
    );
}

/// One training step of a network whose loss is cross-entropy against `labels`, as a user
/// writes it: forward, loss gradient, then `Optimizer::backward_step` (backward and the
/// update; plain SGD runs fused into the dense layers' weight-gradient products, with no
/// gradient zeroed, written or read for them). Returns the loss.
macro_rules! ce_step {
    ($net:expr, $grad:expr, $st:expr, $opt:expr, $x:expr, $labels:expr, $dy:expr) => {{
        let y = $net.forward_train($x, $st).unwrap();
        let loss = CrossEntropyLoss::new().backward(y, $labels, $dy).unwrap();
        $opt.backward_step($net, $x, $dy, $grad, $st).unwrap();
        loss
    }};
}

/// [`ce_step`] the unfused way: zero the gradient, backward, `Optimizer::step`.
macro_rules! ce_step_unfused {
    ($net:expr, $grad:expr, $st:expr, $opt:expr, $x:expr, $labels:expr, $dy:expr) => {{
        let y = $net.forward_train($x, $st).unwrap();
        let loss = CrossEntropyLoss::new().backward(y, $labels, $dy).unwrap();
        $grad.zero();
        $net.backward($x, $dy, $grad, $st).unwrap();
        $opt.step($net, $grad);
        loss
    }};
}

fn w1() {
    const B: usize = 64;
    let mut net = Mlp::new(&mut Rng::seed(0));
    let mut grad = Mlp::default();
    let mut st = Mlp::state::<Heap>();
    let mut opt = Sgd::new(LR);
    let x = common::uniform(B * 784, 1);
    let y = labels(B, 2);
    let mut dy = vec![0.0f32; B * 10];
    {
        // The fused step gives the unfused step's weights to the bit (a batch of 64 is
        // summed in one block of the kernel): checked on a copy before timing.
        let (mut a, mut b) = (net.clone(), net.clone());
        let (mut opt_b, mut st_b) = (Sgd::new(LR), Mlp::state::<Heap>());
        for s in 0..3 {
            let la = ce_step!(&mut a, &mut grad, &mut st, &mut opt, &x, &y, &mut dy);
            let lb = ce_step_unfused!(&mut b, &mut grad, &mut st_b, &mut opt_b, &x, &y, &mut dy);
            assert_eq!(la.to_bits(), lb.to_bits(), "W1: step {s}'s loss differs between the fused and unfused steps");
        }
        assert!(bits(&a) == bits(&b), "W1: the fused step's weights differ from the unfused step's");
        opt = Sgd::new(LR);
    }
    let first = ce_step!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy);
    let t = common::measure(|| ce_step!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy));
    report("W1_mlp_train_b64", B, t);
    // Thousands of steps on one batch: the loss must have fallen (a wrong step is not
    // worth timing).
    let last = ce_step!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy);
    assert!(last < first, "W1: the loss went from {first} to {last}");
}

/// W1 through the unfused step (`grad.zero()`, `backward`, `Optimizer::step`), for
/// comparison with [`w1`]: what a step cost before the fused one.
fn w1_unfused() {
    const B: usize = 64;
    let mut net = Mlp::new(&mut Rng::seed(0));
    let mut grad = Mlp::default();
    let mut st = Mlp::state::<Heap>();
    let mut opt = Sgd::new(LR);
    let x = common::uniform(B * 784, 1);
    let y = labels(B, 2);
    let mut dy = vec![0.0f32; B * 10];
    let first = ce_step_unfused!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy);
    let t = common::measure(|| ce_step_unfused!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy));
    report("W1u_mlp_train_b64_unfused", B, t);
    let last = ce_step_unfused!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy);
    assert!(last < first, "W1 unfused: the loss went from {first} to {last}");
}

/// W2 as an inference program runs it: the network prepared once (`Prepared`: its weight
/// matrices packed into the kernel's panels), then forward passes. `W2u` at batch 64 is
/// the network's own `forward`, which packs the weights on every call, for comparison.
fn w2() {
    use monograd::core::prepared::Prepared;
    let net = Mlp::new(&mut Rng::seed(0));
    let prepared = Prepared::new(&net);
    let mut st = Mlp::state::<Heap>();
    for (batch, name) in [(1, "W2_mlp_infer_b1"), (64, "W2_mlp_infer_b64"), (64, "W2u_mlp_infer_b64_unprepared")] {
        if !common::selected(name) {
            continue;
        }
        let x = common::uniform(batch * 784, 3);
        let mut plain = Mlp::state::<Heap>();
        let want = net.forward(&x, &mut plain).unwrap().to_vec();
        assert_eq!(prepared.forward(&x, &mut st).unwrap(), &want[..], "W2: prepared and plain differ");
        let t = if name.starts_with("W2u") {
            common::measure(|| net.forward(&x, &mut st).unwrap()[0])
        } else {
            common::measure(|| prepared.forward(&x, &mut st).unwrap()[0])
        };
        report(name, batch, t);
    }
}

fn w3() {
    let mut net = Tiny::new(&mut Rng::seed(0));
    let mut grad = Tiny::default();
    // One sample: inline buffers, no packing memory (the products are too small to pack).
    let mut st = Tiny::state::<Fixed<1>>();
    let mut opt = Sgd::new(LR);
    let x = common::uniform(2, 4).iter().map(|v| 2.0 * v - 1.0).collect::<Vec<_>>();
    let target = [2.0 * common::uniform(1, 5)[0] - 1.0];
    let mut dy = [0.0f32; 1];
    // The step users write (`Optimizer::backward_step`: plain SGD inside the dense layers'
    // backward, no gradient zeroed, written or read), as W1 times it, and `W3u` the unfused
    // step (zero the gradient, backward, `Optimizer::step`) for comparison.
    macro_rules! step {
        ($net:expr, $st:expr, $opt:expr) => {{
            let y = $net.forward_train(&x, $st).unwrap();
            let loss = MseLoss.backward(y, &target, &mut dy).unwrap();
            $opt.backward_step($net, &x, &dy, &mut grad, $st).unwrap();
            loss
        }};
    }
    macro_rules! step_unfused {
        ($net:expr, $st:expr, $opt:expr) => {{
            let y = $net.forward_train(&x, $st).unwrap();
            let loss = MseLoss.backward(y, &target, &mut dy).unwrap();
            grad.zero();
            $net.backward(&x, &dy, &mut grad, $st).unwrap();
            $opt.step($net, &grad);
            loss
        }};
    }
    {
        // Both give the same losses and weights to the bit: checked on copies before timing.
        let (mut a, mut b) = (net.clone(), net.clone());
        let (mut opt_b, mut st_b) = (Sgd::new(LR), Tiny::state::<Fixed<1>>());
        for s in 0..3 {
            let la = step!(&mut a, &mut st, &mut opt);
            let lb = step_unfused!(&mut b, &mut st_b, &mut opt_b);
            assert_eq!(la.to_bits(), lb.to_bits(), "W3: step {s}'s loss differs between the fused and unfused steps");
        }
        let bits = |n: &Tiny| {
            let mut out = Vec::new();
            n.visit(&monograd::core::module::Path::ROOT, &mut |t| out.extend(t.values.iter().map(|v| v.to_bits())));
            out
        };
        assert!(bits(&a) == bits(&b), "W3: the fused step's weights differ from the unfused step's");
        opt = Sgd::new(LR);
    }
    if common::selected("W3_tiny_train_b1") {
        let mut net = net.clone();
        let mut opt = opt.clone();
        let first = step!(&mut net, &mut st, &mut opt);
        let t = common::measure(|| step!(&mut net, &mut st, &mut opt));
        let last = step!(&mut net, &mut st, &mut opt);
        report("W3_tiny_train_b1", 1, t);
        assert!(last < first, "W3: the loss went from {first} to {last}");
    }
    if common::selected("W3u_tiny_train_b1_unfused") {
        let first = step_unfused!(&mut net, &mut st, &mut opt);
        let t = common::measure(|| step_unfused!(&mut net, &mut st, &mut opt));
        let last = step_unfused!(&mut net, &mut st, &mut opt);
        report("W3u_tiny_train_b1_unfused", 1, t);
        assert!(last < first, "W3u: the loss went from {first} to {last}");
    }
}

fn w4() {
    const B: usize = 32;
    let mut net = LeNet::new(&mut Rng::seed(0));
    let mut grad = LeNet::default();
    let mut st = LeNet::state::<Heap>();
    let mut opt = Sgd::new(LR);
    let x = common::uniform(B * 784, 6);
    let y = labels(B, 7);
    let mut dy = vec![0.0f32; B * 10];
    let first = ce_step!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy);
    let t = common::measure(|| ce_step!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy));
    report("W4_lenet_train_b32", B, t);
    let last = ce_step!(&mut net, &mut grad, &mut st, &mut opt, &x, &y, &mut dy);
    assert!(last < first, "W4: the loss went from {first} to {last}");
}
