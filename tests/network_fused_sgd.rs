//! The fused SGD step (`Optimizer::backward_step`, which runs `Network::backward_sgd` when
//! `Optimizer::fused_sgd` allows it) against the unfused one (`grad.zero()`, `backward`,
//! `Optimizer::step`): the same weights after several steps, to the bit where the matrix
//! kernel sums the batch in one block, and every optimizer that cannot fuse unchanged.

use monograd::prelude::*;

network! {
    /// W1's shape, smaller: dense layers with fused ReLUs, and one without a bias.
    pub struct Mlp {
        input: [40],
        fc1: Linear<40, 64>,
        r1: ReLU,
        fc2: Linear<64, 32>,
        r2: ReLU,
        fc3: LinearNoBias<32, 10>,
    }
}

network! {
    /// Layers without a fused update (convolution, batch norm) and a dense layer applied
    /// twice (`s2(t2) = s`), which the fused pass runs through the gradient.
    pub struct Mixed {
        input x: [1, 8, 8],
        c: Conv2d<1, 4, 3>,
        bn: BatchNorm2d<4>,
        r: ReLU,
        flat: Flatten,
        fc: Linear<144, 16>,
        t: Tanh,
        s(t): Linear<16, 16>,
        t2(s): Tanh,
        s2(t2) = s,
        out(s2): Linear<16, 3>,
    }
}

fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()
}

fn labels(n: usize, classes: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.below(classes)).collect()
}

fn params<N: Module<f32>>(net: &N) -> Vec<f32> {
    let mut out = Vec::new();
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| out.extend_from_slice(t.values));
    out
}

/// `steps` training steps of cross-entropy on one batch; returns the losses.
fn train<N: Network<f32> + Default, O: Optimizer<f32>>(
    net: &mut N,
    opt: &mut O,
    fused: bool,
    x: &[f32],
    y: &[usize],
    steps: usize,
) -> Vec<f32> {
    let mut grad = N::default();
    let mut st = N::state::<Heap>();
    let mut dy = Vec::new();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let out = net.forward_train(x, &mut st).unwrap();
        dy.resize(out.len(), 0.0);
        losses.push(CrossEntropyLoss::new().backward(out, y, &mut dy).unwrap());
        if fused {
            opt.backward_step(net, x, &dy, &mut grad, &mut st).unwrap();
        } else {
            grad.zero();
            net.backward(x, &dy, &mut grad, &mut st).unwrap();
            opt.step(net, &grad);
        }
    }
    losses
}

/// A run's final parameters and its losses.
type Run = (Vec<f32>, Vec<f32>);

/// Trains two copies of `net`, fused and unfused, each with its own optimizer from
/// `make`; returns both parameter vectors and both loss sequences.
fn both<N: Network<f32> + Default, O: Optimizer<f32>>(
    net: &N,
    make: impl Fn() -> O,
    x: &[f32],
    y: &[usize],
    steps: usize,
) -> (Run, Run) {
    let (mut a, mut b) = (net.clone(), net.clone());
    let la = train(&mut a, &mut make(), true, x, y, steps);
    let lb = train(&mut b, &mut make(), false, x, y, steps);
    ((params(&a), la), (params(&b), lb))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn plain_sgd_fused_gives_the_unfused_weights_to_the_bit() {
    let net = Mlp::new(&mut Rng::seed(1));
    let (x, y) = (uniform(64 * 40, 2), labels(64, 10, 3));
    let ((wa, la), (wb, lb)) = both(&net, || Sgd::new(0.05), &x, &y, 10);
    assert_eq!(bits(&la), bits(&lb));
    assert_eq!(bits(&wa), bits(&wb));
    assert!(la[9] < la[0], "the loss fell: {la:?}");
    // And the weights moved: the comparison is not between two untouched copies.
    assert_ne!(bits(&wa), bits(&params(&net)));
}

/// The dense layers' update runs inside their backward: their part of `grad` is never
/// written (here it keeps a sentinel value through a step).
#[test]
fn the_fused_step_writes_no_gradient_for_dense_layers() {
    let mut net = Mlp::new(&mut Rng::seed(21));
    let (x, y) = (uniform(64 * 40, 22), labels(64, 10, 23));
    let mut grad = Mlp::default();
    grad.visit_mut(&monograd::core::module::Path::ROOT, &mut |t| t.values.fill(7.0));
    let mut st = Mlp::state::<Heap>();
    let mut dy = vec![0.0f32; 64 * 10];
    let out = net.forward_train(&x, &mut st).unwrap();
    CrossEntropyLoss::new().backward(out, &y, &mut dy).unwrap();
    Sgd::new(0.05).backward_step(&mut net, &x, &dy, &mut grad, &mut st).unwrap();
    assert!(params(&grad).iter().all(|&g| g == 7.0));
}

#[test]
fn layers_without_a_fused_form_and_shared_layers_give_the_same_bits() {
    let net = Mixed::new(&mut Rng::seed(4));
    let (x, y) = (uniform(16 * 64, 5), labels(16, 3, 6));
    let ((wa, la), (wb, lb)) = both(&net, || Sgd::new(0.1), &x, &y, 6);
    assert_eq!(bits(&la), bits(&lb));
    assert_eq!(bits(&wa), bits(&wb));
    assert_ne!(bits(&wa), bits(&params(&net)));
}

/// A batch the kernel sums in more than one block of `k` (at most 256 per block on any
/// machine): the fused update adds `-lr · s_j` into the weights block by block, where the
/// unfused one subtracts `lr · Σ_j s_j` once, so each step rounds up to once more per
/// block. With weights of magnitude below 1 and three blocks, that is a few units in the
/// last place of 1 (2^-23 ≈ 1.2e-7) per step: 10 steps stay within 5e-6.
#[test]
fn a_batch_over_one_block_agrees_within_rounding() {
    let net = Mlp::new(&mut Rng::seed(7));
    let (x, y) = (uniform(600 * 40, 8), labels(600, 10, 9));
    let ((wa, la), (wb, lb)) = both(&net, || Sgd::new(0.05), &x, &y, 10);
    let worst = wa.iter().zip(&wb).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 5e-6, "largest difference {worst}");
    for (a, b) in la.iter().zip(&lb) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "losses {a} and {b}");
    }
}

#[test]
fn optimizers_that_cannot_fuse_step_as_before() {
    let net = Mlp::new(&mut Rng::seed(10));
    let (x, y) = (uniform(32 * 40, 11), labels(32, 10, 12));
    let fc = Linear::<2, 1, f32>::default();
    assert_eq!(Sgd::new(0.1f32).momentum(0.9).fused_sgd(&fc), Ok(None));
    assert_eq!(Sgd::new(0.1f32).weight_decay(0.01).fused_sgd(&fc), Ok(None));
    assert_eq!(Adam::new(0.01f32).fused_sgd(&fc), Ok(None));
    let ((wa, _), (wb, _)) = both(&net, || Sgd::new(0.05).momentum(0.9), &x, &y, 5);
    assert_eq!(bits(&wa), bits(&wb));
    let ((wa, _), (wb, _)) = both(&net, || Sgd::new(0.05).weight_decay(0.1), &x, &y, 5);
    assert_eq!(bits(&wa), bits(&wb));
    let ((wa, _), (wb, _)) = both(&net, || Adam::new(0.01), &x, &y, 5);
    assert_eq!(bits(&wa), bits(&wb));
    let ((wa, _), (wb, _)) = both(&net, || RmsProp::new(0.01), &x, &y, 5);
    assert_eq!(bits(&wa), bits(&wb));
}

#[test]
fn a_scheduled_sgd_fuses_at_the_scheduled_rate_and_counts_its_steps() {
    let net = Mlp::new(&mut Rng::seed(13));
    let (x, y) = (uniform(64 * 40, 14), labels(64, 10, 15));
    let make = || Scheduled::new(Sgd::new(0.1), StepLr::new(0.1, 2, 0.5));
    let ((wa, la), (wb, lb)) = both(&net, make, &x, &y, 7);
    assert_eq!(bits(&la), bits(&lb));
    assert_eq!(bits(&wa), bits(&wb));
    // The fused steps count as steps.
    let mut opt = Sgd::new(0.1);
    let mut a = net.clone();
    train(&mut a, &mut opt, true, &x, &y, 3);
    assert_eq!(opt.steps(), 3);
}

#[test]
fn errors_leave_the_network_unchanged() {
    let mut net = Mlp::new(&mut Rng::seed(16));
    let before = bits(&params(&net));
    let mut grad = Mlp::default();
    let mut st = Mlp::state::<Heap>();
    let x = uniform(4 * 40, 17);
    let mut opt = Sgd::new(0.1);
    // No training forward before.
    let e = opt.backward_step(&mut net, &x, &[0.0; 40], &mut grad, &mut st).unwrap_err();
    assert!(matches!(e, StepError::Shape(ShapeError::NoTrainingForward { .. })), "{e}");
    // A gradient of the wrong length.
    net.forward_train(&x, &mut st).unwrap();
    let e = opt.backward_step(&mut net, &x, &[0.0; 39], &mut grad, &mut st).unwrap_err();
    assert!(matches!(e, StepError::Shape(_)), "{e}");
    assert_eq!(bits(&params(&net)), before);
    // A rate set out of range is the optimizer's error, before anything moves.
    Optimizer::<f32>::set_lr(&mut opt, f64::NAN);
    let e = opt.backward_step(&mut net, &x, &[0.0; 40], &mut grad, &mut st).unwrap_err();
    assert!(matches!(e, StepError::Optim(OptimError::Setting { .. })), "{e}");
    assert_eq!(bits(&params(&net)), before);
}

/// The trainer fuses plain SGD; with clipping (here at a norm never reached, so it scales
/// nothing) it takes the unfused path. Both give the same weights.
#[test]
fn the_trainer_fuses_plain_sgd_with_the_same_result() {
    let (x, y) = (uniform(256 * 40, 18), labels(256, 10, 19));
    let data = monograd::nn::data::Dataset::new(x, y, 40).unwrap();
    let run = |clip: bool| {
        let mut t = Trainer::new(Mlp::new(&mut Rng::seed(20)), Sgd::new(0.05), CrossEntropyLoss::new())
            .epochs(2)
            .batch_size(64);
        if clip {
            t = t.clip_grad_norm(1e30);
        }
        t.fit(&data, None, &mut ()).unwrap();
        params(t.net())
    };
    assert_eq!(bits(&run(false)), bits(&run(true)));
}
