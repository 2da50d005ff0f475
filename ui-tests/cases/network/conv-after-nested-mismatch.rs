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
        input: [6, 12, 12],
        block: Block<T>,
        conv: Conv2d<8, 16, 5>,
        pool: MaxPool2d<9>,
    }
}

fn main() {}
