use monograd::prelude::*;

network! {
    struct Net {
        input x: [8],
        probe(x): Linear<8, 2>,
        fc(x): Linear<8, 4>,
    }
}

fn main() {}
