//! A `network!` network run on dual numbers: its directional derivatives agree with the
//! reverse-mode gradients of the generated backward; and what only the running program can
//! get wrong (slice lengths, batches beyond a fixed capacity) is an `Err`, never a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};

use monograd::core::module::to_vec as flat;
use monograd::prelude::*;

network! {
    /// A fused ReLU, a residual connection, a smooth activation and a concatenation.
    pub struct Net {
        input x: [3],
        fc1: Linear<3, 6>,
        act: ReLU,
        fc2: Linear<6, 3>,
        sum(fc2, x): Add,
        t: Tanh,
        side(x): Linear<3, 2>,
        cat(t, side): Concat,
        head: Linear<5, 2>,
    }
}

network! {
    /// Two outputs; the aux branch is two layers deep.
    pub struct Two {
        input x: [3],
        trunk: Linear<3, 4>,
        act: Tanh,
        head: Linear<4, 2>,
        aux1(act): Linear<4, 4>,
        aux2: Linear<4, 1>,
        output (head, aux2),
    }
}

const B: usize = 3;
/// `PARAMS` at `f64` (the inherent constant `Net::PARAMS` is for the default `f32`).
const N_PARAMS: usize = <Net<f64> as Module<f64>>::PARAMS;

fn load<T: Scalar, M: Module<T>>(m: &mut M, p: &[T]) {
    monograd::core::module::load_flat(m, p).unwrap();
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn uniform(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

/// The `Dual<f64, 2>` network with the values of `net` and tangents `dirs[k]` on its
/// parameters (in visit order), and the input with tangents `xdirs[k]`.
fn dual_point(
    net: &Net<f64>,
    x: &[f64],
    dirs: [&[f64]; 2],
    xdirs: [&[f64]; 2],
) -> (Net<Dual<f64, 2>>, Vec<Dual<f64, 2>>) {
    let p: Vec<Dual<f64, 2>> =
        flat(net).iter().enumerate().map(|(i, &v)| Dual::new(v, [dirs[0][i], dirs[1][i]])).collect();
    let mut dnet = Net::<Dual<f64, 2>>::default();
    load(&mut dnet, &p);
    let dx = x.iter().enumerate().map(|(i, &v)| Dual::new(v, [xdirs[0][i], xdirs[1][i]])).collect();
    (dnet, dx)
}

#[test]
fn directional_derivatives_equal_contracted_reverse_mode_gradients() {
    let mut rng = Rng::seed(21);
    let mut net = Net::<f64>::new(&mut rng);
    let x = uniform(&mut rng, B * 3);
    let w = uniform(&mut rng, B * 2); // a cotangent on the output
    let n = N_PARAMS;
    assert_eq!(n, Net::PARAMS);
    let zeros = vec![0.0; n];

    // Reverse mode: Jₓᵀ w and J_θᵀ w.
    let mut st = Net::<f64>::state::<Heap>();
    let y = net.forward_train(&x, &mut st).unwrap().to_vec();
    let mut grad = Net::<f64>::default();
    let gx = net.backward_input(&x, &w, &mut grad, &mut st).unwrap().to_vec();
    let gp = flat(&grad);
    assert!(gx.iter().all(|g| *g != 0.0), "every input matters");

    // Forward mode along two input directions at once: <w, Jₓ v_k> = <Jₓᵀ w, v_k>.
    let (v1, v2) = (uniform(&mut rng, B * 3), uniform(&mut rng, B * 3));
    let (dnet, dx) = dual_point(&net, &x, [&zeros, &zeros], [&v1, &v2]);
    let mut dst = Net::<Dual<f64, 2>>::state::<Heap>();
    let dy = dnet.forward(&dx, &mut dst).unwrap();
    for (k, v) in [&v1, &v2].into_iter().enumerate() {
        let fwd: f64 = dy.iter().zip(&w).map(|(d, w)| d.eps[k] * w).sum();
        let rev = dot(&gx, v);
        assert!(close(fwd, rev, 1e-10), "input direction {k}: forward {fwd:e}, reverse {rev:e}");
    }
    // The values are the f64 network's.
    for (d, y) in dy.iter().zip(&y) {
        assert!(close(d.re, *y, 1e-15));
    }

    // Along the input and the parameters together: <w, Jₓ v + J_θ u> = <Jₓᵀ w, v> + <J_θᵀ w, u>.
    let (u1, u2) = (uniform(&mut rng, n), uniform(&mut rng, n));
    let (dnet, dx) = dual_point(&net, &x, [&u1, &u2], [&v1, &v2]);
    let dy = dnet.forward(&dx, &mut dst).unwrap();
    for (k, (v, u)) in [(&v1, &u1), (&v2, &u2)].into_iter().enumerate() {
        let fwd: f64 = dy.iter().zip(&w).map(|(d, w)| d.eps[k] * w).sum();
        let rev = dot(&gx, v) + dot(&gp, u);
        assert!(close(fwd, rev, 1e-10), "direction {k}: forward {fwd:e}, reverse {rev:e}");
    }

    // One basis direction per input element reproduces Jₓᵀ w element by element.
    for i in 0..B * 3 {
        let mut e = vec![0.0; B * 3];
        e[i] = 1.0;
        let (dnet, dx) = dual_point(&net, &x, [&zeros, &zeros], [&e, &zeros[..B * 3]]);
        let dy = dnet.forward(&dx, &mut dst).unwrap();
        let fwd: f64 = dy.iter().zip(&w).map(|(d, w)| d.eps[0] * w).sum();
        assert!(close(fwd, gx[i], 1e-10), "x[{i}]: forward {fwd:e}, reverse {:e}", gx[i]);
    }
}

#[test]
fn fixed_storage_runs_the_dual_network_like_the_heap() {
    let mut rng = Rng::seed(22);
    let net = Net::<f64>::new(&mut rng);
    let x = uniform(&mut rng, B * 3);
    let v = uniform(&mut rng, B * 3);
    let zeros = vec![0.0; N_PARAMS];
    let (dnet, dx) = dual_point(&net, &x, [&zeros, &zeros], [&v, &v]);
    let mut heap = Net::<Dual<f64, 2>>::state::<Heap>();
    let mut fixed = Net::<Dual<f64, 2>>::state::<Fixed<4>>();
    let a = dnet.forward(&dx, &mut heap).unwrap().to_vec();
    let b = dnet.forward(&dx, &mut fixed).unwrap();
    assert_eq!(a, b);
    assert!(a.iter().any(|d| d.eps[0] != 0.0));
}

#[test]
fn a_wrong_length_input_is_not_whole_samples() {
    let mut net = Net::new(&mut Rng::seed(1));
    let mut st = Net::state::<Heap>();
    let bad = [0.5f32; 7];
    let expected = ShapeError::NotWholeSamples { what: "`Net` input", len: 7, sample: 3 };
    assert_eq!(net.forward(&bad, &mut st), Err(expected.clone()));
    assert_eq!(net.forward_train(&bad, &mut st), Err(expected.clone()));
    assert_eq!(Network::forward(&net, &bad, &mut st), Err(expected.clone()));
    // The same over a fixed capacity, and for a second output's own forward.
    let mut fixed = Net::state::<Fixed<4>>();
    assert_eq!(net.forward(&bad, &mut fixed), Err(expected));
    let two = Two::new(&mut Rng::seed(1));
    let mut st2 = Two::state::<Heap>();
    assert_eq!(
        two.forward_aux2(&bad[..4], &mut st2),
        Err(ShapeError::NotWholeSamples { what: "`Two` input", len: 4, sample: 3 })
    );
    // An empty batch is a batch of zero samples.
    assert_eq!(net.forward(&[], &mut st).map(<[f32]>::len), Ok(0));
}

#[test]
fn a_batch_over_a_fixed_capacity_is_an_error() {
    let mut net = Net::new(&mut Rng::seed(2));
    let mut st = Net::state::<Fixed<2>>();
    let x = [0.25f32; 3 * 3];
    // The error names the network and the first node whose buffer is too small.
    let expected = ShapeError::Capacity { what: "`Net` node `fc1`", capacity: 2, requested: 3 };
    assert_eq!(net.forward(&x, &mut st), Err(expected.clone()));
    assert_eq!(net.forward_train(&x, &mut st), Err(expected.clone()));
    // Backward after the failed forward is an error too, not a panic.
    let mut grad = Net::default();
    assert_eq!(net.backward(&x, &[1.0; 6], &mut grad, &mut st), Err(ShapeError::NoTrainingForward { what: "`Net`" }));
    // The state still serves batches within its capacity, for a whole training step.
    let y = net.forward_train(&x[..6], &mut st).unwrap().to_vec();
    assert_eq!(y.len(), 2 * 2);
    let dx = net.backward_input(&x[..6], &[1.0; 4], &mut grad, &mut st).unwrap();
    assert_eq!(dx.len(), 6);
    assert!(flat(&grad).iter().any(|g| *g != 0.0));
}

#[test]
fn a_wrong_length_gradient_or_input_in_backward_is_an_error() {
    let mut net = Net::new(&mut Rng::seed(3));
    let mut st = Net::state::<Heap>();
    let mut grad = Net::default();
    let x = [0.1f32; 2 * 3];
    // Before any training forward, there is nothing to differentiate.
    assert_eq!(net.backward(&x, &[1.0; 4], &mut grad, &mut st), Err(ShapeError::NoTrainingForward { what: "`Net`" }));
    net.forward_train(&x, &mut st).unwrap();
    for bad in [3, 5, 6] {
        assert_eq!(
            net.backward(&x, &vec![1.0; bad], &mut grad, &mut st),
            Err(ShapeError::Length { what: "gradient of `head`", expected: 4, found: bad })
        );
        assert!(net.backward_input(&x, &vec![1.0; bad], &mut grad, &mut st).is_err());
        assert!(Network::backward(&net, &x, &vec![1.0; bad], &mut grad, &mut st).is_err());
    }
    // `x` of another batch than the training forward's.
    assert_eq!(
        net.backward(&x[..3], &[1.0; 2], &mut grad, &mut st),
        Err(ShapeError::Length { what: "`Net` input", expected: 6, found: 3 })
    );
    // A network with two outputs checks each gradient.
    let mut two = Two::new(&mut Rng::seed(3));
    let mut st2 = Two::state::<Heap>();
    let mut g2 = Two::default();
    two.forward_train(&x, &mut st2).unwrap();
    assert_eq!(
        two.backward(&x, &[1.0; 4], &[1.0; 3], &mut g2, &mut st2),
        Err(ShapeError::Length { what: "gradient of `aux2`", expected: 2, found: 3 })
    );
    // With right lengths it succeeds; an empty slice means no gradient from that output.
    assert_eq!(two.backward(&x, &[1.0; 4], &[1.0; 2], &mut g2, &mut st2), Ok(()));
    assert_eq!(two.backward(&x, &[1.0; 4], &[], &mut g2, &mut st2), Ok(()));
}

/// FAILS (bug): with one output, an empty `dy` is taken as "no gradient from this output"
/// (the multi-output convention) and `backward` returns `Ok` with zero gradients, instead of
/// the length error any other wrong length gets.
#[test]
fn an_empty_gradient_for_the_only_output_is_an_error() {
    let mut net = Net::new(&mut Rng::seed(4));
    let mut st = Net::state::<Heap>();
    let mut grad = Net::default();
    let x = [0.1f32; 2 * 3];
    net.forward_train(&x, &mut st).unwrap();
    assert_eq!(
        net.backward(&x, &[], &mut grad, &mut st),
        Err(ShapeError::Length { what: "gradient of `head`", expected: 4, found: 0 })
    );
}

/// FAILS (bug): after `forward_train` on one batch, an inference forward on a batch of
/// another size overwrites `__batch` but only the buffers its output needs; `backward` then
/// trusts the state and hands layers buffers of two batch sizes, and `linear::backward`
/// panics on the mismatch. Misuse (backward must follow `forward_train` on the same `x`),
/// but it must be an `Err`, not a panic.
#[test]
fn backward_after_an_inference_forward_of_another_batch_is_an_error_not_a_panic() {
    let mut two = Two::new(&mut Rng::seed(5));
    let mut st = Two::state::<Heap>();
    let mut grad = Two::default();
    let x3 = [0.2f32; 3 * 3];
    two.forward_train(&x3, &mut st).unwrap();
    let x2 = &x3[..2 * 3];
    two.forward(x2, &mut st).unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| two.backward(x2, &[1.0; 4], &[1.0; 2], &mut grad, &mut st)));
    match result {
        Ok(r) => assert!(r.is_err(), "backward after an inference forward must not compute gradients"),
        Err(_) => panic!("backward panicked instead of returning an error"),
    }
}
