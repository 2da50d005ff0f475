//! States for programs without a heap: the training state as a constant in `Fixed`
//! storage (so that it can be a `static`), and an inference-only state, which holds the
//! outputs of the nodes the primary output needs and nothing for backward (no gradient
//! buffers, no caches), with `infer` to run it and `Net::RAM_BYTES` giving its size.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::{GenericParam, Ident};

use super::expand::{act_field, cache_field, forward_body, pass_trait, state_generics, state_type_args, Paths};
use super::model::{Graph, Kind, NodeId, Op};
use super::optimize::needed;

/// What the rest of the expansion places.
pub struct Fixed {
    /// The inference state's struct (beside the training state's).
    pub items: TokenStream,
    /// Impls of both states (inside the anonymous constant).
    pub impls: TokenStream,
    /// Inherent methods of the network: `inference_state`, `infer` and the `const fn`s.
    pub methods: TokenStream,
    /// `RAM_BYTES`, for the impl on the default scalar.
    pub f32_consts: TokenStream,
    /// `RAM_BYTES`, for the `Network` impl.
    pub trait_consts: TokenStream,
}

/// The inference state's name: `MlpInference` for `Mlp`.
fn inference_ident(g: &Graph) -> Ident {
    format_ident!("{}Inference", g.ident)
}

/// Whether every node the state holds can be built in constant evaluation: not with a
/// nested network (its own state would need a constant too).
fn const_buildable(g: &Graph, nodes: &[NodeId]) -> bool {
    nodes.iter().all(|&n| match g.nodes[n].op {
        Op::Apply(l) => g.layers[l].kind != Kind::Custom,
        _ => true,
    })
}

pub fn fixed(g: &Graph, p: &Paths, state_ident: &Ident, bounds: &[TokenStream], live: &[NodeId]) -> Fixed {
    let core = &p.core;
    let t = &g.scalar;
    let vis = &g.vis;
    let inf_ident = inference_ident(g);
    let trait_args: Vec<TokenStream> = g
        .generics
        .params
        .iter()
        .map(|param| match param {
            GenericParam::Type(ty) => ty.ident.to_token_stream(),
            GenericParam::Const(c) => c.ident.to_token_stream(),
            GenericParam::Lifetime(l) => l.lifetime.to_token_stream(),
        })
        .collect();
    let infer_nodes = needed(g, &g.outputs[..1]);
    let primary = act_field(g, g.resolve(g.outputs[0]));
    let mut where_clause = g.generics.where_clause.clone().unwrap_or_else(|| syn::parse_quote!(where));
    for b in bounds {
        where_clause.predicates.push(syn::parse2(b.clone()).expect("bounds are predicates"));
    }
    let method_where = quote!(where #(#bounds),*);

    // The nodes' buffers and caches, for both states.
    let buf_ty = |n: NodeId| {
        let shape = g.shape(n).ty(core);
        quote!(<__S as #core::storage::Storage>::Buf<#t, #shape>)
    };
    let zero_bound = |n: NodeId| {
        let shape = g.shape(n).ty(core);
        quote!(#shape: #core::storage::ZeroSample<#t>)
    };
    let cache_ty = |n: NodeId| -> Option<TokenStream> {
        let Op::Apply(l) = g.nodes[n].op else { return None };
        let layer = &g.layers[l];
        if layer.kind.is_merge() {
            return None;
        }
        let (ty, a, o) = (&layer.ty, g.input_shape(n, 0).ty(core), g.shape(n).ty(core));
        Some(if layer.kind == Kind::Custom {
            quote!(<#ty as #core::block::Block<#t, #a, #o>>::State<__S>)
        } else {
            quote!(<#ty as #core::module::Layer<#t, #a, #o>>::Cache)
        })
    };
    let scratch: Vec<TokenStream> = infer_nodes
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

    // The training state as a constant, in `Fixed` storage.
    let fixed_generics = {
        let mut gen = state_generics(&g.generics, quote!(const __CAP: usize));
        gen.params.push(syn::parse_quote!(const __PACK: usize));
        gen
    };
    let (fixed_impl_g, _, _) = fixed_generics.split_for_impl();
    let fixed_args = state_type_args(&g.generics, quote!(#core::storage::Fixed<__CAP, __PACK>));
    let fixed_cap_args = state_type_args(&g.generics, quote!(#core::storage::Fixed<__CAP>));
    let const_fields = |nodes: &[NodeId], grads: bool, caches: bool| {
        let mut fields = Vec::new();
        let mut zero_bounds = Vec::new();
        if grads {
            let g0 = super::expand::grad_field(g, 0);
            fields.push(quote!(#g0: #core::storage::FixedBuf::EMPTY));
            zero_bounds.push(zero_bound(0));
        }
        for &n in nodes {
            let a = act_field(g, n);
            fields.push(quote!(#a: #core::storage::FixedBuf::EMPTY));
            zero_bounds.push(zero_bound(n));
            if grads {
                let gf = super::expand::grad_field(g, n);
                fields.push(quote!(#gf: #core::storage::FixedBuf::EMPTY));
            }
        }
        if caches {
            for &n in nodes {
                if let Some(c) = cache_ty(n) {
                    let cf = cache_field(g, n);
                    fields.push(quote!(#cf: <#c as #core::storage::ConstDefault>::DEFAULT));
                    zero_bounds.push(quote!(#c: #core::storage::ConstDefault));
                }
            }
        }
        (fields, zero_bounds)
    };
    let mut impls = TokenStream::new();
    let mut methods = TokenStream::new();
    if const_buildable(g, live) {
        let (fields, zero_bounds) = const_fields(live, true, true);
        let mut wc = where_clause.clone();
        for b in &zero_bounds {
            wc.predicates.push(syn::parse2(b.clone()).expect("bounds are predicates"));
        }
        impls.extend(quote! {
            #[automatically_derived]
            impl #fixed_impl_g #state_ident<#fixed_args> #wc {
                /// Empty buffers in `Fixed` storage, as a constant: what `new` gives, built
                /// by the compiler, so that a state can be a `static` (in `.bss`) and is
                /// never copied through the stack.
                pub const EMPTY: Self = Self {
                    __pack: [<#t as #core::Scalar>::ZERO; __PACK],
                    __batch: 0,
                    __trained: false,
                    __input: 0,
                    #(#fields,)*
                };
            }
        });
        methods.extend(quote! {
            /// Empty buffers for batches of up to `__CAP` samples, with no heap, in a
            /// `const fn`: `static mut STATE: NetState<f32, Fixed<1>> = Net::fixed_state();`.
            pub const fn fixed_state<const __CAP: usize>() -> #state_ident<#fixed_cap_args>
            where #(#bounds,)* #(#zero_bounds,)* {
                #state_ident::EMPTY
            }
        });
    }

    // The inference state.
    let inf_generics = state_generics(&g.generics, quote!(__S: #core::storage::Storage));
    let (inf_impl_g, inf_ty_g, _) = inf_generics.split_for_impl();
    let inf_args = state_type_args(&g.generics, quote!(__S));
    let mut fields = Vec::new();
    let mut inits = Vec::new();
    for &n in &infer_nodes {
        let (a, ty) = (act_field(g, n), buf_ty(n));
        fields.push(quote!(#a: #ty));
        inits.push(quote!(#a: #core::storage::Buffer::new()));
        let custom = matches!(g.nodes[n].op, Op::Apply(l) if g.layers[l].kind == Kind::Custom);
        if custom {
            let (cf, cty) = (cache_field(g, n), cache_ty(n).expect("a nested network has a state"));
            let Op::Apply(l) = g.nodes[n].op else { unreachable!() };
            let (ty, i, o) = (&g.layers[l].ty, g.input_shape(n, 0).ty(core), g.shape(n).ty(core));
            fields.push(quote!(#cf: #cty));
            inits.push(quote!(#cf: <#ty as #core::block::Block<#t, #i, #o>>::state::<__S>()));
        }
    }
    let doc = format!(
        "Buffers for inference through [`{0}`] alone (`{0}::infer`): the output of every node the primary \
         output needs, and nothing for backward (no gradients, no caches). In `Fixed<1>` storage it takes \
         `{0}::RAM_BYTES`.",
        g.ident
    );
    let items = quote! {
        #[doc = #doc]
        #vis struct #inf_ident #inf_generics #where_clause {
            __pack: <__S as #core::storage::Storage>::Pack<#t>,
            #(#fields,)*
        }
    };
    impls.extend(quote! {
        #[automatically_derived]
        impl #inf_impl_g #inf_ident #inf_ty_g #where_clause {
            /// Empty buffers.
            pub fn new() -> Self {
                Self {
                    __pack: <__S as #core::storage::Storage>::pack::<#t>(
                        #core::kernels::gemm::PACK_LEN + #core::summary::max_of(&[#(#scratch),*]),
                    ),
                    #(#inits,)*
                }
            }

            /// The output of the last `infer`.
            pub fn output(&self) -> &[#t] {
                #core::storage::Buffer::as_slice(&self.#primary)
            }
        }

        #[automatically_derived]
        impl #inf_impl_g ::core::default::Default for #inf_ident #inf_ty_g #where_clause {
            fn default() -> Self {
                Self::new()
            }
        }
    });
    if const_buildable(g, &infer_nodes) {
        let (fields, zero_bounds) = const_fields(&infer_nodes, false, false);
        let mut wc = where_clause.clone();
        for b in &zero_bounds {
            wc.predicates.push(syn::parse2(b.clone()).expect("bounds are predicates"));
        }
        impls.extend(quote! {
            #[automatically_derived]
            impl #fixed_impl_g #inf_ident<#fixed_args> #wc {
                /// Empty buffers in `Fixed` storage, as a constant (for a `static`).
                pub const EMPTY: Self = Self { __pack: [<#t as #core::Scalar>::ZERO; __PACK], #(#fields,)* };
            }
        });
        methods.extend(quote! {
            /// An empty inference state for up to `__CAP` samples, with no heap, in a
            /// `const fn`: `static mut STATE: NetInference<f32, Fixed<1>> = Net::fixed_inference_state();`.
            pub const fn fixed_inference_state<const __CAP: usize>() -> #inf_ident<#fixed_cap_args>
            where #(#bounds,)* #(#zero_bounds,)* {
                #inf_ident::EMPTY
            }
        });
    }

    let ident = &g.ident;
    let in_ty = g.shape(0).ty(core);
    let what_input = format!("`{ident}` input");
    let body = forward_body(g, p, &infer_nodes, false);
    methods.extend(quote! {
        /// Fresh buffers for inference alone (`infer`): no gradients, no caches.
        pub fn inference_state<__S: #core::storage::Storage>() -> #inf_ident<#inf_args> #method_where {
            #inf_ident::new()
        }

        /// Inference on a batch, as `forward` computes it, in an inference-only state:
        /// the same values, in the memory `RAM_BYTES` counts.
        pub fn infer<'__s, __S: #core::storage::Storage>(
            &self,
            __x: &[#t],
            __st: &'__s mut #inf_ident<#inf_args>,
        ) -> ::core::result::Result<&'__s [#t], #core::ShapeError> #method_where {
            let __batch = #core::network::batch_of::<#in_ty>(#what_input, __x.len())?;
            let mut __ctx = #core::module::Ctx::new(::core::convert::AsMut::as_mut(&mut __st.__pack));
            #body
            ::core::result::Result::Ok(#core::storage::Buffer::as_slice(&__st.#primary))
        }
    });

    // `RAM_BYTES`: in the `Network` impl (whose bounds make the inference state's type
    // well-formed for a generic network), and through it for the default scalar.
    let trait_consts = quote! {
        const RAM_BYTES: ::core::primitive::usize =
            ::core::mem::size_of::<#inf_ident<#(#trait_args,)* #core::storage::Fixed<1>>>();
    };
    let f32_consts = quote! {
        /// Bytes of RAM one-sample inference takes besides the weights: the inference
        /// state in `Fixed<1>` storage (`Net::fixed_inference_state::<1>()`), that is every
        /// output the primary output needs (`ACTIVATION_BYTES` of them) and a length per
        /// buffer. For a device's budget: `monograd::assert_budget!(Net::RAM_BYTES <= 4096)`.
        pub const RAM_BYTES: ::core::primitive::usize = <Self as #core::network::Network<f32>>::RAM_BYTES;
    };
    Fixed { items, impls, methods, f32_consts, trait_consts }
}
