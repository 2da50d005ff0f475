//! Matrix multiplication: `C = alpha * A * B + beta * C` on strided views.
//!
//! [`gemm`] checks shapes and dispatches through [`Scalar::gemm`]: `f32` and `f64` take
//! the packed kernel, which works in the caller's packing memory and never allocates;
//! every other scalar (dual numbers) takes [`gemm_generic`].
//!
//! Transposes are free: [`MatRef::t`] swaps the strides.
//!
//! # The packed kernel
//!
//! The GotoBLAS/BLIS structure, written once for both float types: `B` is cut into
//! `KC x NC` blocks, each packed into `NR`-column panels; `A` into `MC x KC` blocks packed
//! into `MR`-row panels; a register-blocked microkernel multiplies one `MR`-row panel by
//! one `NR`-column panel into an `MR x NR` tile of accumulators, which is then added into
//! `C`. Packing makes every inner-loop load contiguous whatever the strides of the
//! operands, and the block sizes keep a `B` panel in L1 and an `A` block in L2.
//!
//! The microkernel is plain Rust over arrays that LLVM vectorizes. On `x86_64` with `std`,
//! the same code is compiled a second time with AVX2 and FMA enabled (tiles 6x16 for
//! `f32`, 4x8 for `f64`) and chosen at run time when the CPU has them; every other target
//! (Cortex-M4F included) runs the portable build, with a register tile sized for it. There
//! are no intrinsics; the only `unsafe` is the call into the AVX2 build.
//!
//! The block sizes adapt to the packing memory given: [`PACK_LEN`] (or [`pack_len`] for a
//! given shape) is enough for full speed, less works more slowly, and with too little
//! for one pair of panels (or for matrix-vector shapes, where packing would cost as much
//! as the product) the kernel runs unpacked loops.

use crate::{Scalar, ShapeError};

/// A read-only strided matrix view.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// A mutable strided matrix view.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// The number of elements a `rows x cols` view with strides `rs`, `cs` reaches.
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A view with explicit strides; fails if it would reach past `data`.
    pub fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self, ShapeError> {
        let needed = span(rows, cols, rs, cs).unwrap_or(usize::MAX);
        if needed > data.len() {
            return Err(ShapeError::OutOfBounds { what: "MatRef", needed, len: data.len() });
        }
        Ok(Self { data, rows, cols, rs, cs })
    }

    /// A dense row-major view: `data.len()` must be `rows * cols`.
    ///
    /// ```
    /// use monograd_core::kernels::gemm::MatRef;
    /// let a = MatRef::row_major(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3).unwrap();
    /// assert_eq!(a.at(1, 2), 6.0);
    /// assert_eq!(a.t().at(2, 1), 6.0);
    /// ```
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(ShapeError::Length {
                what: "MatRef::row_major",
                expected: rows.saturating_mul(cols),
                found: data.len(),
            });
        }
        Ok(Self { data, rows, cols, rs: cols, cs: 1 })
    }

    /// The `rows x cols` block whose top-left element is `(i0, j0)`; the caller keeps it
    /// inside the view, so slicing the data can only fail on a bug.
    #[inline]
    fn sub(self, i0: usize, j0: usize, rows: usize, cols: usize) -> Self {
        debug_assert!(i0 + rows <= self.rows && j0 + cols <= self.cols);
        let off = if rows == 0 || cols == 0 { 0 } else { i0 * self.rs + j0 * self.cs };
        Self { data: &self.data[off..], rows, cols, ..self }
    }

    /// The transpose, by swapping strides.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Row stride.
    pub fn row_stride(&self) -> usize {
        self.rs
    }
    /// Column stride.
    pub fn col_stride(&self) -> usize {
        self.cs
    }
    /// The underlying data.
    pub fn data(&self) -> &'a [T] {
        self.data
    }
    /// Element `(i, j)`.
    ///
    /// # Panics
    /// If `(i, j)` is outside the view.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> T {
        assert!(i < self.rows && j < self.cols, "MatRef::at out of range");
        self.data[i * self.rs + j * self.cs]
    }
}

impl<'a, T: Copy> MatMut<'a, T> {
    /// A view with explicit strides; fails if it would reach past `data`.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self, ShapeError> {
        let needed = span(rows, cols, rs, cs).unwrap_or(usize::MAX);
        if needed > data.len() {
            return Err(ShapeError::OutOfBounds { what: "MatMut", needed, len: data.len() });
        }
        Ok(Self { data, rows, cols, rs, cs })
    }

    /// A dense row-major view: `data.len()` must be `rows * cols`.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(ShapeError::Length {
                what: "MatMut::row_major",
                expected: rows.saturating_mul(cols),
                found: data.len(),
            });
        }
        Ok(Self { data, rows, cols, rs: cols, cs: 1 })
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Row stride.
    pub fn row_stride(&self) -> usize {
        self.rs
    }
    /// Column stride.
    pub fn col_stride(&self) -> usize {
        self.cs
    }
    /// The underlying data.
    pub fn data_mut(&mut self) -> &mut [T] {
        self.data
    }
    /// A shorter-lived mutable view of the same matrix.
    pub fn rb(&mut self) -> MatMut<'_, T> {
        MatMut { data: self.data, rows: self.rows, cols: self.cols, rs: self.rs, cs: self.cs }
    }
}

/// `C = alpha * A * B + beta * C`, after checking that the shapes fit.
///
/// `pack` is packing memory for the `f32`/`f64` kernel; any length works (the kernel
/// blocks to what it is given, and runs unpacked when it is empty), and
/// [`PACK_LEN`] is enough for full speed. When `beta` is zero, `C` is overwritten and
/// NaNs in it do not propagate.
///
/// ```
/// use monograd_core::kernels::gemm::{gemm, MatMut, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // 2x2
/// let b = [5.0f32, 6.0, 7.0, 8.0]; // 2x2
/// let mut c = [0.0f32; 4];
/// let mut pack = [0.0f32; 64];
/// gemm(
///     1.0,
///     MatRef::row_major(&a, 2, 2).unwrap(),
///     MatRef::row_major(&b, 2, 2).unwrap(),
///     0.0,
///     MatMut::row_major(&mut c, 2, 2).unwrap(),
///     &mut pack,
/// )
/// .unwrap();
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// ```
pub fn gemm<T: Scalar>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    pack: &mut [T],
) -> Result<(), ShapeError> {
    if a.cols != b.rows || a.rows != c.rows || b.cols != c.cols {
        return Err(ShapeError::MatrixMismatch {
            what: "gemm",
            dims: [(a.rows, a.cols), (b.rows, b.cols), (c.rows, c.cols)],
        });
    }
    T::gemm(alpha, a, b, beta, c, pack);
    Ok(())
}

/// Depth of a packed block (`k` per pass): a `KC x NR` panel of `B` stays in L1.
const KC: usize = 256;
/// Rows of a packed `A` block: `MC x KC` stays in L2.
const MC: usize = 96;
/// Columns of a packed `B` block: `KC x NC` is reused by every `A` block.
const NC: usize = 1024;
/// Elements the kernel may skip at the start of `pack` to align it to 64 bytes, so that
/// packed panels do not straddle cache lines.
const ALIGN_SLACK: usize = 16;
/// The widest register tile of any kernel build, for the bound in [`pack_len`].
const MAX_TILE: usize = 16;

/// Packing memory (in elements) with which the packed kernel runs at full speed, for any
/// shape: a `KC x MC` block of `A` and a `KC x NC` block of `B`, plus a few elements of
/// slack for alignment. About 1.1 MB for `f32`.
///
/// Smaller shapes need less: see [`pack_len`].
pub const PACK_LEN: usize = KC * MC + KC * NC + ALIGN_SLACK;

/// Packing memory (in elements) with which the packed kernel runs at full speed on an
/// `m x k` by `k x n` product; never more than [`PACK_LEN`].
///
/// ```
/// use monograd_core::kernels::gemm::{pack_len, PACK_LEN};
/// // A 784 -> 128 dense layer on a batch of 32 needs far less than the general bound.
/// assert!(pack_len(32, 128, 784) < PACK_LEN / 4);
/// assert_eq!(pack_len(4096, 4096, 4096), PACK_LEN);
/// ```
pub const fn pack_len(m: usize, n: usize, k: usize) -> usize {
    // Each block dimension is capped by the matrix rounded up to a whole register tile.
    let kc = if k < KC { k } else { KC };
    let mc = if m.saturating_add(MAX_TILE - 1) < MC { m + MAX_TILE - 1 } else { MC };
    let nc = if n.saturating_add(MAX_TILE - 1) < NC { n + MAX_TILE - 1 } else { NC };
    kc * (mc + nc) + ALIGN_SLACK
}

/// The reference loop for any scalar: dual numbers and other types without a kernel.
///
/// ```
/// use monograd_core::kernels::gemm::{gemm_generic, MatMut, MatRef};
/// let a = [1.0f64, 2.0, 3.0]; // 1x3
/// let mut c = [f64::NAN; 1];
/// // C = A A^T; beta = 0 overwrites the NaN.
/// let a = MatRef::row_major(&a, 1, 3).unwrap();
/// gemm_generic(1.0, a, a.t(), 0.0, MatMut::row_major(&mut c, 1, 1).unwrap());
/// assert_eq!(c, [14.0]);
/// ```
pub fn gemm_generic<T: Scalar>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: MatMut<'_, T>) {
    for i in 0..c.rows {
        for j in 0..c.cols {
            let mut acc = T::ZERO;
            for p in 0..a.cols {
                acc += a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs];
            }
            let idx = i * c.rs + j * c.cs;
            c.data[idx] = if beta == T::ZERO { alpha * acc } else { alpha * acc + beta * c.data[idx] };
        }
    }
}

/// The packed `f32` kernel. Shapes are already checked (call [`gemm`] instead).
///
/// # Panics
/// If the shapes do not fit, as [`gemm`] would have reported.
pub fn gemm_packed_f32(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    // The AVX2+FMA build is 2.8x faster than the portable (SSE2) one on the machine in
    // docs/BENCHMARKS.md: about 80 against 28 GFLOP/s at n = 1024.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if x86::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe {
            x86::gemm_avx2_fma::<f32, { AVX2_TILE_F32.0 }, { AVX2_TILE_F32.1 }>(alpha, a, b, beta, c, pack)
        };
    }
    gemm_packed::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Separate>(alpha, a, b, beta, c, pack);
}

/// The packed `f64` kernel. Shapes are already checked (call [`gemm`] instead).
///
/// # Panics
/// If the shapes do not fit, as [`gemm`] would have reported.
pub fn gemm_packed_f64(
    alpha: f64,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    beta: f64,
    c: MatMut<'_, f64>,
    pack: &mut [f64],
) {
    // As for f32: about 38 against 14 GFLOP/s at n = 1024.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if x86::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe {
            x86::gemm_avx2_fma::<f64, { AVX2_TILE_F64.0 }, { AVX2_TILE_F64.1 }>(alpha, a, b, beta, c, pack)
        };
    }
    gemm_packed::<f64, { TILE_F64.0 }, { TILE_F64.1 }, Separate>(alpha, a, b, beta, c, pack);
}

// Register tiles `(MR, NR)`: as many accumulators as the registers hold, with room left
// for the operands. AVX2 (16 registers of 8 f32): 6x16 is 12 accumulators, measured
// best against 8x8 and 4x24; 4x8 for f64 likewise. 64-bit targets without AVX2 (SSE2,
// NEON): 4x8 f32 is eight SSE accumulators. A Cortex-M4F has 32 single-precision
// registers and no vectors: 4x4 keeps 16 accumulators and 8 operands.
#[cfg(target_arch = "x86_64")]
#[allow(dead_code)] // unused by builds with neither std nor AVX2
const AVX2_TILE_F32: (usize, usize) = (6, 16);
#[cfg(target_arch = "x86_64")]
#[allow(dead_code)]
const AVX2_TILE_F64: (usize, usize) = (4, 8);
// The portable build takes the AVX2 tiles when AVX2 is on at compile time
// (`-C target-cpu=native`), which is the only way a no_std build gets it.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
const TILE_F32: (usize, usize) = AVX2_TILE_F32;
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
const TILE_F64: (usize, usize) = AVX2_TILE_F64;
#[cfg(all(target_pointer_width = "64", not(all(target_arch = "x86_64", target_feature = "avx2"))))]
const TILE_F32: (usize, usize) = (4, 8);
#[cfg(all(target_pointer_width = "64", not(all(target_arch = "x86_64", target_feature = "avx2"))))]
const TILE_F64: (usize, usize) = (4, 4);
#[cfg(not(target_pointer_width = "64"))]
const TILE_F32: (usize, usize) = (4, 4);
#[cfg(not(target_pointer_width = "64"))]
const TILE_F64: (usize, usize) = (4, 4);

/// The float types with a packed kernel.
trait Float: Scalar {
    /// `self * a + b` rounded once; only called where the target has FMA instructions.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    fn fused_mul_add(self, a: Self, b: Self) -> Self;

    /// `[Σ_p x[p] · y_s[p]]` for `S` vectors `y_s` as long as `x`, in AVX2 vectors with
    /// FMA: [`x86::dots_f32`] and [`x86::dots_f64`].
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    unsafe fn dots_avx2_fma<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S];

    /// [`transpose`] in AVX2 vectors, for the packing of an operand whose rows run along
    /// `k`: [`x86::transpose_f32`]; the portable loop for `f64`.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn transpose_avx2_fma<const R: usize>(rows: &[&[Self]; R], r: usize, panel: &mut [[Self; R]]) {
        transpose(rows, r, panel);
    }
}

impl Float for f32 {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    fn fused_mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }

    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn dots_avx2_fma<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S] {
        // SAFETY: the caller guarantees AVX2 and FMA.
        unsafe { x86::dots_f32(x, ys) }
    }

    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn transpose_avx2_fma<const R: usize>(rows: &[&[Self]; R], r: usize, panel: &mut [[Self; R]]) {
        // SAFETY: the caller guarantees AVX2 and FMA.
        unsafe { x86::transpose_f32(rows, r, panel) }
    }
}

impl Float for f64 {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    fn fused_mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }

    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn dots_avx2_fma<const S: usize>(x: &[Self], ys: [&[Self]; S]) -> [Self; S] {
        // SAFETY: the caller guarantees AVX2 and FMA.
        unsafe { x86::dots_f64(x, ys) }
    }
}

/// How the kernel multiplies and adds: fused where FMA is known to exist, separately
/// otherwise (a software `fma` would be far slower than two instructions).
trait MulAdd {
    /// `a * b + c`.
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T;

    /// `[Σ_p x[p] · y_s[p]]` for `S` vectors `y_s` as long as `x`: the unpacked kernel's
    /// matrix-vector products.
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S];

    /// [`transpose`]: the packing of an operand whose rows run along `k`.
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]);
}

/// `a * b + c` as two operations.
struct Separate;

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        a * b + c
    }

    #[inline(always)]
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        dots::<T, Self, S>(x, ys)
    }

    #[inline(always)]
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        transpose(rows, r, panel);
    }
}

/// `a * b + c` as one FMA instruction. Only [`x86::gemm_avx2_fma`] uses it.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
struct Fused;

#[cfg(all(feature = "std", target_arch = "x86_64"))]
impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
        a.fused_mul_add(b, c)
    }

    #[inline(always)]
    fn dots<T: Float, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
        // SAFETY: `Fused` runs only inside `x86::gemm_avx2_fma`, which is called only
        // after `x86::has_avx2_fma` found AVX2 and FMA on this CPU.
        unsafe { T::dots_avx2_fma(x, ys) }
    }

    #[inline(always)]
    fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
        // SAFETY: as for `dots`.
        unsafe { T::transpose_avx2_fma(rows, r, panel) }
    }
}

/// The AVX2+FMA build of the kernel, chosen at run time.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod x86 {
    use core::arch::x86_64::*;

    use super::{Float, Fused, MatMut, MatRef};

    /// Whether this CPU runs [`gemm_avx2_fma`] (the answer is cached by std).
    #[inline]
    pub(super) fn has_avx2_fma() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }

    /// The packed kernel compiled for AVX2 and FMA: everything it calls is inlined, so the
    /// whole loop nest, not only the microkernel, gets 256-bit vectors. Calling it is
    /// `unsafe` only because the CPU must have those features.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn gemm_avx2_fma<T: Float, const MR: usize, const NR: usize>(
        alpha: T,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: T,
        c: MatMut<'_, T>,
        pack: &mut [T],
    ) {
        super::gemm_packed::<T, MR, NR, Fused>(alpha, a, b, beta, c, pack);
    }

    /// 8 `f32` from an array, as one vector (the compiler makes it one load).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn load_f32(x: &[f32; 8]) -> __m256 {
        _mm256_set_ps(x[7], x[6], x[5], x[4], x[3], x[2], x[1], x[0])
    }

    /// 4 `f64` from an array, as one vector.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn load_f64(x: &[f64; 4]) -> __m256d {
        _mm256_set_pd(x[3], x[2], x[1], x[0])
    }

    /// The dot products of [`Float::dots_avx2_fma`] for `f32`: one vector of 8 partial
    /// sums per `y_s`, each load of `x` serving all `S`.
    ///
    /// Written with intrinsics because the portable `dots` vectorizes badly here (the
    /// compiler packs lanes of different columns together, or only pairs): on the
    /// 784 -> 256 -> 128 -> 10 MLP at batch 1 (W2), the forward took 499k instructions
    /// with it and 104k with this (128k with one vector of partial sums per column). No
    /// `unsafe` inside: every intrinsic is safe in a function with these target features,
    /// and the loads read checked arrays.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn dots_f32<const S: usize>(x: &[f32], ys: [&[f32]; S]) -> [f32; S] {
        let (xc, xt) = x.as_chunks::<8>();
        let n = xc.len();
        let yc = ys.map(|y| &y[..x.len()].as_chunks::<8>().0[..n]);
        // Lets the compiler drop the bounds checks in the loop.
        for y in &yc {
            assert!(y.len() == n);
        }
        // Two vectors of partial sums per y_s, for even and odd chunks: twice as many
        // independent FMAs in flight as one (their latency, not their throughput, bounded
        // the single-vector loop).
        let (mut even, mut odd) = ([_mm256_setzero_ps(); S], [_mm256_setzero_ps(); S]);
        let pairs = n / 2;
        for p in (0..pairs).map(|q| 2 * q) {
            let (x0, x1) = (load_f32(&xc[p]), load_f32(&xc[p + 1]));
            for ((e, o), y) in even.iter_mut().zip(odd.iter_mut()).zip(&yc) {
                *e = _mm256_fmadd_ps(x0, load_f32(&y[p]), *e);
                *o = _mm256_fmadd_ps(x1, load_f32(&y[p + 1]), *o);
            }
        }
        if n % 2 == 1 {
            let xv = load_f32(&xc[n - 1]);
            for (e, y) in even.iter_mut().zip(&yc) {
                *e = _mm256_fmadd_ps(xv, load_f32(&y[n - 1]), *e);
            }
        }
        for (e, o) in even.iter_mut().zip(odd) {
            *e = _mm256_add_ps(*e, o);
        }
        let acc = even;
        let body = xc.len() * 8;
        core::array::from_fn(move |s| {
            let mut tail = 0.0f32;
            for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
                tail = u.mul_add(v, tail);
            }
            let acc = acc[s];
            let q = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
            let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
            let q = _mm_add_ss(q, _mm_shuffle_ps::<1>(q, q));
            _mm_cvtss_f32(q) + tail
        })
    }

    /// The 8 lanes of a vector as an array.
    #[inline(always)]
    fn to_array(v: __m256) -> [f32; 8] {
        // SAFETY: `__m256` is 32 bytes holding 8 `f32` lanes in order, and every bit
        // pattern is a valid `[f32; 8]`.
        unsafe { core::mem::transmute::<__m256, [f32; 8]>(v) }
    }

    /// Rows `r[i]` of 8 values to columns: `out[q][i] = r[i][q]`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        // Columns q and q + 4 of rows 0-3 (u0..u3) and of rows 4-7 (u4..u7).
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xee>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xee>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xee>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xee>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    /// [`super::transpose`] for `f32` in 8x8 blocks of vectors: eight loads along the rows,
    /// shuffles, eight stores along the panel, instead of a load and a store per value.
    /// On the W1 training step this took the packing of `x` and of `Wᵀ` (both with `k`
    /// along their rows) from 868k to 330k instructions.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn transpose_f32<const R: usize>(rows: &[&[f32]; R], r: usize, panel: &mut [[f32; R]]) {
        let kc = panel.len();
        let rows: [&[f32]; R] = core::array::from_fn(|i| if i < r { &rows[i][..kc] } else { &[] });
        let (blocks, tail) = panel.as_chunks_mut::<8>();
        for (b, block) in blocks.iter_mut().enumerate() {
            let p0 = b * 8;
            // Rows in groups of 8; a last, shorter group (and every row from `r` on)
            // reads zeros, and a short group stores only the lanes it has.
            for g in (0..R).step_by(8) {
                let n = (R - g).min(8);
                let mut v = [_mm256_setzero_ps(); 8];
                for (i, (v, row)) in v.iter_mut().zip(&rows[g..g + n]).enumerate() {
                    if g + i < r {
                        *v = load_f32(row[p0..p0 + 8].try_into().unwrap());
                    }
                }
                for (out, col) in block.iter_mut().zip(transpose8(v)) {
                    out[g..g + n].copy_from_slice(&to_array(col)[..n]);
                }
            }
        }
        let p0 = blocks.len() * 8;
        for (p, out) in tail.iter_mut().enumerate() {
            for (i, (o, row)) in out.iter_mut().zip(&rows).enumerate() {
                *o = if i < r { row[p0 + p] } else { 0.0 };
            }
        }
    }

    /// [`dots_f32`] for `f64`: vectors of 4.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn dots_f64<const S: usize>(x: &[f64], ys: [&[f64]; S]) -> [f64; S] {
        let (xc, xt) = x.as_chunks::<4>();
        let n = xc.len();
        let yc = ys.map(|y| &y[..x.len()].as_chunks::<4>().0[..n]);
        // Lets the compiler drop the bounds checks in the loop.
        for y in &yc {
            assert!(y.len() == n);
        }
        let mut acc = [_mm256_setzero_pd(); S];
        for (p, xs) in xc.iter().enumerate().take(n) {
            let xv = load_f64(xs);
            for (acc, y) in acc.iter_mut().zip(&yc) {
                *acc = _mm256_fmadd_pd(xv, load_f64(&y[p]), *acc);
            }
        }
        let body = xc.len() * 4;
        core::array::from_fn(|s| {
            let mut tail = 0.0f64;
            for (&u, &v) in xt.iter().zip(&ys[s][body..]) {
                tail = u.mul_add(v, tail);
            }
            let q = _mm_add_pd(_mm256_castpd256_pd128(acc[s]), _mm256_extractf128_pd::<1>(acc[s]));
            let q = _mm_add_sd(q, _mm_unpackhi_pd(q, q));
            _mm_cvtsd_f64(q) + tail
        })
    }
}

/// Block sizes for one call, fitted to the packing memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Blocks {
    kc: usize,
    mc: usize,
    nc: usize,
}

impl Blocks {
    /// The largest blocks up to `KC x MC` and `KC x NC` with `kc * (mc + nc) <= len`, or
    /// `None` when not even one `MR`-row and one `NR`-column panel fit.
    fn fit<const MR: usize, const NR: usize>(m: usize, n: usize, k: usize, len: usize) -> Option<Self> {
        let kc = k.min(KC).min(len / (MR + NR));
        if kc == 0 {
            return None;
        }
        // Equal slices of k rather than a full block and a sliver.
        let kc = k.div_ceil(k.div_ceil(kc));
        let budget = len / kc;
        // A block of A first (it is what the microkernel streams), then B gets the rest.
        // Whole panels only: the packing loops fill round_up(rows, MR) rows.
        let mc = round_up(m, MR).min(round_down(MC, MR).max(MR)).min(round_down(budget - NR, MR));
        let nc = round_up(n, NR).min(round_down(NC, NR).max(NR)).min(round_down(budget - mc, NR));
        Some(Self { kc, mc, nc })
    }
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

fn round_down(x: usize, to: usize) -> usize {
    x / to * to
}

/// The blocked loop nest, generic over the float, the register tile and the multiply-add.
///
/// `#[inline(always)]` down to the microkernel so that the AVX2 build compiles all of it
/// with the wider vectors.
#[inline(always)]
fn gemm_packed<T: Float, const MR: usize, const NR: usize, M: MulAdd>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    pack: &mut [T],
) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    assert!(a.rows == m && b.rows == k && b.cols == n, "gemm: operands do not fit");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        scale(beta, &mut c);
        return;
    }
    // Start at a 64-byte boundary, or where we are if that is out of reach
    // (`align_offset` may also decline with usize::MAX).
    let skip = pack.as_ptr().align_offset(64);
    let pack = if skip <= pack.len() { &mut pack[skip..] } else { pack };
    // Packing pays off only when each packed value is reused: not for a matrix-vector
    // product, nor for a few rows or columns that the unpacked loops stream contiguously.
    let skinny = m == 1 || n == 1 || ((m < SKINNY || n < SKINNY) && contiguous_unpacked(&a, &b, &c));
    let blocks = if skinny { None } else { Blocks::fit::<MR, NR>(m, n, k, pack.len()) };
    let Some(Blocks { kc, mc, nc }) = blocks else {
        gemm_unpacked::<T, M>(alpha, a, b, beta, &mut c);
        return;
    };
    let (b_pack, a_pack) = pack.split_at_mut(kc * nc);
    let a_pack = &mut a_pack[..kc * mc];
    for jc in (0..n).step_by(nc) {
        let ncb = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            // B's block is packed as the rows of its transpose: NR-column panels.
            pack_panels::<T, NR, M>(b.sub(pc, jc, kcb, ncb).t(), b_pack);
            // Only the first pass over k applies beta; later ones accumulate.
            let beta = if pc == 0 { beta } else { T::ONE };
            for ic in (0..m).step_by(mc) {
                let mcb = mc.min(m - ic);
                pack_panels::<T, MR, M>(a.sub(ic, pc, mcb, kcb), a_pack);
                let a_panels = a_pack[..round_up(mcb, MR) * kcb].chunks_exact(MR * kcb);
                let b_panels = b_pack[..round_up(ncb, NR) * kcb].chunks_exact(NR * kcb);
                // One B panel (in L1) against every A panel of the block (in L2).
                for (jr, b_panel) in b_panels.enumerate() {
                    for (ir, a_panel) in a_panels.clone().enumerate() {
                        let (i0, j0) = (ic + ir * MR, jc + jr * NR);
                        let (mr, nr) = (MR.min(m - i0), NR.min(n - j0));
                        touch(&c, i0, j0, mr, nr);
                        let tile = microkernel::<T, MR, NR, M>(a_panel, b_panel);
                        store(&tile, &mut c, i0, j0, mr, nr, alpha, beta);
                    }
                }
            }
        }
    }
}

/// Copies `src` (`rows x kc`) into panels of `R` rows: panel `q` holds, for each `p`, the
/// `R` values `src[q * R + i, p]`, with zeros past the last row. The zeros meet only
/// parts of the tile that [`store`] never writes.
#[inline(always)]
fn pack_panels<T: Float, const R: usize, M: MulAdd>(src: MatRef<'_, T>, dst: &mut [T]) {
    let (rows, kc) = (src.rows, src.cols);
    let (steps, _) = dst[..round_up(rows, R) * kc].as_chunks_mut::<R>();
    for (q, panel) in steps.chunks_exact_mut(kc).enumerate() {
        let i0 = q * R;
        let r = R.min(rows - i0);
        if r == R && src.rs == 1 {
            // The R values for each p are adjacent: plain copies (of a constant length, so
            // no call to memcpy).
            for (p, out) in panel.iter_mut().enumerate() {
                let s = i0 + p * src.cs;
                *out = src.data[s..s + R].try_into().unwrap();
            }
        } else if src.cs == 1 {
            // The r rows are contiguous along p: a transpose (zeros for rows r..R).
            let rows: [&[T]; R] =
                core::array::from_fn(|i| if i < r { &src.data[(i0 + i) * src.rs..][..kc] } else { &[] });
            M::transpose(&rows, r, panel);
        } else {
            for (p, out) in panel.iter_mut().enumerate() {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = if i < r { src.data[(i0 + i) * src.rs + p * src.cs] } else { T::ZERO };
                }
            }
        }
    }
}

/// `panel[p][i] = rows[i][p]` for the first `r` rows of `panel.len()` values each, and
/// zero for the rows from `r` on (which may be empty).
#[inline(always)]
fn transpose<T: Float, const R: usize>(rows: &[&[T]; R], r: usize, panel: &mut [[T; R]]) {
    let kc = panel.len();
    let rows: [&[T]; R] = core::array::from_fn(|i| if i < r { &rows[i][..kc] } else { &[] });
    if r == R {
        for (p, out) in panel.iter_mut().enumerate() {
            for (o, row) in out.iter_mut().zip(&rows) {
                *o = row[p];
            }
        }
        return;
    }
    for (p, out) in panel.iter_mut().enumerate() {
        for (i, (o, row)) in out.iter_mut().zip(&rows).enumerate() {
            *o = if i < r { row[p] } else { T::ZERO };
        }
    }
}

/// Steps of `k` per iteration of the microkernel's loop: unrolled by 4, the loop's
/// bookkeeping is spread over 48 FMAs instead of 12, and a GEMM of W1's first layer
/// (64 x 784 by 784 x 256) took 7% less CPU time (best of 12 alternated runs).
const UNROLL: usize = 4;

/// The `MR x NR` product of one packed `A` panel and one packed `B` panel.
///
/// Fixed-size arrays with constant trip counts: LLVM keeps the tile in registers and
/// vectorizes along `NR`.
#[inline(always)]
fn microkernel<T: Float, const MR: usize, const NR: usize, M: MulAdd>(a: &[T], b: &[T]) -> [[T; NR]; MR] {
    let mut ab = [[T::ZERO; NR]; MR];
    let (a4, at) = a.as_chunks::<MR>();
    let (b4, bt) = b.as_chunks::<NR>();
    debug_assert!(at.is_empty() && bt.is_empty());
    let steps = a4.len().min(b4.len());
    let (a4, b4) = (&a4[..steps], &b4[..steps]);
    let (au, ar) = a4.as_chunks::<UNROLL>();
    let (bu, br) = b4.as_chunks::<UNROLL>();
    for (ap4, bp4) in au.iter().zip(bu) {
        for u in 0..UNROLL {
            let (ap, bp) = (&ap4[u], &bp4[u]);
            for i in 0..MR {
                for j in 0..NR {
                    ab[i][j] = M::mul_add(ap[i], bp[j], ab[i][j]);
                }
            }
        }
    }
    for (ap, bp) in ar.iter().zip(br) {
        for i in 0..MR {
            for j in 0..NR {
                ab[i][j] = M::mul_add(ap[i], bp[j], ab[i][j]);
            }
        }
    }
    ab
}

/// `C[i0.., j0..] = alpha * tile + beta * C` over the `mr x nr` corner that lies in `C`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the tile's place and extent are all needed here
fn store<T: Float, const MR: usize, const NR: usize>(
    tile: &[[T; NR]; MR],
    c: &mut MatMut<'_, T>,
    i0: usize,
    j0: usize,
    mr: usize,
    nr: usize,
    alpha: T,
    beta: T,
) {
    // beta == 0 overwrites: C may hold garbage or NaN.
    let update = |out: &mut T, v: T| *out = if beta == T::ZERO { alpha * v } else { alpha * v + beta * *out };
    if nr == NR && c.cs == 1 {
        // Whole rows of the tile, contiguous in C: each row read into an array, combined
        // and written back whole, so that the compiler sees no aliasing and makes a few
        // vector instructions of it (a third of the instructions of the general loop on
        // W4, whose convolutions store many small tiles).
        for (i, row) in tile.iter().enumerate().take(mr) {
            let out: &mut [T; NR] = (&mut c.data[(i0 + i) * c.rs + j0..][..NR]).try_into().unwrap();
            let old = *out;
            *out =
                core::array::from_fn(|j| if beta == T::ZERO { alpha * row[j] } else { alpha * row[j] + beta * old[j] });
        }
        return;
    }
    for (i, row) in tile.iter().enumerate().take(mr) {
        let base = (i0 + i) * c.rs + j0 * c.cs;
        if c.cs == 1 {
            // A contiguous row: one bounds check, and the loop vectorizes.
            for (out, &v) in c.data[base..][..nr].iter_mut().zip(row) {
                update(out, v);
            }
        } else {
            for (j, &v) in row.iter().enumerate().take(nr) {
                update(&mut c.data[base + j * c.cs], v);
            }
        }
    }
}

/// Loads both ends of each row (or column, when `C` is column-major) of a tile of `C`,
/// so that its cache misses overlap with the microkernel instead of stalling the store
/// after it: 3-5% at n = 1024, and safe code where a prefetch intrinsic would not be.
#[inline(always)]
fn touch<T: Float>(c: &MatMut<'_, T>, i0: usize, j0: usize, mr: usize, nr: usize) {
    let (lines, len, step, along) = if c.cs <= c.rs { (mr, nr, c.rs, c.cs) } else { (nr, mr, c.cs, c.rs) };
    let start = i0 * c.rs + j0 * c.cs;
    for l in 0..lines {
        let base = start + l * step;
        core::hint::black_box(c.data[base]);
        core::hint::black_box(c.data[base + (len - 1) * along]);
    }
}

/// `C = beta * C`; zero when `beta` is zero, whatever `C` held.
fn scale<T: Scalar>(beta: T, c: &mut MatMut<'_, T>) {
    if beta == T::ONE {
        return;
    }
    for i in 0..c.rows {
        for j in 0..c.cols {
            let out = &mut c.data[i * c.rs + j * c.cs];
            *out = if beta == T::ZERO { T::ZERO } else { beta * *out };
        }
    }
}

/// Below this many rows or columns, the unpacked loops beat packing (when
/// [`contiguous_unpacked`] holds): at 2 x 784 x 256 they take half the time or less.
const SKINNY: usize = 4;

/// Whether [`gemm_unpacked`] takes one of its contiguous loops for these strides.
fn contiguous_unpacked<T>(a: &MatRef<'_, T>, b: &MatRef<'_, T>, c: &MatMut<'_, T>) -> bool {
    (a.cs == 1 && b.rs == 1) || (b.cs == 1 && c.cs == 1) || (a.rs == 1 && c.rs == 1)
}

/// `C = alpha * A * B + beta * C` without packing: for matrix-vector and other skinny
/// shapes, where packing would cost as much as the product, and when the packing memory
/// is too short. Each branch walks memory in the order the strides make contiguous.
#[inline(always)]
fn gemm_unpacked<T: Float, M: MulAdd>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut MatMut<'_, T>) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    let combine = |out: &mut T, acc: T| *out = if beta == T::ZERO { alpha * acc } else { alpha * acc + beta * *out };
    if a.cs == 1 && b.rs == 1 {
        // Rows of A and columns of B are contiguous: dot products, DOT_COLS columns of B
        // at a time so that each load of A's row serves several.
        for i in 0..m {
            let x = &a.data[i * a.rs..][..k];
            let mut j = 0;
            while j + DOT_COLS <= n {
                let ys: [&[T]; DOT_COLS] = core::array::from_fn(|s| &b.data[(j + s) * b.cs..][..k]);
                for (s, d) in M::dots::<T, DOT_COLS>(x, ys).into_iter().enumerate() {
                    combine(&mut c.data[i * c.rs + (j + s) * c.cs], d);
                }
                j += DOT_COLS;
            }
            for j in j..n {
                let [d] = M::dots::<T, 1>(x, [&b.data[j * b.cs..][..k]]);
                combine(&mut c.data[i * c.rs + j * c.cs], d);
            }
        }
    } else if b.cs == 1 && c.cs == 1 {
        // Rows of B and C are contiguous: C[i, :] += (alpha A[i, p]) B[p, :].
        scale(beta, c);
        for i in 0..m {
            let cr = &mut c.data[i * c.rs..][..n];
            for p in 0..k {
                axpy::<T, M>(alpha * a.data[i * a.rs + p * a.cs], &b.data[p * b.rs..][..n], cr);
            }
        }
    } else if a.rs == 1 && c.rs == 1 {
        // Columns of A and C are contiguous: C[:, j] += (alpha B[p, j]) A[:, p].
        scale(beta, c);
        for j in 0..n {
            let cc = &mut c.data[j * c.cs..][..m];
            for p in 0..k {
                axpy::<T, M>(alpha * b.data[p * b.rs + j * b.cs], &a.data[p * a.cs..][..m], cc);
            }
        }
    } else {
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::ZERO;
                for p in 0..k {
                    acc = M::mul_add(a.data[i * a.rs + p * a.cs], b.data[p * b.rs + j * b.cs], acc);
                }
                combine(&mut c.data[i * c.rs + j * c.cs], acc);
            }
        }
    }
}

/// Columns of B per pass in the unpacked dot products.
const DOT_COLS: usize = 4;
/// Partial sums per column in [`dots`]: with `DOT_COLS` columns, 32 in flight on 64-bit
/// targets (four AVX or eight SSE f32 vectors), 8 on 32-bit ones (a Cortex-M4F has 32
/// float registers in all).
#[cfg(target_pointer_width = "64")]
const DOT_LANES: usize = 8;
#[cfg(not(target_pointer_width = "64"))]
const DOT_LANES: usize = 2;

/// `[sum x[p] * y_s[p]]` for `S` vectors `y_s`, in interleaved partial sums so that the
/// loop vectorizes and hides the latency of the adds. Every `y_s` has `x`'s length.
#[inline(always)]
fn dots<T: Float, M: MulAdd, const S: usize>(x: &[T], ys: [&[T]; S]) -> [T; S] {
    let k = x.len();
    let ys = ys.map(|y| &y[..k]);
    let mut acc = [[T::ZERO; DOT_LANES]; S];
    let body = k / DOT_LANES * DOT_LANES;
    for p in (0..body).step_by(DOT_LANES) {
        // Fixed-size arrays, so that LLVM vectorizes along the lanes of each column.
        let xs = lanes(x, p);
        for (acc, y) in acc.iter_mut().zip(&ys) {
            let yv = lanes(y, p);
            for l in 0..DOT_LANES {
                acc[l] = M::mul_add(xs[l], yv[l], acc[l]);
            }
        }
    }
    let mut out = [T::ZERO; S];
    for ((o, acc), y) in out.iter_mut().zip(&acc).zip(&ys) {
        let mut tail = T::ZERO;
        for (&u, &v) in x[body..].iter().zip(&y[body..]) {
            tail = M::mul_add(u, v, tail);
        }
        // Pairwise, so the rounding does not grow with DOT_LANES.
        let mut acc = *acc;
        let mut width = DOT_LANES;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                acc[l] += acc[l + width];
            }
        }
        *o = acc[0] + tail;
    }
    out
}

/// `x[p..p + DOT_LANES]` as an array.
#[inline(always)]
fn lanes<T: Copy>(x: &[T], p: usize) -> &[T; DOT_LANES] {
    // Cannot fail: the slice has DOT_LANES elements.
    x[p..p + DOT_LANES].try_into().unwrap()
}

/// `y += s * x`.
#[inline(always)]
fn axpy<T: Float, M: MulAdd>(s: T, x: &[T], y: &mut [T]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = M::mul_add(s, v, *o);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// A kernel under test: the signature of [`gemm_packed_f32`].
    type Kernel<T> = fn(T, MatRef<'_, T>, MatRef<'_, T>, T, MatMut<'_, T>, &mut [T]);

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
            vec![
                ("dispatched", gemm_packed_f32),
                ("portable", gemm_packed::<f32, { TILE_F32.0 }, { TILE_F32.1 }, Separate>),
                ("portable 4x4", gemm_packed::<f32, 4, 4, Separate>),
                ("odd 3x5", gemm_packed::<f32, 3, 5, Separate>),
            ]
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
            vec![
                ("dispatched", gemm_packed_f64),
                ("portable", gemm_packed::<f64, { TILE_F64.0 }, { TILE_F64.1 }, Separate>),
                ("odd 5x3", gemm_packed::<f64, 5, 3, Separate>),
            ]
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
                    let case =
                        Case { pack, beta: 0.5, a_t: layout & 1 != 0, b_t: layout & 2 != 0, ..Case::new(m, n, k) };
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
                match Blocks::fit::<6, 16>(m, n, k, len) {
                    None => assert!(len < 22 || k == 0, "{len} {m} {n} {k}"),
                    Some(Blocks { kc, mc, nc }) => {
                        assert!(kc * (mc + nc) <= len && kc >= 1 && kc <= KC.min(k));
                        assert!(mc % 6 == 0 && nc % 16 == 0 && mc >= 6 && nc >= 16);
                        assert!(mc <= MC.max(6) && nc <= NC);
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
        if !x86::has_avx2_fma() {
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
                let four = unsafe { x86::dots_f32::<4>(&x32, [&ys32[0], &ys32[1], &ys32[2], &ys32[3]]) };
                // SAFETY: as above.
                let [one] = unsafe { x86::dots_f32::<1>(&x32, [&ys32[s]]) };
                let tol = 2.0 * (k as f64 + 3.0) * f32::EPSILON as f64 * size + 1e-30;
                assert!((four[s] as f64 - exact).abs() <= tol, "f32 k={k} column {s}");
                assert_eq!(one.to_bits(), four[s].to_bits(), "f32 k={k}: one column or four, the same sums");
                // SAFETY: as above.
                let four = unsafe { x86::dots_f64::<4>(&x, [&ys[0], &ys[1], &ys[2], &ys[3]]) };
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
                    unsafe { x86::transpose_f32(&rows, r, &mut got) };
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

    #[test]
    fn pack_len_gives_the_full_speed_blocks() {
        let skip = ALIGN_SLACK - 1; // the worst-case alignment skip for f32
        for &(m, n, k) in &[(1, 1, 1), (32, 128, 784), (64, 256, 784), (5, 3000, 70), (2000, 2000, 2000)] {
            assert!(pack_len(m, n, k) <= PACK_LEN);
            let full = Blocks::fit::<6, 16>(m, n, k, PACK_LEN - skip);
            assert_eq!(Blocks::fit::<6, 16>(m, n, k, pack_len(m, n, k) - skip), full, "{m} {n} {k}");
            let full = Blocks::fit::<4, 8>(m, n, k, PACK_LEN - skip);
            assert_eq!(Blocks::fit::<4, 8>(m, n, k, pack_len(m, n, k) - skip), full, "{m} {n} {k}");
        }
    }
}
