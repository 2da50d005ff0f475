//! Data parallelism over MPI (feature `mpi`), run by `scripts/check-mpi.sh` under
//! `mpirun -n 2`: every rank holds identical weights after every step (rank 0 gathers
//! their fingerprints), and they equal, within 1e-6 relative, the weights of the
//! single-process step over the whole global batch, which rank 0 computes beside. A step
//! after the first allocates nothing (a counting allocator around each step).
//!
//! With `MONOGRAD_MPI_FAULT=hang`, rank 1 stops answering at step 3: the watchdog must end
//! the run with a message naming the rank and the step (the script checks the message and
//! that the job failed). With `MONOGRAD_MPI_CHECKPOINT=FILE`, rank 0 saves a checkpoint
//! after step 2; with `MONOGRAD_MPI_RESUME=FILE`, every rank loads it and the run goes on
//! from there: the script checks that the resumed run ends with the fingerprint of the run
//! that never failed. With `MONOGRAD_MPI_PATH=shared` the main loop steps through MPI
//! shared memory (`SharedStep`) instead of the all-reduce: the same checks, and the script
//! runs the hang and the resumption that way too.
//!
//! Either way the run ends by checking that `step_ranged` gives `step`'s weights to the bit,
//! and that `SharedStep::step` gives `step_ranged`'s on two ranks (the same on every rank
//! on more).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use monograd::nn::distributed::flat::{flatten, Tensors};
use monograd::nn::distributed::mpi::rsmpi::collective::SystemOperation;
use monograd::nn::distributed::mpi::rsmpi::traits::CommunicatorCollectives;
use monograd::nn::distributed::mpi::{initialize, MpiDataParallel};
use monograd::nn::init::fingerprint;
use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::prelude::*;

network! {
    pub struct Small {
        input: [20],
        fc1: Linear<20, 32>,
        r1: ReLU,
        fc2: Linear<32, 4>,
    }
}

/// Counts the Rust allocations of the process (those of the MPI library itself go through
/// its own allocator and are not ours to count).
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `realloc`'s caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BATCH: usize = 30;
const STEPS: usize = 20;
/// The step after which rank 0 saves a checkpoint when asked.
const SAVE_AT: usize = 2;

fn batch(k: usize) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::seed(1000 + k as u64);
    let x: Vec<f32> = (0..BATCH * 20).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y = x.chunks(20).map(|s| (s[0] > 0.0) as usize * 2 + (s[1] + s[2] > 0.0) as usize).collect();
    (x, y)
}

fn main() {
    let universe = initialize().expect("MPI initialises once");
    let hang = std::env::var("MONOGRAD_MPI_FAULT").is_ok_and(|v| v == "hang");
    let mut dp = MpiDataParallel::new(universe.world()).watchdog(Duration::from_secs(if hang { 2 } else { 120 }));
    assert!(dp.size() >= 2, "run under mpirun -n 2 (or more)");
    // Each rank starts from a different seed: broadcasting rank 0's weights must fix that.
    let mut net = Small::new(&mut Rng::seed(7 + dp.rank() as u64));
    dp.broadcast_weights(&mut net).unwrap();
    let mut grad = net.zeros_like();
    let mut state = Small::state::<Heap>();
    let mut opt = Adam::new(1e-2);
    let loss = CrossEntropyLoss::new();
    // Rank 0's single-process reference over the whole global batch.
    let mut reference = dp.is_root().then(|| (Small::new(&mut Rng::seed(7)), Adam::new(1e-2), Small::state::<Heap>()));
    let mut reference_loss = 0.0f32;
    // Resumed: every rank loads the checkpoint (identical weights and optimizer state).
    let mut start = 0;
    if let Ok(path) = std::env::var("MONOGRAD_MPI_RESUME") {
        let run = checkpoint::load(&mut net, &mut opt, &path).expect("the checkpoint loads");
        start = run.step as usize;
    }
    let save = std::env::var("MONOGRAD_MPI_CHECKPOINT").ok();
    let mut shared = std::env::var("MONOGRAD_MPI_PATH").is_ok_and(|v| v == "shared").then(|| {
        let s = dp.shared(&net).unwrap();
        assert!(s.is_shared(), "every rank of the test runs on one node");
        s
    });
    for k in 0..STEPS {
        let (x, y) = batch(k);
        if let Some((r, ropt, rstate)) = &mut reference {
            let out = r.forward_train(&x, rstate).unwrap();
            let mut dy = vec![0.0; out.len()];
            let rl = loss.backward(out, &y, &mut dy).unwrap();
            let mut g = r.zeros_like();
            r.backward(&x, &dy, &mut g, rstate).unwrap();
            ropt.step(r, &g);
            reference_loss = rl;
        }
        if k < start {
            continue;
        }
        let part = dp.part(BATCH);
        if hang && dp.rank() == 1 && k + 1 == 3 {
            std::thread::sleep(Duration::from_secs(3600));
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        let (xs, ys) = (&x[part.start * 20..part.end * 20], &y[part]);
        let l = match &mut shared {
            Some(s) => s.step(&mut dp, k + 1, &mut net, &mut state, &loss, &mut opt, xs, ys, BATCH).unwrap(),
            None => dp.step(k + 1, &mut net, &mut grad, &mut state, &loss, &mut opt, xs, ys, BATCH).unwrap(),
        };
        let allocated = ALLOCS.load(Ordering::Relaxed) - before;
        assert!(k == start || allocated == 0, "rank {}: step {} allocated {allocated} times", dp.rank(), k + 1);
        if let Some(prints) = dp.fingerprints(&net) {
            assert!(prints.iter().all(|&p| p == prints[0]), "step {}: ranks differ: {prints:x?}", k + 1);
        }
        if reference.is_some() {
            let rl = reference_loss;
            assert!((l - rl).abs() <= 1e-5 * rl.abs(), "step {}: loss {l} against {rl}", k + 1);
        }
        if let (Some(path), true, true) = (&save, dp.is_root(), k + 1 == SAVE_AT) {
            let run = RunState { step: SAVE_AT as u64, ..RunState::default() };
            checkpoint::save(&net, &opt, &run, path).expect("the checkpoint saves");
        }
    }
    if let Some((r, _, _)) = &reference {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        flatten(&net, Tensors::All, &mut a);
        flatten(r, Tensors::All, &mut b);
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(&b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff / scale <= 1e-6, "relative difference to one process: {:e}", diff / scale);
        println!(
            "mpi: {} ranks, {STEPS} steps{}: identical weights on every rank (fingerprint {:016x}), {:e} relative to one process",
            dp.size(),
            if shared.is_some() { " in shared memory" } else { "" },
            fingerprint(&net),
            diff / scale
        );
    }
    if std::env::var("MONOGRAD_MPI_RESUME").is_err() && save.is_none() {
        drop(shared);
        ranged_step_matches(&mut dp);
        shared_step_matches(&mut dp);
    }
    // Sharding: equal shards, disjoint, together every sample but the remainder.
    let data = Dataset::new((0..21).map(|i| i as f32).collect(), (0..21).collect::<Vec<usize>>(), 1).unwrap();
    let shard = dp.shard(&data).unwrap();
    assert_eq!(shard.len(), 21 / dp.size());
    assert!(shard.targets().iter().all(|&t| t % dp.size() == dp.rank()));
    let mut total = [shard.len() as f64];
    dp.sum(&mut total);
    assert_eq!(total[0] as usize, 21 - 21 % dp.size());
}

/// `step_ranged` (the optimizer reads the sum where the all-reduce wrote it) gives the
/// bits of `step` with the same optimizer, identical on every rank, and allocates nothing
/// after its first step.
fn ranged_step_matches(dp: &mut MpiDataParallel) {
    let loss = CrossEntropyLoss::new();
    let start = Small::new(&mut Rng::seed(11));
    let (mut a, mut b) = (start.clone(), start);
    let (mut ga, mut gb) = (a.zeros_like(), b.zeros_like());
    let (mut sa, mut sb) = (Small::state::<Heap>(), Small::state::<Heap>());
    let (mut oa, mut ob) = (Sgd::new(0.05).momentum(0.9), Sgd::new(0.05).momentum(0.9));
    for k in 0..10 {
        let (x, y) = batch(k);
        let part = dp.part(BATCH);
        let (x, y) = (&x[part.start * 20..part.end * 20], &y[part]);
        let la = dp.step(k + 1, &mut a, &mut ga, &mut sa, &loss, &mut oa, x, y, BATCH).unwrap();
        let before = ALLOCS.load(Ordering::Relaxed);
        let lb = dp.step_ranged(k + 1, &mut b, &mut gb, &mut sb, &loss, &mut ob, x, y, BATCH).unwrap();
        let allocated = ALLOCS.load(Ordering::Relaxed) - before;
        assert!(k == 0 || allocated == 0, "rank {}: step_ranged {} allocated {allocated} times", dp.rank(), k + 1);
        assert_eq!(la, lb);
        assert_eq!(fingerprint(&a), fingerprint(&b), "rank {}: step {}", dp.rank(), k + 1);
        if let Some(prints) = dp.fingerprints(&b) {
            assert!(prints.iter().all(|&p| p == prints[0]), "step_ranged {}: ranks differ: {prints:x?}", k + 1);
        }
    }
    if dp.is_root() {
        println!("mpi: step_ranged gives step's weights to the bit on {} ranks", dp.size());
    }
}

/// `SharedStep::step` (the sum through MPI shared memory) gives on two ranks the bits of
/// `step_ranged` (whose all-reduce adds the same two values), on every rank the same
/// weights and optimizer state, and allocates nothing after its first step.
fn shared_step_matches(dp: &mut MpiDataParallel) {
    let loss = CrossEntropyLoss::new();
    let start = Small::new(&mut Rng::seed(12));
    let (mut a, mut b) = (start.clone(), start);
    let mut ga = a.zeros_like();
    let (mut sa, mut sb) = (Small::state::<Heap>(), Small::state::<Heap>());
    let (mut oa, mut ob) = (Sgd::new(0.05).momentum(0.9), Sgd::new(0.05).momentum(0.9));
    let mut shared = dp.shared(&b).unwrap();
    assert!(shared.is_shared(), "every rank of the test runs on one node");
    for k in 0..10 {
        let (x, y) = batch(k);
        let part = dp.part(BATCH);
        let (x, y) = (&x[part.start * 20..part.end * 20], &y[part]);
        let la = dp.step_ranged(k + 1, &mut a, &mut ga, &mut sa, &loss, &mut oa, x, y, BATCH).unwrap();
        let before = ALLOCS.load(Ordering::Relaxed);
        let lb = shared.step(dp, k + 1, &mut b, &mut sb, &loss, &mut ob, x, y, BATCH).unwrap();
        let allocated = ALLOCS.load(Ordering::Relaxed) - before;
        assert!(k == 0 || allocated == 0, "rank {}: shared step {} allocated {allocated} times", dp.rank(), k + 1);
        if dp.size() == 2 {
            assert_eq!(la.to_bits(), lb.to_bits(), "rank {}: step {}: the losses differ", dp.rank(), k + 1);
            assert_eq!(fingerprint(&a), fingerprint(&b), "rank {}: step {}", dp.rank(), k + 1);
        }
        if let Some(prints) = dp.fingerprints(&b) {
            assert!(prints.iter().all(|&p| p == prints[0]), "shared step {}: ranks differ: {prints:x?}", k + 1);
        }
        // The momentum too: every rank holds the same optimizer state (`step_ranged`'s on
        // two ranks).
        let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        if dp.size() == 2 {
            assert_eq!(bits(oa.state()), bits(ob.state()), "rank {}: step {}: momentum", dp.rank(), k + 1);
        }
        let hash = ob
            .state()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, v| (h ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3));
        let (mut lo, mut hi) = (0u64, 0u64);
        dp.world().all_reduce_into(&hash, &mut lo, SystemOperation::min());
        dp.world().all_reduce_into(&hash, &mut hi, SystemOperation::max());
        assert_eq!(lo, hi, "shared step {}: the ranks' momenta differ", k + 1);
    }
    if dp.is_root() {
        if dp.size() == 2 {
            println!("mpi: the shared-memory step gives step_ranged's weights and momenta to the bit on 2 ranks");
        } else {
            println!("mpi: the shared-memory step gives every one of {} ranks the same weights and momenta", dp.size());
        }
    }
}
