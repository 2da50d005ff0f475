//! Rearranging the axes of a sample: [`Transpose`] for matrices, [`Permute`] for three axes.
//!
//! Every value keeps its value and moves to another place: `y[j, i] = x[i, j]` for a
//! transpose, and for `Permute<A, B, C>` output axis `k` is input axis `[A, B, C][k]`, as in
//! PyTorch's `x.permute(0, 1 + A, 1 + B, 1 + C)` (the batch axis stays first). Backward
//! moves each gradient back where its value came from: `∂L/∂x[i, j] = ∂L/∂y[j, i]`, and the
//! same for a permutation. Neither layer has parameters or allocates, and both work at
//! every scalar, dual numbers included.
//!
//! The typical use is between layers that disagree on the order of axes: an `Embedding`
//! yields `[L, D]` (a position's features together) while a `Conv1d` reads `[D, L]`
//! (channels first), and `Permute<1, 2, 0>` turns an image `[C, H, W]` into `[H, W, C]`.
//!
//! # Shapes
//! - [`Transpose`]: [`Rank2<R, C>`] → [`Rank2<C, R>`] (`x.transpose(1, 2)`)
//! - [`Permute<A, B, C>`](Permute): [`Rank3<D0, D1, D2>`] → `Rank3<D_A, D_B, D_C>`
//!   (`x.permute(0, 1 + A, 1 + B, 1 + C)`)

use monograd_core::{Ctx, Layer, OutputShape, Rank2, Rank3, Scalar};

/// Swaps the two axes of each sample: `[R, C]` becomes `[C, R]`, like PyTorch's
/// `x.transpose(1, 2)` on a batch of matrices.
///
/// `network!` computes its output shape, so it may sit between an `Embedding` (`[L, D]`)
/// and a `Conv1d` (which reads `[D, L]`).
///
/// # Shapes
/// - input: [`Rank2<R, C>`] per sample
/// - output: [`Rank2<C, R>`] per sample
///
/// ```
/// use monograd_nn::Transpose;
/// use monograd_core::{Ctx, Layer, Rank2};
///
/// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // [[1, 2, 3], [4, 5, 6]]
/// let mut y = [0.0f32; 6];
/// Layer::<f32, Rank2<2, 3>, Rank2<3, 2>>::forward(&Transpose, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]); // [[1, 4], [2, 5], [3, 6]]
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transpose;
super::no_params!(Transpose);

impl<const R: usize, const C: usize> OutputShape<Rank2<R, C>> for Transpose {
    type Output = Rank2<C, R>;
}

impl<T: Scalar, const R: usize, const C: usize> Layer<T, Rank2<R, C>, Rank2<C, R>> for Transpose {
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        if R * C == 0 {
            return;
        }
        for (xs, ys) in x.chunks_exact(R * C).zip(y.chunks_exact_mut(R * C)) {
            // Row `c` of the output is column `c` of the input.
            for (c, yrow) in ys.chunks_exact_mut(R).enumerate() {
                for (r, v) in yrow.iter_mut().enumerate() {
                    *v = xs[r * C + c];
                }
            }
        }
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        let Some(dx) = dx else { return };
        if R * C == 0 {
            return;
        }
        for (dxs, dys) in dx.chunks_exact_mut(R * C).zip(dy.chunks_exact(R * C)) {
            for (c, grow) in dys.chunks_exact(R).enumerate() {
                for (r, &g) in grow.iter().enumerate() {
                    dxs[r * C + c] += g;
                }
            }
        }
    }
}

/// Rearranges the three axes of each sample: output axis `k` is input axis `[A, B, C][k]`,
/// like PyTorch's `x.permute(0, 1 + A, 1 + B, 1 + C)` (the batch axis stays first).
/// `Permute<1, 2, 0>` turns channels-first images `[C, H, W]` into channels-last
/// `[H, W, C]`; `Permute<2, 0, 1>` turns them back.
///
/// `(A, B, C)` must be a permutation of `(0, 1, 2)`: `network!` says so in words when it
/// is not, and the layer refuses to compile elsewhere. `network!` computes the output
/// shape; outside it, name both shapes (the output is `Rank3<D_A, D_B, D_C>`).
///
/// # Shapes
/// - input: [`Rank3<D0, D1, D2>`] per sample
/// - output: `Rank3<D_A, D_B, D_C>` per sample
///
/// ```
/// use monograd_nn::Permute;
/// use monograd_core::{Ctx, Layer, Rank3};
///
/// // One image of 2 channels, 1 row, 3 columns: [[[1, 2, 3]], [[4, 5, 6]]].
/// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let mut y = [0.0f32; 6];
/// // Channels last: [1, 3, 2], each pixel's two channels together.
/// Layer::<f32, Rank3<2, 1, 3>, Rank3<1, 3, 2>>::forward(&Permute::<1, 2, 0>, &x, &mut y, &mut Ctx::new(&mut []));
/// assert_eq!(y, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
///
/// An axis named twice is not a permutation:
///
/// ```compile_fail
/// use monograd_nn::Permute;
/// use monograd_core::{Ctx, Layer, Rank3};
/// let mut y = [0.0f32; 8];
/// Layer::<f32, Rank3<2, 2, 2>, Rank3<2, 2, 2>>::forward(&Permute::<0, 0, 1>, &[0.0; 8], &mut y, &mut Ctx::new(&mut []));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Permute<const A: usize, const B: usize, const C: usize>;
super::no_params!([const A: usize, const B: usize, const C: usize] Permute<A, B, C> = Permute);

/// Checks at compile time (in a constant) that `perm` is a permutation of the three axes
/// and that it takes `input` to `output`.
const fn check_permute(perm: [usize; 3], input: [usize; 3], output: [usize; 3]) {
    if perm[0] > 2 || perm[1] > 2 || perm[2] > 2 || perm[0] == perm[1] || perm[0] == perm[2] || perm[1] == perm[2] {
        panic!("Permute<A, B, C>: (A, B, C) must be a permutation of the axes (0, 1, 2), each named once");
    }
    if output[0] != input[perm[0]] || output[1] != input[perm[1]] || output[2] != input[perm[2]] {
        panic!("Permute<A, B, C>: the output shape must be the input's axes A, B, C in that order");
    }
}

/// For each output axis, how far one step along it moves in the input.
#[inline(always)]
const fn input_strides(perm: [usize; 3], input: [usize; 3]) -> [usize; 3] {
    let strides = [input[1] * input[2], input[2], 1];
    [strides[perm[0]], strides[perm[1]], strides[perm[2]]]
}

impl<
        T: Scalar,
        const A: usize,
        const B: usize,
        const C: usize,
        const D0: usize,
        const D1: usize,
        const D2: usize,
        const O0: usize,
        const O1: usize,
        const O2: usize,
    > Layer<T, Rank3<D0, D1, D2>, Rank3<O0, O1, O2>> for Permute<A, B, C>
{
    type Cache = ();

    #[inline]
    fn forward(&self, x: &[T], y: &mut [T], _: &mut Ctx<'_, T>) {
        const { check_permute([A, B, C], [D0, D1, D2], [O0, O1, O2]) };
        let n = D0 * D1 * D2;
        if n == 0 {
            return;
        }
        let [s0, s1, s2] = const { input_strides([A, B, C], [D0, D1, D2]) };
        for (xs, ys) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            // The output in order; each value read from its place in the input.
            let mut out = ys.iter_mut();
            for i in 0..O0 {
                for j in 0..O1 {
                    for k in 0..O2 {
                        if let Some(v) = out.next() {
                            *v = xs[i * s0 + j * s1 + k * s2];
                        }
                    }
                }
            }
        }
    }

    #[inline]
    fn backward(&self, _x: &[T], _y: &[T], _: &(), dy: &[T], dx: Option<&mut [T]>, _: &mut Self, _: &mut Ctx<'_, T>) {
        const { check_permute([A, B, C], [D0, D1, D2], [O0, O1, O2]) };
        let Some(dx) = dx else { return };
        let n = D0 * D1 * D2;
        if n == 0 {
            return;
        }
        let [s0, s1, s2] = const { input_strides([A, B, C], [D0, D1, D2]) };
        for (dxs, dys) in dx.chunks_exact_mut(n).zip(dy.chunks_exact(n)) {
            let mut grads = dys.iter();
            for i in 0..O0 {
                for j in 0..O1 {
                    for k in 0..O2 {
                        if let Some(&g) = grads.next() {
                            dxs[i * s0 + j * s1 + k * s2] += g;
                        }
                    }
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
    use monograd_core::Module;

    struct TransposeFam;
    impl LayerFamily for TransposeFam {
        type In = Rank2<3, 4>;
        type Out = Rank2<4, 3>;
        type At<T: Scalar> = Transpose;
        const NAME: &'static str = "Transpose";
        fn zero<T: Scalar>() -> Transpose {
            Transpose
        }
    }

    #[test]
    fn transpose_passes_the_gradient_check() {
        let case = LayerCase::<TransposeFam, 2>::new();
        let x = gradcheck::inputs(0, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, 0).unwrap();
    }

    /// Every permutation of a 2 x 3 x 4 sample (distinct sizes, so a wrong axis shows).
    macro_rules! permute_fam {
        ($fam:ident, $a:literal, $b:literal, $c:literal, [$o0:literal, $o1:literal, $o2:literal]) => {
            struct $fam;
            impl LayerFamily for $fam {
                type In = Rank3<2, 3, 4>;
                type Out = Rank3<$o0, $o1, $o2>;
                type At<T: Scalar> = Permute<$a, $b, $c>;
                const NAME: &'static str = concat!("Permute<", $a, ", ", $b, ", ", $c, ">");
                fn zero<T: Scalar>() -> Self::At<T> {
                    Permute
                }
            }
        };
    }
    permute_fam!(P012, 0, 1, 2, [2, 3, 4]);
    permute_fam!(P021, 0, 2, 1, [2, 4, 3]);
    permute_fam!(P102, 1, 0, 2, [3, 2, 4]);
    permute_fam!(P120, 1, 2, 0, [3, 4, 2]);
    permute_fam!(P201, 2, 0, 1, [4, 2, 3]);
    permute_fam!(P210, 2, 1, 0, [4, 3, 2]);

    fn check<F: LayerFamily>(seed: u64) {
        let case = LayerCase::<F, 2>::new();
        let x = gradcheck::inputs(seed, case.input_len(), -1.0, 1.0, &[]);
        gradcheck::check(&case, &x, seed).unwrap_or_else(|e| panic!("{}: {e}", F::NAME));
    }

    #[test]
    fn every_permutation_passes_the_gradient_check() {
        check::<P012>(1);
        check::<P021>(2);
        check::<P102>(3);
        check::<P120>(4);
        check::<P201>(5);
        check::<P210>(6);
    }

    /// `y[i, j, k] = x[idx]` with the input index written out by hand for `Permute<1, 2, 0>`
    /// and `Permute<2, 0, 1>`, and the two undoing each other.
    #[test]
    fn permute_moves_each_value_to_its_place_and_back() {
        let x: [f64; 24] = core::array::from_fn(|i| i as f64);
        let mut y = [0.0f64; 24];
        let p = Permute::<1, 2, 0>;
        Layer::<f64, Rank3<2, 3, 4>, Rank3<3, 4, 2>>::forward(&p, &x, &mut y, &mut Ctx::new(&mut []));
        for h in 0..3 {
            for w in 0..4 {
                for c in 0..2 {
                    assert_eq!(y[(h * 4 + w) * 2 + c], x[(c * 3 + h) * 4 + w]);
                }
            }
        }
        let mut back = [0.0f64; 24];
        let q = Permute::<2, 0, 1>;
        Layer::<f64, Rank3<3, 4, 2>, Rank3<2, 3, 4>>::forward(&q, &y, &mut back, &mut Ctx::new(&mut []));
        assert_eq!(back, x);

        // Backward accumulates, and sends each gradient where its value came from.
        let mut dx = [1.0f64; 24];
        Layer::<f64, Rank3<2, 3, 4>, Rank3<3, 4, 2>>::backward(
            &p,
            &x,
            &y,
            &(),
            &y,
            Some(&mut dx),
            &mut Permute,
            &mut Ctx::new(&mut []),
        );
        let expected: [f64; 24] = core::array::from_fn(|i| 1.0 + i as f64);
        assert_eq!(dx, expected);
        assert_eq!(<Permute<1, 2, 0> as Module<f32>>::PARAMS, 0);
    }

    #[test]
    fn transpose_works_on_a_batch_and_accumulates() {
        // Two samples of [2, 3].
        let x = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let mut y = [0.0f64; 12];
        Layer::<f64, Rank2<2, 3>, Rank2<3, 2>>::forward(&Transpose, &x, &mut y, &mut Ctx::new(&mut []));
        assert_eq!(y, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 7.0, 10.0, 8.0, 11.0, 9.0, 12.0]);
        let mut dx = [0.5f64; 12];
        Layer::<f64, Rank2<2, 3>, Rank2<3, 2>>::backward(
            &Transpose,
            &x,
            &y,
            &(),
            &y,
            Some(&mut dx),
            &mut Transpose,
            &mut Ctx::new(&mut []),
        );
        let expected: [f64; 12] = core::array::from_fn(|i| 0.5 + x[i]);
        assert_eq!(dx, expected);
    }
}
