//! What a node of a `network!` runs: a [`Layer`], or a whole network used as one.
//!
//! A layer keeps nothing per sample between its forward and its backward (its
//! [`Layer::Cache`] has no batch dimension), but a network used as a layer of another keeps
//! every node's activations: buffers sized by the batch, held in the storage its caller
//! chose. [`Block`] is `Layer` with that state made explicit: every `Layer` is a `Block`
//! whose state is its cache, and `network!` implements `Block` for the network it
//! generates, with its own state type. The outer network keeps the inner one's state in
//! its own, so nesting allocates nothing a flat network would not, and works with
//! [`Fixed`](crate::storage::Fixed) storage on a device without a heap.
//!
//! [`Repeat`] applies one block type `N` times in sequence (`blocks: [ResBlock<T>; 4]` in a
//! `network!`), naming the copies `blocks.0`, `blocks.1`, ... as PyTorch's
//! `nn.Sequential` of modules does.
//!
//! ```
//! use monograd_core::block::Block;
//! use monograd_core::storage::Fixed;
//! use monograd_core::{Ctx, Rank1};
//! use monograd_core::ops::unary::Relu;
//! # use monograd_core::module::{Activation, Layer, Module, ParamUpdate, Path, Tensor};
//! # #[derive(Clone, Default)]
//! # struct R;
//! # impl Module<f32> for R {
//! #     const PARAMS: usize = 0;
//! #     fn visit<F: FnMut(Tensor<'_, &[f32]>)>(&self, _: &Path<'_>, _: &mut F) {}
//! #     fn visit_mut<F: FnMut(Tensor<'_, &mut [f32]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
//! #     fn visit_update<F: FnMut(ParamUpdate<'_, f32>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
//! # }
//! # impl Layer<f32, Rank1<2>, Rank1<2>> for R {
//! #     type Cache = ();
//! #     fn forward(&self, x: &[f32], y: &mut [f32], _: &mut Ctx<'_, f32>) {
//! #         for (y, x) in y.iter_mut().zip(x) { *y = x.max(0.0); }
//! #     }
//! #     fn backward(&self, _: &[f32], _: &[f32], _: &(), _: &[f32], _: Option<&mut [f32]>, _: &mut Self, _: &mut Ctx<'_, f32>) {}
//! # }
//! // Any layer is a block whose state is its cache.
//! let mut st = <R as Block<f32, Rank1<2>, Rank1<2>>>::state::<Fixed<1>>();
//! let mut y = [0.0; 2];
//! Block::<f32, Rank1<2>, Rank1<2>>::forward::<Fixed<1>>(&R, &[-1.0, 3.0], &mut y, &mut st, &mut Ctx::new(&mut [])).unwrap();
//! assert_eq!(y, [0.0, 3.0]);
//! ```

use crate::dual::Dual;
use crate::module::{Counter, Ctx, Layer, Module, OutputShape, ParamUpdate, Path, Tensor};
use crate::shape::{Rank1, Rank2, Rank3};
use crate::storage::{Buffer, Storage};
use crate::{Scalar, Shape, ShapeError};

/// A differentiable map from a batch of `In` samples to a batch of `Out` samples that may
/// keep batch-sized state between its forward and backward passes.
///
/// Implemented for every [`Layer`] (its state is its cache, and its passes cannot fail)
/// and by `network!` for each network, so a network is a layer of another.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot map samples of shape `{In}` to `{Out}`",
    label = "this layer or block does not take `{In}` to `{Out}`",
    note = "a nested network takes exactly the input it declares and gives its declared output; check the \
            shape of the node before it"
)]
pub trait Block<T: Scalar, In: Shape, Out: Shape>: Module<T> {
    /// What the block keeps between forward and backward, for batches held by `S`.
    type State<S: Storage>;

    /// Multiply-accumulates per sample of the inference forward.
    const MACS: usize = 0;

    /// Scratch values the block takes from the front of `ctx.pack` (see
    /// [`Layer::SCRATCH`]).
    const SCRATCH: usize = 0;

    /// A nested network's own summary rows, shown under its node (empty for a layer).
    const ROWS: &'static [crate::summary::SummaryRow] = &[];

    /// Fresh state: `Fixed` storage allocates nothing, ever.
    fn state<S: Storage>() -> Self::State<S>;

    /// Checks values from user data before any pass runs (see [`Layer::check_input`]).
    fn check_input(&self, x: &[T]) -> Result<(), ShapeError> {
        let _ = x;
        Ok(())
    }

    /// Inference: writes `f(x)` into `y` for a whole batch.
    fn forward<S: Storage>(
        &self,
        x: &[T],
        y: &mut [T],
        state: &mut Self::State<S>,
        ctx: &mut Ctx<'_, T>,
    ) -> Result<(), ShapeError>;

    /// Training forward: like [`Block::forward`], keeping what backward needs in `state`.
    fn forward_train<S: Storage>(
        &mut self,
        x: &[T],
        y: &mut [T],
        state: &mut Self::State<S>,
        ctx: &mut Ctx<'_, T>,
    ) -> Result<(), ShapeError>;

    /// Backward after [`Block::forward_train`] on the same `x`: adds `∂L/∂θ` into `grad`
    /// and, when `dx` is given, `∂L/∂x` into it (both accumulate, as [`Layer::backward`]).
    #[allow(clippy::too_many_arguments)]
    fn backward<S: Storage>(
        &self,
        x: &[T],
        y: &[T],
        state: &mut Self::State<S>,
        dy: &[T],
        dx: Option<&mut [T]>,
        grad: &mut Self,
        ctx: &mut Ctx<'_, T>,
    ) -> Result<(), ShapeError>;
}

impl<T: Scalar, In: Shape, Out: Shape, L: Layer<T, In, Out>> Block<T, In, Out> for L {
    type State<S: Storage> = L::Cache;
    const MACS: usize = L::MACS;
    const SCRATCH: usize = L::SCRATCH;

    #[inline]
    fn state<S: Storage>() -> L::Cache {
        Default::default()
    }

    #[inline]
    fn check_input(&self, x: &[T]) -> Result<(), ShapeError> {
        Layer::check_input(self, x)
    }

    #[inline]
    fn forward<S: Storage>(
        &self,
        x: &[T],
        y: &mut [T],
        _: &mut L::Cache,
        ctx: &mut Ctx<'_, T>,
    ) -> Result<(), ShapeError> {
        Layer::forward(self, x, y, ctx);
        Ok(())
    }

    #[inline]
    fn forward_train<S: Storage>(
        &mut self,
        x: &[T],
        y: &mut [T],
        cache: &mut L::Cache,
        ctx: &mut Ctx<'_, T>,
    ) -> Result<(), ShapeError> {
        Layer::forward_train(self, x, y, cache, ctx);
        Ok(())
    }

    #[inline]
    fn backward<S: Storage>(
        &self,
        x: &[T],
        y: &[T],
        cache: &mut L::Cache,
        dy: &[T],
        dx: Option<&mut [T]>,
        grad: &mut Self,
        ctx: &mut Ctx<'_, T>,
    ) -> Result<(), ShapeError> {
        Layer::backward(self, x, y, cache, dy, dx, grad, ctx);
        Ok(())
    }
}

/// `N` copies of the block `B` applied in sequence, each with its own parameters; its
/// samples keep their shape.
///
/// `network!` writes a field declared `blocks: [ResBlock<T>; 4]` as `Repeat<ResBlock<T>,
/// 4>`. Parameters are named by position, `blocks.0.conv1.weight`, as in PyTorch's
/// `nn.Sequential`.
#[derive(Clone, Debug)]
pub struct Repeat<B, const N: usize>(pub [B; N]);

impl<B: Default, const N: usize> Default for Repeat<B, N> {
    fn default() -> Self {
        Self(core::array::from_fn(|_| B::default()))
    }
}

impl<T: Scalar, B: Module<T>, const N: usize> Module<T> for Repeat<B, N> {
    const PARAMS: usize = N * B::PARAMS;

    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, path: &Path<'_>, f: &mut F) {
        for (i, b) in self.0.iter().enumerate() {
            b.visit(&path.index(i), f);
        }
    }

    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, path: &Path<'_>, f: &mut F) {
        for (i, b) in self.0.iter_mut().enumerate() {
            b.visit_mut(&path.index(i), f);
        }
    }

    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(
        &mut self,
        grad: &Self,
        path: &Path<'_>,
        offset: &mut usize,
        f: &mut F,
    ) {
        for (i, (b, g)) in self.0.iter_mut().zip(&grad.0).enumerate() {
            b.visit_update(g, &path.index(i), offset, f);
        }
    }

    fn visit_counters<F: FnMut(Counter<'_, &u64>)>(&self, path: &Path<'_>, f: &mut F) {
        for (i, b) in self.0.iter().enumerate() {
            b.visit_counters(&path.index(i), f);
        }
    }

    fn visit_counters_mut<F: FnMut(Counter<'_, &mut u64>)>(&mut self, path: &Path<'_>, f: &mut F) {
        for (i, b) in self.0.iter_mut().enumerate() {
            b.visit_counters_mut(&path.index(i), f);
        }
    }

    fn init(&mut self, rng: &mut crate::rng::Rng) {
        for b in &mut self.0 {
            b.init(rng);
        }
    }
}

impl<S: Shape, B: OutputShape<S>, const N: usize> OutputShape<S> for Repeat<B, N> {
    type Output = B::Output;
    const DECLARED_INPUT: Option<&'static [usize]> = B::DECLARED_INPUT;
}

/// The state of a [`Repeat`]: each copy's own state, the output of every copy but the last
/// (the next one's input; the last writes into the caller's buffer), and two gradient
/// buffers that backward passes between the copies.
pub struct RepeatState<T: Scalar, Sh: Shape, B: Block<T, Sh, Sh>, S: Storage, const N: usize> {
    blocks: [B::State<S>; N],
    outs: [S::Buf<T, Sh>; N],
    dcur: S::Buf<T, Sh>,
    dprev: S::Buf<T, Sh>,
}

// `Block` for `Repeat` is written per scalar and per rank, never for a bare type
// parameter: the blanket impl above covers every `Layer`, and coherence accepts a second
// impl only where no crate could ever make `Repeat<B, N>` a `Layer` of the same types.
// A bare scalar or shape parameter could be a type of a downstream crate, which could;
// `f32`, `f64`, `Dual<U, K>` and the `RankN` shapes cannot be.
macro_rules! repeat_block {
    ($([$($g:tt)*] $t:ty;)*) => {$(
        repeat_block!(@rank [$($g)*] $t; [const D0: usize] Rank1<D0>);
        repeat_block!(@rank [$($g)*] $t; [const D0: usize, const D1: usize] Rank2<D0, D1>);
        repeat_block!(@rank [$($g)*] $t; [const D0: usize, const D1: usize, const D2: usize] Rank3<D0, D1, D2>);
    )*};
    (@rank [$($g:tt)*] $t:ty; [$($sg:tt)*] $sh:ty) => {
        impl<$($g)* $($sg)*, B: Block<$t, $sh, $sh>, const N: usize> Block<$t, $sh, $sh> for Repeat<B, N> {
            type State<S: Storage> = RepeatState<$t, $sh, B, S, N>;
            const MACS: usize = N * B::MACS;
            const SCRATCH: usize = B::SCRATCH;
            const ROWS: &'static [crate::summary::SummaryRow] = B::ROWS;

            fn state<S: Storage>() -> Self::State<S> {
                RepeatState::new()
            }

            fn check_input(&self, x: &[$t]) -> Result<(), ShapeError> {
                match self.0.first() {
                    Some(b) => b.check_input(x),
                    None => Ok(()),
                }
            }

            fn forward<S: Storage>(
                &self,
                x: &[$t],
                y: &mut [$t],
                st: &mut Self::State<S>,
                ctx: &mut Ctx<'_, $t>,
            ) -> Result<(), ShapeError> {
                run_forward(&mut RepeatRef::Shared(&self.0), x, y, st, ctx)
            }

            fn forward_train<S: Storage>(
                &mut self,
                x: &[$t],
                y: &mut [$t],
                st: &mut Self::State<S>,
                ctx: &mut Ctx<'_, $t>,
            ) -> Result<(), ShapeError> {
                run_forward(&mut RepeatRef::Mut(&mut self.0), x, y, st, ctx)
            }

            fn backward<S: Storage>(
                &self,
                x: &[$t],
                y: &[$t],
                st: &mut Self::State<S>,
                dy: &[$t],
                dx: Option<&mut [$t]>,
                grad: &mut Self,
                ctx: &mut Ctx<'_, $t>,
            ) -> Result<(), ShapeError> {
                run_backward(&self.0, x, y, st, dy, dx, &mut grad.0, ctx)
            }
        }
    };
}

repeat_block! {
    [] f32;
    [] f64;
    [U: Scalar, const K: usize,] Dual<U, K>;
}

impl<T: Scalar, Sh: Shape, B: Block<T, Sh, Sh>, S: Storage, const N: usize> RepeatState<T, Sh, B, S, N> {
    fn new() -> Self {
        RepeatState {
            blocks: core::array::from_fn(|_| B::state::<S>()),
            outs: core::array::from_fn(|_| S::Buf::new()),
            dcur: S::Buf::new(),
            dprev: S::Buf::new(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_backward<T: Scalar, Sh: Shape, B: Block<T, Sh, Sh>, S: Storage, const N: usize>(
    blocks: &[B; N],
    x: &[T],
    y: &[T],
    st: &mut RepeatState<T, Sh, B, S, N>,
    dy: &[T],
    dx: Option<&mut [T]>,
    grads: &mut [B; N],
    ctx: &mut Ctx<'_, T>,
) -> Result<(), ShapeError> {
    if N == 0 {
        if let Some(dx) = dx {
            for (d, g) in dx.iter_mut().zip(dy) {
                *d += *g;
            }
        }
        return Ok(());
    }
    let batch = y.len() / Sh::NUMEL.max(1);
    // Gradients flow back through the copies in turn: `dcur` holds ∂L/∂(output of copy
    // i) and `dprev` receives ∂L/∂(its input), then they swap.
    let RepeatState { blocks: states, outs, dcur, dprev } = st;
    Buffer::prepare(dcur, batch)?.copy_from_slice(dy);
    let mut dx = dx;
    for i in (0..N).rev() {
        let input = if i == 0 { x } else { Buffer::as_slice(&outs[i - 1]) };
        let output = if i == N - 1 { y } else { Buffer::as_slice(&outs[i]) };
        let d = if i == 0 {
            dx.as_deref_mut()
        } else {
            let p = Buffer::prepare(dprev, batch)?;
            p.fill(T::ZERO);
            Some(p)
        };
        blocks[i].backward::<S>(input, output, &mut states[i], Buffer::as_slice(dcur), d, &mut grads[i], ctx)?;
        core::mem::swap(dcur, dprev);
    }
    Ok(())
}

/// The copies of a [`Repeat`], shared for inference or mutable for training.
enum RepeatRef<'a, B, const N: usize> {
    Shared(&'a [B; N]),
    Mut(&'a mut [B; N]),
}

fn run_forward<T: Scalar, Sh: Shape, B: Block<T, Sh, Sh>, S: Storage, const N: usize>(
    blocks: &mut RepeatRef<'_, B, N>,
    x: &[T],
    y: &mut [T],
    st: &mut RepeatState<T, Sh, B, S, N>,
    ctx: &mut Ctx<'_, T>,
) -> Result<(), ShapeError> {
    if N == 0 {
        y.copy_from_slice(x);
        return Ok(());
    }
    let batch = x.len() / Sh::NUMEL.max(1);
    let RepeatState { blocks: states, outs, .. } = st;
    for i in 0..N {
        let (done, rest) = outs.split_at_mut(i);
        let input = if i == 0 { x } else { Buffer::as_slice(&done[i - 1]) };
        let out: &mut [T] = if i == N - 1 { &mut *y } else { Buffer::prepare(&mut rest[0], batch)? };
        match blocks {
            RepeatRef::Shared(b) => b[i].forward::<S>(input, out, &mut states[i], ctx)?,
            RepeatRef::Mut(b) => b[i].forward_train::<S>(input, out, &mut states[i], ctx)?,
        }
    }
    Ok(())
}
