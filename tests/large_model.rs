//! Models larger than a stack: a network with a 4096 x 4096 layer (64 MiB of parameters)
//! is built, trained, saved and loaded on a thread whose whole stack is 2 MiB, so any
//! step that put the network (or its gradient, or a copy) on the stack would overflow it.

use std::path::PathBuf;

use monograd::core::boxed::InPlace;
use monograd::core::module::Path;
use monograd::nn::serialize::safetensors::{load, save, LoadOptions};
use monograd::prelude::*;

network! {
    /// 64 MiB of parameters in `fc1` alone.
    pub struct Big {
        input x: [4096],
        fc1: Linear<4096, 4096>,
        act: ReLU,
        fc2: Linear<4096, 10>,
    }
}

network! {
    /// Small, with every kind of setting a layer keeps beside its tensors.
    pub struct Settings {
        input x: [4],
        fc: Linear<4, 6>,
        bn: BatchNorm1d<6>(eps = 1e-3, momentum = 0.01),
        act: LeakyReLU(0.3),
        drop: Dropout(0.2),
        norm: LayerNorm<6>(1e-4),
        head: Linear<6, 3>,
    }
}

/// The stack of the thread each test runs in: the 4096 x 4096 layer alone is 32 times this.
const STACK: usize = 2 << 20;

fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new().stack_size(STACK).spawn(f).expect("a thread").join().expect("no panic")
}

/// Every tensor's values as bits, and every counter, by name in visiting order.
type Fingerprint = (Vec<(String, Vec<u32>)>, Vec<(String, u64)>);

fn fingerprint<M: Module<f32>>(m: &M) -> Fingerprint {
    let mut tensors = Vec::new();
    m.visit(&Path::ROOT, &mut |t| tensors.push((t.path.to_string(), t.values.iter().map(|v| v.to_bits()).collect())));
    let mut counters = Vec::new();
    m.visit_counters(&Path::ROOT, &mut |c| counters.push((c.path.to_string(), *c.value)));
    (tensors, counters)
}

/// A hash of the values' bits (FNV-1a over each value): differs when any value does,
/// but for collisions.
fn checksum(values: &[f32]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| (h ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3))
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monograd-large-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir.join("big.safetensors")
}

#[test]
fn a_64_mib_network_trains_saves_and_loads_on_a_2_mib_stack() {
    const { assert!(Big::PARAM_BYTES > 32 * STACK) };
    let path = temp_file("roundtrip");
    let file = path.clone();
    let (net, history) = on_small_stack(move || {
        let net: Box<Big> = Big::boxed(&mut Rng::seed(0));
        let fc1_before = checksum(net.fc1.weight.as_flattened());
        let fc2_before = checksum(net.fc2.weight.as_flattened());

        // Two samples of 4096 features and their classes (few, so that a debug build
        // multiplies quickly); one batch per epoch, validated on the same data so that early
        // stopping keeps (and copies) the best weights.
        let mut rng = Rng::seed(1);
        let x: Vec<f32> = (0..2 * 4096).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let data = Dataset::new(x, vec![3, 7], 4096).expect("a dataset");
        let mut trainer = Trainer::from_box(net, Adam::new(1e-4), CrossEntropyLoss::new())
            .epochs(2)
            .batch_size(2)
            .eval_batch_size(2)
            .early_stopping(EarlyStopping::new(5));
        let history = trainer.fit(&data, Some(&data), &mut ()).expect("training").clone();
        let net = trainer.into_net();
        assert_ne!(checksum(net.fc1.weight.as_flattened()), fc1_before, "Adam moved the large layer");
        assert_ne!(checksum(net.fc2.weight.as_flattened()), fc2_before);

        save(&*net, &file).expect("saved");
        (net, history)
    });
    // Each epoch's training loss is that of the batch before its step; the validation loss
    // comes after it.
    let [first, second] = [&history.epochs[0], &history.epochs[1]];
    let val = |e: &monograd::nn::train::EpochReport| e.val.as_ref().expect("validated").loss;
    assert!(val(first) < first.train.loss, "{history:?}");
    assert!(second.train.loss < first.train.loss && val(second) < val(first), "{history:?}");
    assert_eq!(history.epochs.len(), 2);

    let loaded = on_small_stack(move || {
        let mut back = Big::boxed_default();
        load(&mut *back, &path, &LoadOptions::strict()).expect("loaded");
        std::fs::remove_dir_all(path.parent().expect("a directory")).expect("cleaned up");
        back
    });
    // A different value before loading, the saved one after, to the bit.
    assert_eq!(fingerprint(&*loaded), fingerprint(&*net));
}

#[test]
fn copies_and_gradients_of_a_64_mib_network_stay_on_the_heap() {
    on_small_stack(|| {
        let net: Box<Big> = Big::boxed(&mut Rng::seed(2));
        let grad = monograd::core::boxed::boxed_zeros_like(&*net);
        assert!(grad.fc1.weight.as_flattened().iter().all(|&g| g == 0.0));
        let mut copy = monograd::core::boxed::boxed_clone(&*net);
        assert_eq!(copy.fc1.weight[4095], net.fc1.weight[4095]);
        copy.fc1.weight[0][0] += 1.0;
        copy.copy_from(&net);
        assert_eq!(copy.fc1.weight[0][0], net.fc1.weight[0][0]);
    });
}

#[test]
fn boxed_builds_what_new_builds() {
    let mut rng = Rng::seed(5);
    let on_stack = Settings::new(&mut rng);
    // No annotation needed: `Settings::boxed` is the `f32` network's, as `new` is.
    let boxed = Settings::boxed(&mut Rng::seed(5));
    // The declared settings, not the layers' defaults.
    assert_eq!((boxed.act.negative_slope, boxed.norm.eps), (0.3, 1e-4));
    assert_eq!(fingerprint(&*boxed), fingerprint(&on_stack));
    // Settings are not tensors: compared one by one.
    assert_eq!((boxed.bn.momentum, boxed.bn.eps), (on_stack.bn.momentum, on_stack.bn.eps));
    assert_eq!(boxed.act.negative_slope, on_stack.act.negative_slope);
    assert_eq!(boxed.drop, on_stack.drop);
    assert_eq!(boxed.norm.eps, on_stack.norm.eps);

    let default = Settings::default();
    let boxed_default: Box<Settings> = Settings::boxed_default();
    assert_eq!(fingerprint(&*boxed_default), fingerprint(&default));
    assert_eq!((boxed_default.bn.momentum, boxed_default.bn.eps), (default.bn.momentum, default.bn.eps));
    assert_eq!(boxed_default.act.negative_slope, default.act.negative_slope);
    assert_eq!(boxed_default.drop, default.drop);
    assert_eq!(boxed_default.norm.eps, default.norm.eps);
}

#[test]
fn summary_warns_about_networks_too_large_for_the_stack() {
    let text = Big::summary().to_string();
    assert!(
        text.ends_with(
            "warning: `Big` holds 64.2 MiB of parameters inline; build it with `Big::boxed(&mut rng)` \
             rather than `Big::new`, which returns it on the stack"
        ),
        "{text}"
    );
    assert!(!Settings::summary().to_string().contains("warning"));
}

network! {
    /// 4 MiB of parameters: twice the test threads' stack, cheap enough to checkpoint.
    pub struct Medium {
        input x: [1024],
        fc1: Linear<1024, 1024>,
        act: ReLU,
        fc2: Linear<1024, 10>,
    }
}

#[test]
fn a_checkpoint_of_a_network_larger_than_the_stack_resumes_on_that_stack() {
    const { assert!(Medium::PARAM_BYTES > STACK) };
    let path = temp_file("checkpoint");
    let (saved, resumed) = on_small_stack(move || {
        let mut rng = Rng::seed(3);
        let x: Vec<f32> = (0..2 * 1024).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let data = Dataset::new(x, vec![1, 2], 1024).expect("a dataset");
        let trainer = |net| {
            Trainer::from_box(net, Adam::new(1e-3), CrossEntropyLoss::new())
                .epochs(2)
                .batch_size(2)
                .early_stopping(EarlyStopping::new(3))
        };
        let mut first = trainer(Medium::boxed(&mut Rng::seed(4)));
        first.epoch(&data, Some(&data), &mut ()).expect("an epoch");
        first.save_checkpoint(&path).expect("saved");
        // A different network, until the checkpoint puts the first one's state back.
        let mut second = trainer(Medium::boxed(&mut Rng::seed(5)));
        second.load_checkpoint(&path).expect("loaded");
        std::fs::remove_dir_all(path.parent().expect("a directory")).expect("cleaned up");
        first.epoch(&data, Some(&data), &mut ()).expect("an epoch");
        second.epoch(&data, Some(&data), &mut ()).expect("an epoch");
        (fingerprint(first.net()), fingerprint(second.net()))
    });
    assert_eq!(resumed, saved);
}

/// The control: the same network built by value overflows the same stack (in a child
/// process, since an overflow aborts the process), so the tests above would catch any
/// step that put it on the stack.
#[test]
fn built_by_value_the_network_overflows_that_stack() {
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "overflow_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
}

const CHILD: &str = "MONOGRAD_LARGE_MODEL_OVERFLOW_CHILD";

#[test]
#[ignore = "run by `built_by_value_the_network_overflows_that_stack` in a child process"]
fn overflow_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    on_small_stack(|| {
        let net: Big = Big::new(&mut Rng::seed(0));
        std::hint::black_box(&net);
    });
}
