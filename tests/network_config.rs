//! Settings declared in `network!` (`Dropout(0.2)`, `LeakyReLU(0.5)`,
//! `BatchNorm2d<2>(eps = 1e-3, momentum = 0.01)`) hold in every value of the network: its
//! `Default`, `new`, a clone, its twins over `Dual` and `f64` made by `convert`, and a copy
//! loaded from a file. A layer's settings are visited by name (`visit_config`), so a twin
//! computes what the original does.

use std::marker::PhantomData;

use monograd::core::module::{convert, copy_config, OutputShape, Path};
use monograd::nn::serialize::safetensors::{self, LoadOptions};
use monograd::prelude::*;

network! {
    /// One of each configurable built-in layer, none with its default settings.
    pub struct Configured {
        input x: [2, 2, 2],
        bn2: BatchNorm2d<2>(eps = 1e-3, momentum = 0.01),
        flat: Flatten,
        fc: Linear<8, 6>,
        ln: LayerNorm<6>(1e-6),
        bn1: BatchNorm1d<6>(2e-4, 0.3),
        leaky: LeakyReLU(0.5),
        drop: Dropout(0.2),
        fc2: Linear<6, 4>,
        elu: ELU(alpha = 0.25),
        cum: BatchNorm1d<4>(cumulative = true),
    }
}

/// The declared settings, by name, in visiting order.
const DECLARED: &[(&str, f64)] = &[
    ("bn2.eps", 1e-3),
    ("bn2.momentum", 0.01),
    ("ln.eps", 1e-6),
    ("bn1.eps", 2e-4),
    ("bn1.momentum", 0.3),
    ("leaky.negative_slope", 0.5),
    ("drop.p", 0.2),
    ("elu.alpha", 0.25),
    ("cum.eps", 1e-5),
];

/// Every setting of `m`, with the cumulative average's unset momentum checked apart
/// (NaN compares unequal to itself).
fn settings<T: Scalar, M: Module<T>>(m: &M) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    m.visit_config(&Path::ROOT, &mut |s| out.push((s.path.to_string(), *s.value)));
    let cum = out.iter().position(|(n, _)| n == "cum.momentum").expect("the cumulative norm's momentum");
    assert!(out.remove(cum).1.is_nan(), "an unset momentum is handed out as NaN");
    out
}

fn assert_declared<T: Scalar, M: Module<T>>(m: &M, what: &str) {
    let got = settings(m);
    let want: Vec<(String, f64)> = DECLARED.iter().map(|&(n, v)| (n.to_string(), v)).collect();
    assert_eq!(got, want, "{what}");
}

/// The fields themselves, not only what `visit_config` reports.
fn assert_fields<T: Scalar>(net: &Configured<T>, what: &str) {
    assert_eq!((net.bn2.eps, net.bn2.momentum), (1e-3, Some(0.01)), "{what}");
    assert_eq!(net.ln.eps, 1e-6, "{what}");
    assert_eq!((net.bn1.eps, net.bn1.momentum), (2e-4, Some(0.3)), "{what}");
    assert_eq!(net.leaky.negative_slope, 0.5, "{what}");
    assert_eq!(net.drop.p, 0.2, "{what}");
    assert_eq!(net.elu.alpha, 0.25, "{what}");
    assert_eq!(net.cum.momentum, None, "{what}");
}

#[test]
fn default_new_and_clone_keep_the_declared_settings() {
    let d = Configured::<f32>::default();
    assert_fields(&d, "Default");
    assert_declared(&d, "Default");
    let n = Configured::<f32>::new(&mut Rng::seed(1));
    assert_fields(&n, "new");
    assert_declared(&n, "new");
    assert_fields(&n.clone(), "clone");
    // Over other scalars too: `Default` is generic.
    assert_fields(&Configured::<f64>::default(), "Default at f64");
    assert_fields(&Configured::<Dual<f32, 1>>::default(), "Default at Dual");
}

#[test]
fn the_summary_shows_the_settings() {
    let summary = Configured::summary();
    let layers: Vec<&str> = summary.rows.iter().map(|r| r.layer).collect();
    assert!(layers.contains(&"BatchNorm2d<2>(eps = 1e-3, momentum = 0.01)"), "{layers:?}");
    assert!(layers.contains(&"Dropout(0.2)") && layers.contains(&"LeakyReLU(0.5)"), "{layers:?}");
    assert!(layers.contains(&"Linear<8, 6>"), "{layers:?}");
}

#[test]
fn convert_copies_settings_into_targets_with_other_settings() {
    let net = Configured::new(&mut Rng::seed(2));

    // Targets whose settings differ from the declaration in every layer, so that a
    // setting left alone would show.
    let mut dual = Configured::<Dual<f32, 1>> {
        bn2: BatchNorm2d::new(),
        ln: LayerNorm::new(),
        bn1: BatchNorm1d::new(),
        leaky: LeakyReLU::default(),
        drop: Dropout::default(),
        elu: ELU::default(),
        cum: BatchNorm1d::new(),
        ..Default::default()
    };
    convert(&net, &mut dual, Dual::constant);
    assert_fields(&dual, "convert to Dual<f32, 1>");
    assert_declared(&dual, "convert to Dual<f32, 1>");

    let mut wide = Configured::<f64> {
        leaky: LeakyReLU::new(0.01),
        drop: Dropout::new(0.9),
        cum: BatchNorm1d::new().momentum(0.5),
        ..Default::default()
    };
    convert(&net, &mut wide, f64::from);
    assert_fields(&wide, "convert to f64");
    // Counters come along too: the dropout masks of the twin are the original's.
    assert_eq!((wide.drop.seed, wide.drop.step), (net.drop.seed, net.drop.step));
}

#[test]
fn copy_config_alone_leaves_tensors() {
    let net = Configured::<f32>::new(&mut Rng::seed(3));
    let mut other = Configured::<f64> { leaky: LeakyReLU::new(0.01), ..Default::default() };
    other.fc.weight[0][0] = 7.0;
    copy_config(&net, &mut other);
    assert_eq!(other.leaky.negative_slope, 0.5);
    assert_eq!(other.fc.weight[0][0], 7.0);
}

#[test]
fn loading_keeps_the_targets_settings() {
    let mut net = Configured::new(&mut Rng::seed(4));
    // Train a little so that the running statistics and counters differ from new ones.
    let mut st = Configured::state::<Heap>();
    let x: Vec<f32> = (0..3 * 8).map(|i| (i as f32 * 0.37).sin()).collect();
    net.forward_train(&x, &mut st).unwrap();

    let dir = std::env::temp_dir().join(format!("monograd-network-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("configured.safetensors");
    safetensors::save(&net, &file).unwrap();

    let mut loaded = Configured::<f32>::default();
    safetensors::load(&mut loaded, &file, &LoadOptions::strict()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_fields(&loaded, "loaded from a file");
    assert_eq!(loaded.bn1.running_mean, net.bn1.running_mean);
    assert_eq!(loaded.bn2.num_batches_tracked, 1);

    // A target configured otherwise keeps its own settings: files hold tensors only.
    let mut other = Configured::<f32> { leaky: LeakyReLU::new(0.125), ..Default::default() };
    safetensors::load_bytes(
        &mut other,
        &safetensors::to_bytes(&net, &Default::default()).unwrap(),
        &LoadOptions::strict(),
    )
    .unwrap();
    assert_eq!(other.leaky.negative_slope, 0.125);
}

network! {
    /// A leaky ReLU with a slope far from the default, fused into the layer before it.
    pub struct Leaky {
        input: [3],
        fc: Linear<3, 4>,
        act: LeakyReLU(0.5),
        out: Linear<4, 2>,
    }
}

#[test]
fn the_dual_twin_of_a_leaky_relu_net_computes_the_same_outputs() {
    let net = Leaky::new(&mut Rng::seed(5));
    let mut dual = Leaky::<Dual<f32, 1>>::default();
    convert(&net, &mut dual, Dual::constant);

    // Inputs that make some pre-activations negative, where the slope matters.
    let x: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 1.3).sin() * 3.0).collect();
    let xd: Vec<Dual<f32, 1>> = x.iter().map(|&v| Dual::constant(v)).collect();
    let y = net.forward(&x, &mut Leaky::state::<Heap>()).unwrap().to_vec();
    let yd: Vec<f32> =
        dual.forward(&xd, &mut Leaky::<Dual<f32, 1>>::state::<Heap>()).unwrap().iter().map(|d| d.re).collect();
    assert_eq!(y, yd);

    // The slope was exercised: with the default slope the outputs differ.
    let mut wrong = dual.clone();
    wrong.act = LeakyReLU::default();
    let yw: Vec<f32> =
        wrong.forward(&xd, &mut Leaky::<Dual<f32, 1>>::state::<Heap>()).unwrap().iter().map(|d| d.re).collect();
    assert_ne!(y, yw);
}

network! {
    /// The same network with the slope left to be set on the built value.
    pub struct LeakyAfter {
        input: [3],
        fc: Linear<3, 4>,
        act: LeakyReLU,
        out: Linear<4, 2>,
    }
}

#[test]
fn a_slope_set_after_construction_reaches_the_dual_twin() {
    let mut net = LeakyAfter::new(&mut Rng::seed(5));
    net.act = LeakyReLU::new(0.5);
    // The twin starts with the default slope: only `convert` can tell it otherwise.
    let mut dual = LeakyAfter::<Dual<f32, 1>>::default();
    convert(&net, &mut dual, Dual::constant);
    assert_eq!(dual.act.negative_slope, 0.5);

    let x: Vec<f32> = (0..4 * 3).map(|i| (i as f32 * 1.3).sin() * 3.0).collect();
    let xd: Vec<Dual<f32, 1>> = x.iter().map(|&v| Dual::constant(v)).collect();
    let y = net.forward(&x, &mut LeakyAfter::state::<Heap>()).unwrap().to_vec();
    let mut st = LeakyAfter::<Dual<f32, 1>>::state::<Heap>();
    let yd: Vec<f32> = dual.forward(&xd, &mut st).unwrap().iter().map(|d| d.re).collect();
    assert_eq!(y, yd);
}

#[test]
fn non_literal_settings_are_checked_at_construction() {
    network! {
        struct Computed {
            input: [2],
            drop: Dropout(probability()),
        }
    }
    fn probability() -> f64 {
        std::hint::black_box(1.5)
    }
    let caught = std::panic::catch_unwind(Computed::<f32>::default).expect_err("a panic");
    let msg = caught.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("Dropout: the probability must be in [0, 1]"), "{msg}");
}

/// A layer of the user's with settings: `configured(..)` takes the positional ones, and a
/// method of the same name each named one; `#[module(config)]` hands them to `convert`.
#[derive(Clone, Module)]
pub struct Scaled<T: Scalar = f32> {
    #[module(config)]
    factor: f64,
    #[module(config)]
    shift: f64,
    _t: PhantomData<T>,
}

impl<T: Scalar> Default for Scaled<T> {
    fn default() -> Self {
        Scaled { factor: 1.0, shift: 0.0, _t: PhantomData }
    }
}

impl<T: Scalar> Scaled<T> {
    fn configured(factor: f64) -> Self {
        Scaled { factor, ..Self::default() }
    }
    fn shift(mut self, shift: f64) -> Self {
        self.shift = shift;
        self
    }
}

impl<T: Scalar, S: Shape> OutputShape<S> for Scaled<T> {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Scaled<T> {
    type Cache = ();
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = T::from_f64(self.factor) * x + T::from_f64(self.shift);
        }
    }
    fn backward(&self, _: &[T], _: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            for (dx, &dy) in dx.iter_mut().zip(dy) {
                *dx += T::from_f64(self.factor) * dy;
            }
        }
    }
}

network! {
    pub struct WithUserLayer<T: Scalar = f32> {
        input: [2],
        s: Scaled<T>(3.0, shift = 0.5),
        named: Scaled<T>(shift = -1.0),
    }
}

#[test]
fn user_layers_take_settings_through_configured_and_methods() {
    let net = WithUserLayer::<f32>::new(&mut Rng::seed(6));
    assert_eq!((net.s.factor, net.s.shift), (3.0, 0.5));
    // Only named settings: the rest is the layer's default.
    assert_eq!((net.named.factor, net.named.shift), (1.0, -1.0));
    // (3 x + 0.5) - 1
    let mut st = WithUserLayer::<f32>::state::<Heap>();
    let y = net.forward(&[1.0, 2.0], &mut st).unwrap();
    assert_eq!(y, [2.5, 5.5]);

    // The derive hands the settings out by name, so a twin over `f64` gets them too.
    let names: Vec<String> = {
        let mut out = Vec::new();
        net.visit_config(&Path::ROOT, &mut |s| out.push(format!("{}={}", s.path, s.value)));
        out
    };
    assert_eq!(names, ["s.factor=3", "s.shift=0.5", "named.factor=1", "named.shift=-1"]);
    let mut wide = WithUserLayer::<f64> { s: Scaled::default(), ..Default::default() };
    convert(&net, &mut wide, f64::from);
    assert_eq!((wide.s.factor, wide.s.shift), (3.0, 0.5));
}

network! {
    /// PyTorch's MLP fixture (`fc1`, `bn`, `fc2`), with settings and layers without tensors.
    pub struct ConfiguredMlp {
        input: [6],
        fc1: Linear<6, 16>,
        bn: BatchNorm1d<16>(eps = 1e-3, momentum = MOMENTUM),
        act: LeakyReLU(0.5),
        drop: Dropout(0.2),
        fc2: Linear<16, 4>,
    }
}

const MOMENTUM: f64 = 0.01;

/// Built at compile time: the settings are applied to the embedded layers.
static EMBEDDED: ConfiguredMlp = include_weights!(ConfiguredMlp, "fixtures/torch/mlp.safetensors");

#[test]
fn include_weights_keeps_the_declared_settings() {
    assert_eq!((EMBEDDED.bn.eps, EMBEDDED.bn.momentum), (1e-3, Some(0.01)));
    assert_eq!((EMBEDDED.act.negative_slope, EMBEDDED.drop.p), (0.5, 0.2));
    // The same network loaded at run time computes the same thing.
    let mut loaded = ConfiguredMlp::default();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torch/mlp.safetensors");
    safetensors::load(&mut loaded, file, &LoadOptions::strict()).unwrap();
    let x: Vec<f32> = (0..2 * 6).map(|i| (i as f32 * 0.7).cos() * 2.0).collect();
    let a = EMBEDDED.forward(&x, &mut ConfiguredMlp::state::<Heap>()).unwrap().to_vec();
    let b = loaded.forward(&x, &mut ConfiguredMlp::state::<Heap>()).unwrap().to_vec();
    assert_eq!(a, b);
}
