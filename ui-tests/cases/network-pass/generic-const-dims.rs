//! A network generic over its widths, instantiated with widths that agree.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    pub struct Pair<const A: usize, const H: usize> {
        input: [A],
        fc1: Linear<A, H>,
        act: ReLU,
        fc2: Linear<H, 4>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = Pair::<3, 5>::new(&mut Rng::seed(3));
    let mut state = Pair::<3, 5>::state::<Heap>();
    let x = [0.0f32; 2 * 3];
    assert_eq!(net.forward(&x, &mut state)?.len(), 2 * 4);
    net.forward_train(&x, &mut state)?;
    assert_eq!(Pair::<3, 5>::PARAMS, (3 * 5 + 5) + (5 * 4 + 4));
    assert_eq!(Pair::<7, 2>::PARAMS, (7 * 2 + 2) + (2 * 4 + 4));
    Ok(())
}
