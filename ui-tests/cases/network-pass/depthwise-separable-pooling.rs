//! A small mobile-style block: batch norm, depthwise and separable convolutions, and a
//! pooling of each kind.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    pub struct Mobile {
        input: [3, 16, 16],
        stem: Conv2d<3, 8, 3, 1, 1>,           // [8, 16, 16]
        bn: BatchNorm2d<8>,
        r1: ReLU,
        dw: DepthwiseConv2d<8, 3, 1, 1>,       // [8, 16, 16]
        r2: SiLU,
        mp: MaxPool2d<2>,                      // [8, 8, 8]
        sep: SeparableConv2d<8, 16, 3, 1, 1>,  // [16, 8, 8]
        ap: AvgPool2d<2>,                      // [16, 4, 4]
        gap: GlobalAvgPool2d,                  // [16]
        head: Linear<16, 10>,
    }
}


fn main() -> Result<(), ShapeError> {
    let mut net = Mobile::new(&mut Rng::seed(2));
    let mut grad = Mobile::default();
    let mut state = Mobile::state::<Heap>();
    let x: Vec<f32> = (0..2 * 3 * 256).map(|i| ((i % 7) as f32 - 3.0) * 0.2).collect();
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 2 * 10);
    net.backward(&x, &[0.5; 2 * 10], &mut grad, &mut state)?;
    Sgd::new(0.01).momentum(0.9).step(&mut net, &grad);
    assert_eq!(net.forward(&x, &mut state)?.len(), 2 * 10);
    let shape = |n: &str| Mobile::summary().rows.iter().find(|r| r.node == n).map(|r| r.shape.to_vec());
    assert_eq!(shape("mp"), Some(vec![8, 8, 8]));
    assert_eq!(shape("ap"), Some(vec![16, 4, 4]));
    assert_eq!(shape("gap"), Some(vec![16]));
    Ok(())
}
