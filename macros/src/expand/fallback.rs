//! The impl emitted beside the errors of an invalid input.
//!
//! Without it, every use of the struct as a module would add an error of its own ("the
//! trait bound `Mlp: Module<f32>` is not satisfied") to the one that matters. Its bodies
//! never run: the crate does not compile.

use proc_macro2::TokenStream;
use quote::quote;

use super::module::bounded_generics;
use crate::ast::Container;

pub fn impl_stub(cont: &Container) -> TokenStream {
    let Container { ident, krate, .. } = cont;
    let s = &cont.scalar.ty;
    let generics = bounded_generics(cont, false);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::module::Module<#s> for #ident #ty_generics #where_clause {
            const PARAMS: ::core::primitive::usize = 0;

            fn visit<__F: ::core::ops::FnMut(#krate::module::Tensor<'_, &[#s]>)>(
                &self,
                _: &#krate::module::Path<'_>,
                _: &mut __F,
            ) {
                ::core::unreachable!()
            }

            fn visit_mut<__F: ::core::ops::FnMut(#krate::module::Tensor<'_, &mut [#s]>)>(
                &mut self,
                _: &#krate::module::Path<'_>,
                _: &mut __F,
            ) {
                ::core::unreachable!()
            }

            fn visit_update<__F: ::core::ops::FnMut(#krate::module::ParamUpdate<'_, #s>)>(
                &mut self,
                _: &Self,
                _: &#krate::module::Path<'_>,
                _: &mut ::core::primitive::usize,
                _: &mut __F,
            ) {
                ::core::unreachable!()
            }
        }
    }
}
