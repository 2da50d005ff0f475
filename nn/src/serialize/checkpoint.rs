//! Checkpoints: everything a training run needs to resume bit-identically, in one
//! safetensors file.
//!
//! | in the file | as |
//! | --- | --- |
//! | the model's tensors and `Buffer` counters | under the model's names, as a weights file has them ([`safetensors::save`](super::safetensors::save)) |
//! | the model's `Run` counters (Dropout's `seed`, `step`) | `U64` scalars under the model's names |
//! | the optimizer's state ([`OptimizerState`]) | `optimizer.step` (`U64`), and each block per tensor: `optimizer.exp_avg.fc1.weight` |
//! | the run ([`RunState`]): step, data cursor, shuffle seed, generators, your values | strings in `__metadata__` (`run.step`, `run.rng.NAME`, `user.KEY`) |
//! | the format's version, the optimizer's kind and learning rate | `__metadata__`: `monograd.checkpoint`, `optimizer.kind`, `optimizer.lr` |
//!
//! docs/FORMATS.md describes every entry. The file opens with any safetensors reader;
//! loading its weights into PyTorch takes `load_state_dict(..., strict=False)` (or
//! [`LoadOptions::lenient`](super::safetensors::LoadOptions::lenient) here), which
//! ignores the rest.
//!
//! [`save`] replaces the file [atomically](super::atomic). [`load`] checks everything
//! (the version, the optimizer's kind, every name, shape and type, every metadata field)
//! before it changes anything: on an error the model and the optimizer are as they were.
//! It never panics on what it reads.
//!
//! A custom loop saves its model, optimizer and [`RunState`]; the
//! [`Trainer`](crate::train::Trainer) (feature `train`) has `save_checkpoint` and
//! `load_checkpoint`, which add its history and early-stopping state.
//!
//! ```
//! use monograd_core::{Module, Rng};
//! use monograd_nn::optim::Optimizer;
//! use monograd_nn::serialize::checkpoint::{self, RunState};
//! use monograd_nn::{Adam, Linear};
//!
//! let mut fc = Linear::<3, 2>::new(&mut Rng::seed(0));
//! let grad = Linear::<3, 2> { weight: [[0.1, -0.2, 0.3]; 2], bias: [0.5, -0.5] };
//! let mut adam = Adam::new(1e-2);
//! let mut noise = Rng::seed(7);
//! for _ in 0..3 {
//!     adam.step(&mut fc, &grad);
//!     noise.next_u64();
//! }
//! let mut run = RunState { step: 3, ..RunState::default() };
//! run.set_rng("noise", &noise);
//! let bytes = checkpoint::to_bytes(&fc, &adam, &run)?;
//!
//! // A fresh model and optimizer pick up where the others stopped.
//! let (mut fc2, mut adam2) = (Linear::<3, 2>::ZERO, Adam::new(1.0));
//! let run2 = checkpoint::load_bytes(&mut fc2, &mut adam2, &bytes)?;
//! assert_eq!((run2.step, run2.rng("noise")), (3, Some(noise.clone())));
//! adam.step(&mut fc, &grad);
//! adam2.step(&mut fc2, &grad);
//! assert_eq!(fc2, fc);
//! # Ok::<(), monograd_nn::serialize::SerializeError>(())
//! ```

use std::borrow::{Cow, ToOwned};
use std::collections::BTreeMap;
use std::path::Path as FsPath;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use ::safetensors::Dtype;
use monograd_core::module::{Kind, Path};
use monograd_core::{Module, Rng};

use super::names::{Prefix, SameNames};
use super::safetensors::header::{HeaderOptions, Source};
use super::safetensors::{
    commit, index, model_tensors, model_wants, read, serialize, Element, Holds, Owned, Read, ReadOptions, Want,
};
use super::{atomic, SerializeError};
use crate::optim::state::{OptimizerState, StateMut, StateRef};

/// The version of the format this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// The metadata key of the version: also what tells a checkpoint from a weights file.
pub const VERSION_KEY: &str = "monograd.checkpoint";

/// How errors name an in-memory file.
const IN_MEMORY: &str = "<memory>";

/// The prefix of the optimizer's tensors and metadata.
const OPTIMIZER: &str = "optimizer.";

/// The prefix of your own values in the metadata ([`RunState::metadata`]).
const USER: &str = "user.";

/// The prefix of what the trainer adds; a custom loop's load skips those tensors.
pub(crate) const TRAINER: &str = "trainer.";

/// The state of a training run that is neither the model's nor the optimizer's: the step,
/// where the data stands, the generators, and any values of your own.
///
/// Saved as strings in the file's `__metadata__` (`run.step`, `run.epoch`,
/// `run.position`, `run.shuffle_seed`, `run.rng.NAME`, `user.KEY`).
///
/// ```
/// use monograd_core::Rng;
/// use monograd_nn::serialize::checkpoint::RunState;
/// let mut run = RunState { step: 120, epoch: 2, position: 64, shuffle_seed: 7, ..RunState::default() };
/// let mut noise = Rng::seed(3);
/// noise.next_u64();
/// run.set_rng("noise", &noise);
/// run.metadata.insert("note".into(), "lr sweep 3".into());
/// assert_eq!(run.rng("noise"), Some(noise));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunState {
    /// Optimizer steps taken in the run (what a learning-rate schedule stepped per batch
    /// is evaluated at).
    pub step: u64,
    /// The epoch in progress (or the next one, between epochs), counted from 0: with the
    /// shuffle seed, it gives the data order ([`Batches`](crate::data::Batches)).
    pub epoch: u64,
    /// Samples of the epoch's order already served: where the next batch starts.
    pub position: usize,
    /// The seed of the data order.
    pub shuffle_seed: u64,
    /// Generators by name (augmentation, noise), as [`Rng::state`] gives them.
    pub rngs: BTreeMap<String, [u64; 4]>,
    /// Values of your own, saved as `user.KEY`.
    pub metadata: BTreeMap<String, String>,
}

impl RunState {
    /// The generator saved as `name`, where it stood.
    pub fn rng(&self, name: &str) -> Option<Rng> {
        self.rngs.get(name).map(|&s| Rng::from_state(s))
    }

    /// Saves the generator `rng` as `name`.
    pub fn set_rng(&mut self, name: impl Into<String>, rng: &Rng) {
        self.rngs.insert(name.into(), rng.state());
    }

    /// Where the data stands, for [`Batches::resume`](crate::data::Batches::resume).
    #[cfg(feature = "data")]
    pub fn cursor(&self) -> crate::data::Cursor {
        crate::data::Cursor { epoch: self.epoch, position: self.position }
    }

    /// Records where the data stands ([`Epoch::cursor`](crate::data::batch::Epoch::cursor)).
    #[cfg(feature = "data")]
    pub fn set_cursor(&mut self, cursor: crate::data::Cursor) {
        self.epoch = cursor.epoch;
        self.position = cursor.position;
    }
}

/// Saves `model` (tensors and every counter), `optimizer`'s state and `run` to `path` as
/// a checkpoint, replacing any previous file atomically.
///
/// # Errors
/// [`SerializeError::Io`] if the file cannot be written (the previous one is then
/// intact); [`SerializeError::DuplicateName`] if a model's name collides with the
/// optimizer's (a field called `optimizer`).
pub fn save<T: Element, M: Module<T>, O: OptimizerState<T>>(
    model: &M,
    optimizer: &O,
    run: &RunState,
    path: impl AsRef<FsPath>,
) -> Result<(), SerializeError> {
    let path = path.as_ref();
    let bytes = encode(model, optimizer, run, Extra::default(), path)?;
    write(path, &bytes)
}

/// The bytes [`save`] would write.
///
/// # Errors
/// As [`save`], except for I/O.
pub fn to_bytes<T: Element, M: Module<T>, O: OptimizerState<T>>(
    model: &M,
    optimizer: &O,
    run: &RunState,
) -> Result<Vec<u8>, SerializeError> {
    encode(model, optimizer, run, Extra::default(), FsPath::new(IN_MEMORY))
}

/// Loads a checkpoint from `path` into `model` and `optimizer`, and returns the run's
/// state. The optimizer's learning rate is set to the saved one (set another after, to
/// change it).
///
/// Tensors the [`Trainer`](crate::train::Trainer) adds (`trainer.*`) are skipped, so a
/// trainer's checkpoint resumes in a custom loop too.
///
/// # Errors
/// Everything is checked before anything changes; on an error the model and the
/// optimizer are as they were. [`SerializeError::Checkpoint`] for a file that is not a
/// checkpoint, of a newer version, or with a missing or malformed field;
/// [`SerializeError::OptimizerKind`] for state of another optimizer;
/// [`SerializeError::Missing`], [`SerializeError::Unexpected`] and
/// [`SerializeError::Shape`] for another model (or another configuration of the
/// optimizer); [`SerializeError::OptimizerState`] if the optimizer's store cannot hold
/// the state; the errors of [`safetensors::load`](super::safetensors::load) for a damaged
/// file.
pub fn load<T: Element, M: Module<T>, O: OptimizerState<T>>(
    model: &mut M,
    optimizer: &mut O,
    path: impl AsRef<FsPath>,
) -> Result<RunState, SerializeError> {
    let path = path.as_ref();
    let src = open(path)?;
    decode(model, optimizer, src, path, Some(TRAINER), |_, _| Ok((Vec::new(), ())), |_, _, _| Ok(()))
        .map(|(run, _)| run)
}

/// [`load`] from the bytes of a file.
///
/// # Errors
/// As [`load`].
pub fn load_bytes<T: Element, M: Module<T>, O: OptimizerState<T>>(
    model: &mut M,
    optimizer: &mut O,
    bytes: &[u8],
) -> Result<RunState, SerializeError> {
    let src = Source::Slice(bytes);
    decode(model, optimizer, src, FsPath::new(IN_MEMORY), Some(TRAINER), |_, _| Ok((Vec::new(), ())), |_, _, _| Ok(()))
        .map(|(run, _)| run)
}

/// What a caller (the trainer) adds to a checkpoint: metadata and tensors.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) tensors: Vec<(String, Owned)>,
}

// The trainer's checkpoints (feature `train`) are the only users.
#[cfg_attr(not(feature = "train"), allow(dead_code))]
impl Extra {
    /// Adds a metadata entry.
    pub(crate) fn meta(&mut self, key: &str, value: impl ToString) {
        self.metadata.push((key.to_owned(), value.to_string()));
    }

    /// Adds a tensor of `f64` values.
    pub(crate) fn f64s(&mut self, name: &str, shape: Vec<usize>, values: impl Iterator<Item = f64>) {
        let data = values.flat_map(f64::to_le_bytes).collect();
        self.tensors.push((name.to_owned(), Owned { dtype: Dtype::F64, shape, data }));
    }

    /// Adds a tensor of `f32` values.
    pub(crate) fn f32s(&mut self, name: &str, shape: Vec<usize>, values: impl Iterator<Item = f32>) {
        let data = values.flat_map(f32::to_le_bytes).collect();
        self.tensors.push((name.to_owned(), Owned { dtype: Dtype::F32, shape, data }));
    }

    /// Adds a module's tensors and every counter under `prefix`.
    pub(crate) fn module<T: Element, M: Module<T>>(&mut self, prefix: &str, module: &M) {
        model_tensors(module, &Prefix(prefix), None, &mut self.tensors);
    }
}

/// The metadata of a checkpoint being loaded, by key, for the trainer's own fields.
pub(crate) struct Metadata<'a> {
    /// Sorted by key, each key once: a vector at the size of the entries, where a map
    /// would take several times their text.
    map: Vec<(&'a str, &'a str)>,
    path: &'a FsPath,
}

impl Metadata<'_> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.map.binary_search_by(|&(k, _)| k.cmp(key)).ok().map(|i| self.map[i].1)
    }

    /// The value of `key`, or an error naming it.
    pub(crate) fn get(&self, key: &str) -> Result<&str, SerializeError> {
        self.lookup(key).ok_or_else(|| field(self.path, key, "missing"))
    }

    /// The value of `key`, parsed, or an error naming it.
    pub(crate) fn parse<V: core::str::FromStr>(&self, key: &str) -> Result<V, SerializeError> {
        let v = self.get(key)?;
        v.parse().map_err(|_| field(self.path, key, &format!("`{v}` is not a valid {}", short_type::<V>())))
    }

    /// An error about `key`.
    pub(crate) fn error(&self, key: &str, problem: &str) -> SerializeError {
        field(self.path, key, problem)
    }
}

/// `u64`, `f64`, `bool`: the last segment of a type's path.
fn short_type<V>() -> &'static str {
    let name = core::any::type_name::<V>();
    name.rsplit("::").next().unwrap_or(name)
}

fn field(path: &FsPath, key: &str, problem: &str) -> SerializeError {
    SerializeError::Checkpoint { path: path.to_owned(), problem: format!("`{key}`: {problem}") }
}

/// What [`decode`] read beyond the model and the optimizer: the caller's wants, in order.
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub(crate) struct ExtraRead<T> {
    pub(crate) values: Vec<T>,
    pub(crate) counters: Vec<u64>,
    pub(crate) exact: Vec<Vec<u8>>,
}

pub(crate) fn open(path: &FsPath) -> Result<Source<'static>, SerializeError> {
    let io = |source| SerializeError::Io { path: path.to_owned(), source };
    let (file, len) = crate::file::open_regular(path).map_err(|e| io(e.into_io()))?;
    Ok(Source::File(file, len))
}

pub(crate) fn write(path: &FsPath, bytes: &[u8]) -> Result<(), SerializeError> {
    atomic::write(path, bytes).map_err(|source| SerializeError::Io { path: path.to_owned(), source })
}

/// A trainable tensor of the model, as the optimizer's blocks are split.
struct ParamTensor {
    name: String,
    offset: usize,
    len: usize,
    shape: &'static [usize],
}

/// The model's trainable tensors with their offsets (frozen ones count towards the
/// offsets, as in [`Module::visit_update`], but have no optimizer state).
fn param_tensors<T: Element, M: Module<T>>(model: &M) -> Vec<ParamTensor> {
    let mut out = Vec::new();
    let mut offset = 0;
    model.visit(&Path::ROOT, &mut |t| {
        let len = t.values.len();
        match t.kind {
            Kind::Param => {
                out.push(ParamTensor { name: t.path.to_string(), offset, len, shape: t.shape });
                offset += len;
            }
            Kind::Frozen => offset += len,
            Kind::Buffer => {}
        }
    });
    out
}

/// A piece of the optimizer's state, by name.
enum Piece {
    Counter(String),
    Block(String),
}

/// The optimizer's pieces, in its order.
fn pieces<T: Element, O: OptimizerState<T>>(optimizer: &O, params: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    optimizer.visit_state(params, &Path::ROOT, &mut |s| match s {
        StateRef::Counter { path, .. } => out.push(Piece::Counter(path.to_string())),
        StateRef::Block { path, .. } => out.push(Piece::Block(path.to_string())),
    });
    out
}

/// The file name of block `block`'s slice for `tensor`.
fn block_name(block: &str, tensor: &str) -> String {
    if tensor.is_empty() {
        format!("{OPTIMIZER}{block}")
    } else {
        format!("{OPTIMIZER}{block}.{tensor}")
    }
}

/// `a,b,c,d`, in decimal.
fn rng_text(s: &[u64; 4]) -> String {
    format!("{},{},{},{}", s[0], s[1], s[2], s[3])
}

fn parse_rng(text: &str) -> Option<[u64; 4]> {
    let mut it = text.split(',').map(|w| w.trim().parse::<u64>());
    let s = [it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?];
    it.next().is_none().then_some(s)
}

pub(crate) fn encode<T: Element, M: Module<T>, O: OptimizerState<T>>(
    model: &M,
    optimizer: &O,
    run: &RunState,
    extra: Extra,
    path: &FsPath,
) -> Result<Vec<u8>, SerializeError> {
    let mut tensors = Vec::new();
    model_tensors(model, &SameNames, None, &mut tensors);

    let params = param_tensors(model);
    optimizer.visit_state(M::PARAMS, &Path::ROOT, &mut |s| match s {
        StateRef::Counter { path, value } => {
            let data = value.to_le_bytes().to_vec();
            tensors.push((block_name(&path.to_string(), ""), Owned { dtype: Dtype::U64, shape: Vec::new(), data }));
        }
        StateRef::Block { path, values } => {
            let block = path.to_string();
            for p in &params {
                let mut data = Vec::with_capacity(p.len * core::mem::size_of::<T>());
                match values.and_then(|v| v.get(p.offset..p.offset + p.len)) {
                    Some(v) => T::extend_le(v, &mut data),
                    // Not held yet (before the first step): zeros, which the first step
                    // would put there anyway.
                    None => T::extend_le(&vec![T::ZERO; p.len], &mut data),
                }
                let shape = p.shape.to_vec();
                tensors.push((block_name(&block, &p.name), Owned { dtype: T::DTYPE, shape, data }));
            }
        }
    });
    tensors.extend(extra.tensors);

    // Two tensors under one name would silently keep one: refuse.
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    for (name, _) in &tensors {
        if seen.insert(name, ()).is_some() {
            return Err(SerializeError::DuplicateName {
                path: path.to_owned(),
                name: name.clone(),
                model_names: [name.clone(), name.clone()],
            });
        }
    }
    drop(seen);

    let mut metadata: Vec<(String, String)> = vec![
        ("format".to_owned(), "pt".to_owned()),
        (VERSION_KEY.to_owned(), VERSION.to_string()),
        ("optimizer.kind".to_owned(), optimizer.kind().to_owned()),
        // `{}` of an f64 is the shortest text that parses back to the same bits.
        ("optimizer.lr".to_owned(), optimizer.lr().to_string()),
        ("run.step".to_owned(), run.step.to_string()),
        ("run.epoch".to_owned(), run.epoch.to_string()),
        ("run.position".to_owned(), run.position.to_string()),
        ("run.shuffle_seed".to_owned(), run.shuffle_seed.to_string()),
    ];
    metadata.extend(run.rngs.iter().map(|(k, s)| (format!("run.rng.{k}"), rng_text(s))));
    metadata.extend(run.metadata.iter().map(|(k, v)| (format!("{USER}{k}"), v.clone())));
    metadata.extend(extra.metadata);
    let bytes = serialize(tensors, metadata, path)?;
    Ok(sorted_header(bytes))
}

/// The same file with its header's keys sorted (tensors by name, then metadata by key),
/// so that saving the same state twice gives the same bytes: `safetensors` writes the
/// metadata in hash order. The data and its offsets are unchanged.
fn sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    let sorted = (|| {
        let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
        let header = bytes.get(8..8 + n)?;
        // `serde_json`'s map is a `BTreeMap`: parsing and writing back sorts every key.
        let value: serde_json::Value = serde_json::from_slice(header).ok()?;
        let mut text = serde_json::to_vec(&value).ok()?;
        // Padded with spaces to a multiple of 8, as `safetensors` does, so that every
        // tensor stays aligned.
        text.resize(text.len().next_multiple_of(8), b' ');
        let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(&text);
        out.extend_from_slice(bytes.get(8 + n..)?);
        Some(out)
    })();
    // Only a file `safetensors` just wrote comes here; keep it as it is if anything is off.
    sorted.unwrap_or(bytes)
}

/// Loads a checkpoint: reads the metadata, checks the version and the optimizer's kind,
/// asks `extra` for the caller's wants (given the metadata, so that it can size them and
/// check its own fields), reads and checks every entry, checks the optimizer's step
/// counters (none at `u64::MAX`, which no further step could count) and lets `check` see
/// them with what `extra` returned and the exact tensors it wanted, then commits the
/// optimizer (the only step that can still fail, before anything is visited) and the
/// model. Returns the run and what `extra` returned, with the values of its wants.
#[allow(clippy::type_complexity)]
pub(crate) fn decode<T: Element, M: Module<T>, O: OptimizerState<T>, X>(
    model: &mut M,
    optimizer: &mut O,
    mut src: Source<'_>,
    path: &FsPath,
    skipped: Option<&str>,
    extra: impl FnOnce(&Metadata<'_>, &RunState) -> Result<(Vec<Want>, X), SerializeError>,
    check: impl FnOnce(&X, &[(String, u64)], &[Vec<u8>]) -> Result<(), SerializeError>,
) -> Result<(RunState, (X, ExtraRead<T>)), SerializeError> {
    // First pass: the metadata alone (the header is checked whole here too). Every tensor
    // is skipped (every name starts with ""): its offsets are checked, its name not kept.
    let first = HeaderOptions { strict: true, keep_metadata: true, skipped_prefix: Some("") };
    let raw = read::<T>(&mut src, path, &[], ReadOptions { header: first, narrowing: false })?.metadata;
    let meta = metadata_map(&raw, path)?;
    check_version(&meta)?;
    let kind = meta.get("optimizer.kind")?;
    if kind != optimizer.kind() {
        return Err(SerializeError::OptimizerKind {
            path: path.to_owned(),
            expected: optimizer.kind().to_owned(),
            found: kind.to_owned(),
        });
    }
    let lr: f64 = meta.parse("optimizer.lr")?;
    let mut run = run_state_of(&meta)?;

    // The wants: the model, every counter included; the optimizer's pieces; the caller's.
    let mut wants = Vec::new();
    model_wants(model, &SameNames, None, &mut wants);
    let (model_values, model_counters) = counts(&wants);
    let params = param_tensors(model);
    let pieces = pieces(optimizer, M::PARAMS);
    for piece in &pieces {
        match piece {
            Piece::Counter(name) => wants.push(Want {
                model: name.clone(),
                file: block_name(name, ""),
                shape: Cow::Borrowed(&[]),
                holds: Holds::Counter,
            }),
            Piece::Block(block) => wants.extend(params.iter().map(|p| Want {
                model: format!("{block} of {}", p.name),
                file: block_name(block, &p.name),
                shape: Cow::Borrowed(p.shape),
                holds: Holds::Values,
            })),
        }
    }
    let (extra_wants, x) = extra(&meta, &run)?;
    let own = wants.len();
    wants.extend(extra_wants);
    index(&wants, path)?;

    // Your own values move from the metadata to the run, not copied; the rest of the
    // metadata is freed before any tensor is read.
    drop(meta);
    for (mut key, value) in raw {
        if key.starts_with(USER) {
            key.drain(..USER.len());
            run.metadata.insert(key, value);
        }
    }

    let header = HeaderOptions { strict: true, keep_metadata: false, skipped_prefix: skipped };
    let Read { values, counters, exact, .. } =
        read::<T>(&mut src, path, &wants, ReadOptions { header, narrowing: false })?;
    let (all_values, all_counters) = counts(&wants[..own]);
    let (Some(model_vals), Some(opt_vals), Some(extra_vals)) =
        (values.get(..model_values), values.get(model_values..all_values), values.get(all_values..))
    else {
        return Err(corrupt(path));
    };
    let (Some(model_ctrs), Some(opt_ctrs), Some(extra_ctrs)) =
        (counters.get(..model_counters), counters.get(model_counters..all_counters), counters.get(all_counters..))
    else {
        return Err(corrupt(path));
    };

    // The optimizer's step counts: a count the next step cannot increment is no run's.
    let steps: Vec<(String, u64)> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Counter(name) => Some(name.clone()),
            Piece::Block(_) => None,
        })
        .zip(opt_ctrs.iter().copied())
        .collect();
    for (name, value) in &steps {
        if is_step_count(name) && *value == u64::MAX {
            return Err(field(path, &block_name(name, ""), "u64::MAX steps: the next step would overflow the count"));
        }
    }
    check(&x, &steps, &exact)?;

    // Commit: the optimizer first, as its store may refuse (before it visits anything).
    restore_optimizer(optimizer, &pieces, &params, opt_vals, opt_ctrs, M::PARAMS)
        .map_err(|source| SerializeError::OptimizerState { path: path.to_owned(), source })?;
    optimizer.set_lr(lr);
    commit(model, model_vals, model_ctrs, None);
    let extra = ExtraRead { values: extra_vals.to_vec(), counters: extra_ctrs.to_vec(), exact };
    Ok((run, (x, extra)))
}

/// Whether an optimizer counter counts steps (`step`, `schedule_step`: PyTorch's names).
pub(crate) fn is_step_count(name: &str) -> bool {
    name.rsplit('.').next().is_some_and(|last| last.ends_with("step"))
}

/// Not reached: `read` returns one value per wanted element and one counter per counter.
fn corrupt(path: &FsPath) -> SerializeError {
    SerializeError::CorruptHeader { path: path.to_owned(), reason: "entries do not match their wants".to_owned() }
}

/// How many values and counters `wants` read.
fn counts(wants: &[Want]) -> (usize, usize) {
    let values = wants.iter().filter(|w| w.holds == Holds::Values).map(|w| w.shape.iter().product::<usize>()).sum();
    (values, wants.iter().filter(|w| w.holds == Holds::Counter).count())
}

/// Writes the optimizer's pieces from what was read, matching each piece by name.
fn restore_optimizer<T: Element, O: OptimizerState<T>>(
    optimizer: &mut O,
    pieces: &[Piece],
    params: &[ParamTensor],
    values: &[T],
    counters: &[u64],
    n: usize,
) -> Result<(), crate::optim::OptimError> {
    // Where each piece's data starts in `values` or `counters`.
    let mut starts = Vec::with_capacity(pieces.len());
    let (mut v, mut c) = (0, 0);
    let block_len: usize = params.iter().map(|p| p.len).sum();
    for piece in pieces {
        match piece {
            Piece::Counter(_) => {
                starts.push(c);
                c += 1;
            }
            Piece::Block(_) => {
                starts.push(v);
                v += block_len;
            }
        }
    }
    let find = |name: &str, counter: bool| {
        pieces.iter().zip(&starts).find_map(|(p, &s)| match p {
            Piece::Counter(n) if counter && n == name => Some(s),
            Piece::Block(n) if !counter && n == name => Some(s),
            _ => None,
        })
    };
    optimizer.visit_state_mut(n, &Path::ROOT, &mut |s| match s {
        StateMut::Counter { path, value } => {
            if let Some(&v) = find(&path.to_string(), true).and_then(|i| counters.get(i)) {
                *value = v;
            }
        }
        StateMut::Block { path, values: block } => {
            let Some(mut at) = find(&path.to_string(), false) else { return };
            for p in params {
                if let (Some(dst), Some(src)) = (block.get_mut(p.offset..p.offset + p.len), values.get(at..at + p.len))
                {
                    dst.copy_from_slice(src);
                }
                at += p.len;
            }
        }
    })
}

/// The metadata by key; a key twice is an error (a tampered file).
fn metadata_map<'a>(raw: &'a [(String, String)], path: &'a FsPath) -> Result<Metadata<'a>, SerializeError> {
    let mut map: Vec<(&str, &str)> = raw.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    map.sort_unstable_by_key(|&(k, _)| k);
    if let Some(w) = map.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(field(path, w[0].0, "appears twice in the metadata"));
    }
    Ok(Metadata { map, path })
}

fn check_version(meta: &Metadata<'_>) -> Result<(), SerializeError> {
    let Some(v) = meta.lookup(VERSION_KEY) else {
        return Err(SerializeError::Checkpoint {
            path: meta.path.to_owned(),
            problem: format!(
                "not a checkpoint: its metadata has no `{VERSION_KEY}` (a weights file loads with `safetensors::load`)"
            ),
        });
    };
    match v.parse::<u32>() {
        Ok(VERSION) => Ok(()),
        Ok(found) => Err(SerializeError::Version { path: meta.path.to_owned(), found: found.to_string() }),
        Err(_) => Err(SerializeError::Version { path: meta.path.to_owned(), found: v.to_owned() }),
    }
}

/// The run's state but for your own values (`user.*`), which [`decode`] moves in from the
/// metadata.
fn run_state_of(meta: &Metadata<'_>) -> Result<RunState, SerializeError> {
    let mut run = RunState {
        step: meta.parse("run.step")?,
        epoch: meta.parse("run.epoch")?,
        position: meta.parse("run.position")?,
        shuffle_seed: meta.parse("run.shuffle_seed")?,
        ..RunState::default()
    };
    for &(k, v) in &meta.map {
        if let Some(name) = k.strip_prefix("run.rng.") {
            let state = parse_rng(v).ok_or_else(|| meta.error(k, &format!("`{v}` is not four integers")))?;
            run.rngs.insert(name.to_owned(), state);
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_states_round_trip_through_text() {
        let s = [0, 1, u64::MAX, 12_345];
        assert_eq!(parse_rng(&rng_text(&s)), Some(s));
        assert_eq!(parse_rng("1,2,3"), None);
        assert_eq!(parse_rng("1,2,3,4,5"), None);
        assert_eq!(parse_rng("1,2,x,4"), None);
    }

    #[test]
    fn a_header_sorted_keeps_the_file_loadable_and_aligned() {
        let fc = crate::Linear::<2, 3, f32>::new(&mut Rng::seed(1));
        let bytes = super::super::safetensors::to_bytes(&fc, &Default::default()).unwrap();
        let sorted = sorted_header(bytes.clone());
        assert_eq!(u64::from_le_bytes(sorted[..8].try_into().unwrap()) % 8, 0);
        let mut back = crate::Linear::<2, 3, f32>::ZERO;
        super::super::safetensors::load_bytes(&mut back, &sorted, &Default::default()).unwrap();
        assert_eq!(back, fc);
        assert_eq!(sorted_header(sorted.clone()), sorted);
        assert_eq!(sorted_header(vec![1, 2, 3]), [1, 2, 3]);
    }
}
