//! Dropout, seeded and reproducible.
//!
//! In training, each element is zeroed with probability `p` and the survivors are scaled
//! by `1 / (1 - p)`, so the expected output equals the input (PyTorch's "inverted"
//! dropout); in inference ([`Layer::forward`]) the layer is the identity:
//!
//! - train: `y_i = m_i x_i / (1 - p)`, `m_i ∈ {0, 1}`, `P(m_i = 0) = p`
//! - derivative: `dx_i = m_i dy_i / (1 - p)` (the mask is a fixed linear map)
//! - eval: `y = x`, `dx = dy`
//!
//! The mask is not drawn from a generator's stream but computed: `m_i` is a hash of
//! `(seed, step, i)`, where `step` counts the training passes and `i` is the element's
//! index in the batch buffer. So the layer stores no mask: backward regenerates it from
//! the step saved in the [`DropoutCache`], and a checkpoint that restores `seed` and
//! `step` (two plain `u64` fields, not tensors) resumes with bit-identical masks. The mask
//! is [`DropoutMask`], in `monograd_core::ops::dropout`, which the eager tape uses too.
//!
//! # Shapes
//! - input: any [`Shape`] `S`
//! - output: `S`

use monograd_core::module::{Counter, CounterKind, ParamUpdate, Path, Setting, Tensor};
use monograd_core::ops::dropout::DropoutMask;
use monograd_core::{Ctx, Layer, Module, OutputShape, Rng, Scalar, Shape};

/// Zeroes each element with probability `p` in training and scales the rest by
/// `1 / (1 - p)`, like `torch.nn.Dropout(p)`; the identity in inference.
///
/// The mask of training pass number `step` is a function of `(seed, step, index)`, so runs
/// with the same seed are identical and a checkpoint of `seed` and `step` resumes exactly.
/// [`Module::init`] (which `network!`'s `new` and `#[derive(Module)]` call) draws a fresh
/// seed from the initialisation generator, so that two dropout layers of one model never
/// share their masks.
///
/// ```
/// use monograd_nn::Dropout;
/// use monograd_core::{Ctx, Layer, Rank1};
///
/// let mut drop = Dropout::with_seed(0.5, 7);
/// let x = [1.0f32; 8];
/// let mut y = [0.0f32; 8];
/// let mut ctx = Ctx::new(&mut []);
/// // Inference: the identity.
/// Layer::<f32, Rank1<8>, Rank1<8>>::forward(&drop, &x, &mut y, &mut ctx);
/// assert_eq!(y, x);
/// // Training: zeros and doubled values, and the step counter advances.
/// let mut cache = Default::default();
/// Layer::<f32, Rank1<8>, Rank1<8>>::forward_train(&mut drop, &x, &mut y, &mut cache, &mut ctx);
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// assert_eq!(drop.step, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// The probability of zeroing an element, in `[0, 1]`.
    pub p: f64,
    /// The seed of every mask this layer draws.
    pub seed: u64,
    /// The number of training passes so far: the next mask is that of this step.
    pub step: u64,
}

/// What a training pass of [`Dropout`] saves for backward: the step whose mask it used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropoutCache {
    /// The step of the mask applied, or `None` if the cache was not filled by a training
    /// pass (backward is then that of the identity, as in inference).
    pub step: Option<u64>,
}

impl monograd_core::storage::ConstDefault for DropoutCache {
    const DEFAULT: Self = Self { step: None };
}

impl Dropout {
    /// Dropout with probability `p` and seed 0 (until [`Module::init`] draws one).
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub const fn new(p: f64) -> Self {
        Self::with_seed(p, 0)
    }

    /// Dropout with probability `p` and the given seed.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub const fn with_seed(p: f64, seed: u64) -> Self {
        assert!(Self::valid_p(p), "Dropout: the probability must be in [0, 1]");
        Self { p, seed, step: 0 }
    }

    /// The same layer with probability `p`: the builder `network!` calls for
    /// `drop: Dropout(0.2)` or `Dropout(p = 0.2)`.
    ///
    /// ```
    /// use monograd_nn::Dropout;
    /// const DROP: Dropout = Dropout::new(0.5).p(0.2);
    /// assert_eq!(DROP.p, 0.2);
    /// ```
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]` (at compile time in a constant).
    #[must_use]
    pub const fn p(mut self, p: f64) -> Self {
        assert!(Self::valid_p(p), "Dropout: the probability must be in [0, 1]");
        self.p = p;
        self
    }

    /// `p` in `[0, 1]`, as PyTorch requires (`p = 1` drops everything); not NaN.
    const fn valid_p(p: f64) -> bool {
        p >= 0.0 && p <= 1.0
    }

    /// The mask of training step `step`: which elements survive, and the factor they are
    /// multiplied by.
    fn mask(&self, step: u64) -> DropoutMask {
        DropoutMask::new(self.p, self.seed, step)
    }
}

impl Default for Dropout {
    /// PyTorch's default probability, `0.5`, with seed 0.
    fn default() -> Self {
        Self::new(0.5)
    }
}

// Dropout's seed and step are run state, kept in checkpoints, not in weights files.
monograd_core::__embed_plain!([] Dropout = Dropout::new(0.5););

impl<T: Scalar> Module<T> for Dropout {
    const PARAMS: usize = 0;

    /// Draws a new seed from `rng` (and restarts the step count), so that each dropout
    /// layer of a model has masks of its own.
    fn init(&mut self, rng: &mut Rng) {
        self.seed = rng.next_u64();
        self.step = 0;
    }

    fn visit<F: FnMut(Tensor<'_, &[T]>)>(&self, _: &Path<'_>, _: &mut F) {}
    fn visit_mut<F: FnMut(Tensor<'_, &mut [T]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
    fn visit_update<F: FnMut(ParamUpdate<'_, T>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}

    /// `seed` and `step`, as [`CounterKind::Run`]: PyTorch's dropout has no state of its
    /// own, so they are not saved with the weights, only in checkpoints.
    fn visit_counters<F: FnMut(Counter<'_, &u64>)>(&self, path: &Path<'_>, f: &mut F) {
        let (seed, step) = (path.field("seed"), path.field("step"));
        f(Counter { path: &seed, kind: CounterKind::Run, value: &self.seed });
        f(Counter { path: &step, kind: CounterKind::Run, value: &self.step });
    }

    fn visit_counters_mut<F: FnMut(Counter<'_, &mut u64>)>(&mut self, path: &Path<'_>, f: &mut F) {
        let (seed, step) = (path.field("seed"), path.field("step"));
        f(Counter { path: &seed, kind: CounterKind::Run, value: &mut self.seed });
        f(Counter { path: &step, kind: CounterKind::Run, value: &mut self.step });
    }

    /// `p`, the one setting.
    fn visit_config<F: FnMut(Setting<'_, &f64>)>(&self, path: &Path<'_>, f: &mut F) {
        f(Setting { path: &path.field("p"), value: &self.p });
    }

    /// `p`; a value outside `[0, 1]` leaves it unchanged.
    fn visit_config_mut<F: FnMut(Setting<'_, &mut f64>)>(&mut self, path: &Path<'_>, f: &mut F) {
        let mut p = self.p;
        f(Setting { path: &path.field("p"), value: &mut p });
        if Self::valid_p(p) {
            self.p = p;
        }
    }
}

impl<S: Shape> OutputShape<S> for Dropout {
    type Output = S;
}

impl<T: Scalar, S: Shape> Layer<T, S, S> for Dropout {
    type Cache = DropoutCache;

    /// Inference: the identity.
    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        y.copy_from_slice(x);
    }

    /// Training: applies the mask of the current step, saves that step in `cache` and
    /// advances the step.
    #[inline]
    fn forward_train(&mut self, x: &[T], y: &mut [T], cache: &mut DropoutCache, _: &mut Ctx<'_, T>) {
        debug_assert_eq!(x.len(), y.len());
        self.mask(self.step).apply(x, y, false);
        cache.step = Some(self.step);
        self.step = self.step.wrapping_add(1);
    }

    #[inline]
    fn backward(
        &self,
        _x: &[T],
        _y: &[T],
        cache: &DropoutCache,
        dy: &[T],
        dx: Option<&mut [T]>,
        _: &mut Self,
        _: &mut Ctx<'_, T>,
    ) {
        let Some(dx) = dx else { return };
        match cache.step {
            // The same mask as the forward pass: regenerated, never stored.
            Some(step) => self.mask(step).apply(dy, dx, true),
            None => {
                for (d, &g) in dx.iter_mut().zip(dy) {
                    *d += g;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{LayerCase, LayerFamily};
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::{Rank1, Rank2};

    use alloc::vec;

    type S = Rank1<1000>;

    #[test]
    fn p_is_a_setting_checked_when_set() {
        use alloc::string::{String, ToString};
        let mut d = Dropout::new(0.5).p(0.2);
        let mut seen: vec::Vec<(String, f64)> = vec![];
        Module::<f32>::visit_config(&d, &Path::ROOT, &mut |s| seen.push((s.path.to_string(), *s.value)));
        assert_eq!(seen, [("p".to_string(), 0.2)]);
        Module::<f32>::visit_config_mut(&mut d, &Path::ROOT, &mut |s| *s.value = 1.5);
        assert_eq!(d.p, 0.2);
        Module::<f32>::visit_config_mut(&mut d, &Path::ROOT, &mut |s| *s.value = 1.0);
        assert_eq!(d.p, 1.0);
        // Init draws a seed and keeps the probability.
        Module::<f32>::init(&mut d, &mut Rng::seed(1));
        assert_eq!(d.p, 1.0);
    }

    #[test]
    #[should_panic(expected = "the probability must be in [0, 1]")]
    fn the_builder_refuses_a_probability_above_one() {
        let _ = Dropout::default().p(1.5);
    }

    fn train(d: &mut Dropout, x: &[f64], y: &mut [f64]) -> DropoutCache {
        let mut cache = DropoutCache::default();
        Layer::<f64, S, S>::forward_train(d, x, y, &mut cache, &mut Ctx::new(&mut []));
        cache
    }

    #[test]
    fn masks_drop_the_right_fraction_and_keep_the_mean() {
        for p in [0.1, 0.3, 0.5, 0.9] {
            let mut d = Dropout::with_seed(p, 42);
            let x = vec![1.0f64; 100 * 1000];
            let mut y = vec![0.0f64; 100 * 1000];
            let mut dropped = 0usize;
            let mut sum = 0.0;
            for _ in 0..3 {
                train(&mut d, &x, &mut y);
                dropped += y.iter().filter(|&&v| v == 0.0).count();
                sum += y.iter().sum::<f64>();
                // Survivors are exactly x / (1 - p).
                assert!(y.iter().all(|&v| v == 0.0 || v == 1.0 / (1.0 - p)));
            }
            let n = 3.0 * 100_000.0;
            let frac = dropped as f64 / n;
            // Binomial standard deviation at n = 300000 is below 1e-3: allow 5 of them.
            assert!((frac - p).abs() < 5e-3, "p = {p}: dropped {frac}");
            assert!((sum / n - 1.0).abs() < 5e-3 / (1.0 - p), "p = {p}: mean {}", sum / n);
        }
    }

    #[test]
    fn nan_propagates_through_dropped_elements_too() {
        // As PyTorch's `x * mask / (1 - p)`: a dropped NaN or infinity is NaN, not 0, in
        // the forward pass and in backward; finite dropped values are +0.
        let mut d = Dropout::with_seed(0.5, 3);
        let x: alloc::vec::Vec<f64> = (0..1000).map(|i| [f64::NAN, f64::INFINITY, -2.0][i % 3]).collect();
        let mut y = vec![1.0f64; 1000];
        let cache = train(&mut d, &x, &mut y);
        let dropped = (0..1000).filter(|&i| x[i] == -2.0 && y[i] == 0.0).count();
        assert!(dropped > 100, "some finite values are dropped");
        for (i, (&x, &y)) in x.iter().zip(&y).enumerate() {
            if x.is_finite() {
                // Kept: -2 / (1 - 0.5); dropped: +0.
                assert!(y == -4.0 || (y == 0.0 && y.is_sign_positive()), "{i}: {y}");
            } else {
                assert!(y.is_nan() || y == f64::INFINITY, "{i}: {x} -> {y}");
            }
        }
        let mut dx = vec![0.0f64; 1000];
        let dy = vec![f64::NAN; 1000];
        Layer::<f64, S, S>::backward(
            &d,
            &x,
            &y,
            &cache,
            &dy,
            Some(&mut dx),
            &mut Dropout::default(),
            &mut Ctx::new(&mut []),
        );
        assert!(dx.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn masks_are_independent_of_neighbours_steps_and_seeds() {
        // Neighbouring elements, consecutive steps and consecutive seeds agree about half
        // the time at p = 0.5, as independent coin flips do.
        let x = vec![1.0f64; 20_000];
        let agree = |a: &[f64], b: &[f64]| a.iter().zip(b).filter(|(u, v)| u == v).count() as f64 / a.len() as f64;
        let (mut s0, mut s1, mut t1) = (vec![0.0; 20_000], vec![0.0; 20_000], vec![0.0; 20_000]);
        let mut d = Dropout::with_seed(0.5, 1);
        train(&mut d, &x, &mut s0);
        train(&mut d, &x, &mut s1);
        train(&mut Dropout::with_seed(0.5, 2), &x, &mut t1);
        for (what, a) in
            [("steps", agree(&s0, &s1)), ("seeds", agree(&s0, &t1)), ("neighbours", agree(&s0[1..], &s0[..19_999]))]
        {
            assert!((a - 0.5).abs() < 0.02, "{what}: agree {a}");
        }
    }

    #[test]
    fn eval_is_the_identity_and_train_is_not() {
        let d = Dropout::with_seed(0.5, 3);
        let x: [f64; 16] = core::array::from_fn(|i| i as f64 + 1.0);
        let mut y = [0.0; 16];
        Layer::<f64, Rank1<16>, Rank1<16>>::forward(&d, &x, &mut y, &mut Ctx::new(&mut []));
        assert_eq!(y, x);
        // Backward after an inference pass (a default cache) is the identity's, accumulated.
        let mut dx = [1.0; 16];
        Layer::<f64, Rank1<16>, Rank1<16>>::backward(
            &d,
            &x,
            &y,
            &Default::default(),
            &[2.0; 16],
            Some(&mut dx),
            &mut d.clone(),
            &mut Ctx::new(&mut []),
        );
        assert_eq!(dx, [3.0; 16]);
        // p = 0 is the identity in training too; p = 1 drops everything.
        let mut keep = Dropout::with_seed(0.0, 3);
        let mut drop = Dropout::with_seed(1.0, 3);
        let (mut a, mut b, mut c) = ([0.0; 1000], [1.0; 1000], [0.0; 1000]);
        let ones = [1.0; 1000];
        train(&mut keep, &ones, &mut a);
        train(&mut drop, &ones, &mut b);
        assert_eq!((a, b), (ones, [0.0; 1000]));
        let mut half = Dropout::with_seed(0.5, 3);
        train(&mut half, &ones, &mut c);
        assert!(c.contains(&0.0) && c.contains(&2.0));
    }

    #[test]
    fn backward_regenerates_the_forward_mask() {
        let mut d = Dropout::with_seed(0.4, 11);
        let x: [f64; 1000] = core::array::from_fn(|i| (i as f64 * 0.37).sin() + 2.0);
        let mut y = [0.0; 1000];
        // A few steps in, so that the mask is not that of step 0.
        for _ in 0..3 {
            train(&mut d, &x, &mut y);
        }
        let cache = train(&mut d, &x, &mut y);
        assert_eq!((cache.step, d.step), (Some(3), 4));
        let mut dx = [0.0; 1000];
        Layer::<f64, S, S>::backward(
            &d,
            &x,
            &y,
            &cache,
            &[1.0; 1000],
            Some(&mut dx),
            &mut d.clone(),
            &mut Ctx::new(&mut []),
        );
        for i in 0..1000 {
            // Zero where forward dropped (x is never zero here), 1 / (1 - p) where it kept.
            let kept = if y[i] == 0.0 { 0.0 } else { 1.0 / (1.0 - 0.4) };
            assert_eq!((dx[i], y[i]), (kept, x[i] * kept), "element {i}");
        }
    }

    #[test]
    fn a_restored_seed_and_step_resume_bit_identically() {
        let x: [f64; 1000] = core::array::from_fn(|i| i as f64);
        let mut run = Dropout::with_seed(0.3, 99);
        let (mut a, mut b) = ([0.0; 1000], [0.0; 1000]);
        for _ in 0..5 {
            train(&mut run, &x, &mut a);
        }
        // A checkpoint is the two counters; the restored layer continues as the original.
        let (seed, step) = (run.seed, run.step);
        let mut resumed = Dropout { p: 0.3, seed, step };
        for _ in 0..5 {
            train(&mut run, &x, &mut a);
            train(&mut resumed, &x, &mut b);
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
        }
        // And the same seed from the start gives the same sequence of masks.
        let (mut r1, mut r2) = (Dropout::with_seed(0.3, 5), Dropout::with_seed(0.3, 5));
        train(&mut r1, &x, &mut a);
        train(&mut r2, &x, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn init_gives_each_layer_its_own_seed() {
        let mut rng = Rng::seed(0);
        let (mut a, mut b) = (Dropout::new(0.5), Dropout::new(0.5));
        a.step = 7;
        Module::<f32>::init(&mut a, &mut rng);
        Module::<f32>::init(&mut b, &mut rng);
        assert_ne!(a.seed, b.seed);
        assert_eq!(a.step, 0);
        let mut again = Dropout::new(0.5);
        Module::<f32>::init(&mut again, &mut Rng::seed(0));
        assert_eq!(again.seed, a.seed);
    }

    #[test]
    #[should_panic(expected = "probability must be in [0, 1]")]
    fn a_probability_above_one_is_refused() {
        let _ = Dropout::new(1.5);
    }

    struct Fam;
    impl LayerFamily for Fam {
        type In = Rank2<3, 4>;
        type Out = Rank2<3, 4>;
        type At<T: Scalar> = Dropout;
        const NAME: &'static str = "Dropout(0.3)";
        fn zero<T: Scalar>() -> Dropout {
            // A fixed seed and step: the mask is then a fixed linear map.
            Dropout { p: 0.3, seed: 1234, step: 5 }
        }
    }

    #[test]
    fn dropout_passes_the_gradient_check_in_training_mode() {
        let case = LayerCase::<Fam, 4>::new();
        let x = gradcheck::inputs(3, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 3).unwrap();
        // The check saw a real mask: some elements dropped, some kept.
        let mut y = [0.0; 48];
        let mut d = Fam::zero::<f64>();
        Layer::<f64, Rank2<3, 4>, Rank2<3, 4>>::forward_train(
            &mut d,
            &[1.0; 48],
            &mut y,
            &mut Default::default(),
            &mut Ctx::new(&mut []),
        );
        assert!(y.contains(&0.0) && y.iter().any(|&v| v > 1.0));
    }
}
