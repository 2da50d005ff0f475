use monograd::prelude::*;

// LeNet's first dense layer written for 5x5 maps: these are 4x4.
network! {
    struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d<1, 6, 5>,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<6, 16, 5>,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<{ 16 * 5 * 5 }, 120>,
    }
}

fn main() {}
