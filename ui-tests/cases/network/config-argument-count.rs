//! More positional settings than the layer has, and settings for a layer that has none.
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [4],
        fc: Linear<4, 4>(0.5),
        act: LeakyReLU(0.1, 0.2),
        bn: BatchNorm1d<4>(1e-5, 0.1, 0.3),
    }
}

fn main() {}
