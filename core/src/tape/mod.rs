//! Define-by-run reverse mode: an eager tape over the same primitives as the static code.
//!
//! Each op on a [`Tape`] computes its value at once (with the forward function of
//! [`ops`](crate::ops)) and records which primitive made it from which inputs.
//! [`Tape::backward`] then walks the records in reverse and calls each primitive's
//! backward function: there is no second copy of any derivative, so the tape and the
//! generated static code cannot drift apart, and each cross-checks the other.
//!
//! Because values exist as soon as an op returns, ordinary Rust control flow can depend
//! on them: loops whose count depends on data, branches on a value, recursion.
//!
//! ```
//! use monograd_core::Tape;
//! use monograd_core::ops::unary::Square;
//!
//! # fn main() -> Result<(), monograd_core::ShapeError> {
//! let mut tape = Tape::<f64>::new();
//! let x = tape.leaf(vec![0.3], [1, 1])?;
//! let two = tape.scalar(2.0);
//!
//! // Double until the value exceeds 10: how many times depends on x.
//! let mut y = x;
//! let mut steps = 0;
//! while tape.value(y)[0] <= 10.0 {
//!     y = tape.mul(y, two)?;
//!     steps += 1;
//! }
//! assert_eq!(steps, 6); // 0.3 · 2^6 = 19.2
//! let z = tape.unary(Square, y);
//!
//! let grads = tape.backward(z)?;
//! // z = (2^6 x)², so dz/dx = 2 · 2^6 x · 2^6
//! assert_eq!(grads.get(x), Some(&[2.0 * 19.2 * 64.0][..]));
//! assert_eq!(grads.get(two), None); // a constant has no gradient
//! # Ok(())
//! # }
//! ```
//!
//! # Model
//! - A [`Var`] is a `Copy` index into its tape. Nodes live in one `Vec`; there is no `Rc`,
//!   `RefCell` or graph of pointers. Using a `Var` with a tape other than the one that
//!   made it is a programming error: it panics if the index is past the end, and otherwise
//!   refers to whatever node has that index.
//! - Tensors are `Vec<T>` with a run-time shape of one to four dimensions ([`Dims`]),
//!   row-major: `[batch, features]` for dense layers, NCL for sequences, NCHW for images.
//!   A `[1, 1]` tensor is a scalar.
//! - [`Tape::leaf`] makes a value that gets a gradient (a parameter or an input to
//!   differentiate by); [`Tape::constant`] one that does not (data, targets). Ops whose
//!   inputs are all constants are not differentiated at all.
//! - A shape that does not fit is an `Err(`[`ShapeError`]`)` from the op that was given
//!   it, never a panic: shapes here come from data.
//! - The tape is generic over [`Scalar`], so it also runs on [`Dual`](crate::Dual)
//!   numbers: forward mode through data-dependent code.
//!
//! # Ops
//!
//! Every op calls the primitive of [`ops`](crate::ops) that the static layers of
//! `monograd-nn` call, forward and backward; so define-by-run code can express what a
//! `network!` network computes, to the bit (`tests/tape_lenet.rs` checks LeNet-5 and
//! networks holding every other built-in layer).
//!
//! | kind | ops | primitives |
//! | --- | --- | --- |
//! | inputs | [`leaf`](Tape::leaf), [`constant`](Tape::constant), [`scalar`](Tape::scalar) | |
//! | elementwise | [`unary`](Tape::unary) (every [`UnaryFn`]: ReLU, LeakyReLU, ELU, sigmoid, tanh, GELU, SiLU, softplus, exp, ln, ...), [`binary`](Tape::binary), [`add`](Tape::add), [`sub`](Tape::sub), [`mul`](Tape::mul), [`div`](Tape::div), [`add_row_broadcast`](Tape::add_row_broadcast), [`dropout`](Tape::dropout) | [`unary`], [`binary`], [`dropout`](crate::ops::dropout) |
//! | dense | [`matmul`](Tape::matmul), [`linear`](Tape::linear) (with or without bias) | [`matmul`], [`linear`] |
//! | images, sequences | [`conv2d`](Tape::conv2d) and [`conv1d`](Tape::conv1d) (stride, padding, dilation, groups; depthwise as groups = channels), [`max_pool2d`](Tape::max_pool2d), [`avg_pool2d`](Tape::avg_pool2d), [`global_avg_pool2d`](Tape::global_avg_pool2d) | [`conv`](crate::ops::conv), [`pool`] |
//! | normalisation | [`batch_norm`](Tape::batch_norm) (training; [`batch_statistics`](Tape::batch_statistics)), [`batch_norm_eval`](Tape::batch_norm_eval), [`layer_norm`](Tape::layer_norm) | [`norm`](crate::ops::norm) |
//! | layout | [`reshape`](Tape::reshape), [`flatten`](Tape::flatten), [`concat`](Tape::concat), [`embedding`](Tape::embedding) | [`concat`](mod@crate::ops::concat), [`embedding`](mod@crate::ops::embedding) |
//! | reductions | [`sum`](Tape::sum), [`mean`](Tape::mean), [`row_sum`](Tape::row_sum), [`softmax`](Tape::softmax), [`log_softmax`](Tape::log_softmax) | [`reduce`], [`softmax`] |
//! | losses | [`mse`](Tape::mse), [`l1`](Tape::l1), [`huber`](Tape::huber), [`cross_entropy`](Tape::cross_entropy), [`cross_entropy_with`](Tape::cross_entropy_with) (class weights, label smoothing), [`nll`](Tape::nll), [`bce_with_logits`](Tape::bce_with_logits) | [`loss`](crate::ops::loss) |
//!
//! A `SeparableConv2d` is a depthwise [`conv2d`](Tape::conv2d) then a `1 x 1` one, a
//! residual `Add` is [`add`](Tape::add). Row-wise ops (softmax, `row_sum`,
//! `add_row_broadcast`, `layer_norm`) work on the last dimension; `matmul`, `linear` and
//! the classification losses take matrices.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::kernels::gemm;
use crate::ops::binary::{self, BinaryFn};
use crate::ops::conv::ConvPlan;
use crate::ops::dropout::DropoutMask;
use crate::ops::loss as ops_loss;
use crate::ops::norm as ops_norm;
use crate::ops::pool::{self, Pool2dGeometry};
use crate::ops::unary::{self, UnaryFn};
use crate::ops::{concat, embedding, linear, matmul, reduce, softmax};
use crate::{Scalar, ShapeError};

mod dims;
mod image;
mod layout;
mod loss;
mod norm;
mod record;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_image;
#[cfg(test)]
mod tests_norm;

pub use dims::Dims;
pub use image::ConvOptions;

/// A handle to a tensor on a [`Tape`]: an index, cheap to copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(usize);

impl Var {
    /// The position of the tensor on its tape, in creation order.
    pub fn index(self) -> usize {
        self.0
    }
}

/// An eager reverse-mode tape: see the [module docs](self).
pub struct Tape<T: Scalar> {
    nodes: Vec<Node<T>>,
    /// Packing memory for the GEMM kernel, allocated once per tape.
    pack: Vec<T>,
}

/// One recorded tensor: its value, shape, how it was made, and whether it needs a gradient.
struct Node<T: Scalar> {
    value: Vec<T>,
    shape: Dims,
    op: Op<T>,
    tracked: bool,
}

/// How a node was made, with the indices of its inputs and whatever backward needs
/// beyond the input and output values.
enum Op<T: Scalar> {
    Leaf,
    Unary {
        x: usize,
        f: Box<dyn UnaryVjp<T>>,
    },
    Binary {
        a: usize,
        b: usize,
        f: Box<dyn BinaryVjp<T>>,
    },
    AddRowBroadcast {
        x: usize,
        bias: usize,
    },
    Matmul {
        a: usize,
        b: usize,
        m: usize,
        k: usize,
        n: usize,
    },
    Linear {
        x: usize,
        w: usize,
        b: Option<usize>,
        inp: usize,
        out: usize,
    },
    Sum(usize),
    Mean(usize),
    RowSum(usize),
    Softmax(usize),
    LogSoftmax(usize),
    Regression {
        pred: usize,
        target: Vec<T>,
        kind: loss::Regression<T>,
    },
    Classification {
        x: usize,
        targets: Vec<usize>,
        classes: usize,
        kind: loss::Classification<T>,
    },
    Bce {
        logits: usize,
        targets: Vec<T>,
        pos_weight: Option<Vec<T>>,
    },
    BatchNorm {
        x: usize,
        w: usize,
        b: usize,
        stats: norm::Stats<T>,
    },
    LayerNorm {
        x: usize,
        w: usize,
        b: usize,
        eps: T,
    },
    Embedding {
        weight: usize,
        tokens: usize,
        d: usize,
    },
    Dropout {
        x: usize,
        mask: DropoutMask,
    },
    CrossEntropy {
        logits: usize,
        targets: Vec<usize>,
        classes: usize,
    },
    Conv {
        x: usize,
        w: usize,
        b: Option<usize>,
        plan: ConvPlan,
    },
    MaxPool2d {
        x: usize,
        geo: Pool2dGeometry,
    },
    AvgPool2d {
        x: usize,
        geo: Pool2dGeometry,
    },
    GlobalAvgPool2d {
        x: usize,
        plane: usize,
    },
    /// Same values, another shape (reshape, flatten): the gradient passes through.
    Reshape(usize),
    Concat {
        a: usize,
        b: usize,
        na: usize,
        nb: usize,
    },
}

/// The backward of a unary op with its parameters, behind one pointer so that any
/// [`UnaryFn`], including a user's, can be recorded.
trait UnaryVjp<T: Scalar> {
    fn vjp(&self, x: &[T], y: &[T], dy: &[T], dx: &mut [T]);
}

impl<T: Scalar, F: UnaryFn> UnaryVjp<T> for F {
    fn vjp(&self, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
        unary::backward(*self, x, y, dy, dx);
    }
}

/// The backward of a binary op, as [`UnaryVjp`].
trait BinaryVjp<T: Scalar> {
    fn vjp(&self, a: &[T], b: &[T], y: &[T], dy: &[T], da: Option<&mut [T]>, db: Option<&mut [T]>);
}

impl<T: Scalar, F: BinaryFn> BinaryVjp<T> for F {
    fn vjp(&self, a: &[T], b: &[T], y: &[T], dy: &[T], da: Option<&mut [T]>, db: Option<&mut [T]>) {
        binary::backward(*self, a, b, y, dy, da, db);
    }
}

impl<T: Scalar> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar> fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tape").field("nodes", &self.nodes.len()).finish_non_exhaustive()
    }
}

impl<T: Scalar> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Self { nodes: Vec::new(), pack: vec![T::ZERO; gemm::PACK_LEN] }
    }

    /// Number of tensors recorded.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Forgets every tensor, keeping the allocations for the next step. Every [`Var`] of
    /// this tape becomes invalid.
    pub fn clear(&mut self) {
        self.nodes.clear();
    }

    /// A tensor that gets a gradient: a parameter, or an input to differentiate by. The
    /// shape is an array of one to four sizes (see [`Dims`]).
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `values` does not hold as many values as the shape.
    pub fn leaf(&mut self, values: Vec<T>, shape: impl Into<Dims>) -> Result<Var, ShapeError> {
        self.input("Tape::leaf", values, shape.into(), true)
    }

    /// A tensor that does not get a gradient: data, targets, fixed coefficients.
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `values` does not hold as many values as the shape.
    pub fn constant(&mut self, values: Vec<T>, shape: impl Into<Dims>) -> Result<Var, ShapeError> {
        self.input("Tape::constant", values, shape.into(), false)
    }

    /// A constant scalar (`[1, 1]`).
    pub fn scalar(&mut self, v: T) -> Var {
        self.push(vec![v], [1, 1], Op::Leaf, false)
    }

    fn input(&mut self, what: &'static str, values: Vec<T>, shape: Dims, tracked: bool) -> Result<Var, ShapeError> {
        let expected = shape.numel();
        if expected != Some(values.len()) {
            return Err(ShapeError::Length { what, expected: expected.unwrap_or(usize::MAX), found: values.len() });
        }
        Ok(self.push(values, shape, Op::Leaf, tracked))
    }

    /// The values of `v`, row-major.
    ///
    /// # Panics
    /// If `v` is not from this tape.
    pub fn value(&self, v: Var) -> &[T] {
        &self.node(v).value
    }

    /// The shape of `v`, outermost dimension first.
    ///
    /// # Panics
    /// If `v` is not from this tape.
    pub fn shape(&self, v: Var) -> &[usize] {
        self.node(v).shape.as_slice()
    }

    /// The value of a one-element tensor.
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `v` does not hold exactly one value.
    pub fn item(&self, v: Var) -> Result<T, ShapeError> {
        match self.value(v) {
            [x] => Ok(*x),
            other => Err(ShapeError::Length { what: "Tape::item", expected: 1, found: other.len() }),
        }
    }

    /// Gradients of the scalar `loss` with respect to every tracked tensor recorded before
    /// it.
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `loss` does not hold exactly one value.
    pub fn backward(&mut self, loss: Var) -> Result<Gradients<T>, ShapeError> {
        let n = self.value(loss).len();
        if n != 1 {
            return Err(ShapeError::Length { what: "Tape::backward loss", expected: 1, found: n });
        }
        self.backward_with(loss, &[T::ONE])
    }

    /// The vector-Jacobian product: gradients of `<seed, out>` with respect to every
    /// tracked tensor recorded before `out`, for an `out` of any shape.
    ///
    /// # Errors
    /// [`ShapeError::Length`] if `seed` does not have as many values as `out`.
    pub fn backward_with(&mut self, out: Var, seed: &[T]) -> Result<Gradients<T>, ShapeError> {
        let last = self.node_index(out);
        let n = self.nodes[last].value.len();
        if seed.len() != n {
            return Err(ShapeError::Length { what: "Tape::backward_with seed", expected: n, found: seed.len() });
        }
        let Tape { nodes, pack } = self;
        let mut grads: Vec<Option<Vec<T>>> =
            nodes[..=last].iter().map(|node| node.tracked.then(|| vec![T::ZERO; node.value.len()])).collect();
        if let Some(g) = &mut grads[last] {
            g.copy_from_slice(seed);
        }
        // Every input of a node precedes it, so one reverse sweep visits each node after
        // all of its consumers have added their share to its gradient.
        for i in (0..=last).rev() {
            if let Some(dy) = grads[i].take() {
                propagate(nodes, i, &dy, &mut grads, pack)?;
                grads[i] = Some(dy);
            }
        }
        Ok(Gradients { grads })
    }

    fn push(&mut self, value: Vec<T>, shape: impl Into<Dims>, op: Op<T>, tracked: bool) -> Var {
        self.nodes.push(Node { value, shape: shape.into(), op, tracked });
        Var(self.nodes.len() - 1)
    }

    /// The packing memory, grown to hold `scratch` more values than GEMM needs.
    fn pack_for(pack: &mut Vec<T>, scratch: usize) -> &mut [T] {
        let need = gemm::PACK_LEN.saturating_add(scratch);
        if pack.len() < need {
            pack.resize(need, T::ZERO);
        }
        pack
    }

    #[track_caller]
    fn node_index(&self, v: Var) -> usize {
        if v.0 >= self.nodes.len() {
            foreign_var(v, self.nodes.len());
        }
        v.0
    }

    #[track_caller]
    fn node(&self, v: Var) -> &Node<T> {
        &self.nodes[self.node_index(v)]
    }
}

#[cold]
#[track_caller]
fn foreign_var(v: Var, len: usize) -> ! {
    panic!("Var #{} is not from this tape, which holds {len} tensors", v.0)
}

/// Adds node `i`'s share to the gradients of its inputs, given its gradient `dy`.
///
/// Each input's gradient is passed to the primitive's backward on its own (the others
/// `None`), so that an op whose inputs are one tensor (`x * x`) accumulates both shares
/// into it without aliasing.
fn propagate<T: Scalar>(
    nodes: &[Node<T>],
    i: usize,
    dy: &[T],
    grads: &mut [Option<Vec<T>>],
    pack: &mut [T],
) -> Result<(), ShapeError> {
    let node = &nodes[i];
    let y = &node.value[..];
    let val = |j: usize| &nodes[j].value[..];
    match &node.op {
        Op::Leaf => {}
        Op::Unary { x, f } => {
            if let Some(dx) = grads[*x].as_deref_mut() {
                f.vjp(val(*x), y, dy, dx);
            }
        }
        Op::Binary { a, b, f } => {
            if let Some(da) = grads[*a].as_deref_mut() {
                f.vjp(val(*a), val(*b), y, dy, Some(da), None);
            }
            if let Some(db) = grads[*b].as_deref_mut() {
                f.vjp(val(*a), val(*b), y, dy, None, Some(db));
            }
        }
        Op::AddRowBroadcast { x, bias } => {
            let cols = node.shape.last();
            if let Some(dx) = grads[*x].as_deref_mut() {
                binary::add_row_broadcast_backward(dy, cols, Some(dx), None);
            }
            if let Some(db) = grads[*bias].as_deref_mut() {
                binary::add_row_broadcast_backward(dy, cols, None, Some(db));
            }
        }
        &Op::Matmul { a, b, m, k, n } => {
            if let Some(da) = grads[a].as_deref_mut() {
                matmul::backward(val(a), val(b), dy, Some(da), None, m, k, n, pack);
            }
            if let Some(db) = grads[b].as_deref_mut() {
                matmul::backward(val(a), val(b), dy, None, Some(db), m, k, n, pack);
            }
        }
        &Op::Linear { x, w, b, inp, out } => {
            let (xv, wv) = (val(x), val(w));
            if let Some(dx) = grads[x].as_deref_mut() {
                linear::backward(xv, wv, dy, Some(dx), None, None, inp, out, pack);
            }
            if let Some(dw) = grads[w].as_deref_mut() {
                linear::backward(xv, wv, dy, None, Some(dw), None, inp, out, pack);
            }
            if let Some(db) = b.and_then(|b| grads[b].as_deref_mut()) {
                linear::backward(xv, wv, dy, None, None, Some(db), inp, out, pack);
            }
        }
        Op::Sum(x) => {
            if let Some(dx) = grads[*x].as_deref_mut() {
                reduce::sum_backward(dy[0], dx);
            }
        }
        Op::Mean(x) => {
            if let Some(dx) = grads[*x].as_deref_mut() {
                reduce::mean_backward(dy[0], dx);
            }
        }
        Op::RowSum(x) => {
            if let Some(dx) = grads[*x].as_deref_mut() {
                reduce::row_sum_backward(dy, dx, nodes[*x].shape.last());
            }
        }
        Op::Softmax(x) => {
            if let Some(dx) = grads[*x].as_deref_mut() {
                softmax::softmax_backward(y, dy, dx, node.shape.last());
            }
        }
        Op::LogSoftmax(x) => {
            if let Some(dx) = grads[*x].as_deref_mut() {
                softmax::log_softmax_backward(y, dy, dx, node.shape.last());
            }
        }
        Op::Regression { pred, target, kind } => {
            if let Some(dp) = grads[*pred].as_deref_mut() {
                kind.backward(val(*pred), target, dy[0], dp);
            }
        }
        Op::Classification { x, targets, classes, kind } => {
            if let Some(dx) = grads[*x].as_deref_mut() {
                kind.backward(val(*x), targets, *classes, dy[0], dx)?;
            }
        }
        Op::Bce { logits, targets, pos_weight } => {
            if let Some(dl) = grads[*logits].as_deref_mut() {
                ops_loss::bce_with_logits_backward(val(*logits), targets, pos_weight.as_deref(), dy[0], dl);
            }
        }
        &Op::BatchNorm { x, w, b, ref stats } => {
            let (xv, wv) = (val(x), val(w));
            if let Some(dx) = grads[x].as_deref_mut() {
                stats.backward(xv, dy, wv, Some(dx), None, None);
            }
            if let Some(dw) = grads[w].as_deref_mut() {
                stats.backward(xv, dy, wv, None, Some(dw), None);
            }
            if let Some(db) = grads[b].as_deref_mut() {
                stats.backward(xv, dy, wv, None, None, Some(db));
            }
        }
        &Op::LayerNorm { x, w, b, eps } => {
            let (xv, wv) = (val(x), val(w));
            if let Some(dx) = grads[x].as_deref_mut() {
                ops_norm::layer_norm_backward(xv, dy, wv, eps, Some(dx), None, None);
            }
            if let Some(dw) = grads[w].as_deref_mut() {
                ops_norm::layer_norm_backward(xv, dy, wv, eps, None, Some(dw), None);
            }
            if let Some(db) = grads[b].as_deref_mut() {
                ops_norm::layer_norm_backward(xv, dy, wv, eps, None, None, Some(db));
            }
        }
        &Op::Dropout { x, mask } => {
            if let Some(dx) = grads[x].as_deref_mut() {
                mask.apply(dy, dx, true);
            }
        }
        &Op::Embedding { weight, tokens, d } => {
            // The tokens are indices: they get no gradient.
            if let Some(dw) = grads[weight].as_deref_mut() {
                embedding::embedding_backward(val(tokens), dy, dw, d);
            }
        }
        Op::CrossEntropy { logits, targets, classes } => {
            if let Some(dl) = grads[*logits].as_deref_mut() {
                ops_loss::cross_entropy_backward(val(*logits), targets, *classes, dy[0], dl)?;
            }
        }
        &Op::Conv { x, w, b, plan } => {
            let (xv, wv, name) = (val(x), val(w), image::CONV);
            // One gradient per call, so that a tensor used twice never aliases; each call
            // does only the work its gradient needs.
            if let Some(dx) = grads[x].as_deref_mut() {
                plan.backward(name, wv, xv, dy, Some(dx), None, None, pack);
            }
            if let Some(dw) = grads[w].as_deref_mut() {
                plan.backward(name, wv, xv, dy, None, Some(dw), None, pack);
            }
            if let Some(db) = b.and_then(|b| grads[b].as_deref_mut()) {
                plan.backward(name, wv, xv, dy, None, None, Some(db), pack);
            }
        }
        &Op::MaxPool2d { x, geo } => {
            if let Some(dx) = grads[x].as_deref_mut() {
                pool::max_pool2d_backward(&geo, val(x), dy, dx);
            }
        }
        &Op::AvgPool2d { x, geo } => {
            if let Some(dx) = grads[x].as_deref_mut() {
                pool::avg_pool2d_backward(&geo, dy, dx);
            }
        }
        &Op::GlobalAvgPool2d { x, plane } => {
            if let Some(dx) = grads[x].as_deref_mut() {
                pool::global_avg_pool2d_backward(dy, dx, plane);
            }
        }
        &Op::Reshape(x) => {
            if let Some(dx) = grads[x].as_deref_mut() {
                layout::reshape_backward(dy, dx);
            }
        }
        &Op::Concat { a, b, na, nb } => {
            if let Some(da) = grads[a].as_deref_mut() {
                concat::concat_backward(dy, Some(da), None, na, nb);
            }
            if let Some(db) = grads[b].as_deref_mut() {
                concat::concat_backward(dy, None, Some(db), na, nb);
            }
        }
    }
    Ok(())
}

/// The gradients from [`Tape::backward`]: one per tracked tensor.
#[derive(Clone, Debug)]
pub struct Gradients<T> {
    grads: Vec<Option<Vec<T>>>,
}

impl<T> Gradients<T> {
    /// The gradient of `v`, shaped like `v`: zero if the output does not depend on it.
    /// `None` if `v` is untracked (a constant, or computed from constants only), or was
    /// recorded after the output.
    pub fn get(&self, v: Var) -> Option<&[T]> {
        self.grads.get(v.0)?.as_deref()
    }
}
