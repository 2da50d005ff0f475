//! The `#[module(...)]` attributes, parsed into values that keep the user's tokens.
//!
//! Parsing records every mistake in the [`Ctxt`] and goes on with the next key, so that
//! one invocation reports all of them. Whether the keys make sense together is
//! [`check`](crate::check)'s business, not this module's.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Meta, Token};

use crate::ctxt::Ctxt;

/// The attribute's name: `#[module(...)]`.
pub const MODULE: &str = "module";
/// Field: not a module; neither visited nor counted.
pub const SKIP: &str = "skip";
/// Field: visited as frozen; saved and loaded, never updated.
pub const FREEZE: &str = "freeze";
/// Field: an `f64` setting, visited by `visit_config` rather than as a tensor.
pub const CONFIG: &str = "config";
/// Field, written by `network!` only: builder calls (`p(0.2)`) that make the field's value
/// in `Embed` from its embedded one, as the network's `Default` makes it from its default.
pub const SETTINGS: &str = "__settings";
/// Field, written by `network!` only: settings that constant evaluation cannot apply, so
/// the struct gets no `Embed` impl.
pub const NO_EMBED: &str = "__no_embed";
/// Struct: the path at which monograd-core is reachable.
pub const CRATE: &str = "crate";
/// Struct: the scalar the module is implemented over.
pub const SCALAR: &str = "scalar";

const FIELD_KEYS: &str = "a field takes `skip`, `freeze` or `config`";
const STRUCT_KEYS: &str = "the struct takes `crate = \"...\"` or `scalar = ...`";

/// A key given at most once, with the span of the key that set it and its position among
/// the keys of the same item (so that validation can underline the later of two keys).
pub struct Set<T> {
    pub span: Span,
    pub order: usize,
    pub value: T,
}

/// Records one key per item, reporting a second setting as a duplicate.
struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: &'static str,
    set: Option<Set<T>>,
}

impl<'c, T> Attr<'c, T> {
    fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Attr { cx, name, set: None }
    }

    fn set(&mut self, span: Span, order: usize, value: T) {
        if self.set.is_some() {
            self.cx.error_at(span, format!("duplicate attribute `{}`", self.name));
        } else {
            self.set = Some(Set { span, order, value });
        }
    }
}

/// `#[module(...)]` on the struct.
pub struct Container {
    /// `crate = "path"`: the path to monograd-core.
    pub krate: Option<Set<syn::Path>>,
    /// `scalar = T`: the scalar of `Module<T>`.
    pub scalar: Option<Set<syn::Type>>,
}

impl Container {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut krate = Attr::none(cx, CRATE);
        let mut scalar = Attr::none(cx, SCALAR);
        let mut order = 0;
        for attr in module_attrs(cx, attrs) {
            let parsed = attr.parse_nested_meta(|meta| {
                order += 1;
                let span = meta.path.span();
                if meta.path.is_ident(CRATE) {
                    if let Some(path) = value(cx, &meta, CRATE, syn::Path::parse_mod_style)? {
                        krate.set(span, order, path);
                    }
                } else if meta.path.is_ident(SCALAR) {
                    if let Some(ty) = value(cx, &meta, SCALAR, syn::Type::parse)? {
                        scalar.set(span, order, ty);
                    }
                } else if meta.path.is_ident(SKIP) || meta.path.is_ident(FREEZE) {
                    let key = path_string(&meta.path);
                    cx.error_at(span, format!("`{key}` applies to fields, not to the struct; {STRUCT_KEYS}"));
                    skip_value(&meta)?;
                } else {
                    let key = path_string(&meta.path);
                    cx.error_at(span, format!("unknown attribute `{key}` in `#[module(...)]`: {STRUCT_KEYS}"));
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }
        Container { krate: krate.set, scalar: scalar.set }
    }
}

/// `#[module(...)]` on a field.
pub struct Field {
    /// `skip`: not a module.
    pub skip: Option<Set<()>>,
    /// `freeze`: parameters visited as frozen.
    pub freeze: Option<Set<()>>,
    /// `config`: an `f64` setting.
    pub config: Option<Set<()>>,
    /// `__settings(name(args), ...)`: builder calls applied to the embedded value.
    pub settings: Vec<(syn::Ident, Vec<syn::Expr>)>,
    /// `__no_embed`: no `Embed` impl for the struct.
    pub no_embed: bool,
}

impl Field {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut skip = Attr::none(cx, SKIP);
        let mut freeze = Attr::none(cx, FREEZE);
        let mut config = Attr::none(cx, CONFIG);
        let mut settings = Vec::new();
        let mut no_embed = false;
        let mut order = 0;
        for attr in module_attrs(cx, attrs) {
            let parsed = attr.parse_nested_meta(|meta| {
                order += 1;
                let span = meta.path.span();
                if meta.path.is_ident(SETTINGS) {
                    meta.parse_nested_meta(|call| {
                        let name = call.path.require_ident()?.clone();
                        let args;
                        syn::parenthesized!(args in call.input);
                        let args = syn::punctuated::Punctuated::<syn::Expr, Token![,]>::parse_terminated(&args)?;
                        settings.push((name, args.into_iter().collect()));
                        Ok(())
                    })?;
                } else if meta.path.is_ident(NO_EMBED) {
                    no_embed = true;
                } else if meta.path.is_ident(SKIP) {
                    if flag(cx, &meta, SKIP)? {
                        skip.set(span, order, ());
                    }
                } else if meta.path.is_ident(FREEZE) {
                    if flag(cx, &meta, FREEZE)? {
                        freeze.set(span, order, ());
                    }
                } else if meta.path.is_ident(CONFIG) {
                    if flag(cx, &meta, CONFIG)? {
                        config.set(span, order, ());
                    }
                } else if meta.path.is_ident(CRATE) || meta.path.is_ident(SCALAR) {
                    let key = path_string(&meta.path);
                    cx.error_at(span, format!("`{key}` applies to the struct, not to a field; {FIELD_KEYS}"));
                    skip_value(&meta)?;
                } else {
                    let key = path_string(&meta.path);
                    cx.error_at(span, format!("unknown attribute `{key}` in `#[module(...)]`: {FIELD_KEYS}"));
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }
        Field { skip: skip.set, freeze: freeze.set, config: config.set, settings, no_embed }
    }
}

/// The `#[module(...)]` attributes among `attrs`; `#[module]` and `#[module = ...]` are
/// reported and left out.
fn module_attrs<'a>(cx: &'a Ctxt, attrs: &'a [Attribute]) -> impl Iterator<Item = &'a Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident(MODULE)).filter(move |attr| match &attr.meta {
        Meta::List(_) => true,
        other => {
            cx.error_spanned_by(other, "expected `#[module(...)]`");
            false
        }
    })
}

/// A key without a value (`skip`). `Ok(false)` when a value was given anyway: that is
/// reported, and parsing goes on after it.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, name: &str) -> syn::Result<bool> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Ok(true);
    }
    cx.error_at(meta.path.span(), format!("`{name}` takes no value: write `#[module({name})]`"));
    skip_value(meta)?;
    Ok(false)
}

/// The value of `key = value`, given either as a string (`crate = "monograd_core"`, as
/// serde spells it) or directly (`scalar = f64`). `Ok(None)` when it is missing or does
/// not parse: that is reported, and parsing goes on after it.
fn value<T>(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    name: &str,
    parser: fn(ParseStream<'_>) -> syn::Result<T>,
) -> syn::Result<Option<T>> {
    if !meta.input.peek(Token![=]) {
        cx.error_at(meta.path.span(), format!("expected `{name} = ...`"));
        skip_value(meta)?;
        return Ok(None);
    }
    let input = meta.value()?;
    let parsed = if input.peek(LitStr) { input.parse::<LitStr>()?.parse_with(parser) } else { parser(input) };
    match parsed {
        Ok(value) => Ok(Some(value)),
        Err(err) => {
            cx.syn_error(err);
            skip_value(meta)?;
            Ok(None)
        }
    }
}

/// Skips what is left of the current key, up to the next top-level comma.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

fn path_string(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}
