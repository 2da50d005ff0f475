//! Structured pruning into a smaller network type: [`shrink`] copies the strongest output
//! channels of a network's layers, and the matching input channels of the layers that read
//! them, into a network declared with fewer channels.
//!
//! The smaller network is an ordinary type (`LeNetHalf`, declared with `network!` as the
//! big one with half the channels), so everything the compiler knows of it shrinks with it:
//! its parameter count, `PARAM_BYTES`, `MACS`, activation memory.
//!
//! Tensors are matched by name. For each [`Channels`] entry, the layer's tensors
//! (`conv1.weight`, `conv1.bias`, and those of the layers listed with
//! [`Channels::with`], such as a BatchNorm's four) lose output channels (their first
//! dimension), and the next layer's weight loses the matching inputs (its second
//! dimension: input channels of a convolution, or for a dense layer after a flatten, the
//! `in / channels` features each channel contributes). Every other tensor must have the
//! same shape in both networks. Anything that does not fit is an error naming the tensor
//! and both shapes.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use monograd_core::module::Path;
use monograd_core::{Module, Scalar};

use super::mask::Norm;
use super::PruneError;

/// A layer whose output channels [`shrink`] prunes, and the layer that reads them.
///
/// ```
/// use monograd_nn::prune::Channels;
/// let plan = [Channels::new("conv1", "conv2"), Channels::new("conv2", "fc1").with(&["bn2"])];
/// assert_eq!(plan[1].with, ["bn2"]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Channels<'a> {
    /// The layer's name: its tensors are `<layer>.weight` (`[out, ...]`) and `<layer>.bias`.
    pub layer: &'a str,
    /// The layer that reads its output: `<next>.weight`'s second dimension is cut.
    pub next: &'a str,
    /// Layers between them with one value per channel (normalisation), cut with it.
    pub with: &'a [&'a str],
}

impl<'a> Channels<'a> {
    /// `layer`'s output channels, read by `next`.
    pub const fn new(layer: &'a str, next: &'a str) -> Self {
        Self { layer, next, with: &[] }
    }

    /// Also cuts the per-channel tensors of `layers`.
    pub const fn with(mut self, layers: &'a [&'a str]) -> Self {
        self.with = layers;
        self
    }
}

/// The channels [`shrink`] kept of one layer, in their original order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The layer.
    pub layer: String,
    /// The big network's channel indices, ascending.
    pub channels: Vec<usize>,
    /// The big network's channel count.
    pub of: usize,
}

struct Big<T> {
    shape: Vec<usize>,
    values: Vec<T>,
}

/// The layer a tensor name belongs to: everything before its last dot.
fn layer_of(name: &str) -> &str {
    name.rfind('.').map_or("", |i| &name[..i])
}

fn fail(layer: &str, problem: String) -> PruneError {
    PruneError::Layer { layer: layer.to_string(), problem }
}

/// Copies `big` into `small`, keeping for each entry of `plan` the output channels of
/// strongest `norm` (as many as `small`'s layer has; ties keep the later channel, as masks
/// prune the earlier first), and returns what it kept.
///
/// Channels pruned by a [`Mask`](super::Mask) of [`Pruning::channels`](super::Pruning::channels)
/// are zero, so they rank weakest and are the ones removed: `small` then computes exactly
/// what the masked `big` computes (the sums skip only zero terms).
///
/// ```
/// use monograd_core::Module;
/// use monograd_nn::prune::{shrink, Channels, Norm};
/// use monograd_nn::Linear;
///
/// #[derive(Clone, Debug, monograd_macros::Module)]
/// #[module(crate = "monograd_core")]
/// struct Two<const H: usize> { a: Linear<2, H, f32>, b: Linear<H, 1, f32> }
///
/// let big = Two::<3> {
///     a: Linear { weight: [[1.0, 1.0], [0.1, 0.0], [-2.0, 0.0]], bias: [0.5, 0.0, 0.25] },
///     b: Linear { weight: [[1.0, 2.0, 3.0]], bias: [0.0] },
/// };
/// let mut small = Two::<2> { a: Linear::ZERO, b: Linear::ZERO };
/// let kept = shrink(&big, &mut small, &[Channels::new("a", "b")], Norm::L1)?;
/// assert_eq!(kept[0].channels, [0, 2]); // the weakest row, 1, is gone
/// assert_eq!(small.a.weight, [[1.0, 1.0], [-2.0, 0.0]]);
/// assert_eq!(small.b.weight, [[1.0, 3.0]]);
/// # Ok::<(), monograd_nn::prune::PruneError>(())
/// ```
///
/// # Errors
/// [`PruneError::Layer`], naming the tensor or layer: a layer of the plan missing from a
/// network, more channels in `small` than in `big`, a next layer whose inputs are not a
/// whole number per channel, a tensor in one network and not the other, or of another
/// shape than the cut gives. `small` is unchanged then.
pub fn shrink<T: Scalar, A: Module<T>, B: Module<T>>(
    big: &A,
    small: &mut B,
    plan: &[Channels<'_>],
    norm: Norm,
) -> Result<Vec<Kept>, PruneError> {
    let mut bigs: BTreeMap<String, Big<T>> = BTreeMap::new();
    big.visit(&Path::ROOT, &mut |t| {
        bigs.insert(t.path.to_string(), Big { shape: t.shape.to_vec(), values: t.values.to_vec() });
    });
    let mut smalls: Vec<(String, Vec<usize>)> = Vec::new();
    small.visit(&Path::ROOT, &mut |t| smalls.push((t.path.to_string(), t.shape.to_vec())));
    let small_shape = |name: &str| smalls.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone());

    // Which channels each layer keeps.
    let mut kept: Vec<Kept> = Vec::new();
    for entry in plan {
        let name = alloc::format!("{}.weight", entry.layer);
        let b = bigs.get(&name).ok_or_else(|| fail(entry.layer, "no such layer in the big network".to_string()))?;
        let s =
            small_shape(&name).ok_or_else(|| fail(entry.layer, "no such layer in the small network".to_string()))?;
        let (of, n) = (b.shape.first().copied().unwrap_or(0), s.first().copied().unwrap_or(0));
        if n > of {
            return Err(fail(entry.layer, alloc::format!("the small network has {n} channels, the big one only {of}")));
        }
        let row = b.values.len() / of.max(1);
        let score = |c: usize| -> f64 {
            let r = &b.values[c * row..(c + 1) * row];
            match norm {
                Norm::L1 => r.iter().map(|v| v.to_f64().abs()).sum(),
                Norm::L2 => r.iter().map(|v| v.to_f64() * v.to_f64()).sum(),
            }
        };
        let mut order: Vec<(f64, usize)> = (0..of).map(|c| (score(c), c)).collect();
        // Weakest first, the earlier of equals first (NaN ranks strongest, as in masks).
        order.sort_by(|x, y| {
            x.0.partial_cmp(&y.0)
                .unwrap_or(if x.0.is_nan() { core::cmp::Ordering::Greater } else { core::cmp::Ordering::Less })
                .then(x.1.cmp(&y.1))
        });
        let mut channels: Vec<usize> = order[of - n..].iter().map(|&(_, c)| c).collect();
        channels.sort_unstable();
        kept.push(Kept { layer: entry.layer.to_string(), channels, of });
        if !bigs.contains_key(&alloc::format!("{}.weight", entry.next)) {
            return Err(fail(
                entry.next,
                alloc::format!("no such layer in the big network (it reads `{}`)", entry.layer),
            ));
        }
    }

    // Each small tensor, cut from its big namesake; written only once all fit.
    let mut cut: Vec<Vec<T>> = Vec::with_capacity(smalls.len());
    for (name, shape) in &smalls {
        let b =
            bigs.get(name).ok_or_else(|| fail(name, "is in the small network but not in the big one".to_string()))?;
        let layer = layer_of(name);
        let mut rows: Option<&[usize]> = None;
        let mut cols: Option<Vec<usize>> = None;
        for (entry, k) in plan.iter().zip(&kept) {
            if layer == entry.layer || entry.with.contains(&layer) {
                rows = Some(&k.channels);
            }
            if layer == entry.next && name.ends_with(".weight") {
                let inputs = b.shape.get(1).copied().unwrap_or(0);
                if k.of == 0 || inputs % k.of != 0 {
                    return Err(fail(
                        name,
                        alloc::format!(
                            "{inputs} inputs are not a whole number per channel of `{}`'s {}",
                            entry.layer,
                            k.of
                        ),
                    ));
                }
                let per = inputs / k.of;
                cols = Some(k.channels.iter().flat_map(|c| c * per..(c + 1) * per).collect());
            }
        }
        let mut want = b.shape.clone();
        if let (Some(r), Some(d)) = (rows, want.first_mut()) {
            *d = r.len();
        }
        if let (Some(c), Some(d)) = (&cols, want.get_mut(1)) {
            *d = c.len();
        }
        if &want != shape {
            return Err(fail(
                name,
                alloc::format!(
                    "the cut gives shape {want:?} from the big network's {:?}, but the small network has {shape:?}",
                    b.shape
                ),
            ));
        }
        let (d0, d1) = (b.shape.first().copied().unwrap_or(1), b.shape.get(1).copied().unwrap_or(1));
        let inner: usize = b.shape.iter().skip(2).product();
        let all0: Vec<usize> = (0..d0).collect();
        let all1: Vec<usize> = (0..d1).collect();
        let (r, c) = (rows.unwrap_or(&all0), cols.as_deref().unwrap_or(&all1));
        let mut out = Vec::with_capacity(r.len() * c.len() * inner);
        for &i in r {
            for &j in c {
                let at = (i * d1 + j) * inner;
                out.extend_from_slice(&b.values[at..at + inner]);
            }
        }
        cut.push(out);
    }
    for name in bigs.keys() {
        if small_shape(name).is_none() {
            return Err(fail(name, "is in the big network but not in the small one".to_string()));
        }
    }
    let mut values = cut.into_iter();
    small.visit_mut(&Path::ROOT, &mut |t| {
        if let Some(v) = values.next() {
            t.values.copy_from_slice(&v);
        }
    });
    Ok(kept)
}
