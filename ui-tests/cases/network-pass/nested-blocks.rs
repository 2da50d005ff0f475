//! Networks nested by name and as a repeated array, named constants and const expressions,
//! and a convolution after a user layer: every shape follows.
#![deny(warnings)]

use monograd::prelude::*;

const C: usize = 6;

network! {
    /// A residual block.
    pub struct Block {
        input x: [C, 12, 12],
        conv: Conv2d<C, C, 3, 1, 1>,
        act: ReLU,
        sum(act, x): Add,
    }
}

network! {
    /// LeNet with a block and two more copies of it.
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d<1, C, 5>,
        pool1: MaxPool2d<2>,
        block: Block<T>,
        blocks: [Block<T>; 2],
        conv2: Conv2d<C, 16, 5>,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc: Linear<{ 16 * 4 * 4 }, 10>,
    }
}

fn main() {
    let net = Net::new(&mut Rng::seed(0));
    let y = net.predict(&[[[0.5; 28]; 28]; 1]).unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
    assert_eq!(Net::summary().rows.last().unwrap().shape, &[10]);
}
