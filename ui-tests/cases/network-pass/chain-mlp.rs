//! A plain chain: each layer reads the one before it.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    /// A perceptron for 28 x 28 images.
    pub struct Mlp {
        input: [1, 28, 28],
        flat: Flatten,
        fc1: Linear<784, 128>,
        act1: ReLU,
        fc2: Linear<128, 64>,
        act2: Tanh,
        head: Linear<64, 10>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = Mlp::new(&mut Rng::seed(0));
    let mut grad = Mlp::default();
    let mut state = Mlp::state::<Heap>();
    let x = [0.5f32; 2 * 784];
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 2 * 10);
    net.backward(&x, &[1.0; 2 * 10], &mut grad, &mut state)?;
    assert_eq!(Mlp::PARAMS, (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10));
    assert_eq!(Mlp::MACS, 784 * 128 + 128 * 64 + 64 * 10);
    Ok(())
}
