//! Whole-network gradient checks of `network!` through the shared helper
//! `monograd::core::gradcheck`: reverse mode (the generated `backward_input`) against central
//! finite differences and against forward mode (the same network built over `Dual<f64, 8>`).
//!
//! The differentiable vector of every case is the input batch followed by every parameter
//! in `Module::visit` order, so one check covers `∂L/∂x` and every `∂L/∂θ`. One generic
//! adapter, [`NetCase`], serves every network: a network declared with `network!` is a
//! generic `Net<T>`, so it exists at `f64` (values, finite differences, reverse mode) and at
//! `Dual<f64, 8>` (forward mode); `Default` gives a zero network and `visit_mut` loads the
//! parameters from the vector.
//!
//! The adapter also makes the helper's accumulation check meaningful for the network: the
//! parameter gradient is preloaded with whatever the helper put in `dv` and `backward` must
//! add to it, as `Network::backward` documents.

use std::any::Any;
use std::marker::PhantomData;

use monograd::core::gradcheck::{self, GradCase, GradError, Report};
use monograd::core::module::{load_flat, to_vec};
use monograd::prelude::*;

network! {
    /// (a) A Linear + ReLU chain: both activations are fused into the `Linear` before them.
    pub struct Mlp {
        input x: [3],
        fc1: Linear<3, 5>,
        r1: ReLU,
        fc2: Linear<5, 4>,
        r2: ReLU,
        fc3: Linear<4, 2>,
    }
}

network! {
    /// (a') The same chain with a smooth activation: no kink anywhere.
    pub struct TanhMlp {
        input x: [3],
        fc1: Linear<3, 5>,
        t1: Tanh,
        fc2: Linear<5, 4>,
        t2: Tanh,
        fc3: Linear<4, 2>,
    }
}

network! {
    /// (b) A residual block: the input skips two layers and is added back.
    pub struct Residual {
        input x: [4],
        fc1: Linear<4, 6>,
        act: Tanh,
        fc2: Linear<6, 4>,
        sum(fc2, x): Add,
        head: Linear<4, 2>,
    }
}

network! {
    /// (c) Tied weights: `fc1` is applied twice; its gradient is the sum over both uses.
    pub struct Tied {
        input x: [3],
        fc1: Linear<3, 3>,
        a1: Tanh,
        h2 = fc1,
        a2: Tanh,
        head: Linear<3, 2>,
    }
}

network! {
    /// (d) Two branches joined by `Concat`, then joined again with the raw input.
    pub struct Branches {
        input x: [3],
        left: Linear<3, 4>,
        lt: Tanh,
        right(x): Linear<3, 2>,
        rt: Tanh,
        cat(lt, rt): Concat,
        wide(cat, x): Concat,
        head: Linear<9, 2>,
    }
}

network! {
    /// (e) A common subexpression: `t1` and `t2` are the same `Tanh` of the same node, which
    /// the macro computes once; the `Add` then reads one buffer twice (its own backward path).
    pub struct Shared {
        input x: [3],
        fc: Linear<3, 4>,
        t1(fc): Tanh,
        t2(fc): Tanh,
        sum(t1, t2): Add,
        head: Linear<4, 2>,
    }
}

network! {
    /// (f) Two outputs sharing a trunk: both gradients flow into the trunk.
    pub struct TwoHeads {
        input x: [3],
        trunk: Linear<3, 4>,
        act: Tanh,
        head: Linear<4, 2>,
        aux(act): Linear<4, 3>,
        output (head, aux),
    }
}

network! {
    /// (g) A block of its own, used as a layer below: a residual MLP block.
    pub struct DenseBlock {
        input x: [4],
        fc1: Linear<4, 4>,
        act: Tanh,
        fc2: Linear<4, 4>,
        sum(fc2, x): Add,
    }
}

network! {
    /// (g) Nesting: `DenseBlock` once, then twice more as a repeated array; the nested
    /// blocks follow the network's scalar (`<T>`), so forward mode runs through them too.
    pub struct Nested {
        input x: [3],
        stem: Linear<3, 4>,
        t: Tanh,
        b1: DenseBlock<T>,
        blocks: [DenseBlock<T>; 2],
        head: Linear<4, 2>,
    }
}

network! {
    /// (h) A convolutional residual block.
    pub struct ConvBlock {
        input x: [2, 5, 5],
        conv: Conv2d<2, 2, 3, 1, 1>,
        act: Tanh,
        sum(act, x): Add,
    }
}

network! {
    /// (h) Pooling and a convolution after a nested block: their shapes follow from the
    /// block's declared output, which the compiler reads.
    pub struct ConvNested {
        input x: [1, 6, 6],
        stem: Conv2d<1, 2, 2>,
        blk: ConvBlock<T>,
        conv: Conv2d<2, 2, 2>,
        pool: AvgPool2d<2>,
        flat: Flatten,
        head: Linear<8, 2>,
    }
}

/// Forward mode's scalar in the shared helper.
type D8 = Dual<f64, 8>;

/// A network type at every scalar.
///
/// A network is checked at the two scalars the shared helper runs: `f64` (values, finite
/// differences, reverse mode) and `Dual<f64, 8>` (forward mode). They are named one by one
/// rather than as `Net<T>` for every `T`: a nested network is a `Block` at each scalar the
/// library has, not at a scalar parameter (see `Block`'s docs).
trait Family {
    type F64: Network<f64> + Default;
    type D8: Network<D8> + Default;
    const NAME: &'static str;
    /// Samples in the checked batch.
    const BATCH: usize;
}

macro_rules! family {
    ($fam:ident, $net:ident, $batch:expr) => {
        struct $fam;
        impl Family for $fam {
            type F64 = $net<f64>;
            type D8 = $net<D8>;
            const NAME: &'static str = stringify!($net);
            const BATCH: usize = $batch;
        }
    };
}
family!(MlpF, Mlp, 3);
family!(TanhMlpF, TanhMlp, 3);
family!(ResidualF, Residual, 3);
family!(TiedF, Tied, 2);
family!(BranchesF, Branches, 2);
family!(SharedF, Shared, 2);
family!(NestedF, Nested, 3);
family!(ConvNestedF, ConvNested, 2);

/// Number of values `visit` passes (parameters and buffers).
fn visited_len<T: Scalar, M: Module<T>>(m: &M) -> usize {
    to_vec(m).len()
}

/// Overwrites every visited tensor with the next values of `p`, in visit order.
fn load<T: Scalar, M: Module<T>>(m: &mut M, p: &[T]) {
    load_flat(m, p).expect("the vector holds exactly the visited tensors");
}

/// Every visited tensor, concatenated in visit order.
fn store<T: Scalar, M: Module<T>>(m: &M, out: &mut [T]) {
    out.copy_from_slice(&to_vec(m));
}

/// A whole network as a gradient-check case: input batch, then parameters.
struct NetCase<F> {
    /// Runs `backward` (no input gradient) instead of `backward_input`: a broken adapter,
    /// to show that the check is not vacuous.
    drop_input_grad: bool,
    fam: PhantomData<F>,
}

impl<F: Family> NetCase<F> {
    fn new() -> Self {
        Self { drop_input_grad: false, fam: PhantomData }
    }

    fn x_len() -> usize {
        F::BATCH * <<F::F64 as Network<f64>>::Input as Shape>::NUMEL
    }

    fn build<T: Scalar, N: Module<T> + Default>(p: &[T]) -> N {
        let mut net = N::default();
        load(&mut net, p);
        net
    }
}

impl<F: Family> NetCase<F> {
    /// The training forward at one scalar, checked against inference.
    fn run<T: Scalar, N: Network<T> + Default>(v: &[T]) -> Vec<T> {
        let (x, p) = v.split_at(Self::x_len());
        let mut net = Self::build::<T, N>(p);
        let mut st = N::state::<Heap>();
        let y = Network::forward_train(&mut net, x, &mut st).expect("training forward").to_vec();
        // Inference computes the same values (same kernels, fused the same way).
        let mut st2 = N::state::<Heap>();
        assert_eq!(Network::forward(&net, x, &mut st2).expect("inference forward"), &*y);
        y
    }
}

impl<F: Family> GradCase for NetCase<F> {
    fn name(&self) -> &str {
        F::NAME
    }

    fn input_len(&self) -> usize {
        Self::x_len() + visited_len(&F::F64::default())
    }

    fn output_len(&self) -> usize {
        F::BATCH * <<F::F64 as Network<f64>>::Output as Shape>::NUMEL
    }

    fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
        // The helper runs `f64` and `Dual<f64, 8>`: each goes to its own network type.
        let v: Box<dyn Any> = Box::new(v.to_vec());
        let out: Box<dyn Any> = match v.downcast::<Vec<f64>>() {
            Ok(v) => Box::new(Self::run::<f64, F::F64>(&v)),
            Err(v) => Box::new(Self::run::<D8, F::D8>(&v.downcast::<Vec<D8>>().expect("f64 or Dual<f64, 8>"))),
        };
        y.copy_from_slice(&out.downcast::<Vec<T>>().expect("the scalar it was given"));
    }

    fn backward(&self, v: &[f64], _y: &[f64], dy: &[f64], dv: &mut [f64]) {
        let (x, p) = v.split_at(Self::x_len());
        let mut net = Self::build::<f64, F::F64>(p);
        let mut st = <F::F64 as Network<f64>>::state::<Heap>();
        Network::forward_train(&mut net, x, &mut st).expect("training forward");
        let (dx, dp) = dv.split_at_mut(Self::x_len());
        // Preloaded: `backward` must add into `grad`, not overwrite it.
        let mut grad = Self::build::<f64, F::F64>(dp);
        if self.drop_input_grad {
            Network::backward(&net, x, dy, &mut grad, &mut st).expect("backward");
        } else {
            let gx = Network::backward_input(&net, x, dy, &mut grad, &mut st).expect("backward");
            assert_eq!(gx.len(), dx.len());
            for (d, g) in dx.iter_mut().zip(gx) {
                *d += g;
            }
        }
        store(&grad, dp);
    }
}

/// Checks the family at a seeded point in `[-1, 1)`.
fn check_family<F: Family>(point_seed: u64, dy_seed: u64) -> Report {
    let case = NetCase::<F>::new();
    let v = gradcheck::inputs(point_seed, case.input_len(), -1.0, 1.0, &[]);
    check_at(&case, &v, dy_seed)
}

fn check_at<F: Family>(case: &NetCase<F>, v: &[f64], dy_seed: u64) -> Report {
    // The vector covers every parameter, once.
    assert_eq!(case.input_len(), NetCase::<F>::x_len() + <F::F64 as Module<f64>>::PARAMS);
    let report = gradcheck::check(case, v, dy_seed).unwrap_or_else(|e| panic!("{e}"));
    println!("{report}");
    assert_eq!(report.inputs, case.input_len());
    assert!(report.finite_difference_error < 1e-6 && report.forward_mode_error < 1e-10, "{report}");
    report
}

/// `x Wᵀ + b` for one sample.
fn dense(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    b.iter().enumerate().map(|(o, &b)| b + x.iter().zip(&w[o * x.len()..]).map(|(x, w)| x * w).sum::<f64>()).collect()
}

/// The MLP by hand: its output and every pre-activation that goes through a ReLU.
fn mlp_reference(v: &[f64], batch: usize) -> (Vec<f64>, Vec<f64>) {
    let (x, p) = v.split_at(batch * 3);
    let (w1, p) = p.split_at(15);
    let (b1, p) = p.split_at(5);
    let (w2, p) = p.split_at(20);
    let (b2, p) = p.split_at(4);
    let (w3, b3) = p.split_at(8);
    assert_eq!(b3.len(), 2);
    let (mut out, mut pre) = (Vec::new(), Vec::new());
    for s in x.chunks(3) {
        let z1 = dense(s, w1, b1);
        let h1: Vec<f64> = z1.iter().map(|z| z.max(0.0)).collect();
        let z2 = dense(&h1, w2, b2);
        let h2: Vec<f64> = z2.iter().map(|z| z.max(0.0)).collect();
        out.extend(dense(&h2, w3, b3));
        pre.extend(z1.into_iter().chain(z2));
    }
    (out, pre)
}

#[test]
fn relu_mlp_matches_finite_differences_and_forward_mode() {
    // A point where every pre-activation is at least 0.05 away from ReLU's kink (finite
    // differences move one value by at most 1e-4 · max(1, |v|), which moves a pre-activation
    // by well under 0.01), and where each ReLU layer both passes and zeroes some units, so
    // the check sees both sides of the kink.
    let case = NetCase::<MlpF>::new();
    let chosen = (0..500u64).find_map(|seed| {
        let v = gradcheck::inputs(seed, case.input_len(), -1.0, 1.0, &[]);
        let (_, pre) = mlp_reference(&v, MlpF::BATCH);
        let away = pre.iter().all(|z| z.abs() > 0.05);
        let both = pre.iter().any(|&z| z < 0.0) && pre.iter().any(|&z| z > 0.0);
        (away && both).then_some(v)
    });
    let v = chosen.expect("some seed keeps every pre-activation away from the kink");

    // The fused forward computes the textbook MLP.
    let mut y = vec![0.0; case.output_len()];
    case.forward(&v, &mut y);
    let (expected, _) = mlp_reference(&v, MlpF::BATCH);
    for (a, b) in y.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    check_at(&case, &v, 1);
}

#[test]
fn tanh_mlp_matches_finite_differences_and_forward_mode() {
    check_family::<TanhMlpF>(2, 3);
}

#[test]
fn residual_block_matches_finite_differences_and_forward_mode() {
    check_family::<ResidualF>(4, 5);
}

#[test]
fn tied_weights_match_finite_differences_and_forward_mode() {
    // `fc1` appears once in the vector; both of its uses contribute to its gradient.
    assert_eq!(<Tied<f64> as Module<f64>>::PARAMS, (3 * 3 + 3) + (3 * 2 + 2));
    check_family::<TiedF>(6, 7);
}

#[test]
fn concat_branches_match_finite_differences_and_forward_mode() {
    check_family::<BranchesF>(8, 9);
}

#[test]
fn nested_and_repeated_blocks_match_finite_differences_and_forward_mode() {
    check_family::<NestedF>(12, 13);
}

#[test]
fn convolutions_around_a_nested_block_match_finite_differences_and_forward_mode() {
    check_family::<ConvNestedF>(14, 15);
}

#[test]
fn common_subexpression_matches_finite_differences_and_forward_mode() {
    check_family::<SharedF>(10, 11);
}

#[test]
fn the_check_catches_a_missing_input_gradient() {
    // The same adapter with `backward` (no ∂L/∂x) in place of `backward_input` must fail on
    // the first input: the checks above are not vacuous.
    let case = NetCase::<ResidualF> { drop_input_grad: true, fam: PhantomData };
    let v = gradcheck::inputs(4, case.input_len(), -1.0, 1.0, &[]);
    match gradcheck::check(&case, &v, 5) {
        Err(GradError::Mismatch { index, .. }) => assert!(index < NetCase::<ResidualF>::x_len()),
        other => panic!("expected a mismatch on an input element, got {other:?}"),
    }
}

/// (f) Both outputs of `TwoHeads`, concatenated per batch (`head` then `aux`), through the
/// inherent `backward_input` that takes one cotangent per output.
struct TwoHeadsCase;

const TWO_BATCH: usize = 2;

impl GradCase for TwoHeadsCase {
    fn name(&self) -> &str {
        "TwoHeads (both outputs)"
    }
    fn input_len(&self) -> usize {
        TWO_BATCH * 3 + <TwoHeads<f64> as Module<f64>>::PARAMS
    }
    fn output_len(&self) -> usize {
        TWO_BATCH * (2 + 3)
    }
    fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
        let (x, p) = v.split_at(TWO_BATCH * 3);
        let mut net = TwoHeads::<T>::default();
        load(&mut net, p);
        let mut st = TwoHeads::<T>::state::<Heap>();
        let head = net.forward_train(x, &mut st).expect("training forward").to_vec();
        y[..TWO_BATCH * 2].copy_from_slice(&head);
        y[TWO_BATCH * 2..].copy_from_slice(st.aux());
        // Each output alone, by inference, gives the same values.
        let mut st2 = TwoHeads::<T>::state::<Heap>();
        assert_eq!(net.forward(x, &mut st2).unwrap(), &head[..]);
        assert_eq!(net.forward_aux(x, &mut st2).unwrap(), &y[TWO_BATCH * 2..]);
    }
    fn backward(&self, v: &[f64], _y: &[f64], dy: &[f64], dv: &mut [f64]) {
        let (x, p) = v.split_at(TWO_BATCH * 3);
        let mut net = TwoHeads::<f64>::default();
        load(&mut net, p);
        let mut st = TwoHeads::<f64>::state::<Heap>();
        net.forward_train(x, &mut st).unwrap();
        let (dx, dp) = dv.split_at_mut(TWO_BATCH * 3);
        let mut grad = TwoHeads::<f64>::default();
        load(&mut grad, dp);
        let (dy_head, dy_aux) = dy.split_at(TWO_BATCH * 2);
        let gx = net.backward_input(x, dy_head, dy_aux, &mut grad, &mut st).unwrap();
        for (d, g) in dx.iter_mut().zip(gx) {
            *d += g;
        }
        store(&grad, dp);
    }
}

#[test]
fn two_outputs_match_finite_differences_and_forward_mode() {
    let v = gradcheck::inputs(12, TwoHeadsCase.input_len(), -1.0, 1.0, &[]);
    let r = gradcheck::check(&TwoHeadsCase, &v, 13).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.outputs, TWO_BATCH * 5);
}
