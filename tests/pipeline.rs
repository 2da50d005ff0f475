//! Pipeline model parallelism (feature `parallel`): a model written as one `network!` whose
//! layers are its stages (nested networks), trained stage by stage on threads in GPipe's
//! schedule, gives the gradients of the unsplit network's backward within 1e-6, for any
//! number of micro-batches (uneven ones included), and the same loss.

use monograd::nn::distributed::flat::{flatten, Tensors};
use monograd::nn::distributed::pipeline::{gpipe_step, StageOf};
use monograd::nn::distributed::DistError;
use monograd::prelude::*;

network! {
    /// Stage 1: the input side.
    pub struct Front {
        input: [20],
        fc1: Linear<20, 32>,
        r1: ReLU,
        fc2: Linear<32, 24>,
        t2: Tanh,
    }
}

network! {
    /// Stage 2: a residual block.
    pub struct Middle {
        input x: [24],
        fc: Linear<24, 24>,
        act: Tanh,
        sum(act, x): Add,
    }
}

network! {
    /// Stage 3: the head.
    pub struct Back {
        input: [24],
        fc: Linear<24, 16>,
        r: ReLU,
        out: Linear<16, 4>,
    }
}

network! {
    /// The whole model, one type: its stages are its layers.
    pub struct Whole {
        input: [20],
        front: Front<T>,
        middle: Middle<T>,
        back: Back<T>,
    }
}

const BATCH: usize = 30;

fn batch() -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::seed(77);
    let x: Vec<f32> = (0..BATCH * 20).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y = (0..BATCH).map(|_| rng.below(4)).collect();
    (x, y)
}

/// The largest difference relative to the largest value of `b`.
fn relative<M: Module<f32>>(a: &M, b: &M) -> f64 {
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    flatten(a, Tensors::All, &mut fa);
    flatten(b, Tensors::All, &mut fb);
    let scale = fb.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    fa.iter().zip(&fb).fold(0.0f64, |m, (x, y)| m.max(f64::from((x - y).abs()))) / scale
}

#[test]
fn pipelined_gradients_equal_the_unsplit_networks() {
    let whole = Whole::new(&mut Rng::seed(5));
    let (x, y) = batch();
    let loss = CrossEntropyLoss::new();
    // The unsplit network's step.
    let mut grad = whole.zeros_like();
    let mut st = Whole::state::<Heap>();
    let mut w = whole.clone();
    let out = w.forward_train(&x, &mut st).unwrap();
    let mut dy = vec![0.0; out.len()];
    let l = loss.backward(out, &y, &mut dy).unwrap();
    w.backward(&x, &dy, &mut grad, &mut st).unwrap();
    for micro in [1, 2, 4, 7] {
        let mut a = StageOf::new(whole.front.clone());
        let mut b = StageOf::new(whole.middle.clone());
        let mut c = StageOf::new(whole.back.clone());
        let pl = gpipe_step(&mut [&mut a, &mut b, &mut c], micro, &x, &y, &loss).unwrap();
        assert!((pl - l).abs() <= 1e-6 * l.abs(), "{micro} micro-batches: loss {pl} against {l}");
        for (name, d) in [
            ("front", relative(&a.grad, &grad.front)),
            ("middle", relative(&b.grad, &grad.middle)),
            ("back", relative(&c.grad, &grad.back)),
        ] {
            assert!(d <= 1e-6, "{micro} micro-batches, {name}: relative difference {d:e}");
        }
        if micro == 1 {
            // One micro-batch is the same arithmetic as the unsplit backward.
            assert_eq!(relative(&c.grad, &grad.back), 0.0);
        }
        // A second step starts from a zeroed gradient: the same again.
        gpipe_step(&mut [&mut a, &mut b, &mut c], micro, &x, &y, &loss).unwrap();
        assert!(relative(&a.grad, &grad.front) <= 1e-6);
    }
}

#[test]
fn training_the_stages_is_training_the_whole() {
    let start = Whole::new(&mut Rng::seed(5));
    let (x, y) = batch();
    let loss = CrossEntropyLoss::new();
    // The unsplit network, 30 steps of SGD.
    let mut whole = start.clone();
    let mut grad = whole.zeros_like();
    let mut st = Whole::state::<Heap>();
    let mut opt = Sgd::new(0.2);
    for _ in 0..30 {
        let out = whole.forward_train(&x, &mut st).unwrap();
        let mut dy = vec![0.0; out.len()];
        loss.backward(out, &y, &mut dy).unwrap();
        grad.zero();
        whole.backward(&x, &dy, &mut grad, &mut st).unwrap();
        opt.step(&mut whole, &grad);
    }
    // The pipeline, 30 steps of SGD on each stage.
    let (mut a, mut b, mut c) =
        (StageOf::new(start.front.clone()), StageOf::new(start.middle.clone()), StageOf::new(start.back.clone()));
    let mut opts = (Sgd::new(0.2), Sgd::new(0.2), Sgd::new(0.2));
    let mut losses = Vec::new();
    for _ in 0..30 {
        losses.push(gpipe_step(&mut [&mut a, &mut b, &mut c], 3, &x, &y, &loss).unwrap());
        opts.0.step(&mut a.net, &a.grad);
        opts.1.step(&mut b.net, &b.grad);
        opts.2.step(&mut c.net, &c.grad);
    }
    assert!(losses[29] < losses[0], "{losses:?}");
    // Back into the one model type: the same weights as the unsplit training.
    let mut piped = start.clone();
    piped.front = a.net;
    piped.middle = b.net;
    piped.back = c.net;
    let d = relative(&piped, &whole);
    assert!(d <= 1e-5, "relative difference after 30 steps: {d:e}");
}

#[test]
fn a_stage_that_does_not_fit_is_an_error() {
    let whole = Whole::new(&mut Rng::seed(5));
    let (x, mut y) = batch();
    y[3] = 9; // a label out of range: the last stage's loss fails
    let mut a = StageOf::new(whole.front.clone());
    let mut b = StageOf::new(whole.middle.clone());
    let mut c = StageOf::new(whole.back.clone());
    let e = gpipe_step(&mut [&mut a, &mut b, &mut c], 2, &x, &y, &CrossEntropyLoss::new()).unwrap_err();
    assert!(matches!(e, DistError::Shape(_)), "{e:?}");
    // Stages out of order: the middle's input is 24 values, the front's output 24, but the
    // back's output (4) does not fit the middle.
    let e = gpipe_step(&mut [&mut a, &mut c, &mut b], 2, &x, &batch().1, &CrossEntropyLoss::new()).unwrap_err();
    assert!(matches!(e, DistError::Shape(_)), "{e:?}");
}
