use monograd::prelude::*;

network! {
    struct Net {
        input: [8],
        fc1: Linear<8, 8>,
        fc2 = fc3,
    }
}

fn main() {}
