//! States for programs without a heap: constant `Fixed` states (for `static`s), the
//! inference-only state and its size (`RAM_BYTES`), and networks built by the compiler
//! (`embed::zeroed`).

use monograd::core::embed::zeroed;
use monograd::core::storage::Fixed;
use monograd::prelude::*;

network! {
    /// TensorFlow Lite Micro's sine model.
    pub struct Sine {
        input: [1],
        fc1: Linear<1, 16>,
        act1: ReLU,
        fc2: Linear<16, 16>,
        act2: ReLU,
        fc3: Linear<16, 1>,
    }
}

network! {
    /// A convolution, a skip connection and two outputs.
    pub struct Branchy {
        input: [1, 6, 6],
        conv: Conv2d<1, 2, 3, 1, 1>,
        bn: BatchNorm2d<2>,
        act: ReLU,
        sum(act, conv): Add,
        flat(sum): Flatten,
        drop: Dropout(0.1),
        fc: Linear<72, 3>,
        aux(flat): Linear<72, 2>,
        output (fc, aux),
    }
}

static SINE_STATE: SineState<f32, Fixed<1>> = Sine::fixed_state();
static SINE_INFER: SineInference<f32, Fixed<4>> = Sine::fixed_inference_state();
static ZERO_SINE: Sine = zeroed();

#[test]
fn constant_states_equal_fresh_ones() {
    // A constant state is the one `state()` builds: empty buffers of the same capacity.
    let fresh = Sine::<f32>::state::<Fixed<1>>();
    assert_eq!(format!("{:?}", SINE_STATE.output()), format!("{:?}", fresh.output()));
    assert!(SINE_INFER.output().is_empty());
    let _: BranchyState<f64, Fixed<2, 16>> = BranchyState::EMPTY;
    let _: BranchyInference<f64, Fixed<2>> = Branchy::<f64>::fixed_inference_state();
}

#[test]
fn zeroed_networks_are_zero() {
    let mut n = 0;
    ZERO_SINE.visit(&monograd::core::module::Path::ROOT, &mut |t| {
        n += t.values.len();
        assert!(t.values.iter().all(|v| *v == 0.0));
    });
    assert_eq!(n, Sine::PARAMS);
    // Declared settings are kept.
    let b: Branchy = zeroed();
    assert_eq!(b.drop.p, 0.1);
}

#[test]
fn infer_gives_forward_s_values_bit_for_bit() {
    let mut rng = Rng::seed(3);
    let net = Sine::new(&mut rng);
    let x: Vec<f32> = (0..4).map(|i| i as f32 * 0.7).collect();
    let mut st = Sine::state::<Fixed<4>>();
    let mut inf = Sine::fixed_inference_state::<4>();
    let want = net.forward(&x, &mut st).unwrap().to_vec();
    assert_eq!(net.infer(&x, &mut inf).unwrap(), want.as_slice());
    assert_eq!(inf.output(), want.as_slice());
    assert!(net.infer(&[0.0; 5], &mut inf).is_err(), "over capacity is an error");

    let net = Branchy::<f64>::new(&mut rng);
    let x: Vec<f64> = (0..72).map(|i| (i as f64 * 0.37).sin()).collect();
    let mut st = Branchy::<f64>::state::<Heap>();
    let mut inf = Branchy::<f64>::inference_state::<Heap>();
    let want = net.forward(&x, &mut st).unwrap().to_vec();
    assert_eq!(net.infer(&x, &mut inf).unwrap(), want.as_slice());
}

/// The inference state holds the outputs `ACTIVATION_BYTES` counts and one length per
/// buffer, nothing else: no gradients, no caches, no packing memory.
#[test]
fn the_inference_state_is_what_ram_bytes_says() {
    let len = std::mem::size_of::<usize>();
    assert_eq!(Sine::RAM_BYTES, std::mem::size_of::<SineInference<f32, Fixed<1>>>());
    // Three nodes: fc1 (with act1 fused), fc2 (act2 fused), fc3.
    assert_eq!(Sine::ACTIVATION_BYTES, (16 + 16 + 1) * 4);
    let padded = (Sine::ACTIVATION_BYTES + 3 * len).next_multiple_of(len);
    assert_eq!(Sine::RAM_BYTES, padded);
    // The training state carries the gradients too: well over twice as much.
    assert!(std::mem::size_of::<SineState<f32, Fixed<1>>>() > 2 * Sine::ACTIVATION_BYTES);
    // The peak is a lower bound: what a state that shared buffers between nodes would take.
    assert_eq!((Sine::PEAK_ACTIVATION_BYTES, Sine::ACTIVATION_BYTES), ((16 + 16) * 4, (16 + 16 + 1) * 4));
}

/// A constant state trains exactly as a fresh one.
#[test]
fn training_in_a_constant_state_equals_a_fresh_one() {
    let x = [0.1f32, 0.5, 1.0, 2.0];
    let y = [0.2f32, 0.4, 0.8, 0.9];
    let run = |mut st: SineState<f32, Fixed<4>>| {
        let mut net = Sine::new(&mut Rng::seed(5));
        let mut grad: Sine = zeroed();
        let mut dy = [0.0f32; 4];
        for _ in 0..5 {
            let out = net.forward_train(&x, &mut st).unwrap();
            MseLoss.backward(out, &y, &mut dy).unwrap();
            grad.zero();
            net.backward(&x, &dy, &mut grad, &mut st).unwrap();
            net.visit_update(&grad, &monograd::core::module::Path::ROOT, &mut 0, &mut |u| {
                for (w, g) in u.value.iter_mut().zip(u.grad) {
                    *w -= 0.1 * g;
                }
            });
        }
        net
    };
    let a = run(SineState::EMPTY);
    let b = run(Sine::state::<Fixed<4>>());
    assert_eq!(format!("{:?}", a.fc2.weight), format!("{:?}", b.fc2.weight));
}
