//! [`DataParallel`]: one training step's batch split across a pool of worker threads,
//! each with its own replica of the network, the gradients combined in a fixed order.
//!
//! The workers are spawned once, when the pool is made, and wait on a condition variable
//! between steps; every buffer they use (the shard of the batch, the replica's state, the
//! flat gradient) is kept and reused, so after the first step a step allocates nothing.
//! A step:
//! 1. the caller's weights (every tensor, and the integer counters) are written to one
//!    shared flat buffer, and each worker's shard of the batch to its slot: shard `k` of
//!    `n` is samples `k·B/n .. (k+1)·B/n`;
//! 2. each worker copies the weights into its replica, runs forward, the loss and backward
//!    on its shard, with the output gradient scaled by `shard / B` so that the shards'
//!    gradients add up to the gradient of the whole batch's mean loss;
//! 3. the flat gradients are summed along a fixed binary tree over the worker index
//!    ([`tree_sum`]), each worker summing its own slice of the parameters (a
//!    reduce-scatter), the caller then gathering the slices: the same additions in the
//!    same order on every run, so a run is bit-identical from run to run for a given
//!    number of threads (and with one thread, identical to a step on the calling thread);
//! 4. worker 0's buffers and counters (BatchNorm's running statistics, Dropout's step)
//!    are copied back to the caller's network, as data-parallel training in PyTorch takes
//!    the first replica's buffers.
//!
//! What differs from one thread: BatchNorm normalises each shard by its own statistics,
//! and Dropout draws each shard's mask as if it were a batch of its own. Both stay
//! deterministic for a given number of threads.
//!
//! Faults end the step with an error, never a hang: a worker that panics is reported with
//! its index and the step, and one that does not finish within the
//! [timeout](DataParallel::timeout) too. After a fault the pool refuses every further
//! step.

use std::boxed::Box;
use std::string::{String, ToString};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::vec::Vec;

use monograd_core::module::{Kind, Path};
use monograd_core::storage::Heap;
use monograd_core::{Module, Network, ShapeError};

use super::flat::{flat_len, flatten, flatten_counters, tree_sum, unflatten, unflatten_counters, Tensors};
use super::DistError;
use crate::loss::Loss;
use crate::train::Metric;

/// A deliberate failure of one worker at one step, to test that faults end a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The worker panics.
    Panic,
    /// The worker stops answering: it blocks until the pool is dropped.
    Hang,
}

/// What one worker computes a step on, and what it hands back.
struct Slot<Y> {
    /// Its shard of the batch, flat, and the targets.
    x: Vec<f32>,
    y: Vec<Y>,
    /// `shard / batch`: the weight of its mean loss in the batch's.
    scale: f32,
    /// Its replica's output (for the caller's metric) and loss.
    out: Vec<f32>,
    loss: f32,
    /// Worker 0 only: its replica's buffers and counters after the step.
    buffers: Vec<f32>,
    counters: Vec<u64>,
    /// A shape error from the network or the loss.
    error: Option<ShapeError>,
}

/// What the coordinating thread and the workers agree on.
struct Ctl {
    /// Bumped once per step: a worker runs when it sees a new value.
    generation: u64,
    /// The caller's step number, for error messages.
    step: usize,
    /// What the workers do in the current generation.
    phase: Phase,
    /// Which workers have finished the current step.
    finished: Vec<bool>,
    /// A worker that failed, and why.
    failed: Option<(usize, String)>,
    fault: Option<(usize, usize, Fault)>,
    shutdown: bool,
}

/// The two halves of a step, each a generation of the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Forward, loss and backward on the worker's shard; its flat gradient into `grads`.
    Compute,
    /// The sum of every worker's gradient over the worker's slice of the parameters,
    /// into `sums`.
    Reduce,
}

struct Shared<Y> {
    ctl: Mutex<Ctl>,
    /// Signals workers: a new step, or shutdown.
    go: Condvar,
    /// Signals the coordinator: a worker finished or failed.
    done: Condvar,
    /// The caller's weights (every tensor) and counters, flat.
    weights: RwLock<(Vec<f32>, Vec<u64>)>,
    slots: Vec<Mutex<Slot<Y>>>,
    /// Each worker's flat gradient: written by its worker, read by every worker to sum.
    grads: Vec<RwLock<Vec<f32>>>,
    /// Each worker's slice of the summed gradient.
    sums: Vec<Mutex<Vec<f32>>>,
}

/// Locks a mutex, ignoring poisoning: a panicking worker is caught and reported through
/// [`Ctl::failed`], and nothing it held is read again.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
pub struct DataParallel<N, Y> {
    shared: Arc<Shared<Y>>,
    handles: Vec<JoinHandle<()>>,
    threads: usize,
    timeout: Duration,
    /// Set by a fault: every further step returns it.
    broken: Option<DistError>,
    _net: core::marker::PhantomData<fn() -> N>,
}

/// What a step returns besides the gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOutput {
    /// The batch's mean loss (the shards' means weighted by their sizes).
    pub loss: f32,
    /// Correct predictions, by the metric given, over the whole batch.
    pub correct: usize,
}

impl<N, Y> DataParallel<N, Y>
where
    N: Network<f32> + Send + 'static,
    Y: Copy + Send + Sync + 'static,
{
    /// A pool of `threads` workers (at least 1), each with a replica of `net` and a copy of
    /// `loss`. The default timeout is 60 seconds.
    ///
    /// If the system cannot start a thread, the pool is made anyway and its first step
    /// returns the error.
    pub fn new<L>(net: &N, loss: L, threads: usize) -> Self
    where
        L: Loss<f32, Target = [Y]> + Clone + Send + 'static,
    {
        let threads = threads.max(1);
        let slot = || Slot {
            x: Vec::new(),
            y: Vec::new(),
            scale: 1.0,
            out: Vec::new(),
            loss: 0.0,
            buffers: Vec::new(),
            counters: Vec::new(),
            error: None,
        };
        let shared = Arc::new(Shared {
            ctl: Mutex::new(Ctl {
                generation: 0,
                step: 0,
                phase: Phase::Compute,
                finished: std::vec![true; threads],
                failed: None,
                fault: None,
                shutdown: false,
            }),
            go: Condvar::new(),
            done: Condvar::new(),
            weights: RwLock::new((Vec::new(), Vec::new())),
            slots: (0..threads).map(|_| Mutex::new(slot())).collect(),
            grads: (0..threads).map(|_| RwLock::new(Vec::new())).collect(),
            sums: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
        });
        let mut handles = Vec::with_capacity(threads);
        let mut broken = None;
        for k in 0..threads {
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
        Self { shared, handles, threads, timeout: Duration::from_secs(60), broken, _net: core::marker::PhantomData }
    }

    /// The longest a step may take before the pool reports the workers that have not
    /// finished (default 60 s). Choose it well above a step's time: a loaded machine is
    /// slow, not broken.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Workers in the pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Makes `worker` fail as `fault` says at step `step` (the number the caller passes to
    /// [`DataParallel::step`]): for tests that a fault ends a run with an error.
    pub fn inject_fault(&mut self, worker: usize, step: usize, fault: Fault) {
        lock(&self.shared.ctl).fault = Some((worker, step, fault));
    }

    /// One data-parallel step: the gradient of the mean loss over the batch `x` (flat
    /// inputs) with targets `y` is written into `grad`'s trainable tensors (overwriting
    /// them), and `net`'s buffers and counters advance as worker 0's replica's did. `step`
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
        {
            let mut w = self.shared.weights.write().unwrap_or_else(PoisonError::into_inner);
            let (flat, counters) = &mut *w;
            flatten(net, Tensors::All, flat);
            flatten_counters(net, counters);
        }
        let n = self.threads;
        for (k, slot) in self.shared.slots.iter().enumerate() {
            let (lo, hi) = (k * batch / n, (k + 1) * batch / n);
            let mut s = lock(slot);
            s.x.clear();
            s.x.extend_from_slice(&x[lo * numel..hi * numel]);
            s.y.clear();
            s.y.extend_from_slice(&y[lo..hi]);
            s.scale = if hi - lo == batch { 1.0 } else { (hi - lo) as f32 / batch as f32 };
            s.error = None;
        }
        self.run(step, Phase::Compute)?;
        let slots = &self.shared.slots;
        let mut loss = 0.0f32;
        let mut correct = 0;
        for slot in slots.iter() {
            let mut s = lock(slot);
            if let Some(e) = s.error.take() {
                return Err(DistError::Shape(e));
            }
            if !s.y.is_empty() {
                loss += s.loss * s.scale;
                if let Some(m) = metric {
                    correct += m.correct(&s.out, &s.y);
                }
            }
        }
        // Gradients: each worker sums its slice along the fixed tree; the slices are
        // gathered here, in order.
        if n > 1 {
            self.run(step, Phase::Reduce)?;
            gather(grad, &self.shared.sums)?;
        } else {
            let g = self.shared.grads[0].read().unwrap_or_else(PoisonError::into_inner);
            unflatten(grad, Tensors::Trainable, &g)?;
        }
        let first = lock(&self.shared.slots[0]);
        unflatten(net, Tensors::Buffers, &first.buffers)?;
        unflatten_counters(net, &first.counters);
        Ok(StepOutput { loss, correct })
    }

    /// Starts the step on every worker and waits for all of them, or the first failure, or
    /// the timeout.
    fn run(&mut self, step: usize, phase: Phase) -> Result<(), DistError> {
        let shared = Arc::clone(&self.shared);
        let result = Self::wait_all(&shared, step, phase, self.timeout);
        result.map_err(|e| self.fail(e))
    }

    fn wait_all(shared: &Shared<Y>, step: usize, phase: Phase, timeout: Duration) -> Result<(), DistError> {
        let mut ctl = lock(&shared.ctl);
        ctl.generation += 1;
        ctl.step = step;
        ctl.phase = phase;
        ctl.finished.fill(false);
        shared.go.notify_all();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((worker, message)) = ctl.failed.clone() {
                return Err(DistError::Panicked { worker, step, message });
            }
            if ctl.finished.iter().all(|&f| f) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                let worker = ctl.finished.iter().position(|&f| !f).unwrap_or(0);
                let waiting = ctl.finished.iter().filter(|&&f| !f).count();
                return Err(DistError::Timeout { worker, step, waiting, after: timeout });
            }
            ctl = shared.done.wait_timeout(ctl, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    fn fail(&mut self, e: DistError) -> DistError {
        self.broken = Some(e.clone());
        e
    }
}

impl<N, Y> Drop for DataParallel<N, Y> {
    /// Stops the workers; joins those that finished their last step (a hung worker is left
    /// to end on its own, never waited for).
    fn drop(&mut self) {
        let healthy = {
            let mut ctl = lock(&self.shared.ctl);
            ctl.shutdown = true;
            self.shared.go.notify_all();
            ctl.failed.is_none() && ctl.finished.iter().all(|&f| f)
        };
        if healthy {
            for h in self.handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}

/// A worker's loop: wait for a step, compute its shard, report, until shutdown. The replica
/// stays boxed: a network is plain arrays, too large to move through a thread's stack.
#[allow(clippy::boxed_local)]
fn worker<N, Y, L>(k: usize, shared: &Shared<Y>, mut net: Box<N>, loss: &L)
where
    N: Network<f32>,
    Y: Copy,
    L: Loss<f32, Target = [Y]>,
{
    let mut grad = Box::new(net.zeros_like());
    let mut state = N::state::<Heap>();
    let mut dy: Vec<f32> = Vec::new();
    // Every worker's gradient over this worker's slice, for the sum.
    let mut parts: Vec<Vec<f32>> = (0..shared.grads.len()).map(|_| Vec::new()).collect();
    let mut seen = 0;
    loop {
        let (fault, phase) = {
            let mut ctl = lock(&shared.ctl);
            while ctl.generation == seen && !ctl.shutdown {
                ctl = shared.go.wait(ctl).unwrap_or_else(PoisonError::into_inner);
            }
            if ctl.shutdown {
                return;
            }
            seen = ctl.generation;
            let fault = match ctl.fault {
                Some((w, s, f)) if w == k && s == ctl.step && ctl.phase == Phase::Compute => Some(f),
                _ => None,
            };
            (fault, ctl.phase)
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match fault {
                Some(Fault::Panic) => panic!("fault injected into worker {k}"),
                Some(Fault::Hang) => {
                    let mut ctl = lock(&shared.ctl);
                    while !ctl.shutdown {
                        ctl = shared.go.wait(ctl).unwrap_or_else(PoisonError::into_inner);
                    }
                    return false;
                }
                None => {}
            }
            if phase == Phase::Reduce {
                reduce_slice(k, shared, &mut parts);
                return true;
            }
            let mut slot = lock(&shared.slots[k]);
            {
                let w = shared.weights.read().unwrap_or_else(PoisonError::into_inner);
                if let Err(e) = unflatten(&mut *net, Tensors::All, &w.0) {
                    slot.error = Some(e);
                    return true;
                }
                unflatten_counters(&mut *net, &w.1);
            }
            let mut flat = shared.grads[k].write().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = shard_step(&mut *net, &mut *grad, &mut state, &mut dy, loss, &mut slot, &mut flat) {
                slot.error = Some(e);
            }
            drop(flat);
            if k == 0 {
                let Slot { buffers, counters, .. } = &mut *slot;
                flatten(&*net, Tensors::Buffers, buffers);
                flatten_counters(&*net, counters);
            }
            true
        }));
        let mut ctl = lock(&shared.ctl);
        match result {
            Ok(true) => ctl.finished[k] = true,
            Ok(false) => return,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                ctl.failed = Some((k, message));
                shared.done.notify_all();
                return;
            }
        }
        shared.done.notify_all();
    }
}

/// Worker `k`'s slice of the parameters, `k·P/n .. (k+1)·P/n`: every worker's gradient
/// there copied into `parts`, summed along the fixed tree ([`tree_sum`]), the sum into
/// `sums[k]`. Every value goes through the same additions as a sum of whole vectors would.
fn reduce_slice<Y>(k: usize, shared: &Shared<Y>, parts: &mut [Vec<f32>]) {
    let n = shared.grads.len();
    let p = shared.grads[0].read().unwrap_or_else(PoisonError::into_inner).len();
    let (lo, hi) = (k * p / n, (k + 1) * p / n);
    for (g, part) in shared.grads.iter().zip(parts.iter_mut()) {
        let g = g.read().unwrap_or_else(PoisonError::into_inner);
        part.clear();
        part.extend_from_slice(g.get(lo..hi).unwrap_or(&[]));
    }
    tree_sum(parts);
    let mut sum = lock(&shared.sums[k]);
    sum.clear();
    sum.extend_from_slice(&parts[0]);
}

/// Writes the workers' slices of the summed gradient, in order, into `grad`'s trainable
/// tensors.
fn gather<N: Module<f32>>(grad: &mut N, sums: &[Mutex<Vec<f32>>]) -> Result<(), ShapeError> {
    let found: usize = sums.iter().map(|s| lock(s).len()).sum();
    let expected = flat_len(grad, Tensors::Trainable);
    if found != expected {
        return Err(ShapeError::Length { what: "summed gradient", expected, found });
    }
    let (mut j, mut at) = (0, 0);
    grad.visit_mut(&Path::ROOT, &mut |t| {
        if t.kind != Kind::Param {
            return;
        }
        let mut done = 0;
        while done < t.values.len() {
            let chunk = lock(&sums[j]);
            let take = (chunk.len() - at).min(t.values.len() - done);
            t.values[done..done + take].copy_from_slice(&chunk[at..at + take]);
            done += take;
            at += take;
            if at == chunk.len() {
                j += 1;
                at = 0;
            }
        }
    });
    Ok(())
}

/// Forward, loss and backward on one shard; the flat gradient into `flat`.
#[allow(clippy::too_many_arguments)]
fn shard_step<N, Y, L>(
    net: &mut N,
    grad: &mut N,
    state: &mut N::State<Heap>,
    dy: &mut Vec<f32>,
    loss: &L,
    slot: &mut Slot<Y>,
    flat: &mut Vec<f32>,
) -> Result<(), ShapeError>
where
    N: Network<f32>,
    Y: Copy,
    L: Loss<f32, Target = [Y]>,
{
    grad.zero();
    if slot.y.is_empty() {
        // More workers than samples: this one adds nothing.
        slot.out.clear();
        slot.loss = 0.0;
        flatten(&*grad, Tensors::Trainable, flat);
        return Ok(());
    }
    let y = net.forward_train(&slot.x, state)?;
    slot.out.clear();
    slot.out.extend_from_slice(y);
    dy.resize(y.len(), 0.0);
    slot.loss = loss.backward(y, &slot.y, dy)?;
    if slot.scale != 1.0 {
        for d in dy.iter_mut() {
            *d *= slot.scale;
        }
    }
    net.backward(&slot.x, dy, grad, state)?;
    flatten(&*grad, Tensors::Trainable, flat);
    Ok(())
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
