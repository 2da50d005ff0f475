//! Checkpoints resume bit-identically: a run paused mid-epoch, saved, and loaded into a
//! fresh trainer built from another seed ends exactly where the run that never stopped
//! ends (weights, BatchNorm statistics, Dropout counters, Adam's moments and step, every
//! loss and metric), through the `Trainer` and through a loop of one's own. Negative
//! controls show that each restored piece matters; bad files (another model, another
//! optimizer, truncated, tampered) are errors that change nothing and never panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use monograd::core::module::Path;
use monograd::nn::data::{Batches, Cursor};
use monograd::nn::optim::{OptimizerState, StateRef};
use monograd::nn::serialize::checkpoint::{self, RunState};
use monograd::nn::serialize::safetensors::{self, LoadOptions};
use monograd::nn::serialize::SerializeError;
use monograd::nn::train::history::Stopped;
use monograd::nn::train::Metrics;
use monograd::prelude::*;

network! {
    /// Every kind of state: weights, BatchNorm's buffers and count, Dropout's seed and step.
    pub struct Net {
        input: [8],
        fc1: Linear<8, 16>,
        bn: BatchNorm1d<16>,
        act: ReLU,
        drop: Dropout,
        fc2: Linear<16, 3>,
    }
}

network! {
    /// `Net` with another head: the same names, one shape differs.
    pub struct Wider {
        input: [8],
        fc1: Linear<8, 16>,
        bn: BatchNorm1d<16>,
        act: ReLU,
        drop: Dropout,
        fc2: Linear<16, 4>,
    }
}

network! {
    /// Another model: a checkpoint of `Net` must not load into it.
    pub struct Other {
        input: [8],
        fc1: Linear<8, 12>,
        act: ReLU,
        fc2: Linear<12, 3>,
    }
}

/// Three noisy blobs in 8 dimensions.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::seed(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 3;
        x.extend((0..8).map(|d| if d % 3 == c { 1.0 } else { 0.0 } + 0.5 * rng.normal() as f32));
        y.push(c);
    }
    Dataset::new(x, y, 8).unwrap()
}

const EPOCHS: usize = 3;
const BATCH: usize = 16;
/// 100 samples in batches of 16: 7 batches per epoch, the last of 4.
const PER_EPOCH: usize = 7;

type Optim = Adam<f32, Vec<f32>>;
type Run = Trainer<Net, Optim, CrossEntropyLoss<'static, f32>, usize>;

/// A trainer with every source of state: shuffling, a per-step schedule, augmentation
/// noise, dropout, batch norm, Adam, early stopping with its best weights.
fn trainer(seed: u64) -> Run {
    let mut net = Net::new(&mut Rng::seed(seed));
    net.drop.p = 0.25;
    let total = EPOCHS * PER_EPOCH;
    let schedule = LinearLr::warmup(1e-2, 0.1, 5).then(5, CosineAnnealingLr::new(1e-2, total - 5, 0.0));
    Trainer::new(net, Adam::new(1e-2), CrossEntropyLoss::new())
        .epochs(EPOCHS)
        .batch_size(BATCH)
        .seed(seed)
        .schedule(schedule, Every::Step)
        .augment(|x, rng| x.iter_mut().for_each(|v| *v += 0.05 * rng.normal() as f32))
        .early_stopping(EarlyStopping::new(5))
}

/// Pauses after step `k`.
fn pause_at(k: usize) -> impl FnMut(&Event<'_>) -> Control {
    move |e: &Event<'_>| match e {
        Event::Step(s) if s.step == k => Control::Pause,
        _ => Control::Continue,
    }
}

/// Everything a run leaves, as bits: every tensor and counter of the network, every
/// piece of the optimizer's state, the learning rate, every step's position and loss, and
/// every epoch's metrics.
#[derive(Debug, PartialEq)]
struct Outcome {
    tensors: Bits,
    counters: Counters,
    optimizer: State,
    lr: u64,
    steps: Vec<(u64, u32)>,
    epochs: Vec<[u64; 6]>,
    best: Option<usize>,
}

/// Each tensor's name and values as bits.
type Bits = Vec<(String, Vec<u32>)>;
/// Each counter's name and value.
type Counters = Vec<(String, u64)>;
/// Each piece of an optimizer's state, as bits.
type State = Vec<(String, Vec<u64>)>;

fn tensors<M: Module<f32>>(m: &M) -> Bits {
    let mut out = Vec::new();
    m.visit(&Path::ROOT, &mut |t| out.push((t.path.to_string(), t.values.iter().map(|v| v.to_bits()).collect())));
    out
}

fn counters<M: Module<f32>>(m: &M) -> Counters {
    let mut out = Vec::new();
    m.visit_counters(&Path::ROOT, &mut |c| out.push((c.path.to_string(), *c.value)));
    out
}

fn optimizer_state<O: OptimizerState<f32>>(o: &O, params: usize) -> State {
    let mut out = Vec::new();
    o.visit_state(params, &Path::ROOT, &mut |s| match s {
        StateRef::Counter { path, value } => out.push((path.to_string(), vec![value])),
        StateRef::Block { path, values } => out.push((
            path.to_string(),
            values.expect("state held after steps").iter().map(|v| u64::from(v.to_bits())).collect(),
        )),
        _ => {}
    });
    out
}

fn outcome(t: &Run) -> Outcome {
    let h = t.history();
    let bits = |m: Option<Metrics>| {
        let m = m.unwrap_or(Metrics { loss: f64::NAN, accuracy: None, samples: 0 });
        (m.loss.to_bits(), m.accuracy.map_or(0, f64::to_bits), m.samples as u64)
    };
    Outcome {
        tensors: tensors(t.net()),
        counters: counters(t.net()),
        optimizer: optimizer_state(t.optimizer(), <Net as Module<f32>>::PARAMS),
        lr: Optimizer::<f32>::lr(t.optimizer()).to_bits(),
        steps: h.steps.iter().map(|&(p, l)| (p.to_bits(), l.to_bits())).collect(),
        epochs: h
            .epochs
            .iter()
            .map(|r| {
                let (tl, ta, ts) = bits(Some(r.train));
                let (vl, va, _) = bits(r.val);
                [tl, ta, ts, vl, va, r.lr.to_bits()]
            })
            .collect(),
        best: h.best,
    }
}

/// The run that never stops.
fn straight(train: &Dataset, val: &Dataset) -> Outcome {
    let mut t = trainer(7);
    t.fit(train, Some(val), &mut ()).unwrap();
    assert_eq!(t.steps(), EPOCHS * PER_EPOCH);
    outcome(&t)
}

/// The run paused after step `k`, checkpointed, and continued by a fresh trainer built
/// from seed 99; `tweak` changes the fresh trainer after it loads (for negative
/// controls), `edit` the checkpoint's bytes.
fn resumed(
    train: &Dataset,
    val: &Dataset,
    k: usize,
    edit: impl Fn(Vec<u8>) -> Vec<u8>,
    tweak: impl Fn(&mut Run),
) -> Outcome {
    let mut first = trainer(7);
    first.fit(train, Some(val), &mut pause_at(k)).unwrap();
    assert_eq!(first.steps(), k);
    assert_eq!(first.history().stopped, Some(Stopped::Paused));
    let bytes = edit(first.checkpoint_bytes().unwrap());
    drop(first);

    let mut second = trainer(99);
    assert_ne!(tensors(second.net()), tensors(trainer(7).net()), "the fresh trainer must start elsewhere");
    second.load_checkpoint_bytes(&bytes).unwrap();
    assert_eq!(second.steps(), k);
    tweak(&mut second);
    second.fit(train, Some(val), &mut ()).unwrap();
    outcome(&second)
}

fn data() -> (Dataset, Dataset) {
    (blobs(100, 1), blobs(30, 2))
}

#[test]
fn a_run_resumed_mid_epoch_from_a_checkpoint_is_bit_identical() {
    let (train, val) = data();
    let reference = straight(&train, &val);
    assert_eq!(reference.steps.len(), EPOCHS * PER_EPOCH);
    assert_eq!(reference.counters[0], ("bn.num_batches_tracked".into(), (EPOCHS * PER_EPOCH) as u64));
    // Mid-epoch in the second epoch (step 10 = batch 3 of 7), and in the first.
    for k in [10, 2] {
        let again = resumed(&train, &val, k, |b| b, |_| {});
        assert_eq!(again, reference, "resumed after step {k}");
    }
}

#[test]
fn each_piece_of_the_checkpoint_matters() {
    let (train, val) = data();
    let reference = straight(&train, &val);
    let k = 10;
    // Dropout's counters not restored: other masks from then on.
    let dropout = resumed(&train, &val, k, |b| b, |t| t.net_mut().drop.step = 0);
    assert_ne!(dropout.tensors, reference.tensors, "the Dropout step made no difference");
    // The data cursor moved back one batch alone: the epoch's batches, samples and steps
    // no longer add up, and the file is refused.
    let mut first = trainer(7);
    first.fit(&train, Some(&val), &mut pause_at(k)).unwrap();
    let moved = tamper(&first.checkpoint_bytes().unwrap(), r#""run.position":"48""#, r#""run.position":"32""#);
    let err = trainer_load_err(&moved);
    assert_eq!(err.to_string(), "<memory>: checkpoint: `trainer.batch`: 3 batches of 16 do not serve 32 samples");
    // The augmentation generator restarted: other noise.
    let rng = resumed(
        &train,
        &val,
        k,
        |b| {
            let at = find(&b, r#""run.rng.augment":""#).unwrap() + r#""run.rng.augment":""#.len();
            let mut b = b;
            // The first digit of the first word, one up (or down): another state.
            b[at] = if b[at] == b'9' { b'8' } else { b[at] + 1 };
            b
        },
        |_| {},
    );
    assert_ne!(rng.tensors, reference.tensors, "the augmentation generator made no difference");
    // Adam's moments forgotten (`reset` restarts it at t = 1).
    let adam = resumed(&train, &val, k, |b| b, |t| t.optimizer_mut().reset());
    assert_ne!(adam.tensors, reference.tensors, "Adam's state made no difference");
    // BatchNorm's running statistics zeroed: the validation losses change.
    let bn = resumed(&train, &val, k, |b| b, |t| t.net_mut().bn.running_var = [1.0; 16]);
    assert_ne!(bn.epochs, reference.epochs, "BatchNorm's statistics made no difference");
}

#[test]
fn pausing_and_continuing_the_same_trainer_changes_nothing() {
    let (train, val) = data();
    let reference = straight(&train, &val);
    let mut t = trainer(7);
    for k in [3, 7, 10, 14, 20] {
        t.fit(&train, Some(&val), &mut pause_at(k)).unwrap();
        assert_eq!(t.steps(), k);
        // Step 7 and 14 end an epoch: it closes as usual, and nothing is left open.
        assert_eq!(t.is_mid_epoch(), k % PER_EPOCH != 0, "after step {k}");
        assert_eq!(t.cursor().epoch as usize, k / PER_EPOCH);
    }
    t.fit(&train, Some(&val), &mut ()).unwrap();
    assert_eq!(outcome(&t), reference);
}

#[test]
fn a_trainer_checkpoint_between_epochs_and_through_a_file_resumes_too() {
    let (train, val) = data();
    let reference = straight(&train, &val);
    let dir = TempDir::new("between");
    let path = dir.0.join("run.safetensors");
    let mut first = trainer(7);
    first.fit(&train, Some(&val), &mut pause_at(PER_EPOCH)).unwrap();
    assert!(!first.is_mid_epoch());
    first.save_checkpoint(&path).unwrap();
    let mut second = trainer(3);
    second.load_checkpoint(&path).unwrap();
    second.fit(&train, Some(&val), &mut ()).unwrap();
    assert_eq!(outcome(&second), reference);
    // Saving the same state twice gives the same bytes.
    assert_eq!(std::fs::read(&path).unwrap(), first.checkpoint_bytes().unwrap());
}

#[test]
fn the_checkpoint_is_an_ordinary_safetensors_file() {
    let (train, val) = data();
    let mut t = trainer(7);
    t.fit(&train, Some(&val), &mut pause_at(10)).unwrap();
    let bytes = t.checkpoint_bytes().unwrap();
    // Its weights load like a weights file's, ignoring the rest.
    let mut net = Net::default();
    let report = safetensors::load_bytes(&mut net, &bytes, &LoadOptions::lenient()).unwrap();
    assert_eq!(tensors(&net), tensors(t.net()));
    assert_eq!(net.bn.num_batches_tracked, 10);
    for name in [
        "drop.seed",
        "drop.step",
        "optimizer.step",
        "optimizer.exp_avg.fc1.weight",
        "optimizer.exp_avg_sq.fc2.bias",
        "trainer.history.epochs",
        "trainer.history.step_loss",
    ] {
        assert!(report.ignored.iter().any(|n| n == name), "{name} not in {:?}", report.ignored);
    }
    assert!(!report.ignored.iter().any(|n| n == "bn.running_mean"));
    let header = header(&bytes);
    for entry in [
        r#""monograd.checkpoint":"1""#,
        r#""optimizer.kind":"Adam""#,
        r#""run.step":"10""#,
        r#""run.epoch":"1""#,
        r#""run.position":"48""#,
        r#""run.shuffle_seed":"7""#,
        r#""trainer.open":"true""#,
    ] {
        assert!(header.contains(entry), "{entry} not in {header}");
    }
}

/// A loop of one's own: `Batches`, a network, Adam under a schedule (`Scheduled`), a
/// noise generator; checkpointed mid-epoch through `checkpoint::save` and `load`.
mod custom_loop {
    use super::*;

    type Sched = Scheduled<Adam<f32, Vec<f32>>, fn(usize) -> f64>;

    fn lr(step: usize) -> f64 {
        1e-2 / (1.0 + 0.1 * step as f64)
    }

    pub(super) struct Loop {
        pub(super) net: Net,
        pub(super) opt: Sched,
        pub(super) batches: Batches,
        pub(super) noise: Rng,
        pub(super) run: RunState,
        pub(super) losses: Vec<u32>,
    }

    impl Loop {
        pub(super) fn new(seed: u64) -> Self {
            let mut net = Net::new(&mut Rng::seed(seed));
            net.drop.p = 0.3;
            Self {
                net,
                opt: Scheduled::new(Adam::new(1e-2), lr as fn(usize) -> f64),
                batches: Batches::new(BATCH, seed).unwrap(),
                noise: Rng::seed(seed + 1),
                run: RunState { shuffle_seed: seed, ..RunState::default() },
                losses: Vec::new(),
            }
        }

        /// Trains until `until` steps in all, from where the run stands.
        pub(super) fn train(&mut self, data: &Dataset, until: u64) {
            let (mut grad, mut state) = (Net::default(), Net::state::<Heap>());
            let mut dy = Vec::new();
            while self.run.step < until {
                let mut epoch = self.batches.resume(self.run.cursor(), data).unwrap();
                while self.run.step < until {
                    let Some(batch) = epoch.next_batch() else { break };
                    let mut x = batch.inputs.to_vec();
                    x.iter_mut().for_each(|v| *v += 0.05 * self.noise.normal() as f32);
                    let y = self.net.forward_train(&x, &mut state).unwrap();
                    dy.resize(y.len(), 0.0);
                    let l = CrossEntropyLoss::new().backward(y, batch.targets, &mut dy).unwrap();
                    self.losses.push(l.to_bits());
                    grad.zero();
                    self.net.backward(&x, &dy, &mut grad, &mut state).unwrap();
                    self.opt.step(&mut self.net, &grad);
                    self.run.step += 1;
                }
                if epoch.remaining() == 0 {
                    self.run.set_cursor(Cursor { epoch: self.run.epoch + 1, position: 0 });
                } else {
                    self.run.set_cursor(epoch.cursor());
                }
            }
        }

        pub(super) fn save(&mut self, path: &std::path::Path) {
            self.run.set_rng("noise", &self.noise);
            checkpoint::save(&self.net, &self.opt, &self.run, path).unwrap();
        }

        pub(super) fn load(&mut self, path: &std::path::Path) {
            self.run = checkpoint::load(&mut self.net, &mut self.opt, path).unwrap();
            self.noise = self.run.rng("noise").unwrap();
            self.batches = Batches::new(BATCH, self.run.shuffle_seed).unwrap();
        }

        /// Tensors, counters, optimizer state: as bits.
        pub(super) fn outcome(&self) -> (Bits, Counters, State) {
            (tensors(&self.net), counters(&self.net), optimizer_state(&self.opt, <Net as Module<f32>>::PARAMS))
        }
    }

    #[test]
    fn a_custom_loop_resumes_bit_identically_through_the_low_level_api() {
        let data = blobs(100, 1);
        let total = 17;
        let mut reference = Loop::new(5);
        reference.train(&data, total);
        assert_eq!(reference.opt.steps(), 17);

        let dir = TempDir::new("custom");
        let path = dir.0.join("loop.ckpt");
        let mut first = Loop::new(5);
        first.train(&data, 9);
        assert_eq!(first.run.cursor(), Cursor { epoch: 1, position: 32 });
        first.save(&path);
        let mut second = Loop::new(42);
        second.load(&path);
        assert_eq!(second.opt.steps(), 9);
        assert_eq!(Optimizer::<f32>::lr(&second.opt), lr(9));
        second.train(&data, total);
        assert_eq!(second.outcome(), reference.outcome());
        assert_eq!(second.losses[..], reference.losses[9..]);

        // Negative controls: the noise generator, or the cursor, not restored.
        let mut no_rng = Loop::new(42);
        no_rng.load(&path);
        no_rng.noise = Rng::seed(6);
        no_rng.train(&data, total);
        assert_ne!(no_rng.outcome().0, reference.outcome().0);
        let mut no_cursor = Loop::new(42);
        no_cursor.load(&path);
        no_cursor.run.position = 0;
        no_cursor.train(&data, total);
        assert_ne!(no_cursor.outcome().0, reference.outcome().0);
        // And the schedule's position, through `Scheduled`'s state.
        let mut no_schedule = Loop::new(42);
        no_schedule.load(&path);
        no_schedule.opt.set_steps(0);
        no_schedule.train(&data, total);
        assert_ne!(no_schedule.outcome().0, reference.outcome().0);
    }
}

// Bad files.

/// A checkpoint after 10 steps, and the trainer it came from.
fn saved() -> (Vec<u8>, Run) {
    let (train, val) = data();
    let mut t = trainer(7);
    t.fit(&train, Some(&val), &mut pause_at(10)).unwrap();
    (t.checkpoint_bytes().unwrap(), t)
}

/// Loads `bytes` into a fresh trainer, checks that it is unchanged, returns the error.
fn trainer_load_err(bytes: &[u8]) -> SerializeError {
    let mut t = trainer(3);
    let before = (tensors(t.net()), counters(t.net()), t.steps(), t.cursor(), t.is_mid_epoch());
    let err = t.load_checkpoint_bytes(bytes).expect_err("a bad checkpoint must not load");
    let after = (tensors(t.net()), counters(t.net()), t.steps(), t.cursor(), t.is_mid_epoch());
    assert_eq!(before, after, "a failed load changed the trainer ({err})");
    assert!(t.optimizer().state().is_empty(), "a failed load changed the optimizer ({err})");
    err
}

/// Loads `bytes` through the low-level API into a fresh `Net` and Adam; checks that they
/// are unchanged; returns the error.
fn low_level_err(bytes: &[u8]) -> SerializeError {
    let mut net = Net::new(&mut Rng::seed(3));
    let mut adam = Adam::new(0.5f32);
    let before = (tensors(&net), counters(&net));
    let err = checkpoint::load_bytes(&mut net, &mut adam, bytes).expect_err("a bad checkpoint must not load");
    assert_eq!(before, (tensors(&net), counters(&net)), "a failed load changed the model ({err})");
    assert!(adam.state().is_empty() && adam.steps() == 0, "a failed load changed the optimizer ({err})");
    assert_eq!(Optimizer::<f32>::lr(&adam), 0.5);
    err
}

#[test]
fn a_checkpoint_of_another_model_is_refused_with_the_tensors_named() {
    let (bytes, _) = saved();
    // The same names, another shape.
    let mut wider = Wider::new(&mut Rng::seed(1));
    let before = (tensors(&wider), counters(&wider));
    let err = checkpoint::load_bytes(&mut wider, &mut Adam::new(1e-2f32), &bytes).unwrap_err();
    assert_eq!(err.to_string(), "<memory>: tensor `fc2.weight`: the model has shape [4, 16], the file [3, 16]");
    assert_eq!((tensors(&wider), counters(&wider)), before);
    // Other names.
    let mut other = Other::new(&mut Rng::seed(1));
    let before = tensors(&other);
    let err = checkpoint::load_bytes(&mut other, &mut Adam::new(1e-2f32), &bytes).unwrap_err();
    let SerializeError::Unexpected { names, .. } = &err else { panic!("{err}") };
    assert_eq!(names[..3], ["bn.bias", "bn.num_batches_tracked", "bn.running_mean"]);
    assert_eq!(tensors(&other), before);
}

#[test]
fn a_checkpoint_of_another_optimizer_is_refused() {
    let (bytes, _) = saved();
    let mut net = Net::default();
    let err = checkpoint::load_bytes(&mut net, &mut Sgd::new(0.1f32).momentum(0.9), &bytes).unwrap_err();
    assert!(matches!(err, SerializeError::OptimizerKind { .. }), "{err}");
    assert_eq!(err.to_string(), "<memory>: the checkpoint holds the state of Adam, but the optimizer is Sgd");
    let err = checkpoint::load_bytes(&mut net, &mut AdamW::new(0.1f32), &bytes).unwrap_err();
    assert!(matches!(err, SerializeError::OptimizerKind { .. }), "{err}");
    // The same kind configured otherwise (AMSGrad keeps a third block): a missing tensor.
    let err = checkpoint::load_bytes(&mut net, &mut Adam::new(0.1f32).amsgrad(true), &bytes).unwrap_err();
    let SerializeError::Missing { names, .. } = &err else { panic!("{err}") };
    assert_eq!(names[0], "optimizer.max_exp_avg_sq.fc1.weight");
    // A fixed store too short for the state.
    let mut buf = [0.0f32; 10];
    let err = checkpoint::load_bytes(&mut net, &mut Adam::with_state(0.1f32, &mut buf[..]), &bytes).unwrap_err();
    assert!(matches!(err, SerializeError::OptimizerState { .. }), "{err}");
}

#[test]
fn a_weights_file_is_not_a_checkpoint() {
    let (_, t) = saved();
    let weights = safetensors::to_bytes(t.net(), &Default::default()).unwrap();
    let err = low_level_err(&weights);
    assert!(err.to_string().contains("not a checkpoint"), "{err}");
}

#[test]
fn a_truncated_checkpoint_is_an_error_at_every_length() {
    let (bytes, _) = saved();
    // Every length through the header, then a sample of the data.
    let n = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let lengths = (0..n + 64).chain((n + 64..bytes.len()).step_by(97));
    for len in lengths {
        let err = low_level_err(&bytes[..len]);
        assert!(
            matches!(
                err,
                SerializeError::Truncated { .. }
                    | SerializeError::HeaderLength { .. }
                    | SerializeError::CorruptHeader { .. }
            ),
            "length {len}: {err}"
        );
    }
    assert!(matches!(trainer_load_err(&bytes[..bytes.len() - 1]), SerializeError::Truncated { .. }));
}

#[test]
fn tampered_metadata_is_an_error_that_names_the_field() {
    let (bytes, _) = saved();
    let cases: [(&str, &str, &str); 6] = [
        (
            r#""monograd.checkpoint":"1""#,
            r#""monograd.checkpoint":"2""#,
            "checkpoint format version 2; this build reads version 1",
        ),
        (r#""run.step":"10""#, r#""run.stex":"10""#, "checkpoint: `run.step`: missing"),
        (r#""run.step":"10""#, r#""run.step":"1x""#, "checkpoint: `run.step`: `1x` is not a valid u64"),
        (r#""optimizer.lr":"#, r#""optimizer.lx":"#, "checkpoint: `optimizer.lr`: missing"),
        (
            r#""optimizer.kind":"Adam""#,
            r#""optimizer.kind":"Lion""#,
            "the checkpoint holds the state of Lion, but the optimizer is Adam",
        ),
        (r#""run.epoch":"1""#, r#""run.step":"10""#, "checkpoint: `run.step`: appears twice in the metadata"),
    ];
    for (from, to, message) in cases {
        let bad = tamper(&bytes, from, to);
        let err = trainer_load_err(&bad);
        assert!(err.to_string().starts_with(&format!("<memory>: {message}")), "{from} -> {to}: {err}");
    }
    // A generator's state that is not four integers.
    let mut bad = bytes.clone();
    let at = find(&bad, r#""run.rng.augment":""#).unwrap() + r#""run.rng.augment":""#.len();
    bad[at] = b'x';
    let err = trainer_load_err(&bad);
    assert!(err.to_string().starts_with("<memory>: checkpoint: `run.rng.augment`: `x"), "{err}");
    assert!(err.to_string().ends_with("is not four integers"), "{err}");
    // The trainer's own fields: settings that differ from the run's.
    let mut t = trainer(3).batch_size(8);
    let err = t.load_checkpoint_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("the run used batches of 16, this trainer 8"), "{err}");
    // A checkpoint saved by a custom loop has none of the trainer's fields.
    let (_, source) = saved();
    let plain = checkpoint::to_bytes(source.net(), source.optimizer(), &RunState::default()).unwrap();
    let err = trainer_load_err(&plain);
    assert!(err.to_string().contains("`trainer.batch_size`: missing"), "{err}");
    // ... while a trainer's checkpoint loads in a custom loop.
    let mut net = Net::default();
    let run = checkpoint::load_bytes(&mut net, &mut Adam::new(1.0f32), &bytes).unwrap();
    assert_eq!((run.step, run.epoch, run.position, run.shuffle_seed), (10, 1, 48, 7));
}

#[test]
fn bit_flips_through_the_file_load_or_err_without_panicking() {
    let (bytes, _) = saved();
    let n = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // Every bit of the length; every 7th bit of the header (7 is prime to 8, so every bit
    // position of a byte comes up: digits, quotes, brackets); a stride through the data.
    // Every bit would take half a minute in a debug build.
    let bits = (0..64).chain((64..n * 8).step_by(7)).chain((n * 8..bytes.len() * 8).step_by(331));
    for bit in bits {
        let mut bad = bytes.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut t = trainer(3);
            let _ = t.load_checkpoint_bytes(&bad);
            let mut net = Net::default();
            let _ = checkpoint::load_bytes(&mut net, &mut Adam::new(1.0f32), &bad);
        }));
        assert!(outcome.is_ok(), "flipping bit {bit} panicked");
    }
}

// Helpers.

fn find(bytes: &[u8], needle: &str) -> Option<usize> {
    bytes.windows(needle.len()).position(|w| w == needle.as_bytes())
}

/// The header's text.
fn header(bytes: &[u8]) -> String {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    String::from_utf8(bytes[8..8 + n].to_vec()).unwrap()
}

/// `bytes` with `from` replaced by `to` in the header (same length, so offsets hold).
fn tamper(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "tampering must keep the header's length");
    let at = find(bytes, from).unwrap_or_else(|| panic!("`{from}` not in {}", header(bytes)));
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to.as_bytes());
    out
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("monograd-checkpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
