use monograd::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        c1: Conv2d<1, 6, 5>,
        r1: ReLU,
        c2: Conv2d<8, 16, 3>,
        flat: Flatten,
    }
}

fn main() {}
