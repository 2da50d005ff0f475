//! Two branches joined with `Concat`, a layer applied twice (shared weights) and two
//! outputs.
#![deny(warnings)]

use monograd::prelude::*;

network! {
    pub struct TwoHeads {
        input x: [8],
        a: Linear<8, 8>,
        act: ReLU,
        b(act) = a,
        side(x): Linear<8, 4>,
        both(b, side): Concat,
        head: Linear<12, 3>,
        aux(side): Linear<4, 1>,
        output (head, aux),
    }
}

fn main() -> Result<(), ShapeError> {
    let mut net = TwoHeads::new(&mut Rng::seed(2));
    let mut grad = TwoHeads::default();
    let mut state = TwoHeads::state::<Heap>();
    let x = [0.25f32; 2 * 8];
    assert_eq!(net.forward(&x, &mut state)?.len(), 2 * 3);
    assert_eq!(net.forward_aux(&x, &mut state)?.len(), 2);
    net.forward_train(&x, &mut state)?;
    net.backward(&x, &[1.0; 2 * 3], &[1.0; 2], &mut grad, &mut state)?;
    // `b` declares no field: its weights are `a`'s.
    assert_eq!(TwoHeads::PARAMS, (8 * 8 + 8) + (8 * 4 + 4) + (12 * 3 + 3) + (4 + 1));
    Ok(())
}
