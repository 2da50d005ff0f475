use monograd::prelude::*;

network! {
    /// A layer that needs sizes it can name in a type, after one computed from `H`.
    pub struct Flat<const H: usize> {
        input: [1, H, H],
        conv: Conv2d<1, 4, 3>,
        flat: Flatten,
        fc: Linear<100, 10>,
    }
}

network! {
    pub struct Up<const H: usize> {
        input: [1, H, H],
        conv: Conv2d<1, 4, 3>,
        up: Upsample<2>,
        gap: GlobalAvgPool2d,
    }
}

fn main() {}
