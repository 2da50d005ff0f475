//! Any bytes given to the checkpoint loaders, `checkpoint::load_bytes` (a model with a
//! BatchNorm and a Dropout, and Adam) and `Trainer::load_checkpoint_bytes`: each must
//! return `Ok` or `Err`, never panic, and never change the model, the optimizer or the
//! trainer when it returns `Err` (compared through what they save). When a load succeeds,
//! saving and loading again must give the same bytes, and training on from what was
//! loaded (a few steps of a custom loop, and the trainer's `fit`) must return `Ok` or
//! `Err`, never panic (no counter overflows), and `fit` may return `Ok` only with a
//! finite model: what a crafted file does after it loads is part of the target.
//!
//! The seed corpus (fuzz/corpus/load_checkpoint/, written by examples/checkpoint_seeds.rs)
//! holds valid checkpoints of this model: fresh, mid-epoch, finished, and a custom loop's
//! with generators and metadata of its own.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use monograd::core::module::{to_vec, Path};
use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::prelude::*;

#[path = "../common/checkpoint.rs"]
mod common;

/// What a failed load must leave as it was: the model's values and counters (as bits), and
/// the optimizer's whole state (its `Debug`, which shows every field). Cheaper than saving
/// both, which cost more than the load itself on every input that fails (most of them).
fn state(net: &common::Net, adam: &common::Optim) -> (Vec<u32>, Vec<u64>, String) {
    let mut counters = Vec::new();
    Module::<f32>::visit_counters(net, &Path::ROOT, &mut |c| counters.push(*c.value));
    (to_vec(net).iter().map(|v| v.to_bits()).collect(), counters, format!("{adam:?}"))
}

fn custom_loop(data: &[u8]) {
    let (mut net, mut adam) = common::model();
    let saved = |net: &common::Net, adam: &common::Optim, run: &RunState| {
        checkpoint::to_bytes(net, adam, run).expect("a model and an optimizer save")
    };
    // A fresh model and optimizer: the same for every input, so computed once.
    static BEFORE: OnceLock<(Vec<u32>, Vec<u64>, String)> = OnceLock::new();
    let before = BEFORE.get_or_init(|| state(&net, &adam));
    match checkpoint::load_bytes(&mut net, &mut adam, data) {
        Ok(run) => {
            let bytes = saved(&net, &adam, &run);
            let (mut net2, mut adam2) = common::model();
            let run2 = checkpoint::load_bytes(&mut net2, &mut adam2, &bytes).expect("a saved checkpoint loads");
            assert_eq!(run2, run);
            assert_eq!(saved(&net2, &adam2, &run2), bytes);
            steps(&mut net, &mut adam);
        }
        Err(e) => {
            assert!(state(&net, &adam) == *before, "a failed load changed the model or the optimizer: {e}");
        }
    }
}

/// Three steps of a custom loop from a loaded model and optimizer: errors are fine, a
/// panic (an overflowing counter) is not.
fn steps(net: &mut common::Net, adam: &mut common::Optim) {
    let data = common::data();
    let mut grad = common::Net::default();
    let mut state = common::Net::state::<Heap>();
    let mut dy = vec![0.0f32; 2 * common::BATCH];
    for (x, y) in data.inputs().chunks(3 * common::BATCH).zip(data.targets().chunks(common::BATCH)) {
        let Ok(out) = net.forward_train(x, &mut state) else { return };
        let Ok(_) = CrossEntropyLoss::new().backward(out, y, &mut dy) else { return };
        grad.zero();
        if net.backward(x, &dy, &mut grad, &mut state).is_err() || adam.try_step(net, &grad).is_err() {
            return;
        }
    }
}

fn trainer(data: &[u8]) {
    let mut t = common::trainer();
    static BEFORE: OnceLock<Vec<u8>> = OnceLock::new();
    let before = BEFORE.get_or_init(|| t.checkpoint_bytes().expect("a trainer saves"));
    match t.load_checkpoint_bytes(data) {
        Ok(()) => {
            let bytes = t.checkpoint_bytes().expect("a loaded trainer saves");
            let mut again = common::trainer();
            again.load_checkpoint_bytes(&bytes).expect("a saved trainer loads");
            assert!(again.checkpoint_bytes().expect("a trainer saves") == bytes, "a trainer's checkpoint round trip");
            // Train on: the counters, the cursor and the state it loaded must hold up.
            if t.fit(&common::data(), Some(&common::data()), &mut ()).is_ok() {
                assert!(common::finite(t.net()), "fit returned Ok with a non-finite model");
            }
        }
        Err(e) => {
            let after = t.checkpoint_bytes().expect("a trainer saves");
            assert!(after == *before, "a failed load changed the trainer: {e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    custom_loop(data);
    trainer(data);
});
