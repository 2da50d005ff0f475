use monograd::prelude::*;

network! {
    struct Net {
        input x: [8],
        a: Linear<8, 8>,
        sum(a, b): Add,
    }
}

fn main() {}
