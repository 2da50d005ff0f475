//! Collects the errors of one macro invocation so that all of them are reported at once.

use core::cell::RefCell;
use core::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// The error context threaded through parsing and validation.
///
/// Every pass records what it finds and carries on; [`Ctxt::check`] combines the errors
/// into one `syn::Error` that expands to one `compile_error!` per mistake.
#[derive(Default)]
pub struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Self::default()
    }

    /// An error underlining the tokens of `obj` (from its first to its last token).
    pub fn error_spanned_by<A: ToTokens, M: Display>(&self, obj: A, msg: M) {
        self.errors.borrow_mut().push(syn::Error::new_spanned(obj.into_token_stream(), msg));
    }

    /// An error at one span.
    pub fn error_at<M: Display>(&self, span: Span, msg: M) {
        self.errors.borrow_mut().push(syn::Error::new(span, msg));
    }

    /// An error that syn produced while parsing.
    pub fn syn_error(&self, err: syn::Error) {
        self.errors.borrow_mut().push(err);
    }

    /// Whether an error was recorded: later passes that need a sound model skip then.
    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// All errors, combined into one, in the order they were found.
    pub fn check(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut combined) = errors.next() else { return Ok(()) };
        for err in errors {
            combined.combine(err);
        }
        Err(combined)
    }
}
