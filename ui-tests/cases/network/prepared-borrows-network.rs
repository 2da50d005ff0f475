// Weights packed for inference cannot go stale: while a `Prepared` network exists, the
// network it packed is borrowed and cannot be changed.
use monograd::core::prepared::Prepared;
use monograd::prelude::*;

network! {
    pub struct Net {
        input: [8],
        fc: Linear<8, 4>,
    }
}

fn main() {
    let mut net = Net::new(&mut Rng::seed(0));
    let prepared = Prepared::new(&net);
    net.fc.weight[0][0] = 1.0;
    let mut st = Net::state::<Heap>();
    let _ = prepared.forward(&[0.0; 8], &mut st);
}
