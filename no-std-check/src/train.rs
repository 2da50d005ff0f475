//! Training without an allocator: a network from `network!`, its state in `Fixed`
//! storage (arrays sized at compile time), plain SGD, on a fixed regression problem.
//!
//! Shared word for word with the std build (the workspace test `tests/no_alloc_training.rs`
//! includes this file), so that both run the same steps and their losses can be compared.

use monograd::prelude::*;

network! {
    /// 2 -> 8 -> tanh -> 1.
    pub struct Tiny {
        input: [2],
        fc1: Linear<2, 8>,
        act: Tanh,
        fc2: Linear<8, 1>,
    }
}

/// Samples in the batch, and the state's static capacity.
pub const BATCH: usize = 8;
/// SGD steps.
pub const STEPS: usize = 300;

/// The loss before the first step and after the last.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Losses {
    /// Before training.
    pub initial: f32,
    /// After [`STEPS`] steps.
    pub last: f32,
}

/// Fits `y = x0 * x1 + 0.5 x0` on 8 fixed points with SGD; no heap anywhere.
pub fn train() -> Result<Losses, ShapeError> {
    let mut x = [[0.0f32; 2]; BATCH];
    let mut target = [0.0f32; BATCH];
    for (i, (x, t)) in x.iter_mut().zip(&mut target).enumerate() {
        let (a, b) = ((i % 4) as f32 * 0.5 - 0.75, (i / 4) as f32 * 1.0 - 0.5);
        *x = [a, b];
        *t = a * b + 0.5 * a;
    }
    let x = x.as_flattened();

    let mut net = Tiny::new(&mut Rng::seed(7));
    let mut grad = Tiny::default();
    let mut state = Tiny::state::<Fixed<BATCH>>();
    // Plain SGD keeps no state: an empty array is its whole store, no heap needed.
    let mut opt = Sgd::with_state(0.2f32, [0.0f32; 0]);
    let mut dy = [0.0f32; BATCH];

    let initial = MseLoss.forward(net.forward(x, &mut state)?, &target)?;
    let mut last = initial;
    for _ in 0..STEPS {
        let y = net.forward_train(x, &mut state)?;
        last = MseLoss.backward(y, &target, &mut dy)?;
        grad.zero();
        net.backward(x, &dy, &mut grad, &mut state)?;
        opt.step(&mut net, &grad);
    }
    let final_loss = MseLoss.forward(net.forward(x, &mut state)?, &target)?;
    let _ = last;
    Ok(Losses { initial, last: final_loss })
}
