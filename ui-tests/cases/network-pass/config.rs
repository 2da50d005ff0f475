//! Settings in the declaration: positional and named, literals and constants, in a
//! network generic over a width, kept by `Default` and `new`.
#![deny(warnings)]

use monograd::prelude::*;

const P: f64 = 0.25;

network! {
    pub struct Net<const H: usize> {
        input: [4],
        fc: Linear<4, H>,
        bn: BatchNorm1d<H>(1e-3, momentum = 0.01,),
        act: LeakyReLU(negative_slope = 0.2),
        drop: Dropout(P),
        ln: LayerNorm<H>(eps = 1e-6),
        elu: ELU(1),
        off: Dropout(0),
        cum: BatchNorm1d<H>(cumulative = true),
        head: Linear<H, 2>,
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = Net::<8>::new(&mut Rng::seed(1));
    assert_eq!((net.bn.eps, net.bn.momentum), (1e-3, Some(0.01)));
    assert_eq!((net.act.negative_slope, net.drop.p, net.ln.eps), (0.2, 0.25, 1e-6));
    assert_eq!((net.elu.alpha, net.off.p, net.cum.momentum), (1.0, 0.0, None));
    let grad = Net::<8>::default();
    assert_eq!(grad.drop.p, 0.25);
    let mut state = Net::<8>::state::<Fixed<2>>();
    assert_eq!(net.forward_train(&[0.5f32; 8], &mut state)?.len(), 4);
    Ok(())
}
