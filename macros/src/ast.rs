//! The model the derive works on: the struct, what each field holds, the scalar and the
//! path to monograd-core.
//!
//! It keeps the user's tokens (types, array lengths, attribute keys) so that errors and
//! generated code point at them, and owns them, so that `network!` can build a
//! [`Container`] for the struct it generates without going through a `DeriveInput`.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Data, DeriveInput, Expr, Fields, GenericParam, Generics, Member, Type, TypeParamBound, WherePredicate};

use crate::attr;
use crate::ctxt::Ctxt;

/// A struct that derives `Module`.
pub struct Container {
    pub ident: Ident,
    pub generics: Generics,
    /// In declaration order; empty for a unit struct (and for an enum or a union, which are
    /// reported).
    pub fields: Vec<Field>,
    /// The path to monograd-core that generated code is rooted at.
    pub krate: syn::Path,
    pub scalar: Scalar,
}

/// The `T` of `Module<T>`.
pub struct Scalar {
    pub ty: Type,
    pub source: ScalarSource,
    /// Whether the impl must add `ty: Scalar`: the scalar is generic and the struct does
    /// not already bound it (repeating a bound trips clippy's `trait_duplication_in_bounds`).
    pub needs_bound: bool,
}

/// Where the scalar came from.
pub enum ScalarSource {
    /// `#[module(scalar = ...)]`.
    Attr,
    /// The one type parameter bounded by `Scalar` (or `Real`).
    Bound,
    /// No attribute and no such parameter: `f32`.
    Default,
    /// Several parameters bounded by `Scalar`; the first was taken. Reported by `check`.
    Ambiguous(Vec<Ident>),
}

/// One field of the struct.
pub struct Field {
    /// `self.<member>`: a name or a tuple index.
    pub member: Member,
    /// The segment of its dotted name: the field's name without `r#`, or its index.
    pub name: String,
    pub ty: Type,
    pub holds: Holds,
    pub attrs: attr::Field,
}

impl Field {
    /// Whether the field is visited and counted (not `#[module(skip)]`, not a setting, not
    /// a marker).
    pub fn is_visited(&self) -> bool {
        self.attrs.skip.is_none() && self.attrs.config.is_none() && !matches!(self.holds, Holds::Marker)
    }

    /// Whether it is a setting (`#[module(config)]`), handed out by `visit_config`.
    pub fn is_setting(&self) -> bool {
        self.attrs.config.is_some()
    }

    /// Whether its parameters are visited as frozen (`#[module(freeze)]`).
    pub fn is_frozen(&self) -> bool {
        self.attrs.freeze.is_some()
    }
}

/// What a field's type holds, read from its syntax.
pub enum Holds {
    /// A layer or a nested module: any path type that is not the scalar.
    Module(Type),
    /// `[E; len]` of modules (or of arrays of modules), visited as `name.0`, `name.1`, ...
    Array { len: Expr, elem_ty: Type, elem: Box<Holds> },
    /// Raw parameters: the scalar itself (`dims` empty, shape `[]`) or arrays of it,
    /// `dims` outer first as PyTorch lists them (`[[T; N]; M]` has dims `[M, N]`).
    Params { elem: Type, dims: Vec<Expr> },
    /// `PhantomData<...>`: holds nothing, skipped without being asked to.
    Marker,
    /// A primitive that is not a float (`u8`, `bool`, ...), underlined by `check`.
    NotScalar(Type),
    /// A type that cannot hold parameters, with what it is ("a reference").
    Unsupported(Type, Unsupported),
}

/// Kinds of types a module field cannot be.
#[derive(Clone, Copy)]
pub enum Unsupported {
    Reference,
    Pointer,
    FnPointer,
    TraitObject,
    ImplTrait,
    Tuple,
    Unit,
    Slice,
    Never,
    Infer,
}

impl Holds {
    /// The module types at the leaves (`M` for `M` and for `[[M; 2]; 3]`).
    pub fn module_leaf(&self) -> Option<&Type> {
        match self {
            Holds::Module(ty) => Some(ty),
            Holds::Array { elem, .. } => elem.module_leaf(),
            _ => None,
        }
    }
}

impl Container {
    /// Reads the derive input, recording what cannot be modelled (an enum, a bad
    /// attribute) in `cx`. Always returns a container, so that a stub impl can be emitted
    /// for an input with errors.
    pub fn from_ast(cx: &Ctxt, input: &DeriveInput) -> Container {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let krate = match attrs.krate {
            Some(set) => set.value,
            None => syn::parse_quote!(::monograd::__private::monograd_core),
        };
        let bounded = scalar_params(&input.generics);
        let scalar = match attrs.scalar {
            Some(set) => {
                let already = bounded
                    .iter()
                    .any(|p| matches!(ungroup(&set.value), Type::Path(t) if t.qself.is_none() && t.path.is_ident(p)));
                let generic = mentions(set.value.to_token_stream(), &param_idents(&input.generics));
                Scalar { ty: set.value, source: ScalarSource::Attr, needs_bound: generic && !already }
            }
            None => match bounded.as_slice() {
                [] => Scalar { ty: syn::parse_quote!(f32), source: ScalarSource::Default, needs_bound: false },
                [one] => Scalar { ty: syn::parse_quote!(#one), source: ScalarSource::Bound, needs_bound: false },
                [first, ..] => Scalar {
                    ty: syn::parse_quote!(#first),
                    source: ScalarSource::Ambiguous(bounded.clone()),
                    needs_bound: false,
                },
            },
        };
        let fields = match &input.data {
            Data::Struct(data) => fields_from_ast(cx, &data.fields, &scalar.ty),
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "`#[derive(Module)]` supports structs only; an enum's parameters would depend on its \
                     variant, so hold the layers in the fields of a struct",
                );
                Vec::new()
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`#[derive(Module)]` supports structs only; the fields of a union overlap, so they \
                     cannot each hold parameters",
                );
                Vec::new()
            }
        };
        Container { ident: input.ident.clone(), generics: input.generics.clone(), fields, krate, scalar }
    }

    /// Whether `ty` mentions one of the struct's type or const parameters (and so needs a
    /// `Module` bound in the impl's where clause).
    pub fn mentions_param(&self, ty: &Type) -> bool {
        mentions(ty.to_token_stream(), &param_idents(&self.generics))
    }
}

/// The names of the type and const parameters.
fn param_idents(generics: &Generics) -> Vec<&Ident> {
    generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(&t.ident),
            GenericParam::Const(c) => Some(&c.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect()
}

fn mentions(tokens: TokenStream, params: &[&Ident]) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(id) => params.iter().any(|p| **p == id),
        TokenTree::Group(g) => mentions(g.stream(), params),
        _ => false,
    })
}

fn fields_from_ast(cx: &Ctxt, fields: &Fields, scalar: &Type) -> Vec<Field> {
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let (member, name) = match &field.ident {
                Some(ident) => (Member::Named(ident.clone()), unraw(ident)),
                None => (Member::Unnamed(syn::Index { index: i as u32, span: Span::call_site() }), i.to_string()),
            };
            Field {
                member,
                name,
                ty: field.ty.clone(),
                holds: classify(&field.ty, scalar),
                attrs: attr::Field::from_ast(cx, &field.attrs),
            }
        })
        .collect()
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    match s.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

const PRIMITIVES: &[&str] =
    &["bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize"];
const FLOATS: &[&str] = &["f32", "f64"];

/// What a field type holds, from its syntax alone.
fn classify(ty: &Type, scalar: &Type) -> Holds {
    let ty = ungroup(ty);
    match ty {
        Type::Array(array) => match classify(&array.elem, scalar) {
            Holds::Params { elem, mut dims } => {
                dims.insert(0, array.len.clone());
                Holds::Params { elem, dims }
            }
            elem @ (Holds::Module(_) | Holds::Array { .. }) => {
                Holds::Array { len: array.len.clone(), elem_ty: (*array.elem).clone(), elem: Box::new(elem) }
            }
            // Underline the innermost offending type, not the whole array.
            bad => bad,
        },
        Type::Paren(inner) => classify(&inner.elem, scalar),
        Type::Path(path) => {
            let primitive = match path.path.get_ident() {
                Some(ident) if path.qself.is_none() => Some(ident.to_string()),
                _ => None,
            };
            let primitive = primitive.as_deref();
            let last = path.path.segments.last().map(|seg| seg.ident.to_string());
            if same_type(ty, scalar) || primitive.is_some_and(|p| FLOATS.contains(&p)) {
                Holds::Params { elem: ty.clone(), dims: Vec::new() }
            } else if primitive.is_some_and(|p| PRIMITIVES.contains(&p)) {
                Holds::NotScalar(ty.clone())
            } else if path.qself.is_none() && last.as_deref() == Some("PhantomData") {
                Holds::Marker
            } else {
                Holds::Module(ty.clone())
            }
        }
        Type::Reference(_) => Holds::Unsupported(ty.clone(), Unsupported::Reference),
        Type::Ptr(_) => Holds::Unsupported(ty.clone(), Unsupported::Pointer),
        Type::BareFn(_) => Holds::Unsupported(ty.clone(), Unsupported::FnPointer),
        Type::TraitObject(_) => Holds::Unsupported(ty.clone(), Unsupported::TraitObject),
        Type::ImplTrait(_) => Holds::Unsupported(ty.clone(), Unsupported::ImplTrait),
        Type::Tuple(t) if t.elems.is_empty() => Holds::Unsupported(ty.clone(), Unsupported::Unit),
        Type::Tuple(_) => Holds::Unsupported(ty.clone(), Unsupported::Tuple),
        Type::Slice(_) => Holds::Unsupported(ty.clone(), Unsupported::Slice),
        Type::Never(_) => Holds::Unsupported(ty.clone(), Unsupported::Never),
        Type::Infer(_) => Holds::Unsupported(ty.clone(), Unsupported::Infer),
        // A type macro, or syntax newer than this crate: let the type checker decide.
        _ => Holds::Module(ty.clone()),
    }
}

/// Strips the invisible groups that `macro_rules!` puts around a `$t:ty`.
pub fn ungroup(mut ty: &Type) -> &Type {
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    ty
}

/// Whether two types are spelled the same (token by token).
pub fn same_type(a: &Type, b: &Type) -> bool {
    display(ungroup(a)) == display(ungroup(b))
}

/// The type as users write it, for messages: `Dual<f64, 2>`, `[f32; 4]`.
pub fn display<T: ToTokens>(tokens: &T) -> String {
    let mut out = String::new();
    write_tokens(&mut out, tokens.to_token_stream());
    out
}

fn write_tokens(out: &mut String, tokens: TokenStream) {
    let mut word_before = false;
    for tt in tokens {
        match tt {
            TokenTree::Ident(_) | TokenTree::Literal(_) => {
                if word_before {
                    out.push(' ');
                }
                out.push_str(&tt.to_string());
                word_before = true;
            }
            TokenTree::Punct(p) => {
                match p.as_char() {
                    ',' | ';' => out.push_str(&format!("{} ", p.as_char())),
                    '=' => out.push_str(" = "),
                    c => out.push(c),
                }
                // `dyn 'a + Trait`, `&'a T`: the lifetime's name is glued to its quote.
                word_before = false;
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    proc_macro2::Delimiter::Parenthesis => ("(", ")"),
                    proc_macro2::Delimiter::Bracket => ("[", "]"),
                    proc_macro2::Delimiter::Brace => ("{ ", " }"),
                    proc_macro2::Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_tokens(out, g.stream());
                out.push_str(close);
                word_before = false;
            }
        }
    }
    // A trailing separator (`(A, B,)`) leaves a space before the closing delimiter.
    while out.ends_with(' ') {
        out.pop();
    }
}

/// The type parameters bounded by `Scalar` (or `Real`), inline or in the where clause: the
/// candidates for the scalar of a struct without `#[module(scalar = ...)]`.
fn scalar_params(generics: &Generics) -> Vec<Ident> {
    let is_scalar_bound = |bound: &TypeParamBound| match bound {
        TypeParamBound::Trait(t) => {
            t.path.segments.last().is_some_and(|seg| seg.ident == "Scalar" || seg.ident == "Real")
        }
        _ => false,
    };
    let in_where = |ident: &Ident| {
        generics.where_clause.iter().flat_map(|w| &w.predicates).any(|pred| match pred {
            WherePredicate::Type(pred) => {
                matches!(ungroup(&pred.bounded_ty), Type::Path(p) if p.qself.is_none() && p.path.is_ident(ident))
                    && pred.bounds.iter().any(is_scalar_bound)
            }
            _ => false,
        })
    };
    generics
        .type_params()
        .filter(|p| p.bounds.iter().any(is_scalar_bound) || in_where(&p.ident))
        .map(|p| p.ident.clone())
        .collect()
}
