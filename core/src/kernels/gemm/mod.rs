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
//! operands, and the block sizes, taken from the caches this CPU reports (see
//! [Block sizes](#block-sizes)), keep an `A` panel in L1 and a `B` block in L2.
//!
//! | module | what |
//! | --- | --- |
//! | `packed` | the loop nest, packing, the portable microkernel and tile store, the unpacked loops |
//! | `blocking` | block sizes from the cache sizes the CPU reports |
//! | `prepacked` | products with `B` packed once and kept ([`prepack`], [`gemm_prepacked`]): a dense layer's weights during inference |
//! | `epilogue` | work fused into a product: bias and activation on each tile as it is stored, row sums of `A` from its packed panels ([`gemm_fused`]) |
//! | `dispatch` | which instruction set runs, chosen once per process ([`isa`], [`force_isa`]) |
//! | `portable` | the build every target runs: plain Rust that LLVM vectorizes |
//! | `avx2` | the same code compiled for AVX2+FMA, with AVX2 dot products and transposes |
//! | `avx512` | an AVX-512 microkernel in intrinsics for `f32` (12x32 tiles, 8-row tiles for short products, 16-column tiles for narrow ones, masked edges; row-major `A` read in place by 8-row tiles) |
//! | `neon` | `aarch64`: NEON microkernels (8x12 `f32`, 6x8 `f64`) and dot products, with FMA |
//! | `simd128` | `wasm32` with simd128: microkernels (4x8 `f32`, 4x4 `f64`) and dot products |
//!
//! The instruction set is chosen once: with `std` on `x86_64` by run-time feature
//! detection (AVX-512 for `f32` when the CPU has `avx512f`, else AVX2+FMA, else the
//! portable build; `f64` takes AVX2+FMA at best); elsewhere by the target the crate is
//! compiled for: NEON on `aarch64` (part of its baseline), simd128 on `wasm32` compiled
//! with `-C target-feature=+simd128`, and otherwise the portable build with the register
//! tile for that target (`-C target-cpu=...` widens its vectors). The only `unsafe` is in
//! the AVX2, AVX-512, NEON and simd128 modules (loads and stores of vectors, and the
//! calls into run-time-detected features).
//!
//! The block sizes adapt to the packing memory given: [`PACK_LEN`] (or [`pack_len`] for a
//! given shape) is enough for full speed, less works more slowly, and with too little
//! for one pair of panels (or for matrix-vector shapes, where packing would cost as much
//! as the product) the kernel runs unpacked loops.
//!
//! # Block sizes
//!
//! `kc` (the depth of a block) makes one `A` panel and one `B` panel fill the L1 data
//! cache; `nc` makes a `kc x nc` block of `B` fill half of L2; `mc` makes an `mc x kc`
//! block of `A` fill half of this core's share of L3. Each is rounded down to whole
//! register tiles and kept within bounds that size [`PACK_LEN`] (`kc` 64 to 256, `mc` up
//! to 192, `nc` up to 1024). The cache sizes come from CPUID (leaf 4, or 0x8000_001D on
//! AMD) on `x86_64` with `std`, from sysfs on other Linux targets with `std`, and where
//! none are known the blocks are fixed: `kc` 256, `mc` 96, `nc` 1024.

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

/// The deepest block (`k` per pass) on any machine (see [Block sizes](self#block-sizes)).
const KC: usize = 256;
/// The most rows of a packed `A` block on any machine.
const MC: usize = 192;
/// The most columns of a packed `B` block on any machine.
const NC: usize = 1024;
/// Elements the kernel may skip at the start of `pack` to align it to 64 bytes, so that
/// packed panels do not straddle cache lines.
const ALIGN_SLACK: usize = 16;
/// The widest register tile of any kernel build, for the bound in [`pack_len`].
const MAX_TILE: usize = 32;

/// Packing memory (in elements) with which the packed kernel runs at full speed, for any
/// shape on any machine: the largest block of `A` and of `B` the cache-derived block
/// sizes can ask for (`KC x MC` and `KC x NC`), plus a few elements of slack for
/// alignment. About 1.2 MB for `f32`.
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
    dispatch::gemm_f32(alpha, a, b, beta, c, pack);
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
    dispatch::gemm_f64(alpha, a, b, beta, c, pack);
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx512;
mod blocking;
mod dispatch;
mod epilogue;
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon;
mod packed;
mod portable;
mod prepacked;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(test)]
mod tests;

#[cfg(feature = "std")]
pub use dispatch::force_isa;
pub use dispatch::{isa, Isa};
pub(crate) use epilogue::gemm_fused_generic;
pub use epilogue::{gemm_fused, gemm_fused_f32, gemm_fused_f64, BiasAct, Epilogue, Identity};
pub use prepacked::{gemm_prepacked, prepack, prepacked_len, PackedLayout};
pub(crate) use prepacked::{gemm_prepacked_f32, prepack_f32};
