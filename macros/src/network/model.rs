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

use super::parse::{ConfigArgs, NetworkDef, NodeDecl, NodeKind};
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
    /// A convolution over `rank` spatial dimensions; where its constants sit in `args`.
    Conv { rank: usize, at: ConvArgs },
    /// Max or average pooling: `args` = `[K, S]`.
    Pool,
    /// `[C, H, W]` to `[C]`.
    GlobalPool,
    /// `[L]` token indices to `[L, D]`: `args` = `[V, D]`.
    Embedding,
    /// Normalisation over the first (`BatchNorm`) or last (`LayerNorm`) dimension, of
    /// `args[0]` features, for samples of `ranks.0` to `ranks.1` dimensions; keeps the shape.
    Norm { last: bool, ranks: (usize, usize) },
}

/// Where a convolution's constants are in its generic arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvArgs {
    pub ci: usize,
    pub co: Option<usize>,
    pub k: usize,
    pub s: usize,
    pub p: usize,
    pub d: usize,
}

/// A const parameter of a built-in layer: required, or its default.
#[derive(Clone, Copy)]
enum ConstDefault {
    Required,
    Lit(u128),
    /// The value of an earlier parameter (`MaxPool2d<K, S = K>`).
    SameAs(usize),
}

/// What the macro knows of a built-in layer type.
struct Spec {
    name: &'static str,
    kind: Kind,
    consts: &'static [ConstDefault],
    /// Whether the scalar follows the constants (`Linear<I, O, T>`).
    scalar: bool,
}

use ConstDefault::{Lit, Required as R, SameAs};

const CONV: ConvArgs = ConvArgs { ci: 0, co: Some(1), k: 2, s: 3, p: 4, d: 5 };
const GROUPED: ConvArgs = ConvArgs { ci: 0, co: Some(1), k: 2, s: 5, p: 6, d: 7 };
const DEPTHWISE: ConvArgs = ConvArgs { ci: 0, co: None, k: 1, s: 2, p: 3, d: 4 };
const UNIT: Kind = Kind::Activation { unit: true, fusable: true };
const SMOOTH: Kind = Kind::Activation { unit: true, fusable: false };
const CONFIGURED: Kind = Kind::Activation { unit: false, fusable: true };

const SPECS: &[Spec] = &[
    Spec { name: "Linear", kind: Kind::Linear, consts: &[R, R], scalar: true },
    Spec { name: "LinearNoBias", kind: Kind::Linear, consts: &[R, R], scalar: true },
    Spec { name: "ReLU", kind: UNIT, consts: &[], scalar: false },
    Spec { name: "Tanh", kind: UNIT, consts: &[], scalar: false },
    Spec { name: "Sigmoid", kind: UNIT, consts: &[], scalar: false },
    Spec { name: "LeakyReLU", kind: CONFIGURED, consts: &[], scalar: false },
    Spec { name: "ELU", kind: CONFIGURED, consts: &[], scalar: false },
    Spec { name: "GELU", kind: SMOOTH, consts: &[], scalar: false },
    Spec { name: "SiLU", kind: SMOOTH, consts: &[], scalar: false },
    Spec { name: "Softplus", kind: SMOOTH, consts: &[], scalar: false },
    Spec { name: "Softmax", kind: SMOOTH, consts: &[], scalar: false },
    Spec { name: "LogSoftmax", kind: SMOOTH, consts: &[], scalar: false },
    Spec { name: "Dropout", kind: Kind::Stateful, consts: &[], scalar: false },
    Spec { name: "BatchNorm1d", kind: Kind::Norm { last: false, ranks: (1, 2) }, consts: &[R], scalar: true },
    Spec { name: "BatchNorm2d", kind: Kind::Norm { last: false, ranks: (3, 3) }, consts: &[R], scalar: true },
    Spec { name: "LayerNorm", kind: Kind::Norm { last: true, ranks: (1, 3) }, consts: &[R], scalar: true },
    Spec { name: "Embedding", kind: Kind::Embedding, consts: &[R, R], scalar: true },
    Spec { name: "Flatten", kind: Kind::Flatten, consts: &[], scalar: false },
    Spec { name: "Add", kind: Kind::Add, consts: &[], scalar: false },
    Spec { name: "Concat", kind: Kind::Concat, consts: &[], scalar: false },
    Spec {
        name: "Conv1d",
        kind: Kind::Conv { rank: 1, at: CONV },
        consts: &[R, R, R, Lit(1), Lit(0), Lit(1)],
        scalar: true,
    },
    Spec {
        name: "Conv2d",
        kind: Kind::Conv { rank: 2, at: CONV },
        consts: &[R, R, R, Lit(1), Lit(0), Lit(1)],
        scalar: true,
    },
    Spec {
        name: "GroupedConv2d",
        kind: Kind::Conv { rank: 2, at: GROUPED },
        consts: &[R, R, R, R, R, Lit(1), Lit(0), Lit(1)],
        scalar: true,
    },
    Spec {
        name: "DepthwiseConv2d",
        kind: Kind::Conv { rank: 2, at: DEPTHWISE },
        consts: &[R, R, Lit(1), Lit(0), Lit(1)],
        scalar: true,
    },
    Spec {
        name: "SeparableConv2d",
        kind: Kind::Conv { rank: 2, at: CONV },
        consts: &[R, R, R, Lit(1), Lit(0), Lit(1)],
        scalar: true,
    },
    Spec { name: "MaxPool2d", kind: Kind::Pool, consts: &[R, SameAs(0)], scalar: false },
    Spec { name: "AvgPool2d", kind: Kind::Pool, consts: &[R, SameAs(0)], scalar: false },
    Spec { name: "GlobalAvgPool2d", kind: Kind::GlobalPool, consts: &[], scalar: false },
];

impl Kind {
    fn of(name: &str) -> Kind {
        SPECS.iter().find(|s| s.name == name).map(|s| s.kind.clone()).unwrap_or(Kind::Custom)
    }

    pub fn is_merge(&self) -> bool {
        matches!(self, Kind::Add | Kind::Concat)
    }

    /// Whether the layer may hold trainable parameters.
    pub fn has_params(&self) -> bool {
        matches!(
            self,
            Kind::Linear | Kind::Stateful | Kind::Custom | Kind::Conv { .. } | Kind::Embedding | Kind::Norm { .. }
        )
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
    /// The layer's const generic arguments, defaults filled in (`Conv2d<1, 6, 5>` gives
    /// `[1, 6, 5, 1, 0, 1]`); empty when one is not a plain constant.
    pub args: Vec<Dim>,
    /// The settings written after the type (`Dropout(0.2)`); see [`super::config`].
    pub config: Option<ConfigArgs>,
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
    /// The inputs as the user named them, for spans (empty when the node reads the
    /// previous one implicitly).
    pub written_args: Vec<Ident>,
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

impl Graph {
    pub fn from_def(cx: &Ctxt, def: NetworkDef) -> Graph {
        let NetworkDef { attrs, vis, ident, mut generics, input, nodes: mut decls, outputs } = def;

        let (scalar, scalar_added) = scalar_param(&mut generics);

        let mut nodes = vec![Node {
            name: input.name.clone(),
            op: Op::Input,
            args: Vec::new(),
            written_args: Vec::new(),
            shape: Some(Shp::Known(input.dims.iter().map(Dim::from_expr).collect())),
            fused: None,
            alias: None,
        }];
        match input.dims.len() {
            0 => cx.error_at(
                input.bracket,
                "the input needs a shape: 1 to 3 dimensions, such as `[784]` or `[1, 28, 28]`",
            ),
            1..=3 => {}
            n => cx.error_at(
                input.bracket,
                format!(
                    "a sample has 1 to 3 dimensions, such as `[784]` or `[1, 28, 28]`, not {n} (the batch dimension \
                     is not part of it)"
                ),
            ),
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
                written_args: d.args.clone().unwrap_or_default(),
                shape: None,
                fused: None,
                alias: None,
            });
        }

        // Layers first, so that `= other` can refer to a layer declared later.
        let mut layers = Vec::new();
        let mut layer_of: HashMap<String, LayerId> = HashMap::new();
        for (i, d) in decls.iter_mut().enumerate() {
            if let NodeKind::New(ty) = &d.kind {
                let config = d.config.take();
                let name = last_segment(ty);
                let kind = name.as_deref().map(Kind::of).unwrap_or(Kind::Custom);
                let (stored, args) = with_defaults(ty, &scalar);
                let dims = match (&kind, args.as_slice()) {
                    (Kind::Linear, [i, o, ..]) => Some((i.clone(), o.clone())),
                    _ => None,
                };
                layer_of.insert(d.name.to_string(), layers.len());
                layers.push(Layer {
                    attrs: d.attrs.clone(),
                    name: d.name.clone(),
                    written: ty.clone(),
                    ty: stored,
                    kind,
                    dims,
                    args,
                    config,
                });
                nodes[i + 1].op = Op::Apply(layers.len() - 1);
            }
        }
        for (i, d) in decls.iter().enumerate() {
            if let NodeKind::Reuse(other) = &d.kind {
                match layer_of.get(&other.to_string()) {
                    Some(&l) => nodes[i + 1].op = Op::Apply(l),
                    None => cx.error_at(other.span(), reuse_message(other, &input.name, &decls, &layers)),
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
                            cx.error_at(
                                o.span(),
                                format!("`{o}` is the input, which cannot be an output: add a layer after it"),
                            );
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

/// Why `= other` names no layer: `other` is the input, reuses a layer itself, or is unknown.
fn reuse_message(other: &Ident, input: &Ident, decls: &[NodeDecl], layers: &[Layer]) -> String {
    if other == input {
        return format!(
            "`{other}` is the network's input, not a layer: reuse a node that declares one, `name: Layer<..>`"
        );
    }
    let original = decls.iter().find_map(|d| match &d.kind {
        NodeKind::Reuse(l) if d.name == *other => Some(l),
        _ => None,
    });
    if let Some(original) = original {
        return format!("`{other}` declares no layer, it reuses `{original}`'s: write `= {original}`");
    }
    let list: Vec<_> = layers.iter().map(|l| format!("`{}`", l.name)).collect();
    if list.is_empty() {
        format!("unknown layer `{other}`: no node declares a layer")
    } else {
        format!("unknown layer `{other}`; the nodes that declare a layer are {}", list.join(", "))
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

/// The stored type of a built-in layer, with its const defaults written out and the scalar
/// appended where the user omitted it (`Conv2d<1, 6, 5>` is stored as
/// `Conv2d<1, 6, 5, 1, 0, 1, T>`), and its const arguments as dimensions.
fn with_defaults(ty: &Type, scalar: &Ident) -> (Type, Vec<Dim>) {
    let mut stored = ty.clone();
    let Type::Path(p) = &mut stored else { return (stored, Vec::new()) };
    let Some(seg) = p.path.segments.last_mut() else { return (stored, Vec::new()) };
    let Some(spec) = SPECS.iter().find(|s| seg.ident == s.name) else { return (stored, Vec::new()) };
    if spec.consts.is_empty() {
        return (stored, Vec::new());
    }
    let PathArguments::AngleBracketed(ab) = &mut seg.arguments else { return (stored, Vec::new()) };
    let written = ab.args.len();
    if written <= spec.consts.len() {
        for i in written..spec.consts.len() {
            let arg: GenericArgument = match spec.consts[i] {
                ConstDefault::Required => return (stored, Vec::new()), // rustc reports the missing argument
                ConstDefault::Lit(v) => {
                    let v = proc_macro2::Literal::usize_unsuffixed(v as usize);
                    syn::parse_quote_spanned!(ty.span()=> #v)
                }
                ConstDefault::SameAs(j) => ab.args[j].clone(),
            };
            ab.args.push(arg);
        }
        if spec.scalar {
            ab.args.push(syn::parse_quote_spanned!(ty.span()=> #scalar));
        }
    }
    let args: Option<Vec<Dim>> = ab.args.iter().take(spec.consts.len()).map(Dim::from_arg).collect();
    (stored, args.unwrap_or_default())
}
