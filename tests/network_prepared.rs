//! Inference with packed weights (`monograd::core::prepared::Prepared`): the network's own
//! results to the bit, and panels that follow the weights (a network changed after
//! packing is packed again; while packed it cannot change, which
//! ui-tests/cases/network/prepared-borrows-network.rs checks).

use monograd::core::prepared::Prepared;
use monograd::prelude::*;

network! {
    /// W2's network.
    pub struct Mlp {
        input: [784],
        fc1: Linear<784, 256>,
        r1: ReLU,
        fc2: Linear<256, 128>,
        r2: ReLU,
        fc3: Linear<128, 10>,
    }
}

network! {
    /// A dense layer without bias and one without an activation after it, beside a
    /// layer with no weight matrix.
    pub struct Other {
        input: [1, 6, 6],
        c: Conv2d<1, 2, 3>,
        flat: Flatten,
        fc: LinearNoBias<32, 40>,
        t: Tanh,
        out: Linear<40, 7>,
    }
}

fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.uniform(0.0, 1.0) as f32).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn prepared_inference_gives_the_networks_bits() {
    let net = Mlp::boxed(&mut Rng::seed(0));
    let prepared = Prepared::new(&*net);
    let (mut a, mut b) = (Mlp::state::<Heap>(), Mlp::state::<Heap>());
    for batch in [1, 3, 64, 100] {
        let x = uniform(batch * 784, batch as u64);
        let want = bits(net.forward(&x, &mut a).unwrap());
        assert_eq!(bits(prepared.forward(&x, &mut b).unwrap()), want, "batch {batch}");
    }
    let other = Other::new(&mut Rng::seed(1));
    let prepared = Prepared::new(&other);
    let (mut a, mut b) = (Other::state::<Heap>(), Other::state::<Heap>());
    let x = uniform(20 * 36, 2);
    assert_eq!(bits(prepared.forward(&x, &mut b).unwrap()), bits(other.forward(&x, &mut a).unwrap()));
}

#[test]
fn every_weight_matrix_is_packed_where_the_build_packs_ahead() {
    let net = Mlp::boxed(&mut Rng::seed(0));
    let prepared = Prepared::new(&*net);
    let w = prepared.weights();
    let packs_ahead = matches!(
        monograd::core::kernels::gemm::isa(),
        monograd::core::kernels::gemm::Isa::Avx512 | monograd::core::kernels::gemm::Isa::Avx2Fma
    );
    assert_eq!(w.find(net.fc1.weight.as_flattened()).is_some(), packs_ahead);
    assert_eq!(w.find(net.fc3.weight.as_flattened()).is_some(), packs_ahead);
    if packs_ahead {
        assert!(prepared.packed_bytes() >= 4 * (784 * 256 + 256 * 128 + 128 * 10));
    }
    // The weights of another network (equal values, other memory) are not found.
    let twin = monograd::core::boxed::boxed_clone(&*net);
    assert!(w.find(twin.fc1.weight.as_flattened()).is_none());
}

#[test]
fn a_network_changed_after_packing_is_packed_again() {
    let mut net = Mlp::boxed(&mut Rng::seed(3));
    let x = uniform(64 * 784, 4);
    let mut st = Mlp::state::<Heap>();
    let before = bits(Prepared::new(&*net).forward(&x, &mut st).unwrap());
    // Changing the weights needs the network back, so the old panels are gone with it.
    for row in net.fc1.weight.iter_mut() {
        row[0] += 0.5;
    }
    let prepared = Prepared::new(&*net);
    let after = bits(prepared.forward(&x, &mut st).unwrap());
    assert_ne!(after, before);
    let mut st2 = Mlp::state::<Heap>();
    assert_eq!(after, bits(net.forward(&x, &mut st2).unwrap()));
}
