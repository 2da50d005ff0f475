use monograd::prelude::*;

network! {
    struct Net {
        input x: [2, 4, 4],
        flat: Flatten,
        both(x, flat): Concat,
    }
}

fn main() {}
