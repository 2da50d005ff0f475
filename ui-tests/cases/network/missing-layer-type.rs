use monograd::prelude::*;

network! {
    struct Net {
        input: [8],
        fc1,
        fc2: Linear<8, 2>,
    }
}

fn main() {}
