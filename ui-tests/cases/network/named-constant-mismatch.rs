use monograd::prelude::*;

const HIDDEN: usize = 64;

network! {
    struct Net {
        input: [784],
        fc1: Linear<784, HIDDEN>,
        act: ReLU,
        fc2: Linear<128, 10>,
    }
}

fn main() {}
