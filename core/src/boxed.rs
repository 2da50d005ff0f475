//! Models of any size: built, cloned and zeroed on the heap, in place.
//!
//! Parameters are inline arrays (`Linear<I, O>` holds `[[T; I]; O]`), so a model is one
//! value as large as its parameters: 64 MiB for a 4096 x 4096 layer. Anything that
//! returns such a value, or copies it, passes it through the stack (in debug builds
//! always, in release builds often), and a main thread has 8 MiB, a spawned one 2 MiB.
//! This module builds them where they live instead:
//!
//! - [`InPlace`]: what a type needs to be built in zeroed memory and copied without a
//!   temporary. Every built-in layer implements it, `#[derive(Module)]` implements it for
//!   a struct whose fields all do (so every `network!` of built-in layers has it), and
//!   [`in_place_by_value!`](crate::in_place_by_value) implements it for a small type of
//!   your own with nothing unsafe to write.
//! - With `alloc`: [`boxed_default`], [`boxed_new`], [`boxed_clone`] and
//!   [`boxed_zeros_like`], which allocate zeroed memory (pages the system hands out
//!   already zero, untouched until written), turn it into the value field by field, and
//!   return the `Box`. Networks have `Net::boxed(&mut rng)` and `Net::boxed_default()`.
//!
//! ```
//! use monograd_core::boxed::{boxed_clone, boxed_default, InPlace};
//!
//! // 16 MiB of zeros, never on the stack.
//! let big = boxed_default::<[[f32; 2048]; 2048]>();
//! assert!(big.iter().flatten().all(|&v| v == 0.0));
//! let mut copy = boxed_clone(&*big);
//! copy[7][7] = 1.0;
//! copy.copy_from(&big); // back to zeros, no temporary either
//! assert_eq!(copy[7][7], 0.0);
//! ```

#[cfg(feature = "alloc")]
pub use alloc::boxed::Box;

use core::marker::PhantomData;

use crate::dual::Dual;

/// A type that can be built in zeroed memory and copied without a temporary of itself.
///
/// `default_in_place` turns zero bytes into the type's default value (for layers: the
/// value `Default::default()` gives; for a `#[derive(Module)]` struct: each field's) by
/// writing only what is not zero, through raw pointers, so nothing as large as `Self` is
/// ever built on the stack. `copy_from` makes a value equal to another, field by field
/// (what `clone_from` would do, but derived `Clone` implements `clone_from` as
/// `*self = src.clone()`, a temporary).
///
/// # Safety
///
/// An implementation promises that:
/// - after `default_in_place(p)` on a pointer to `size_of::<Self>()` zero bytes, `*p` is
///   a valid `Self`;
/// - if [`InPlace::PLAIN`] is `true`, zero bytes already are a valid `Self` (and its
///   default: `default_in_place` does nothing), `Self` needs no drop
///   ([`core::mem::needs_drop`] is `false`), and a bitwise copy of a value is a valid,
///   equal value: floats, integers, `bool`, and structs and arrays of only those.
///
/// Containers rely on this: an array of a `PLAIN` type is neither visited element by
/// element when built nor when copied (one `memcpy`), which keeps debug builds fast.
///
/// ```
/// use monograd_core::boxed::InPlace;
///
/// // `PLAIN` types: built by zeroing, copied with one memcpy.
/// assert!(<[[f32; 3]; 2] as InPlace>::PLAIN && <u64 as InPlace>::PLAIN);
/// let mut a = [[1.0f32; 3]; 2];
/// a.copy_from(&[[2.0; 3]; 2]);
/// assert_eq!(a, [[2.0; 3]; 2]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be built on the heap in place",
    label = "no `InPlace` for `{Self}`",
    note = "every built-in layer has it, and so has a `#[derive(Module)]` struct whose fields all do; \
            for a small layer of your own, `monograd::core::in_place_by_value!(YourLayer);` gives it"
)]
pub unsafe trait InPlace: Sized {
    /// Whether zero bytes are this type's default value and a bitwise copy copies it (see
    /// the trait's safety section).
    const PLAIN: bool = false;

    /// Turns the zero bytes at `this` into the default value, without building a `Self`
    /// on the stack.
    ///
    /// # Safety
    /// `this` must be non-null, aligned, valid for reads and writes of `Self`, and point to
    /// `size_of::<Self>()` zero bytes (which need not be a valid `Self` yet). Nothing there
    /// is dropped.
    unsafe fn default_in_place(this: *mut Self);

    /// Makes `self` equal to `src`, with no temporary of `Self`.
    fn copy_from(&mut self, src: &Self);
}

/// Copies `src` over `dst` with one `memcpy`.
///
/// Only for `PLAIN` types, which callers check first.
#[inline]
fn copy_plain<M: InPlace>(dst: &mut M, src: &M) {
    debug_assert!(M::PLAIN);
    // SAFETY: `dst` and `src` are references, so valid, aligned and not overlapping (one
    // is exclusive). `M::PLAIN` promises a bitwise copy is a valid, equal value and that
    // the overwritten one needs no destructor.
    unsafe { core::ptr::copy_nonoverlapping(src as *const M, dst as *mut M, 1) }
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        // SAFETY: zero bytes are `0`, `0.0` or `false`, the default; these types have no
        // destructor and every bit pattern the value came from is copied exactly.
        unsafe impl InPlace for $t {
            const PLAIN: bool = true;
            #[inline]
            unsafe fn default_in_place(_: *mut Self) {}
            #[inline]
            fn copy_from(&mut self, src: &Self) {
                *self = *src;
            }
        }
    )*};
}
plain!(f32, f64, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool);

// SAFETY: `PhantomData` has no bytes; its one value is valid in any memory.
unsafe impl<X: ?Sized> InPlace for PhantomData<X> {
    const PLAIN: bool = true;
    #[inline]
    unsafe fn default_in_place(_: *mut Self) {}
    #[inline]
    fn copy_from(&mut self, _: &Self) {}
}

// SAFETY: `Dual` has the fields `re` and `eps` of `T` and no other (the pattern in
// `copy_from` checks it), so it is valid wherever `T`'s implementation makes both valid,
// and `PLAIN` exactly when `T` is.
unsafe impl<T: InPlace, const N: usize> InPlace for Dual<T, N> {
    const PLAIN: bool = T::PLAIN;
    #[inline]
    unsafe fn default_in_place(this: *mut Self) {
        // SAFETY: the caller's guarantees for `this` hold for each field.
        unsafe {
            T::default_in_place(&raw mut (*this).re);
            <[T; N]>::default_in_place(&raw mut (*this).eps);
        }
    }
    #[inline]
    fn copy_from(&mut self, src: &Self) {
        // Exhaustive: a new field would have to be built above too.
        let Dual { re, eps } = src;
        self.re.copy_from(re);
        self.eps.copy_from(eps);
    }
}

// SAFETY: an array is its elements side by side: valid when each is, and `PLAIN` when its
// element type is.
unsafe impl<E: InPlace, const N: usize> InPlace for [E; N] {
    const PLAIN: bool = E::PLAIN;
    #[inline]
    unsafe fn default_in_place(this: *mut Self) {
        if E::PLAIN {
            return;
        }
        let first = this.cast::<E>();
        for i in 0..N {
            // SAFETY: element `i` of the array the caller vouches for.
            unsafe { E::default_in_place(first.add(i)) }
        }
    }
    #[inline]
    fn copy_from(&mut self, src: &Self) {
        if E::PLAIN {
            copy_plain(self, src);
        } else {
            for (d, s) in self.iter_mut().zip(src) {
                d.copy_from(s);
            }
        }
    }
}

/// Implements [`InPlace`] for a small type by value: built as `Default::default()` and
/// copied with `clone_from`, so nothing unsafe is left to write. For your own layers and
/// settings that hold no large arrays (a layer with a 1 MiB weight should implement
/// `InPlace` field by field, or be a `#[derive(Module)]` struct, which does).
///
/// Generic parameters go in brackets first.
///
/// ```
/// use monograd_core::boxed::{boxed_default, InPlace};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Scale<const N: usize> { factor: f64, name: &'static str }
/// impl<const N: usize> Default for Scale<N> {
///     fn default() -> Self { Self { factor: 2.0, name: "scale" } }
/// }
/// monograd_core::in_place_by_value!([const N: usize] Scale<N>);
///
/// assert_eq!(*boxed_default::<Scale<3>>(), Scale::default());
/// ```
#[macro_export]
macro_rules! in_place_by_value {
    ([$($g:tt)*] $ty:ty) => {
        // SAFETY: `default_in_place` writes a whole valid value over the zero bytes (which
        // hold nothing to drop) and `copy_from` is safe code.
        unsafe impl<$($g)*> $crate::boxed::InPlace for $ty
        where
            $ty: ::core::default::Default + ::core::clone::Clone,
        {
            #[inline]
            unsafe fn default_in_place(this: *mut Self) {
                // SAFETY: the caller guarantees `this` is aligned and valid for writes.
                unsafe { this.write(<$ty as ::core::default::Default>::default()) }
            }
            #[inline]
            fn copy_from(&mut self, src: &Self) {
                ::core::clone::Clone::clone_from(self, src);
            }
        }
    };
    ($ty:ty) => {
        $crate::in_place_by_value!([] $ty);
    };
}

/// The methods `network!` gives every network for building it on the heap: `boxed` and
/// `boxed_default` (with `alloc`; nothing without, where there is no heap).
///
/// Not public API: generated code invokes it with the network's scalar and the bounds of
/// its methods, each followed by a comma.
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __boxed_methods {
    ($t:ty; [$($bound:tt)*]; |$net:ident| $settings:block) => {
        /// The network with every layer initialised from `rng`, built on the heap in
        /// place: the values of `new(rng)`, without the network ever passing through the
        /// stack. Use it for networks of more than a few hundred kilobytes of parameters:
        /// `new` returns its value on the stack, which a large model overflows.
        pub fn boxed(rng: &mut $crate::rng::Rng) -> $crate::boxed::Box<Self>
        where
            $($bound)*
            for<'__in_place> Self: $crate::boxed::InPlace,
        {
            let mut $net = Self::boxed_default();
            $crate::module::Module::<$t>::init(&mut *$net, rng);
            $net
        }

        /// The default network (every tensor zero: the shape of a gradient; every setting
        /// as declared), built on the heap in place; `Box::new(Net::default())` would
        /// build it on the stack first.
        pub fn boxed_default() -> $crate::boxed::Box<Self>
        where
            $($bound)*
            for<'__in_place> Self: $crate::boxed::InPlace,
        {
            let mut $net = $crate::boxed::boxed_default::<Self>();
            // The declared settings, layer by layer (each a small value).
            $settings
            $net
        }
    };
}

/// Without a heap there is nothing to box: `network!` generates no `boxed` methods.
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __boxed_methods {
    ($($tt:tt)*) => {};
}

/// The default value of `M`, built in zeroed heap memory: nothing of `M`'s size passes
/// through the stack.
///
/// ```
/// let zeros = monograd_core::boxed::boxed_default::<[f64; 1 << 20]>(); // 8 MiB
/// assert_eq!(zeros[12345], 0.0);
/// ```
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub fn boxed_default<M: InPlace>() -> Box<M> {
    let mut b = Box::<M>::new_zeroed();
    // SAFETY: `new_zeroed` returns memory aligned and sized for `M` holding zero bytes,
    // which is what `default_in_place` asks for; afterwards it holds a valid `M` (the
    // trait's contract), so `assume_init` is sound. Should `default_in_place` panic, the
    // `Box<MaybeUninit<M>>` is freed without dropping anything.
    unsafe {
        M::default_in_place(b.as_mut_ptr());
        b.assume_init()
    }
}

/// A module with every parameter initialised from `rng`, built on the heap: the default
/// value in place, then [`Module::init`](crate::Module::init), which writes in place too.
/// Generated networks call this from `Net::boxed(&mut rng)`; it gives the same values as
/// `Net::new(&mut rng)`.
///
/// ```
/// use monograd_core::boxed::boxed_new;
/// use monograd_core::module::{ParamUpdate, Path, Tensor};
/// use monograd_core::{Module, Rng};
///
/// #[derive(Clone, Default)]
/// struct Noise([f32; 4]);
/// monograd_core::in_place_by_value!(Noise);
/// impl Module<f32> for Noise {
///     const PARAMS: usize = 4;
///     fn init(&mut self, rng: &mut Rng) {
///         self.0 = [(); 4].map(|_| rng.uniform(-1.0, 1.0) as f32);
///     }
/// #   fn visit<F: FnMut(Tensor<'_, &[f32]>)>(&self, _: &Path<'_>, _: &mut F) {}
/// #   fn visit_mut<F: FnMut(Tensor<'_, &mut [f32]>)>(&mut self, _: &Path<'_>, _: &mut F) {}
/// #   fn visit_update<F: FnMut(ParamUpdate<'_, f32>)>(&mut self, _: &Self, _: &Path<'_>, _: &mut usize, _: &mut F) {}
/// }
///
/// let m = boxed_new::<f32, Noise>(&mut Rng::seed(0));
/// let mut on_stack = Noise::default();
/// on_stack.init(&mut Rng::seed(0));
/// assert_eq!(m.0, on_stack.0);
/// ```
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub fn boxed_new<T: crate::Scalar, M: crate::Module<T> + InPlace>(rng: &mut crate::rng::Rng) -> Box<M> {
    let mut m = boxed_default::<M>();
    m.init(rng);
    m
}

/// A copy of `src` on the heap, built in place ([`InPlace::copy_from`] into a default
/// value): `Box::new(src.clone())` would pass the copy through the stack.
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub fn boxed_clone<M: InPlace>(src: &M) -> Box<M> {
    let mut m = boxed_default::<M>();
    m.copy_from(src);
    m
}

/// A zeroed copy of `module` on the heap: a gradient or optimizer state for it.
/// [`Module::zeros_like`](crate::Module::zeros_like) returns its copy by value, through
/// the stack.
///
/// Settings and counters are copied (a gradient of `Dropout` keeps its `p`), every tensor
/// is zero.
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub fn boxed_zeros_like<T: crate::Scalar, M: crate::Module<T> + InPlace>(module: &M) -> Box<M> {
    let mut m = boxed_clone(module);
    m.zero();
    m
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::Rng;

    #[test]
    fn plain_arrays_are_zero_and_copy_exactly() {
        let mut a = boxed_default::<[[f64; 3]; 5]>();
        assert_eq!(*a, [[0.0; 3]; 5]);
        let mut src = [[0.0f64; 3]; 5];
        let mut rng = Rng::seed(1);
        for v in src.as_flattened_mut() {
            *v = rng.uniform(-1.0, 1.0);
        }
        src[0][0] = f64::NAN;
        src[0][1] = -0.0;
        a.copy_from(&src);
        let bits = |m: &[[f64; 3]; 5]| m.as_flattened().iter().map(|v| v.to_bits()).collect::<alloc::vec::Vec<_>>();
        assert_eq!(bits(&a), bits(&src));
        assert_eq!(bits(&boxed_clone(&src)), bits(&src));
    }

    #[test]
    fn duals_and_markers_are_plain_when_their_scalar_is() {
        const { assert!(<Dual<f32, 2> as InPlace>::PLAIN) };
        const { assert!(<PhantomData<alloc::string::String> as InPlace>::PLAIN) };
        let d = boxed_default::<[Dual<f64, 3>; 4]>();
        assert!(d.iter().all(|d| *d == Dual::default()));
    }

    /// A type whose default is not zero and whose zero bytes are not even valid: the
    /// by-value macro must write it whole, and arrays must visit each element.
    #[derive(Clone, Debug, PartialEq)]
    struct Named {
        name: &'static str,
        scale: f32,
    }
    impl Default for Named {
        fn default() -> Self {
            Self { name: "named", scale: 1.5 }
        }
    }
    crate::in_place_by_value!(Named);

    #[test]
    fn non_plain_elements_are_built_and_copied_one_by_one() {
        const { assert!(!<[Named; 3] as InPlace>::PLAIN) };
        let mut a = boxed_default::<[Named; 3]>();
        assert_eq!(*a, [Named::default(), Named::default(), Named::default()]);
        let other = [Named { name: "a", scale: 0.0 }, Named::default(), Named { name: "c", scale: -1.0 }];
        a.copy_from(&other);
        assert_eq!(*a, other);
        assert_eq!(*boxed_clone(&other), other);
    }

    #[test]
    fn zero_sized_values_need_no_memory() {
        let p = boxed_default::<PhantomData<u8>>();
        assert_eq!(*p, PhantomData);
        let e = boxed_default::<[f32; 0]>();
        assert!(e.is_empty());
    }
}

// SAFETY: a `Repeat` is its array of copies and nothing else: each copy is built and
// copied by its own `InPlace`, through the array's impl, at the field's address.
unsafe impl<B: InPlace, const N: usize> InPlace for crate::block::Repeat<B, N> {
    const PLAIN: bool = <[B; N] as InPlace>::PLAIN && !core::mem::needs_drop::<Self>();

    #[inline]
    unsafe fn default_in_place(this: *mut Self) {
        // SAFETY: the caller gives aligned, zeroed memory for `Self`; its one field is at
        // `&raw mut (*this).0`, aligned and zeroed for `[B; N]`.
        unsafe { <[B; N] as InPlace>::default_in_place(&raw mut (*this).0) }
    }

    #[inline]
    fn copy_from(&mut self, src: &Self) {
        self.0.copy_from(&src.0);
    }
}
