use monograd::prelude::*;

network! {
    /// Convolutions over images of any size `H`.
    pub struct FullyConv<const H: usize> {
        input: [1, H, H],
        conv1: Conv2d<1, 8, 3>,
        act1: ReLU,
        pool: MaxPool2d<2>,
        conv2: Conv2d<8, 16, 3>,
        act2: ReLU,
        gap: GlobalAvgPool2d,
        fc: Linear<16, 10>,
    }
}

fn main() {
    // 4x4 -> conv1 2x2 -> pool 1x1: too small for conv2's 3x3 kernel. Sizes computed from
    // `H` are checked when the network is built for an `H` (`cargo build`, not `cargo check`).
    let net = FullyConv::<4>::new(&mut Rng::seed(0));
    let mut state = FullyConv::<4>::state::<Heap>();
    let _ = net.forward(&[0.0; 16], &mut state);
}
