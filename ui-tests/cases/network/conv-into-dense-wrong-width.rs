use monograd::prelude::*;

network! {
    /// LeNet-5, with the first dense layer sized for 200 features where the
    /// convolutions leave 16 x 4 x 4 = 256.
    struct LeNet {
        input: [1, 28, 28],
        c1: Conv2d<1, 6, 5>,
        r1: ReLU,
        p1: MaxPool2d<2>,
        c2: Conv2d<6, 16, 5>,
        r2: ReLU,
        p2: MaxPool2d<2>,
        flat: Flatten,
        f1: Linear<200, 120>,
        r3: ReLU,
        f2: Linear<120, 10>,
    }
}

fn main() {}
