//! A compact format for pruned dense layers: compressed sparse rows ([`SparseLinear`]),
//! with kernels for one sample and for small batches.
//!
//! A `Linear<IN, OUT>` weight `[out, in]` becomes, per output row, the list of its nonzero
//! weights and their column indices (`u16` when the layer has at most 65,536 inputs,
//! else `u32`), plus `out + 1` row offsets and the bias. Each nonzero costs 4 + 2 bytes
//! in `f32` with `u16` indices, against 4 per weight dense: the format is smaller from a
//! third of the weights zero on.
//!
//! Kernels (both compute `y = x Wᵀ + b` for a whole batch, row-major as every layer):
//! - **one sample at a time** (batch 1, or when no scratch is given): for each row, a dot
//!   product of its nonzeros with the input values they index, in four independent sums;
//! - **small batches**: the batch is taken in chunks of [`LANES`] samples, transposed
//!   into scratch memory (`[in, LANES]`), so that each nonzero multiplies [`LANES`]
//!   contiguous inputs into [`LANES`] sums: one vector multiply-add per nonzero, which
//!   the compiler vectorizes.
//!
//! A sum over a row's nonzeros in index order is the dense sum with its zero terms
//! dropped: the results agree with the dense layer to rounding (the dense kernel groups
//! its sums differently), which `tests/prune_sparse.rs` checks.

use alloc::string::ToString;
use alloc::vec::Vec;

use monograd_core::ops::unary::UnaryFn;
use monograd_core::{Scalar, ShapeError};

use super::PruneError;
use crate::Linear;

/// Samples per chunk of the small-batch kernel: 8 `f32` fill one AVX register.
pub const LANES: usize = 8;

/// A column index type of the sparse format: `u16` or `u32`.
pub trait ColIndex: Copy + core::fmt::Debug + Send + Sync + 'static {
    /// Its largest value plus one: the most inputs a layer can have with it.
    const LIMIT: usize;
    /// From an index below [`ColIndex::LIMIT`].
    fn from_usize(i: usize) -> Self;
    /// To an index.
    fn to_usize(self) -> usize;
}

impl ColIndex for u16 {
    const LIMIT: usize = 1 << 16;
    #[inline(always)]
    fn from_usize(i: usize) -> Self {
        i as u16
    }
    #[inline(always)]
    fn to_usize(self) -> usize {
        usize::from(self)
    }
}

impl ColIndex for u32 {
    // 2^32, or every `usize` on a 32-bit target.
    const LIMIT: usize = match 1usize.checked_shl(32) {
        Some(limit) => limit,
        None => usize::MAX,
    };
    #[inline(always)]
    fn from_usize(i: usize) -> Self {
        i as u32
    }
    #[inline(always)]
    fn to_usize(self) -> usize {
        self as usize
    }
}

/// A dense layer in compressed sparse rows: see the [module docs](self).
///
/// ```
/// use monograd_nn::prune::SparseLinear;
/// use monograd_nn::Linear;
///
/// let fc = Linear::<4, 2, f32> { weight: [[0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, -1.0]], bias: [0.5, 0.0] };
/// let sparse = SparseLinear::<f32, u16>::from_linear(&fc)?;
/// assert_eq!((sparse.nnz(), sparse.inputs(), sparse.outputs()), (3, 4, 2));
/// let x = [1.0, 2.0, 3.0, 4.0, /* second sample */ 0.0, 1.0, 0.0, 1.0];
/// let mut y = [0.0; 4];
/// let mut scratch = vec![0.0; sparse.scratch_len()];
/// sparse.forward(&x, &mut y, &mut scratch)?;
/// assert_eq!(y, [4.5, -3.0, 2.5, -1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SparseLinear<T, I = u16> {
    inputs: usize,
    outputs: usize,
    /// `outputs + 1` offsets into `cols` and `values`.
    rows: Vec<u32>,
    cols: Vec<I>,
    values: Vec<T>,
    bias: Vec<T>,
}

impl<T: Scalar, I: ColIndex> SparseLinear<T, I> {
    /// The nonzero weights of `weight` (`[outputs, inputs]`, row-major) and the bias (zero
    /// if `None`). `name` names the layer in errors.
    ///
    /// # Errors
    /// [`PruneError::Layer`] if `weight` or `bias` has the wrong length, or the layer has
    /// more inputs than the index type addresses, or more nonzeros than `u32` counts.
    pub fn from_dense(
        name: &str,
        weight: &[T],
        bias: Option<&[T]>,
        outputs: usize,
        inputs: usize,
    ) -> Result<Self, PruneError> {
        let fail = |problem: alloc::string::String| PruneError::Layer { layer: name.to_string(), problem };
        if Some(weight.len()) != outputs.checked_mul(inputs) {
            return Err(fail(alloc::format!(
                "the weight holds {} values, but {outputs} outputs of {inputs} inputs need {}",
                weight.len(),
                outputs.saturating_mul(inputs)
            )));
        }
        if let Some(b) = bias.filter(|b| b.len() != outputs) {
            return Err(fail(alloc::format!("the bias holds {} values, but the layer has {outputs} outputs", b.len())));
        }
        if inputs > I::LIMIT {
            return Err(fail(alloc::format!(
                "{inputs} inputs do not fit a {}-bit column index; use u32 indices",
                I::LIMIT.trailing_zeros()
            )));
        }
        let nnz = weight.iter().filter(|w| **w != T::ZERO).count();
        if u32::try_from(nnz).is_err() {
            return Err(fail(alloc::format!("{nnz} nonzero weights are more than the format counts (2^32 - 1)")));
        }
        let (mut rows, mut cols, mut values) =
            (Vec::with_capacity(outputs + 1), Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        rows.push(0);
        for row in weight.chunks_exact(inputs.max(1)).take(outputs) {
            for (c, w) in row.iter().enumerate() {
                if *w != T::ZERO {
                    cols.push(I::from_usize(c));
                    values.push(*w);
                }
            }
            rows.push(values.len() as u32);
        }
        // A layer of no inputs has empty rows.
        rows.resize(outputs + 1, values.len() as u32);
        let bias = bias.map_or_else(|| alloc::vec![T::ZERO; outputs], <[T]>::to_vec);
        Ok(Self { inputs, outputs, rows, cols, values, bias })
    }

    /// The nonzero weights of a `Linear` layer, with its bias.
    ///
    /// # Errors
    /// As [`SparseLinear::from_dense`]: more inputs than the index type addresses.
    pub fn from_linear<const IN: usize, const OUT: usize>(fc: &Linear<IN, OUT, T>) -> Result<Self, PruneError> {
        Self::from_dense("Linear", fc.weight.as_flattened(), Some(&fc.bias), OUT, IN)
    }

    /// Inputs per sample.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Outputs per sample.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Nonzero weights stored.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// The share of weights stored: `nnz / (inputs · outputs)`.
    pub fn density(&self) -> f64 {
        let all = self.inputs * self.outputs;
        if all == 0 {
            0.0
        } else {
            self.nnz() as f64 / all as f64
        }
    }

    /// Bytes the format holds: values, indices, row offsets and bias.
    pub fn bytes(&self) -> usize {
        let t = core::mem::size_of::<T>();
        self.nnz() * (t + core::mem::size_of::<I>()) + self.rows.len() * 4 + self.bias.len() * t
    }

    /// Scratch values the small-batch kernel uses: `inputs · LANES`.
    pub fn scratch_len(&self) -> usize {
        self.inputs * LANES
    }

    /// Back to a dense weight (`[outputs, inputs]`), zeros where nothing is stored.
    pub fn to_dense(&self) -> Vec<T> {
        let mut w = alloc::vec![T::ZERO; self.inputs * self.outputs];
        for o in 0..self.outputs {
            let (a, b) = (self.rows[o] as usize, self.rows[o + 1] as usize);
            for (c, v) in self.cols[a..b].iter().zip(&self.values[a..b]) {
                w[o * self.inputs + c.to_usize()] = *v;
            }
        }
        w
    }

    /// `y = x Wᵀ + b` for a batch (`x`: `[batch, inputs]`, `y`: `[batch, outputs]`).
    /// With `scratch` of at least [`SparseLinear::scratch_len`] values, batches of two or
    /// more run the small-batch kernel; with less, every sample runs the one-sample
    /// kernel (the same values, more slowly). Allocates nothing.
    ///
    /// # Errors
    /// [`ShapeError`] if `x` is not whole samples, or `y` does not hold the batch's outputs.
    pub fn forward(&self, x: &[T], y: &mut [T], scratch: &mut [T]) -> Result<(), ShapeError> {
        self.forward_with(x, y, scratch, |v| v)
    }

    /// [`SparseLinear::forward`] followed by the activation `act` in the same pass (what a
    /// `Linear` fused with its activation computes).
    ///
    /// # Errors
    /// As [`SparseLinear::forward`].
    pub fn forward_act<A: UnaryFn>(&self, x: &[T], y: &mut [T], act: A, scratch: &mut [T]) -> Result<(), ShapeError> {
        self.forward_with(x, y, scratch, |v| act.f(v))
    }

    fn forward_with(&self, x: &[T], y: &mut [T], scratch: &mut [T], act: impl Fn(T) -> T) -> Result<(), ShapeError> {
        let batch = self.batch_of(x, y)?;
        if self.inputs == 0 || self.outputs == 0 {
            // Nothing to multiply: each sample's output is the bias.
            for ys in y.chunks_exact_mut(self.outputs.max(1)) {
                for (y, b) in ys.iter_mut().zip(&self.bias) {
                    *y = act(*b);
                }
            }
            return Ok(());
        }
        self.run(x, y, scratch, batch, &act);
        Ok(())
    }

    /// The small-batch kernel for two samples or more when the scratch is large enough,
    /// else the one-sample kernel for each sample; the shapes are checked.
    #[inline(always)]
    fn run(&self, x: &[T], y: &mut [T], scratch: &mut [T], batch: usize, act: &impl Fn(T) -> T) {
        if batch >= 2 && scratch.len() >= self.scratch_len() {
            for (xc, yc) in x.chunks(LANES * self.inputs).zip(y.chunks_mut(LANES * self.outputs)) {
                self.chunk(xc, yc, &mut scratch[..self.scratch_len()], act);
            }
        } else {
            for (xs, ys) in x.chunks_exact(self.inputs).zip(y.chunks_exact_mut(self.outputs)) {
                self.one(xs, ys, act);
            }
        }
    }

    fn batch_of(&self, x: &[T], y: &[T]) -> Result<usize, ShapeError> {
        // A layer of no inputs takes an empty input: the batch is what `y` holds.
        let batch = x.len().checked_div(self.inputs).unwrap_or(y.len() / self.outputs.max(1));
        if !x.len().is_multiple_of(self.inputs) {
            return Err(ShapeError::NotWholeSamples { what: "sparse layer input", len: x.len(), sample: self.inputs });
        }
        if y.len() != batch * self.outputs {
            return Err(ShapeError::Length {
                what: "sparse layer output",
                expected: batch * self.outputs,
                found: y.len(),
            });
        }
        Ok(batch)
    }

    /// One sample: a gathered dot product per row, in four independent sums so that the
    /// additions overlap.
    #[inline(always)]
    fn one(&self, x: &[T], y: &mut [T], act: &impl Fn(T) -> T) {
        assert_eq!(x.len(), self.inputs, "one sample of the layer's inputs");
        for (o, y) in y.iter_mut().enumerate() {
            let (a, b) = (self.rows[o] as usize, self.rows[o + 1] as usize);
            let (cols, vals) = (&self.cols[a..b], &self.values[a..b]);
            // SAFETY: every stored column index is below `self.inputs` (`from_dense` stores
            // only indices of a row of `inputs` values, and nothing else writes `cols`), and
            // `x` holds `inputs` values (asserted above).
            let at = |c: I| unsafe { *x.get_unchecked(c.to_usize()) };
            let mut s = [T::ZERO; 4];
            let mut cq = cols.chunks_exact(4);
            let mut vq = vals.chunks_exact(4);
            for (c, v) in (&mut cq).zip(&mut vq) {
                s[0] += v[0] * at(c[0]);
                s[1] += v[1] * at(c[1]);
                s[2] += v[2] * at(c[2]);
                s[3] += v[3] * at(c[3]);
            }
            for (c, v) in cq.remainder().iter().zip(vq.remainder()) {
                s[0] += *v * at(*c);
            }
            *y = act((s[0] + s[1]) + (s[2] + s[3]) + self.bias[o]);
        }
    }

    /// Up to `LANES` samples: transposed into `xt` (`[inputs, LANES]`, zero past the
    /// chunk), then one `LANES`-wide multiply-add per nonzero.
    #[inline(always)]
    fn chunk(&self, x: &[T], y: &mut [T], xt: &mut [T], act: &impl Fn(T) -> T) {
        let n = x.len() / self.inputs.max(1);
        assert!(n <= LANES && xt.len() == self.inputs * LANES, "a chunk of at most LANES samples");
        for (i, col) in xt.chunks_exact_mut(LANES).enumerate() {
            for (s, v) in col.iter_mut().enumerate() {
                *v = if s < n { x[s * self.inputs + i] } else { T::ZERO };
            }
        }
        let xt: &[T] = xt;
        for o in 0..self.outputs {
            let (a, b) = (self.rows[o] as usize, self.rows[o + 1] as usize);
            // SAFETY: every stored column index is below `self.inputs` (see `one`), and `xt`
            // holds `inputs · LANES` values (asserted above), so the `LANES` values from
            // `c · LANES` are inside it.
            let at = |c: I| unsafe { &*xt.as_ptr().add(c.to_usize() * LANES).cast::<[T; LANES]>() };
            // Two sums, for alternate nonzeros, so that consecutive additions overlap.
            let mut acc = [[T::ZERO; LANES]; 2];
            let (cols, vals) = (&self.cols[a..b], &self.values[a..b]);
            let mut cq = cols.chunks_exact(2);
            let mut vq = vals.chunks_exact(2);
            for (c, v) in (&mut cq).zip(&mut vq) {
                let (x0, x1) = (at(c[0]), at(c[1]));
                for j in 0..LANES {
                    acc[0][j] += v[0] * x0[j];
                    acc[1][j] += v[1] * x1[j];
                }
            }
            for (c, v) in cq.remainder().iter().zip(vq.remainder()) {
                let x0 = at(*c);
                for j in 0..LANES {
                    acc[0][j] += *v * x0[j];
                }
            }
            for s in 0..n {
                y[s * self.outputs + o] = act(acc[0][s] + acc[1][s] + self.bias[o]);
            }
        }
    }
}
