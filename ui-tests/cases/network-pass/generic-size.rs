//! A network generic over its input size: each convolution's and pooling's output is
//! computed by the compiler for the `H` it is built with.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    pub struct FullyConv<const H: usize> {
        input: [1, H, H],
        conv1: Conv2d<1, 8, 3>,
        act1: ReLU,
        pool: MaxPool2d<2>,
        conv2: Conv2d<8, 8, 3, 1, 1>,
        act2: ReLU,
        res(act2, pool): Add,
        gap: GlobalAvgPool2d,
        fc: Linear<8, 10>,
    }
}

fn run<const H: usize>() -> Result<(), ShapeError> {
    let mut net = FullyConv::<H>::new(&mut Rng::seed(1));
    let mut grad = FullyConv::<H>::default();
    let mut state = FullyConv::<H>::state::<Heap>();
    let x = vec![0.5f32; 2 * H * H];
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 2 * 10);
    net.backward(&x, &[1.0; 2 * 10], &mut grad, &mut state)?;
    Sgd::new(0.1).step(&mut net, &grad);
    let pooled = (H - 2) / 2;
    let s = FullyConv::<H>::summary();
    assert_eq!(s.rows.iter().find(|r| r.node == "res").map(|r| r.shape), Some(&[8, pooled, pooled][..]));
    Ok(())
}

fn main() -> Result<(), ShapeError> {
    run::<28>()?;
    run::<32>()
}
