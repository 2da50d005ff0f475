//! Layers that rearrange samples: a decoder that unflattens a code into an image and
//! upsamples it between convolutions, and a sequence model that transposes an embedding
//! into channels for a convolution.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    /// A 16-value code to an 8 x 8 image.
    pub struct Decoder {
        input z: [16],
        fc: Linear<16, 64>,
        act: ReLU,
        up: Unflatten<4, 4, 4>,             // [4, 4, 4]
        c1: Conv2d<4, 4, 3, 1, 1>,          // [4, 4, 4]
        r1: ReLU,
        big: Upsample<2>,                   // [4, 8, 8]
        last: Permute<1, 2, 0>,             // [8, 8, 4], channels last
        first: Permute<2, 0, 1>,            // [4, 8, 8] again
        c2: Conv2d<4, 1, 3, 1, 1>,          // [1, 8, 8]
        flat: Reshape<Rank2<8, 8>>,         // [8, 8]
    }
}

network! {
    /// Ten tokens to two classes.
    pub struct Tokens {
        input: [10],
        emb: Embedding<30, 6>,              // [10, 6]
        tr: Transpose,                      // [6, 10]
        conv: Conv1d<6, 4, 3>,              // [4, 8]
        up: Upsample1d<2>,                  // [4, 16]
        flat: Flatten,                      // [64]
        head: Linear<64, 2>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = Decoder::new(&mut Rng::seed(0));
    let mut grad = Decoder::default();
    let mut state = Decoder::state::<Heap>();
    let z = [0.25f32; 3 * 16];
    assert_eq!(net.forward_train(&z, &mut state)?.len(), 3 * 64);
    net.backward(&z, &[1.0; 3 * 64], &mut grad, &mut state)?;
    Adam::new(1e-3).step(&mut net, &grad);
    let s = Decoder::summary();
    let shape = |n: &str| s.rows.iter().find(|r| r.node == n).map(|r| r.shape);
    assert_eq!(shape("big"), Some(&[4usize, 8, 8][..]));
    assert_eq!(shape("last"), Some(&[8usize, 8, 4][..]));
    assert_eq!(shape("flat"), Some(&[8usize, 8][..]));

    let mut net = Tokens::new(&mut Rng::seed(1));
    let mut grad = Tokens::default();
    let mut state = Tokens::state::<Heap>();
    let x: Vec<f32> = (0..2 * 10).map(|i| (i * 7 % 30) as f32).collect();
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 2 * 2);
    net.backward(&x, &[1.0; 2 * 2], &mut grad, &mut state)?;
    Sgd::new(0.1).step(&mut net, &grad);
    assert_eq!(Tokens::PARAMS, 30 * 6 + (4 * 6 * 3 + 4) + (64 * 2 + 2));
    Ok(())
}
