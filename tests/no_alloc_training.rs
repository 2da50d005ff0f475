//! The training steps of the no_std proof, in the std build: the loss halves, and, when the
//! no_std binary's final loss is given (`scripts/check-no-std.sh` passes it in
//! `MONOGRAD_NO_STD_FINAL_LOSS`), both builds end at the same loss within 1e-5.

#[path = "../no-std-check/src/train.rs"]
mod train;

#[test]
fn training_in_fixed_storage_halves_the_loss_and_matches_the_no_std_build() {
    let l = train::train().expect("the batch fits the fixed capacity");
    println!("std build: initial loss {}, final loss {}", l.initial, l.last);
    assert!(l.last.is_finite() && l.last < 0.5 * l.initial, "{l:?}");
    if let Ok(v) = std::env::var("MONOGRAD_NO_STD_FINAL_LOSS") {
        let no_std: f32 = v.parse().expect("a float printed by the no_std binary");
        assert!((l.last - no_std).abs() <= 1e-5, "std {} vs no_std {no_std}", l.last);
        println!("matches the no_std build's final loss {no_std} within 1e-5");
    }
}

#[test]
fn a_batch_over_the_fixed_capacity_is_an_error() {
    use monograd::prelude::*;
    let net = train::Tiny::new(&mut Rng::seed(0));
    let mut state = train::Tiny::state::<Fixed<{ train::BATCH }>>();
    let x = [0.0f32; 2 * (train::BATCH + 1)];
    let err = net.forward(&x, &mut state).unwrap_err();
    assert!(matches!(err, ShapeError::Capacity { capacity: 8, requested: 9, .. }), "{err}");
}
