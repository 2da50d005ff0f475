use monograd::prelude::*;

network! {
    struct Net {
        input: [784],
        fc: Linear<100, 10>,
    }
}

fn main() {}
