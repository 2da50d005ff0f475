//! `impl Embed<P> for Struct`: the struct built by constant evaluation from embedded
//! weights (`include_weights!`), each field at its own place in the file's names.
//!
//! Every field's type gets a bound `Ty: Embed<Place>`, even a concrete one, so that the
//! impl simply does not apply (rather than failing to compile) when a field cannot be
//! embedded: a layer of the user's without an impl, or a scalar other than `f32`. No
//! impl is generated for a struct with a `#[module(skip)]` field (its value is unknown at
//! compile time) or an array of modules whose length is not a literal (each element sits
//! at a place of its own type, so the elements are written out), nor for a `network!`
//! whose settings constant evaluation cannot apply (`#[module(__no_embed)]`); the settings
//! it can apply (`#[module(__settings(p(0.2)))]`) are builder calls on the embedded value.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Expr, Lit, LitStr, Type, WherePredicate};

use crate::ast::{Container, Field, Holds};

/// The longest array of modules written out element by element.
const MAX_UNROLLED: usize = 256;

/// The impl and the field-name types it uses, or nothing if the struct cannot be embedded.
pub fn impl_embed(cont: &Container) -> Option<TokenStream> {
    let Container { ident, krate, .. } = cont;
    let embed = quote!(#krate::embed);
    let mut b = Builder { embed: embed.clone(), lets: Vec::new(), bounds: Vec::new() };
    let mut names = Vec::new();
    let mut inits = Vec::new();
    for (i, field) in cont.fields.iter().enumerate() {
        let member = &field.member;
        if matches!(field.holds, Holds::Marker) {
            inits.push(quote!(#member: ::core::marker::PhantomData));
            continue;
        }
        // A setting's value is not in the file, nor known to the derive.
        if field.attrs.skip.is_some() || field.attrs.no_embed || field.is_setting() {
            return None;
        }
        let name_ty = format_ident!("__MonogradField{}", i);
        names.push(name_decl(&embed, &name_ty, field));
        let place = quote!(#embed::Field<__P, #name_ty>);
        let mut value = b.holds(field, &field.holds, place)?;
        // The settings `network!` declared, by the layer's `const fn` builders.
        for (name, args) in &field.attrs.settings {
            value = quote!(#value.#name(#(#args),*));
        }
        inits.push(quote!(#member: #value));
    }

    let mut generics = cont.generics.clone();
    // After the lifetimes, which must come first.
    let at = generics.lifetimes().count();
    generics.params.insert(at, syn::parse_quote!(__P: #embed::Place));
    generics.make_where_clause().predicates.extend(b.bounds);
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let (_, ty_generics, _) = cont.generics.split_for_impl();
    let reports = b.lets.iter().map(|(e, _)| quote!(.merge(&#e.report)));
    let lets = b.lets.iter().map(|(e, init)| quote!(let #e = #init;));
    Some(quote! {
        #(#names)*

        #[automatically_derived]
        impl #impl_generics #embed::Embed<__P> for #ident #ty_generics #where_clause {
            const EMBEDDED: #embed::Embedded<Self> = {
                #(#lets)*
                let __report = #embed::Report::EMPTY #(#reports)*;
                #embed::Embedded::new(Self { #(#inits,)* }, __report)
            };
        }
    })
}

/// A type naming the field, for places under it.
fn name_decl(embed: &TokenStream, name_ty: &Ident, field: &Field) -> TokenStream {
    let name = LitStr::new(&field.name, Span::call_site());
    quote! {
        #[doc(hidden)]
        pub struct #name_ty;
        impl #embed::FieldName for #name_ty {
            const NAME: &'static ::core::primitive::str = #name;
        }
    }
}

struct Builder {
    embed: TokenStream,
    /// `__eN` and `<Ty as Embed<Place>>::EMBEDDED`, one per module or tensor.
    lets: Vec<(Ident, TokenStream)>,
    bounds: Vec<WherePredicate>,
}

impl Builder {
    /// The value of what `holds` at `place` (a type), or `None` if it cannot be embedded.
    fn holds(&mut self, field: &Field, holds: &Holds, place: TokenStream) -> Option<TokenStream> {
        match holds {
            Holds::Module(ty) => Some(self.leaf(ty, place)),
            // Raw parameters are a tensor at the field's own place.
            Holds::Params { .. } => Some(self.leaf(&field.ty, place)),
            Holds::Array { len, elem, .. } => {
                let len = literal_len(len)?;
                let embed = self.embed.clone();
                let elems = (0..len)
                    .map(|k| self.holds(field, elem, quote!(#embed::Index<#place, #k>)))
                    .collect::<Option<Vec<_>>>()?;
                Some(quote!([#(#elems),*]))
            }
            _ => None,
        }
    }

    fn leaf(&mut self, ty: &Type, place: TokenStream) -> TokenStream {
        let embed = &self.embed;
        let e = format_ident!("__e{}", self.lets.len());
        self.lets.push((e.clone(), quote!(<#ty as #embed::Embed<#place>>::EMBEDDED)));
        self.bounds.push(syn::parse_quote!(#ty: #embed::Embed<#place>));
        quote!(#embed::Embedded::value(#e))
    }
}

/// An array length written as an integer literal, if it is one and small enough to write
/// out.
fn literal_len(len: &Expr) -> Option<usize> {
    match len {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(n) => n.base10_parse::<usize>().ok().filter(|&n| n <= MAX_UNROLLED),
            _ => None,
        },
        Expr::Group(g) => literal_len(&g.expr),
        Expr::Paren(p) => literal_len(&p.expr),
        _ => None,
    }
}
