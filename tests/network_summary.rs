//! `summary()` and the constants of a `network!` network, against figures computed by hand.

use monograd::prelude::*;

network! {
    /// The classic MNIST perceptron: 784-256-128-10 with ReLU.
    pub struct Mlp {
        input x: [784],
        fc1: Linear<784, 256>,
        relu1: ReLU,
        fc2: Linear<256, 128>,
        relu2: ReLU,
        fc3: Linear<128, 10>,
    }
}

// A device budget, checked at compile time: 940,584 bytes of parameters fit in 1 MiB.
const _: () = assert!(Mlp::PARAM_BYTES <= 1024 * 1024);
const _: () = assert!(Mlp::PARAMS == 235_146);

network! {
    /// A skip connection keeps `a` alive across two layers.
    pub struct Skip {
        input x: [4],
        a: Linear<4, 16>,
        b: Linear<16, 16>,
        c: Linear<16, 16>,
        s(c, a): Add,
        head: Linear<16, 2>,
    }
}

network! {
    /// Two outputs: the constants describe the primary one's inference.
    pub struct TwoOut {
        input x: [3],
        trunk: Linear<3, 4>,
        head: Linear<4, 2>,
        aux(trunk): Linear<4, 5>,
        output (head, aux),
    }
}

#[test]
fn mlp_parameters_and_macs() {
    assert_eq!(Mlp::PARAMS, 235_146);
    assert_eq!(Mlp::PARAMS, (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10));
    assert_eq!(Mlp::PARAM_BYTES, 940_584);
    assert_eq!(Mlp::PARAM_BYTES, 4 * Mlp::PARAMS);
    assert_eq!(Mlp::MACS, 784 * 256 + 256 * 128 + 128 * 10);
    // The trait's constants at f32 are the inherent ones; at f64 parameters take twice the bytes.
    assert_eq!(<Mlp as Network<f32>>::MACS, Mlp::MACS);
    assert_eq!(<Mlp<f64> as Network<f64>>::PARAM_BYTES, 2 * Mlp::PARAM_BYTES);
}

#[test]
fn mlp_activation_bytes() {
    // After fusion each ReLU is computed in its Linear's pass and writes that Linear's
    // buffer, so the network's node buffers are fc1 [256], fc2 [128] and fc3 [10] (the
    // input is the caller's slice and is not counted): (256 + 128 + 10) · 4 bytes.
    assert_eq!(Mlp::ACTIVATION_BYTES, (256 + 128 + 10) * 4);
    // Alive at each step of inference (a buffer lives from its node until its last reader):
    //   fc1:      fc1                    = 256 · 4 = 1024
    //   fc2:      fc1 (read) + fc2       = 384 · 4 = 1536   <- the peak
    //   fc3:      fc2 (read) + fc3 (out) = 138 · 4 =  552
    assert_eq!(Mlp::PEAK_ACTIVATION_BYTES, (256 + 128) * 4);
}

#[test]
fn a_skip_connection_raises_the_peak() {
    // Buffers: a, b, c, s of [16] and head of [2]: (4 · 16 + 2) · 4 bytes.
    assert_eq!(Skip::ACTIVATION_BYTES, (4 * 16 + 2) * 4);
    //   a:    a                     = 16 floats
    //   b:    a (read by s) + b     = 32
    //   c:    a + b (read) + c      = 48   <- the peak
    //   s:    a + c (both read) + s = 48
    //   head: s (read) + head       = 18
    // A chain of the same layers would peak at 32 floats.
    assert_eq!(Skip::PEAK_ACTIVATION_BYTES, 48 * 4);
    assert_eq!(Skip::MACS, 4 * 16 + 16 * 16 + 16 * 16 + 16 * 2);
}

#[test]
fn mlp_summary_rows() {
    let s = Mlp::summary();
    assert_eq!(s, <Mlp as Network<f32>>::summary());
    assert_eq!(s.name, "Mlp");
    let rows: Vec<_> = s.rows.iter().map(|r| (r.node, r.layer, r.shape, r.params, r.macs)).collect();
    assert_eq!(
        rows,
        [
            ("x", "input", &[784][..], 0, 0),
            ("fc1", "Linear<784, 256>", &[256][..], 784 * 256 + 256, 784 * 256),
            ("relu1", "ReLU", &[256][..], 0, 0),
            ("fc2", "Linear<256, 128>", &[128][..], 256 * 128 + 128, 256 * 128),
            ("relu2", "ReLU", &[128][..], 0, 0),
            ("fc3", "Linear<128, 10>", &[10][..], 128 * 10 + 10, 128 * 10),
        ]
    );
    assert_eq!(s.rows.iter().map(|r| r.params).sum::<usize>(), s.params);
    assert_eq!(s.rows.iter().map(|r| r.macs).sum::<usize>(), s.macs);
    assert_eq!(
        (s.params, s.param_bytes, s.macs, s.activation_bytes, s.peak_activation_bytes),
        (Mlp::PARAMS, Mlp::PARAM_BYTES, Mlp::MACS, Mlp::ACTIVATION_BYTES, Mlp::PEAK_ACTIVATION_BYTES)
    );
}

#[test]
fn the_printed_table_names_every_node_with_its_shape() {
    let text = Mlp::summary().to_string();
    println!("{text}");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Mlp"));
    let header = lines.next().unwrap();
    for col in ["node", "layer", "output", "params", "FLOPs"] {
        assert!(header.contains(col), "header {header:?} lacks {col}");
    }
    for (node, layer, shape, params, flops) in [
        ("x", "input", "[784]", 0, 0),
        ("fc1", "Linear<784, 256>", "[256]", 200_960, 2 * 200_704),
        ("relu1", "ReLU", "[256]", 0, 0),
        ("fc2", "Linear<256, 128>", "[128]", 32_896, 2 * 32_768),
        ("relu2", "ReLU", "[128]", 0, 0),
        ("fc3", "Linear<128, 10>", "[10]", 1_290, 2 * 1_280),
    ] {
        let line = lines.next().unwrap_or_else(|| panic!("no row for {node}"));
        let cells: Vec<&str> = line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(cells, [node, layer, shape, &params.to_string(), &flops.to_string()], "row {line:?}");
    }
    let total = lines.next().unwrap();
    assert!(total.contains("235146 parameters (940584 bytes)"), "{total}");
    assert!(total.contains(&format!("{} FLOPs per sample", 2 * Mlp::MACS)), "{total}");
    let act = lines.next().unwrap();
    assert!(act.contains("1576 bytes in all, 1536 bytes at peak"), "{act}");
    assert_eq!(lines.next(), None);
}

#[test]
fn with_two_outputs_the_constants_describe_the_primary_inference() {
    // `forward` computes trunk and head only.
    assert_eq!(TwoOut::MACS, 3 * 4 + 4 * 2);
    assert_eq!(TwoOut::ACTIVATION_BYTES, (4 + 2) * 4);
    assert_eq!(TwoOut::PEAK_ACTIVATION_BYTES, (4 + 2) * 4);
    assert_eq!(TwoOut::PARAMS, (3 * 4 + 4) + (4 * 2 + 2) + (4 * 5 + 5));
    // The table lists the aux branch with its shape and parameters, and its FLOPs column
    // counts the primary inference, as the total line does: the column sums to the total.
    let s = TwoOut::summary();
    let aux = s.rows.iter().find(|r| r.node == "aux").unwrap();
    assert_eq!((aux.shape, aux.params, aux.macs), (&[5][..], 25, 0));
    assert_eq!(s.rows.iter().map(|r| r.macs).sum::<usize>(), TwoOut::MACS);
}
