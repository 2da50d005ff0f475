//! Validation: argument counts, cycles, every shape, unused nodes.
//!
//! Shapes are computed from the literals for every layer whose rule the macro knows, so a
//! mismatch is reported here in words, spanned on the offending layer, before the type
//! checker runs. What the macro cannot decide (symbolic dimensions, user layers) is left to
//! the bounds the expansion emits.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use super::model::{mentions_any, substitute, written, Deferred, Dim, Graph, Kind, NodeId, Op, Part, Rearrange, Shp};
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, g: &mut Graph) {
    super::config::check(cx, g);
    check_arity(cx, g);
    let Some(order) = topological_order(cx, g) else { return };
    g.order = order;
    compute_shapes(cx, g);
    check_unused(cx, g);
}

/// Where to point for a node: its layer type when it declares one, else its name.
fn node_tokens(g: &Graph, n: NodeId) -> TokenStream {
    let node = &g.nodes[n];
    match g.layer_of(n) {
        Some(l) if l.name == node.name => l.written.to_token_stream(),
        _ => node.name.to_token_stream(),
    }
}

/// Where to point at a layer's generic argument `i` (the width in `Linear<64, 10>`, the
/// kernel size in `Conv2d<1, 6, 5>`) when the node declares the layer and the argument is
/// written, else as [`node_tokens`].
fn arg_tokens(g: &Graph, n: NodeId, i: usize) -> TokenStream {
    let node = &g.nodes[n];
    if let Some(l) = g.layer_of(n).filter(|l| l.name == node.name) {
        if let syn::Type::Path(p) = &l.written {
            if let Some(syn::PathArguments::AngleBracketed(ab)) = p.path.segments.last().map(|s| &s.arguments) {
                if let Some(arg) = ab.args.iter().nth(i) {
                    return arg.to_token_stream();
                }
            }
        }
    }
    node_tokens(g, n)
}

fn check_arity(cx: &Ctxt, g: &Graph) {
    for (n, node) in g.nodes.iter().enumerate().skip(1) {
        let Some(layer) = g.layer_of(n) else { continue };
        let want = if layer.kind.is_merge() { 2 } else { 1 };
        if node.args.len() != want {
            let written = written(&layer.written);
            let got = node.args.len();
            let msg = match (want, got) {
                (2, 0 | 1) => {
                    format!("`{}`: `{written}` joins two nodes: write `{}(a, b): {written}`", node.name, node.name)
                }
                (2, _) => format!("`{}`: `{written}` joins two nodes, not {got}: join them pairwise", node.name),
                (_, 0) => format!("`{}`: `{written}` takes one node, not 0", node.name),
                _ => format!(
                    "`{}`: `{written}` takes one node, not {got}: join them first with `Add` or `Concat`",
                    node.name
                ),
            };
            // Point at the first input too many, or at the node when one is missing.
            let span = node.written_args.get(want).map_or(node.name.span(), |a| a.span());
            cx.error_at(span, msg);
        }
    }
}

/// Kahn's algorithm; on a cycle, reports it with its path and returns `None`.
fn topological_order(cx: &Ctxt, g: &Graph) -> Option<Vec<NodeId>> {
    let n = g.nodes.len();
    let mut indegree = vec![0usize; n];
    let mut consumers = vec![Vec::new(); n];
    for (id, node) in g.nodes.iter().enumerate() {
        for &a in &node.args {
            indegree[id] += 1;
            consumers[a].push(id);
        }
    }
    // Declaration order among the ready nodes, so the generated code reads like the source.
    let mut ready: Vec<NodeId> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(pos) = ready.iter().enumerate().min_by_key(|(_, &v)| v).map(|(i, _)| i) {
        let v = ready.swap_remove(pos);
        order.push(v);
        for &c in &consumers[v] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(c);
            }
        }
    }
    if order.len() == n {
        return Some(order);
    }
    // Walk back along inputs from a node left over until one repeats: that is a cycle.
    let left: Vec<bool> = (0..n).map(|i| indegree[i] > 0).collect();
    let start = (0..n).find(|&i| left[i]).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    while let Some(&next) = g.nodes[cur].args.iter().find(|&&a| left[a]) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            report_cycle(cx, g, &path[pos..]);
            return None;
        }
        path.push(next);
        cur = next;
    }
    cx.error_at(g.nodes[start].name.span(), "cycle in the network");
    None
}

/// `cycle` lists nodes each of which reads the next, the last reading the first. Reports it
/// in the order values flow, starting at the node that reads one declared at or after it
/// (every cycle has one), and points at that input as the user wrote it.
fn report_cycle(cx: &Ctxt, g: &Graph, cycle: &[NodeId]) {
    let k = cycle.len();
    // Reader `cycle[i]` reads `cycle[(i + 1) % k]`.
    let back = (0..k).find(|&i| cycle[(i + 1) % k] >= cycle[i]).unwrap_or(0);
    let (reader, source) = (cycle[back], cycle[(back + 1) % k]);
    // Values flow against the reads: from the reader, back through the list.
    let flow: Vec<String> = (0..=k).map(|j| format!("`{}`", g.nodes[cycle[(back + k - j % k) % k]].name)).collect();
    let node = &g.nodes[reader];
    let span = node.written_args.iter().find(|a| **a == g.nodes[source].name).map_or(node.name.span(), |a| a.span());
    let how = if reader == source {
        format!("`{}` reads its own output", node.name)
    } else {
        format!("`{}` reads `{}`, which depends on `{}`", node.name, g.nodes[source].name, node.name)
    };
    cx.error_at(span, format!("cycle in the network: {}; {how}", flow.join(" -> ")));
}

fn compute_shapes(cx: &Ctxt, g: &mut Graph) {
    let core = quote!(::monograd::__private::monograd_core);
    for &n in &g.order.clone() {
        if g.nodes[n].op == Op::Input {
            continue;
        }
        let args = g.nodes[n].args.clone();
        // An earlier error left an input without a shape: nothing more to say here.
        let Some(mut ins) = args.iter().map(|&a| g.nodes[a].shape.clone()).collect::<Option<Vec<Shp>>>() else {
            continue;
        };
        if ins.is_empty() {
            continue;
        }
        // Shapes computed from a generic parameter (`Shp::Computed`): the rules read their
        // dimensions, and the layer is called with the computed type itself.
        let originals = ins.clone();
        let computed_in = ins.iter().position(|s| matches!(s, Shp::Computed(..)));
        for s in ins.iter_mut() {
            if let Shp::Computed(d, _) = s {
                *s = Shp::Known(d.clone());
            }
        }
        let mut defer =
            Defer { core: core.clone(), span: node_tokens(g, n), prefix: String::new(), checks: Vec::new() };
        let mut views: Vec<Option<Shp>> = vec![None; ins.len()];
        let layer = g.layer_of(n).expect("non-input nodes apply a layer");
        let name = &g.nodes[n].name;
        let src = |i: usize| -> String {
            let a = args[i];
            match (a, g.nodes[a].name == "input") {
                (0, true) => "the network's input".to_string(),
                (0, false) => format!("the input `{}`", g.nodes[a].name),
                _ => format!("`{}`", g.nodes[a].name),
            }
        };
        // `Linear<64, 10>`, or `fc1`'s `Linear<64, 10>` when the node reuses that layer.
        let written = if layer.name == *name {
            format!("`{}`", written(&layer.written))
        } else {
            format!("`{}`'s `{}`", layer.name, written(&layer.written))
        };
        let mut span = node_tokens(g, n);
        defer.prefix = format!("`{name}`: {written} ");
        // A rule that needs the dimensions of an input whose shape is only a type (a
        // nested network's output, a layer of the user's own) reads them from the type
        // during constant evaluation, with a check of its rank.
        let known_rank = |s: &Shp| if let Shp::Known(d) = s { Some(d.len()) } else { None };
        for i in 0..ins.len() {
            let rank = match &layer.kind {
                Kind::Linear if layer.dims.is_some() => Some(1),
                Kind::Embedding => Some(1),
                Kind::Conv { rank, .. } => Some(rank + 1),
                Kind::Pool | Kind::GlobalPool => Some(3),
                Kind::Rearrange(Rearrange::Transpose) => Some(2),
                Kind::Rearrange(Rearrange::Permute) => Some(3),
                Kind::Rearrange(Rearrange::Upsample { rank }) => Some(rank + 1),
                Kind::Add | Kind::Concat => ins.get(1 - i.min(1)).and_then(known_rank),
                _ => None,
            };
            if let (Kind::Rearrange(Rearrange::Reshape | Rearrange::Unflatten), Shp::Opaque(t)) = (&layer.kind, &ins[i])
            {
                // A reshape reads its input flat: as many values as the type says.
                if let Some(t) = const_type(g, t) {
                    let flat = Shp::Known(vec![Dim::Const(
                        format!("values in {}", src(i)),
                        quote!(<#t as #core::shape::Shape>::NUMEL),
                    )]);
                    views[i] = Some(flat.clone());
                    ins[i] = flat;
                }
            }
            if let (Some(rank), Shp::Opaque(t)) = (rank, &ins[i]) {
                if let Some(opened) = open(g, &mut defer, t, rank, &src(i)) {
                    views[i] = Some(opened.clone());
                    ins[i] = opened;
                }
            }
        }
        if let Some(why) = cannot_follow_computed(layer, &ins[0], computed_in.map(|i| (&ins[i], src(i)))) {
            cx.error_spanned_by(span, format!("`{name}`: {written} {why}"));
            continue;
        }
        let in_ty = originals[0].ty(&core);
        let result: Result<Shp, String> = match (&layer.kind, &ins[0]) {
            (_, Shp::Computed(..)) => unreachable!("computed inputs are read as their dimensions"),
            (Kind::Linear, input) => match (&layer.dims, input) {
                (Some((i, o)), Shp::Known(d)) if d.len() == 1 => {
                    if i.deferred(&d[0]) {
                        let (want, got) = (i.expr(), d[0].expr());
                        defer.check(
                            quote!(#core::shape::check::equal(#want, #got)),
                            vec![
                                Part::Text("expects ".into()),
                                Part::Num(want),
                                Part::Text(format!(" inputs, but {} yields ", src(0))),
                                Part::Num(got),
                            ],
                        );
                        views[0] = Some(Shp::Known(vec![i.clone()]));
                    }
                    if i.differs(&d[0]) {
                        span = arg_tokens(g, n, 0);
                        Err(format!(
                            "`{name}`: {written} expects {i} inputs, but {} yields {}{}",
                            src(0),
                            d[0],
                            flattened_from(g, args[0])
                        ))
                    } else {
                        Ok(Shp::Known(vec![o.clone()]))
                    }
                }
                (Some((i, _)), Shp::Known(d)) => Err(format!(
                    "`{name}`: {written} expects a vector of {i} features, but {} yields {} values shaped {}; put a \
                     `Flatten` before it",
                    src(0),
                    numel_text(d),
                    ins[0].describe()
                )),
                (Some((_, o)), Shp::Opaque(_) | Shp::Computed(..)) => Ok(Shp::Known(vec![o.clone()])),
                (None, _) => Ok(opaque(&core, layer.ty.to_token_stream(), &ins[0])),
            },
            (Kind::Activation { .. } | Kind::Stateful, _) => Ok(originals[0].clone()),
            (Kind::Flatten, Shp::Known(d)) => {
                let total = d.iter().skip(1).fold(d[0].clone(), |acc, x| acc.mul(x));
                Ok(Shp::Known(vec![total]))
            }
            (Kind::Flatten, Shp::Opaque(t)) => match const_type(g, t) {
                Some(t) => Ok(Shp::Known(vec![Dim::Const(
                    format!("values in {}", src(0)),
                    quote!(<#t as #core::shape::Shape>::NUMEL),
                )])),
                None => Err(format!(
                    "`{name}`: cannot flatten the output of {}: its shape comes from a layer generic over the \
                     network's parameters",
                    src(0)
                )),
            },
            (Kind::Add, a) => match (a, ins.get(1)) {
                (Shp::Known(x), Some(Shp::Known(y)))
                    if x.len() != y.len() || x.iter().zip(y).any(|(p, q)| p.differs(q)) =>
                {
                    Err(format!(
                        "`{name}`: `Add` needs two inputs of the same shape, but {} yields {} and {} yields {}",
                        src(0),
                        ins[0].describe(),
                        src(1),
                        ins[1].describe()
                    ))
                }
                (Shp::Known(x), Some(Shp::Known(y))) => {
                    if x.len() == y.len() && x.iter().zip(y).any(|(p, q)| p.deferred(q)) {
                        let (xs, ys) = (dims_expr(x), dims_expr(y));
                        defer.check(
                            quote!(#core::shape::check::same_dims(#xs, #ys)),
                            vec![
                                Part::Text(format!("needs two inputs of the same shape, but {} yields ", src(0))),
                                Part::Dims(xs),
                                Part::Text(format!(" and {} yields ", src(1))),
                                Part::Dims(ys),
                            ],
                        );
                        views[1] = Some(a.clone());
                    }
                    Ok(a.clone())
                }
                _ => Ok(a.clone()),
            },
            (Kind::Concat, a) => match (a, ins.get(1)) {
                (Shp::Known(x), Some(Shp::Known(y))) => {
                    let rule = if x.len() != y.len() {
                        Some("joins two vectors, or two images along their channels")
                    } else if x.len() == 2 {
                        Some("joins vectors, or images along their channels, not matrices")
                    } else if x.iter().zip(y).skip(1).any(|(p, q)| p.differs(q)) {
                        Some("joins images along their channels: their height and width must agree")
                    } else {
                        None
                    };
                    if let Some(rule) = rule {
                        Err(format!(
                            "`{name}`: `Concat` {rule}, but {} yields {} and {} yields {}",
                            src(0),
                            ins[0].describe(),
                            src(1),
                            ins[1].describe()
                        ))
                    } else {
                        if x.iter().zip(y).skip(1).any(|(p, q)| p.deferred(q)) {
                            let (xs, ys) = (dims_expr(&x[1..]), dims_expr(&y[1..]));
                            let (xa, ya) = (dims_expr(x), dims_expr(y));
                            defer.check(
                                quote!(#core::shape::check::same_dims(#xs, #ys)),
                                vec![
                                    Part::Text(format!(
                                        "joins images along their channels: their height and width must agree, but \
                                         {} yields ",
                                        src(0)
                                    )),
                                    Part::Dims(xa),
                                    Part::Text(format!(" and {} yields ", src(1))),
                                    Part::Dims(ya),
                                ],
                            );
                            let mut v = x.clone();
                            v[0] = y[0].clone();
                            views[1] = Some(Shp::Known(v));
                        }
                        let mut out = x.clone();
                        out[0] = x[0].add(&y[0]);
                        Ok(Shp::Known(out))
                    }
                }
                _ => {
                    let unknown: Vec<_> =
                        (0..2).filter(|&i| matches!(ins.get(i), Some(Shp::Opaque(_)))).map(src).collect();
                    Err(format!(
                        "`{name}`: `Concat` needs inputs whose shapes the macro can compute, but the shape of {} comes \
                         from a layer without a built-in shape rule",
                        unknown.join(" and ")
                    ))
                }
            },
            (Kind::Custom, _) => {
                // A network nested here declares its input: a constant check compares it
                // with what the node before gives.
                let s = &originals[0];
                let ty = layer.ty.to_token_stream();
                if let (Some(lt), Some(it)) = (const_type(g, &ty), const_type(g, &s.ty(&core))) {
                    let declared = quote!(<#lt as #core::module::OutputShape<#it>>::DECLARED_INPUT);
                    let given = quote!(<#it as #core::shape::Shape>::DIMS);
                    defer.check(
                        quote!(match #declared {
                            ::core::option::Option::Some(__d) => #core::shape::check::same_dims(__d, #given),
                            ::core::option::Option::None => true,
                        }),
                        vec![
                            Part::Text("takes ".into()),
                            Part::Dims(quote!(match #declared {
                                ::core::option::Option::Some(__d) => __d,
                                ::core::option::Option::None => &[],
                            })),
                            Part::Text(format!(", the input it declares, but {} yields ", src(0))),
                            Part::Dims(given),
                        ],
                    );
                }
                Ok(opaque(&core, ty, s))
            }
            (Kind::Conv { rank, at }, s) => {
                conv_shape(*rank, *at, &layer.args, (s, &in_ty), &src(0), &mut defer, &mut views[0])
                    .map_err(|why| why.report(g, n, &mut span, name, &written))
            }
            (Kind::Pool, s) => pool_shape(&layer.args, (s, &in_ty), &src(0), &mut defer)
                .map_err(|why| why.report(g, n, &mut span, name, &written)),
            (Kind::GlobalPool, Shp::Known(d)) if d.len() == 3 => Ok(Shp::Known(vec![d[0].clone()])),
            (Kind::GlobalPool, _) => Err(format!(
                "`{name}`: {written} averages each channel of an image [C, H, W], but {} yields {}",
                src(0),
                ins[0].describe()
            )),
            (Kind::Embedding, Shp::Known(d)) if d.len() == 1 && layer.args.len() == 2 => {
                Ok(Shp::Known(vec![d[0].clone(), layer.args[1].clone()]))
            }
            (Kind::Embedding, _) => Err(format!(
                "`{name}`: {written} looks up a sequence of token indices [L], but {} yields {}",
                src(0),
                ins[0].describe()
            )),
            (Kind::Norm { last, ranks }, s) => {
                norm_shape(*last, *ranks, &layer.args, s, &src(0), &mut defer, &mut views[0])
                    .map_err(|why| why.report(g, n, &mut span, name, &written))
            }
            (Kind::Rearrange(how), s) => rearrange_shape(&core, *how, layer, s, &src(0), &g.generic, &mut defer)
                .map_err(|why| why.report(g, n, &mut span, name, &written)),
        };
        let result = match result {
            // `Add` on a computed shape: both inputs read as the first one's type, their
            // dimensions compared once the network is built.
            // A norm over a computed shape keeps it; its channel check (if any) waits for the
            // build, with no view: the layer is called with the computed type.
            Ok(_) if matches!(layer.kind, Kind::Norm { .. }) && computed_in.is_some() => {
                views[0] = None;
                Ok(originals[0].clone())
            }
            Ok(_) if layer.kind == Kind::Add && computed_in.is_some() => {
                let (a, b) = (&originals[0], &originals[1]);
                if a.ty(&core).to_string() != b.ty(&core).to_string() {
                    let (Some(x), Some(y)) = (a.dims(), b.dims()) else { unreachable!("computed shapes have dims") };
                    let (xs, ys) = (dims_expr(x), dims_expr(y));
                    defer.check(
                        quote!(#core::shape::check::same_dims(#xs, #ys)),
                        vec![
                            Part::Text(format!("needs two inputs of the same shape, but {} yields ", src(0))),
                            Part::Dims(xs),
                            Part::Text(format!(" and {} yields ", src(1))),
                            Part::Dims(ys),
                        ],
                    );
                    views[1] = Some(a.clone());
                }
                Ok(a.clone())
            }
            // A rule that wrote arithmetic on a generic parameter into plain dimensions
            // (`Flatten` of `[C, H, W]`): no type can carry them.
            Ok(Shp::Known(d)) if d.iter().any(|d| matches!(d, Dim::Computed(..))) => {
                Err(format!("`{name}`: {written} {}", computed_sizes_here(&Shp::Known(d.clone()), &src(0))))
            }
            other => other,
        };
        match result {
            Ok(s) => {
                g.nodes[n].shape = Some(s);
                g.nodes[n].in_view = views;
                g.deferred.extend(defer.checks);
            }
            Err(msg) => cx.error_spanned_by(span, msg),
        }
    }
}

/// Checks on dimensions the compiler evaluates, for one node: each message starts with the
/// node and its layer, as the macro's own do.
struct Defer {
    core: TokenStream,
    span: TokenStream,
    prefix: String,
    checks: Vec<Deferred>,
}

impl Defer {
    fn check(&mut self, ok: TokenStream, mut message: Vec<Part>) {
        if trivially_true(&ok) {
            return;
        }
        message.insert(0, Part::Text(self.prefix.clone()));
        self.checks.push(Deferred { span: self.span.clone(), ok, message });
    }
}

/// `equal(a, b)` with `a` and `b` the same tokens (`HIDDEN` against `HIDDEN`): no check
/// needed.
fn trivially_true(ok: &TokenStream) -> bool {
    let Some(proc_macro2::TokenTree::Group(args)) = ok.clone().into_iter().last() else { return false };
    let text = ok.to_string();
    if !text.contains("equal") {
        return false;
    }
    let parts: Vec<String> = args.stream().to_string().splitn(2, " , ").map(str::to_string).collect();
    parts.len() == 2 && parts[0] == parts[1]
}

/// `&[a, b, c]` for a shape's dimensions.
fn dims_expr(d: &[Dim]) -> TokenStream {
    let e: Vec<_> = d.iter().map(Dim::expr).collect();
    quote!(&[#(#e),*])
}

/// The opaque shape type `t` at the scalar `f32`, when it mentions no other generic
/// parameter of the network: a type constants may name.
fn const_type(g: &Graph, t: &TokenStream) -> Option<TokenStream> {
    let t = substitute(t.clone(), &g.scalar, &quote!(f32));
    (!mentions_any(&t, &g.generic)).then_some(t)
}

/// The dimensions of the opaque shape `t`, read from the type by the compiler, for a rule
/// that needs `rank` of them; a check that it has that many.
fn open(g: &Graph, defer: &mut Defer, t: &TokenStream, rank: usize, from: &str) -> Option<Shp> {
    let t = const_type(g, t)?;
    let core = defer.core.clone();
    let want = match rank {
        1 => "a vector [N]",
        2 => "a matrix or signal [C, L]",
        _ => "an image [C, H, W]",
    };
    defer.check(
        quote!(#core::shape::check::equal(#core::shape::check::rank::<#t>(), #rank)),
        vec![
            Part::Text(format!("expects {want}, but {from} yields ")),
            Part::Dims(quote!(<#t as #core::shape::Shape>::DIMS)),
        ],
    );
    let dims = (0..rank)
        .map(|i| Dim::Const(format!("dimension {i} of {from}"), quote!(#core::shape::check::dim::<#t>(#i))))
        .collect();
    Some(Shp::Known(dims))
}

/// Why a shape rule rejects its input: the words after the layer, and which of the
/// layer's generic arguments to underline (the channel count, the kernel size).
struct Why {
    text: String,
    arg: Option<usize>,
}

impl Why {
    fn new(text: impl Into<String>) -> Why {
        Why { text: text.into(), arg: None }
    }

    fn at(arg: usize, text: impl Into<String>) -> Why {
        Why { text: text.into(), arg: Some(arg) }
    }

    /// "`c2`: `Conv2d<8, 16, 3>` <text>", pointing at the argument where there is one.
    fn report(self, g: &Graph, n: NodeId, span: &mut TokenStream, name: &syn::Ident, written: &str) -> String {
        if let Some(i) = self.arg {
            *span = arg_tokens(g, n, i);
        }
        format!("`{name}`: {written} {}", self.text)
    }
}

impl From<String> for Why {
    fn from(text: String) -> Why {
        Why::new(text)
    }
}

/// A literal, or why the rule needs one.
fn lit(d: &Dim) -> Result<u128, String> {
    match d {
        Dim::Lit(v) => Ok(*v),
        Dim::Sym(s, _) | Dim::Computed(s, _) => Err(format!(
            "needs literal sizes to compute its output (`{s}` is not one: stable Rust cannot compute array sizes \
             from generic parameters)"
        )),
        Dim::Const(s, _) => Err(format!("needs a literal here (`{s}` is not one): write the number")),
    }
}

/// `(in + 2p - d(k - 1) - 1) / s + 1`, or `None` when the kernel does not fit.
fn out_size(input: u128, k: u128, s: u128, p: u128, d: u128) -> Option<u128> {
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = input.checked_add(2 * p)?;
    if k == 0 || s == 0 || d == 0 || span > padded {
        return None;
    }
    Some((padded - span) / s + 1)
}

/// `[6, 24, 24]`, for messages.
fn dims(d: &[Dim]) -> String {
    Shp::Known(d.to_vec()).describe()
}

/// Kernel size, stride and dilation (at these argument positions) are at least 1.
fn check_positive(named: &[(u128, usize, &str)]) -> Result<(), Why> {
    for &(v, arg, what) in named {
        if v == 0 {
            return Err(Why::at(arg, format!("has a {what} of 0, which must be at least 1")));
        }
    }
    Ok(())
}

/// A convolution's output shape: `[CI, spatial..]` to `[CO, spatial'..]`.
fn conv_shape(
    rank: usize,
    at: super::model::ConvArgs,
    args: &[Dim],
    (input, in_ty): (&Shp, &TokenStream),
    from: &str,
    defer: &mut Defer,
    view: &mut Option<Shp>,
) -> Result<Shp, Why> {
    let Shp::Known(d) = input else {
        return Err(Why::new(format!(
            "needs an input whose shape the macro can compute, but the shape of {from} comes from a layer without a \
             built-in shape rule"
        )));
    };
    if args.is_empty() {
        return Err(Why::new("needs plain constants as its parameters"));
    }
    let ci = &args[at.ci];
    let want = if rank == 2 { format!("[{ci}, H, W]") } else { format!("[{ci}, L]") };
    if d.len() != rank + 1 {
        let what = if rank == 2 { "an image" } else { "a signal" };
        return Err(Why::new(format!("expects {what} {want}, but {from} yields {}", dims(d))));
    }
    if ci.differs(&d[0]) {
        return Err(Why::at(
            at.ci,
            format!("expects {ci} input channels, {want}, but {from} yields {} channels, {}", d[0], dims(d)),
        ));
    }
    // Sizes computed from a generic parameter: the output is a computed shape, called with
    // the input's own type, and every check waits for the network to be built.
    let generic = d[1..].iter().any(Dim::is_generic);
    if ci.deferred(&d[0]) || (generic && (ci.is_generic() || d[0].is_generic())) {
        let core = defer.core.clone();
        let (c, got) = (ci.expr(), d[0].expr());
        defer.check(
            quote!(#core::shape::check::equal(#c, #got)),
            vec![
                Part::Text("expects ".into()),
                Part::Num(c),
                Part::Text(format!(" input channels, but {from} yields ")),
                Part::Dims(dims_expr(d)),
            ],
        );
        if !generic {
            let mut v = d.clone();
            v[0] = ci.clone();
            *view = Some(Shp::Known(v));
        }
    }
    let [k, s, p, dil] = [at.k, at.s, at.p, at.d].map(|i| lit(&args[i]));
    let (k, s, p, dil) = (k?, s?, p?, dil?);
    check_positive(&[(k, at.k, "kernel size"), (s, at.s, "stride"), (dil, at.d, "dilation")])?;
    let mut out = vec![at.co.map_or_else(|| d[0].clone(), |co| args[co].clone())];
    for size in &d[1..] {
        if !matches!(size, Dim::Lit(_)) {
            out.push(const_out(defer, size, d, (k, s, p, dil), rank == 2, from));
            continue;
        }
        match out_size(lit(size)?, k, s, p, dil) {
            Some(o) => out.push(Dim::Lit(o)),
            None => {
                let reach = dil * (k - 1) + 1;
                let need = reach.saturating_sub(2 * p).max(1);
                let square = |v: u128| if rank == 2 { format!("{v}x{v}") } else { format!("{v}") };
                let kernel = if rank == 2 { format!("a {k}x{k} kernel") } else { format!("a kernel of {k}") };
                let dilated =
                    if dil > 1 { format!(" dilated by {dil} (spanning {})", square(reach)) } else { String::new() };
                let padded = if p > 0 { format!(" with padding {p}") } else { String::new() };
                let at_least = if rank == 2 {
                    format!("an input of at least {}", square(need))
                } else {
                    format!("a length of at least {need}")
                };
                return Err(Why::at(
                    at.k,
                    format!("slides {kernel}{dilated}, which{padded} needs {at_least}, but {from} yields {}", dims(d)),
                ));
            }
        }
    }
    if generic {
        let core = &defer.core;
        let c = args[at.co.unwrap_or(at.ci)].tokens();
        let [k, s, p, dil] = [k, s, p, dil].map(|v| v as usize);
        let ty = quote!(#core::shape::computed::ConvOut<#in_ty, #c, #k, #s, #p, #dil>);
        return Ok(Shp::Computed(out, ty));
    }
    Ok(Shp::Known(out))
}

/// A sliding window's output size along a dimension the compiler evaluates, and a check
/// that the window fits.
fn const_out(
    defer: &mut Defer,
    size: &Dim,
    d: &[Dim],
    (k, s, p, dil): (u128, u128, u128, u128),
    square: bool,
    from: &str,
) -> Dim {
    let core = defer.core.clone();
    let e = size.expr();
    let [k, s, p, dil] = [k, s, p, dil].map(|v| v as usize);
    let out = quote!(#core::shape::check::conv_out(#e, #k, #s, #p, #dil));
    let reach = dil * (k - 1) + 1;
    let need = reach.saturating_sub(2 * p).max(1);
    let window = if square { format!("{k}x{k}") } else { format!("{k}") };
    let padded = if p > 0 { format!(" with padding {p}") } else { String::new() };
    defer.check(
        quote!(#out > 0),
        vec![
            Part::Text(format!(
            "slides a {window} window{padded}, which needs at least {need} along each dimension, but {from} yields "
        )),
            Part::Dims(dims_expr(d)),
        ],
    );
    if size.is_generic() {
        Dim::Computed(window_text(size, k, s, p, dil), out)
    } else {
        Dim::Const(format!("output of {from}"), out)
    }
}

/// A sliding window's output size in words, for messages: `H - 2`, `(H - 4) / 2 + 1`,
/// `(H + 2 + 2 * P - D * (K - 1) - 1) / S + 1` with its numbers folded.
fn window_text(size: &Dim, k: usize, s: usize, p: usize, d: usize) -> String {
    // What is taken from the size before dividing by the stride.
    let taken = (d * k.saturating_sub(1) + 1) as i128 - 2 * p as i128 - i128::from(s == 1);
    let x = size.to_string();
    // `H - 2` less 2 is `H - 4`: fold a trailing constant.
    let (base, held) = match x.rsplit_once(' ') {
        Some((rest, n)) if rest.ends_with(" -") || rest.ends_with(" +") => match n.parse::<i128>() {
            Ok(n) => {
                let sign = if rest.ends_with(" -") { -1 } else { 1 };
                (rest[..rest.len() - 2].to_string(), sign * n)
            }
            Err(_) => (x.clone(), 0),
        },
        _ => (x.clone(), 0),
    };
    let net = held - taken;
    let numerator = match net {
        0 => base,
        n if n < 0 => format!("{base} - {}", -n),
        n => format!("{base} + {n}"),
    };
    if s == 1 {
        numerator
    } else {
        format!("({numerator}) / {s} + 1")
    }
}

/// Why a layer cannot take the output of a node whose size is computed from a generic
/// parameter, when it cannot; `None` when it can (a convolution, pooling, an activation,
/// `Dropout`, `Add`, a layer of the user's own through `OutputShape`).
fn cannot_follow_computed(
    layer: &super::model::Layer,
    first: &Shp,
    computed: Option<(&Shp, String)>,
) -> Option<String> {
    let separable = matches!(&layer.written, syn::Type::Path(p)
        if p.path.segments.last().is_some_and(|s| s.ident == "SeparableConv2d"));
    let generic_image = first.dims().is_some_and(|d| d.iter().skip(1).any(Dim::is_generic));
    if separable && generic_image {
        return Some(computed_sizes_here(first, "its input"));
    }
    let (shape, from) = computed?;
    match layer.kind {
        Kind::Activation { .. } | Kind::Stateful | Kind::Custom | Kind::Add | Kind::GlobalPool => None,
        Kind::Conv { .. } | Kind::Pool if !separable => None,
        // `BatchNorm2d` (over images), not `BatchNorm1d` or `LayerNorm`.
        Kind::Norm { last: false, ranks: (3, _) } => None,
        _ => Some(computed_sizes_here(shape, &from)),
    }
}

/// The message for a layer that needs sizes the type system cannot name.
fn computed_sizes_here(shape: &Shp, from: &str) -> String {
    format!(
        "needs sizes it can name in a type, but {from} yields {}, computed from the network's const parameters \
         when it is built; what can follow such a node: `Conv1d`, `Conv2d`, `GroupedConv2d`, `MaxPool2d`, \
         `AvgPool2d`, `GlobalAvgPool2d`, `BatchNorm2d`, activations, `Dropout`, `Add` and layers of your own \
         (through `OutputShape`)",
        shape.describe()
    )
}

/// Pooling's output shape: `[C, H, W]` to `[C, (H - K) / S + 1, (W - K) / S + 1]`.
fn pool_shape(args: &[Dim], (input, in_ty): (&Shp, &TokenStream), from: &str, defer: &mut Defer) -> Result<Shp, Why> {
    let Shp::Known(d) = input else {
        return Err(Why::new(format!(
            "needs an input whose shape the macro can compute, but the shape of {from} comes from a layer without a \
             built-in shape rule"
        )));
    };
    if d.len() != 3 {
        return Err(Why::new(format!("pools an image [C, H, W], but {from} yields {}", dims(d))));
    }
    if args.len() < 2 {
        return Err(Why::new("needs plain constants as its parameters"));
    }
    let (k, s) = (lit(&args[0])?, lit(&args[1])?);
    check_positive(&[(k, 0, "window size"), (s, 1, "stride")])?;
    let mut out = vec![d[0].clone()];
    for size in &d[1..] {
        if !matches!(size, Dim::Lit(_)) {
            out.push(const_out(defer, size, d, (k, s, 0, 1), true, from));
            continue;
        }
        match out_size(lit(size)?, k, s, 0, 1) {
            Some(o) => out.push(Dim::Lit(o)),
            None => {
                return Err(Why::at(
                    0,
                    format!(
                        "slides a {k}x{k} window, which needs an input of at least {k}x{k}, but {from} yields {}",
                        dims(d)
                    ),
                ))
            }
        }
    }
    if d[1..].iter().any(Dim::is_generic) {
        let core = &defer.core;
        let [k, s] = [k, s].map(|v| v as usize);
        return Ok(Shp::Computed(out, quote!(#core::shape::computed::PoolOut<#in_ty, #k, #s>)));
    }
    Ok(Shp::Known(out))
}

/// Normalisation keeps the shape; `BatchNorm` counts channels in the first dimension,
/// `LayerNorm` features in the last.
fn norm_shape(
    last: bool,
    ranks: (usize, usize),
    args: &[Dim],
    input: &Shp,
    from: &str,
    defer: &mut Defer,
    view: &mut Option<Shp>,
) -> Result<Shp, Why> {
    let (Shp::Known(d), Some(c)) = (input, args.first()) else { return Ok(input.clone()) };
    if d.len() < ranks.0 || d.len() > ranks.1 {
        let text = match ranks {
            (3, _) => format!(
                "normalises images [{c}, H, W], but {from} yields {}; use `BatchNorm1d` for vectors and sequences",
                dims(d)
            ),
            _ => format!(
                "normalises vectors [{c}] or sequences [{c}, L], but {from} yields {}; use `BatchNorm2d` for images",
                dims(d)
            ),
        };
        return Err(Why::new(text));
    }
    if last {
        let got = &d[d.len() - 1];
        if c.differs(got) {
            return Err(Why::at(
                0,
                format!(
                    "expects {c} features in its last dimension, [.., {c}], but {from} yields {got} there, {}",
                    dims(d)
                ),
            ));
        }
    } else if c.differs(&d[0]) {
        let (what, want) = match d.len() {
            1 => ("features", format!("[{c}]")),
            2 => ("channels", format!("[{c}, L]")),
            _ => ("channels", format!("[{c}, H, W]")),
        };
        return Err(Why::at(0, format!("expects {c} {what}, {want}, but {from} yields {} {what}, {}", d[0], dims(d))));
    }
    let at = if last { d.len() - 1 } else { 0 };
    if c.deferred(&d[at]) {
        let core = defer.core.clone();
        let (want, got) = (c.expr(), d[at].expr());
        defer.check(
            quote!(#core::shape::check::equal(#want, #got)),
            vec![
                Part::Text("expects ".into()),
                Part::Num(want),
                Part::Text(format!(
                    " {}, but {from} yields ",
                    if last { "features in its last dimension" } else { "channels" }
                )),
                Part::Dims(dims_expr(d)),
            ],
        );
        let mut v = d.clone();
        v[at] = c.clone();
        *view = Some(Shp::Known(v));
    }
    Ok(input.clone())
}

/// ` ([16, 4, 4] flattened)` when node `a` is a `Flatten` whose input shape is known.
fn flattened_from(g: &Graph, a: NodeId) -> String {
    match g.layer_of(a) {
        Some(l) if l.kind == Kind::Flatten => match g.nodes[a].args.first().and_then(|&i| g.nodes[i].shape.as_ref()) {
            Some(s @ Shp::Known(_)) => format!(" ({} flattened)", s.describe()),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

fn numel_text(d: &[Dim]) -> String {
    d.iter().skip(1).fold(d[0].clone(), |acc, x| acc.mul(x)).to_string()
}

/// The output shape of a layer without a rule: `<L as OutputShape<In>>::Output`.
fn opaque(core: &TokenStream, ty: TokenStream, input: &Shp) -> Shp {
    let in_ty = input.ty(core);
    Shp::Opaque(quote!(<#ty as #core::module::OutputShape<#in_ty>>::Output))
}

/// Every node must lead to an output: a node nothing reads is a mistake (a proc macro
/// cannot warn on stable Rust, so it is an error).
fn check_unused(cx: &Ctxt, g: &Graph) {
    let mut used = vec![false; g.nodes.len()];
    let mut stack: Vec<NodeId> = g.outputs.clone();
    while let Some(n) = stack.pop() {
        if !std::mem::replace(&mut used[n], true) {
            stack.extend(g.nodes[n].args.iter().copied());
        }
    }
    for (n, node) in g.nodes.iter().enumerate() {
        if !used[n] {
            cx.error_at(
                node.name.span(),
                format!(
                    "node `{}` is never used: no output depends on it; remove it, or list it in `output (...)`",
                    node.name
                ),
            );
        }
    }
}

/// The shape after a layer that moves values: a reshape (its target from the type),
/// a transpose, a permutation of three axes, an upsampling.
fn rearrange_shape(
    core: &TokenStream,
    how: Rearrange,
    layer: &super::model::Layer,
    input: &Shp,
    from: &str,
    generic: &[String],
    defer: &mut Defer,
) -> Result<Shp, Why> {
    match how {
        Rearrange::Reshape | Rearrange::Unflatten => {
            let target = match how {
                Rearrange::Reshape => reshape_target(&layer.written, generic),
                _ => Some(layer.args.clone()).filter(|a| a.len() == 3),
            };
            // A target written otherwise (a shape type of the user's, a generic one) is
            // left to `OutputShape`, which `Reshape` implements for any input.
            let Some(target) = target else { return Ok(opaque(core, layer.ty.to_token_stream(), input)) };
            if let Shp::Known(d) = input {
                let (want, got) = (literal_numel(&target), literal_numel(d));
                if let (Some(want), Some(got)) = (want, got) {
                    if want != got {
                        let shaped = if d.len() == 1 { String::new() } else { format!(" ({})", dims(d)) };
                        return Err(Why::new(format!(
                            "needs {want} values per sample, but {from} yields {got}{shaped}"
                        )));
                    }
                } else if !target.iter().chain(d).any(Dim::is_generic) {
                    // Sizes the compiler evaluates: the same check, as a constant item.
                    let (want, got) = (dims_expr(&target), dims_expr(d));
                    defer.check(
                        quote!(#core::shape::check::equal(#core::shape::check::numel(#want), #core::shape::check::numel(#got))),
                        vec![
                            Part::Text("needs ".into()),
                            Part::Num(quote!(#core::shape::check::numel(#want))),
                            Part::Text(format!(" values per sample, but {from} yields ")),
                            Part::Num(quote!(#core::shape::check::numel(#got))),
                            Part::Text(" shaped ".into()),
                            Part::Dims(got),
                        ],
                    );
                }
            }
            Ok(Shp::Known(target))
        }
        Rearrange::Transpose => match input {
            Shp::Known(d) if d.len() == 2 => Ok(Shp::Known(vec![d[1].clone(), d[0].clone()])),
            Shp::Known(d) => {
                let hint = if d.len() == 3 { "; use `Permute<A, B, C>` for the three axes of an image" } else { "" };
                Err(Why::new(format!("swaps the two axes of a matrix [R, C], but {from} yields {}{hint}", dims(d))))
            }
            // `Transpose` states its output shape for matrices.
            Shp::Opaque(_) | Shp::Computed(..) => Ok(opaque(core, layer.ty.to_token_stream(), input)),
        },
        Rearrange::Permute => {
            let perm = permutation(&layer.args)?;
            match input {
                Shp::Known(d) if d.len() == 3 => Ok(Shp::Known(perm.iter().map(|&a| d[a].clone()).collect())),
                Shp::Known(d) => {
                    let hint = if d.len() == 2 { "; use `Transpose` for a matrix [R, C]" } else { "" };
                    Err(Why::new(format!(
                        "rearranges the three axes of a sample [D0, D1, D2], but {from} yields {}{hint}",
                        dims(d)
                    )))
                }
                Shp::Opaque(_) | Shp::Computed(..) => Err(Why::new(format!(
                    "needs an input whose shape the macro can compute, but the shape of {from} comes from a layer \
                     without a built-in shape rule"
                ))),
            }
        }
        Rearrange::Upsample { rank } => {
            let Some(f) = layer.args.first() else { return Err(Why::new("needs a plain constant as its scale")) };
            let f = lit(f).map_err(|e| Why::at(0, e))?;
            check_positive(&[(f, 0, "scale factor")])?;
            // What it takes, and the other upsampling for the other rank.
            let (what, other_rank, other) = if rank == 2 {
                ("images [C, H, W]", 2, "; use `Upsample1d` for signals [C, L]")
            } else {
                ("signals [C, L]", 3, "; use `Upsample` for images [C, H, W]")
            };
            match input {
                Shp::Known(d) if d.len() == rank + 1 => {
                    let mut out = vec![d[0].clone()];
                    out.extend(d[1..].iter().map(|s| Dim::Lit(f).mul(s)));
                    Ok(Shp::Known(out))
                }
                Shp::Known(d) => {
                    let hint = if d.len() == other_rank { other } else { "" };
                    Err(Why::new(format!("enlarges {what}, but {from} yields {}{hint}", dims(d))))
                }
                Shp::Opaque(_) | Shp::Computed(..) => Err(Why::new(format!(
                    "needs an input whose shape the macro can compute, but the shape of {from} comes from a layer \
                     without a built-in shape rule"
                ))),
            }
        }
    }
}

/// The dimensions of `Reshape<Rank3<16, 7, 7>>`'s target, when it is written as `Rank1`,
/// `Rank2` or `Rank3` with as many arguments, each a constant or a const parameter.
fn reshape_target(ty: &syn::Type, generic: &[String]) -> Option<Vec<Dim>> {
    fn args(ty: &syn::Type) -> Option<(String, Vec<&syn::GenericArgument>)> {
        let syn::Type::Path(p) = ty else { return None };
        let seg = p.path.segments.last()?;
        let syn::PathArguments::AngleBracketed(ab) = &seg.arguments else { return None };
        Some((seg.ident.to_string(), ab.args.iter().collect()))
    }
    let (_, outer) = args(ty)?;
    let Some(syn::GenericArgument::Type(target)) = outer.first() else { return None };
    let (rank, inner) = args(target)?;
    let want = match rank.as_str() {
        "Rank1" => 1,
        "Rank2" => 2,
        "Rank3" => 3,
        _ => return None,
    };
    if inner.len() != want {
        return None;
    }
    inner
        .iter()
        .map(|a| match a {
            syn::GenericArgument::Const(e) => Some(Dim::from_expr(e, generic)),
            // `Rank3<C, 7, 7>`: a bare const parameter (or named constant) parses as a type path.
            syn::GenericArgument::Type(syn::Type::Path(p)) if p.qself.is_none() && p.path.get_ident().is_some() => {
                Some(Dim::of_tokens(p.to_token_stream(), generic))
            }
            _ => None,
        })
        .collect()
}

/// The number of values of a shape, when every dimension is a literal.
fn literal_numel(d: &[Dim]) -> Option<u128> {
    d.iter().try_fold(1u128, |acc, x| match x {
        Dim::Lit(v) => acc.checked_mul(*v),
        Dim::Const(..) | Dim::Sym(..) | Dim::Computed(..) => None,
    })
}

/// `Permute<A, B, C>`'s axes, which must name each of 0, 1 and 2 once.
fn permutation(args: &[Dim]) -> Result<[usize; 3], Why> {
    if args.len() != 3 {
        return Err(Why::new("needs three plain constants as its axes"));
    }
    let mut perm = [0usize; 3];
    for (i, a) in args.iter().enumerate() {
        let Dim::Lit(v) = a else {
            return Err(Why::at(i, format!("needs literal axes to compute its output (`{a}` is not one)")));
        };
        if *v > 2 {
            return Err(Why::at(i, format!("names axis {v}, but a sample [D0, D1, D2] has the axes 0, 1 and 2")));
        }
        perm[i] = *v as usize;
    }
    if let Some(dup) = (1..3).find(|&i| perm[..i].contains(&perm[i])) {
        let missing = (0..3).find(|a| !perm.contains(a)).unwrap_or(0);
        return Err(Why::at(
            dup,
            format!(
                "is not a permutation of the axes 0, 1, 2: axis {} is named twice and axis {missing} not at all",
                perm[dup]
            ),
        ));
    }
    Ok(perm)
}

#[cfg(test)]
mod tests {
    /// The `compile_error!` messages of one invocation.
    fn errors(input: proc_macro2::TokenStream) -> String {
        super::super::network(input).to_string()
    }

    #[test]
    fn a_cycle_reads_in_the_order_values_flow() {
        let out = errors(quote::quote! {
            struct Net {
                input x: [8],
                a(c): Linear<8, 8>,
                b(a): Linear<8, 8>,
                c(b): Linear<8, 8>,
            }
        });
        assert!(out.contains("cycle in the network: `a` -> `b` -> `c` -> `a`; `a` reads `c`"), "{out}");
    }

    #[test]
    fn a_node_reading_itself_is_a_cycle() {
        let out = errors(quote::quote! {
            struct Net { input x: [8], a(a): Linear<8, 8> }
        });
        assert!(out.contains("`a` -> `a`; `a` reads its own output"), "{out}");
    }

    #[test]
    fn a_width_mismatch_names_the_layer_and_both_widths() {
        let out = errors(quote::quote! {
            struct Net {
                input: [16, 4, 4],
                flat: Flatten,
                fc: Linear<200, 10>,
                again(flat) = fc,
            }
        });
        assert!(
            out.contains("`fc`: `Linear<200, 10>` expects 200 inputs, but `flat` yields 256 ([16, 4, 4] flattened)")
        );
        assert!(out.contains("`again`: `fc`'s `Linear<200, 10>` expects 200 inputs, but `flat` yields 256"), "{out}");
    }

    #[test]
    fn convolution_pooling_and_norm_errors_name_both_shapes() {
        let out = errors(quote::quote! {
            struct Net {
                input x: [2, 6, 6],
                dil(x): Conv2d<2, 4, 3, 1, 0, 3>,
                pad(x): Conv2d<2, 4, 9, 1, 1>,
                sig(x): Flatten,
                c1(sig): Conv1d<2, 4, 3>,
                zero(x): MaxPool2d<0>,
                bn(sig): BatchNorm2d<72>,
                ln(x): LayerNorm<4>,
                bn1(x): BatchNorm1d<2>,
                output (dil, pad, c1, zero, bn, ln, bn1),
            }
        });
        assert!(
            out.contains("a 3x3 kernel dilated by 3 (spanning 7x7), which needs an input of at least 7x7"),
            "{out}"
        );
        assert!(out.contains("a 9x9 kernel, which with padding 1 needs an input of at least 7x7"), "{out}");
        assert!(out.contains("`c1`: `Conv1d<2, 4, 3>` expects a signal [2, L], but `sig` yields [72]"), "{out}");
        assert!(out.contains("`zero`: `MaxPool2d<0>` has a window size of 0, which must be at least 1"), "{out}");
        assert!(out.contains("`bn`: `BatchNorm2d<72>` normalises images [72, H, W], but `sig` yields [72]"), "{out}");
        assert!(
            out.contains("`ln`: `LayerNorm<4>` expects 4 features in its last dimension, [.., 4], but the input `x` yields 6 there"),
            "{out}"
        );
        assert!(out.contains("`bn1`: `BatchNorm1d<2>` normalises vectors [2] or sequences [2, L], but the input `x` yields [2, 6, 6]"), "{out}");
    }

    #[test]
    fn rearranging_errors_name_the_layer_and_both_shapes() {
        let out = errors(quote::quote! {
            struct Net {
                input x: [32],
                fc: Linear<32, 512>,
                up: Reshape<Rank3<16, 7, 7>>,
                un(fc): Unflatten<8, 8, 9>,
                img(x): Reshape<Rank3<2, 4, 4>>,
                tr(img): Transpose,
                pm(img): Permute<0, 2, 0>,
                far(img): Permute<0, 3, 1>,
                pv(fc): Permute<1, 2, 0>,
                u0(img): Upsample<0>,
                uv(fc): Upsample<2>,
                mat(x): Reshape<Rank2<4, 8>>,
                us(mat): Upsample<2>,
                ui(img): Upsample1d<2>,
                output (up, un, tr, pm, far, pv, u0, uv, us, ui),
            }
        });
        assert!(
            out.contains("`up`: `Reshape<Rank3<16, 7, 7>>` needs 784 values per sample, but `fc` yields 512"),
            "{out}"
        );
        assert!(out.contains("`un`: `Unflatten<8, 8, 9>` needs 576 values per sample, but `fc` yields 512"), "{out}");
        assert!(
            out.contains("`tr`: `Transpose` swaps the two axes of a matrix [R, C], but `img` yields [2, 4, 4]; use `Permute<A, B, C>`"),
            "{out}"
        );
        assert!(
            out.contains("`pm`: `Permute<0, 2, 0>` is not a permutation of the axes 0, 1, 2: axis 0 is named twice and axis 1 not at all"),
            "{out}"
        );
        assert!(
            out.contains("`far`: `Permute<0, 3, 1>` names axis 3, but a sample [D0, D1, D2] has the axes 0, 1 and 2"),
            "{out}"
        );
        assert!(
            out.contains(
                "`pv`: `Permute<1, 2, 0>` rearranges the three axes of a sample [D0, D1, D2], but `fc` yields [512]"
            ),
            "{out}"
        );
        assert!(out.contains("`u0`: `Upsample<0>` has a scale factor of 0, which must be at least 1"), "{out}");
        assert!(out.contains("`uv`: `Upsample<2>` enlarges images [C, H, W], but `fc` yields [512]\""), "{out}");
        assert!(
            out.contains("`us`: `Upsample<2>` enlarges images [C, H, W], but `mat` yields [4, 8]; use `Upsample1d`"),
            "{out}"
        );
        assert!(
            out.contains("`ui`: `Upsample1d<2>` enlarges signals [C, L], but `img` yields [2, 4, 4]; use `Upsample`"),
            "{out}"
        );
    }

    #[test]
    fn a_reshape_gives_its_shape_to_the_layers_after_it() {
        // [784] -> [16, 7, 7] -> conv [8, 7, 7] -> upsample [8, 14, 14] -> permute
        // [14, 14, 8] -> 1568 values: the wrong `Linear` at the end is found only if every
        // shape after the reshape is known, and it is the only error.
        let out = errors(quote::quote! {
            struct Net {
                input x: [32],
                fc: Linear<32, 784>,
                up: Reshape<Rank3<16, 7, 7>>,
                c: Conv2d<16, 8, 3, 1, 1>,
                big: Upsample<2>,
                last: Permute<1, 2, 0>,
                flat: Flatten,
                head: Linear<100, 2>,
            }
        });
        assert!(
            out.contains("`head`: `Linear<100, 2>` expects 100 inputs, but `flat` yields 1568 ([14, 14, 8] flattened)"),
            "{out}"
        );
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    }

    #[test]
    fn sizes_computed_from_a_const_parameter_become_computed_shapes() {
        // A convolution and pooling over `[1, H, H]`: types of `shape::computed`, with
        // the checks on them left to the build; the head's width is checked here.
        let out = errors(quote::quote! {
            struct Net<const H: usize> {
                input: [1, H, H],
                c1: Conv2d<1, 8, 3>,
                p: MaxPool2d<2>,
                c2: Conv2d<8, 16, 3, 2, 1>,
                gap: GlobalAvgPool2d,
                fc: Linear<16, 10>,
            }
        });
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("computed :: ConvOut < :: monograd"), "{out}");
        assert!(out.contains("computed :: PoolOut <"), "{out}");
        assert!(out.contains("const __SHAPES"), "{out}");
        let out = errors(quote::quote! {
            struct Net<const H: usize> {
                input: [1, H, H],
                c1: Conv2d<1, 8, 3>,
                p: MaxPool2d<2>,
                gap: GlobalAvgPool2d,
                fc: Linear<16, 10>,
                flat(p): Flatten,
                up(c1): Upsample<2>,
                bn(c1): BatchNorm2d<8>,
                output (fc, flat, up, bn),
            }
        });
        assert!(out.contains("`fc`: `Linear<16, 10>` expects 16 inputs, but `gap` yields 8"), "{out}");
        assert!(
            out.contains("`flat`: `Flatten` needs sizes it can name in a type, but `p` yields [8, (H - 4) / 2 + 1, (H - 4) / 2 + 1]"),
            "{out}"
        );
        assert!(
            out.contains("`up`: `Upsample<2>` needs sizes it can name in a type, but `c1` yields [8, H - 2, H - 2]"),
            "{out}"
        );
        assert!(!out.contains("`bn`"), "{out}");
    }

    #[test]
    fn arity_errors_say_what_to_write() {
        let out = errors(quote::quote! {
            struct Net {
                input x: [8],
                a: Linear<8, 8>,
                sum: Add,
                fc(x, a): Linear<8, 2>,
                both(sum, fc, x): Concat,
            }
        });
        assert!(out.contains("`sum`: `Add` joins two nodes: write `sum(a, b): Add`"), "{out}");
        assert!(out.contains("`fc`: `Linear<8, 2>` takes one node, not 2"), "{out}");
        assert!(out.contains("`both`: `Concat` joins two nodes, not 3"), "{out}");
    }
}
