//! Masked weights get no update, whatever the optimizer: after every step they are exactly
//! zero, and the kept weights move exactly as with the pruned weights' gradients zeroed.

use monograd::nn::prune::{Mask, Masked, PruneSchedule, Pruning};
use monograd::nn::OptimizerState;
use monograd::prelude::*;

network! {
    pub struct Mlp {
        input: [5],
        fc1: Linear<5, 8>,
        act: Tanh,
        fc2: Linear<8, 3>,
    }
}

/// A gradient from a batch of the network (so every entry is nonzero, the pruned ones too).
fn gradient(net: &mut Mlp<f64>, seed: u64) -> Mlp<f64> {
    let mut rng = Rng::seed(seed);
    let x: Vec<f64> = (0..4 * 5).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut state = Mlp::<f64>::state::<Heap>();
    let y = net.forward_train(&x, &mut state).unwrap().to_vec();
    let dy: Vec<f64> = y.iter().map(|v| v - 0.3).collect();
    let mut grad = Mlp::<f64>::default();
    net.backward(&x, &dy, &mut grad, &mut state).unwrap();
    grad
}

fn values(net: &Mlp<f64>) -> Vec<f64> {
    let mut out = Vec::new();
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| out.extend_from_slice(t.values));
    out
}

fn pruned_flags(net: &Mlp<f64>) -> Vec<bool> {
    let mut out = Vec::new();
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| out.extend(t.values.iter().map(|v| *v == 0.0)));
    out
}

/// Runs `opt` inside `Masked` and, beside it, `reference` stepped with the gradient of the
/// pruned weights set to zero: the kept weights must agree to the bit, the pruned ones be 0.
fn holds_the_mask<O: Optimizer<f64> + OptimizerState<f64>>(opt: O, reference: O, name: &str) {
    let mut net = Mlp::<f64>::new(&mut Rng::seed(7));
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::global(), 0.6).unwrap();
    mask.apply(&mut net).unwrap();
    let pruned = pruned_flags(&net);
    let mut reference_net = net.clone();
    let (mut masked, mut reference) = (Masked::new(opt, mask), reference);
    for step in 0..20 {
        let grad = gradient(&mut net, step);
        masked.step(&mut net, &grad);
        // The reference: the same gradient with the pruned entries zeroed.
        let mut zeroed = grad.clone();
        let mut i = 0;
        zeroed.visit_mut(&monograd::core::module::Path::ROOT, &mut |t| {
            for v in t.values.iter_mut() {
                if pruned[i] {
                    *v = 0.0;
                }
                i += 1;
            }
        });
        reference.step(&mut reference_net, &zeroed);
        let mut i = 0;
        let mut ref_values = Vec::new();
        reference_net.visit(&monograd::core::module::Path::ROOT, &mut |t| ref_values.extend_from_slice(t.values));
        net.visit(&monograd::core::module::Path::ROOT, &mut |t| {
            for v in t.values {
                if pruned[i] {
                    assert_eq!(v.to_bits(), 0, "{name} step {step}: a pruned weight moved");
                } else {
                    assert_eq!(v.to_bits(), ref_values[i].to_bits(), "{name} step {step}: a kept weight differs");
                }
                i += 1;
            }
        });
    }
    // The kept weights did move.
    assert_ne!(values(&net), values(&Mlp::<f64>::new(&mut Rng::seed(7))));
}

#[test]
fn sgd_with_momentum_and_weight_decay_leaves_pruned_weights_at_zero() {
    let sgd = || Sgd::new(0.05).momentum(0.9).weight_decay(0.01);
    holds_the_mask(sgd(), sgd(), "SGD");
    let nesterov = || Sgd::new(0.05).momentum(0.9).nesterov(true).weight_decay(0.1);
    holds_the_mask(nesterov(), nesterov(), "SGD Nesterov");
}

#[test]
fn adamw_and_adam_with_weight_decay_leave_pruned_weights_at_zero() {
    let adamw = || AdamW::new(0.01).weight_decay(0.1);
    holds_the_mask(adamw(), adamw(), "AdamW");
    let adam = || Adam::new(0.01).weight_decay(0.1).amsgrad(true);
    holds_the_mask(adam(), adam(), "Adam");
    holds_the_mask(RmsProp::new(0.01).momentum(0.5), RmsProp::new(0.01).momentum(0.5), "RmsProp");
}

#[test]
fn a_gradual_schedule_reaches_its_sparsity_at_its_steps() {
    let mut net = Mlp::<f64>::new(&mut Rng::seed(8));
    let schedule = PruneSchedule::polynomial(0.0, 0.8, 0, 8).every(2);
    let mut opt = Masked::new(AdamW::new(0.01).weight_decay(0.1), Mask::new()).schedule(Pruning::global(), schedule);
    let weights = 5 * 8 + 8 * 3; // 64
    for step in 0..12u64 {
        let grad = gradient(&mut net, step);
        opt.step(&mut net, &grad);
        let zeros =
            net.fc1.weight.as_flattened().iter().chain(net.fc2.weight.as_flattened()).filter(|w| **w == 0.0).count();
        let expected = (schedule.sparsity_at(step) * weights as f64).round() as usize;
        assert_eq!(zeros, expected, "after step {step}");
    }
    assert_eq!(opt.steps(), 12);
    // 0.8 · 64 = 51.2 -> 51.
    assert_eq!(opt.mask_mut().sparsity(&net, &Pruning::global()).unwrap(), 51.0 / 64.0);
}

#[test]
fn a_failed_step_changes_nothing() {
    let mut net = Mlp::<f64>::new(&mut Rng::seed(9));
    let grad = gradient(&mut net, 0);
    let mut opt = Masked::new(Sgd::new(0.1), Mask::new()).schedule(Pruning::global(), PruneSchedule::one_shot(0.5, 0));
    Optimizer::<f64>::set_lr(&mut opt, -1.0);
    let before = net.clone();
    assert!(opt.try_step(&mut net, &grad).is_err());
    assert_eq!((values(&net), opt.steps()), (values(&before), 0));
    // A target naming nothing: refused before the step.
    let mut opt = Masked::new(Sgd::new(0.1), Mask::new())
        .schedule(Pruning::per_layer().targets(&[("nope.weight", 0.5)]), PruneSchedule::one_shot(0.5, 0));
    let e = opt.try_step(&mut net, &grad).unwrap_err();
    assert!(e.to_string().contains("names no tensor"), "{e}");
    assert_eq!(values(&net), values(&before));
}

#[test]
fn the_trainer_fine_tunes_with_the_mask_held() {
    let mut rng = Rng::seed(10);
    let x: Vec<f32> = (0..5 * 200).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y: Vec<usize> = x.chunks(5).map(|p| usize::from(p[0] + p[1] > 0.0) + usize::from(p[2] > 0.5)).collect();
    let data = Dataset::new(x, y, 5).unwrap();
    let mut net = Mlp::new(&mut Rng::seed(11));
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::per_layer(), 0.5).unwrap();
    mask.apply(&mut net).unwrap();
    let mut trainer =
        Trainer::new(net, Masked::new(AdamW::new(0.01f32).weight_decay(0.05), mask), CrossEntropyLoss::new())
            .epochs(3)
            .batch_size(16);
    trainer.fit(&data, None, &mut ()).unwrap();
    let net = trainer.net();
    let zeros = net.fc1.weight.as_flattened().iter().filter(|w| **w == 0.0).count();
    assert_eq!(zeros, 20);
    assert_eq!(net.fc2.weight.as_flattened().iter().filter(|w| **w == 0.0).count(), 12);
}
