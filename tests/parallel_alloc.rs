//! A data-parallel step allocates nothing after the first, on any thread: the worker pool
//! is spawned once and every buffer is reused. Counted by a global allocator over every
//! thread of the process (so this file holds one check and runs without libtest's
//! harness, whose own threads would otherwise count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use monograd::nn::distributed::{DataParallel, Tracked};
use monograd::nn::train::Argmax;
use monograd::prelude::*;

#[path = "../benches/common/workloads.rs"]
mod workloads;

struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// atomics, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations during `f`, on every thread.
fn counted(f: impl FnOnce()) -> usize {
    ALLOCS.store(0, Ordering::SeqCst);
    ON.store(true, Ordering::SeqCst);
    f();
    ON.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

fn main() {
    // W1, the shared workloads' MLP, at a global batch of 64 (a debug build stays quick).
    let mut net = workloads::Mlp::new(&mut Rng::seed(0));
    let mut grad = net.zeros_like();
    let mut rng = Rng::seed(1);
    let x: Vec<f32> = (0..64 * 784).map(|_| rng.uniform(0.0, 1.0) as f32).collect();
    let y: Vec<usize> = (0..64).map(|i| i % 10).collect();
    let mut opt = AdamW::new(1e-3);
    for threads in [2, 3] {
        let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), threads);
        let mut step = |k: usize, net: &mut workloads::Mlp, grad: &mut workloads::Mlp| {
            pool.step(k, net, &x, &y, grad, Some(&Argmax)).unwrap();
            opt.step(net, grad);
        };
        let first = counted(|| step(1, &mut net, &mut grad));
        let rest = counted(|| {
            for k in 2..=6 {
                step(k, &mut net, &mut grad);
            }
        });
        println!("{threads} threads: {first} allocations in the first step, {rest} in the five after");
        assert!(first > 0, "the first step sizes the buffers (a counter that never counts proves nothing)");
        assert_eq!(rest, 0, "{threads} threads: steps 2 to 6 allocated {rest} times");
    }
    // On a thread of its own with a large stack: an unoptimised build moves copies of the
    // 1 MB network through the stack.
    let (xs, ys) = (x.clone(), y.clone());
    std::thread::Builder::new().stack_size(64 << 20).spawn(move || fused_on_threads(&xs, &ys)).unwrap().join().unwrap();
    trainer_on_threads();
    println!("parallel_alloc: ok");
}

/// `train_step`, the optimizer applied by every thread (SGD with momentum: a state to
/// split between them): nothing allocated after the first step either.
fn fused_on_threads(x: &[f32], y: &[usize]) {
    let mut net = Tracked::new(workloads::Mlp::new(&mut Rng::seed(0)));
    let mut grad = net.zeros_like();
    let mut opt = Sgd::new(0.01).momentum(0.9);
    for threads in [2, 3] {
        let mut pool = DataParallel::new(&*net, CrossEntropyLoss::new(), threads);
        let mut step = |k: usize, net: &mut Tracked<workloads::Mlp>, grad: &mut workloads::Mlp| {
            pool.train_step(k, net, x, y, grad, &mut opt, Some(&Argmax)).unwrap();
        };
        let first = counted(|| step(1, &mut net, &mut grad));
        let rest = counted(|| {
            for k in 2..=6 {
                step(k, &mut net, &mut grad);
            }
        });
        println!("train_step, {threads} threads: {first} allocations in the first step, {rest} in the five after");
        assert!(first > 0, "the first step sizes the buffers");
        assert_eq!(rest, 0, "train_step, {threads} threads: steps 2 to 6 allocated {rest} times");
    }
}

/// The trainer with `threads(2)`: after its first step, nothing is allocated, in the first
/// epoch or across the next.
fn trainer_on_threads() {
    let mut rng = Rng::seed(3);
    let x: Vec<f32> = (0..96 * 784).map(|_| rng.uniform(0.0, 1.0) as f32).collect();
    let y: Vec<usize> = (0..96).map(|i| i % 10).collect();
    let data = Dataset::new(x, y, 784).unwrap();
    let mut trainer = Trainer::new(workloads::Mlp::new(&mut Rng::seed(0)), AdamW::new(1e-3), CrossEntropyLoss::new())
        .epochs(2)
        .batch_size(32)
        .threads(2);
    // (step, allocations so far) at every step.
    let mut seen: Vec<(usize, usize)> = Vec::with_capacity(16);
    ALLOCS.store(0, Ordering::SeqCst);
    ON.store(true, Ordering::SeqCst);
    trainer
        .fit(&data, None, &mut |e: &Event<'_>| {
            if let Event::Step(s) = e {
                seen.push((s.step, ALLOCS.load(Ordering::SeqCst)));
            }
            Control::Continue
        })
        .unwrap();
    ON.store(false, Ordering::SeqCst);
    assert_eq!(seen.len(), 6);
    let after_first = seen[0].1;
    let at_end = seen[5].1;
    println!("trainer, 2 threads: {after_first} allocations up to the end of step 1, {} after", at_end - after_first);
    assert!(after_first > 0);
    assert_eq!(at_end, after_first, "steps 2 to 6 allocated: {seen:?}");
}
