//! The graph optimizations of `network!` (common subexpressions, dead nodes, activation
//! fusion, weight sharing), observed from outside with instrumented user-defined layers
//! that count their calls and record where they read their input, never through numbers
//! the macro reports about itself.
//!
//! Two instruments:
//! - [`probe::Probe<ID>`]: an identity layer with per-`ID` call counters and the address
//!   of the last input it read (two probes that read the same address read one buffer, so
//!   whatever produced it was computed once);
//! - [`counting::Linear<I, O>`]: monograd's `Linear` wrapped with call counters. The macro
//!   recognises layers by the last segment of their path, so it treats this type as a
//!   `Linear`: it merges it by instance and fuses activations into it, which makes both
//!   optimizations countable. (That recognition by name is itself a soundness problem,
//!   shown at the end of this file.)
//!
//! Every test uses its own probe ids and `Linear` dimensions, so tests running in parallel
//! never share a counter.

use std::mem::size_of;

use monograd::core::module::{to_vec as flat, Path};
use monograd::core::storage::FixedBuf;
use monograd::prelude::*;

mod probe {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use monograd::core::module::{ParamUpdate, Path, Tensor};
    use monograd::core::OutputShape;
    use monograd::prelude::*;

    const IDS: usize = 32;
    static FORWARD: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
    static FORWARD_TRAIN: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
    static BACKWARD: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
    static LAST_INPUT: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];

    /// Calls so far: `(forward, forward_train, backward)`.
    pub fn calls(id: usize) -> (usize, usize, usize) {
        (FORWARD[id].load(SeqCst), FORWARD_TRAIN[id].load(SeqCst), BACKWARD[id].load(SeqCst))
    }

    /// The address of the input slice of the last forward or training forward.
    pub fn last_input(id: usize) -> usize {
        LAST_INPUT[id].load(SeqCst)
    }

    /// `y = x`, counting. No parameters; any shape.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Probe<const ID: usize>;

    impl<T: Scalar, const ID: usize> Module<T> for Probe<ID> {
        const PARAMS: usize = 0;
        fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
        fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
        fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
    }

    impl<S: Shape, const ID: usize> OutputShape<S> for Probe<ID> {
        type Output = S;
    }

    impl<T: Scalar, S: Shape, const ID: usize> Layer<T, S, S> for Probe<ID> {
        type Cache = ();
        fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
            FORWARD[ID].fetch_add(1, SeqCst);
            LAST_INPUT[ID].store(x.as_ptr() as usize, SeqCst);
            y.copy_from_slice(x);
        }
        fn forward_train(&mut self, x: &[T], y: &mut [T], _: &mut (), _: &mut Ctx<'_, T>) {
            FORWARD_TRAIN[ID].fetch_add(1, SeqCst);
            LAST_INPUT[ID].store(x.as_ptr() as usize, SeqCst);
            y.copy_from_slice(x);
        }
        fn backward(&self, _: &[T], _: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
            BACKWARD[ID].fetch_add(1, SeqCst);
            if let Some(dx) = dx {
                for (d, &g) in dx.iter_mut().zip(dy) {
                    *d += g;
                }
            }
        }
    }
}

mod counting {
    use std::sync::Mutex;

    use monograd::core::module::{ParamUpdate, Path, Tensor};
    use monograd::core::ops::unary::UnaryFn;
    use monograd::core::OutputShape;
    use monograd::prelude::*;

    /// Calls of each method of a `counting::Linear<I, O>`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Calls {
        pub forward: usize,
        pub forward_fused: usize,
        pub forward_train: usize,
        pub forward_train_fused: usize,
        pub backward: usize,
    }

    static CALLS: Mutex<Vec<((usize, usize), Calls)>> = Mutex::new(Vec::new());

    fn bump<const I: usize, const O: usize>(f: impl FnOnce(&mut Calls)) {
        let mut all = CALLS.lock().unwrap_or_else(|e| e.into_inner());
        match all.iter_mut().find(|(k, _)| *k == (I, O)) {
            Some((_, c)) => f(c),
            None => {
                let mut c = Calls::default();
                f(&mut c);
                all.push(((I, O), c));
            }
        }
    }

    /// Calls so far of every `counting::Linear<I, O>`.
    pub fn calls<const I: usize, const O: usize>() -> Calls {
        let all = CALLS.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().find(|(k, _)| *k == (I, O)).map(|(_, c)| *c).unwrap_or_default()
    }

    /// monograd's `Linear`, counting each call. Its tensors are visited under the same
    /// names as the wrapped layer's (`weight`, `bias`).
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct Linear<const I: usize, const O: usize, T: Scalar = f32>(pub monograd::nn::Linear<I, O, T>);

    // It behaves as monograd's `Linear` (it is one, counted), so it may claim the name.
    impl<const I: usize, const O: usize, T: Scalar> monograd::core::BuiltinLayer for Linear<I, O, T> {}

    impl<const I: usize, const O: usize, T: Scalar> Module<T> for Linear<I, O, T> {
        const PARAMS: usize = <monograd::nn::Linear<I, O, T> as Module<T>>::PARAMS;
        fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, path: &Path<'_>, f: &mut F) {
            self.0.visit(path, f);
        }

        fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, path: &Path<'_>, f: &mut F) {
            self.0.visit_mut(path, f);
        }
        fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(
            &mut self,
            grad: &Self,
            path: &Path<'_>,
            offset: &mut usize,
            f: &mut F,
        ) {
            self.0.visit_update(&grad.0, path, offset, f);
        }
        fn init(&mut self, rng: &mut Rng) {
            Module::<T>::init(&mut self.0, rng);
        }
    }

    impl<const I: usize, const O: usize, T: Scalar> OutputShape<Rank1<I>> for Linear<I, O, T> {
        type Output = Rank1<O>;
    }

    impl<const I: usize, const O: usize, T: Scalar> Layer<T, Rank1<I>, Rank1<O>> for Linear<I, O, T> {
        type Cache = ();
        const MACS: usize = I * O;
        fn forward(&self, x: &[T], y: &mut [T], ctx: &mut Ctx<'_, T>) {
            bump::<I, O>(|c| c.forward += 1);
            self.0.forward(x, y, ctx);
        }
        fn forward_fused<A: UnaryFn>(&self, x: &[T], y: &mut [T], act: A, ctx: &mut Ctx<'_, T>) {
            bump::<I, O>(|c| c.forward_fused += 1);
            self.0.forward_fused(x, y, act, ctx);
        }
        fn forward_train(&mut self, x: &[T], y: &mut [T], cache: &mut (), ctx: &mut Ctx<'_, T>) {
            bump::<I, O>(|c| c.forward_train += 1);
            self.0.forward_train(x, y, cache, ctx);
        }
        fn forward_train_fused<A: UnaryFn>(
            &mut self,
            x: &[T],
            y: &mut [T],
            cache: &mut (),
            act: A,
            ctx: &mut Ctx<'_, T>,
        ) {
            bump::<I, O>(|c| c.forward_train_fused += 1);
            self.0.forward_train_fused(x, y, cache, act, ctx);
        }
        fn backward(
            &self,
            x: &[T],
            y: &[T],
            cache: &(),
            dy: &[T],
            dx: Option<&mut [T]>,
            grad: &mut Self,
            ctx: &mut Ctx<'_, T>,
        ) {
            bump::<I, O>(|c| c.backward += 1);
            self.0.backward(x, y, cache, dy, dx, &mut grad.0, ctx);
        }
    }
}

use counting::Calls;
use probe::{calls, last_input, Probe};

fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * x.abs().max(y.abs()).max(1.0), "{what}[{i}]: {x} vs {y}");
    }
}

fn names<T: Scalar, M: Module<T>>(m: &M) -> Vec<String> {
    let mut out = Vec::new();
    m.visit(&Path::ROOT, &mut |t| out.push(t.path.to_string()));
    out
}

// ---------------------------------------------------------------------------------------
// Common subexpressions
// ---------------------------------------------------------------------------------------

network! {
    /// The same built-in `ReLU` applied twice to one node, each use read by its own probe.
    pub struct TwoRelus {
        input x: [4],
        fc: Linear<4, 4>,
        r1(fc): ReLU,
        r2(fc): ReLU,
        p1(r1): Probe<1>,
        p2(r2): Probe<2>,
        sum(p1, p2): Add,
    }
}

network! {
    /// Control: two different activations of one node are two computations.
    pub struct ReluAndTanh {
        input x: [4],
        fc: Linear<4, 4>,
        r1(fc): ReLU,
        r2(fc): Tanh,
        p1(r1): Probe<3>,
        p2(r2): Probe<4>,
        sum(p1, p2): Add,
    }
}

#[test]
fn a_built_in_activation_applied_twice_to_one_node_is_computed_once() {
    let x = [0.5f32, -1.0, 2.0, 0.25, -0.5, 1.5, -2.0, 1.0];
    let mut net = TwoRelus::new(&mut Rng::seed(1));
    let mut st = TwoRelus::state::<Heap>();
    let y = net.forward(&x, &mut st).unwrap().to_vec();
    // Both probes read one buffer: the second ReLU was never given one of its own.
    assert_ne!(last_input(1), 0);
    assert_eq!(last_input(1), last_input(2), "r1 and r2 are one computation");
    // User layers are never merged, even when their inputs are: each probe ran.
    assert_eq!((calls(1).0, calls(2).0), (1, 1));
    // And the value is what two ReLUs give.
    let mut h = [0.0f32; 8];
    net.fc.forward(&x, &mut h, &mut Ctx::new(&mut []));
    for (y, h) in y.iter().zip(&h) {
        assert_eq!(*y, 2.0 * h.max(0.0));
    }
    // Training forward merges them the same way.
    net.forward_train(&x, &mut st).unwrap();
    assert_eq!(last_input(1), last_input(2));

    // Control: a ReLU and a Tanh of the same node are two buffers.
    let net = ReluAndTanh::new(&mut Rng::seed(1));
    let mut st = ReluAndTanh::state::<Heap>();
    net.forward(&x, &mut st).unwrap();
    assert_ne!(last_input(3), last_input(4), "different layers are not merged");
}

network! {
    /// One user layer applied twice to one node (`p2 = p1`), and two instances of one user
    /// layer type on one node: neither is merged (user layers may be stochastic).
    pub struct UserTwice {
        input x: [3],
        fc: Linear<3, 3>,
        p1(fc): Probe<5>,
        p2(fc) = p1,
        q1(fc): Probe<6>,
        q2(fc): Probe<6>,
        s1(p1, p2): Add,
        s2(q1, q2): Add,
        sum(s1, s2): Add,
    }
}

#[test]
fn user_layers_applied_twice_to_one_node_are_never_merged() {
    let x = [0.1f32, 0.2, 0.3];
    let mut net = UserTwice::new(&mut Rng::seed(2));
    let mut st = UserTwice::state::<Heap>();
    net.forward(&x, &mut st).unwrap();
    assert_eq!(calls(5), (2, 0, 0), "`p2 = p1` runs the layer twice");
    assert_eq!(calls(6), (2, 0, 0), "two instances run twice");
    net.forward_train(&x, &mut st).unwrap();
    let mut grad = UserTwice::default();
    net.backward(&x, &[1.0; 3], &mut grad, &mut st).unwrap();
    assert_eq!(calls(5), (2, 2, 2));
    assert_eq!(calls(6), (2, 2, 2));
}

network! {
    /// The same `Linear` instance applied twice to one node (`b(x) = a`), counted.
    pub struct SameLinear {
        input x: [3],
        a(x): counting::Linear<3, 5>,
        b(x) = a,
        sum(a, b): Add,
    }
}

network! {
    /// Control: two `Linear` instances of one type on one node.
    pub struct TwoLinears {
        input x: [3],
        a(x): counting::Linear<3, 6>,
        b(x): counting::Linear<3, 6>,
        sum(a, b): Add,
    }
}

network! {
    /// The built-in `Linear` applied twice to one node, each use read by a probe.
    pub struct SameBuiltinLinear {
        input x: [3],
        a(x): Linear<3, 2>,
        b(x) = a,
        pa(a): Probe<7>,
        pb(b): Probe<8>,
        sum(pa, pb): Add,
    }
}

network! {
    /// One use of the layer, for the gradient comparison.
    pub struct OneLinear {
        input x: [3],
        a: Linear<3, 2>,
    }
}

#[test]
fn the_same_linear_applied_twice_to_one_node_is_computed_once() {
    let x = [0.5f32, -0.25, 1.0, 2.0, 0.0, -1.0];
    let mut net = SameLinear::new(&mut Rng::seed(3));
    let mut st = SameLinear::state::<Heap>();
    let y = net.forward(&x, &mut st).unwrap().to_vec();
    assert_eq!(counting::calls::<3, 5>(), Calls { forward: 1, ..Calls::default() });
    let mut h = [0.0f32; 10];
    net.a.0.forward(&x, &mut h, &mut Ctx::new(&mut []));
    assert_eq!(y, h.map(|v| v + v));
    net.forward_train(&x, &mut st).unwrap();
    let mut grad = SameLinear::default();
    net.backward(&x, &[1.0; 10], &mut grad, &mut st).unwrap();
    // One training forward, one backward (fed the sum of both uses' gradients).
    assert_eq!(counting::calls::<3, 5>(), Calls { forward: 1, forward_train: 1, backward: 1, ..Calls::default() });

    // Control: two instances are two computations.
    let mut net = TwoLinears::new(&mut Rng::seed(3));
    let mut st = TwoLinears::state::<Heap>();
    net.forward(&x, &mut st).unwrap();
    net.forward_train(&x, &mut st).unwrap();
    assert_eq!(counting::calls::<3, 6>(), Calls { forward: 2, forward_train: 2, ..Calls::default() });
}

#[test]
fn the_same_builtin_linear_twice_is_one_buffer_with_the_summed_gradient() {
    let x = [0.5f64, -0.25, 1.0, 2.0, 0.1, -1.0];
    let mut net = SameBuiltinLinear::<f64>::new(&mut Rng::seed(4));
    let mut st = SameBuiltinLinear::<f64>::state::<Heap>();
    net.forward_train(&x, &mut st).unwrap();
    assert_ne!(last_input(7), 0);
    assert_eq!(last_input(7), last_input(8), "a and b are one buffer");
    let dy = [0.3, -0.7, 1.1, 0.2];
    let mut grad = SameBuiltinLinear::<f64>::default();
    let gx = net.backward_input(&x, &dy, &mut grad, &mut st).unwrap().to_vec();

    // d/dθ [a(x) + a(x)] = 2 d/dθ a(x).
    let mut one = OneLinear::<f64> { a: net.a.clone() };
    let mut st1 = OneLinear::<f64>::state::<Heap>();
    one.forward_train(&x, &mut st1).unwrap();
    let mut g1 = OneLinear::<f64>::default();
    let gx1 = one.backward_input(&x, &dy, &mut g1, &mut st1).unwrap();
    let twice: Vec<f64> = flat(&g1).iter().map(|g| 2.0 * g).collect();
    assert_close(&flat(&grad), &twice, 1e-12, "parameter gradient");
    assert_close(&gx, &gx1.iter().map(|g| 2.0 * g).collect::<Vec<_>>(), 1e-12, "input gradient");
}

// ---------------------------------------------------------------------------------------
// Dead nodes
// ---------------------------------------------------------------------------------------

network! {
    /// Two outputs on a shared trunk; each branch and the trunk have a probe.
    pub struct HeadAndAux {
        input x: [3],
        trunk: Linear<3, 4>,
        shared: Probe<10>,
        hp: Probe<11>,
        head: Linear<4, 2>,
        ap(shared): Probe<12>,
        aux: Linear<4, 1>,
        output (head, aux),
    }
}

#[test]
fn each_forward_computes_only_what_its_output_needs() {
    let x = [0.1f32, -0.2, 0.3, 0.4, 0.5, -0.6];
    let mut net = HeadAndAux::new(&mut Rng::seed(5));
    let mut st = HeadAndAux::state::<Heap>();

    // `forward`: the primary output only; the aux branch is dead.
    let head = net.forward(&x, &mut st).unwrap().to_vec();
    assert_eq!(head.len(), 2 * 2);
    assert_eq!((calls(10).0, calls(11).0, calls(12).0), (1, 1, 0));
    assert!(st.aux().is_empty(), "the aux output was never computed");

    // `forward_aux`: the aux output only; the head branch is dead.
    let aux = net.forward_aux(&x, &mut st).unwrap().to_vec();
    assert_eq!(aux.len(), 2);
    assert_eq!((calls(10).0, calls(11).0, calls(12).0), (2, 1, 1));

    // `forward_train` computes both, once each, and `backward` runs through both.
    let y = net.forward_train(&x, &mut st).unwrap().to_vec();
    assert_eq!(y, head);
    assert_eq!(st.aux(), &aux[..]);
    for id in [10, 11, 12] {
        assert_eq!(calls(id).1, 1, "probe {id}: one training forward");
    }
    let mut grad = HeadAndAux::default();
    net.backward(&x, &[1.0; 4], &[1.0; 2], &mut grad, &mut st).unwrap();
    for id in [10, 11, 12] {
        assert_eq!(calls(id).2, 1, "probe {id}: one backward");
    }
    // Through the trait, only the primary output's gradient is given.
    Network::backward(&net, &x, &[1.0; 4], &mut grad, &mut st).unwrap();
    assert_eq!(calls(12).2, 2, "the aux branch still runs (on a zero gradient)");
}

// ---------------------------------------------------------------------------------------
// Fusion
// ---------------------------------------------------------------------------------------

network! {
    /// `Linear` then `ReLU`: the activation is computed in the `Linear`'s pass.
    pub struct CountedFused {
        input x: [2],
        fc: counting::Linear<2, 7>,
        act: ReLU,
        out: counting::Linear<7, 1>,
    }
}

network! {
    /// Not fusable: a user activation (no `Activation` impl, unknown to the macro), and a
    /// `Linear` whose output is also read by another node.
    pub struct CountedUnfused {
        input x: [2],
        fc: counting::Linear<2, 8>,
        act: Probe<13>,
        fc2: counting::Linear<8, 9>,
        relu: ReLU,
        sum(relu, fc2): Add,
    }
}

#[test]
fn an_activation_after_a_linear_runs_in_the_linears_pass() {
    let x = [0.5f32, -1.0, 1.5, 2.0, -0.5, 0.25];
    let mut net = CountedFused::new(&mut Rng::seed(6));
    let mut st = CountedFused::state::<Heap>();
    net.forward(&x, &mut st).unwrap();
    net.forward_train(&x, &mut st).unwrap();
    let mut grad = CountedFused::default();
    net.backward(&x, &[1.0; 3], &mut grad, &mut st).unwrap();
    assert_eq!(
        counting::calls::<2, 7>(),
        Calls { forward_fused: 1, forward_train_fused: 1, backward: 1, ..Calls::default() },
        "the ReLU is fused into `fc`"
    );
    assert_eq!(
        counting::calls::<7, 1>(),
        Calls { forward: 1, forward_train: 1, backward: 1, ..Calls::default() },
        "nothing to fuse into `out`"
    );

    let mut net = CountedUnfused::new(&mut Rng::seed(6));
    let mut st = CountedUnfused::state::<Heap>();
    net.forward(&x, &mut st).unwrap();
    net.forward_train(&x, &mut st).unwrap();
    assert_eq!(counting::calls::<2, 8>(), Calls { forward: 1, forward_train: 1, ..Calls::default() });
    assert_eq!(calls(13), (1, 1, 0), "a user activation runs as its own layer");
    assert_eq!(
        counting::calls::<8, 9>(),
        Calls { forward: 1, forward_train: 1, ..Calls::default() },
        "`fc2` is read twice: its ReLU is not fused"
    );
}

network! {
    /// Fused: `act` lives in `fc`'s buffer.
    pub struct Fused {
        input x: [4],
        fc: Linear<4, 5>,
        act: ReLU,
        out: Linear<5, 2>,
    }
}

network! {
    /// The same function with the activation separated from the `Linear` by an identity
    /// user layer, which the macro cannot fuse across.
    pub struct Separated {
        input x: [4],
        fc: Linear<4, 5>,
        id: Probe<14>,
        act: ReLU,
        out: Linear<5, 2>,
    }
}

#[test]
fn fused_and_separated_activations_give_the_same_values_and_gradients() {
    let x: Vec<f64> = (0..12).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
    let dy = [0.5, -1.0, 0.25, 2.0, -0.75, 1.5];
    let mut fused = Fused::<f64>::new(&mut Rng::seed(7));
    let mut sep = Separated::<f64> { fc: fused.fc.clone(), out: fused.out.clone(), ..Default::default() };

    let (mut sf, mut ss) = (Fused::<f64>::state::<Heap>(), Separated::<f64>::state::<Heap>());
    let yf = fused.forward_train(&x, &mut sf).unwrap().to_vec();
    let ys = sep.forward_train(&x, &mut ss).unwrap().to_vec();
    assert_eq!(calls(14).1, 1, "the separated network really runs the activation apart");
    assert_close(&yf, &ys, 1e-12, "output");
    // Some units are cut by the ReLU, or the comparison would not involve it.
    let mut h = vec![0.0; 15];
    fused.fc.forward(&x, &mut h, &mut Ctx::new(&mut []));
    assert!(h.iter().any(|v| *v < 0.0) && h.iter().any(|v| *v > 0.0));

    let (mut gf, mut gs) = (Fused::<f64>::default(), Separated::<f64>::default());
    let dxf = fused.backward_input(&x, &dy, &mut gf, &mut sf).unwrap().to_vec();
    let dxs = sep.backward_input(&x, &dy, &mut gs, &mut ss).unwrap().to_vec();
    assert_close(&dxf, &dxs, 1e-12, "input gradient");
    assert_close(&flat(&gf), &flat(&gs), 1e-12, "parameter gradient");
    assert!(flat(&gf).iter().any(|g| *g != 0.0));
}

#[test]
fn a_fused_activation_has_no_buffers_of_its_own() {
    // The state of `Fused` over `Fixed<2>` holds, besides the batch size, the flag saying
    // it holds a training forward (padded to a word), the fingerprint of that forward's
    // input and an empty pack:
    // ∂L/∂x, then an activation and a gradient buffer for `fc` (which holds ReLU(fc)) and
    // for `out`; `act` has none. Every field is a multiple of 8 bytes, so no padding.
    type B<const N: usize> = FixedBuf<f32, Rank1<N>, 2>;
    let expected =
        2 * size_of::<usize>() + size_of::<u64>() + size_of::<B<4>>() + 2 * size_of::<B<5>>() + 2 * size_of::<B<2>>();
    assert_eq!(size_of::<FusedState<f32, Fixed<2>>>(), expected);
    // The separated network has two more nodes of width 5, with two buffers each.
    assert_eq!(size_of::<SeparatedState<f32, Fixed<2>>>(), expected + 4 * size_of::<B<5>>());
}

// ---------------------------------------------------------------------------------------
// Weight sharing
// ---------------------------------------------------------------------------------------

network! {
    /// `fc1` applied twice.
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
    /// The same function with two separate layers.
    pub struct Untied {
        input x: [3],
        fc1: Linear<3, 3>,
        a1: Tanh,
        fc2: Linear<3, 3>,
        a2: Tanh,
        head: Linear<3, 2>,
    }
}

#[test]
fn a_shared_layer_gets_the_sum_of_its_uses_gradients() {
    let tied = Tied::<f64>::new(&mut Rng::seed(8));
    let mut untied =
        Untied::<f64> { fc1: tied.fc1.clone(), fc2: tied.fc1.clone(), head: tied.head.clone(), ..Default::default() };
    let mut tied = tied;
    let x = [0.3, -0.6, 0.9, -1.2, 0.4, 0.1];
    let dy = [1.0, -0.5, 0.25, 0.75];

    let (mut st, mut su) = (Tied::<f64>::state::<Heap>(), Untied::<f64>::state::<Heap>());
    let yt = tied.forward_train(&x, &mut st).unwrap().to_vec();
    let yu = untied.forward_train(&x, &mut su).unwrap().to_vec();
    assert_eq!(yt, yu);
    let (mut gt, mut gu) = (Tied::<f64>::default(), Untied::<f64>::default());
    let dxt = tied.backward_input(&x, &dy, &mut gt, &mut st).unwrap().to_vec();
    let dxu = untied.backward_input(&x, &dy, &mut gu, &mut su).unwrap().to_vec();

    let sum: Vec<f64> = flat(&gu.fc1).iter().zip(flat(&gu.fc2)).map(|(a, b)| a + b).collect();
    assert_close(&flat(&gt.fc1), &sum, 1e-6, "shared gradient");
    assert_close(&flat(&gt.fc1), &sum, 1e-12, "shared gradient (f64 rounding)");
    // Both uses contribute: the sum differs from either alone.
    assert!(flat(&gu.fc1).iter().zip(flat(&gu.fc2)).all(|(a, b)| *a != b));
    assert_close(&flat(&gt.head), &flat(&gu.head), 1e-12, "head gradient");
    assert_close(&dxt, &dxu, 1e-12, "input gradient");

    // The shared layer is one field: counted, named and updated once.
    assert_eq!(Tied::PARAMS, (3 * 3 + 3) + (3 * 2 + 2));
    assert_eq!(Untied::PARAMS, Tied::PARAMS + 3 * 3 + 3);
    assert_eq!(names(&tied), ["fc1.weight", "fc1.bias", "head.weight", "head.bias"]);
    let row = Tied::summary().rows.iter().find(|r| r.node == "h2").copied().unwrap();
    assert_eq!((row.layer, row.params, row.macs), ("= fc1", 0, 9));
}

// ---------------------------------------------------------------------------------------
// Limitation: the macro recognises layers by name
// ---------------------------------------------------------------------------------------
