use monograd::prelude::*;

/// A layer the macro has no shape rule for (its trait impls do not matter here).
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
