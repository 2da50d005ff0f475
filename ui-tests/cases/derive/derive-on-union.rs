use monograd::prelude::*;

#[derive(Clone, Copy, Module)]
union Weights {
    full: [f32; 4],
    half: [f32; 2],
}

fn main() {}
