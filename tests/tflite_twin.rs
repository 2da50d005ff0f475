//! Twins that `network!` generates, with every layer the quantizer has a kernel for,
//! exported and run in TFLite Micro: its int8 outputs equal the twin's integer forward.
//! Needs TFLite Micro's Python package: scripts/check-tflite.sh runs these.

mod tflite_cases;

use monograd::prelude::*;
use monograd::quant::calibrate::{Calibration, Granularity};
use monograd::quant::tflite::to_tflite;
use tflite_cases::tflm;

network! {
    /// Convolutions of every kind, pooling, a standalone ReLU, Add and Concat.
    #[quantize(ZooI8)]
    pub struct Zoo {
        input x: [2, 12, 12],
        conv: Conv2d<2, 4, 3, 1, 1>,
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
    /// One-dimensional convolution, a flatten into a linear layer without bias.
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

macro_rules! check {
    ($net:ident, $twin:ident, $len:expr, $gran:expr, $tag:expr) => {{
        let net = $net::new(&mut Rng::seed(1));
        let cal = data(64, $len, 2);
        let twin = $net::quantize(&net, &Calibration::new(&cal).linear($gran)).unwrap();
        let graph = twin.to_graph();
        let model = to_tflite(&graph).unwrap_or_else(|e| panic!("{}: {e}", $tag));
        let p = twin.input_params();
        let xs: Vec<i8> = data(200, $len, 3).iter().map(|&v| p.quantize(v)).collect();
        let mut st = $twin::state();
        let mut ours = Vec::new();
        for x in xs.chunks($len) {
            ours.extend_from_slice(twin.forward(x, &mut st).unwrap());
        }
        let theirs = tflm::run(&graph, &model, &xs, $tag).unwrap();
        assert_eq!(ours.len(), theirs.len());
        let diff = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{}: {diff} of {} int8 outputs differ from TFLite Micro", $tag, ours.len());
    }};
}

#[test]
#[ignore = "needs TFLite Micro's Python package: scripts/check-tflite.sh runs it"]
fn zoo_twin_equals_tflite_micro() {
    check!(Zoo, ZooI8, 2 * 12 * 12, Granularity::PerTensor, "zoo");
}

#[test]
#[ignore = "needs TFLite Micro's Python package: scripts/check-tflite.sh runs it"]
fn seq_twin_equals_tflite_micro_per_tensor_and_per_channel() {
    check!(Seq, SeqI8, 48, Granularity::PerTensor, "seq-per-tensor");
    check!(Seq, SeqI8, 48, Granularity::PerChannel, "seq-per-channel");
}
