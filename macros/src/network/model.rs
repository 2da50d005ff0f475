//! The graph model: nodes, the layers they apply, and what the macro knows of each layer.
//!
//! Built from the syntax by [`Graph::from_def`], which resolves names and records errors
//! in the context; [`super::check`] validates and computes shapes, [`super::optimize`]
//! rewrites, [`super::expand`] writes code.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, GenericArgument, Generics, Ident, PathArguments, Type, Visibility};

use super::parse::{NetworkDef, NodeKind};
use crate::ctxt::Ctxt;

pub type NodeId = usize;
pub type LayerId = usize;

/// One dimension: a literal the macro can compute with, or an expression over the
/// network's const parameters that only the type checker can compare.
#[derive(Clone, Debug)]
pub enum Dim {
    Lit(u128),
    Sym(String, TokenStream),
}

impl Dim {
    pub fn from_expr(e: &Expr) -> Dim {
        if let Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) = e {
            if let Ok(v) = i.base10_parse::<u128>() {
                return Dim::Lit(v);
            }
        }
        let tokens = e.to_token_stream();
        Dim::Sym(tokens.to_string(), tokens)
    }

    fn from_arg(a: &GenericArgument) -> Option<Dim> {
        match a {
            GenericArgument::Const(e) => Some(Dim::from_expr(e)),
            // `Linear<H, 10>`: a bare const parameter parses as a type path.
            GenericArgument::Type(Type::Path(p)) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let tokens = p.to_token_stream();
                Some(Dim::Sym(tokens.to_string(), tokens))
            }
            _ => None,
        }
    }

    /// Whether the two are known to differ (`false` when either is symbolic and they are
    /// not the same expression: the type checker decides then).
    pub fn differs(&self, other: &Dim) -> bool {
        match (self, other) {
            (Dim::Lit(a), Dim::Lit(b)) => a != b,
            _ => false,
        }
    }

    pub fn tokens(&self) -> TokenStream {
        match self {
            Dim::Lit(v) => {
                let v = *v as usize;
                quote!(#v)
            }
            Dim::Sym(_, t) => quote!({ #t }),
        }
    }

    pub fn add(&self, o: &Dim) -> Dim {
        match (self, o) {
            (Dim::Lit(a), Dim::Lit(b)) => Dim::Lit(a + b),
            _ => {
                let (a, b) = (self.tokens(), o.tokens());
                let t = quote!((#a + #b));
                Dim::Sym(t.to_string(), t)
            }
        }
    }

    pub fn mul(&self, o: &Dim) -> Dim {
        match (self, o) {
            (Dim::Lit(a), Dim::Lit(b)) => Dim::Lit(a * b),
            _ => {
                let (a, b) = (self.tokens(), o.tokens());
                let t = quote!((#a * #b));
                Dim::Sym(t.to_string(), t)
            }
        }
    }
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Lit(v) => write!(f, "{v}"),
            Dim::Sym(s, _) => f.write_str(s),
        }
    }
}

/// The shape of one sample at a node.
#[derive(Clone, Debug)]
pub enum Shp {
    /// Dimensions the macro knows (literal or symbolic).
    Known(Vec<Dim>),
    /// Only a type: the output of a layer the macro has no rule for.
    Opaque(TokenStream),
}

impl Shp {
    /// The shape type: `Rank1<784>`, or the opaque type.
    pub fn ty(&self, core: &TokenStream) -> TokenStream {
        match self {
            Shp::Known(d) => {
                let ts: Vec<_> = d.iter().map(Dim::tokens).collect();
                match ts.len() {
                    1 => quote!(#core::shape::Rank1<#(#ts),*>),
                    2 => quote!(#core::shape::Rank2<#(#ts),*>),
                    _ => quote!(#core::shape::Rank3<#(#ts),*>),
                }
            }
            Shp::Opaque(t) => t.clone(),
        }
    }

    pub fn numel(&self, core: &TokenStream) -> TokenStream {
        let ty = self.ty(core);
        quote!(<#ty as #core::shape::Shape>::NUMEL)
    }

    /// `[16, 4, 4]`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Shp::Known(d) => {
                let parts: Vec<_> = d.iter().map(|d| d.to_string()).collect();
                format!("[{}]", parts.join(", "))
            }
            Shp::Opaque(t) => format!("`{}`", t),
        }
    }
}

/// What the macro knows about a layer type, by its name.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `Linear<I, O>`: `[I]` to `[O]`.
    Linear,
    /// Elementwise and pure. `unit`: has no configuration, so two of them on the same node
    /// compute the same thing. `fusable`: its derivative follows from its output.
    Activation { unit: bool, fusable: bool },
    /// Keeps the shape but is stochastic or stateful: never merged.
    Stateful,
    /// `[..]` to `[product]`.
    Flatten,
    /// Two inputs of one shape.
    Add,
    /// Two inputs joined along the first dimension.
    Concat,
    /// A layer the macro has no rule for: its output shape comes from `OutputShape`.
    Custom,
}

impl Kind {
    fn of(name: &str) -> Kind {
        match name {
            "Linear" => Kind::Linear,
            "ReLU" | "Tanh" | "Sigmoid" => Kind::Activation { unit: true, fusable: true },
            "LeakyReLU" | "ELU" => Kind::Activation { unit: false, fusable: true },
            "GELU" | "SiLU" | "Softplus" | "Softmax" | "LogSoftmax" => Kind::Activation { unit: true, fusable: false },
            "Dropout" | "BatchNorm1d" | "BatchNorm2d" | "LayerNorm" => Kind::Stateful,
            "Flatten" => Kind::Flatten,
            "Add" => Kind::Add,
            "Concat" => Kind::Concat,
            _ => Kind::Custom,
        }
    }

    pub fn is_merge(&self) -> bool {
        matches!(self, Kind::Add | Kind::Concat)
    }

    /// Whether the layer may hold trainable parameters.
    pub fn has_params(&self) -> bool {
        matches!(self, Kind::Linear | Kind::Stateful | Kind::Custom)
    }
}

/// A field of the struct: one layer, applied by one or more nodes.
pub struct Layer {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    /// As written by the user, for messages.
    pub written: Type,
    /// As stored: the scalar appended to built-in layers that take one.
    pub ty: Type,
    pub kind: Kind,
    /// `Linear`'s `(in, out)`.
    pub dims: Option<(Dim, Dim)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Input,
    Apply(LayerId),
}

pub struct Node {
    pub name: Ident,
    pub op: Op,
    /// Resolved inputs (after optimisation, possibly rewritten to survivors).
    pub args: Vec<NodeId>,
    pub shape: Option<Shp>,
    /// An activation layer computed in this node's pass (fusion).
    pub fused: Option<LayerId>,
    /// Replaced by another node (CSE or fusion): reads of it read that one.
    pub alias: Option<NodeId>,
}

pub struct Graph {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub generics: Generics,
    /// The scalar type parameter.
    pub scalar: Ident,
    /// Whether the scalar parameter was added by the macro.
    pub scalar_added: bool,
    pub layers: Vec<Layer>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<NodeId>,
    /// Nodes in topological order (filled by check).
    pub order: Vec<NodeId>,
}

/// Layers whose last generic argument is the scalar, appended when the user omits it.
const SCALAR_GENERIC: &[(&str, usize)] = &[("Linear", 2)];

impl Graph {
    pub fn from_def(cx: &Ctxt, def: NetworkDef) -> Graph {
        let NetworkDef { attrs, vis, ident, mut generics, input, nodes: decls, outputs } = def;

        let (scalar, scalar_added) = scalar_param(&mut generics);

        let mut nodes = vec![Node {
            name: input.name.clone(),
            op: Op::Input,
            args: Vec::new(),
            shape: Some(Shp::Known(input.dims.iter().map(Dim::from_expr).collect())),
            fused: None,
            alias: None,
        }];
        if input.dims.is_empty() || input.dims.len() > 3 {
            cx.error_at(input.bracket, "a sample has 1 to 3 dimensions, such as `[784]` or `[1, 28, 28]`");
        }

        let mut names: HashMap<String, NodeId> = HashMap::new();
        names.insert(input.name.to_string(), 0);
        for d in &decls {
            let id = nodes.len();
            if let Some(&prev) = names.get(&d.name.to_string()) {
                let first = if prev == 0 { "the input" } else { "an earlier node" };
                cx.error_at(d.name.span(), format!("duplicate node name `{}`: {first} has it already", d.name));
            } else {
                names.insert(d.name.to_string(), id);
            }
            nodes.push(Node {
                name: d.name.clone(),
                op: Op::Input, // set below
                args: Vec::new(),
                shape: None,
                fused: None,
                alias: None,
            });
        }

        // Layers first, so that `= other` can refer to a layer declared later.
        let mut layers = Vec::new();
        let mut layer_of: HashMap<String, LayerId> = HashMap::new();
        for (i, d) in decls.iter().enumerate() {
            if let NodeKind::New(ty) = &d.kind {
                let name = last_segment(ty);
                let kind = name.as_deref().map(Kind::of).unwrap_or(Kind::Custom);
                let (stored, dims) = scalar_injected(ty, &kind, &scalar);
                layer_of.insert(d.name.to_string(), layers.len());
                layers.push(Layer {
                    attrs: d.attrs.clone(),
                    name: d.name.clone(),
                    written: ty.clone(),
                    ty: stored,
                    kind,
                    dims,
                });
                nodes[i + 1].op = Op::Apply(layers.len() - 1);
            }
        }
        for (i, d) in decls.iter().enumerate() {
            if let NodeKind::Reuse(other) = &d.kind {
                match layer_of.get(&other.to_string()) {
                    Some(&l) => nodes[i + 1].op = Op::Apply(l),
                    None if names.contains_key(&other.to_string()) => cx.error_at(
                        other.span(),
                        format!(
                            "`{other}` applies no layer of its own to reuse; name the node that declares the layer"
                        ),
                    ),
                    None => cx.error_at(other.span(), format!("unknown layer `{other}`: no node declares it")),
                }
                for a in &d.attrs {
                    cx.error_spanned_by(
                        a,
                        "a node that reuses a layer declares no field: attributes go on the original",
                    );
                }
            }
        }

        // Inputs: named, or the previous node.
        for (i, d) in decls.iter().enumerate() {
            let id = i + 1;
            nodes[id].args = match &d.args {
                None => vec![id - 1],
                Some(list) => list
                    .iter()
                    .filter_map(|a| match names.get(&a.to_string()) {
                        Some(&n) => Some(n),
                        None => {
                            cx.error_at(a.span(), unknown_node_message(a, &names));
                            None
                        }
                    })
                    .collect(),
            };
        }

        let outputs = match outputs {
            None => vec![nodes.len() - 1],
            Some((kw, list)) => {
                if list.is_empty() {
                    cx.error_at(kw.span(), "`output` needs at least one node");
                }
                list.iter()
                    .filter_map(|o| match names.get(&o.to_string()) {
                        Some(&0) => {
                            cx.error_at(o.span(), "the input cannot be an output: add a layer");
                            None
                        }
                        Some(&n) => Some(n),
                        None => {
                            cx.error_at(o.span(), unknown_node_message(o, &names));
                            None
                        }
                    })
                    .collect()
            }
        };
        if decls.is_empty() {
            cx.error_at(ident.span(), "a network needs at least one layer after its input");
        }

        Graph { attrs, vis, ident, generics, scalar, scalar_added, layers, nodes, outputs, order: Vec::new() }
    }

    /// Follows aliases to the node that holds the values.
    pub fn resolve(&self, mut n: NodeId) -> NodeId {
        while let Some(a) = self.nodes[n].alias {
            n = a;
        }
        n
    }

    pub fn layer_of(&self, n: NodeId) -> Option<&Layer> {
        match self.nodes[n].op {
            Op::Apply(l) => Some(&self.layers[l]),
            Op::Input => None,
        }
    }

    pub fn shape(&self, n: NodeId) -> &Shp {
        self.nodes[self.resolve(n)].shape.as_ref().expect("shapes are computed before expansion")
    }
}

fn unknown_node_message(a: &Ident, names: &HashMap<String, NodeId>) -> String {
    let mut known: Vec<(&NodeId, &String)> = names.iter().map(|(k, v)| (v, k)).collect();
    known.sort();
    let list: Vec<_> = known.iter().map(|(_, k)| format!("`{k}`")).collect();
    format!("unknown node `{a}`; the nodes are {}", list.join(", "))
}

/// The type parameter bounded by `Scalar`, or a new `T: Scalar = f32`.
fn scalar_param(generics: &mut Generics) -> (Ident, bool) {
    for p in generics.type_params() {
        let bounded = p.bounds.iter().any(|b| match b {
            syn::TypeParamBound::Trait(t) => {
                t.path.segments.last().is_some_and(|s| s.ident == "Scalar" || s.ident == "Real")
            }
            _ => false,
        });
        if bounded {
            return (p.ident.clone(), false);
        }
    }
    let t = Ident::new("T", Span::call_site());
    generics.params.push(syn::parse_quote!(#t: ::monograd::__private::monograd_core::Scalar = f32));
    (t, true)
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// The stored type (scalar appended where the user omitted it) and `Linear`'s dimensions.
fn scalar_injected(ty: &Type, kind: &Kind, scalar: &Ident) -> (Type, Option<(Dim, Dim)>) {
    let mut stored = ty.clone();
    let mut dims = None;
    if let Type::Path(p) = &mut stored {
        if let Some(seg) = p.path.segments.last_mut() {
            let name = seg.ident.to_string();
            if let PathArguments::AngleBracketed(ab) = &mut seg.arguments {
                if *kind == Kind::Linear && ab.args.len() >= 2 {
                    let mut it = ab.args.iter();
                    if let (Some(i), Some(o)) = (it.next().and_then(Dim::from_arg), it.next().and_then(Dim::from_arg)) {
                        dims = Some((i, o));
                    }
                }
                if let Some((_, n)) = SCALAR_GENERIC.iter().find(|(k, _)| *k == name) {
                    if ab.args.len() == *n {
                        ab.args.push(syn::parse_quote_spanned!(ty.span()=> #scalar));
                    }
                }
            }
        }
    }
    (stored, dims)
}
