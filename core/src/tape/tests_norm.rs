//! The tape's normalisation, embedding and loss ops through the gradient-check helper
//! (reverse mode against finite differences and against forward mode on a tape of dual
//! numbers), and their errors.

use alloc::vec;
use alloc::vec::Vec;

use super::testing::{check, Case, Recorder};
use super::*;
use crate::gradcheck::{inputs, GradCase};
use crate::ops::testing::gradcheck;
use crate::ops::unary::Tanh;

struct BatchNorm;
impl Recorder for BatchNorm {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        let y = t.batch_norm(v[0], v[1], v[2], 1e-5)?;
        // A nonlinearity after it, so that the statistics' share of the gradient matters
        // (the sum of a batch norm's output does not depend on x).
        Ok(t.unary(Tanh, y))
    }
}

struct BatchNormEval;
impl Recorder for BatchNormEval {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        let (mean, var) = ([0.1, -0.2, 0.3].map(T::from_f64), [0.5, 1.0, 2.0].map(T::from_f64));
        t.batch_norm_eval(v[0], v[1], v[2], &mean, &var, 1e-5)
    }
}

struct LayerNorm;
impl Recorder for LayerNorm {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        let y = t.layer_norm(v[0], v[1], v[2], 1e-5)?;
        Ok(t.unary(Tanh, y))
    }
}

#[test]
fn normalisations_pass_the_gradient_check() {
    check(&Case::new("tape/batch_norm", &[&[4, 3], &[3], &[3]], BatchNorm), 301);
    check(&Case::new("tape/batch_norm/images", &[&[3, 2, 2, 3], &[2], &[2]], BatchNorm), 302);
    check(&Case::new("tape/batch_norm_eval", &[&[2, 3, 4], &[3], &[3]], BatchNormEval), 303);
    check(&Case::new("tape/layer_norm", &[&[2, 3, 4], &[4], &[4]], LayerNorm), 304);
}

#[test]
fn batch_norm_hands_out_its_statistics() {
    let mut t = Tape::<f64>::new();
    // Two samples, two channels of two positions: channel 0 holds 1, 2, 5, 6.
    let x = t.leaf(vec![1.0, 2.0, 10.0, 10.0, 5.0, 6.0, 10.0, 14.0], [2, 2, 2]).unwrap();
    let (w, b) = (t.leaf(vec![1.0; 2], [2]).unwrap(), t.leaf(vec![0.0; 2], [2]).unwrap());
    let y = t.batch_norm(x, w, b, 0.0).unwrap();
    assert_eq!(t.batch_statistics(y), Some((&[3.5, 11.0][..], &[4.25, 3.0][..])));
    assert_eq!(t.batch_statistics(x), None);
    let e = t.batch_norm_eval(x, w, b, &[0.0; 2], &[1.0; 2], 0.0).unwrap();
    assert_eq!(t.value(e), t.value(x));
    assert_eq!(t.batch_statistics(e), None, "inference uses no batch statistics");
}

struct Embed;
impl Recorder for Embed {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        // Repeated tokens: their gradients add up.
        let tokens = t.constant([1.0, 4.0, 1.0, 0.0, 2.0, 2.0, 3.0, 1.0].map(T::from_f64).to_vec(), [2, 4])?;
        let y = t.embedding(v[0], tokens)?;
        assert_eq!(t.shape(y), [2, 4, 3]);
        Ok(y)
    }
}

struct Drop;
impl Recorder for Drop {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        let y = t.dropout(v[0], crate::ops::dropout::DropoutMask::new(0.4, 3, 9));
        Ok(t.unary(Tanh, y))
    }
}

#[test]
fn dropout_passes_the_gradient_check_and_uses_the_layers_mask() {
    check(&Case::new("tape/dropout", &[&[4, 10]], Drop), 315);
    let mask = crate::ops::dropout::DropoutMask::new(0.4, 3, 9);
    let mut t = Tape::<f64>::new();
    let x = t.leaf(vec![1.0; 40], [4, 10]).unwrap();
    let y = t.dropout(x, mask);
    let want: Vec<f64> = (0..40).map(|i| if mask.keeps(i) { 1.0 / 0.6 } else { 0.0 }).collect();
    assert_eq!(t.value(y), want);
    assert!(want.contains(&0.0) && want.iter().any(|&v| v > 1.0), "a real mask");
}

#[test]
fn embedding_passes_the_gradient_check() {
    check(&Case::new("tape/embedding", &[&[5, 3]], Embed), 310);
}

/// Each loss of the tape on the same predictions, summed.
struct Losses;
impl Recorder for Losses {
    fn record<T: Scalar>(&self, t: &mut Tape<T>, v: &[Var]) -> Result<Var, ShapeError> {
        let f = |v: &[f64]| v.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>();
        let p = v[0];
        // Targets 2 away from every prediction in [-1, 1]: no kink of |p - t|.
        let l1 = t.l1(p, &f(&[2.0, -2.0, 2.0, -2.0, 2.0, -2.0]))?;
        let hub = t.huber(p, &f(&[0.0; 6]), T::from_f64(0.5))?;
        let mse = t.mse(p, &f(&[0.5, 0.0, -0.5, 1.0, 0.25, 0.0]))?;
        let weight = f(&[1.0, 2.0, 0.5]);
        let ce = t.cross_entropy_with(p, &[2, 0], Some(&weight), T::from_f64(0.1))?;
        let lp = t.log_softmax(p);
        let nll = t.nll(lp, &[1, 2], Some(&weight))?;
        let bce = t.bce_with_logits(p, &f(&[1.0, 0.0, 0.5, 0.0, 1.0, 1.0]), Some(&f(&[2.0, 1.0, 0.5])))?;
        let mut total = l1;
        for l in [hub, mse, ce, nll, bce] {
            total = t.add(total, l)?;
        }
        Ok(total)
    }
}

#[test]
fn losses_pass_the_gradient_check() {
    let case = Case::new("tape/losses", &[&[2, 3]], Losses);
    // Huber's second derivative jumps at |p| = δ: keep finite differences off it.
    gradcheck(&case, &inputs(320, case.input_len(), -1.0, 1.0, &[-0.5, 0.5]), 320);
}

#[test]
fn bad_shapes_of_norms_embeddings_and_losses_are_errors() {
    let mut t = Tape::<f64>::new();
    let x = t.leaf(vec![0.0; 12], [2, 3, 2]).unwrap();
    let v3 = t.leaf(vec![1.0; 3], [3]).unwrap();
    let v2 = t.leaf(vec![1.0; 2], [2]).unwrap();
    let before = t.len();
    assert!(matches!(t.batch_norm(v3, v3, v3, 1e-5), Err(ShapeError::Rank { expected: 2, found: 1, .. })));
    assert_eq!(
        t.batch_norm(x, v2, v3, 1e-5).unwrap_err(),
        ShapeError::Length { what: "batch norm weight", expected: 3, found: 2 }
    );
    assert!(matches!(t.batch_norm_eval(x, v3, v3, &[0.0; 2], &[1.0; 3], 1e-5), Err(ShapeError::Length { .. })));
    assert!(matches!(t.layer_norm(x, v3, v2, 1e-5), Err(ShapeError::Length { what: "Tape::layer_norm weight", .. })));
    assert!(t.layer_norm(x, v2, v2, 1e-5).is_ok());

    let w = t.leaf(vec![0.0; 6], [3, 2]).unwrap();
    for bad in [3.0, -1.0, 0.5, f64::NAN] {
        let tok = t.constant(vec![0.0, bad], [2]).unwrap();
        assert!(matches!(t.embedding(w, tok), Err(ShapeError::IndexOutOfRange { bound: 3, .. })), "{bad}");
    }
    let tok4 = t.constant(vec![0.0], [1, 1, 1, 1]).unwrap();
    assert!(matches!(t.embedding(w, tok4), Err(ShapeError::Rank { .. })));
    assert!(matches!(t.embedding(x, v3), Err(ShapeError::Rank { .. })));

    let logits = t.leaf(vec![0.0; 6], [2, 3]).unwrap();
    assert!(matches!(t.l1(logits, &[0.0; 5]), Err(ShapeError::Length { what: "Tape::l1 target", .. })));
    assert!(matches!(t.huber(logits, &[0.0; 7], 1.0), Err(ShapeError::Length { .. })));
    assert!(matches!(t.cross_entropy_with(logits, &[0, 1], Some(&[1.0; 2]), 0.0), Err(ShapeError::Length { .. })));
    assert!(matches!(t.cross_entropy_with(logits, &[0, 3], None, 0.0), Err(ShapeError::IndexOutOfRange { .. })));
    assert!(matches!(t.nll(logits, &[0], None), Err(ShapeError::Length { .. })));
    assert!(matches!(t.nll(x, &[0, 0], None), Err(ShapeError::Rank { .. })));
    assert!(matches!(t.bce_with_logits(logits, &[0.0; 6], Some(&[1.0; 2])), Err(ShapeError::Length { .. })));
    assert!(matches!(t.bce_with_logits(logits, &[0.0; 5], None), Err(ShapeError::Length { .. })));
    // Recorded: the layer norm that fitted, w, five token constants, logits.
    assert_eq!(t.len(), before + 8);
}

#[test]
fn an_empty_batch_of_enormous_samples_is_an_error_not_a_panic() {
    let mut t = Tape::<f64>::new();
    let x = t.leaf(vec![], [0, 2, usize::MAX, 2]).unwrap();
    let v = t.leaf(vec![1.0; 2], [2]).unwrap();
    assert!(matches!(t.batch_norm(x, v, v, 1e-5), Err(ShapeError::Setting { .. })));
    let e = t.leaf(vec![], [0, 2, 3]).unwrap();
    let y = t.batch_norm(e, v, v, 1e-5).unwrap();
    assert_eq!(t.shape(y), [0, 2, 3]);
}
