use monograd::prelude::*;

/// A layer of the user's own that states no output shape: the macro has no rule for it,
/// and reads its output shape from `OutputShape`, which it does not implement.
#[derive(Clone, Default)]
struct Gain;

network! {
    struct Net {
        input x: [8],
        g: Gain,
        both(g, x): Concat,
    }
}

fn main() {}
