//! The expansion: a block that declares the file's `Weights` type, builds the model in a
//! constant that fails to compile if the file does not fit, and evaluates to the model.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::model::File;
use super::parse::Input;

pub fn expand(input: &Input, file: &File) -> TokenStream {
    let embed = quote!(::monograd::__private::monograd_core::embed);
    let (ty, lit, prefix) = (&input.ty, &input.path, &input.prefix);
    let abs = file.path.to_string_lossy().into_owned();
    let infos = file.tensors.iter().map(|t| {
        let (name, shape, start, end) = (&t.name, &t.shape, t.start, t.end);
        let dtype = syn::Ident::new(t.dtype, lit.span());
        quote! {
            #embed::TensorInfo {
                name: #name,
                dtype: #embed::Dtype::#dtype,
                shape: &[#(#shape),*],
                start: #start,
                end: #end,
            }
        }
    });
    // `rustfmt`-like spacing of the type for the message: `Net<f32>`, not `Net < f32 >`.
    let ty_name = ty.to_token_stream().to_string().replace(" < ", "<").replace(" >", ">").replace(" ,", ",");
    // An unimplemented `Embed` points at the type; a file that does not fit, at the path.
    let embedded = quote_spanned!(ty.span()=> <#ty as #embed::Embed<#embed::Root<__MonogradWeights>>>::EMBEDDED);
    let fail = quote_spanned!(lit.span()=> ::core::panic!("{}", __report.message()));
    quote! {
        {
            #[doc(hidden)]
            struct __MonogradWeights;
            impl #embed::Weights for __MonogradWeights {
                const FILE: &'static ::core::primitive::str = #lit;
                const PREFIX: &'static ::core::primitive::str = #prefix;
                // Also what makes cargo rebuild the crate when the file changes.
                const BYTES: &'static [::core::primitive::u8] = ::core::include_bytes!(#abs);
                const TENSORS: &'static [#embed::TensorInfo] = &[#(#infos),*];
            }
            const __MONOGRAD_EMBEDDED: #ty = {
                let __embedded = #embedded;
                let __report = __embedded.report.finish::<__MonogradWeights>(#ty_name);
                if __report.problems() > 0 {
                    #fail
                }
                __embedded.value()
            };
            __MONOGRAD_EMBEDDED
        }
    }
}
