//! Layers that rearrange samples inside `network!`: the macro knows the shape after a
//! `Reshape`/`Unflatten`, a `Transpose`, a `Permute` and an `Upsample`, so convolutions may
//! follow them. Two networks that could not be written before:
//!
//! (a) a convolutional decoder, `[32] -> Linear -> Reshape to [16, 7, 7] -> Conv2d ->
//!     Upsample x2 -> Conv2d -> [1, 14, 14]`;
//! (b) a token classifier, `Embedding` (`[12, 8]`, one row per position) `-> Transpose`
//!     (`[8, 12]`, channels first) `-> Conv1d -> Flatten -> Linear`.
//!
//! Each runs the computation written out by hand, trains, and passes the shared gradient
//! check (`monograd::core::gradcheck`: reverse mode against central finite differences and
//! against forward mode on `Dual<f64, 8>`).

use std::marker::PhantomData;

use monograd::core::gradcheck::{self, GradCase, Report};
use monograd::core::module::{load_flat, to_vec};
use monograd::prelude::*;

network! {
    /// (a) A decoder from a 32-value code to a 14 x 14 image (`Tanh`s keep the check
    /// away from kinks; the first is fused into `fc`).
    pub struct Decoder {
        input z: [32],
        fc: Linear<32, 784>,
        act: Tanh,
        up: Reshape<Rank3<16, 7, 7>>,
        c1: Conv2d<16, 8, 3, 1, 1>,
        t1: Tanh,
        big: Upsample<2>,
        c2: Conv2d<8, 1, 3, 1, 1>,
    }
}

network! {
    /// (a') The same decoder, written with `Unflatten` and in miniature, small enough to
    /// check every parameter; a `Permute` to channels-last and back on the way.
    pub struct SmallDecoder {
        input z: [3],
        fc: Linear<3, 18>,
        act: Tanh,
        up: Unflatten<2, 3, 3>,
        c1: Conv2d<2, 3, 3, 1, 1>,
        t1: Tanh,
        last: Permute<1, 2, 0>,   // [3, 3, 3] channels last
        first: Permute<2, 0, 1>,  // and back
        big: Upsample<2>,         // [3, 6, 6]
        c2: Conv2d<3, 1, 3, 1, 1>,
    }
}

network! {
    /// (b) Token classification: twelve tokens of a vocabulary of 50, embedded in 8
    /// dimensions, convolved along the sequence.
    pub struct TokenConv {
        input tokens: [12],
        emb: Embedding<50, 8>,   // [12, 8]
        tr: Transpose,           // [8, 12]
        conv: Conv1d<8, 4, 3>,   // [4, 10]
        t: Tanh,
        flat: Flatten,           // [40]
        head: Linear<40, 3>,
    }
}

/// `y = x Wᵀ + b` for each sample, `w` as `[out, in]`.
fn dense(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    x.chunks(w.len() / b.len())
        .flat_map(|s| {
            b.iter()
                .enumerate()
                .map(move |(o, &b)| b + s.iter().zip(&w[o * s.len()..]).map(|(x, w)| x * w).sum::<f64>())
        })
        .collect()
}

/// A stride-1 convolution with `pad` zeros around, of one sample: `x` is `[ci, dims..]`
/// (`dims` one or two sizes), `w` is `[co, ci, k..]`. Returns `[co, dims'..]`.
fn conv(x: &[f64], ci: usize, dims: &[usize], w: &[f64], b: &[f64], k: usize, pad: usize) -> Vec<f64> {
    let (h, wd) = if dims.len() == 2 { (dims[0], dims[1]) } else { (1, dims[0]) };
    let (kh, ph) = if dims.len() == 2 { (k, pad) } else { (1, 0) };
    let (oh, ow) = (h + 2 * ph + 1 - kh, wd + 2 * pad + 1 - k);
    let mut y = Vec::new();
    for (o, &bias) in b.iter().enumerate() {
        for i in 0..oh {
            for j in 0..ow {
                let mut s = bias;
                for c in 0..ci {
                    for a in 0..kh {
                        for e in 0..k {
                            let (r, q) = ((i + a) as isize - ph as isize, (j + e) as isize - pad as isize);
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < wd {
                                s += w[((o * ci + c) * kh + a) * k + e] * x[(c * h + r as usize) * wd + q as usize];
                            }
                        }
                    }
                }
                y.push(s);
            }
        }
    }
    y
}

/// Nearest-neighbour upsampling by 2 of `[c, h, w]`, written out.
fn upsample2(x: &[f64], c: usize, h: usize, w: usize) -> Vec<f64> {
    let mut y = vec![0.0; c * 4 * h * w];
    for ch in 0..c {
        for i in 0..2 * h {
            for j in 0..2 * w {
                y[(ch * 2 * h + i) * 2 * w + j] = x[(ch * h + i / 2) * w + j / 2];
            }
        }
    }
    y
}

/// A named tensor of a module, as `visit` hands it out.
fn tensor<M: Module<f64>>(m: &M, name: &str) -> Vec<f64> {
    let mut out = None;
    m.visit(&monograd::core::module::Path::ROOT, &mut |t| {
        if t.path.to_string() == name {
            out = Some(t.values.to_vec());
        }
    });
    out.unwrap_or_else(|| panic!("no tensor {name}"))
}

#[test]
fn the_decoder_computes_what_its_layers_say() {
    let net = Decoder::<f64>::new(&mut Rng::seed(1));
    let mut st = Decoder::<f64>::state::<Heap>();
    let mut rng = Rng::seed(2);
    let z: Vec<f64> = (0..32).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let y = net.forward(&z, &mut st).unwrap().to_vec();

    let t = |n: &str| tensor(&net, n);
    let h: Vec<f64> = dense(&z, &t("fc.weight"), &t("fc.bias")).iter().map(|v| v.tanh()).collect();
    // The reshape moves nothing: [784] is [16, 7, 7] in row-major order.
    let h = conv(&h, 16, &[7, 7], &t("c1.weight"), &t("c1.bias"), 3, 1);
    let h: Vec<f64> = h.iter().map(|v| v.tanh()).collect();
    let h = upsample2(&h, 8, 7, 7);
    let expected = conv(&h, 8, &[14, 14], &t("c2.weight"), &t("c2.bias"), 3, 1);
    assert_eq!(y.len(), 14 * 14);
    for (a, b) in y.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn the_token_network_computes_what_its_layers_say() {
    let net = TokenConv::<f64>::new(&mut Rng::seed(3));
    let mut st = TokenConv::<f64>::state::<Heap>();
    let tokens: Vec<f64> = (0..12).map(|i| ((i * 17 + 5) % 50) as f64).collect();
    let y = net.forward(&tokens, &mut st).unwrap().to_vec();

    let t = |n: &str| tensor(&net, n);
    let table = t("emb.weight");
    // [8, 12]: row d holds feature d of every position.
    let mut channels = vec![0.0; 8 * 12];
    for (l, &tok) in tokens.iter().enumerate() {
        for d in 0..8 {
            channels[d * 12 + l] = table[tok as usize * 8 + d];
        }
    }
    let h = conv(&channels, 8, &[12], &t("conv.weight"), &t("conv.bias"), 3, 0);
    let h: Vec<f64> = h.iter().map(|v| v.tanh()).collect();
    let expected = dense(&h, &t("head.weight"), &t("head.bias"));
    assert_eq!(y.len(), 3);
    for (a, b) in y.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn summaries_show_the_rearranging_layers_and_their_shapes() {
    let s = Decoder::summary();
    let row = |n: &str| s.rows.iter().find(|r| r.node == n).unwrap_or_else(|| panic!("no row {n}"));
    assert_eq!((row("up").layer, row("up").shape, row("up").params), ("Reshape<Rank3<16, 7, 7>>", &[16, 7, 7][..], 0));
    assert_eq!(row("c1").shape, &[8, 7, 7]);
    assert_eq!((row("big").layer, row("big").shape, row("big").params), ("Upsample<2>", &[8, 14, 14][..], 0));
    assert_eq!(row("c2").shape, &[1, 14, 14]);
    assert_eq!(Decoder::PARAMS, (32 * 784 + 784) + (8 * 16 * 9 + 8) + (8 * 9 + 1));
    let text = s.to_string();
    assert!(text.contains("Reshape<Rank3<16, 7, 7>>") && text.contains("Upsample<2>"), "{text}");

    let s = TokenConv::summary();
    let row = |n: &str| s.rows.iter().find(|r| r.node == n).unwrap_or_else(|| panic!("no row {n}"));
    assert_eq!((row("emb").shape, row("tr").layer, row("tr").shape), (&[12, 8][..], "Transpose", &[8, 12][..]));
    assert_eq!(row("conv").shape, &[4, 10]);
    assert!(s.to_string().contains("Transpose"));

    let s = SmallDecoder::summary();
    let row = |n: &str| s.rows.iter().find(|r| r.node == n).unwrap_or_else(|| panic!("no row {n}"));
    assert_eq!((row("up").layer, row("up").shape), ("Unflatten<2, 3, 3>", &[2, 3, 3][..]));
    assert_eq!((row("last").layer, row("last").shape), ("Permute<1, 2, 0>", &[3, 3, 3][..]));
    assert_eq!(row("big").shape, &[3, 6, 6]);
}

#[test]
fn the_decoder_trains() {
    let mut net = Decoder::new(&mut Rng::seed(4));
    let mut grad = Decoder::default();
    let mut st = Decoder::state::<Heap>();
    let mut opt = Adam::new(1e-3);
    let mut rng = Rng::seed(5);
    let z: Vec<f32> = (0..4 * 32).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    // Four targets: a bright square in a different corner of each image.
    let target: Vec<f32> = (0..4 * 196)
        .map(|i| {
            let (s, p) = (i / 196, i % 196);
            let (r, c) = (p / 14, p % 14);
            f32::from((r / 7 == s / 2) && (c / 7 == s % 2))
        })
        .collect();
    let mut dy = vec![0.0f32; target.len()];
    let mut losses = Vec::new();
    for _ in 0..30 {
        let y = net.forward_train(&z, &mut st).unwrap();
        losses.push(MseLoss.backward(y, &target[..], &mut dy).unwrap());
        grad.zero();
        net.backward(&z, &dy, &mut grad, &mut st).unwrap();
        opt.step(&mut net, &grad);
    }
    let last = MseLoss.forward(net.forward(&z, &mut st).unwrap(), &target[..]).unwrap();
    assert!(last < 0.5 * losses[0], "{losses:?} -> {last}");
    // A batch that is not whole samples is an error, not a panic.
    assert!(net.forward(&z[..40], &mut st).is_err());
}

#[test]
fn the_token_network_trains() {
    let mut net = TokenConv::new(&mut Rng::seed(6));
    let mut grad = TokenConv::default();
    let mut st = TokenConv::state::<Heap>();
    let mut opt = Adam::new(1e-2);
    let tokens: Vec<f32> = (0..6 * 12).map(|i| ((i * 7 + i / 12) % 50) as f32).collect();
    let labels = [0usize, 1, 2, 0, 1, 2];
    let mut dy = vec![0.0f32; 6 * 3];
    let mut losses = Vec::new();
    for _ in 0..30 {
        let y = net.forward_train(&tokens, &mut st).unwrap();
        losses.push(CrossEntropyLoss::new().backward(y, &labels[..], &mut dy).unwrap());
        grad.zero();
        net.backward(&tokens, &dy, &mut grad, &mut st).unwrap();
        opt.step(&mut net, &grad);
    }
    let last = CrossEntropyLoss::new().forward(net.forward(&tokens, &mut st).unwrap(), &labels[..]).unwrap();
    assert!(last < 0.2 * losses[0], "{losses:?} -> {last}");
    // A token outside the vocabulary is an error.
    let mut bad = tokens.clone();
    bad[5] = 50.0;
    assert!(net.forward(&bad, &mut st).is_err());
}

/// A network type at every scalar.
trait Family {
    type At<T: Scalar>: Network<T> + Default;
    const NAME: &'static str;
}

macro_rules! family {
    ($fam:ident, $net:ident) => {
        struct $fam;
        impl Family for $fam {
            type At<T: Scalar> = $net<T>;
            const NAME: &'static str = stringify!($net);
        }
    };
}
family!(DecoderF, Decoder);
family!(SmallDecoderF, SmallDecoder);
family!(TokenConvF, TokenConv);

/// A whole network as a gradient-check case. The differentiable vector is the input batch
/// (unless the input is token indices, which are held fixed) followed by the parameters
/// listed in `picked` (indices into the flat, visit-order parameter vector); the others
/// keep their values from `base`. Listing every index checks every parameter; a large
/// network lists a spread of them, so that finite differences stay affordable.
struct NetCase<F> {
    batch: usize,
    /// Fixed inputs (token indices), or `None` to differentiate the input too.
    fixed_x: Option<Vec<f64>>,
    base: Vec<f64>,
    picked: Vec<usize>,
    fam: PhantomData<F>,
}

impl<F: Family> NetCase<F> {
    fn new(batch: usize, fixed_x: Option<Vec<f64>>, seed: u64, picked: impl Fn(usize) -> Vec<usize>) -> Self {
        let mut net = F::At::<f64>::default();
        net.init(&mut Rng::seed(seed));
        let base = to_vec(&net);
        let picked = picked(base.len());
        assert!(picked.iter().all(|&i| i < base.len()));
        Self { batch, fixed_x, base, picked, fam: PhantomData }
    }

    /// Values of the input batch in the vector.
    fn x_len(&self) -> usize {
        match self.fixed_x {
            Some(_) => 0,
            None => self.batch * <<F::At<f64> as Network<f64>>::Input as Shape>::NUMEL,
        }
    }

    /// The network over `T` with the picked parameters from `p`, and its input batch.
    fn build<T: Scalar>(&self, v: &[T]) -> (F::At<T>, Vec<T>) {
        let (x, p) = v.split_at(self.x_len());
        let mut all: Vec<T> = self.base.iter().map(|&b| T::from_f64(b)).collect();
        for (&i, &value) in self.picked.iter().zip(p) {
            all[i] = value;
        }
        let mut net = F::At::<T>::default();
        load_flat(&mut net, &all).expect("the vector holds every visited tensor");
        let x = match &self.fixed_x {
            Some(fixed) => fixed.iter().map(|&t| T::from_f64(t)).collect(),
            None => x.to_vec(),
        };
        (net, x)
    }
}

impl<F: Family> GradCase for NetCase<F> {
    fn name(&self) -> &str {
        F::NAME
    }

    fn input_len(&self) -> usize {
        self.x_len() + self.picked.len()
    }

    fn output_len(&self) -> usize {
        self.batch * <<F::At<f64> as Network<f64>>::Output as Shape>::NUMEL
    }

    fn forward<T: Scalar>(&self, v: &[T], y: &mut [T]) {
        let (mut net, x) = self.build(v);
        let mut st = <F::At<T> as Network<T>>::state::<Heap>();
        y.copy_from_slice(Network::forward_train(&mut net, &x, &mut st).expect("training forward"));
    }

    fn backward(&self, v: &[f64], _y: &[f64], dy: &[f64], dv: &mut [f64]) {
        let (mut net, x) = self.build(v);
        let mut st = <F::At<f64> as Network<f64>>::state::<Heap>();
        Network::forward_train(&mut net, &x, &mut st).expect("training forward");
        let mut grad = F::At::<f64>::default();
        let (dx, dp) = dv.split_at_mut(self.x_len());
        if self.fixed_x.is_some() {
            Network::backward(&net, &x, dy, &mut grad, &mut st).expect("backward");
        } else {
            let gx = Network::backward_input(&net, &x, dy, &mut grad, &mut st).expect("backward");
            for (d, g) in dx.iter_mut().zip(gx) {
                *d += g;
            }
        }
        let g = to_vec(&grad);
        for (d, &i) in dp.iter_mut().zip(&self.picked) {
            *d += g[i];
        }
    }
}

/// Runs `f` on a thread with room for the decoder at `Dual<f64, 8>` (72 bytes a value, 1.9
/// MB a copy) on its stack.
fn with_big_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let t = std::thread::Builder::new().stack_size(256 << 20).spawn(f).expect("a thread");
    t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn check<F: Family>(case: &NetCase<F>, seed: u64) -> Report {
    let x = gradcheck::inputs(seed, case.x_len(), -1.0, 1.0, &[]);
    let v: Vec<f64> = x.into_iter().chain(case.picked.iter().map(|&i| case.base[i])).collect();
    let report = gradcheck::check(case, &v, seed + 1).unwrap_or_else(|e| panic!("{e}"));
    println!("{report}");
    assert_eq!(report.inputs, case.input_len());
    assert!(report.finite_difference_error < 1e-6 && report.forward_mode_error < 1e-10, "{report}");
    report
}

#[test]
fn the_small_decoder_matches_finite_differences_and_forward_mode_in_every_parameter() {
    let case = NetCase::<SmallDecoderF>::new(2, None, 7, |n| (0..n).collect());
    assert_eq!(case.picked.len(), (3 * 18 + 18) + (3 * 2 * 9 + 3) + (3 * 9 + 1));
    check(&case, 8);
}

#[test]
fn the_decoder_matches_finite_differences_and_forward_mode() {
    // One sample (the small decoder checks batches), its whole input and a spread of each
    // tensor, which keeps finite differences affordable: every 199th value of `fc`
    // (weights and a few biases; the stride is prime to 32, so the picked weights read
    // every input unit), every 11th of `c1` and all of `c2`.
    with_big_stack(|| {
        let (fc, c1) = (32 * 784 + 784, 8 * 16 * 9 + 8);
        let case = NetCase::<DecoderF>::new(1, None, 9, |n| {
            (0..fc).step_by(199).chain((fc..fc + c1).step_by(11)).chain(fc + c1..n).collect()
        });
        assert_eq!(case.base.len(), Decoder::PARAMS);
        check(&case, 10);
    });
}

#[test]
fn the_token_network_matches_finite_differences_and_forward_mode_in_every_parameter() {
    // Tokens repeat across the batch and within a sequence, so rows of the table receive
    // several gradients.
    let tokens: Vec<f64> = (0..2 * 12).map(|i| ((i * 11) % 17) as f64).collect();
    let case = NetCase::<TokenConvF>::new(2, Some(tokens), 11, |n| (0..n).collect());
    assert_eq!(case.picked.len(), TokenConv::PARAMS);
    check(&case, 12);
}

network! {
    /// PyTorch's MLP fixture (`fc1`, `bn`, `fc2`) with every rearranging layer between its
    /// two halves (scales of 1 keep the width `fc2` reads), for `include_weights!`: layers
    /// without tensors take no names from the file and are built as they are.
    pub struct RearrangedMlp {
        input: [6],
        fc1: Linear<6, 16>,
        bn: BatchNorm1d<16>,
        act: ReLU,
        sq: Reshape<Rank2<4, 4>>,
        tr: Transpose,
        wide: Upsample1d<1>,
        img: Unflatten<1, 4, 4>,
        pm: Permute<0, 2, 1>,
        big: Upsample<1>,
        flat: Flatten,
        fc2: Linear<16, 4>,
    }
}

#[test]
fn rearranging_layers_embed_with_include_weights() {
    static NET: RearrangedMlp = include_weights!(RearrangedMlp, "fixtures/torch/mlp.safetensors");
    let mut loaded = RearrangedMlp::<f32>::default();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch/mlp.safetensors");
    monograd::nn::serialize::safetensors::load(&mut loaded, path, &Default::default()).unwrap();
    let (a, b) = (to_vec(&NET), to_vec(&loaded));
    assert!(a.iter().any(|&v| v != 0.0));
    assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    // The transpose and the permutation undo each other up to the flatten: the same
    // output as the plain MLP with the same weights.
    let mut st = RearrangedMlp::state::<Heap>();
    let x = [0.5f32, -1.0, 0.25, 2.0, 0.0, -0.75];
    let y = NET.forward(&x, &mut st).unwrap();
    let (bn, w1, b1, w2, b2) = (&NET.bn, &NET.fc1.weight, &NET.fc1.bias, &NET.fc2.weight, &NET.fc2.bias);
    let h: Vec<f32> = (0..16)
        .map(|o| {
            let z = b1[o] + (0..6).map(|i| w1[o][i] * x[i]).sum::<f32>();
            let z = (z - bn.running_mean[o]) / (bn.running_var[o] + 1e-5).sqrt() * bn.weight[o] + bn.bias[o];
            z.max(0.0)
        })
        .collect();
    for o in 0..4 {
        let want = b2[o] + (0..16).map(|i| w2[o][i] * h[i]).sum::<f32>();
        assert!((y[o] - want).abs() < 1e-4, "{} vs {want}", y[o]);
    }
}
