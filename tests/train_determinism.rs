//! The same seed gives bit-identical weights and metrics: two runs of two epochs each, with
//! every source of randomness on (initialisation, batch order, dropout, augmentation), must
//! agree to the bit; another seed must not.

use monograd::nn::init::fingerprint;
use monograd::nn::optim::schedule::Schedule;
use monograd::prelude::*;

network! {
    /// A small network with dropout (small, so that the test is quick in a debug build).
    pub struct Small {
        input: [784],
        fc1: Linear<784, 16>,
        act: ReLU,
        drop: Dropout,
        fc2: Linear<16, 10>,
    }
}

/// What a run leaves: the weights' fingerprint, every epoch's metrics, every step's loss.
type Outcome = (u64, Vec<(f64, Option<f64>, f64, Option<f64>)>, Vec<f32>);

fn run(seed: u64, train: &Dataset, val: &Dataset) -> Outcome {
    let mut net = Small::new(&mut Rng::seed(seed));
    net.drop.p = 0.25;
    let shift = RandomShift::new(1, 28, 28, 2);
    let schedule = LinearLr::warmup(3e-3, 0.1, 8).then(8, CosineAnnealingLr::new(3e-3, 8, 0.0));
    let mut trainer = Trainer::new(net, AdamW::new(3e-3), CrossEntropyLoss::new().label_smoothing(0.1))
        .epochs(2)
        .batch_size(32)
        .seed(seed)
        .schedule(schedule, Every::Step)
        .augment(move |x, rng| shift.apply(x, rng))
        .clip_grad_norm(5.0)
        .early_stopping(EarlyStopping::new(1));
    trainer.fit(train, Some(val), &mut ()).unwrap();
    let h = trainer.history();
    let epochs = h
        .epochs
        .iter()
        .map(|r| {
            let v = r.val.unwrap();
            (r.train.loss, r.train.accuracy, v.loss, v.accuracy)
        })
        .collect();
    (fingerprint(trainer.net()), epochs, h.steps.iter().map(|s| s.1).collect())
}

#[test]
fn the_same_seed_gives_bit_identical_weights_and_metrics() {
    let mnist = Mnist::load_default().unwrap();
    let (train, _) = mnist.train.split_at(320).unwrap();
    let (train, val) = train.holdout(Holdout::Last(64)).unwrap();
    let first = run(7, &train, &val);
    let second = run(7, &train, &val);
    assert_eq!(first.2.len(), 2 * 8);
    assert_eq!(first, second, "two runs with seed 7 differ");
    let other = run(8, &train, &val);
    assert_ne!(first.0, other.0, "seeds 7 and 8 gave the same weights");
    assert_ne!(first.2, other.2);
    // And training did something.
    assert!(first.1[1].0 < first.2[0] as f64);
}
