//! Post-training quantization of LeNet-5 and an MLP after a short training on the
//! repository's digits: the int8 twin's accuracy on the 2,000 test digits is within half a
//! point of the float network's, and its weights take a quarter of the bytes.
//!
//! Training is kept short (one epoch on 4,000 digits), so that the tests run in about four
//! seconds in a release build; a debug build takes about a minute, so both are `#[ignore]`d
//! there and run with `cargo test --release --test quant_mnist` (CI runs that).

use monograd::prelude::*;
use monograd::quant::calibrate::{Calibration, Granularity, Method};

network! {
    /// LeNet-5, as examples/mnist_cnn.rs declares it.
    #[quantize(LeNetI8)]
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

network! {
    #[quantize(MlpI8)]
    pub struct Mlp {
        input: [784],
        fc1: Linear<784, 128>,
        act1: ReLU,
        fc2: Linear<128, 64>,
        act2: ReLU,
        fc3: Linear<64, 10>,
    }
}

/// 4,000 training digits and the 2,000 test digits, normalised.
fn digits() -> (Dataset, Dataset) {
    let mnist = Mnist::load_default().expect("the repository's digits");
    let norm = Normalize::mnist();
    let (mut train, _) = mnist.train.split_at(4000).unwrap();
    let mut test = mnist.test;
    norm.apply_dataset(&mut train).unwrap();
    norm.apply_dataset(&mut test).unwrap();
    (train, test)
}

fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn percent(hits: usize, n: usize) -> f64 {
    100.0 * hits as f64 / n as f64
}

macro_rules! check_twin {
    ($net:ident, $twin:ident, $train:expr, $test:expr, $gran:expr, $method:expr) => {{
        let (train, test): (&Dataset, &Dataset) = ($train, $test);
        let mut trainer = Trainer::new($net::new(&mut Rng::seed(0)), Adam::new(2e-3), CrossEntropyLoss::new())
            .epochs(1)
            .batch_size(32)
            .seed(0);
        trainer.fit(train, None, &mut ()).unwrap();
        let net = trainer.net();
        // Calibration: 500 training digits.
        let cal = &train.inputs()[..500 * train.numel()];
        let twin = $net::quantize(net, &Calibration::new(cal).linear($gran).method($method)).unwrap();
        let (mut fst, mut qst) = ($net::state::<Heap>(), $twin::state());
        let (mut f_hits, mut q_hits, mut agree) = (0, 0, 0);
        for i in 0..test.len() {
            let (x, &y) = test.get(i).unwrap();
            let f = argmax(net.forward(x, &mut fst).unwrap());
            let q = argmax(twin.predict(x, &mut qst).unwrap());
            f_hits += usize::from(f == y);
            q_hits += usize::from(q == y);
            agree += usize::from(f == q);
        }
        let (f, q) = (percent(f_hits, test.len()), percent(q_hits, test.len()));
        println!(
            "{}: f32 {f:.2}%, int8 {q:.2}% ({:?}, {:?}), same class on {agree} of {} digits; \
             weights {} B -> {} B",
            stringify!($net),
            $gran,
            $method,
            test.len(),
            $net::PARAM_BYTES,
            $twin::PARAM_BYTES
        );
        (f, q)
    }};
}

#[test]
#[cfg_attr(debug_assertions, ignore = "trains LeNet for an epoch: run with --release")]
fn lenet_int8_within_half_a_point() {
    let (train, test) = digits();
    let (f, q) = check_twin!(LeNet, LeNetI8, &train, &test, Granularity::PerTensor, Method::MinMax);
    assert!(f > 90.0, "the float network trained: {f}");
    assert!((f - q).abs() <= 0.5, "f32 {f}%, int8 {q}%");
    // Weights: i8 instead of f32, biases stay 32-bit.
    const { assert!(LeNetI8::PARAM_BYTES * 4 <= LeNet::PARAM_BYTES + 3 * 4 * (6 + 16 + 120 + 84 + 10)) };
    const { assert!(LeNetI8::MACS == LeNet::MACS) };
}

#[test]
#[cfg_attr(debug_assertions, ignore = "trains an MLP for an epoch: run with --release")]
fn mlp_int8_within_half_a_point() {
    let (train, test) = digits();
    for (g, m) in [(Granularity::PerTensor, Method::MinMax), (Granularity::PerChannel, Method::Percentile(99.99))] {
        let (f, q) = check_twin!(Mlp, MlpI8, &train, &test, g, m);
        assert!(f > 85.0, "the float network trained: {f}");
        assert!((f - q).abs() <= 0.5, "f32 {f}%, int8 {q}%");
    }
}
