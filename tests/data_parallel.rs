//! Data parallelism on threads (feature `parallel`): a batch split across 1 to 4 worker
//! threads gives the weights of the single-threaded step (exactly with one thread, within
//! 1e-6 relative with more, after 50 steps), a run is bit-identical from run to run for a
//! given number of threads, and a worker that panics or hangs ends the step with an error
//! naming it and the step.

use std::time::Duration;

use monograd::nn::distributed::flat::{flatten, Tensors};
use monograd::nn::distributed::{DataParallel, DistError, Fault, Tracked};
use monograd::nn::init::fingerprint;
use monograd::nn::train::{Argmax, TrainError};
use monograd::prelude::*;

network! {
    /// Small enough for a debug build; two hidden layers so that backward has depth.
    pub struct Small {
        input: [20],
        fc1: Linear<20, 32>,
        r1: ReLU,
        fc2: Linear<32, 16>,
        t2: Tanh,
        fc3: Linear<16, 4>,
    }
}

/// 30 samples a batch: 4 threads get uneven shards (7, 8, 7, 8).
const BATCH: usize = 30;
const STEPS: usize = 50;

/// Batch `k` of a fixed stream of inputs and labels.
fn batch(k: usize) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::seed(1000 + k as u64);
    let x: Vec<f32> = (0..BATCH * 20).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y = x.chunks(20).map(|s| (s[0] > 0.0) as usize * 2 + (s[1] + s[2] > 0.0) as usize).collect();
    (x, y)
}

fn optimizer() -> Sgd<f32, Vec<f32>> {
    Sgd::new(0.1).momentum(0.9)
}

/// The single-threaded step, written out: forward, loss, backward, optimizer.
fn reference() -> Small {
    let mut net = Small::new(&mut Rng::seed(7));
    let mut grad = net.zeros_like();
    let mut state = Small::state::<Heap>();
    let mut dy = Vec::new();
    let (loss, mut opt) = (CrossEntropyLoss::new(), optimizer());
    for k in 0..STEPS {
        let (x, y) = batch(k);
        let out = net.forward_train(&x, &mut state).unwrap();
        dy.resize(out.len(), 0.0);
        loss.backward(out, &y, &mut dy).unwrap();
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut state).unwrap();
        opt.step(&mut net, &grad);
    }
    net
}

fn on_threads(threads: usize) -> Small {
    on_threads_spinning(threads, None)
}

/// [`on_threads`] with the pool's spin time set.
fn on_threads_spinning(threads: usize, spin: Option<Duration>) -> Small {
    let mut net = Small::new(&mut Rng::seed(7));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), threads);
    if let Some(s) = spin {
        pool = pool.spin(s);
    }
    let mut opt = optimizer();
    for k in 0..STEPS {
        let (x, y) = batch(k);
        pool.step(k + 1, &mut net, &x, &y, &mut grad, None).unwrap();
        opt.step(&mut net, &grad);
    }
    net
}

/// The largest difference between the two networks' values, relative to the largest value.
fn relative_difference(a: &Small, b: &Small) -> f64 {
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    flatten(a, Tensors::All, &mut fa);
    flatten(b, Tensors::All, &mut fb);
    let scale = fa.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let diff = fa.iter().zip(&fb).fold(0.0f64, |m, (x, y)| m.max(f64::from((x - y).abs())));
    diff / scale
}

#[test]
fn threads_give_the_single_threaded_weights() {
    let single = reference();
    let one = on_threads(1);
    assert_eq!(fingerprint(&one), fingerprint(&single), "one worker must be exact");
    for threads in 2..=4 {
        let net = on_threads(threads);
        let d = relative_difference(&net, &single);
        assert!(d <= 1e-6, "{threads} threads: relative difference {d:e}");
        // Not trivially equal either: the sums are grouped differently.
        println!("{threads} threads: relative difference {d:e}");
    }
}

#[test]
fn a_run_is_bit_identical_for_a_given_number_of_threads() {
    for threads in [2, 3] {
        assert_eq!(fingerprint(&on_threads(threads)), fingerprint(&on_threads(threads)), "{threads} threads");
    }
}

#[test]
fn parking_at_once_or_spinning_long_gives_the_same_bits() {
    // How the threads wait changes the timing, never the additions.
    for threads in [2, 4] {
        let spinning = fingerprint(&on_threads_spinning(threads, Some(Duration::from_millis(5))));
        assert_eq!(fingerprint(&on_threads_spinning(threads, Some(Duration::ZERO))), spinning, "{threads} threads");
        assert_eq!(fingerprint(&on_threads(threads)), spinning, "{threads} threads");
    }
}

#[test]
fn more_threads_than_samples() {
    let mut net = Small::new(&mut Rng::seed(7));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), 4);
    let (x, y) = batch(0);
    let out = pool.step(1, &mut net, &x[..2 * 20], &y[..2], &mut grad, Some(&Argmax)).unwrap();
    let mut single = net.zeros_like();
    let mut state = Small::state::<Heap>();
    let o = net.forward_train(&x[..40], &mut state).unwrap();
    let mut dy = vec![0.0; o.len()];
    let l = CrossEntropyLoss::new().backward(o, &y[..2], &mut dy).unwrap();
    net.backward(&x[..40], &dy, &mut single, &mut state).unwrap();
    assert!((out.loss - l).abs() <= 1e-6 * l.abs());
    assert!(relative_difference(&grad, &single) <= 1e-6);
}

#[test]
fn the_trainer_takes_threads() {
    let (x, y): (Vec<f32>, Vec<usize>) = (0..4).map(batch).fold((vec![], vec![]), |(mut xs, mut ys), (x, y)| {
        xs.extend(x);
        ys.extend(y);
        (xs, ys)
    });
    let data = Dataset::new(x, y, 20).unwrap();
    let fit = |threads: usize| {
        let mut t = Trainer::new(Small::new(&mut Rng::seed(3)), optimizer(), CrossEntropyLoss::new())
            .epochs(3)
            .batch_size(BATCH)
            .threads(threads);
        let h = t.fit(&data, None, &mut ()).unwrap();
        let acc = h.epochs.last().unwrap().train.accuracy;
        (*t.into_net(), acc)
    };
    let (one, acc1) = fit(1);
    let (two, acc2) = fit(2);
    let (two_again, _) = fit(2);
    assert!(relative_difference(&one, &two) <= 1e-6);
    assert_eq!(fingerprint(&two), fingerprint(&two_again));
    assert_eq!(acc1, acc2, "correct predictions are counted on every shard");
}

#[test]
fn bad_data_is_an_error_not_a_panic() {
    let mut net = Small::new(&mut Rng::seed(7));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), 2);
    let (x, mut y) = batch(0);
    y[20] = 9; // a label out of range, in the second shard
    assert!(matches!(pool.step(1, &mut net, &x, &y, &mut grad, None), Err(DistError::Shape(_))));
    assert!(matches!(pool.step(2, &mut net, &x[..7], &y, &mut grad, None), Err(DistError::Shape(_))));
}

#[test]
fn a_panicking_worker_ends_the_step_with_its_index_and_step() {
    let mut net = Small::new(&mut Rng::seed(7));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), 3);
    pool.inject_fault(1, 3, Fault::Panic);
    let (x, y) = batch(0);
    pool.step(1, &mut net, &x, &y, &mut grad, None).unwrap();
    pool.step(2, &mut net, &x, &y, &mut grad, None).unwrap();
    let e = pool.step(3, &mut net, &x, &y, &mut grad, None).unwrap_err();
    assert!(matches!(&e, DistError::Panicked { worker: 1, step: 3, .. }), "{e:?}");
    assert!(e.to_string().starts_with("worker 1 failed at step 3"), "{e}");
    // The pool is broken from then on.
    assert_eq!(pool.step(4, &mut net, &x, &y, &mut grad, None).unwrap_err(), e);
}

#[test]
fn a_hanging_worker_ends_the_step_at_the_timeout() {
    let mut net = Small::new(&mut Rng::seed(7));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), 3).timeout(Duration::from_millis(300));
    pool.inject_fault(2, 2, Fault::Hang);
    let (x, y) = batch(0);
    pool.step(1, &mut net, &x, &y, &mut grad, None).unwrap();
    let e = pool.step(2, &mut net, &x, &y, &mut grad, None).unwrap_err();
    assert!(matches!(e, DistError::Timeout { worker: 2, step: 2, waiting: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("worker 2 did not finish step 2"), "{e}");
    // Dropping the pool does not wait for ever on the hung worker.
    drop(pool);
}

#[test]
fn the_trainer_reports_a_failed_worker() {
    // A worker fault reaches `fit` as `TrainError::Distributed`.
    let e: TrainError = DistError::Timeout { worker: 1, step: 9, waiting: 1, after: Duration::from_secs(2) }.into();
    assert!(matches!(e, TrainError::Distributed(_)));
    assert_eq!(e.to_string(), "worker 1 did not finish step 9 within 2.0 s (1 worker(s) still running)");
}

network! {
    /// With BatchNorm (buffers and a counter) and Dropout (a counter).
    pub struct Stateful {
        input: [20],
        fc1: Linear<20, 16>,
        bn: BatchNorm1d<16>,
        r1: ReLU,
        drop: Dropout,
        fc2: Linear<16, 4>,
    }
}

#[test]
fn buffers_and_counters_come_back_from_the_first_worker() {
    let (x, y) = batch(0);
    let loss = CrossEntropyLoss::new();
    let mut start = Stateful::new(&mut Rng::seed(2));
    start.drop.p = 0.25;
    // Single-threaded: 3 steps on the whole batch.
    let mut single = start.clone();
    let mut grad = single.zeros_like();
    let mut st = Stateful::state::<Heap>();
    let mut opt = optimizer();
    for _ in 0..3 {
        let out = single.forward_train(&x, &mut st).unwrap();
        let mut dy = vec![0.0; out.len()];
        loss.backward(out, &y, &mut dy).unwrap();
        grad.zero();
        single.backward(&x, &dy, &mut grad, &mut st).unwrap();
        opt.step(&mut single, &grad);
    }
    // One worker: the same, buffers and counters included.
    let mut one = start.clone();
    let mut pool = DataParallel::new(&one, loss, 1);
    let mut opt = optimizer();
    for k in 1..=3 {
        pool.step(k, &mut one, &x, &y, &mut grad, None).unwrap();
        opt.step(&mut one, &grad);
    }
    assert_eq!(fingerprint(&one), fingerprint(&single), "every tensor, running statistics included");
    let counters = |n: &Stateful| {
        let mut c = Vec::new();
        monograd::nn::distributed::flat::flatten_counters(n, &mut c);
        c
    };
    assert_eq!(counters(&one), counters(&single));
    assert_eq!(one.bn.num_batches_tracked, 3);
    // Two workers: the running statistics are the first shard's, and the counters advance.
    let mut two = start.clone();
    let mut pool = DataParallel::new(&two, loss, 2);
    pool.step(1, &mut two, &x, &y, &mut grad, None).unwrap();
    let mut first = start.clone();
    let mut st = Stateful::state::<Heap>();
    first.forward_train(&x[..15 * 20], &mut st).unwrap();
    assert_eq!(two.bn.running_mean, first.bn.running_mean);
    assert_eq!(two.bn.num_batches_tracked, 1);
}

/// [`on_threads`] through `train_step`: the optimizer applied by every thread to its range.
/// With `touch`, the weights are changed through `DerefMut` before step `touch`.
fn fused_on_threads(threads: usize, touch: Option<usize>) -> Small {
    let mut net = Tracked::new(Small::new(&mut Rng::seed(7)));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&*net, CrossEntropyLoss::new(), threads);
    let mut opt = optimizer();
    for k in 0..STEPS {
        if touch == Some(k) {
            net.fc2.bias[1] += 0.5;
        }
        let (x, y) = batch(k);
        pool.train_step(k + 1, &mut net, &x, &y, &mut grad, &mut opt, None).unwrap();
    }
    net.into_inner()
}

/// [`on_threads`], with the same change of the weights as [`fused_on_threads`].
fn touched_on_threads(threads: usize, touch: usize) -> Small {
    let mut net = Small::new(&mut Rng::seed(7));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), threads);
    let mut opt = optimizer();
    for k in 0..STEPS {
        if k == touch {
            net.fc2.bias[1] += 0.5;
        }
        let (x, y) = batch(k);
        pool.step(k + 1, &mut net, &x, &y, &mut grad, None).unwrap();
        opt.step(&mut net, &grad);
    }
    net
}

#[test]
fn the_update_by_ranges_gives_the_bits_of_the_step_then_the_optimizer() {
    // One thread: the single-threaded step exactly; more: the separate step's bits (the
    // same additions, the same update), hence within 1e-6 of one thread.
    assert_eq!(fingerprint(&fused_on_threads(1, None)), fingerprint(&reference()));
    for threads in 2..=4 {
        let fused = fused_on_threads(threads, None);
        assert_eq!(fingerprint(&fused), fingerprint(&on_threads(threads)), "{threads} threads");
        assert_eq!(fingerprint(&fused), fingerprint(&fused_on_threads(threads, None)), "{threads} threads, again");
    }
}

#[test]
fn weights_changed_between_fused_steps_reach_the_replicas() {
    // Without the copy the replicas would not see the change: the gradients, hence the
    // weights, would differ from the separate step's.
    for threads in [2, 3] {
        let fused = fused_on_threads(threads, Some(10));
        assert_eq!(fingerprint(&fused), fingerprint(&touched_on_threads(threads, 10)), "{threads} threads");
        assert_ne!(fingerprint(&fused), fingerprint(&fused_on_threads(threads, None)));
    }
}

#[test]
fn the_update_by_ranges_keeps_buffers_and_counters_in_step() {
    // BatchNorm's running statistics and count and Dropout's step, which the replicas take
    // from the caller after each update instead of a copy at the next step's start.
    let (x, y) = batch(0);
    let loss = CrossEntropyLoss::new();
    let mut start = Stateful::new(&mut Rng::seed(2));
    start.drop.p = 0.25;
    for threads in [2, 3] {
        let mut separate = start.clone();
        let mut grad = separate.zeros_like();
        let mut pool = DataParallel::new(&separate, loss, threads);
        let mut opt = optimizer();
        for k in 1..=5 {
            pool.step(k, &mut separate, &x, &y, &mut grad, None).unwrap();
            opt.step(&mut separate, &grad);
        }
        let mut fused = Tracked::new(start.clone());
        let mut pool = DataParallel::new(&*fused, loss, threads);
        let mut opt = optimizer();
        for k in 1..=5 {
            pool.train_step(k, &mut fused, &x, &y, &mut grad, &mut opt, None).unwrap();
        }
        assert_eq!(fingerprint(&*fused), fingerprint(&separate), "{threads} threads");
        assert_eq!(fused.bn.num_batches_tracked, 5);
        assert_eq!(fused.drop, separate.drop);
    }
}

#[test]
fn a_refused_update_or_a_failed_worker_ends_the_fused_step() {
    let mut net = Tracked::new(Small::new(&mut Rng::seed(7)));
    let mut grad = net.zeros_like();
    let mut pool = DataParallel::new(&*net, CrossEntropyLoss::new(), 3);
    let (x, mut y) = batch(0);
    let mut opt = optimizer();
    pool.train_step(1, &mut net, &x, &y, &mut grad, &mut opt, None).unwrap();
    // A learning rate set out of range: refused, nothing updated, the pool still works.
    let before = fingerprint(&*net);
    Optimizer::<f32>::set_lr(&mut opt, -1.0);
    let e = pool.train_step(2, &mut net, &x, &y, &mut grad, &mut opt, None).unwrap_err();
    assert!(matches!(e, DistError::Optim(_)), "{e:?}");
    assert_eq!(fingerprint(&*net), before);
    Optimizer::<f32>::set_lr(&mut opt, 0.1);
    // A label out of range in the last shard: an error, no update, and no step counted.
    y[25] = 9;
    let steps = opt.steps();
    assert!(matches!(pool.train_step(3, &mut net, &x, &y, &mut grad, &mut opt, None), Err(DistError::Shape(_))));
    assert_eq!((fingerprint(&*net), opt.steps()), (before, steps));
    y[25] = 0;
    pool.train_step(4, &mut net, &x, &y, &mut grad, &mut opt, None).unwrap();
    assert_ne!(fingerprint(&*net), before);
    // A worker that panics.
    pool.inject_fault(2, 5, Fault::Panic);
    let e = pool.train_step(5, &mut net, &x, &y, &mut grad, &mut opt, None).unwrap_err();
    assert!(matches!(&e, DistError::Panicked { worker: 2, step: 5, .. }), "{e:?}");
}

network! {
    /// A first layer of 3,200 weights: the update runs over chunks of 2,048 values.
    pub struct Wide {
        input: [20],
        fc1: Linear<20, 160>,
        r1: ReLU,
        fc2: Linear<160, 4>,
    }
}

#[test]
fn the_update_by_ranges_crosses_chunks_with_the_momentum_in_place() {
    for threads in [2, 3] {
        let mut separate = Wide::new(&mut Rng::seed(4));
        let mut fused = Tracked::new(separate.clone());
        let mut grad = separate.zeros_like();
        let mut pool = DataParallel::new(&separate, CrossEntropyLoss::new(), threads);
        let mut fused_pool = DataParallel::new(&*fused, CrossEntropyLoss::new(), threads);
        let (mut opt, mut fused_opt) = (optimizer(), optimizer());
        for k in 0..10 {
            let (x, y) = batch(k);
            pool.step(k + 1, &mut separate, &x, &y, &mut grad, None).unwrap();
            opt.step(&mut separate, &grad);
            fused_pool.train_step(k + 1, &mut fused, &x, &y, &mut grad, &mut fused_opt, None).unwrap();
        }
        assert_eq!(fingerprint(&*fused), fingerprint(&separate), "{threads} threads");
        assert_eq!(fused_opt.state(), opt.state(), "{threads} threads: the momentum buffers");
    }
}

#[test]
fn adam_and_adamw_step_by_ranges_too() {
    // Two and three moments per parameter (AMSGrad), decay coupled and decoupled.
    type Opt = Adam<f32, Vec<f32>>;
    let make: [fn() -> Opt; 2] =
        [|| Adam::new(1e-3).amsgrad(true).weight_decay(0.01), || AdamW::new(1e-3).weight_decay(0.1)];
    for (i, make) in make.into_iter().enumerate() {
        let mut separate = Wide::new(&mut Rng::seed(5));
        let mut fused = Tracked::new(separate.clone());
        let mut grad = separate.zeros_like();
        let mut pool = DataParallel::new(&separate, CrossEntropyLoss::new(), 2);
        let mut fused_pool = DataParallel::new(&*fused, CrossEntropyLoss::new(), 2);
        let (mut opt, mut fused_opt) = (make(), make());
        for k in 0..6 {
            let (x, y) = batch(k);
            pool.step(k + 1, &mut separate, &x, &y, &mut grad, None).unwrap();
            opt.step(&mut separate, &grad);
            fused_pool.train_step(k + 1, &mut fused, &x, &y, &mut grad, &mut fused_opt, None).unwrap();
        }
        assert_eq!(fingerprint(&*fused), fingerprint(&separate), "optimizer {i}");
        assert_eq!(fused_opt.state(), opt.state(), "optimizer {i}: the moments");
    }
}
