//! Searching a value the compiler needs: a layer's width is a const generic, so each
//! candidate is its own type. [`with_const!`](crate::with_const) turns the value a trial
//! drew into a `const` for each listed candidate, so that every candidate is compiled and
//! shape-checked, and a value nobody listed is `None`, not a panic.

/// Evaluates `body` with `W` a `const usize` equal to `value`, when `value` is one of the
/// listed literals: `Some(body)`; otherwise `None`. Each listed candidate instantiates
/// `body` once, so a network generic over `W` is compiled (and its shapes checked) for
/// every candidate; docs/TUNING.md measures what that costs in compile time.
///
/// ```
/// use monograd_tune::with_const;
///
/// fn buffer<const W: usize>() -> usize {
///     [0u8; W].len()
/// }
///
/// let width = 128;
/// assert_eq!(with_const!(width, [64, 128, 256], |W| buffer::<W>()), Some(128));
/// assert_eq!(with_const!(100usize, [64, 128, 256], |W| buffer::<W>()), None);
/// ```
#[macro_export]
macro_rules! with_const {
    ($value:expr, [$($w:literal),+ $(,)?], |$name:ident| $body:expr) => {
        match $value {
            $(
                $w => {
                    #[allow(non_upper_case_globals)]
                    const $name: usize = $w;
                    ::core::option::Option::Some($body)
                }
            )+
            _ => ::core::option::Option::None,
        }
    };
}
