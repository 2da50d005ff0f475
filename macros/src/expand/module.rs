//! `impl Module<S> for Struct`: `PARAMS`, `visit`, `visit_mut`, `visit_update`,
//! `visit_counters`, `visit_config` (each with its `_mut` form) and `init`.
//!
//! Works from the model alone, so that `network!` can generate the same impl for the
//! struct it declares. Assumes that [`check`](crate::check) found nothing.

use std::collections::HashSet;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, Generics, LitStr, Type, WherePredicate};

use crate::ast::{display, Container, Field, Holds};

/// Borrowing for `visit` (`&`) or for `visit_mut` (`&mut`).
#[derive(Clone, Copy)]
enum Mode {
    Ref,
    Mut,
}

/// The impl, without the surrounding `const _: () = { ... };`.
pub fn impl_module(cont: &Container) -> TokenStream {
    let Container { ident, krate, .. } = cont;
    let s = &cont.scalar.ty;
    let generics = bounded_generics(cont, true);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let fields: Vec<&Field> = cont.fields.iter().filter(|f| f.is_visited()).collect();

    let params = sum(fields.iter().map(|f| params(cont, &f.holds)));
    let visit = fields.iter().map(|f| visit_field(cont, f, Mode::Ref));
    let visit_mut = fields.iter().map(|f| visit_field(cont, f, Mode::Mut));
    let update = fields.iter().map(|f| update_field(cont, f));
    let counters = fields.iter().map(|f| forward_field(cont, f, Mode::Ref, Forwarded::Counters));
    let counters_mut = fields.iter().map(|f| forward_field(cont, f, Mode::Mut, Forwarded::Counters));
    // Settings in declaration order, the struct's own among its modules'.
    let config_fields: Vec<&Field> = cont.fields.iter().filter(|f| f.is_visited() || f.is_setting()).collect();
    let config = config_fields.iter().map(|f| config_field(cont, f, Mode::Ref));
    let config_mut = config_fields.iter().map(|f| config_field(cont, f, Mode::Mut));
    let init = fields.iter().map(|f| init_field(cont, f));

    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::module::Module<#s> for #ident #ty_generics #where_clause {
            const PARAMS: ::core::primitive::usize = #params;

            fn visit<__F: ::core::ops::FnMut(#krate::module::Tensor<'_, &[#s]>)>(
                &self,
                __path: &#krate::module::Path<'_>,
                __f: &mut __F,
            ) {
                #(#visit)*
            }

            fn visit_mut<__F: ::core::ops::FnMut(#krate::module::Tensor<'_, &mut [#s]>)>(
                &mut self,
                __path: &#krate::module::Path<'_>,
                __f: &mut __F,
            ) {
                #(#visit_mut)*
            }

            fn visit_update<__F: ::core::ops::FnMut(#krate::module::ParamUpdate<'_, #s>)>(
                &mut self,
                __grad: &Self,
                __path: &#krate::module::Path<'_>,
                __offset: &mut ::core::primitive::usize,
                __f: &mut __F,
            ) {
                #(#update)*
            }

            fn visit_counters<__F: ::core::ops::FnMut(#krate::module::Counter<'_, &::core::primitive::u64>)>(
                &self,
                __path: &#krate::module::Path<'_>,
                __f: &mut __F,
            ) {
                #(#counters)*
            }

            fn visit_counters_mut<
                __F: ::core::ops::FnMut(#krate::module::Counter<'_, &mut ::core::primitive::u64>),
            >(
                &mut self,
                __path: &#krate::module::Path<'_>,
                __f: &mut __F,
            ) {
                #(#counters_mut)*
            }

            fn visit_config<__F: ::core::ops::FnMut(#krate::module::Setting<'_, &::core::primitive::f64>)>(
                &self,
                __path: &#krate::module::Path<'_>,
                __f: &mut __F,
            ) {
                #(#config)*
            }

            fn visit_config_mut<
                __F: ::core::ops::FnMut(#krate::module::Setting<'_, &mut ::core::primitive::f64>),
            >(
                &mut self,
                __path: &#krate::module::Path<'_>,
                __f: &mut __F,
            ) {
                #(#config_mut)*
            }

            fn init(&mut self, __rng: &mut #krate::rng::Rng) {
                #(#init)*
            }
        }
    }
}

/// What a visitor that a struct only forwards to its modules visits.
#[derive(Clone, Copy)]
enum Forwarded {
    /// `visit_counters`, `visit_counters_mut`.
    Counters,
    /// `visit_config`, `visit_config_mut`.
    Config,
}

/// One field's part of `visit_counters`, `visit_config` or their `_mut` forms: every
/// module it holds, in order, under its name; raw parameters have no counters or settings.
fn forward_field(cont: &Container, field: &Field, mode: Mode, what: Forwarded) -> TokenStream {
    fn modules(
        cont: &Container,
        holds: &Holds,
        access: TokenStream,
        path: &Ident,
        depth: usize,
        mode: Mode,
        what: Forwarded,
    ) -> TokenStream {
        let (krate, s) = (&cont.krate, &cont.scalar.ty);
        match holds {
            Holds::Module(ty) => {
                let method = match (what, mode) {
                    (Forwarded::Counters, Mode::Ref) => quote!(visit_counters),
                    (Forwarded::Counters, Mode::Mut) => quote!(visit_counters_mut),
                    (Forwarded::Config, Mode::Ref) => quote!(visit_config),
                    (Forwarded::Config, Mode::Mut) => quote!(visit_config_mut),
                };
                let call = quote_spanned!(ty.span()=> <#ty as #krate::module::Module<#s>>::#method);
                quote!(#call(#access, &#path, __f);)
            }
            Holds::Array { elem_ty, elem, .. } => {
                let (i, m, p) =
                    (format_ident!("__i{}", depth), format_ident!("__m{}", depth), format_ident!("__p{}", depth));
                let iter = match mode {
                    Mode::Ref => quote!(<[#elem_ty]>::iter(#access)),
                    Mode::Mut => quote!(<[#elem_ty]>::iter_mut(#access)),
                };
                let inner = modules(cont, elem, m.to_token_stream(), &p, depth + 1, mode, what);
                quote! {
                    for (#i, #m) in ::core::iter::Iterator::enumerate(#iter) {
                        let #p = #krate::module::Path::index(&#path, #i);
                        #inner
                    }
                }
            }
            _ => TokenStream::new(),
        }
    }
    if field.holds.module_leaf().is_none() {
        return TokenStream::new();
    }
    let krate = &cont.krate;
    let member = &field.member;
    let name = LitStr::new(&field.name, Span::call_site());
    let access = borrow(mode, quote!(self.#member));
    let body = modules(cont, &field.holds, access, &format_ident!("__p"), 0, mode, what);
    quote! {
        {
            let __p = #krate::module::Path::field(__path, #name);
            #body
        }
    }
}

/// One field's part of `visit_config` or `visit_config_mut`: the field itself when it is a
/// setting (`#[module(config)]`), else the settings of every module it holds.
fn config_field(cont: &Container, field: &Field, mode: Mode) -> TokenStream {
    if !field.is_setting() {
        return forward_field(cont, field, mode, Forwarded::Config);
    }
    let krate = &cont.krate;
    let name = LitStr::new(&field.name, Span::call_site());
    let value = borrow(mode, {
        let member = &field.member;
        quote!(self.#member)
    });
    quote! {
        {
            let __p = #krate::module::Path::field(__path, #name);
            __f(#krate::module::Setting { path: &__p, value: #value });
        }
    }
}

/// One field's part of `init`: every module it holds, in order, from the same generator;
/// raw parameters keep the values the struct was built with.
fn init_field(cont: &Container, field: &Field) -> TokenStream {
    fn modules(cont: &Container, holds: &Holds, access: TokenStream, depth: usize) -> TokenStream {
        let (krate, s) = (&cont.krate, &cont.scalar.ty);
        match holds {
            Holds::Module(ty) => quote!(<#ty as #krate::module::Module<#s>>::init(#access, __rng);),
            Holds::Array { elem_ty, elem, .. } => {
                let m = format_ident!("__m{}", depth);
                let inner = modules(cont, elem, quote!(#m), depth + 1);
                quote! {
                    for #m in <[#elem_ty]>::iter_mut(#access) {
                        #inner
                    }
                }
            }
            _ => TokenStream::new(),
        }
    }
    let member = &field.member;
    modules(cont, &field.holds, quote!(&mut self.#member), 0)
}

/// The struct's generics with the bounds the impl needs: `S: Scalar` when the scalar is
/// generic, and, with `fields`, `M: Module<S>` for each module type that mentions a
/// generic parameter (spanned at the field's type, so an unmet bound points there), and
/// `Struct<..>: Clone` when a field left out (skipped, `PhantomData`) mentions one: `Module`
/// requires `Clone`, and `derive(Clone)` bounds the parameters those fields use.
pub fn bounded_generics(cont: &Container, fields: bool) -> Generics {
    let Container { krate, ident, .. } = cont;
    let s = &cont.scalar.ty;
    let mut predicates: Vec<WherePredicate> = Vec::new();
    if cont.scalar.needs_bound {
        predicates.push(syn::parse_quote!(#s: #krate::Scalar));
    }
    if fields {
        let mut seen = HashSet::new();
        for field in cont.fields.iter().filter(|f| f.is_visited()) {
            if let Some(leaf) = field.holds.module_leaf() {
                if cont.mentions_param(leaf) && seen.insert(display(leaf)) {
                    predicates.push(syn::parse_quote_spanned!(leaf.span()=> #leaf: #krate::module::Module<#s>));
                }
            }
        }
        if cont.fields.iter().any(|f| !f.is_visited() && cont.mentions_param(&f.ty)) {
            let (_, ty_generics, _) = cont.generics.split_for_impl();
            predicates.push(syn::parse_quote!(#ident #ty_generics: ::core::clone::Clone));
        }
    }
    let mut generics = cont.generics.clone();
    if !predicates.is_empty() {
        generics.make_where_clause().predicates.extend(predicates);
    }
    generics
}

/// One field's part of `visit` or `visit_mut`.
fn visit_field(cont: &Container, field: &Field, mode: Mode) -> TokenStream {
    let krate = &cont.krate;
    let member = &field.member;
    let name = LitStr::new(&field.name, Span::call_site());
    let body = match &field.holds {
        Holds::Params { elem, dims } => {
            let kind = kind(cont, field.is_frozen());
            let values = flat(mode, quote!(self.#member), elem, dims);
            quote! {
                __f(#krate::module::Tensor {
                    path: &__p,
                    kind: #kind,
                    shape: const { &[#(#dims),*] },
                    values: #values,
                });
            }
        }
        holds => {
            let access = borrow(mode, quote!(self.#member));
            visit_modules(cont, holds, access, &format_ident!("__p"), 0, mode, field.is_frozen())
        }
    };
    quote! {
        {
            let __p = #krate::module::Path::field(__path, #name);
            #body
        }
    }
}

/// Visits a module, or each module of a (nested) array, at `path`; `access` evaluates to
/// a reference to it.
fn visit_modules(
    cont: &Container,
    holds: &Holds,
    access: TokenStream,
    path: &Ident,
    depth: usize,
    mode: Mode,
    frozen: bool,
) -> TokenStream {
    let Container { krate, .. } = cont;
    let s = &cont.scalar.ty;
    match holds {
        Holds::Module(ty) => {
            let method = match mode {
                Mode::Ref => quote!(visit),
                Mode::Mut => quote!(visit_mut),
            };
            let call = quote_spanned!(ty.span()=> <#ty as #krate::module::Module<#s>>::#method);
            // A frozen child reports its trainable parameters as frozen.
            let f = if frozen {
                quote! {
                    &mut |mut __t| {
                        if let #krate::module::Kind::Param = __t.kind {
                            __t.kind = #krate::module::Kind::Frozen;
                        }
                        __f(__t)
                    }
                }
            } else {
                quote!(__f)
            };
            quote!(#call(#access, &#path, #f);)
        }
        Holds::Array { elem_ty, elem, .. } => {
            let (i, m, p) =
                (format_ident!("__i{}", depth), format_ident!("__m{}", depth), format_ident!("__p{}", depth));
            let iter = match mode {
                Mode::Ref => quote!(<[#elem_ty]>::iter(#access)),
                Mode::Mut => quote!(<[#elem_ty]>::iter_mut(#access)),
            };
            let inner = visit_modules(cont, elem, m.to_token_stream(), &p, depth + 1, mode, frozen);
            quote! {
                for (#i, #m) in ::core::iter::Iterator::enumerate(#iter) {
                    let #p = #krate::module::Path::index(&#path, #i);
                    #inner
                }
            }
        }
        // Raw parameters are handled by the caller; the rest does not pass `check`.
        _ => TokenStream::new(),
    }
}

/// One field's part of `visit_update`: trainable tensors are passed, frozen ones only
/// advance the offset.
fn update_field(cont: &Container, field: &Field) -> TokenStream {
    let krate = &cont.krate;
    let member = &field.member;
    if field.is_frozen() {
        let len = params(cont, &field.holds);
        return quote!(*__offset += #len;);
    }
    let name = LitStr::new(&field.name, Span::call_site());
    let body = match &field.holds {
        Holds::Params { elem, dims } => {
            let value = flat(Mode::Mut, quote!(self.#member), elem, dims);
            let grad = flat(Mode::Ref, quote!(__grad.#member), elem, dims);
            let len = product(dims);
            quote! {
                __f(#krate::module::ParamUpdate { path: &__p, offset: *__offset, value: #value, grad: #grad });
                *__offset += #len;
            }
        }
        holds => {
            update_modules(cont, holds, quote!(&mut self.#member), quote!(&__grad.#member), &format_ident!("__p"), 0)
        }
    };
    quote! {
        {
            let __p = #krate::module::Path::field(__path, #name);
            #body
        }
    }
}

fn update_modules(
    cont: &Container,
    holds: &Holds,
    value: TokenStream,
    grad: TokenStream,
    path: &Ident,
    depth: usize,
) -> TokenStream {
    let Container { krate, .. } = cont;
    let s = &cont.scalar.ty;
    match holds {
        Holds::Module(ty) => {
            let call = quote_spanned!(ty.span()=> <#ty as #krate::module::Module<#s>>::visit_update);
            quote!(#call(#value, #grad, &#path, __offset, __f);)
        }
        Holds::Array { elem_ty, elem, .. } => {
            let (i, p) = (format_ident!("__i{}", depth), format_ident!("__p{}", depth));
            let (m, g) = (format_ident!("__m{}", depth), format_ident!("__g{}", depth));
            let inner = update_modules(cont, elem, m.to_token_stream(), g.to_token_stream(), &p, depth + 1);
            quote! {
                for (#i, (#m, #g)) in ::core::iter::Iterator::enumerate(::core::iter::Iterator::zip(
                    <[#elem_ty]>::iter_mut(#value),
                    <[#elem_ty]>::iter(#grad),
                )) {
                    let #p = #krate::module::Path::index(&#path, #i);
                    #inner
                }
            }
        }
        _ => TokenStream::new(),
    }
}

/// The number of scalar parameters `holds` has.
fn params(cont: &Container, holds: &Holds) -> TokenStream {
    let Container { krate, .. } = cont;
    let s = &cont.scalar.ty;
    match holds {
        Holds::Module(ty) => quote_spanned!(ty.span()=> <#ty as #krate::module::Module<#s>>::PARAMS),
        Holds::Array { len, elem, .. } => {
            let (len, inner) = (factor(len), params(cont, elem));
            quote!(#len * #inner)
        }
        Holds::Params { dims, .. } => product(dims),
        _ => quote!(0),
    }
}

fn sum(terms: impl Iterator<Item = TokenStream>) -> TokenStream {
    let terms: Vec<TokenStream> = terms.collect();
    if terms.is_empty() {
        quote!(0)
    } else {
        quote!(#(#terms)+*)
    }
}

fn product(dims: &[Expr]) -> TokenStream {
    if dims.is_empty() {
        return quote!(1);
    }
    // Not `#(#factors)**`: quote reads that as a repetition without separator and a `*`.
    let mut factors = dims.iter().map(factor);
    let first = factors.next().unwrap_or_default();
    factors.fold(first, |acc, f| quote!(#acc * #f))
}

/// An array length as an operand of `*`: parenthesized unless it is a literal or a name.
fn factor(len: &Expr) -> TokenStream {
    match len {
        Expr::Lit(_) | Expr::Path(_) => len.to_token_stream(),
        _ => quote!((#len)),
    }
}

fn borrow(mode: Mode, place: TokenStream) -> TokenStream {
    match mode {
        Mode::Ref => quote!(&#place),
        Mode::Mut => quote!(&mut #place),
    }
}

/// `place` (the scalar, or an array of it with `dims`) as a flat `&[S]` or `&mut [S]`.
fn flat(mode: Mode, place: TokenStream, elem: &Type, dims: &[Expr]) -> TokenStream {
    match (dims, mode) {
        ([], Mode::Ref) => quote!(::core::slice::from_ref(&#place)),
        ([], Mode::Mut) => quote!(::core::slice::from_mut(&mut #place)),
        ([n], Mode::Ref) => quote!(<[#elem; #n]>::as_slice(&#place)),
        ([n], Mode::Mut) => quote!(<[#elem; #n]>::as_mut_slice(&mut #place)),
        _ => {
            // `[[[S; C]; B]; A]` -> `&[[[S; C]; B]]` -> `&[[S; C]]` -> `&[S]`.
            let mut expr = borrow(mode, place);
            for k in 1..dims.len() {
                let sub = array_ty(elem, &dims[k..]);
                expr = match mode {
                    Mode::Ref => quote!(<[#sub]>::as_flattened(#expr)),
                    Mode::Mut => quote!(<[#sub]>::as_flattened_mut(#expr)),
                };
            }
            expr
        }
    }
}

/// `[[elem; d1]; d0]` for dims `[d0, d1]`.
fn array_ty(elem: &Type, dims: &[Expr]) -> TokenStream {
    dims.iter().rev().fold(elem.to_token_stream(), |acc, d| quote!([#acc; #d]))
}

fn kind(cont: &Container, frozen: bool) -> TokenStream {
    let krate = &cont.krate;
    if frozen {
        quote!(#krate::module::Kind::Frozen)
    } else {
        quote!(#krate::module::Kind::Param)
    }
}
