use monograd::prelude::*;

network! {
    struct Net {
        input: [8],
        fc1: Linear<8, 4>,
        fc2: Linear<4, 2>,
        output fc3,
    }
}

fn main() {}
