//! The optimizers' traps, refused through the facade: one optimizer given two models of
//! different layouts (it would mix their moments), and settings out of range (refused
//! where the optimizer is built, not at its first step).

use std::panic::{catch_unwind, AssertUnwindSafe};

use monograd::core::module::Path;
use monograd::nn::optim::Layout;
use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::prelude::*;

network! {
    /// 4 -> 8 -> 2: 58 parameters.
    pub struct Small {
        input: [4],
        fc1: Linear<4, 8>,
        act: ReLU,
        fc2: Linear<8, 2>,
    }
}

network! {
    /// 4 -> 16 -> 2: 114 parameters, under the same names.
    pub struct Wide {
        input: [4],
        fc1: Linear<4, 16>,
        act: ReLU,
        fc2: Linear<16, 2>,
    }
}

/// The message `f` panics with.
fn panic_message<R>(f: impl FnOnce() -> R) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).err().expect("a panic");
    *payload.downcast::<String>().expect("a formatted message")
}

/// Every value of `model`, as bits: models compare by these.
fn bits<M: Module<f32>>(model: &M) -> Vec<u32> {
    let mut out = Vec::new();
    model.visit(&Path::ROOT, &mut |t| out.extend(t.values.iter().map(|v| v.to_bits())));
    out
}

/// A model and a gradient (random values, so that every step moves the parameters).
fn small() -> (Small, Small) {
    (Small::new(&mut Rng::seed(0)), Small::new(&mut Rng::seed(1)))
}

#[test]
fn a_second_model_of_another_layout_through_one_adam_is_refused_naming_both() {
    let (mut net, grad) = small();
    let mut adam = Adam::new(1e-3);
    adam.step(&mut net, &grad);

    let mut wide = Wide::new(&mut Rng::seed(2));
    let wide_grad = Wide::new(&mut Rng::seed(3));
    let before = bits(&wide);
    let e = adam.try_step(&mut wide, &wide_grad).unwrap_err();
    let (a, b) = (Layout::of(&net).fingerprint(), Layout::of(&wide).fingerprint());
    let expected = format!(
        "this Adam was first used with a model of 58 parameters in 4 tensors (layout {a:#018x}); \
         this model has 114 parameters in 4 tensors (layout {b:#018x}); \
         first difference: fc1.weight [8, 4] there, [16, 4] here. \
         An optimizer's state belongs to one model: build one optimizer per model \
         (or reset this one to start afresh)"
    );
    assert_eq!(e.to_string(), expected);
    let OptimError::Layout(mismatch) = &e else { panic!("{e:?}") };
    assert_eq!((mismatch.first().params(), mismatch.this().params()), (58, 114));
    assert_eq!(bits(&wide), before, "a refused step leaves the model unchanged");
    // `step` panics with the same message; so does a wrapped optimizer.
    assert_eq!(panic_message(|| adam.step(&mut wide, &wide_grad)), expected);
    let mut scheduled = Scheduled::new(Sgd::new(0.0), StepLr::new(0.1, 10, 0.5));
    scheduled.step(&mut net, &grad);
    assert!(matches!(scheduled.try_step(&mut wide, &wide_grad), Err(OptimError::Layout(_))));
    assert_eq!((bits(&wide), scheduled.steps()), (before, 1));
}

#[test]
fn a_second_model_of_the_same_layout_is_accepted() {
    let (mut net, grad) = small();
    let mut adam = Adam::new(1e-3);
    adam.step(&mut net, &grad);
    let mut clone = net.clone();
    adam.try_step(&mut clone, &grad).unwrap();
    let mut other = Small::new(&mut Rng::seed(9));
    adam.try_step(&mut other, &grad).unwrap();
    assert_eq!(Optimizer::<f32>::layout(&adam), Some(Layout::of(&net)));
    // After a reset, the optimizer serves whichever model comes next.
    adam.reset();
    let mut wide = Wide::new(&mut Rng::seed(2));
    adam.try_step(&mut wide, &Wide::new(&mut Rng::seed(3))).unwrap();
}

#[test]
fn a_loaded_optimizer_adopts_the_checkpoints_model_at_its_next_step() {
    let (mut net, grad) = small();
    let mut adam = Adam::new(1e-3);
    adam.step(&mut net, &grad);
    let bytes = checkpoint::to_bytes(&net, &adam, &RunState::default()).unwrap();
    // An optimizer that served another model takes the checkpoint's state and model.
    let mut resumed = Adam::new(1e-3);
    resumed.step(&mut Wide::new(&mut Rng::seed(2)), &Wide::new(&mut Rng::seed(3)));
    let mut net2 = Small::default();
    checkpoint::load_bytes(&mut net2, &mut resumed, &bytes).unwrap();
    resumed.try_step(&mut net2, &grad).unwrap();
    adam.step(&mut net, &grad);
    assert_eq!(bits(&net2), bits(&net), "the restored moments continue the run");
    let e = resumed.try_step(&mut Wide::new(&mut Rng::seed(2)), &Wide::new(&mut Rng::seed(3))).unwrap_err();
    assert!(e.to_string().starts_with("this Adam was first used with a model of 58 parameters"), "{e}");
}

/// A checked builder's result, the same builder unchecked, and their message.
type Case = (Result<(), OptimError>, Box<dyn Fn()>, String);

#[test]
fn invalid_settings_are_refused_where_the_optimizer_is_built() {
    let lr = "use a finite learning rate of at least 0, such as 1e-3";
    let cases: [Case; 8] = [
        (
            Sgd::<f32, _>::try_new(-0.5).map(drop),
            Box::new(|| drop(Sgd::<f32, _>::new(-0.5))),
            format!("Sgd: learning rate = -0.5 is out of range; {lr}"),
        ),
        (
            Sgd::<f32, _>::new(0.1).try_momentum(1.0).map(drop),
            Box::new(|| drop(Sgd::<f32, _>::new(0.1).momentum(1.0))),
            "Sgd: momentum = 1.0 is out of range; use a momentum in [0, 1), such as 0.9, or 0 for none".into(),
        ),
        (
            Sgd::<f32, _>::new(0.1).try_nesterov(true).map(drop),
            Box::new(|| drop(Sgd::<f32, _>::new(0.1).nesterov(true))),
            "Sgd: Nesterov momentum requires a momentum above 0 and zero dampening: \
             set the momentum first, as in .momentum(0.9).nesterov(true)"
                .into(),
        ),
        (
            Adam::<f32, _>::new(1e-3).try_betas(0.9, 1.0).map(drop),
            Box::new(|| drop(Adam::<f32, _>::new(1e-3).betas(0.9, 1.0))),
            "Adam: beta2 = 1.0 is out of range; use a beta2 in [0, 1), such as 0.999".into(),
        ),
        (
            AdamW::try_new(f32::NAN).map(drop),
            Box::new(|| drop(AdamW::new(f32::NAN))),
            format!("AdamW: learning rate = NaN is out of range; {lr}"),
        ),
        (
            AdamW::new(1e-3f32).try_weight_decay(-0.5).map(drop),
            Box::new(|| drop(AdamW::new(1e-3f32).weight_decay(-0.5))),
            "AdamW: weight decay = -0.5 is out of range; use a finite weight decay of at least 0, or 0 for none".into(),
        ),
        (
            RmsProp::<f32, _>::new(0.01).try_alpha(1.0).map(drop),
            Box::new(|| drop(RmsProp::<f32, _>::new(0.01).alpha(1.0))),
            "RmsProp: alpha = 1.0 is out of range; use an alpha in [0, 1), such as 0.99".into(),
        ),
        (
            Adagrad::<f32, _>::new(0.01).try_eps(0.0).map(drop),
            Box::new(|| drop(Adagrad::<f32, _>::new(0.01).eps(0.0))),
            "Adagrad: eps = 0.0 is out of range; use a finite eps above 0, such as 1e-10".into(),
        ),
    ];
    for (refused, panics, message) in cases {
        let e = refused.expect_err(&message);
        assert!(matches!(e, OptimError::Setting { .. } | OptimError::Config { .. }), "{e:?}");
        assert_eq!(e.to_string(), message);
        assert_eq!(panic_message(panics), message);
    }
    // The panic points at the line that built the optimizer.
    let hook = std::panic::take_hook();
    let (tx, rx) = std::sync::mpsc::channel();
    // (The hook is global: other tests' panics may pass through it too.)
    std::panic::set_hook(Box::new(move |info| {
        let _ = tx.send(info.location().map(|l| (l.file().to_owned(), l.line())));
    }));
    let line = line!() + 1;
    let r = catch_unwind(|| Sgd::<f32, _>::new(-0.25));
    std::panic::set_hook(hook);
    assert!(r.is_err());
    let here = Some((file!().to_owned(), line));
    assert!(rx.try_iter().any(|at| at == here), "no panic at line {line}");
}
