//! A bag of token vectors: embedding, layer and batch norm, dropout.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    pub struct Tokens {
        input: [6],                 // six token indices per sample
        emb: Embedding<20, 4>,      // [6, 4]
        ln: LayerNorm<4>,
        flat: Flatten,              // [24]
        fc: Linear<24, 16>,
        r: ReLU,
        drop: Dropout,
        bn: BatchNorm1d<16>,
        head: Linear<16, 2>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = Tokens::new(&mut Rng::seed(3));
    let mut grad = Tokens::default();
    let mut state = Tokens::state::<Heap>();
    let x: Vec<f32> = (0..4 * 6).map(|i| (i * 7 % 20) as f32).collect();
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 4 * 2);
    net.backward(&x, &[1.0; 4 * 2], &mut grad, &mut state)?;
    AdamW::new(1e-3).step(&mut net, &grad);
    // Inference: dropout is the identity, batch norm uses its running statistics.
    let a = net.forward(&x, &mut state)?.to_vec();
    assert_eq!(net.forward(&x, &mut state)?, &a[..]);
    // A token outside the vocabulary is an error, not a panic.
    let mut bad = x.clone();
    bad[3] = 20.0;
    assert!(net.forward(&bad, &mut state).is_err());
    assert_eq!(Tokens::PARAMS, 20 * 4 + 2 * 4 + (24 * 16 + 16) + 2 * 16 + (16 * 2 + 2));
    Ok(())
}
