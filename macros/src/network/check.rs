//! Validation: argument counts, cycles, every shape, unused nodes.
//!
//! Shapes are computed from the literals for every layer whose rule the macro knows, so a
//! mismatch is reported here in words, spanned on the offending layer, before the type
//! checker runs. What the macro cannot decide (symbolic dimensions, user layers) is left to
//! the bounds the expansion emits.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use super::model::{Dim, Graph, Kind, NodeId, Op, Shp};
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

/// `Linear<784, 10>` as the user wrote it, compactly.
fn written(ty: &syn::Type) -> String {
    ty.to_token_stream().to_string().replace(" < ", "<").replace("< ", "<").replace(" >", ">").replace(" ,", ",")
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
        let Some(ins) = args.iter().map(|&a| g.nodes[a].shape.clone()).collect::<Option<Vec<Shp>>>() else {
            continue;
        };
        if ins.is_empty() {
            continue;
        }
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
        let result: Result<Shp, String> = match (&layer.kind, &ins[0]) {
            (Kind::Linear, input) => match (&layer.dims, input) {
                (Some((i, o)), Shp::Known(d)) if d.len() == 1 => {
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
                (Some((_, o)), Shp::Opaque(_)) => Ok(Shp::Known(vec![o.clone()])),
                (None, _) => Ok(opaque(&core, layer.ty.to_token_stream(), &ins[0])),
            },
            (Kind::Activation { .. } | Kind::Stateful, s) => Ok(s.clone()),
            (Kind::Flatten, Shp::Known(d)) => {
                let total = d.iter().skip(1).fold(d[0].clone(), |acc, x| acc.mul(x));
                Ok(Shp::Known(vec![total]))
            }
            (Kind::Flatten, Shp::Opaque(_)) => Err(format!(
                "`{name}`: cannot flatten the output of {}: its shape comes from a layer the macro has no rule for",
                src(0)
            )),
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
            (Kind::Custom, s) => Ok(opaque(&core, layer.ty.to_token_stream(), s)),
            (Kind::Conv { rank, at }, s) => conv_shape(*rank, *at, &layer.args, s, &src(0))
                .map_err(|why| why.report(g, n, &mut span, name, &written)),
            (Kind::Pool, s) => {
                pool_shape(&layer.args, s, &src(0)).map_err(|why| why.report(g, n, &mut span, name, &written))
            }
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
            (Kind::Norm { last, ranks }, s) => norm_shape(*last, *ranks, &layer.args, s, &src(0))
                .map_err(|why| why.report(g, n, &mut span, name, &written)),
        };
        match result {
            Ok(s) => g.nodes[n].shape = Some(s),
            Err(msg) => cx.error_spanned_by(span, msg),
        }
    }
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
        Dim::Sym(s, _) => Err(format!(
            "needs literal sizes to compute its output (`{s}` is not one: stable Rust cannot compute array sizes \
             from generic parameters)"
        )),
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
fn conv_shape(rank: usize, at: super::model::ConvArgs, args: &[Dim], input: &Shp, from: &str) -> Result<Shp, Why> {
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
    let [k, s, p, dil] = [at.k, at.s, at.p, at.d].map(|i| lit(&args[i]));
    let (k, s, p, dil) = (k?, s?, p?, dil?);
    check_positive(&[(k, at.k, "kernel size"), (s, at.s, "stride"), (dil, at.d, "dilation")])?;
    let mut out = vec![at.co.map_or_else(|| d[0].clone(), |co| args[co].clone())];
    for size in &d[1..] {
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
    Ok(Shp::Known(out))
}

/// Pooling's output shape: `[C, H, W]` to `[C, (H - K) / S + 1, (W - K) / S + 1]`.
fn pool_shape(args: &[Dim], input: &Shp, from: &str) -> Result<Shp, Why> {
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
    Ok(Shp::Known(out))
}

/// Normalisation keeps the shape; `BatchNorm` counts channels in the first dimension,
/// `LayerNorm` features in the last.
fn norm_shape(last: bool, ranks: (usize, usize), args: &[Dim], input: &Shp, from: &str) -> Result<Shp, Why> {
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
