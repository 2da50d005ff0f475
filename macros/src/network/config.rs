//! Settings written in the declaration: `drop: Dropout(0.2)`,
//! `bn: BatchNorm2d<16>(eps = 1e-3, momentum = 0.01)`, `blk: MyBlock(3, 0.5)`.
//!
//! The rule, one for every layer:
//! - a built-in layer starts from its `Default` value; each positional argument sets the
//!   layer's settings in PyTorch's order (`Dropout`: `p`; `BatchNorm2d`: `eps`, then
//!   `momentum`), and `name = value` sets the setting of that name. Each becomes a call of
//!   the builder method of the same name (`Dropout::p`, `BatchNorm2d::eps`), a `const fn`
//!   that rejects a value out of range. The macro knows each built-in layer's settings, so
//!   an unknown name or too many arguments is an error in words, and a literal out of range
//!   is an error on the literal, before any code runs.
//! - any other layer (one of the user's, a nested network): positional arguments go to its
//!   associated function `configured(..)` (`MyBlock(3, 0.5)` is
//!   `MyBlock::configured(3, 0.5)`), which returns the layer; without them it starts from
//!   `Default`. `name = value` calls the method `name(value)` on that value.
//!
//! The expression builds the field in the network's `Default`, which `new` starts from,
//! so every way of making the network keeps the declared settings. `include_weights!`
//! builds it through the derive's `Embed` instead, so the field also gets an attribute
//! that tells the derive the same builder calls ([`field_attr`]).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, Lit, UnOp};

use super::model::{Graph, Kind, Layer};
use crate::ctxt::Ctxt;

/// What values a setting takes.
#[derive(Clone, Copy)]
enum Range {
    /// A probability: `[0, 1]`.
    Probability,
    /// `>= 0`.
    NonNegative,
    /// `> 0`.
    Positive,
    /// `true` or `false`.
    Bool,
}

impl Range {
    fn admits(self, v: f64) -> bool {
        match self {
            Range::Probability => (0.0..=1.0).contains(&v),
            Range::NonNegative => v >= 0.0,
            Range::Positive => v > 0.0,
            Range::Bool => true,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Range::Probability => "in [0, 1]",
            Range::NonNegative => "non-negative",
            Range::Positive => "positive",
            Range::Bool => "`true` or `false`",
        }
    }
}

/// A setting of a built-in layer: its name (and builder method), what it is, its values.
struct Setting {
    name: &'static str,
    what: &'static str,
    range: Range,
}

const fn s(name: &'static str, what: &'static str, range: Range) -> Setting {
    Setting { name, what, range }
}

const BATCH_NORM: &[Setting] = &[
    s("eps", "the value added to the variance", Range::NonNegative),
    s("momentum", "the weight of each batch in the running statistics", Range::Probability),
    s("cumulative", "whether the running statistics average every batch equally", Range::Bool),
];

/// The built-in layers with settings: their settings, and how many of them (the first)
/// positional arguments may set. Every other built-in layer has none.
const CONFIGURABLE: &[(&str, &[Setting], usize)] = &[
    ("Dropout", &[s("p", "the probability of zeroing an element", Range::Probability)], 1),
    ("LeakyReLU", &[s("negative_slope", "the slope for negative inputs", Range::NonNegative)], 1),
    ("ELU", &[s("alpha", "the scale of the negative part", Range::Positive)], 1),
    ("BatchNorm1d", BATCH_NORM, 2),
    ("BatchNorm2d", BATCH_NORM, 2),
    ("LayerNorm", &[s("eps", "the value added to the variance", Range::NonNegative)], 1),
];

/// The layer's name as the macro knows it (its last path segment).
fn type_name(layer: &Layer) -> String {
    match &layer.written {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

fn settings_of(layer: &Layer) -> Option<(&'static [Setting], usize)> {
    let name = type_name(layer);
    CONFIGURABLE.iter().find(|(n, ..)| *n == name).map(|&(_, s, p)| (s, p))
}

fn list(settings: &[Setting]) -> String {
    let names: Vec<_> = settings.iter().map(|s| format!("`{}`", s.name)).collect();
    match names.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
        [] => String::new(),
    }
}

/// Checks the settings of every built-in layer: names, counts, duplicates, literals.
pub fn check(cx: &Ctxt, g: &Graph) {
    for layer in &g.layers {
        let Some(config) = &layer.config else { continue };
        if layer.kind == Kind::Custom {
            // The type checker judges `configured(..)` and the methods; the order is ours.
            let mut named = false;
            for arg in &config.args {
                named |= arg.name.is_some();
                if named && arg.name.is_none() {
                    cx.error_spanned_by(&arg.value, "positional settings come before named ones (`name = value`)");
                }
            }
            continue;
        }
        let name = type_name(layer);
        let Some((settings, positional)) = settings_of(layer) else {
            cx.error_at(
                config.paren,
                format!(
                    "`{name}` has no settings: write `{}: {}` without arguments",
                    layer.name,
                    shown(&layer.written)
                ),
            );
            continue;
        };
        let mut set: Vec<Option<Span>> = vec![None; settings.len()];
        let mut seen_named = false;
        for (i, arg) in config.args.iter().enumerate() {
            let index = match &arg.name {
                None if seen_named => {
                    cx.error_spanned_by(&arg.value, "positional settings come before named ones (`name = value`)");
                    continue;
                }
                None if i >= positional => {
                    let given = config.args.iter().filter(|a| a.name.is_none()).count();
                    let takes = match positional {
                        1 => format!("one positional setting, {}", list(&settings[..1])),
                        n => format!("{n} positional settings, {} in this order", list(&settings[..n])),
                    };
                    let by_name = &settings[positional..];
                    let rest = if by_name.is_empty() {
                        String::new()
                    } else {
                        let verb = if by_name.len() == 1 { "is" } else { "are" };
                        format!("; {} {verb} set by name only", list(by_name))
                    };
                    cx.error_spanned_by(&arg.value, format!("`{name}` takes {takes}, but {given} are given{rest}"));
                    continue;
                }
                None => i,
                Some(n) => {
                    seen_named = true;
                    match settings.iter().position(|s| n == s.name) {
                        Some(k) => k,
                        None => {
                            cx.error_at(
                                n.span(),
                                format!("`{name}` has no setting `{n}`; its settings are {}", list(settings)),
                            );
                            continue;
                        }
                    }
                }
            };
            let setting = &settings[index];
            let at = arg.name.as_ref().map(|n| n.span()).unwrap_or_else(|| arg.value.span());
            if set[index].replace(at).is_some() {
                cx.error_at(at, format!("`{name}`'s setting `{}` is given twice", setting.name));
            }
            if let Some(v) = literal(&arg.value) {
                let ok = match (setting.range, v) {
                    (Range::Bool, Value::Bool) => true,
                    (Range::Bool, Value::Num(_)) => false,
                    (_, Value::Bool) => false,
                    (r, Value::Num(v)) => r.admits(v),
                };
                if !ok {
                    cx.error_spanned_by(
                        &arg.value,
                        format!(
                            "`{name}`'s `{}` ({}) must be {}, not {}",
                            setting.name,
                            setting.what,
                            setting.range.words(),
                            shown(&arg.value)
                        ),
                    );
                }
            }
        }
    }
}

/// Tokens as the user wrote them, compactly: `Linear<4, 4>`, `-0.1`.
fn shown(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let text = text.replace(" < ", "<").replace("< ", "<").replace(" >", ">").replace(" ,", ",");
    match text.strip_prefix("- ") {
        Some(rest) => format!("-{rest}"),
        None => text,
    }
}

enum Value {
    Num(f64),
    Bool,
}

/// The value of a literal setting (`0.2`, `-1`, `1e-3`, `true`), if it is one.
fn literal(e: &Expr) -> Option<Value> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Float(f) => f.base10_parse::<f64>().ok().map(Value::Num),
            Lit::Int(i) => i.base10_parse::<f64>().ok().map(Value::Num),
            Lit::Bool(_) => Some(Value::Bool),
            _ => None,
        },
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => match literal(&u.expr)? {
            Value::Num(v) => Some(Value::Num(-v)),
            Value::Bool => None,
        },
        Expr::Group(g) => literal(&g.expr),
        Expr::Paren(p) => literal(&p.expr),
        _ => None,
    }
}

/// The value of a settings argument as written, with integer literals as floats: settings
/// of built-in layers are `f64`, and `Dropout(0)` should not be a type error.
fn argument(e: &Expr, numeric: bool) -> TokenStream {
    match e {
        Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) if numeric && i.suffix().is_empty() => {
            match i.base10_parse::<f64>() {
                Ok(v) => {
                    let mut lit = proc_macro2::Literal::f64_unsuffixed(v);
                    lit.set_span(i.span());
                    lit.into_token_stream()
                }
                Err(_) => e.to_token_stream(),
            }
        }
        Expr::Unary(u) if numeric && matches!(u.op, UnOp::Neg(_)) => {
            let (op, inner) = (&u.op, argument(&u.expr, numeric));
            quote!(#op #inner)
        }
        _ => e.to_token_stream(),
    }
}

/// The expression that builds `layer` in the network's `Default`: `Default::default()`,
/// then the declared settings.
pub fn construct(layer: &Layer) -> TokenStream {
    let ty = &layer.ty;
    let span = layer.written.span();
    let default = quote_spanned!(span=> <#ty as ::core::default::Default>::default());
    let Some(config) = &layer.config else { return default };
    match builtin_calls(layer) {
        Some(calls) => calls.iter().fold(default, |value, (method, v)| quote!(#value.#method(#v))),
        None => {
            let positional: Vec<TokenStream> =
                config.args.iter().filter(|a| a.name.is_none()).map(|a| a.value.to_token_stream()).collect();
            let mut value = if positional.is_empty() {
                default
            } else {
                let configured = syn::Ident::new("configured", config.paren);
                quote_spanned!(config.paren=> <#ty>::#configured(#(#positional),*))
            };
            for arg in &config.args {
                let Some(name) = &arg.name else { continue };
                let v = &arg.value;
                value = quote!(#value.#name(#v));
            }
            value
        }
    }
}

/// A built-in layer's settings as builder calls: `(p, 0.2)`; `None` for a layer of the
/// user's (or one without settings, which `check` reported).
fn builtin_calls(layer: &Layer) -> Option<Vec<(syn::Ident, TokenStream)>> {
    let config = layer.config.as_ref()?;
    let (settings, _) = settings_of(layer).filter(|_| layer.kind != Kind::Custom)?;
    let mut calls = Vec::new();
    for (i, arg) in config.args.iter().enumerate() {
        let setting = match &arg.name {
            Some(n) => settings.iter().find(|s| n == s.name),
            None => settings.get(i),
        };
        // `check` reported any other argument.
        let Some(setting) = setting else { continue };
        let at = arg.name.as_ref().map(|n| n.span()).unwrap_or_else(|| arg.value.span());
        calls.push((syn::Ident::new(setting.name, at), argument(&arg.value, !matches!(setting.range, Range::Bool))));
    }
    Some(calls)
}

/// What `#[derive(Module)]`'s `Embed` (hence `include_weights!`) needs to know of a
/// layer's settings: the builder calls to apply in constant evaluation, or, when its
/// arguments are not plainly constant (a function call) or the layer is the user's
/// (`configured(..)` need not be a `const fn`), that the network cannot be embedded.
pub fn field_attr(layer: &Layer) -> TokenStream {
    let Some(config) = &layer.config else { return TokenStream::new() };
    match builtin_calls(layer) {
        Some(calls) if config.args.iter().all(|a| is_constant(&a.value)) => {
            let calls = calls.iter().map(|(m, v)| quote!(#m(#v)));
            quote!(#[module(__settings(#(#calls),*))])
        }
        _ => quote!(#[module(__no_embed)]),
    }
}

/// The settings as written, for `summary()`: `(eps = 1e-3, momentum = 0.01)`, or nothing.
pub fn describe(layer: &Layer) -> String {
    let Some(config) = &layer.config else { return String::new() };
    let args: Vec<String> = config
        .args
        .iter()
        .map(|a| match &a.name {
            Some(n) => format!("{n} = {}", shown(&a.value)),
            None => shown(&a.value),
        })
        .collect();
    format!("({})", args.join(", "))
}

/// Whether `e` is plainly a constant expression: literals and named constants, with
/// operators, parentheses and casts.
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Lit(_) | Expr::Path(_) => true,
        Expr::Unary(u) => is_constant(&u.expr),
        Expr::Binary(b) => is_constant(&b.left) && is_constant(&b.right),
        Expr::Paren(p) => is_constant(&p.expr),
        Expr::Group(g) => is_constant(&g.expr),
        Expr::Cast(c) => is_constant(&c.expr),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::ctxt::Ctxt;
    use crate::network::model::Graph;
    use crate::network::parse::NetworkDef;

    fn graph(def: NetworkDef) -> Graph {
        let cx = Ctxt::new();
        let g = Graph::from_def(&cx, def);
        super::check(&cx, &g);
        assert!(cx.check().is_ok());
        g
    }

    #[test]
    fn settings_become_builder_calls_and_embed_attributes() {
        let g = graph(syn::parse_quote! {
            struct Net {
                input: [4],
                drop: Dropout(0),
                bn: BatchNorm1d<4>(1e-3, momentum = M),
                act: LeakyReLU(slope()),
                blk: Block(3, scale = 0.5),
            }
        });
        let text = |i: usize| super::construct(&g.layers[i]).to_string();
        // An integer literal is written as a float: the settings are `f64`s.
        assert!(text(0).ends_with(":: default () . p (0.0)"), "{}", text(0));
        assert!(text(1).ends_with(". eps (1e-3) . momentum (M)"), "{}", text(1));
        assert_eq!(text(3), "< Block > :: configured (3) . scale (0.5)");
        let attr = |i: usize| super::field_attr(&g.layers[i]).to_string();
        assert_eq!(attr(1), "# [module (__settings (eps (1e-3) , momentum (M)))]");
        // A call, or a layer of the user's: not for constant evaluation.
        assert_eq!(attr(2), "# [module (__no_embed)]");
        assert_eq!(attr(3), "# [module (__no_embed)]");
        assert_eq!(super::describe(&g.layers[1]), "(1e-3, momentum = M)");
    }
}
