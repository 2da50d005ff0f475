//! `Module::visit_counters`: the integers layers keep beside their tensors (BatchNorm's
//! `num_batches_tracked`, Dropout's seed and step) reach every container under their
//! dotted names, through `#[derive(Module)]` (fields, nested modules, arrays, frozen
//! fields) and `network!`, and `visit_counters_mut` writes them back in the same order.

use monograd::core::module::{CounterKind, Path};
use monograd::prelude::*;

#[derive(Clone, Module)]
struct Block {
    fc: Linear<2, 2>,
    bn: BatchNorm1d<2>,
}

#[derive(Clone, Module)]
struct Model {
    blocks: [Block; 2],
    #[module(freeze)]
    frozen: Block,
    drop: Dropout,
    scale: [f32; 2],
}

network! {
    pub struct Net { input: [3], fc: Linear<3, 4>, bn: BatchNorm1d<4>, drop: Dropout, head: Linear<4, 1> }
}

fn counters<M: Module<f32>>(m: &M) -> Vec<(String, CounterKind, u64)> {
    let mut out = Vec::new();
    m.visit_counters(&Path::ROOT, &mut |c| out.push((c.path.to_string(), c.kind, *c.value)));
    out
}

#[test]
fn derive_forwards_counters_through_fields_arrays_and_frozen_modules() {
    let block = |n| {
        let mut bn = BatchNorm1d::new();
        bn.num_batches_tracked = n;
        Block { fc: Linear::ZERO, bn }
    };
    let mut m =
        Model { blocks: [block(1), block(2)], frozen: block(3), drop: Dropout::with_seed(0.5, 9), scale: [1.0; 2] };
    use CounterKind::{Buffer, Run};
    let expected = [
        ("blocks.0.bn.num_batches_tracked", Buffer, 1),
        ("blocks.1.bn.num_batches_tracked", Buffer, 2),
        ("frozen.bn.num_batches_tracked", Buffer, 3),
        ("drop.seed", Run, 9),
        ("drop.step", Run, 0),
    ];
    let expected: Vec<_> = expected.iter().map(|&(n, k, v)| (n.to_string(), k, v)).collect();
    assert_eq!(counters(&m), expected);

    // Mutably, in the same order.
    let mut next = 100;
    m.visit_counters_mut(&Path::ROOT, &mut |c| {
        *c.value = next;
        next += 1;
    });
    assert_eq!(
        (m.blocks[0].bn.num_batches_tracked, m.blocks[1].bn.num_batches_tracked, m.frozen.bn.num_batches_tracked),
        (100, 101, 102)
    );
    assert_eq!((m.drop.seed, m.drop.step), (103, 104));
}

#[test]
fn a_network_reports_the_counters_training_moves() {
    let mut net = Net::new(&mut Rng::seed(0));
    let mut st = Net::state::<Heap>();
    for _ in 0..3 {
        net.forward_train(&[0.5, -1.0, 2.0, 1.0, 0.0, -0.5], &mut st).unwrap();
    }
    let c = counters(&net);
    let names: Vec<&str> = c.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["bn.num_batches_tracked", "drop.seed", "drop.step"]);
    assert_eq!((c[0].2, c[2].2), (3, 3));
    // Layers without integer state report none: the default visits nothing.
    assert!(counters(&Linear::<2, 2>::ZERO).is_empty());
}
