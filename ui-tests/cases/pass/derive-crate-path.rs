//! `#[module(crate = "...")]`: a renamed facade, or the core crate itself.
#![deny(warnings)]

use monograd as mg;

#[derive(Clone, mg::Module)]
#[module(crate = "mg::core")]
struct Renamed {
    fc: mg::nn::Linear<2, 2>,
}

#[derive(Clone, monograd::Module)]
#[module(crate = "monograd_core")]
struct Direct {
    scale: [f32; 4],
}

fn main() {
    assert_eq!(<Renamed as mg::Module<f32>>::PARAMS, 6);
    assert_eq!(<Direct as monograd_core::Module<f32>>::PARAMS, 4);
}
