//! `unsafe impl InPlace for Struct`: built in zeroed memory and copied field by field, so
//! that a model of any size can be built, cloned and zeroed on the heap alone
//! (`monograd_core::boxed`).
//!
//! Every field, visited or not, gets a bound `for<'__in_place> Ty: InPlace`: the impl then
//! simply does not apply when a field cannot be built in place (a layer of the user's
//! without an impl, a `String`), rather than failing to compile. The higher-ranked form
//! keeps a bound on a concrete type from being checked where the struct is defined.

use proc_macro2::TokenStream;
use quote::quote;
use syn::WherePredicate;

use crate::ast::Container;

/// The impl. Its default is each field's default, as `#[derive(Default)]` would give.
pub fn impl_in_place(cont: &Container) -> TokenStream {
    let Container { ident, krate, .. } = cont;
    let in_place = quote!(#krate::boxed::InPlace);
    let mut generics = cont.generics.clone();
    let bounds = cont.fields.iter().map(|f| -> WherePredicate {
        let ty = &f.ty;
        syn::parse_quote!(for<'__in_place> #ty: #in_place)
    });
    generics.make_where_clause().predicates.extend(bounds);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let tys: Vec<_> = cont.fields.iter().map(|f| &f.ty).collect();
    let members: Vec<_> = cont.fields.iter().map(|f| &f.member).collect();
    quote! {
        // SAFETY: every field is built by its own type's implementation, so the struct is
        // valid when they all are; it is plain only when every field is (a struct has no
        // bytes but its fields' and padding) and it has no destructor of its own.
        #[automatically_derived]
        unsafe impl #impl_generics #in_place for #ident #ty_generics #where_clause {
            const PLAIN: ::core::primitive::bool = !::core::mem::needs_drop::<Self>() #(&& <#tys as #in_place>::PLAIN)*;

            #[inline]
            unsafe fn default_in_place(__this: *mut Self) {
                // SAFETY: the caller's guarantees for `__this` hold for each of its fields.
                unsafe {
                    #(<#tys as #in_place>::default_in_place(&raw mut (*__this).#members);)*
                }
            }

            #[inline]
            fn copy_from(&mut self, __src: &Self) {
                #(<#tys as #in_place>::copy_from(&mut self.#members, &__src.#members);)*
            }
        }
    }
}
