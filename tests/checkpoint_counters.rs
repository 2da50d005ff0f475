//! Checkpoints are validated, not trusted: every counter read from a file is checked
//! against what the run can reach, and a file that fails is an error at load time naming
//! the field. Counters at `u64::MAX` used to load cleanly, then panic on overflow in
//! debug builds or wrap in release builds (where one Adam step made every weight NaN).

use std::panic::{catch_unwind, AssertUnwindSafe};

use monograd::nn::serialize::checkpoint;
use monograd::nn::serialize::SerializeError;
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [4],
        fc1: Linear<4, 8>,
        bn: BatchNorm1d<8>,
        act: ReLU,
        fc2: Linear<8, 3>,
    }
}

type Run = Trainer<Net, Adam<f32, Vec<f32>>, CrossEntropyLoss<'static, f32>, usize>;

fn data() -> Dataset<f32, usize> {
    let mut rng = Rng::seed(1);
    let x: Vec<f32> = (0..60 * 4).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    Dataset::new(x, (0..60).map(|i| i % 3).collect(), 4).unwrap()
}

fn trainer() -> Run {
    Trainer::new(Net::new(&mut Rng::seed(0)), Adam::new(1e-2), CrossEntropyLoss::new()).batch_size(8).epochs(3)
}

/// A checkpoint paused after step 10: epoch 2 open, 2 of its 8 batches done.
fn saved() -> Vec<u8> {
    let mut t = trainer();
    t.fit(&data(), None, &mut |e: &Event<'_>| match e {
        Event::Step(s) if s.step == 10 => Control::Pause,
        _ => Control::Continue,
    })
    .unwrap();
    t.checkpoint_bytes().unwrap()
}

/// The header's length and text.
fn header(bytes: &[u8]) -> (usize, String) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (n, String::from_utf8(bytes[8..8 + n].to_vec()).unwrap())
}

/// `bytes` with the metadata entry `key` set to `value` (the header may change length:
/// it is padded to a multiple of 8 again, and the data follows unchanged).
fn set_meta(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    let (n, text) = header(bytes);
    let from = format!("\"{key}\":\"");
    let at = text.find(&from).unwrap_or_else(|| panic!("no `{key}` in {text}")) + from.len();
    let end = at + text[at..].find('"').unwrap();
    let mut text = format!("{}{value}{}", &text[..at], &text[end..]).trim_end().to_string();
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// `bytes` with the `U64` scalar tensor `name` set to `value`.
fn set_u64(bytes: &[u8], name: &str, value: u64) -> Vec<u8> {
    let (n, text) = header(bytes);
    let entry = &text[text.find(&format!("\"{name}\":{{")).unwrap()..];
    let offsets = &entry[entry.find("\"data_offsets\":[").unwrap() + 16..];
    let start: usize = offsets[..offsets.find(',').unwrap()].parse().unwrap();
    let mut out = bytes.to_vec();
    out[8 + n + start..8 + n + start + 8].copy_from_slice(&value.to_le_bytes());
    out
}

/// Loads `bytes` into a fresh trainer: the error, after checking that nothing changed.
fn load_err(bytes: &[u8]) -> SerializeError {
    let mut t = trainer();
    let before = (t.net().fc1.weight, t.steps(), t.is_mid_epoch());
    let err = t.load_checkpoint_bytes(bytes).expect_err("a checkpoint out of reach must not load");
    assert_eq!(before, (t.net().fc1.weight, t.steps(), t.is_mid_epoch()), "{err}");
    assert!(t.optimizer().state().is_empty(), "{err}");
    err
}

/// Loads `bytes` (expected to load) and trains to the end: must neither panic nor leave
/// a non-finite weight.
fn load_and_train(bytes: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut t = trainer();
        t.load_checkpoint_bytes(bytes).map_err(|e| e.to_string())?;
        t.fit(&data(), None, &mut ()).map_err(|e| e.to_string())?;
        Ok(())
    }))
    .map_err(|_| String::from("panicked"))?
}

#[test]
fn the_file_as_saved_loads_and_trains_on() {
    load_and_train(&saved()).unwrap();
    // The helpers rewrite what they say and nothing else.
    let same = set_meta(&saved(), "trainer.batch", "2");
    load_and_train(&same).unwrap();
    load_and_train(&set_u64(&saved(), "optimizer.step", 10)).unwrap();
}

#[test]
fn counters_at_u64_max_are_refused_at_load_naming_the_field() {
    let bytes = saved();
    let max = u64::MAX.to_string();
    let cases = [
        (set_meta(&bytes, "run.step", &max), "`run.step`"),
        (set_meta(&bytes, "trainer.batch", &max), "`trainer.batch`"),
        (set_meta(&bytes, "trainer.correct", &max), "`trainer.correct`"),
        (set_meta(&bytes, "trainer.samples", &max), "`trainer.samples`"),
        (set_u64(&bytes, "optimizer.step", u64::MAX), "`optimizer.step`"),
    ];
    for (bad, field) in cases {
        let err = load_err(&bad);
        assert!(matches!(err, SerializeError::Checkpoint { .. }), "{field}: {err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    // Through the low-level API too: a step count no further step can count.
    let mut net = Net::default();
    let mut adam = Adam::new(1e-2f32);
    let bad = set_u64(&bytes, "optimizer.step", u64::MAX);
    let err = checkpoint::load_bytes(&mut net, &mut adam, &bad).unwrap_err();
    assert!(err.to_string().contains("`optimizer.step`: u64::MAX steps"), "{err}");
    assert_eq!(adam.steps(), 0);
}

#[test]
fn counters_that_do_not_add_up_are_refused_naming_the_field() {
    let bytes = saved();
    let cases = [
        // Within range, but not this run's.
        (set_meta(&bytes, "run.step", "11"), "`run.step`: 11 steps, but the history records 10"),
        (set_meta(&bytes, "trainer.batch", "3"), "`trainer.batch`: 3 batches of 8 do not serve 16 samples"),
        (set_meta(&bytes, "trainer.samples", "17"), "`trainer.samples`: 17 samples summed, but 16 served"),
        (set_meta(&bytes, "trainer.correct", "17"), "`trainer.correct`: 17 correct of 16 samples"),
        (set_meta(&bytes, "trainer.since_best", "5"), "`trainer.since_best`: 5 epochs without improvement, of 1"),
        (set_meta(&bytes, "trainer.loss_sum", "NaN"), "`trainer.loss_sum`: not finite"),
        (set_u64(&bytes, "optimizer.step", 11), "`optimizer.step`: `step` is 11, beyond the run's 10 steps"),
    ];
    for (bad, message) in cases {
        let err = load_err(&bad);
        assert!(err.to_string().contains(message), "{message}: {err}");
    }
}

#[test]
fn an_optimizer_step_count_at_its_limit_is_an_error_never_a_panic_or_nans() {
    // What a crafted file used to reach: Adam at u64::MAX steps. In a debug build the next
    // step overflowed (a panic); in release it wrapped to t = 0, and 1 - β^0 = 0 made every
    // weight NaN. Now the step is an error and changes nothing.
    let mut fc = Linear::<2, 1, f32>::new(&mut Rng::seed(0));
    let grad = Linear::<2, 1, f32> { weight: [[0.5, -0.5]], bias: [1.0] };
    let mut adam = Adam::new(0.1f32);
    adam.step(&mut fc, &grad);
    let bytes = checkpoint::to_bytes(&fc, &adam, &Default::default()).unwrap();
    let bytes = set_u64(&bytes, "optimizer.step", u64::MAX - 1);
    let mut fc2 = Linear::<2, 1, f32>::ZERO;
    let mut adam2 = Adam::new(1.0f32);
    checkpoint::load_bytes(&mut fc2, &mut adam2, &bytes).unwrap();
    adam2.step(&mut fc2, &grad); // to u64::MAX: fine
    let before = fc2.clone();
    let err = adam2.try_step(&mut fc2, &grad).unwrap_err();
    assert_eq!(err.to_string(), "Adam: the step count would overflow");
    assert_eq!(fc2, before);
    assert!(fc2.weight[0].iter().all(|w| w.is_finite()));
}
