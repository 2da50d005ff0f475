//! [`AsyncSgd`]: asynchronous SGD with a parameter server, on threads, with bounded
//! staleness.
//!
//! The server holds the weights, the optimizer and a version (updates applied so far).
//! Each worker repeats: pull the weights (and their version), compute the gradient of its
//! next batch, push it; the server applies each gradient as it arrives, as an optimizer
//! step of its own, and records its staleness: the updates applied between the worker's
//! pull and its push. Nobody waits for the slowest worker, except where the bound says so:
//!
//! - a worker starts its iteration `c` only when every worker has pushed iteration
//!   `c - s - 1` (it is at most `s` iterations ahead of the slowest);
//! - it pushes iteration `c` only when every worker has pulled for iteration `c - s`.
//!
//! With `s = 0` the two rules make every pull of round `c` see exactly the updates of the
//! rounds before: the run is synchronous SGD with the round's gradients applied one after
//! the other (for plain SGD, the same as applying their sum; the test checks it). With a
//! larger `s` a gradient may be up to about `(s + 1)·workers` updates stale.
//!
//! Optionally ([`AsyncSgd::scale_by_staleness`]) a gradient of staleness `τ` is scaled by
//! `1 / (1 + τ)` before it is applied: the learning rate falls with staleness, a common
//! remedy for the noise stale gradients add.
//!
//! A worker that panics ends the run with an error naming it and its iteration; a wait
//! longer than the timeout ends it naming the worker the others wait for.

use std::string::{String, ToString};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use std::vec::Vec;

use monograd_core::storage::Heap;
use monograd_core::Network;

use super::DistError;
use crate::loss::Loss;
use crate::optim::Optimizer;

/// Asynchronous SGD on threads; see the [module docs](self).
///
/// ```
/// use monograd_core::Rng;
/// use monograd_nn::distributed::AsyncSgd;
/// use monograd_nn::{MseLoss, Sgd};
/// # type Net = monograd_nn::train::testing::Dense<1, 1>;
/// // y = 2x, four batches of two samples per worker and iteration.
/// let x = [0.5f32, -1.0, 1.0, 0.25];
/// let y = [1.0f32, -2.0, 2.0, 0.5];
/// let mut net = Net::new(&mut Rng::seed(0));
/// let mut opt = Sgd::new(0.2);
/// let report = AsyncSgd::new(2, 1).run(&mut net, &mut opt, &MseLoss, 100, |w, _| {
///     (&x[2 * w..2 * w + 2], &y[2 * w..2 * w + 2])
/// })?;
/// assert_eq!(report.staleness.len(), 200);
/// assert!(report.max_staleness() <= 2 * 2);
/// assert!((net.0.weight[0][0] - 2.0).abs() < 1e-2);
/// # Ok::<(), monograd_nn::distributed::DistError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AsyncSgd {
    workers: usize,
    staleness: usize,
    scale: bool,
    timeout: Duration,
}

/// What an asynchronous run recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AsyncReport {
    /// The staleness of every update, in the order the server applied them: how many
    /// updates were applied between the pull its gradient was computed from and its push.
    pub staleness: Vec<usize>,
    /// Which worker pushed each update, in the same order.
    pub workers: Vec<usize>,
}

impl AsyncReport {
    /// The largest staleness seen (0 for an empty run).
    pub fn max_staleness(&self) -> usize {
        self.staleness.iter().copied().max().unwrap_or(0)
    }

    /// The mean staleness.
    pub fn mean_staleness(&self) -> f64 {
        self.staleness.iter().sum::<usize>() as f64 / self.staleness.len().max(1) as f64
    }
}

/// The server: weights, optimizer, version, and every worker's progress.
struct Server<'a, N, O> {
    net: &'a mut N,
    optimizer: &'a mut O,
    version: usize,
    /// Iterations each worker has pushed, and pulled for.
    pushed: Vec<usize>,
    pulled: Vec<usize>,
    report: AsyncReport,
    failed: Option<DistError>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AsyncSgd {
    /// `workers` threads (at least 1), each at most `staleness` iterations ahead of the
    /// slowest. No learning-rate scaling; a timeout of 60 s per wait.
    pub fn new(workers: usize, staleness: usize) -> Self {
        Self { workers: workers.max(1), staleness, scale: false, timeout: Duration::from_secs(60) }
    }

    /// Scales a gradient of staleness `τ` by `1 / (1 + τ)` before applying it.
    pub fn scale_by_staleness(mut self, scale: bool) -> Self {
        self.scale = scale;
        self
    }

    /// The longest any worker may wait for the others (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `iterations` iterations on every worker. `batch(worker, iteration)` gives a
    /// worker's inputs (flat) and targets for an iteration; each push is the gradient of
    /// that batch's mean loss divided by the number of workers, so that with equal batches
    /// one round of pushes adds up to the gradient of the round's whole data.
    ///
    /// # Errors
    /// [`DistError::Shape`] if a batch does not fit the network or the loss,
    /// [`DistError::Panicked`] if a worker panicked, [`DistError::Timeout`] if a worker
    /// waited longer than the timeout; the weights are then those of the updates applied
    /// so far.
    pub fn run<'d, N, L, Y, O, F>(
        &self,
        net: &mut N,
        optimizer: &mut O,
        loss: &L,
        iterations: usize,
        batch: F,
    ) -> Result<AsyncReport, DistError>
    where
        N: Network<f32> + Send + Sync,
        L: Loss<f32, Target = [Y]> + Sync,
        Y: 'd,
        O: Optimizer<f32> + Send,
        F: Fn(usize, usize) -> (&'d [f32], &'d [Y]) + Sync,
    {
        let start = net.clone();
        let server = Mutex::new(Server {
            net,
            optimizer,
            version: 0,
            pushed: std::vec![0; self.workers],
            pulled: std::vec![0; self.workers],
            report: AsyncReport::default(),
            failed: None,
        });
        let changed = Condvar::new();
        std::thread::scope(|scope| {
            for k in 0..self.workers {
                let (server, changed, batch, start) = (&server, &changed, &batch, &start);
                scope.spawn(move || {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.worker(k, iterations, server, changed, loss, batch, start)
                    }));
                    let error = match result {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => e,
                        Err(payload) => {
                            let message = payload
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| payload.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "a panic".to_string());
                            let step = lock(server).pushed[k] + 1;
                            DistError::Panicked { worker: k, step, message }
                        }
                    };
                    let mut s = lock(server);
                    if s.failed.is_none() {
                        s.failed = Some(error);
                    }
                    changed.notify_all();
                });
            }
        });
        let s = server.into_inner().unwrap_or_else(PoisonError::into_inner);
        match s.failed {
            Some(e) => Err(e),
            None => Ok(s.report),
        }
    }

    /// Waits on `changed` until every worker's count in `progress` (pushes or pulls) is at
    /// least `needed`, a failure, or the timeout; a timeout names the worker furthest
    /// behind, the one the others wait for, and its iteration.
    fn wait<'s, 'n, N, O>(
        &self,
        mut s: MutexGuard<'s, Server<'n, N, O>>,
        changed: &Condvar,
        progress: for<'a> fn(&'a Server<'n, N, O>) -> &'a [usize],
        needed: usize,
    ) -> Result<MutexGuard<'s, Server<'n, N, O>>, DistError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(e) = &s.failed {
                return Err(e.clone());
            }
            let counts = progress(&s);
            if counts.iter().all(|&p| p >= needed) {
                return Ok(s);
            }
            let now = Instant::now();
            if now >= deadline {
                let (worker, &done) = counts.iter().enumerate().min_by_key(|&(_, p)| *p).unwrap_or((0, &0));
                let waiting = counts.iter().filter(|&&p| p < needed).count();
                return Err(DistError::Timeout { worker, step: done + 1, waiting, after: self.timeout });
            }
            s = changed.wait_timeout(s, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn worker<'d, N, L, Y, O, F>(
        &self,
        k: usize,
        iterations: usize,
        server: &Mutex<Server<'_, N, O>>,
        changed: &Condvar,
        loss: &L,
        batch: &F,
        start: &N,
    ) -> Result<(), DistError>
    where
        N: Network<f32>,
        L: Loss<f32, Target = [Y]>,
        Y: 'd,
        O: Optimizer<f32>,
        F: Fn(usize, usize) -> (&'d [f32], &'d [Y]),
    {
        let mut net = start.clone();
        let mut grad = start.zeros_like();
        let mut state = N::state::<Heap>();
        let mut dy = Vec::new();
        let s_bound = self.staleness;
        let share = 1.0 / self.workers as f32;
        for c in 0..iterations {
            // Pull: once every worker has pushed iteration c - s - 1.
            let pulled_at = {
                let mut s = self.wait(lock(server), changed, |s| &s.pushed, c.saturating_sub(s_bound))?;
                net.clone_from(s.net);
                s.pulled[k] = c + 1;
                changed.notify_all();
                s.version
            };
            let (x, y) = batch(k, c);
            grad.zero();
            let out = net.forward_train(x, &mut state)?;
            dy.resize(out.len(), 0.0);
            loss.backward(out, y, &mut dy)?;
            for d in &mut dy {
                *d *= share;
            }
            net.backward(x, &dy, &mut grad, &mut state)?;
            // Push: once every worker has pulled for iteration c - s.
            let mut s = self.wait(lock(server), changed, |s| &s.pulled, (c + 1).saturating_sub(s_bound))?;
            let tau = s.version - pulled_at;
            if self.scale && tau > 0 {
                let f = 1.0 / (1 + tau) as f32;
                grad.visit_mut(&monograd_core::module::Path::ROOT, &mut |t| {
                    for v in t.values.iter_mut() {
                        *v *= f;
                    }
                });
            }
            let Server { net: w, optimizer, .. } = &mut *s;
            optimizer.try_step(&mut **w, &grad).map_err(|e| DistError::Panicked {
                worker: k,
                step: c + 1,
                message: std::format!("the optimizer could not step: {e}"),
            })?;
            s.version += 1;
            s.pushed[k] = c + 1;
            s.report.staleness.push(tau);
            s.report.workers.push(k);
            changed.notify_all();
        }
        Ok(())
    }
}
