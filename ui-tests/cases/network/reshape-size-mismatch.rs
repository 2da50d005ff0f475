use monograd::prelude::*;

network! {
    /// 512 values cannot become a 16 x 7 x 7 image (784 values).
    struct Decoder {
        input: [32],
        fc: Linear<32, 512>,
        up: Reshape<Rank3<16, 7, 7>>,
        c: Conv2d<16, 1, 3>,
    }
}

network! {
    /// The same mistake, written as PyTorch's `Unflatten`.
    struct Unflattened {
        input: [32],
        fc: Linear<32, 512>,
        up: Unflatten<16, 7, 7>,
        c: Conv2d<16, 1, 3>,
    }
}

fn main() {}
