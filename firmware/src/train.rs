//! Training on the device: the sine model's shape, 1 -> 16 -> 16 -> 1 with ReLU, trained
//! from a seeded initialisation on [`BATCH`] points of `sin(x)` with Adam, every buffer
//! sized at compile time (`Fixed` storage, the optimizer's state an array): no allocator.
//!
//! Shared with the build script, which runs the same steps on the host and embeds the
//! final weights the firmware must reproduce.

use monograd::core::storage::Fixed;
use monograd::prelude::*;

network! {
    /// The network trained on the device.
    pub struct Trainee {
        input: [1],
        fc1: Linear<1, 16>,
        act1: ReLU,
        fc2: Linear<16, 16>,
        act2: ReLU,
        fc3: Linear<16, 1>,
    }
}

/// Samples per step (the whole training set), and the state's capacity.
pub const BATCH: usize = 16;
/// Adam steps.
pub const STEPS: usize = 100;
/// The seed of the initial weights.
pub const SEED: u64 = 42;
/// Values of the optimizer's state: Adam keeps two per parameter.
pub const OPT_LEN: usize = 2 * Trainee::PARAMS;
/// The training state: every node's activations and gradients for a batch.
pub type State = TraineeState<f32, Fixed<BATCH>>;

/// The training set: `x` spread over `[0, 2π)`, `y = sin(x)`.
pub fn data() -> ([f32; BATCH], [f32; BATCH]) {
    let mut x = [0.0f32; BATCH];
    let mut y = [0.0f32; BATCH];
    for i in 0..BATCH {
        x[i] = (i as f32 + 0.5) * (2.0 * core::f32::consts::PI / BATCH as f32);
        y[i] = sin(x[i]);
    }
    (x, y)
}

/// `sin(x)` for `x` in `[0, 2π)`, within 1e-6, by a polynomial in `f32`: the same bits on
/// every target. (`Scalar::sin` is `libm`'s on the device and the system's with `std`,
/// which may differ in the last bit, and then so would the training runs.)
fn sin(x: f32) -> f32 {
    use core::f32::consts::{FRAC_PI_2, PI};
    // sin(x) = -sin(x - π), and sin(π - r) = sin(r): down to r in [0, π/2].
    let (r, sign) = if x > PI { (x - PI, -1.0) } else { (x, 1.0) };
    let r = if r > FRAC_PI_2 { PI - r } else { r };
    let r2 = r * r;
    let p =
        1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0 - r2 / 39916800.0))));
    sign * r * p
}

/// The loss before and after training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Losses {
    /// Mean squared error before the first step.
    pub initial: f32,
    /// After the last step.
    pub last: f32,
}

/// Initialises `net` from [`SEED`] in place and runs [`STEPS`] Adam steps; `grad`,
/// `state` and `opt` are the caller's memory (statics on the device), used as they are.
pub fn train(net: &mut Trainee, grad: &mut Trainee, state: &mut State, opt: &mut [f32]) -> Result<Losses, ShapeError> {
    net.init(&mut Rng::seed(SEED));
    let (x, target) = data();
    let mut opt = Adam::with_state(0.01f32, opt);
    let mut dy = [0.0f32; BATCH];
    let initial = MseLoss.forward(net.forward(&x, state)?, &target)?;
    for _ in 0..STEPS {
        let y = net.forward_train(&x, state)?;
        MseLoss.backward(y, &target, &mut dy)?;
        grad.zero();
        net.backward(&x, &dy, grad, state)?;
        opt.step(net, grad);
    }
    let last = MseLoss.forward(net.forward(&x, state)?, &target)?;
    Ok(Losses { initial, last })
}

/// Every parameter of `net`, flat, in `visit` order.
pub fn flat(net: &Trainee, out: &mut [f32; Trainee::PARAMS]) {
    let mut i = 0;
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| {
        out[i..i + t.values.len()].copy_from_slice(t.values);
        i += t.values.len();
    });
}
