use monograd::prelude::*;

#[derive(Clone, Module)]
struct Scaled {
    fc1: Linear<4, 8>,
    scale: [f64; 8],
}

#[derive(Clone, Module)]
struct ScaledGeneric<T: Scalar> {
    fc1: Linear<4, 8, T>,
    scale: [f32; 8],
}

fn main() {}
