//! Test functions with known minima, for comparing samplers.

/// The Branin function on `x1 ∈ [-5, 10]`, `x2 ∈ [0, 15]`; its minimum
/// [`BRANIN_MIN`] is reached at three points, among them `(π, 2.275)`.
///
/// ```
/// use monograd_tune::bench::{branin, BRANIN_MIN};
/// assert!((branin(std::f64::consts::PI, 2.275) - BRANIN_MIN).abs() < 1e-5);
/// ```
pub fn branin(x1: f64, x2: f64) -> f64 {
    use std::f64::consts::PI;
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

/// The minimum of [`branin`]: `5/(4π)`.
pub const BRANIN_MIN: f64 = 0.397_887_357_729_738_16;

/// The six-dimensional Hartmann function on `[0, 1]^6`; its minimum is
/// [`HARTMANN6_MIN`].
///
/// ```
/// use monograd_tune::bench::{hartmann6, HARTMANN6_MIN};
/// let x = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573];
/// assert!((hartmann6(&x) - HARTMANN6_MIN).abs() < 1e-5);
/// ```
pub fn hartmann6(x: &[f64; 6]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    -(0..4)
        .map(|i| {
            let s: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-s).exp()
        })
        .sum::<f64>()
}

/// The minimum of [`hartmann6`].
pub const HARTMANN6_MIN: f64 = -3.322_368_011_415_514;
