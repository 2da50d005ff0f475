//! LeNet-5 (the shared workload W4): every shape follows from the literals.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    /// Two convolutions with pooling, then three dense layers.
    pub struct LeNet {
        input: [1, 28, 28],
        c1: Conv2d<1, 6, 5>,
        r1: ReLU,
        p1: MaxPool2d<2>,
        c2: Conv2d<6, 16, 5>,
        r2: ReLU,
        p2: MaxPool2d<2>,
        flat: Flatten,
        f1: Linear<256, 120>,
        r3: ReLU,
        f2: Linear<120, 84>,
        r4: ReLU,
        f3: Linear<84, 10>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = LeNet::new(&mut Rng::seed(0));
    let mut grad = LeNet::default();
    let mut state = LeNet::state::<Heap>();
    let x = [0.25f32; 2 * 784];
    assert_eq!(net.forward_train(&x, &mut state)?.len(), 2 * 10);
    net.backward(&x, &[0.1; 2 * 10], &mut grad, &mut state)?;
    Sgd::new(0.01).step(&mut net, &grad);
    assert_eq!(net.forward(&x, &mut state)?.len(), 2 * 10);
    assert_eq!(LeNet::PARAMS, 6 * (25 + 1) + 16 * (150 + 1) + (256 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10));
    Ok(())
}
