//! `#[quantize(Twin)]`: the network's int8 twin, in TFLite's scheme.
//!
//! Works on the checked graph before optimisation (every node present, none merged or
//! fused), and writes:
//! - `Twin`: one field per layer that has constants (`monograd_quant::twin` types: `i8`
//!   weights, `i32` biases, scales, multipliers), plus the input's and output's
//!   quantization;
//! - `TwinState`: one `i8` buffer per node that computes, and the `i16` patch scratch;
//! - `Net::quantize(&net, &calibration)`: runs the float network over the calibration
//!   data node by node, observes every activation that gets its own quantization, and
//!   builds the twin;
//! - `Twin::forward` (integer only), `predict` (quantizes a float input first),
//!   `to_graph`, `summary` and the budget constants.
//!
//! A ReLU read only by the dense layer, convolution or `Add` before it becomes that
//! operator's fused clamp (TFLite's fused activation): it shares its output's
//! quantization, calibrated after the ReLU. Pooling, `Flatten`, `Dropout` and reshapes keep
//! their input's quantization, as TFLite requires. A layer without an integer kernel is an
//! error that names it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Ident};

use super::model::{written, Dim, Graph, NodeId, Op};
use crate::ctxt::Ctxt;

/// The twin a declaration asks for.
pub struct Twin {
    pub ident: Ident,
}

/// Takes `#[quantize(Twin)]` out of the network's attributes (it is the macro's, not the
/// struct's).
pub fn take_attr(cx: &Ctxt, attrs: &mut Vec<Attribute>) -> Option<Twin> {
    let mut twin: Option<Twin> = None;
    attrs.retain(|a| {
        if !a.path().is_ident("quantize") {
            return true;
        }
        match a.parse_args::<Ident>() {
            Ok(ident) if twin.is_none() => twin = Some(Twin { ident }),
            Ok(_) => cx.error_spanned_by(a, "a network has at most one `#[quantize(..)]` twin"),
            Err(_) => cx.error_spanned_by(a, "expected `#[quantize(TwinName)]`: the name of the int8 type to generate"),
        }
        false
    });
    twin
}

/// What the twin does at a node.
#[derive(Clone)]
enum Q {
    Input,
    Linear {
        i: Dim,
        o: Dim,
        bias: bool,
    },
    Conv {
        rank: usize,
        ci: Dim,
        co: Dim,
        k: Dim,
        s: Dim,
        p: Dim,
        d: Dim,
    },
    Depthwise {
        c: Dim,
        k: Dim,
        s: Dim,
        p: Dim,
        d: Dim,
    },
    Separable {
        ci: Dim,
        co: Dim,
        k: Dim,
        s: Dim,
        p: Dim,
        d: Dim,
    },
    Pool {
        max: bool,
        k: Dim,
        s: Dim,
    },
    GlobalAvg,
    Relu,
    /// Same values, new shape or none of training's randomness: `Flatten`, `Dropout`,
    /// `Reshape`, `Unflatten`.
    View,
    Add,
    Concat,
}

const SUPPORTED: &str = "Linear, LinearNoBias, Conv1d, Conv2d, DepthwiseConv2d, SeparableConv2d, MaxPool2d, \
                         AvgPool2d, GlobalAvgPool2d, ReLU, Flatten, Dropout, Reshape, Unflatten, Add, Concat";

fn classify(g: &Graph, n: NodeId) -> Result<Q, String> {
    let Op::Apply(l) = g.nodes[n].op else { return Ok(Q::Input) };
    let layer = &g.layers[l];
    let name = match &layer.written {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
        _ => String::new(),
    };
    let a = &layer.args;
    let need = |k: usize| -> Result<(), String> {
        if a.len() >= k {
            Ok(())
        } else {
            Err(format!(
                "`{}`: the int8 twin needs `{}`'s dimensions as constants",
                layer.name,
                written(&layer.written)
            ))
        }
    };
    let q = match name.as_str() {
        "Linear" | "LinearNoBias" => {
            need(2)?;
            Q::Linear { i: a[0].clone(), o: a[1].clone(), bias: name == "Linear" }
        }
        "Conv1d" | "Conv2d" => {
            need(6)?;
            let rank = if name == "Conv1d" { 1 } else { 2 };
            Q::Conv {
                rank,
                ci: a[0].clone(),
                co: a[1].clone(),
                k: a[2].clone(),
                s: a[3].clone(),
                p: a[4].clone(),
                d: a[5].clone(),
            }
        }
        "DepthwiseConv2d" => {
            need(5)?;
            Q::Depthwise { c: a[0].clone(), k: a[1].clone(), s: a[2].clone(), p: a[3].clone(), d: a[4].clone() }
        }
        "SeparableConv2d" => {
            need(6)?;
            Q::Separable {
                ci: a[0].clone(),
                co: a[1].clone(),
                k: a[2].clone(),
                s: a[3].clone(),
                p: a[4].clone(),
                d: a[5].clone(),
            }
        }
        "MaxPool2d" | "AvgPool2d" => {
            need(2)?;
            Q::Pool { max: name == "MaxPool2d", k: a[0].clone(), s: a[1].clone() }
        }
        "GlobalAvgPool2d" => Q::GlobalAvg,
        "ReLU" => Q::Relu,
        "Flatten" | "Dropout" | "Reshape" | "Unflatten" => Q::View,
        "Add" => Q::Add,
        "Concat" => Q::Concat,
        _ => {
            return Err(format!(
                "`{}`: `{}` has no integer kernel, so the int8 twin cannot compute it; layers with one: {SUPPORTED}",
                g.nodes[n].name,
                written(&layer.written)
            ))
        }
    };
    if layer.name != g.nodes[n].name {
        return Err(format!(
            "`{}` applies `{}`'s layer again: the int8 twin quantizes each application on its own, so declare a \
             layer of its own",
            g.nodes[n].name, layer.name
        ));
    }
    Ok(q)
}

/// Reports every node the twin cannot compute, on the user's layer.
pub fn check(cx: &Ctxt, g: &Graph, twin: &Twin) {
    if !g.generic.is_empty() {
        cx.error_at(
            twin.ident.span(),
            "the int8 twin needs a network without generic parameters other than the scalar",
        );
        return;
    }
    for n in primary_nodes(g) {
        if let Err(msg) = classify(g, n) {
            let Op::Apply(l) = g.nodes[n].op else { continue };
            if g.layers[l].name == g.nodes[n].name {
                cx.error_spanned_by(&g.layers[l].written, msg);
            } else {
                cx.error_at(g.nodes[n].name.span(), msg);
            }
        }
    }
}

/// The nodes the primary output needs, input first, in topological order.
fn primary_nodes(g: &Graph) -> Vec<NodeId> {
    let mut want = vec![false; g.nodes.len()];
    let mut stack = vec![g.outputs[0]];
    while let Some(n) = stack.pop() {
        if !std::mem::replace(&mut want[n], true) {
            stack.extend(g.nodes[n].args.iter().copied());
        }
    }
    g.order.iter().copied().filter(|&n| want[n]).collect()
}

/// How the twin handles each node, decided once.
struct Plan {
    nodes: Vec<NodeId>,
    kind: Vec<Option<Q>>,
    /// The node whose buffer holds this node's values.
    buf: Vec<NodeId>,
    /// The quantization slot of this node's values.
    slot: Vec<usize>,
    /// The fused ReLU of a dense layer or `Add`.
    fused: Vec<Option<NodeId>>,
    /// Per slot: the node whose float output is observed (`true`: the depthwise output
    /// inside a separable convolution, in the slot after the convolution's own).
    watched: Vec<(NodeId, bool)>,
}

fn plan(g: &Graph) -> Plan {
    let nodes = primary_nodes(g);
    let count = g.nodes.len();
    let mut kind: Vec<Option<Q>> = vec![None; count];
    for &n in &nodes {
        kind[n] = classify(g, n).ok();
    }
    let readers = |n: NodeId| nodes.iter().filter(|&&m| g.nodes[m].args.contains(&n)).count();
    let primary = g.outputs[0];
    let mut p = Plan {
        nodes: nodes.clone(),
        kind,
        buf: (0..count).collect(),
        slot: vec![usize::MAX; count],
        fused: vec![None; count],
        watched: Vec::new(),
    };
    let mut fused_relu = vec![false; count];
    for &n in &nodes {
        let k = p.kind[n].clone().expect("checked");
        let arg = g.nodes[n].args.first().copied();
        match k {
            Q::Input => {
                p.slot[n] = p.watched.len();
                p.watched.push((n, false));
            }
            Q::Linear { .. } | Q::Conv { .. } | Q::Depthwise { .. } | Q::Separable { .. } | Q::Add => {
                let reader = nodes.iter().copied().find(|&m| g.nodes[m].args.contains(&n));
                let fusable = n != primary
                    && readers(n) == 1
                    && reader.is_some_and(|r| matches!(p.kind[r], Some(Q::Relu)) && g.nodes[r].args.len() == 1);
                p.slot[n] = p.watched.len();
                if fusable {
                    let r = reader.expect("checked");
                    p.fused[n] = Some(r);
                    fused_relu[r] = true;
                    p.watched.push((r, false));
                } else {
                    p.watched.push((n, false));
                }
                if matches!(k, Q::Separable { .. }) {
                    p.watched.push((n, true));
                }
            }
            Q::Relu if fused_relu[n] => {
                let a = arg.expect("a layer has an input");
                p.slot[n] = p.slot[a];
                p.buf[n] = p.buf[a];
            }
            Q::Relu | Q::Concat => {
                p.slot[n] = p.watched.len();
                p.watched.push((n, false));
            }
            Q::Pool { .. } | Q::GlobalAvg => {
                p.slot[n] = p.slot[arg.expect("a layer has an input")];
            }
            Q::View => {
                let a = arg.expect("a layer has an input");
                p.slot[n] = p.slot[a];
                p.buf[n] = p.buf[a];
            }
        }
    }
    p
}

pub fn expand(g: &Graph, twin: &Twin) -> TokenStream {
    let core = quote!(::monograd::__private::monograd_core);
    let qc = quote!(::monograd::__private::monograd_quant);
    let p = plan(g);
    let net = &g.ident;
    let tw = &twin.ident;
    let state = format_ident!("{}State", tw);
    let vis = &g.vis;
    let net_f32 = quote!(#net<f32>);
    let tw_str = tw.to_string();
    let net_str = net.to_string();
    let input_what = format!("`{tw}` input");
    let calib_what = format!("`{net}` calibration data (samples of its input)");

    let shape_ty = |n: NodeId| g.shape(n).ty(&core);
    let in_ty = |n: NodeId, i: usize| g.input_shape(n, i).ty(&core);
    let numel = |n: NodeId| g.shape(n).numel(&core);
    let dims = |n: NodeId| {
        let t = shape_ty(n);
        quote!(<#t as #core::shape::Shape>::DIMS)
    };
    let bf = |n: NodeId| format_ident!("__b_{}", g.nodes[p.buf[n]].name);
    let ff = |n: NodeId| format_ident!("__f_{}", g.nodes[n].name);
    let qv = |n: NodeId| format_ident!("__q{}", p.slot[n]);
    let tv = |n: NodeId| format_ident!("__t_{}", g.nodes[n].name);
    let lit = |n: NodeId| g.nodes[n].name.to_string();
    let span_of = |n: NodeId| match g.nodes[n].op {
        Op::Apply(l) => g.layers[l].written.span(),
        Op::Input => g.nodes[n].name.span(),
    };

    let mut fields = Vec::new();
    let mut state_fields = Vec::new();
    let mut state_init = Vec::new();
    let mut scratch = vec![quote!(1)];
    let mut weight_bytes = vec![quote!(0)];
    let mut calib_bufs = Vec::new();
    let mut calib_steps = Vec::new();
    let mut build = Vec::new();
    let mut forward = Vec::new();
    let mut graph = Vec::new();
    // Embedding (`include_weights!`) and the file it reads (`to_safetensors`): one `let` per
    // field, and one writer call per field.
    let mut embeds = Vec::new();
    let mut field_names: Vec<Ident> = Vec::new();
    let mut exports = Vec::new();
    let mut embeddable = true;
    let place = |n: NodeId| {
        let f = format_ident!("__F_{}", g.nodes[n].name);
        quote!(#core::embed::Field<__P, #f>)
    };
    // The quantization each node's values have, in terms of the twin's fields.
    let mut qexpr: Vec<TokenStream> = vec![TokenStream::new(); g.nodes.len()];

    for &n in &p.nodes {
        let k = p.kind[n].clone().expect("checked");
        let name = &g.nodes[n].name;
        let sp = span_of(n);
        let args = &g.nodes[n].args;
        let owns = p.buf[n] == n;
        if owns {
            let b = bf(n);
            let len = numel(n);
            state_fields.push(quote!(#b: [::core::primitive::i8; #len]));
            state_init.push(quote!(#b: [0; #len]));
        }
        // Float calibration: every node runs, each into its own buffer.
        if n != 0 {
            let f = ff(n);
            let len = numel(n);
            calib_bufs.push(quote!(let mut #f = #qc::support::zeros(__cap * #len);));
            let y = quote!(&mut #f[..__b * #len]);
            let read = |a: NodeId| -> TokenStream {
                if a == 0 {
                    quote!(__chunk)
                } else {
                    let fa = ff(a);
                    let la = numel(a);
                    quote!(&#fa[..__b * #la])
                }
            };
            let out_ty = shape_ty(n);
            let step = match &k {
                Q::Add | Q::Concat => {
                    let (a, b) = (read(args[0]), read(args[1]));
                    let (ta, tb) = (in_ty(n, 0), in_ty(n, 1));
                    quote_spanned!(sp=> #qc::support::run_merge::<_, #ta, #tb, #out_ty>(&__net.#name, #a, #b, #y);)
                }
                Q::Separable { ci, .. } => {
                    let x = read(args[0]);
                    let ti = in_ty(n, 0);
                    let d = dims(n);
                    let ci = ci.expr();
                    let mid_ty = quote!(#core::shape::Rank3<{ #ci }, { #d[1] }, { #d[2] }>);
                    let mid_slot = p.slot[n] + 1;
                    quote_spanned! {sp=>
                        let mut __mid = #qc::support::zeros(__b * <#mid_ty as #core::shape::Shape>::NUMEL);
                        #qc::support::run::<_, #ti, #mid_ty>(&__net.#name.depthwise, #x, &mut __mid, &mut __pack);
                        __obs[#mid_slot].observe(__pass, &__mid);
                        #qc::support::run::<_, #mid_ty, #out_ty>(&__net.#name.pointwise, &__mid, #y, &mut __pack);
                    }
                }
                _ => {
                    let x = read(args[0]);
                    let ti = in_ty(n, 0);
                    quote_spanned!(sp=> #qc::support::run::<_, #ti, #out_ty>(&__net.#name, #x, #y, &mut __pack);)
                }
            };
            calib_steps.push(step);
        }
        if let Some(slot) = p.watched.iter().position(|&w| w == (n, false)) {
            let obs_src = if n == 0 {
                quote!(__chunk)
            } else {
                let f = ff(n);
                let len = numel(n);
                quote!(&#f[..__b * #len])
            };
            calib_steps.push(quote!(__obs[#slot].observe(__pass, #obs_src);));
        }

        let x = args.first().map(|&a| {
            let b = bf(a);
            quote!(&__st.#b[..])
        });
        let y = {
            let b = bf(n);
            quote!(&mut __st.#b[..])
        };
        let fused = |n: NodeId| {
            if p.fused[n].is_some() {
                quote!(#qc::params::Fused::Relu)
            } else {
                quote!(#qc::params::Fused::None)
            }
        };
        // The output tensor's name: after the fused ReLU where there is one.
        let out_name = p.fused[n].map_or_else(|| lit(n), lit);
        let t_out = tv(n);
        let shape_dims = dims(n);
        let what = format!("`{name}`");
        match k {
            Q::Input => {
                qexpr[n] = quote!(self.__input);
                graph.push(quote! {
                    let #t_out = __g.push_activation(#out_name, #shape_dims, self.__input);
                    __g.inputs.push(#t_out);
                });
            }
            Q::Linear { i, o, bias } => {
                let (ie, oe) = (i.expr(), o.expr());
                fields.push(quote!(pub #name: #qc::twin::QDense<{ #oe }, { #ie }>));
                field_names.push(name.clone());
                scratch.push(ie.clone());
                weight_bytes.push(quote!(#oe * #ie + 4 * #oe));
                let (qi, qo) = (qv(args[0]), qv(n));
                let what_plain = name.to_string();
                let b = if bias {
                    quote!(::core::option::Option::Some(&#qc::support::tensor(#what, &__net.#name, "bias")?[..]))
                } else {
                    quote!(::core::option::Option::None)
                };
                let act = fused(n);
                build.push(quote_spanned! {sp=>
                    #name: #qc::twin::QDense::from_f32(
                        #what,
                        &#qc::support::tensor(#what, &__net.#name, "weight")?,
                        #b,
                        #qi,
                        #qo,
                        #act,
                        __cal.granularity(#what_plain) == #qc::calibrate::Granularity::PerChannel,
                    )?
                });
                forward.push(quote!(self.#name.linear(#x, #y, &mut __st.__scratch)?;));
                let at = place(n);
                embeds.push(quote! {
                    let #name = #qc::embed::take(&mut __r,
                        #qc::twin::QDense::<{ #oe }, { #ie }>::embedded::<#at>(&[#oe, #ie], #bias, #act));
                });
                let n_str = name.to_string();
                exports.push(quote!(__t.dense(#n_str, &[#oe, #ie], &self.#name);));
                qexpr[n] = quote!(self.#name.output);
                let t_in = tv(args[0]);
                let n_str = name.to_string();
                graph.push(quote! {
                    let #t_out = __g.push_activation(#out_name, #shape_dims, self.#name.output);
                    let (__w, __bi) = self.#name.export_tensors(&mut __g, #n_str, &[#oe, #ie]);
                    __g.ops.push(#qc::graph::Op::Linear {
                        input: #t_in, weight: __w, bias: __bi, output: #t_out,
                        activation: self.#name.activation.into(),
                    });
                });
            }
            Q::Conv { rank, ci, co, k, s, p: pd, d } => {
                let (ci, co, k, s, pd, d) = (ci.expr(), co.expr(), k.expr(), s.expr(), pd.expr(), d.expr());
                let nn = if rank == 2 { quote!({ #ci * #k * #k }) } else { quote!({ #ci * #k }) };
                fields.push(quote!(pub #name: #qc::twin::QDense<{ #co }, #nn>));
                field_names.push(name.clone());
                weight_bytes.push(quote!(#co * #nn + 4 * #co));
                let (qi, qo) = (qv(args[0]), qv(n));
                let act = fused(n);
                build.push(quote_spanned! {sp=>
                    #name: #qc::twin::QDense::from_f32(
                        #what,
                        &#qc::support::tensor(#what, &__net.#name, "weight")?,
                        ::core::option::Option::Some(&#qc::support::tensor(#what, &__net.#name, "bias")?[..]),
                        #qi, #qo, #act, true,
                    )?
                });
                let ind = dims(args[0]);
                let geom = if rank == 2 {
                    quote!(#qc::kernels::ConvGeometry {
                        input: [#ind[0], #ind[1], #ind[2]],
                        output: [#shape_dims[0], #shape_dims[1], #shape_dims[2]],
                        kernel: [#k, #k], stride: [#s, #s], padding: [#pd, #pd], dilation: [#d, #d],
                    })
                } else {
                    quote!(#qc::kernels::ConvGeometry {
                        input: [#ind[0], 1, #ind[1]],
                        output: [#shape_dims[0], 1, #shape_dims[1]],
                        kernel: [1, #k], stride: [1, #s], padding: [0, #pd], dilation: [1, #d],
                    })
                };
                scratch.push(quote!(#qc::kernels::conv2d_scratch(&#geom)));
                forward.push(quote!({
                    const __G: #qc::kernels::ConvGeometry = #geom;
                    self.#name.conv2d(&__G, #x, #y, &mut __st.__scratch)?;
                }));
                {
                    let at = place(n);
                    let wshape = if rank == 2 { quote!(&[#co, #ci, #k, #k]) } else { quote!(&[#co, #ci, 1, #k]) };
                    embeds.push(quote! {
                        let #name = #qc::embed::take(&mut __r,
                            #qc::twin::QDense::<{ #co }, #nn>::embedded::<#at>(#wshape, true, #act));
                    });
                    let n_str = name.to_string();
                    exports.push(quote!(__t.dense(#n_str, #wshape, &self.#name);));
                }
                qexpr[n] = quote!(self.#name.output);
                let t_in = tv(args[0]);
                let n_str = name.to_string();
                let wshape = if rank == 2 { quote!(&[#co, #ci, #k, #k]) } else { quote!(&[#co, #ci, 1, #k]) };
                let (stride, pad, dil) = if rank == 2 {
                    (quote!([#s, #s]), quote!([#pd, #pd]), quote!([#d, #d]))
                } else {
                    (quote!([1, #s]), quote!([0, #pd]), quote!([1, #d]))
                };
                graph.push(quote! {
                    let #t_out = __g.push_activation(#out_name, #shape_dims, self.#name.output);
                    let (__w, __bi) = self.#name.export_tensors(&mut __g, #n_str, #wshape);
                    __g.ops.push(#qc::graph::Op::Conv2d {
                        input: #t_in, weight: __w, bias: __bi, output: #t_out,
                        stride: #stride, padding: #pad, dilation: #dil,
                        activation: self.#name.activation.into(),
                    });
                });
            }
            Q::Depthwise { c, k, s, p: pd, d } => {
                let (c, k, s, pd, d) = (c.expr(), k.expr(), s.expr(), pd.expr(), d.expr());
                fields.push(quote!(pub #name: #qc::twin::QDense<{ #c }, { #k * #k }>));
                field_names.push(name.clone());
                weight_bytes.push(quote!(#c * #k * #k + 4 * #c));
                let (qi, qo) = (qv(args[0]), qv(n));
                let act = fused(n);
                build.push(quote_spanned! {sp=>
                    #name: #qc::twin::QDense::from_f32(
                        #what,
                        &#qc::support::tensor(#what, &__net.#name, "weight")?,
                        ::core::option::Option::Some(&#qc::support::tensor(#what, &__net.#name, "bias")?[..]),
                        #qi, #qo, #act, true,
                    )?
                });
                let ind = dims(args[0]);
                forward.push(quote!({
                    const __G: #qc::kernels::ConvGeometry = #qc::kernels::ConvGeometry {
                        input: [#ind[0], #ind[1], #ind[2]],
                        output: [#shape_dims[0], #shape_dims[1], #shape_dims[2]],
                        kernel: [#k, #k], stride: [#s, #s], padding: [#pd, #pd], dilation: [#d, #d],
                    };
                    self.#name.depthwise(&__G, #x, #y)?;
                }));
                {
                    let at = place(n);
                    embeds.push(quote! {
                        let #name = #qc::embed::take(&mut __r,
                            #qc::twin::QDense::<{ #c }, { #k * #k }>::embedded::<#at>(&[#c, 1, #k, #k], true, #act));
                    });
                    let n_str = name.to_string();
                    exports.push(quote!(__t.dense(#n_str, &[#c, 1, #k, #k], &self.#name);));
                }
                qexpr[n] = quote!(self.#name.output);
                let t_in = tv(args[0]);
                let n_str = name.to_string();
                graph.push(quote! {
                    let #t_out = __g.push_activation(#out_name, #shape_dims, self.#name.output);
                    let (__w, __bi) = self.#name.export_tensors(&mut __g, #n_str, &[#c, 1, #k, #k]);
                    __g.ops.push(#qc::graph::Op::DepthwiseConv2d {
                        input: #t_in, weight: __w, bias: __bi, output: #t_out, multiplier: 1,
                        stride: [#s, #s], padding: [#pd, #pd], dilation: [#d, #d],
                        activation: self.#name.activation.into(),
                    });
                });
            }
            Q::Separable { ci, co, k, s, p: pd, d } => {
                let (ci, co, k, s, pd, d) = (ci.expr(), co.expr(), k.expr(), s.expr(), pd.expr(), d.expr());
                fields.push(quote!(pub #name: #qc::twin::QSeparable<{ #ci }, { #k * #k }, { #co }>));
                field_names.push(name.clone());
                weight_bytes.push(quote!(#ci * #k * #k + 4 * #ci + #co * #ci + 4 * #co));
                let mid = format_ident!("__m_{}", name);
                let mid_len = quote!(#ci * #shape_dims[1] * #shape_dims[2]);
                state_fields.push(quote!(#mid: [::core::primitive::i8; #mid_len]));
                state_init.push(quote!(#mid: [0; #mid_len]));
                let (qi, qo) = (qv(args[0]), qv(n));
                // The slot after this node's own holds the depthwise output.
                let qm = format_ident!("__q{}", p.slot[n] + 1);
                let act = fused(n);
                let wd = format!("`{name}.depthwise`");
                let wp = format!("`{name}.pointwise`");
                build.push(quote_spanned! {sp=>
                    #name: #qc::twin::QSeparable {
                        depthwise: #qc::twin::QDense::from_f32(
                            #wd,
                            &#qc::support::tensor(#wd, &__net.#name.depthwise, "weight")?,
                            ::core::option::Option::Some(&#qc::support::tensor(#wd, &__net.#name.depthwise, "bias")?[..]),
                            #qi, #qm, #qc::params::Fused::None, true,
                        )?,
                        pointwise: #qc::twin::QDense::from_f32(
                            #wp,
                            &#qc::support::tensor(#wp, &__net.#name.pointwise, "weight")?,
                            ::core::option::Option::Some(&#qc::support::tensor(#wp, &__net.#name.pointwise, "bias")?[..]),
                            #qm, #qo, #act, true,
                        )?,
                    }
                });
                let ind = dims(args[0]);
                scratch.push(quote!(#qc::kernels::conv2d_scratch(&#qc::kernels::ConvGeometry {
                    input: [#ci, #shape_dims[1], #shape_dims[2]],
                    output: [#shape_dims[0], #shape_dims[1], #shape_dims[2]],
                    kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1],
                })));
                forward.push(quote!({
                    const __G: #qc::kernels::ConvGeometry = #qc::kernels::ConvGeometry {
                        input: [#ind[0], #ind[1], #ind[2]],
                        output: [#ci, #shape_dims[1], #shape_dims[2]],
                        kernel: [#k, #k], stride: [#s, #s], padding: [#pd, #pd], dilation: [#d, #d],
                    };
                    const __P: #qc::kernels::ConvGeometry = #qc::kernels::ConvGeometry {
                        input: [#ci, #shape_dims[1], #shape_dims[2]],
                        output: [#shape_dims[0], #shape_dims[1], #shape_dims[2]],
                        kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1],
                    };
                    self.#name.depthwise.depthwise(&__G, #x, &mut __st.#mid[..])?;
                    self.#name.pointwise.conv2d(&__P, &__st.#mid[..], #y, &mut __st.__scratch)?;
                }));
                {
                    let at = place(n);
                    embeds.push(quote! {
                        let #name = #qc::embed::take(&mut __r,
                            #qc::twin::QSeparable::<{ #ci }, { #k * #k }, { #co }>::embedded::<#at>(#k, #act));
                    });
                    let n_str = name.to_string();
                    exports.push(quote!(__t.separable(#n_str, #k, &self.#name);));
                }
                qexpr[n] = quote!(self.#name.pointwise.output);
                let t_in = tv(args[0]);
                let n_dw = format!("{name}.depthwise");
                let n_pw = format!("{name}.pointwise");
                graph.push(quote! {
                    let __tm = __g.push_activation(#n_dw, &[#ci, #shape_dims[1], #shape_dims[2]], self.#name.depthwise.output);
                    let (__w, __bi) = self.#name.depthwise.export_tensors(&mut __g, #n_dw, &[#ci, 1, #k, #k]);
                    __g.ops.push(#qc::graph::Op::DepthwiseConv2d {
                        input: #t_in, weight: __w, bias: __bi, output: __tm, multiplier: 1,
                        stride: [#s, #s], padding: [#pd, #pd], dilation: [#d, #d],
                        activation: #qc::graph::Activation::None,
                    });
                    let #t_out = __g.push_activation(#out_name, #shape_dims, self.#name.pointwise.output);
                    let (__w, __bi) = self.#name.pointwise.export_tensors(&mut __g, #n_pw, &[#co, #ci, 1, 1]);
                    __g.ops.push(#qc::graph::Op::Conv2d {
                        input: __tm, weight: __w, bias: __bi, output: #t_out,
                        stride: [1, 1], padding: [0, 0], dilation: [1, 1],
                        activation: self.#name.pointwise.activation.into(),
                    });
                });
            }
            Q::Pool { max, k, s } => {
                let (k, s) = (k.expr(), s.expr());
                let ind = dims(args[0]);
                let f = if max { quote!(max_pool) } else { quote!(avg_pool) };
                forward.push(quote!({
                    const __G: #qc::kernels::PoolGeometry = #qc::kernels::PoolGeometry {
                        input: [#ind[0], #ind[1], #ind[2]],
                        output: [#shape_dims[0], #shape_dims[1], #shape_dims[2]],
                        window: [#k, #k], stride: [#s, #s], padding: [0, 0],
                    };
                    #qc::twin::#f(&__G, #x, #y)?;
                }));
                qexpr[n] = qexpr[args[0]].clone();
                let q = &qexpr[n];
                let t_in = tv(args[0]);
                let op = if max { quote!(MaxPool2d) } else { quote!(AvgPool2d) };
                graph.push(quote! {
                    let #t_out = __g.push_activation(#out_name, #shape_dims, #q);
                    __g.ops.push(#qc::graph::Op::#op {
                        input: #t_in, output: #t_out, window: [#k, #k], stride: [#s, #s], padding: [0, 0],
                    });
                });
            }
            Q::GlobalAvg => {
                let ind = dims(args[0]);
                forward.push(quote!({
                    const __G: #qc::kernels::PoolGeometry = #qc::kernels::PoolGeometry {
                        input: [#ind[0], #ind[1], #ind[2]],
                        output: [#ind[0], 1, 1],
                        window: [#ind[1], #ind[2]], stride: [1, 1], padding: [0, 0],
                    };
                    #qc::twin::avg_pool(&__G, #x, #y)?;
                }));
                qexpr[n] = qexpr[args[0]].clone();
                let q = &qexpr[n];
                let t_in = tv(args[0]);
                let pooled = format!("{name}.pool");
                graph.push(quote! {
                    let __tp = __g.push_activation(#pooled, &[#ind[0], 1, 1], #q);
                    __g.ops.push(#qc::graph::Op::AvgPool2d {
                        input: #t_in, output: __tp, window: [#ind[1], #ind[2]], stride: [1, 1], padding: [0, 0],
                    });
                    let #t_out = __g.push_activation(#out_name, #shape_dims, #q);
                    __g.ops.push(#qc::graph::Op::Reshape { input: __tp, output: #t_out });
                });
            }
            Q::Relu if p.buf[n] != n => {
                // Fused into the layer before it: its tensor is this node's.
                let a = args[0];
                qexpr[n] = qexpr[a].clone();
                let ta = tv(a);
                graph.push(quote!(let #t_out = #ta;));
            }
            Q::Relu => {
                fields.push(quote!(pub #name: #qc::twin::QActivation));
                field_names.push(name.clone());
                let (qi, qo) = (qv(args[0]), qv(n));
                build.push(quote!(#name: #qc::twin::QActivation::new(#qi, #qo, #qc::params::Fused::Relu)));
                forward.push(quote!(self.#name.forward(#x, #y)?;));
                {
                    let at = place(n);
                    embeds.push(quote! {
                        let #name = #qc::embed::take(&mut __r,
                            #qc::twin::QActivation::embedded::<#at>(#qc::params::Fused::Relu));
                    });
                    let n_str = name.to_string();
                    exports.push(quote!(__t.activation(#n_str, &self.#name);));
                }
                qexpr[n] = quote!(self.#name.output);
                let t_in = tv(args[0]);
                graph.push(quote! {
                    let #t_out = __g.push_activation(#out_name, #shape_dims, self.#name.output);
                    __g.ops.push(#qc::graph::Op::Activation {
                        input: #t_in, output: #t_out, kind: #qc::graph::Activation::Relu,
                    });
                });
            }
            Q::View => {
                qexpr[n] = qexpr[args[0]].clone();
                let q = &qexpr[n];
                let t_in = tv(args[0]);
                graph.push(quote! {
                    let #t_out = __g.push_activation(#out_name, #shape_dims, #q);
                    __g.ops.push(#qc::graph::Op::Reshape { input: #t_in, output: #t_out });
                });
            }
            Q::Add | Q::Concat => {
                let add = matches!(k, Q::Add);
                let (qa, qb, qo) = (qv(args[0]), qv(args[1]), qv(n));
                let (ba, bb) = (bf(args[0]), bf(args[1]));
                let (ta, tb) = (tv(args[0]), tv(args[1]));
                if add {
                    // `ADD`'s parameters are not derived in constant evaluation yet.
                    embeddable = false;
                    fields.push(quote!(pub #name: #qc::twin::QAdd));
                    field_names.push(name.clone());
                    let act = fused(n);
                    build.push(quote!(#name: #qc::twin::QAdd::new(#what, #qa, #qb, #qo, #act)?));
                    graph.push(quote! {
                        let #t_out = __g.push_activation(#out_name, #shape_dims, self.#name.output);
                        __g.ops.push(#qc::graph::Op::Add {
                            a: #ta, b: #tb, output: #t_out, activation: self.#name.activation.into(),
                        });
                    });
                } else {
                    fields.push(quote!(pub #name: #qc::twin::QConcat));
                    field_names.push(name.clone());
                    let at = place(n);
                    embeds.push(quote! {
                        let #name = #qc::embed::take(&mut __r, #qc::twin::QConcat::embedded::<#at>());
                    });
                    let n_str = name.to_string();
                    exports.push(quote!(__t.concat(#n_str, &self.#name);));
                    build.push(quote!(#name: #qc::twin::QConcat::new(#qa, #qb, #qo)));
                    graph.push(quote! {
                        let #t_out = __g.push_activation(#out_name, #shape_dims, self.#name.output);
                        __g.ops.push(#qc::graph::Op::Concat {
                            inputs: #qc::support::pair(#ta, #tb), output: #t_out, axis: 0,
                        });
                    });
                }
                forward.push(quote!(self.#name.forward(&__st.#ba[..], &__st.#bb[..], #y)?;));
                qexpr[n] = quote!(self.#name.output);
            }
        }
    }

    let slots = p.watched.len();
    let observers: Vec<TokenStream> = p
        .watched
        .iter()
        .map(|&(w, mid)| {
            let s = if mid { format!("`{}.depthwise`", g.nodes[w].name) } else { format!("`{}`", g.nodes[w].name) };
            quote!(#qc::calibrate::Observer::new(#s))
        })
        .collect();
    let mut slot_lets = Vec::new();
    for s in 0..slots {
        let q = format_ident!("__q{}", s);
        slot_lets.push(quote!(let #q = __obs[#s].params(__method)?;));
    }
    let primary = g.outputs[0];
    let q_in = qv(0);
    let q_out = qv(primary);
    let in_buf = bf(0);
    let out_buf = bf(primary);
    let in_numel = numel(0);
    let out_numel = numel(primary);
    let in_shape = shape_ty(0);
    let t_primary = tv(primary);
    let doc = format!(
        "The int8 twin of [`{net_str}`], in TFLite's scheme: `i8` weights per output channel (or per tensor, \
         for `Linear` layers as calibrated), `i8` activations, `i32` biases; built by `{net_str}::quantize`. Its \
         forward pass is integer only and allocates nothing."
    );
    let state_doc = format!(
        "Buffers of [`{tw_str}`]'s integer forward pass: one `i8` buffer per node and the patch scratch; no heap."
    );

    let embedding = if embeddable {
        let places = field_names.iter().map(|f| format_ident!("__F_{}", f));
        let place_names = field_names.iter().map(|f| f.to_string());
        let input_at = quote!(#core::embed::Field<__P, #qc::embed::names::Input>);
        let output_at = quote!(#core::embed::Field<__P, #qc::embed::names::Output>);
        quote! {
            #(
                #[allow(non_camel_case_types)]
                struct #places;
                impl #core::embed::FieldName for #places {
                    const NAME: &'static ::core::primitive::str = #place_names;
                }
            )*

            /// Built by the compiler from an int8 file (`include_weights!`): the file's
            /// tensors are those [`to_safetensors`](Self::to_safetensors) writes, and the
            /// rescaling factors are derived from its scales.
            #[automatically_derived]
            impl<__P: #core::embed::Place> #core::embed::Embed<__P> for #tw {
                const EMBEDDED: #core::embed::Embedded<Self> = {
                    let mut __r = #core::embed::Report::EMPTY;
                    #(#embeds)*
                    let __input = #qc::embed::take(&mut __r, #qc::QParams::embedded::<#input_at>());
                    let __output = #qc::embed::take(&mut __r, #qc::QParams::embedded::<#output_at>());
                    #core::embed::Embedded::new(#tw { #(#field_names,)* __input, __output }, __r)
                };
            }

            #qc::__with_alloc! {
            #[automatically_derived]
            impl #tw {
                /// The twin as a safetensors file of `i8`, `i32` and `f32` tensors, which
                /// `include_weights!` embeds: every layer's weights, biases, scales and
                /// zero points (TFLite's content); the rescaling factors are derived from them.
                pub fn to_safetensors(&self) -> #qc::support::Vec<::core::primitive::u8> {
                    let mut __t = #qc::embed::Tensors::default();
                    #(#exports)*
                    __t.params("input", self.__input);
                    __t.params("output", self.__output);
                    #qc::embed::safetensors(__t)
                }
            }
            }
        }
    } else {
        TokenStream::new()
    };

    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #tw {
            #(#fields,)*
            #[doc(hidden)]
            pub __input: #qc::QParams,
            #[doc(hidden)]
            pub __output: #qc::QParams,
        }

        #[doc = #state_doc]
        #vis struct #state {
            #(#state_fields,)*
            __scratch: [::core::primitive::i16; #core::summary::max_of(&[#(#scratch),*])],
        }

        const _: () = {
            #[automatically_derived]
            impl #state {
                /// Zeroed buffers.
                pub fn new() -> Self {
                    Self { #(#state_init,)* __scratch: [0; #core::summary::max_of(&[#(#scratch),*])] }
                }
            }

            #[automatically_derived]
            impl ::core::default::Default for #state {
                fn default() -> Self {
                    Self::new()
                }
            }

            #qc::__with_alloc! {
            #[automatically_derived]
            impl #net_f32 {
                /// Quantizes this network in TFLite's int8 scheme: runs it over the calibration
                /// samples, chooses each activation's range by the calibration's method, and
                /// quantizes weights (symmetric, per output channel for convolutions; per tensor
                /// or per channel for `Linear`, as the calibration says) and biases (`i32`).
                pub fn quantize(__net: &Self, __cal: &#qc::calibrate::Calibration<'_>) -> ::core::result::Result<#tw, #qc::QuantError> {
                    let __in = <#in_shape as #core::shape::Shape>::NUMEL;
                    let __n = __cal.check(#calib_what, __in)?;
                    let __cap = ::core::cmp::min(__cal.batch(), __n);
                    let mut __obs = [#(#observers),*];
                    let mut __pack = #qc::support::zeros(0);
                    #(#calib_bufs)*
                    for __pass in 0..__cal.passes() {
                        for __chunk in __cal.data().chunks(__cap * __in) {
                            let __b = __chunk.len() / __in;
                            #(#calib_steps)*
                        }
                    }
                    let __method = __cal.range_method();
                    #(#slot_lets)*
                    ::core::result::Result::Ok(#tw {
                        #(#build,)*
                        __input: #q_in,
                        __output: #q_out,
                    })
                }
            }
            }

            #embedding

            #[automatically_derived]
            impl #tw {
                /// Parameters of the float network (weights and biases).
                pub const PARAMS: ::core::primitive::usize = <#net_f32 as #core::module::Module<f32>>::PARAMS;
                /// Bytes of `i8` weights and `i32` biases.
                pub const PARAM_BYTES: ::core::primitive::usize = 0 #(+ #weight_bytes)*;
                /// Bytes of the twin as a value (weights, biases, scales, multipliers): what it
                /// takes in flash as a `static`.
                pub const FLASH_BYTES: ::core::primitive::usize = ::core::mem::size_of::<Self>();
                /// Bytes of its state: every buffer of the forward pass.
                pub const RAM_BYTES: ::core::primitive::usize = ::core::mem::size_of::<#state>();
                /// Multiply-accumulates per sample, as the float network's.
                pub const MACS: ::core::primitive::usize = <#net_f32 as #core::network::Network<f32>>::MACS;

                /// Fresh buffers for the forward pass.
                pub fn state() -> #state {
                    #state::new()
                }

                /// The input's quantization.
                pub fn input_params(&self) -> #qc::QParams {
                    self.__input
                }

                /// The output's quantization.
                pub fn output_params(&self) -> #qc::QParams {
                    self.__output
                }

                /// The integer forward pass on one quantized sample: no floating point, no
                /// allocation. TFLite Micro's reference kernels give the same bits.
                pub fn forward<'__s>(&self, __x: &[::core::primitive::i8], __st: &'__s mut #state) -> ::core::result::Result<&'__s [::core::primitive::i8], #qc::QuantError> {
                    if __x.len() != #in_numel {
                        return ::core::result::Result::Err(#qc::QuantError::Length { what: #input_what, expected: #in_numel, got: __x.len() });
                    }
                    __st.#in_buf.copy_from_slice(__x);
                    self.__run(__st)
                }

                /// Quantizes one float sample with the input's parameters, then runs
                /// [`forward`](Self::forward); the output is `i8`
                /// ([`output_params`](Self::output_params) dequantizes it).
                pub fn predict<'__s>(&self, __x: &[f32], __st: &'__s mut #state) -> ::core::result::Result<&'__s [::core::primitive::i8], #qc::QuantError> {
                    #qc::twin::quantize_input(#input_what, self.__input, __x, &mut __st.#in_buf[..])?;
                    self.__run(__st)
                }

                fn __run<'__s>(&self, __st: &'__s mut #state) -> ::core::result::Result<&'__s [::core::primitive::i8], #qc::QuantError> {
                    #(#forward)*
                    ::core::result::Result::Ok(&__st.#out_buf[..#out_numel])
                }

                #qc::__with_alloc! {
                    /// The network operator by operator, for exporters: tensors named as the
                    /// float network's parameters (`conv1.weight`) and nodes.
                    pub fn to_graph(&self) -> #qc::graph::Graph {
                        let mut __g = #qc::graph::Graph::default();
                        #(#graph)*
                        __g.outputs.push(#t_primary);
                        __g
                    }
                }

                /// The float network's nodes, with this twin's bytes.
                pub fn summary() -> #core::summary::Summary {
                    let __s = <#net_f32 as #core::network::Network<f32>>::summary();
                    #core::summary::Summary {
                        name: #tw_str,
                        param_bytes: Self::FLASH_BYTES,
                        activation_bytes: Self::RAM_BYTES,
                        peak_activation_bytes: Self::RAM_BYTES,
                        ..__s
                    }
                }
            }
        };
    }
}
