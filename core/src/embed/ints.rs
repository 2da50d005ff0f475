//! Integer tensors read by the compiler: the `I8` weights and `I32` biases and zero points
//! of an int8 model (the `quant` crate's twins), as [`param`](super::param) reads floats.

use super::{find, located, numel, Dtype, Embedded, Place, Report, Shape, TensorInfo, Weights};

/// `i8`, `i32` and arrays of them, any depth: the types an integer tensor is read into.
///
/// # Safety
/// A value is exactly [`IntArray::LEN`] elements of the type [`IntArray::DTYPE`] names
/// (`i8` or `i32`), contiguous, row-major, with no other bytes, and any bit pattern of
/// them is a valid value: [`ints`] writes the tensor's elements through a pointer to it.
pub unsafe trait IntArray: Copy {
    /// All zero.
    const ZERO: Self;
    /// How many integers it holds.
    const LEN: usize;
    /// Its dimensions, outer first.
    const DIMS: Shape;
    /// The element type: [`Dtype::I8`] or [`Dtype::I32`].
    const DTYPE: Dtype;
}

// SAFETY: one i8.
unsafe impl IntArray for i8 {
    const ZERO: Self = 0;
    const LEN: usize = 1;
    const DIMS: Shape = Shape { dims: [0; 8], rank: 0 };
    const DTYPE: Dtype = Dtype::I8;
}

// SAFETY: one i32.
unsafe impl IntArray for i32 {
    const ZERO: Self = 0;
    const LEN: usize = 1;
    const DIMS: Shape = Shape { dims: [0; 8], rank: 0 };
    const DTYPE: Dtype = Dtype::I32;
}

// SAFETY: an array of N values of A has no padding (its stride is A's size), so it is
// N * A::LEN elements of A's type, contiguous, element 0 first.
unsafe impl<A: IntArray, const N: usize> IntArray for [A; N] {
    const ZERO: Self = [A::ZERO; N];
    const LEN: usize = N * A::LEN;
    const DIMS: Shape = {
        let inner = A::DIMS;
        let mut dims = [N; 8];
        let mut i = 0;
        while i < inner.rank && i < 7 {
            dims[i + 1] = inner.dims[i];
            i += 1;
        }
        Shape { dims, rank: if inner.rank < 8 { inner.rank + 1 } else { 8 } }
    };
    const DTYPE: Dtype = A::DTYPE;
}

/// The integer tensor `leaf` of the module at `P`, held as `A` (`i8`, `i32` or arrays of
/// them) and called `shape`. A missing tensor, another shape or another dtype is
/// reported, and the value is then zero.
///
/// ```
/// use monograd_core::embed::{ints, Dtype, Root, TensorInfo, Weights};
///
/// struct File;
/// impl Weights for File {
///     const FILE: &'static str = "q.safetensors";
///     const PREFIX: &'static str = "";
///     const BYTES: &'static [u8] = &[0xff, 7, 0, 0, 0];
///     const TENSORS: &'static [TensorInfo] = &[
///         TensorInfo { name: "w", dtype: Dtype::I8, shape: &[1], start: 0, end: 1 },
///         TensorInfo { name: "b", dtype: Dtype::I32, shape: &[], start: 1, end: 5 },
///     ];
/// }
/// const W: [i8; 1] = ints::<Root<File>, [i8; 1]>("w", &[1]).value();
/// const B: i32 = ints::<Root<File>, i32>("b", &[]).value();
/// assert_eq!((W, B), ([-1], 7));
/// ```
pub const fn ints<P: Place, A: IntArray>(leaf: &str, shape: &[usize]) -> Embedded<A> {
    let mut report = Report::EMPTY;
    let mut value = A::ZERO;
    let Some(t) = located::<P>(&mut report, leaf, shape) else {
        return Embedded::new(value, report);
    };
    if !matches!((t.dtype, A::DTYPE), (Dtype::I8, Dtype::I8) | (Dtype::I32, Dtype::I32)) {
        report.problem(t.name);
        report.str("`: the model holds ");
        report.str(A::DTYPE.name());
        report.str(", the file ");
        report.str(t.dtype.name());
    } else if numel(shape) != A::LEN || t.end.wrapping_sub(t.start) != A::LEN * t.dtype.size() {
        report.problem(t.name);
        report.str("`: the layer holds ");
        report.usize(A::LEN);
        report.str(" values for a tensor of shape ");
        report.shape(shape);
    } else {
        read(&mut value, t, P::Weights::BYTES);
    }
    Embedded::new(value, report)
}

/// The shape of the tensor `leaf` of the module at `P`, if the file has it: for a module
/// whose tensors may take one of several shapes (an int8 filter's scales: one per tensor
/// or one per channel).
pub const fn shape_of<P: Place>(leaf: &str) -> Option<&'static [usize]> {
    match find(P::Weights::TENSORS, &P::NAME, leaf) {
        Some(i) => Some(P::Weights::TENSORS[i].shape),
        None => None,
    }
}

impl Report {
    /// Adds a problem about the tensor `name` of the model, in the words `what`: for a
    /// module whose tensors fit their shapes but not each other (a scale that gives no
    /// usable rescaling factor).
    pub const fn add(&mut self, name: &str, what: &str) {
        self.problem(name);
        self.str("`: ");
        self.str(what);
    }
}

/// Fills `value` with the tensor `t`'s elements from `bytes` (checked by [`ints`]: `t`
/// has `A`'s element type and exactly `A::LEN` elements).
const fn read<A: IntArray>(value: &mut A, t: TensorInfo, bytes: &[u8]) {
    let (start, n, size) = (t.start, A::LEN, A::DTYPE.size());
    if t.end > bytes.len() || t.start > t.end || t.end - t.start != n * size {
        return;
    }
    if cfg!(target_endian = "little") || size == 1 {
        // SAFETY: `start + n · size <= bytes.len()` (checked above), so the read stays
        // inside `bytes`; it is unaligned-safe; `A` is `n` integers of `size` bytes
        // (`IntArray`), every bit pattern valid, and the file's little-endian bytes are
        // their own bytes here (or single bytes). One copy, as for `f32` tensors.
        *value = unsafe { core::ptr::read_unaligned(bytes.as_ptr().add(start).cast::<A>()) };
        return;
    }
    // I32 on a big-endian target.
    let out = (value as *mut A).cast::<i32>();
    let mut k = 0;
    while k < n {
        let at = start + 4 * k;
        let v = i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        // SAFETY: `A` is `n` contiguous i32s (`IntArray`, `DTYPE` is I32) and `k < n`.
        unsafe { out.add(k).write(v) };
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::Root;

    struct File;
    impl Weights for File {
        const FILE: &'static str = "q.safetensors";
        const PREFIX: &'static str = "";
        // w: I8 [2, 3] at 0..6; b: I32 [2] = [-2, 70000] at 6..14 (unaligned).
        const BYTES: &'static [u8] = &[1, 2, 3, 0x80, 0x7f, 0xff, 0xfe, 0xff, 0xff, 0xff, 0x70, 0x11, 0x01, 0x00];
        const TENSORS: &'static [TensorInfo] = &[
            TensorInfo { name: "w", dtype: Dtype::I8, shape: &[2, 3], start: 0, end: 6 },
            TensorInfo { name: "b", dtype: Dtype::I32, shape: &[2], start: 6, end: 14 },
        ];
    }

    #[test]
    fn reads_i8_and_i32_at_any_offset() {
        const W: Embedded<[[i8; 3]; 2]> = ints::<Root<File>, [[i8; 3]; 2]>("w", &[2, 3]);
        const B: Embedded<[i32; 2]> = ints::<Root<File>, [i32; 2]>("b", &[2]);
        assert_eq!(W.value(), [[1, 2, 3], [-128, 127, -1]]);
        assert_eq!(B.value(), [-2, 70000]);
        let all = W.report.merge(&B.report).finish::<File>("Q");
        assert_eq!(all.problems(), 0, "{}", all.message());
        assert_eq!(shape_of::<Root<File>>("w"), Some(&[2usize, 3][..]));
        assert_eq!(shape_of::<Root<File>>("x"), None);
    }

    #[test]
    fn wrong_dtype_shape_or_name_is_reported() {
        const AS_I32: Embedded<[[i32; 3]; 2]> = ints::<Root<File>, [[i32; 3]; 2]>("w", &[2, 3]);
        const SHAPE: Embedded<[i8; 6]> = ints::<Root<File>, [i8; 6]>("w", &[6]);
        const GONE: Embedded<i32> = ints::<Root<File>, i32>("z", &[]);
        assert_eq!(AS_I32.value(), [[0; 3]; 2]);
        let mut r = AS_I32.report.merge(&SHAPE.report).merge(&GONE.report);
        r.add("b", "no usable rescaling factor");
        assert_eq!(r.problems(), 4);
        assert_eq!(
            r.message(),
            "\n  - `w`: the model holds I32, the file I8\n  - `w`: the model has shape [6], the file [2, 3]\n  \
             - `z` (shape []) is in the model but not in the file\n  - `b`: no usable rescaling factor"
        );
    }
}
