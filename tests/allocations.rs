//! Inference allocates nothing, and a training step allocates nothing after its first:
//! counted, not timed, by a global allocator, for the shared workloads' MLP (W1) and
//! LeNet (W4) as `network!` declares them.
//!
//! The allocator counts only on a thread that has switched counting on (a thread-local
//! flag), so the tests that libtest runs beside these on other threads cannot change the
//! counts, and nothing here depends on `--test-threads`.
//!
//! With `Heap` storage a state's buffers grow on the first pass at a batch size, so the
//! claims are: after one training step, every further step (forward, loss, backward,
//! optimizer) and every inference at that batch size or a smaller one allocates nothing;
//! with `Fixed` storage nothing allocates from the state's creation on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::thread::LocalKey;

use monograd::prelude::*;

/// Counts allocations (fresh, zeroed, grown) and frees on threads that asked for it.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static FREES: Cell<usize> = const { Cell::new(0) };
}

/// Adds one to `counter` if this thread counts. `try_with`: a thread being torn down may
/// still free memory after its thread-locals are gone.
fn note(counter: &'static LocalKey<Cell<usize>>) {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = counter.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCS);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(&FREES);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What the allocator saw during one measured section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    allocs: usize,
    frees: usize,
}

const NOTHING: Counts = Counts { allocs: 0, frees: 0 };

/// Runs `f` with counting on for this thread; returns what it returned and the counts.
fn counted<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    ALLOCS.set(0);
    FREES.set(0);
    COUNTING.set(true);
    let r = f();
    COUNTING.set(false);
    (r, Counts { allocs: ALLOCS.get(), frees: FREES.get() })
}

#[path = "../benches/common/workloads.rs"]
mod workloads;
use workloads::{LeNet, Mlp};

/// Runs `f` on a thread with a 64 MB stack: the networks hold their parameters inline
/// (the MLP's 235,146 values are 0.9 MB per copy), which overflows a test thread's stack
/// in an unoptimised build. Spawning happens before any counting starts.
fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    let t = std::thread::Builder::new().stack_size(64 << 20).spawn(f).expect("a thread");
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Inputs uniform in [0, 1) and labels in 0..10, as the workloads use.
fn data<N: Network<f32>>(batch: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::seed(seed);
    let x = (0..batch * <N::Input as Shape>::NUMEL).map(|_| rng.next_f64() as f32).collect();
    let labels = (0..batch).map(|_| (rng.next_f64() * 10.0) as usize % 10).collect();
    (x, labels)
}

/// One training step as a training loop runs it: forward, loss and its gradient, zeroed
/// gradients, backward, optimizer. Returns the loss.
fn step<N: Network<f32>, S: Storage, O: Optimizer<f32>>(
    net: &mut N,
    grad: &mut N,
    state: &mut N::State<S>,
    opt: &mut O,
    (x, labels): (&[f32], &[usize]),
    dy: &mut [f32],
) -> f32 {
    let y = net.forward_train(x, state).expect("the batch fits");
    let loss = CrossEntropyLoss::new().backward(y, labels, dy).expect("one label per sample");
    grad.zero();
    net.backward(x, dy, grad, state).expect("after a training forward");
    opt.step(net, grad);
    loss
}

/// [`step`] as `Optimizer::backward_step` takes it: backward and the update in one,
/// fused for plain SGD.
fn fused_step<N: Network<f32>, S: Storage, O: Optimizer<f32>>(
    net: &mut N,
    grad: &mut N,
    state: &mut N::State<S>,
    opt: &mut O,
    (x, labels): (&[f32], &[usize]),
    dy: &mut [f32],
) -> f32 {
    let y = net.forward_train(x, state).expect("the batch fits");
    let loss = CrossEntropyLoss::new().backward(y, labels, dy).expect("one label per sample");
    opt.backward_step(net, x, dy, grad, state).expect("after a training forward");
    loss
}

/// Trains `N` from `init` with `opt` at `batch`: the first step may allocate (buffers,
/// optimizer state); the next two steps and inference at this batch and at batch 1
/// must not.
fn training_allocates_only_in_its_first_step<N, O>(what: &'static str, init: u64, opt: O, batch: usize)
where
    N: Network<f32> + Default,
    O: Optimizer<f32> + Send + 'static,
{
    on_big_stack(move || train_and_count::<N, O>(what, init, opt, batch, false));
}

/// [`training_allocates_only_in_its_first_step`] through [`fused_step`].
fn fused_training_allocates_only_in_its_first_step<N, O>(what: &'static str, init: u64, opt: O, batch: usize)
where
    N: Network<f32> + Default,
    O: Optimizer<f32> + Send + 'static,
{
    on_big_stack(move || train_and_count::<N, O>(what, init, opt, batch, true));
}

fn train_and_count<N, O>(what: &str, init: u64, mut opt: O, batch: usize, fused: bool)
where
    N: Network<f32> + Default,
    O: Optimizer<f32>,
{
    let step = if fused { fused_step::<N, Heap, O> } else { step::<N, Heap, O> };
    let mut net = N::default();
    net.init(&mut Rng::seed(init));
    let mut grad = N::default();
    let mut state = N::state::<Heap>();
    let (x, labels) = data::<N>(batch, init + 1);
    let mut dy = vec![0.0f32; batch * <N::Output as Shape>::NUMEL];

    let (first, counts) = counted(|| step(&mut net, &mut grad, &mut state, &mut opt, (&x, &labels), &mut dy));
    // The counter works: the first step grows the state's buffers.
    assert!(counts.allocs > 0, "{what}: the first step allocated nothing? {counts:?}");
    let mut losses = vec![first];
    losses.reserve(3);
    for i in 2..=3 {
        let (loss, counts) = counted(|| step(&mut net, &mut grad, &mut state, &mut opt, (&x, &labels), &mut dy));
        assert_eq!(counts, NOTHING, "{what}: training step {i} allocated");
        losses.push(loss);
    }
    assert!(losses.iter().all(|l| l.is_finite()), "{what}: {losses:?}");
    assert!(losses[2] < losses[0], "{what}: the steps trained nothing: {losses:?}");

    let (y, counts) = counted(|| net.forward(&x, &mut state).map(<[f32]>::len));
    assert_eq!((y, counts), (Ok(batch * 10), NOTHING), "{what}: inference at batch {batch} allocated");
    let one = &x[..<N::Input as Shape>::NUMEL];
    let (y, counts) = counted(|| net.forward(one, &mut state).map(<[f32]>::len));
    assert_eq!((y, counts), (Ok(10), NOTHING), "{what}: inference at batch 1 after batch {batch} allocated");
    // And training again at the full batch after the smaller one.
    let (_, counts) = counted(|| step(&mut net, &mut grad, &mut state, &mut opt, (&x, &labels), &mut dy));
    assert_eq!(counts, NOTHING, "{what}: a training step after a smaller batch allocated");
}

#[test]
fn the_counter_counts_this_thread_only() {
    let (v, counts) = counted(|| vec![1u8; 100]);
    assert_eq!(counts, Counts { allocs: 1, frees: 0 });
    let (_, counts) = counted(|| drop(v));
    assert_eq!(counts, Counts { allocs: 0, frees: 1 });
    // Another thread's allocations are not counted here.
    let other = std::thread::spawn(|| counted(|| Vec::<u64>::with_capacity(8).capacity()).1);
    assert_eq!(other.join().unwrap(), Counts { allocs: 1, frees: 1 });
}

/// Inference alone (W2): the first pass at a batch size sizes the buffers it needs, and
/// every later pass at that size or a smaller one allocates nothing.
fn inference_allocates_only_in_its_first_pass<N: Network<f32> + Default>(what: &'static str, batch: usize) {
    on_big_stack(move || {
        let mut net = N::default();
        net.init(&mut Rng::seed(5));
        let (x, _) = data::<N>(batch, 6);
        let mut state = N::state::<Heap>();
        let (_, counts) = counted(|| net.forward(&x, &mut state).map(<[f32]>::len));
        assert!(counts.allocs > 0, "{what}: the first inference allocated nothing? {counts:?}");
        for b in [batch, 1, batch] {
            let x = &x[..b * <N::Input as Shape>::NUMEL];
            let (y, counts) = counted(|| net.forward(x, &mut state).map(<[f32]>::len));
            assert_eq!((y, counts), (Ok(b * 10), NOTHING), "{what}: inference at batch {b} allocated");
        }
    });
}

#[test]
fn mlp_inference_allocates_nothing_once_sized() {
    inference_allocates_only_in_its_first_pass::<Mlp>("W2 MLP", 64);
}

#[test]
fn lenet_inference_allocates_nothing_once_sized() {
    inference_allocates_only_in_its_first_pass::<LeNet>("W4 LeNet", 32);
}

#[test]
fn mlp_sgd_steps_allocate_nothing_after_the_first() {
    training_allocates_only_in_its_first_step::<Mlp, _>("W1 MLP, SGD", 0, Sgd::new(0.01), 64);
}

#[test]
fn mlp_fused_sgd_steps_allocate_nothing_after_the_first() {
    fused_training_allocates_only_in_its_first_step::<Mlp, _>("W1 MLP, fused SGD", 0, Sgd::new(0.01), 64);
}

#[test]
fn lenet_fused_sgd_steps_allocate_nothing_after_the_first() {
    fused_training_allocates_only_in_its_first_step::<LeNet, _>("W4 LeNet, fused SGD", 3, Sgd::new(0.01), 32);
}

/// Inference through `Prepared` (W2 as the bench runs it): packing allocates once, when
/// prepared; the passes then allocate as the network's own do.
#[test]
fn prepared_mlp_inference_allocates_nothing_once_sized() {
    on_big_stack(|| {
        use monograd::core::prepared::Prepared;
        let mut net = Mlp::default();
        net.init(&mut Rng::seed(5));
        let prepared = Prepared::new(&net);
        let (x, _) = data::<Mlp>(64, 6);
        let mut state = Mlp::state::<Heap>();
        prepared.forward(&x, &mut state).unwrap();
        for b in [64, 1, 64] {
            let x = &x[..b * 784];
            let (y, counts) = counted(|| prepared.forward(x, &mut state).map(<[f32]>::len));
            assert_eq!((y, counts), (Ok(b * 10), NOTHING), "prepared inference at batch {b} allocated");
        }
    });
}

#[test]
fn mlp_sgd_momentum_steps_allocate_nothing_after_the_first() {
    training_allocates_only_in_its_first_step::<Mlp, _>("W1 MLP, SGD momentum", 1, Sgd::new(0.01).momentum(0.9), 64);
}

#[test]
fn mlp_adam_steps_allocate_nothing_after_the_first() {
    training_allocates_only_in_its_first_step::<Mlp, _>("W1 MLP, Adam", 2, Adam::new(1e-3), 64);
}

#[test]
fn lenet_sgd_steps_allocate_nothing_after_the_first() {
    training_allocates_only_in_its_first_step::<LeNet, _>("W4 LeNet, SGD", 3, Sgd::new(0.01), 32);
}

#[test]
fn lenet_adam_steps_allocate_nothing_after_the_first() {
    training_allocates_only_in_its_first_step::<LeNet, _>("W4 LeNet, Adam", 4, Adam::new(1e-3), 32);
}

/// With `Fixed` storage and the optimizer's state in an array, nothing allocates at all:
/// not the state's creation, not the first inference, not the first training step. The
/// state holds its batch inline (about 0.4 MB for the MLP at 64 samples), so this runs on
/// a thread with a large stack.
#[test]
fn fixed_storage_allocates_nothing_from_the_start() {
    const BATCH: usize = 64;
    const PACK: usize = PACK_LEN;
    let run = || {
        let (x, labels) = data::<Mlp>(BATCH, 7);
        let mut dy = vec![0.0f32; BATCH * 10];
        let mut net = Mlp::new(&mut Rng::seed(7));
        let mut grad = Mlp::default();
        let mut moments = vec![0.0f32; 3 * Mlp::PARAMS];
        let ((), counts) = counted(|| {
            let mut state = Mlp::state::<Fixed<BATCH, PACK>>();
            let y = net.forward(&x, &mut state).expect("the batch fits");
            assert_eq!(y.len(), BATCH * 10);
            let mut adam = Adam::with_state(1e-3f32, &mut moments[..]);
            for _ in 0..2 {
                step(&mut net, &mut grad, &mut state, &mut adam, (&x, &labels), &mut dy);
            }
        });
        counts
    };
    on_big_stack(move || assert_eq!(run(), NOTHING, "W1 MLP in Fixed storage allocated"));
}

network! {
    /// A residual block, nested below.
    pub struct AllocBlock {
        input x: [4, 6, 6],
        conv: Conv2d<4, 4, 3, 1, 1>,
        bn: BatchNorm2d<4>,
        act: ReLU,
        sum(act, x): Add,
    }
}

network! {
    /// A network nesting a block once and then twice more as an array: the nested states
    /// live in this one's, in the same storage.
    pub struct NestedNet {
        input: [1, 8, 8],
        stem: Conv2d<1, 4, 3>,
        b1: AllocBlock<T>,
        blocks: [AllocBlock<T>; 2],
        flat: Flatten,
        fc: Linear<144, 10>,
    }
}

#[test]
fn nested_networks_train_without_allocating_after_the_first_step() {
    training_allocates_only_in_its_first_step::<NestedNet, _>("nested blocks", 21, Adam::new(1e-2), 16);
}
