use monograd::prelude::*;

network! {
    struct Net {
        input x: [8],
        a: Linear<8, 8>,
        fc(x, a): Linear<8, 2>,
    }
}

fn main() {}
