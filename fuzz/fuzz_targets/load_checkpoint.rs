//! Any bytes given to the checkpoint loaders, `checkpoint::load_bytes` (a model with a
//! BatchNorm and a Dropout, and Adam) and `Trainer::load_checkpoint_bytes`: each must
//! return `Ok` or `Err`, never panic, and never change the model, the optimizer or the
//! trainer when it returns `Err` (compared through what they save). When a load succeeds,
//! saving and loading again must give the same bytes.
//!
//! The seed corpus (fuzz/corpus/load_checkpoint/, written by examples/checkpoint_seeds.rs)
//! holds valid checkpoints of this model: fresh, mid-epoch, finished, and a custom loop's
//! with generators and metadata of its own.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use monograd::nn::serialize::checkpoint::{self, RunState};

#[path = "../common/checkpoint.rs"]
mod common;

fn custom_loop(data: &[u8]) {
    let (mut net, mut adam) = common::model();
    let saved = |net: &common::Net, adam: &common::Optim, run: &RunState| {
        checkpoint::to_bytes(net, adam, run).expect("a model and an optimizer save")
    };
    // What a fresh model and optimizer save: the same for every input, so computed once.
    static BEFORE: OnceLock<Vec<u8>> = OnceLock::new();
    let before = BEFORE.get_or_init(|| saved(&net, &adam, &RunState::default()));
    match checkpoint::load_bytes(&mut net, &mut adam, data) {
        Ok(run) => {
            let bytes = saved(&net, &adam, &run);
            let (mut net2, mut adam2) = common::model();
            let run2 = checkpoint::load_bytes(&mut net2, &mut adam2, &bytes).expect("a saved checkpoint loads");
            assert_eq!(run2, run);
            assert_eq!(saved(&net2, &adam2, &run2), bytes);
        }
        Err(e) => {
            let after = saved(&net, &adam, &RunState::default());
            assert!(after == *before, "a failed load changed the model or the optimizer: {e}");
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
