use monograd::prelude::*;

network! {
    /// Axis 0 twice, axis 2 never.
    struct Twice {
        input: [3, 8, 8],
        p: Permute<0, 0, 1>,
        flat: Flatten,
    }
}

network! {
    /// A sample has three axes, 0 to 2.
    struct NoSuchAxis {
        input: [3, 8, 8],
        p: Permute<1, 3, 0>,
        flat: Flatten,
    }
}

network! {
    /// A matrix has two axes: that is `Transpose`.
    struct Matrix {
        input: [12, 8],
        p: Permute<1, 2, 0>,
        flat: Flatten,
    }
}

fn main() {}
