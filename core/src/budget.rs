//! A device's memory budget, checked by the compiler: [`assert_budget!`](crate::assert_budget)
//! fails the build with a message that names the figure, its value and the budget.
//!
//! ```
//! use monograd_core::assert_budget;
//! const WEIGHTS: usize = 3 * 1024;
//! const FLASH_FOR_WEIGHTS: usize = 4 * 1024;
//! const _: () = assert_budget!(WEIGHTS <= FLASH_FOR_WEIGHTS);
//! ```
//!
//! Over budget, the build stops with (for `Net::RAM_BYTES <= 256`):
//!
//! ```text
//! error[E0080]: evaluation panicked: over budget: `Net::RAM_BYTES` is 1168 bytes, more than
//!               the budget `256` of 256 bytes (912 over)
//! ```

use crate::shape::check::{fail, Msg};

/// Fails constant evaluation when `figure` is over `limit`, with a message naming both.
/// `what` and `budget` are the figure's and the budget's expressions as written.
#[track_caller]
pub const fn check(what: &str, figure: usize, budget: &str, limit: usize) {
    if figure > limit {
        fail(
            &Msg::new()
                .text("over budget: `")
                .text(what)
                .text("` is ")
                .num(figure)
                .text(" bytes, more than the budget `")
                .text(budget)
                .text("` of ")
                .num(limit)
                .text(" bytes (")
                .num(figure - limit)
                .text(" over)"),
        );
    }
}

/// Checks a figure against a budget while the program compiles:
/// `const _: () = assert_budget!(Net::RAM_BYTES <= 4 * 1024);`. A figure over its budget
/// is a compile error naming both, with their values (`assert!` could not print numbers
/// in constant evaluation). The figure is a path (`Net::PARAM_BYTES`, `WEIGHTS`); for any
/// other expression, give its name first: `assert_budget!("weights", N * 4, <= 4096)`.
///
/// ```
/// use monograd_core::assert_budget;
/// const _: () = assert_budget!("two weights", 2 * 4, <= 8);
/// ```
#[macro_export]
macro_rules! assert_budget {
    ($first:ident $(:: $rest:ident)* <= $limit:expr) => {
        $crate::budget::check(
            ::core::concat!(::core::stringify!($first) $(, "::", ::core::stringify!($rest))*),
            $first $(:: $rest)*,
            ::core::stringify!($limit),
            $limit,
        )
    };
    ($what:expr, $figure:expr, <= $limit:expr) => {
        $crate::budget::check($what, $figure, ::core::stringify!($limit), $limit)
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn figures_within_budget_pass() {
        const A: usize = 10;
        assert_budget!(A <= 10);
        assert_budget!("a", A + 1, <= 11);
    }

    #[test]
    #[should_panic(expected = "over budget: `A` is 12 bytes, more than the budget `8 + 2` of 10 bytes (2 over)")]
    fn a_figure_over_budget_names_both() {
        const A: usize = 12;
        assert_budget!(A <= 8 + 2);
    }
}
