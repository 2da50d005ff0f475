use monograd::prelude::*;

network! {
    struct Net {
        input: [16, 4, 4],
        fc: Linear<256, 10>,
    }
}

fn main() {}
