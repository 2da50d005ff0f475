//! A model over its device's budget does not compile, and the error names the budget and
//! the figure with their values.
use monograd::prelude::*;

network! {
    pub struct Big {
        input: [64],
        fc1: Linear<64, 256>,
        act: ReLU,
        fc2: Linear<256, 10>,
    }
}

/// What the device has left for inference.
const RAM_BUDGET: usize = 1024;

const _: () = monograd::assert_budget!(Big::PARAM_BYTES <= 128 * 1024);
const _: () = monograd::assert_budget!(Big::RAM_BYTES <= RAM_BUDGET);

fn main() {}
