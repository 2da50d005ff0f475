//! The trainer is generic over the scalar: an `f64` network trains, is checked, and
//! checkpoints as an `f32` one does (and `f32` stays the default: nothing else changes).

use monograd::nn::train::{Cause, Checks, TrainError};
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [2],
        fc1: Linear<2, 16>,
        act: Tanh,
        fc2: Linear<16, 1>,
    }
}

/// y = sin(x0) + x1², on [-1, 1]², in f64.
fn data(n: usize, seed: u64) -> Dataset<f64, f64> {
    let mut rng = Rng::seed(seed);
    let x: Vec<f64> = (0..2 * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let y = x.chunks(2).map(|s| s[0].sin() + s[1] * s[1]).collect();
    Dataset::new(x, y, 2).unwrap()
}

fn trainer() -> Trainer<Net<f64>, Adam<f64, Vec<f64>>, MseLoss, f64, f64> {
    Trainer::new(Net::<f64>::new(&mut Rng::seed(0)), Adam::new(0.02), MseLoss)
        .epochs(60)
        .batch_size(16)
        .metric(Within(0.05))
        .checks(Checks::Full)
}

#[test]
fn an_f64_network_trains() {
    let (train, val) = (data(256, 1), data(64, 2));
    // No annotation: the scalar follows from the network.
    let mut t = Trainer::new(Net::<f64>::new(&mut Rng::seed(0)), Adam::new(0.02), MseLoss)
        .epochs(60)
        .batch_size(16)
        .metric(Within(0.05));
    let h = t.fit(&train, Some(&val), &mut ()).unwrap().clone();
    let (first, last) = (h.epochs[0].val.unwrap(), h.last().unwrap().val.unwrap());
    assert!(last.loss < first.loss / 20.0, "{h}");
    assert!(last.loss < 2e-3, "{h}");
    assert!(last.accuracy.unwrap() > 0.7, "{h}");
    // Its weights are f64 all the way.
    let w: f64 = t.net().fc2.weight[0][0];
    assert!(w.is_finite());
}

#[test]
fn an_f64_run_checkpoints_and_resumes_bit_identically() {
    let train = data(64, 3);
    let mut reference = trainer().epochs(2);
    reference.fit(&train, None, &mut ()).unwrap();
    let mut first = trainer().epochs(2);
    first
        .fit(&train, None, &mut |e: &Event<'_>| match e {
            Event::Step(s) if s.step == 5 => Control::Pause,
            _ => Control::Continue,
        })
        .unwrap();
    let bytes = first.checkpoint_bytes().unwrap();
    let mut second = trainer().epochs(2);
    second.load_checkpoint_bytes(&bytes).unwrap();
    second.fit(&train, None, &mut ()).unwrap();
    let bits = |n: &Net<f64>| n.fc1.weight.iter().flatten().map(|w| w.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(second.net()), bits(reference.net()));
    assert_eq!(second.history().steps, reference.history().steps);
}

#[test]
fn an_f64_step_is_a_transaction_too() {
    let mut train = data(32, 4);
    train.inputs_mut()[2 * 7 + 1] = f64::NAN;
    let mut t = trainer().batch_size(32);
    let before = t.net().fc1.weight;
    let e = t.fit(&train, None, &mut ()).unwrap_err();
    let TrainError::NonFinite { cause: Cause::NonFiniteInput { sample: 7, .. }, restored: Some(0), .. } = e else {
        panic!("{e}")
    };
    assert_eq!(t.net().fc1.weight, before);
}
