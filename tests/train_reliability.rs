//! Nothing silently broken in training: a step that leaves a NaN or an infinity anywhere
//! (the loss, a gradient, a weight, BatchNorm's running statistics, the optimizer's
//! moments) is undone and named, with its likely cause; NaN propagates through the
//! network as it does in PyTorch; `fit` never returns `Ok` with a non-finite model.

use monograd::nn::train::{Cause, Checks, NonFinite, TrainError};
use monograd::prelude::*;

network! {
    /// Dense layers around a BatchNorm: its running statistics are updated by the forward.
    pub struct Bn {
        input: [4],
        fc1: Linear<4, 8>,
        bn: BatchNorm1d<8>,
        act: ReLU,
        fc2: Linear<8, 3>,
    }
}

network! {
    /// Regression, for gradients large enough to overflow an update at a high rate.
    pub struct Reg {
        input: [4],
        fc1: Linear<4, 8>,
        act: ReLU,
        fc: Linear<8, 1>,
    }
}

network! {
    pub struct Mlp {
        input: [4],
        fc1: Linear<4, 8>,
        act: ReLU,
        fc: Linear<8, 3>,
    }
}

/// 64 samples of 4 features, 3 classes.
fn data(seed: u64) -> Dataset<f32, usize> {
    let mut rng = Rng::seed(seed);
    let x: Vec<f32> = (0..64 * 4).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y: Vec<usize> = (0..64).map(|i| i % 3).collect();
    Dataset::new(x, y, 4).unwrap()
}

/// `data` with sample `at` (in the data set) set to `value` in its first feature.
fn with(seed: u64, at: usize, value: f32) -> Dataset<f32, usize> {
    let mut d = data(seed);
    d.inputs_mut()[at * 4] = value;
    d
}

/// Every value and counter of a model, by bits.
fn bits<N: Module<f32>>(net: &N) -> (Vec<u32>, Vec<u64>) {
    let root = &monograd::core::module::Path::ROOT;
    let (mut v, mut c) = (Vec::new(), Vec::new());
    net.visit(root, &mut |t| v.extend(t.values.iter().map(|x| x.to_bits())));
    net.visit_counters(root, &mut |k| c.push(*k.value));
    (v, c)
}

fn every_value_finite<N: Module<f32>>(net: &N) -> bool {
    let mut ok = true;
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| ok &= t.values.iter().all(|v| v.is_finite()));
    ok
}

#[test]
fn a_huge_input_that_overflows_batchnorm_statistics_is_an_error_and_undone() {
    // One 1e30 cell set every running_var to +Inf, and fit returned Ok with a network that
    // gave the same output for every input.
    for checks in [Checks::Full, Checks::Every(50)] {
        let train = with(1, 17, 1e30);
        let net = Bn::new(&mut Rng::seed(0));
        let mut t = Trainer::new(net, Sgd::new(0.01), CrossEntropyLoss::new()).batch_size(16).epochs(2).checks(checks);
        let e = t.fit(&train, None, &mut ()).unwrap_err();
        let TrainError::NonFinite { epoch: 1, what, tensor, cause, restored: Some(r), step, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!((*what, tensor.as_deref()), (NonFinite::Buffer, Some("bn.running_var")), "{e}");
        assert!(every_value_finite(t.net()), "{checks:?}: the network was left broken");
        // Buffers are checked every step: the step, and the batch holding sample 17 with
        // it, are known in either mode.
        let Cause::HugeInput { sample: 17, value, .. } = cause else { panic!("{e}") };
        assert_eq!(*value, 1e30f32 as f64);
        assert!(e.to_string().contains("sample 17 of the data"), "{e}");
        assert!(*r < *step);
        if checks == Checks::Full {
            assert_eq!(*r, step - 1);
        }
    }
}

#[test]
fn an_exploding_learning_rate_ends_in_an_error_that_names_it_not_in_ok() {
    // One SGD step at an infinite rate (or 1e37) ended fit with non-finite weights and Ok:
    // the last optimizer step was never checked.
    let x = data(2).inputs().to_vec();
    let train = Dataset::new(x, vec![1000.0f32; 64], 4).unwrap();
    // An infinite rate is refused when the optimizer is built; a finite one that explodes
    // is the trainer's to catch.
    assert!(Sgd::<f32, Vec<f32>>::try_new(f32::INFINITY).is_err());
    for (lr, checks) in [(1e37, Checks::Full), (1e37, Checks::Every(1000))] {
        let net = Reg::new(&mut Rng::seed(0));
        let before = net.clone();
        // One step in all: a single batch, a single epoch.
        let mut t = Trainer::new(net, Sgd::new(lr), MseLoss).batch_size(64).epochs(1).checks(checks);
        let e = t.fit(&train, None, &mut ()).unwrap_err();
        let TrainError::NonFinite { step: 1, what, cause: Cause::LearningRate(at), restored: Some(0), .. } = &e else {
            panic!("{lr} {checks:?}: {e}")
        };
        assert_eq!(*at, f64::from(lr));
        assert!(matches!(what, NonFinite::Parameter), "{e}");
        assert!(e.to_string().contains("learning rate"), "{e}");
        // Undone: the weights are as they were, and the run can go on at another rate.
        assert_eq!(bits(t.net()), bits(&before));
        assert_eq!((t.steps(), t.history().steps.len()), (0, 0));
        Optimizer::<f32>::set_lr(t.optimizer_mut(), 1e-4);
        t.fit(&train, None, &mut ()).unwrap();
        assert_eq!(t.steps(), 1);
    }
}

#[test]
fn a_network_of_nan_weights_gives_nan_outputs() {
    // ReLU turned NaN into 0: a network whose fc.weight was all NaN gave finite outputs.
    let mut net = Mlp::new(&mut Rng::seed(0));
    net.fc1.weight = [[f32::NAN; 4]; 8];
    let mut st = Mlp::state::<Heap>();
    let y = net.forward(&[0.5, -0.5, 0.25, 1.0], &mut st).unwrap();
    assert!(y.iter().all(|v| v.is_nan()), "{y:?}");
}

#[test]
fn an_all_nan_validation_set_reports_a_nan_loss() {
    let val = Dataset::new(vec![f32::NAN; 8 * 4], vec![0usize; 8], 4).unwrap();
    let mut t = Trainer::new(Mlp::new(&mut Rng::seed(0)), Sgd::new(0.1), CrossEntropyLoss::new()).batch_size(16);
    let m = t.evaluate(&val).unwrap();
    assert!(m.loss.is_nan(), "{m:?}");
}

#[test]
fn one_nan_sample_is_named_and_leaves_no_nan_weights_even_without_gradient_checks() {
    // With gradient checks off, one NaN sample left NaN weights behind a finite loss.
    let train = with(3, 40, f32::NAN);
    let net = Mlp::new(&mut Rng::seed(0));
    let mut t = Trainer::new(net, Sgd::new(0.1), CrossEntropyLoss::new())
        .batch_size(16)
        .epochs(1)
        .check_gradients(false)
        .checks(Checks::Every(1000));
    let e = t.fit(&train, None, &mut ()).unwrap_err();
    let TrainError::NonFinite {
        what: NonFinite::LossValue(v),
        cause: Cause::NonFiniteInput { sample: 40, in_batch },
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert!(v.is_nan() && *in_batch < 16);
    assert!(e.to_string().contains("sample 40 of the data"), "{e}");
    assert!(every_value_finite(t.net()));
}

#[test]
fn after_a_nan_loss_batchnorm_statistics_are_as_before_and_the_input_is_blamed() {
    // BatchNorm's running statistics were already NaN after the error (the network was
    // damaged), and the message blamed the learning rate, not the NaN in the batch.
    let train = with(4, 9, f32::NAN);
    let net = Bn::new(&mut Rng::seed(0));
    let mut t = Trainer::new(net, Adam::new(1e-3), CrossEntropyLoss::new()).batch_size(64).epochs(1);
    let before = t.net().clone();
    let e = t.fit(&train, None, &mut ()).unwrap_err();
    let TrainError::NonFinite { step: 1, what: NonFinite::LossValue(_), cause, restored: Some(0), tensor, .. } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(*cause, Cause::NonFiniteInput { sample: 9, in_batch: train_position(9) });
    assert_eq!(tensor.as_deref(), Some("bn.running_mean"), "{e}");
    assert!(!e.to_string().contains("learning rate"), "{e}");
    assert_eq!(bits(t.net()), bits(&before));
    assert_eq!(t.net().bn.num_batches_tracked, 0);
    assert_eq!(t.optimizer().steps(), 0);
}

/// Where sample `i` of the data set lands in the first batch of epoch 0 at seed 0, when
/// the batch is the whole data set.
fn train_position(i: usize) -> usize {
    let mut order: Vec<usize> = (0..64).collect();
    monograd::nn::data::batch::permutation(0, 0, &mut order);
    order.iter().position(|&k| k == i).unwrap()
}

#[test]
fn a_failed_step_continues_from_the_same_batch_once_the_cause_is_gone() {
    // Train 5 steps, then at step 6 a rate that explodes: the error undoes step 6 only,
    // and the run continues from the same batch as if it had not happened.
    let train = data(5);
    let make = || {
        Trainer::new(Mlp::new(&mut Rng::seed(0)), Adam::new(1e-2), CrossEntropyLoss::new())
            .batch_size(8)
            .epochs(2)
            .checks(Checks::Full)
    };
    let mut reference = make();
    reference.fit(&train, None, &mut ()).unwrap();

    let mut t = make();
    t.fit(&train, None, &mut |e: &Event<'_>| match e {
        Event::Step(s) if s.step == 5 => Control::Pause,
        _ => Control::Continue,
    })
    .unwrap();
    let lr = Optimizer::<f32>::lr(t.optimizer());
    // A finite rate (an infinite one is refused when set) that Adam's bias correction at
    // step 6, 1 / (1 - 0.9^6) = 2.1, takes past f32's largest value: the step explodes.
    Optimizer::<f32>::set_lr(t.optimizer_mut(), 2e38);
    let e = t.fit(&train, None, &mut ()).unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { step: 6, restored: Some(5), .. }), "{e}");
    assert_eq!(t.steps(), 5);
    Optimizer::<f32>::set_lr(t.optimizer_mut(), lr);
    t.fit(&train, None, &mut ()).unwrap();
    assert_eq!(bits(t.net()), bits(reference.net()));
    assert_eq!(t.history().steps, reference.history().steps);
}

#[test]
fn a_label_out_of_range_is_an_error_that_leaves_batchnorm_as_it_was() {
    // The forward pass had already moved BatchNorm's running statistics when the loss
    // refused the label: the step is undone like any other.
    let mut train = data(6);
    train.targets_mut()[5] = 7;
    let mut t = Trainer::new(Bn::new(&mut Rng::seed(0)), Sgd::new(0.1), CrossEntropyLoss::new()).batch_size(64);
    let before = bits(t.net());
    let e = t.fit(&train, None, &mut ()).unwrap_err();
    assert!(matches!(e, TrainError::Shape(_)), "{e}");
    assert_eq!(bits(t.net()), before);
    assert_eq!(t.steps(), 0);
}
