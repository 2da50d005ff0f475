use monograd::prelude::*;

#[derive(Clone, Module)]
struct Tied<'a> {
    fc1: Linear<4, 4>,
    shared: &'a Linear<4, 4>,
    pair: (Linear<4, 4>, Linear<4, 4>),
}

fn main() {}
