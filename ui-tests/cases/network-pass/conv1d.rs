//! One-dimensional convolutions over signals `[C, L]`, with stride and padding.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    /// Two channels of 16 samples to three classes.
    pub struct Signal {
        input: [2, 16],
        c1: Conv1d<2, 4, 3>,          // [4, 14]
        r1: ReLU,
        c2: Conv1d<4, 8, 3, 2, 1>,    // stride 2, padding 1: [8, 7]
        r2: GELU,
        flat: Flatten,                // [56]
        head: Linear<56, 3>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = Signal::new(&mut Rng::seed(1));
    let mut grad = Signal::default();
    let mut state = Signal::state::<Heap>();
    let x: Vec<f32> = (0..3 * 32).map(|i| (i as f32 * 0.1).sin()).collect();
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 3 * 3);
    net.backward(&x, &[1.0; 3 * 3], &mut grad, &mut state)?;
    Adam::new(1e-3).step(&mut net, &grad);
    let s = Signal::summary();
    assert_eq!(s.rows.iter().find(|r| r.node == "c2").map(|r| r.shape), Some(&[8usize, 7][..]));
    assert_eq!(Signal::PARAMS, (4 * 2 * 3 + 4) + (8 * 4 * 3 + 8) + (56 * 3 + 3));
    Ok(())
}
