//! The ops of [`Tape`]: check shapes, compute the value with the primitive's forward, and
//! record what backward needs.

use alloc::boxed::Box;
use alloc::vec;

use super::{Op, Tape, Var};
use crate::ops::binary::{self, Add, BinaryFn, Div, Mul, Sub};
use crate::ops::dropout::DropoutMask;
use crate::ops::unary::{self, UnaryFn};
use crate::ops::{linear, matmul, reduce, softmax};
use crate::{Scalar, ShapeError};

impl<T: Scalar> Tape<T> {
    /// `f` applied to every element of `x`, for any [`UnaryFn`] (ReLU, tanh, GELU, ...).
    ///
    /// ```
    /// use monograd_core::ops::unary::{LeakyRelu, Relu};
    /// use monograd_core::Tape;
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![-2.0, 3.0], [1, 2]).unwrap();
    /// let y = tape.unary(LeakyRelu { slope: 0.5 }, x);
    /// assert_eq!(tape.value(y), [-1.0, 3.0]);
    /// let z = tape.unary(Relu, y);
    /// assert_eq!(tape.value(z), [0.0, 3.0]);
    /// ```
    pub fn unary<F: UnaryFn + 'static>(&mut self, f: F, x: Var) -> Var {
        let xn = self.node(x);
        let (shape, tracked) = (xn.shape, xn.tracked);
        let mut y = vec![T::ZERO; xn.value.len()];
        unary::forward(f, &xn.value, &mut y);
        self.push(y, shape, Op::Unary { x: x.0, f: Box::new(f) }, tracked)
    }

    /// Dropout with a given mask: `y_i = m_i x_i / (1 - p)`, the mask and `p` from `mask`.
    /// A [`DropoutMask`] is a function of `(p, seed, step)`, so the mask of a `Dropout`
    /// layer's training step `step` is `DropoutMask::new(layer.p, layer.seed, step)`; for a
    /// mask of one's own, [`mul`](Self::mul) by a constant tensor of zeros and `1 / (1 -
    /// p)` does the same.
    ///
    /// ```
    /// use monograd_core::ops::dropout::DropoutMask;
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![1.0; 8], [2, 4])?;
    /// let y = tape.dropout(x, DropoutMask::new(0.5, 7, 0));
    /// assert!(tape.value(y).iter().all(|&v| v == 0.0 || v == 2.0));
    /// let loss = tape.sum(y);
    /// let g = tape.backward(loss)?;
    /// assert_eq!(g.get(x), Some(tape.value(y))); // the same mask, backwards
    /// # Ok(())
    /// # }
    /// ```
    pub fn dropout(&mut self, x: Var, mask: DropoutMask) -> Var {
        let xn = self.node(x);
        let (shape, tracked) = (xn.shape, xn.tracked);
        let mut y = vec![T::ZERO; xn.value.len()];
        mask.apply(&xn.value, &mut y, false);
        self.push(y, shape, Op::Dropout { x: x.0, mask }, tracked)
    }

    /// `f(a, b)` elementwise, for any [`BinaryFn`]; `a` and `b` must have one shape.
    ///
    /// # Errors
    /// [`ShapeError::MatrixMismatch`] if two matrices differ in shape; [`ShapeError::Rank`]
    /// or [`ShapeError::Dim`] for other shapes that differ.
    pub fn binary<F: BinaryFn + 'static>(&mut self, f: F, a: Var, b: Var) -> Result<Var, ShapeError> {
        let (an, bn) = (self.node(a), self.node(b));
        if an.shape != bn.shape {
            return Err(match (an.shape.expect::<2>(F::NAME), bn.shape.expect::<2>(F::NAME)) {
                (Ok(sa), Ok(sb)) => mismatch(F::NAME, sa, sb, sa),
                _ => an.shape.mismatch(F::NAME, &bn.shape),
            });
        }
        let (shape, tracked) = (an.shape, an.tracked || bn.tracked);
        let mut y = vec![T::ZERO; an.value.len()];
        binary::forward(f, &an.value, &bn.value, &mut y);
        Ok(self.push(y, shape, Op::Binary { a: a.0, b: b.0, f: Box::new(f) }, tracked))
    }

    /// `a + b` elementwise.
    ///
    /// # Errors
    /// [`ShapeError::MatrixMismatch`] if the shapes differ (matrices), else
    /// [`ShapeError::Rank`] or [`ShapeError::Dim`].
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var, ShapeError> {
        self.binary(Add, a, b)
    }

    /// `a - b` elementwise.
    ///
    /// # Errors
    /// [`ShapeError::MatrixMismatch`] if the shapes differ.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var, ShapeError> {
        self.binary(Sub, a, b)
    }

    /// `a * b` elementwise.
    ///
    /// # Errors
    /// [`ShapeError::MatrixMismatch`] if the shapes differ.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var, ShapeError> {
        self.binary(Mul, a, b)
    }

    /// `a / b` elementwise.
    ///
    /// # Errors
    /// [`ShapeError::MatrixMismatch`] if the shapes differ.
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var, ShapeError> {
        self.binary(Div, a, b)
    }

    /// `x[.., j] + bias[j]` for `x` whose last dimension is `cols` and a `bias` of `cols`
    /// values (any shape).
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `bias` does not hold `cols` values.
    pub fn add_row_broadcast(&mut self, x: Var, bias: Var) -> Result<Var, ShapeError> {
        let (xn, bn) = (self.node(x), self.node(bias));
        let cols = xn.shape.last();
        if bn.value.len() != cols {
            let what = "Tape::add_row_broadcast bias";
            return Err(ShapeError::Length { what, expected: cols, found: bn.value.len() });
        }
        let (shape, tracked) = (xn.shape, xn.tracked || bn.tracked);
        let mut y = vec![T::ZERO; xn.value.len()];
        binary::add_row_broadcast(&xn.value, &bn.value, &mut y);
        Ok(self.push(y, shape, Op::AddRowBroadcast { x: x.0, bias: bias.0 }, tracked))
    }

    /// The matrix product `a b` of `a` `[m, k]` and `b` `[k, n]`.
    ///
    /// # Errors
    /// [`ShapeError::Rank`] unless both are matrices; [`ShapeError::MatrixMismatch`] if the
    /// inner dimensions differ.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// let mut tape = Tape::<f64>::new();
    /// let a = tape.leaf(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    /// let err = tape.matmul(a, a).unwrap_err();
    /// assert_eq!(err.to_string(), "matmul: operands do not fit: 2x3, 2x3 into 2x3");
    /// ```
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var, ShapeError> {
        let (ai, bi) = (self.node_index(a), self.node_index(b));
        let Tape { nodes, pack } = self;
        let (an, bn) = (&nodes[ai], &nodes[bi]);
        let ([m, k], [k2, n]) = (an.shape.expect("Tape::matmul a")?, bn.shape.expect("Tape::matmul b")?);
        if k != k2 {
            return Err(mismatch(matmul::NAME, [m, k], [k2, n], [m, n]));
        }
        let tracked = an.tracked || bn.tracked;
        let mut y = vec![T::ZERO; m * n];
        matmul::forward(&an.value, &bn.value, &mut y, m, k, n, pack);
        Ok(self.push(y, [m, n], Op::Matmul { a: a.0, b: b.0, m, k, n }, tracked))
    }

    /// A dense layer in PyTorch's layout: `x Wᵀ + b` for `x` `[batch, in]`, `w`
    /// `[out, in]` and an optional bias of `out` values.
    ///
    /// # Errors
    /// [`ShapeError::Rank`] unless `x` and `w` are matrices;
    /// [`ShapeError::MatrixMismatch`] if `x` and `w` disagree on `in`;
    /// [`ShapeError::Length`] if the bias does not hold `out` values.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.constant(vec![1.0, 2.0], [1, 2])?;
    /// let w = tape.leaf(vec![0.5, -1.0, 2.0, 0.0, 1.0, 1.0], [3, 2])?;
    /// let b = tape.leaf(vec![0.0, 1.0, -1.0], [1, 3])?;
    /// let y = tape.linear(x, w, Some(b))?;
    /// assert_eq!(tape.value(y), [-1.5, 3.0, 2.0]);
    /// let loss = tape.sum(y);
    /// let g = tape.backward(loss)?;
    /// assert_eq!(g.get(w), Some(&[1.0, 2.0, 1.0, 2.0, 1.0, 2.0][..]));
    /// assert_eq!(g.get(b), Some(&[1.0; 3][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var, ShapeError> {
        let (xi, wi, bi) = (self.node_index(x), self.node_index(w), b.map(|b| self.node_index(b)));
        let Tape { nodes, pack } = self;
        let (xn, wn) = (&nodes[xi], &nodes[wi]);
        let ([batch, inp], [out, w_in]) = (xn.shape.expect("Tape::linear x")?, wn.shape.expect("Tape::linear w")?);
        if inp != w_in {
            return Err(mismatch(linear::NAME, [batch, inp], [w_in, out], [batch, out]));
        }
        let mut tracked = xn.tracked || wn.tracked;
        let bias = match bi {
            Some(bi) => {
                let bn = &nodes[bi];
                if bn.value.len() != out {
                    return Err(ShapeError::Length { what: "Tape::linear bias", expected: out, found: bn.value.len() });
                }
                tracked |= bn.tracked;
                Some(&bn.value[..])
            }
            None => None,
        };
        let mut y = vec![T::ZERO; batch * out];
        linear::forward(&xn.value, &wn.value, bias, &mut y, inp, out, pack);
        Ok(self.push(y, [batch, out], Op::Linear { x: x.0, w: w.0, b: b.map(|b| b.0), inp, out }, tracked))
    }

    /// The sum of all elements, as a `[1, 1]` scalar.
    pub fn sum(&mut self, x: Var) -> Var {
        let xn = self.node(x);
        let (s, tracked) = (reduce::sum(&xn.value), xn.tracked);
        self.push(vec![s], [1, 1], Op::Sum(x.0), tracked)
    }

    /// The mean of all elements, as a `[1, 1]` scalar (NaN for an empty tensor).
    pub fn mean(&mut self, x: Var) -> Var {
        let xn = self.node(x);
        let (m, tracked) = (reduce::mean(&xn.value), xn.tracked);
        self.push(vec![m], [1, 1], Op::Mean(x.0), tracked)
    }

    /// The sum of each row (over the last dimension) of `x`, whose last dimension becomes 1.
    pub fn row_sum(&mut self, x: Var) -> Var {
        let xn = self.node(x);
        let (shape, tracked) = (xn.shape, xn.tracked);
        let (cols, out) = (shape.last(), shape.with_last(1));
        let mut y = vec![T::ZERO; out.numel().unwrap_or(0)];
        reduce::row_sum(&xn.value, &mut y, cols);
        self.push(y, out, Op::RowSum(x.0), tracked)
    }

    /// Softmax of each row (over the last dimension).
    pub fn softmax(&mut self, x: Var) -> Var {
        let xn = self.node(x);
        let (shape, tracked) = (xn.shape, xn.tracked);
        let mut y = vec![T::ZERO; xn.value.len()];
        softmax::softmax(&xn.value, &mut y, shape.last());
        self.push(y, shape, Op::Softmax(x.0), tracked)
    }

    /// Log-softmax of each row (over the last dimension).
    pub fn log_softmax(&mut self, x: Var) -> Var {
        let xn = self.node(x);
        let (shape, tracked) = (xn.shape, xn.tracked);
        let mut y = vec![T::ZERO; xn.value.len()];
        softmax::log_softmax(&xn.value, &mut y, shape.last());
        self.push(y, shape, Op::LogSoftmax(x.0), tracked)
    }
}

/// Two operands that do not fit, as `(rows, cols)` pairs with the result's shape.
fn mismatch(what: &'static str, a: [usize; 2], b: [usize; 2], c: [usize; 2]) -> ShapeError {
    ShapeError::MatrixMismatch { what, dims: [(a[0], a[1]), (b[0], b[1]), (c[0], c[1])] }
}
