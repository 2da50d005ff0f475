//! Work fused into a product: an [`Epilogue`] applied to each tile of `C` right after the
//! kernel stores it for the last time, while it is still in L1 (a dense layer's bias and
//! activation), and the row sums of `A` taken from its packed panels (a dense layer's
//! bias gradient, from the `dyᵀ` of the weight-gradient product). Each saves a pass over
//! a matrix in memory.

use super::{MatMut, MatRef};
use crate::{Scalar, ShapeError};

/// What happens to the finished values of `C`, a row of a tile at a time.
///
/// ```
/// use monograd_core::kernels::gemm::{gemm_fused, BiasAct, MatMut, MatRef};
/// let (x, w) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, 0.0, 0.0, -1.0]); // 2x2 each
/// let mut y = [0.0f32; 4];
/// let relu = |v: f32| v.max(0.0);
/// gemm_fused(
///     1.0,
///     MatRef::row_major(&x, 2, 2).unwrap(),
///     MatRef::row_major(&w, 2, 2).unwrap(),
///     0.0,
///     MatMut::row_major(&mut y, 2, 2).unwrap(),
///     &mut [0.0; 64],
///     &BiasAct::new(Some(&[0.5, 0.5][..]), relu),
///     None,
/// )
/// .unwrap();
/// assert_eq!(y, [1.5, 0.0, 3.5, 0.0]);
/// ```
pub trait Epilogue<T> {
    /// True only for [`Identity`]: the kernel then skips the epilogue's loops entirely.
    const IDENTITY: bool = false;
    /// The length of any vector the epilogue indexes by column, to check against `C`'s
    /// width (`None`: nothing to check).
    fn width(&self) -> Option<usize> {
        None
    }
    /// Transforms `row`, the finished values `C[i, j0..j0 + row.len()]`.
    fn row(&self, i: usize, j0: usize, row: &mut [T]);
}

/// No epilogue: the plain product.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl<T> Epilogue<T> for Identity {
    const IDENTITY: bool = true;
    #[inline(always)]
    fn row(&self, _: usize, _: usize, _: &mut [T]) {}
}

/// `C[i, j] = f(C[i, j] + bias[j])` (or `f(C[i, j])` without a bias): a dense layer's
/// bias and activation, with the batch along the rows of `C`.
#[derive(Clone, Copy, Debug)]
pub struct BiasAct<'a, T, F> {
    bias: Option<&'a [T]>,
    f: F,
}

impl<'a, T, F> BiasAct<'a, T, F> {
    /// A bias along the columns of `C` (as long as `C` is wide: [`gemm_fused`] checks)
    /// and the function applied after it.
    pub fn new(bias: Option<&'a [T]>, f: F) -> Self {
        Self { bias, f }
    }
}

impl<T: Scalar, F: Fn(T) -> T> Epilogue<T> for BiasAct<'_, T, F> {
    fn width(&self) -> Option<usize> {
        self.bias.map(<[T]>::len)
    }
    #[inline(always)]
    fn row(&self, _: usize, j0: usize, row: &mut [T]) {
        match self.bias {
            Some(bias) => {
                let bias = &bias[j0..j0 + row.len()];
                for (v, &b) in row.iter_mut().zip(bias) {
                    *v = (self.f)(*v + b);
                }
            }
            None => {
                for v in row.iter_mut() {
                    *v = (self.f)(*v);
                }
            }
        }
    }
}

/// `C = epilogue(alpha * A * B + beta * C)`, and `a_row_sums[i] += Σ_p A[i, p]` when given,
/// after checking that the shapes fit (a [`BiasAct`]'s bias must be as long as `C` is
/// wide).
///
/// The `f32` and `f64` kernels apply the epilogue to each tile of `C` right after its last
/// store and sum `A`'s rows from its packed panels, so neither reads a matrix from memory
/// again; other scalars run [`gemm_generic`](super::gemm_generic) and then both passes.
/// The row sums add `A[i, 0]`, `A[i, 1]`, ... in that order onto what `a_row_sums` holds,
/// so they equal a plain loop's to the bit.
#[allow(clippy::too_many_arguments)] // gemm's operands plus the two fused passes
pub fn gemm_fused<T: Scalar, E: Epilogue<T>>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
    epi: &E,
    a_row_sums: Option<&mut [T]>,
) -> Result<(), ShapeError> {
    if a.cols != b.rows || a.rows != c.rows || b.cols != c.cols {
        return Err(ShapeError::MatrixMismatch {
            what: "gemm_fused",
            dims: [(a.rows, a.cols), (b.rows, b.cols), (c.rows, c.cols)],
        });
    }
    if let Some(w) = epi.width().filter(|&w| w != c.cols) {
        return Err(ShapeError::Length { what: "gemm_fused epilogue", expected: c.cols, found: w });
    }
    if let Some(s) = &a_row_sums {
        if s.len() != a.rows {
            return Err(ShapeError::Length { what: "gemm_fused row sums", expected: a.rows, found: s.len() });
        }
    }
    T::gemm_fused(alpha, a, b, beta, c, pack, epi, a_row_sums);
    Ok(())
}

/// [`gemm_fused`] for scalars without a packed kernel: the product, then both passes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_fused_generic<T: Scalar, E: Epilogue<T>>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    epi: &E,
    a_row_sums: Option<&mut [T]>,
) {
    super::gemm_generic(alpha, a, b, beta, c.rb());
    epilogue_all(epi, &mut c);
    if let Some(sums) = a_row_sums {
        row_sums(&a, sums);
    }
}

/// The packed `f32` kernel with an epilogue and row sums, in the build [`isa`](super::isa)
/// names. Shapes are already checked (call [`gemm_fused`] instead).
#[allow(clippy::too_many_arguments)]
pub fn gemm_fused_f32<E: Epilogue<f32>>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
    epi: &E,
    a_row_sums: Option<&mut [f32]>,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    match super::isa() {
        // SAFETY: `isa` returns `Avx512` only when AVX-512F, AVX2 and FMA were found.
        super::Isa::Avx512 => {
            return unsafe { super::avx512::gemm_f32_fused(alpha, a, b, beta, c, pack, epi, a_row_sums) }
        }
        super::Isa::Avx2Fma => {
            // SAFETY: `isa` returns `Avx2Fma` only when AVX2 and FMA were found.
            return unsafe {
                super::avx2::gemm_avx2_fma_fused::<f32, { super::avx2::TILE_F32.0 }, { super::avx2::TILE_F32.1 }, E>(
                    alpha, a, b, beta, c, pack, epi, a_row_sums,
                )
            };
        }
        _ => {}
    }
    // The same build as the unfused product, so fusing never changes a result's bits.
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    if super::isa() == super::Isa::Neon {
        use super::neon::{Neon, TILE_F32};
        return super::packed::gemm_packed_fused::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Neon, E>(
            alpha, a, b, beta, c, pack, epi, a_row_sums,
        );
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if super::isa() == super::Isa::Simd128 {
        use super::simd128::{Simd128, TILE_F32};
        return super::packed::gemm_packed_fused::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Simd128, E>(
            alpha, a, b, beta, c, pack, epi, a_row_sums,
        );
    }
    use super::portable::{Separate, TILE_F32};
    super::packed::gemm_packed_fused::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Separate, E>(
        alpha, a, b, beta, c, pack, epi, a_row_sums,
    );
}

/// The packed `f64` kernel with an epilogue and row sums (AVX2+FMA at best, as
/// [`gemm_packed_f64`](super::gemm_packed_f64)).
#[allow(clippy::too_many_arguments)]
pub fn gemm_fused_f64<E: Epilogue<f64>>(
    alpha: f64,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    beta: f64,
    c: MatMut<'_, f64>,
    pack: &mut [f64],
    epi: &E,
    a_row_sums: Option<&mut [f64]>,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if matches!(super::isa(), super::Isa::Avx512 | super::Isa::Avx2Fma) {
        // SAFETY: `isa` returns either only when AVX2 and FMA were found.
        return unsafe {
            super::avx2::gemm_avx2_fma_fused::<f64, { super::avx2::TILE_F64.0 }, { super::avx2::TILE_F64.1 }, E>(
                alpha, a, b, beta, c, pack, epi, a_row_sums,
            )
        };
    }
    // The same build as the unfused product, so fusing never changes a result's bits.
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    if super::isa() == super::Isa::Neon {
        use super::neon::{Neon, TILE_F64};
        return super::packed::gemm_packed_fused::<f64, { TILE_F64.0 }, { TILE_F64.1 }, Neon, E>(
            alpha, a, b, beta, c, pack, epi, a_row_sums,
        );
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if super::isa() == super::Isa::Simd128 {
        use super::simd128::{Simd128, TILE_F64};
        return super::packed::gemm_packed_fused::<f64, { TILE_F64.0 }, { TILE_F64.1 }, Simd128, E>(
            alpha, a, b, beta, c, pack, epi, a_row_sums,
        );
    }
    use super::portable::{Separate, TILE_F64};
    super::packed::gemm_packed_fused::<f64, { TILE_F64.0 }, { TILE_F64.1 }, Separate, E>(
        alpha, a, b, beta, c, pack, epi, a_row_sums,
    );
}

/// `sums[i] += Σ_p A[i, p]`, `p` in order.
pub(super) fn row_sums<T: Scalar>(a: &MatRef<'_, T>, sums: &mut [T]) {
    for (i, s) in sums.iter_mut().enumerate() {
        for p in 0..a.cols() {
            *s += a.data()[i * a.row_stride() + p * a.col_stride()];
        }
    }
}

/// The epilogue over the whole of `C`, one element at a time where its rows are strided.
pub(super) fn epilogue_all<T: Scalar, E: Epilogue<T>>(epi: &E, c: &mut MatMut<'_, T>) {
    if E::IDENTITY {
        return;
    }
    let (rows, cols, rs, cs) = (c.rows(), c.cols(), c.row_stride(), c.col_stride());
    let data = c.data_mut();
    for i in 0..rows {
        if cs == 1 {
            epi.row(i, 0, &mut data[i * rs..][..cols]);
        } else {
            for j in 0..cols {
                let at = i * rs + j * cs;
                let mut v = [data[at]];
                epi.row(i, j, &mut v);
                data[at] = v[0];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::super::packed::gemm_packed_fused;
    use super::super::portable::Separate;
    use super::*;
    use crate::rng::Rng;

    /// A build of the fused kernel: the loop nest with an epilogue and row sums.
    type Fused<'e, E> =
        fn(f32, MatRef<'_, f32>, MatRef<'_, f32>, f32, MatMut<'_, f32>, &mut [f32], &E, Option<&mut [f32]>);

    fn builds<'e, E: Epilogue<f32>>() -> Vec<(&'static str, Fused<'e, E>)> {
        // Only targets with a build of their own push to it.
        #[allow(unused_mut)]
        let mut v: Vec<(&'static str, Fused<'e, E>)> =
            vec![("portable 4x8", gemm_packed_fused::<f32, 4, 8, Separate, E>)];
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        {
            use super::super::neon::{Neon, TILE_F32};
            v.push(("neon", gemm_packed_fused::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Neon, E>));
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            use super::super::simd128::{Simd128, TILE_F32};
            v.push(("simd128", gemm_packed_fused::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Simd128, E>));
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if super::super::dispatch::available(super::super::Isa::Avx2Fma) {
                v.push(("avx2", |al, a, b, be, c, p, e, s| {
                    // SAFETY: AVX2 and FMA were found just above.
                    unsafe { super::super::avx2::gemm_avx2_fma_fused::<f32, 6, 16, E>(al, a, b, be, c, p, e, s) }
                }));
            }
            if super::super::dispatch::available(super::super::Isa::Avx512) {
                v.push(("avx512", |al, a, b, be, c, p, e, s| {
                    // SAFETY: AVX-512F, AVX2 and FMA were found just above.
                    unsafe { super::super::avx512::gemm_f32_fused(al, a, b, be, c, p, e, s) }
                }));
            }
        }
        v
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::seed(seed);
        (0..n).map(|_| r.uniform(-1.0, 1.0) as f32).collect()
    }

    /// Each build, with every packing length (unpacked, small blocks, full), blocks that
    /// split `k`, `m` and `n`, and a column-major `C`: the fused epilogue equals the plain
    /// product followed by the pass, and the row sums equal a loop's, to the bit.
    #[test]
    fn the_fused_passes_equal_the_separate_ones_to_the_bit() {
        let relu = |v: f32| if v > 0.0 { v } else { 0.0 };
        for &(m, n, k) in &[
            (64, 256, 784),
            (64, 10, 128),
            (256, 784, 64),
            (10, 128, 64),
            (1, 33, 40),
            (3, 2, 5),
            (200, 70, 600),
            (16, 40, 30),
            (40, 64, 9),
        ] {
            let (a, b, bias) = (values(m * k, 1), values(k * n, 2), values(n, 3));
            for pack_len in [0, 700, 9000, super::super::PACK_LEN] {
                let mut pack = vec![0.0f32; pack_len];
                for (name, fused) in builds::<BiasAct<'_, f32, _>>() {
                    for col_major in [false, true] {
                        let (rs, cs) = if col_major { (1, m) } else { (n, 1) };
                        let av = MatRef::row_major(&a, m, k).unwrap();
                        let bv = MatRef::row_major(&b, k, n).unwrap();
                        // Plain product (Identity), then the pass by hand.
                        let mut want = vec![f32::NAN; m * n];
                        let mut got = vec![f32::NAN; m * n];
                        let plain: Fused<'_, Identity> =
                            builds::<Identity>().into_iter().find(|(n2, _)| *n2 == name).unwrap().1;
                        plain(
                            1.0,
                            av,
                            bv,
                            0.0,
                            MatMut::new(&mut want, m, n, rs, cs).unwrap(),
                            &mut pack,
                            &Identity,
                            None,
                        );
                        // The plain product itself against the reference loop (in f64).
                        for i in 0..m {
                            for j in 0..n {
                                let exact: f64 = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
                                let got = want[i * rs + j * cs] as f64;
                                assert!((got - exact).abs() < 1e-4 * (1.0 + exact.abs()), "{name} {m}x{n}x{k}");
                            }
                        }
                        for i in 0..m {
                            for j in 0..n {
                                let w = &mut want[i * rs + j * cs];
                                *w = relu(*w + bias[j]);
                            }
                        }
                        let mut sums = vec![0.5f32; m];
                        let epi = BiasAct::new(Some(&bias[..]), relu);
                        fused(
                            1.0,
                            av,
                            bv,
                            0.0,
                            MatMut::new(&mut got, m, n, rs, cs).unwrap(),
                            &mut pack,
                            &epi,
                            Some(&mut sums),
                        );
                        assert!(
                            want.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()),
                            "{name} {m}x{n}x{k} pack {pack_len} col-major {col_major}: the epilogue differs"
                        );
                        let mut loop_sums = vec![0.5f32; m];
                        for (i, s) in loop_sums.iter_mut().enumerate() {
                            for p in 0..k {
                                *s += a[i * k + p];
                            }
                        }
                        assert_eq!(sums, loop_sums, "{name} {m}x{n}x{k} pack {pack_len}: the row sums differ");
                    }
                }
            }
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let (a, b) = ([1.0f64; 6], [1.0f64; 6]);
        let mut c = [0.0f64; 4];
        let av = MatRef::row_major(&a, 2, 3).unwrap();
        let bv = MatRef::row_major(&b, 3, 2).unwrap();
        let epi = BiasAct::new(Some(&[1.0f64; 3][..]), |v| v);
        let e = gemm_fused(1.0, av, bv, 0.0, MatMut::row_major(&mut c, 2, 2).unwrap(), &mut [], &epi, None);
        assert!(e.is_err());
        let mut sums = [0.0f64; 3];
        let e =
            gemm_fused(1.0, av, bv, 0.0, MatMut::row_major(&mut c, 2, 2).unwrap(), &mut [], &Identity, Some(&mut sums));
        assert!(e.is_err());
        let mut sums = [0.0f64; 2];
        let epi = BiasAct::new(Some(&[1.0f64; 2][..]), |v| v);
        gemm_fused(1.0, av, bv, 0.0, MatMut::row_major(&mut c, 2, 2).unwrap(), &mut [], &epi, Some(&mut sums)).unwrap();
        assert_eq!((c, sums), ([4.0; 4], [3.0; 2]));
    }
}
