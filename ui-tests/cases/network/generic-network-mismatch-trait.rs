use monograd::prelude::*;

network! {
    pub struct Pair<const A: usize, const B: usize> {
        input: [A],
        fc: Linear<B, 4>,
    }
}

/// Code generic over networks, as a training loop is.
fn run<N: Network<f32>>(net: &N, x: &[f32]) -> usize {
    let mut state = N::state::<Heap>();
    net.forward(x, &mut state).map_or(0, <[f32]>::len)
}

fn main() {
    let net = Pair::<3, 5>::default();
    run(&net, &[0.0; 3]);
}
