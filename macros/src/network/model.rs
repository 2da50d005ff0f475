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

/// One dimension: a literal the macro can compute with, a constant expression the
/// compiler evaluates (a named constant, `{16 * 5 * 5}`, a dimension of a nested network's
/// output), or an expression over the network's generic parameters that only the type
/// checker can compare.
#[derive(Clone, Debug)]
pub enum Dim {
    Lit(u128),
    /// Evaluated by the compiler in a constant item: arithmetic on it is written as
    /// `const fn` calls, and checks on it as constant items with the macro's message.
    Const(String, TokenStream),
    /// Mentions a generic parameter of the network: stable Rust cannot compute with it.
    Sym(String, TokenStream),
    /// Computed by the macro's rules from a generic parameter (`conv_out(H, 3, 1, 0, 1)`):
    /// a value once the network is built for its parameters, never a type argument. Only
    /// the shape types of `shape::computed` carry it (see [`Shp::Computed`]).
    Computed(String, TokenStream),
}

impl Dim {
    /// A dimension written by the user; `generic` lists the network's generic parameters
    /// other than the scalar.
    pub fn from_expr(e: &Expr, generic: &[String]) -> Dim {
        if let Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) = e {
            if let Ok(v) = i.base10_parse::<u128>() {
                return Dim::Lit(v);
            }
        }
        Dim::of_tokens(e.to_token_stream(), generic)
    }

    /// A computed dimension: constant unless it mentions a generic parameter.
    pub fn of_tokens(tokens: TokenStream, generic: &[String]) -> Dim {
        let text = tokens.to_string();
        if mentions_any(&tokens, generic) {
            Dim::Sym(text, tokens)
        } else {
            Dim::Const(text, tokens)
        }
    }

    fn from_arg(a: &GenericArgument, generic: &[String]) -> Option<Dim> {
        match a {
            GenericArgument::Const(e) => Some(Dim::from_expr(e, generic)),
            // `Linear<H, 10>`: a bare const parameter (or a named constant) parses as a type path.
            GenericArgument::Type(Type::Path(p)) if p.qself.is_none() && p.path.get_ident().is_some() => {
                Some(Dim::of_tokens(p.to_token_stream(), generic))
            }
            _ => None,
        }
    }

    /// Whether the two are known to differ (`false` when either is not a literal: the
    /// compiler decides then).
    pub fn differs(&self, other: &Dim) -> bool {
        match (self, other) {
            (Dim::Lit(a), Dim::Lit(b)) => a != b,
            _ => false,
        }
    }

    /// Whether the macro must leave a comparison of the two to a constant check: neither
    /// is generic and not both are literals.
    pub fn deferred(&self, other: &Dim) -> bool {
        !matches!((self, other), (Dim::Lit(_), Dim::Lit(_))) && !self.is_generic() && !other.is_generic()
    }

    pub fn is_generic(&self) -> bool {
        matches!(self, Dim::Sym(..) | Dim::Computed(..))
    }

    pub fn tokens(&self) -> TokenStream {
        match self {
            Dim::Lit(v) => {
                let v = *v as usize;
                quote!(#v)
            }
            Dim::Const(_, t) | Dim::Sym(_, t) | Dim::Computed(_, t) => {
                // `{16 * 5 * 5}` as written is a block already.
                let mut it = t.clone().into_iter();
                match (it.next(), it.next()) {
                    (Some(proc_macro2::TokenTree::Group(g)), None)
                        if g.delimiter() == proc_macro2::Delimiter::Brace =>
                    {
                        t.clone()
                    }
                    _ => quote!({ #t }),
                }
            }
        }
    }

    /// The value as a `usize` expression (no braces).
    pub fn expr(&self) -> TokenStream {
        match self {
            Dim::Lit(v) => {
                let v = *v as usize;
                quote!(#v)
            }
            Dim::Const(_, t) | Dim::Sym(_, t) | Dim::Computed(_, t) => quote!((#t)),
        }
    }

    fn combine(&self, o: &Dim, op: TokenStream, f: fn(u128, u128) -> u128) -> Dim {
        match (self, o) {
            (Dim::Lit(a), Dim::Lit(b)) => Dim::Lit(f(*a, *b)),
            _ => {
                let (a, b) = (self.expr(), o.expr());
                let t = quote!(#a #op #b);
                if self.is_generic() || o.is_generic() {
                    Dim::Computed(format!("{self}{} {o}", op_text(&op)), t)
                } else {
                    Dim::Const(t.to_string(), t)
                }
            }
        }
    }

    pub fn add(&self, o: &Dim) -> Dim {
        self.combine(o, quote!(+), |a, b| a + b)
    }

    pub fn mul(&self, o: &Dim) -> Dim {
        self.combine(o, quote!(*), |a, b| a * b)
    }
}

/// Whether `ts` names any of the identifiers in `names`.
pub fn mentions_any(ts: &TokenStream, names: &[String]) -> bool {
    ts.clone().into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => names.iter().any(|n| i == n),
        proc_macro2::TokenTree::Group(g) => mentions_any(&g.stream(), names),
        _ => false,
    })
}

/// `ts` with every identifier `from` replaced by `to`: a shape computed from a layer type
/// does not depend on the scalar, so constant expressions name the layer at `f32`
/// (constants may not mention the network's generic scalar).
pub fn substitute(ts: TokenStream, from: &Ident, to: &TokenStream) -> TokenStream {
    ts.into_iter()
        .flat_map(|tt| -> Vec<proc_macro2::TokenTree> {
            match tt {
                proc_macro2::TokenTree::Ident(i) if i == *from => to.clone().into_iter().collect(),
                proc_macro2::TokenTree::Group(g) => {
                    let mut inner = proc_macro2::Group::new(g.delimiter(), substitute(g.stream(), from, to));
                    inner.set_span(g.span());
                    vec![proc_macro2::TokenTree::Group(inner)]
                }
                other => vec![other],
            }
        })
        .collect()
}

/// ` *` for `*`: how `combine` writes its operator in messages.
fn op_text(op: &TokenStream) -> String {
    format!(" {op}")
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Lit(v) => write!(f, "{v}"),
            Dim::Const(s, _) | Dim::Sym(s, _) | Dim::Computed(s, _) => f.write_str(s),
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
    /// Dimensions computed from a generic parameter of the network, and the type of
    /// `shape::computed` that computes them when the network is built
    /// (`ConvOut<Rank3<1, H, H>, 8, 3, 1, 0, 1>` for `[8, H - 2, H - 2]`).
    Computed(Vec<Dim>, TokenStream),
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
            Shp::Opaque(t) | Shp::Computed(_, t) => t.clone(),
        }
    }

    /// The dimensions the macro knows, literal or symbolic.
    pub fn dims(&self) -> Option<&[Dim]> {
        match self {
            Shp::Known(d) | Shp::Computed(d, _) => Some(d),
            Shp::Opaque(_) => None,
        }
    }

    pub fn numel(&self, core: &TokenStream) -> TokenStream {
        let ty = self.ty(core);
        quote!(<#ty as #core::shape::Shape>::NUMEL)
    }

    /// `[16, 4, 4]`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Shp::Known(d) | Shp::Computed(d, _) => {
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
    /// Moves values to other places, computing nothing new: pure, no parameters.
    Rearrange(Rearrange),
}

/// The layers that move values, each with its own shape rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rearrange {
    /// `Reshape<RankN<..>>`: the target is in the type argument.
    Reshape,
    /// `Unflatten<C, H, W>`: a reshape to `[C, H, W]`, `args` = `[C, H, W]`.
    Unflatten,
    /// `[R, C]` to `[C, R]`.
    Transpose,
    /// `Permute<A, B, C>`: output axis `k` is input axis `args[k]`.
    Permute,
    /// Nearest-neighbour upsampling by `args[0]` along `rank` spatial dimensions.
    Upsample { rank: usize },
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
    Spec { name: "Reshape", kind: Kind::Rearrange(Rearrange::Reshape), consts: &[], scalar: false },
    Spec { name: "Unflatten", kind: Kind::Rearrange(Rearrange::Unflatten), consts: &[R, R, R], scalar: false },
    Spec { name: "Transpose", kind: Kind::Rearrange(Rearrange::Transpose), consts: &[], scalar: false },
    Spec { name: "Permute", kind: Kind::Rearrange(Rearrange::Permute), consts: &[R, R, R], scalar: false },
    Spec { name: "Upsample", kind: Kind::Rearrange(Rearrange::Upsample { rank: 2 }), consts: &[R], scalar: false },
    Spec { name: "Upsample1d", kind: Kind::Rearrange(Rearrange::Upsample { rank: 1 }), consts: &[R], scalar: false },
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
    /// The shape of each input as this node's layer is called with it, where it differs
    /// in form from the producer's (a dimension the compiler checks equal to the layer's
    /// own literal is written as that literal, so a mismatch is one checked message, not a
    /// type error).
    pub in_view: Vec<Option<Shp>>,
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
    /// The generic parameters other than the scalar: dimensions that mention one are left
    /// to the type checker.
    pub generic: Vec<String>,
    /// Checks on dimensions the compiler evaluates, emitted as constant items (filled by
    /// check).
    pub deferred: Vec<Deferred>,
}

/// A shape check the macro cannot decide: it holds when `ok` evaluates to `true`, and
/// otherwise the compiler stops with `message`, at `span`.
pub struct Deferred {
    pub span: TokenStream,
    pub ok: TokenStream,
    pub message: Vec<Part>,
}

/// A piece of a deferred check's message.
pub enum Part {
    Text(String),
    /// A `usize` expression.
    Num(TokenStream),
    /// A shape: a `&[usize]` expression.
    Dims(TokenStream),
}

impl Graph {
    pub fn from_def(cx: &Ctxt, def: NetworkDef) -> Graph {
        let NetworkDef { attrs, vis, ident, mut generics, input, nodes: mut decls, outputs } = def;

        let (scalar, scalar_added) = scalar_param(&mut generics);
        let generic: Vec<String> = generics
            .params
            .iter()
            .filter_map(|p| match p {
                syn::GenericParam::Type(t) if t.ident != scalar => Some(t.ident.to_string()),
                syn::GenericParam::Const(c) => Some(c.ident.to_string()),
                _ => None,
            })
            .collect();

        let mut nodes = vec![Node {
            name: input.name.clone(),
            op: Op::Input,
            args: Vec::new(),
            written_args: Vec::new(),
            shape: Some(Shp::Known(input.dims.iter().map(|d| Dim::from_expr(d, &generic)).collect())),
            fused: None,
            alias: None,
            in_view: Vec::new(),
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
                in_view: Vec::new(),
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
                let (stored, args) = with_defaults(ty, &scalar, &generic);
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

        Graph {
            attrs,
            vis,
            ident,
            generics,
            scalar,
            scalar_added,
            layers,
            nodes,
            outputs,
            order: Vec::new(),
            generic,
            deferred: Vec::new(),
        }
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

    /// The shape of input `i` of node `n` as its layer is called with it.
    pub fn input_shape(&self, n: NodeId, i: usize) -> &Shp {
        match self.nodes[n].in_view.get(i) {
            Some(Some(s)) => s,
            _ => self.shape(self.nodes[n].args[i]),
        }
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
fn with_defaults(ty: &Type, scalar: &Ident, generic: &[String]) -> (Type, Vec<Dim>) {
    if let Type::Array(a) = ty {
        // `[ResBlock<T>; 4]`: four copies applied in sequence.
        let (elem, len) = (&a.elem, &a.len);
        let len = match len {
            Expr::Lit(_) | Expr::Path(_) => quote!(#len),
            _ => quote!({ #len }),
        };
        let stored =
            syn::parse_quote_spanned!(ty.span()=> ::monograd::__private::monograd_core::block::Repeat<#elem, #len>);
        return (stored, Vec::new());
    }
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
    let args: Option<Vec<Dim>> = ab.args.iter().take(spec.consts.len()).map(|a| Dim::from_arg(a, generic)).collect();
    (stored, args.unwrap_or_default())
}

/// A layer type as the user wrote it, compactly: `Linear<784, 10>`, `[Block<T>; 2]`.
pub fn written(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" ;", ";")
}
