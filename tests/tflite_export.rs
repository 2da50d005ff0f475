//! The `.tflite` writer: every per-operator case exports, what TFLite cannot express is an
//! error naming the operator, and (with TFLite Micro at hand, scripts/check-tflite.sh)
//! TFLite Micro's outputs equal the committed fixtures the kernel tests read.

mod tflite_cases;

use monograd::quant::graph::{Activation, Op};
use monograd::quant::tflite::{to_tflite, Error};
use tflite_cases::{cases, tflm, Case, SAMPLES};

fn find(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).expect("a case of that name")
}

fn fixture(case: &Case) -> Vec<i8> {
    let bytes = std::fs::read(case.fixture()).unwrap_or_else(|e| panic!("{}: {e}", case.fixture().display()));
    bytes.into_iter().map(|b| b as i8).collect()
}

#[test]
fn every_case_exports_with_aligned_constants() {
    for case in cases() {
        let bytes = to_tflite(&case.graph).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(&bytes[4..8], b"TFL3", "{}", case.name);
        assert_eq!(bytes.len() % 16, 0, "{}: length {}", case.name, bytes.len());
        // Every weight tensor's bytes appear, 16-byte aligned, in the file.
        for t in &case.graph.tensors {
            if let Some(monograd::quant::graph::Data::I32(v)) = &t.data {
                let le: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                let at = bytes.windows(le.len()).position(|w| w == le.as_slice());
                let at = at.unwrap_or_else(|| panic!("{}: bias `{}` not in the file", case.name, t.name));
                assert_eq!(at % 16, 0, "{}: bias `{}` at {at}", case.name, t.name);
            }
        }
    }
}

/// The files TFLite Micro ran when the fixtures were written, byte for byte: a change in
/// the writer shows here, without Python, until scripts/check-tflite.sh --bless has run
/// the new files in TFLite Micro.
#[test]
fn the_writer_gives_the_files_tflite_micro_ran() {
    for case in cases() {
        let model = to_tflite(&case.graph).unwrap();
        let stored = std::fs::read(case.model_fixture()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(stored == model, "{}: {} bytes written, {} stored", case.name, model.len(), stored.len());
    }
}

#[test]
fn the_fixtures_cover_every_case() {
    for case in cases() {
        assert_eq!(fixture(&case).len(), SAMPLES * case.output_len(), "{}", case.name);
    }
}

fn expect_err(case: &Case, op: Option<usize>, words: &str) {
    let err: Error = to_tflite(&case.graph).expect_err(case.name);
    assert_eq!(err.op.as_ref().map(|o| o.0), op, "{err}");
    assert!(err.to_string().contains(words), "`{err}` should say `{words}`");
}

#[test]
fn padding_tflite_cannot_name_is_an_error() {
    // 3x3, stride 2, padding 1 on an even input: SAME would pad 0 before and 1 after.
    let mut case = find("conv_same_stride2_relu6");
    let x = case.graph.inputs[0];
    case.graph.tensors[x].shape = vec![2, 10, 10];
    expect_err(&case, Some(0), "neither TFLite's SAME nor VALID");
}

#[test]
fn declared_shapes_are_checked() {
    let mut case = find("maxpool_2x2");
    let y = case.graph.outputs[0];
    case.graph.tensors[y].shape = vec![4, 5, 4];
    expect_err(&case, Some(0), "declared [4, 5, 4], but the operator yields [4, 4, 4]");
}

#[test]
fn a_flattened_image_as_output_is_an_error() {
    let mut case = find("flatten_linear");
    case.graph.ops.truncate(1);
    let flat = case.graph.tensors.iter().position(|t| t.name == "flat").unwrap();
    case.graph.outputs = vec![flat];
    expect_err(&case, None, "channels-last order");
}

#[test]
fn bad_indices_and_data_are_errors_not_panics() {
    let mut case = find("fc_per_channel");
    let Op::Linear { weight, .. } = case.graph.ops[0] else { panic!("the linear layer") };
    case.graph.tensors[weight].data = Some(monograd::quant::graph::Data::I8(vec![0; 3]));
    expect_err(&case, Some(0), "holds 3 values");

    let mut case = find("fc_per_channel");
    if let Op::Linear { bias, .. } = &mut case.graph.ops[0] {
        *bias = 99;
    }
    expect_err(&case, Some(0), "tensor index 99 out of range");

    let mut case = find("fc_per_channel");
    if let Op::Linear { activation, .. } = &mut case.graph.ops[0] {
        *activation = Activation::Relu;
    }
    case.graph.tensors[0].quant.scale[0] = f32::NAN;
    expect_err(&case, None, "not a positive finite number");
}

/// With `MONOGRAD_TFLITE_BLESS=1` it writes the fixtures instead of comparing.
#[test]
#[ignore = "needs TFLite Micro's Python package: scripts/check-tflite.sh runs it"]
fn tflite_micro_gives_the_fixtures() {
    let bless = std::env::var_os("MONOGRAD_TFLITE_BLESS").is_some();
    for case in cases() {
        let model = to_tflite(&case.graph).unwrap();
        let got = tflm::run(&case.graph, &model, &case.input, case.name).unwrap();
        assert_eq!(got.len(), SAMPLES * case.output_len(), "{}", case.name);
        if bless {
            let bytes: Vec<u8> = got.iter().map(|v| *v as u8).collect();
            std::fs::write(case.fixture(), bytes).unwrap();
            std::fs::write(case.model_fixture(), &model).unwrap();
            println!("{}: wrote {}", case.name, case.fixture().display());
        } else {
            let stored = std::fs::read(case.model_fixture()).unwrap();
            assert!(stored == model, "{}: the writer's file differs from the one TFLite Micro ran", case.name);
            let want = fixture(&case);
            let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(diff, 0, "{}: {diff} of {} outputs differ from the fixture", case.name, want.len());
            println!("{}: {} outputs equal the fixture", case.name, want.len());
        }
    }
}

/// The fixtures (TFLite Micro's outputs) against TFLite's int8 arithmetic transcribed on
/// the channels-first graph: a wrong filter transpose, column permutation, padding or
/// axis in the writer would show here, with no Python.
#[test]
fn the_fixtures_follow_tflites_arithmetic_on_the_graph() {
    for case in cases() {
        let want = fixture(&case);
        let (n_in, n_out) = (case.input.len() / SAMPLES, case.output_len());
        let mut diff = 0;
        for k in 0..SAMPLES {
            let got = tflite_cases::reference::run(&case.graph, &case.input[k * n_in..(k + 1) * n_in]);
            diff += got.iter().zip(&want[k * n_out..(k + 1) * n_out]).filter(|(a, b)| a != b).count();
        }
        assert_eq!(diff, 0, "{}: {diff} of {} outputs differ", case.name, want.len());
    }
}

#[test]
fn a_relu6_that_rescales_is_an_error() {
    let mut case = find("relu6");
    let y = case.graph.outputs[0];
    case.graph.tensors[y].quant.scale[0] = 6.0 / 255.0;
    expect_err(&case, Some(0), "does not rescale");
}

#[test]
fn hostile_geometry_is_an_error_not_an_overflow() {
    // Kernel, stride, dilation and window values a corrupt graph could hold.
    for value in [0usize, usize::MAX, 1 << 40] {
        let mut case = find("conv_same_dilated");
        if let Op::Conv2d { dilation, .. } = &mut case.graph.ops[0] {
            dilation[1] = value;
        }
        expect_err(&case, Some(0), "dilation");

        let mut case = find("conv_same_stride2_relu6");
        if let Op::Conv2d { padding, .. } = &mut case.graph.ops[0] {
            padding[0] = value.max(1 << 20);
        }
        expect_err(&case, Some(0), "padding");

        let mut case = find("avgpool_3x3_same");
        if let Op::AvgPool2d { stride, .. } = &mut case.graph.ops[0] {
            stride[0] = value;
        }
        expect_err(&case, Some(0), "stride");
    }
    // A depthwise filter with an empty kernel, an activation with an empty or huge shape.
    let mut case = find("depthwise_valid_relu6");
    let Op::DepthwiseConv2d { weight, .. } = case.graph.ops[0] else { panic!("the depthwise convolution") };
    case.graph.tensors[weight].shape = vec![4, 1, 0, 3];
    case.graph.tensors[weight].data = Some(monograd::quant::graph::Data::I8(Vec::new()));
    expect_err(&case, Some(0), "kernel size 0");
    let mut case = find("fc_per_tensor_relu");
    case.graph.tensors[0].shape = vec![0];
    expect_err(&case, None, "empty dimension");
    let mut case = find("fc_per_tensor_relu");
    case.graph.tensors[0].shape = vec![1 << 20, 1 << 20, 1 << 20];
    expect_err(&case, None, "more elements than");
}
