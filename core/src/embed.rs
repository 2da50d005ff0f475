//! Weights the compiler reads: what `include_weights!` builds on.
//!
//! `monograd::include_weights!(Net, "weights.safetensors")` reads the file when the crate
//! compiles and declares a [`Weights`] type for it: the file's bytes and, from its header,
//! each tensor's name, dtype, shape and place. Constant evaluation of
//! `<Net as Embed<Root<W>>>::EMBEDDED` then builds the network: each layer looks its
//! tensors up by its dotted name (the [`Place`] it sits at: `Field<Field<Root<W>, blocks>,
//! fc>` is `blocks.fc`), checks their shapes and dtypes, and notes what it used and what
//! did not fit in a [`Report`]; the macro turns a report with problems into a compile
//! error that lists them.
//!
//! The value that comes out is an ordinary `Net`. In a `static`, its weights are the
//! binary's read-only data, `f32` arrays aligned as `f32` and read where they lie (from
//! flash, on a microcontroller): nothing is copied, converted or allocated at run time,
//! and the file itself is not in the binary. `F32` tensors are taken as they are, `F16`
//! and `BF16` ones widened exactly by the compiler, as the run-time loader does; `F64`
//! ones are reported, since rounding them is something the run-time loader does only
//! when asked.
//!
//! Built-in layers implement [`Embed`] with [`param`] and [`counter`];
//! `#[derive(Module)]` (hence `network!`) implements it for structs of them, so a user
//! writes an impl only for a layer of their own:
//!
//! ```
//! use monograd_core::embed::{param, Embed, Embedded, Place};
//!
//! /// A learned per-feature scale.
//! struct Scale<const N: usize> {
//!     gain: [f32; N],
//! }
//!
//! impl<P: Place, const N: usize> Embed<P> for Scale<N> {
//!     const EMBEDDED: Embedded<Self> = {
//!         let gain = param::<P, [f32; N]>("gain", &[N]);
//!         let report = gain.report;
//!         Embedded::new(Scale { gain: gain.value() }, report)
//!     };
//! }
//! ```

use core::marker::PhantomData;
use core::mem::ManuallyDrop;

use crate::half::{bf16_to_f32, f16_to_f32};

pub mod header;
mod ints;

pub use ints::{ints, shape_of, IntArray};

/// The element types embedding reads from a safetensors file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE binary64: reported, not read (the run-time loader rounds it to `f32` only
    /// when asked to; re-save the weights as `F32`).
    F64,
    /// IEEE binary32, taken as it is.
    F32,
    /// IEEE binary16, widened exactly.
    F16,
    /// bfloat16, widened exactly.
    BF16,
    /// Signed 64-bit integers: counters such as BatchNorm's `num_batches_tracked`.
    I64,
    /// Signed 8-bit integers: an int8 model's weights ([`ints`]).
    I8,
    /// Signed 32-bit integers: an int8 model's biases and zero points ([`ints`]).
    I32,
}

impl Dtype {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I8 => 1,
        }
    }

    /// The name safetensors gives it (`"F32"`).
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I64 => "I64",
            Dtype::I8 => "I8",
            Dtype::I32 => "I32",
        }
    }

    /// Whether `f32` holds its values exactly.
    const fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F16 | Dtype::BF16)
    }
}

/// One tensor of an embedded file, as `include_weights!` read it from the header.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo {
    /// Its name (`fc1.weight`).
    pub name: &'static str,
    /// Its element type.
    pub dtype: Dtype,
    /// Its dimensions, outer first.
    pub shape: &'static [usize],
    /// Where its data starts in [`Weights::BYTES`] (the whole file, header included).
    pub start: usize,
    /// Where its data ends (exclusive); the macro checked that the range holds exactly
    /// the shape's elements and lies inside the file.
    pub end: usize,
}

/// A weights file read at compile time: what `include_weights!` declares for each file.
pub trait Weights {
    /// The path as the user wrote it, for messages.
    const FILE: &'static str;
    /// The dotted name the model's names are under in the file (`""`: the file's top).
    /// Only tensors under it must be used by the model.
    const PREFIX: &'static str;
    /// The whole file.
    const BYTES: &'static [u8];
    /// Every tensor in the header, in the header's order.
    const TENSORS: &'static [TensorInfo];
}

/// The most tensors an embedded file may hold: the width of [`Report`]'s record of the
/// tensors used.
pub const MAX_TENSORS: usize = 4096;

/// The longest dotted name embedding can build, in bytes.
pub const MAX_NAME: usize = 256;

/// A dotted name built by constant evaluation (`blocks.0.fc`).
#[derive(Clone, Copy, Debug)]
pub struct Name {
    bytes: [u8; MAX_NAME],
    len: usize,
    /// A segment did not fit: the name is cut short, and lookups under it fail.
    overflow: bool,
}

impl Name {
    /// The root: the empty name.
    pub const ROOT: Name = Name { bytes: [0; MAX_NAME], len: 0, overflow: false };

    /// This name followed by the field `segment`.
    pub const fn field(self, segment: &str) -> Name {
        self.dot().push(segment.as_bytes())
    }

    /// This name followed by the index `i`.
    pub const fn index(self, i: usize) -> Name {
        let mut digits = [0u8; 20];
        let n = write_usize(&mut digits, 0, i);
        self.dot().push(digits.split_at(n).0)
    }

    /// The name as text (cut short if it overflowed [`MAX_NAME`]).
    pub const fn as_str(&self) -> &str {
        utf8_prefix(&self.bytes, self.len)
    }

    const fn dot(self) -> Name {
        if self.len == 0 {
            self
        } else {
            self.push(b".")
        }
    }

    const fn push(mut self, s: &[u8]) -> Name {
        let mut i = 0;
        while i < s.len() {
            if self.len == MAX_NAME {
                self.overflow = true;
                return self;
            }
            self.bytes[self.len] = s[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Whether `full` is under this name: it or one of its descendants.
    const fn contains(&self, full: &str) -> bool {
        let (name, full) = (self.bytes.split_at(self.len).0, full.as_bytes());
        if self.len == 0 || bytes_eq(name, full) {
            return true;
        }
        full.len() > name.len() && full[name.len()] == b'.' && bytes_eq(name, full.split_at(name.len()).0)
    }

    /// Whether `full` is this name followed by `leaf` (by `.leaf`, unless either is empty).
    const fn is(&self, leaf: &str, full: &str) -> bool {
        let joined = if leaf.is_empty() { *self } else { self.field(leaf) };
        !joined.overflow && bytes_eq(joined.bytes.split_at(joined.len).0, full.as_bytes())
    }
}

/// A position in a module tree, as a type: what an [`Embed`] impl is evaluated at.
pub trait Place {
    /// The file the weights come from.
    type Weights: Weights;
    /// The dotted name of this position.
    const NAME: Name;
}

/// The root of a module tree whose weights come from `W`.
pub struct Root<W>(PhantomData<W>);

/// The field `N` of the module at `P`.
pub struct Field<P, N>(PhantomData<(P, N)>);

/// Element `I` of the array of modules at `P`.
pub struct Index<P, const I: usize>(PhantomData<P>);

/// The name of a field, as a type: `#[derive(Module)]` declares one for each field.
pub trait FieldName {
    /// The field's name in dotted paths.
    const NAME: &'static str;
}

impl<W: Weights> Place for Root<W> {
    type Weights = W;
    const NAME: Name = if W::PREFIX.is_empty() { Name::ROOT } else { Name::ROOT.field(W::PREFIX) };
}

impl<P: Place, N: FieldName> Place for Field<P, N> {
    type Weights = P::Weights;
    const NAME: Name = P::NAME.field(N::NAME);
}

impl<P: Place, const I: usize> Place for Index<P, I> {
    type Weights = P::Weights;
    const NAME: Name = P::NAME.index(I);
}

/// A module that can be built by constant evaluation from the weights at place `P`.
///
/// Implemented for every built-in layer over `f32`, for `f32` and arrays of it (raw
/// parameters), and by `#[derive(Module)]` for structs of such fields (arrays of modules
/// with literal lengths included, `#[module(skip)]` fields excluded).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be built from embedded weights",
    label = "no `Embed` impl",
    note = "built-in layers over `f32` and structs that derive `Module` implement `Embed`; a \
            layer of your own needs an impl (see `monograd::core::embed`), and a derived \
            struct gets one only if it has no `#[module(skip)]` field and its arrays of \
            modules have literal lengths"
)]
pub trait Embed<P: Place>: Sized {
    /// The module with the weights at `P`, and what did not fit.
    const EMBEDDED: Embedded<Self>;
}

/// A module built from embedded weights, with the report of its tensors.
///
/// The module is held in a `ManuallyDrop`, so that constant evaluation never has to drop
/// one: for a generic module type it could not prove that nothing needs dropping.
#[derive(Clone, Copy, Debug)]
pub struct Embedded<M> {
    value: ManuallyDrop<M>,
    /// Which tensors of the file it used, and what did not fit.
    pub report: Report,
}

impl<M> Embedded<M> {
    /// A module and its report.
    pub const fn new(value: M, report: Report) -> Self {
        Embedded { value: ManuallyDrop::new(value), report }
    }

    /// A module with no tensors: nothing used, nothing to report.
    pub const fn plain(value: M) -> Self {
        Self::new(value, Report::EMPTY)
    }

    /// The module (tensors that did not fit are zero; the report says which).
    pub const fn value(self) -> M {
        ManuallyDrop::into_inner(self.value)
    }
}

/// A file with no tensors: the weights of [`zeroed`].
pub struct NoWeights;

impl Weights for NoWeights {
    const FILE: &'static str = "";
    const PREFIX: &'static str = "";
    const BYTES: &'static [u8] = &[];
    const TENSORS: &'static [TensorInfo] = &[];
}

/// A module with every tensor zero, built by the compiler: a `const` (or `static`)
/// constructor for any module that can be embedded, so that a network and its gradient
/// can be `static`s on a device, initialised in place (`Module::init`) or loaded there.
/// Counters start at their base values and declared settings (`Dropout(0.2)`) are kept.
///
/// ```
/// use monograd_core::embed::zeroed;
/// use monograd_core::{Module, Rng};
/// # use monograd_core::embed::{param, Embed, Embedded, Place};
/// # #[derive(Debug, PartialEq)]
/// # struct Scale { gain: [f32; 3] }
/// # impl<P: Place> Embed<P> for Scale {
/// #     const EMBEDDED: Embedded<Self> = {
/// #         let gain = param::<P, [f32; 3]>("gain", &[3]);
/// #         let report = gain.report;
/// #         Embedded::new(Scale { gain: gain.value() }, report)
/// #     };
/// # }
/// static ZERO: Scale = zeroed();
/// assert_eq!(ZERO, Scale { gain: [0.0; 3] });
/// ```
pub const fn zeroed<M: Embed<Root<NoWeights>>>() -> M {
    // Every tensor is missing from the empty file, so the report lists them all and each
    // value is zero: the report is what is dropped here, on purpose.
    M::EMBEDDED.value()
}

const WORDS: usize = MAX_TENSORS / 64;
const TEXT: usize = 2048;

/// What building a module from a file found: which of the file's tensors it used, and
/// the problems, as text, one per line.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    used: [u64; WORDS],
    text: [u8; TEXT],
    len: usize,
    problems: usize,
}

impl Report {
    /// Nothing used, nothing wrong.
    pub const EMPTY: Report = Report { used: [0; WORDS], text: [0; TEXT], len: 0, problems: 0 };

    /// The tensors either report used, and the problems of both.
    pub const fn merge(mut self, other: &Report) -> Report {
        let mut w = 0;
        while w < WORDS {
            self.used[w] |= other.used[w];
            w += 1;
        }
        self.push(other.text.split_at(other.len).0);
        self.problems += other.problems;
        self
    }

    /// How many problems were found.
    pub const fn problems(&self) -> usize {
        self.problems
    }

    /// The problems, one per line (cut short at 2 KiB).
    pub const fn message(&self) -> &str {
        utf8_prefix(&self.text, self.len)
    }

    /// The report of a whole model of type `model` built from `W`: its problems, then
    /// every tensor of the file it did not use, under a line that names the file and the
    /// model. `include_weights!` fails to compile when this has problems.
    pub const fn finish<W: Weights>(&self, model: &str) -> Report {
        let mut unused = Report::EMPTY;
        let prefix = <Root<W> as Place>::NAME;
        let mut i = 0;
        while i < W::TENSORS.len() {
            let used = i < MAX_TENSORS && self.used[i / 64] & (1 << (i % 64)) != 0;
            if !used && prefix.contains(W::TENSORS[i].name) {
                unused.problem(W::TENSORS[i].name);
                unused.str("` is in the file but not in the model");
            }
            i += 1;
        }
        let all = self.merge(&unused);
        let mut out = Report::EMPTY;
        if all.problems > 0 {
            out.str("the weights in `");
            out.str(W::FILE);
            out.str("` do not fit `");
            out.str(model);
            // The count stays when the list is cut short.
            out.str("` (");
            out.usize(all.problems);
            out.str(if all.problems == 1 { " problem):" } else { " problems):" });
            out = out.merge(&all);
        }
        out
    }

    /// Starts a problem line about the tensor `name`, leaving the backtick open.
    const fn problem(&mut self, name: &str) {
        self.str("\n  - `");
        self.str(name);
        self.problems += 1;
    }

    const fn str(&mut self, s: &str) {
        self.push(s.as_bytes());
    }

    const fn push(&mut self, s: &[u8]) {
        let room = TEXT - self.len;
        let mut n = if s.len() < room { s.len() } else { room };
        // Whole UTF-8 characters only, so that a full buffer still reads as text.
        while n > 0 && n < s.len() && (s[n] & 0xC0) == 0x80 {
            n -= 1;
        }
        let mut i = 0;
        while i < n {
            self.text[self.len] = s[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn usize(&mut self, v: usize) {
        let mut digits = [0u8; 20];
        let n = write_usize(&mut digits, 0, v);
        self.push(digits.split_at(n).0);
    }

    const fn shape(&mut self, shape: &[usize]) {
        self.str("[");
        let mut i = 0;
        while i < shape.len() {
            if i > 0 {
                self.str(", ");
            }
            self.usize(shape[i]);
            i += 1;
        }
        self.str("]");
    }

    const fn mark(&mut self, i: usize) {
        if i < MAX_TENSORS {
            self.used[i / 64] |= 1 << (i % 64);
        }
    }
}

/// `f32` and arrays of it, any depth: the types a tensor is read into, and the raw
/// parameters of a module.
///
/// # Safety
/// A value is exactly [`FloatArray::LEN`] `f32`s, contiguous, row-major, with no other
/// bytes, and any bit pattern of them is a valid value: [`param`] writes the tensor's
/// elements through a `*mut f32` to the value.
pub unsafe trait FloatArray: Copy {
    /// All zero.
    const ZERO: Self;
    /// How many `f32`s it holds.
    const LEN: usize;
    /// Its dimensions, outer first (`[[f32; 3]; 2]` is `[2, 3]`).
    const DIMS: Shape;
}

// SAFETY: one f32.
unsafe impl FloatArray for f32 {
    const ZERO: Self = 0.0;
    const LEN: usize = 1;
    const DIMS: Shape = Shape { dims: [0; 8], rank: 0 };
}

// SAFETY: an array of N values of A has no padding (its stride is A's size), so it is
// N * A::LEN f32s, contiguous, element 0 first.
unsafe impl<A: FloatArray, const N: usize> FloatArray for [A; N] {
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
}

/// Raw parameters (`f32`, `[f32; N]`, `[[f32; N]; M]`, ...) are the tensor at their own
/// place, with the shape of their nesting.
impl<P: Place, A: FloatArray> Embed<P> for A {
    const EMBEDDED: Embedded<Self> = param::<P, A>("", A::DIMS.as_slice());
}

/// A shape of at most 8 dimensions (more are cut off, and then do not match any file's),
/// built by constant evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    dims: [usize; 8],
    rank: usize,
}

impl Shape {
    /// The dimensions.
    pub const fn as_slice(&self) -> &[usize] {
        self.dims.split_at(self.rank).0
    }
}

/// The tensor `leaf` of the module at `P`, marked as read, if the file has it with
/// `shape`; a missing tensor or another shape is reported (the caller's value then stays
/// its fallback). What every typed reader below checks first.
const fn located<P: Place>(report: &mut Report, leaf: &str, shape: &[usize]) -> Option<TensorInfo> {
    let tensors = P::Weights::TENSORS;
    let Some(i) = find(tensors, &P::NAME, leaf) else {
        missing(report, &P::NAME, leaf, shape);
        return None;
    };
    report.mark(i);
    let t = tensors[i];
    if !shape_eq(t.shape, shape) {
        report.problem(t.name);
        report.str("`: the model has shape ");
        report.shape(shape);
        report.str(", the file ");
        report.shape(t.shape);
        return None;
    }
    Some(t)
}

/// The tensor `leaf` of the module at `P` (the tensor at `P` itself if `leaf` is empty),
/// which the module holds as `A` and calls `shape` (PyTorch's layout).
///
/// A missing tensor, another shape or a dtype that is not a float is reported, and the
/// value is then zero.
pub const fn param<P: Place, A: FloatArray>(leaf: &str, shape: &[usize]) -> Embedded<A> {
    let mut report = Report::EMPTY;
    let mut value = A::ZERO;
    let Some(t) = located::<P>(&mut report, leaf, shape) else {
        return Embedded::new(value, report);
    };
    if !t.dtype.is_float() {
        report.problem(t.name);
        report.str("`: the model holds f32, the file ");
        report.str(t.dtype.name());
        if matches!(t.dtype, Dtype::F64) {
            report.str(" (embedding does not round: save the weights as F32)");
        }
    } else if numel(shape) != A::LEN || t.end.wrapping_sub(t.start) != A::LEN * t.dtype.size() {
        // The layer's `Embed` impl declares a shape its storage does not have.
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

/// The integer counter `leaf` of the module at `P` (an `I64` scalar: BatchNorm's
/// `num_batches_tracked`), or `base` if it does not fit (reported).
pub const fn counter<P: Place>(leaf: &str, base: u64) -> Embedded<u64> {
    let mut report = Report::EMPTY;
    let Some(t) = located::<P>(&mut report, leaf, &[]) else {
        return Embedded::new(base, report);
    };
    let value = if !matches!(t.dtype, Dtype::I64) || t.end.wrapping_sub(t.start) != 8 {
        report.problem(t.name);
        report.str("`: the model holds an I64 counter, the file ");
        report.str(t.dtype.name());
        base
    } else {
        // The same check as the macro's and the run-time loader's: a negative count is
        // refused (the macro already refused the file; this guards `Weights` written by hand).
        match header::counter(t.name, true, bytes8(P::Weights::BYTES, t.start)) {
            Ok(v) => v,
            Err(_) => {
                report.problem(t.name);
                report.str("`: the file's I64 counter is negative, not a count");
                base
            }
        }
    };
    Embedded::new(value, report)
}

const fn missing(report: &mut Report, at: &Name, leaf: &str, shape: &[usize]) {
    report.problem(at.as_str());
    if !leaf.is_empty() {
        if at.len > 0 {
            report.str(".");
        }
        report.str(leaf);
    }
    if at.overflow {
        report.str("...`: the name is longer than ");
        report.usize(MAX_NAME);
        report.str(" bytes");
    } else {
        report.str("` (shape ");
        report.shape(shape);
        report.str(") is in the model but not in the file");
    }
}

const fn find(tensors: &[TensorInfo], at: &Name, leaf: &str) -> Option<usize> {
    let mut i = 0;
    while i < tensors.len() {
        if at.is(leaf, tensors[i].name) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Fills `value` with the tensor `t`'s elements from `bytes` (checked by [`param`]: `t` is
/// a float tensor of exactly `A::LEN` elements).
const fn read<A: FloatArray>(value: &mut A, t: TensorInfo, bytes: &[u8]) {
    let (start, n) = (t.start, A::LEN);
    if t.end > bytes.len() || t.start > t.end {
        return;
    }
    if cfg!(target_endian = "little") && matches!(t.dtype, Dtype::F32) {
        // SAFETY: `start + 4n <= bytes.len()` (checked above, with `t.end - t.start` equal
        // to `4n` by `param`), so the read stays inside `bytes`; it is unaligned-safe; and
        // `A` is `n` f32s (`FloatArray`), every bit pattern valid. On a little-endian
        // target the file's bytes are the f32s' own bytes. One copy instead of a loop per
        // element: an MNIST-sized layer (100k values) embeds in well under a second rather
        // than the many seconds element-wise constant evaluation takes.
        *value = unsafe { core::ptr::read_unaligned(bytes.as_ptr().add(start).cast::<A>()) };
        return;
    }
    let out = (value as *mut A).cast::<f32>();
    if matches!(t.dtype, Dtype::F16 | Dtype::BF16) {
        // A chunk of halves at a time, read with one copy: constant evaluation is much
        // slower at indexing bytes one by one than at converting.
        const CHUNK: usize = 256;
        let mut k = 0;
        while k < n {
            let mut chunk = [0u16; CHUNK];
            let len = if n - k < CHUNK { n - k } else { CHUNK };
            if cfg!(target_endian = "little") && len == CHUNK {
                // SAFETY: `start + 2n <= bytes.len()` (as above) and `k + CHUNK <= n`, so
                // the read stays inside `bytes`; any bits are a valid u16.
                chunk = unsafe { core::ptr::read_unaligned(bytes.as_ptr().add(start + 2 * k).cast::<[u16; CHUNK]>()) };
            } else {
                let mut i = 0;
                while i < len {
                    let at = start + 2 * (k + i);
                    chunk[i] = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
                    i += 1;
                }
            }
            let f16 = matches!(t.dtype, Dtype::F16);
            let mut i = 0;
            while i < len {
                let v = if f16 { widen_f16(chunk[i]) } else { bf16_to_f32(chunk[i]) };
                // SAFETY: `A` is `n` contiguous f32s (`FloatArray`) and `k + i < n`.
                unsafe { out.add(k + i).write(v) };
                i += 1;
            }
            k += len;
        }
        return;
    }
    // F32 on a big-endian target.
    let mut k = 0;
    while k < n {
        let v = f32::from_bits(u32::from_le_bytes(bytes4(bytes, start + 4 * k)));
        // SAFETY: `A` is `n` contiguous f32s (`FloatArray`) and `k < n`.
        unsafe { out.add(k).write(v) };
        k += 1;
    }
}

/// [`f16_to_f32`], with the common case (a normal half) in a few operations: constant
/// evaluation pays for every one.
const fn widen_f16(h: u16) -> f32 {
    let exp = h & 0x7C00;
    if exp != 0 && exp != 0x7C00 {
        // Move the sign, rebias the exponent by 112 (127 - 15), shift the rest into place.
        f32::from_bits((((h & 0x8000) as u32) << 16) | ((((h & 0x7FFF) as u32) + 0x1_C000) << 13))
    } else {
        f16_to_f32(h)
    }
}

const fn bytes4(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

const fn bytes8(b: &[u8], at: usize) -> [u8; 8] {
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5], b[at + 6], b[at + 7]]
}

const fn numel(shape: &[usize]) -> usize {
    let mut n = 1;
    let mut i = 0;
    while i < shape.len() {
        n *= shape[i];
        i += 1;
    }
    n
}

const fn shape_eq(a: &[usize], b: &[usize]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Writes `v` in decimal at `buf[at..]`; returns the end.
const fn write_usize(buf: &mut [u8; 20], at: usize, v: usize) -> usize {
    let mut d = 1;
    while d <= v / 10 {
        d *= 10;
    }
    let (mut v, mut i) = (v, at);
    while d > 0 {
        buf[i] = b'0' + (v / d) as u8;
        v %= d;
        d /= 10;
        i += 1;
    }
    i
}

/// The first `len` bytes of `bytes` as text (whole characters only: the writers stop at
/// a character boundary).
const fn utf8_prefix(bytes: &[u8], len: usize) -> &str {
    match core::str::from_utf8(bytes.split_at(len).0) {
        Ok(s) => s,
        Err(_) => "(not UTF-8)",
    }
}

/// Layers with no tensors: their embedded value is their default.
#[macro_export]
#[doc(hidden)]
macro_rules! __embed_plain {
    ($([$($g:tt)*] $ty:ty = $value:expr;)*) => {$(
        impl<__P: $crate::embed::Place, $($g)*> $crate::embed::Embed<__P> for $ty {
            const EMBEDDED: $crate::embed::Embedded<Self> = $crate::embed::Embedded::plain($value);
        }
    )*};
}

#[cfg(test)]
mod tests {
    // The test harness links std whatever the features; naming it here lets these tests
    // build with `--no-default-features` too.
    extern crate std;

    use super::*;

    struct File;
    const BYTES: &[u8] = &{
        let mut b = [0u8; 40];
        // a: F32 [2] = [1.5, -2.0] at 0..8; b: F16 [2] = [1.0, -2.0] at 8..12;
        // c: I64 [] = 7 at 16..24; d: F64 [2] = [0.1, 3.0] at 24..40.
        let (x, y) = (1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes());
        let mut i = 0;
        while i < 4 {
            b[i] = x[i];
            b[4 + i] = y[i];
            i += 1;
        }
        b[8] = 0x00;
        b[9] = 0x3C;
        b[10] = 0x00;
        b[11] = 0xC0;
        b[16] = 7;
        let (p, q) = (0.1f64.to_le_bytes(), 3.0f64.to_le_bytes());
        let mut i = 0;
        while i < 8 {
            b[24 + i] = p[i];
            b[32 + i] = q[i];
            i += 1;
        }
        b
    };
    impl Weights for File {
        const FILE: &'static str = "test.safetensors";
        const PREFIX: &'static str = "";
        const BYTES: &'static [u8] = BYTES;
        const TENSORS: &'static [TensorInfo] = &[
            TensorInfo { name: "blk.a", dtype: Dtype::F32, shape: &[2], start: 0, end: 8 },
            TensorInfo { name: "blk.b", dtype: Dtype::F16, shape: &[2], start: 8, end: 12 },
            TensorInfo { name: "blk.c", dtype: Dtype::I64, shape: &[], start: 16, end: 24 },
            TensorInfo { name: "d.3", dtype: Dtype::F64, shape: &[2, 1], start: 24, end: 40 },
        ];
    }
    struct Blk;
    impl FieldName for Blk {
        const NAME: &'static str = "blk";
    }
    struct D;
    impl FieldName for D {
        const NAME: &'static str = "d";
    }
    struct A;
    impl FieldName for A {
        const NAME: &'static str = "a";
    }
    type AtBlk = Field<Root<File>, Blk>;

    #[test]
    fn every_dtype_reads_as_the_loader_does() {
        const A: Embedded<[f32; 2]> = param::<AtBlk, [f32; 2]>("a", &[2]);
        const B: Embedded<[f32; 2]> = param::<AtBlk, [f32; 2]>("b", &[2]);
        const C: Embedded<u64> = counter::<AtBlk>("c", 0);
        assert_eq!(A.value(), [1.5, -2.0]);
        assert_eq!(B.value(), [1.0, -2.0]);
        assert_eq!(C.value(), 7);
        let all = A.report.merge(&B.report).merge(&C.report);
        assert_eq!(all.problems(), 0, "{}", all.message());
        // Only `d.3` is left: under the prefix `blk`, nothing is.
        assert_eq!(
            all.finish::<File>("M").message(),
            "the weights in `test.safetensors` do not fit `M` (1 problem):\n  - `d.3` is in the file but not in the model"
        );
        struct Under;
        impl Weights for Under {
            const FILE: &'static str = File::FILE;
            const PREFIX: &'static str = "blk";
            const BYTES: &'static [u8] = File::BYTES;
            const TENSORS: &'static [TensorInfo] = File::TENSORS;
        }
        const A2: Embedded<[f32; 2]> = <[f32; 2] as Embed<Field<Root<Under>, A>>>::EMBEDDED;
        const B2: Embedded<[f32; 2]> = param::<Root<Under>, [f32; 2]>("b", &[2]);
        const C2: Embedded<u64> = counter::<Root<Under>>("c", 0);
        assert_eq!((A2.value(), B2.value(), C2.value()), (A.value(), B.value(), C.value()));
        let all = A2.report.merge(&B2.report).merge(&C2.report).finish::<Under>("M");
        assert_eq!(all.problems(), 0, "{}", all.message());
    }

    #[test]
    fn problems_name_the_tensor_and_both_shapes() {
        const WRONG: Embedded<[f32; 3]> = param::<AtBlk, [f32; 3]>("a", &[3]);
        const GONE: Embedded<[f32; 2]> = param::<AtBlk, [f32; 2]>("z", &[2]);
        const INT: Embedded<f32> = param::<AtBlk, f32>("c", &[]);
        const WIDE: Embedded<[[f32; 1]; 2]> = <[[f32; 1]; 2] as Embed<Index<Field<Root<File>, D>, 3>>>::EMBEDDED;
        assert_eq!(WRONG.value(), [0.0; 3]);
        assert_eq!(WIDE.value(), [[0.0]; 2]);
        let r = WRONG.report.merge(&GONE.report).merge(&INT.report).merge(&WIDE.report).finish::<File>("Model<3>");
        assert_eq!(r.problems(), 5);
        assert_eq!(
            r.message(),
            "the weights in `test.safetensors` do not fit `Model<3>` (5 problems):\n  \
             - `blk.a`: the model has shape [3], the file [2]\n  \
             - `blk.z` (shape [2]) is in the model but not in the file\n  \
             - `blk.c`: the model holds f32, the file I64\n  \
             - `d.3`: the model holds f32, the file F64 (embedding does not round: save the weights as F32)\n  \
             - `blk.b` is in the file but not in the model"
        );
    }

    #[test]
    fn names_and_shapes_build_in_constants() {
        const N: Name = Name::ROOT.field("blocks").index(12).field("fc");
        assert_eq!(N.as_str(), "blocks.12.fc");
        assert_eq!(<[[[f32; 4]; 3]; 2] as FloatArray>::DIMS.as_slice(), &[2, 3, 4]);
        assert_eq!(<f32 as FloatArray>::DIMS.as_slice(), &[] as &[usize]);
        let long = Name::ROOT.field(core::str::from_utf8(&[b'x'; MAX_NAME]).unwrap()).field("y");
        assert!(long.overflow && !long.is("", "x"));
        let blk = Name::ROOT.field("blk");
        assert!(blk.contains("blk") && blk.contains("blk.a.b") && !blk.contains("blkx") && !blk.contains("bl"));
    }

    #[test]
    fn halves_read_in_chunks_and_the_rest_one_by_one() {
        // 600 halves: two whole chunks, read with one copy each, and 88 read byte by byte.
        const N: usize = 600;
        struct Halves;
        impl Weights for Halves {
            const FILE: &'static str = "halves.safetensors";
            const PREFIX: &'static str = "";
            const BYTES: &'static [u8] = &{
                let mut b = [0u8; 2 * N + 1];
                let mut i = 0;
                while i < N {
                    // Every kind of half: normals, subnormals, zeros, infinities, NaNs.
                    let h = ((i * 109) as u16).wrapping_mul(0x3A1);
                    b[1 + 2 * i] = h as u8;
                    b[2 + 2 * i] = (h >> 8) as u8;
                    i += 1;
                }
                b
            };
            // Data at an odd offset: the reads must not assume alignment.
            const TENSORS: &'static [TensorInfo] =
                &[TensorInfo { name: "h", dtype: Dtype::F16, shape: &[N], start: 1, end: 1 + 2 * N }];
        }
        const H: Embedded<[f32; N]> = param::<Root<Halves>, [f32; N]>("h", &[N]);
        let got = H.value();
        for (i, v) in got.iter().enumerate() {
            let h = u16::from_le_bytes([Halves::BYTES[1 + 2 * i], Halves::BYTES[2 + 2 * i]]);
            assert_eq!(v.to_bits(), f16_to_f32(h).to_bits(), "element {i}");
        }
    }

    #[test]
    fn the_quick_widening_of_halves_is_exact() {
        for h in 0..=u16::MAX {
            assert_eq!(widen_f16(h).to_bits(), f16_to_f32(h).to_bits(), "{h:#06x}");
        }
    }

    #[test]
    fn a_full_report_stays_text() {
        let mut r = Report::EMPTY;
        let mut i = 0;
        while r.len + 1 < TEXT {
            r.problem("é");
            i += 1;
        }
        assert!(i > 100 && r.message().len() <= TEXT);
        let header = r.finish::<File>("M");
        let want = std::format!("the weights in `test.safetensors` do not fit `M` ({} problems):", i + 4);
        assert!(header.message().starts_with(&want), "{}", header.message());
    }

    #[test]
    fn a_negative_counter_is_a_problem_not_a_huge_count() {
        struct Neg;
        const NEG: [u8; 8] = (-3i64).to_le_bytes();
        impl Weights for Neg {
            const FILE: &'static str = "neg.safetensors";
            const PREFIX: &'static str = "";
            const BYTES: &'static [u8] = &NEG;
            const TENSORS: &'static [TensorInfo] =
                &[TensorInfo { name: "n", dtype: Dtype::I64, shape: &[], start: 0, end: 8 }];
        }
        const N: Embedded<u64> = counter::<Root<Neg>>("n", 5);
        assert_eq!(N.report.problems(), 1);
        assert!(N.report.message().contains("`n`: the file's I64 counter is negative"), "{}", N.report.message());
        assert_eq!(N.value(), 5);
    }
}
