//! The eager tape against the generated code on LeNet-5: the same weights read into tape
//! variables, the same batch, and the loss and every parameter gradient compared with the
//! network's `backward`. Four more networks do the same for every other built-in layer:
//! strided, grouped, depthwise, separable and 1-D convolutions, batch norm (1-D and 2-D)
//! in training mode, average and global pooling, concatenation, residual sums, reshapes,
//! layer norm, dropout, embedding, a dense layer without bias, every activation, and
//! cross-entropy with label smoothing and the negative log-likelihood.
//!
//! Both run in `f64` through the same primitives (`ConvPlan`, the pooling functions,
//! `linear`, the cross-entropy), but not always the same calls: the generated code fuses
//! each ReLU into the layer before it, and the tape records it as an op of its own; the
//! tape computes each parameter's gradient in a call of its own. Sums may therefore be
//! grouped differently, so values are compared to `1e-12` relative (floored at 1):
//! thousands of `f64` roundings (2^-53 ≈ 1.1e-16 each) stay far below it, while any wrong
//! term in a gradient of LeNet's size is far above it. (Today the two agree to the bit:
//! the test prints the largest difference, 0; the tolerance leaves room for a change of
//! fusion or summation order that is not an error.)

use monograd::core::module::{Kind, Path};
use monograd::core::ops::dropout::DropoutMask;
use monograd::core::ops::unary::Relu;
use monograd::core::tape::{ConvOptions, Dims, Tape, Var};
use monograd::core::Activation;
use monograd::prelude::*;

network! {
    /// LeNet-5, as in the MNIST example.
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d<1, 6, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<6, 16, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<256, 120>,
        act3: ReLU,
        fc2: Linear<120, 84>,
        act4: ReLU,
        fc3: Linear<84, 10>,
    }
}

const BATCH: usize = 5;
const LABELS: [usize; BATCH] = [3, 1, 4, 1, 9];
const TOL: f64 = 1e-12;

/// A seeded batch of images with values in [0, 1), as normalised pixels.
fn images(seed: u64) -> Vec<f64> {
    let mut rng = Rng::seed(seed);
    (0..BATCH * 784).map(|_| rng.next_f64()).collect()
}

/// LeNet-5 recorded on the tape: the loss and the input variable.
fn record(tape: &mut Tape<f64>, p: &[(String, Var)], x: &[f64]) -> Result<(Var, Var), ShapeError> {
    let at = |name: &str| p.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect(name);
    let x = tape.leaf(x.to_vec(), [BATCH, 1, 28, 28])?;
    let o = ConvOptions::default();
    let h = tape.conv2d(x, at("conv1.weight"), Some(at("conv1.bias")), o)?;
    let h = tape.unary(Relu, h);
    let h = tape.max_pool2d(h, 2, 2)?;
    let h = tape.conv2d(h, at("conv2.weight"), Some(at("conv2.bias")), o)?;
    let h = tape.unary(Relu, h);
    let h = tape.max_pool2d(h, 2, 2)?;
    let h = tape.flatten(h);
    let h = tape.linear(h, at("fc1.weight"), Some(at("fc1.bias")))?;
    let h = tape.unary(Relu, h);
    let h = tape.linear(h, at("fc2.weight"), Some(at("fc2.bias")))?;
    let h = tape.unary(Relu, h);
    let logits = tape.linear(h, at("fc3.weight"), Some(at("fc3.bias")))?;
    assert_eq!(tape.shape(logits), [BATCH, 10]);
    Ok((tape.cross_entropy(logits, &LABELS)?, x))
}

/// `|a - b| <= TOL · max(1, |a|, |b|)` for every element; returns the largest difference.
#[track_caller]
fn assert_close(what: &str, got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let mut worst = 0.0f64;
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let d = (a - b).abs();
        assert!(d <= TOL * a.abs().max(b.abs()).max(1.0), "{what}[{i}]: tape {a}, network {b}");
        worst = worst.max(d);
    }
    worst
}

#[test]
fn the_tape_gives_lenets_loss_and_gradients() -> Result<(), ShapeError> {
    let net = LeNet::<f64>::new(&mut Rng::seed(3));
    let x = images(4);

    // The generated code: training forward, the loss's gradient, backward.
    let mut st = LeNet::<f64>::state::<Heap>();
    let y = net.clone().forward_train(&x, &mut st)?.to_vec();
    let mut dy = vec![0.0; y.len()];
    let loss = CrossEntropyLoss::new().backward(&y, &LABELS[..], &mut dy)?;
    let mut grad = LeNet::<f64>::default();
    let dx = net.backward_input(&x, &dy, &mut grad, &mut st)?.to_vec();

    // The tape, from the same weights and batch.
    let mut tape = Tape::new();
    let params = all_leaves(&net, &mut tape);
    assert_eq!(params.len(), 10, "five layers with weight and bias");
    let (tape_loss, xv) = record(&mut tape, &params, &x)?;
    let grads = tape.backward(tape_loss)?;

    assert_close("loss", &[tape.item(tape_loss)?], &[loss]);
    assert!(loss > 1.0, "an untrained network is unsure: {loss}");
    let mut worst = compare_params(&grad, &params, &grads);
    worst = worst.max(assert_close("input gradient", grads.get(xv).expect("x is a leaf"), &dx));
    println!("largest difference between the tape and the network: {worst:e}");
    Ok(())
}

#[test]
fn a_wrong_weight_on_the_tape_shows() -> Result<(), ShapeError> {
    // The comparison can fail: one weight changed on the tape changes the loss and the
    // gradients beyond the tolerance.
    let net = LeNet::<f64>::new(&mut Rng::seed(3));
    let x = images(4);
    let mut st = LeNet::<f64>::state::<Heap>();
    let y = net.clone().forward_train(&x, &mut st)?.to_vec();
    let loss = CrossEntropyLoss::new().forward(&y, &LABELS[..])?;

    let mut other = net.clone();
    other.conv2.weight[3][2][1][1] += 1e-3;
    let mut tape = Tape::new();
    let params = all_leaves(&other, &mut tape);
    let (tape_loss, _) = record(&mut tape, &params, &x)?;
    let d = (tape.item(tape_loss)? - loss).abs();
    assert!(d > 1e3 * TOL, "a changed weight moved the loss by only {d:e}");
    Ok(())
}

network! {
    /// Every image layer but LeNet's, on two branches joined twice.
    pub struct Zoo {
        input x: [2, 8, 8],
        c1: Conv2d<2, 4, 3, 2, 1, 1>,
        bn: BatchNorm2d<4>,
        a1: GELU,
        dw: DepthwiseConv2d<4, 3, 1, 1>,
        a2: SiLU,
        side(x): AvgPool2d<2>,
        cat(a2, side): Concat,
        pool: MaxPool2d<2>,
        flat: Flatten,
        ln: LayerNorm<24>,
        drop: Dropout,
        fc: Linear<24, 10>,
        a3: ELU,
        gap(cat): GlobalAvgPool2d,
        cat2(a3, gap): Concat,
        a4: LeakyReLU,
        head: Linear<16, 3>,
    }
}

network! {
    /// Token sequences: an embedding, layer norm over each position, a dense head.
    pub struct Tokens {
        input: [5],
        emb: Embedding<7, 4>,
        ln: LayerNorm<4>,
        a: Softplus,
        flat: Flatten,
        head: Linear<20, 3>,
    }
}

/// Every tensor of a module as a tape leaf, by name, in `visit` order.
fn all_leaves<M: Module<f64>>(net: &M, tape: &mut Tape<f64>) -> Vec<(String, Var)> {
    let mut out = Vec::new();
    net.visit(&Path::ROOT, &mut |t| {
        let dims = Dims::from_slice(t.shape).expect("one to four dimensions");
        out.push((t.path.to_string(), tape.leaf(t.values.to_vec(), dims).expect("values fit the shape")));
    });
    out
}

/// Compares every parameter gradient of `grad` with the tape's; returns the largest
/// difference.
fn compare_params<M: Module<f64>>(grad: &M, params: &[(String, Var)], grads: &monograd::core::Gradients<f64>) -> f64 {
    let (mut worst, mut compared) = (0.0f64, 0);
    grad.visit(&Path::ROOT, &mut |t| {
        if t.kind != Kind::Param {
            return; // running statistics: not differentiated by either
        }
        let name = t.path.to_string();
        let v = params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).expect("the tape has every tensor");
        let g = grads.get(v).expect("parameters are tracked");
        assert!(g.iter().any(|&v| v != 0.0), "{name}: a zero gradient would compare equal to anything");
        worst = worst.max(assert_close(&name, g, t.values));
        compared += t.values.len();
    });
    assert_eq!(compared, M::PARAMS, "every parameter compared");
    worst
}

const ZOO_BATCH: usize = 4;
const ZOO_LABELS: [usize; ZOO_BATCH] = [2, 0, 1, 2];
const SMOOTHING: f64 = 0.1;

#[test]
fn the_tape_gives_an_image_zoos_gradients() -> Result<(), ShapeError> {
    let net = Zoo::<f64>::new(&mut Rng::seed(11));
    let mut rng = Rng::seed(12);
    let x: Vec<f64> = (0..ZOO_BATCH * 128).map(|_| rng.uniform(-1.0, 1.0)).collect();

    let mut st = Zoo::<f64>::state::<Heap>();
    let y = net.clone().forward_train(&x, &mut st)?.to_vec();
    let mut dy = vec![0.0; y.len()];
    let loss = CrossEntropyLoss::new().label_smoothing(SMOOTHING).backward(&y, &ZOO_LABELS[..], &mut dy)?;
    let mut grad = Zoo::<f64>::default();
    let dx = net.backward_input(&x, &dy, &mut grad, &mut st)?.to_vec();

    let mut t = Tape::new();
    let p = all_leaves(&net, &mut t);
    let at = |name: &str| p.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect(name);
    let xv = t.leaf(x.clone(), [ZOO_BATCH, 2, 8, 8])?;
    let o = ConvOptions::default();
    let h = t.conv2d(xv, at("c1.weight"), Some(at("c1.bias")), o.stride(2).padding(1))?;
    let h = t.batch_norm(h, at("bn.weight"), at("bn.bias"), net.bn.eps)?;
    let h = t.unary(Activation::op(&net.a1), h);
    let h = t.conv2d(h, at("dw.weight"), Some(at("dw.bias")), o.padding(1).groups(4))?;
    let h = t.unary(Activation::op(&net.a2), h);
    let side = t.avg_pool2d(xv, 2, 2)?;
    let cat = t.concat(h, side)?;
    let h = t.max_pool2d(cat, 2, 2)?;
    let h = t.flatten(h);
    let h = t.layer_norm(h, at("ln.weight"), at("ln.bias"), net.ln.eps)?;
    // The mask of the layer's first training step.
    let h = t.dropout(h, DropoutMask::new(net.drop.p, net.drop.seed, net.drop.step));
    let h = t.linear(h, at("fc.weight"), Some(at("fc.bias")))?;
    let h = t.unary(Activation::op(&net.a3), h);
    let gap = t.global_avg_pool2d(cat)?;
    let h = t.concat(h, gap)?;
    let h = t.unary(Activation::op(&net.a4), h);
    let logits = t.linear(h, at("head.weight"), Some(at("head.bias")))?;
    assert_close("logits", t.value(logits), &y);
    let tape_loss = t.cross_entropy_with(logits, &ZOO_LABELS, None, SMOOTHING)?;
    let grads = t.backward(tape_loss)?;

    assert_close("loss", &[t.item(tape_loss)?], &[loss]);
    let mut worst = compare_params(&grad, &p, &grads);
    worst = worst.max(assert_close("input gradient", grads.get(xv).expect("x is a leaf"), &dx));
    println!("Zoo: largest difference between the tape and the network: {worst:e}");
    Ok(())
}

#[test]
fn the_tape_gives_an_embeddings_gradients() -> Result<(), ShapeError> {
    let mut net = Tokens::<f64>::new(&mut Rng::seed(21));
    let tokens: Vec<f64> = [3, 0, 6, 3, 1, 2, 2, 5, 4, 0].map(f64::from).to_vec(); // two sequences
    let labels = [1usize, 2];

    let mut st = Tokens::<f64>::state::<Heap>();
    let y = net.forward_train(&tokens, &mut st)?.to_vec();
    let mut dy = vec![0.0; y.len()];
    let loss = CrossEntropyLoss::new().backward(&y, &labels[..], &mut dy)?;
    let mut grad = Tokens::<f64>::default();
    net.backward(&tokens, &dy, &mut grad, &mut st)?;

    let mut t = Tape::new();
    let p = all_leaves(&net, &mut t);
    let at = |name: &str| p.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect(name);
    let tok = t.constant(tokens.clone(), [2, 5])?;
    let h = t.embedding(at("emb.weight"), tok)?;
    let h = t.layer_norm(h, at("ln.weight"), at("ln.bias"), net.ln.eps)?;
    let h = t.unary(Activation::op(&net.a), h);
    let h = t.flatten(h);
    let logits = t.linear(h, at("head.weight"), Some(at("head.bias")))?;
    let tape_loss = t.cross_entropy(logits, &labels)?;
    let grads = t.backward(tape_loss)?;

    assert_close("loss", &[t.item(tape_loss)?], &[loss]);
    let worst = compare_params(&grad, &p, &grads);
    println!("Tokens: largest difference between the tape and the network: {worst:e}");
    Ok(())
}

network! {
    /// The remaining image layers: grouped and separable convolutions joined by a residual
    /// sum, a dense layer without bias, softmax, log-softmax and a reshape.
    pub struct Rest {
        input x: [4, 2, 2],
        g: GroupedConv2d<4, 4, 1, 2, 2>,
        sep(x): SeparableConv2d<4, 4, 3, 1, 1>,
        sum(sep, g): Add,
        s: Sigmoid,
        f: Flatten,
        lin: LinearNoBias<16, 5>,
        sm: Softmax,
        cat(sm, lin): Concat,
        head: Linear<10, 3>,
        lsm: LogSoftmax,
        out: Reshape<Rank2<1, 3>>,
    }
}

network! {
    /// Sequences: a strided, padded, dilated 1-D convolution and batch norm over them.
    pub struct Seq {
        input: [2, 9],
        c1: Conv1d<2, 4, 3, 2, 1, 2>,
        bn: BatchNorm1d<4>,
        t: Tanh,
        f: Flatten,
        head: Linear<16, 3>,
    }
}

#[test]
fn the_tape_gives_the_remaining_layers_gradients() -> Result<(), ShapeError> {
    const B: usize = 3;
    let labels = [0usize, 2, 1];
    let net = Rest::<f64>::new(&mut Rng::seed(31));
    let mut rng = Rng::seed(32);
    let x: Vec<f64> = (0..B * 16).map(|_| rng.uniform(-1.0, 1.0)).collect();

    let mut st = Rest::<f64>::state::<Heap>();
    let y = net.clone().forward_train(&x, &mut st)?.to_vec();
    let mut dy = vec![0.0; y.len()];
    let loss = NllLoss::new().backward(&y, &labels[..], &mut dy)?;
    let mut grad = Rest::<f64>::default();
    let dx = net.backward_input(&x, &dy, &mut grad, &mut st)?.to_vec();

    let mut t = Tape::new();
    let p = all_leaves(&net, &mut t);
    let at = |name: &str| p.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect(name);
    let o = ConvOptions::default();
    let xv = t.leaf(x.clone(), [B, 4, 2, 2])?;
    let g = t.conv2d(xv, at("g.weight"), Some(at("g.bias")), o.groups(2))?;
    let d = t.conv2d(xv, at("sep.depthwise.weight"), Some(at("sep.depthwise.bias")), o.padding(1).groups(4))?;
    let sep = t.conv2d(d, at("sep.pointwise.weight"), Some(at("sep.pointwise.bias")), o)?;
    let h = t.add(sep, g)?;
    let h = t.unary(Activation::op(&net.s), h);
    let h = t.flatten(h);
    let lin = t.linear(h, at("lin.weight"), None)?;
    let sm = t.softmax(lin);
    let cat = t.concat(sm, lin)?;
    let h = t.linear(cat, at("head.weight"), Some(at("head.bias")))?;
    let lsm = t.log_softmax(h);
    let out = t.reshape(lsm, [B, 1, 3])?;
    assert_close("log-probabilities", t.value(out), &y);
    let tape_loss = t.nll(lsm, &labels, None)?;
    let grads = t.backward(tape_loss)?;

    assert_close("loss", &[t.item(tape_loss)?], &[loss]);
    let mut worst = compare_params(&grad, &p, &grads);
    worst = worst.max(assert_close("input gradient", grads.get(xv).expect("x is a leaf"), &dx));
    println!("Rest: largest difference between the tape and the network: {worst:e}");
    Ok(())
}

#[test]
fn the_tape_gives_a_sequence_models_gradients() -> Result<(), ShapeError> {
    const B: usize = 3;
    let labels = [1usize, 1, 0];
    let net = Seq::<f64>::new(&mut Rng::seed(41));
    let mut rng = Rng::seed(42);
    let x: Vec<f64> = (0..B * 18).map(|_| rng.uniform(-1.0, 1.0)).collect();

    let mut st = Seq::<f64>::state::<Heap>();
    let y = net.clone().forward_train(&x, &mut st)?.to_vec();
    let mut dy = vec![0.0; y.len()];
    let loss = CrossEntropyLoss::new().backward(&y, &labels[..], &mut dy)?;
    let mut grad = Seq::<f64>::default();
    let dx = net.backward_input(&x, &dy, &mut grad, &mut st)?.to_vec();

    let mut t = Tape::new();
    let p = all_leaves(&net, &mut t);
    let at = |name: &str| p.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect(name);
    let xv = t.leaf(x.clone(), [B, 2, 9])?;
    let o = ConvOptions::default().stride(2).padding(1).dilation(2);
    let h = t.conv1d(xv, at("c1.weight"), Some(at("c1.bias")), o)?;
    let h = t.batch_norm(h, at("bn.weight"), at("bn.bias"), net.bn.eps)?;
    let h = t.unary(Activation::op(&net.t), h);
    let h = t.flatten(h);
    let logits = t.linear(h, at("head.weight"), Some(at("head.bias")))?;
    let tape_loss = t.cross_entropy(logits, &labels)?;
    let grads = t.backward(tape_loss)?;

    assert_close("loss", &[t.item(tape_loss)?], &[loss]);
    let mut worst = compare_params(&grad, &p, &grads);
    worst = worst.max(assert_close("input gradient", grads.get(xv).expect("x is a leaf"), &dx));
    println!("Seq: largest difference between the tape and the network: {worst:e}");
    Ok(())
}
