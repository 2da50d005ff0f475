//! A setting the layer does not have: the error names the layer's settings.
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [2, 4, 4],
        bn: BatchNorm2d<2>(epsilon = 1e-3),
        flat: Flatten,
        fc: Linear<32, 2>,
    }
}

fn main() {}
