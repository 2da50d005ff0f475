//! The checks behind monograd's no_std proof.
//!
//! This library depends on `monograd-core` and `monograd-nn` with no features at all (no
//! `std`, no `alloc`) and runs them on the stack only. `src/main.rs` links it into a
//! binary with no C runtime, no `std` and no global allocator, so that the link itself
//! fails if anything in the dependency graph pulls in `std` (a second panic handler) or
//! `alloc` (no global allocator); then it runs every check in [`CHECKS`] and exits with the
//! first failing check's code. The library alone also builds for bare-metal targets
//! (`cargo build --lib --target thumbv7em-none-eabihf`), so every check must keep its stack
//! use small (a few KiB at most) and must not allocate.
//!
//! Every result is compared against an independent computation written out here with plain
//! loops over the layers' public fields, within [`TOL`].
//!
//! # Adding a check
//! Write a `fn() -> Result<(), u8>` that returns `Err(code)` with a code of its own (add it
//! to [`code`]; codes are the process exit status, so keep them in `1..=100`), and list it
//! in [`CHECKS`].
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use monograd_core::{Ctx, Dual, Layer, Rank1, Rng, Scalar};
use monograd_nn::{Linear, ReLU};

/// Exit codes, one per way a check can fail. 0 is success; 101 is a panic (`src/main.rs`).
pub mod code {
    /// The f32 forward pass of the MLP differs from the naive loops.
    pub const MLP_F32_MISMATCH: u8 = 10;
    /// The naive f32 result is degenerate (all zero or not finite): the check would prove
    /// nothing, so it fails.
    pub const MLP_F32_DEGENERATE: u8 = 11;
    /// The MLP run on `Dual<f32, 1>`: its primal values differ from the f32 pass.
    pub const MLP_DUAL_PRIMAL: u8 = 20;
    /// The MLP run on `Dual<f32, 1>`: its tangents differ from the naive Jacobian-vector
    /// product.
    pub const MLP_DUAL_TANGENT: u8 = 21;
    /// A formula over `Scalar` on `Dual<f32, 1>`: the value differs from f32.
    pub const SCALAR_VALUE: u8 = 30;
    /// A formula over `Scalar` on `Dual<f32, 1>`: the derivative differs from the
    /// analytic one.
    pub const SCALAR_DERIVATIVE: u8 = 31;
    /// `Dual<Dual<f32, 1>, 1>`: the second derivative differs from the analytic one.
    pub const SCALAR_SECOND_DERIVATIVE: u8 = 32;
    /// Training without an allocator returned an error.
    pub const TRAIN_ERROR: u8 = 40;
    /// Training without an allocator: the loss did not fall below half its initial value.
    pub const TRAIN_LOSS_NOT_HALVED: u8 = 41;
    /// Inference from embedded weights returned an error.
    pub const EMBEDDED_ERROR: u8 = 50;
    /// The MLP with embedded weights differs from naive loops over its public fields.
    pub const EMBEDDED_MISMATCH: u8 = 51;
    /// The embedded weights are degenerate (zero or not finite): nothing would be proven.
    pub const EMBEDDED_DEGENERATE: u8 = 52;
}

pub mod embedded;
pub mod train;

/// The tolerance for every comparison: `|a - b| <= TOL * max(1, |b|)`.
pub const TOL: f32 = 1e-5;

/// One named check.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// A short name for the runner's report.
    pub name: &'static str,
    /// Runs the check: `Err` carries the exit code, from [`code`].
    pub run: fn() -> Result<(), u8>,
}

/// Every check, in the order [`run`] runs them.
pub const CHECKS: &[Check] = &[
    Check { name: "mlp forward, f32, against naive loops", run: mlp_forward_f32 },
    Check { name: "mlp forward, Dual<f32, 1>, against a naive JVP", run: mlp_forward_dual },
    Check { name: "Scalar formulas on Dual<f32, 1> and Dual<Dual<f32, 1>, 1>", run: scalar_dual },
    Check { name: "network! trained with SGD in Fixed storage: the loss halves", run: train_halves },
    Check { name: "networks with weights embedded at compile time, against naive loops", run: embedded_inference },
];

/// Inference from `static` networks whose weights `include_weights!` embedded: the MLP
/// (PyTorch's weights, with batch norm) against loops over its fields; the CNN must give
/// finite outputs here, and the std build compares both (scripts/check-no-std.sh).
fn embedded_inference() -> Result<(), u8> {
    let (y_mlp, y_cnn) = embedded::outputs().map_err(|_| code::EMBEDDED_ERROR)?;
    let net = &embedded::MLP;
    let (x, _) = embedded::inputs();
    let mut hidden = net.fc1.bias;
    for (o, row) in net.fc1.weight.iter().enumerate() {
        for (w, xi) in row.iter().zip(&x) {
            hidden[o] += w * xi;
        }
        let bn = &net.bn;
        let inv_std = 1.0 / Scalar::sqrt(bn.running_var[o] + bn.eps as f32);
        let h = (hidden[o] - bn.running_mean[o]) * inv_std * bn.weight[o] + bn.bias[o];
        hidden[o] = if h > 0.0 { h } else { 0.0 };
    }
    let mut want = net.fc2.bias;
    for (o, row) in net.fc2.weight.iter().enumerate() {
        for (w, h) in row.iter().zip(&hidden) {
            want[o] += w * h;
        }
    }
    let all = y_mlp.iter().chain(&y_cnn);
    if net.bn.num_batches_tracked == 0 || !all.clone().all(|v| v.is_finite()) || all.clone().all(|v| *v == 0.0) {
        return Err(code::EMBEDDED_DEGENERATE);
    }
    if y_mlp.iter().zip(&want).all(|(&a, &b)| close(a, b)) {
        Ok(())
    } else {
        Err(code::EMBEDDED_MISMATCH)
    }
}

/// SGD steps on a `network!` with no heap: the loss must fall below half its initial value.
fn train_halves() -> Result<(), u8> {
    let l = train::train().map_err(|_| code::TRAIN_ERROR)?;
    if l.last.is_finite() && l.last < 0.5 * l.initial {
        Ok(())
    } else {
        Err(code::TRAIN_LOSS_NOT_HALVED)
    }
}

/// Runs every check and stops at the first failure, returning its code.
pub fn run() -> Result<(), u8> {
    run_reporting(|_, _| {})
}

/// Like [`run`], and calls `report` after each check with its name and result.
pub fn run_reporting(mut report: impl FnMut(&'static str, Result<(), u8>)) -> Result<(), u8> {
    for check in CHECKS {
        let result = (check.run)();
        report(check.name, result);
        result?;
    }
    Ok(())
}

/// `|a - b| <= TOL * max(1, |b|)`, false on NaN.
fn close(a: f32, b: f32) -> bool {
    let scale = Scalar::max(Scalar::abs(b), 1.0f32);
    Scalar::abs(a - b) <= TOL * scale
}

// ---------------------------------------------------------------------------------------
// A two-layer perceptron, 4 -> 8 -> ReLU -> 2, on a batch of three samples.

const IN: usize = 4;
const HIDDEN: usize = 8;
const OUT: usize = 2;
const BATCH: usize = 3;
/// Packing memory for the GEMM kernel: any length works; small, for the microcontroller.
const PACK: usize = 64;

/// The inputs; the last sample is zero, so its output is `fc2(relu(fc1.bias))`.
const X: [[f32; IN]; BATCH] = [[0.5, -1.0, 0.25, 2.0], [-0.75, 0.125, 1.5, -0.3], [0.0; IN]];
/// The direction of the Jacobian-vector product, one per sample.
const V: [[f32; IN]; BATCH] = [[1.0, 0.0, -0.5, 0.25], [0.0, 1.0, 0.0, 0.0], [-1.0, 2.0, 0.5, 1.0]];

/// The model, from a fixed seed, as `Linear::new` initialises it.
fn mlp() -> (Linear<IN, HIDDEN, f32>, Linear<HIDDEN, OUT, f32>) {
    let mut rng = Rng::seed(1);
    let fc1 = Linear::<IN, HIDDEN, f32>::new(&mut rng);
    let fc2 = Linear::<HIDDEN, OUT, f32>::new(&mut rng);
    (fc1, fc2)
}

/// The forward pass through the library: three calls of the `Layer` trait.
fn forward<T: Scalar>(
    fc1: &Linear<IN, HIDDEN, T>,
    fc2: &Linear<HIDDEN, OUT, T>,
    x: &[[T; IN]; BATCH],
    pack: &mut [T],
) -> [[T; OUT]; BATCH] {
    let mut pre = [[T::ZERO; HIDDEN]; BATCH];
    let mut hidden = [[T::ZERO; HIDDEN]; BATCH];
    let mut y = [[T::ZERO; OUT]; BATCH];
    let mut ctx = Ctx::new(pack);
    Layer::<T, Rank1<IN>, Rank1<HIDDEN>>::forward(fc1, x.as_flattened(), pre.as_flattened_mut(), &mut ctx);
    Layer::<T, Rank1<HIDDEN>, Rank1<HIDDEN>>::forward(&ReLU, pre.as_flattened(), hidden.as_flattened_mut(), &mut ctx);
    Layer::<T, Rank1<HIDDEN>, Rank1<OUT>>::forward(fc2, hidden.as_flattened(), y.as_flattened_mut(), &mut ctx);
    y
}

/// `fc1` pre-activations of one sample, by hand: `b + W x`.
fn naive_pre(fc1: &Linear<IN, HIDDEN, f32>, x: &[f32; IN]) -> [f32; HIDDEN] {
    let mut pre = fc1.bias;
    for (o, row) in fc1.weight.iter().enumerate() {
        for (w, xi) in row.iter().zip(x) {
            pre[o] += w * xi;
        }
    }
    pre
}

/// The whole MLP on one sample, by hand.
fn naive_forward(fc1: &Linear<IN, HIDDEN, f32>, fc2: &Linear<HIDDEN, OUT, f32>, x: &[f32; IN]) -> [f32; OUT] {
    let pre = naive_pre(fc1, x);
    let mut y = fc2.bias;
    for (o, row) in fc2.weight.iter().enumerate() {
        for (w, p) in row.iter().zip(pre) {
            y[o] += w * if p > 0.0 { p } else { 0.0 };
        }
    }
    y
}

/// The MLP's Jacobian-vector product at `x` along `v`, by hand: `W2 · diag(relu'(pre)) · W1 · v`.
fn naive_jvp(
    fc1: &Linear<IN, HIDDEN, f32>,
    fc2: &Linear<HIDDEN, OUT, f32>,
    x: &[f32; IN],
    v: &[f32; IN],
) -> [f32; OUT] {
    let pre = naive_pre(fc1, x);
    let mut dh = [0.0f32; HIDDEN];
    for (o, row) in fc1.weight.iter().enumerate() {
        if pre[o] > 0.0 {
            for (w, vi) in row.iter().zip(v) {
                dh[o] += w * vi;
            }
        }
    }
    let mut dy = [0.0f32; OUT];
    for (o, row) in fc2.weight.iter().enumerate() {
        for (w, d) in row.iter().zip(dh) {
            dy[o] += w * d;
        }
    }
    dy
}

/// The f32 forward pass (the packed GEMM kernel) against the naive loops.
pub fn mlp_forward_f32() -> Result<(), u8> {
    let (fc1, fc2) = mlp();
    let mut pack = [0.0f32; PACK];
    let y = forward(&fc1, &fc2, &X, &mut pack);
    let mut nonzero = false;
    for (x, y) in X.iter().zip(&y) {
        let expected = naive_forward(&fc1, &fc2, x);
        for (&got, &want) in y.iter().zip(&expected) {
            if !want.is_finite() {
                return Err(code::MLP_F32_DEGENERATE);
            }
            nonzero |= want != 0.0;
            if !close(got, want) {
                return Err(code::MLP_F32_MISMATCH);
            }
        }
    }
    if !nonzero {
        return Err(code::MLP_F32_DEGENERATE);
    }
    Ok(())
}

/// Forward mode through the layers: the same MLP on `Dual<f32, 1>` (the generic GEMM loop)
/// gives the f32 values and the Jacobian-vector product.
pub fn mlp_forward_dual() -> Result<(), u8> {
    type D = Dual<f32, 1>;
    let (fc1, fc2) = mlp();
    let mut pack = [0.0f32; PACK];
    let y32 = forward(&fc1, &fc2, &X, &mut pack);

    let mut dfc1 = Linear::<IN, HIDDEN, D>::ZERO;
    for (d, w) in dfc1.weight.as_flattened_mut().iter_mut().zip(fc1.weight.as_flattened()) {
        *d = D::constant(*w);
    }
    for (d, b) in dfc1.bias.iter_mut().zip(&fc1.bias) {
        *d = D::constant(*b);
    }
    let mut dfc2 = Linear::<HIDDEN, OUT, D>::ZERO;
    for (d, w) in dfc2.weight.as_flattened_mut().iter_mut().zip(fc2.weight.as_flattened()) {
        *d = D::constant(*w);
    }
    for (d, b) in dfc2.bias.iter_mut().zip(&fc2.bias) {
        *d = D::constant(*b);
    }
    let mut dx = [[D::ZERO; IN]; BATCH];
    for ((dx, x), v) in dx.iter_mut().zip(&X).zip(&V) {
        for ((d, &x), &v) in dx.iter_mut().zip(x).zip(v) {
            *d = D::new(x, [v]);
        }
    }
    let mut dpack = [D::ZERO; PACK / 2];
    let dy = forward(&dfc1, &dfc2, &dx, &mut dpack);

    for s in 0..BATCH {
        let jv = naive_jvp(&fc1, &fc2, &X[s], &V[s]);
        for o in 0..OUT {
            if !close(dy[s][o].re, y32[s][o]) {
                return Err(code::MLP_DUAL_PRIMAL);
            }
            if !close(dy[s][o].eps[0], jv[o]) {
                return Err(code::MLP_DUAL_TANGENT);
            }
        }
    }
    Ok(())
}

/// Elementary functions through `Scalar` (libm without std) on dual numbers, against
/// their analytic derivatives, and a second derivative through nested duals.
pub fn scalar_dual() -> Result<(), u8> {
    type D = Dual<f32, 1>;
    // f(x) = tanh(x) e^x + sqrt(x) - ln(x^2) + sin(x)
    fn f<T: Scalar>(x: T) -> T {
        x.tanh() * x.exp() + x.sqrt() - (x * x).ln() + x.sin()
    }
    for x in [0.3f32, 0.7, 1.9] {
        let y = f(D::variable(x, 0));
        // Analytic, in f64.
        let xd = x as f64;
        let (t, e) = (Scalar::tanh(xd), Scalar::exp(xd));
        let dfdx = (1.0 - t * t) * e + t * e + 0.5 / Scalar::sqrt(xd) - 2.0 / xd + Scalar::cos(xd);
        if !close(y.re, f(x)) {
            return Err(code::SCALAR_VALUE);
        }
        if !close(y.eps[0], dfdx as f32) {
            return Err(code::SCALAR_DERIVATIVE);
        }
    }
    // g(x) = x^3 - 2x: g''(x) = 6x, through Dual<Dual<f32, 1>, 1>.
    type DD = Dual<Dual<f32, 1>, 1>;
    for x in [-1.5f32, 0.25, 2.0] {
        let xx = DD::new(D::variable(x, 0), [D::constant(1.0)]);
        let g = xx * xx * xx - DD::from_f64(2.0) * xx;
        if !close(g.eps[0].eps[0], 6.0 * x) {
            return Err(code::SCALAR_SECOND_DERIVATIVE);
        }
        if !close(g.eps[0].re, 3.0 * x * x - 2.0) || !close(g.re.eps[0], 3.0 * x * x - 2.0) {
            return Err(code::SCALAR_DERIVATIVE);
        }
    }
    Ok(())
}
