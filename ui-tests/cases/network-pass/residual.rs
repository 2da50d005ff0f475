//! A residual block: a skip connection joined with `Add`.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    pub struct Residual {
        input x: [16],
        fc1: Linear<16, 32>,
        act: ReLU,
        fc2: Linear<32, 16>,
        sum(fc2, x): Add,
        out: ReLU,
    }
}

fn main() -> Result<(), ShapeError> {
    let net = Residual::new(&mut Rng::seed(1));
    let mut state = Residual::state::<Heap>();
    let x = [1.0f32; 3 * 16];
    assert_eq!(net.forward(&x, &mut state)?.len(), 3 * 16);
    assert_eq!(Residual::PARAMS, (16 * 32 + 32) + (32 * 16 + 16));
    Ok(())
}
