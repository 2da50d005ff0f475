use monograd::prelude::{network, Heap, Linear};

network! {
    pub struct Pair<const A: usize, const B: usize> {
        input: [A],
        fc: Linear<B, 4>,
    }
}

fn main() {
    let mut net = Pair::<3, 5>::default();
    let mut state = Pair::<3, 5>::state::<Heap>();
    let _ = net.forward(&[0.0; 3], &mut state);
    let _ = net.forward_train(&[0.0; 3], &mut state);
}
