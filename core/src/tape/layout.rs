//! Ops that move values without computing: reshape, flatten, concatenation, embedding
//! lookup.

use alloc::vec;

use super::{Dims, Op, Tape, Var};
use crate::ops::{concat, embedding};
use crate::{Scalar, ShapeError};

impl<T: Scalar> Tape<T> {
    /// The values of `x` under another shape with as many values (row-major order kept),
    /// like `x.reshape(..)`. Its gradient is the output's, reshaped back.
    ///
    /// # Errors
    /// [`ShapeError::Length`] if the shapes do not hold the same number of values.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3])?;
    /// let y = tape.reshape(x, [3, 1, 2])?;
    /// assert_eq!((tape.shape(y), tape.value(y)), (&[3, 1, 2][..], tape.value(x)));
    /// assert!(tape.reshape(x, [4, 2]).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn reshape(&mut self, x: Var, shape: impl Into<Dims>) -> Result<Var, ShapeError> {
        let shape = shape.into();
        let xn = self.node(x);
        let n = shape.numel().unwrap_or(usize::MAX);
        if n != xn.value.len() {
            return Err(ShapeError::Length { what: "Tape::reshape", expected: xn.value.len(), found: n });
        }
        let (value, tracked) = (xn.value.clone(), xn.tracked);
        Ok(self.push(value, shape, Op::Reshape(x.0), tracked))
    }

    /// Each sample (the first dimension) as one row: `[N, ...]` to `[N, rest]`, like
    /// `torch.nn.Flatten()`.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.leaf(vec![0.0; 2 * 3 * 4 * 5], [2, 3, 4, 5])?;
    /// let y = tape.flatten(x);
    /// assert_eq!(tape.shape(y), [2, 60]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn flatten(&mut self, x: Var) -> Var {
        let xn = self.node(x);
        let n = xn.shape.as_slice()[0];
        // With no samples, the sizes say what a sample would hold.
        let rest = xn
            .value
            .len()
            .checked_div(n)
            .unwrap_or_else(|| xn.shape.as_slice()[1..].iter().fold(1usize, |p, &d| p.saturating_mul(d)));
        let (value, tracked) = (xn.value.clone(), xn.tracked);
        self.push(value, [n, rest], Op::Reshape(x.0), tracked)
    }

    /// `a` and `b` joined along dimension 1, per sample: `torch.cat([a, b], dim=1)`, so
    /// features for `[N, F]` and channels for NCHW. Every other dimension must agree.
    ///
    /// # Errors
    /// [`ShapeError::Rank`] if `a` has one dimension or `b` has another rank;
    /// [`ShapeError::Dim`] if a dimension other than 1 differs.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let a = tape.leaf(vec![1.0, 2.0], [2, 1])?;
    /// let b = tape.leaf(vec![3.0, 4.0, 5.0, 6.0], [2, 2])?;
    /// let y = tape.concat(a, b)?;
    /// assert_eq!((tape.shape(y), tape.value(y)), (&[2, 3][..], &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn concat(&mut self, a: Var, b: Var) -> Result<Var, ShapeError> {
        let what = "Tape::concat";
        let (an, bn) = (self.node(a), self.node(b));
        let (sa, sb) = (an.shape, bn.shape);
        if sa.rank() < 2 {
            return Err(ShapeError::Rank { what, expected: 2, found: sa.rank() });
        }
        let mut joined = sb;
        joined.set(1, sa.as_slice()[1]);
        if joined != sa {
            return Err(sa.mismatch(what, &sb));
        }
        let n = sa.as_slice()[0];
        let per = |len: usize| len.checked_div(n).unwrap_or(0);
        let (na, nb) = (per(an.value.len()), per(bn.value.len()));
        let mut y = vec![T::ZERO; an.value.len() + bn.value.len()];
        concat::concat(&an.value, &bn.value, &mut y, na, nb);
        let mut shape = sa;
        let channels = sa.as_slice()[1].checked_add(sb.as_slice()[1]);
        shape.set(1, channels.ok_or(ShapeError::Setting { what: "Tape::concat: the result is too large", found: na })?);
        let tracked = an.tracked || bn.tracked;
        Ok(self.push(y, shape, Op::Concat { a: a.0, b: b.0, na, nb }, tracked))
    }
}

impl<T: Scalar> Tape<T> {
    /// Rows of `weight` `[V, D]` looked up by the token indices in `tokens` (whole numbers
    /// below `V`, as values of any shape of up to three dimensions, usually a constant),
    /// giving `tokens`' shape plus a last dimension `D`: `torch.nn.functional.embedding`.
    /// The weight's gradient is the scatter-add of the rows' gradients; the tokens get
    /// none.
    ///
    /// # Errors
    /// [`ShapeError::Rank`] unless `weight` has two dimensions and `tokens` at most three;
    /// [`ShapeError::IndexOutOfRange`] for a value that is not a token below `V`.
    ///
    /// ```
    /// use monograd_core::Tape;
    /// # fn main() -> Result<(), monograd_core::ShapeError> {
    /// let mut tape = Tape::<f64>::new();
    /// let w = tape.leaf(vec![0.0, 0.0, 1.0, 10.0, 2.0, 20.0], [3, 2])?;
    /// let tokens = tape.constant(vec![2.0, 1.0, 2.0], [1, 3])?;
    /// let y = tape.embedding(w, tokens)?;
    /// assert_eq!((tape.shape(y), tape.value(y)), (&[1, 3, 2][..], &[2.0, 20.0, 1.0, 10.0, 2.0, 20.0][..]));
    /// let loss = tape.sum(y);
    /// assert_eq!(tape.backward(loss)?.get(w), Some(&[0.0, 0.0, 1.0, 1.0, 2.0, 2.0][..]));
    /// let bad = tape.constant(vec![3.0], [1])?;
    /// assert!(tape.embedding(w, bad).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn embedding(&mut self, weight: Var, tokens: Var) -> Result<Var, ShapeError> {
        let (wn, tn) = (self.node(weight), self.node(tokens));
        let [vocab, d] = wn.shape.expect("Tape::embedding weight")?;
        let dims = tn.shape.as_slice();
        if dims.len() > 3 {
            return Err(ShapeError::Rank { what: "Tape::embedding tokens", expected: 3, found: dims.len() });
        }
        tn.value.iter().try_for_each(|&v| embedding::token(v, vocab).map(drop))?;
        let mut out = [d; 4];
        out[..dims.len()].copy_from_slice(dims);
        let shape = Dims::from_slice(&out[..=dims.len()]).ok_or(ShapeError::Rank {
            what: "Tape::embedding tokens",
            expected: 3,
            found: dims.len(),
        })?;
        let len = tn
            .value
            .len()
            .checked_mul(d)
            .ok_or(ShapeError::Setting { what: "Tape::embedding: the output is too large", found: d })?;
        let mut y = vec![T::ZERO; len];
        embedding::embedding(&wn.value, &tn.value, &mut y, d);
        let tracked = wn.tracked;
        Ok(self.push(y, shape, Op::Embedding { weight: weight.0, tokens: tokens.0, d }, tracked))
    }
}

/// Backward of a reshape: the gradient passes through unchanged.
pub(super) fn reshape_backward<T: Scalar>(dy: &[T], dx: &mut [T]) {
    for (d, &g) in dx.iter_mut().zip(dy) {
        *d += g;
    }
}
