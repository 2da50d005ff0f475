//! `include_weights!`: parse -> model -> expand.
//!
//! | module | what |
//! | --- | --- |
//! | `parse` | `Type, "path"`, with the user's tokens for spans |
//! | `model` | the file read and checked: every tensor's name, dtype, shape and bytes |
//! | `expand` | the `Weights` type of the file, the checked constant, the value |
//!
//! Matching the file against the model happens after expansion, in constant evaluation
//! (`monograd_core::embed`): only the compiler knows the model's types.

mod expand;
mod model;
mod parse;
#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;

pub fn include_weights(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<parse::Input>(input) {
        Ok(input) => input,
        Err(e) => return e.into_compile_error(),
    };
    match model::File::read(&input) {
        Ok(file) => expand::expand(&input, &file),
        Err(e) => e.into_compile_error(),
    }
}
