//! `include_weights!(Type, "path")` or `include_weights!(Type, "path", prefix = "name")`.

use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token, Type};

pub struct Input {
    /// The model's type, concrete (`Mlp`, `Net<f32>`).
    pub ty: Type,
    /// The file, relative to the source file that names it (as for `include_bytes!`).
    pub path: LitStr,
    /// The dotted name the model's tensors are under, without a trailing dot (empty: the
    /// file's top level).
    pub prefix: String,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let usage = "expected `include_weights!(ModelType, \"path/to/weights.safetensors\")`, optionally \
                     followed by `, prefix = \"name\"`";
        let fail = |e: syn::Error| syn::Error::new(e.span(), usage);
        let ty: Type = input.parse().map_err(fail)?;
        input.parse::<Token![,]>().map_err(fail)?;
        let path: LitStr = input.parse().map_err(fail)?;
        let mut prefix = String::new();
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Ident = input.parse().map_err(fail)?;
            if key != "prefix" {
                return Err(syn::Error::new(key.span(), format!("unknown option `{key}`; {usage}")));
            }
            input.parse::<Token![=]>().map_err(fail)?;
            let lit: LitStr = input.parse().map_err(fail)?;
            prefix = lit.value().trim_end_matches('.').to_string();
            if prefix.is_empty() || prefix.split('.').any(str::is_empty) {
                return Err(syn::Error::new(lit.span(), "the prefix is a dotted name such as `model` or `encoder.0`"));
            }
            input.parse::<Option<Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error(usage));
        }
        Ok(Input { ty, path, prefix })
    }
}
