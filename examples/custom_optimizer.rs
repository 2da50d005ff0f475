//! A user-defined optimizer through the public `Optimizer` trait alone: Lion (Chen et al.,
//! 2023, "Symbolic Discovery of Optimization Algorithms"), with its momentum kept in a
//! `StateStore` laid out by parameter offset, like the built-in optimizers, a `LayoutLock`
//! that refuses a second model of another layout (whose parameters would otherwise be
//! updated with the first model's momentum), settings checked when it is built, and its
//! state exposed through `OptimizerState` so that checkpoints save and restore it. It then
//! trains a small regression next to Adam, both under a warmup-then-cosine schedule, and
//! checks that Lion resumes from a checkpoint taken halfway bit for bit.
//!
//! Run: `cargo run --example custom_optimizer`

use monograd::core::module::{Ctx, Path};
use monograd::nn::optim::schedule::{CosineAnnealingLr, LinearLr, Schedule};
use monograd::nn::optim::state::{
    visit_step_and_blocks, visit_step_and_blocks_mut, OptimizerState, StateMut, StateRef,
};
use monograd::nn::optim::{for_each_param, slots, Layout, LayoutLock, OptimError, Scheduled, StateStore};
use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::nn::Adam;
use monograd::prelude::*;

/// Lion: `c = β1 m + (1 - β1) g`, `θ ← θ (1 - lr λ) - lr sign(c)`,
/// `m ← β2 m + (1 - β2) g`. One state value (the momentum `m`) per parameter.
struct Lion<S> {
    lr: f64,
    beta1: f64,
    beta2: f64,
    weight_decay: f64,
    /// Where the momentum lives: a `Vec` here; a `&mut [T]` on a device without a heap.
    state: S,
    steps: u64,
    /// The layout of the model the momentum belongs to, adopted at the first step.
    layout: LayoutLock,
}

impl Lion<Vec<f64>> {
    /// Lion with PyTorch-style checks at construction: a rate that is negative or not
    /// finite is an error here, not a surprise many steps later.
    fn try_new(lr: f64) -> Result<Self, OptimError> {
        if !(lr.is_finite() && lr >= 0.0) {
            let expected = "use a finite learning rate of at least 0, such as 1e-4";
            return Err(OptimError::Setting { optimizer: "Lion", setting: "learning rate", value: lr, expected });
        }
        Ok(Self {
            lr,
            beta1: 0.9,
            beta2: 0.99,
            weight_decay: 0.0,
            state: Vec::new(),
            steps: 0,
            layout: LayoutLock::new(),
        })
    }

    /// [`Lion::try_new`] for a rate written in the program: an invalid one panics here.
    #[track_caller]
    fn new(lr: f64) -> Self {
        Self::try_new(lr).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<T: Scalar, S: StateStore<T>> Optimizer<T> for Lion<S> {
    fn try_step<M: Module<T>>(&mut self, model: &mut M, grad: &M) -> Result<(), OptimError> {
        // First: the momentum belongs to the model of the first step.
        self.layout.check("Lion", model)?;
        let (lr, b1, b2) = (T::from_f64(self.lr), T::from_f64(self.beta1), T::from_f64(self.beta2));
        let decay = T::ONE - lr * T::from_f64(self.weight_decay);
        // K = 1 state value per parameter: M::PARAMS values, allocated (for a Vec) once.
        let state = self.state.take(M::PARAMS, "Lion momentum")?;
        if self.steps == 0 {
            state.fill(T::ZERO);
        }
        for_each_param(model, grad, |offset, value, grad| {
            let [m] = slots::<1, T>(state, M::PARAMS, offset, value.len());
            for ((p, &g), m) in value.iter_mut().zip(grad).zip(m.iter_mut()) {
                let c = b1 * *m + (T::ONE - b1) * g;
                let step = if c > T::ZERO {
                    lr
                } else if c < T::ZERO {
                    -lr
                } else {
                    T::ZERO
                };
                *p = *p * decay - step;
                *m = b2 * *m + (T::ONE - b2) * g;
            }
        });
        self.steps += 1;
        Ok(())
    }

    fn layout(&self) -> Option<Layout> {
        self.layout.layout()
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

/// What checkpoints need: a name, and the same pieces visited twice (to save, to
/// restore), under PyTorch's names: the step count and the momentum block `exp_avg`.
impl<T: Scalar, S: StateStore<T>> OptimizerState<T> for Lion<S> {
    fn kind(&self) -> &'static str {
        "Lion"
    }

    fn visit_state<F: FnMut(StateRef<'_, T>)>(&self, params: usize, path: &Path<'_>, f: &mut F) {
        visit_step_and_blocks(self.steps, &self.state, params, &["exp_avg"], path, f);
    }

    fn visit_state_mut<F: FnMut(StateMut<'_, T>)>(
        &mut self,
        params: usize,
        path: &Path<'_>,
        f: &mut F,
    ) -> Result<(), OptimError> {
        visit_step_and_blocks_mut(&mut self.steps, &mut self.state, "Lion momentum", params, &["exp_avg"], path, f)?;
        // The checkpoint checked the momentum against its model by name and shape: the
        // next step adopts that model's layout.
        self.layout.clear();
        Ok(())
    }
}

/// `y = 3 x0 - 2 x1 + 0.5 x2 + 1` on a fixed batch.
fn data() -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng::seed(1);
    let x: Vec<f64> = (0..3 * 64).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let y = x.chunks(3).map(|s| 3.0 * s[0] - 2.0 * s[1] + 0.5 * s[2] + 1.0).collect();
    (x, y)
}

/// Trains a fresh `Linear<3, 1>` with `opt`; returns the final loss.
fn train(name: &str, mut opt: impl Optimizer<f64>, steps: usize) -> Result<f64, ShapeError> {
    let mut fc = Linear::<3, 1, f64>::new(&mut Rng::seed(0));
    train_from(name, &mut fc, &mut opt, 0..=steps)
}

/// Trains `fc` with `opt` over the given steps, printing progress under `name` (silent
/// when it is empty); returns the final loss.
fn train_from(
    name: &str,
    fc: &mut Linear<3, 1, f64>,
    opt: &mut impl Optimizer<f64>,
    steps: std::ops::RangeInclusive<usize>,
) -> Result<f64, ShapeError> {
    let (x, y) = data();
    let (mut out, mut dout) = (vec![0.0; y.len()], vec![0.0; y.len()]);
    let mut grad = fc.zeros_like();
    let mut ctx = Ctx::new(&mut []);
    let mut loss = f64::NAN;
    for step in steps {
        fc.forward(&x, &mut out, &mut ctx);
        loss = MseLoss.backward(&out, &y, &mut dout)?;
        grad.zero();
        fc.backward(&x, &out, &(), &dout, None, &mut grad, &mut ctx);
        if step % 100 == 0 && !name.is_empty() {
            println!("{name:>5} step {step:>3}  lr {:.4}  mse {loss:.6}", opt.lr());
        }
        opt.step(fc, &grad);
    }
    if name.is_empty() {
        return Ok(loss);
    }
    println!(
        "{name:>5} learned y = {:.3} x0 + {:.3} x1 + {:.3} x2 + {:.3}\n",
        fc.weight[0][0], fc.weight[0][1], fc.weight[0][2], fc.bias[0]
    );
    Ok(loss)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps = 400;
    // 20 steps of warmup from 10% of the rate, then cosine annealing to 1% of it.
    let schedule =
        |base: f64| LinearLr::warmup(base, 0.1, 20).then(20, CosineAnnealingLr::new(base, steps - 20, base / 100.0));
    // Lion's sign updates move every parameter by the full rate: it wants a smaller one.
    println!(
        "warmup + cosine: lr(0) = {:.4}, lr(20) = {:.4}, lr(400) = {:.5}\n",
        schedule(0.05).lr(0),
        schedule(0.05).lr(20),
        schedule(0.05).lr(400)
    );

    let lion = train("Lion", Scheduled::new(Lion::new(0.0), schedule(0.05)), steps)?;
    let adam = train("Adam", Scheduled::new(Adam::new(0.0), schedule(0.1)), steps)?;
    println!("final mse: Lion {lion:.2e}, Adam {adam:.2e}");
    assert!(lion < 1e-3 && adam < 1e-3, "both should fit a linear target");

    // Lion through a checkpoint: 200 steps, saved (model, momentum, step, schedule
    // position), loaded into a fresh model and optimizer, 200 more: the same bits as 400
    // steps straight.
    let straight = {
        let mut fc = Linear::<3, 1, f64>::new(&mut Rng::seed(0));
        let mut opt = Scheduled::new(Lion::new(0.0), schedule(0.05));
        train_from("", &mut fc, &mut opt, 0..=399)?;
        fc
    };
    let mut fc = Linear::<3, 1, f64>::new(&mut Rng::seed(0));
    let mut opt = Scheduled::new(Lion::new(0.0), schedule(0.05));
    train_from("", &mut fc, &mut opt, 0..=199)?;
    let bytes = checkpoint::to_bytes(&fc, &opt, &RunState { step: 200, ..RunState::default() })?;
    let (mut fc2, mut opt2) = (Linear::<3, 1, f64>::ZERO, Scheduled::new(Lion::new(0.0), schedule(0.05)));
    let run = checkpoint::load_bytes(&mut fc2, &mut opt2, &bytes)?;
    train_from("", &mut fc2, &mut opt2, 200..=399)?;
    assert_eq!(fc2, straight, "resumed from step {}", run.step);
    println!("Lion resumed from a checkpoint at step {} ends bit-identical", run.step);

    // The traps the optimizers refuse: a second model of another layout, and an
    // invalid setting, at construction.
    let mut other = Linear::<2, 1, f64>::ZERO;
    let e = opt2.try_step(&mut other, &Linear::ZERO).expect_err("another layout");
    println!("\na model of another layout: {e}");
    println!("a negative rate: {}", Lion::try_new(-0.1).err().expect("a negative rate"));
    Ok(())
}
