use monograd::prelude::*;

network! {
    /// The head's width follows from the last convolution's channels, whatever `H` is: a
    /// mismatch is found when the network is defined.
    pub struct FullyConv<const H: usize> {
        input: [1, H, H],
        conv1: Conv2d<1, 8, 3>,
        act1: ReLU,
        pool: MaxPool2d<2>,
        conv2: Conv2d<8, 16, 3>,
        act2: ReLU,
        gap: GlobalAvgPool2d,
        fc: Linear<32, 10>,
    }
}

fn main() {}
