use monograd::prelude::*;

network! {
    struct Net {
        input: [16, 4, 4],
        flat: Flatten,
        fc: Linear<200, 10>,
    }
}

fn main() {}
