//! `tanh` in `f32`, one value at a time or over a whole slice, without the C library.
//!
//! The formula is `tanh |x| = -e / (2 + e)` with `e = expm1(-2|x|)`, and the sign of `x`
//! put back at the end (so `tanh(-x) = -tanh(x)` exactly, `tanh(±0) = ±0`). `expm1` is
//! computed the usual way: `-2|x| = n ln 2 + t` with `n` an integer (rounded by adding and
//! subtracting `1.5 · 2^23`) and `|t| <= ln 2 / 2` (Cody and Waite's two-part `ln 2`, so
//! `t` is exact to about 2^-36), then `e = (2^n - 1) + 2^n expm1(t)`, with `expm1(t)` as
//! its Taylor polynomial of degree 7 (truncation below 2e-8 of the value). `|x|` is
//! clamped at 9.010913, past which `tanh` rounds to 1 in `f32`. Infinities give ±1 and
//! NaN gives NaN (the clamp keeps a NaN). Subnormal inputs come back unchanged, as they
//! should (`tanh x = x` to within far less than their spacing).
//!
//! **Accuracy: at most 2.5 ulp** from `tanh` computed in `f64`, over every `f32`
//! (measured exhaustively on all 2^31 non-negative finite values: at most 2.498 ulp, at
//! `x = 4.505`; 98.8% of them within 1 ulp; `tanh(-x)` is `-tanh(x)` to the bit). The
//! tests check a dense sweep of every 61st value and the special values. glibc's `tanhf`
//! is within 1 ulp, at about 95 instructions a call.
//!
//! Every build computes the same sequence of IEEE operations (no fused multiply-adds,
//! an exact division), so [`tanh_f32`], the portable slice loop, and the AVX2 and AVX-512
//! builds of [`tanh_in_place_f32`] give the same bits: an activation fused into a product
//! (one value at a time) equals the same activation run over the product's output.
//!
//! ```
//! use monograd_core::kernels::tanh::{tanh_f32, tanh_in_place_f32};
//! let mut ys = [-20.0f32, -0.5, 0.0, 1e-30, 0.5, f32::INFINITY];
//! tanh_in_place_f32(&mut ys);
//! assert_eq!(ys[0], -1.0);
//! assert_eq!(ys[5], 1.0);
//! assert_eq!(ys[2].to_bits(), 0);
//! assert_eq!(ys[3], 1e-30);
//! assert_eq!(ys[4], tanh_f32(0.5));
//! assert!((ys[4] - 0.5f64.tanh() as f32).abs() <= 2.0 * f32::EPSILON);
//! ```

/// Past this `|x|`, `tanh x` rounds to 1 in `f32` (`1 - tanh x < 2^-25`).
const SAT: f32 = 9.010_913;
/// `1 / ln 2`.
const LOG2E: f32 = core::f32::consts::LOG2_E;
/// `1.5 · 2^23`: adding it rounds a value of magnitude below 2^22 to an integer, which
/// then sits in the low bits of the sum.
const MAGIC: f32 = 12_582_912.0;
/// `ln 2` in two parts: `LN2_HI` has 15 trailing zero bits, so `n · LN2_HI` is exact for
/// the `|n| <= 26` that occur.
const LN2_HI: f32 = f32::from_bits(0x3f31_8000); // 0.693359375 exactly
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1/k!` for the Taylor polynomial of `expm1(t) = t + t^2 (C2 + t (C3 + ...))`.
const C2: f32 = 1.0 / 2.0;
const C3: f32 = 1.0 / 6.0;
const C4: f32 = 1.0 / 24.0;
const C5: f32 = 1.0 / 120.0;
const C6: f32 = 1.0 / 720.0;
const C7: f32 = 1.0 / 5040.0;
/// `127 - bits(MAGIC)`: added to the bits of `n + MAGIC`, gives the biased exponent of
/// `2^n` (wrapping).
const EXP_BIAS: i32 = 127 - 0x4B40_0000;
const SIGN: u32 = 0x8000_0000;

/// `tanh x` in `f32`, within 2.5 ulp (see the [module](self) for the formula and the
/// special values).
///
/// ```
/// use monograd_core::kernels::tanh::tanh_f32;
/// assert_eq!(tanh_f32(0.0), 0.0);
/// assert_eq!(tanh_f32(-9.5), -1.0);
/// assert!(tanh_f32(f32::NAN).is_nan());
/// assert_eq!(tanh_f32(-0.25), -tanh_f32(0.25));
/// ```
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let z = f32::from_bits(x.to_bits() & !SIGN);
    // Not `f32::min`, which would turn a NaN into `SAT`.
    let z = if z > SAT { SAT } else { z };
    let u = -2.0 * z;
    let nb = u * LOG2E + MAGIC;
    let n = nb - MAGIC;
    let t = (u - n * LN2_HI) - n * LN2_LO;
    let s = f32::from_bits(((nb.to_bits() as i32).wrapping_add(EXP_BIAS) as u32) << 23);
    let mut p = C7 * t + C6;
    p = p * t + C5;
    p = p * t + C4;
    p = p * t + C3;
    p = p * t + C2;
    let q = t + (t * t) * p;
    let e = (s - 1.0) + s * q;
    let y = -e / (2.0 + e);
    f32::from_bits((y.to_bits() & !SIGN) | (x.to_bits() & SIGN))
}

/// `y_i = tanh y_i` over a slice, with the widest vectors this CPU has (AVX-512F or AVX2
/// on `x86_64` with `std`, as the matrix kernels choose: [`gemm::isa`](super::gemm::isa),
/// which [`gemm::force_isa`](super::gemm::force_isa) also switches), and otherwise a loop
/// over [`tanh_f32`] that the compiler vectorizes for the target. Same bits either way.
///
/// ```
/// use monograd_core::kernels::tanh::{tanh_f32, tanh_in_place_f32};
/// let xs: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.3).collect();
/// let mut ys = xs.clone();
/// tanh_in_place_f32(&mut ys);
/// assert!(xs.iter().zip(&ys).all(|(&x, &y)| y.to_bits() == tanh_f32(x).to_bits()));
/// ```
#[inline]
pub fn tanh_in_place_f32(ys: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        use super::gemm::{isa, Isa};
        match isa() {
            // SAFETY: `isa` returns `Avx512` only when it found AVX-512F on this CPU.
            Isa::Avx512 => return unsafe { x86::tanh_avx512(ys) },
            // SAFETY: `isa` returns `Avx2Fma` only when it found AVX2 (and FMA).
            Isa::Avx2Fma => return unsafe { x86::tanh_avx2(ys) },
            _ => {}
        }
    }
    tanh_portable(ys);
}

/// The portable build of [`tanh_in_place_f32`].
#[inline]
fn tanh_portable(ys: &mut [f32]) {
    for y in ys {
        *y = tanh_f32(*y);
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod x86 {
    //! [`tanh_f32`](super::tanh_f32)'s operations, in the same order, on 16 and 8 lanes.
    use super::*;
    use core::arch::x86_64::*;

    /// [`super::tanh_f32`] on sixteen lanes.
    #[target_feature(enable = "avx512f")]
    fn tanh16(x: __m512) -> __m512 {
        let f = _mm512_set1_ps;
        let xi = _mm512_castps_si512(x);
        let z = _mm512_castsi512_ps(_mm512_and_si512(xi, _mm512_set1_epi32(!SIGN as i32)));
        // `min` returns its second operand when either is NaN: the NaN.
        let z = _mm512_min_ps(f(SAT), z);
        let u = _mm512_mul_ps(f(-2.0), z);
        let nb = _mm512_add_ps(_mm512_mul_ps(u, f(LOG2E)), f(MAGIC));
        let n = _mm512_sub_ps(nb, f(MAGIC));
        let t = _mm512_sub_ps(_mm512_sub_ps(u, _mm512_mul_ps(n, f(LN2_HI))), _mm512_mul_ps(n, f(LN2_LO)));
        let s = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(
            _mm512_castps_si512(nb),
            _mm512_set1_epi32(EXP_BIAS),
        )));
        let mut p = _mm512_add_ps(_mm512_mul_ps(f(C7), t), f(C6));
        p = _mm512_add_ps(_mm512_mul_ps(p, t), f(C5));
        p = _mm512_add_ps(_mm512_mul_ps(p, t), f(C4));
        p = _mm512_add_ps(_mm512_mul_ps(p, t), f(C3));
        p = _mm512_add_ps(_mm512_mul_ps(p, t), f(C2));
        let q = _mm512_add_ps(t, _mm512_mul_ps(_mm512_mul_ps(t, t), p));
        let e = _mm512_add_ps(_mm512_sub_ps(s, f(1.0)), _mm512_mul_ps(s, q));
        let neg_e = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(e), _mm512_set1_epi32(SIGN as i32)));
        let y = _mm512_div_ps(neg_e, _mm512_add_ps(f(2.0), e));
        let yi = _mm512_and_si512(_mm512_castps_si512(y), _mm512_set1_epi32(!SIGN as i32));
        _mm512_castsi512_ps(_mm512_or_si512(yi, _mm512_and_si512(xi, _mm512_set1_epi32(SIGN as i32))))
    }

    /// [`super::tanh_in_place_f32`] in AVX-512F: sixteen at a time, the rest under a mask.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tanh_avx512(ys: &mut [f32]) {
        let (chunks, tail) = ys.as_chunks_mut::<16>();
        for c in chunks {
            // SAFETY: `c` is sixteen `f32`s, read and written through its own pointer.
            unsafe { _mm512_storeu_ps(c.as_mut_ptr(), tanh16(_mm512_loadu_ps(c.as_ptr()))) };
        }
        if !tail.is_empty() {
            let mask = ((1u32 << tail.len()) - 1) as u16;
            // SAFETY: the mask covers the `tail.len() < 16` lanes that lie in `tail`; masked
            // lanes are neither read nor written (and do not fault).
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, tail.as_ptr());
                _mm512_mask_storeu_ps(tail.as_mut_ptr(), mask, tanh16(v));
            }
        }
    }

    /// [`super::tanh_f32`] on eight lanes.
    #[target_feature(enable = "avx2")]
    fn tanh8(x: __m256) -> __m256 {
        let f = _mm256_set1_ps;
        let sign = _mm256_castsi256_ps(_mm256_set1_epi32(SIGN as i32));
        let z = _mm256_andnot_ps(sign, x);
        let z = _mm256_min_ps(f(SAT), z);
        let u = _mm256_mul_ps(f(-2.0), z);
        let nb = _mm256_add_ps(_mm256_mul_ps(u, f(LOG2E)), f(MAGIC));
        let n = _mm256_sub_ps(nb, f(MAGIC));
        let t = _mm256_sub_ps(_mm256_sub_ps(u, _mm256_mul_ps(n, f(LN2_HI))), _mm256_mul_ps(n, f(LN2_LO)));
        let s = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_castps_si256(nb),
            _mm256_set1_epi32(EXP_BIAS),
        )));
        let mut p = _mm256_add_ps(_mm256_mul_ps(f(C7), t), f(C6));
        p = _mm256_add_ps(_mm256_mul_ps(p, t), f(C5));
        p = _mm256_add_ps(_mm256_mul_ps(p, t), f(C4));
        p = _mm256_add_ps(_mm256_mul_ps(p, t), f(C3));
        p = _mm256_add_ps(_mm256_mul_ps(p, t), f(C2));
        let q = _mm256_add_ps(t, _mm256_mul_ps(_mm256_mul_ps(t, t), p));
        let e = _mm256_add_ps(_mm256_sub_ps(s, f(1.0)), _mm256_mul_ps(s, q));
        let y = _mm256_div_ps(_mm256_xor_ps(e, sign), _mm256_add_ps(f(2.0), e));
        _mm256_or_ps(_mm256_andnot_ps(sign, y), _mm256_and_ps(x, sign))
    }

    /// [`super::tanh_in_place_f32`] in AVX2: eight at a time, the rest one by one.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tanh_avx2(ys: &mut [f32]) {
        let (chunks, tail) = ys.as_chunks_mut::<8>();
        for c in chunks {
            // SAFETY: `c` is eight `f32`s, read and written through its own pointer.
            unsafe { _mm256_storeu_ps(c.as_mut_ptr(), tanh8(_mm256_loadu_ps(c.as_ptr()))) };
        }
        for y in tail {
            *y = tanh_f32(*y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "alloc")]
    use alloc::vec::Vec;

    /// The error of `got` in units of the spacing of `f32`s at `tanh x` rounded (the
    /// smallest subnormal's spacing at zero).
    fn ulps(got: f32, x: f32) -> f64 {
        let want = (x as f64).tanh();
        let w = (want as f32).abs();
        let ulp = if w == 0.0 {
            f32::from_bits(1) as f64
        } else if w >= 1.0 {
            // Just below 1 the spacing is 2^-24; `tanh` never exceeds 1.
            f32::EPSILON as f64 / 2.0
        } else {
            f32::from_bits(w.to_bits() + 1) as f64 - w as f64
        };
        (got as f64 - want).abs() / ulp
    }

    /// A sweep over every 61st positive `f32` below infinity (about 35 million values:
    /// every binade, subnormals included), both signs: at most 2.5 ulp, and odd to the bit.
    #[test]
    fn within_two_and_a_half_ulp_on_a_dense_sweep() {
        let mut worst = (0.0f64, 0.0f32);
        let mut bits = 0u32;
        while bits < 0x7f80_0000 {
            let x = f32::from_bits(bits);
            let y = tanh_f32(x);
            let e = ulps(y, x);
            if e > worst.0 {
                worst = (e, x);
            }
            assert_eq!(tanh_f32(-x).to_bits(), (-y).to_bits(), "tanh(-x) = -tanh(x) at x = {x:e}");
            bits += 61;
        }
        assert!(worst.0 <= 2.5, "{} ulp at x = {:e}", worst.0, worst.1);
    }

    #[test]
    fn special_values() {
        assert_eq!(tanh_f32(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(f32::MAX), 1.0);
        assert_eq!(tanh_f32(-f32::MAX), -1.0);
        for x in [9.010_913f32, 9.1, 20.0, 88.0, 1e30] {
            assert_eq!(tanh_f32(x), 1.0, "tanh({x}) saturates");
            assert_eq!(tanh_f32(-x), -1.0, "tanh(-{x}) saturates");
        }
        // Just below the clamp the result is already 1 or the float below it.
        assert!(tanh_f32(8.9) >= 1.0 - f32::EPSILON / 2.0);
        for x in [f32::from_bits(1), f32::MIN_POSITIVE, 1e-20, 1e-10] {
            assert_eq!(tanh_f32(x), x, "tanh({x:e}) = x");
            assert_eq!(tanh_f32(-x), -x, "tanh(-{x:e}) = -x");
        }
        for nan in [f32::NAN, -f32::NAN, f32::from_bits(0x7f80_0001), f32::from_bits(0xffc0_1234)] {
            assert!(tanh_f32(nan).is_nan());
            let mut v = [nan; 17];
            tanh_in_place_f32(&mut v);
            assert!(v.iter().all(|y| y.is_nan()));
        }
        // Monotone across the points where `n` changes and near the clamp.
        let mut x = 0.0f32;
        let mut prev = 0.0f32;
        while x < 9.2 {
            let y = tanh_f32(x);
            assert!(y >= prev, "tanh decreases at {x}");
            prev = y;
            x += 1.0 / 1024.0;
        }
    }

    /// Every build this CPU has gives [`tanh_f32`]'s bits, for lengths around the vector
    /// widths (tails included) and for values across the range and the special ones.
    /// (Needs `alloc` for its buffers; without it only the portable loop exists.)
    #[cfg(feature = "alloc")]
    #[test]
    fn every_build_gives_the_scalar_bits() {
        let mut vals: Vec<f32> = (0..2000).map(|i| (i as f32 - 1000.0) * 0.0123).collect();
        vals.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, -1e-40, 9.5, -30.0]);
        let want: Vec<u32> = vals.iter().map(|&x| tanh_f32(x).to_bits()).collect();
        let check = |name: &str, run: &dyn Fn(&mut [f32])| {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, vals.len()] {
                for start in [0, 3] {
                    let end = (start + len).min(vals.len());
                    let mut ys = vals[start..end].to_vec();
                    run(&mut ys);
                    let got: Vec<u32> = ys.iter().map(|y| y.to_bits()).collect();
                    assert_eq!(got, want[start..end], "{name}, {len} values from {start}");
                }
            }
        };
        check("portable", &|ys| tanh_portable(ys));
        check("chosen", &|ys| tanh_in_place_f32(ys));
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 was just detected.
                check("avx2", &|ys| unsafe { x86::tanh_avx2(ys) });
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F was just detected.
                check("avx512", &|ys| unsafe { x86::tanh_avx512(ys) });
            }
        }
    }
}
