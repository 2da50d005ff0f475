//! Checks that wait for a generic network to be built for its parameters.
//!
//! A network generic over a size (`struct Net<const H: usize>`, `input: [1, H, H]`) has
//! nodes whose shapes are computed from `H` (`shape::computed`). Stable Rust checks
//! arithmetic on `H` only after monomorphization, so the checks on such shapes (a kernel
//! that does not fit, channels that differ) are one associated constant, `__SHAPES`, that
//! every entry point of the network reads: building `Net<2>` (`cargo build`, not `cargo
//! check`) evaluates it and stops at the first failing check with the macro's message,
//! spanned on the layer. A `Fixed` state cannot hold a computed shape; a constant block in
//! the state's constructor says so, naming the network and the node.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::expand::respan;
use super::model::{mentions_any, substitute, Deferred, Graph, NodeId, Op, Part, Shp};

/// Whether a check mentions a generic parameter of the network: it waits for the build.
pub fn after_build(g: &Graph, d: &Deferred) -> bool {
    let parts = d.message.iter().any(|p| match p {
        Part::Text(_) => false,
        Part::Num(t) | Part::Dims(t) => mentions_any(t, &g.generic),
    });
    parts || mentions_any(&d.ok, &g.generic)
}

/// `const __SHAPES: () = { .. };` for the network's inherent impl, and the statement that
/// reads it; both empty when no check waits for the build.
pub fn shapes_const(g: &Graph, core: &TokenStream) -> (TokenStream, TokenStream) {
    let checks: Vec<TokenStream> = g
        .deferred
        .iter()
        .filter(|d| after_build(g, d))
        .map(|d| {
            let ok = substitute(d.ok.clone(), &g.scalar, &quote!(f32));
            let parts: Vec<TokenStream> = d
                .message
                .iter()
                .map(|part| match part {
                    Part::Text(s) => quote!(.text(#s)),
                    Part::Num(e) => quote!(.num(#e)),
                    Part::Dims(e) => quote!(.dims(#e)),
                })
                .map(|p| substitute(p, &g.scalar, &quote!(f32)))
                .collect();
            let span = d.span.clone().into_iter().next().map_or(Span::call_site(), |t| t.span());
            respan(
                quote! {
                    if !(#ok) {
                        #core::shape::check::fail(&#core::shape::check::Msg::new() #(#parts)*);
                    }
                },
                span,
            )
        })
        .collect();
    if checks.is_empty() {
        return (TokenStream::new(), TokenStream::new());
    }
    let item = quote! {
        /// The shape checks on sizes computed from the network's const parameters,
        /// evaluated when the network is built for them: the first that fails stops the
        /// build with its message.
        #[doc(hidden)]
        const __SHAPES: () = { #(#checks)* };
    };
    // The read is spanned at the network's name: rustc's note on the failed constant points
    // there (one line) rather than at the whole macro call.
    (item, respan(quote!(let () = Self::__SHAPES;), g.ident.span()))
}

/// A constant block for the state's constructor: `Fixed` storage cannot hold a node whose
/// shape is computed from a generic parameter (its sample is not an array type), so such a
/// state stops the build with the network and the first such node named.
pub fn fixed_check(g: &Graph, core: &TokenStream, live: &[NodeId]) -> TokenStream {
    let params: Vec<String> = g.generic.iter().map(|p| format!("`{p}`")).collect();
    let checks: Vec<TokenStream> = live
        .iter()
        .filter_map(|&n| {
            let shape = g.shape(n);
            let Shp::Computed(..) = shape else { return None };
            let ty = shape.ty(core);
            let msg = format!(
                "`{}`: node `{}` has a shape computed from {} when the network is built, {}, which `Fixed` storage \
                 cannot hold (stable Rust cannot size an array from it): use `Heap` storage for this network",
                g.ident,
                g.nodes[n].name,
                params.join(", "),
                shape.describe()
            );
            let span = match g.nodes[n].op {
                Op::Apply(l) => g.layers[l].written.span(),
                Op::Input => Span::call_site(),
            };
            Some(respan(
                quote! {
                    if !#core::shape::computed::is_inline::<#ty>() {
                        #core::shape::check::fail(&#core::shape::check::Msg::new().text(#msg));
                    }
                },
                span,
            ))
        })
        .collect();
    if checks.is_empty() {
        return TokenStream::new();
    }
    // The block's own tokens at the network's name, as for `__SHAPES`; each failure at its
    // layer.
    let inline = respan(quote!(<__S as #core::storage::Storage>::INLINE), g.ident.span());
    quote_spanned! {g.ident.span()=>
        const {
            if #inline {
                #(#checks)*
            }
        };
    }
}
