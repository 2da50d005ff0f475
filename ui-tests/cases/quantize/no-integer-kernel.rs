// A layer with no integer kernel cannot be in an int8 twin: the error names it.
use monograd::prelude::*;

network! {
    #[quantize(NetI8)]
    pub struct Net {
        input: [4],
        fc1: Linear<4, 8>,
        act: Tanh,
        norm: BatchNorm1d<8>,
        fc2: Linear<8, 2>,
    }
}

fn main() {}
