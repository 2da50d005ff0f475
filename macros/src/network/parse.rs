//! The syntax of `network!`, kept close to the user's tokens for spans.
//!
//! ```text
//! network! {
//!     /// docs
//!     pub struct Name<const H: usize> {
//!         input x: [784],              // or `input: [784]`; at most 3 dimensions
//!         fc1: Linear<784, H>,         // a layer applied to the previous node
//!         act: ReLU,
//!         skip(x): Linear<784, H>,     // a layer applied to named nodes
//!         sum(act, skip): Add,
//!         again(sum) = fc1,            // the layer of `fc1` applied again: shared weights
//!         drop: Dropout(0.2),          // settings after the type: positional, `name = value`
//!         output sum,                  // or `output (a, b)`; default: the last node
//!     }
//! }
//! ```

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, parenthesized, token, Attribute, Expr, Generics, Ident, Token, Type, Visibility};

/// The whole invocation.
pub struct NetworkDef {
    /// Outer attributes of the struct: docs, `#[network(...)]`.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub generics: Generics,
    pub input: InputDecl,
    pub nodes: Vec<NodeDecl>,
    /// `output ...`, when given.
    pub outputs: Option<(Ident, Vec<Ident>)>,
}

/// `input x: [d0, d1, d2]`.
pub struct InputDecl {
    pub name: Ident,
    pub dims: Vec<Expr>,
    pub bracket: Span,
}

/// One node: `name(args): Type` or `name(args) = other`.
pub struct NodeDecl {
    /// Docs and other attributes, passed to the struct field.
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    /// The nodes it reads; `None` means the previous node.
    pub args: Option<Vec<Ident>>,
    pub kind: NodeKind,
    /// The settings after a new layer's type, if any.
    pub config: Option<ConfigArgs>,
}

pub enum NodeKind {
    /// A new layer, a field of the struct.
    New(Type),
    /// The layer of an earlier node, applied again.
    Reuse(Ident),
}

/// The settings after a layer's type: `Dropout(0.2)`, `BatchNorm2d<16>(eps = 1e-3)`.
pub struct ConfigArgs {
    /// The parentheses, for errors about the list as a whole.
    pub paren: Span,
    pub args: Vec<ConfigArg>,
}

/// One setting: positional (`0.2`) or named (`eps = 1e-3`).
pub struct ConfigArg {
    pub name: Option<Ident>,
    pub value: Expr,
}

impl Parse for ConfigArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `eps = 1e-3`, but not `a == b`, a positional comparison.
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            return Ok(ConfigArg { name: Some(name), value: input.parse()? });
        }
        Ok(ConfigArg { name: None, value: input.parse()? })
    }
}

/// `(args)` after a layer's type, when present.
fn parse_config(body: ParseStream<'_>) -> syn::Result<Option<ConfigArgs>> {
    if !body.peek(token::Paren) {
        return Ok(None);
    }
    let inner;
    let paren = parenthesized!(inner in body);
    let args = Punctuated::<ConfigArg, Token![,]>::parse_terminated(&inner)?;
    Ok(Some(ConfigArgs { paren: paren.span.join(), args: args.into_iter().collect() }))
}

impl Parse for NetworkDef {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let ident: Ident = input.parse()?;
        let mut generics: Generics = input.parse()?;
        generics.where_clause = input.parse()?;
        let body;
        syn::braced!(body in input);

        let input_decl = parse_input(&body)?;
        let mut nodes = Vec::new();
        let mut outputs = None;
        while !body.is_empty() {
            let node_attrs = body.call(Attribute::parse_outer)?;
            let name: Ident = body.parse()?;
            if name == "output" && node_attrs.is_empty() && is_output_list(&body) {
                outputs = Some((name, parse_output_list(&body)?));
                if !body.is_empty() {
                    body.parse::<Token![,]>()?;
                }
                if !body.is_empty() {
                    return Err(body.error("`output` comes last: no node may follow it"));
                }
                break;
            }
            let args = if body.peek(token::Paren) {
                let inner;
                parenthesized!(inner in body);
                let list = Punctuated::<Ident, Token![,]>::parse_terminated(&inner)?;
                Some(list.into_iter().collect())
            } else {
                None
            };
            let (kind, config) = if body.peek(Token![:]) {
                body.parse::<Token![:]>()?;
                let ty = body.parse()?;
                (NodeKind::New(ty), parse_config(&body)?)
            } else if body.peek(Token![=]) {
                body.parse::<Token![=]>()?;
                (NodeKind::Reuse(body.parse()?), None)
            } else {
                return Err(body.error(format!(
                    "expected `: LayerType` (a new layer) or `= other_node` (reuse its layer) after `{name}`"
                )));
            };
            nodes.push(NodeDecl { attrs: node_attrs, name, args, kind, config });
            if body.is_empty() {
                break;
            }
            body.parse::<Token![,]>()?;
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the network's body"));
        }
        Ok(Self { attrs, vis, ident, generics, input: input_decl, nodes, outputs })
    }
}

/// `input x: [..],` or `input: [..],` as the first entry.
fn parse_input(body: ParseStream<'_>) -> syn::Result<InputDecl> {
    let kw: Ident = body.parse().map_err(|e| {
        syn::Error::new(e.span(), "a network starts with its input: `input: [784],` or `input x: [1, 28, 28],`")
    })?;
    if kw != "input" {
        return Err(syn::Error::new(
            kw.span(),
            "a network starts with its input: `input: [784],` or `input x: [1, 28, 28],`",
        ));
    }
    let name = if body.peek(Ident) { body.parse()? } else { kw };
    body.parse::<Token![:]>()?;
    let inner;
    let bracket = bracketed!(inner in body);
    let dims = Punctuated::<Expr, Token![,]>::parse_terminated(&inner)?;
    if !body.is_empty() {
        body.parse::<Token![,]>()?;
    }
    Ok(InputDecl { name, dims: dims.into_iter().collect(), bracket: bracket.span.join() })
}

/// After `output`: an identifier or a parenthesized list, then a comma or the end; not
/// `output: Type` or `output(x): Type`, which declare a node named `output`.
fn is_output_list(body: ParseStream<'_>) -> bool {
    let fork = body.fork();
    let list_ok = if fork.peek(token::Paren) {
        // A parse failure here means it is not an output list.
        let inner = (|| -> syn::Result<_> {
            let inner;
            parenthesized!(inner in fork);
            Ok(inner)
        })();
        inner.is_ok_and(|inner| Punctuated::<Ident, Token![,]>::parse_terminated(&inner).is_ok())
    } else {
        fork.parse::<Ident>().is_ok()
    };
    list_ok && (fork.is_empty() || fork.peek(Token![,]))
}

fn parse_output_list(body: ParseStream<'_>) -> syn::Result<Vec<Ident>> {
    if body.peek(token::Paren) {
        let inner;
        parenthesized!(inner in body);
        Ok(Punctuated::<Ident, Token![,]>::parse_terminated(&inner)?.into_iter().collect())
    } else {
        Ok(vec![body.parse()?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chains_graphs_reuse_and_outputs() {
        let def: NetworkDef = syn::parse_quote! {
            /// Docs.
            pub struct Net<const H: usize> {
                input x: [4],
                fc1: Linear<4, H>,
                act: ReLU,
                skip(x): Linear<4, H>,
                sum(act, skip): Add,
                again(sum) = fc1,
                output (sum, again),
            }
        };
        assert_eq!(def.ident, "Net");
        assert_eq!(def.input.name, "x");
        assert_eq!(def.input.dims.len(), 1);
        assert_eq!(def.nodes.len(), 5);
        assert!(def.nodes[0].args.is_none());
        assert_eq!(def.nodes[3].args.as_ref().unwrap().len(), 2);
        assert!(matches!(&def.nodes[4].kind, NodeKind::Reuse(i) if i == "fc1"));
        assert_eq!(def.outputs.unwrap().1.len(), 2);
    }

    #[test]
    fn parses_settings_after_the_type() {
        let def: NetworkDef = syn::parse_quote! {
            struct Net {
                input: [4],
                drop: Dropout(0.2),
                bn: BatchNorm1d<4>(1e-3, momentum = 0.01,),
                fc: Linear<4, 2>,
                same(bn) = fc,
            }
        };
        let config = def.nodes[1].config.as_ref().unwrap();
        assert_eq!(config.args.len(), 2);
        assert!(config.args[0].name.is_none());
        assert_eq!(config.args[1].name.as_ref().unwrap(), "momentum");
        assert_eq!(def.nodes[0].config.as_ref().unwrap().args.len(), 1);
        assert!(def.nodes[2].config.is_none() && def.nodes[3].config.is_none());
        // A comparison is a positional value, not a name.
        let arg: ConfigArg = syn::parse_quote!(a == b);
        assert!(arg.name.is_none());
    }

    #[test]
    fn a_node_may_be_called_output() {
        let def: NetworkDef = syn::parse_quote! {
            struct Net { input: [2], output: Linear<2, 1> }
        };
        assert_eq!(def.input.name, "input");
        assert_eq!(def.nodes[0].name, "output");
        assert!(def.outputs.is_none());
    }

    #[test]
    fn the_input_comes_first() {
        let err = syn::parse2::<NetworkDef>(quote::quote!(
            struct Net {
                fc: Linear<2, 1>,
            }
        ))
        .err()
        .unwrap();
        assert!(err.to_string().contains("a network starts with its input"));
    }
}
