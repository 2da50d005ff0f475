//! [`DataParallel`]: one training step's batch split across the calling thread and a pool
//! of worker threads, the gradients combined in a fixed order.
//!
//! The workers are spawned once, when the pool is made, and wait between steps (spinning
//! briefly, then parked on a condition variable); every buffer they use is kept and
//! reused, so after the first step a step allocates nothing. With `n` threads, the calling
//! thread is worker 0 and `n - 1` threads are spawned. A step:
//! 1. each spawned worker copies the caller's weights and counters into its replica,
//!    reading them in place (the caller meanwhile clears its gradient);
//! 2. every worker runs forward, the loss and backward on its shard of the batch, read in
//!    place: shard `k` of `n` is samples `k·B/n .. (k+1)·B/n`, its output gradient
//!    scaled by `shard / B` so that the shards' gradients add up to the gradient of the
//!    whole batch's mean loss. Worker 0 computes on the caller's network itself, into the
//!    caller's gradient; the others into gradients of their own;
//! 3. the gradients are summed into the caller's gradient, each worker summing its own
//!    range of the parameters (`k·P/n .. (k+1)·P/n`) along a fixed binary tree over the
//!    worker index ([`tree_pairs`]): the same additions in the same order on every run, so
//!    a run is bit-identical from run to run for a given number of threads, and with one
//!    thread identical to a step on the calling thread (which it is).
//!
//! [`DataParallel::train_step`] also applies the optimizer, when its update is elementwise
//! ([`RangeOptimizer`]): each thread updates the range it summed, chunk by chunk while the
//! sum is in cache, and writes the new weights into the caller's network and every
//! replica, so that a [`Tracked`] network left unchanged between steps is not copied at
//! the next step, and no thread runs the optimizer over every weight alone.
//!
//! The caller's network advances its buffers and counters (BatchNorm's running
//! statistics, Dropout's step) as worker 0's shard moves them, as data-parallel training in
//! PyTorch keeps the first replica's buffers.
//!
//! Why replicas at all: a training forward takes the network by `&mut` (running statistics
//! and counters move), so the workers cannot share the caller's network; each spawned
//! worker copies the weights (`P` values, in parallel) and nothing else is copied: not the
//! batch, not the gradients.
//!
//! What differs from one thread: BatchNorm normalises each shard by its own statistics,
//! and Dropout draws each shard's mask as if it were a batch of its own. Both stay
//! deterministic for a given number of threads.
//!
//! Faults end the step with an error, never a hang: a worker that panics is reported with
//! its index and the step, and one that does not finish within the
//! [timeout](DataParallel::timeout) too. After a fault the pool refuses every further
//! step. The workers read and write the caller's memory during a step, so a step returns
//! only once no worker can touch it any more: a worker that has started the step is waited
//! for until it lets go (it stops at the next point where it waits for the others), and
//! one that has not started it never will.

use std::boxed::Box;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::vec::Vec;

use monograd_core::module::{Kind, Path};
use monograd_core::storage::Heap;
use monograd_core::{Module, Network, ShapeError};

use super::flat::{add_into, tree_pairs};
use super::signal::Signal;
use super::tracked::Tracked;
use super::DistError;
use crate::loss::Loss;
use crate::optim::ranged::{state_blocks, MAX_BLOCKS};
use crate::optim::{for_each_param, RangeOptimizer};
use crate::train::Metric;

/// Values summed and updated at a time by [`DataParallel::train_step`]: the chunk of the
/// sum is still in the first-level cache when the optimizer reads it back (8 KiB of
/// gradient, with its weights and state).
const CHUNK: usize = 2048;

/// Numbers the pools, so that a [`Tracked`] network knows which pool it is in step with.
static POOLS: AtomicU64 = AtomicU64::new(0);

/// How long a thread spins at most before it parks when it waits for the others, by
/// default: with as many threads as cores, the others are usually this close, and a
/// wake-up from a park costs several times more.
const SPIN: Duration = Duration::from_micros(100);

/// A deliberate failure of one worker at one step, to test that faults end a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The worker panics.
    Panic,
    /// The worker stops answering: it blocks until the pool is dropped.
    Hang,
}

/// What a spawned worker hands back besides its gradient.
struct Slot {
    /// Its replica's output (for the caller's metric) and loss.
    out: Vec<f32>,
    loss: f32,
    /// A shape error from the network or the loss.
    error: Option<ShapeError>,
}

/// A tensor's place in memory, as an address and a length: what a worker reads or writes
/// of another thread's network during a step.
#[derive(Default)]
struct Span {
    addr: AtomicUsize,
    len: AtomicUsize,
}

impl Span {
    fn set(&self, values: &[f32]) {
        self.addr.store(values.as_ptr() as usize, SeqCst);
        self.len.store(values.len(), SeqCst);
    }

    fn get(&self) -> (usize, usize) {
        (self.addr.load(SeqCst), self.len.load(SeqCst))
    }
}

/// The optimizer's step as the threads of [`DataParallel::train_step`] apply it, each to
/// its own range: the coefficients stay in the caller's frame, reached through `apply`,
/// an instance of [`apply_erased`] for the optimizer's type (the workers were spawned
/// before it was known).
#[derive(Clone, Copy)]
struct Updater {
    apply: ErasedApply,
    /// The address of the caller's `O::Update`.
    plan: usize,
    /// The optimizer's state: `blocks` blocks of `params` values.
    state: usize,
    blocks: usize,
    /// The model's parameter count, frozen ones included (the offsets' range).
    params: usize,
}

/// [`apply_erased`]'s type: the address of the update, the values, their gradient, their
/// state blocks.
type ErasedApply = unsafe fn(usize, &mut [f32], &[f32], &mut [&mut [f32]]);

/// [`RangeOptimizer::apply`] for `O`, behind an address.
///
/// # Safety
/// `plan` is the address of a live `O::Update`.
unsafe fn apply_erased<O: RangeOptimizer<f32>>(plan: usize, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
    // SAFETY: the caller's promise.
    let update = unsafe { &*(plan as *const O::Update) };
    O::apply(update, value, grad, state);
}

/// What the calling thread and the workers share. Counters of progress only grow: step `g`
/// (the pool's `g`-th) is at a stage once its counter reaches `g` times the threads
/// expected there.
struct Shared {
    threads: usize,
    /// Trainable values `P`.
    params: usize,
    /// The step the workers run: bumped by the caller to start one.
    generation: AtomicU64,
    /// The caller's number of the step, for error messages and faults.
    step: AtomicUsize,
    /// Spawned workers that have copied the weights (or, in step, skipped the copy).
    copied: AtomicU64,
    /// This step is [`DataParallel::train_step`]'s: the workers sum and update.
    fused: AtomicBool,
    /// The spawned workers copy the caller's weights first.
    copy: AtomicBool,
    /// A worker's shard failed this step: no update.
    shard_failed: AtomicBool,
    /// The step whose update the caller has published (`updater`).
    planned: AtomicU64,
    updater: Mutex<Option<Updater>>,
    /// Workers (the caller included) whose gradient is complete.
    computed: AtomicU64,
    /// Workers (the caller included) that have summed their range.
    reduced: AtomicU64,
    /// Per worker, the last stage reached (`generation << 2 | stage`), to name a late one.
    progress: Vec<AtomicU64>,
    /// Workers inside a step, that is, that may touch the caller's memory.
    leases: AtomicUsize,
    /// Set when the caller gives up on a step: no worker starts one from then on.
    cancelled: AtomicBool,
    shutdown: AtomicBool,
    failed: Mutex<Option<(usize, String)>>,
    has_failed: AtomicBool,
    fault: Mutex<Option<(usize, usize, Fault)>>,
    /// Where threads wait for one another.
    signal: Signal,
    /// The step's batch, in the caller's memory.
    x: Span,
    y: (AtomicUsize, AtomicUsize),
    /// Per worker, every tensor of its network (worker 0's is the caller's), as published
    /// for this step.
    nets: Vec<Vec<Span>>,
    /// Per tensor, its kind.
    kinds: Vec<Kind>,
    /// Per trainable tensor, its index among all tensors and its optimizer offset.
    trainable: Vec<(usize, usize)>,
    /// The offsets above fit in the model's parameter count (an optimizer's state).
    offsets_ok: bool,
    /// The caller's counters, as published for this step.
    counters: Vec<AtomicU64>,
    /// Per worker, its gradient's trainable tensors (worker 0's are the caller's).
    grads: Vec<Vec<Span>>,
    slots: Vec<Mutex<Slot>>,
}

/// Locks a mutex, ignoring poisoning: a panicking worker is caught and reported through
/// `failed`, and nothing it held is read again.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Marks `stage` reached by worker `k` in step `g`, and counts it.
    fn reach(&self, k: usize, g: u64, stage: u64, counter: &AtomicU64) {
        self.progress[k].store(g << 2 | stage, SeqCst);
        counter.fetch_add(1, SeqCst);
        self.signal.poke();
    }

    /// Publishes `grad`'s trainable tensors as worker `k`'s.
    fn publish_grad<N: Module<f32>>(&self, k: usize, grad: &mut N) {
        let spans = &self.grads[k];
        let mut i = 0;
        grad.visit_mut(&Path::ROOT, &mut |t| {
            if t.kind == Kind::Param {
                if let Some(s) = spans.get(i) {
                    s.set(t.values);
                }
                i += 1;
            }
        });
    }

    /// Publishes every tensor of `net` as worker `k`'s network.
    fn publish_net<N: Module<f32>>(&self, k: usize, net: &mut N) {
        let spans = &self.nets[k];
        let mut i = 0;
        net.visit_mut(&Path::ROOT, &mut |t| {
            if let Some(s) = spans.get(i) {
                s.set(t.values);
            }
            i += 1;
        });
    }

    /// Sums every worker's gradient over worker `k`'s range of the parameters into worker
    /// 0's (the caller's), along the fixed tree: each value goes through the additions a
    /// sum of whole vectors would make, in the same order. With `update`, chunk by chunk,
    /// each summed chunk is then applied to the caller's weights by the optimizer and
    /// copied into every replica.
    fn reduce_range(&self, k: usize, update: Option<&Updater>) {
        let n = self.threads;
        let (lo, hi) = (k * self.params / n, (k + 1) * self.params / n);
        let mut at = 0;
        for (t, &(tensor, offset)) in self.trainable.iter().enumerate() {
            // Every worker's tensor `t` has the same length (one network type); the
            // shortest bounds what is read or written, whatever happens.
            let mut len = self.grads.iter().map(|g| g[t].get().1).min().unwrap_or(0);
            if update.is_some() {
                len = self.nets.iter().map(|w| w[tensor].get().1).fold(len, usize::min);
            }
            let (a, b) = (lo.max(at), hi.min(at + len));
            let mut c = a.saturating_sub(at);
            let b = b.saturating_sub(at);
            while c < b {
                let e = if update.is_some() { (c + CHUNK).min(b) } else { b };
                self.sum_chunk(t, c, e);
                if let Some(u) = update {
                    self.update_chunk(u, tensor, t, offset, c, e);
                }
                c = e;
            }
            at += len;
        }
    }

    /// The tree's additions over values `a..b` of trainable tensor `t`.
    fn sum_chunk(&self, t: usize, a: usize, b: usize) {
        tree_pairs(self.threads, |into, from| {
            let (dst, src) = (self.grads[into][t].get().0, self.grads[from][t].get().0);
            // SAFETY: both addresses were published this step from live `&mut`
            // gradients (the caller's, borrowed until every worker has reduced,
            // and the workers' own boxes, untouched by their owners until then),
            // each with at least `b` values of tensor `t`; the ranges of the
            // workers are disjoint, so no value is written by two threads or read
            // while another writes it.
            let (dst, src) = unsafe {
                (
                    core::slice::from_raw_parts_mut((dst as *mut f32).add(a), b - a),
                    core::slice::from_raw_parts((src as *const f32).add(a), b - a),
                )
            };
            add_into(dst, src);
        });
    }

    /// The optimizer's update of values `a..b` of trainable tensor `t` (tensor `tensor`
    /// of the networks, at optimizer offset `offset`), from the summed gradient, into the
    /// caller's weights, then copied into every replica.
    fn update_chunk(&self, u: &Updater, tensor: usize, t: usize, offset: usize, a: usize, b: usize) {
        let len = b - a;
        let grad = self.grads[0][t].get().0;
        let weights = self.nets[0][tensor].get().0;
        let mut blocks: [&mut [f32]; MAX_BLOCKS] = Default::default();
        for (j, block) in blocks.iter_mut().enumerate().take(u.blocks) {
            // SAFETY: the caller checked that the state holds `blocks` blocks of `params`
            // values and that every trainable tensor's `offset + len` fits in `params`
            // (`offsets_ok`); it took the state from its optimizer by `&mut` and leaves it
            // alone until every worker has reduced. Ranges are disjoint between workers,
            // so is each tensor's state.
            *block =
                unsafe { core::slice::from_raw_parts_mut((u.state as *mut f32).add(j * u.params + offset + a), len) };
        }
        // SAFETY: the gradient's values `a..b` were summed by this thread just now and are
        // touched by no other (disjoint ranges); the caller's weights were published from
        // its `&mut` network after its last use of it, which it leaves alone until every
        // worker has reduced, with at least `b` values (`len` was bounded by every
        // network's tensor).
        let (grad, value) = unsafe {
            (
                core::slice::from_raw_parts((grad as *const f32).add(a), len),
                core::slice::from_raw_parts_mut((weights as *mut f32).add(a), len),
            )
        };
        // SAFETY: `plan` is the caller's `O::Update` for this `apply`, alive until every
        // worker has reduced.
        unsafe { (u.apply)(u.plan, value, grad, &mut blocks[..u.blocks]) };
        for replica in &self.nets[1..] {
            // SAFETY: each worker published its replica's tensors from its `&mut` after
            // its backward and leaves them alone until every worker has reduced; the
            // range is this thread's alone, and `value` lies in another allocation.
            unsafe {
                core::ptr::copy_nonoverlapping(value.as_ptr(), (replica[tensor].get().0 as *mut f32).add(a), len);
            }
        }
    }

    /// Copies the caller's buffers (BatchNorm's running statistics) into worker `k`'s
    /// replica: what a step's forward moved on the caller's network.
    fn copy_buffers(&self, k: usize) {
        for (i, kind) in self.kinds.iter().enumerate() {
            if *kind == Kind::Buffer {
                let ((src, n), (dst, m)) = (self.nets[0][i].get(), self.nets[k][i].get());
                // SAFETY: both published this step after their owners' last use, neither
                // written by anyone during the update (which writes trainable tensors
                // only); different allocations.
                unsafe { core::ptr::copy_nonoverlapping(src as *const f32, dst as *mut f32, n.min(m)) };
            }
        }
    }
}

/// Data-parallel training steps on a pool of threads; see the [module docs](self).
///
/// ```
/// use monograd_core::{Module, Rng};
/// use monograd_nn::distributed::DataParallel;
/// use monograd_nn::{CrossEntropyLoss, Optimizer, Sgd};
/// # type Net = monograd_nn::train::testing::Dense<2, 2>;
/// let mut net = Net::new(&mut Rng::seed(0));
/// let mut grad = net.zeros_like();
/// let mut pool = DataParallel::new(&net, CrossEntropyLoss::new(), 2);
/// let x = [0.5f32, -1.0, 1.0, 0.25, -0.5, 0.5, 2.0, 1.0];
/// let y = [0usize, 1, 0, 1];
/// let mut opt = Sgd::new(0.1);
/// for step in 1..=3 {
///     let out = pool.step(step, &mut net, &x, &y, &mut grad, None)?;
///     assert!(out.loss.is_finite());
///     opt.step(&mut net, &grad);
/// }
/// # Ok::<(), monograd_nn::distributed::DistError>(())
/// ```
pub struct DataParallel<N: Network<f32>, Y> {
    /// This pool's number, for [`Tracked`].
    id: u64,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    threads: usize,
    timeout: Duration,
    /// Set by a fault: every further step returns it.
    broken: Option<DistError>,
    /// Steps started.
    generation: u64,
    /// The calling thread's spin budgets, one per stage it waits for.
    spins: [u64; 3],
    /// Worker 0's (the calling thread's) loss, state and output gradient.
    loss: Box<dyn Loss<f32, Target = [Y]> + Send>,
    state: N::State<Heap>,
    dy: Vec<f32>,
}

/// What a step returns besides the gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOutput {
    /// The batch's mean loss (the shards' means weighted by their sizes).
    pub loss: f32,
    /// Correct predictions, by the metric given, over the whole batch.
    pub correct: usize,
}

/// Shard `k` of `n` of a batch of `batch` samples, and its weight in the batch's mean.
fn shard(k: usize, n: usize, batch: usize) -> (usize, usize, f32) {
    let (lo, hi) = (k * batch / n, (k + 1) * batch / n);
    (lo, hi, if hi - lo == batch { 1.0 } else { (hi - lo) as f32 / batch as f32 })
}

impl<N, Y> DataParallel<N, Y>
where
    N: Network<f32> + Send + 'static,
    Y: Copy + Send + Sync + 'static,
{
    /// A pool of `threads` workers (at least 1): the calling thread and `threads - 1`
    /// spawned ones, each of those with a replica of `net` and a copy of `loss`. The default
    /// timeout is 60 seconds.
    ///
    /// If the system cannot start a thread, the pool is made anyway and its first step
    /// returns the error.
    pub fn new<L>(net: &N, loss: L, threads: usize) -> Self
    where
        L: Loss<f32, Target = [Y]> + Clone + Send + 'static,
    {
        let threads = threads.max(1);
        let (mut kinds, mut tensors, mut trainable, mut params, mut counters) = (Vec::new(), 0, 0, 0, 0);
        let mut trainable_at = Vec::new();
        net.visit(&Path::ROOT, &mut |t| {
            if t.kind == Kind::Param {
                trainable += 1;
                params += t.values.len();
                trainable_at.push((tensors, t.values.len()));
            }
            kinds.push(t.kind);
            tensors += 1;
        });
        // The optimizer's offsets of the trainable tensors, in the same order (a probe on
        // copies: an optimizer's walk needs them mutable).
        let mut offsets = Vec::with_capacity(trainable);
        let (mut probe, zero) = (Box::new(net.clone()), Box::new(net.zeros_like()));
        for_each_param(&mut *probe, &*zero, |offset, value, _| offsets.push((offset, value.len())));
        drop((probe, zero));
        let offsets_ok = offsets.len() == trainable
            && offsets.iter().zip(&trainable_at).all(|(&(o, n), &(_, m))| n == m && o + n <= N::PARAMS);
        let trainable_map = trainable_at.iter().zip(&offsets).map(|(&(i, _), &(o, _))| (i, o)).collect();
        net.visit_counters(&Path::ROOT, &mut |_| counters += 1);
        let spans = |n: usize| (0..n).map(|_| Span::default()).collect::<Vec<_>>();
        let shared = Arc::new(Shared {
            threads,
            params,
            generation: AtomicU64::new(0),
            step: AtomicUsize::new(0),
            copied: AtomicU64::new(0),
            fused: AtomicBool::new(false),
            copy: AtomicBool::new(true),
            shard_failed: AtomicBool::new(false),
            planned: AtomicU64::new(0),
            updater: Mutex::new(None),
            computed: AtomicU64::new(0),
            reduced: AtomicU64::new(0),
            progress: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            leases: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            failed: Mutex::new(None),
            has_failed: AtomicBool::new(false),
            fault: Mutex::new(None),
            signal: Signal::new(SPIN),
            x: Span::default(),
            y: (AtomicUsize::new(0), AtomicUsize::new(0)),
            nets: (0..threads).map(|_| spans(tensors)).collect(),
            kinds,
            trainable: trainable_map,
            offsets_ok,
            counters: (0..counters).map(|_| AtomicU64::new(0)).collect(),
            grads: (0..threads).map(|_| spans(trainable)).collect(),
            slots: (0..threads).map(|_| Mutex::new(Slot { out: Vec::new(), loss: 0.0, error: None })).collect(),
        });
        let mut handles = Vec::with_capacity(threads);
        let mut broken = None;
        for k in 1..threads {
            let shared = Arc::clone(&shared);
            let replica = Box::new(net.clone());
            let loss = loss.clone();
            let spawned = thread::Builder::new()
                .name(std::format!("monograd-worker-{k}"))
                // A network is plain arrays: copies of it (its gradient, made on the
                // worker) pass through the stack in unoptimised builds.
                .stack_size((8 << 20) + 4 * core::mem::size_of::<N>())
                .spawn(move || worker(k, &shared, replica, &loss));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    broken = Some(DistError::Spawn { worker: k, message: e.to_string() });
                    break;
                }
            }
        }
        Self {
            id: POOLS.fetch_add(1, SeqCst),
            shared,
            handles,
            threads,
            timeout: Duration::from_secs(60),
            broken,
            generation: 0,
            spins: [u64::MAX; 3],
            loss: Box::new(loss),
            state: N::state::<Heap>(),
            dy: Vec::new(),
        }
    }

    /// The longest a step may take before the pool reports the workers that have not
    /// finished (default 60 s). Choose it well above a step's time: a loaded machine is
    /// slow, not broken.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest a thread that waits for the others spins before it parks (default
    /// 100 µs). Spinning saves the wake-up of a parked thread (tens of microseconds, more
    /// in a virtual machine) when every thread has a core of its own. Each place a thread
    /// waits keeps its own budget up to this: a wait that has to park halves the budget
    /// (down to a sixteenth) and one that ends while spinning restores it, so on a machine
    /// with fewer free cores than threads the spinning dies down rather than take time
    /// from the thread waited for.
    /// `Duration::ZERO` parks at once, which also makes each thread's CPU time its work
    /// alone (what the bench measures on a loaded machine).
    pub fn spin(self, spin: Duration) -> Self {
        self.shared.signal.set_spin(spin);
        self
    }

    /// Workers in the pool, the calling thread included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Makes `worker` fail as `fault` says at step `step` (the number the caller passes to
    /// [`DataParallel::step`]): for tests that a fault ends a run with an error. Worker 0
    /// is the calling thread: its faults are reported as if it had failed, without
    /// panicking or waiting.
    pub fn inject_fault(&mut self, worker: usize, step: usize, fault: Fault) {
        *lock(&self.shared.fault) = Some((worker, step, fault));
    }

    /// One data-parallel step: the gradient of the mean loss over the batch `x` (flat
    /// inputs) with targets `y` is written into `grad`'s trainable tensors (overwriting
    /// them), and `net`'s buffers and counters advance as on worker 0's shard. `step`
    /// names the step in errors. Apply the optimizer to `net` afterwards, as after
    /// `backward`.
    ///
    /// # Errors
    /// [`DistError::Shape`] if the data does not fit the network or the loss;
    /// [`DistError::Panicked`], [`DistError::Timeout`] or [`DistError::Spawn`] if a worker
    /// failed (then this and every later step fails).
    pub fn step(
        &mut self,
        step: usize,
        net: &mut N,
        x: &[f32],
        y: &[Y],
        grad: &mut N,
        metric: Option<&dyn Metric<Y>>,
    ) -> Result<StepOutput, DistError> {
        self.run::<crate::optim::Sgd<f32, Vec<f32>>>(step, net, x, y, grad, metric, None, false)
    }

    /// One data-parallel training step, the optimizer's update included: as
    /// [`DataParallel::step`] followed by `opt.step(net, grad)`, to the bit, but each thread
    /// sums the gradients over its own range of the parameters and applies the optimizer
    /// to that range at once, chunk by chunk while the sum is in cache, writing the new
    /// weights both into `net` and into every worker's replica. So the update runs on every
    /// thread rather than on the calling one after the sum, and, while `net` is not
    /// changed between steps ([`Tracked`] sees every mutable access), the replicas are
    /// already up to date when the next step starts: the workers copy nothing. After a
    /// step that changed `net` through `DerefMut` or that failed, or the first one, the
    /// weights are copied as [`DataParallel::step`] copies them.
    ///
    /// `grad` holds the summed gradient afterwards, as after [`DataParallel::step`].
    ///
    /// ```
    /// use monograd_core::{Module, Rng};
    /// use monograd_nn::distributed::{DataParallel, Tracked};
    /// use monograd_nn::{CrossEntropyLoss, Sgd};
    /// # type Net = monograd_nn::train::testing::Dense<2, 2>;
    /// let mut net = Tracked::new(Net::new(&mut Rng::seed(0)));
    /// let mut grad = net.zeros_like();
    /// let mut pool = DataParallel::new(&*net, CrossEntropyLoss::new(), 2);
    /// let x = [0.5f32, -1.0, 1.0, 0.25, -0.5, 0.5, 2.0, 1.0];
    /// let y = [0usize, 1, 0, 1];
    /// let mut opt = Sgd::new(0.1).momentum(0.9);
    /// for step in 1..=3 {
    ///     let out = pool.train_step(step, &mut net, &x, &y, &mut grad, &mut opt, None)?;
    ///     assert!(out.loss.is_finite());
    /// }
    /// # Ok::<(), monograd_nn::distributed::DistError>(())
    /// ```
    ///
    /// # Errors
    /// As [`DataParallel::step`], and [`DistError::Optim`] if the optimizer refuses the
    /// step (a model of another layout, a rate set out of range); the weights are then
    /// unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn train_step<O: RangeOptimizer<f32>>(
        &mut self,
        step: usize,
        net: &mut Tracked<N>,
        x: &[f32],
        y: &[Y],
        grad: &mut N,
        opt: &mut O,
        metric: Option<&dyn Metric<Y>>,
    ) -> Result<StepOutput, DistError> {
        let fresh = net.synced == Some((self.id, self.generation));
        net.synced = None;
        let out = self.run(step, &mut net.net, x, y, grad, metric, Some(opt), fresh)?;
        net.synced = Some((self.id, self.generation));
        Ok(out)
    }

    /// A step: with `opt`, [`DataParallel::train_step`]'s (`fresh`: the replicas hold the
    /// weights already), else [`DataParallel::step`]'s.
    #[allow(clippy::too_many_arguments)]
    fn run<O: RangeOptimizer<f32>>(
        &mut self,
        step: usize,
        net: &mut N,
        x: &[f32],
        y: &[Y],
        grad: &mut N,
        metric: Option<&dyn Metric<Y>>,
        opt: Option<&mut O>,
        fresh: bool,
    ) -> Result<StepOutput, DistError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let batch = y.len();
        let numel = <N::Input as monograd_core::Shape>::NUMEL;
        if batch == 0 || x.len() != batch * numel {
            return Err(DistError::Shape(ShapeError::Length {
                what: "data-parallel batch inputs",
                expected: batch.max(1) * numel,
                found: x.len(),
            }));
        }
        let injected = *lock(&self.shared.fault);
        if let Some((0, s, fault)) = injected {
            if s == step {
                let e = match fault {
                    Fault::Panic => {
                        DistError::Panicked { worker: 0, step, message: "fault injected into worker 0".to_string() }
                    }
                    Fault::Hang => DistError::Timeout { worker: 0, step, waiting: 1, after: self.timeout },
                };
                return Err(self.fail(e));
            }
        }
        let n = self.threads;
        if n == 1 {
            grad.zero();
            let (loss, correct) = self.own_shard(net, grad, x, y, 1.0, metric)?;
            if let Some(opt) = opt {
                opt.try_step(net, grad).map_err(DistError::Optim)?;
            }
            return Ok(StepOutput { loss, correct });
        }
        let fused = opt.is_some();
        if fused && !self.shared.offsets_ok {
            return Err(DistError::Shape(ShapeError::Length {
                what: "optimizer offsets of the trainable tensors (the module's PARAMS and visit_update disagree)",
                expected: N::PARAMS,
                found: self.shared.trainable.len(),
            }));
        }
        let copy = !fused || !fresh;
        let shared = Arc::clone(&self.shared);
        let deadline = Instant::now() + self.timeout;
        self.generation += 1;
        let g = self.generation;
        let workers = n as u64;
        // Publish the step: the batch, and the weights and counters to copy.
        shared.step.store(step, SeqCst);
        shared.x.set(x);
        shared.y.0.store(y.as_ptr() as usize, SeqCst);
        shared.y.1.store(batch, SeqCst);
        shared.fused.store(fused, SeqCst);
        shared.copy.store(copy, SeqCst);
        shared.shard_failed.store(false, SeqCst);
        if copy {
            let mut i = 0;
            net.visit(&Path::ROOT, &mut |t| {
                if let Some(s) = shared.nets[0].get(i) {
                    s.set(t.values);
                }
                i += 1;
            });
            publish_counters(&shared, net);
        }
        shared.generation.store(g, SeqCst);
        shared.signal.poke();
        grad.zero();
        // The workers read `net` until they have copied it; worker 0's forward then moves
        // its counters and buffers. A replica in step copies nothing: no wait.
        if copy {
            self.wait_for(&shared, deadline, step, g, 1, &shared.copied, g * (workers - 1))?;
        }
        let (lo, hi, scale) = shard(0, n, batch);
        let mine = self.own_shard(net, grad, &x[lo * numel..hi * numel], &y[lo..hi], scale, metric);
        if mine.is_err() {
            shared.shard_failed.store(true, SeqCst);
        }
        shared.publish_grad(0, grad);
        if fused {
            // The counters as this step's forward left them, for the replicas.
            publish_counters(&shared, net);
        }
        shared.reach(0, g, 2, &shared.computed);
        self.wait_for(&shared, deadline, step, g, 2, &shared.computed, g * workers)?;
        // The optimizer's step, begun once here and applied by every thread to its range.
        // `plan` stays in this frame until every worker has reduced.
        let mut plan = None;
        let mut refused = None;
        let mut updater = None;
        if let Some(opt) = opt {
            if !shared.shard_failed.load(SeqCst) {
                match opt.begin_step(&*net) {
                    Ok((update, state)) => {
                        let params = N::PARAMS;
                        match state_blocks(state.len(), params) {
                            Err(e) => refused = Some(e),
                            Ok(blocks) => {
                                let state = state.as_mut_ptr() as usize;
                                let plan = &*plan.insert(update);
                                updater = Some(Updater {
                                    apply: apply_erased::<O>,
                                    plan: plan as *const O::Update as usize,
                                    state,
                                    blocks,
                                    params,
                                });
                            }
                        }
                    }
                    Err(e) => refused = Some(e),
                }
            }
            shared.publish_net(0, net);
            *lock(&shared.updater) = updater;
            shared.planned.store(g, SeqCst);
            shared.signal.poke();
        }
        shared.reduce_range(0, updater.as_ref());
        shared.reach(0, g, 3, &shared.reduced);
        self.wait_for(&shared, deadline, step, g, 3, &shared.reduced, g * workers)?;
        // Every worker is done with the caller's memory (and with `plan`).
        let (mut loss, mut correct) = mine?;
        for k in 1..n {
            let mut s = lock(&shared.slots[k]);
            if let Some(e) = s.error.take() {
                return Err(DistError::Shape(e));
            }
            let (lo, hi, scale) = shard(k, n, batch);
            if hi > lo {
                loss += s.loss * scale;
                if let Some(m) = metric {
                    correct += m.correct(&s.out, &y[lo..hi]);
                }
            }
        }
        if let Some(e) = refused {
            return Err(DistError::Optim(e));
        }
        Ok(StepOutput { loss, correct })
    }

    /// Worker 0's shard, on the calling thread: forward, the loss and backward on `net`,
    /// into `grad` (zeroed by the caller). Returns the shard's (unweighted) mean loss and
    /// correct predictions.
    fn own_shard(
        &mut self,
        net: &mut N,
        grad: &mut N,
        x: &[f32],
        y: &[Y],
        scale: f32,
        metric: Option<&dyn Metric<Y>>,
    ) -> Result<(f32, usize), ShapeError> {
        if y.is_empty() {
            return Ok((0.0, 0));
        }
        let out = net.forward_train(x, &mut self.state)?;
        let correct = metric.map_or(0, |m| m.correct(out, y));
        self.dy.resize(out.len(), 0.0);
        let loss = self.loss.backward(out, y, &mut self.dy)?;
        if scale != 1.0 {
            for d in self.dy.iter_mut() {
                *d *= scale;
            }
        }
        net.backward(x, &self.dy, grad, &mut self.state)?;
        Ok((loss * scale, correct))
    }

    /// Waits until `counter` reaches `target` (stage `stage` of step `g`), or a worker
    /// fails, or the deadline passes; in the last two cases ends the step with the error.
    #[allow(clippy::too_many_arguments)]
    fn wait_for(
        &mut self,
        shared: &Shared,
        deadline: Instant,
        step: usize,
        g: u64,
        stage: u64,
        counter: &AtomicU64,
        target: u64,
    ) -> Result<(), DistError> {
        let budget = &mut self.spins[stage as usize - 1];
        let ready = shared
            .signal
            .wait(budget, Some(deadline), || counter.load(SeqCst) >= target || shared.has_failed.load(SeqCst));
        if ready && !shared.has_failed.load(SeqCst) {
            return Ok(());
        }
        // Give up on the step: no worker starts it from now on, and those inside it are
        // waited for, since they may touch the caller's memory.
        shared.cancelled.store(true, SeqCst);
        shared.signal.poke();
        shared.signal.park(None, || shared.leases.load(SeqCst) == 0);
        let e = match lock(&shared.failed).clone() {
            Some((worker, message)) => DistError::Panicked { worker, step, message },
            None => {
                let reached = g << 2 | stage;
                let late = |k: &usize| shared.progress[*k].load(SeqCst) < reached;
                let worker = (1..self.threads).find(late).unwrap_or(0);
                let waiting = (1..self.threads).filter(late).count();
                DistError::Timeout { worker, step, waiting, after: self.timeout }
            }
        };
        Err(self.fail(e))
    }

    fn fail(&mut self, e: DistError) -> DistError {
        self.broken = Some(e.clone());
        e
    }
}

impl<N: Network<f32>, Y> Drop for DataParallel<N, Y> {
    /// Stops the workers; joins them unless one failed (a hung worker is left to end on
    /// its own, never waited for).
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        self.shared.signal.poke();
        if !self.shared.has_failed.load(SeqCst) && !self.shared.cancelled.load(SeqCst) {
            for h in self.handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}

/// A spawned worker's loop: wait for a step, run it, until shutdown. The replica stays
/// boxed: a network is plain arrays, too large to move through a thread's stack.
#[allow(clippy::boxed_local)]
fn worker<N, Y, L>(k: usize, shared: &Shared, mut net: Box<N>, loss: &L)
where
    N: Network<f32>,
    Y: Copy,
    L: Loss<f32, Target = [Y]>,
{
    let mut grad = Box::new(net.zeros_like());
    let mut state = N::state::<Heap>();
    let mut dy: Vec<f32> = Vec::new();
    // The caller's counters after an updating step, for the replica once every worker is
    // done with it.
    let mut counters = std::vec![0u64; shared.counters.len()];
    let mut seen = 0;
    // Spin budgets: for a step, at the barrier before the sum, for the end of the sum.
    let mut spins = [u64::MAX; 3];
    loop {
        shared
            .signal
            .wait(&mut spins[0], None, || shared.generation.load(SeqCst) > seen || shared.shutdown.load(SeqCst));
        if shared.shutdown.load(SeqCst) {
            return;
        }
        let g = shared.generation.load(SeqCst);
        seen = g;
        let step = shared.step.load(SeqCst);
        let fault = match *lock(&shared.fault) {
            Some((w, s, f)) if w == k && s == step => Some(f),
            _ => None,
        };
        if fault == Some(Fault::Hang) {
            shared.signal.park(None, || shared.shutdown.load(SeqCst));
            return;
        }
        // Take a lease on the caller's memory, unless the caller gave up on the step.
        shared.leases.fetch_add(1, SeqCst);
        if shared.cancelled.load(SeqCst) {
            shared.leases.fetch_sub(1, SeqCst);
            shared.signal.poke();
            continue;
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if fault == Some(Fault::Panic) {
                panic!("fault injected into worker {k}");
            }
            work(k, g, shared, &mut *net, &mut *grad, &mut state, &mut dy, loss, &mut spins[1], &mut counters)
        }));
        shared.leases.fetch_sub(1, SeqCst);
        shared.signal.poke();
        match result {
            Ok(Some(updated)) => {
                // Clear the gradient for the next step while the caller runs its
                // optimizer, once every worker has read it; after an update, take the
                // caller's counters, once no other thread writes into the replica.
                let n = shared.threads as u64;
                shared.signal.wait(&mut spins[2], None, || {
                    shared.reduced.load(SeqCst) >= g * n || shared.cancelled.load(SeqCst)
                });
                if shared.reduced.load(SeqCst) >= g * n {
                    grad.zero();
                    if updated {
                        let mut it = counters.iter();
                        net.visit_counters_mut(&Path::ROOT, &mut |c| {
                            if let Some(&v) = it.next() {
                                *c.value = v;
                            }
                        });
                    }
                }
            }
            Ok(None) => {}
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                *lock(&shared.failed) = Some((k, message));
                shared.has_failed.store(true, SeqCst);
                shared.signal.poke();
                return;
            }
        }
    }
}

/// Worker `k`'s part of step `g`: copy the weights (unless the replica is in step),
/// compute its shard, sum its range (and update it, in [`DataParallel::train_step`]).
/// `None` if the caller gave up on the step meanwhile, else whether the weights were
/// updated (then `counters` holds the caller's, for the replica).
#[allow(clippy::too_many_arguments)]
fn work<N, Y, L>(
    k: usize,
    g: u64,
    shared: &Shared,
    net: &mut N,
    grad: &mut N,
    state: &mut N::State<Heap>,
    dy: &mut Vec<f32>,
    loss: &L,
    barrier: &mut u64,
    counters: &mut [u64],
) -> Option<bool>
where
    N: Network<f32>,
    Y: Copy,
    L: Loss<f32, Target = [Y]>,
{
    let n = shared.threads;
    let fused = shared.fused.load(SeqCst);
    let copy = if shared.copy.load(SeqCst) { copy_weights(shared, net) } else { Ok(()) };
    shared.reach(k, g, 1, &shared.copied);
    {
        let mut slot = lock(&shared.slots[k]);
        let slot = &mut *slot;
        slot.error = None;
        let (xa, xl) = shared.x.get();
        let (ya, yl) = (shared.y.0.load(SeqCst), shared.y.1.load(SeqCst));
        // SAFETY: the caller published its batch's slices for this step and keeps them
        // borrowed until every worker has reduced, or, if it gives up on the step, until
        // no worker holds a lease; this worker holds one.
        let (x, y) = unsafe {
            (core::slice::from_raw_parts(xa as *const f32, xl), core::slice::from_raw_parts(ya as *const Y, yl))
        };
        let (lo, hi, scale) = shard(k, n, yl);
        let numel = xl / yl.max(1);
        let result = copy.and_then(|()| {
            shard_step(net, grad, state, dy, loss, &x[lo * numel..hi * numel], &y[lo..hi], scale, &mut slot.out)
        });
        match result {
            Ok(l) => slot.loss = l,
            Err(e) => {
                slot.error = Some(e);
                shared.shard_failed.store(true, SeqCst);
            }
        }
    }
    shared.publish_grad(k, grad);
    if fused {
        // After this worker's last use of its replica in the step: the others write the
        // new weights into it.
        shared.publish_net(k, net);
    }
    shared.reach(k, g, 2, &shared.computed);
    let all = g * n as u64;
    shared.signal.wait(barrier, None, || shared.computed.load(SeqCst) >= all || shared.cancelled.load(SeqCst));
    if shared.computed.load(SeqCst) < all {
        return None;
    }
    let mut updated = false;
    if fused {
        // The caller begins the optimizer's step right after the barrier.
        shared.signal.wait(barrier, None, || shared.planned.load(SeqCst) >= g || shared.cancelled.load(SeqCst));
        if shared.planned.load(SeqCst) < g {
            return None;
        }
        let updater = *lock(&shared.updater);
        shared.reduce_range(k, updater.as_ref());
        if updater.is_some() {
            shared.copy_buffers(k);
            for (c, v) in counters.iter_mut().zip(&shared.counters) {
                *c = v.load(SeqCst);
            }
            updated = true;
        }
    } else {
        shared.reduce_range(k, None);
    }
    shared.reach(k, g, 3, &shared.reduced);
    Some(updated)
}

/// Publishes the caller's counters.
fn publish_counters<N: Module<f32>>(shared: &Shared, net: &N) {
    let mut i = 0;
    net.visit_counters(&Path::ROOT, &mut |c| {
        if let Some(s) = shared.counters.get(i) {
            s.store(*c.value, SeqCst);
        }
        i += 1;
    });
}

/// Copies the caller's tensors and counters, as published, into the replica.
fn copy_weights<N: Module<f32>>(shared: &Shared, net: &mut N) -> Result<(), ShapeError> {
    let mut i = 0;
    let mut error = None;
    net.visit_mut(&Path::ROOT, &mut |t| {
        match shared.nets[0].get(i).map(Span::get) {
            Some((addr, len)) if len == t.values.len() => {
                // SAFETY: the caller published the address and length of its tensor `i`
                // from a shared borrow of its network, which it neither moves nor
                // changes until every spawned worker has copied (the `copied` count);
                // this worker has not.
                let src = unsafe { core::slice::from_raw_parts(addr as *const f32, len) };
                t.values.copy_from_slice(src);
            }
            found => {
                error = Some(ShapeError::Length {
                    what: "replica tensor",
                    expected: t.values.len(),
                    found: found.map_or(0, |f| f.1),
                })
            }
        }
        i += 1;
    });
    let mut i = 0;
    net.visit_counters_mut(&Path::ROOT, &mut |c| {
        if let Some(v) = shared.counters.get(i) {
            *c.value = v.load(SeqCst);
        }
        i += 1;
    });
    error.map_or(Ok(()), Err)
}

/// Forward, loss and backward on one shard, into `grad` (zero on entry); the output into
/// `out`. Returns the shard's mean loss.
#[allow(clippy::too_many_arguments)]
fn shard_step<N, Y, L>(
    net: &mut N,
    grad: &mut N,
    state: &mut N::State<Heap>,
    dy: &mut Vec<f32>,
    loss: &L,
    x: &[f32],
    y: &[Y],
    scale: f32,
    out: &mut Vec<f32>,
) -> Result<f32, ShapeError>
where
    N: Network<f32>,
    Y: Copy,
    L: Loss<f32, Target = [Y]>,
{
    out.clear();
    if y.is_empty() {
        // More workers than samples: this one adds nothing.
        return Ok(0.0);
    }
    let o = net.forward_train(x, state)?;
    out.extend_from_slice(o);
    dy.resize(o.len(), 0.0);
    let l = loss.backward(o, y, dy)?;
    if scale != 1.0 {
        for d in dy.iter_mut() {
            *d *= scale;
        }
    }
    net.backward(x, dy, grad, state)?;
    Ok(l)
}

/// A data-parallel step as an object: what [`Trainer`](crate::train::Trainer) holds, so
/// that its own bounds need not name threads (`Send`, `'static`). Generic over the
/// scalar `T` so that the trainer's loop, written once for every scalar, can hold one;
/// [`DataParallel`] is one for `f32`.
pub trait ParallelStep<N, Y, T = f32> {
    /// [`DataParallel::step`].
    ///
    /// # Errors
    /// As [`DataParallel::step`].
    fn step(
        &mut self,
        step: usize,
        net: &mut N,
        x: &[T],
        y: &[Y],
        grad: &mut N,
        metric: Option<&dyn Metric<Y, T>>,
    ) -> Result<StepOutput, DistError>;

    /// Workers in the pool.
    fn threads(&self) -> usize;
}

impl<N, Y> ParallelStep<N, Y> for DataParallel<N, Y>
where
    N: Network<f32> + Send + 'static,
    Y: Copy + Send + Sync + 'static,
{
    fn step(
        &mut self,
        step: usize,
        net: &mut N,
        x: &[f32],
        y: &[Y],
        grad: &mut N,
        metric: Option<&dyn Metric<Y>>,
    ) -> Result<StepOutput, DistError> {
        DataParallel::step(self, step, net, x, y, grad, metric)
    }

    fn threads(&self) -> usize {
        self.threads
    }
}
