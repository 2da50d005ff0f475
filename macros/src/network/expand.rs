//! Expansion: the struct (through `#[derive(Module)]`), a state struct with one buffer per
//! node, and straight-line forward, training forward and backward code: one statement per
//! node, forward in topological order, backward in reverse.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{GenericParam, Generics, Ident};

use super::model::{mentions_any, substitute, written, Graph, Kind, NodeId, Op, Part};
use super::optimize::{live, needed};

/// Paths every generated item uses.
pub(super) struct Paths {
    pub(super) core: TokenStream,
}

pub fn expand(g: &Graph) -> TokenStream {
    let p = Paths { core: quote!(::monograd::__private::monograd_core) };
    let ident = &g.ident;
    let state_ident = format_ident!("{}State", ident);
    let t = &g.scalar;
    let core = &p.core;

    let bounds = bounds(g, &p);
    let live = live(g);

    let def = struct_def(g);
    let default = default_impl(g);
    let (state_struct, state_impls) = state_def(g, &p, &state_ident, &bounds, &live);
    let fixed = super::fixed::fixed(g, &p, &state_ident, &bounds, &live);
    let (fixed_items, fixed_impls, fixed_methods) = (&fixed.items, &fixed.impls, &fixed.methods);
    let fixed_trait_consts = &fixed.trait_consts;

    let (impl_g, ty_g, user_where) = g.generics.split_for_impl();
    let mut where_clause = g.generics.where_clause.clone().unwrap_or_else(|| syn::parse_quote!(where));
    for b in &bounds {
        where_clause.predicates.push(syn::parse2(b.clone()).expect("bounds are predicates"));
    }
    // The inherent methods carry the layer bounds themselves, not their impl: calling one
    // on a generic network instantiated with mismatched dimensions is then an unmet bound
    // of that call (E0277, with `Layer`'s message, at the user's layer), rather than a
    // method that does not exist (E0599).
    let method_where = quote!(where #(#bounds),*);
    let builtin = builtin_check(g, &p);
    let state_ty_args = state_type_args(&g.generics, quote!(__S));
    let state_ty = quote!(#state_ident<#state_ty_args>);

    let primary = g.resolve(g.outputs[0]);
    let in_ty = g.shape(0).ty(core);
    let out_ty = g.shape(primary).ty(core);
    let what_input = format!("`{ident}` input");
    let (shapes_item, shapes) = super::built::shapes_const(g, core);

    // Inference: one function per output, each computing only what that output needs.
    let mut forwards = Vec::new();
    for (i, &o) in g.outputs.iter().enumerate() {
        let name = if i == 0 { format_ident!("forward") } else { format_ident!("forward_{}", g.nodes[o].name) };
        let body = forward_body(g, &p, &needed(g, &[o]), false);
        let ret = buf(g, g.resolve(o), true);
        let doc = if i == 0 {
            "Inference on a batch (`x`: whole input samples, flat); returns the primary output. Computes only \
             the nodes that output needs, and allocates nothing once the state's buffers are sized."
                .to_string()
        } else {
            format!("Inference for the output `{}` alone: computes only the nodes it needs.", g.nodes[o].name)
        };
        forwards.push(quote! {
            #[doc = #doc]
            pub fn #name<'__s, __S: #core::storage::Storage>(
                &self,
                __x: &[#t],
                __st: &'__s mut #state_ty,
            ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> #method_where {
                #shapes
                let __batch = #core::network::batch_of::<#in_ty>(#what_input, __x.len())?;
                // Inference overwrites some buffers and not others: backward may not follow.
                __st.__trained = false;
                __st.__batch = __batch;
                let mut __ctx = #core::module::Ctx::new(::core::convert::AsMut::as_mut(&mut __st.__pack));
                #body
                ::core::result::Result::Ok(#core::storage::Buffer::as_slice(#ret))
            }
        });
    }
    // The primary output's inference with packed weight panels in the layers' context
    // (`Network::forward_packed`, what `Prepared` runs).
    let packed_forward = {
        let body = forward_body(g, &p, &needed(g, &[g.outputs[0]]), false);
        let ret = buf(g, g.resolve(g.outputs[0]), true);
        quote! {
            fn forward_packed<'__s, __S: #core::storage::Storage>(
                &self,
                __x: &[#t],
                __st: &'__s mut #state_ty,
                __packed: #core::prepared::PackedWeights<'_, #t>,
            ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> {
                #shapes
                let __batch = #core::network::batch_of::<#in_ty>(#what_input, __x.len())?;
                __st.__trained = false;
                __st.__batch = __batch;
                let mut __ctx =
                    #core::module::Ctx::with_packed(::core::convert::AsMut::as_mut(&mut __st.__pack), __packed);
                #body
                ::core::result::Result::Ok(#core::storage::Buffer::as_slice(#ret))
            }
        }
    };
    let train_body = forward_body(g, &p, &live, true);
    let ret = buf(g, primary, true);
    let backward = backward_fn(g, &p, &state_ty, &live, &where_clause);
    let net_args = state_type_args(&g.generics, TokenStream::new());

    let outs: Vec<_> = g.outputs.iter().map(|&o| g.nodes[o].name.clone()).collect();
    let dy_params: Vec<Ident> = if outs.len() == 1 {
        vec![format_ident!("dy")]
    } else {
        outs.iter().map(|o| format_ident!("dy_{}", o)).collect()
    };
    let dy_doc = if outs.len() == 1 {
        "`dy` is `∂L/∂output`.".to_string()
    } else {
        format!(
            "One gradient per output ({}); an empty slice means no gradient from that output.",
            outs.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
        )
    };
    let backward_doc =
        format!("Backward after `forward_train` on the same `x`: adds every parameter gradient into `grad`. {dy_doc}");
    let trait_dys: Vec<TokenStream> =
        (0..outs.len()).map(|i| if i == 0 { quote!(__dy) } else { quote!(&[]) }).collect();

    let (sgd_inherent, sgd_trait) = if fuses_sgd(g) {
        (
            quote!(__backward_sgd::<#net_args __S, false>(self, x, [#(#dy_params),*], lr, grad, state)),
            quote! {
                fn backward_sgd<__S: #core::storage::Storage>(
                    &mut self,
                    __x: &[#t],
                    __dy: &[#t],
                    __lr: #t,
                    __grad: &mut Self,
                    __st: &mut #state_ty,
                ) -> ::core::result::Result<(), #core::ShapeError> {
                    __backward_sgd::<#net_args __S, false>(self, __x, [#(#trait_dys),*], __lr, __grad, __st)
                }
            },
        )
    } else {
        // The default: zero, backward, update through the derive's visit (which skips frozen
        // parameters).
        (
            quote! {
                #core::module::Module::<#t>::zero(grad);
                __backward::<#net_args __S, false>(self, x, [#(#dy_params),*], grad, state)?;
                #core::module::sgd_update(self, grad, lr);
                ::core::result::Result::Ok(())
            },
            TokenStream::new(),
        )
    };
    let consts = consts(g, &p);
    let summary = summary_fn(g, &p);
    // With the default scalar, `Net::summary()` must not leave the scalar to inference: it
    // goes in the impl for `f32` (the trait has it for every scalar).
    let summary_item = quote! {
        /// The nodes, their output shapes, parameters and FLOPs, with totals.
        pub fn summary() -> #core::summary::Summary #method_where {
            #summary
        }
    };
    let generic_summary = if g.scalar_added { TokenStream::new() } else { summary_item };
    let new_doc = quote! {
        /// A network with every layer initialised from `rng` (PyTorch's default
        /// initialisation for each layer).
    };
    let generic_new = if g.scalar_added {
        TokenStream::new()
    } else {
        quote! {
            #new_doc
            pub fn new(rng: &mut #core::rng::Rng) -> Self #method_where {
                <Self as #core::network::Network<#t>>::new(rng)
            }
        }
    };
    // `boxed` with the default scalar goes in the impl for `f32`, as `new` does, so that
    // `Net::boxed(&mut rng)` needs no annotation.
    let settings = boxed_settings(g);
    let generic_boxed = if g.scalar_added {
        TokenStream::new()
    } else {
        quote!(#core::__boxed_methods!(#t; [#(#bounds,)*]; |__net| #settings);)
    };
    let f32_bounds: Vec<TokenStream> = bounds.iter().map(|b| substitute(b.clone(), t, &quote!(f32))).collect();
    let f32_settings = substitute(settings.clone(), t, &quote!(f32));
    let f32_boxed = quote!(#core::__boxed_methods!(f32; [#(#f32_bounds,)*]; |__net| #f32_settings););
    let inherent_consts = f32_consts(g, &p, &f32_boxed, &fixed.f32_consts);
    let ident_str = ident.to_string();
    let field_names: Vec<String> = g.layers.iter().map(|l| l.name.to_string()).collect();
    let field_written: Vec<String> = g.layers.iter().map(|l| written(&l.written)).collect();
    let block_impls = block_impls(g, &p, &in_ty, &out_ty, &bounds);
    let mut out_generics = g.generics.clone();
    out_generics.params.push(syn::parse_quote!(__In: #core::shape::Shape));
    let (out_impl_g, _, _) = out_generics.split_for_impl();
    let deferred = deferred_checks(g, &p);
    let input_grad_buf = format_ident!("__g_{}", g.nodes[0].name);

    let expanded = quote! {
        #def
        #builtin
        #state_struct
        #fixed_items

        // Implementations and helpers inside an anonymous constant: nothing they name
        // leaks into the user's namespace.
        const _: () = {
        #default
        #state_impls
        #fixed_impls
        #backward

        #[automatically_derived]
        impl #impl_g #ident #ty_g #user_where {
            #generic_new

            #generic_boxed

            /// Fresh, empty buffers for every node: `Heap` buffers grow on first use,
            /// `Fixed<CAP>` buffers never allocate.
            pub fn state<__S: #core::storage::Storage>() -> #state_ty #method_where {
                #shapes
                #state_ident::new()
            }

            #shapes_item
            #fixed_methods

            #(#forwards)*

            /// Training forward: computes every output, keeping what backward needs in the
            /// state and updating running statistics; returns the primary output.
            pub fn forward_train<'__s, __S: #core::storage::Storage>(
                &mut self,
                __x: &[#t],
                __st: &'__s mut #state_ty,
            ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> #method_where {
                #shapes
                let __batch = #core::network::batch_of::<#in_ty>(#what_input, __x.len())?;
                __st.__trained = false;
                __st.__batch = __batch;
                let mut __ctx = #core::module::Ctx::new(::core::convert::AsMut::as_mut(&mut __st.__pack));
                #train_body
                __st.__trained = true;
                __st.__input = #core::network::fingerprint(__x);
                ::core::result::Result::Ok(#core::storage::Buffer::as_slice(#ret))
            }

            #[doc = #backward_doc]
            pub fn backward<__S: #core::storage::Storage>(
                &self,
                x: &[#t],
                #(#dy_params: &[#t],)*
                grad: &mut Self,
                state: &mut #state_ty,
            ) -> ::core::result::Result<(), #core::ShapeError> #method_where {
                #shapes
                __backward::<#net_args __S, false>(self, x, [#(#dy_params),*], grad, state)
            }

            /// Backward and a plain SGD step (`θ ← θ - lr · ∂L/∂θ`) in one, after
            /// `forward_train` on the same `x`: dense layers update inside their
            /// weight-gradient products, with no gradient buffer; `grad` is scratch for the
            /// other layers (its contents afterwards are unspecified). Equals `backward`
            /// into a zeroed `grad` and then the update (see `Network::backward_sgd`).
            pub fn backward_sgd<__S: #core::storage::Storage>(
                &mut self,
                x: &[#t],
                #(#dy_params: &[#t],)*
                lr: #t,
                grad: &mut Self,
                state: &mut #state_ty,
            ) -> ::core::result::Result<(), #core::ShapeError> #method_where {
                #shapes
                #sgd_inherent
            }

            /// Like `backward`, and also returns `∂L/∂x`.
            pub fn backward_input<'__s, __S: #core::storage::Storage>(
                &self,
                x: &[#t],
                #(#dy_params: &[#t],)*
                grad: &mut Self,
                state: &'__s mut #state_ty,
            ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> #method_where {
                #shapes
                __backward::<#net_args __S, true>(self, x, [#(#dy_params),*], grad, state)?;
                ::core::result::Result::Ok(#core::storage::Buffer::as_slice(&state.#input_grad_buf))
            }

            #generic_summary
        }

        #[automatically_derived]
        impl #impl_g #core::network::Network<#t> for #ident #ty_g #where_clause {
            type Input = #in_ty;
            type Output = #out_ty;
            type State<__S: #core::storage::Storage> = #state_ty;
            #consts
            #fixed_trait_consts

            fn state<__S: #core::storage::Storage>() -> #state_ty {
                #state_ident::new()
            }
            fn forward<'__s, __S: #core::storage::Storage>(
                &self,
                __x: &[#t],
                __st: &'__s mut #state_ty,
            ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> {
                #ident::forward(self, __x, __st)
            }
            fn forward_train<'__s, __S: #core::storage::Storage>(
                &mut self,
                __x: &[#t],
                __st: &'__s mut #state_ty,
            ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> {
                #ident::forward_train(self, __x, __st)
            }
            fn backward<__S: #core::storage::Storage>(
                &self,
                __x: &[#t],
                __dy: &[#t],
                __grad: &mut Self,
                __st: &mut #state_ty,
            ) -> ::core::result::Result<(), #core::ShapeError> {
                __backward::<#net_args __S, false>(self, __x, [#(#trait_dys),*], __grad, __st)
            }
            fn backward_input<'__s, __S: #core::storage::Storage>(
                &self,
                __x: &[#t],
                __dy: &[#t],
                __grad: &mut Self,
                __st: &'__s mut #state_ty,
            ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> {
                __backward::<#net_args __S, true>(self, __x, [#(#trait_dys),*], __grad, __st)?;
                ::core::result::Result::Ok(#core::storage::Buffer::as_slice(&__st.#input_grad_buf))
            }
            #sgd_trait
            #packed_forward
            fn summary() -> #core::summary::Summary {
                #summary
            }
        }

        // For any input, so that a wrong one is the one checked message of the network that
        // nests this one (its `DECLARED_INPUT` against what it is given), not a trait error.
        #[automatically_derived]
        impl #out_impl_g #core::module::OutputShape<__In> for #ident #ty_g #where_clause {
            type Output = #out_ty;
            const DECLARED_INPUT: ::core::option::Option<&'static [::core::primitive::usize]> =
                ::core::option::Option::Some(<#in_ty as #core::shape::Shape>::DIMS);
        }

        #[automatically_derived]
        impl #impl_g ::core::fmt::Debug for #ident #ty_g #user_where {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(#ident_str)
                    #(.field(#field_names, &#core::summary::Written(#field_written)))*
                    .finish()
            }
        }

        #block_impls
        #deferred
        #inherent_consts
        };
    };
    expanded
}

/// The struct: one public field per layer, `Module` through the derive.
fn struct_def(g: &Graph) -> TokenStream {
    let Graph { attrs, vis, ident, generics, .. } = g;
    let where_clause = &generics.where_clause;
    let fields = g.layers.iter().map(|l| {
        let (attrs, name, ty) = (&l.attrs, &l.name, &l.ty);
        // Fields the user left undocumented get a line, for crates that deny missing docs.
        let doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
            None
        } else {
            let text = format!("The layer `{}`: `{}`.", name, written(&l.written));
            Some(quote!(#[doc = #text]))
        };
        let settings = super::config::field_attr(l);
        quote!(#(#attrs)* #doc #settings pub #name: #ty)
    });
    let t = &g.scalar;
    let uses_scalar = g.layers.iter().any(|l| mentions(&l.ty, t));
    let marker = (!uses_scalar).then(|| {
        quote! {
            /// The scalar: no layer here has parameters to hold it.
            #[doc(hidden)]
            pub __scalar: ::core::marker::PhantomData<#t>,
        }
    });
    quote! {
        #(#attrs)*
        #[derive(::core::clone::Clone, ::monograd::Module)]
        #vis struct #ident #generics #where_clause {
            #(#fields,)*
            #marker
        }
    }
}

/// `Default`: every layer's default value with the settings declared for it
/// (`drop: Dropout(0.2)`), so that `new`, which starts from it, keeps them too. Bounded by
/// each layer type that mentions a type parameter, as the types hold.
fn default_impl(g: &Graph) -> TokenStream {
    let ident = &g.ident;
    let (impl_g, ty_g, _) = g.generics.split_for_impl();
    let mut where_clause = g.generics.where_clause.clone().unwrap_or_else(|| syn::parse_quote!(where));
    let params: Vec<&Ident> = g.generics.type_params().map(|p| &p.ident).collect();
    let mut fields = Vec::new();
    for l in &g.layers {
        let (name, ty) = (&l.name, &l.ty);
        if params.iter().any(|p| mentions(ty, p)) {
            where_clause.predicates.push(syn::parse_quote!(#ty: ::core::default::Default));
        }
        let value = super::config::construct(l);
        fields.push(quote!(#name: #value));
    }
    let t = &g.scalar;
    if !g.layers.iter().any(|l| mentions(&l.ty, t)) {
        fields.push(quote!(__scalar: ::core::marker::PhantomData));
    }
    quote! {
        #[automatically_derived]
        impl #impl_g ::core::default::Default for #ident #ty_g #where_clause {
            /// Every layer's default, with the settings the declaration gives it.
            fn default() -> Self {
                Self { #(#fields,)* }
            }
        }
    }
}

/// Whether `ty`'s tokens name the identifier `t`.
fn mentions(ty: &syn::Type, t: &Ident) -> bool {
    mentions_any(&ty.to_token_stream(), &[t.to_string()])
}

/// What the generated code requires of each layer: a `Layer` (or `Merge`) between the
/// shapes the macro computed, spanned on the user's layer so that an unmet bound (a
/// generic network instantiated with mismatched dimensions) points at it.
fn bounds(g: &Graph, p: &Paths) -> Vec<TokenStream> {
    let core = &p.core;
    let t = &g.scalar;
    let mut out: Vec<TokenStream> = Vec::new();
    let mut push = |b: TokenStream| {
        if !out.iter().any(|o| o.to_string() == b.to_string()) {
            out.push(b);
        }
    };
    for n in live(g) {
        let Op::Apply(l) = g.nodes[n].op else { continue };
        let layer = &g.layers[l];
        let ty = &layer.ty;
        let span = layer.written.span();
        let out_ty = g.shape(n).ty(core);
        let ins: Vec<_> = (0..g.nodes[n].args.len()).map(|i| g.input_shape(n, i).ty(core)).collect();
        if layer.kind.is_merge() {
            let (a, b) = (&ins[0], &ins[1]);
            push(respan(quote!(#ty: #core::module::Merge<#t, #a, #b, #out_ty>), span));
        } else {
            let a = &ins[0];
            if layer.kind == Kind::Custom {
                push(respan(quote!(#ty: #core::module::OutputShape<#a>), span));
            }
            // A fused node's shape is its producer's: the same `Layer` bound.
            let tr = pass_trait(layer.kind == Kind::Custom, core);
            push(respan(quote!(#ty: #tr<#t, #a, #out_ty>), span));
        }
        // A fused activation's `Activation` is not a bound: the built-in activations are
        // not generic, so it would be a predicate without parameters, true for them, and for
        // a layer of the user's own named like one, an error in every item carrying it. The
        // generated bodies require it where they call it.
    }
    out
}

/// The trait a node's layer is called through: `Layer` for the built-in layers (fusion and
/// the fast paths live there), `Block` for any other (a nested network, or a layer of the
/// user's own through `Block`'s impl for every `Layer`).
pub(super) fn pass_trait(custom: bool, core: &TokenStream) -> TokenStream {
    if custom {
        quote!(#core::block::Block)
    } else {
        quote!(#core::module::Layer)
    }
}

/// Every token of `ts` (and of its groups) at `span`: the compiler points at a predicate
/// through the span from its first token to its last, which falls back to the whole macro
/// call when they come from different places (the user's layer, the macro's paths).
/// Resolution is unchanged: the user's tokens and `Span::call_site()` both resolve at the
/// call site.
pub(super) fn respan(ts: TokenStream, span: Span) -> TokenStream {
    ts.into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut inner = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                inner.set_span(span);
                tt = proc_macro2::TokenTree::Group(inner);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// The macro knows layers by name: a layer it treats as built-in must be one. Checked
/// once, where the network is defined, before any other bound: the argument types of a
/// function that is never called, each spanned on the user's layer, are well-formed only
/// when the layer implements `BuiltinLayer`.
fn builtin_check(g: &Graph, p: &Paths) -> TokenStream {
    let core = &p.core;
    let args: Vec<TokenStream> = g
        .layers
        .iter()
        .filter(|l| l.kind != Kind::Custom)
        .map(|l| {
            let ty = &l.ty;
            respan(quote!(__IsBuiltin<#ty>), l.written.span())
        })
        .collect();
    if args.is_empty() {
        return TokenStream::new();
    }
    let (impl_g, _, user_where) = g.generics.split_for_impl();
    quote! {
        const _: () = {
            struct __IsBuiltin<__L: #core::module::BuiltinLayer>(::core::marker::PhantomData<__L>);
            #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
            fn __builtin_layers #impl_g (#(_: #args),*) #user_where {}
        };
    }
}

/// Buffer field names.
pub(super) fn act_field(g: &Graph, n: NodeId) -> Ident {
    format_ident!("__a_{}", g.nodes[n].name)
}
pub(super) fn grad_field(g: &Graph, n: NodeId) -> Ident {
    format_ident!("__g_{}", g.nodes[n].name)
}
pub(super) fn cache_field(g: &Graph, n: NodeId) -> Ident {
    format_ident!("__c_{}", g.nodes[n].name)
}

/// `&__st.__a_n` (or the input slice).
fn buf(g: &Graph, n: NodeId, state_ref: bool) -> TokenStream {
    let f = act_field(g, n);
    if state_ref {
        quote!(&__st.#f)
    } else {
        quote!(__st.#f)
    }
}

/// The values read from node `a`: the input slice or a buffer.
fn read(g: &Graph, p: &Paths, a: NodeId) -> TokenStream {
    let core = &p.core;
    let r = g.resolve(a);
    if r == 0 {
        quote!(__x)
    } else {
        let f = act_field(g, r);
        quote!(#core::storage::Buffer::as_slice(&__st.#f))
    }
}

/// The generics of the state: the network's, without defaults, plus the storage.
pub(super) fn state_generics(generics: &Generics, storage: TokenStream) -> Generics {
    let mut g = generics.clone();
    for param in g.params.iter_mut() {
        if let GenericParam::Type(t) = param {
            t.eq_token = None;
            t.default = None;
        }
        if let GenericParam::Const(c) = param {
            c.eq_token = None;
            c.default = None;
        }
    }
    g.params.push(syn::parse2(storage).expect("a generic parameter"));
    g
}

/// The arguments naming the state type: the network's parameters, then the storage.
pub(super) fn state_type_args(generics: &Generics, storage: TokenStream) -> TokenStream {
    let args = generics.params.iter().map(|param| match param {
        GenericParam::Type(t) => t.ident.to_token_stream(),
        GenericParam::Const(c) => c.ident.to_token_stream(),
        GenericParam::Lifetime(l) => l.lifetime.to_token_stream(),
    });
    quote!(#(#args,)* #storage)
}

fn state_def(
    g: &Graph,
    p: &Paths,
    state_ident: &Ident,
    bounds: &[TokenStream],
    live: &[NodeId],
) -> (TokenStream, TokenStream) {
    let core = &p.core;
    let t = &g.scalar;
    let vis = &g.vis;
    let storage = quote!(__S: #core::storage::Storage);
    let generics = state_generics(&g.generics, storage);
    let (impl_g, ty_g, _) = generics.split_for_impl();
    let mut where_clause = g.generics.where_clause.clone().unwrap_or_else(|| syn::parse_quote!(where));
    for b in bounds {
        where_clause.predicates.push(syn::parse2(b.clone()).expect("bounds are predicates"));
    }

    let mut fields = Vec::new();
    let mut inits = Vec::new();
    let mut add_buf = |name: Ident, shape: TokenStream| {
        fields.push(quote!(#name: <__S as #core::storage::Storage>::Buf<#t, #shape>));
        inits.push(quote!(#name: #core::storage::Buffer::new()));
    };
    add_buf(grad_field(g, 0), g.shape(0).ty(core));
    for &n in live {
        let shape = g.shape(n).ty(core);
        add_buf(act_field(g, n), shape.clone());
        add_buf(grad_field(g, n), shape);
    }
    for &n in live {
        let Op::Apply(l) = g.nodes[n].op else { continue };
        let layer = &g.layers[l];
        if layer.kind.is_merge() {
            continue;
        }
        let (ty, name) = (&layer.ty, cache_field(g, n));
        let (a, o) = (g.input_shape(n, 0).ty(core), g.shape(n).ty(core));
        if layer.kind == Kind::Custom {
            // A block (a nested network) keeps batch-sized state in this storage.
            fields.push(quote!(#name: <#ty as #core::block::Block<#t, #a, #o>>::State<__S>));
            inits.push(quote!(#name: <#ty as #core::block::Block<#t, #a, #o>>::state::<__S>()));
        } else {
            fields.push(quote!(#name: <#ty as #core::module::Layer<#t, #a, #o>>::Cache));
            inits.push(quote!(#name: ::core::default::Default::default()));
        }
    }

    let doc = format!(
        "Buffers for every node of [`{}`]: activations, their gradients and what backward needs, for batches \
         held by the storage `__S` (`Heap`, or `Fixed<CAP>` for programs without an allocator).",
        g.ident
    );
    let mut accessors = Vec::new();
    for &o in &g.outputs {
        let name = &g.nodes[o].name;
        if ["new", "output", "input_grad"].contains(&name.to_string().as_str()) {
            continue;
        }
        let f = act_field(g, g.resolve(o));
        let d = format!("The output `{name}` of the last forward.");
        accessors.push(quote! {
            #[doc = #d]
            pub fn #name(&self) -> &[#t] {
                #core::storage::Buffer::as_slice(&self.#f)
            }
        });
    }
    let primary = act_field(g, g.resolve(g.outputs[0]));
    let input_grad = grad_field(g, 0);
    let scratch: Vec<TokenStream> = live
        .iter()
        .filter_map(|&n| {
            let Op::Apply(l) = g.nodes[n].op else { return None };
            let layer = &g.layers[l];
            if layer.kind.is_merge() {
                return None;
            }
            let (ty, a, o) = (&layer.ty, g.input_shape(n, 0).ty(core), g.shape(n).ty(core));
            let tr = pass_trait(layer.kind == Kind::Custom, core);
            Some(quote!(<#ty as #tr<#t, #a, #o>>::SCRATCH))
        })
        .collect();
    // Checks on computed sizes, and `Fixed` storage refused for them, when the network is
    // built (`super::built`).
    let fixed = super::built::fixed_check(g, core, live);
    let net_args = state_type_args(&g.generics, TokenStream::new());
    let ident = &g.ident;
    let shapes = if super::built::shapes_const(g, core).1.is_empty() {
        TokenStream::new()
    } else {
        respan(quote!(let () = #ident::<#net_args>::__SHAPES;), ident.span())
    };
    let def = quote! {
        #[doc = #doc]
        #vis struct #state_ident #generics #where_clause {
            __pack: <__S as #core::storage::Storage>::Pack<#t>,
            __batch: ::core::primitive::usize,
            /// Whether the buffers hold a complete training forward.
            __trained: bool,
            /// The fingerprint of that forward's input, which backward must be given again.
            __input: ::core::primitive::u64,
            #(#fields,)*
        }
    };
    let impls = quote! {
        #[automatically_derived]
        impl #impl_g #state_ident #ty_g #where_clause {
            /// Empty buffers.
            pub fn new() -> Self {
                #shapes
                #fixed
                Self {
                    __pack: <__S as #core::storage::Storage>::pack::<#t>(
                        #core::kernels::gemm::PACK_LEN + #core::summary::max_of(&[#(#scratch),*]),
                    ),
                    __batch: 0,
                    __trained: false,
                    __input: 0,
                    #(#inits,)*
                }
            }

            /// The primary output of the last forward.
            pub fn output(&self) -> &[#t] {
                #core::storage::Buffer::as_slice(&self.#primary)
            }

            /// `∂L/∂x` from the last `backward_input`.
            pub fn input_grad(&self) -> &[#t] {
                #core::storage::Buffer::as_slice(&self.#input_grad)
            }

            #(#accessors)*
        }

        #[automatically_derived]
        impl #impl_g ::core::default::Default for #state_ident #ty_g #where_clause {
            fn default() -> Self {
                Self::new()
            }
        }
    };
    (def, impls)
}

/// One statement per node, in topological order, after the input checks of the layers
/// that read the network's input.
pub(super) fn forward_body(g: &Graph, p: &Paths, nodes: &[NodeId], train: bool) -> TokenStream {
    let core = &p.core;
    let t = &g.scalar;
    let mut out = TokenStream::new();
    for &n in nodes {
        let Op::Apply(l) = g.nodes[n].op else { continue };
        let layer = &g.layers[l];
        if layer.kind.is_merge() || g.resolve(g.nodes[n].args[0]) != 0 {
            continue;
        }
        let (ty, field) = (&layer.ty, &layer.name);
        let (a, o) = (g.input_shape(n, 0).ty(core), g.shape(n).ty(core));
        let tr = pass_trait(layer.kind == Kind::Custom, core);
        out.extend(quote!(<#ty as #tr<#t, #a, #o>>::check_input(&self.#field, __x)?;));
    }
    for &n in nodes {
        let Op::Apply(l) = g.nodes[n].op else { continue };
        let layer = &g.layers[l];
        let (ty, field) = (&layer.ty, &layer.name);
        let af = act_field(g, n);
        let what_buf = format!("`{}` node `{}`", g.ident, g.nodes[n].name);
        let y = quote!(#core::storage::Buffer::as_mut_slice(&mut __st.#af));
        let out_ty = g.shape(n).ty(core);
        let args = &g.nodes[n].args;
        let stmt = if layer.kind.is_merge() {
            let (a, b) = (read(g, p, args[0]), read(g, p, args[1]));
            let (sa, sb) = (g.input_shape(n, 0).ty(core), g.input_shape(n, 1).ty(core));
            quote!(<#ty as #core::module::Merge<#t, #sa, #sb, #out_ty>>::forward(&self.#field, #a, #b, #y);)
        } else if layer.kind == Kind::Custom {
            let x = read(g, p, args[0]);
            let in_ty = g.input_shape(n, 0).ty(core);
            let tr = quote!(<#ty as #core::block::Block<#t, #in_ty, #out_ty>>);
            let cf = cache_field(g, n);
            if train {
                quote!(#tr::forward_train::<__S>(&mut self.#field, #x, #y, &mut __st.#cf, &mut __ctx)?;)
            } else {
                quote!(#tr::forward::<__S>(&self.#field, #x, #y, &mut __st.#cf, &mut __ctx)?;)
            }
        } else {
            let x = read(g, p, args[0]);
            let in_ty = g.input_shape(n, 0).ty(core);
            let tr = quote!(<#ty as #core::module::Layer<#t, #in_ty, #out_ty>>);
            let cf = cache_field(g, n);
            match (g.nodes[n].fused, train) {
                (None, false) => quote!(#tr::forward(&self.#field, #x, #y, &mut __ctx);),
                (None, true) => quote!(#tr::forward_train(&mut self.#field, #x, #y, &mut __st.#cf, &mut __ctx);),
                (Some(a), false) => {
                    let op = act_op(g, p, a, quote!(self));
                    quote!(#tr::forward_fused(&self.#field, #x, #y, #op, &mut __ctx);)
                }
                (Some(a), true) => {
                    let op = act_op(g, p, a, quote!(self));
                    quote!(#tr::forward_train_fused(&mut self.#field, #x, #y, &mut __st.#cf, #op, &mut __ctx);)
                }
            }
        };
        out.extend(quote! {
            #core::network::prepare(&mut __st.#af, __batch, #what_buf)?;
            #stmt
        });
    }
    out
}

/// `Activation::op(&net.act)` for the fused activation layer `a`, spanned on the user's
/// layer: a layer of the user's own named like a built-in activation fails here, and the
/// error points at it.
fn act_op(g: &Graph, p: &Paths, a: usize, net: TokenStream) -> TokenStream {
    let core = &p.core;
    let layer = &g.layers[a];
    let act = &layer.name;
    respan(quote!(#core::module::Activation::op(&#net.#act)), layer.written.span())
}

/// Whether a node's gradient matters only for `∂L/∂x` (no parameter before it).
fn only_for_input(g: &Graph) -> Vec<bool> {
    let mut only = vec![true; g.nodes.len()];
    for &n in &g.order {
        if let Op::Apply(l) = g.nodes[n].op {
            let params = g.layers[l].kind.has_params();
            only[n] = !params && g.nodes[n].args.iter().all(|&a| only[g.resolve(a)]);
        }
    }
    only
}

fn backward_fn(
    g: &Graph,
    p: &Paths,
    state_ty: &TokenStream,
    live: &[NodeId],
    where_clause: &syn::WhereClause,
) -> TokenStream {
    let core = &p.core;
    let t = &g.scalar;
    let k = g.outputs.len();
    let only = only_for_input(g);
    let in_ty = g.shape(0).ty(core);
    let what_input = format!("`{}` input", g.ident);
    let what_net = format!("`{}`", g.ident);
    let gate = |n: NodeId, body: TokenStream| if only[n] { quote!(if __DX { #body }) } else { body };

    let mut zero = TokenStream::new();
    let g0 = grad_field(g, 0);
    let what_g0 = format!("`{}` gradient of its input", g.ident);
    zero.extend(gate(
        0,
        quote!(<[#t]>::fill(#core::network::prepare(&mut __st.#g0, __batch, #what_g0)?, <#t as #core::Scalar>::ZERO);),
    ));
    for &n in live {
        let gf = grad_field(g, n);
        let what_g = format!("`{}` gradient of node `{}`", g.ident, g.nodes[n].name);
        zero.extend(gate(
            n,
            quote!(<[#t]>::fill(#core::network::prepare(&mut __st.#gf, __batch, #what_g)?, <#t as #core::Scalar>::ZERO);),
        ));
    }

    let mut seed = TokenStream::new();
    for (i, &o) in g.outputs.iter().enumerate() {
        let r = g.resolve(o);
        let gf = grad_field(g, r);
        let o_ty = g.shape(r).ty(core);
        let what = format!("gradient of `{}`", g.nodes[o].name);
        // The primary output's gradient is required; an empty slice for another output
        // means that output has no loss.
        let skip_empty = if i == 0 { quote!(true) } else { quote!(!__dys[#i].is_empty()) };
        seed.extend(quote! {
            if #skip_empty {
                #core::network::expect_batch::<#o_ty>(#what, __dys[#i].len(), __batch)?;
                for (__g, __d) in ::core::iter::Iterator::zip(
                    <[#t]>::iter_mut(#core::storage::Buffer::as_mut_slice(&mut __st.#gf)),
                    <[#t]>::iter(__dys[#i]),
                ) {
                    *__g += *__d;
                }
            }
        });
    }

    // `Some(∂L/∂a)` where a's gradient is wanted.
    let dx = |a: NodeId| -> TokenStream {
        let r = g.resolve(a);
        let gf = grad_field(g, r);
        let some = quote!(::core::option::Option::Some(#core::storage::Buffer::as_mut_slice(&mut __st.#gf)));
        if only[r] {
            quote!(if __DX { #some } else { ::core::option::Option::None })
        } else {
            some
        }
    };

    // Layers applied by more than one node (shared weights): their gradient sums over the
    // uses, so the fused step runs them through `grad` and updates them after the pass.
    let uses = |l: usize| live.iter().filter(|&&n| matches!(g.nodes[n].op, Op::Apply(m) if m == l)).count();
    // With `sgd`, the statements of the fused SGD pass (`__backward_sgd`): a layer of its
    // own, neither a merge nor a nested network, updates inside its backward where it has
    // a fused form (`Layer::FUSED_SGD`), else through its zeroed gradient right after it.
    let steps_for = |sgd: bool| -> TokenStream {
        let mut steps = TokenStream::new();
        for &n in live.iter().rev() {
            let Op::Apply(l) = g.nodes[n].op else { continue };
            let layer = &g.layers[l];
            let (ty, field) = (&layer.ty, &layer.name);
            let (af, gf) = (act_field(g, n), grad_field(g, n));
            let out_ty = g.shape(n).ty(core);
            let args = &g.nodes[n].args;
            let dy = quote!(#core::storage::Buffer::as_slice(&__st.#gf));
            let stmt = if layer.kind.is_merge() {
                let (a, b) = (read(g, p, args[0]), read(g, p, args[1]));
                let (sa, sb) = (g.input_shape(n, 0).ty(core), g.input_shape(n, 1).ty(core));
                let tr = quote!(<#ty as #core::module::Merge<#t, #sa, #sb, #out_ty>>);
                let none = quote!(::core::option::Option::None);
                if g.resolve(args[0]) == g.resolve(args[1]) {
                    // The same node twice: its two gradients in two calls, one buffer each time.
                    let (da, db) = (dx(args[0]), dx(args[1]));
                    quote! {
                        #tr::backward(&__net.#field, #a, #b, #dy, #da, #none);
                        #tr::backward(&__net.#field, #a, #b, #dy, #none, #db);
                    }
                } else {
                    let (da, db) = (dx(args[0]), dx(args[1]));
                    quote!(#tr::backward(&__net.#field, #a, #b, #dy, #da, #db);)
                }
            } else if layer.kind == Kind::Custom {
                let x = read(g, p, args[0]);
                let in_ty = g.input_shape(n, 0).ty(core);
                let tr = quote!(<#ty as #core::block::Block<#t, #in_ty, #out_ty>>);
                let cf = cache_field(g, n);
                let d = dx(args[0]);
                quote! {
                    #tr::backward::<__S>(
                        &__net.#field,
                        #x,
                        #core::storage::Buffer::as_slice(&__st.#af),
                        &mut __st.#cf,
                        #dy,
                        #d,
                        &mut __grad.#field,
                        &mut __ctx,
                    )?;
                }
            } else {
                let x = read(g, p, args[0]);
                let in_ty = g.input_shape(n, 0).ty(core);
                let tr = quote!(<#ty as #core::module::Layer<#t, #in_ty, #out_ty>>);
                let cf = cache_field(g, n);
                let d = dx(args[0]);
                let unfuse = g.nodes[n].fused.map(|a| {
                    let op = act_op(g, p, a, quote!(__net));
                    quote! {
                        #core::ops::unary::backward_in_place(
                            #op,
                            #core::storage::Buffer::as_slice(&__st.#af),
                            #core::storage::Buffer::as_mut_slice(&mut __st.#gf),
                        );
                    }
                });
                let plain = quote! {
                    #tr::backward(
                        &__net.#field,
                        #x,
                        #core::storage::Buffer::as_slice(&__st.#af),
                        &__st.#cf,
                        #dy,
                        #d,
                        &mut __grad.#field,
                        &mut __ctx,
                    );
                };
                if sgd && uses(l) == 1 && layer.kind.has_params() {
                    let m = quote!(<#ty as #core::module::Module<#t>>);
                    quote! {
                        #unfuse
                        if #tr::FUSED_SGD {
                            #tr::backward_sgd(
                                &mut __net.#field,
                                #x,
                                #core::storage::Buffer::as_slice(&__st.#af),
                                &__st.#cf,
                                #dy,
                                #d,
                                __lr,
                                &mut __ctx,
                            );
                        } else {
                            #m::zero(&mut __grad.#field);
                            #plain
                            #core::module::sgd_update(&mut __net.#field, &__grad.#field, __lr);
                        }
                    }
                } else {
                    quote! {
                        #unfuse
                        #plain
                    }
                }
            };
            steps.extend(gate(n, stmt));
        }
        steps
    };
    let steps = steps_for(false);
    let sgd_steps = steps_for(true);
    // The layers the fused pass runs through `grad`: shared ones, merges and nested
    // networks. Zeroed before it, updated after it.
    let (mut sgd_zero, mut sgd_after) = (TokenStream::new(), TokenStream::new());
    for (l, layer) in g.layers.iter().enumerate() {
        let through_grad = layer.kind.is_merge() || layer.kind == Kind::Custom || uses(l) > 1;
        if uses(l) == 0 || !layer.kind.has_params() || !through_grad {
            continue;
        }
        let (ty, field) = (&layer.ty, &layer.name);
        sgd_zero.extend(quote!(<#ty as #core::module::Module<#t>>::zero(&mut __grad.#field);));
        sgd_after.extend(quote!(#core::module::sgd_update(&mut __net.#field, &__grad.#field, __lr);));
    }

    let ident = &g.ident;
    let mut generics = state_generics(&g.generics, quote!(__S: #core::storage::Storage));
    generics.params.push(syn::parse_quote!(const __DX: bool));
    let (fn_g, _, _) = generics.split_for_impl();
    let (_, net_ty_g, _) = g.generics.split_for_impl();
    let sgd_fn = if fuses_sgd(g) {
        quote! {
        /// `__backward` with plain SGD (`θ ← θ - lr · ∂L/∂θ`) run inside it: every check
        /// comes first, so an error leaves the network unchanged.
        #[allow(clippy::too_many_arguments)]
        fn __backward_sgd #fn_g (
            __net: &mut #ident #net_ty_g,
            __x: &[#t],
            __dys: [&[#t]; #k],
            __lr: #t,
            __grad: &mut #ident #net_ty_g,
            __st: &mut #state_ty,
        ) -> ::core::result::Result<(), #core::ShapeError> #where_clause {
            if !__st.__trained {
                return ::core::result::Result::Err(#core::ShapeError::NoTrainingForward { what: #what_net });
            }
            let __batch = __st.__batch;
            #core::network::expect_batch::<#in_ty>(#what_input, __x.len(), __batch)?;
            if #core::network::fingerprint(__x) != __st.__input {
                return ::core::result::Result::Err(#core::ShapeError::InputChanged { what: #what_net });
            }
            #zero
            #seed
            #sgd_zero
            let mut __ctx = #core::module::Ctx::new(::core::convert::AsMut::as_mut(&mut __st.__pack));
            #sgd_steps
            #sgd_after
            ::core::result::Result::Ok(())
        }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        /// Backward through every node in reverse topological order; with `__DX`, also
        /// the gradient with respect to the input.
        fn __backward #fn_g (
            __net: &#ident #net_ty_g,
            __x: &[#t],
            __dys: [&[#t]; #k],
            __grad: &mut #ident #net_ty_g,
            __st: &mut #state_ty,
        ) -> ::core::result::Result<(), #core::ShapeError> #where_clause {
            if !__st.__trained {
                return ::core::result::Result::Err(#core::ShapeError::NoTrainingForward { what: #what_net });
            }
            let __batch = __st.__batch;
            #core::network::expect_batch::<#in_ty>(#what_input, __x.len(), __batch)?;
            if #core::network::fingerprint(__x) != __st.__input {
                return ::core::result::Result::Err(#core::ShapeError::InputChanged { what: #what_net });
            }
            #zero
            #seed
            let mut __ctx = #core::module::Ctx::new(::core::convert::AsMut::as_mut(&mut __st.__pack));
            #steps
            ::core::result::Result::Ok(())
        }

        #sgd_fn
    }
}

/// Whether `network!` may generate the fused SGD pass: not when a field carries
/// `#[module(...)]` (a frozen or skipped layer is updated only as the derive visits it),
/// so those networks keep `Network::backward_sgd`'s default.
pub(super) fn fuses_sgd(g: &Graph) -> bool {
    !g.layers.iter().any(|l| l.attrs.iter().any(|a| a.path().is_ident("module")))
}

/// `MACS`, `ACTIVATION_BYTES` and `PEAK_ACTIVATION_BYTES` of the primary output's
/// inference forward.
fn consts(g: &Graph, p: &Paths) -> TokenStream {
    let core = &p.core;
    let t = &g.scalar;
    let nodes = needed(g, &g.outputs[..1]);
    let mut macs = vec![quote!(0)];
    for &n in &nodes {
        let Op::Apply(l) = g.nodes[n].op else { continue };
        let layer = &g.layers[l];
        if layer.kind.is_merge() {
            continue;
        }
        let ty = &layer.ty;
        let (a, o) = (g.input_shape(n, 0).ty(core), g.shape(n).ty(core));
        let tr = pass_trait(layer.kind == Kind::Custom, core);
        macs.push(quote!(<#ty as #tr<#t, #a, #o>>::MACS));
    }
    let size = quote!(::core::mem::size_of::<#t>());
    let bytes = |n: NodeId| {
        let numel = g.shape(n).numel(core);
        quote!(#numel * #size)
    };
    let all: Vec<_> = nodes.iter().map(|&n| bytes(n)).collect();

    // Liveness: after computing node i, every earlier node still read later (or an output)
    // is alive, and so is node i.
    let primary = g.resolve(g.outputs[0]);
    let last_use = |n: NodeId| -> usize {
        let mut last = nodes.iter().position(|&m| m == n).unwrap_or(0);
        for (i, &m) in nodes.iter().enumerate() {
            if g.nodes[m].args.iter().any(|&a| g.resolve(a) == n) {
                last = last.max(i);
            }
        }
        if n == primary {
            usize::MAX
        } else {
            last
        }
    };
    let mut steps = Vec::new();
    for (i, _) in nodes.iter().enumerate() {
        let alive: Vec<_> =
            nodes.iter().enumerate().filter(|&(j, &m)| j <= i && last_use(m) >= i).map(|(_, &m)| bytes(m)).collect();
        steps.push(quote!(0 #(+ #alive)*));
    }
    quote! {
        const MACS: ::core::primitive::usize = #(#macs)+*;
        const ACTIVATION_BYTES: ::core::primitive::usize = 0 #(+ #all)*;
        const PEAK_ACTIVATION_BYTES: ::core::primitive::usize = #core::summary::max_of(&[#(#steps),*]);
    }
}

fn summary_fn(g: &Graph, p: &Paths) -> TokenStream {
    let core = &p.core;
    let t = &g.scalar;
    let rows = summary_rows(g, p);
    let name = g.ident.to_string();
    let net = quote!(<Self as #core::network::Network<#t>>);
    quote! {
        #core::summary::Summary {
            name: #name,
            rows: const { #rows },
            params: <Self as #core::module::Module<#t>>::PARAMS,
            param_bytes: #net::PARAM_BYTES,
            macs: #net::MACS,
            activation_bytes: #net::ACTIVATION_BYTES,
            peak_activation_bytes: #net::PEAK_ACTIVATION_BYTES,
        }
    }
}

/// The summary's rows, as a `&[SummaryRow]` expression.
fn summary_rows(g: &Graph, p: &Paths) -> TokenStream {
    let core = &p.core;
    let t = &g.scalar;
    let mut rows = Vec::new();
    let input = g.nodes[0].name.to_string();
    let in_ty = g.shape(0).ty(core);
    rows.push(quote!(#core::summary::SummaryRow {
        node: #input, layer: "input", shape: <#in_ty as #core::shape::Shape>::DIMS, params: 0, macs: 0, inner: &[],
        algorithm: "",
    }));
    // FLOPs of the primary output's inference, as the totals count them.
    let live = needed(g, &g.outputs[..1]);
    for &n in g.order.iter().skip(1) {
        let Op::Apply(l) = g.nodes[n].op else { continue };
        let layer = &g.layers[l];
        let name = g.nodes[n].name.to_string();
        let declares = layer.name == g.nodes[n].name;
        let text = if declares {
            written(&layer.written) + &super::config::describe(layer)
        } else {
            format!("= {}", layer.name)
        };
        let ty = &layer.ty;
        let shape = g.shape(n).ty(core);
        let params = if declares { quote!(<#ty as #core::module::Module<#t>>::PARAMS) } else { quote!(0) };
        let computed = live.contains(&n) && !layer.kind.is_merge();
        let macs = if computed {
            let a = g.input_shape(n, 0).ty(core);
            let tr = pass_trait(layer.kind == Kind::Custom, core);
            quote!(<#ty as #tr<#t, #a, #shape>>::MACS)
        } else {
            quote!(0)
        };
        // How a built-in layer computes (a convolution's algorithm), as it says.
        let algorithm = if computed && layer.kind != Kind::Custom {
            let a = g.input_shape(n, 0).ty(core);
            quote!(<#ty as #core::module::Layer<#t, #a, #shape>>::ALGORITHM)
        } else {
            quote!("")
        };
        let inner = if layer.kind == Kind::Custom && declares && !layer.kind.is_merge() {
            let a = g.input_shape(n, 0).ty(core);
            quote!(<#ty as #core::block::Block<#t, #a, #shape>>::ROWS)
        } else {
            quote!(&[])
        };
        rows.push(quote!(#core::summary::SummaryRow {
            node: #name, layer: #text, shape: <#shape as #core::shape::Shape>::DIMS, params: #params, macs: #macs,
            inner: #inner, algorithm: #algorithm,
        }));
    }
    quote!(&[#(#rows),*])
}

/// `Net::PARAM_BYTES` and friends without naming the scalar, for the default `f32`: a
/// constant in a generic impl could not be reached as `Net::X` (the scalar would be
/// uninferred), one in an impl for `f32` can.
fn f32_consts(g: &Graph, p: &Paths, boxed: &TokenStream, extra: &TokenStream) -> TokenStream {
    if !g.scalar_added {
        return TokenStream::new();
    }
    let core = &p.core;
    let ident = &g.ident;
    let mut generics = g.generics.clone();
    generics.params =
        generics.params.into_iter().filter(|p| !matches!(p, GenericParam::Type(t) if t.ident == g.scalar)).collect();
    let (impl_g, _, _) = generics.split_for_impl();
    let args = g.generics.params.iter().map(|param| match param {
        GenericParam::Type(t) if t.ident == g.scalar => quote!(f32),
        GenericParam::Type(t) => t.ident.to_token_stream(),
        GenericParam::Const(c) => c.ident.to_token_stream(),
        GenericParam::Lifetime(l) => l.lifetime.to_token_stream(),
    });
    let net = quote!(<Self as #core::network::Network<f32>>);
    let span = Span::call_site();
    quote_spanned! {span=>
        #[automatically_derived]
        impl #impl_g #ident<#(#args),*> where Self: #core::network::Network<f32> {
            /// Parameters in all (trainable and frozen).
            pub const PARAMS: ::core::primitive::usize = <Self as #core::module::Module<f32>>::PARAMS;
            /// Bytes of parameters, for a device's budget: `const _: () = assert!(Net::PARAM_BYTES <= 64 * 1024);`
            pub const PARAM_BYTES: ::core::primitive::usize = #net::PARAM_BYTES;
            /// Multiply-accumulates per sample of the inference forward.
            pub const MACS: ::core::primitive::usize = #net::MACS;
            /// Bytes of every node's output for one sample, summed.
            pub const ACTIVATION_BYTES: ::core::primitive::usize = #net::ACTIVATION_BYTES;
            /// The most bytes of node outputs alive at once for one sample, in inference.
            pub const PEAK_ACTIVATION_BYTES: ::core::primitive::usize = #net::PEAK_ACTIVATION_BYTES;
            #extra

            /// The nodes, their output shapes, parameters and FLOPs, with totals.
            pub fn summary() -> #core::summary::Summary {
                #net::summary()
            }

            /// A network with every layer initialised from `rng` (PyTorch's default
            /// initialisation for each layer), in `f32`: `Net::new(&mut rng)` needs no
            /// annotation. Other scalars: `Net::<f64>::new(&mut rng)`, through `Network`.
            pub fn new(rng: &mut #core::rng::Rng) -> Self {
                #net::new(rng)
            }

            #boxed
        }
    }
}

/// The declared settings of a boxed network's layers, written into it in place: the
/// values `Default` would give them.
fn boxed_settings(g: &Graph) -> TokenStream {
    let sets = g.layers.iter().filter(|l| l.config.is_some()).map(|l| {
        let (name, value) = (&l.name, super::config::construct(l));
        quote!(__net.#name = #value;)
    });
    quote!({ #(#sets)* })
}

/// `Block` for the network at each scalar the library has: `f32`, `f64` and dual numbers
/// over any scalar. Never for the bare scalar parameter: `Block` is implemented for every
/// `Layer`, and coherence accepts this impl beside that one only where no other crate
/// could make the network a `Layer` of the same types; a crate downstream could for a
/// scalar type of its own.
fn block_impls(g: &Graph, p: &Paths, in_ty: &TokenStream, out_ty: &TokenStream, bounds: &[TokenStream]) -> TokenStream {
    let core = &p.core;
    let ident = &g.ident;
    let t = &g.scalar;
    let state_ident = format_ident!("{}State", ident);
    let input_grad = grad_field(g, 0);
    let k = g.outputs.len();
    let mut out = TokenStream::new();
    let scalars: [(TokenStream, TokenStream); 3] = [
        (quote!(f32), TokenStream::new()),
        (quote!(f64), TokenStream::new()),
        (quote!(#core::Dual<__U, __K>), quote!(__U: #core::Scalar, const __K: ::core::primitive::usize,)),
    ];
    // Any input of each rank, for the same reason as `OutputShape`: the nesting network's
    // constant check reports a wrong input; this impl must not add a trait error to it.
    // (A generic network, whose dimensions no constant can read, meets the assertion in
    // the passes instead, when it is built.)
    let ranks: [(TokenStream, TokenStream); 3] = [
        (quote!(const __D0: ::core::primitive::usize,), quote!(#core::shape::Rank1<__D0>)),
        (
            quote!(const __D0: ::core::primitive::usize, const __D1: ::core::primitive::usize,),
            quote!(#core::shape::Rank2<__D0, __D1>),
        ),
        (
            quote!(
                const __D0: ::core::primitive::usize,
                const __D1: ::core::primitive::usize,
                const __D2: ::core::primitive::usize,
            ),
            quote!(#core::shape::Rank3<__D0, __D1, __D2>),
        ),
    ];
    let declared_in = in_ty;
    let what = format!("`{ident}` takes only the input it declares");
    for ((scalar, extra), (rank_g, given)) in
        scalars.iter().flat_map(|s| ranks.iter().map(move |r| (s.clone(), r.clone())))
    {
        let sub = |ts: TokenStream| substitute(ts, t, &scalar);
        let params: Vec<TokenStream> = g
            .generics
            .params
            .iter()
            .filter(|p| !matches!(p, GenericParam::Type(tp) if tp.ident == *t))
            .map(|p| match p {
                GenericParam::Type(tp) => {
                    let (i, b) = (&tp.ident, &tp.bounds);
                    quote!(#i: #b)
                }
                GenericParam::Const(c) => {
                    let (i, ty) = (&c.ident, &c.ty);
                    quote!(const #i: #ty)
                }
                GenericParam::Lifetime(l) => {
                    let l = &l.lifetime;
                    quote!(#l)
                }
            })
            .collect();
        let args: Vec<TokenStream> = g
            .generics
            .params
            .iter()
            .map(|p| match p {
                GenericParam::Type(tp) if tp.ident == *t => scalar.clone(),
                GenericParam::Type(tp) => tp.ident.to_token_stream(),
                GenericParam::Const(c) => c.ident.to_token_stream(),
                GenericParam::Lifetime(l) => l.lifetime.to_token_stream(),
            })
            .collect();
        // `for<'__b>`: a bound with no parameter left (a nested `Blk` at `f32` inside this
        // network at `f64`) is then not an error of its own, only an impl that never applies.
        let mut preds: Vec<TokenStream> = bounds.iter().map(|b| sub(b.clone())).map(|b| quote!(for<'__b> #b)).collect();
        if let Some(w) = &g.generics.where_clause {
            preds.extend(w.predicates.iter().map(|p| sub(p.to_token_stream())));
        }
        let (declared, out_ty) = (sub(declared_in.clone()), sub(out_ty.clone()));
        let rows = sub(summary_rows(g, p));
        let in_ty = given;
        let assert_input = quote! {
            const {
                ::core::assert!(
                    #core::shape::check::same_dims(
                        <#in_ty as #core::shape::Shape>::DIMS,
                        <#declared as #core::shape::Shape>::DIMS,
                    ),
                    #what,
                )
            };
        };
        let empties: Vec<TokenStream> = (1..k).map(|_| quote!(&[])).collect();
        out.extend(quote! {
            #[automatically_derived]
            impl<#extra #rank_g #(#params,)*> #core::block::Block<#scalar, #in_ty, #out_ty> for #ident<#(#args),*>
            where #(#preds,)*
            {
                type State<__S: #core::storage::Storage> = #state_ident<#(#args,)* __S>;
                const MACS: ::core::primitive::usize = <Self as #core::network::Network<#scalar>>::MACS;
                const ROWS: &'static [#core::summary::SummaryRow] = #rows;

                fn state<__S: #core::storage::Storage>() -> Self::State<__S> {
                    #state_ident::new()
                }

                fn forward<__S: #core::storage::Storage>(
                    &self,
                    __x: &[#scalar],
                    __y: &mut [#scalar],
                    __st: &mut Self::State<__S>,
                    _: &mut #core::module::Ctx<'_, #scalar>,
                ) -> ::core::result::Result<(), #core::ShapeError> {
                    #assert_input
                    let __out = <Self as #core::network::Network<#scalar>>::forward(self, __x, __st)?;
                    #core::network::copy_checked("nested network output", __y, __out)
                }

                fn forward_train<__S: #core::storage::Storage>(
                    &mut self,
                    __x: &[#scalar],
                    __y: &mut [#scalar],
                    __st: &mut Self::State<__S>,
                    _: &mut #core::module::Ctx<'_, #scalar>,
                ) -> ::core::result::Result<(), #core::ShapeError> {
                    #assert_input
                    let __out = <Self as #core::network::Network<#scalar>>::forward_train(self, __x, __st)?;
                    #core::network::copy_checked("nested network output", __y, __out)
                }

                fn backward<__S: #core::storage::Storage>(
                    &self,
                    __x: &[#scalar],
                    _: &[#scalar],
                    __st: &mut Self::State<__S>,
                    __dy: &[#scalar],
                    __dx: ::core::option::Option<&mut [#scalar]>,
                    __grad: &mut Self,
                    _: &mut #core::module::Ctx<'_, #scalar>,
                ) -> ::core::result::Result<(), #core::ShapeError> {
                    match __dx {
                        ::core::option::Option::None => {
                            __backward::<#(#args,)* __S, false>(self, __x, [__dy, #(#empties),*], __grad, __st)
                        }
                        ::core::option::Option::Some(__dx) => {
                            __backward::<#(#args,)* __S, true>(self, __x, [__dy, #(#empties),*], __grad, __st)?;
                            #core::network::add_checked(
                                "nested network input gradient",
                                __dx,
                                #core::storage::Buffer::as_slice(&__st.#input_grad),
                            )
                        }
                    }
                }
            }
        });
    }
    out
}

/// One constant item per check the macro left to the compiler: it evaluates during
/// `cargo check` and, when the check fails, stops with the macro's message, at the layer.
fn deferred_checks(g: &Graph, p: &Paths) -> TokenStream {
    let core = &p.core;
    let mut out = TokenStream::new();
    // Checks that mention a generic parameter wait for the build (`super::built`).
    for d in g.deferred.iter().filter(|d| !super::built::after_build(g, d)) {
        let ok = substitute(d.ok.clone(), &g.scalar, &quote!(f32));
        let parts = d.message.iter().map(|part| match part {
            Part::Text(s) => quote!(.text(#s)),
            Part::Num(e) => quote!(.num(#e)),
            Part::Dims(e) => quote!(.dims(#e)),
        });
        let parts: Vec<TokenStream> = parts.map(|p| substitute(p, &g.scalar, &quote!(f32))).collect();
        let span = d.span.clone().into_iter().next().map_or(Span::call_site(), |t| t.span());
        let item = quote! {
            const _: () = if !(#ok) {
                #core::shape::check::fail(&#core::shape::check::Msg::new() #(#parts)*);
            };
        };
        out.extend(respan(item, span));
    }
    out
}
