use monograd::prelude::*;

network! {
    struct Net {
        input: [8],
        fc1: Linear<8, 4>,
        output fc1,
        fc2: Linear<4, 2>,
    }
}

fn main() {}
