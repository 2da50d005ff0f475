//! The one scalar trait that every kernel, op and layer is generic over.
//!
//! [`Scalar`] covers `f32`, `f64` and [`Dual`](crate::Dual) numbers (and duals of duals),
//! so the same layer code runs for inference, for training, and for exact forward-mode
//! derivatives. Math goes through `num-traits`, which uses `std` when the `std` feature is
//! on and `libm` otherwise, so the trait works on a microcontroller.
//!
//! Types with a fast matrix kernel (`f32`, `f64`) override [`Scalar::gemm`]; every other
//! scalar gets the generic loop. That is how a single generic layer dispatches to the
//! packed kernel without specialization.

use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::kernels::gemm::{self, MatMut, MatRef};
use crate::kernels::tanh;

/// A number that monograd can compute and differentiate with.
///
/// Comparisons (`<`, `>`, [`Scalar::max`]) look at the primal value only, so a piecewise
/// function such as ReLU written with `if x > Scalar::ZERO` differentiates correctly under
/// [`Dual`](crate::Dual) numbers: the branch taken decides the derivative.
///
/// ```
/// use monograd_core::Scalar;
///
/// fn softplus<T: Scalar>(x: T) -> T {
///     (T::ONE + x.exp()).ln()
/// }
/// assert!((softplus(0.0f64) - core::f64::consts::LN_2).abs() < 1e-15);
/// assert!((softplus(0.0f32) - core::f32::consts::LN_2).abs() < 1e-6);
/// ```
pub trait Scalar:
    Copy
    + Debug
    + Default
    + PartialEq
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
    /// A short name for messages and benchmarks (`"f32"`, `"dual"`).
    const NAME: &'static str;

    /// Converts a constant. For duals, the tangent is zero.
    fn from_f64(v: f64) -> Self;
    /// The primal value as `f64` (for duals, the real part).
    fn to_f64(self) -> f64;

    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// `y_i = tanh y_i` over a slice. The default calls [`Scalar::tanh`] on each value;
    /// `f32` runs [`kernels::tanh::tanh_in_place_f32`](crate::kernels::tanh::tanh_in_place_f32)
    /// (whole vectors at a time, the same bits as its `tanh`).
    ///
    /// ```
    /// use monograd_core::Scalar;
    /// let mut ys = [0.5f32, -2.0, 0.0];
    /// f32::tanh_in_place(&mut ys);
    /// assert_eq!(ys, [Scalar::tanh(0.5f32), Scalar::tanh(-2.0f32), 0.0]);
    /// ```
    #[inline]
    fn tanh_in_place(ys: &mut [Self]) {
        for y in ys {
            *y = y.tanh();
        }
    }
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// `self` raised to the real power `p`.
    fn powf(self, p: Self) -> Self;
    /// Error function, for the exact GELU.
    fn erf(self) -> Self;
    /// Whether the primal value is neither infinite nor NaN.
    fn is_finite(self) -> bool;

    /// Absolute value. At zero, duals take the right derivative, +1.
    #[inline]
    fn abs(self) -> Self {
        if self < Self::ZERO {
            -self
        } else {
            self
        }
    }
    /// The larger of two values by primal value; on a tie, `self`.
    #[inline]
    fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
    /// The smaller of two values by primal value; on a tie, `self`.
    #[inline]
    fn min(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }
    /// `1 / self`.
    #[inline]
    fn recip(self) -> Self {
        Self::ONE / self
    }
    /// The logistic function `1 / (1 + e^-x)`, stable for large `|x|`.
    #[inline]
    fn sigmoid(self) -> Self {
        if self >= Self::ZERO {
            Self::ONE / (Self::ONE + (-self).exp())
        } else {
            let e = self.exp();
            e / (Self::ONE + e)
        }
    }
    /// `self * a + b`; a fused multiply-add where the type has one.
    #[inline]
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }

    /// `C = alpha * A * B + beta * C` on strided matrices.
    ///
    /// The default is the generic loop of [`gemm::gemm_generic`]; `f32` and `f64` override
    /// it with the packed kernel, which uses `pack` as its packing memory and never
    /// allocates. Callers go through [`gemm::gemm`], which checks the shapes.
    #[inline]
    fn gemm(alpha: Self, a: MatRef<'_, Self>, b: MatRef<'_, Self>, beta: Self, c: MatMut<'_, Self>, pack: &mut [Self]) {
        let _ = pack;
        gemm::gemm_generic(alpha, a, b, beta, c);
    }

    /// `C = epi(alpha * A * B + beta * C)` and `a_row_sums += Σ_p A[., p]`: see
    /// [`gemm::gemm_fused`], which checks the shapes and calls this. The default runs the
    /// generic loop and then both passes; `f32` and `f64` fuse them into the packed kernel.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn gemm_fused<E: gemm::Epilogue<Self>>(
        alpha: Self,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        beta: Self,
        c: MatMut<'_, Self>,
        pack: &mut [Self],
        epi: &E,
        a_row_sums: Option<&mut [Self]>,
    ) {
        let _ = pack;
        gemm::gemm_fused_generic(alpha, a, b, beta, c, epi, a_row_sums);
    }

    /// [`gemm::prepack`]: `B` in the panels of the build running now, or `None` (the
    /// default) where no kernel reads them.
    #[inline]
    fn prepack(b: MatRef<'_, Self>, buf: &mut [Self]) -> Option<gemm::PackedLayout> {
        let _ = (b, buf);
        None
    }

    /// [`gemm::gemm_prepacked`] after its checks. The default is [`Scalar::gemm_fused`] on
    /// `b`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn gemm_prepacked<E: gemm::Epilogue<Self>>(
        alpha: Self,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        packed: &[Self],
        layout: &gemm::PackedLayout,
        beta: Self,
        c: MatMut<'_, Self>,
        pack: &mut [Self],
        epi: &E,
    ) {
        let _ = (packed, layout);
        Self::gemm_fused(alpha, a, b, beta, c, pack, epi, None);
    }
}

/// Implements [`Scalar`] for a primitive float through `num_traits::Float`.
macro_rules! impl_float {
    // `f32`'s kernels for operands packed ahead (`gemm::prepacked`).
    (@prepacked) => {
        #[inline]
        fn prepack(b: MatRef<'_, Self>, buf: &mut [Self]) -> Option<gemm::PackedLayout> {
            gemm::prepack_f32(b, buf)
        }
        #[inline]
        fn gemm_prepacked<E: gemm::Epilogue<Self>>(
            alpha: Self,
            a: MatRef<'_, Self>,
            b: MatRef<'_, Self>,
            packed: &[Self],
            layout: &gemm::PackedLayout,
            beta: Self,
            c: MatMut<'_, Self>,
            pack: &mut [Self],
            epi: &E,
        ) {
            gemm::gemm_prepacked_f32(alpha, a, b, packed, layout, beta, c, pack, epi);
        }
    };
    ($t:ident, $packed:path, $fused:path, $sqrt:path, $tanh:path, $tanh_slice:path $(; $prepacked:ident)?) => {
        impl Scalar for $t {
            $(impl_float!(@$prepacked);)?
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);

            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                num_traits::Float::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                num_traits::Float::ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn tanh_in_place(ys: &mut [Self]) {
                $tanh_slice(ys)
            }
            #[inline]
            fn sin(self) -> Self {
                num_traits::Float::sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                num_traits::Float::cos(self)
            }
            #[inline]
            fn powf(self, p: Self) -> Self {
                num_traits::Float::powf(self, p)
            }
            #[inline]
            fn erf(self) -> Self {
                // std has no erf; libm's is the same on every target.
                libm::erf(self as f64) as $t
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn abs(self) -> Self {
                num_traits::Float::abs(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                if other > self {
                    other
                } else {
                    self
                }
            }
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                // A plain multiply-add: `mul_add` without hardware FMA is a slow libm call.
                self * a + b
            }
            #[inline]
            fn gemm(
                alpha: Self,
                a: MatRef<'_, Self>,
                b: MatRef<'_, Self>,
                beta: Self,
                c: MatMut<'_, Self>,
                pack: &mut [Self],
            ) {
                $packed(alpha, a, b, beta, c, pack);
            }
            #[inline]
            fn gemm_fused<E: gemm::Epilogue<Self>>(
                alpha: Self,
                a: MatRef<'_, Self>,
                b: MatRef<'_, Self>,
                beta: Self,
                c: MatMut<'_, Self>,
                pack: &mut [Self],
                epi: &E,
                a_row_sums: Option<&mut [Self]>,
            ) {
                $fused(alpha, a, b, beta, c, pack, epi, a_row_sums);
            }
        }
    };
}

// `f32`'s `tanh` is the kernel's (within 2.5 ulp, vectorized over slices; the C library's
// `tanhf` was half of a small training step's instructions); `f64`'s stays the library's,
// which the gradient checks compare against.
impl_float!(
    f32,
    gemm::gemm_packed_f32,
    gemm::gemm_fused_f32,
    sqrt_f32,
    tanh::tanh_f32,
    tanh::tanh_in_place_f32;
    prepacked
);
impl_float!(
    f64,
    gemm::gemm_packed_f64,
    gemm::gemm_fused_f64,
    num_traits::Float::sqrt,
    num_traits::Float::tanh,
    tanh_each
);

/// [`Scalar::tanh_in_place`]'s default, for `f64`.
#[inline]
fn tanh_each(ys: &mut [f64]) {
    for y in ys {
        *y = num_traits::Float::tanh(*y);
    }
}

/// `√x` in `f32`, correctly rounded (IEEE 754), as `libm`'s `sqrtf` and `std`'s `sqrt`.
///
/// On 32-bit Arm with the hard-float ABI (a Cortex-M4F, `thumbv7em-none-eabihf`) the FPU's
/// `vsqrt.f32` (five instructions with the moves): without `std`, `num_traits` takes `libm`'s software
/// routine, about 90 instructions per call on a Cortex-M4, an Adam step's largest cost
/// (docs/EMBEDDED.md). Both round correctly, so the results are the same bits (the
/// firmware checks its training against the host's, which runs `libm`).
#[inline(always)]
fn sqrt_f32(x: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        let bits: u32;
        // SAFETY: the block saves `s0`, computes in it and restores it, so it changes no
        // register but its operand; it touches no memory outside the stack it pushes to
        // and pops from. The hard-float ABI means the FPU is there and enabled (the
        // startup code enables it before `main`). The operand goes through a core
        // register: Rust's `sreg` operand class asks for the `vfp2` feature, which a
        // single-precision FPU (Cortex-M4F) lacks, though it has `vsqrt.f32`.
        unsafe {
            core::arch::asm!(
                "vpush {{s0}}",
                "vmov s0, {v}",
                "vsqrt.f32 s0, s0",
                "vmov {v}, s0",
                "vpop {{s0}}",
                v = inout(reg) x.to_bits() => bits,
                options(pure, nomem),
            );
        }
        f32::from_bits(bits)
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    {
        num_traits::Float::sqrt(x)
    }
}

/// A scalar with a plain machine representation, for display in reports.
pub trait Real: Scalar + Display {}
impl Real for f32 {}
impl Real for f64 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_the_extremes() {
        assert_eq!(1000.0f64.sigmoid(), 1.0);
        assert_eq!((-1000.0f64).sigmoid(), 0.0);
        assert!((0.0f32.sigmoid() - 0.5).abs() < 1e-7);
    }

    #[test]
    fn max_and_min_follow_the_primal_value() {
        assert_eq!(Scalar::max(1.0f64, 2.0), 2.0);
        assert_eq!(Scalar::min(1.0f64, 2.0), 1.0);
        assert_eq!(Scalar::abs(-3.0f32), 3.0);
    }
}
