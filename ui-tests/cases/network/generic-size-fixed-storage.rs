use monograd::prelude::*;

network! {
    pub struct FullyConv<const H: usize> {
        input: [1, H, H],
        conv1: Conv2d<1, 8, 3>,
        act1: ReLU,
        gap: GlobalAvgPool2d,
        fc: Linear<8, 10>,
    }
}

fn main() {
    // `conv1`'s output is `[8, H - 2, H - 2]`: no array type has that length on stable Rust.
    let net = FullyConv::<28>::default();
    let mut state = FullyConv::<28>::state::<Fixed<2>>();
    let _ = net.forward(&[0.0; 784], &mut state);
}
