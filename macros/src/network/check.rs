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

/// Where to point when a layer's input width is wrong: the width in `Linear<64, 10>` when
/// the node declares the layer, else as [`node_tokens`].
fn width_tokens(g: &Graph, n: NodeId) -> TokenStream {
    let node = &g.nodes[n];
    if let Some(l) = g.layer_of(n).filter(|l| l.name == node.name) {
        if let syn::Type::Path(p) = &l.written {
            if let Some(syn::PathArguments::AngleBracketed(ab)) = p.path.segments.last().map(|s| &s.arguments) {
                if let Some(first) = ab.args.first() {
                    return first.to_token_stream();
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
                        span = width_tokens(g, n);
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
            (Kind::Conv { rank, at }, s) => conv_shape(*rank, *at, &layer.args, s)
                .map_err(|why| format!("`{name}`: {written} {why}, but {} yields {}", src(0), ins[0].describe())),
            (Kind::Pool, s) => pool_shape(&layer.args, s)
                .map_err(|why| format!("`{name}`: {written} {why}, but {} yields {}", src(0), ins[0].describe())),
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
            (Kind::Norm { last }, s) => match (s, layer.args.first()) {
                (Shp::Known(d), Some(c)) => {
                    let (at, what) =
                        if *last { (d.len() - 1, "features in its last dimension") } else { (0, "channels") };
                    if c.differs(&d[at]) {
                        Err(format!(
                            "`{name}`: {written} expects {c} {what}, but {} yields {}",
                            src(0),
                            ins[0].describe()
                        ))
                    } else {
                        Ok(s.clone())
                    }
                }
                _ => Ok(s.clone()),
            },
        };
        match result {
            Ok(s) => g.nodes[n].shape = Some(s),
            Err(msg) => cx.error_spanned_by(span, msg),
        }
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

/// A convolution's output shape: `[CI, spatial..]` to `[CO, spatial'..]`.
fn conv_shape(rank: usize, at: super::model::ConvArgs, args: &[Dim], input: &Shp) -> Result<Shp, String> {
    let Shp::Known(d) = input else {
        return Err("needs an input whose shape the macro can compute".to_string());
    };
    if d.len() != rank + 1 {
        let want = if rank == 2 { "an image [C, H, W]" } else { "a signal [C, L]" };
        return Err(format!("expects {want}"));
    }
    if args.is_empty() {
        return Err("needs plain constants as its parameters".to_string());
    }
    let ci = &args[at.ci];
    if ci.differs(&d[0]) {
        return Err(format!("expects {ci} input channels"));
    }
    let [k, s, p, dil] = [at.k, at.s, at.p, at.d].map(|i| lit(&args[i]));
    let (k, s, p, dil) = (k?, s?, p?, dil?);
    let mut out = vec![at.co.map_or_else(|| d[0].clone(), |co| args[co].clone())];
    for (axis, size) in d[1..].iter().enumerate() {
        let size = lit(size)?;
        match out_size(size, k, s, p, dil) {
            Some(o) => out.push(Dim::Lit(o)),
            None => {
                let which = if rank == 1 {
                    "length"
                } else if axis == 0 {
                    "height"
                } else {
                    "width"
                };
                let reach = dil * (k.saturating_sub(1)) + 1;
                return Err(format!(
                    "has a kernel reaching {reach} positions, more than the input's {which} of {size} with padding {p}"
                ));
            }
        }
    }
    Ok(Shp::Known(out))
}

/// Pooling's output shape: `[C, H, W]` to `[C, (H - K) / S + 1, (W - K) / S + 1]`.
fn pool_shape(args: &[Dim], input: &Shp) -> Result<Shp, String> {
    let Shp::Known(d) = input else {
        return Err("needs an input whose shape the macro can compute".to_string());
    };
    if d.len() != 3 {
        return Err("pools an image [C, H, W]".to_string());
    }
    if args.len() < 2 {
        return Err("needs plain constants as its parameters".to_string());
    }
    let (k, s) = (lit(&args[0])?, lit(&args[1])?);
    let mut out = vec![d[0].clone()];
    for (axis, size) in d[1..].iter().enumerate() {
        let size = lit(size)?;
        match out_size(size, k, s, 0, 1) {
            Some(o) => out.push(Dim::Lit(o)),
            None => {
                let which = if axis == 0 { "height" } else { "width" };
                return Err(format!("has a {k}x{k} window, larger than the input's {which} of {size}"));
            }
        }
    }
    Ok(Shp::Known(out))
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
