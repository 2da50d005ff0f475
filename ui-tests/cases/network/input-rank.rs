use monograd::prelude::*;

network! {
    struct Net {
        input: [32, 1, 28, 28],
        flat: Flatten,
    }
}

fn main() {}
