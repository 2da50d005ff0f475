//! `#[derive(Module)]` through the facade, as a user crate writes it: names, shapes,
//! kinds, `PARAMS`, offsets, freezing, skipping and zeroing.

use monograd::core::module::{Kind, Path};
use monograd::prelude::*;

#[derive(Clone, Debug, PartialEq, Module)]
struct Encoder<T: Scalar = f32> {
    fc1: Linear<4, 8, T>,
    fc2: Linear<8, 2, T>,
}

#[derive(Clone, Debug, PartialEq, Module)]
struct AutoEncoder<T: Scalar = f32> {
    encoder: Encoder<T>,
    blocks: [Linear<2, 2, T>; 3],
    decoder: Linear<2, 4, T>,
    /// Raw parameters: shape `[4]`, and `[2, 4]` (outer dimension first).
    scale: [T; 4],
    mix: [[T; 4]; 2],
}

/// The classic MNIST MLP, built from `Linear` fields (f32: no type parameter).
#[derive(Clone, Module)]
struct Mnist {
    fc1: Linear<784, 256>,
    fc2: Linear<256, 128>,
    fc3: Linear<128, 10>,
}

#[derive(Clone, Debug, PartialEq, Module)]
struct Block<const N: usize> {
    fc: Linear<N, N>,
}

#[derive(Clone, Debug, PartialEq, Module)]
struct Tower<const N: usize, const DEPTH: usize> {
    blocks: [Block<N>; DEPTH],
}

#[derive(Clone, Debug, PartialEq, Module)]
struct FineTune {
    #[module(freeze)]
    backbone: Encoder,
    head: Linear<2, 1>,
    #[module(freeze)]
    offset: [f32; 1],
    #[module(skip)]
    steps: u32,
    #[module(skip)]
    label: &'static str,
}

#[derive(Clone, Debug, PartialEq, Module)]
#[module(scalar = f64)]
struct Pair(Linear<2, 2, f64>, [f64; 2]);

/// `(name, kind, shape, length)` of every tensor, in visiting order.
fn tensors<T: Scalar, M: Module<T>>(model: &M) -> Vec<(String, Kind, Vec<usize>, usize)> {
    let mut out = Vec::new();
    model.visit(&Path::ROOT, &mut |t| out.push((t.path.to_string(), t.kind, t.shape.to_vec(), t.values.len())));
    out
}

fn names<T: Scalar, M: Module<T>>(model: &M) -> Vec<String> {
    tensors(model).into_iter().map(|t| t.0).collect()
}

/// `(name, offset, length)` of every tensor `visit_update` passes.
fn updates<T: Scalar, M: Module<T>>(model: &mut M) -> (Vec<(String, usize, usize)>, usize) {
    let grad = model.zeros_like();
    let mut offset = 0;
    let mut out = Vec::new();
    model.visit_update(&grad, &Path::ROOT, &mut offset, &mut |u| {
        assert_eq!(u.value.len(), u.grad.len());
        out.push((u.path.to_string(), u.offset, u.value.len()));
    });
    (out, offset)
}

fn encoder<T: Scalar>(rng: &mut Rng) -> Encoder<T> {
    Encoder { fc1: Linear::new(rng), fc2: Linear::new(rng) }
}

fn autoencoder<T: Scalar>(seed: u64) -> AutoEncoder<T> {
    let mut rng = Rng::seed(seed);
    AutoEncoder {
        encoder: encoder(&mut rng),
        blocks: [Linear::new(&mut rng), Linear::new(&mut rng), Linear::new(&mut rng)],
        decoder: Linear::new(&mut rng),
        scale: [T::ONE; 4],
        mix: [[T::from_f64(0.5); 4]; 2],
    }
}

fn fine_tune() -> FineTune {
    let mut rng = Rng::seed(3);
    FineTune { backbone: encoder(&mut rng), head: Linear::new(&mut rng), offset: [0.25], steps: 7, label: "fine-tune" }
}

#[test]
fn names_are_dotted_paths_in_declaration_order() {
    let model = autoencoder::<f32>(0);
    let seen = tensors(&model);
    let expected: Vec<(&str, &[usize])> = vec![
        ("encoder.fc1.weight", &[8, 4]),
        ("encoder.fc1.bias", &[8]),
        ("encoder.fc2.weight", &[2, 8]),
        ("encoder.fc2.bias", &[2]),
        ("blocks.0.weight", &[2, 2]),
        ("blocks.0.bias", &[2]),
        ("blocks.1.weight", &[2, 2]),
        ("blocks.1.bias", &[2]),
        ("blocks.2.weight", &[2, 2]),
        ("blocks.2.bias", &[2]),
        ("decoder.weight", &[4, 2]),
        ("decoder.bias", &[4]),
        ("scale", &[4]),
        ("mix", &[2, 4]),
    ];
    assert_eq!(seen.len(), expected.len());
    for ((name, kind, shape, len), (want_name, want_shape)) in seen.iter().zip(&expected) {
        assert_eq!((name.as_str(), shape.as_slice()), (*want_name, *want_shape));
        assert_eq!(*kind, Kind::Param);
        assert_eq!(*len, shape.iter().product::<usize>(), "{name}");
    }
}

#[test]
fn visit_mut_walks_the_same_tensors_and_writes_land_in_the_fields() {
    let mut model = autoencoder::<f64>(1);
    let mut k = 0.0;
    let mut order = Vec::new();
    model.visit_mut(&Path::ROOT, &mut |t| {
        order.push((t.path.to_string(), t.shape.to_vec(), t.values.len()));
        t.values.fill(k);
        k += 1.0;
    });
    let read: Vec<_> = tensors(&model).into_iter().map(|(n, _, s, l)| (n, s, l)).collect();
    assert_eq!(order, read);
    assert_eq!(model.encoder.fc1.weight, [[0.0; 4]; 8]);
    assert_eq!(model.encoder.fc2.bias, [3.0; 2]);
    assert_eq!(model.blocks[2].bias, [9.0; 2]);
    assert_eq!(model.scale, [12.0; 4]);
    assert_eq!(model.mix, [[13.0; 4]; 2]);
}

#[test]
fn params_sum_the_fields() {
    assert_eq!(<Mnist as Module<f32>>::PARAMS, 235_146);
    assert_eq!(<Mnist as Module<f32>>::PARAMS, (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10));
    let ae = (4 * 8 + 8) + (8 * 2 + 2) + 3 * (2 * 2 + 2) + (2 * 4 + 4) + 4 + 2 * 4;
    assert_eq!(<AutoEncoder as Module<f32>>::PARAMS, ae);
    assert_eq!(<AutoEncoder<f64> as Module<f64>>::PARAMS, ae);
    let visited: usize = tensors(&autoencoder::<f32>(0)).iter().map(|t| t.3).sum();
    assert_eq!(visited, ae);
    // Frozen fields count, skipped ones do not.
    assert_eq!(<FineTune as Module<f32>>::PARAMS, 58 + 3 + 1);
    assert_eq!(<Tower<3, 4> as Module<f32>>::PARAMS, 4 * (3 * 3 + 3));
    assert_eq!(<Pair as Module<f64>>::PARAMS, 6 + 2);
}

#[test]
fn generic_over_the_scalar_and_over_dimensions() {
    // The same struct over dual numbers: same names, same counts.
    let dual = autoencoder::<Dual<f64, 2>>(0);
    assert_eq!(names(&dual), names(&autoencoder::<f32>(0)));
    assert_eq!(<AutoEncoder<Dual<f64, 2>> as Module<Dual<f64, 2>>>::PARAMS, <AutoEncoder as Module<f32>>::PARAMS);

    let tower = Tower::<3, 2> { blocks: [Block { fc: Linear::ZERO }, Block { fc: Linear::ZERO }] };
    assert_eq!(names(&tower), ["blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight", "blocks.1.fc.bias"]);

    let pair = Pair(Linear::ZERO, [1.0, 2.0]);
    assert_eq!(
        tensors(&pair),
        [
            ("0.weight".to_string(), Kind::Param, vec![2, 2], 4),
            ("0.bias".to_string(), Kind::Param, vec![2], 2),
            ("1".to_string(), Kind::Param, vec![2], 2),
        ]
    );
}

#[test]
fn visit_update_passes_trainable_tensors_at_their_offsets() {
    let mut model = autoencoder::<f32>(2);
    let (passed, end) = updates(&mut model);
    // Everything is trainable: offsets are the running sums of the visited lengths.
    let mut expected = Vec::new();
    let mut offset = 0;
    for (name, _, _, len) in tensors(&model) {
        expected.push((name, offset, len));
        offset += len;
    }
    assert_eq!(passed, expected);
    assert_eq!(end, <AutoEncoder as Module<f32>>::PARAMS);
}

#[test]
fn frozen_fields_advance_the_offset_but_are_not_passed() {
    let mut model = fine_tune();
    let (passed, end) = updates(&mut model);
    assert_eq!(passed, [("head.weight".to_string(), 58, 2), ("head.bias".to_string(), 60, 1)]);
    assert_eq!(end, 62);
    assert_eq!(end, <FineTune as Module<f32>>::PARAMS);
}

#[test]
fn frozen_fields_are_visited_as_frozen_and_skipped_ones_not_at_all() {
    let model = fine_tune();
    let seen = tensors(&model);
    let kinds: Vec<(&str, Kind)> = seen.iter().map(|t| (t.0.as_str(), t.1)).collect();
    assert_eq!(
        kinds,
        [
            ("backbone.fc1.weight", Kind::Frozen),
            ("backbone.fc1.bias", Kind::Frozen),
            ("backbone.fc2.weight", Kind::Frozen),
            ("backbone.fc2.bias", Kind::Frozen),
            ("head.weight", Kind::Param),
            ("head.bias", Kind::Param),
            ("offset", Kind::Frozen),
        ]
    );
    // visit_mut reports the same kinds.
    let mut model = model;
    let mut kinds_mut = Vec::new();
    model.visit_mut(&Path::ROOT, &mut |t| kinds_mut.push(t.kind));
    assert_eq!(kinds_mut, seen.iter().map(|t| t.1).collect::<Vec<_>>());
}

#[test]
fn sgd_updates_trainable_parameters_only() {
    let mut model = fine_tune();
    let before = model.clone();
    let mut grad = model.zeros_like();
    grad.visit_mut(&Path::ROOT, &mut |t| t.values.fill(1.0));
    Sgd::new(0.5).step(&mut model, &grad);

    assert_eq!(model.backbone, before.backbone);
    assert_eq!(model.offset, before.offset);
    assert_eq!((model.steps, model.label), (7, "fine-tune"));
    for (after, before) in model.head.weight.as_flattened().iter().zip(before.head.weight.as_flattened()) {
        assert_eq!(*after, before - 0.5);
    }
    assert_eq!(model.head.bias[0], before.head.bias[0] - 0.5);
}

#[test]
fn sgd_reaches_every_parameter_of_nested_modules_and_arrays() {
    let mut model = autoencoder::<f64>(4);
    let before = model.clone();
    let mut grad = model.zeros_like();
    grad.visit_mut(&Path::ROOT, &mut |t| t.values.fill(2.0));
    Sgd::new(0.25).step(&mut model, &grad);
    let mut deltas = Vec::new();
    let mut old = Vec::new();
    before.visit(&Path::ROOT, &mut |t| old.extend_from_slice(t.values));
    let mut i = 0;
    model.visit(&Path::ROOT, &mut |t| {
        for v in t.values {
            deltas.push(old[i] - v);
            i += 1;
        }
    });
    assert_eq!(deltas.len(), <AutoEncoder<f64> as Module<f64>>::PARAMS);
    assert!(deltas.iter().all(|d| (d - 0.5).abs() < 1e-12));
}

#[test]
fn zero_and_zeros_like() {
    let mut model = fine_tune();
    let zeros = model.zeros_like();
    // The original is untouched; the copy is zero where visited and a copy elsewhere.
    assert_eq!(model, fine_tune());
    let mut all_zero = true;
    zeros.visit(&Path::ROOT, &mut |t| all_zero &= t.values.iter().all(|v| *v == 0.0));
    assert!(all_zero);
    assert_eq!((zeros.steps, zeros.label), (7, "fine-tune"));

    // Frozen parameters are tensors too: zeroing a model (into a gradient) clears them.
    model.zero();
    assert_eq!(model, zeros);
    assert_eq!(model.backbone, Encoder { fc1: Linear::ZERO, fc2: Linear::ZERO });

    let mut ae = autoencoder::<f32>(5);
    ae.zero();
    assert_eq!((ae.scale, ae.mix, ae.blocks[1].weight), ([0.0; 4], [[0.0; 4]; 2], [[0.0; 2]; 2]));
}

/// Every kind of field the derive builds in place: modules, arrays of modules, raw
/// parameters, layers with settings, a marker and a skipped integer.
#[derive(Clone, Debug, Default, PartialEq, Module)]
struct Mixed<T: Scalar = f32> {
    tower: [Linear<2, 2, T>; 2],
    bn: BatchNorm1d<2, T>,
    drop: Dropout,
    raw: [[T; 3]; 2],
    #[module(skip)]
    steps: u32,
    marker: core::marker::PhantomData<T>,
}

/// `model` with every tensor numbered 1, 2, ... in visiting order: unlike any default.
fn numbered<M: Module<f64>>(mut model: M) -> M {
    let mut i = 0.0;
    model.visit_mut(&Path::ROOT, &mut |t| {
        for v in t.values {
            i += 1.0;
            *v = i;
        }
    });
    model
}

#[test]
fn derived_structs_are_built_and_copied_in_place() {
    use monograd::core::boxed::{boxed_clone, boxed_default, boxed_zeros_like, InPlace};

    // Only tensors of floats: plain, so built by zeroing and copied with one memcpy.
    const { assert!(<AutoEncoder<f64> as InPlace>::PLAIN && <Tower<3, 2> as InPlace>::PLAIN) };
    // BatchNorm's `Option` and Dropout's settings are written, not zeroed.
    const { assert!(!<Mixed as InPlace>::PLAIN) };

    assert_eq!(*boxed_default::<Mixed<f64>>(), Mixed::default());
    let mut mixed = numbered(Mixed::<f64>::default());
    mixed.drop = Dropout::with_seed(0.3, 11);
    mixed.bn.momentum = None;
    mixed.steps = 9;
    assert_eq!(*boxed_clone(&mixed), mixed);
    let zeros = boxed_zeros_like::<f64, _>(&mixed);
    assert_eq!((zeros.drop, zeros.bn.momentum, zeros.steps), (mixed.drop, None, 9));
    assert_eq!(tensors(&*zeros), tensors(&mixed));
    let mut values = Vec::new();
    zeros.visit(&Path::ROOT, &mut |t| values.extend_from_slice(t.values));
    assert!(values.iter().all(|&v| v == 0.0));

    let source = numbered(AutoEncoder::<f64> {
        encoder: Encoder { fc1: Linear::ZERO, fc2: Linear::ZERO },
        blocks: [Linear::ZERO; 3],
        decoder: Linear::ZERO,
        scale: [0.0; 4],
        mix: [[0.0; 4]; 2],
    });
    let mut copy = boxed_default::<AutoEncoder<f64>>();
    assert!(copy.mix == [[0.0; 4]; 2] && copy.blocks[2] == Linear::ZERO);
    copy.copy_from(&source);
    assert_eq!(*copy, source);
    assert_eq!(*boxed_clone(&numbered(Pair(Linear::ZERO, [0.0; 2]))), numbered(Pair(Linear::ZERO, [0.0; 2])));
}
