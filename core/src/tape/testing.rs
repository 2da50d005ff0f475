//! A gradient-check case for anything recorded on a tape, shared by the tape's tests.

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::gradcheck::{inputs, GradCase};
use crate::ops::testing::gradcheck;

/// Something recorded on a tape from leaves of given shapes: a gradient-check case whose
/// forward runs the tape at any scalar and whose backward is the tape's.
pub(super) trait Recorder {
    fn record<T: Scalar>(&self, tape: &mut Tape<T>, leaves: &[Var]) -> Result<Var, ShapeError>;
}

pub(super) struct Case<R> {
    name: &'static str,
    leaves: Vec<Vec<usize>>,
    out_len: usize,
    recorder: R,
}

impl<R: Recorder> Case<R> {
    pub(super) fn new(name: &'static str, leaves: &[&[usize]], recorder: R) -> Self {
        let leaves: Vec<Vec<usize>> = leaves.iter().map(|l| l.to_vec()).collect();
        let mut case = Self { name, leaves, out_len: 0, recorder };
        let p = vec![0.5; case.input_len()];
        let mut tape = Tape::<f64>::new();
        let (_, out) = case.run(&mut tape, &p);
        case.out_len = tape.value(out).len();
        case
    }

    fn run<T: Scalar>(&self, tape: &mut Tape<T>, p: &[T]) -> (Vec<Var>, Var) {
        let mut at = 0;
        let mut vars = Vec::new();
        for shape in &self.leaves {
            let n: usize = shape.iter().product();
            let dims = Dims::from_slice(shape).unwrap();
            vars.push(tape.leaf(p[at..at + n].to_vec(), dims).unwrap());
            at += n;
        }
        let out = self.recorder.record(tape, &vars).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        (vars, out)
    }
}

impl<R: Recorder> GradCase for Case<R> {
    fn name(&self) -> &str {
        self.name
    }
    fn input_len(&self) -> usize {
        self.leaves.iter().map(|s| s.iter().product::<usize>()).sum()
    }
    fn output_len(&self) -> usize {
        self.out_len
    }
    fn forward<T: Scalar>(&self, p: &[T], y: &mut [T]) {
        let mut tape = Tape::new();
        let (_, out) = self.run(&mut tape, p);
        y.copy_from_slice(tape.value(out));
    }
    fn backward(&self, p: &[f64], _y: &[f64], dy: &[f64], dp: &mut [f64]) {
        let mut tape = Tape::new();
        let (vars, out) = self.run(&mut tape, p);
        let grads = tape.backward_with(out, dy).unwrap();
        let mut at = 0;
        for v in vars {
            let g = grads.get(v).expect("every leaf has a gradient");
            for (d, g) in dp[at..at + g.len()].iter_mut().zip(g) {
                *d += g;
            }
            at += g.len();
        }
    }
}

#[track_caller]
pub(super) fn check<R: Recorder>(case: &Case<R>, seed: u64) {
    gradcheck(case, &inputs(seed, case.input_len(), -1.0, 1.0, &[]), seed);
}
