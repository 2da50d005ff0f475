use monograd::prelude::*;

network! {
    struct Net {
        input x: [8],
        a(c): Linear<8, 8>,
        b(a): Linear<8, 8>,
        c(b): Linear<8, 8>,
    }
}

fn main() {}
