//! A lookup table of learned vectors, one per token.
//!
//! `y[l] = W[x[l]]`: position `l` of a sequence of token indices becomes row `x[l]` of
//! the weight `W` of shape `[V, D]` (PyTorch's `nn.Embedding(V, D)`, same layout).
//!
//! Derivatives: `∂L/∂W[v] = Σ_{l : x[l] = v} ∂L/∂y[l]` (a scatter-add: a token used twice
//! gets both gradients); indices are not differentiable, so there is no `∂L/∂x` and
//! backward leaves `dx` untouched.
//!
//! Indices travel as values of the scalar type (whole numbers, exact in `f32` below
//! 2^24). [`Layer::check_input`] rejects any that is not a whole number below `V`, so
//! that bad data is an `Err`; forward and backward, which may then assume valid indices,
//! still never panic: they skip an invalid one (forward writes a zero row for it). The
//! lookup is [`monograd_core::ops::embedding`], which the eager tape calls too.
//!
//! # Shapes
//! - input: [`Rank1<L>`] per sample, `[batch, L]` token indices
//! - output: [`Rank2<L, D>`] per sample, `[batch, L, D]`
//! - `weight`: `[V, D]`

use monograd_core::ops::embedding::{self, token};
use monograd_core::{Ctx, Layer, OutputShape, Rank1, Rank2, Rng, Scalar, ShapeError};

/// A table of `V` learned vectors of `D` values, looked up by token index, like
/// `torch.nn.Embedding(V, D)`.
///
/// ```
/// use monograd_nn::Embedding;
/// use monograd_core::{Ctx, Layer, Rank1, Rank2, Rng};
///
/// let emb = Embedding::<10, 3>::new(&mut Rng::seed(0)); // N(0, 1), as PyTorch
/// let tokens = [4.0f32, 0.0, 4.0]; // one sequence of three tokens
/// let mut y = [[0.0f32; 3]; 3];
/// Layer::<f32, Rank1<3>, Rank2<3, 3>>::forward(&emb, &tokens, y.as_flattened_mut(), &mut Ctx::new(&mut []));
/// assert_eq!((y[0], y[1], y[2]), (emb.weight[4], emb.weight[0], emb.weight[4]));
///
/// // Indices from data are checked before a pass: 10 is not below the vocabulary of 10.
/// let err = Layer::<f32, Rank1<3>, Rank2<3, 3>>::check_input(&emb, &[1.0, 10.0, 2.0]).unwrap_err();
/// assert_eq!(err.to_string(), "Embedding input: index 10 is out of range, expected one below 10");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding<const V: usize, const D: usize, T = f32> {
    /// `[V, D]`: row `v` is the vector of token `v`.
    pub weight: [[T; D]; V],
}

impl<const V: usize, const D: usize, T: Scalar> Embedding<V, D, T> {
    /// Every weight zero: for gradients, optimizer state and `static` models.
    pub const ZERO: Self = Self { weight: [[T::ZERO; D]; V] };

    /// PyTorch's default initialisation: every weight drawn from `N(0, 1)`.
    pub fn new(rng: &mut Rng) -> Self {
        let mut layer = Self::ZERO;
        layer.init(rng);
        layer
    }

    /// The same layer over another scalar, every weight mapped by `f`.
    pub fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> Embedding<V, D, U> {
        Embedding { weight: self.weight.map(|row| row.map(&f)) }
    }

    /// Re-initialises in place, as [`Embedding::new`] does (row-major draws).
    pub fn init(&mut self, rng: &mut Rng) {
        for w in self.weight.as_flattened_mut() {
            *w = T::from_f64(rng.normal());
        }
    }
}

impl<const V: usize, const D: usize, T: Scalar> Default for Embedding<V, D, T> {
    /// All zero, as [`Embedding::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

super::layer_tensors!(
    [const V: usize, const D: usize] Embedding<V, D>, base = Embedding::ZERO, init = Embedding::init;
    params: weight: [V, D];
    buffers: ;
    counters:
);

impl<const V: usize, const D: usize, const L: usize, T: Scalar> OutputShape<Rank1<L>> for Embedding<V, D, T> {
    type Output = Rank2<L, D>;
}

impl<const V: usize, const D: usize, const L: usize, T: Scalar> Layer<T, Rank1<L>, Rank2<L, D>> for Embedding<V, D, T> {
    type Cache = ();

    /// Every value must be a whole number in `0..V`; the first that is not is the error.
    fn check_input(&self, x: &[T]) -> Result<(), ShapeError> {
        x.iter().try_for_each(|&v| token(v, V).map(drop))
    }

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        embedding::embedding(self.weight.as_flattened(), x, y, D);
    }

    /// Scatter-adds `dy` into the rows of `grad.weight`; `dx` is left as it is (indices
    /// have no gradient).
    #[inline]
    fn backward(
        &self,
        x: &[T],
        _y: &[T],
        _: &(),
        dy: &[T],
        _dx: Option<&mut [T]>,
        grad: &mut Self,
        _: &mut Ctx<'_, T>,
    ) {
        embedding::embedding_backward(x, dy, grad.weight.as_flattened_mut(), D);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monograd_core::gradcheck::{self, GradCase};
    use monograd_core::module::{Kind, Path};
    use monograd_core::Module;

    type Emb<T> = Embedding<5, 3, T>;
    /// Two sequences of four tokens: repeats (scatter-add) and an invalid one (skipped).
    const TOKENS: [f64; 8] = [1.0, 4.0, 1.0, 0.0, 2.0, 2.0, 7.0, 1.0];

    fn lookup<T: Scalar>(emb: &Emb<T>, x: &[T], y: &mut [T]) {
        Layer::<T, Rank1<4>, Rank2<4, 3>>::forward(emb, x, y, &mut Ctx::new(&mut []));
    }

    /// The weight is the differentiable vector; the tokens are fixed data.
    struct Case;
    impl GradCase for Case {
        fn name(&self) -> &str {
            "Embedding<5, 3>"
        }
        fn input_len(&self) -> usize {
            15
        }
        fn output_len(&self) -> usize {
            TOKENS.len() * 3
        }
        fn forward<T: Scalar>(&self, w: &[T], y: &mut [T]) {
            let mut emb = Emb::<T>::ZERO;
            emb.weight.as_flattened_mut().copy_from_slice(w);
            lookup(&emb, &TOKENS.map(T::from_f64), y);
        }
        fn backward(&self, w: &[f64], y: &[f64], dy: &[f64], dw: &mut [f64]) {
            let mut emb = Emb::<f64>::ZERO;
            emb.weight.as_flattened_mut().copy_from_slice(w);
            let mut grad = Emb::ZERO;
            // dx is offered and must come back untouched.
            let mut dx = [7.0; 8];
            Layer::<f64, Rank1<4>, Rank2<4, 3>>::backward(
                &emb,
                &TOKENS,
                y,
                &(),
                dy,
                Some(&mut dx),
                &mut grad,
                &mut Ctx::new(&mut []),
            );
            assert_eq!(dx, [7.0; 8]);
            for (d, g) in dw.iter_mut().zip(grad.weight.as_flattened()) {
                *d += g;
            }
        }
    }

    #[test]
    fn embedding_passes_the_gradient_check() {
        gradcheck::check(&Case, &gradcheck::inputs(51, 15, -1.0, 1.0, &[]), 5).unwrap();
    }

    #[test]
    fn forward_looks_up_rows_and_backward_scatter_adds() {
        let mut emb = Emb::<f64>::ZERO;
        for (v, row) in emb.weight.iter_mut().enumerate() {
            *row = [v as f64, 10.0 * v as f64, -(v as f64)];
        }
        let mut y = [f64::NAN; 24];
        lookup(&emb, &TOKENS, &mut y);
        assert_eq!(y[..6], [1.0, 10.0, -1.0, 4.0, 40.0, -4.0]);
        // Token 7 is out of range: a zero row, no panic.
        assert_eq!(y[18..21], [0.0; 3]);
        let mut grad = Emb::ZERO;
        grad.weight[1] = [100.0; 3]; // backward accumulates
        let dy: [f64; 24] = core::array::from_fn(|i| (i / 3) as f64 + 1.0);
        Layer::<f64, Rank1<4>, Rank2<4, 3>>::backward(
            &emb,
            &TOKENS,
            &y,
            &(),
            &dy,
            None,
            &mut grad,
            &mut Ctx::new(&mut []),
        );
        // Token 1 at positions 0, 2 and 7 (dy 1, 3, 8); token 2 at 4 and 5 (5, 6).
        assert_eq!(grad.weight, [[4.0; 3], [112.0; 3], [11.0; 3], [0.0; 3], [2.0; 3]]);
    }

    #[test]
    fn check_input_rejects_what_is_not_a_token() {
        let emb = Emb::<f32>::ZERO;
        let check = |x: [f32; 4]| Layer::<f32, Rank1<4>, Rank2<4, 3>>::check_input(&emb, &x);
        assert_eq!(check([0.0, 4.0, 1.0, 3.0]), Ok(()));
        assert_eq!(
            check([0.0, 5.0, 1.0, 3.0]),
            Err(ShapeError::IndexOutOfRange { what: "Embedding input", index: 5, bound: 5 })
        );
        for bad in [2.5, -1.0, f32::NAN, f32::INFINITY, -0.5] {
            let err = check([0.0, bad, 1.0, 3.0]).unwrap_err();
            assert!(
                matches!(err, ShapeError::IndexOutOfRange { what, index: usize::MAX, bound: 5 } if what.contains("whole number")),
                "{bad}: {err:?}"
            );
        }
        // The whole batch is checked, not just the first sample.
        assert!(Layer::<f32, Rank1<2>, Rank2<2, 3>>::check_input(&emb, &[0.0, 1.0, 2.0, 9.0]).is_err());
    }

    #[test]
    fn init_is_standard_normal_and_seeded() {
        let a = Embedding::<200, 100, f64>::new(&mut Rng::seed(3));
        assert_eq!(a, Embedding::new(&mut Rng::seed(3)));
        let w = a.weight.as_flattened();
        let n = w.len() as f64;
        let mean = w.iter().sum::<f64>() / n;
        let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean}, var {var}");
        // The draws are Rng::normal's, in row-major order.
        let mut r = Rng::seed(3);
        assert_eq!(w[..3], [r.normal(), r.normal(), r.normal()]);
        let mut seen = 0;
        a.visit(&Path::ROOT, &mut |t| {
            assert!(t.path.ends_with("weight") && t.shape == [200, 100] && t.kind == Kind::Param);
            seen += 1;
        });
        assert_eq!((seen, <Embedding<200, 100> as Module<f32>>::PARAMS), (1, 20_000));
    }
}
