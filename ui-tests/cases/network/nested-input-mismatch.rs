use monograd::prelude::*;

network! {
    struct Block {
        input x: [6, 12, 12],
        conv: Conv2d<6, 6, 3, 1, 1>,
        sum(conv, x): Add,
    }
}

network! {
    struct Net {
        input: [1, 28, 28],
        conv1: Conv2d<1, 4, 5>,
        block: Block<T>,
    }
}

fn main() {}
