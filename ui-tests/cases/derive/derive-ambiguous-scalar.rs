use monograd::prelude::*;

#[derive(Clone, Module)]
struct Mixed<T: Scalar, U: Scalar> {
    fc1: Linear<4, 8, T>,
    fc2: Linear<8, 2, U>,
}

fn main() {}
