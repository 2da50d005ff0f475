use monograd::prelude::*;

network! {
    struct Net {
        input x: [8],
        a: Linear<8, 8>,
        b = a,
        c = b,
    }
}

fn main() {}
