//! Graph passes, run after validation: common subexpressions, activation fusion, dead
//! nodes. Each rewrites aliases in the model; nothing here changes what the network
//! computes, only how often and in how many passes over memory.

use std::collections::HashMap;

use quote::ToTokens;

use super::model::{Graph, Kind, NodeId, Op};

pub fn optimize(g: &mut Graph) {
    eliminate_common_subexpressions(g);
    fuse_activations(g);
}

/// What makes two nodes compute the same values.
#[derive(Hash, PartialEq, Eq)]
enum Key {
    /// The same layer instance on the same inputs.
    Instance(usize, Vec<NodeId>),
    /// A configuration-free pure layer type (`ReLU`, `Flatten`, `Add`) on the same inputs.
    Pure(String, Vec<NodeId>),
}

/// The same layer applied to the same node is computed once. Never for layers that are
/// stochastic or stateful (`Dropout`, `BatchNorm`), nor for layers the macro does not know
/// (they may be either).
fn eliminate_common_subexpressions(g: &mut Graph) {
    let mut seen: HashMap<Key, NodeId> = HashMap::new();
    for &n in &g.order.clone() {
        let Op::Apply(l) = g.nodes[n].op else { continue };
        let mut args: Vec<NodeId> = g.nodes[n].args.iter().map(|&a| g.resolve(a)).collect();
        let layer = &g.layers[l];
        let key = match layer.kind {
            Kind::Stateful | Kind::Custom | Kind::Norm { .. } => continue,
            Kind::Activation { unit: true, .. }
            | Kind::Flatten
            | Kind::Add
            | Kind::Concat
            | Kind::Pool
            | Kind::GlobalPool
            | Kind::Rearrange(_) => {
                if layer.kind == Kind::Add {
                    args.sort_unstable(); // a + b = b + a
                }
                Key::Pure(layer.written.to_token_stream().to_string(), args)
            }
            Kind::Linear | Kind::Conv { .. } | Kind::Embedding | Kind::Activation { unit: false, .. } => {
                Key::Instance(l, args)
            }
        };
        match seen.get(&key) {
            Some(&first) => g.nodes[n].alias = Some(first),
            None => {
                seen.insert(key, n);
            }
        }
    }
}

/// An activation whose derivative follows from its output is computed in the pass of the
/// `Linear` that feeds it, when nothing else reads the `Linear`'s output: one buffer and
/// one pass over it fewer.
fn fuse_activations(g: &mut Graph) {
    let outputs: Vec<NodeId> = g.outputs.iter().map(|&o| g.resolve(o)).collect();
    let mut readers = vec![0usize; g.nodes.len()];
    for n in live(g) {
        for &a in &g.nodes[n].args {
            readers[g.resolve(a)] += 1;
        }
    }
    for &n in &g.order.clone() {
        if g.nodes[n].alias.is_some() {
            continue;
        }
        let Op::Apply(act) = g.nodes[n].op else { continue };
        if !matches!(g.layers[act].kind, Kind::Activation { fusable: true, .. }) {
            continue;
        }
        let p = g.resolve(g.nodes[n].args[0]);
        // Dense layers and convolutions apply the activation in their bias pass, and their
        // backward does not read their output.
        let producer_fusable =
            matches!(g.nodes[p].op, Op::Apply(l) if matches!(g.layers[l].kind, Kind::Linear | Kind::Conv { .. }));
        if producer_fusable && g.nodes[p].fused.is_none() && readers[p] == 1 && !outputs.contains(&p) {
            g.nodes[p].fused = Some(act);
            g.nodes[n].alias = Some(p);
        }
    }
}

/// The nodes that hold values after the passes, in topological order: every node some
/// output depends on, minus those replaced by another.
pub fn live(g: &Graph) -> Vec<NodeId> {
    needed(g, &g.outputs)
}

/// The nodes that computing `outputs` needs, in topological order (input excluded).
pub fn needed(g: &Graph, outputs: &[NodeId]) -> Vec<NodeId> {
    let mut want = vec![false; g.nodes.len()];
    let mut stack: Vec<NodeId> = outputs.iter().map(|&o| g.resolve(o)).collect();
    while let Some(n) = stack.pop() {
        if !std::mem::replace(&mut want[n], true) {
            stack.extend(g.nodes[n].args.iter().map(|&a| g.resolve(a)));
        }
    }
    g.order.iter().copied().filter(|&n| want[n] && g.nodes[n].op != Op::Input).collect()
}
