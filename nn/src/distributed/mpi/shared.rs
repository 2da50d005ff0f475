//! The gradients' sum through MPI-3 shared memory, for ranks that share a node.
//!
//! [`MpiDataParallel::shared`] makes, once and collectively, a window of shared memory
//! (`MPI_Win_allocate_shared`) over the ranks of the node (`MPI_Comm_split_type` with
//! `MPI_COMM_TYPE_SHARED`), in which each rank holds two gradients of the network (built
//! there in place) and its weighted loss; `MPI_Win_shared_query` gives every rank the
//! address of every other rank's part. A step ([`SharedStep::step`]) then needs no
//! collective transfer at all, only two barriers:
//!
//! 1. each rank runs forward, the loss and backward straight into its own gradient in the
//!    window (no copy);
//! 2. `MPI_Win_sync`, barrier, `MPI_Win_sync` (the MPI-3 shared-memory model's way to
//!    order plain stores and loads across processes);
//! 3. rank `r` sums its own range of the parameters, `r·P/n .. (r+1)·P/n`, from every
//!    rank's gradient in rank order (`((g0 + g1) + g2) + …`), into its own gradient, and
//!    sums the losses in rank order;
//! 4. sync, barrier, sync again;
//! 5. every rank applies the optimizer ([`RangeOptimizer`]) to all of its weights, each
//!    range read from the rank that summed it.
//!
//! Every rank applies the same optimizer to the same sum, so the weights **and the
//! optimizer's state** are the same bits on every rank (a checkpoint of any rank is the
//! run's); on two ranks each value of the sum is `g0 + g1`, the bits of the all-reduce of
//! [`MpiDataParallel::step_ranged`], so the two give the same weights (tested).
//!
//! The two gradients alternate from step to step: a rank zeroes the gradient of step
//! `s + 2` only after the barrier after the sums of step `s + 1`, which no rank passes
//! before it is done reading step `s`'s; so two barriers per step suffice.
//!
//! When the ranks are not all on one node, or the network's trainable tensors are not
//! contiguous in its own memory (a module holding boxes), the step is
//! [`MpiDataParallel::step_ranged`] on a gradient of the `SharedStep`'s own
//! ([`SharedStep::is_shared`] says which).
//!
//! **Faults.** The barriers are MPI calls like the all-reduce they replace, so the
//! watchdog covers them in the same way: a rank that hangs before its barrier is ended by
//! its own watchdog, and `mpirun` ends the others; a rank that dies ends the job.

use core::mem::{align_of, needs_drop, size_of};
use core::ptr;
use std::boxed::Box;
use std::vec::Vec;

use monograd_core::boxed::{boxed_zeros_like, InPlace};
use monograd_core::storage::Heap;
use monograd_core::{Module, Network, ShapeError};
use mpi::collective::SystemOperation;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};

use super::{MpiDataParallel, MpiError};
use crate::loss::Loss;
use crate::optim::ranged::{block_slices, state_blocks};
use crate::optim::{for_each_param, RangeOptimizer};

/// Values summed per pass of a rank over its range (in a buffer on the stack, in cache).
const CHUNK: usize = 2048;

/// Bytes before the first gradient in a rank's part of the window: the two losses.
const HEADER: usize = 64;

/// Steps of a network `N` whose gradients are summed in MPI shared memory; see the
/// [module docs](self). Made by [`MpiDataParallel::shared`]; drop it before the
/// [`Universe`](super::Universe) (it frees its window, collectively, on every rank).
///
/// ```no_run
/// // Run with `mpirun -n 2 PROGRAM`.
/// use monograd_core::storage::Heap;
/// use monograd_core::{Module, Network, Rng};
/// use monograd_nn::distributed::mpi::{initialize, MpiDataParallel};
/// use monograd_nn::{CrossEntropyLoss, Sgd};
/// # type Net = monograd_nn::train::testing::Dense<2, 2>;
/// let universe = initialize().expect("MPI initialises once");
/// let mut dp = MpiDataParallel::new(universe.world());
/// let mut net = Net::new(&mut Rng::seed(0));
/// dp.broadcast_weights(&mut net)?;
/// let mut shared = dp.shared(&net)?; // collective: every rank calls it
/// let (mut state, loss, mut opt) = (Net::state::<Heap>(), CrossEntropyLoss::new(), Sgd::new(0.1));
/// let x = [0.5f32, -1.0, 1.0, 0.25, -0.5, 0.5, 2.0, 1.0]; // a global batch of 4
/// let y = [0usize, 1, 0, 1];
/// for step in 1..=10 {
///     let part = dp.part(y.len());
///     let l = shared.step(&mut dp, step, &mut net, &mut state, &loss, &mut opt,
///                         &x[2 * part.start..2 * part.end], &y[part], y.len())?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedStep<N> {
    /// The window and the gradients in it; `None`: the ranks fall back on the all-reduce.
    window: Option<Window<N>>,
    /// The gradient of the fallback (and, while the window is made, the model of its
    /// gradients).
    fallback: Box<N>,
}

/// A window of shared memory over the ranks of one node, with two gradients of `N` built
/// in this rank's part.
struct Window<N> {
    node: SimpleCommunicator,
    win: ffi::MPI_Win,
    rank: usize,
    /// This rank's two gradients, in the window.
    grads: [*mut N; 2],
    /// Every rank's part of the window: the address of its first byte, in this process.
    parts: Vec<usize>,
    /// Bytes from the start of a gradient to its first trainable value.
    values_at: usize,
    /// Trainable values, contiguous from `values_at` on.
    len: usize,
    /// Bytes from a rank's part to its first gradient.
    first: usize,
    /// Bytes from a rank's part to its second gradient.
    second: usize,
    /// Which of the two gradients the next step uses.
    parity: usize,
    /// Whether every step begun has ended: if not, the other ranks may be waiting in a
    /// barrier, and the window is not freed (freeing is collective).
    clean: bool,
}

impl MpiDataParallel {
    /// Makes the shared-memory window for steps of networks like `net` (collective: every
    /// rank must call it, with the same network type). Falls back on the all-reduce of
    /// [`MpiDataParallel::step_ranged`] when the ranks are not all on one node or `net`'s
    /// trainable tensors do not lie side by side in its own memory. [`SharedStep`] has an
    /// example.
    ///
    /// # Errors
    /// None yet from the window itself (MPI's default error handler ends the job on an
    /// MPI error); the `Result` leaves room for checks of the network.
    pub fn shared<N: Network<f32> + InPlace>(&self, net: &N) -> Result<SharedStep<N>, MpiError> {
        let mut fallback = boxed_zeros_like(net);
        let layout = param_layout(&mut *fallback);
        let node = self.world.split_shared(0);
        let whole = usize::try_from(node.size()).ok() == Some(self.size);
        let mut window = None;
        if let (Some((values_at, len)), true) = (layout, whole) {
            window = Window::new(node, &*fallback, values_at, len);
        }
        // Every rank must take the same path: agree on it.
        let mine = i32::from(window.as_ref().is_some_and(|w| !w.grads[0].is_null()));
        let mut all = 0i32;
        self.world.all_reduce_into(&mine, &mut all, SystemOperation::min());
        if all == 0 {
            drop(window); // frees the window on every rank that made one (all on one node)
            window = None;
        }
        Ok(SharedStep { window, fallback })
    }
}

/// Where the trainable values of `m` lie: bytes from `m`'s start to the first, and their
/// number, if they are contiguous inside `m`'s own memory.
fn param_layout<N: Module<f32>>(m: &mut N) -> Option<(usize, usize)> {
    let start = m as *mut N as usize;
    let values = super::contiguous_params(m, &mut Vec::new())?;
    Some((values.as_ptr() as usize - start, values.len()))
}

impl<N: Module<f32> + InPlace> Window<N> {
    /// Allocates the window over `node` and builds this rank's two gradients in it, as
    /// copies of `model`; none if the memory is not aligned for `N` (then `grads` are null
    /// and the caller frees the window on every rank at once), `None` if MPI failed.
    fn new(node: SimpleCommunicator, model: &N, values_at: usize, len: usize) -> Option<Self> {
        let align = align_of::<N>().max(64);
        let round = |n: usize| n.div_ceil(4096) * 4096;
        let grad_bytes = size_of::<N>().div_ceil(align) * align;
        let first = HEADER.max(align);
        let second = first + grad_bytes;
        // Whole pages per rank: the parts, one after another, keep the same alignment.
        let bytes = round(second + grad_bytes);
        let rank = usize::try_from(node.rank()).unwrap_or(0);
        let size = usize::try_from(node.size()).unwrap_or(1);
        let mut base: *mut u8 = ptr::null_mut();
        // SAFETY: an out-parameter holding no window yet, written by MPI_Win_allocate_shared.
        let mut win: ffi::MPI_Win = unsafe { ffi::RSMPI_WIN_NULL };
        // SAFETY: a collective call over `node` (every rank of it calls `shared`); `base`
        // and `win` are valid out-parameters (`baseptr` is a `void*` written through);
        // `RSMPI_INFO_NULL` is the library's null info object.
        let ok = unsafe {
            ffi::MPI_Win_allocate_shared(
                bytes as ffi::MPI_Aint,
                1,
                ffi::RSMPI_INFO_NULL,
                node.as_raw(),
                (&mut base as *mut *mut u8).cast(),
                &mut win,
            )
        };
        if ok != ffi::MPI_SUCCESS as i32 {
            return None;
        }
        // A passive-target epoch for the window's whole life: `MPI_Win_sync` needs one.
        // SAFETY: `win` is the window just made; NOCHECK: no rank locks it otherwise.
        unsafe { ffi::MPI_Win_lock_all(ffi::MPI_MODE_NOCHECK as i32, win) };
        let mut parts = Vec::with_capacity(size);
        for r in 0..size {
            let (mut got, mut unit, mut at): (ffi::MPI_Aint, i32, *mut u8) = (0, 0, ptr::null_mut());
            // SAFETY: `win` is a shared window over `node`, `r` a rank of `node`; the three
            // out-parameters are valid for writes of their types.
            unsafe { ffi::MPI_Win_shared_query(win, r as i32, &mut got, &mut unit, (&mut at as *mut *mut u8).cast()) };
            parts.push(at as usize);
        }
        let mut w = Self {
            node,
            win,
            rank,
            grads: [ptr::null_mut(); 2],
            parts,
            values_at,
            len,
            first,
            second,
            parity: 0,
            clean: true,
        };
        let mine = base as usize;
        // The library may start the parts past a header of its own: only `N`'s alignment
        // is required (the offsets inside a part are multiples of `align`).
        let need = align_of::<N>().max(align_of::<f32>());
        if !mine.is_multiple_of(need) || w.parts.iter().any(|&p| !p.is_multiple_of(need)) {
            return Some(w); // with no gradients: `shared` sees it and falls back on every rank
        }
        for (k, g) in w.grads.iter_mut().enumerate() {
            let p = (mine + first + k * grad_bytes) as *mut N;
            // SAFETY: `p` lies in this rank's part of the window (`bytes` long, sized
            // above to hold the header and two gradients), aligned for `N` (checked), and
            // nothing else uses it yet; zeroed first, as `default_in_place` requires, then
            // made a copy of `model`: a valid `N`, dropped in `Drop`.
            unsafe {
                ptr::write_bytes(p.cast::<u8>(), 0, size_of::<N>());
                N::default_in_place(p);
                (*p).copy_from(model);
            }
            *g = p;
        }
        Some(w)
    }

    /// The trainable values of rank `r`'s gradient `k` (0 or 1), from `lo` to `hi`.
    fn values(&self, r: usize, k: usize, lo: usize, hi: usize) -> *mut f32 {
        let at = self.parts[r] + if k == 0 { self.first } else { self.second } + self.values_at;
        debug_assert!(lo <= hi && hi <= self.len);
        (at as *mut f32).wrapping_add(lo)
    }

    /// Rank `r`'s loss of step parity `k`.
    fn loss(&self, r: usize, k: usize) -> *mut f32 {
        (self.parts[r] as *mut f32).wrapping_add(k)
    }

    /// `MPI_Win_sync`, barrier, `MPI_Win_sync`: every store before it on any rank is seen
    /// by every load after it on any rank.
    fn fence(&self) {
        // SAFETY: `win` is this rank's open window, in the epoch opened by `lock_all`.
        unsafe { ffi::MPI_Win_sync(self.win) };
        self.node.barrier();
        // SAFETY: as above.
        unsafe { ffi::MPI_Win_sync(self.win) };
    }
}

impl<N> Drop for Window<N> {
    fn drop(&mut self) {
        if std::thread::panicking() || !self.clean {
            // Freeing is collective: a rank that unwinds, or left a step on an error, must
            // not wait for the others (it is on its way to end the job).
            return;
        }
        for g in self.grads {
            if !g.is_null() && needs_drop::<N>() {
                // SAFETY: `g` holds the valid `N` built in `Window::new`, dropped once here.
                unsafe { ptr::drop_in_place(g) };
            }
        }
        // SAFETY: the epoch opened in `new` is closed and the window freed, on every rank
        // of `node` (they drop their `SharedStep` alike); nothing points into it after.
        unsafe {
            ffi::MPI_Win_unlock_all(self.win);
            ffi::MPI_Win_free(&mut self.win);
        }
    }
}

impl<N: Network<f32> + InPlace> SharedStep<N> {
    /// Whether the steps go through shared memory (`false`: through the all-reduce).
    pub fn is_shared(&self) -> bool {
        self.window.is_some()
    }

    /// One synchronous step, as [`MpiDataParallel::step_ranged`] (the same arguments
    /// but the gradient, which lives in the window): returns the global batch's mean loss,
    /// the same on every rank, and leaves the same weights and optimizer state on every
    /// rank. Collective: every rank calls it the same number of times.
    ///
    /// # Errors
    /// As [`MpiDataParallel::step_ranged`].
    #[allow(clippy::too_many_arguments)]
    pub fn step<L, Y, O>(
        &mut self,
        dp: &mut MpiDataParallel,
        step: usize,
        net: &mut N,
        state: &mut N::State<Heap>,
        loss: &L,
        optimizer: &mut O,
        x: &[f32],
        y: &[Y],
        global: usize,
    ) -> Result<f32, MpiError>
    where
        L: Loss<f32, Target = [Y]>,
        O: RangeOptimizer<f32>,
    {
        let Some(w) = &mut self.window else {
            return dp.step_ranged(step, net, &mut self.fallback, state, loss, optimizer, x, y, global);
        };
        let k = w.parity;
        w.parity ^= 1;
        w.clean = false;
        // SAFETY: `grads[k]` is this rank's valid `N` in the window; no other rank reads it
        // until the barrier below, and no other rank has read it since the barrier in the
        // middle of the previous step (the gradients alternate; module docs), so this
        // rank has it alone until then.
        let grad = unsafe { &mut *w.grads[k] };
        let l = dp.gradient(step, net, grad, state, loss, x, y, global)?;
        // SAFETY: this rank's own loss slot of parity `k`, in its part of the window,
        // read by others only after the barrier below.
        unsafe { w.loss(w.rank, k).write(l) };
        w.fence();
        let n = w.parts.len();
        let mut total = 0.0f32;
        for r in 0..n {
            // SAFETY: rank `r`'s loss slot, written before the barrier and not again
            // before the next one.
            total += unsafe { w.loss(r, k).read() };
        }
        let (lo, hi) = (w.rank * w.len / n, (w.rank + 1) * w.len / n);
        let mut buf = [0.0f32; CHUNK];
        let mut at = lo;
        while at < hi {
            let m = CHUNK.min(hi - at);
            let sum = &mut buf[..m];
            for r in 0..n {
                // SAFETY: values `at .. at + m` of rank `r`'s gradient `k`, inside its
                // trainable values; between the two barriers no rank writes this rank's
                // range of any gradient `k` but this rank (below, after the reads).
                let src = unsafe { core::slice::from_raw_parts(w.values(r, k, at, at + m), m) };
                if r == 0 {
                    sum.copy_from_slice(src);
                } else {
                    for (s, v) in sum.iter_mut().zip(src) {
                        *s += v;
                    }
                }
            }
            // SAFETY: this rank's own range of its gradient `k`, which only this rank
            // touches between the barriers; no reference to it is alive (`grad`'s borrow
            // ended with `gradient`).
            unsafe { core::slice::from_raw_parts_mut(w.values(w.rank, k, at, at + m), m) }.copy_from_slice(sum);
            at += m;
        }
        w.fence();
        apply_shared(w, k, optimizer, net)?;
        w.clean = true;
        dp.done(step);
        Ok(total)
    }
}

/// Applies `optimizer` to `net` from the sum of step parity `k`: each range read from the
/// gradient of the rank that summed it.
fn apply_shared<N: Module<f32> + InPlace, O: RangeOptimizer<f32>>(
    w: &Window<N>,
    k: usize,
    optimizer: &mut O,
    net: &mut N,
) -> Result<(), MpiError> {
    let (update, state) = optimizer.begin_step(&*net)?;
    let params = N::PARAMS;
    let blocks = state_blocks(state.len(), params)?;
    let n = w.parts.len();
    // SAFETY: this rank's gradient `k`, a valid `N`; until the next step's first barrier
    // no rank writes any gradient `k` (module docs), so a shared borrow is sound.
    let grad = unsafe { &*w.grads[k] };
    let base = w.values(w.rank, k, 0, 0) as usize;
    let mut fits = true;
    for_each_param(net, grad, |offset, value, g| {
        if g.is_empty() {
            return;
        }
        let at = (g.as_ptr() as usize).wrapping_sub(base) / size_of::<f32>();
        if at + g.len() > w.len {
            fits = false;
            return;
        }
        // The tensor's values, cut where the ranks' ranges meet.
        let mut i = at;
        while i < at + g.len() {
            let owner = (0..n).rev().find(|&r| r * w.len / n <= i).unwrap_or(0);
            let end = ((owner + 1) * w.len / n).min(at + g.len());
            // SAFETY: values `i .. end` of the owner's gradient `k`, which it summed before
            // the barrier and nobody writes before the next step's first barrier.
            let sum = unsafe { core::slice::from_raw_parts(w.values(owner, k, i, end), end - i) };
            match block_slices(state, params, blocks, offset + (i - at), end - i) {
                Some(mut slices) => O::apply(&update, &mut value[i - at..end - at], sum, &mut slices[..blocks]),
                None => fits = false,
            }
            i = end;
        }
    });
    if fits {
        Ok(())
    } else {
        Err(MpiError::Shape(ShapeError::Length { what: "summed gradient", expected: params, found: w.len }))
    }
}
