//! The packed kernel's builds against `matrixmultiply`, the generic loop and an f64 sum.

extern crate std;

use std::vec;
use std::vec::Vec;

use super::blocking;
use super::packed::{gemm_packed, Blocks, Float};
use super::portable::{Separate, TILE_F32, TILE_F64};
use super::*;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::{avx2, avx512, dispatch, packed::transpose};
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
use super::{
    neon::{self, FusedPortable, Neon},
    packed::dots,
};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::{
    packed::dots,
    simd128::{self, Simd128},
};

/// A kernel under test: the signature of [`gemm_packed_f32`].
type Kernel<T> = fn(T, MatRef<'_, T>, MatRef<'_, T>, T, MatMut<'_, T>, &mut [T]);

/// The AVX2+FMA `f32` build; listed only where the CPU has AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn avx2_f32(alpha: f32, a: MatRef<'_, f32>, b: MatRef<'_, f32>, beta: f32, c: MatMut<'_, f32>, pack: &mut [f32]) {
    assert!(dispatch::available(Isa::Avx2Fma));
    // SAFETY: the CPU has AVX2 and FMA, checked just above.
    unsafe { avx2::gemm_avx2_fma::<f32, { avx2::TILE_F32.0 }, { avx2::TILE_F32.1 }>(alpha, a, b, beta, c, pack) }
}

/// The AVX2+FMA `f64` build.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn avx2_f64(alpha: f64, a: MatRef<'_, f64>, b: MatRef<'_, f64>, beta: f64, c: MatMut<'_, f64>, pack: &mut [f64]) {
    assert!(dispatch::available(Isa::Avx2Fma));
    // SAFETY: the CPU has AVX2 and FMA, checked just above.
    unsafe { avx2::gemm_avx2_fma::<f64, { avx2::TILE_F64.0 }, { avx2::TILE_F64.1 }>(alpha, a, b, beta, c, pack) }
}

/// The AVX-512 `f32` build with an `MR x NR` tile; listed only where the CPU has AVX-512F.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn avx512_f32<const MR: usize, const NR: usize>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    assert!(dispatch::available(Isa::Avx512));
    // SAFETY: the CPU has AVX-512F, AVX2 and FMA, checked just above.
    unsafe { avx512::gemm_f32_tile::<MR, NR>(alpha, a, b, beta, c, pack) }
}

/// [`avx512_f32`] with `A` always packed into panels, never read in place.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn avx512_f32_packed_a<const MR: usize, const NR: usize>(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    assert!(dispatch::available(Isa::Avx512));
    // SAFETY: the CPU has AVX-512F, AVX2 and FMA, checked just above.
    unsafe { avx512::gemm_f32_tile_packed_a::<MR, NR>(alpha, a, b, beta, c, pack) }
}

/// What the tests need per float type: the builds to check and the reference.
trait TestFloat: Float + Into<f64> {
    const EPS: f64;
    /// Every build of the packed kernel reachable on this machine, by name.
    fn kernels() -> Vec<(&'static str, Kernel<Self>)>;
    /// `matrixmultiply`'s `sgemm`/`dgemm` on the same views.
    fn reference(alpha: Self, a: MatRef<'_, Self>, b: MatRef<'_, Self>, beta: Self, c: MatMut<'_, Self>);
}

impl TestFloat for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    fn kernels() -> Vec<(&'static str, Kernel<Self>)> {
        #[allow(unused_mut)] // no other builds without std on x86_64
        let mut kernels: Vec<(&'static str, Kernel<Self>)> = vec![
            ("dispatched", gemm_packed_f32),
            ("portable", gemm_packed::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Separate>),
            ("portable 4x4", gemm_packed::<f32, 4, 4, Separate>),
            ("odd 3x5", gemm_packed::<f32, 3, 5, Separate>),
        ];
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if dispatch::available(Isa::Avx2Fma) {
                kernels.push(("avx2 6x16", avx2_f32));
            }
            if dispatch::available(Isa::Avx512) {
                kernels.push(("avx512 12x32", avx512_f32::<12, 32>));
                kernels.push(("avx512 7x16", avx512_f32::<7, 16>));
                kernels.push(("avx512 8x48", avx512_f32::<8, 48>));
                kernels.push(("avx512 14x32", avx512_f32::<14, 32>));
                kernels.push(("avx512 odd 5x20", avx512_f32::<5, 20>));
                kernels.push(("avx512 8x32", avx512_f32::<8, 32>));
                kernels.push(("avx512 8x16", avx512_f32::<8, 16>));
                kernels.push(("avx512 12x16", avx512_f32::<12, 16>));
                kernels.push(("avx512 12x32 packed A", avx512_f32_packed_a::<12, 32>));
            }
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        kernels.extend([
            ("neon 8x12", neon::gemm_f32_tile::<8, 12> as Kernel<f32>),
            ("neon 4x4", neon::gemm_f32_tile::<4, 4>),
            ("neon 5x8", neon::gemm_f32_tile::<5, 8>),
            ("neon 13x16", neon::gemm_f32_tile::<13, 16>),
            ("neon odd 3x5", neon::gemm_f32_tile::<3, 5>),
        ]);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        kernels.extend([
            ("simd128 4x8", simd128::gemm_tile::<f32, 4, 8> as Kernel<f32>),
            ("simd128 3x12", simd128::gemm_tile::<f32, 3, 12>),
            ("simd128 6x16", simd128::gemm_tile::<f32, 6, 16>),
            ("simd128 odd 3x5", simd128::gemm_tile::<f32, 3, 5>),
        ]);
        kernels
    }
    fn reference(alpha: f32, a: MatRef<'_, f32>, b: MatRef<'_, f32>, beta: f32, c: MatMut<'_, f32>) {
        // SAFETY: each view's span lies in its slice (checked when it was built), and
        // matrixmultiply reads and writes only inside those spans.
        unsafe {
            matrixmultiply::sgemm(
                c.rows,
                a.cols,
                c.cols,
                alpha,
                a.data.as_ptr(),
                a.rs as isize,
                a.cs as isize,
                b.data.as_ptr(),
                b.rs as isize,
                b.cs as isize,
                beta,
                c.data.as_mut_ptr(),
                c.rs as isize,
                c.cs as isize,
            )
        }
    }
}

impl TestFloat for f64 {
    const EPS: f64 = f64::EPSILON;
    fn kernels() -> Vec<(&'static str, Kernel<Self>)> {
        #[allow(unused_mut)] // no other builds without std on x86_64
        let mut kernels: Vec<(&'static str, Kernel<Self>)> = vec![
            ("dispatched", gemm_packed_f64),
            ("portable", gemm_packed::<f64, { TILE_F64.0 }, { TILE_F64.1 }, Separate>),
            ("odd 5x3", gemm_packed::<f64, 5, 3, Separate>),
        ];
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if dispatch::available(Isa::Avx2Fma) {
            kernels.push(("avx2 4x8", avx2_f64));
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        kernels.extend([
            ("neon 6x8", neon::gemm_f64_tile::<6, 8> as Kernel<f64>),
            ("neon 3x2", neon::gemm_f64_tile::<3, 2>),
            ("neon 7x6", neon::gemm_f64_tile::<7, 6>),
            ("neon odd 5x3", neon::gemm_f64_tile::<5, 3>),
        ]);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        kernels.extend([
            ("simd128 4x4", simd128::gemm_tile::<f64, 4, 4> as Kernel<f64>),
            ("simd128 5x6", simd128::gemm_tile::<f64, 5, 6>),
            ("simd128 odd 5x3", simd128::gemm_tile::<f64, 5, 3>),
        ]);
        kernels
    }
    fn reference(alpha: f64, a: MatRef<'_, f64>, b: MatRef<'_, f64>, beta: f64, c: MatMut<'_, f64>) {
        // SAFETY: as for sgemm above.
        unsafe {
            matrixmultiply::dgemm(
                c.rows,
                a.cols,
                c.cols,
                alpha,
                a.data.as_ptr(),
                a.rs as isize,
                a.cs as isize,
                b.data.as_ptr(),
                b.rs as isize,
                b.cs as isize,
                beta,
                c.data.as_mut_ptr(),
                c.rs as isize,
                c.cs as isize,
            )
        }
    }
}

/// xorshift64*: reproducible values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// A matrix in memory: row- or column-major, rows (or columns) `pad` elements apart
/// beyond their length, the gaps filled with NaN so that reading them shows.
struct Stored<T> {
    data: Vec<T>,
    rows: usize,
    cols: usize,
    col_major: bool,
    pad: usize,
}

impl<T: TestFloat> Stored<T> {
    fn new(rows: usize, cols: usize, col_major: bool, pad: usize, rng: &mut Rng) -> Self {
        let mut s = Self { data: Vec::new(), rows, cols, col_major, pad };
        let (rs, cs) = s.strides();
        let len = if rows == 0 || cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 };
        s.data = vec![T::from_f64(f64::NAN); len];
        for i in 0..rows {
            for j in 0..cols {
                s.data[i * rs + j * cs] = T::from_f64(rng.next());
            }
        }
        s
    }
    fn strides(&self) -> (usize, usize) {
        if self.col_major {
            (1, self.rows + self.pad)
        } else {
            (self.cols + self.pad, 1)
        }
    }
    /// The view; a column-major matrix is built as the transpose of a row-major one
    /// so that [`MatRef::t`] is exercised.
    fn view(&self) -> MatRef<'_, T> {
        if self.col_major {
            MatRef::new(&self.data, self.cols, self.rows, self.rows + self.pad, 1).unwrap().t()
        } else {
            MatRef::new(&self.data, self.rows, self.cols, self.cols + self.pad, 1).unwrap()
        }
    }
    fn view_mut(&mut self) -> MatMut<'_, T> {
        let (rs, cs) = self.strides();
        MatMut::new(&mut self.data, self.rows, self.cols, rs, cs).unwrap()
    }
    fn at(&self, i: usize, j: usize) -> T {
        let (rs, cs) = self.strides();
        self.data[i * rs + j * cs]
    }
    /// Whether `idx` indexes a padding element.
    fn is_gap(&self, idx: usize) -> bool {
        let (rs, cs) = self.strides();
        if self.col_major {
            idx % cs >= self.rows
        } else {
            idx % rs >= self.cols
        }
    }
}

/// One product to check: operand layouts, scalars and packing memory.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
    c_t: bool,
    pad: usize,
    alpha: f64,
    beta: f64,
    pack: usize,
}

impl Case {
    fn new(m: usize, n: usize, k: usize) -> Self {
        Self { m, n, k, a_t: false, b_t: false, c_t: false, pad: 0, alpha: 1.0, beta: 0.0, pack: PACK_LEN }
    }
}

/// Runs `case` through every kernel build, `gemm_generic` and matrixmultiply, and
/// checks them against each other and against an exact-ish f64 sum with a bound on
/// the rounding error that holds for any summation order.
fn check<T: TestFloat>(case: Case, c_init_nan: bool, seed: u64) {
    let Case { m, n, k, a_t, b_t, c_t, pad, alpha, beta, pack } = case;
    let mut rng = Rng(seed | 1);
    let a = Stored::<T>::new(m, k, a_t, pad, &mut rng);
    let b = Stored::<T>::new(k, n, b_t, pad, &mut rng);
    let mut c0 = Stored::<T>::new(m, n, c_t, pad, &mut rng);
    if c_init_nan {
        let (rs, cs) = c0.strides();
        for i in 0..m {
            for j in 0..n {
                c0.data[i * rs + j * cs] = T::from_f64(f64::NAN);
            }
        }
    }
    let (alpha_t, beta_t) = (T::from_f64(alpha), T::from_f64(beta));

    // Each result with its name.
    let mut results: Vec<(&str, Vec<T>)> = Vec::new();
    let mut run = |name: &'static str, f: &mut dyn FnMut(MatMut<'_, T>)| {
        let mut c = Stored { data: c0.data.clone(), ..c0 };
        f(c.view_mut());
        results.push((name, c.data));
    };
    // Odd seeds start the packing memory one element in, off any alignment.
    let mut mem = vec![T::ZERO; pack + 1];
    let mem = &mut mem[(seed % 2) as usize..][..pack];
    run("gemm", &mut |c| gemm(alpha_t, a.view(), b.view(), beta_t, c, mem).unwrap());
    for (name, kernel) in T::kernels() {
        run(name, &mut |c| kernel(alpha_t, a.view(), b.view(), beta_t, c, mem));
    }
    run("generic", &mut |c| gemm_generic(alpha_t, a.view(), b.view(), beta_t, c));
    run("matrixmultiply", &mut |c| T::reference(alpha_t, a.view(), b.view(), beta_t, c));

    // The sum in f64, and a bound on the rounding error of any summation order.
    let mut expected = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut size) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = a.at(i, p).into() * b.at(p, j).into();
                exact += t;
                size += t.abs();
            }
            let old: f64 = c0.at(i, j).into();
            let (want, bound) = if beta == 0.0 {
                (alpha * exact, alpha.abs() * size)
            } else {
                (alpha * exact + beta * old, alpha.abs() * size + (beta * old).abs())
            };
            expected.push((i, j, want, 2.0 * (k as f64 + 3.0) * T::EPS * bound + 1e-30));
        }
    }
    let (rs, cs) = c0.strides();
    for (name, got) in &results {
        for (idx, &g) in got.iter().enumerate() {
            if c0.is_gap(idx) {
                assert!(g.into().is_nan(), "{name} {case:?}: wrote into the gap at {idx}");
            }
        }
        for &(i, j, want, tol) in &expected {
            let g: f64 = got[i * rs + j * cs].into();
            assert!((g - want).abs() <= tol, "{name} {case:?} at ({i}, {j}): got {g}, want {want} (tol {tol})");
        }
    }
}

/// Every shape in `shapes` under every transpose combination and C layout.
fn check_layouts<T: TestFloat>(shapes: &[(usize, usize, usize)], base: Case) {
    for (s, &(m, n, k)) in shapes.iter().enumerate() {
        for layout in 0..8 {
            let case = Case {
                m,
                n,
                k,
                a_t: layout & 1 != 0,
                b_t: layout & 2 != 0,
                c_t: layout & 4 != 0,
                pad: layout % 3,
                ..base
            };
            check::<T>(case, false, (s * 8 + layout) as u64 + 1);
        }
    }
}

const SHAPES: &[(usize, usize, usize)] = &[
    (0, 0, 0),
    (0, 5, 3),
    (5, 0, 3),
    (5, 3, 0),
    (1, 1, 1),
    (1, 1, 300),
    (1, 7, 5),
    (7, 1, 5),
    (1, 70, 33),
    (70, 1, 33),
    (2, 3, 4),
    (5, 7, 9),
    (6, 16, 1),
    (13, 17, 19),
    (3, 50, 70),
    (50, 2, 70),
    (16, 16, 16),
    (33, 65, 31),
    (97, 101, 103),
];

#[test]
fn f32_matches_matrixmultiply_over_shapes_and_layouts() {
    check_layouts::<f32>(SHAPES, Case { alpha: 1.5, beta: 0.5, ..Case::new(0, 0, 0) });
}

#[test]
fn f64_matches_matrixmultiply_over_shapes_and_layouts() {
    check_layouts::<f64>(SHAPES, Case { alpha: -0.75, beta: 2.0, ..Case::new(0, 0, 0) });
}

#[test]
fn large_shapes_with_several_blocks_in_k_and_m() {
    // k > KC splits into passes over k; m > MC into several A blocks.
    for (i, &(m, n, k)) in [(300, 7, 300), (7, 300, 300), (257, 130, 290), (300, 40, 260)].iter().enumerate() {
        check::<f32>(Case { beta: 1.0, ..Case::new(m, n, k) }, false, i as u64 + 1);
    }
    check::<f64>(Case { a_t: true, c_t: true, beta: 0.5, ..Case::new(200, 150, 280) }, false, 7);
}

#[test]
fn alpha_and_beta_combinations() {
    for (s, &(m, n, k)) in [(9, 11, 13), (1, 9, 40), (20, 1, 7), (37, 41, 43)].iter().enumerate() {
        for alpha in [1.0, 0.0, -2.5] {
            for beta in [0.0, 1.0, 0.75, -1.0] {
                for pack in [0, PACK_LEN] {
                    let case = Case { alpha, beta, pack, b_t: s % 2 == 1, ..Case::new(m, n, k) };
                    check::<f32>(case, false, s as u64 + 10);
                    check::<f64>(case, false, s as u64 + 20);
                }
            }
        }
    }
}

#[test]
fn any_packing_length_works() {
    // 0 and tiny lengths run unpacked; the others force small blocks, and so several
    // blocks along every dimension.
    for pack in [0, 1, 7, 23, 24, 25, 40, 100, 333, 4097, PACK_LEN - 1] {
        for (s, &(m, n, k)) in [(2, 2, 2), (19, 23, 29), (37, 45, 53), (3, 40, 5)].iter().enumerate() {
            for layout in 0..4 {
                let case = Case { pack, beta: 0.5, a_t: layout & 1 != 0, b_t: layout & 2 != 0, ..Case::new(m, n, k) };
                check::<f32>(case, false, (s * 4 + layout) as u64 + 1);
                check::<f64>(case, false, (s * 4 + layout) as u64 + 100);
            }
        }
    }
}

#[test]
fn unpacked_paths_cover_every_stride_order() {
    // With no packing memory, the layouts pick the dot, row-axpy, column-axpy and
    // strided loops in turn.
    check_layouts::<f32>(&[(1, 1, 1), (4, 5, 6), (17, 3, 40), (3, 17, 40)], Case { pack: 0, ..Case::new(0, 0, 0) });
    check_layouts::<f64>(&[(4, 5, 6), (17, 3, 40)], Case { pack: 0, beta: 1.0, ..Case::new(0, 0, 0) });
}

#[test]
fn beta_zero_overwrites_nan_in_c() {
    for pack in [0, 10, PACK_LEN] {
        for &(m, n, k) in &[(1, 1, 1), (1, 9, 5), (9, 1, 5), (13, 17, 19), (40, 40, 0), (70, 33, 300)] {
            for layout in 0..4 {
                let case = Case { pack, a_t: layout & 1 != 0, c_t: layout & 2 != 0, ..Case::new(m, n, k) };
                check::<f32>(case, true, 3);
                check::<f64>(case, true, 4);
            }
        }
    }
}

#[test]
fn shape_mismatch_is_an_error() {
    let (a, b) = ([0.0f32; 6], [0.0f32; 6]);
    let mut c = [0.0f32; 4];
    let r = gemm(
        1.0,
        MatRef::row_major(&a, 2, 3).unwrap(),
        MatRef::row_major(&b, 2, 3).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        &mut [],
    );
    assert_eq!(r, Err(ShapeError::MatrixMismatch { what: "gemm", dims: [(2, 3), (2, 3), (2, 2)] }));
}

#[test]
fn blocks_fit_the_memory_and_whole_panels() {
    for len in [0, 1, 23, 24, 25, 100, 1000, 5000, 70_000, PACK_LEN] {
        for &(m, n, k) in &[(1, 1, 1), (7, 9, 3), (100, 2000, 700), (5000, 5000, 5000)] {
            match Blocks::fit::<6, 16>(m, n, k, len, blocking::target::<f32, 6, 16>()) {
                None => assert!(len < 22 || k == 0, "{len} {m} {n} {k}"),
                Some(Blocks { kc, mc, nc }) => {
                    assert!(kc * (mc + nc) <= len && kc >= 1 && kc <= KC.min(k));
                    assert!(mc % 6 == 0 && nc % 16 == 0 && mc >= 6 && nc >= 16);
                    assert!(mc <= MC.max(6) && nc <= NC);
                    let t = blocking::target::<f32, 6, 16>();
                    assert!(kc <= t.kc && mc <= t.mc && nc <= t.nc);
                }
            }
        }
    }
}

/// The AVX2 dot products and transposes (the kernel's only `unsafe` calls besides the
/// dispatch) against the portable loops, over lengths around every vector width.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[test]
fn avx2_dots_and_transposes_match_the_portable_loops() {
    if !dispatch::available(Isa::Avx2Fma) {
        return;
    }
    let mut rng = Rng(7);
    for k in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 33, 100, 784] {
        let x: Vec<f64> = (0..k).map(|_| rng.next()).collect();
        let ys: Vec<Vec<f64>> = (0..4).map(|_| (0..k).map(|_| rng.next()).collect()).collect();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let ys32: Vec<Vec<f32>> = ys.iter().map(|y| y.iter().map(|&v| v as f32).collect()).collect();
        for (s, y) in ys.iter().enumerate() {
            let exact: f64 = x32.iter().zip(&ys32[s]).map(|(&a, &b)| a as f64 * b as f64).sum();
            let size: f64 = x.iter().zip(y).map(|(a, b)| (a * b).abs()).sum();
            // SAFETY: the CPU has AVX2 and FMA, checked above.
            let four = unsafe { avx2::dots_f32::<4>(&x32, [&ys32[0], &ys32[1], &ys32[2], &ys32[3]]) };
            // SAFETY: as above.
            let [one] = unsafe { avx2::dots_f32::<1>(&x32, [&ys32[s]]) };
            let tol = 2.0 * (k as f64 + 3.0) * f32::EPSILON as f64 * size + 1e-30;
            assert!((four[s] as f64 - exact).abs() <= tol, "f32 k={k} column {s}");
            assert_eq!(one.to_bits(), four[s].to_bits(), "f32 k={k}: one column or four, the same sums");
            // SAFETY: as above.
            let four = unsafe { avx2::dots_f64::<4>(&x, [&ys[0], &ys[1], &ys[2], &ys[3]]) };
            let exact: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
            let tol = 2.0 * (k as f64 + 3.0) * f64::EPSILON * size + 1e-300;
            assert!((four[s] - exact).abs() <= tol, "f64 k={k} column {s}");
        }
    }
    fn both<const R: usize>(rng: &mut Rng) {
        for kc in [0, 1, 7, 8, 9, 16, 25, 64, 100] {
            let rows: Vec<Vec<f32>> = (0..R).map(|_| (0..kc).map(|_| rng.next() as f32).collect()).collect();
            let rows: [&[f32]; R] = core::array::from_fn(|i| &rows[i][..]);
            for r in 0..=R {
                let (mut want, mut got) = (vec![[f32::NAN; R]; kc], vec![[f32::NAN; R]; kc]);
                transpose(&rows, r, &mut want);
                // SAFETY: the CPU has AVX2 and FMA, checked by the caller.
                unsafe { avx2::transpose_f32(&rows, r, &mut got) };
                let bits = |v: &[[f32; R]]| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "R={R} r={r} kc={kc}");
                assert!(want.iter().all(|row| row[r..].iter().all(|&v| v == 0.0)));
            }
        }
    }
    both::<6>(&mut rng);
    both::<16>(&mut rng);
    both::<3>(&mut rng);
    both::<8>(&mut rng);
}

/// The AVX-512 transpose (16x16 blocks for full panels of 16 or 32 rows, the AVX2 one
/// for the others) against the portable loop, bit for bit.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[test]
fn avx512_transposes_match_the_portable_loop() {
    if !dispatch::available(Isa::Avx512) {
        return;
    }
    fn both<const R: usize>(rng: &mut Rng) {
        for kc in [0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 196] {
            let rows: Vec<Vec<f32>> = (0..R).map(|_| (0..kc + 3).map(|_| rng.next() as f32).collect()).collect();
            let rows: [&[f32]; R] = core::array::from_fn(|i| &rows[i][..]);
            for r in [0, 1, R / 2, R - 1, R] {
                let (mut want, mut got) = (vec![[f32::NAN; R]; kc], vec![[f32::NAN; R]; kc]);
                transpose(&rows, r, &mut want);
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA, checked by the caller.
                unsafe { avx512::transpose_f32(&rows, r, &mut got) };
                let bits = |v: &[[f32; R]]| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "R={R} r={r} kc={kc}");
            }
        }
    }
    let mut rng = Rng(11);
    both::<16>(&mut rng);
    both::<32>(&mut rng);
    both::<48>(&mut rng);
    both::<12>(&mut rng);
    both::<8>(&mut rng);
}

#[test]
fn pack_len_gives_the_full_speed_blocks() {
    let skip = ALIGN_SLACK - 1; // the worst-case alignment skip for f32
    for &(m, n, k) in &[(1, 1, 1), (32, 128, 784), (64, 256, 784), (5, 3000, 70), (2000, 2000, 2000)] {
        assert!(pack_len(m, n, k) <= PACK_LEN);
        let full = Blocks::fit::<6, 16>(m, n, k, PACK_LEN - skip, blocking::target::<f32, 6, 16>());
        assert_eq!(
            Blocks::fit::<6, 16>(m, n, k, pack_len(m, n, k) - skip, blocking::target::<f32, 6, 16>()),
            full,
            "{m} {n} {k}"
        );
        let full = Blocks::fit::<4, 8>(m, n, k, PACK_LEN - skip, blocking::target::<f32, 4, 8>());
        assert_eq!(
            Blocks::fit::<4, 8>(m, n, k, pack_len(m, n, k) - skip, blocking::target::<f32, 4, 8>()),
            full,
            "{m} {n} {k}"
        );
    }
}

/// Every tile edge of the AVX-512 build (and of the others `check` runs): `m` from 1 to 25
/// (two 12-row tiles and a row, so every height of the AVX-512 build's 4- and 8-row edge
/// loops; three 8-row NEON tiles and a row), `n` around every multiple of 16 up to 65 and
/// of the 8 and 12 columns of the simd128 and NEON tiles, `k` short, with every remainder
/// of the microkernels' unrolling by 4, with C row-major (masked stores) and column-major
/// (the array store), overwritten and accumulated into.
#[test]
fn every_tile_edge() {
    let mut seed = 1;
    for m in 1..=25 {
        for n in [1, 2, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33, 35, 36, 37, 47, 48, 49, 63, 64, 65] {
            for k in [1, 3, 4, 6, 9] {
                seed += 1;
                let (beta, c_t) = [(0.0, false), (0.5, false), (1.0, true), (0.0, true)][seed % 4];
                let case = Case { beta, c_t, alpha: -1.25, pad: seed % 3, ..Case::new(m, n, k) };
                check::<f32>(case, beta == 0.0 && seed % 8 == 0, seed as u64);
            }
        }
    }
}

/// The `f64` tile edges: `m` around the 4 and 6 rows and `n` around the 4 and 8 columns
/// of the `f64` tiles.
#[test]
fn every_f64_tile_edge() {
    let mut seed = 1;
    for m in 1..=13 {
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17] {
            for k in [1, 5] {
                seed += 1;
                let (beta, c_t) = [(0.0, false), (0.5, false), (1.0, true), (0.0, true)][seed % 4];
                let case = Case { beta, c_t, alpha: 0.75, pad: seed % 3, ..Case::new(m, n, k) };
                check::<f64>(case, beta == 0.0 && seed % 8 == 0, seed as u64);
            }
        }
    }
}

/// The AVX-512 build reads a row-major `A` in place ([`MulAdd::DIRECT_A`]) with the same
/// multiply-adds in the same order as from packed panels: the same bits, for every tile
/// the build runs, every edge of its 4-, 8- and 12-row loops, several blocks along `k`
/// and `m`, short packing memory, strided rows, and `C` either way round.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[test]
fn avx512_reads_a_in_place_to_the_same_bits() {
    if !dispatch::available(Isa::Avx512) {
        return;
    }
    let kernels: [(&str, Kernel<f32>, Kernel<f32>); 4] = [
        ("12x32", avx512_f32::<12, 32>, avx512_f32_packed_a::<12, 32>),
        ("8x32", avx512_f32::<8, 32>, avx512_f32_packed_a::<8, 32>),
        ("8x16", avx512_f32::<8, 16>, avx512_f32_packed_a::<8, 16>),
        ("12x16", avx512_f32::<12, 16>, avx512_f32_packed_a::<12, 16>),
    ];
    let mut seed = 0u64;
    let shapes = [(1, 5, 3), (3, 40, 9), (5, 17, 300), (13, 33, 31), (25, 10, 70), (64, 10, 128), (97, 65, 260)];
    for (m, n, k) in shapes {
        for (pad, c_t, beta, pack) in [(0, false, 0.0, PACK_LEN), (2, true, 0.5, PACK_LEN), (1, false, 1.0, 3000)] {
            seed += 1;
            let mut rng = Rng(seed | 1);
            let a = Stored::<f32>::new(m, k, false, pad, &mut rng);
            let b = Stored::<f32>::new(k, n, seed.is_multiple_of(2), pad, &mut rng);
            let c0 = Stored::<f32>::new(m, n, c_t, pad, &mut rng);
            let mut mem = vec![0.0f32; pack];
            for (name, direct, packed) in kernels {
                let mut out = [(); 2].map(|_| Stored { data: c0.data.clone(), ..c0 });
                for (kernel, c) in [direct, packed].into_iter().zip(&mut out) {
                    kernel(-1.25, a.view(), b.view(), beta, c.view_mut(), &mut mem);
                }
                let bits = |c: &Stored<f32>| c.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out[0]), bits(&out[1]), "{name} {m}x{n}x{k} pad {pad} c_t {c_t} beta {beta}");
            }
        }
    }
}

/// Runs `f` and `g` on the same operands (as [`check`] builds them) and requires the
/// same bits in every element of `C`, its gaps included.
#[cfg(any(
    all(target_arch = "aarch64", target_feature = "neon"),
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn same_bits<T: TestFloat>(case: Case, seed: u64, f: Kernel<T>, g: Kernel<T>) {
    let Case { m, n, k, a_t, b_t, c_t, pad, alpha, beta, pack } = case;
    let mut rng = Rng(seed | 1);
    let a = Stored::<T>::new(m, k, a_t, pad, &mut rng);
    let b = Stored::<T>::new(k, n, b_t, pad, &mut rng);
    let c0 = Stored::<T>::new(m, n, c_t, pad, &mut rng);
    let mut mem = vec![T::ZERO; pack];
    let mut out = [(); 2].map(|_| Stored { data: c0.data.clone(), ..c0 });
    for (kernel, c) in [f, g].into_iter().zip(&mut out) {
        kernel(T::from_f64(alpha), a.view(), b.view(), T::from_f64(beta), c.view_mut(), &mut mem);
    }
    let bits = |c: &Stored<T>| c.data.iter().map(|&x| Into::<f64>::into(x).to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&out[0]), bits(&out[1]), "{case:?}");
}

/// The shapes for the bit-for-bit comparisons: every layout, packed (tile edges, several
/// blocks along `k` with a short packing memory) and unpacked (the dot products, the
/// row and column updates).
#[cfg(any(
    all(target_arch = "aarch64", target_feature = "neon"),
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn bit_cases(mut each: impl FnMut(Case, u64)) {
    let shapes = [(1, 1, 1), (1, 40, 37), (37, 1, 37), (3, 50, 70), (9, 13, 17), (17, 25, 29), (33, 37, 300)];
    let mut seed = 0;
    for &(m, n, k) in &shapes {
        for layout in 0..8 {
            for pack in [0, 700, PACK_LEN] {
                seed += 1;
                let case = Case {
                    a_t: layout & 1 != 0,
                    b_t: layout & 2 != 0,
                    c_t: layout & 4 != 0,
                    pad: layout % 3,
                    alpha: 1.25,
                    beta: [0.0, 0.5, 1.0][seed as usize % 3],
                    pack,
                    ..Case::new(m, n, k)
                };
                each(case, seed);
            }
        }
    }
}

/// The lengths for the dot-product comparisons: around the 8 partial sums and the vector
/// widths, and the layers' sizes.
#[cfg(any(
    all(target_arch = "aarch64", target_feature = "neon"),
    all(target_arch = "wasm32", target_feature = "simd128")
))]
const DOT_LENGTHS: [usize; 17] = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 33, 100, 256, 784];

/// `dots` of a build against `want` (the portable loop), bit for bit, for one and four
/// columns.
#[cfg(any(
    all(target_arch = "aarch64", target_feature = "neon"),
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn dots_agree<T: TestFloat>(
    got: fn(&[T], [&[T]; 4]) -> [T; 4],
    got1: fn(&[T], [&[T]; 1]) -> [T; 1],
    want: fn(&[T], [&[T]; 4]) -> [T; 4],
) {
    let mut rng = Rng(11);
    for k in DOT_LENGTHS {
        let x: Vec<T> = (0..k).map(|_| T::from_f64(rng.next())).collect();
        let ys: Vec<Vec<T>> = (0..4).map(|_| (0..k).map(|_| T::from_f64(rng.next())).collect()).collect();
        let ys4 = [&ys[0][..], &ys[1], &ys[2], &ys[3]];
        let bits = |v: [T; 4]| v.map(|x| Into::<f64>::into(x).to_bits());
        let (g, w) = (got(&x, ys4), want(&x, ys4));
        assert_eq!(bits(g), bits(w), "k={k}");
        for (s, y) in ys.iter().enumerate() {
            let [one] = got1(&x, [&y[..]]);
            assert_eq!(
                Into::<f64>::into(one).to_bits(),
                Into::<f64>::into(g[s]).to_bits(),
                "k={k}: one column or four"
            );
        }
    }
}

/// NEON is the build every `aarch64` CPU runs, `std` or not.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
#[test]
fn neon_is_the_build_chosen_on_aarch64() {
    assert_eq!(isa(), Isa::Neon);
}

/// The NEON microkernel and dot products do the portable loops' operations with a fused
/// multiply-add, in the same order: the same bits, in every layout and tile edge (their
/// distance from the exact product and from the portable build is what the other tests
/// bound).
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
#[test]
fn neon_is_the_portable_loop_with_fused_multiply_adds() {
    bit_cases(|case, seed| {
        same_bits::<f32>(case, seed, neon::gemm_f32_tile::<8, 12>, gemm_packed::<f32, 8, 12, FusedPortable>);
        same_bits::<f32>(case, seed, neon::gemm_f32_tile::<5, 4>, gemm_packed::<f32, 5, 4, FusedPortable>);
        same_bits::<f64>(case, seed, neon::gemm_f64_tile::<6, 8>, gemm_packed::<f64, 6, 8, FusedPortable>);
        same_bits::<f64>(case, seed, neon::gemm_f64_tile::<3, 2>, gemm_packed::<f64, 3, 2, FusedPortable>);
    });
    // SAFETY (each call below): NEON is enabled at compile time (this test is cfg'd on it).
    dots_agree::<f32>(
        |x, ys| unsafe { neon::dots_f32(x, ys) },
        |x, ys| unsafe { neon::dots_f32(x, ys) },
        dots::<f32, FusedPortable, 4>,
    );
    dots_agree::<f64>(
        |x, ys| unsafe { neon::dots_f64(x, ys) },
        |x, ys| unsafe { neon::dots_f64(x, ys) },
        dots::<f64, FusedPortable, 4>,
    );
    // And the dispatched kernel is the NEON one.
    bit_cases(|case, seed| {
        same_bits::<f32>(case, seed, gemm_packed_f32, gemm_packed::<f32, 8, 12, Neon>);
        same_bits::<f64>(case, seed, gemm_packed_f64, gemm_packed::<f64, 6, 8, Neon>);
    });
}

/// simd128 is the build a `wasm32` module compiled with it runs.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[test]
fn simd128_is_the_build_chosen_with_simd128() {
    assert_eq!(isa(), Isa::Simd128);
}

/// The simd128 microkernel and dot products do the portable loops' operations in the same
/// order (simd128 has no fused multiply-add): the same bits as the portable build, in every
/// layout and tile edge.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[test]
fn simd128_is_the_portable_loop_bit_for_bit() {
    bit_cases(|case, seed| {
        same_bits::<f32>(case, seed, simd128::gemm_tile::<f32, 4, 8>, gemm_packed::<f32, 4, 8, Separate>);
        same_bits::<f32>(case, seed, simd128::gemm_tile::<f32, 3, 12>, gemm_packed::<f32, 3, 12, Separate>);
        same_bits::<f64>(case, seed, simd128::gemm_tile::<f64, 4, 4>, gemm_packed::<f64, 4, 4, Separate>);
        same_bits::<f64>(case, seed, simd128::gemm_tile::<f64, 5, 6>, gemm_packed::<f64, 5, 6, Separate>);
        // The dispatched kernel is the simd128 one, and so the portable loop's bits.
        same_bits::<f32>(case, seed, gemm_packed_f32, gemm_packed::<f32, 4, 8, Simd128>);
        same_bits::<f64>(case, seed, gemm_packed_f64, gemm_packed::<f64, 4, 4, Simd128>);
    });
    dots_agree::<f32>(simd128::dots_f32, simd128::dots_f32, dots::<f32, Separate, 4>);
    dots_agree::<f64>(simd128::dots_f64, simd128::dots_f64, dots::<f64, Separate, 4>);
}
