//! Literal settings out of range, each rejected on its literal.
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [4],
        fc: Linear<4, 4>,
        act: LeakyReLU(-0.1),
        elu: ELU(alpha = 0),
        bn: BatchNorm1d<4>(-1e-5, momentum = 2),
        cum: BatchNorm1d<4>(cumulative = 1),
    }
}

fn main() {}
