//! The affine map of a dense layer, in PyTorch's layout: `y = x Wᵀ + b`.
//!
//! With `x` of `[batch, in]`, `W` of `[out, in]` and an optional `b` of `[out]`:
//!
//! - forward: `y[r, o] = Σ_i x[r, i] W[o, i] + b[o]`
//! - backward: `dx += dy W`, `dW += dyᵀ x`, `db[o] += Σ_r dy[r, o]`
//!
//! Fusing the bias into the product saves a pass over `y` (the bias is written first and
//! the kernel accumulates onto it). The `Linear` layer and the eager tape both call these
//! two functions, so the derivative exists once.
//!
//! # Shapes
//! - `x`, `dx`: `[batch, in_features]` (the batch is `x.len() / in_features`)
//! - `w`, `dw`: `[out_features, in_features]`
//! - `b`, `db`: `[out_features]`
//! - `y`, `dy`: `[batch, out_features]`

use super::binary::column_sums_into;
use super::matmul::{run, view, view_mut};
use super::unary::UnaryFn;
use crate::kernels::gemm::{gemm_fused, gemm_prepacked, BiasAct, Identity as GemmIdentity, PackedLayout};
use crate::Scalar;

/// The name of the op in [`OPS`](super::OPS).
pub const NAME: &str = "linear";

/// `y = x Wᵀ + b`, overwriting `y`; without a bias, `y = x Wᵀ`.
///
/// `pack` is packing memory for [`gemm`](crate::kernels::gemm::gemm): any length works.
///
/// # Panics
/// If `x` is not a whole number of rows of `in_features`, or another slice's length does
/// not match.
///
/// ```
/// use monograd_core::ops::linear;
/// let x = [1.0f64, 2.0]; // one sample, 2 features
/// let w = [1.0, 0.0, 1.0, 1.0, 0.0, -1.0]; // [3, 2]
/// let b = [0.5, 0.5, 0.5];
/// let mut y = [0.0; 3];
/// linear::forward(&x, &w, Some(&b), &mut y, 2, 3, &mut []);
/// assert_eq!(y, [1.5, 3.5, -1.5]);
/// ```
#[inline(always)]
#[track_caller]
pub fn forward<T: Scalar>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    y: &mut [T],
    in_features: usize,
    out_features: usize,
    pack: &mut [T],
) {
    let batch = super::rows_of(NAME, "x", x.len(), in_features);
    if is_small(batch, in_features, out_features) {
        small_forward(x, w, b, y, in_features, out_features, |v| v);
    } else {
        gemm_forward(x, w, b, y, batch, in_features, out_features, pack);
    }
}

/// [`forward`] through the matrix kernel.
#[allow(clippy::too_many_arguments)]
#[inline]
#[track_caller]
fn gemm_forward<T: Scalar>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    y: &mut [T],
    batch: usize,
    in_features: usize,
    out_features: usize,
    pack: &mut [T],
) {
    gemm_forward_act(x, w, b, Identity, y, batch, in_features, out_features, pack);
}

/// The identity as an activation, so that [`forward`] shares [`forward_act`]'s epilogue.
#[derive(Clone, Copy)]
struct Identity;

impl UnaryFn for Identity {
    const NAME: &'static str = "identity";
    const DERIV_FROM_OUTPUT: bool = true;
    #[inline(always)]
    fn f<T: Scalar>(&self, x: T) -> T {
        x
    }
    fn df<T: Scalar>(&self, _: T, _: T) -> T {
        T::ONE
    }
}

/// `y = act(x Wᵀ + b)` with the bias and the activation applied to each tile of `y` as the
/// matrix kernel stores it (an [`Epilogue`](crate::kernels::gemm::Epilogue)), instead of a
/// pass to broadcast the bias and another for the activation: the fused forward that
/// `network!` emits for a dense layer followed by an activation.
///
/// Backward through it is [`unary::backward_in_place`](super::unary::backward_in_place)
/// on the output gradient, then [`backward`].
///
/// # Panics
/// As [`forward`].
///
/// ```
/// use monograd_core::ops::{linear, unary::Relu};
/// let mut y = [0.0f32; 2];
/// linear::forward_act(&[1.0, 1.0], &[1.0, 2.0, -3.0, 1.0], Some(&[0.5, 0.5]), Relu, &mut y, 2, 2, &mut []);
/// assert_eq!(y, [3.5, 0.0]);
/// ```
#[allow(clippy::too_many_arguments)] // the operands of `forward` plus the activation
#[inline(always)]
#[track_caller]
pub fn forward_act<T: Scalar, A: UnaryFn>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    act: A,
    y: &mut [T],
    in_features: usize,
    out_features: usize,
    pack: &mut [T],
) {
    let batch = super::rows_of(NAME, "x", x.len(), in_features);
    if is_small(batch, in_features, out_features) {
        small_forward(x, w, b, y, in_features, out_features, |v| act.f(v));
    } else {
        gemm_forward_act(x, w, b, act, y, batch, in_features, out_features, pack);
    }
}

/// [`forward_act`] through the matrix kernel.
#[allow(clippy::too_many_arguments)]
#[inline]
#[track_caller]
fn gemm_forward_act<T: Scalar, A: UnaryFn>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    act: A,
    y: &mut [T],
    batch: usize,
    in_features: usize,
    out_features: usize,
    pack: &mut [T],
) {
    let xv = view(NAME, "x", x, batch, in_features);
    let wv = view(NAME, "w", w, out_features, in_features);
    if let Some(b) = b {
        super::expect_len(NAME, "b", b.len(), out_features);
    }
    let yv = view_mut(NAME, "y", y, batch, out_features);
    let epi = BiasAct::new(b, |v| act.f(v));
    if let Err(e) = gemm_fused(T::ONE, xv, wv.t(), T::ZERO, yv, pack, &epi, None) {
        unreachable_shape(&e);
    }
}

/// [`forward`] with the weights read from panels packed ahead
/// ([`gemm::prepack`](crate::kernels::gemm::prepack) of `Wᵀ`) instead of packed on every
/// call: the same bits. `w` is still needed for the shapes the matrix kernel runs
/// unpacked (a batch of one) and for builds that do not read the panels.
///
/// # Panics
/// As [`forward`], and if the panels were packed from a matrix of another shape.
#[allow(clippy::too_many_arguments)] // those of `forward`, and the panels
#[inline(always)]
#[track_caller]
pub fn forward_prepacked<T: Scalar>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    y: &mut [T],
    in_features: usize,
    out_features: usize,
    panels: (&[T], &PackedLayout),
    pack: &mut [T],
) {
    forward_act_prepacked(x, w, b, Identity, y, in_features, out_features, panels, pack);
}

/// [`forward_act`] with the weights read from panels packed ahead, as
/// [`forward_prepacked`]: the same bits as [`forward_act`].
///
/// # Panics
/// As [`forward_prepacked`].
#[allow(clippy::too_many_arguments)] // those of `forward_act`, and the panels
#[inline(always)]
#[track_caller]
pub fn forward_act_prepacked<T: Scalar, A: UnaryFn>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    act: A,
    y: &mut [T],
    in_features: usize,
    out_features: usize,
    (panels, layout): (&[T], &PackedLayout),
    pack: &mut [T],
) {
    let batch = super::rows_of(NAME, "x", x.len(), in_features);
    if is_small(batch, in_features, out_features) {
        small_forward(x, w, b, y, in_features, out_features, |v| act.f(v));
        return;
    }
    let xv = view(NAME, "x", x, batch, in_features);
    let wv = view(NAME, "w", w, out_features, in_features);
    if let Some(b) = b {
        super::expect_len(NAME, "b", b.len(), out_features);
    }
    let yv = view_mut(NAME, "y", y, batch, out_features);
    let epi = BiasAct::new(b, |v| act.f(v));
    if let Err(e) = gemm_prepacked(T::ONE, xv, wv.t(), panels, Some(layout), T::ZERO, yv, pack, &epi) {
        unreachable_shape(&e);
    }
}

/// The views and the bias were built from checked lengths, so the kernel's own checks
/// cannot fail; if they ever do, say where.
#[cold]
#[inline(never)]
#[track_caller]
fn unreachable_shape(e: &crate::ShapeError) -> ! {
    panic!("{NAME}: {e}")
}

/// `dx += dy W`, `dW += dyᵀ x`, `db += Σ_rows dy`, for each gradient that is asked for.
///
/// # Panics
/// If `dy` is not a whole number of rows of `out_features`, or another slice's length does
/// not match.
///
/// ```
/// use monograd_core::ops::linear;
/// let (x, w) = ([1.0f64, 2.0], [3.0, 4.0]); // batch 1, in 2, out 1
/// let (mut dx, mut dw, mut db) = ([0.0; 2], [0.0; 2], [0.0; 1]);
/// linear::backward(&x, &w, &[1.0], Some(&mut dx), Some(&mut dw), Some(&mut db), 2, 1, &mut []);
/// assert_eq!((dx, dw, db), ([3.0, 4.0], [1.0, 2.0], [1.0]));
/// ```
#[allow(clippy::too_many_arguments)] // two operands, three gradients, two dimensions, scratch
#[inline(always)]
#[track_caller]
pub fn backward<T: Scalar>(
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
    in_features: usize,
    out_features: usize,
    pack: &mut [T],
) {
    let batch = super::rows_of(NAME, "dy", dy.len(), out_features);
    if is_small(batch, in_features, out_features) {
        small_backward(x, w, dy, dx, dw, db, in_features, out_features);
    } else {
        gemm_backward(x, w, dy, dx, dw, db, batch, in_features, out_features, pack);
    }
}

/// [`backward`] through the matrix kernel.
#[allow(clippy::too_many_arguments)]
#[inline]
#[track_caller]
fn gemm_backward<T: Scalar>(
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
    batch: usize,
    in_features: usize,
    out_features: usize,
    pack: &mut [T],
) {
    let dyv = view(NAME, "dy", dy, batch, out_features);
    if let Some(dx) = dx {
        let wv = view(NAME, "w", w, out_features, in_features);
        run(NAME, T::ONE, dyv, wv, T::ONE, view_mut(NAME, "dx", dx, batch, in_features), pack);
    }
    if let Some(db) = &db {
        super::expect_len(NAME, "db", db.len(), out_features);
    }
    match dw {
        Some(dw) => {
            // `db` is the row sums of `dyᵀ`, the weight-gradient product's `A`: summed
            // from its packed panels, in the order of a plain loop over the batch.
            let xv = view(NAME, "x", x, batch, in_features);
            let dwv = view_mut(NAME, "dw", dw, out_features, in_features);
            if let Err(e) = gemm_fused(T::ONE, dyv.t(), xv, T::ONE, dwv, pack, &GemmIdentity, db) {
                unreachable_shape(&e);
            }
        }
        None => {
            if let Some(db) = db {
                column_sums_into(dy, db);
            }
        }
    }
}

/// The backward pass and a plain SGD step in one: `dx += dy W` with the weights as they
/// were, then `W -= lr · dyᵀ x` and `b -= lr · Σ_rows dy`, with no gradient buffers.
///
/// The update is the weight-gradient product itself with `alpha = -lr` and `beta = 1`
/// into `W`, so `W` is read and written once and no `dW` is written, zeroed or read
/// again. It equals [`backward`] into zeroed gradients followed by `p -= lr * g` (plain
/// SGD without momentum or weight decay) to the bit when the kernel sums the batch in
/// one block (a batch of at most 64 on any machine; larger ones differ in the last bits,
/// as the sums are then scaled per block).
///
/// # Panics
/// As [`backward`].
///
/// ```
/// use monograd_core::ops::linear;
/// let x = [1.0f64, 2.0]; // batch 1, in 2, out 1
/// let (mut w, mut b) = ([3.0, 4.0], [0.5]);
/// let mut dx = [0.0; 2];
/// linear::backward_sgd(&x, &mut w, Some(&mut b), &[1.0], Some(&mut dx), 0.5, 2, 1, &mut []);
/// assert_eq!((dx, w, b), ([3.0, 4.0], [2.5, 3.0], [0.0]));
/// ```
#[allow(clippy::too_many_arguments)] // those of `backward`, with the rate for the gradients
#[inline(always)]
#[track_caller]
pub fn backward_sgd<T: Scalar>(
    x: &[T],
    w: &mut [T],
    b: Option<&mut [T]>,
    dy: &[T],
    dx: Option<&mut [T]>,
    lr: T,
    in_features: usize,
    out_features: usize,
    pack: &mut [T],
) {
    let batch = super::rows_of(NAME, "dy", dy.len(), out_features);
    super::expect_len(NAME, "w", w.len(), out_features * in_features);
    super::expect_len(NAME, "x", x.len(), batch * in_features);
    let small = is_small(batch, in_features, out_features);
    // Through the matrix kernel, the bias gradient is the row sums of the weight-gradient
    // product's packed `dyᵀ` (no pass over `dy`), summed into the end of the packing
    // memory when it has room for them beside a useful amount of packing.
    let fused_bias = !small && pack.len() >= out_features + 2 * 4096;
    let mut b = b;
    if let Some(b) = b.as_deref() {
        super::expect_len(NAME, "b", b.len(), out_features);
    }
    if let Some(b) = b.take_if(|_| !fused_bias) {
        // The same sums as `column_sums_into` over a zeroed gradient, a block of columns
        // at a time on the stack.
        const COLS: usize = 64;
        for (c0, bc) in (0..out_features).step_by(COLS).zip(b.chunks_mut(COLS)) {
            let mut sums = [T::ZERO; COLS];
            for row in dy.chunks_exact(out_features) {
                for (s, &v) in sums.iter_mut().zip(&row[c0..c0 + bc.len()]) {
                    *s += v;
                }
            }
            for (p, &g) in bc.iter_mut().zip(&sums) {
                *p -= lr * g;
            }
        }
    }
    if small {
        small_backward(x, w, dy, dx, None, None, in_features, out_features);
        // Each weight's gradient summed over the batch in order from zero, as before, but
        // a block of a row at a time on the stack, so that the loops run along the row.
        const COLS: usize = 64;
        for (o, wr) in w.chunks_exact_mut(in_features).enumerate() {
            for (c0, wc) in (0..in_features).step_by(COLS).zip(wr.chunks_mut(COLS)) {
                let mut g = [T::ZERO; COLS];
                let g = &mut g[..wc.len()];
                for (dyr, xr) in dy.chunks_exact(out_features).zip(x.chunks_exact(in_features)) {
                    let d = dyr[o];
                    for (g, &v) in g.iter_mut().zip(&xr[c0..c0 + wc.len()]) {
                        *g += d * v;
                    }
                }
                for (p, &g) in wc.iter_mut().zip(g.iter()) {
                    *p -= lr * g;
                }
            }
        }
        return;
    }
    let dyv = view(NAME, "dy", dy, batch, out_features);
    if let Some(dx) = dx {
        let wv = view(NAME, "w", w, out_features, in_features);
        run(NAME, T::ONE, dyv, wv, T::ONE, view_mut(NAME, "dx", dx, batch, in_features), pack);
    }
    let xv = view(NAME, "x", x, batch, in_features);
    let wv = view_mut(NAME, "w", w, out_features, in_features);
    match b {
        Some(b) => {
            let (pack, sums) = pack.split_at_mut(pack.len() - out_features);
            sums.fill(T::ZERO);
            if let Err(e) = gemm_fused(T::ZERO - lr, dyv.t(), xv, T::ONE, wv, pack, &GemmIdentity, Some(sums)) {
                unreachable_shape(&e);
            }
            for (p, &g) in b.iter_mut().zip(sums.iter()) {
                *p -= lr * g;
            }
        }
        None => run(NAME, T::ZERO - lr, dyv.t(), xv, T::ONE, wv, pack),
    }
}

/// At most this many multiply-adds (`batch · in · out`), the three functions above run
/// loops of their own instead of the matrix kernel: for a product this small, the kernel's
/// views, checks and dispatch cost more than the arithmetic. On the 2-16-16-1 network of
/// the W3 workload (batch 1) this took a training step from 13.0k to 6.4k instructions
/// (`forward`, `forward_act` and `backward` are `#[inline(always)]` so that a layer's
/// constant sizes reach these loops; the matrix kernel stays behind a call).
pub const SMALL_MACS: usize = 4096;

/// Whether a product takes the loops of [`SMALL_MACS`].
#[inline(always)]
fn is_small(batch: usize, in_features: usize, out_features: usize) -> bool {
    in_features > 0 && out_features > 0 && batch.saturating_mul(in_features).saturating_mul(out_features) <= SMALL_MACS
}

/// Partial sums in [`dot`]: enough independent adds to vectorize and hide their latency.
const LANES: usize = 8;

/// `Σ_p x[p] y[p]` over equal lengths, in [`LANES`] interleaved partial sums.
///
/// The summation order, which results depend on to the last bit: partial sum `l` adds
/// `x[p] y[p]` for `p ≡ l (mod 8)` in increasing `p` over the whole chunks of eight; the
/// eight partial sums are combined pairwise (`s_l + s_{l+4}`, then `+ s_{l+2}`, then
/// `s_0 + s_1`), and the tail (the last `len % 8` products, summed in order from zero) is
/// added last.
///
/// Written out by hand, with eight scalar accumulators over chunks split off as arrays
/// (two chunks per turn while there are), rather than as a loop over an array of
/// accumulators on chunk iterators: at opt-level `"s"` or `"z"` LLVM neither unrolls that
/// inner loop (so the accumulators lived in memory, cleared by a `memclr` call per output)
/// nor inlines the iterators' constructors. On a Cortex-M4 (docs/EMBEDDED.md) one
/// inference of a 1-16-16-1 network took 12k instructions at `"s"` against 1.3k at 3;
/// written this way it takes 1.4k at `"s"` and 1.2k at 3.
#[inline(always)]
fn dot<T: Scalar>(x: &[T], y: &[T]) -> T {
    let (xs, ys) = (x, &y[..x.len()]);
    let (mut s0, mut s1, mut s2, mut s3) = (T::ZERO, T::ZERO, T::ZERO, T::ZERO);
    let (mut s4, mut s5, mut s6, mut s7) = (T::ZERO, T::ZERO, T::ZERO, T::ZERO);
    // One chunk of eight at offset `$o` of the arrays `$a` and `$b`: constant indices, so
    // no bounds checks.
    macro_rules! chunk {
        ($a:ident, $b:ident, $o:literal) => {
            s0 += $a[$o] * $b[$o];
            s1 += $a[$o + 1] * $b[$o + 1];
            s2 += $a[$o + 2] * $b[$o + 2];
            s3 += $a[$o + 3] * $b[$o + 3];
            s4 += $a[$o + 4] * $b[$o + 4];
            s5 += $a[$o + 5] * $b[$o + 5];
            s6 += $a[$o + 6] * $b[$o + 6];
            s7 += $a[$o + 7] * $b[$o + 7];
        };
    }
    // Two chunks per turn while there are (the same sums in the same order): a loop of
    // half the turns where the optimizer does not unroll (16 inputs take one turn).
    let ((x16, x8), (y16, y8)) = (xs.as_chunks::<16>(), ys.as_chunks::<16>());
    for (a, b) in x16.iter().zip(y16) {
        chunk!(a, b, 0);
        chunk!(a, b, 8);
    }
    let ((x8, xt), (y8, yt)) = (x8.as_chunks::<LANES>(), y8.as_chunks::<LANES>());
    for (a, b) in x8.iter().zip(y8) {
        chunk!(a, b, 0);
    }
    let mut tail = T::ZERO;
    for (&a, &b) in xt.iter().zip(yt) {
        tail += a * b;
    }
    // Pairwise, so that the rounding does not grow with the lanes.
    ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)) + tail
}

/// [`dot`] of sixteen values, written out: the same sums in the same order (the empty
/// tail's zero included, which turns a `-0` sum into `+0` there too), without the chunk
/// loops that opt-level "z" keeps.
#[inline(always)]
fn dot16<T: Scalar>(x: &[T; 16], y: &[T; 16]) -> T {
    let s = |l: usize| (T::ZERO + x[l] * y[l]) + x[l + 8] * y[l + 8];
    ((s(0) + s(4)) + (s(2) + s(6))) + ((s(1) + s(5)) + (s(3) + s(7))) + T::ZERO
}

/// [`axpy`] of sixteen values, written out (constant indices, so that a `y` on the stack
/// stays in registers).
#[inline(always)]
fn axpy16<T: Scalar>(s: T, x: &[T; 16], y: &mut [T; 16]) {
    macro_rules! each {
        ($($i:literal)*) => { $( y[$i] += s * x[$i]; )* };
    }
    each!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
}

/// `y += s x`, over equal lengths (rows of the same width, as the callers pass).
///
/// In chunks of eight split off as arrays, as in [`dot`]: at opt-level `"s"` and `"z"` a
/// plain loop over zipped iterators keeps the iterators' index bookkeeping for every
/// element (a training step of a 1-16-16-1 network on a Cortex-M4 spent a third of its
/// instructions there). Each element is its own `y[i] + s x[i]`, so the results are the
/// same bits either way (a test checks it).
///
/// Only on 32-bit Arm (microcontrollers, where firmware is built at `"s"` or `"z"`): on
/// x86-64 at opt-level 3 the element-wise loop was the faster one for the W3 training
/// step (1.29 against 1.68 µs of CPU time per step, a loaded machine).
#[inline(always)]
fn axpy<T: Scalar>(s: T, x: &[T], y: &mut [T]) {
    if cfg!(target_arch = "arm") {
        axpy_chunked(s, x, y);
    } else {
        for (o, &v) in y.iter_mut().zip(x) {
            *o += s * v;
        }
    }
}

/// [`axpy`]'s chunked form.
#[inline(always)]
fn axpy_chunked<T: Scalar>(s: T, x: &[T], y: &mut [T]) {
    debug_assert_eq!(x.len(), y.len());
    // No slicing to a common length: at opt-level "z" the range indexing stays a call.
    let ((y8, yt), (x8, xt)) = (y.as_chunks_mut::<8>(), x.as_chunks::<8>());
    for (o, v) in y8.iter_mut().zip(x8) {
        o[0] += s * v[0];
        o[1] += s * v[1];
        o[2] += s * v[2];
        o[3] += s * v[3];
        o[4] += s * v[4];
        o[5] += s * v[5];
        o[6] += s * v[6];
        o[7] += s * v[7];
    }
    for (o, &v) in yt.iter_mut().zip(xt) {
        *o += s * v;
    }
}

/// `y = f(x Wᵀ + b)` for a product of at most [`SMALL_MACS`]: one dot product per output.
#[inline(always)]
#[track_caller]
fn small_forward<T: Scalar>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    y: &mut [T],
    in_features: usize,
    out_features: usize,
    f: impl Fn(T) -> T,
) {
    let batch = x.len() / in_features;
    super::expect_len(NAME, "w", w.len(), out_features * in_features);
    super::expect_len(NAME, "y", y.len(), batch * out_features);
    if let Some(b) = b {
        super::expect_len(NAME, "b", b.len(), out_features);
    }
    // Rows split off one by one rather than through chunk iterators, whose constructors
    // (a division each) stay out of line at opt-level "s" and "z".
    let (mut xs, mut ys) = (x, y);
    while let (Some((xr, xrest)), Some((yr, yrest))) =
        (xs.split_at_checked(in_features), core::mem::take(&mut ys).split_at_mut_checked(out_features))
    {
        // On 32-bit Arm, a row of sixteen inputs is copied out once per row of `x`: at
        // opt-level "z" the copy stays in registers across the outputs, where `dot`
        // loads the row again for each (the same sums in the same order).
        let x16: Option<[T; 16]> = if cfg!(target_arch = "arm") { xr.try_into().ok() } else { None };
        let mut ws = w;
        for (o, yo) in yr.iter_mut().enumerate() {
            let Some((wr, wrest)) = ws.split_at_checked(in_features) else { break };
            let v = match (&x16, <&[T; 16]>::try_from(wr)) {
                (Some(x16), Ok(w16)) => dot16(x16, w16),
                _ => dot(xr, wr),
            };
            *yo = f(match b {
                Some(b) => v + b[o],
                None => v,
            });
            ws = wrest;
        }
        (xs, ys) = (xrest, yrest);
    }
}

/// [`backward`] for a product of at most [`SMALL_MACS`]: `dx` row by row as a sum of rows
/// of `W`, `dW` as a sum of outer products.
#[allow(clippy::too_many_arguments)] // those of `backward`
#[inline(always)]
#[track_caller]
fn small_backward<T: Scalar>(
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
    in_features: usize,
    out_features: usize,
) {
    let batch = dy.len() / out_features;
    if cfg!(target_arch = "arm") && in_features == 16 {
        // On 32-bit Arm, rows of sixteen are summed in a copy held in registers, loaded
        // and stored once per row rather than once per term (at opt-level "z" LLVM keeps
        // every `axpy` on memory); each element gets the same terms in the same order, so
        // the same bits. `dW`'s loops are swapped for it: each row of `dW` sums over the
        // batch in increasing order, as before.
        if let Some(dx) = dx {
            super::expect_len(NAME, "w", w.len(), out_features * 16);
            super::expect_len(NAME, "dx", dx.len(), batch * 16);
            for (dyr, dxr) in dy.chunks_exact(out_features).zip(dx.as_chunks_mut::<16>().0) {
                let mut acc = *dxr;
                for (&d, wr) in dyr.iter().zip(w.as_chunks::<16>().0) {
                    axpy16(d, wr, &mut acc);
                }
                *dxr = acc;
            }
        }
        if let Some(dw) = dw {
            super::expect_len(NAME, "x", x.len(), batch * 16);
            super::expect_len(NAME, "dw", dw.len(), out_features * 16);
            for (o, dwr) in dw.as_chunks_mut::<16>().0.iter_mut().enumerate() {
                let mut acc = *dwr;
                for (dyr, xr) in dy.chunks_exact(out_features).zip(x.as_chunks::<16>().0) {
                    axpy16(dyr[o], xr, &mut acc);
                }
                *dwr = acc;
            }
        }
        if let Some(db) = db {
            super::expect_len(NAME, "db", db.len(), out_features);
            column_sums_into(dy, db);
        }
        return;
    }
    if let Some(dx) = dx {
        super::expect_len(NAME, "w", w.len(), out_features * in_features);
        super::expect_len(NAME, "dx", dx.len(), batch * in_features);
        for (dyr, dxr) in dy.chunks_exact(out_features).zip(dx.chunks_exact_mut(in_features)) {
            for (&d, wr) in dyr.iter().zip(w.chunks_exact(in_features)) {
                axpy(d, wr, dxr);
            }
        }
    }
    if let Some(dw) = dw {
        super::expect_len(NAME, "x", x.len(), batch * in_features);
        super::expect_len(NAME, "dw", dw.len(), out_features * in_features);
        for (dyr, xr) in dy.chunks_exact(out_features).zip(x.chunks_exact(in_features)) {
            for (&d, dwr) in dyr.iter().zip(dw.chunks_exact_mut(in_features)) {
                axpy(d, xr, dwr);
            }
        }
    }
    if let Some(db) = db {
        super::expect_len(NAME, "db", db.len(), out_features);
        column_sums_into(dy, db);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn forward_matches_the_formula_with_and_without_bias() {
        // x [2, 2], W [2, 2]
        let x = [1.0f64, 2.0, -1.0, 0.5];
        let w = [1.0, 2.0, 3.0, 4.0];
        let mut y = [f64::NAN; 4];
        forward(&x, &w, Some(&[0.5, -0.5]), &mut y, 2, 2, &mut [0.0; 16]);
        assert_eq!(y, [5.5, 10.5, 0.5, -1.5]);
        forward(&x, &w, None, &mut y, 2, 2, &mut []);
        assert_eq!(y, [5.0, 11.0, 0.0, -1.0]);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn the_fused_activation_equals_the_two_step_composition() {
        use crate::ops::testing::assert_close;
        use crate::ops::unary::{self, Tanh};
        use crate::rng::Rng;
        let mut r = Rng::seed(4);
        let mut v = |n: usize| -> alloc::vec::Vec<f64> { (0..n).map(|_| r.uniform(-1.0, 1.0)).collect() };
        let (x, w, b, dy) = (v(3 * 5), v(4 * 5), v(4), v(3 * 4));
        let (mut h, mut y, mut fused) = ([0.0; 12], [0.0; 12], [0.0; 12]);
        forward(&x, &w, Some(&b), &mut h, 5, 4, &mut []);
        unary::forward(Tanh, &h, &mut y);
        forward_act(&x, &w, Some(&b), Tanh, &mut fused, 5, 4, &mut []);
        assert_close(&fused, &y, 1e-15);

        // Backward: unfused through the activation then the layer, fused from the output.
        let (mut dh, mut dx, mut dw) = ([0.0; 12], [0.0; 15], [0.0; 20]);
        unary::backward(Tanh, &h, &y, &dy, &mut dh);
        backward(&x, &w, &dh, Some(&mut dx), Some(&mut dw), None, 5, 4, &mut []);
        let mut dy_fused = [0.0; 12];
        dy_fused.copy_from_slice(&dy);
        unary::backward_in_place(Tanh, &fused, &mut dy_fused);
        let (mut dx_f, mut dw_f) = ([0.0; 15], [0.0; 20]);
        backward(&x, &w, &dy_fused, Some(&mut dx_f), Some(&mut dw_f), None, 5, 4, &mut []);
        assert_close(&dx_f, &dx, 1e-14);
        assert_close(&dw_f, &dw, 1e-14);
    }

    /// The loops for small products and the matrix kernel compute the same values, on
    /// both sides of [`SMALL_MACS`], forward and backward.
    #[cfg(feature = "alloc")]
    #[test]
    fn the_small_loops_equal_the_matrix_kernel() {
        use crate::ops::testing::assert_close;
        use crate::ops::unary::Tanh;
        use crate::rng::Rng;
        let mut r = Rng::seed(8);
        let mut v = |n: usize| -> alloc::vec::Vec<f64> { (0..n).map(|_| r.uniform(-1.0, 1.0)).collect() };
        let mut pack = alloc::vec![0.0; crate::kernels::gemm::PACK_LEN];
        for (batch, inp, out) in [(1, 2, 16), (1, 16, 16), (1, 16, 1), (3, 5, 4), (4, 32, 32), (2, 9, 7), (70, 8, 9)] {
            let (x, w, b, dy) = (v(batch * inp), v(out * inp), v(out), v(batch * out));
            let (mut ys, mut yg) = (v(batch * out), v(batch * out));
            small_forward(&x, &w, Some(&b), &mut ys, inp, out, |t| Tanh.f(t));
            gemm_forward_act(&x, &w, Some(&b), Tanh, &mut yg, batch, inp, out, &mut pack);
            assert_close(&ys, &yg, 1e-14);
            small_forward(&x, &w, None, &mut ys, inp, out, |t| t);
            gemm_forward(&x, &w, None, &mut yg, batch, inp, out, &mut pack);
            assert_close(&ys, &yg, 1e-14);
            let (mut dxs, mut dws, mut dbs) = (v(batch * inp), v(out * inp), v(out));
            let (mut dxg, mut dwg, mut dbg) = (dxs.clone(), dws.clone(), dbs.clone());
            small_backward(&x, &w, &dy, Some(&mut dxs), Some(&mut dws), Some(&mut dbs), inp, out);
            gemm_backward(&x, &w, &dy, Some(&mut dxg), Some(&mut dwg), Some(&mut dbg), batch, inp, out, &mut pack);
            assert_close(&dxs, &dxg, 1e-14);
            assert_close(&dws, &dwg, 1e-14);
            assert_close(&dbs, &dbg, 1e-14);
        }
        // Where the public functions switch from one to the other.
        assert!(is_small(1, 64, 64) && !is_small(2, 64, 33) && !is_small(1, 0, 5));
    }

    /// The fused SGD step equals `backward` into zeroed gradients and then `p -= lr * g`,
    /// to the bit, on W1's three layers and on products small enough for the loops.
    #[cfg(feature = "alloc")]
    #[test]
    fn the_fused_sgd_step_equals_backward_then_sgd() {
        use crate::rng::Rng;
        let mut r = Rng::seed(9);
        let mut v = |n: usize| -> alloc::vec::Vec<f32> { (0..n).map(|_| r.uniform(-1.0, 1.0) as f32).collect() };
        use crate::kernels::gemm::PACK_LEN;
        let mut pack = alloc::vec![0.0f32; PACK_LEN];
        let lr = 0.01f32;
        for (batch, inp, out) in [(64, 784, 256), (64, 256, 128), (64, 128, 10), (1, 2, 16), (3, 5, 4), (64, 70, 65)] {
            let (x, w, b, dy) = (v(batch * inp), v(out * inp), v(out), v(batch * out));
            let (mut dw, mut db, mut dx) = (alloc::vec![0.0; out * inp], alloc::vec![0.0; out], v(batch * inp));
            let dx_fused = dx.clone();
            backward(&x, &w, &dy, Some(&mut dx), Some(&mut dw), Some(&mut db), inp, out, &mut pack);
            let (mut w_want, mut b_want) = (w.clone(), b.clone());
            for (p, &g) in w_want.iter_mut().zip(&dw).chain(b_want.iter_mut().zip(&db)) {
                *p -= lr * g;
            }
            // With full packing memory the bias sums come from the packed panels; with
            // too little beside them, from a pass over `dy`. Both give the same bits (the
            // batch of at most 64 is one block of `k` either way).
            for pack_len in [PACK_LEN, 4096] {
                let (mut w_got, mut b_got, mut dx_got) = (w.clone(), b.clone(), dx_fused.clone());
                let pack = &mut pack[..pack_len];
                backward_sgd(&x, &mut w_got, Some(&mut b_got), &dy, Some(&mut dx_got), lr, inp, out, pack);
                // (dx is the product with `W`, whose blocks of `k` follow the packing memory.)
                if pack_len == PACK_LEN {
                    assert!(dx_got == dx, "{batch}x{inp}x{out}: dx");
                }
                assert_eq!(b_got, b_want, "{batch}x{inp}x{out}: bias");
                let same = w_got.iter().zip(&w_want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{batch}x{inp}x{out}: weights");
            }
        }
    }

    /// The summation order `dot` documents, written the way it was first written (an
    /// array of partial sums, chunk iterators, a pairwise loop): the hand-written form
    /// must give the same bits, so that results did not move when it was rewritten.
    fn dot_reference(x: &[f32], y: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let (xc, yc) = (x.chunks_exact(LANES), y[..x.len()].chunks_exact(LANES));
        let (xt, yt) = (xc.remainder(), yc.remainder());
        for (xs, ys) in xc.zip(yc) {
            for l in 0..LANES {
                acc[l] += xs[l] * ys[l];
            }
        }
        let mut tail = 0.0;
        for (&u, &v) in xt.iter().zip(yt) {
            tail += u * v;
        }
        let mut width = LANES;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                acc[l] += acc[l + width];
            }
        }
        acc[0] + tail
    }

    #[test]
    fn dot_keeps_its_documented_summation_order() {
        let mut r = crate::rng::Rng::seed(11);
        let mut differs_from_sequential = false;
        for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 31, 64, 100] {
            let x: [f32; 100] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            let y: [f32; 101] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            let got = dot(&x[..n], &y);
            assert_eq!(got.to_bits(), dot_reference(&x[..n], &y).to_bits(), "n = {n}");
            let sequential = x[..n].iter().zip(&y).fold(0.0f32, |s, (a, b)| s + a * b);
            differs_from_sequential |= got.to_bits() != sequential.to_bits();
        }
        // The check has teeth: the order shows in the bits.
        assert!(differs_from_sequential);
    }

    #[test]
    fn dot16_equals_dot_to_the_bit() {
        let mut r = crate::rng::Rng::seed(13);
        for _ in 0..200 {
            let x: [f32; 16] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            let y: [f32; 16] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            assert_eq!(dot16(&x, &y).to_bits(), dot(&x, &y).to_bits());
        }
        // Every product `-0`: the sums are `+0` either way (the zeros they start from).
        let (x, y) = ([-0.0f32; 16], [1.0f32; 16]);
        assert_eq!(dot16(&x, &y).to_bits(), dot(&x, &y).to_bits());
        assert_eq!(dot16(&x, &y).to_bits(), 0.0f32.to_bits());
    }

    #[test]
    fn axpy16_equals_axpy_to_the_bit() {
        let mut r = crate::rng::Rng::seed(14);
        for _ in 0..100 {
            let x: [f32; 16] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            let y0: [f32; 16] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            let s = r.uniform(-2.0, 2.0) as f32;
            let (mut a, mut b) = (y0, y0);
            axpy16(s, &x, &mut a);
            axpy_chunked(s, &x, &mut b);
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
        }
    }

    #[test]
    fn the_chunked_sums_equal_element_by_element_ones() {
        let mut r = crate::rng::Rng::seed(12);
        for n in [0usize, 1, 7, 8, 9, 16, 17, 33] {
            let x: [f32; 40] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            let y0: [f32; 40] = core::array::from_fn(|_| r.uniform(-1.0, 1.0) as f32);
            let s = r.uniform(-2.0, 2.0) as f32;
            let mut y = y0;
            axpy_chunked(s, &x[..n], &mut y[..n]);
            for i in 0..40 {
                let want = if i < n { y0[i] + s * x[i] } else { y0[i] };
                assert_eq!(y[i].to_bits(), want.to_bits(), "axpy, n = {n}, i = {i}");
            }
            // Three rows of `n` columns summed into `y0[..n]`.
            let mut sums = y0;
            if n > 0 {
                super::super::binary::column_sums_chunked(&x[..3 * n.min(13)], &mut sums[..n.min(13)]);
            }
            for j in 0..n.min(13) {
                let m = n.min(13);
                let want = ((y0[j] + x[j]) + x[m + j]) + x[2 * m + j];
                assert_eq!(sums[j].to_bits(), want.to_bits(), "column sums, n = {n}, j = {j}");
            }
        }
    }

    #[test]
    fn an_empty_batch_is_a_no_op() {
        let mut y: [f32; 0] = [];
        forward(&[], &[1.0, 2.0], Some(&[3.0]), &mut y, 2, 1, &mut []);
        let mut db = [1.0f32];
        backward(&[], &[1.0, 2.0], &[], None, None, Some(&mut db), 2, 1, &mut []);
        assert_eq!(db, [1.0]);
    }

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "linear: `w` holds 5 values, expected 6"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_wrong_weight_length_names_the_buffer() {
        forward(&[0.0f64; 4], &[0.0; 5], None, &mut [0.0; 6], 2, 3, &mut []);
    }

    #[cfg(feature = "alloc")]
    use alloc::{string::String, vec::Vec};

    /// `y = x Wᵀ + b` on `[x; W; b]` (or `[x; W]` without bias).
    #[cfg(feature = "alloc")]
    struct Case {
        name: &'static str,
        batch: usize,
        inp: usize,
        out: usize,
        bias: bool,
    }

    #[cfg(feature = "alloc")]
    impl Case {
        fn split<'a, T>(&self, v: &'a [T]) -> (&'a [T], &'a [T], Option<&'a [T]>) {
            let (x, rest) = v.split_at(self.batch * self.inp);
            let (w, b) = rest.split_at(self.out * self.inp);
            (x, w, self.bias.then_some(b))
        }
    }

    #[cfg(feature = "alloc")]
    impl crate::gradcheck::GradCase for Case {
        fn name(&self) -> &str {
            self.name
        }
        fn input_len(&self) -> usize {
            self.batch * self.inp + self.out * self.inp + if self.bias { self.out } else { 0 }
        }
        fn output_len(&self) -> usize {
            self.batch * self.out
        }
        fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
            let (x, w, b) = self.split(v);
            forward(x, w, b, y, self.inp, self.out, &mut []);
        }
        fn backward(&self, v: &[f64], _y: &[f64], dy: &[f64], dv: &mut [f64]) {
            let (x, w, _) = self.split(v);
            let (dx, rest) = dv.split_at_mut(self.batch * self.inp);
            let (dw, db) = rest.split_at_mut(self.out * self.inp);
            let db = if self.bias { Some(db) } else { None };
            backward(x, w, dy, Some(dx), Some(dw), db, self.inp, self.out, &mut [0.0; 64]);
        }
    }

    /// Runs the gradient check of every op here; returns the names checked.
    #[cfg(feature = "alloc")]
    pub(crate) fn gradchecks() -> Vec<String> {
        use crate::gradcheck::{inputs, GradCase};
        let gc = super::super::testing::gradcheck;
        let with = Case { name: NAME, batch: 3, inp: 4, out: 5, bias: true };
        let without = Case { name: "linear/no_bias", batch: 2, inp: 3, out: 2, bias: false };
        alloc::vec![
            gc(&with, &inputs(41, with.input_len(), -1.0, 1.0, &[]), 41),
            gc(&without, &inputs(42, without.input_len(), -1.0, 1.0, &[]), 42),
        ]
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn gradients_match_finite_differences_and_forward_mode() {
        assert_eq!(gradchecks(), [NAME, "linear/no_bias"]);
    }
}
