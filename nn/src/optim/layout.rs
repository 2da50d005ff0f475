//! Which model an optimizer serves: [`Layout`], a model's parameter layout, and
//! [`LayoutLock`], which an optimizer keeps so that a model of another layout is refused.
//!
//! An optimizer's state (momentum, moments) is laid out by parameter offset, so it means
//! something only for the model it was built up with. Stepping a second model through the
//! same optimizer would silently use the first model's moments for the second model's
//! parameters. So every optimizer remembers the layout of the model it was first used
//! with, and a step with a model of another layout is an [`OptimError::Layout`] naming
//! both. A model of the same layout (a clone, another instance of the same type) is
//! accepted: the state fits it, and sharing it is then the caller's choice.
//!
//! A layout is the parameter count and a fingerprint of the tensors that count towards it
//! (trainable and frozen, not buffers): a 64-bit FNV-1a hash of their names and shapes in
//! visit order, computed without allocating. A model's layout is a constant of its type,
//! so a step with a model of the first model's type (same type name, size and parameter
//! count) is accepted without hashing: that check takes nanoseconds, where hashing the
//! names would cost about as much as a whole step of a small network. Any other model is
//! fingerprinted, and accepted if its layout is the same.

use core::fmt::{self, Write};

use monograd_core::module::{Kind, Path};
use monograd_core::{Module, Scalar};

use super::OptimError;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A 64-bit FNV-1a hash fed through `fmt::Write`, so a [`Path`] hashes as it prints
/// without being built as a string.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }
}

impl Write for Fnv {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

/// A model's parameter layout: its parameter count ([`Module::PARAMS`]), how many tensors
/// hold them, and a fingerprint of their names and shapes in visit order.
///
/// Two models have the same layout exactly when an optimizer's state for one fits the
/// other (up to the 64-bit hash's collisions).
///
/// ```
/// use monograd_nn::optim::Layout;
/// use monograd_nn::Linear;
///
/// let a = Layout::of(&Linear::<784, 128, f32>::ZERO);
/// assert_eq!((a.params(), a.tensors()), (100_480, 2));
/// assert_eq!(Layout::of(&Linear::<784, 128, f32>::ZERO), a);
/// assert_ne!(Layout::of(&Linear::<784, 64, f32>::ZERO), a);
/// assert!(a.to_string().starts_with("100,480 parameters in 2 tensors (layout 0x"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    params: usize,
    tensors: usize,
    fingerprint: u64,
}

impl Layout {
    /// The layout of `model`: one visit of its tensors, no allocation.
    pub fn of<T: Scalar, M: Module<T>>(model: &M) -> Self {
        let mut hash = Fnv(FNV_OFFSET);
        let mut tensors = 0;
        model.visit(&Path::ROOT, &mut |t| {
            if t.kind == Kind::Buffer {
                return;
            }
            tensors += 1;
            // The name, a byte no UTF-8 text holds to end it, then the rank and the
            // dimensions: no two different lists hash the same bytes.
            let _ = write!(hash, "{}", t.path);
            hash.bytes(&[0xff]);
            hash.bytes(&(t.shape.len() as u64).to_le_bytes());
            for &d in t.shape {
                hash.bytes(&(d as u64).to_le_bytes());
            }
        });
        Self { params: M::PARAMS, tensors, fingerprint: hash.0 }
    }

    /// The parameter count, [`Module::PARAMS`] (trainable and frozen).
    pub fn params(&self) -> usize {
        self.params
    }

    /// How many tensors hold the parameters.
    pub fn tensors(&self) -> usize {
        self.tensors
    }

    /// The 64-bit FNV-1a hash of the tensors' names and shapes, in visit order.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// `235,146 parameters in 4 tensors (layout 0x...)`.
impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        grouped(f, self.params)?;
        let (p, t) = (plural(self.params), plural(self.tensors));
        write!(f, " parameter{p} in {} tensor{t} (layout {:#018x})", self.tensors, self.fingerprint)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `n` with a comma between groups of three digits: `235,146`.
fn grouped(f: &mut fmt::Formatter<'_>, n: usize) -> fmt::Result {
    if n >= 1000 {
        grouped(f, n / 1000)?;
        write!(f, ",{:03}", n % 1000)
    } else {
        write!(f, "{n}")
    }
}

/// What an optimizer keeps to serve one model: the layout of the model it was first used
/// with, adopted at the first [`check`](Self::check) and compared at every later one.
///
/// Every built-in optimizer holds one. An optimizer of your own holds one too and calls
/// [`check`](Self::check) first thing in its [`Optimizer::try_step`](super::Optimizer::try_step),
/// [`clear`](Self::clear) where it forgets its state (a reset, a restore from a
/// checkpoint), and returns [`layout`](Self::layout) from
/// [`Optimizer::layout`](super::Optimizer::layout).
///
/// With the `alloc` feature the lock also keeps the first model's leading tensor names and
/// shapes (in 256 bytes of its own: the check never allocates), so that a refusal names
/// the first tensor that differs; without it, the refusal gives both layouts only.
///
/// ```
/// use monograd_nn::optim::{LayoutLock, OptimError};
/// use monograd_nn::Linear;
///
/// let mut lock = LayoutLock::new();
/// lock.check("Lion", &Linear::<4, 8, f32>::ZERO)?; // adopted
/// lock.check("Lion", &Linear::<4, 8, f32>::ZERO)?; // the same layout: accepted
/// let e = lock.check("Lion", &Linear::<4, 2, f32>::ZERO).unwrap_err();
/// assert!(matches!(e, OptimError::Layout(_)));
/// assert!(e.to_string().starts_with("this Lion was first used with a model of 40 parameters"));
/// # Ok::<(), OptimError>(())
/// ```
#[derive(Clone)]
pub struct LayoutLock {
    layout: Option<Layout>,
    /// The first model's type name and size: a step with a model of the same type, whose
    /// layout is a constant of the type, needs no fingerprint.
    model: Option<(&'static str, usize)>,
    /// The first model's leading tensors, for the message of a refusal.
    #[cfg(feature = "alloc")]
    memo: Memo,
}

impl Default for LayoutLock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LayoutLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayoutLock").field("layout", &self.layout).finish_non_exhaustive()
    }
}

impl LayoutLock {
    /// A lock that has seen no model yet.
    pub const fn new() -> Self {
        Self {
            layout: None,
            model: None,
            #[cfg(feature = "alloc")]
            memo: Memo { bytes: [0; MEMO], len: 0, complete: true },
        }
    }

    /// The layout adopted, if any model has been checked since creation or [`Self::clear`].
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// Forgets the layout: the next check adopts the model it is given.
    pub fn clear(&mut self) {
        self.layout = None;
        self.model = None;
    }

    /// Adopts `model`'s layout if none is held, else compares: `Ok` if `model` has the
    /// layout held. Allocates nothing unless it refuses.
    ///
    /// # Errors
    /// [`OptimError::Layout`] if `model`'s layout differs from the one held, naming
    /// `optimizer` and both layouts.
    pub fn check<T: Scalar, M: Module<T>>(&mut self, optimizer: &'static str, model: &M) -> Result<(), OptimError> {
        // The common case, the first model's type again, in a few nanoseconds: hashing the
        // names costs about as much as a whole step of a small network. Type names are not
        // unique (two local types of one name), so the size and the parameter count must
        // agree too; any other model gets the fingerprint.
        let ty = (core::any::type_name::<M>(), core::mem::size_of::<M>());
        if self.model == Some(ty) && self.layout.is_some_and(|l| l.params == M::PARAMS) {
            return Ok(());
        }
        let this = Layout::of(model);
        match self.layout {
            None => {
                self.layout = Some(this);
                self.model = Some(ty);
                #[cfg(feature = "alloc")]
                self.memo.remember(model);
                Ok(())
            }
            Some(first) if first == this => Ok(()),
            Some(first) => Err(OptimError::Layout(LayoutMismatch {
                optimizer,
                first,
                this,
                #[cfg(feature = "alloc")]
                difference: Some(self.memo.first_difference(model)),
            })),
        }
    }
}

/// Bytes a lock keeps of its first model's tensor names and shapes: a dozen tensors of
/// an MLP's or a small CNN's names.
#[cfg(feature = "alloc")]
const MEMO: usize = 256;

/// The first model's leading tensors, `name [dims]` one a line, in a fixed buffer: the
/// check allocates nothing, so that an optimizer over a caller's buffer trains with no
/// heap at all.
#[cfg(feature = "alloc")]
#[derive(Clone)]
struct Memo {
    bytes: [u8; MEMO],
    len: usize,
    /// Whether every tensor fitted.
    complete: bool,
}

#[cfg(feature = "alloc")]
impl Memo {
    /// Keeps the lines of `model`'s tensors while they fit.
    fn remember<T: Scalar, M: Module<T>>(&mut self, model: &M) {
        self.len = 0;
        self.complete = true;
        model.visit(&Path::ROOT, &mut |t| {
            if t.kind == Kind::Buffer || !self.complete {
                return;
            }
            let start = self.len;
            if writeln!(self, "{} {}", t.path, Dims(t.shape)).is_err() {
                // Whole lines only: the text stays valid UTF-8.
                self.len = start;
                self.complete = false;
            }
        });
    }

    fn lines(&self) -> core::str::Lines<'_> {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("").lines()
    }

    /// `first difference: fc1.weight [128, 784] there, [64, 784] here`: the first tensor
    /// of `model` that differs from the remembered one at its position, or how many agree
    /// when the difference is past the tensors remembered (on the error path: allocates).
    fn first_difference<T: Scalar, M: Module<T>>(&self, model: &M) -> alloc::boxed::Box<str> {
        use alloc::string::String;
        let (mut there, mut same) = (self.lines(), 0);
        let mut found: Option<(Option<&str>, String)> = None;
        let mut past_memo = false;
        model.visit(&Path::ROOT, &mut |t| {
            if t.kind == Kind::Buffer || found.is_some() || past_memo {
                return;
            }
            let here = alloc::format!("{} {}", t.path, Dims(t.shape));
            match there.next() {
                Some(old) if old == here => same += 1,
                None if !self.complete => past_memo = true,
                old => found = Some((old, here)),
            }
        });
        let (old, here) = match found {
            Some(pair) => pair,
            // This model's tensors all match the first ones' that were remembered.
            None => match there.next() {
                Some(old) if !past_memo => (Some(old), String::from("nothing")),
                _ => return alloc::format!("the first {same} tensors agree (as many as were remembered)").into(),
            },
        };
        let name = |d: &str| d.rsplit_once(" [").map_or(d.len(), |(n, _)| n.len());
        match old {
            // Same name: the shapes tell the difference.
            Some(old) if old[..name(old)] == here[..name(&here)] => {
                alloc::format!("first difference: {old} there, {} here", &here[name(&here) + 1..])
            }
            Some(old) => alloc::format!("first difference: {old} there, {here} here"),
            None => alloc::format!("first difference: nothing there, {here} here"),
        }
        .into_boxed_str()
    }
}

/// Writes while the buffer has room; a write that does not fit is an error.
#[cfg(feature = "alloc")]
impl Write for Memo {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `[2, 3]`; `[]` for a scalar.
#[cfg(feature = "alloc")]
struct Dims<'a>(&'a [usize]);

#[cfg(feature = "alloc")]
impl fmt::Display for Dims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// An optimizer was given a model of another layout than the one it was first used
/// with: the contents of [`OptimError::Layout`].
#[derive(Clone, PartialEq, Eq)]
pub struct LayoutMismatch {
    optimizer: &'static str,
    first: Layout,
    this: Layout,
    /// The first tensor that differs, both ways (with `alloc`; boxed to keep the error
    /// small).
    #[cfg(feature = "alloc")]
    difference: Option<alloc::boxed::Box<str>>,
}

impl LayoutMismatch {
    /// The optimizer (`"Adam"`).
    pub fn optimizer(&self) -> &'static str {
        self.optimizer
    }

    /// The layout of the model the optimizer was first used with.
    pub fn first(&self) -> Layout {
        self.first
    }

    /// The layout of the model it was given.
    pub fn this(&self) -> Layout {
        self.this
    }
}

impl fmt::Debug for LayoutMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayoutMismatch(\"{self}\")")
    }
}

/// `this Adam was first used with a model of 101,770 parameters in 4 tensors (layout
/// 0x...); this model has ...; first difference: fc1.weight [128, 784] there, [64, 784]
/// here. One optimizer serves one model: ...`
impl fmt::Display for LayoutMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this {} was first used with a model of {}; this model has {}",
            self.optimizer, self.first, self.this
        )?;
        #[cfg(feature = "alloc")]
        if let Some(d) = &self.difference {
            write!(f, "; {d}")?;
        }
        write!(
            f,
            ". An optimizer's state belongs to one model: build one optimizer per model (or reset this one to start afresh)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::Tiny;
    use crate::Linear;
    use monograd_core::module::{ParamUpdate, Tensor};

    /// `Tiny` with its first tensor renamed: same shapes, same count, other names.
    #[derive(Clone)]
    struct Renamed(Tiny<f64>);

    impl Module<f64> for Renamed {
        const PARAMS: usize = 6;
        fn visit<F: FnMut(Tensor<'_, &[f64]>)>(&self, p: &Path<'_>, f: &mut F) {
            let t = &self.0;
            f(Tensor { path: &p.field("z"), kind: Kind::Param, shape: &[3], values: &t.a });
            f(Tensor { path: &p.field("f"), kind: Kind::Frozen, shape: &[1], values: &t.f });
            f(Tensor { path: &p.field("b"), kind: Kind::Param, shape: &[2], values: &t.b });
        }
        fn visit_mut<F: FnMut(Tensor<'_, &mut [f64]>)>(&mut self, p: &Path<'_>, f: &mut F) {
            self.0.visit_mut(p, f);
        }
        fn visit_update<F: FnMut(ParamUpdate<'_, f64>)>(&mut self, g: &Self, p: &Path<'_>, o: &mut usize, f: &mut F) {
            self.0.visit_update(&g.0, p, o, f);
        }
    }

    /// `Tiny` and one more tensor, `c`.
    #[derive(Clone)]
    struct Longer(Tiny<f64>);

    impl Module<f64> for Longer {
        const PARAMS: usize = 7;
        fn visit<F: FnMut(Tensor<'_, &[f64]>)>(&self, p: &Path<'_>, f: &mut F) {
            self.0.visit(p, f);
            f(Tensor { path: &p.field("c"), kind: Kind::Param, shape: &[1, 1], values: &[0.0] });
        }
        fn visit_mut<F: FnMut(Tensor<'_, &mut [f64]>)>(&mut self, p: &Path<'_>, f: &mut F) {
            self.0.visit_mut(p, f);
        }
        fn visit_update<F: FnMut(ParamUpdate<'_, f64>)>(&mut self, g: &Self, p: &Path<'_>, o: &mut usize, f: &mut F) {
            self.0.visit_update(&g.0, p, o, f);
            *o += 1;
        }
    }

    /// `N` tensors of one value under long names: 47 bytes a line in the memo.
    #[derive(Clone)]
    struct Many<const N: usize>([f64; N]);

    impl<const N: usize> Module<f64> for Many<N> {
        const PARAMS: usize = N;
        fn visit<F: FnMut(Tensor<'_, &[f64]>)>(&self, p: &Path<'_>, f: &mut F) {
            let long = p.field("a_tensor_with_a_name_long_enough_to_fill");
            for i in 0..N {
                f(Tensor { path: &long.index(i), kind: Kind::Param, shape: &[1], values: &self.0[i..=i] });
            }
        }
        fn visit_mut<F: FnMut(Tensor<'_, &mut [f64]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
        fn visit_update<F: FnMut(ParamUpdate<'_, f64>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
    }

    fn tiny() -> Tiny<f64> {
        crate::optim::testing::tiny().0
    }

    #[test]
    fn layouts_agree_for_the_same_type_and_differ_by_name_or_shape() {
        let a = Layout::of(&tiny());
        assert_eq!((a.params(), a.tensors()), (6, 3)); // a, frozen f, b
        assert_eq!(Layout::of(&Tiny { a: [9.0; 3], f: [0.0], b: [1.0; 2] }), a, "values do not matter");
        let renamed = Layout::of(&Renamed(tiny()));
        assert_eq!(renamed.params(), 6);
        assert_ne!(renamed.fingerprint(), a.fingerprint(), "names matter");
        // The same count of parameters in other shapes.
        let (l32, l23) = (Layout::of(&Linear::<2, 3, f64>::ZERO), Layout::of(&Linear::<3, 2, f64>::ZERO));
        assert_eq!((l32.params(), l23.params()), (9, 8));
        assert_ne!(Layout::of(&Linear::<4, 2, f64>::ZERO), Layout::of(&Linear::<2, 4, f64>::ZERO));
    }

    #[test]
    fn a_model_of_another_type_with_the_same_layout_is_accepted() {
        /// `Tiny` under another type name: the same tensors.
        #[derive(Clone)]
        struct Same(Tiny<f64>);
        impl Module<f64> for Same {
            const PARAMS: usize = 6;
            fn visit<F: FnMut(Tensor<'_, &[f64]>)>(&self, p: &Path<'_>, f: &mut F) {
                self.0.visit(p, f);
            }
            fn visit_mut<F: FnMut(Tensor<'_, &mut [f64]>)>(&mut self, p: &Path<'_>, f: &mut F) {
                self.0.visit_mut(p, f);
            }
            fn visit_update<F: FnMut(ParamUpdate<'_, f64>)>(
                &mut self,
                g: &Self,
                p: &Path<'_>,
                o: &mut usize,
                f: &mut F,
            ) {
                self.0.visit_update(&g.0, p, o, f);
            }
        }
        let mut lock = LayoutLock::new();
        lock.check("Sgd", &tiny()).unwrap();
        lock.check("Sgd", &Same(tiny())).unwrap();
        assert!(lock.check("Sgd", &Renamed(tiny())).is_err(), "the same type size and count, other names");
        lock.check("Sgd", &tiny()).unwrap();
    }

    #[test]
    fn layouts_print_counts_in_groups_of_three() {
        let l = Layout { params: 235_146, tensors: 1, fingerprint: 0xab };
        assert_eq!(alloc::format!("{l}"), "235,146 parameters in 1 tensor (layout 0x00000000000000ab)");
        let l = Layout { params: 1_000_001, tensors: 4, fingerprint: 0 };
        assert!(alloc::format!("{l}").starts_with("1,000,001 parameters in 4 tensors"));
    }

    #[test]
    fn a_lock_adopts_the_first_layout_and_refuses_another_naming_both() {
        let mut lock = LayoutLock::new();
        assert_eq!(lock.layout(), None);
        lock.check("Adam", &Linear::<3, 2, f64>::ZERO).unwrap();
        lock.check("Adam", &Linear::<3, 2, f64>::ZERO).unwrap();
        let e = lock.check("Adam", &Linear::<4, 2, f64>::ZERO).unwrap_err();
        let OptimError::Layout(m) = &e else { panic!("{e:?}") };
        assert_eq!((m.optimizer(), m.first().params(), m.this().params()), ("Adam", 8, 10));
        let (a, b) = (m.first().fingerprint(), m.this().fingerprint());
        assert_eq!(
            alloc::string::ToString::to_string(&e),
            alloc::format!(
                "this Adam was first used with a model of 8 parameters in 2 tensors (layout {a:#018x}); \
                 this model has 10 parameters in 2 tensors (layout {b:#018x}); \
                 first difference: weight [2, 3] there, [2, 4] here. \
                 An optimizer's state belongs to one model: build one optimizer per model \
                 (or reset this one to start afresh)"
            )
        );
        // Refusing did not adopt: the first layout still holds.
        lock.check("Adam", &Linear::<3, 2, f64>::ZERO).unwrap();
        lock.clear();
        lock.check("Adam", &Linear::<4, 2, f64>::ZERO).unwrap();
    }

    #[test]
    fn the_first_difference_is_named_wherever_it_is() {
        let difference = |first: &dyn Fn(&mut LayoutLock), second: &dyn Fn(&mut LayoutLock) -> OptimError| {
            let mut lock = LayoutLock::new();
            first(&mut lock);
            let e = second(&mut lock);
            let text = alloc::string::ToString::to_string(&e);
            let start = text.find("; ").and_then(|i| text[i + 2..].find("; ").map(|j| i + j + 4)).unwrap();
            alloc::string::String::from(&text[start..text.find(". An").unwrap()])
        };
        // Another name in the first place.
        let d = difference(&|l| l.check("Sgd", &tiny()).unwrap(), &|l| l.check("Sgd", &Renamed(tiny())).unwrap_err());
        assert_eq!(d, "first difference: a [3] there, z [3] here");
        // A tensor more at the end, and one fewer.
        let d = difference(&|l| l.check("Sgd", &tiny()).unwrap(), &|l| l.check("Sgd", &Longer(tiny())).unwrap_err());
        assert_eq!(d, "first difference: nothing there, c [1, 1] here");
        let d = difference(&|l| l.check("Sgd", &Longer(tiny())).unwrap(), &|l| l.check("Sgd", &tiny()).unwrap_err());
        assert_eq!(d, "first difference: c [1, 1] there, nothing here");
        // Past what the lock remembers (5 lines of 47 bytes in 256), it counts.
        let d = difference(&|l| l.check("Sgd", &Many([0.0; 9])).unwrap(), &|l| {
            l.check("Sgd", &Many([0.0; 8])).unwrap_err()
        });
        assert_eq!(d, "the first 5 tensors agree (as many as were remembered)");
        let d = difference(&|l| l.check("Sgd", &Many([0.0; 4])).unwrap(), &|l| {
            l.check("Sgd", &Many([0.0; 3])).unwrap_err()
        });
        assert_eq!(d, "first difference: a_tensor_with_a_name_long_enough_to_fill.3 [1] there, nothing here");
    }
}
