//! The networks of the shared workloads (W1-W4), as `network!` declares them: timed by
//! benches/workloads.rs, and counted for allocations by tests/allocations.rs.

// Each user takes the networks it needs.
#![allow(dead_code)]

use monograd::prelude::*;

network! {
    /// W1/W2: 784 -> 256 ReLU -> 128 ReLU -> 10.
    pub struct Mlp {
        input: [784],
        fc1: Linear<784, 256>,
        r1: ReLU,
        fc2: Linear<256, 128>,
        r2: ReLU,
        fc3: Linear<128, 10>,
    }
}

network! {
    /// W3: 2 -> 16 tanh -> 16 tanh -> 1.
    pub struct Tiny {
        input: [2],
        fc1: Linear<2, 16>,
        t1: Tanh,
        fc2: Linear<16, 16>,
        t2: Tanh,
        fc3: Linear<16, 1>,
    }
}

network! {
    /// W4: LeNet-5 on 1x28x28.
    pub struct LeNet {
        input: [1, 28, 28],
        c1: Conv2d<1, 6, 5>,
        r1: ReLU,
        p1: MaxPool2d<2>,
        c2: Conv2d<6, 16, 5>,
        r2: ReLU,
        p2: MaxPool2d<2>,
        flat: Flatten,
        f1: Linear<256, 120>,
        r3: ReLU,
        f2: Linear<120, 84>,
        r4: ReLU,
        f3: Linear<84, 10>,
    }
}
