//! The weights file, read when the macro expands: the whole file is checked here (header,
//! dtypes, offsets, names, counters), so that constant evaluation only has to match names
//! and shapes. The header checks are `monograd_core::embed::header`'s, the ones the
//! run-time loader applies: a file one accepts, the other does (see `tests.rs`).

use std::path::PathBuf;

use monograd_core::embed::header;
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

use super::parse::Input;

/// The most tensors a file may hold (`monograd_core::embed::MAX_TENSORS`).
const MAX_TENSORS: usize = monograd_core::embed::MAX_TENSORS;

/// Where relative paths start: the directory of the source file the literal is in, as
/// for `include_bytes!`, made absolute (rustc may name it relative to its working
/// directory); the crate's root if the compiler does not say.
fn base_dir(lit: &syn::LitStr) -> PathBuf {
    let file = proc_macro::is_available().then(|| lit.span().unwrap().local_file()).flatten();
    let dir = file.and_then(|f| f.parent().map(PathBuf::from));
    match dir {
        Some(d) if d.is_absolute() => d,
        Some(d) => std::env::current_dir().map(|cwd| cwd.join(&d)).unwrap_or(d),
        None => std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default(),
    }
}

pub struct File {
    /// Where the file is, absolute, for `include_bytes!`.
    pub path: PathBuf,
    /// Sorted by name.
    pub tensors: Vec<Tensor>,
}

#[derive(Debug)]
pub struct Tensor {
    pub name: String,
    /// The variant of `monograd_core::embed::Dtype`.
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    /// The data's byte range in the file.
    pub start: usize,
    pub end: usize,
}

impl File {
    pub fn read(input: &Input) -> syn::Result<File> {
        let lit = &input.path;
        let err = |msg: String| syn::Error::new(lit.span(), msg);
        let written = lit.value();
        let dir = base_dir(lit);
        let path = dir.join(&written);
        let bytes = std::fs::read(&path).map_err(|e| {
            err(format!(
                "cannot read `{written}`: {e}; the path is relative to the directory of the file that names \
                 it, as for `include_bytes!`"
            ))
        })?;
        let tensors = check(&bytes, &written).map_err(err)?;
        let under = format!("{}.", input.prefix);
        if !input.prefix.is_empty() && !tensors.iter().any(|t| t.name.starts_with(&under)) {
            return Err(syn::Error::new(
                lit.span(),
                format!("`{written}` has no tensor under the prefix `{}`", input.prefix),
            ));
        }
        Ok(File { path, tensors })
    }
}

/// The tensors of the safetensors file `bytes` (called `written` in messages), sorted by
/// name, after every check: the header's (shared with the run-time loader), then
/// embedding's own (the dtypes it reads, the number of tensors).
pub fn check(bytes: &[u8], written: &str) -> Result<Vec<Tensor>, String> {
    // The run-time loader's words, after the file's name.
    let invalid = |p: header::Problem<'_>| format!("`{written}`: {p}");
    let claimed = bytes.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    let n = header::header_len(claimed, bytes.len() as u64).map_err(invalid)? as usize;
    let text = &bytes[8..8 + n];
    let mut de = serde_json::Deserializer::from_slice(text);
    let entries = serde::de::Deserializer::deserialize_map(&mut de, Entries)
        .and_then(|e| de.end().map(|()| e))
        .map_err(|e| format!("`{written}`: corrupt header: {e}"))?;
    let corrupt = |p: header::Problem<'_>| format!("`{written}`: corrupt header: {p}");
    for (name, info) in &entries {
        let (begin, end) = info.data_offsets;
        let dtype = info.dtype.to_string();
        header::entry(name, &dtype, info.dtype.bitsize(), &info.shape, begin, end).map_err(corrupt)?;
    }
    let mut offsets: Vec<(usize, usize)> = entries.iter().map(|(_, i)| i.data_offsets).collect();
    offsets.sort_unstable();
    let data_len = header::tiling(offsets).map_err(corrupt)?;
    let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    header::unique(names).map_err(corrupt)?;
    let data_start = 8 + n;
    header::file_len(data_start as u64, data_len, bytes.len() as u64).map_err(invalid)?;

    if entries.len() > MAX_TENSORS {
        return Err(format!("`{written}` holds {} tensors; embedding reads at most {MAX_TENSORS}", entries.len()));
    }
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, info) in entries {
        let dtype = match info.dtype {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I64 => "I64",
            Dtype::I8 => "I8",
            Dtype::I32 => "I32",
            other => {
                return Err(format!(
                    "`{written}`: the tensor `{name}` is {other:?}; embedding reads F32, F64, F16 and BF16 tensors, \
                     I64 counters, and the I8 and I32 tensors of int8 models"
                ))
            }
        };
        let (start, end) = (data_start + info.data_offsets.0, data_start + info.data_offsets.1);
        // An I64 scalar is a counter: the value is checked as the run-time loader checks it.
        if info.dtype == Dtype::I64 && info.shape.is_empty() {
            let value: [u8; 8] = bytes[start..end].try_into().unwrap_or_default();
            header::counter(&name, true, value).map_err(|p| format!("`{written}`: {p}"))?;
        }
        tensors.push(Tensor { name, dtype, shape: info.shape, start, end });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

/// A header's tensor entries in the header's order, every one of them (a name twice is
/// kept twice, for the check), with `__metadata__` checked to be one map of strings.
struct Entries;

impl<'de> serde::de::Visitor<'de> for Entries {
    type Value = Vec<(String, TensorInfo)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map from tensor names to {\"dtype\", \"shape\", \"data_offsets\"}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut out = Vec::new();
        let mut metadata = false;
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                if std::mem::replace(&mut metadata, true) {
                    return Err(A::Error::custom("`__metadata__` appears twice"));
                }
                map.next_value::<std::collections::BTreeMap<String, String>>()?;
                continue;
            }
            out.push((name, map.next_value::<TensorInfo>()?));
        }
        Ok(out)
    }
}
