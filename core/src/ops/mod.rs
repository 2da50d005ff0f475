//! Primitives: each op's forward and its vector-Jacobian product side by side.
//!
//! | module | ops | what |
//! | --- | --- | --- |
//! | [`unary`] | `relu`, `leaky_relu`, `elu`, `sigmoid`, `tanh`, `gelu`, `silu`, `softplus`, `exp`, `ln`, `sqrt`, `square`, `abs`, `sin`, `cos`, `scale`, `neg` | elementwise functions through the [`UnaryFn`] trait |
//! | [`binary`] | `add`, `sub`, `mul`, `div`, `add_row_broadcast` | elementwise functions of two equal-length slices; a bias added to every row |
//! | [`matmul`] | `matmul` | `C = A B` through [`gemm`](crate::kernels::gemm::gemm) |
//! | [`linear`] | `linear` | the dense layer's `y = x Wᵀ + b`, in PyTorch's layout |
//! | [`conv`] | `conv2d` | (grouped, strided, padded, dilated) 2-D and 1-D convolution with bias, through im2col and GEMM: [`ConvPlan`](conv::ConvPlan) |
//! | [`concat`](mod@concat) | `concat` | two tensors joined per sample (`torch.cat(dim=1)`), and the split of the gradient |
//! | [`dropout`] | `dropout` | a mask hashed from `(seed, step, index)`, applied forward and backward |
//! | [`embedding`] | `embedding` | rows of a table looked up by token index, and the scatter-add of their gradients |
//! | [`norm`] | `batch_norm`, `batch_norm_eval`, `layer_norm` | normalisation with batch, running or per-row statistics |
//! | [`pool`] | `max_pool2d`, `avg_pool2d`, `global_avg_pool2d` | pooling over square windows, and the mean of each channel |
//! | [`reduce`] | `sum`, `mean`, `row_sum` | reductions to a scalar or per row |
//! | [`softmax`] | `softmax`, `log_softmax` | row-wise, numerically stable |
//! | [`loss`] | `mse`, `l1`, `huber`, `cross_entropy`, `cross_entropy_with`, `nll`, `bce_with_logits` | losses to a scalar; targets are not differentiated |
//!
//! [`OPS`] names every op, so that tests can check that each has a gradient check.
//!
//! # Conventions
//! - Every function is generic over [`Scalar`](crate::Scalar), so the same code runs on
//!   `f32`, `f64` and [`Dual`](crate::Dual) numbers (forward mode). Nothing allocates.
//! - Tensors are flat row-major slices; a function that needs dimensions takes the ones
//!   it cannot infer (`cols`, `in_features`, ...) and infers the batch from a length.
//! - Backward functions **accumulate** into input gradients (`dx[i] += ...`), the
//!   convention of [`Layer::backward`](crate::Layer::backward), so that fan-out and shared
//!   weights sum their gradients with no extra buffer. Forward functions overwrite.
//! - Buffers are sized by the caller (generated network code, layers, the tape), which
//!   knows the shapes. A length that does not fit is a bug in the caller and panics with a
//!   message naming the op and the buffer, as slice indexing would. Values that come from
//!   data (class labels) are checked and reported as [`ShapeError`](crate::ShapeError).
//! - Kinks take the derivative of the branch the forward takes (`relu'(0) = 0`,
//!   `abs'(0) = 0`), which is what dual numbers compute too.

pub mod binary;
pub mod concat;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod softmax;
pub mod unary;

use binary::BinaryFn;
use unary::UnaryFn;

/// The name of every differentiable op exported by this module, from each op's `NAME`.
///
/// ```
/// use monograd_core::ops::OPS;
/// assert!(OPS.contains(&"relu") && OPS.contains(&"cross_entropy"));
/// ```
pub const OPS: &[&str] = &[
    <unary::Relu as UnaryFn>::NAME,
    <unary::LeakyRelu as UnaryFn>::NAME,
    <unary::Elu as UnaryFn>::NAME,
    <unary::Sigmoid as UnaryFn>::NAME,
    <unary::Tanh as UnaryFn>::NAME,
    <unary::Gelu as UnaryFn>::NAME,
    <unary::Silu as UnaryFn>::NAME,
    <unary::Softplus as UnaryFn>::NAME,
    <unary::Exp as UnaryFn>::NAME,
    <unary::Ln as UnaryFn>::NAME,
    <unary::Sqrt as UnaryFn>::NAME,
    <unary::Square as UnaryFn>::NAME,
    <unary::Abs as UnaryFn>::NAME,
    <unary::Sin as UnaryFn>::NAME,
    <unary::Cos as UnaryFn>::NAME,
    <unary::Scale as UnaryFn>::NAME,
    <unary::Neg as UnaryFn>::NAME,
    <binary::Add as BinaryFn>::NAME,
    <binary::Sub as BinaryFn>::NAME,
    <binary::Mul as BinaryFn>::NAME,
    <binary::Div as BinaryFn>::NAME,
    binary::ADD_ROW_BROADCAST,
    matmul::NAME,
    linear::NAME,
    conv::NAME,
    concat::NAME,
    dropout::NAME,
    embedding::NAME,
    norm::BATCH_NORM,
    norm::BATCH_NORM_EVAL,
    norm::LAYER_NORM,
    pool::MAX_POOL2D,
    pool::AVG_POOL2D,
    pool::GLOBAL_AVG_POOL2D,
    reduce::SUM,
    reduce::MEAN,
    reduce::ROW_SUM,
    softmax::SOFTMAX,
    softmax::LOG_SOFTMAX,
    loss::MSE,
    loss::CROSS_ENTROPY,
    loss::L1,
    loss::HUBER,
    loss::CROSS_ENTROPY_WITH,
    loss::NLL,
    loss::BCE_WITH_LOGITS,
];

/// Panics with the given message with `std`, and otherwise with one static message:
/// formatting the op's name and numbers would link `core::fmt` (about 1.2 kB on a
/// Cortex-M) into every program, a firmware that prints nothing included. The panic's
/// location (the caller's, through `#[track_caller]`) says where in either case.
macro_rules! check_failed {
    ($($arg:tt)*) => {{
        #[cfg(feature = "std")]
        ::core::panic!($($arg)*);
        #[cfg(not(feature = "std"))]
        ::core::panic!("monograd: a length or shape check failed (the `std` feature names the buffer and the numbers)");
    }};
}
pub(crate) use check_failed;

/// Panics unless a buffer has the length the op needs: the caller sized it wrongly.
#[inline]
#[track_caller]
pub(crate) fn expect_len(op: &str, buffer: &str, found: usize, expected: usize) {
    if found != expected {
        wrong_len(op, buffer, found, expected);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
#[cfg_attr(not(feature = "std"), allow(unused_variables))]
fn wrong_len(op: &str, buffer: &str, found: usize, expected: usize) -> ! {
    check_failed!("{op}: `{buffer}` holds {found} values, expected {expected}")
}

/// The number of rows of a row-major buffer of `len` values in rows of `cols`; panics if
/// `len` is not a whole number of rows. Zero columns hold zero rows.
#[inline]
#[track_caller]
pub(crate) fn rows_of(op: &str, buffer: &str, len: usize, cols: usize) -> usize {
    match len.checked_div(cols) {
        Some(rows) if rows * cols == len => rows,
        None if len == 0 => 0,
        _ => not_whole_rows(op, buffer, len, cols),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
#[cfg_attr(not(feature = "std"), allow(unused_variables))]
fn not_whole_rows(op: &str, buffer: &str, len: usize, cols: usize) -> ! {
    check_failed!("{op}: `{buffer}` holds {len} values, not a whole number of rows of {cols}")
}

/// Helpers shared by the op files' gradient-check tests.
#[cfg(all(test, feature = "alloc"))]
pub(crate) mod testing {
    use alloc::string::{String, ToString};

    use crate::gradcheck::{self, GradCase};

    /// Runs the gradient check on `case` at `x`, panicking with the helper's message on a
    /// failure, and returns the case's name for the registry test.
    #[track_caller]
    pub(crate) fn gradcheck<C: GradCase>(case: &C, x: &[f64], seed: u64) -> String {
        if let Err(e) = gradcheck::check(case, x, seed) {
            panic!("{e}");
        }
        case.name().to_string()
    }

    /// `|a - b| <= tol * max(1, |a|, |b|)`.
    pub(crate) fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
    }

    /// Asserts that two slices agree elementwise within `tol` (relative, floored at 1).
    #[track_caller]
    pub(crate) fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "lengths differ");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(close(*g, *w, tol), "element {i}: got {g}, want {w}");
        }
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use alloc::collections::BTreeSet;
    use alloc::string::String;
    use alloc::vec::Vec;

    use super::*;

    /// The op a case checks: its name up to an optional `/variant` suffix.
    fn op_of(case: &str) -> &str {
        case.split('/').next().unwrap_or(case)
    }

    #[test]
    fn every_registered_op_has_a_passing_gradient_check() {
        // Each op file's tests expose `gradchecks()`, which runs all of its cases and
        // returns the names of the cases that passed: the set below is what was checked,
        // not what someone remembered to write down.
        let mut cases: Vec<String> = Vec::new();
        cases.extend(unary::tests::gradchecks());
        cases.extend(binary::tests::gradchecks());
        cases.extend(matmul::tests::gradchecks());
        cases.extend(linear::tests::gradchecks());
        cases.extend(conv::tests::gradchecks());
        cases.extend(concat::tests::gradchecks());
        cases.extend(pool::tests::gradchecks());
        cases.extend(norm::tests::gradchecks());
        cases.extend(embedding::tests::gradchecks());
        cases.extend(dropout::tests::gradchecks());
        cases.extend(reduce::tests::gradchecks());
        cases.extend(softmax::tests::gradchecks());
        cases.extend(loss::tests::gradchecks());

        let checked: BTreeSet<&str> = cases.iter().map(|c| op_of(c)).collect();
        let registered: BTreeSet<&str> = OPS.iter().copied().collect();
        assert_eq!(registered.len(), OPS.len(), "OPS names an op twice");
        let unchecked: Vec<&&str> = registered.difference(&checked).collect();
        assert!(unchecked.is_empty(), "ops without a gradient check: {unchecked:?}");
        let unregistered: Vec<&&str> = checked.difference(&registered).collect();
        assert!(unregistered.is_empty(), "gradient checks of ops missing from OPS: {unregistered:?}");
    }
}

#[cfg(test)]
mod lengths {
    use super::*;

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "relu: `y` holds 2 values, expected 3"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn a_wrongly_sized_buffer_names_the_op_and_the_buffer() {
        unary::forward(unary::Relu, &[1.0f64, 2.0, 3.0], &mut [0.0; 2]);
    }

    #[test]
    fn rows_of_accepts_whole_rows_only() {
        assert_eq!(rows_of("t", "x", 6, 3), 2);
        assert_eq!(rows_of("t", "x", 0, 0), 0);
        assert_eq!(rows_of("t", "x", 0, 4), 0);
    }

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "t: `x` holds 7 values, not a whole number of rows of 3"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn rows_of_rejects_a_partial_row() {
        rows_of("t", "x", 7, 3);
    }

    #[test]
    #[cfg_attr(feature = "std", should_panic(expected = "t: `x` holds 2 values, not a whole number of rows of 0"))]
    // Without `std` the message is one static text (no `core::fmt` in firmware).
    #[cfg_attr(not(feature = "std"), should_panic(expected = "a length or shape check failed"))]
    fn rows_of_rejects_values_in_zero_columns() {
        rows_of("t", "x", 2, 0);
    }
}
