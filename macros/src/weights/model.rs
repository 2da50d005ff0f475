//! The weights file, read when the macro expands: the whole file is checked here (header,
//! dtypes, offsets), so that constant evaluation only has to match names and shapes.

use std::path::PathBuf;

use safetensors::{Dtype, SafeTensors};

use super::parse::Input;

/// The most tensors a file may hold (`monograd_core::embed::MAX_TENSORS`).
const MAX_TENSORS: usize = 4096;

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
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| err(format!("`{written}` is not a valid safetensors file: {e}")))?;
        if st.len() > MAX_TENSORS {
            return Err(err(format!("`{written}` holds {} tensors; embedding reads at most {MAX_TENSORS}", st.len())));
        }
        let base = bytes.as_ptr() as usize;
        let mut tensors = Vec::with_capacity(st.len());
        for (name, view) in st.iter() {
            let dtype = match view.dtype() {
                Dtype::F64 => "F64",
                Dtype::F32 => "F32",
                Dtype::F16 => "F16",
                Dtype::BF16 => "BF16",
                Dtype::I64 => "I64",
                other => {
                    return Err(err(format!(
                        "`{written}`: the tensor `{name}` is {other:?}; embedding reads F32, F64, F16 and BF16 \
                         tensors and I64 counters"
                    )))
                }
            };
            // The views borrow `bytes`, so their offsets are the data's place in the file.
            let start = view.data().as_ptr() as usize - base;
            tensors.push(Tensor {
                name: name.to_string(),
                dtype,
                shape: view.shape().to_vec(),
                start,
                end: start + view.data().len(),
            });
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
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
