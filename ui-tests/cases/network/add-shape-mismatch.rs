use monograd::prelude::*;

network! {
    struct Net {
        input x: [16],
        a: Linear<16, 16>,
        b(x): Linear<16, 8>,
        sum(a, b): Add,
    }
}

fn main() {}
