//! A setting is an `f64`, and it is neither skipped nor frozen.
use monograd::prelude::*;

#[derive(Clone, Module)]
struct Scaled<T: Scalar> {
    fc: Linear<4, 4, T>,
    #[module(config)]
    factor: f32,
    #[module(config, skip)]
    shift: f64,
}

fn main() {}
