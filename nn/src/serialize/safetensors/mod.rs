//! `.safetensors` files: the format of Hugging Face's `safetensors`, which PyTorch
//! (`safetensors.torch.save_file`, `load_file`) and most other frameworks read and write.
//!
//! A file is 8 bytes holding `n`, the length of a JSON header (little-endian `u64`), the
//! header, then the tensors' bytes, little-endian and row-major. The header maps each
//! name to `{"dtype": "F32", "shape": [8, 4], "data_offsets": [begin, end]}`, offsets
//! relative to the end of the header, and may hold `"__metadata__"`, a map of strings.
//!
//! - **Saving** writes every tensor the module visits (parameters, frozen parameters and
//!   buffers) as `F32` or `F64`, the model's scalar, and every counter of kind
//!   [`CounterKind::Buffer`] (`num_batches_tracked`) as an `I64` scalar (shape `[]`), under
//!   the model's names or those a [`NameMap`] gives; `__metadata__` is `{"format": "pt"}`,
//!   as `safetensors.torch.save_model` writes. The file replaces any previous one
//!   [atomically](super::atomic). Tensors are laid out as the `safetensors` crate lays
//!   them out (largest alignment first, then by name), so every tensor starts at a
//!   multiple of its element size.
//! - **Loading** reads every tensor and counter of the model, in any order the file has
//!   them. A tensor's shape must be the model's. Its type may be the model's scalar, or
//!   narrower: `F16` and `BF16` (widened exactly, see [`half`](super::half)), and `F32` into
//!   an `f64` model; `F64` into an `f32` model rounds, so it is accepted only with
//!   [`LoadOptions::narrowing`]. Counters are `I64` (or `U64`), at least 0.
//!
//! Loading checks everything before it changes anything: on any error the model is as
//! it was. It never panics on what it reads and allocates no more than the file's size
//! plus the model's, whatever the header claims: the header's length is checked against
//! the file's size (and safetensors' limit of 100 MB) before it is read, every offset and
//! size is checked against the file before any tensor is, and tensors are read one at a
//! time into memory sized by the model.
//!
//! ```
//! use monograd_nn::serialize::safetensors::{self, LoadOptions, SaveOptions};
//! use monograd_nn::serialize::names::Sequential;
//! use monograd_nn::{BatchNorm1d, Linear};
//! use monograd_core::{Module, Rng};
//!
//! #[derive(Clone, monograd_macros::Module)]
//! #[module(crate = "monograd_core")]
//! struct Net {
//!     fc: Linear<4, 2>,
//!     bn: BatchNorm1d<2>,
//! }
//!
//! let mut net = Net { fc: Linear::new(&mut Rng::seed(0)), bn: BatchNorm1d::new() };
//! net.bn.num_batches_tracked = 12;
//! // In memory (`save` and `load` do the same with a file); as `torch.nn.Sequential` names them.
//! let seq = Sequential::new(["fc", "bn"]);
//! let bytes = safetensors::to_bytes(&net, &SaveOptions::new().names(&seq))?;
//!
//! let mut back = Net { fc: Linear::ZERO, bn: BatchNorm1d::ZERO };
//! let report = safetensors::load_bytes(&mut back, &bytes, &LoadOptions::strict().names(&seq))?;
//! assert_eq!(report.loaded, ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]);
//! assert_eq!((back.fc, back.bn.num_batches_tracked), (net.fc, 12));
//! # Ok::<(), monograd_nn::serialize::SerializeError>(())
//! ```

use std::borrow::{Cow, ToOwned};
use std::collections::HashMap;
use std::path::Path as FsPath;
use std::string::{String, ToString};
use std::vec::Vec;

use ::safetensors::tensor::TensorInfo;
use ::safetensors::{Dtype, View};
use monograd_core::module::{CounterKind, Path};
use monograd_core::{Module, Scalar};

pub(crate) mod header;

use self::header::{read_header, Header, HeaderOptions, Source};
use super::half::{bf16_to_f32, f16_to_f32};
use super::names::{NameMap, SameNames};
use super::{atomic, SerializeError};

/// The largest header the `safetensors` format allows, in bytes (its reference
/// implementation's limit; the checks shared with `include_weights!` use the same).
pub const MAX_HEADER_LEN: u64 = monograd_core::embed::header::MAX_HEADER_LEN;

/// How errors name an in-memory file.
const IN_MEMORY: &str = "<memory>";

/// A scalar a model can be saved in: `f32` (`F32`) or `f64` (`F64`).
pub trait Element: Scalar + sealed::Sealed {}

impl Element for f32 {}
impl Element for f64 {}

mod sealed {
    use std::vec::Vec;

    use ::safetensors::Dtype;

    pub trait Sealed: Sized {
        /// The type in files.
        const DTYPE: Dtype;
        /// What a tensor of this scalar accepts, for messages.
        const ACCEPTS: &'static str;
        /// The same, when narrowing is allowed.
        const ACCEPTS_NARROWING: &'static str;
        /// Appends the little-endian bytes of `values`.
        fn extend_le(values: &[Self], out: &mut Vec<u8>);
    }

    impl Sealed for f32 {
        const DTYPE: Dtype = Dtype::F32;
        const ACCEPTS: &'static str = "F32 (or F16, BF16)";
        const ACCEPTS_NARROWING: &'static str = "F32 (or F16, BF16, F64)";
        fn extend_le(values: &[Self], out: &mut Vec<u8>) {
            out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        }
    }

    impl Sealed for f64 {
        const DTYPE: Dtype = Dtype::F64;
        const ACCEPTS: &'static str = "F64 (or F32, F16, BF16)";
        const ACCEPTS_NARROWING: &'static str = "F64 (or F32, F16, BF16)";
        fn extend_le(values: &[Self], out: &mut Vec<u8>) {
            out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        }
    }
}

/// How to save: the names to use in the file.
///
/// ```
/// use monograd_nn::serialize::names::Prefix;
/// use monograd_nn::serialize::safetensors::SaveOptions;
/// let prefix = Prefix("model.");
/// let options = SaveOptions::new().names(&prefix);
/// # let _ = options;
/// ```
#[derive(Clone, Copy)]
pub struct SaveOptions<'a> {
    names: &'a dyn NameMap,
}

impl SaveOptions<'static> {
    /// The model's own names.
    pub const fn new() -> Self {
        Self { names: &SameNames }
    }
}

impl Default for SaveOptions<'static> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> SaveOptions<'a> {
    /// The file's names, from the model's, through `names`.
    pub fn names<'b>(self, names: &'b dyn NameMap) -> SaveOptions<'b> {
        SaveOptions { names }
    }
}

impl core::fmt::Debug for SaveOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaveOptions").finish_non_exhaustive()
    }
}

/// How to load: strict or lenient about tensors the model does not have, whether `F64`
/// may be rounded into an `f32` model, and the names to look for.
///
/// ```
/// use monograd_nn::serialize::names::Sequential;
/// use monograd_nn::serialize::safetensors::LoadOptions;
/// let seq = Sequential::new(["conv", "bn", "act", "pool", "flat", "fc"]);
/// let options = LoadOptions::lenient().narrowing(true).names(&seq);
/// assert!(!options.is_strict());
/// ```
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    strict: bool,
    narrowing: bool,
    names: &'a dyn NameMap,
}

impl LoadOptions<'static> {
    /// Every tensor of the file must be one of the model's (the default, as PyTorch's
    /// `load_state_dict(strict=True)`).
    pub const fn strict() -> Self {
        Self { strict: true, narrowing: false, names: &SameNames }
    }

    /// Tensors of the file that the model does not have are ignored, and listed in
    /// [`LoadReport::ignored`]. Tensors of the model that the file lacks are still an
    /// error: to load part of a model, load into that part (a field is a module too).
    pub const fn lenient() -> Self {
        Self { strict: false, narrowing: false, names: &SameNames }
    }
}

impl Default for LoadOptions<'static> {
    fn default() -> Self {
        Self::strict()
    }
}

impl<'a> LoadOptions<'a> {
    /// Whether `F64` tensors load into an `f32` model, rounded to nearest (default: no, a
    /// [`SerializeError::Dtype`]).
    pub const fn narrowing(mut self, allow: bool) -> Self {
        self.narrowing = allow;
        self
    }

    /// Looks for each of the model's tensors under the name `names` gives it.
    pub fn names<'b>(self, names: &'b dyn NameMap) -> LoadOptions<'b> {
        LoadOptions { strict: self.strict, narrowing: self.narrowing, names }
    }

    /// Whether tensors the model does not have are an error.
    pub const fn is_strict(&self) -> bool {
        self.strict
    }
}

impl core::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("strict", &self.strict)
            .field("narrowing", &self.narrowing)
            .finish_non_exhaustive()
    }
}

/// What a successful load did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadReport {
    /// The file's names of the tensors and counters loaded, in the model's order.
    pub loaded: Vec<String>,
    /// The file's tensors that the model does not have, sorted (lenient mode).
    pub ignored: Vec<String>,
    /// Tensors converted to the model's scalar, with their type in the file (`"F16"`).
    pub converted: Vec<(String, String)>,
}

/// Saves every tensor and [`CounterKind::Buffer`] counter of `module` to `path` under
/// the model's names, replacing any previous file atomically.
///
/// See the [module](self) docs for what is written, and [`save_with`] for other names.
pub fn save<T: Element, M: Module<T>>(module: &M, path: impl AsRef<FsPath>) -> Result<(), SerializeError> {
    save_with(module, path, &SaveOptions::new())
}

/// [`save`], with options (the names in the file).
pub fn save_with<T: Element, M: Module<T>>(
    module: &M,
    path: impl AsRef<FsPath>,
    options: &SaveOptions<'_>,
) -> Result<(), SerializeError> {
    let path = path.as_ref();
    let bytes = encode(module, options, path)?;
    atomic::write(path, &bytes).map_err(|source| SerializeError::Io { path: path.to_owned(), source })
}

/// The bytes [`save_with`] would write.
pub fn to_bytes<T: Element, M: Module<T>>(module: &M, options: &SaveOptions<'_>) -> Result<Vec<u8>, SerializeError> {
    encode(module, options, FsPath::new(IN_MEMORY))
}

/// Loads every tensor and [`CounterKind::Buffer`] counter of `module` from the
/// safetensors file at `path`.
///
/// On any error the module is unchanged. See the [module](self) docs for what is
/// accepted, and [`SerializeError`] for what is reported.
pub fn load<T: Element, M: Module<T>>(
    module: &mut M,
    path: impl AsRef<FsPath>,
    options: &LoadOptions<'_>,
) -> Result<LoadReport, SerializeError> {
    let path = path.as_ref();
    let io = |source| SerializeError::Io { path: path.to_owned(), source };
    let (file, len) = crate::file::open_regular(path).map_err(|e| io(e.into_io()))?;
    decode(module, Source::File(file, len), path, options)
}

/// [`load`] from the bytes of a file.
pub fn load_bytes<T: Element, M: Module<T>>(
    module: &mut M,
    bytes: &[u8],
    options: &LoadOptions<'_>,
) -> Result<LoadReport, SerializeError> {
    decode(module, Source::Slice(bytes), FsPath::new(IN_MEMORY), options)
}

/// What a wanted entry of a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Holds {
    /// Values of the model's scalar (or a narrower type, widened).
    Values,
    /// An integer: an `I64` or `U64` scalar, at least 0.
    Counter,
    /// Values of exactly this type, kept as their little-endian bytes (the trainer's
    /// history in checkpoints, feature `train`).
    #[cfg_attr(not(feature = "train"), allow(dead_code))]
    Exact(Dtype),
}

/// An entry the loader looks for: a tensor or counter of the model, or (checkpoints)
/// optimizer state and run records.
pub(crate) struct Want {
    /// The model's name, for messages about name maps.
    pub(crate) model: String,
    /// The file's name.
    pub(crate) file: String,
    /// The expected shape (`[]` for a counter).
    pub(crate) shape: Cow<'static, [usize]>,
    pub(crate) holds: Holds,
}

/// The model's tensors, then its counters of kind `counters` (any kind when `None`), in
/// visit order, with their file names.
pub(crate) fn model_wants<T: Scalar, M: Module<T>>(
    module: &M,
    names: &dyn NameMap,
    counters: Option<CounterKind>,
    wants: &mut Vec<Want>,
) {
    let mut add = |model: String, shape: &'static [usize], holds| {
        let file = names.file_name(&model);
        wants.push(Want { model, file, shape: Cow::Borrowed(shape), holds });
    };
    module.visit(&Path::ROOT, &mut |t| add(t.path.to_string(), t.shape, Holds::Values));
    module.visit_counters(&Path::ROOT, &mut |c| {
        if counters.is_none_or(|k| k == c.kind) {
            add(c.path.to_string(), &[], Holds::Counter);
        }
    });
}

/// The model's tensors and saved counters; errors if two map to one file name.
fn wants<T: Scalar, M: Module<T>>(module: &M, names: &dyn NameMap, path: &FsPath) -> Result<Vec<Want>, SerializeError> {
    let mut wants = Vec::new();
    model_wants(module, names, Some(CounterKind::Buffer), &mut wants);
    index(&wants, path)?;
    Ok(wants)
}

/// The file names of `wants` to their index; an error if two are the same.
pub(crate) fn index<'w>(wants: &'w [Want], path: &FsPath) -> Result<HashMap<&'w str, usize>, SerializeError> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(wants.len());
    for (i, w) in wants.iter().enumerate() {
        if let Some(first) = index.insert(&w.file, i) {
            return Err(SerializeError::DuplicateName {
                path: path.to_owned(),
                name: w.file.clone(),
                model_names: [wants[first].model.clone(), w.model.clone()],
            });
        }
    }
    Ok(index)
}

/// Whether a tensor stored as `dtype` loads into a model of `T`.
fn accepts<T: Element>(dtype: Dtype, narrowing: bool) -> bool {
    match dtype {
        Dtype::F16 | Dtype::BF16 | Dtype::F32 => true,
        Dtype::F64 => T::DTYPE == Dtype::F64 || narrowing,
        _ => false,
    }
}

/// Appends the values of a tensor stored as `dtype` (accepted by [`accepts`]).
fn widen<T: Element>(dtype: Dtype, bytes: &[u8], out: &mut Vec<T>) {
    fn each<const N: usize, T>(bytes: &[u8], out: &mut Vec<T>, f: impl Fn([u8; N]) -> T) {
        out.extend(bytes.chunks_exact(N).map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            f(b)
        }));
    }
    match dtype {
        Dtype::F16 => each(bytes, out, |b| T::from_f64(f64::from(f16_to_f32(u16::from_le_bytes(b))))),
        Dtype::BF16 => each(bytes, out, |b| T::from_f64(f64::from(bf16_to_f32(u16::from_le_bytes(b))))),
        Dtype::F32 => each(bytes, out, |b| T::from_f64(f64::from(f32::from_le_bytes(b)))),
        Dtype::F64 => each(bytes, out, |b| T::from_f64(f64::from_le_bytes(b))),
        // Not reached: `accepts` let only the above through.
        _ => {}
    }
}

/// Reads a counter stored as `dtype` (8 bytes) with the check every reader applies
/// (`monograd_core::embed::header::counter`), or `None` for another type.
fn counter(dtype: Dtype, bytes: &[u8]) -> Option<Result<u64, i64>> {
    let b: [u8; 8] = bytes.try_into().ok()?;
    let signed = match dtype {
        Dtype::I64 => true,
        Dtype::U64 => false,
        _ => return None,
    };
    Some(monograd_core::embed::header::counter("", signed, b).map_err(|_| i64::from_le_bytes(b)))
}

/// How [`read`] treats a file.
#[derive(Clone, Copy, Default)]
pub(crate) struct ReadOptions<'a> {
    pub(crate) header: HeaderOptions<'a>,
    /// Whether `F64` may round into an `f32` model.
    pub(crate) narrowing: bool,
}

/// What [`read`] found for the wants, each kind in the wants' order.
pub(crate) struct Read<T> {
    /// The values of every [`Holds::Values`] want, one after another.
    pub(crate) values: Vec<T>,
    /// Every [`Holds::Counter`].
    pub(crate) counters: Vec<u64>,
    /// The bytes of every [`Holds::Exact`].
    pub(crate) exact: Vec<Vec<u8>>,
    /// The header's `__metadata__`, when asked for.
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) report: LoadReport,
}

/// Reads `wants` from `src`, checking everything (the header, every name, shape and
/// type, every value's bytes) and changing nothing: the caller commits what it returns.
pub(crate) fn read<T: Element>(
    src: &mut Source<'_>,
    path: &FsPath,
    wants: &[Want],
    options: ReadOptions<'_>,
) -> Result<Read<T>, SerializeError> {
    let strict = options.header.strict;
    let wanted = index(wants, path)?;
    let Header { parsed, data_start } = read_header(src, path, &wanted, options.header)?;
    drop(wanted);

    // Names: every wanted tensor present; in strict mode, nothing else.
    let missing: Vec<String> =
        wants.iter().zip(&parsed.found).filter(|(_, f)| f.is_none()).map(|(w, _)| w.file.clone()).collect();
    if !missing.is_empty() {
        return Err(SerializeError::Missing { path: path.to_owned(), names: missing, unexpected: parsed.unexpected });
    }
    if strict && parsed.unexpected_count > 0 {
        return Err(SerializeError::Unexpected {
            path: path.to_owned(),
            names: parsed.unexpected,
            count: parsed.unexpected_count,
        });
    }

    // Shapes and types, before reading any tensor.
    let mut report = LoadReport { ignored: parsed.unexpected, ..LoadReport::default() };
    let infos: Vec<&TensorInfo> = parsed.found.iter().flatten().collect();
    for (w, info) in wants.iter().zip(&infos) {
        if info.shape[..] != w.shape[..] {
            return Err(SerializeError::Shape {
                path: path.to_owned(),
                name: w.file.clone(),
                expected: w.shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        let expected = match w.holds {
            Holds::Counter if !matches!(info.dtype, Dtype::I64 | Dtype::U64) => Some("I64"),
            Holds::Values if !accepts::<T>(info.dtype, options.narrowing) => {
                Some(if options.narrowing { T::ACCEPTS_NARROWING } else { T::ACCEPTS })
            }
            Holds::Exact(d) if info.dtype != d => Some(exact_name(d)),
            _ => None,
        };
        if let Some(expected) = expected {
            return Err(SerializeError::Dtype {
                path: path.to_owned(),
                name: w.file.clone(),
                expected,
                found: info.dtype.to_string(),
            });
        }
        if w.holds == Holds::Values && info.dtype != T::DTYPE {
            report.converted.push((w.file.clone(), info.dtype.to_string()));
        }
    }

    // Values, one tensor at a time, into memory sized by the wants: the shapes match, so
    // each tensor's bytes are its element count (the model's) times 2, 4 or 8.
    let numel = |w: &Want| w.shape.iter().product::<usize>();
    let values_len: usize = wants.iter().filter(|w| w.holds == Holds::Values).map(numel).sum();
    let mut out = Read {
        values: Vec::with_capacity(values_len),
        counters: Vec::new(),
        exact: Vec::new(),
        metadata: parsed.metadata,
        report,
    };
    let mut buf: Vec<u8> = Vec::new();
    for (w, info) in wants.iter().zip(&infos) {
        let (begin, end) = info.data_offsets;
        buf.clear();
        buf.resize(end - begin, 0);
        src.read_at(data_start + begin as u64, &mut buf)
            .map_err(|source| SerializeError::Io { path: path.to_owned(), source })?;
        match w.holds {
            Holds::Counter => match counter(info.dtype, &buf) {
                Some(Ok(v)) => out.counters.push(v),
                Some(Err(value)) => {
                    return Err(SerializeError::NegativeCounter { path: path.to_owned(), name: w.file.clone(), value })
                }
                // The type and the shape `[]` were checked: 8 bytes of I64 or U64.
                None => out.counters.push(0),
            },
            Holds::Values => widen(info.dtype, &buf, &mut out.values),
            Holds::Exact(_) => out.exact.push(buf.clone()),
        }
        out.report.loaded.push(w.file.clone());
    }
    Ok(out)
}

/// A type's name as messages give it.
fn exact_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F64 => "F64",
        Dtype::F32 => "F32",
        Dtype::U64 => "U64",
        Dtype::I64 => "I64",
        _ => "another type",
    }
}

/// Writes `values` into the model's tensors and `counters` into its counters of kind
/// `kind` (any when `None`), in visit order: the commit after a [`read`].
pub(crate) fn commit<T: Scalar, M: Module<T>>(
    module: &mut M,
    values: &[T],
    counters: &[u64],
    kind: Option<CounterKind>,
) {
    let mut rest = values;
    module.visit_mut(&Path::ROOT, &mut |t| {
        let n = t.values.len().min(rest.len());
        t.values[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
    });
    let mut rest = counters;
    module.visit_counters_mut(&Path::ROOT, &mut |c| {
        if kind.is_none_or(|k| k == c.kind) {
            if let Some((&v, tail)) = rest.split_first() {
                *c.value = v;
                rest = tail;
            }
        }
    });
}

fn decode<T: Element, M: Module<T>>(
    module: &mut M,
    mut src: Source<'_>,
    path: &FsPath,
    options: &LoadOptions<'_>,
) -> Result<LoadReport, SerializeError> {
    let wants = wants(module, options.names, path)?;
    let header = HeaderOptions { strict: options.strict, ..HeaderOptions::default() };
    let read = read::<T>(&mut src, path, &wants, ReadOptions { header, narrowing: options.narrowing })?;
    commit(module, &read.values, &read.counters, Some(CounterKind::Buffer));
    Ok(read.report)
}

/// A tensor to write, with its bytes.
pub(crate) struct Owned {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: Vec<u8>,
}

impl View for Owned {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }

    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// The model's tensors (as `T`) and its counters of kind `counters` (any when `None`),
/// named by `names`, appended to `out`: `Buffer` counters as `I64` scalars (PyTorch's
/// type; a count past `i64::MAX`, never reached in practice, saturates), `Run` counters
/// (seeds use all 64 bits) as `U64`.
pub(crate) fn model_tensors<T: Element, M: Module<T>>(
    module: &M,
    names: &dyn NameMap,
    counters: Option<CounterKind>,
    out: &mut Vec<(String, Owned)>,
) {
    module.visit(&Path::ROOT, &mut |t| {
        let mut data = Vec::with_capacity(core::mem::size_of_val(t.values));
        T::extend_le(t.values, &mut data);
        out.push((names.file_name(&t.path.to_string()), Owned { dtype: T::DTYPE, shape: t.shape.to_vec(), data }));
    });
    module.visit_counters(&Path::ROOT, &mut |c| {
        if counters.is_some_and(|k| k != c.kind) {
            return;
        }
        let (dtype, data) = match c.kind {
            CounterKind::Buffer => (Dtype::I64, i64::try_from(*c.value).unwrap_or(i64::MAX).to_le_bytes()),
            CounterKind::Run => (Dtype::U64, c.value.to_le_bytes()),
        };
        out.push((names.file_name(&c.path.to_string()), Owned { dtype, shape: Vec::new(), data: data.to_vec() }));
    });
}

/// The bytes of a safetensors file of `tensors` and `metadata`.
pub(crate) fn serialize(
    tensors: Vec<(String, Owned)>,
    metadata: impl IntoIterator<Item = (String, String)>,
    path: &FsPath,
) -> Result<Vec<u8>, SerializeError> {
    ::safetensors::serialize(tensors, Some(metadata.into_iter().collect()))
        .map_err(|e| SerializeError::CorruptHeader { path: path.to_owned(), reason: e.to_string() })
}

fn encode<T: Element, M: Module<T>>(
    module: &M,
    options: &SaveOptions<'_>,
    path: &FsPath,
) -> Result<Vec<u8>, SerializeError> {
    // Checks that no two names collide.
    let count = wants(module, options.names, path)?.len();
    let mut tensors: Vec<(String, Owned)> = Vec::with_capacity(count);
    model_tensors(module, options.names, Some(CounterKind::Buffer), &mut tensors);
    serialize(tensors, [("format".to_owned(), "pt".to_owned())], path)
}
