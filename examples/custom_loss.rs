//! Custom losses, two ways: a [`Loss`] implemented by hand (forward and a hand-derived
//! backward), and a formula written once for every scalar ([`ElementwiseLoss`]) whose
//! gradient comes from dual numbers, with no backward to write. Both are checked against
//! central finite differences, and then one trains a small model.
//!
//! The loss is log-cosh, `ℓ(p, t) = ln cosh(p - t)`: quadratic near the target, linear far
//! from it, smooth everywhere. Its derivative is `tanh(p - t)`.
//!
//! Run: `cargo run --example custom_loss`

use monograd::core::module::Ctx;
use monograd::nn::loss::{ElementwiseLoss, Loss};
use monograd::nn::Adam;
use monograd::prelude::*;

/// Way 1: by hand. `forward` and `backward` are both ours to get right.
struct LogCoshByHand;

impl<T: Scalar> Loss<T> for LogCoshByHand {
    type Target = [T];

    fn forward(&self, pred: &[T], target: &[T]) -> Result<T, ShapeError> {
        check(pred.len(), target.len())?;
        let n = T::from_f64(pred.len() as f64);
        Ok(pred.iter().zip(target).fold(T::ZERO, |s, (&p, &t)| s + log_cosh(p - t)) / n)
    }

    fn backward(&self, pred: &[T], target: &[T], dpred: &mut [T]) -> Result<T, ShapeError> {
        check(pred.len(), dpred.len())?;
        let value = self.forward(pred, target)?;
        let n = T::from_f64(pred.len() as f64);
        for ((d, &p), &t) in dpred.iter_mut().zip(pred).zip(target) {
            *d = (p - t).tanh() / n; // d/dp ln cosh(p - t), derived on paper
        }
        Ok(value)
    }
}

/// Way 2: the formula alone. The blanket implementation makes it a `Loss` whose backward
/// runs this same function on dual numbers.
struct LogCosh;

impl ElementwiseLoss for LogCosh {
    fn loss<S: Scalar>(&self, pred: S, target: S) -> S {
        log_cosh(pred - target)
    }
}

/// `ln cosh(d) = |d| + ln(1 + e^(-2|d|)) - ln 2`, which never overflows. The branch in
/// `abs` is no problem for dual numbers: they follow the branch taken.
fn log_cosh<S: Scalar>(d: S) -> S {
    let a = d.abs();
    a + (S::ONE + (-(a + a)).exp()).ln() - S::from_f64(std::f64::consts::LN_2)
}

fn check(expected: usize, found: usize) -> Result<(), ShapeError> {
    if expected != found {
        return Err(ShapeError::Length { what: "log-cosh target", expected, found });
    }
    Ok(())
}

/// `∂loss/∂pred_i` by central differences, for reference.
fn finite_differences(loss: &impl Loss<f64, Target = [f64]>, pred: &[f64], target: &[f64]) -> Vec<f64> {
    let h = 1e-6;
    let mut probe = pred.to_vec();
    (0..pred.len())
        .map(|i| {
            probe[i] = pred[i] + h;
            let up = loss.forward(&probe, target).unwrap();
            probe[i] = pred[i] - h;
            let down = loss.forward(&probe, target).unwrap();
            probe[i] = pred[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn main() -> Result<(), ShapeError> {
    let pred = [0.3, -1.2, 2.5, 0.05, -4.0, 7.5];
    let target = [0.0, 0.5, 1.0, 0.0, 1.0, -2.0];

    let mut by_hand = [0.0; 6];
    let mut by_duals = [0.0; 6];
    let v1 = LogCoshByHand.backward(&pred, &target, &mut by_hand)?;
    let v2 = LogCosh.backward(&pred, &target, &mut by_duals)?;
    let fd = finite_differences(&LogCosh, &pred, &target);

    println!("log-cosh over {} predictions: value {v1:.12} by hand, {v2:.12} from the formula\n", pred.len());
    println!("   pred  target    by hand         dual numbers    finite differences");
    let (mut worst_modes, mut worst_fd) = (0.0f64, 0.0f64);
    for i in 0..pred.len() {
        println!("{:7.2} {:7.2}   {:+.12}  {:+.12}  {:+.12}", pred[i], target[i], by_hand[i], by_duals[i], fd[i]);
        worst_modes = worst_modes.max((by_hand[i] - by_duals[i]).abs());
        worst_fd = worst_fd.max((by_duals[i] - fd[i]).abs());
    }
    println!("\nlargest |by hand - dual numbers|       = {worst_modes:.1e}");
    println!("largest |dual numbers - finite diffs.| = {worst_fd:.1e}");
    assert!(worst_modes < 1e-14 && worst_fd < 1e-8, "the gradients disagree");

    // Either is a loss like any other: fit y = 2x - 1 with two gross outliers. Log-cosh's
    // linear tails cap each point's pull, so the outliers bend the fit less than under MSE.
    let (lc_w, lc_b) = fit(&LogCosh)?;
    let (mse_w, mse_b) = fit(&MseLoss)?;
    println!("\nfit of y = 2 x - 1 with two outliers:");
    println!("  log-cosh: y = {lc_w:.3} x {lc_b:+.3}");
    println!("  MSE:      y = {mse_w:.3} x {mse_b:+.3}");
    assert!((lc_w - 2.0).abs() < (mse_w - 2.0).abs());
    Ok(())
}

/// Fits `Linear<1, 1>` with Adam under `loss`; returns the slope and intercept.
fn fit(loss: &impl Loss<f64, Target = [f64]>) -> Result<(f64, f64), ShapeError> {
    let mut fc = Linear::<1, 1, f64>::new(&mut Rng::seed(0));
    let x: Vec<f64> = (0..16).map(|i| i as f64 / 8.0 - 1.0).collect();
    let mut y: Vec<f64> = x.iter().map(|x| 2.0 * x - 1.0).collect();
    y[3] += 8.0;
    y[11] -= 6.0;
    let (mut out, mut dout) = (vec![0.0; 16], vec![0.0; 16]);
    let mut opt = Adam::new(0.05);
    let mut ctx = Ctx::new(&mut []);
    let mut grad = fc.zeros_like();
    for _ in 0..1000 {
        fc.forward(&x, &mut out, &mut ctx);
        loss.backward(&out, &y, &mut dout)?;
        grad.zero();
        fc.backward(&x, &out, &(), &dout, None, &mut grad, &mut ctx);
        opt.step(&mut fc, &grad);
    }
    Ok((fc.weight[0][0], fc.bias[0]))
}
