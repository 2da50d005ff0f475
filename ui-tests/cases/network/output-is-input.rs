use monograd::prelude::*;

network! {
    struct Net {
        input x: [8],
        fc: Linear<8, 2>,
        output (fc, x),
    }
}

fn main() {}
