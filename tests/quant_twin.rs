//! The int8 twin `#[quantize(..)]` generates, on small networks holding every layer it
//! has a kernel for: it builds, its integer forward follows the float network within the
//! quantization's error, and its graph names tensors as the float network does.

use monograd::prelude::*;
use monograd::quant::calibrate::{Calibration, Granularity, Method};
use monograd::quant::graph::{Activation, Op};

network! {
    /// Convolutions of every kind, pooling, a standalone ReLU, Add and Concat.
    #[quantize(ZooI8)]
    pub struct Zoo {
        input x: [2, 12, 12],
        conv: Conv2d<2, 4, 3>,
        act1: ReLU,
        dw: DepthwiseConv2d<4, 3, 1, 1>,
        sep: SeparableConv2d<4, 4, 3, 1, 1>,
        act2: ReLU,
        sum(act1, act2): Add,
        cat(sum, dw): Concat,
        pool: MaxPool2d<2>,
        avg: AvgPool2d<2, 1>,
        relu: ReLU,
        drop: Dropout(0.1),
        gap: GlobalAvgPool2d,
        head: Linear<8, 3>,
    }
}

network! {
    #[quantize(SeqI8)]
    pub struct Seq {
        input: [3, 16],
        c1: Conv1d<3, 5, 3, 1, 1>,
        a1: ReLU,
        flat: Flatten,
        fc: LinearNoBias<80, 6>,
        a2: ReLU,
        out: Linear<6, 2>,
    }
}

fn data(n: usize, len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..n * len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()
}

/// Largest |int8 output dequantized − float output|, in output steps.
fn worst_error(f: &[f32], q: &[i8], p: monograd::quant::QParams) -> f32 {
    assert_eq!(f.len(), q.len());
    f.iter().zip(q).map(|(a, &b)| (a - p.dequantize(b)).abs() / p.scale).fold(0.0, f32::max)
}

#[test]
fn zoo_twin_follows_the_float_network() {
    let net = Zoo::new(&mut Rng::seed(1));
    let cal = data(64, 2 * 12 * 12, 2);
    let twin = Zoo::quantize(&net, &Calibration::new(&cal)).unwrap();
    let mut st = ZooI8::state();
    let mut fst = Zoo::state::<Heap>();
    let test = data(16, 2 * 12 * 12, 3);
    let mut worst = 0.0f32;
    for x in test.chunks(2 * 12 * 12) {
        let f = net.forward(x, &mut fst).unwrap().to_vec();
        let q = twin.predict(x, &mut st).unwrap();
        worst = worst.max(worst_error(&f, q, twin.output_params()));
    }
    // Nine requantized layers deep, ending in a head whose output range is small (0.44 for
    // these random weights), so each step is fine: within 6% of the output's range.
    assert!(worst < 0.06 * 255.0, "{worst}");
    assert!(ZooI8::summary().to_string().contains("ZooI8"));
    assert_eq!(ZooI8::MACS, Zoo::MACS);
}

#[test]
fn the_graph_names_tensors_as_the_float_network() {
    let net = Zoo::new(&mut Rng::seed(1));
    let cal = data(16, 2 * 12 * 12, 2);
    let twin = Zoo::quantize(&net, &Calibration::new(&cal)).unwrap();
    let g = twin.to_graph();
    let names: Vec<&str> = g.tensors.iter().map(|t| t.name.as_str()).collect();
    for want in ["x", "conv.weight", "conv.bias", "act1", "sep.depthwise.weight", "sep.pointwise.bias", "head.weight"] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    // conv + act1 is one operator with a fused ReLU; the standalone ReLU after pooling is not.
    let Op::Conv2d { activation, output, .. } = g.ops[0].clone() else { panic!("{:?}", g.ops[0]) };
    assert_eq!((activation, g.tensors[output].name.as_str()), (Activation::Relu, "act1"));
    assert!(g.ops.iter().any(|o| matches!(o, Op::Activation { kind: Activation::Relu, .. })));
    assert!(g.ops.iter().any(|o| matches!(o, Op::Concat { .. })));
    // `sum` is read by `cat`, not by a ReLU: no fused clamp.
    assert!(g.ops.iter().any(|o| matches!(o, Op::Add { activation: Activation::None, .. })));
    assert_eq!(g.tensors[g.outputs[0]].shape, vec![3]);
    assert_eq!(g.tensors[g.inputs[0]].shape, vec![2, 12, 12]);
}

#[test]
fn one_dimensional_and_no_bias_layers_per_channel_or_not() {
    let net = Seq::new(&mut Rng::seed(4));
    let cal = data(32, 48, 5);
    for (g, method) in [(Granularity::PerTensor, Method::MinMax), (Granularity::PerChannel, Method::Percentile(99.9))] {
        let twin = Seq::quantize(&net, &Calibration::new(&cal).linear(g).method(method)).unwrap();
        assert_eq!(twin.fc.per_channel, g == Granularity::PerChannel);
        assert!(!twin.fc.has_bias);
        let mut st = SeqI8::state();
        let mut fst = Seq::state::<Heap>();
        for x in data(8, 48, 6).chunks(48) {
            let f = net.forward(x, &mut fst).unwrap().to_vec();
            let q = twin.predict(x, &mut st).unwrap();
            let e = worst_error(&f, q, twin.output_params());
            assert!(e < 4.0, "{e}");
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let net = Seq::new(&mut Rng::seed(4));
    assert!(Seq::quantize(&net, &Calibration::new(&[])).is_err());
    assert!(Seq::quantize(&net, &Calibration::new(&[0.0; 47])).is_err());
    let mut cal = data(4, 48, 5);
    cal[7] = f32::NAN;
    assert!(Seq::quantize(&net, &Calibration::new(&cal)).is_err());
    let twin = Seq::quantize(&net, &Calibration::new(&data(4, 48, 5))).unwrap();
    let mut st = SeqI8::state();
    assert!(twin.forward(&[0; 47], &mut st).is_err());
    assert!(twin.predict(&[f32::NAN; 48], &mut st).is_err());
}

#[test]
fn every_instruction_set_gives_the_same_bits() {
    use monograd::quant::kernels::{force_isa, Isa};
    let net = Zoo::new(&mut Rng::seed(4));
    let twin = Zoo::quantize(&net, &Calibration::new(&data(64, 2 * 12 * 12, 5))).unwrap();
    let seq = Seq::new(&mut Rng::seed(6));
    let seq_twin = Seq::quantize(&seq, &Calibration::new(&data(64, 3 * 16, 7))).unwrap();
    let (test, seq_test) = (data(8, 2 * 12 * 12, 8), data(8, 3 * 16, 9));
    let run = |isa: Isa| {
        // Other tests of this binary may run meanwhile under this ceiling: the bits are the
        // same on every path, which is what this test checks.
        assert!(force_isa(isa));
        let (mut st, mut seq_st) = (ZooI8::state(), SeqI8::state());
        let mut out = Vec::new();
        for x in test.chunks(2 * 12 * 12) {
            out.extend_from_slice(twin.predict(x, &mut st).unwrap());
        }
        for x in seq_test.chunks(3 * 16) {
            out.extend_from_slice(seq_twin.predict(x, &mut seq_st).unwrap());
        }
        out
    };
    let portable = run(Isa::Portable);
    // The AVX2 ceiling only where the CPU has AVX2 (`force_isa` says whether it ran).
    if force_isa(Isa::Avx2) {
        assert_eq!(run(Isa::Avx2), portable);
    }
    assert_eq!(run(Isa::Avx512), portable);
}
