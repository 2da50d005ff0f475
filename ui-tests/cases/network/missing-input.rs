use monograd::prelude::*;

network! {
    struct Net {
        fc: Linear<8, 2>,
    }
}

fn main() {}
