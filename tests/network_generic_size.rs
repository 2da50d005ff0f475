//! A network generic over its own input size, `struct FullyConv<const H: usize>`: the
//! macro cannot compute `H - 2`, and stable Rust cannot write it in a type, so each
//! convolution and pooling after the input has a shape computed by the compiler when the
//! network is built for an `H` (`monograd::core::shape::computed`). Two instantiations run
//! and train, and the same network in smooth pieces passes the whole-network gradient check
//! (reverse mode against central differences and against forward mode) at both sizes.

use std::any::Any;

use monograd::core::gradcheck::{self, GradCase};
use monograd::core::module::{load_flat, to_vec, Path};
use monograd::prelude::*;

network! {
    /// Convolutions over images of any size `H`, then global pooling to a fixed head.
    pub struct FullyConv<const H: usize> {
        input: [1, H, H],
        conv1: Conv2d<1, 8, 3>,
        act1: ReLU,
        pool: MaxPool2d<2>,
        conv2: Conv2d<8, 16, 3>,
        act2: ReLU,
        gap: GlobalAvgPool2d,
        fc: Linear<16, 10>,
    }
}

network! {
    /// `FullyConv` with smooth pieces (`Tanh`, average pooling) and fewer channels, at the
    /// same sizes: finite differences are wrong across a kink, and thousands of ReLU and
    /// max-pooling units put one within a step of some input; the layers' own checks cover
    /// max pooling over computed shapes.
    pub struct Twin<const H: usize> {
        input: [1, H, H],
        conv1: Conv2d<1, 2, 3>,
        act1: Tanh,
        pool: AvgPool2d<2>,
        conv2: Conv2d<2, 4, 3>,
        act2: Tanh,
        gap: GlobalAvgPool2d,
        fc: Linear<4, 3>,
    }
}

network! {
    /// The same kind of network with smooth pieces, every stride, padding and pooling the
    /// computed shapes carry, a batch norm, and a residual `Add` of two computed shapes of
    /// different types: for the gradient check, which finite differences cannot do across
    /// kinks.
    pub struct Smooth<const H: usize, const W: usize> {
        input: [2, H, W],
        conv1: Conv2d<2, 3, 3, 2, 1>,
        t1: Tanh,
        same: Conv2d<3, 3, 3, 1, 1>,
        bn: BatchNorm2d<3>,
        t2: Tanh,
        res(t1, t2): Add,
        pool: AvgPool2d<2, 1>,
        dw: DepthwiseConv2d<3, 3>,
        mx: MaxPool2d<2>,
        gap: GlobalAvgPool2d,
        fc: Linear<3, 2>,
    }
}

#[test]
fn shapes_follow_the_size_each_instantiation_gives() {
    let rows = |s: &monograd::core::summary::Summary| -> Vec<(&str, &[usize])> {
        s.rows.iter().map(|r| (r.node, r.shape)).collect()
    };
    let s28 = FullyConv::<28>::summary();
    let s32 = FullyConv::<32>::summary();
    assert_eq!(
        rows(&s28),
        [
            ("input", &[1, 28, 28][..]),
            ("conv1", &[8, 26, 26]),
            ("act1", &[8, 26, 26]),
            ("pool", &[8, 13, 13]),
            ("conv2", &[16, 11, 11]),
            ("act2", &[16, 11, 11]),
            ("gap", &[16]),
            ("fc", &[10]),
        ]
    );
    assert_eq!(rows(&s32)[3..5], [("pool", &[8, 15, 15][..]), ("conv2", &[16, 13, 13])]);
    // The same parameters at every size; the work grows with it.
    assert_eq!(FullyConv::<28>::PARAMS, FullyConv::<32>::PARAMS);
    assert_eq!(FullyConv::<28>::PARAMS, 8 * 9 + 8 + 16 * 72 + 16 + 16 * 10 + 10);
    assert_eq!(FullyConv::<28>::MACS, 8 * 26 * 26 * 9 + 16 * 11 * 11 * 72 + 16 * 10);
    assert_eq!(FullyConv::<32>::MACS, 8 * 30 * 30 * 9 + 16 * 13 * 13 * 72 + 16 * 10);
    assert_eq!(<Smooth<14, 12> as Network<f32>>::Input::DIMS, &[2, 14, 12]);
}

/// A few SGD steps on a fixed batch of random images: the loss must fall.
fn trains<const H: usize>() {
    let mut net = FullyConv::<H>::new(&mut Rng::seed(7));
    let mut grad = FullyConv::<H>::default();
    let mut st = FullyConv::<H>::state::<Heap>();
    let mut rng = Rng::seed(H as u64);
    let x: Vec<f32> = (0..4 * H * H).map(|_| rng.next_f64() as f32).collect();
    let labels = [3usize, 1, 4, 1];
    let mut dy = vec![0.0f32; 4 * 10];
    let y = net.forward(&x, &mut st).unwrap();
    assert_eq!(y.len(), 4 * 10);
    let loss0 = CrossEntropyLoss::new().forward(y, &labels[..]).unwrap();
    for _ in 0..40 {
        let y = net.forward_train(&x, &mut st).unwrap();
        CrossEntropyLoss::new().backward(y, &labels[..], &mut dy).unwrap();
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut st).unwrap();
        Sgd::new(0.5).step(&mut net, &grad);
    }
    let loss = CrossEntropyLoss::new().forward(net.forward(&x, &mut st).unwrap(), &labels[..]).unwrap();
    assert!(loss < 0.7 * loss0, "H = {H}: {loss0} -> {loss}");
    // A batch of images of another size is an error, not a panic.
    assert!(net.forward(&x[..H * H - 1], &mut st).is_err());
}

#[test]
fn both_sizes_train() {
    trains::<28>();
    trains::<32>();
}

/// Forward mode's scalar in the shared helper.
type D8 = Dual<f64, 8>;

/// The input batch and every parameter of a network, as one differentiable vector.
struct Case<N> {
    batch: usize,
    net: std::marker::PhantomData<N>,
}

/// A generic network at the two scalars the helper runs.
trait AtScalars {
    type F64: Network<f64> + Default;
    type D8: Network<D8> + Default;
    const NAME: &'static str;
}

macro_rules! at_scalars {
    ($fam:ident, $name:literal, $net:ident<$($n:literal),*>) => {
        struct $fam;
        impl AtScalars for $fam {
            type F64 = $net<$($n,)* f64>;
            type D8 = $net<$($n,)* D8>;
            const NAME: &'static str = $name;
        }
    };
}
at_scalars!(Twin28, "Twin<28>", Twin<28>);
at_scalars!(Twin32, "Twin<32>", Twin<32>);
at_scalars!(Smooth14x12, "Smooth<14, 12>", Smooth<14, 12>);
at_scalars!(Smooth12x10, "Smooth<12, 10>", Smooth<12, 10>);

/// The training forward at one scalar, checked against inference.
fn run<T: Scalar, N: Network<T> + Default>(batch: usize, v: &[T]) -> Vec<T> {
    let n_in = batch * <N::Input as Shape>::NUMEL;
    let (x, p) = v.split_at(n_in);
    let mut net = N::default();
    load_flat(&mut net, p).unwrap();
    let mut st = N::state::<Heap>();
    let y = Network::forward_train(&mut net, x, &mut st).unwrap().to_vec();
    // Inference computes the same values, unless a batch norm normalises with its running
    // statistics there (buffers: visited, but not parameters).
    if to_vec(&net).len() == <N as Module<T>>::PARAMS {
        let mut st2 = N::state::<Heap>();
        assert_eq!(Network::forward(&net, x, &mut st2).unwrap(), &*y);
    }
    y
}

impl<N: AtScalars> GradCase for Case<N> {
    fn name(&self) -> &str {
        N::NAME
    }
    fn input_len(&self) -> usize {
        // Every visited tensor: parameters, and a batch norm's running statistics (which do
        // not reach the training output: their gradient is 0).
        self.batch * <<N::F64 as Network<f64>>::Input as Shape>::NUMEL + to_vec(&N::F64::default()).len()
    }
    fn output_len(&self) -> usize {
        self.batch * <<N::F64 as Network<f64>>::Output as Shape>::NUMEL
    }
    fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
        // The helper runs `f64` and `Dual<f64, 8>`: each goes to its own network type.
        let v: Box<dyn Any> = Box::new(v.to_vec());
        let out: Box<dyn Any> = match v.downcast::<Vec<f64>>() {
            Ok(v) => Box::new(run::<f64, N::F64>(self.batch, &v)),
            Err(v) => Box::new(run::<D8, N::D8>(self.batch, &v.downcast::<Vec<D8>>().expect("f64 or Dual<f64, 8>"))),
        };
        y.copy_from_slice(&out.downcast::<Vec<T>>().expect("the scalar it was given"));
    }
    fn backward(&self, v: &[f64], _: &[f64], dy: &[f64], dv: &mut [f64]) {
        let n_in = self.batch * <<N::F64 as Network<f64>>::Input as Shape>::NUMEL;
        let (x, p) = v.split_at(n_in);
        let mut net = N::F64::default();
        load_flat(&mut net, p).unwrap();
        let mut st = <N::F64 as Network<f64>>::state::<Heap>();
        Network::forward_train(&mut net, x, &mut st).unwrap();
        let mut grad = N::F64::default();
        let dx = Network::backward_input(&net, x, dy, &mut grad, &mut st).unwrap();
        let (dvx, dvp) = dv.split_at_mut(n_in);
        dvx.iter_mut().zip(dx).for_each(|(d, g)| *d += g);
        let mut at = 0;
        grad.visit(&Path::ROOT, &mut |t| {
            dvp[at..at + t.values.len()].iter_mut().zip(t.values).for_each(|(d, g)| *d += g);
            at += t.values.len();
        });
    }
}

fn check<N: AtScalars>(batch: usize, seed: u64) {
    let case = Case::<N> { batch, net: std::marker::PhantomData };
    let v = gradcheck::inputs(seed, case.input_len(), -1.0, 1.0, &[]);
    let report = gradcheck::check(&case, &v, seed + 1).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.finite_difference_error < 1e-6, "{report:?}");
}

#[test]
fn both_sizes_pass_the_gradient_check() {
    // One sample each: every input pixel and every parameter is checked.
    check::<Twin28>(1, 11);
    check::<Twin32>(1, 12);
}

#[test]
fn strides_padding_depthwise_and_a_residual_pass_the_gradient_check() {
    check::<Smooth14x12>(2, 13);
    check::<Smooth12x10>(2, 14);
}
