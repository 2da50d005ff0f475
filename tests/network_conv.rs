//! Convolutional networks through `network!`: the macro computes every shape from the
//! literals (kernel, stride, padding, dilation), fuses ReLU into the convolutions, and the
//! whole network passes the gradient check.

use monograd::core::gradcheck::{self, GradCase};
use monograd::core::module::Path;
use monograd::prelude::*;

network! {
    /// LeNet-5 as in the shared workloads (W4).
    pub struct LeNet {
        input: [1, 28, 28],
        c1: Conv2d<1, 6, 5>,
        r1: ReLU,
        p1: MaxPool2d<2>,
        c2: Conv2d<6, 16, 5>,
        r2: ReLU,
        p2: MaxPool2d<2>,
        flat: Flatten,
        f1: Linear<256, 120>,
        r3: ReLU,
        f2: Linear<120, 84>,
        r4: ReLU,
        f3: Linear<84, 10>,
    }
}

network! {
    /// Small, with every convolution option and a pooling of each kind, for the gradient
    /// check (smooth activations: no kinks).
    pub struct Small {
        input: [2, 7, 7],
        c1: Conv2d<2, 3, 3, 2, 1, 1>,
        t1: Tanh,
        dw: DepthwiseConv2d<3, 3, 1, 1>,
        avg: AvgPool2d<2>,
        c2: Conv2d<3, 4, 1>,
        gap: GlobalAvgPool2d,
        head: Linear<4, 2>,
    }
}

#[test]
fn lenet_shapes_parameters_and_flops_follow_from_the_literals() {
    // conv 6@5x5: 6 * (25 + 1); conv 16@5x5 over 6 channels: 16 * (150 + 1); then dense.
    let params = 6 * 26 + 16 * 151 + (256 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10);
    assert_eq!(LeNet::PARAMS, params);
    let macs = 6 * 24 * 24 * 25 + 16 * 8 * 8 * 150 + 256 * 120 + 120 * 84 + 84 * 10;
    assert_eq!(LeNet::MACS, macs);
    let s = LeNet::summary();
    let shape = |n: &str| s.rows.iter().find(|r| r.node == n).unwrap().shape;
    assert_eq!(shape("c1"), &[6, 24, 24]);
    assert_eq!(shape("p1"), &[6, 12, 12]);
    assert_eq!(shape("c2"), &[16, 8, 8]);
    assert_eq!(shape("p2"), &[16, 4, 4]);
    assert_eq!(shape("flat"), &[256]);
}

network! {
    /// A 3x3 convolution wide enough for Winograd beside ones that are not.
    pub struct Wide {
        input: [32, 8, 8],
        c1: Conv2d<32, 32, 3, 1, 1>,
        r1: ReLU,
        dw: DepthwiseConv2d<32, 3, 1, 1>,
        c2: Conv2d<32, 8, 3, 1, 1>,
        flat: Flatten,
        head: Linear<512, 2>,
    }
}

#[test]
fn the_summary_names_each_convolutions_algorithm() {
    let algorithm =
        |rows: &[monograd::core::summary::SummaryRow], n: &str| rows.iter().find(|r| r.node == n).unwrap().algorithm;
    let s = Wide::summary();
    assert_eq!(algorithm(s.rows, "c1"), "winograd");
    assert_eq!(algorithm(s.rows, "dw"), "direct");
    // Fewer than 32 output channels: im2col.
    assert_eq!(algorithm(s.rows, "c2"), "im2col");
    assert_eq!(algorithm(s.rows, "head"), "");
    let text = s.to_string();
    assert!(text.lines().nth(1).unwrap().ends_with("algorithm"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("c1 ") && l.ends_with("  winograd")), "{text}");
    let l = LeNet::summary();
    assert_eq!((algorithm(l.rows, "c1"), algorithm(l.rows, "c2")), ("im2col", "im2col"));
}

#[test]
fn a_winograd_network_trains() {
    let mut net = Wide::new(&mut Rng::seed(0));
    let mut grad = Wide::default();
    let mut st = Wide::state::<Heap>();
    let mut rng = Rng::seed(1);
    let x: Vec<f32> = (0..2 * 32 * 64).map(|_| rng.next_f64() as f32).collect();
    let labels = [1usize, 0];
    let mut dy = vec![0.0f32; 2 * 2];
    let loss0 =
        CrossEntropyLoss::new().backward(net.forward_train(&x, &mut st).unwrap(), &labels[..], &mut dy).unwrap();
    for _ in 0..30 {
        let y = net.forward_train(&x, &mut st).unwrap();
        CrossEntropyLoss::new().backward(y, &labels[..], &mut dy).unwrap();
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut st).unwrap();
        Sgd::new(0.1).step(&mut net, &grad);
    }
    let loss = CrossEntropyLoss::new().forward(net.forward(&x, &mut st).unwrap(), &labels[..]).unwrap();
    assert!(loss < 0.5 * loss0, "{loss0} -> {loss}");
}

#[test]
fn lenet_trains_a_step_and_rejects_a_wrong_input() {
    let mut net = LeNet::new(&mut Rng::seed(0));
    let mut grad = LeNet::default();
    let mut st = LeNet::state::<Heap>();
    let mut rng = Rng::seed(1);
    let x: Vec<f32> = (0..4 * 784).map(|_| rng.next_f64() as f32).collect();
    let labels = [3usize, 1, 4, 1];
    let mut dy = vec![0.0f32; 4 * 10];
    let loss0 =
        CrossEntropyLoss::new().backward(net.forward_train(&x, &mut st).unwrap(), &labels[..], &mut dy).unwrap();
    for _ in 0..60 {
        let y = net.forward_train(&x, &mut st).unwrap();
        CrossEntropyLoss::new().backward(y, &labels[..], &mut dy).unwrap();
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut st).unwrap();
        Sgd::new(0.1).step(&mut net, &grad);
    }
    let loss = CrossEntropyLoss::new().forward(net.forward(&x, &mut st).unwrap(), &labels[..]).unwrap();
    assert!(loss < 0.5 * loss0, "{loss0} -> {loss}");
    assert!(net.forward(&x[..700], &mut st).is_err());
}

/// The input batch and every parameter, as one differentiable vector.
struct Case;
impl GradCase for Case {
    fn name(&self) -> &str {
        "Small (conv, depthwise, pools)"
    }
    fn input_len(&self) -> usize {
        2 * 98 + <Small as Module<f32>>::PARAMS
    }
    fn output_len(&self) -> usize {
        2 * 2
    }
    fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
        let (x, p) = v.split_at(2 * 98);
        let mut net = Small::<T>::default();
        load(&mut net, p);
        let mut st = Small::<T>::state::<Heap>();
        y.copy_from_slice(net.forward_train(x, &mut st).unwrap());
    }
    fn backward(&self, v: &[f64], _: &[f64], dy: &[f64], dv: &mut [f64]) {
        let (x, p) = v.split_at(2 * 98);
        let mut net = Small::<f64>::default();
        load(&mut net, p);
        let mut st = Small::<f64>::state::<Heap>();
        net.forward_train(x, &mut st).unwrap();
        let mut grad = Small::<f64>::default();
        let dx = net.backward_input(x, dy, &mut grad, &mut st).unwrap();
        let (dvx, dvp) = dv.split_at_mut(2 * 98);
        dvx.iter_mut().zip(dx).for_each(|(d, g)| *d += g);
        let mut at = 0;
        grad.visit(&Path::ROOT, &mut |t| {
            dvp[at..at + t.values.len()].iter_mut().zip(t.values).for_each(|(d, g)| *d += g);
            at += t.values.len();
        });
    }
}

fn load<T: Scalar>(net: &mut Small<T>, p: &[T]) {
    monograd::core::module::load_flat(net, p).unwrap();
}

#[test]
fn a_convolutional_network_passes_the_gradient_check() {
    let v = gradcheck::inputs(5, Case.input_len(), -1.0, 1.0, &[]);
    gradcheck::check(&Case, &v, 9).unwrap();
}
