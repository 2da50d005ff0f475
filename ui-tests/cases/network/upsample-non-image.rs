use monograd::prelude::*;

network! {
    /// `Upsample` enlarges images [C, H, W]; a vector is not one.
    struct Vector {
        input: [32],
        fc: Linear<32, 64>,
        up: Upsample<2>,
    }
}

network! {
    /// A signal [C, L] takes `Upsample1d`.
    struct Signal {
        input: [4, 16],
        up: Upsample<2>,
        flat: Flatten,
    }
}

network! {
    /// A scale of 0 would leave nothing of the image.
    struct Zero {
        input: [3, 8, 8],
        up: Upsample<0>,
        flat: Flatten,
    }
}

network! {
    /// A transpose swaps the two axes of a matrix, not of an image.
    struct Image {
        input: [3, 8, 8],
        t: Transpose,
        flat: Flatten,
    }
}

fn main() {}
