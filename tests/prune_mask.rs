//! Pruning masks: global and per-layer sparsity exactly as requested, ties in traversal
//! order, per-tensor targets, masks that only grow, channels with their biases, and errors.

use monograd::core::module::Path;
use monograd::nn::prune::{Mask, Norm, PruneError, Pruning};
use monograd::prelude::*;

network! {
    pub struct Mlp {
        input: [6],
        fc1: Linear<6, 10>,
        act: ReLU,
        fc2: Linear<10, 4>,
    }
}

network! {
    pub struct Conv {
        input: [2, 6, 6],
        conv1: Conv2d<2, 4, 3>,
        act: ReLU,
        flat: Flatten,
        fc: Linear<64, 3>,
    }
}

/// `(name, pruned, total)` of every tensor.
fn counts<M: Module<f32>>(mask: &mut Mask<f32, Vec<f32>>, model: &M) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    mask.counts(model, |p, pruned, total| out.push((p.to_string(), pruned, total))).unwrap();
    out
}

fn weights(net: &Mlp) -> Vec<f32> {
    net.fc1.weight.as_flattened().iter().chain(net.fc2.weight.as_flattened()).copied().collect()
}

#[test]
fn global_pruning_removes_exactly_the_requested_share_of_all_weights_by_magnitude() {
    let mut net = Mlp::new(&mut Rng::seed(1));
    let all = weights(&net);
    let n = all.len(); // 60 + 40 = 100
    for s in [0.0, 0.13, 0.5, 0.9, 0.999, 1.0] {
        let mut mask = Mask::new();
        let mut pruned_net = net.clone();
        mask.prune(&pruned_net, &Pruning::global(), s).unwrap();
        mask.apply(&mut pruned_net).unwrap();
        let k = (s * n as f64).round() as usize;
        let w = weights(&pruned_net);
        assert_eq!(w.iter().filter(|v| **v == 0.0).count(), k, "sparsity {s}");
        // Every pruned weight is no larger in magnitude than every kept one.
        let max_pruned = all.iter().zip(&w).filter(|(_, p)| **p == 0.0).map(|(a, _)| a.abs()).fold(0.0, f32::max);
        let min_kept =
            all.iter().zip(&w).filter(|(_, p)| **p != 0.0).map(|(a, _)| a.abs()).fold(f32::INFINITY, f32::min);
        assert!(max_pruned <= min_kept, "sparsity {s}: pruned {max_pruned} > kept {min_kept}");
        // Biases untouched.
        assert_eq!((pruned_net.fc1.bias, pruned_net.fc2.bias), (net.fc1.bias, net.fc2.bias));
        assert_eq!(mask.sparsity(&pruned_net, &Pruning::global()).unwrap(), k as f64 / n as f64);
    }
    // Global ranking: make fc2's weights tiny, and 40% global takes exactly fc2.
    for w in net.fc2.weight.as_flattened_mut() {
        *w *= 1e-3;
    }
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::global(), 0.4).unwrap();
    let c = counts(&mut mask, &net);
    assert_eq!(c[0], ("fc1.weight".to_string(), 0, 60));
    assert_eq!(c[2], ("fc2.weight".to_string(), 40, 40));
}

#[test]
fn per_layer_pruning_gives_each_tensor_the_requested_share() {
    let net = Mlp::new(&mut Rng::seed(2));
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::per_layer(), 0.25).unwrap();
    let c = counts(&mut mask, &net);
    // round(0.25 · 60) = 15, round(0.25 · 40) = 10; biases none.
    assert_eq!(
        c,
        [
            ("fc1.weight".to_string(), 15, 60),
            ("fc1.bias".to_string(), 0, 10),
            ("fc2.weight".to_string(), 10, 40),
            ("fc2.bias".to_string(), 0, 4)
        ]
    );
    // Halves round up: 0.05 · 10 per... 0.125 · 60 = 7.5 -> 8, 0.125 · 40 = 5.
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::per_layer(), 0.125).unwrap();
    let c = counts(&mut mask, &net);
    assert_eq!((c[0].1, c[2].1), (8, 5));
}

#[test]
fn targets_give_listed_tensors_their_own_sparsity() {
    let net = Mlp::new(&mut Rng::seed(3));
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::per_layer().targets(&[("fc2.weight", 0.5)]), 0.9).unwrap();
    let c = counts(&mut mask, &net);
    assert_eq!((c[0].1, c[2].1), (54, 20));
    // Global with a target: the target tensor on its own, the rest globally.
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::global().targets(&[("fc2.weight", 0.25)]), 0.5).unwrap();
    let c = counts(&mut mask, &net);
    assert_eq!((c[0].1, c[2].1), (30, 10));
    // A target naming nothing is an error naming it, and the mask is unchanged.
    let before = counts(&mut mask, &net);
    let e = mask.prune(&net, &Pruning::per_layer().targets(&[("fc9.weight", 0.5)]), 0.9).unwrap_err();
    assert_eq!(e, PruneError::UnknownTarget { name: "fc9.weight" });
    assert!(e.to_string().contains("`fc9.weight`"), "{e}");
    assert_eq!(counts(&mut mask, &net), before);
    // Out of range.
    assert!(matches!(mask.prune(&net, &Pruning::global(), 1.5), Err(PruneError::Setting { .. })));
    assert!(matches!(mask.prune(&net, &Pruning::global(), f64::NAN), Err(PruneError::Setting { .. })));
    assert!(matches!(
        mask.prune(&net, &Pruning::per_layer().targets(&[("fc2.weight", -0.1)]), 0.5),
        Err(PruneError::Setting { .. })
    ));
}

#[test]
fn ties_are_pruned_in_traversal_order() {
    // Every weight of equal magnitude: the first ones visited go first.
    let mut net = Mlp::default();
    for w in net.fc1.weight.as_flattened_mut().iter_mut().chain(net.fc2.weight.as_flattened_mut()) {
        *w = 0.5;
    }
    net.fc2.weight[0][0] = -0.5; // the sign does not matter
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::global(), 0.7).unwrap(); // 70 of 100: all of fc1, then 10 of fc2
    let mut pruned = net.clone();
    mask.apply(&mut pruned).unwrap();
    assert!(pruned.fc1.weight.as_flattened().iter().all(|w| *w == 0.0));
    let fc2 = pruned.fc2.weight.as_flattened();
    assert!(fc2[..10].iter().all(|w| *w == 0.0) && fc2[10..].iter().all(|w| *w == 0.5), "{fc2:?}");
}

#[test]
fn masks_only_grow_and_pruned_weights_rank_first() {
    let mut net = Mlp::new(&mut Rng::seed(4));
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::per_layer(), 0.5).unwrap();
    mask.apply(&mut net).unwrap();
    let first: Vec<bool> = weights(&net).iter().map(|w| *w == 0.0).collect();
    // Less sparsity than held: nothing changes.
    mask.prune(&net, &Pruning::per_layer(), 0.2).unwrap();
    assert_eq!(mask.sparsity(&net, &Pruning::per_layer()).unwrap(), 0.5);
    // More: a superset of the first mask, even where a kept weight is exactly zero.
    net.fc1.weight[9][5] = 0.0;
    mask.prune(&net, &Pruning::per_layer(), 0.6).unwrap();
    mask.apply(&mut net).unwrap();
    let second: Vec<bool> = weights(&net).iter().map(|w| *w == 0.0).collect();
    assert!(first.iter().zip(&second).all(|(a, b)| !a || *b));
    assert_eq!(second.iter().filter(|p| **p).count(), 36 + 24);
}

#[test]
fn channel_pruning_removes_whole_filters_with_their_biases() {
    let mut net = Conv::new(&mut Rng::seed(5));
    // Filter norms (L1) in the order 2 < 0 < 3 < 1: scale the filters.
    for (c, scale) in [(0usize, 0.5f32), (1, 4.0), (2, 0.1), (3, 2.0)] {
        for w in
            net.conv1.weight.as_flattened_mut().as_flattened_mut().as_flattened_mut()[c * 18..(c + 1) * 18].iter_mut()
        {
            *w = scale * (0.5 + w.abs());
        }
    }
    net.conv1.bias = [1.0; 4];
    let mut mask = Mask::new();
    mask.prune(&net, &Pruning::channels(Norm::L1), 0.5).unwrap();
    mask.apply(&mut net).unwrap();
    let w = net.conv1.weight.as_flattened().as_flattened().as_flattened();
    let zero_filter = |c: usize| w[c * 18..(c + 1) * 18].iter().all(|v| *v == 0.0);
    let kept_filter = |c: usize| w[c * 18..(c + 1) * 18].iter().all(|v| *v != 0.0);
    assert!(zero_filter(0) && zero_filter(2) && kept_filter(1) && kept_filter(3));
    assert_eq!(net.conv1.bias, [0.0, 1.0, 0.0, 1.0]);
    // The dense layer is not a convolution: untouched.
    assert!(net.fc.weight.as_flattened().iter().all(|v| *v != 0.0));
    let c = counts(&mut mask, &net);
    assert_eq!((c[0].1, c[1].1, c[2].1), (36, 2, 0));
    // L2 on a custom selection (the dense layer's rows, its output units).
    let mut mask = Mask::new();
    let rows =
        Pruning::channels(Norm::L2).select(|p: &Path<'_>, s: &[usize]| p.to_string() == "fc.weight" && s.len() == 2);
    mask.prune(&net, &rows, 0.34).unwrap(); // round(1.02) = 1 of 3 rows
    let c = counts(&mut mask, &net);
    assert_eq!((c[2].1, c[3].1), (64, 1));
}

#[test]
fn a_mask_works_in_a_buffer_without_a_heap_and_refuses_one_too_short() {
    let mut net = Mlp::new(&mut Rng::seed(6));
    let mut buf = [0.0f32; Mlp::PARAMS];
    let mut mask = Mask::with_store(&mut buf[..]);
    mask.prune(&net, &Pruning::global(), 0.5).unwrap();
    mask.apply(&mut net).unwrap();
    assert_eq!(weights(&net).iter().filter(|v| **v == 0.0).count(), 50);
    assert_eq!(buf.iter().filter(|v| **v == 1.0).count(), 50);
    let mut short = [0.0f32; 10];
    let mut mask = Mask::with_store(&mut short[..]);
    let e = mask.prune(&net, &Pruning::global(), 0.5).unwrap_err();
    assert!(matches!(e, PruneError::Mask(_)), "{e:?}");
    assert!(e.to_string().contains("pruning mask"), "{e}");
    assert!(mask.apply(&mut net).is_err());
}
