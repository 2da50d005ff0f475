//! A module's tensors as one flat slice, and the fixed-order sum that combines gradients.
//!
//! Workers exchange parameters and gradients as flat `f32` slices in [`Module::visit`]
//! order: that is what a channel, a shared buffer or an MPI all-reduce moves. The helpers
//! reuse the caller's `Vec`, so after the first call nothing is allocated.

use std::vec::Vec;

use monograd_core::module::{Kind, Path};
use monograd_core::{Module, Scalar, ShapeError};

/// Which tensors of a module a flat slice holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tensors {
    /// Every tensor: parameters, frozen parameters and buffers (a replica's whole state).
    All,
    /// Trainable parameters only: what has a gradient.
    Trainable,
    /// Buffers only (BatchNorm's running statistics).
    Buffers,
}

impl Tensors {
    fn keeps(self, kind: Kind) -> bool {
        match self {
            Self::All => true,
            Self::Trainable => kind == Kind::Param,
            Self::Buffers => kind == Kind::Buffer,
        }
    }
}

/// How many values [`flatten`] writes for `m`.
///
/// ```
/// use monograd_nn::distributed::flat::{flat_len, Tensors};
/// # type Net = monograd_nn::train::testing::Dense<3, 2>;
/// assert_eq!(flat_len(&Net::default(), Tensors::Trainable), 3 * 2 + 2);
/// ```
pub fn flat_len<T: Scalar, M: Module<T>>(m: &M, which: Tensors) -> usize {
    let mut n = 0;
    m.visit(&Path::ROOT, &mut |t| {
        if which.keeps(t.kind) {
            n += t.values.len();
        }
    });
    n
}

/// Writes the tensors `which` of `m` into `out` (cleared first), in visit order.
///
/// ```
/// use monograd_nn::distributed::flat::{flatten, unflatten, Tensors};
/// use monograd_core::Rng;
/// # type Net = monograd_nn::train::testing::Dense<3, 2>;
/// let a = Net::new(&mut Rng::seed(1));
/// let mut flat = Vec::new();
/// flatten(&a, Tensors::All, &mut flat);
/// let mut b = Net::default();
/// unflatten(&mut b, Tensors::All, &flat)?;
/// assert_eq!(a, b);
/// # Ok::<(), monograd_core::ShapeError>(())
/// ```
pub fn flatten<T: Scalar, M: Module<T>>(m: &M, which: Tensors, out: &mut Vec<T>) {
    out.clear();
    m.visit(&Path::ROOT, &mut |t| {
        if which.keeps(t.kind) {
            out.extend_from_slice(t.values);
        }
    });
}

/// Overwrites the tensors `which` of `m` from `src`, as [`flatten`] wrote them.
///
/// # Errors
/// [`ShapeError::Length`] if `src` does not hold exactly as many values; `m` is then
/// unchanged only if the length was found short before any copy, so check lengths first
/// where that matters ([`flat_len`]).
pub fn unflatten<T: Scalar, M: Module<T>>(m: &mut M, which: Tensors, src: &[T]) -> Result<(), ShapeError> {
    let expected = flat_len(m, which);
    if expected != src.len() {
        return Err(ShapeError::Length { what: "flat tensors", expected, found: src.len() });
    }
    let mut at = 0;
    m.visit_mut(&Path::ROOT, &mut |t| {
        if which.keeps(t.kind) {
            let n = t.values.len();
            t.values.copy_from_slice(&src[at..at + n]);
            at += n;
        }
    });
    Ok(())
}

/// Writes every integer counter of `m` (Dropout's step, BatchNorm's batch count) into
/// `out`, cleared first, in visit order.
pub fn flatten_counters<T: Scalar, M: Module<T>>(m: &M, out: &mut Vec<u64>) {
    out.clear();
    m.visit_counters(&Path::ROOT, &mut |c| out.push(*c.value));
}

/// Overwrites the counters of `m` from `src`, as [`flatten_counters`] wrote them; extra
/// or missing values are left alone (both sides are the same network type).
pub fn unflatten_counters<T: Scalar, M: Module<T>>(m: &mut M, src: &[u64]) {
    let mut it = src.iter();
    m.visit_counters_mut(&Path::ROOT, &mut |c| {
        if let Some(&v) = it.next() {
            *c.value = v;
        }
    });
}

/// Sums `parts` into `parts[0]` along a fixed binary tree over the index: `1` into `0`,
/// `3` into `2`, ..., then `2` into `0`, and so on. The order of every addition depends on
/// `parts.len()` alone, never on timing, so a sum is bit-identical from run to run.
///
/// ```
/// use monograd_nn::distributed::flat::tree_sum;
/// let mut parts = vec![vec![1.0f32], vec![2.0], vec![3.0]];
/// tree_sum(&mut parts);
/// assert_eq!(parts[0], [6.0]); // (1 + 2) + 3
/// ```
pub fn tree_sum<T: Scalar, V: AsMut<[T]>>(parts: &mut [V]) {
    tree_pairs(parts.len(), |into, from| {
        let (left, right) = parts.split_at_mut(from);
        add_into(left[into].as_mut(), right[0].as_mut());
    });
}

/// The pairs `(into, from)` of [`tree_sum`]'s additions over `n` parts, in its order:
/// for code whose parts are not one slice (each behind its own lock).
pub fn tree_pairs(n: usize, mut add: impl FnMut(usize, usize)) {
    let mut stride = 1;
    while stride < n {
        let mut i = 0;
        while i + stride < n {
            add(i, i + stride);
            i += 2 * stride;
        }
        stride *= 2;
    }
}

/// `dst += src`, element by element (up to the shorter length).
pub fn add_into<T: Scalar>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
}

#[cfg(test)]
mod tests {
    use std::vec;

    use super::*;

    #[test]
    fn the_tree_adds_neighbours_first() {
        // With 4 parts: (a + b) + (c + d), which differs from ((a + b) + c) + d in f32.
        let (a, b, c, d) = (1.0e8f32, 1.0, -1.0e8, 1.0);
        let mut parts = vec![vec![a], vec![b], vec![c], vec![d]];
        tree_sum(&mut parts);
        assert_eq!(parts[0][0], (a + b) + (c + d));
        let mut one = vec![vec![5.0f32, 6.0]];
        tree_sum(&mut one);
        assert_eq!(one[0], [5.0, 6.0]);
    }
}
