//! A data-parallel run that loses a worker (a panic, or a hang caught by the timeout) ends
//! with an error naming the worker and the step, and the same run resumed from its last
//! checkpoint in a fresh trainer (as after a restart) ends bit-identical to a run that
//! never failed: weights, buffers, counters and optimizer state.

use std::time::Duration;

use monograd::core::module::Path;
use monograd::nn::distributed::{DataParallel, Fault};
use monograd::nn::optim::{OptimizerState, StateRef};
use monograd::nn::train::TrainError;
use monograd::prelude::*;

network! {
    /// Weights, BatchNorm's buffers and count, Dropout's counter.
    pub struct Net {
        input: [8],
        fc1: Linear<8, 16>,
        bn: BatchNorm1d<16>,
        act: ReLU,
        drop: Dropout(0.25),
        fc2: Linear<16, 3>,
    }
}

const THREADS: usize = 2;
/// 100 samples in batches of 16: 7 steps an epoch, 21 in all.
const EPOCHS: usize = 3;
/// The last checkpoint before the failure.
const CHECKPOINT_AT: usize = 12;
/// The step a worker fails in (in the third epoch).
const FAIL_AT: usize = 15;

type Run = Trainer<Net, Adam<f32, Vec<f32>>, CrossEntropyLoss<'static, f32>, usize>;

/// Three noisy blobs in 8 dimensions.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::seed(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 3;
        x.extend((0..8).map(|d| if d % 3 == c { 1.0 } else { 0.0 } + 0.5 * rng.normal() as f32));
        y.push(c);
    }
    Dataset::new(x, y, 8).unwrap()
}

/// A trainer on `THREADS` workers, with `pool` set up by the caller (faults, timeout).
fn trainer(setup: impl FnOnce(DataParallel<Net, usize>) -> DataParallel<Net, usize>) -> Run {
    let net = Net::new(&mut Rng::seed(3));
    let pool = setup(DataParallel::new(&net, CrossEntropyLoss::new(), THREADS));
    Trainer::new(net, Adam::new(1e-2), CrossEntropyLoss::new())
        .epochs(EPOCHS)
        .batch_size(16)
        .seed(3)
        .data_parallel(pool)
}

fn pause_at(k: usize) -> impl FnMut(&Event<'_>) -> Control {
    move |e: &Event<'_>| match e {
        Event::Step(s) if s.step == k => Control::Pause,
        _ => Control::Continue,
    }
}

/// Every tensor, counter and optimizer value of a run, as bits, and its step count.
fn outcome(t: &Run) -> (Vec<u32>, Vec<u64>, Vec<u64>, usize) {
    let mut bits = Vec::new();
    t.net().visit(&Path::ROOT, &mut |t| bits.extend(t.values.iter().map(|v| v.to_bits())));
    let mut counters = Vec::new();
    t.net().visit_counters(&Path::ROOT, &mut |c| counters.push(*c.value));
    let mut optimizer = Vec::new();
    t.optimizer().visit_state(<Net as Module<f32>>::PARAMS, &Path::ROOT, &mut |s| match s {
        StateRef::Counter { value, .. } => optimizer.push(value),
        StateRef::Block { values, .. } => {
            optimizer.extend(values.into_iter().flatten().map(|v| u64::from(v.to_bits())))
        }
        _ => {}
    });
    (bits, counters, optimizer, t.steps())
}

fn resumes_after(fault: Fault, timeout: Duration) {
    let data = blobs(100, 5);
    let mut straight = trainer(|p| p);
    straight.fit(&data, None, &mut ()).unwrap();

    let mut first = trainer(|mut p| {
        p.inject_fault(1, FAIL_AT, fault);
        p.timeout(timeout)
    });
    first.fit(&data, None, &mut pause_at(CHECKPOINT_AT)).unwrap();
    let checkpoint = first.checkpoint_bytes().unwrap();
    let err = first.fit(&data, None, &mut ()).expect_err("the failed worker must end the run");
    assert!(matches!(err, TrainError::Distributed(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("worker 1") && text.contains(&format!("step {FAIL_AT}")), "{text}");
    // The failed step changed nothing: the trainer stands after the step before it.
    assert_eq!(first.steps(), FAIL_AT - 1);

    // A restart: a fresh trainer (other initial weights) loads the last checkpoint.
    let mut second = trainer(|p| p);
    *second.net_mut() = Net::new(&mut Rng::seed(99));
    second.load_checkpoint_bytes(&checkpoint).unwrap();
    assert_eq!(second.steps(), CHECKPOINT_AT);
    second.fit(&data, None, &mut ()).unwrap();
    assert_eq!(outcome(&second), outcome(&straight));
}

#[test]
fn a_run_that_loses_a_worker_resumes_bit_identically() {
    resumes_after(Fault::Panic, Duration::from_secs(60));
}

#[test]
fn a_run_with_a_hung_worker_ends_at_the_timeout_and_resumes_bit_identically() {
    resumes_after(Fault::Hang, Duration::from_millis(300));
}
