//! Networks as building blocks: a `network!` used as a layer of another (once by name, and
//! repeated as an array), shapes the compiler computes from named constants, const
//! expressions and nested outputs, and the everyday API around them (`Net::new` with no
//! annotation, `predict`, `Debug`, errors that name the network and the node).
//!
//! Gradients of nested networks are checked against finite differences and forward mode
//! in tests/network_gradients.rs (`Nested`, `ConvNested`); what goes wrong at compile time
//! is in ui-tests/cases/network/.

use monograd::core::module::{to_vec, OutputShape, Path};
use monograd::core::storage::Fixed;
use monograd::prelude::*;

const WIDTH: usize = 4;

network! {
    /// A residual MLP block.
    pub struct Block {
        input x: [WIDTH],
        fc1: Linear<WIDTH, WIDTH>,
        act: Tanh,
        fc2: Linear<WIDTH, WIDTH>,
        sum(fc2, x): Add,
    }
}

network! {
    /// The block once, then twice more as an array.
    pub struct Outer {
        input: [3],
        stem: Linear<3, WIDTH>,
        b1: Block<T>,
        blocks: [Block<T>; 2],
        head: Linear<WIDTH, 2>,
    }
}

network! {
    /// The same computation written out by hand, one level: for comparison.
    pub struct Flat {
        input: [3],
        stem: Linear<3, WIDTH>,
        b1_fc1: Linear<WIDTH, WIDTH>,
        b1_act: Tanh,
        b1_fc2: Linear<WIDTH, WIDTH>,
        b1(b1_fc2, stem): Add,
        b2_fc1: Linear<WIDTH, WIDTH>,
        b2_act: Tanh,
        b2_fc2: Linear<WIDTH, WIDTH>,
        b2(b2_fc2, b1): Add,
        b3_fc1: Linear<WIDTH, WIDTH>,
        b3_act: Tanh,
        b3_fc2: Linear<WIDTH, WIDTH>,
        b3(b3_fc2, b2): Add,
        head: Linear<WIDTH, 2>,
    }
}

fn names<N: Module<f32>>(net: &N) -> Vec<String> {
    let mut out = Vec::new();
    net.visit(&Path::ROOT, &mut |t| out.push(t.path.to_string()));
    out
}

fn batch(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..len).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect()
}

#[test]
fn nested_parameters_are_named_as_pytorch_names_submodules() {
    let net = Outer::new(&mut Rng::seed(0));
    let names = names(&net);
    assert_eq!(names.len(), 2 + 3 * 4 + 2);
    assert_eq!(&names[..4], ["stem.weight", "stem.bias", "b1.fc1.weight", "b1.fc1.bias"]);
    assert!(names.contains(&"blocks.0.fc2.bias".to_string()), "{names:?}");
    assert!(names.contains(&"blocks.1.fc1.weight".to_string()), "{names:?}");
    assert_eq!(names[names.len() - 2..], ["head.weight", "head.bias"]);
    assert_eq!(Outer::PARAMS, 16 + 3 * 40 + 10);
}

/// Loads the nested network's parameters into the flat one, in order: same values.
fn flat_twin(net: &Outer) -> Flat {
    let mut flat = Flat::default();
    monograd::core::module::load_flat(&mut flat, &to_vec(net)).expect("the same parameters in the same order");
    flat
}

#[test]
fn a_nested_network_computes_what_the_same_layers_written_out_compute() {
    let mut net = Outer::new(&mut Rng::seed(1));
    let mut flat = flat_twin(&net);
    let x = batch(2, 5 * 3);
    let mut st = Outer::state::<Heap>();
    let mut fst = Flat::state::<Heap>();
    assert_eq!(net.forward(&x, &mut st).unwrap(), flat.forward(&x, &mut fst).unwrap());
    let y = net.forward_train(&x, &mut st).unwrap().to_vec();
    assert_eq!(y, flat.forward_train(&x, &mut fst).unwrap());

    // The same gradients, and the same input gradient.
    let dy = batch(3, y.len());
    let (mut g, mut fg) = (net.zeros_like(), flat.zeros_like());
    let dx = net.backward_input(&x, &dy, &mut g, &mut st).unwrap().to_vec();
    let fdx = flat.backward_input(&x, &dy, &mut fg, &mut fst).unwrap();
    assert_eq!(dx, fdx);
    let (gv, fgv) = (to_vec(&g), to_vec(&fg));
    for (a, b) in gv.iter().zip(&fgv) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{gv:?}\n{fgv:?}");
    }
}

#[test]
fn a_nested_network_runs_in_fixed_storage_as_on_the_heap() {
    let mut net = Outer::new(&mut Rng::seed(4));
    let x = batch(5, 3 * 3);
    let mut heap = Outer::state::<Heap>();
    let mut fixed = Outer::state::<Fixed<3>>();
    let y = net.forward_train(&x, &mut heap).unwrap().to_vec();
    assert_eq!(net.forward_train(&x, &mut fixed).unwrap(), y);
    let dy = batch(6, y.len());
    let (mut g1, mut g2) = (net.zeros_like(), net.zeros_like());
    net.backward(&x, &dy, &mut g1, &mut heap).unwrap();
    net.backward(&x, &dy, &mut g2, &mut fixed).unwrap();
    assert_eq!(to_vec(&g1), to_vec(&g2));

    // Over capacity: an error naming the network and the node, not a panic.
    let big = batch(7, 4 * 3);
    let e = net.forward(&big, &mut fixed).unwrap_err().to_string();
    assert!(e.contains("`Outer` node `stem`") && e.contains("capacity of 3"), "{e}");
}

#[test]
fn nested_networks_save_and_load_by_their_dotted_names() {
    let net = Outer::new(&mut Rng::seed(8));
    let dir = std::env::temp_dir().join(format!("monograd-nesting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("outer.safetensors");
    monograd::nn::serialize::safetensors::save(&net, &path).unwrap();
    let mut back = Outer::<f32>::default();
    monograd::nn::serialize::safetensors::load(&mut back, &path, &Default::default()).unwrap();
    assert_eq!(to_vec(&back), to_vec(&net));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_summary_shows_the_nested_nodes_and_debug_the_layers() {
    let text = Outer::summary().to_string();
    assert!(text.contains("b1.fc1"), "{text}");
    assert!(text.contains("blocks.sum"), "{text}");
    let row = Outer::summary().rows.iter().find(|r| r.node == "b1").copied().unwrap();
    assert_eq!(row.params, 40);
    assert_eq!(row.inner.len(), 5, "the block's input and its four nodes");

    let net = Outer::new(&mut Rng::seed(9));
    assert_eq!(
        format!("{net:?}"),
        "Outer { stem: Linear<3, WIDTH>, b1: Block<T>, blocks: [Block<T>; 2], head: Linear<WIDTH, 2> }"
    );
}

network! {
    /// LeNet-5 written with a named constant and const expressions.
    pub struct LeNetConsts {
        input: [1, 28, 28],
        conv1: Conv2d<1, C1, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<C1, 16, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<{ 16 * 4 * 4 }, HIDDEN>,
        act3: ReLU,
        fc2: Linear<HIDDEN, 10>,
    }
}

const C1: usize = 6;
const HIDDEN: usize = 2 * 42;

#[test]
fn named_constants_and_const_expressions_are_shapes_like_literals() {
    let summary = LeNetConsts::summary();
    let shapes: Vec<&[usize]> = summary.rows.iter().map(|r| r.shape).collect();
    assert_eq!(
        shapes,
        [
            &[1, 28, 28][..],
            &[6, 24, 24],
            &[6, 24, 24],
            &[6, 12, 12],
            &[16, 8, 8],
            &[16, 8, 8],
            &[16, 4, 4],
            &[256],
            &[84],
            &[84],
            &[10]
        ]
    );
    let net = LeNetConsts::new(&mut Rng::seed(10));
    let y = net.predict(&[[[0.5; 28]; 28]; 1]).unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
}

network! {
    /// One dense layer, for the everyday API.
    pub struct Small {
        input: [3],
        fc: Linear<3, 2>,
    }
}

#[test]
fn new_infers_f32_and_predict_needs_no_state() {
    // No annotation: `Small::new` is the f32 network.
    let net = Small::new(&mut Rng::seed(11));
    let one: [f32; 2] = net.predict(&[1.0, -1.0, 0.5]).unwrap();
    let mut st = Small::state::<Heap>();
    assert_eq!(net.forward(&[1.0, -1.0, 0.5], &mut st).unwrap(), one);
    let many = net.predict_batch(&[[1.0, -1.0, 0.5], [0.0, 0.0, 0.0]]).unwrap();
    assert_eq!(many, vec![one, net.predict(&[0.0; 3]).unwrap()]);
    assert!(net.predict_batch(&[]).unwrap().is_empty());
    // Other scalars name themselves.
    let wide = Small::<f64>::new(&mut Rng::seed(11));
    assert_eq!(wide.predict(&[1.0, -1.0, 0.5]).unwrap().len(), 2);
}

#[test]
fn backward_refuses_another_input_than_its_training_forward() {
    let mut net = Small::new(&mut Rng::seed(12));
    let mut st = Small::state::<Heap>();
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    net.forward_train(&x, &mut st).unwrap();
    let mut g = net.zeros_like();
    let dy = [1.0f32; 4];
    // Same length, one value changed: a wrong gradient before; an error now.
    let other = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.5];
    let e = net.backward(&other, &dy, &mut g, &mut st).unwrap_err();
    assert_eq!(e, ShapeError::InputChanged { what: "`Small`" });
    assert!(e.to_string().contains("pass the same batch"), "{e}");
    assert_eq!(to_vec(&g), vec![0.0; 8], "a refused backward adds nothing");
    net.backward(&x, &dy, &mut g, &mut st).unwrap();
    assert_ne!(to_vec(&g), vec![0.0; 8]);
}

/// A layer of the user's own, which the macro has no rule for: any shape to itself.
#[derive(Clone, Default)]
pub struct Double;

impl<T: Scalar> Module<T> for Double {
    const PARAMS: usize = 0;
    fn visit<F: FnMut(monograd::core::module::Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    fn visit_mut<F: FnMut(monograd::core::module::Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    fn visit_update<F: FnMut(monograd::core::module::ParamUpdate<'_, T>)>(
        &mut self,
        _: &Self,
        _: &Path<'_>,
        _: &mut usize,
        _: &mut F,
    ) {
    }
}

impl<S: Shape> OutputShape<S> for Double {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Double {
    type Cache = ();
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x + x;
        }
    }
    fn backward(&self, _: &[T], _: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        if let Some(dx) = dx {
            for (d, &g) in dx.iter_mut().zip(dy) {
                *d += g + g;
            }
        }
    }
}

network! {
    /// A convolution and pooling after a layer the macro has no rule for.
    pub struct AfterUser {
        input: [2, 6, 6],
        double: Double,
        conv: Conv2d<2, 3, 3>,
        pool: MaxPool2d<2>,
        flat: Flatten,
        fc: Linear<12, 2>,
    }
}

#[test]
fn shapes_follow_a_user_layer_the_macro_has_no_rule_for() {
    let rows: Vec<&[usize]> = AfterUser::summary().rows.iter().map(|r| r.shape).collect();
    assert_eq!(rows, [&[2, 6, 6][..], &[2, 6, 6], &[3, 4, 4], &[3, 2, 2], &[12], &[2]]);
    let mut net = AfterUser::new(&mut Rng::seed(13));
    let x = batch(14, 2 * 72);
    let mut st = AfterUser::state::<Heap>();
    let y = net.forward_train(&x, &mut st).unwrap().to_vec();
    assert_eq!(y.len(), 4);
    let mut g = net.zeros_like();
    let dx = net.backward_input(&x, &[1.0; 4], &mut g, &mut st).unwrap();
    assert!(dx.iter().any(|&v| v != 0.0));
}
