//! `network!`: parse -> model -> validate -> optimize -> expand.
//!
//! | module | what |
//! | --- | --- |
//! | `parse` | the DSL's syntax, with the user's tokens for spans |
//! | `model` | the graph: nodes, layers, what the macro knows of each layer type |
//! | `check` | arity, cycles, shapes (with errors in words), unused nodes |
//! | `config` | settings written after a layer's type: their check and the value built |
//! | `optimize` | common subexpressions, activation fusion, dead nodes |
//! | `expand` | the struct, its state, forward, training forward, backward, summary |
//! | `fixed` | states without a heap: constant `Fixed` states, the inference-only state and `infer` |
//! | `quantize` | `#[quantize(Twin)]`: the int8 twin, its calibration, forward and graph |
//! | `built` | checks on sizes computed from generic parameters, evaluated when the network is built |

mod built;
mod check;
mod config;
mod expand;
mod fixed;
mod model;
mod optimize;
mod parse;
mod quantize;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub fn network(input: TokenStream) -> TokenStream {
    let mut def = match syn::parse2::<parse::NetworkDef>(input) {
        Ok(def) => def,
        Err(e) => return e.into_compile_error(),
    };
    let cx = Ctxt::new();
    let twin = quantize::take_attr(&cx, &mut def.attrs);
    let mut graph = model::Graph::from_def(&cx, def);
    if !cx.has_errors() {
        check::check(&cx, &mut graph);
    }
    if let (Some(twin), false) = (&twin, cx.has_errors()) {
        quantize::check(&cx, &graph, twin);
    }
    if let Err(e) = cx.check() {
        return e.into_compile_error();
    }
    // The twin is written from the graph as declared: it fuses and skips on its own terms.
    let twin = twin.map(|t| quantize::expand(&graph, &t)).unwrap_or_default();
    optimize::optimize(&mut graph);
    let mut out = expand::expand(&graph);
    out.extend(twin);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn expansion_of_a_small_network() {
        let out = super::network(quote::quote! {
            pub struct Mlp {
                input: [4],
                fc1: Linear<4, 8>,
                act: ReLU,
                fc2: Linear<8, 2>,
            }
        });
        let text = out.to_string();
        if std::env::var_os("SHOW_EXPANSION").is_some() {
            println!("{text}");
        }
        // The activation is fused into `fc1`: no buffer of its own, and one fused call.
        assert!(!text.contains("__a_act"), "{text}");
        assert!(text.contains("forward_train_fused"));
        assert!(text.contains("backward_in_place"));
        assert!(!text.contains("compile_error"));
    }
}
