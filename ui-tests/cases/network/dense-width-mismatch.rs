use monograd::prelude::*;

network! {
    struct Net {
        input: [784],
        fc1: Linear<784, 128>,
        act: ReLU,
        fc2: Linear<64, 10>,
    }
}

fn main() {}
