use monograd::prelude::*;

network! {
    struct Net {
        input: [8],
    }
}

fn main() {}
