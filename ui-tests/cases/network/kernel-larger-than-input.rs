use monograd::prelude::*;

network! {
    /// A 5x5 kernel on a 4x4 image.
    struct Conv {
        input: [1, 4, 4],
        c: Conv2d<1, 6, 5>,
        flat: Flatten,
    }
}

network! {
    /// A 3x3 pooling window on the 2x2 map a convolution leaves.
    struct Pool {
        input: [1, 4, 4],
        c: Conv2d<1, 6, 3>,
        p: MaxPool2d<3>,
        flat: Flatten,
    }
}

fn main() {}
