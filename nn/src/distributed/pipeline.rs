//! Pipeline model parallelism on threads: a network split into stages, each stage a
//! network of its own on a thread of its own, micro-batches flowing through in GPipe's
//! schedule.
//!
//! The stages are `network!`s. Nested in one outer `network!` (`a: StageA<T>, b:
//! StageB<T>`) they make the whole model one type, whose parameters are the stages'
//! (`a.fc1.weight`): train the pipeline with copies of `whole.a` and `whole.b`
//! ([`StageOf::new`]) and write the results back, or save each stage on its own.
//!
//! A step ([`gpipe_step`]) splits the batch into `M` micro-batches. Stage `k` runs on
//! thread `k`: first the forward pass of every micro-batch in order, each output sent to
//! stage `k + 1` as soon as it is ready, so stages work on different micro-batches at
//! once; the last stage computes each micro-batch's loss. Then the backward passes, in
//! reverse micro-batch order, each input gradient sent back to stage `k - 1`. Every
//! stage keeps one state (activations) per micro-batch until its backward (GPipe's
//! memory cost), and adds every micro-batch's gradient into its own: after the step each
//! stage's [`StageOf::grad`] is the gradient of the whole batch's mean loss, as the unsplit
//! network's backward would give it, up to rounding.
//!
//! Messages are `Vec<f32>`s through `std::sync::mpsc` channels (one allocation per message);
//! the step is a scoped set of threads, spawned per step. A stage that fails ends the step
//! with an error naming it and the micro-batch; a stage that waits longer than the timeout
//! for its neighbour ends it too.

use std::string::ToString;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;
use std::vec::Vec;

use monograd_core::storage::Heap;
use monograd_core::{Network, Shape, ShapeError};

use super::DistError;
use crate::loss::Loss;

/// One stage of a pipeline, as [`gpipe_step`] drives it: implemented by [`StageOf`] for
/// every network.
pub trait Stage: Send {
    /// Values per input sample.
    fn input_numel(&self) -> usize;
    /// Prepares `micro` micro-batches: one state each, and a zeroed gradient.
    fn begin(&mut self, micro: usize);
    /// The training forward of micro-batch `m` on `x` (kept for its backward).
    ///
    /// # Errors
    /// A [`ShapeError`] if `x` does not fit the stage.
    fn forward(&mut self, m: usize, x: &[f32]) -> Result<Vec<f32>, ShapeError>;
    /// The backward of micro-batch `m` from its output gradient `dy`: adds the parameter
    /// gradient into the stage's, and returns the input gradient if `input` is asked for
    /// (empty otherwise).
    ///
    /// # Errors
    /// A [`ShapeError`] if `dy` does not fit the stage's output.
    fn backward(&mut self, m: usize, dy: &[f32], input: bool) -> Result<Vec<f32>, ShapeError>;
}

/// A network as a pipeline stage: its weights, its gradient, and a state and a saved input
/// per micro-batch.
pub struct StageOf<N: Network<f32>> {
    /// The stage's weights.
    pub net: N,
    /// The gradient the last step left.
    pub grad: N,
    states: Vec<N::State<Heap>>,
    inputs: Vec<Vec<f32>>,
}

impl<N: Network<f32>> StageOf<N> {
    /// A stage of `net` (a copy of a part of the whole model, such as `whole.a.clone()`).
    pub fn new(net: N) -> Self {
        let grad = net.zeros_like();
        Self { net, grad, states: Vec::new(), inputs: Vec::new() }
    }
}

impl<N> Stage for StageOf<N>
where
    N: Network<f32> + Send,
    N::State<Heap>: Send,
{
    fn input_numel(&self) -> usize {
        <N::Input as Shape>::NUMEL
    }

    fn begin(&mut self, micro: usize) {
        while self.states.len() < micro {
            self.states.push(N::state::<Heap>());
            self.inputs.push(Vec::new());
        }
        self.grad.zero();
    }

    fn forward(&mut self, m: usize, x: &[f32]) -> Result<Vec<f32>, ShapeError> {
        let input = &mut self.inputs[m];
        input.clear();
        input.extend_from_slice(x);
        Ok(self.net.forward_train(input, &mut self.states[m])?.to_vec())
    }

    fn backward(&mut self, m: usize, dy: &[f32], input: bool) -> Result<Vec<f32>, ShapeError> {
        let (x, st) = (&self.inputs[m], &mut self.states[m]);
        if input {
            Ok(self.net.backward_input(x, dy, &mut self.grad, st)?.to_vec())
        } else {
            self.net.backward(x, dy, &mut self.grad, st)?;
            Ok(Vec::new())
        }
    }
}

/// How long a stage waits for a neighbour's message before the step fails.
pub const STAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// One GPipe step over `stages` (in order; stage `k + 1` takes stage `k`'s output) on the
/// batch `x` (flat inputs of the first stage) with targets `y`, in `micro` micro-batches
/// (sample `i` of `B` in micro-batch `i·micro/B`, sizes differing by at most one). Each
/// stage's gradient is left as the gradient of the batch's mean loss; returns that loss.
/// Apply an optimizer to each stage afterwards.
///
/// ```
/// use monograd_core::{Module, Rng};
/// use monograd_nn::distributed::pipeline::{gpipe_step, StageOf};
/// use monograd_nn::MseLoss;
/// # type A = monograd_nn::train::testing::Dense<3, 4>;
/// # type B = monograd_nn::train::testing::Dense<4, 1>;
/// let mut a = StageOf::new(A::new(&mut Rng::seed(0)));
/// let mut b = StageOf::new(B::new(&mut Rng::seed(1)));
/// let x = [0.5f32; 3 * 8];
/// let y = [1.0f32; 8];
/// let loss = gpipe_step(&mut [&mut a, &mut b], 4, &x, &y, &MseLoss)?;
/// assert!(loss.is_finite());
/// # Ok::<(), monograd_nn::distributed::DistError>(())
/// ```
///
/// # Errors
/// [`DistError::Shape`] if the data does not fit a stage or the loss (stages must be
/// compatible: the output of one the input of the next); [`DistError::Panicked`] if a stage
/// panicked, or stopped because a neighbour failed (its index is the stage's, `step` the
/// micro-batch); [`DistError::Timeout`] if a stage waited for its neighbour longer than
/// [`STAGE_TIMEOUT`].
pub fn gpipe_step<L, Y>(
    stages: &mut [&mut dyn Stage],
    micro: usize,
    x: &[f32],
    y: &[Y],
    loss: &L,
) -> Result<f32, DistError>
where
    L: Loss<f32, Target = [Y]> + Sync,
    Y: Sync,
{
    let n = stages.len();
    let batch = y.len();
    let micro = micro.clamp(1, batch.max(1));
    let numel = stages.first().map_or(0, |s| s.input_numel());
    if n == 0 || batch == 0 || x.len() != batch * numel {
        return Err(DistError::Shape(ShapeError::Length {
            what: "pipeline batch inputs",
            expected: batch.max(1) * numel,
            found: x.len(),
        }));
    }
    let bounds = |m: usize| (m * batch / micro, (m + 1) * batch / micro);
    // Channels between neighbours: forward k -> k + 1, backward k + 1 -> k.
    let mut fwd_tx: Vec<Option<Sender<Vec<f32>>>> = Vec::new();
    let mut fwd_rx: Vec<Option<Receiver<Vec<f32>>>> = std::vec![None];
    let mut bwd_tx: Vec<Option<Sender<Vec<f32>>>> = std::vec![None];
    let mut bwd_rx: Vec<Option<Receiver<Vec<f32>>>> = Vec::new();
    for _ in 1..n {
        let (t, r) = channel();
        fwd_tx.push(Some(t));
        fwd_rx.push(Some(r));
        let (t, r) = channel();
        bwd_tx.push(Some(t));
        bwd_rx.push(Some(r));
    }
    fwd_tx.push(None);
    bwd_rx.push(None);
    let results: Vec<Result<f32, DistError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = stages
            .iter_mut()
            .enumerate()
            .zip(fwd_tx.into_iter().zip(fwd_rx).zip(bwd_tx.into_iter().zip(bwd_rx)))
            .map(|((k, stage), ((ftx, frx), (btx, brx)))| {
                let stage: &mut dyn Stage = &mut **stage;
                scope.spawn(move || {
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_stage(k, n, stage, micro, &bounds, x, y, loss, ftx, frx, btx, brx)
                    }));
                    run.unwrap_or_else(|payload| {
                        let message = payload
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| payload.downcast_ref::<std::string::String>().cloned())
                            .unwrap_or_else(|| "a panic".to_string());
                        Err(DistError::Panicked { worker: k, step: 0, message })
                    })
                })
            })
            .collect();
        // Panics are caught inside each thread: a join never fails.
        handles.into_iter().map(|h| h.join().unwrap_or(Ok(f32::NAN))).collect()
    });
    // The root cause first: a stage's own error over a neighbour's "it hung up".
    let mut first_hangup = None;
    let mut total = 0.0;
    for r in results {
        match r {
            Ok(l) => total += l,
            Err(e @ DistError::Panicked { .. }) if is_hangup(&e) => {
                first_hangup.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match first_hangup {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

const HANGUP: &str = "a neighbouring stage stopped";

fn is_hangup(e: &DistError) -> bool {
    matches!(e, DistError::Panicked { message, .. } if message == HANGUP)
}

fn receive(rx: &Receiver<Vec<f32>>, k: usize, m: usize) -> Result<Vec<f32>, DistError> {
    rx.recv_timeout(STAGE_TIMEOUT).map_err(|e| match e {
        RecvTimeoutError::Timeout => DistError::Timeout { worker: k, step: m, waiting: 1, after: STAGE_TIMEOUT },
        RecvTimeoutError::Disconnected => DistError::Panicked { worker: k, step: m, message: HANGUP.to_string() },
    })
}

/// Stage `k`'s part of the schedule: every forward, then every backward in reverse. The
/// last stage returns the loss it computed; the others 0.
#[allow(clippy::too_many_arguments)]
fn run_stage<L, Y>(
    k: usize,
    n: usize,
    stage: &mut dyn Stage,
    micro: usize,
    bounds: &dyn Fn(usize) -> (usize, usize),
    x: &[f32],
    y: &[Y],
    loss: &L,
    ftx: Option<Sender<Vec<f32>>>,
    frx: Option<Receiver<Vec<f32>>>,
    btx: Option<Sender<Vec<f32>>>,
    brx: Option<Receiver<Vec<f32>>>,
) -> Result<f32, DistError>
where
    L: Loss<f32, Target = [Y]>,
{
    let last = k + 1 == n;
    let batch = y.len();
    let numel = stage.input_numel();
    stage.begin(micro);
    let mut outputs: Vec<Vec<f32>> = Vec::new();
    for m in 0..micro {
        let input = match &frx {
            Some(rx) => receive(rx, k, m)?,
            None => {
                let (lo, hi) = bounds(m);
                x[lo * numel..hi * numel].to_vec()
            }
        };
        let out = stage.forward(m, &input).map_err(DistError::Shape)?;
        match &ftx {
            Some(tx) => {
                tx.send(out).map_err(|_| DistError::Panicked { worker: k, step: m, message: HANGUP.to_string() })?
            }
            None => outputs.push(out),
        }
    }
    let mut total = 0.0f32;
    for m in (0..micro).rev() {
        let dy = match &brx {
            Some(rx) => receive(rx, k, m)?,
            None => {
                debug_assert!(last);
                let (lo, hi) = bounds(m);
                let out = &outputs[m];
                let mut dy = std::vec![0.0f32; out.len()];
                let l = loss.backward(out, &y[lo..hi], &mut dy)?;
                let share = (hi - lo) as f32 / batch as f32;
                if share != 1.0 {
                    for d in &mut dy {
                        *d *= share;
                    }
                }
                total += l * share;
                dy
            }
        };
        let dx = stage.backward(m, &dy, btx.is_some()).map_err(DistError::Shape)?;
        if let Some(tx) = &btx {
            tx.send(dx).map_err(|_| DistError::Panicked { worker: k, step: m, message: HANGUP.to_string() })?;
        }
    }
    Ok(if last { total } else { 0.0 })
}
