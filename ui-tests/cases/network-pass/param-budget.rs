//! The parameter budget of a device, checked when the program compiles.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    pub struct Tiny {
        input: [16],
        fc1: Linear<16, 32>,
        act: ReLU,
        fc2: Linear<32, 4>,
    }
}

const _: () = assert!(Tiny::PARAM_BYTES <= 64 * 1024);
const _: () = assert!(Tiny::PARAM_BYTES == Tiny::PARAMS * 4);
const _: () = assert!(Tiny::PEAK_ACTIVATION_BYTES <= Tiny::ACTIVATION_BYTES);

fn main() {}
