//! Expansion: one file per generated artefact.
//!
//! - [`module`]: `impl Module<S>`, from the model (shared with `network!`);
//! - [`embed`]: `impl Embed<P>`, the struct built from weights at compile time;
//! - [`in_place`]: `unsafe impl InPlace`, the struct built and copied on the heap in place;
//! - [`fallback`]: the stub impl that stands in after an error.

pub mod embed;
mod fallback;
pub mod in_place;
pub mod module;

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::Container;
use crate::check;
use crate::ctxt::Ctxt;

/// `#[derive(Module)]`: parse, validate, expand; on errors, the errors and a stub impl.
pub fn derive_module(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let cont = Container::from_ast(&cx, input);
    check::check(&cx, &cont);
    match cx.check() {
        Ok(()) => {
            let module = module::impl_module(&cont);
            let embed = embed::impl_embed(&cont);
            let in_place = in_place::impl_in_place(&cont);
            in_const_block(quote!(#module #embed #in_place))
        }
        Err(err) => {
            let errors = err.into_compile_error();
            let stub = in_const_block(fallback::impl_stub(&cont));
            quote!(#errors #stub)
        }
    }
}

/// Generated items live in an anonymous constant, so that nothing they name leaks into the
/// user's namespace.
fn in_const_block(items: TokenStream) -> TokenStream {
    quote! {
        const _: () = {
            #items
        };
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::{TokenStream, TokenTree};

    /// The identifiers the expansion binds with `let`, `for` or as parameters.
    fn locals(tokens: TokenStream, out: &mut Vec<String>) {
        let mut prev = String::new();
        for tt in tokens {
            match &tt {
                TokenTree::Group(g) => locals(g.stream(), out),
                TokenTree::Ident(id) if prev == "let" || prev == "mut" => out.push(id.to_string()),
                _ => {}
            }
            prev = tt.to_string();
        }
    }

    #[test]
    fn expansion_is_hygienic() {
        let out = super::derive_module(&syn::parse_quote! {
            struct Net<T: Scalar = f32> {
                fc: Linear<4, 8, T>,
                blocks: [Block<T>; 3],
                scale: [[T; 2]; 3],
                #[module(freeze)]
                frozen: Block<T>,
                marker: PhantomData<T>,
            }
        });
        let text = out.to_string();
        assert!(text.starts_with("const _ : () = { # [automatically_derived] impl < T : Scalar >"), "{text}");
        assert!(text.contains(":: monograd :: __private :: monograd_core :: module :: Module < T > for Net < T >"));
        // Bounds for the module types (once each), none for the raw parameters, and `Clone`
        // because the `PhantomData<T>` left out mentions `T`.
        assert!(text.contains(
            "where Linear < 4 , 8 , T > : :: monograd :: __private :: monograd_core :: module :: Module < T > , \
             Block < T > : :: monograd :: __private :: monograd_core :: module :: Module < T > , \
             Net < T > : :: core :: clone :: Clone {"
        ));
        assert!(text.contains("const PARAMS : :: core :: primitive :: usize = < Linear < 4 , 8 , T > as"));
        assert!(text.contains("3 * 2"));
        // The marker is visited nowhere; the embedded value sets it.
        let (module, embed) = text.split_at(text.find("__MonogradField0").expect("an Embed impl"));
        assert!(!module.contains("marker"), "{text}");
        assert!(embed.contains("marker : :: core :: marker :: PhantomData"), "{embed}");
        // Each element of the array of modules at a place of its own, every field bounded.
        let em = ":: monograd :: __private :: monograd_core :: embed ::";
        for k in 0..3 {
            let place = format!("{em} Index < {em} Field < __P , __MonogradField1 > , {k}usize >");
            assert!(embed.contains(&format!("Block < T > : {em} Embed < {place} >")), "{embed}");
        }
        assert!(embed.contains(&format!("[[T ; 2] ; 3] : {em} Embed < {em} Field < __P , __MonogradField2 > >")));
        assert!(embed.contains("const NAME : & 'static :: core :: primitive :: str = \"blocks\""));
        // Built in place: every field bounded, higher-ranked so that a concrete field
        // type without an impl leaves the impl out instead of failing to compile.
        let ip = ":: monograd :: __private :: monograd_core :: boxed :: InPlace";
        let in_place =
            &text[text.find(&format!("unsafe impl < T : Scalar > {ip} for Net < T >")).expect("an InPlace impl")..];
        for ty in ["Linear < 4 , 8 , T >", "[Block < T > ; 3]", "[[T ; 2] ; 3]", "Block < T >", "PhantomData < T >"] {
            assert!(in_place.contains(&format!("for < '__in_place > {ty} : {ip}")), "{ty}: {in_place}");
        }
        assert!(in_place.contains("default_in_place (& raw mut (* __this) . marker)"), "{in_place}");
        let mut bound = Vec::new();
        locals(out, &mut bound);
        assert!(!bound.is_empty());
        // `*mut Self` is a type, not a binding.
        assert!(bound.iter().all(|l| l == "self" || l == "Self" || l.starts_with("__")), "{bound:?}");
    }

    #[test]
    fn no_embed_impl_for_skipped_fields_or_generic_lengths() {
        for input in [
            syn::parse_quote!(
                struct A {
                    fc: Linear<2, 2>,
                    #[module(skip)]
                    steps: usize,
                }
            ),
            syn::parse_quote!(
                struct B<const N: usize> {
                    blocks: [Linear<2, 2>; N],
                }
            ),
        ] {
            let text = super::derive_module(&input).to_string();
            assert!(text.contains("module :: Module < f32 > for"), "{text}");
            assert!(!text.contains("Embed"), "{text}");
        }
    }

    #[test]
    fn the_place_parameter_follows_lifetimes() {
        let text = super::derive_module(&syn::parse_quote! {
            struct Tagged<'a> { fc: Linear<2, 2>, tag: PhantomData<&'a ()> }
        })
        .to_string();
        assert!(
            text.contains("impl < 'a , __P : :: monograd :: __private :: monograd_core :: embed :: Place >"),
            "{text}"
        );
    }

    #[test]
    fn errors_come_with_a_stub() {
        let text = super::derive_module(&syn::parse_quote!(
            enum E {
                A,
            }
        ))
        .to_string();
        assert!(text.starts_with(":: core :: compile_error !"), "{text}");
        assert!(text.contains("impl :: monograd :: __private :: monograd_core :: module :: Module < f32 > for E"));
        assert!(text.contains("const PARAMS : :: core :: primitive :: usize = 0"));
    }

    #[test]
    fn the_crate_path_roots_every_path() {
        let text = super::derive_module(&syn::parse_quote! {
            #[module(crate = "crate")]
            struct S { a: [f32; 2] }
        })
        .to_string();
        assert!(!text.contains("monograd"), "{text}");
        assert!(text.contains("impl crate :: module :: Module < f32 > for S"));
    }
}
