//! Pruning masks: which parameters are removed, laid out by parameter offset, and how a
//! mask is chosen from the magnitudes of a model's weights.
//!
//! A [`Mask`] holds one value per parameter of a model (trainable and frozen, in the
//! order of [`Module::visit`], at the offsets optimizers use): `0` where the parameter is
//! kept, `1` where it is pruned. A zeroed store is therefore a mask that prunes nothing,
//! and the store can be any [`StateStore`]: a `Vec` (feature `alloc`) or a buffer the
//! caller owns, so masks work without a heap.
//!
//! # How weights are ranked
//! - **Unstructured**: each weight is a unit, scored by its magnitude `|w|`.
//! - **Channels**: each output channel of a selected tensor (a convolution's filter, the
//!   first dimension of its weight) is a unit, scored by the L1 or L2 norm of its values;
//!   the bias of a pruned channel (the tensor named `bias` of shape `[out]` visited right
//!   after the weight, as every built-in layer visits it) is pruned with it, so that the
//!   channel's output is exactly zero.
//!
//! Units already pruned rank below every other, so a mask only grows: pruning to a lower
//! sparsity than the mask has keeps it as it is.
//!
//! # How many
//! A group of `n` units at sparsity `s` loses `round(s · n)` units (halves round up), the
//! weakest. Ties at the threshold go in traversal order: of equal scores, the unit visited
//! first (earlier tensor, then lower row-major index) is pruned first. The threshold is
//! found by a radix selection on the scores' bit patterns, in eleven passes over the model:
//! exact, and with no allocation.
//!
//! - [`Scope::Global`]: one group, every selected tensor, ranked together (by default the
//!   weights of two or more dimensions: biases and normalisation parameters are left
//!   alone).
//! - [`Scope::PerLayer`]: each selected tensor is a group of its own.
//!
//! In both, [`Pruning::targets`] gives listed tensors a sparsity of their own (each its own
//! group); under a schedule the listed sparsity is the tensor's final one.

use core::fmt;
use core::marker::PhantomData;

use monograd_core::module::{Kind, Path};
use monograd_core::{Module, Scalar};

use super::PruneError;
use crate::optim::StateStore;

/// What each output channel's score is for [`Structure::Channels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// The sum of the magnitudes of the channel's weights.
    L1,
    /// The Euclidean norm of the channel's weights.
    L2,
}

/// What a unit of pruning is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// Single weights, by magnitude.
    Unstructured,
    /// Whole output channels (the first dimension of a weight), by the norm of each.
    Channels(Norm),
}

/// Which units are ranked together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every selected tensor together: one threshold for the whole model.
    Global,
    /// Each selected tensor on its own, at the requested sparsity.
    PerLayer,
}

/// Which tensors a pruning considers: a function of a trainable tensor's name and shape.
pub type Select = fn(&Path<'_>, &[usize]) -> bool;

/// Weights of two or more dimensions (`Linear`, convolutions): not biases, not
/// normalisation parameters. The default selection of unstructured pruning.
pub fn weights(path: &Path<'_>, shape: &[usize]) -> bool {
    path.ends_with("weight") && shape.len() >= 2
}

/// Weights of three or more dimensions: convolutions' filters. The default selection of
/// channel pruning.
pub fn conv_weights(path: &Path<'_>, shape: &[usize]) -> bool {
    path.ends_with("weight") && shape.len() >= 3
}

/// How to prune: the unit, the groups, the tensors, and per-tensor targets.
///
/// ```
/// use monograd_nn::prune::{Norm, Pruning, Scope, Structure};
/// let global = Pruning::global(); // single weights, ranked across every weight tensor
/// let layers = Pruning::per_layer().targets(&[("fc3.weight", 0.5)]); // fc3 at 50%, the rest as asked
/// let channels = Pruning::channels(Norm::L1); // convolution filters, layer by layer
/// assert_eq!(channels.structure(), Structure::Channels(Norm::L1));
/// assert_eq!((global.scope(), layers.scope()), (Scope::Global, Scope::PerLayer));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Pruning {
    scope: Scope,
    structure: Structure,
    select: Select,
    targets: &'static [(&'static str, f64)],
}

impl Pruning {
    /// Unstructured, one threshold across every weight tensor ([`weights`]).
    pub const fn global() -> Self {
        Self { scope: Scope::Global, structure: Structure::Unstructured, select: weights, targets: &[] }
    }

    /// Unstructured, each weight tensor ([`weights`]) to the requested sparsity.
    pub const fn per_layer() -> Self {
        Self { scope: Scope::PerLayer, structure: Structure::Unstructured, select: weights, targets: &[] }
    }

    /// Output channels of each convolution ([`conv_weights`]), scored by `norm`, layer by
    /// layer (norms of different layers are not comparable, so channels are never ranked
    /// globally).
    pub const fn channels(norm: Norm) -> Self {
        Self { scope: Scope::PerLayer, structure: Structure::Channels(norm), select: conv_weights, targets: &[] }
    }

    /// Considers the trainable tensors `select` accepts instead of the default ones.
    pub const fn select(mut self, select: Select) -> Self {
        self.select = select;
        self
    }

    /// Gives the listed tensors (by dotted name, `"fc3.weight"`) a sparsity of their own;
    /// each must name a selected tensor, or pruning is an error
    /// ([`PruneError::UnknownTarget`]), and each sparsity must lie in `[0, 1]`
    /// ([`Pruning::check`]).
    pub const fn targets(mut self, targets: &'static [(&'static str, f64)]) -> Self {
        self.targets = targets;
        self
    }

    /// The unit.
    pub const fn structure(&self) -> Structure {
        self.structure
    }

    /// The grouping.
    pub const fn scope(&self) -> Scope {
        self.scope
    }

    /// Checks the per-tensor targets' sparsities.
    ///
    /// # Errors
    /// [`PruneError::Setting`] for a sparsity outside `[0, 1]` or NaN.
    pub fn check(&self) -> Result<(), PruneError> {
        self.targets.iter().try_for_each(|&(_, s)| check_sparsity(s))
    }

    fn target_of(&self, path: &Path<'_>) -> Option<f64> {
        self.targets.iter().find(|(name, _)| path_is(path, name)).map(|&(_, s)| s)
    }
}

/// Checks one sparsity.
pub(crate) fn check_sparsity(s: f64) -> Result<(), PruneError> {
    if (0.0..=1.0).contains(&s) {
        Ok(())
    } else {
        Err(PruneError::Setting { setting: "sparsity", value: s, expected: "use a sparsity in [0, 1], such as 0.9" })
    }
}

/// Whether `path` prints as `name`, compared as it prints, with no allocation.
pub(crate) fn path_is(path: &Path<'_>, name: &str) -> bool {
    struct Cmp<'a> {
        rest: &'a str,
        ok: bool,
    }
    impl fmt::Write for Cmp<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            match self.rest.strip_prefix(s) {
                Some(rest) if self.ok => self.rest = rest,
                _ => self.ok = false,
            }
            Ok(())
        }
    }
    let mut cmp = Cmp { rest: name, ok: true };
    let _ = fmt::write(&mut cmp, format_args!("{path}"));
    cmp.ok && cmp.rest.is_empty()
}

/// Calls `f(path, shape, offset, values)` for every trainable or frozen tensor, with its
/// parameter offset. Buffers have no offset and are never pruned.
fn tensors<T: Scalar, M: Module<T>>(model: &M, mut f: impl FnMut(&Path<'_>, Kind, &[usize], usize, &[T])) {
    let mut offset = 0;
    model.visit(&Path::ROOT, &mut |t| {
        if t.kind != Kind::Buffer {
            f(t.path, t.kind, t.shape, offset, t.values);
            offset += t.values.len();
        }
    });
}

/// The rank of a unit: 0 for one already pruned, else 1 + the bit pattern of its
/// (non-negative) score, which orders as the score does; NaN ranks last.
fn key(score: f64, pruned: bool) -> u64 {
    if pruned {
        0
    } else if score.is_nan() {
        u64::MAX
    } else {
        // `score` is a magnitude or a norm: non-negative, so its bits order as it does.
        (score.abs().to_bits()).saturating_add(1)
    }
}

/// Units of one tensor: `rows` rows of `len / rows` values each for channels, single values
/// otherwise.
#[derive(Clone, Copy)]
struct Units {
    structure: Structure,
    rows: usize,
    row_len: usize,
}

impl Units {
    fn of(structure: Structure, shape: &[usize], len: usize) -> Self {
        match structure {
            Structure::Unstructured => Self { structure, rows: len, row_len: 1 },
            Structure::Channels(_) => {
                let rows = shape.first().copied().unwrap_or(1).max(1);
                Self { structure, rows, row_len: len / rows }
            }
        }
    }

    /// The key of unit `u` of `values`, whose mask is `mask`.
    fn key_of<T: Scalar>(&self, values: &[T], mask: &[T], u: usize) -> u64 {
        let span = u * self.row_len..(u + 1) * self.row_len;
        let (row, m) = (&values[span.clone()], &mask[span]);
        let score = match self.structure {
            Structure::Unstructured => row.iter().map(|v| v.to_f64().abs()).sum::<f64>(),
            Structure::Channels(Norm::L1) => row.iter().map(|v| v.to_f64().abs()).sum::<f64>(),
            // The squared norm orders as the norm does.
            Structure::Channels(Norm::L2) => row.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>(),
        };
        key(score, m.iter().all(|m| *m != T::ZERO))
    }

    /// Calls `f(unit, key)` for each unit of `values` with its mask `mask`.
    fn keys<T: Scalar>(&self, values: &[T], mask: &[T], mut f: impl FnMut(usize, u64)) {
        for u in 0..self.rows {
            f(u, self.key_of(values, mask, u));
        }
    }

    /// Walks the units in order, pruning each for which `decide(key)` says so. A unit's key
    /// depends on its own mask entries alone, so marking one does not change the keys of
    /// those after it.
    fn walk<T: Scalar>(&self, values: &[T], mask: &mut [T], mut decide: impl FnMut(u64) -> bool) {
        for u in 0..self.rows {
            if decide(self.key_of(values, mask, u)) {
                mask[u * self.row_len..(u + 1) * self.row_len].fill(T::ONE);
            }
        }
    }
}

/// The number of units of `n` to prune at sparsity `s`: `round(s · n)`, halves up.
fn count(s: f64, n: usize) -> usize {
    let k = s * n as f64 + 0.5;
    // `s` is in [0, 1]: `k` is at most `n + 0.5`, and truncation is the floor.
    (k as usize).min(n)
}

/// The `k`-th smallest key (`k >= 1`, at most the number of keys): a radix selection,
/// eight bits a pass from the top, so eight passes of `keys` (which calls its argument
/// with every key) and 256 counters on the stack, with no allocation.
fn threshold(k: usize, mut keys: impl FnMut(&mut dyn FnMut(u64))) -> u64 {
    let (mut prefix, mut k) = (0u64, k);
    for pass in 0..8u32 {
        let shift = 56 - 8 * pass;
        let mut hist = [0usize; 256];
        keys(&mut |key| {
            // Keys that share the digits chosen so far (all keys on the first pass).
            if key.checked_shr(shift + 8).unwrap_or(0) == prefix {
                hist[((key >> shift) & 0xff) as usize] += 1;
            }
        });
        let mut digit = 255;
        for (d, n) in hist.iter().enumerate() {
            if k <= *n {
                digit = d;
                break;
            }
            k -= n;
        }
        prefix = (prefix << 8) | digit as u64;
    }
    prefix
}

/// A pruning mask: one value per parameter, `1` where pruned; see the [module docs](self).
///
/// ```
/// use monograd_core::Module;
/// use monograd_nn::prune::{Mask, Pruning};
/// use monograd_nn::Linear;
///
/// let mut fc = Linear::<4, 2, f32> { weight: [[0.1, -4.0, 0.3, 2.0], [-0.2, 1.0, 3.0, 0.05]], bias: [9.0, 9.0] };
/// // Without a heap: a buffer of one value per parameter, zero (nothing pruned) at first.
/// let mut buf = [0.0f32; <Linear<4, 2, f32> as Module<f32>>::PARAMS];
/// let mut mask = Mask::with_store(&mut buf[..]);
/// mask.prune(&fc, &Pruning::global(), 0.5)?; // the 4 smallest of the 8 weights
/// mask.apply(&mut fc)?;
/// assert_eq!(fc.weight, [[0.0, -4.0, 0.0, 2.0], [0.0, 1.0, 3.0, 0.0]]);
/// assert_eq!(fc.bias, [9.0, 9.0]); // biases are not selected by default
/// assert_eq!(mask.sparsity(&fc, &Pruning::global())?, 0.5);
/// # Ok::<(), monograd_nn::prune::PruneError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Mask<T, S> {
    store: S,
    _scalar: PhantomData<T>,
}

#[cfg(feature = "alloc")]
impl<T: Scalar> Mask<T, alloc::vec::Vec<T>> {
    /// An empty mask on the heap: it grows to the model's size (pruning nothing) when
    /// first used.
    pub fn new() -> Self {
        Self::with_store(alloc::vec::Vec::new())
    }
}

#[cfg(feature = "alloc")]
impl<T: Scalar> Default for Mask<T, alloc::vec::Vec<T>> {
    fn default() -> Self {
        Self::new()
    }
}

const WHAT: &str = "pruning mask";

impl<T: Scalar, S: StateStore<T>> Mask<T, S> {
    /// A mask in `store`, which must hold at least one value per parameter of the model
    /// it is used with; a zeroed store prunes nothing.
    pub fn with_store(store: S) -> Self {
        Self { store, _scalar: PhantomData }
    }

    /// The mask's values for a model of `params` parameters (`1` pruned, `0` kept), by
    /// parameter offset.
    ///
    /// # Errors
    /// [`PruneError::Mask`] if the store cannot hold `params` values.
    pub fn values(&mut self, params: usize) -> Result<&mut [T], PruneError> {
        take(&mut self.store, params)
    }

    /// The store, to save or to reuse.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably: what a checkpoint restores.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Sets every pruned parameter of `model` to zero.
    ///
    /// # Errors
    /// [`PruneError::Mask`] if the store cannot hold one value per parameter of `M`.
    pub fn apply<M: Module<T>>(&mut self, model: &mut M) -> Result<(), PruneError> {
        let mask = take(&mut self.store, M::PARAMS)?;
        apply(mask, model);
        Ok(())
    }

    /// Prunes `model`'s weakest units as `pruning` says, to sparsity `sparsity` (targets of
    /// listed tensors aside), adding them to the mask. The model itself is not changed:
    /// [`Mask::apply`] zeroes what the mask prunes.
    ///
    /// # Errors
    /// [`PruneError::Setting`] for a sparsity outside `[0, 1]`, [`PruneError::UnknownTarget`]
    /// for a target naming no selected tensor, [`PruneError::Mask`] for a store too short.
    /// The mask is unchanged then.
    pub fn prune<M: Module<T>>(&mut self, model: &M, pruning: &Pruning, sparsity: f64) -> Result<(), PruneError> {
        check_sparsity(sparsity)?;
        pruning.check()?;
        self.prune_with(model, pruning, |own| own.unwrap_or(sparsity))
    }

    /// [`Mask::prune`] where each group's sparsity is `level(target)`: `None` for the
    /// unlisted tensors, `Some(s)` for a tensor listed with sparsity `s`. Schedules use it to
    /// scale every target together.
    pub(crate) fn prune_with<M: Module<T>>(
        &mut self,
        model: &M,
        pruning: &Pruning,
        level: impl Fn(Option<f64>) -> f64,
    ) -> Result<(), PruneError> {
        check_targets(model, pruning)?;
        let mask = take(&mut self.store, M::PARAMS)?;
        let Pruning { scope, structure, select, .. } = *pruning;
        let chosen = |p: &Path<'_>, kind: Kind, shape: &[usize]| kind == Kind::Param && select(p, shape);

        // Tensors of their own: each tensor a group.
        tensors(model, |path, kind, shape, offset, values| {
            if !chosen(path, kind, shape) {
                return;
            }
            let own = pruning.target_of(path);
            if scope == Scope::Global && own.is_none() {
                return;
            }
            let units = Units::of(structure, shape, values.len());
            let m = &mut mask[offset..offset + values.len()];
            let k = count(level(own), units.rows);
            if k == 0 {
                return;
            }
            let tau = threshold(k, |f| units.keys(values, m, |_, key| f(key)));
            let mut below = 0;
            units.keys(values, m, |_, key| below += usize::from(key < tau));
            units.walk(values, m, decider(tau, k - below));
        });

        if scope == Scope::Global {
            let global =
                |path: &Path<'_>, kind, shape: &[usize]| chosen(path, kind, shape) && pruning.target_of(path).is_none();
            let mut n = 0;
            tensors(model, |path, kind, shape, _, values| {
                if global(path, kind, shape) {
                    n += Units::of(structure, shape, values.len()).rows;
                }
            });
            let k = count(level(None), n);
            if k > 0 {
                let mask_ro: &[T] = mask;
                let tau = threshold(k, |f| {
                    tensors(model, |path, kind, shape, offset, values| {
                        if global(path, kind, shape) {
                            let units = Units::of(structure, shape, values.len());
                            units.keys(values, &mask_ro[offset..offset + values.len()], |_, key| f(key));
                        }
                    });
                });
                // Below the threshold: all; at it: in traversal order, until `k`.
                let mut below = 0;
                tensors(model, |path, kind, shape, offset, values| {
                    if global(path, kind, shape) {
                        let units = Units::of(structure, shape, values.len());
                        units.keys(values, &mask_ro[offset..offset + values.len()], |_, key| {
                            below += usize::from(key < tau)
                        });
                    }
                });
                let mut decide = decider(tau, k - below);
                tensors(model, |path, kind, shape, offset, values| {
                    if global(path, kind, shape) {
                        let units = Units::of(structure, shape, values.len());
                        units.walk(values, &mut mask[offset..offset + values.len()], &mut decide);
                    }
                });
            }
        }
        if let Structure::Channels(_) = structure {
            prune_channel_biases(model, mask, &chosen);
        }
        Ok(())
    }

    /// Pruned parameters over all parameters of the tensors `pruning` selects (targets
    /// included).
    ///
    /// # Errors
    /// [`PruneError::Mask`] if the store cannot hold one value per parameter of `M`.
    pub fn sparsity<M: Module<T>>(&mut self, model: &M, pruning: &Pruning) -> Result<f64, PruneError> {
        let mask = take(&mut self.store, M::PARAMS)?;
        let (mut pruned, mut total) = (0usize, 0usize);
        tensors(model, |path, kind, shape, offset, values| {
            if kind == Kind::Param && (pruning.select)(path, shape) {
                total += values.len();
                pruned += mask[offset..offset + values.len()].iter().filter(|m| **m != T::ZERO).count();
            }
        });
        Ok(if total == 0 { 0.0 } else { pruned as f64 / total as f64 })
    }

    /// Calls `f(name, pruned, total)` for every trainable or frozen tensor of `model`: how
    /// many of its values the mask prunes.
    ///
    /// # Errors
    /// [`PruneError::Mask`] if the store cannot hold one value per parameter of `M`.
    pub fn counts<M: Module<T>>(
        &mut self,
        model: &M,
        mut f: impl FnMut(&Path<'_>, usize, usize),
    ) -> Result<(), PruneError> {
        let mask = take(&mut self.store, M::PARAMS)?;
        tensors(model, |path, _, _, offset, values| {
            let pruned = mask[offset..offset + values.len()].iter().filter(|m| **m != T::ZERO).count();
            f(path, pruned, values.len());
        });
        Ok(())
    }
}

/// Prunes every unit keyed below `tau`, and the first `ties` keyed at it.
fn decider(tau: u64, mut ties: usize) -> impl FnMut(u64) -> bool {
    move |key| {
        if key < tau {
            true
        } else if key == tau && ties > 0 {
            ties -= 1;
            true
        } else {
            false
        }
    }
}

fn take<T: Scalar, S: StateStore<T>>(store: &mut S, params: usize) -> Result<&mut [T], PruneError> {
    store.take(params, WHAT).map_err(|e| match e {
        crate::OptimError::State(s) => PruneError::Mask(s),
        _ => PruneError::Mask(monograd_core::ShapeError::OutOfBounds { what: WHAT, needed: params, len: 0 }),
    })
}

/// Zeroes what `mask` prunes in `model`.
pub(crate) fn apply<T: Scalar, M: Module<T>>(mask: &[T], model: &mut M) {
    let mut offset = 0;
    model.visit_mut(&Path::ROOT, &mut |t| {
        if t.kind != Kind::Buffer {
            let m = &mask[offset..offset + t.values.len()];
            for (v, m) in t.values.iter_mut().zip(m) {
                if *m != T::ZERO {
                    *v = T::ZERO;
                }
            }
            offset += t.values.len();
        }
    });
}

/// Every per-tensor target must name a tensor the pruning selects.
pub(crate) fn check_targets<T: Scalar, M: Module<T>>(model: &M, pruning: &Pruning) -> Result<(), PruneError> {
    for &(name, _) in pruning.targets {
        let mut found = false;
        tensors(model, |path, kind, shape, _, _| {
            found |= kind == Kind::Param && (pruning.select)(path, shape) && path_is(path, name);
        });
        if !found {
            return Err(PruneError::UnknownTarget { name });
        }
    }
    Ok(())
}

/// Prunes the bias entry of every pruned channel: the tensor named `bias` of shape
/// `[out]` visited right after a selected weight of `out` channels.
fn prune_channel_biases<T: Scalar, M: Module<T>>(
    model: &M,
    mask: &mut [T],
    chosen: &impl Fn(&Path<'_>, Kind, &[usize]) -> bool,
) {
    let mut prev: Option<(usize, usize, usize)> = None; // (offset, rows, row_len)
    tensors(model, |path, kind, shape, offset, values| {
        if let Some((w_off, rows, row_len)) = prev.take() {
            if kind == Kind::Param && path.ends_with("bias") && shape == [rows] {
                for r in 0..rows {
                    if mask[w_off + r * row_len..w_off + (r + 1) * row_len].iter().all(|m| *m != T::ZERO) {
                        mask[offset + r] = T::ONE;
                    }
                }
            }
        }
        if chosen(path, kind, shape) {
            let rows = shape.first().copied().unwrap_or(1).max(1);
            prev = Some((offset, rows, values.len() / rows));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::threshold;

    #[test]
    fn the_radix_selection_finds_the_kth_smallest_key() {
        let mut keys: [u64; 9] = [7, 0, u64::MAX, 3, 3, 1 << 60, (1 << 60) + 1, 42, 3];
        let each = |ks: &[u64]| {
            let ks = ks.to_vec();
            move |f: &mut dyn FnMut(u64)| ks.iter().for_each(|k| f(*k))
        };
        let t: [u64; 9] = core::array::from_fn(|k| threshold(k + 1, each(&keys)));
        keys.sort_unstable();
        assert_eq!(t, keys);
    }
}
