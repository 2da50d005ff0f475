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

fn check_arity(cx: &Ctxt, g: &Graph) {
    for (n, node) in g.nodes.iter().enumerate().skip(1) {
        let Some(layer) = g.layer_of(n) else { continue };
        let want = if layer.kind.is_merge() { 2 } else { 1 };
        if node.args.len() != want {
            let written = layer.written.to_token_stream().to_string().replace(" < ", "<").replace(" >", ">");
            let msg = if want == 2 {
                format!("`{}`: `{written}` joins two nodes: write `{}(a, b): {written}`", node.name, node.name)
            } else {
                format!("`{}`: `{written}` takes one node, not {}", node.name, node.args.len())
            };
            cx.error_at(node.name.span(), msg);
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
            let mut cycle: Vec<_> = path[pos..].iter().rev().map(|&i| format!("`{}`", g.nodes[i].name)).collect();
            cycle.push(format!("`{}`", g.nodes[next].name));
            let first = path[path.len() - 1];
            cx.error_at(
                g.nodes[first].name.span(),
                format!("cycle in the network: {}; a node cannot depend on its own output", cycle.join(" -> ")),
            );
            return None;
        }
        path.push(next);
        cur = next;
    }
    cx.error_at(g.nodes[start].name.span(), "cycle in the network");
    None
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
            if a == 0 {
                "the network's input".to_string()
            } else {
                format!("`{}`", g.nodes[a].name)
            }
        };
        let written = layer.written.to_token_stream().to_string().replace(" < ", "<").replace(" >", ">");
        let result: Result<Shp, String> = match (&layer.kind, &ins[0]) {
            (Kind::Linear, input) => match (&layer.dims, input) {
                (Some((i, o)), Shp::Known(d)) if d.len() == 1 => {
                    if i.differs(&d[0]) {
                        Err(format!("`{name}`: `{written}` expects {i} inputs, but {} yields {}", src(0), d[0]))
                    } else {
                        Ok(Shp::Known(vec![o.clone()]))
                    }
                }
                (Some((i, _)), Shp::Known(d)) => Err(format!(
                    "`{name}`: `{written}` expects a vector of {i} features, but {} yields {}; put a `Flatten` before it",
                    src(0),
                    ins[0].describe()
                )
                .replace("yields [", &format!("yields {} values shaped [", numel_text(d)))),
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
                    if x.len() != y.len() || x.len() == 2 || x.iter().zip(y).skip(1).any(|(p, q)| p.differs(q)) {
                        Err(format!(
                            "`{name}`: `Concat` joins vectors, or images of the same height and width along their \
                             channels, but {} yields {} and {} yields {}",
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
                _ => Err(format!(
                    "`{name}`: `Concat` needs inputs whose shapes the macro knows; {} or {} comes from a layer it has \
                     no rule for",
                    src(0),
                    src(1)
                )),
            },
            (Kind::Custom, s) => Ok(opaque(&core, layer.ty.to_token_stream(), s)),
        };
        match result {
            Ok(s) => g.nodes[n].shape = Some(s),
            Err(msg) => cx.error_spanned_by(node_tokens(g, n), msg),
        }
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
