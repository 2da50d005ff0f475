use monograd::prelude::*;

network! {
    struct Net {
        input: [8],
        fc: Linear<8, 8>,
        sum: Add,
    }
}

fn main() {}
