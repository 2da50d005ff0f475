//! Structured pruning into a smaller network type: the copy computes what the masked big
//! network computes, its budget constants are smaller, and shapes that do not fit are
//! errors naming the layer.

use monograd::nn::prune::{shrink, Channels, Mask, Norm, PruneError, Pruning};
use monograd::prelude::*;

network! {
    /// LeNet-5, as examples/mnist_cnn.rs declares it.
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d<1, 6, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<6, 16, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<256, 120>,
        act3: ReLU,
        fc2: Linear<120, 84>,
        act4: ReLU,
        fc3: Linear<84, 10>,
    }
}

network! {
    /// Half the channels.
    pub struct LeNetHalf {
        input: [1, 28, 28],
        conv1: Conv2d<1, 3, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<3, 8, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<128, 120>,
        act3: ReLU,
        fc2: Linear<120, 84>,
        act4: ReLU,
        fc3: Linear<84, 10>,
    }
}

network! {
    /// Half the channels, but a dense layer narrower than the big network's.
    pub struct LeNetWrong {
        input: [1, 28, 28],
        conv1: Conv2d<1, 3, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<3, 8, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<128, 120>,
        act3: ReLU,
        fc2: Linear<120, 80>,
        act4: ReLU,
        fc3: Linear<80, 10>,
    }
}

const PLAN: [Channels<'static>; 2] = [Channels::new("conv1", "conv2"), Channels::new("conv2", "fc1")];

#[test]
fn the_smaller_network_computes_what_the_masked_big_one_computes() {
    let mut big = LeNet::boxed(&mut Rng::seed(0));
    let mut mask = Mask::new();
    mask.prune(&*big, &Pruning::channels(Norm::L1), 0.5).unwrap();
    mask.apply(&mut *big).unwrap();
    let mut half = LeNetHalf::boxed_default();
    let kept = shrink(&*big, &mut *half, &PLAN, Norm::L1).unwrap();
    assert_eq!((kept[0].channels.len(), kept[0].of, kept[1].channels.len(), kept[1].of), (3, 6, 8, 16));
    // The kept channels are exactly the unmasked ones.
    let nonzero = |w: &[f32], c: usize, n: usize| w[c * n..(c + 1) * n].iter().any(|v| *v != 0.0);
    let w1 = big.conv1.weight.as_flattened().as_flattened().as_flattened();
    let alive: Vec<usize> = (0..6).filter(|&c| nonzero(w1, c, 25)).collect();
    assert_eq!(kept[0].channels, alive);

    let mut rng = Rng::seed(1);
    let x: Vec<f32> = (0..5 * 784).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let yb = big.forward(&x, &mut LeNet::state::<Heap>()).unwrap().to_vec();
    let ys = half.forward(&x, &mut LeNetHalf::state::<Heap>()).unwrap().to_vec();
    for (a, b) in yb.iter().zip(&ys) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
    }
    // Without the mask the outputs differ: the comparison can fail.
    let unmasked = LeNet::boxed(&mut Rng::seed(0));
    let yu = unmasked.forward(&x, &mut LeNet::state::<Heap>()).unwrap().to_vec();
    assert!(yu.iter().zip(&ys).any(|(a, b)| (a - b).abs() > 1e-3));
}

#[test]
fn the_smaller_type_has_smaller_budgets() {
    // What the compiler knows of each: parameters, their bytes, work and memory.
    const _: () = assert!(LeNetHalf::PARAM_BYTES < LeNet::PARAM_BYTES);
    assert_eq!(LeNet::PARAMS, (6 * 25 + 6) + (16 * 6 * 25 + 16) + (256 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10));
    assert_eq!(
        LeNetHalf::PARAMS,
        (3 * 25 + 3) + (8 * 3 * 25 + 8) + (128 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    );
    assert_eq!((LeNet::PARAM_BYTES, LeNetHalf::PARAM_BYTES), (4 * LeNet::PARAMS, 4 * LeNetHalf::PARAMS));
    assert_eq!((LeNet::PARAMS, LeNetHalf::PARAMS), (44426, 27180));
    assert_eq!((LeNet::MACS, LeNetHalf::MACS), (281_640, 107_880));
    assert_eq!((LeNet::PEAK_ACTIVATION_BYTES, LeNetHalf::PEAK_ACTIVATION_BYTES), (17_280, 8_640));
    const { assert!(LeNetHalf::ACTIVATION_BYTES < LeNet::ACTIVATION_BYTES) };
}

#[test]
fn shapes_that_do_not_fit_are_errors_naming_the_layer() {
    let big = LeNet::boxed(&mut Rng::seed(2));
    let mut wrong = LeNetWrong::boxed_default();
    let before = wrong.conv1.bias;
    let e = shrink(&*big, &mut *wrong, &PLAN, Norm::L2).unwrap_err();
    assert!(matches!(&e, PruneError::Layer { layer, .. } if layer == "fc2.weight"), "{e}");
    assert_eq!(
        e.to_string(),
        "`fc2.weight`: the cut gives shape [84, 120] from the big network's [84, 120], but the small network has [80, 120]"
    );
    assert_eq!(wrong.conv1.bias, before, "a failed shrink wrote into the small network");
    // A plan naming a layer that is not there.
    let mut half = LeNetHalf::boxed_default();
    let e = shrink(&*big, &mut *half, &[Channels::new("conv3", "fc1")], Norm::L1).unwrap_err();
    assert_eq!(e.to_string(), "`conv3`: no such layer in the big network");
    // Without the second entry, conv2 and fc1 keep their shapes, which LeNetHalf does not have.
    let e = shrink(&*big, &mut *half, &PLAN[..1], Norm::L1).unwrap_err();
    assert!(matches!(&e, PruneError::Layer { layer, .. } if layer == "conv2.weight"), "{e}");
    // More channels in the small network than the big: the other way round.
    let mut big_again = LeNet::boxed_default();
    let e = shrink(&*half, &mut *big_again, &PLAN, Norm::L1).unwrap_err();
    assert_eq!(e.to_string(), "`conv1`: the small network has 6 channels, the big one only 3");
}
