//! The tape against the static ops' backward, against the gradient-check helper, and on
//! bad shapes.

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::gradcheck::{inputs, GradCase};
use crate::ops::testing::{assert_close, gradcheck};
use crate::ops::unary::{Exp, Gelu, Scale, Sigmoid, Tanh};
use crate::ops::{linear, loss};

/// A two-layer perceptron `out = tanh(x W1ᵀ + b1) W2ᵀ + b2` on a fixed batch; its
/// differentiable inputs are the parameters `[W1; b1; W2; b2]`.
struct Mlp {
    x: Vec<f64>,
    target: Vec<f64>,
}

const BATCH: usize = 4;
const IN: usize = 3;
const HID: usize = 5;
const OUT: usize = 2;
const PARAMS: usize = HID * IN + HID + OUT * HID + OUT;

fn split<T>(p: &[T]) -> (&[T], &[T], &[T], &[T]) {
    let (w1, rest) = p.split_at(HID * IN);
    let (b1, rest) = rest.split_at(HID);
    let (w2, b2) = rest.split_at(OUT * HID);
    (w1, b1, w2, b2)
}

impl Mlp {
    fn new() -> Self {
        Self { x: inputs(101, BATCH * IN, -1.0, 1.0, &[]), target: inputs(102, BATCH * OUT, -1.0, 1.0, &[]) }
    }

    /// The static forward: `(pre-activation, hidden, output)`.
    fn forward_static<T: Scalar>(&self, p: &[T]) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (w1, b1, w2, b2) = split(p);
        let x: Vec<T> = self.x.iter().map(|&v| T::from_f64(v)).collect();
        let (mut pre, mut h, mut out) =
            (vec![T::ZERO; BATCH * HID], vec![T::ZERO; BATCH * HID], vec![T::ZERO; BATCH * OUT]);
        linear::forward(&x, w1, Some(b1), &mut pre, IN, HID, &mut []);
        unary::forward(Tanh, &pre, &mut h);
        linear::forward(&h, w2, Some(b2), &mut out, HID, OUT, &mut []);
        (pre, h, out)
    }

    /// The gradient of the MSE loss by hand-chained static backward functions.
    fn loss_grad_static(&self, p: &[f64]) -> Vec<f64> {
        let (w1, _, w2, _) = split(p);
        let (pre, h, out) = self.forward_static(p);
        let mut dout = vec![0.0; out.len()];
        loss::mse_backward(&out, &self.target, 1.0, &mut dout);
        let mut g = vec![0.0; PARAMS];
        let (dw1, rest) = g.split_at_mut(HID * IN);
        let (db1, rest) = rest.split_at_mut(HID);
        let (dw2, db2) = rest.split_at_mut(OUT * HID);
        let mut dh = vec![0.0; h.len()];
        linear::backward(&h, w2, &dout, Some(&mut dh), Some(dw2), Some(db2), HID, OUT, &mut []);
        let mut dpre = vec![0.0; pre.len()];
        unary::backward(Tanh, &pre, &h, &dh, &mut dpre);
        linear::backward(&self.x, w1, &dpre, None, Some(dw1), Some(db1), IN, HID, &mut []);
        g
    }

    /// Records the network on a tape: `(params, output)`.
    fn record(&self, tape: &mut Tape<f64>, p: &[f64]) -> Result<([Var; 4], Var), ShapeError> {
        let (w1, b1, w2, b2) = split(p);
        let x = tape.constant(self.x.clone(), [BATCH, IN])?;
        let w1 = tape.leaf(w1.to_vec(), [HID, IN])?;
        let b1 = tape.leaf(b1.to_vec(), [1, HID])?;
        let w2 = tape.leaf(w2.to_vec(), [OUT, HID])?;
        let b2 = tape.leaf(b2.to_vec(), [1, OUT])?;
        let pre = tape.linear(x, w1, Some(b1))?;
        let h = tape.unary(Tanh, pre);
        let out = tape.linear(h, w2, Some(b2))?;
        Ok(([w1, b1, w2, b2], out))
    }

    /// The concatenated parameter gradients from the tape, after `backward_with(out, dy)`
    /// or, without `dy`, `backward` of the MSE loss.
    fn grad_tape(&self, p: &[f64], dy: Option<&[f64]>) -> Result<Vec<f64>, ShapeError> {
        let mut tape = Tape::new();
        let (params, out) = self.record(&mut tape, p)?;
        let grads = match dy {
            Some(dy) => tape.backward_with(out, dy)?,
            None => {
                let loss = tape.mse(out, &self.target)?;
                tape.backward(loss)?
            }
        };
        let mut g = Vec::with_capacity(PARAMS);
        for v in params {
            g.extend_from_slice(grads.get(v).unwrap_or(&[]));
        }
        Ok(g)
    }
}

impl GradCase for Mlp {
    fn name(&self) -> &str {
        "tape/mlp"
    }
    fn input_len(&self) -> usize {
        PARAMS
    }
    fn output_len(&self) -> usize {
        BATCH * OUT
    }
    fn forward<T: Scalar>(&self, p: &[T], y: &mut [T]) {
        y.copy_from_slice(&self.forward_static(p).2);
    }
    fn backward(&self, p: &[f64], _y: &[f64], dy: &[f64], dp: &mut [f64]) {
        let g = self.grad_tape(p, Some(dy)).unwrap_or_else(|e| panic!("{e}"));
        for (d, g) in dp.iter_mut().zip(g) {
            *d += g;
        }
    }
}

#[test]
fn tape_gradients_equal_the_static_backward_on_an_mlp() {
    let mlp = Mlp::new();
    let p = inputs(103, PARAMS, -1.0, 1.0, &[]);
    let tape = mlp.grad_tape(&p, None).unwrap();
    assert_eq!(tape.len(), PARAMS);
    assert_close(&tape, &mlp.loss_grad_static(&p), 1e-10);
}

#[test]
fn tape_passes_the_gradient_check_on_an_mlp() {
    let mlp = Mlp::new();
    gradcheck(&mlp, &inputs(104, PARAMS, -1.0, 1.0, &[]), 104);
}

/// A composite that uses every op of the tape, recorded on a tape of any scalar: on
/// `f64` for values and finite differences, on duals for forward mode.
struct EveryOp;

const TARGETS: [usize; 3] = [1, 0, 1];
const MSE_TARGET: [f64; 6] = [0.5, -0.5, 1.0, 0.0, -1.0, 0.25];

fn every_op<T: Scalar>(tape: &mut Tape<T>, p: &[T]) -> Result<(Vec<Var>, Var), ShapeError> {
    let x = tape.leaf(p[..12].to_vec(), [3, 4])?;
    let a = tape.leaf(p[12..24].to_vec(), [4, 3])?;
    let bias = tape.leaf(p[24..27].to_vec(), [1, 3])?;
    let w = tape.leaf(p[27..33].to_vec(), [2, 3])?;
    let c = tape.leaf(p[33..35].to_vec(), [2, 1])?;
    let ones = tape.constant(vec![T::ONE; 6], [3, 2])?;

    let h = tape.matmul(x, a)?;
    let h = tape.add_row_broadcast(h, bias)?;
    let h = tape.unary(Tanh, h);
    let z = tape.linear(h, w, Some(c))?;
    let z_plain = tape.linear(h, w, None)?;

    // Negative entropy of softmax(h), per row, then averaged.
    let sm = tape.softmax(h);
    let lsm = tape.log_softmax(h);
    let plogp = tape.mul(sm, lsm)?;
    let ent = tape.row_sum(plogp);
    let ent = tape.mean(ent);

    // gelu(z) / (1 + e^(z/2)) - z, summed.
    let g = tape.unary(Gelu, z);
    let half = tape.unary(Scale { factor: 0.5 }, z);
    let e = tape.unary(Exp, half);
    let den = tape.add(e, ones)?;
    let q = tape.div(g, den)?;
    let d = tape.sub(q, z_plain)?;
    let s = tape.sum(d);
    let s = tape.unary(Sigmoid, s);

    let ce = tape.cross_entropy(z, &TARGETS)?;
    let targets: Vec<T> = MSE_TARGET.iter().map(|&v| T::from_f64(v)).collect();
    let mse = tape.mse(z, &targets)?;

    let l1 = tape.add(ent, s)?;
    let l2 = tape.add(ce, mse)?;
    let loss = tape.add(l1, l2)?;
    Ok((vec![x, a, bias, w, c], loss))
}

impl GradCase for EveryOp {
    fn name(&self) -> &str {
        "tape/every_op"
    }
    fn input_len(&self) -> usize {
        35
    }
    fn output_len(&self) -> usize {
        1
    }
    fn forward<T: Scalar>(&self, p: &[T], y: &mut [T]) {
        let mut tape = Tape::new();
        let (_, loss) = every_op(&mut tape, p).unwrap_or_else(|e| panic!("{e}"));
        y[0] = tape.value(loss)[0];
    }
    fn backward(&self, p: &[f64], _y: &[f64], dy: &[f64], dp: &mut [f64]) {
        let mut tape = Tape::new();
        let (leaves, loss) = every_op(&mut tape, p).unwrap_or_else(|e| panic!("{e}"));
        let grads = tape.backward_with(loss, dy).unwrap_or_else(|e| panic!("{e}"));
        let mut at = 0;
        for v in leaves {
            let g = grads.get(v).unwrap_or(&[]);
            for (d, g) in dp[at..at + g.len()].iter_mut().zip(g) {
                *d += g;
            }
            at += g.len();
        }
        assert_eq!(at, p.len(), "every leaf has a gradient");
    }
}

#[test]
fn every_tape_op_passes_the_gradient_check() {
    gradcheck(&EveryOp, &inputs(105, 35, -1.0, 1.0, &[]), 105);
}

#[test]
fn matmul_plus_broadcast_agrees_with_linear() {
    // Two routes to x Wᵀ + b through different primitives must give the same gradients.
    let (x, w, b) = (inputs(106, 6, -1.0, 1.0, &[]), inputs(107, 12, -1.0, 1.0, &[]), inputs(108, 4, -1.0, 1.0, &[]));
    let mut wt = vec![0.0; 12];
    for o in 0..4 {
        for i in 0..3 {
            wt[i * 4 + o] = w[o * 3 + i];
        }
    }
    let mut t = Tape::new();
    let (xv, wv, bv) =
        (t.leaf(x.clone(), [2, 3]).unwrap(), t.leaf(w, [4, 3]).unwrap(), t.leaf(b.clone(), [4, 1]).unwrap());
    let y = t.linear(xv, wv, Some(bv)).unwrap();
    let y = t.unary(Tanh, y);
    let l1 = t.sum(y);
    let g1 = t.backward(l1).unwrap();

    let mut u = Tape::new();
    let (xu, wu, bu) = (u.leaf(x, [2, 3]).unwrap(), u.leaf(wt, [3, 4]).unwrap(), u.leaf(b, [1, 4]).unwrap());
    let y = u.matmul(xu, wu).unwrap();
    let y = u.add_row_broadcast(y, bu).unwrap();
    let y = u.unary(Tanh, y);
    let l2 = u.sum(y);
    let g2 = u.backward(l2).unwrap();

    assert_close(t.value(l1), u.value(l2), 1e-12);
    assert_close(g1.get(xv).unwrap(), g2.get(xu).unwrap(), 1e-12);
    assert_close(g1.get(bv).unwrap(), g2.get(bu).unwrap(), 1e-12);
    let (gw, gwt) = (g1.get(wv).unwrap(), g2.get(wu).unwrap());
    for o in 0..4 {
        for i in 0..3 {
            assert!((gw[o * 3 + i] - gwt[i * 4 + o]).abs() < 1e-12);
        }
    }
}

#[test]
fn fan_out_sums_the_gradients_of_every_use() {
    // y = x * x + x, dy/dx = 2x + 1; x is both operands of one op and used twice.
    let mut t = Tape::new();
    let x = t.leaf(vec![3.0, -0.5], [1, 2]).unwrap();
    let sq = t.mul(x, x).unwrap();
    let y = t.add(sq, x).unwrap();
    let s = t.sum(y);
    let g = t.backward(s).unwrap();
    assert_eq!(g.get(x), Some(&[7.0, 0.0][..]));
    // Backward does not consume the tape: a second call gives the same.
    assert_eq!(t.backward(s).unwrap().get(x), Some(&[7.0, 0.0][..]));
}

#[test]
fn constants_and_what_follows_from_them_get_no_gradient() {
    let mut t = Tape::new();
    let c = t.constant(vec![1.0, 2.0], [1, 2]).unwrap();
    let k = t.unary(Exp, c);
    let x = t.leaf(vec![0.5, 0.5], [1, 2]).unwrap();
    let unused = t.leaf(vec![9.0], [1, 1]).unwrap();
    let y = t.mul(k, x).unwrap();
    let s = t.sum(y);
    let g = t.backward(s).unwrap();
    assert_eq!(g.get(c), None);
    assert_eq!(g.get(k), None);
    assert_eq!(g.get(unused), Some(&[0.0][..]));
    assert_close(g.get(x).unwrap(), &[1f64.exp(), 2f64.exp()], 1e-15);
}

#[test]
fn forward_mode_runs_through_the_tape_on_dual_numbers() {
    use crate::Dual;
    // d/dx of x^2 sin(x) through data-dependent control flow, on a tape of duals.
    let x0 = 1.3;
    let mut t = Tape::<Dual<f64, 1>>::new();
    let x = t.leaf(vec![Dual::variable(x0, 0)], [1, 1]).unwrap();
    let mut y = x;
    while t.value(y)[0].re < 100.0 {
        y = t.mul(y, x).unwrap();
    }
    // 1.3^18 is the first power above 100.
    let d = t.value(y)[0];
    assert!((d.re - x0.powi(18)).abs() < 1e-12 * d.re);
    assert!((d.eps[0] - 18.0 * x0.powi(17)).abs() < 1e-12 * d.eps[0]);
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let mut t = Tape::<f64>::new();
    assert_eq!(
        t.leaf(vec![1.0; 5], [2, 3]).unwrap_err(),
        ShapeError::Length { what: "Tape::leaf", expected: 6, found: 5 }
    );
    let a = t.leaf(vec![1.0; 6], [2, 3]).unwrap();
    let b = t.leaf(vec![1.0; 6], [3, 2]).unwrap();
    let s = t.scalar(1.0);
    assert!(matches!(t.add(a, b), Err(ShapeError::MatrixMismatch { what: "add", .. })));
    assert!(t.matmul(a, b).is_ok());
    assert!(matches!(t.matmul(a, a), Err(ShapeError::MatrixMismatch { what: "matmul", .. })));
    assert!(matches!(t.linear(a, b, None), Err(ShapeError::MatrixMismatch { what: "linear", .. })));
    assert!(matches!(t.linear(a, a, Some(a)), Err(ShapeError::Length { what: "Tape::linear bias", .. })));
    assert!(matches!(t.add_row_broadcast(a, s), Err(ShapeError::Length { .. })));
    assert!(matches!(t.mse(a, &[0.0; 5]), Err(ShapeError::Length { what: "Tape::mse target", .. })));
    assert!(matches!(t.cross_entropy(a, &[0]), Err(ShapeError::Length { .. })));
    assert_eq!(
        t.cross_entropy(a, &[0, 3]).unwrap_err(),
        ShapeError::IndexOutOfRange { what: "cross_entropy target", index: 3, bound: 3 }
    );
    assert!(matches!(t.backward(a), Err(ShapeError::Length { what: "Tape::backward loss", .. })));
    assert!(t.backward_with(a, &[1.0; 2]).is_err());
    assert!(t.item(a).is_err());
    assert_eq!(t.item(s), Ok(1.0));
    // Nothing was recorded by the failed ops.
    assert_eq!(t.len(), 4);
}

#[test]
#[should_panic(expected = "Var #7 is not from this tape, which holds 1 tensors")]
fn a_var_from_another_tape_panics_with_a_message() {
    let mut big = Tape::<f64>::new();
    let mut v = big.scalar(0.0);
    for _ in 0..7 {
        v = big.unary(Exp, v);
    }
    let mut small = Tape::<f64>::new();
    small.scalar(0.0);
    small.value(v);
}

#[test]
fn clear_forgets_everything() {
    let mut t = Tape::<f32>::new();
    let x = t.leaf(vec![1.0], [1, 1]).unwrap();
    t.unary(Exp, x);
    assert_eq!(t.len(), 2);
    t.clear();
    assert!(t.is_empty());
}
