//! Synchronous data parallelism across processes over MPI (feature `mpi`): every rank
//! holds the whole network, trains on its own shard of each global batch, and the
//! gradients are summed by an MPI all-reduce every step, so every rank applies the same
//! update to the same weights.
//!
//! A program is started by `mpirun -n 2 PROGRAM`; each process calls
//! [`MpiDataParallel::new`] with the world communicator and then, each step,
//! [`MpiDataParallel::step`] on its part of the batch ([`MpiDataParallel::part`]). Only
//! rank 0 should print progress and write checkpoints ([`MpiDataParallel::is_root`]).
//!
//! **Identical weights on every rank.** Each rank scales its gradient by its share of the
//! batch; the collectives read the gradient in the network's own memory (its trainable
//! tensors lie next to each other in a network of plain arrays, so nothing is copied
//! before them). On two ranks one all-reduce sums it (each value one addition of two,
//! the same bits in either order) and a second the weighted losses;
//! [`MpiDataParallel::step_ranged`] then applies the optimizer from the sum where the
//! all-reduce wrote it. With more ranks a reduce-scatter gives each rank one block of the
//! sum, and an all-gather copies every block to every rank, so every rank holds the same
//! bits whatever the MPI library's algorithms; the few values left over (fewer than the
//! ranks) and the weighted losses go through one small all-reduce. Every rank then runs
//! the same optimizer on the same sum. [`MpiDataParallel::fingerprints`] gathers a hash of
//! every rank's weights on rank 0 to check it.
//!
//! **Ranks on one node** can sum through MPI-3 shared memory instead of an all-reduce:
//! [`MpiDataParallel::shared`] and [`SharedStep`] ([`shared`] has the mechanism).
//!
//! **No silent hang.** A rank that dies (a panic, a signal) makes `mpirun` end every rank:
//! OpenMPI aborts the job when a process exits with an error. A rank that hangs cannot be
//! seen by the others, which wait in the all-reduce; so each rank runs a [`Watchdog`]: a
//! thread that, if this rank has not reached the all-reduce of a step within the timeout
//! of the previous step's end, prints which rank, which step and where it stands, and
//! exits, which ends the job. A rank waiting in the all-reduce waits twice the timeout
//! before it gives up, so the rank that hung is normally the one that speaks.

use std::string::String;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use std::vec::Vec;

use monograd_core::storage::Heap;
use monograd_core::{Module, Network, ShapeError};
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

pub mod shared;

pub use shared::SharedStep;

use super::flat::{flatten, unflatten, Tensors};
use crate::data::{DataError, Dataset};
use crate::init::fingerprint;
use crate::loss::Loss;
use crate::optim::ranged::{block_slices, state_blocks};
use crate::optim::{for_each_param, OptimError, Optimizer, RangeOptimizer};
use monograd_core::module::{Kind, Path};

/// The `mpi` crate (rsmpi), for what this module does not wrap.
pub use ::mpi as rsmpi;
pub use ::mpi::environment::Universe;

/// Initialises MPI (once per process; `None` if it already was). Dropping the
/// [`Universe`] finalizes it. `universe.world()` is the communicator of every rank.
pub fn initialize() -> Option<Universe> {
    ::mpi::initialize()
}

/// Data-parallel steps across the ranks of an MPI communicator; see the
/// [module docs](self).
///
/// ```no_run
/// // Run with `mpirun -n 2 PROGRAM`.
/// use std::time::Duration;
/// use monograd_core::storage::Heap;
/// use monograd_core::{Module, Network, Rng};
/// use monograd_nn::distributed::mpi::{initialize, MpiDataParallel};
/// use monograd_nn::{CrossEntropyLoss, Sgd};
/// # type Net = monograd_nn::train::testing::Dense<2, 2>;
/// let universe = initialize().expect("MPI initialises once");
/// let mut dp = MpiDataParallel::new(universe.world()).watchdog(Duration::from_secs(60));
/// let mut net = Net::new(&mut Rng::seed(0));
/// dp.broadcast_weights(&mut net)?;
/// let (mut grad, mut state) = (net.zeros_like(), Net::state::<Heap>());
/// let (loss, mut opt) = (CrossEntropyLoss::new(), Sgd::new(0.1));
/// let x = [0.5f32, -1.0, 1.0, 0.25, -0.5, 0.5, 2.0, 1.0]; // a global batch of 4
/// let y = [0usize, 1, 0, 1];
/// for step in 1..=10 {
///     let part = dp.part(y.len()); // this rank's samples
///     let l = dp.step(step, &mut net, &mut grad, &mut state, &loss, &mut opt,
///                     &x[2 * part.start..2 * part.end], &y[part], y.len())?;
///     if dp.is_root() {
///         println!("step {step}: loss {l}");
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MpiDataParallel {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    send: Vec<f32>,
    recv: Vec<f32>,
    dy: Vec<f32>,
    /// The trainable tensors' places in the gradient (address, length), to find them
    /// contiguous.
    spans: Vec<(usize, usize)>,
    /// This rank's block of the reduce-scatter.
    block: Vec<f32>,
    /// The gradient, flat, when its tensors are not contiguous.
    flat: Vec<f32>,
    watchdog: Option<Watchdog>,
}

impl MpiDataParallel {
    /// Data parallelism over `world` (usually `universe.world()`), with no watchdog.
    pub fn new(world: SimpleCommunicator) -> Self {
        let rank = usize::try_from(world.rank()).unwrap_or(0);
        let size = usize::try_from(world.size()).unwrap_or(1).max(1);
        Self {
            world,
            rank,
            size,
            send: Vec::new(),
            recv: Vec::new(),
            dy: Vec::new(),
            spans: Vec::new(),
            block: Vec::new(),
            flat: Vec::new(),
            watchdog: None,
        }
    }

    /// Ends this process (so `mpirun` ends the job) when a step takes longer than
    /// `timeout`; see [`Watchdog`].
    pub fn watchdog(mut self, timeout: Duration) -> Self {
        self.watchdog = Some(Watchdog::start(self.rank, timeout));
        self
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Processes in the communicator.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, the one that prints and writes checkpoints.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// The watchdog, if one was set: to restart its clock after long work between steps.
    pub fn watchdog_ref(&self) -> Option<&Watchdog> {
        self.watchdog.as_ref()
    }

    /// The communicator.
    pub fn world(&self) -> &SimpleCommunicator {
        &self.world
    }

    /// This rank's part of a global batch of `batch` samples: samples `lo..hi` with
    /// `lo = rank·batch/size`, `hi = (rank+1)·batch/size`.
    pub fn part(&self, batch: usize) -> core::ops::Range<usize> {
        self.rank * batch / self.size..(self.rank + 1) * batch / self.size
    }

    /// This rank's shard of a data set: samples `rank`, `rank + size`, `rank + 2·size`, ...,
    /// each rank the same number (the last `len % size` samples are left out), so that every
    /// rank runs the same number of steps per epoch.
    ///
    /// # Errors
    /// A [`DataError`] if the data set has fewer samples than ranks.
    pub fn shard<Y: Clone>(&self, data: &Dataset<f32, Y>) -> Result<Dataset<f32, Y>, DataError> {
        let per_rank = data.len() / self.size;
        let indices: Vec<usize> = (0..per_rank).map(|i| i * self.size + self.rank).collect();
        data.select(&indices)
    }

    /// One synchronous step: forward, loss and backward on this rank's `x` and `y` (its
    /// part of a global batch of `global` samples), the gradients and losses summed over
    /// every rank, and the optimizer applied. Returns the global batch's mean loss, the same
    /// on every rank. `step` names the step in the watchdog's message.
    ///
    /// Every rank must call it the same number of times: it is a collective operation.
    ///
    /// # Errors
    /// [`MpiError::Shape`] if the data does not fit the network or the loss (found on this
    /// rank alone: the others then wait in the all-reduce, and their watchdogs end the
    /// job), [`MpiError::Optim`] if the optimizer cannot step.
    #[allow(clippy::too_many_arguments)]
    pub fn step<N, L, Y, O>(
        &mut self,
        step: usize,
        net: &mut N,
        grad: &mut N,
        state: &mut N::State<Heap>,
        loss: &L,
        optimizer: &mut O,
        x: &[f32],
        y: &[Y],
        global: usize,
    ) -> Result<f32, MpiError>
    where
        N: Network<f32>,
        L: Loss<f32, Target = [Y]>,
        O: Optimizer<f32>,
    {
        let l = self.gradient(step, net, grad, state, loss, x, y, global)?;
        let total = match self.sum_gradient(grad, l, true)? {
            Summed::InGrad(total) | Summed::Apart(total, _) => total,
        };
        optimizer.try_step(net, grad)?;
        self.done(step);
        Ok(total)
    }

    /// [`MpiDataParallel::step`] for an optimizer stepped by ranges ([`RangeOptimizer`]:
    /// `Sgd`, `Adam`, `AdamW`), the same weights to the bit, one pass over the
    /// parameters fewer: on two ranks the optimizer reads the sum where the all-reduce
    /// wrote it, instead of from `grad`. `grad` then holds this rank's own (scaled)
    /// gradient, not the sum; with more ranks, or a network whose tensors are not
    /// contiguous, it is [`MpiDataParallel::step`].
    ///
    /// # Errors
    /// As [`MpiDataParallel::step`].
    #[allow(clippy::too_many_arguments)]
    pub fn step_ranged<N, L, Y, O>(
        &mut self,
        step: usize,
        net: &mut N,
        grad: &mut N,
        state: &mut N::State<Heap>,
        loss: &L,
        optimizer: &mut O,
        x: &[f32],
        y: &[Y],
        global: usize,
    ) -> Result<f32, MpiError>
    where
        N: Network<f32>,
        L: Loss<f32, Target = [Y]>,
        O: RangeOptimizer<f32>,
    {
        let l = self.gradient(step, net, grad, state, loss, x, y, global)?;
        let total = match self.sum_gradient(grad, l, false)? {
            Summed::InGrad(total) => {
                optimizer.try_step(net, grad)?;
                total
            }
            Summed::Apart(total, base) => {
                apply_from::<N, O>(optimizer, net, grad, &self.recv, base)?;
                total
            }
        };
        self.done(step);
        Ok(total)
    }

    /// This rank's part of a step before the sum: forward, the loss and backward, the
    /// output gradient scaled by the rank's share. Returns the rank's weighted loss.
    #[allow(clippy::too_many_arguments)]
    fn gradient<N, L, Y>(
        &mut self,
        step: usize,
        net: &mut N,
        grad: &mut N,
        state: &mut N::State<Heap>,
        loss: &L,
        x: &[f32],
        y: &[Y],
        global: usize,
    ) -> Result<f32, MpiError>
    where
        N: Network<f32>,
        L: Loss<f32, Target = [Y]>,
    {
        if let Some(w) = &self.watchdog {
            if w.shared.0.lock().unwrap_or_else(PoisonError::into_inner).armed.is_none() {
                w.arm(step);
            }
        }
        grad.zero();
        let share = y.len() as f32 / global.max(1) as f32;
        let mut l = 0.0;
        if !y.is_empty() {
            let out = net.forward_train(x, state)?;
            self.dy.resize(out.len(), 0.0);
            l = loss.backward(out, y, &mut self.dy)?;
            if share != 1.0 {
                for d in &mut self.dy {
                    *d *= share;
                }
            }
            net.backward(x, &self.dy, grad, state)?;
        }
        if let Some(w) = &self.watchdog {
            w.waiting(step);
        }
        Ok(l * share)
    }

    /// Sums the gradient and the weighted loss `l` over every rank: into `grad`, or, on two
    /// ranks with `into_grad` false, into `self.recv` (in `grad`'s memory order; `Apart`
    /// gives the address of `grad`'s first trainable value).
    fn sum_gradient<N: Module<f32>>(&mut self, grad: &mut N, l: f32, into_grad: bool) -> Result<Summed, MpiError> {
        let mut sum = Sum {
            world: &self.world,
            size: self.size,
            block: &mut self.block,
            send: &mut self.send,
            recv: &mut self.recv,
        };
        Ok(match contiguous_params(grad, &mut self.spans) {
            Some(values) if self.size == 2 && !into_grad => {
                let base = values.as_ptr() as usize;
                Summed::Apart(sum.apart(values, l), base)
            }
            Some(values) => Summed::InGrad(sum.in_place(values, l)),
            None => {
                // Tensors apart in memory (a module holding boxes): through a flat copy.
                flatten(grad, Tensors::Trainable, &mut self.flat);
                let total = sum.in_place(&mut self.flat, l);
                unflatten(grad, Tensors::Trainable, &self.flat)?;
                Summed::InGrad(total)
            }
        })
    }

    /// The end of a step, for the watchdog.
    fn done(&self, step: usize) {
        if let Some(w) = &self.watchdog {
            w.arm(step + 1);
        }
    }

    /// Copies rank 0's weights (every tensor) to every rank: call it once at the start, so
    /// that ranks agree even if they were initialised differently.
    ///
    /// # Errors
    /// [`ShapeError`] only if the ranks run different networks (their flat lengths differ).
    pub fn broadcast_weights<N: Module<f32>>(&mut self, net: &mut N) -> Result<(), ShapeError> {
        flatten(net, Tensors::All, &mut self.send);
        self.world.process_at_rank(0).broadcast_into(&mut self.send[..]);
        unflatten(net, Tensors::All, &self.send)
    }

    /// Sums `values` over every rank, in place (metrics: losses, correct counts).
    pub fn sum(&mut self, values: &mut [f64]) {
        let send = values.to_vec();
        self.world.all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    /// The fingerprint ([`init::fingerprint`](crate::init::fingerprint)) of every rank's
    /// weights, gathered on rank 0 (`Some` there, `None` elsewhere): equal values mean
    /// identical weights.
    pub fn fingerprints<N: Module<f32>>(&self, net: &N) -> Option<Vec<u64>> {
        let mine = fingerprint(net);
        let root = self.world.process_at_rank(0);
        if self.is_root() {
            let mut all = std::vec![0u64; self.size];
            root.gather_into_root(&mine, &mut all[..]);
            Some(all)
        } else {
            root.gather_into(&mine);
            None
        }
    }
}

/// The trainable tensors of `grad` as one slice, if they lie next to each other inside
/// `grad`'s own memory (a network of plain arrays: every network of built-in layers), in
/// whatever order; `None` otherwise. `spans` is scratch, kept by the caller so that
/// nothing is allocated after the first call.
fn contiguous_params<'g, N: Module<f32>>(grad: &'g mut N, spans: &mut Vec<(usize, usize)>) -> Option<&'g mut [f32]> {
    spans.clear();
    grad.visit_mut(&Path::ROOT, &mut |t| {
        if t.kind == Kind::Param && !t.values.is_empty() {
            spans.push((t.values.as_mut_ptr() as usize, t.values.len()));
        }
    });
    spans.sort_unstable();
    let start = grad as *mut N as usize;
    let end = start + core::mem::size_of::<N>();
    let (&(first, _), &(last, last_len)) = (spans.first()?, spans.last()?);
    let size = core::mem::size_of::<f32>();
    let tiled = spans.windows(2).all(|w| w[0].0 + w[0].1 * size == w[1].0);
    if !tiled || first < start || last + last_len * size > end {
        return None;
    }
    let len = spans.iter().map(|s| s.1).sum();
    // SAFETY: the trainable tensors tile `first .. first + len` values with no gap (checked
    // above), all inside `*grad` (checked against its address and size), so the range is
    // initialised `f32`s of `grad` alone (tensors never overlap one another); the pointer
    // is derived from `grad` itself, borrowed mutably for the slice's lifetime, and `first`
    // is the address of an `f32`, hence aligned.
    Some(unsafe {
        core::slice::from_raw_parts_mut((grad as *mut N).cast::<u8>().add(first - start).cast::<f32>(), len)
    })
}

/// Where a step's sum of the gradients is, with the sum of the losses.
enum Summed {
    /// In the gradient.
    InGrad(f32),
    /// In `recv`, in the memory order of the gradient's trainable tensors, which start at
    /// the address given.
    Apart(f32, usize),
}

/// Applies `optimizer` to `net` from the summed gradient `sum`, which holds `grad`'s
/// trainable values in memory order from address `base` on: `grad` locates each tensor's
/// sum, and is not read.
fn apply_from<N: Module<f32>, O: RangeOptimizer<f32>>(
    optimizer: &mut O,
    net: &mut N,
    grad: &N,
    sum: &[f32],
    base: usize,
) -> Result<(), MpiError> {
    let (update, state) = optimizer.begin_step(&*net)?;
    let params = N::PARAMS;
    let blocks = state_blocks(state.len(), params)?;
    let mut fits = true;
    for_each_param(net, grad, |offset, value, g| {
        if g.is_empty() {
            return;
        }
        let at = (g.as_ptr() as usize).wrapping_sub(base) / core::mem::size_of::<f32>();
        let Some(sum) = sum.get(at..at + g.len()) else {
            fits = false;
            return;
        };
        match block_slices(state, params, blocks, offset, value.len()) {
            Some(mut slices) => O::apply(&update, value, sum, &mut slices[..blocks]),
            None => fits = false,
        }
    });
    if fits {
        Ok(())
    } else {
        Err(MpiError::Shape(ShapeError::Length { what: "summed gradient", expected: params, found: sum.len() }))
    }
}

/// A sum over every rank of a gradient and a loss, with the scratch it needs.
struct Sum<'a> {
    world: &'a SimpleCommunicator,
    size: usize,
    block: &'a mut Vec<f32>,
    send: &'a mut Vec<f32>,
    recv: &'a mut Vec<f32>,
}

impl Sum<'_> {
    /// Sums `values` over every rank in place and returns the sum of `extra`: a
    /// reduce-scatter of the first `size·q` values (`q = len / size`: one block summed per
    /// rank) and an all-gather of the blocks back into `values`, then one all-reduce of the
    /// rest (fewer than `size` values) with `extra`. Each block is summed on one rank and
    /// copied to the others, so every rank ends with the same bits.
    ///
    /// On two ranks one all-reduce instead ([`Sum::apart`], copied back): each value is
    /// then one addition of the two ranks' values, which IEEE 754 makes the same bits in
    /// either order, and one all-reduce took 171-224 µs against 545-599 µs for the pair of
    /// collectives on W1's gradient (docs/DISTRIBUTED.md).
    fn in_place(&mut self, values: &mut [f32], extra: f32) -> f32 {
        if self.size == 2 {
            let total = self.apart(values, extra);
            values.copy_from_slice(&self.recv[..values.len()]);
            return total;
        }
        let q = values.len() / self.size;
        let (blocks, tail) = values.split_at_mut(q * self.size);
        if q > 0 {
            self.block.resize(q, 0.0);
            self.world.reduce_scatter_block_into(&blocks[..], &mut self.block[..], SystemOperation::sum());
            self.world.all_gather_into(&self.block[..], blocks);
        }
        self.send.clear();
        self.send.extend_from_slice(tail);
        self.send.push(extra);
        self.recv.resize(self.send.len(), 0.0);
        self.world.all_reduce_into(&self.send[..], &mut self.recv[..], SystemOperation::sum());
        tail.copy_from_slice(&self.recv[..tail.len()]);
        self.recv[tail.len()]
    }

    /// Two ranks: the sum of `values` into `recv[..values.len()]` by one all-reduce read
    /// straight from `values` (no copy around it), then the sum of `extra` by a second,
    /// one value long. Returns the latter.
    fn apart(&mut self, values: &[f32], extra: f32) -> f32 {
        self.recv.resize(values.len(), 0.0);
        self.world.all_reduce_into(values, &mut self.recv[..], SystemOperation::sum());
        let mut total = 0.0f32;
        self.world.all_reduce_into(&extra, &mut total, SystemOperation::sum());
        total
    }
}

/// What ended an MPI step on this rank.
#[derive(Debug)]
#[non_exhaustive]
pub enum MpiError {
    /// The data does not fit the network or the loss.
    Shape(ShapeError),
    /// The optimizer could not step.
    Optim(OptimError),
}

impl core::fmt::Display for MpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Shape(e) => write!(f, "{e}"),
            Self::Optim(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MpiError {}

impl From<ShapeError> for MpiError {
    fn from(e: ShapeError) -> Self {
        Self::Shape(e)
    }
}

impl From<OptimError> for MpiError {
    fn from(e: OptimError) -> Self {
        Self::Optim(e)
    }
}

/// The exit status of a process the [`Watchdog`] ends (`EX_SOFTWARE`).
pub const WATCHDOG_EXIT: i32 = 70;

/// What the watchdog watches: the step in progress, where it stands, and its deadline.
struct Watch {
    armed: Option<(usize, &'static str, Instant)>,
    stop: bool,
    /// Set by the thread once it runs: `start` waits for it, so the watchdog is live
    /// before the first step (and its start-up allocations come before any step's).
    running: bool,
}

/// A thread that ends this process when a step overruns its timeout: it prints
/// `rank R: step S did not complete within T s (WHERE); ending the run` to standard error
/// and exits with status [`WATCHDOG_EXIT`], and `mpirun` then ends every other rank. MPI
/// calls cannot be interrupted, so ending the process is the only bounded way out of a
/// collective that a dead or hung peer never joins.
///
/// The clock of step `s + 1` starts when step `s` ends (or at [`Watchdog::arm`] for the
/// first): the time between steps counts, so a rank that hangs anywhere is caught. Work
/// between steps that may take longer (validation, checkpoints) should fit in the
/// timeout, or be followed by [`Watchdog::arm`] to restart the clock.
pub struct Watchdog {
    shared: Arc<(Mutex<Watch>, Condvar)>,
    timeout: Duration,
}

impl Watchdog {
    /// Starts watching for rank `rank` with `timeout` per step.
    pub fn start(rank: usize, timeout: Duration) -> Self {
        let shared = Arc::new((Mutex::new(Watch { armed: None, stop: false, running: false }), Condvar::new()));
        let watched = Arc::clone(&shared);
        let spawned = thread::Builder::new().name(String::from("monograd-watchdog")).spawn(move || {
            let (lock, cvar) = &*watched;
            let mut w = lock.lock().unwrap_or_else(PoisonError::into_inner);
            w.running = true;
            cvar.notify_all();
            loop {
                if w.stop {
                    return;
                }
                match w.armed {
                    Some((step, phase, deadline)) if Instant::now() >= deadline => {
                        std::eprintln!(
                            "rank {rank}: step {step} did not complete within {:.1} s ({phase}); ending the run",
                            timeout.as_secs_f64()
                        );
                        std::process::exit(WATCHDOG_EXIT);
                    }
                    Some((_, _, deadline)) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        w = cvar.wait_timeout(w, left).unwrap_or_else(PoisonError::into_inner).0;
                    }
                    None => w = cvar.wait(w).unwrap_or_else(PoisonError::into_inner),
                }
            }
        });
        match spawned {
            Ok(_) => {
                let (lock, cvar) = &*shared;
                let mut w = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !w.running {
                    w = cvar.wait(w).unwrap_or_else(PoisonError::into_inner);
                }
            }
            Err(e) => std::eprintln!("rank {rank}: the watchdog could not start ({e}); steps are not timed"),
        }
        Self { shared, timeout }
    }

    /// Restarts the clock: step `step` must reach its all-reduce within the timeout.
    pub fn arm(&self, step: usize) {
        self.set(step, "computing its gradient, or between steps", self.timeout);
    }

    /// Step `step` waits for the other ranks: give them twice the timeout, so that a rank
    /// that hung is caught by its own watchdog first.
    fn waiting(&self, step: usize) {
        self.set(step, "waiting for the other ranks in the gradient all-reduce", 2 * self.timeout);
    }

    fn set(&self, step: usize, phase: &'static str, patience: Duration) {
        let (lock, cvar) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).armed = Some((step, phase, Instant::now() + patience));
        cvar.notify_all();
    }

    /// Stops the clock (the run ends, or pauses for a while).
    pub fn disarm(&self) {
        let (lock, cvar) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).armed = None;
        cvar.notify_all();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        cvar.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::vec;

    use monograd_core::module::Tensor;
    use monograd_core::{Module, Rng};

    use super::*;

    #[test]
    fn a_network_of_arrays_is_one_slice() {
        type Net = crate::train::testing::Dense<3, 2>;
        let mut grad = Net::new(&mut Rng::seed(1));
        let mut flat = Vec::new();
        flatten(&grad, Tensors::Trainable, &mut flat);
        let mut spans = Vec::new();
        let values = contiguous_params(&mut grad, &mut spans).expect("weight and bias side by side");
        assert_eq!(values.len(), 3 * 2 + 2);
        // The same values, in memory order (here, visit order too); writes reach the tensors.
        let mut seen = values.to_vec();
        seen.sort_by(f32::total_cmp);
        flat.sort_by(f32::total_cmp);
        assert_eq!(seen, flat);
        values.fill(0.5);
        grad.visit(&Path::ROOT, &mut |t| assert!(t.values.iter().all(|&v| v == 0.5)));
    }

    /// Two tensors on the heap, outside the module's own memory.
    #[derive(Clone)]
    struct Apart(Vec<f32>, Vec<f32>);

    impl Module<f32> for Apart {
        const PARAMS: usize = 0;
        fn visit<F: FnMut(Tensor<'_, &[f32]>)>(&self, path: &Path<'_>, f: &mut F) {
            for (name, v) in [("a", &self.0), ("b", &self.1)] {
                f(Tensor { path: &path.field(name), kind: Kind::Param, shape: &[4], values: &v[..] });
            }
        }
        fn visit_mut<F: FnMut(Tensor<'_, &mut [f32]>)>(&mut self, path: &Path<'_>, f: &mut F) {
            f(Tensor { path: &path.field("a"), kind: Kind::Param, shape: &[4], values: &mut self.0[..] });
            f(Tensor { path: &path.field("b"), kind: Kind::Param, shape: &[4], values: &mut self.1[..] });
        }
        fn visit_update<F: FnMut(monograd_core::module::ParamUpdate<'_, f32>)>(
            &mut self,
            _: &Self,
            _: &Path<'_>,
            _: &mut usize,
            _: &mut F,
        ) {
        }
    }

    #[test]
    fn tensors_outside_the_module_are_not_one_slice() {
        let mut m = Apart(vec![1.0; 4], vec![2.0; 4]);
        assert!(contiguous_params(&mut m, &mut Vec::new()).is_none());
    }
}
