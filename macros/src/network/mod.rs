//! `network!`: parse -> model -> validate -> optimize -> expand.
//!
//! | module | what |
//! | --- | --- |
//! | `parse` | the DSL's syntax, with the user's tokens for spans |
//! | `model` | the graph: nodes, layers, what the macro knows of each layer type |
//! | `check` | arity, cycles, shapes (with errors in words), unused nodes |
//! | `optimize` | common subexpressions, activation fusion, dead nodes |
//! | `expand` | the struct, its state, forward, training forward, backward, summary |

mod check;
mod expand;
mod model;
mod optimize;
mod parse;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub fn network(input: TokenStream) -> TokenStream {
    let def = match syn::parse2::<parse::NetworkDef>(input) {
        Ok(def) => def,
        Err(e) => return e.into_compile_error(),
    };
    let cx = Ctxt::new();
    let mut graph = model::Graph::from_def(&cx, def);
    if !cx.has_errors() {
        check::check(&cx, &mut graph);
    }
    if let Err(e) = cx.check() {
        return e.into_compile_error();
    }
    optimize::optimize(&mut graph);
    expand::expand(&graph)
}
