//! The model, optimizer and trainer of the `load_checkpoint` fuzz target, shared with the
//! program that writes its seed corpus (examples/checkpoint_seeds.rs), so that the seeds
//! are checkpoints of exactly what the target loads into.

use monograd::prelude::*;

network! {
    /// Every kind of state a checkpoint holds, small: weights, BatchNorm's statistics and
    /// count, Dropout's seed and step (with Adam's moments and step beside it).
    pub struct Net {
        input: [3],
        fc: Linear<3, 4>,
        bn: BatchNorm1d<4>,
        act: ReLU,
        drop: Dropout,
        head: Linear<4, 2>,
    }
}

pub type Optim = Adam<f32, Vec<f32>>;
pub type Run = Trainer<Net, Optim, CrossEntropyLoss<'static, f32>, usize>;

/// The trainer's batch size: a checkpoint of another is refused.
pub const BATCH: usize = 4;

/// A fresh model and optimizer.
pub fn model() -> (Net, Optim) {
    (Net::new(&mut Rng::seed(1)), Adam::new(0.01))
}

/// A fresh trainer, with early stopping (so that its checkpoints carry the best weights).
pub fn trainer() -> Run {
    let (net, optimizer) = model();
    Trainer::new(net, optimizer, CrossEntropyLoss::new())
        .epochs(3)
        .batch_size(BATCH)
        .seed(5)
        .early_stopping(EarlyStopping::new(2))
}

/// Twelve samples of three features in two classes: three batches of [`BATCH`], for the
/// steps the target trains after a successful load.
#[allow(dead_code)] // the target's, not the seed writer's
pub fn data() -> Dataset<f32, usize> {
    let x: Vec<f32> = (0..36).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
    let y = (0..12).map(|i| i % 2).collect();
    Dataset::new(x, y, 3).expect("whole samples")
}

/// Whether every value of the model is finite.
#[allow(dead_code)] // the target's, not the seed writer's
pub fn finite(net: &Net) -> bool {
    let mut ok = true;
    net.visit(&monograd::core::module::Path::ROOT, &mut |t| ok &= t.values.iter().all(|v| v.is_finite()));
    ok
}
