//! monograd's procedural macros. Use them through the `monograd` facade, which
//! re-exports [`macro@Module`] beside the trait of the same name.
//!
//! | module | what |
//! | --- | --- |
//! | `ast` | the model: the struct, what each field holds, the scalar, the crate path |
//! | `attr` | `#[module(...)]` keys, parsed with their spans |
//! | `check` | validation, a pass of its own |
//! | `expand` | one file per generated artefact: the `Module` impl, the stub after an error |
//! | `ctxt` | the error context that collects every error and combines them |
//! | `network` | `network!`: parse, model, validate, optimize, expand |
//! | `weights` | `include_weights!`: parse, read the file, expand |
#![warn(missing_docs)]

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod network;
mod weights;

extern crate proc_macro;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `Module<S>` for a struct of layers, modules and parameters.
///
/// ```ignore
/// use monograd::prelude::*;
///
/// #[derive(Clone, Module)]
/// struct Mlp<T: Scalar = f32> {
///     fc1: Linear<784, 128, T>,
///     fc2: Linear<128, 10, T>,
///     scale: [T; 10],             // a raw parameter, shape [10]
///     #[module(skip)]
///     name: &'static str,          // not a module
/// }
/// // names: fc1.weight, fc1.bias, fc2.weight, fc2.bias, scale
/// ```
/// (A runnable version is on the `monograd::Module` re-export.)
///
/// # Fields
/// Visited depth first, in declaration order, each under its name (tuple fields under
/// their index):
///
/// | field type | visited as | `PARAMS` |
/// | --- | --- | --- |
/// | a layer or module `M` | `name.<M's tensors>` | `M::PARAMS` |
/// | `[M; N]`, `[[M; N]; K]` of modules | `name.0.<...>`, `name.1.<...>`, `name.0.1.<...>` | `N * M::PARAMS` |
/// | the scalar `S` | one tensor `name` of shape `[]` | 1 |
/// | `[S; N]`, `[[S; N]; M]`, ... | one tensor `name` of shape `[N]`, `[M, N]` (outer first) | `N`, `M * N` |
///
/// A type whose syntax is the scalar's, `f32` or `f64` is a raw parameter (and must be the
/// scalar); `PhantomData<...>` holds nothing and is left out; any other path type is a
/// module. References, pointers, function pointers, trait objects, tuples, slices and
/// non-float primitives are rejected: mark fields that hold no parameters
/// `#[module(skip)]`.
///
/// # The scalar
/// `#[module(scalar = f64)]` chooses it; otherwise the struct's type parameter bounded by
/// `Scalar` (or `Real`), as in `struct Mlp<T: Scalar = f32>`, which gives
/// `impl<T: Scalar> Module<T> for Mlp<T>`; otherwise `f32`. Const parameters
/// (`struct Block<const N: usize>`) need nothing.
///
/// # Attributes
/// - `#[module(skip)]` on a field: neither visited nor counted. The field must still be
///   `Clone`, as `Module` requires of the struct.
/// - `#[module(freeze)]` on a field: visited with `Kind::Frozen` instead of
///   `Kind::Param` (nested modules' trainable tensors included): saved and loaded, counted
///   in `PARAMS` and in `visit_update`'s offsets, but never passed to an optimizer.
/// - `#[module(config)]` on an `f64` field: a setting of the module (a slope, a factor),
///   handed out by `visit_config` under the field's name rather than visited as a tensor,
///   so that `module::convert` carries it to the module's twin over another scalar. Not
///   saved in files; a struct with one has no `Embed` (its value is not in the file).
/// - `#[module(scalar = T)]` on the struct: the scalar (a type, or a string holding one).
/// - `#[module(crate = "path")]` on the struct: where monograd's core crate is found.
///   The default is `::monograd::__private::monograd_core`; write `"mg::core"` for a
///   facade renamed to `mg`, or `"monograd_core"` (`"crate"` inside it) in crates that
///   depend on monograd-core directly.
///
/// # Generated code
/// One `impl Module<S>` inside `const _: () = { ... };`, with absolute paths and
/// `M: Module<S>` bounds only for field types that mention a generic parameter (plus
/// `Self: Clone` when a skipped or `PhantomData` field does: `derive(Clone)` bounds the
/// parameters such fields use, and `Module` requires `Clone`). It
/// implements `PARAMS`, `visit`, `visit_mut`, `visit_update` and `init`, and forwards
/// `visit_counters` and `visit_config` (with their `_mut` forms) to every module field;
/// `zero` and `zeros_like` are the trait's. After an error the derive emits a stub impl beside it, so that the
/// error is the only one.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_module(&input).into()
}

/// Declares a network whose shapes are checked at compile time and whose forward and
/// backward passes are generated as straight-line code. See the `monograd` facade's
/// documentation of `network!` for the syntax and a runnable example.
///
/// Layers take settings after their type, positional and/or by name:
/// `drop: Dropout(0.2)`, `bn: BatchNorm2d<16>(eps = 1e-3, momentum = 0.01)`. For a
/// built-in layer, positional settings follow PyTorch's order and every setting calls the
/// layer's builder method of the same name on its `Default` value; a literal out of range
/// is a compile error on it. For any other layer, positional settings go to its associated
/// function `configured(..)` and named ones to methods of their name. The generated
/// `Default` (which `new` starts from) builds every layer this way.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    network::network(input.into()).into()
}

/// Builds a model from a safetensors file at compile time, checking every tensor's name,
/// shape and dtype against the model. See the `monograd` facade's documentation of
/// `include_weights!` for a runnable example.
#[proc_macro]
pub fn include_weights(input: TokenStream) -> TokenStream {
    weights::include_weights(input.into()).into()
}
