//! Pruning schedules: Zhu & Gupta's polynomial at known steps, one shot, and the pruning
//! steps.

use monograd::nn::prune::{PruneError, PruneSchedule};

#[test]
fn the_polynomial_takes_its_known_values() {
    // s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n Δt))^3 with s_i = 0, s_f = 0.8, t0 = 100, end 500.
    let s = PruneSchedule::polynomial(0.0, 0.8, 100, 500);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert_eq!(s.sparsity_at(0), 0.0); // before the start: nothing pruned
    assert_eq!(s.sparsity_at(100), 0.0);
    assert!(close(s.sparsity_at(200), 0.8 - 0.8 * 0.75f64.powi(3))); // 0.4625
    assert!(close(s.sparsity_at(200), 0.4625));
    assert!(close(s.sparsity_at(300), 0.7)); // 0.8 - 0.8/8
    assert!(close(s.sparsity_at(400), 0.8 - 0.8 / 64.0)); // 0.7875
    assert_eq!(s.sparsity_at(500), 0.8);
    assert_eq!(s.sparsity_at(10_000), 0.8);
    // It rises, fast first.
    let v: Vec<f64> = (100..=500).map(|t| s.sparsity_at(t)).collect();
    assert!(v.windows(2).all(|w| w[1] >= w[0]));
    assert!(v[100] - v[0] > v[400] - v[300]);

    // With an initial sparsity, a power of 1 (linear) and a pruning every 50 steps.
    let lin = PruneSchedule::polynomial(0.5, 0.9, 0, 100).power(1.0).every(50);
    assert!(close(lin.sparsity_at(0), 0.5));
    assert!(close(lin.sparsity_at(49), 0.5)); // held until the next pruning
    assert!(close(lin.sparsity_at(50), 0.7));
    assert!(close(lin.sparsity_at(99), 0.7));
    assert!(close(lin.sparsity_at(100), 0.9));
    // A tensor with its own final sparsity follows the same curve to it.
    assert!(close(s.sparsity_for(300, 0.4), 0.35));
}

#[test]
fn pruning_steps_are_every_delta_t_from_the_start_and_the_end() {
    let s = PruneSchedule::polynomial(0.0, 0.9, 10, 45).every(10);
    let steps: Vec<u64> = (0..100).filter(|&t| s.prunes_at(t)).collect();
    assert_eq!(steps, [10, 20, 30, 40, 45]);
    let once = PruneSchedule::one_shot(0.75, 3);
    let steps: Vec<u64> = (0..10).filter(|&t| once.prunes_at(t)).collect();
    assert_eq!(steps, [3]);
    assert_eq!((once.sparsity_at(2), once.sparsity_at(3), once.sparsity_at(7)), (0.0, 0.75, 0.75));
}

#[test]
fn bad_settings_are_errors() {
    assert!(matches!(PruneSchedule::try_polynomial(0.0, 1.1, 0, 10), Err(PruneError::Setting { .. })));
    assert!(matches!(PruneSchedule::try_polynomial(-0.1, 0.5, 0, 10), Err(PruneError::Setting { .. })));
    let e = PruneSchedule::try_polynomial(0.0, 0.5, 10, 10).unwrap_err();
    assert_eq!(e.to_string(), "pruning: end = 10 is out of range; use an end step after the start step");
    assert!(PruneSchedule::try_one_shot(f64::NAN, 0).is_err());
}
