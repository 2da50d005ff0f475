//! Validation: everything the model can hold but a module cannot be. Expansion assumes
//! that this pass found nothing.

use crate::ast::{display, same_type, Container, Field, Holds, ScalarSource, Unsupported};
use crate::attr::{CONFIG, FREEZE, SKIP};
use crate::ctxt::Ctxt;

const SKIP_HINT: &str = "use `#[module(skip)]` for fields that hold no parameters";

/// Records every problem of `cont` in `cx`.
pub fn check(cx: &Ctxt, cont: &Container) {
    check_crate(cx, cont);
    check_scalar(cx, cont);
    for field in &cont.fields {
        check_field(cx, cont, field);
    }
}

/// `crate = "..."` names monograd's core crate; serde's habit suggests the facade.
fn check_crate(cx: &Ctxt, cont: &Container) {
    if cont.krate.segments.last().is_some_and(|seg| seg.ident == "monograd") {
        let path = display(&cont.krate);
        cx.error_spanned_by(
            &cont.krate,
            format!(
                "`crate` is the path to monograd's core crate, not to the facade: write \
                 `#[module(crate = \"{path}::core\")]`"
            ),
        );
    }
}

fn check_scalar(cx: &Ctxt, cont: &Container) {
    if let ScalarSource::Ambiguous(candidates) = &cont.scalar.source {
        let names: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
        cx.error_spanned_by(
            &candidates[1],
            format!(
                "several type parameters are bounded by `Scalar` ({}): choose the module's scalar with \
                 `#[module(scalar = {})]`",
                names.join(", "),
                candidates[0],
            ),
        );
    }
}

fn check_field(cx: &Ctxt, cont: &Container, field: &Field) {
    if let (Some(skip), Some(freeze)) = (&field.attrs.skip, &field.attrs.freeze) {
        // Underline the second of the two keys: it is the one that contradicts.
        let (later, key, other) =
            if freeze.order > skip.order { (freeze.span, FREEZE, SKIP) } else { (skip.span, SKIP, FREEZE) };
        cx.error_at(
            later,
            format!(
                "`{key}` cannot be combined with `{other}`: `skip` leaves the field out of the module, \
                 `freeze` keeps its parameters but does not train them"
            ),
        );
        return;
    }
    if let Some(config) = &field.attrs.config {
        let other = [(&field.attrs.skip, SKIP), (&field.attrs.freeze, FREEZE)];
        if let Some((_, key)) = other.iter().find(|(set, _)| set.is_some()) {
            cx.error_at(
                config.span,
                format!(
                    "`{CONFIG}` cannot be combined with `{key}`: `config` makes the field a setting, neither a \
                     tensor nor left out"
                ),
            );
        } else if display(crate::ast::ungroup(&field.ty)) != "f64" {
            cx.error_spanned_by(
                &field.ty,
                "a setting (`#[module(config)]`) is an `f64`, whatever the module's scalar, so that `convert` \
                 carries it to another scalar",
            );
        }
        return;
    }
    if field.is_visited() {
        check_holds(cx, cont, &field.holds);
    }
}

fn check_holds(cx: &Ctxt, cont: &Container, holds: &Holds) {
    let scalar = &cont.scalar.ty;
    match holds {
        Holds::Module(_) | Holds::Marker => {}
        Holds::Array { elem, .. } => check_holds(cx, cont, elem),
        Holds::Params { elem, .. } if same_type(elem, scalar) => {}
        Holds::Params { elem, .. } => {
            let hint = match cont.scalar.source {
                ScalarSource::Default => {
                    format!(
                        "write `{}`, or choose the scalar with `#[module(scalar = {})]`",
                        display(scalar),
                        display(elem)
                    )
                }
                _ => format!("write `{}`", display(scalar)),
            };
            cx.error_spanned_by(
                elem,
                format!(
                    "`{}` does not match the module's scalar `{}`: parameters have the scalar type; {hint}",
                    display(elem),
                    display(scalar),
                ),
            );
        }
        Holds::NotScalar(ty) => cx.error_spanned_by(
            ty,
            format!(
                "unsupported field type: `{}` is not the module's scalar `{}`; {SKIP_HINT}",
                display(ty),
                display(scalar)
            ),
        ),
        Holds::Unsupported(ty, what) => {
            let why = match what {
                Unsupported::Reference => "a reference does not own the parameters it points to",
                Unsupported::Pointer => "a raw pointer does not own the parameters it points to",
                Unsupported::FnPointer => "a function pointer holds no parameters",
                Unsupported::TraitObject => "a trait object's parameters are not known at compile time",
                Unsupported::ImplTrait => "`impl Trait` is not a field type",
                Unsupported::Tuple => "a tuple is not a module (hold its layers in a struct that derives `Module`)",
                Unsupported::Unit => "`()` holds no parameters",
                Unsupported::Slice => "a slice has no length known at compile time (use an array `[T; N]`)",
                Unsupported::Never => "`!` holds no parameters",
                Unsupported::Infer => "`_` is not a field type",
            };
            cx.error_spanned_by(ty, format!("unsupported field type: {why}; {SKIP_HINT}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use syn::DeriveInput;

    use crate::ast::Container;
    use crate::ctxt::Ctxt;

    /// Every message the derive reports for `input`, in order.
    fn errors(input: DeriveInput) -> Vec<String> {
        let cx = Ctxt::new();
        let cont = Container::from_ast(&cx, &input);
        super::check(&cx, &cont);
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn valid_structs_pass() {
        assert!(errors(syn::parse_quote! {
            struct Mlp<T: Scalar = f32> {
                fc1: Linear<4, 8, T>,
                blocks: [[Block<T>; 2]; 3],
                scale: [T; 8],
                w: [[T; 2]; 3],
                t: T,
                #[module(freeze)]
                frozen: Linear<8, 8, T>,
                #[module(skip)]
                name: &'static str,
            }
        })
        .is_empty());
        assert!(errors(syn::parse_quote!(
            struct Unit;
        ))
        .is_empty());
        assert!(errors(syn::parse_quote!(
            struct Tuple(Linear<2, 2>, [f32; 3]);
        ))
        .is_empty());
        assert!(errors(syn::parse_quote!(
            #[module(scalar = f64, crate = "monograd_core")]
            struct S {
                b: [f64; 2],
            }
        ))
        .is_empty());
        assert!(errors(syn::parse_quote!(
            #[module(scalar = "f64")]
            struct S {
                b: [f64; 2],
            }
        ))
        .is_empty());
        assert!(errors(syn::parse_quote!(
            struct S<T>
            where
                T: monograd::Scalar,
            {
                b: [T; 2],
            }
        ))
        .is_empty());
    }

    #[test]
    fn every_mistake_is_reported_once() {
        let errs = errors(syn::parse_quote! {
            #[module(scaler = f64, skip)]
            struct S {
                #[module(skip, freeze)]
                a: Linear<2, 2>,
                #[module(skip, skip)]
                b: Linear<2, 2>,
                #[module(froze)]
                c: Linear<2, 2>,
                d: &'static Linear<2, 2>,
                e: (Linear<2, 2>, Linear<2, 2>),
                f: [u8; 4],
                g: [[f64; 2]; 2],
                #[module(skip = true, crate = "x")]
                h: fn(f32) -> f32,
            }
        });
        assert_eq!(
            errs,
            [
                "unknown attribute `scaler` in `#[module(...)]`: the struct takes `crate = \"...\"` or `scalar = ...`",
                "`skip` applies to fields, not to the struct; the struct takes `crate = \"...\"` or `scalar = ...`",
                "duplicate attribute `skip`",
                "unknown attribute `froze` in `#[module(...)]`: a field takes `skip`, `freeze` or `config`",
                "`skip` takes no value: write `#[module(skip)]`",
                "`crate` applies to the struct, not to a field; a field takes `skip`, `freeze` or `config`",
                "`freeze` cannot be combined with `skip`: `skip` leaves the field out of the module, `freeze` keeps \
                 its parameters but does not train them",
                "unsupported field type: a reference does not own the parameters it points to; use `#[module(skip)]` \
                 for fields that hold no parameters",
                "unsupported field type: a tuple is not a module (hold its layers in a struct that derives \
                 `Module`); use `#[module(skip)]` for fields that hold no parameters",
                "unsupported field type: `u8` is not the module's scalar `f32`; use `#[module(skip)]` for fields \
                 that hold no parameters",
                "`f64` does not match the module's scalar `f32`: parameters have the scalar type; write `f32`, or \
                 choose the scalar with `#[module(scalar = f64)]`",
                "unsupported field type: a function pointer holds no parameters; use `#[module(skip)]` for fields \
                 that hold no parameters",
            ]
        );
    }

    #[test]
    fn enums_unions_and_ambiguous_scalars_are_rejected() {
        let errs = errors(syn::parse_quote!(
            enum E {
                A(Linear<2, 2>),
            }
        ));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("`#[derive(Module)]` supports structs only; an enum"));
        assert!(errors(syn::parse_quote!(
            struct S<T: Scalar> {
                b: [T; 2],
                _m: core::marker::PhantomData<T>,
            }
        ))
        .is_empty());
        let errs = errors(syn::parse_quote!(union U { a: f32 }));
        assert!(errs[0].starts_with("`#[derive(Module)]` supports structs only; the fields of a union"));
        let errs = errors(syn::parse_quote!(
            struct S<T: Scalar, U: Real> {
                a: [T; 2],
            }
        ));
        assert_eq!(
            errs,
            ["several type parameters are bounded by `Scalar` (`T`, `U`): choose the module's scalar with \
              `#[module(scalar = T)]`"]
        );
        let errs = errors(syn::parse_quote!(
            struct S<T: Scalar> {
                a: [f32; 2],
            }
        ));
        assert_eq!(errs, ["`f32` does not match the module's scalar `T`: parameters have the scalar type; write `T`"]);
        let errs = errors(syn::parse_quote!(
            #[module(crate = "::monograd")]
            struct S;
        ));
        assert_eq!(
            errs,
            ["`crate` is the path to monograd's core crate, not to the facade: write \
              `#[module(crate = \"::monograd::core\")]`"]
        );
        let errs = errors(syn::parse_quote!(
            #[module]
            #[module(crate)]
            struct S;
        ));
        assert_eq!(errs, ["expected `#[module(...)]`", "expected `crate = ...`"]);
    }
}
