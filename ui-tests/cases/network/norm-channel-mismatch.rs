use monograd::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        c1: Conv2d<1, 6, 5>,
        bn: BatchNorm2d<8>,
        flat: Flatten,
    }
}

fn main() {}
