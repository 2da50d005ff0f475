//! Winograd's F(2x2, 3x3): a 3x3 convolution of stride 1 as 16 matrix products over
//! transformed 4x4 tiles, 2.25 times fewer multiply-adds than the direct sum.
//!
//! Each 2x2 block of output (a tile) reads a 4x4 block `d` of input. With the filter
//! `g` (3x3), the output block is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` (Lavin and Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016), where
//!
//! ```text
//!      | 1  0 -1  0 |        | 1    0    0  |
//! Bᵀ = | 0  1  1  0 |    G = | 1/2  1/2  1/2 |    Aᵀ = | 1  1  1  0 |
//!      | 0 -1  1  0 |        | 1/2 -1/2  1/2 |         | 0  1 -1 -1 |
//!      | 0  1  0 -1 |        | 0    0    1  |
//! ```
//!
//! Summed over input channels, the elementwise products become, for each of the 16
//! positions `e` of a tile, one product `M_e = U_e V_e` of the transformed filters `U_e`
//! (`[out, in]`) and the transformed input tiles `V_e` (`[in, tiles]`), which the packed
//! GEMM runs. The transforms add and subtract; only `G` has fractions (halves, exact in
//! binary), so the result differs from the direct sum by rounding alone.
//!
//! The tiles of several samples ([`samples_per_call`]) sit side by side as the columns of
//! each product, so that the products are wide enough to repay packing. Memory (in
//! values, [`scratch`]): `16 · (out · in + samples · (in + out) · tiles)`, taken from the
//! caller's packing memory like `im2col`'s column buffer.
//!
//! This module has the forward pass only: the backward pass of a convolution whose
//! forward ran here is the exact convolution's (the two are the same function), which
//! `ops::conv` computes through `im2col`.

use super::gemm::{gemm, MatMut, MatRef};
use super::im2col::Conv2dGeometry;
use crate::{Scalar, ShapeError};

/// Whether F(2x2, 3x3) computes this convolution: a 3x3 kernel, stride 1, no dilation.
///
/// ```
/// use monograd_core::kernels::im2col::Conv2dGeometry;
/// use monograd_core::kernels::winograd::applies;
/// let same = Conv2dGeometry::new(8, [14, 14], [3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
/// let strided = Conv2dGeometry::new(8, [14, 14], [3, 3], [2, 2], [1, 1], [1, 1]).unwrap();
/// assert!(applies(&same) && !applies(&strided));
/// ```
pub const fn applies(g: &Conv2dGeometry) -> bool {
    let ([kh, kw], [sh, sw], [dh, dw]) = (g.kernel(), g.stride(), g.dilation());
    kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1
}

/// The number of 2x2 output tiles of one channel (partial ones at the edges included).
pub const fn tiles(g: &Conv2dGeometry) -> usize {
    let [oh, ow] = g.output();
    oh.div_ceil(2) * ow.div_ceil(2)
}

/// Values of scratch [`forward`] needs for `out` output channels and up to `samples`
/// samples per call: the transformed filters, input tiles and products. `None` if that
/// overflows `usize`.
pub const fn scratch(g: &Conv2dGeometry, out: usize, samples: usize) -> Option<usize> {
    let (c, t) = (g.channels(), tiles(g));
    let Some(u) = out.checked_mul(c) else { return None };
    let Some(n) = t.checked_mul(samples) else { return None };
    let Some(v) = c.checked_mul(n) else { return None };
    let Some(m) = out.checked_mul(n) else { return None };
    let Some(sum) = u.checked_add(v) else { return None };
    let Some(sum) = sum.checked_add(m) else { return None };
    let Some(sum) = sum.checked_add(2 * PAD) else { return None };
    sum.checked_mul(16)
}

/// Values of padding after each of the 16 matrices of tiles and of products: their
/// sizes are often powers of two (64 channels of 256 tiles), and the transforms touch all
/// 16 at once, which at such a distance fall into the same cache sets; 64 bytes more per
/// matrix spreads them (the 64-channel layers of the bench took 1.7x im2col's time
/// without it).
const PAD: usize = 16;

/// Samples per call of [`forward`] such that its products have at least 256 columns
/// (tiles of all the samples side by side), at most 16: with fewer columns the GEMM's
/// packing of the filters is repaid over too little work.
pub const fn samples_per_call(g: &Conv2dGeometry) -> usize {
    let t = tiles(g);
    if t == 0 {
        return 1;
    }
    let s = 256usize.div_ceil(t);
    if s > 16 {
        16
    } else {
        s
    }
}

/// The transformed filters `U_e = (G g Gᵀ)_e` of `w` (`[out, C, 3, 3]`), into `u` as 16
/// matrices `[out, C]`.
///
/// # Errors
/// If `w` is not `out · C · 9` values or `u` not `16 · out · C`.
pub fn transform_filters<T: Scalar>(w: &[T], out: usize, channels: usize, u: &mut [T]) -> Result<(), ShapeError> {
    let n = out * channels;
    if w.len() != n * 9 {
        return Err(ShapeError::Length { what: "winograd filters", expected: n * 9, found: w.len() });
    }
    if u.len() != 16 * n {
        return Err(ShapeError::Length { what: "winograd filter scratch", expected: 16 * n, found: u.len() });
    }
    let half = T::from_f64(0.5);
    for (i, g) in w.chunks_exact(9).enumerate() {
        // G g: 4 rows of 3.
        let mut gg = [[T::ZERO; 3]; 4];
        for j in 0..3 {
            let (a, b, c) = (g[j], g[3 + j], g[6 + j]);
            gg[0][j] = a;
            gg[1][j] = (a + b + c) * half;
            gg[2][j] = (a - b + c) * half;
            gg[3][j] = c;
        }
        // (G g) Gᵀ: 4 columns.
        for (r, row) in gg.iter().enumerate() {
            let (a, b, c) = (row[0], row[1], row[2]);
            let t = [a, (a + b + c) * half, (a - b + c) * half, c];
            for (s, &v) in t.iter().enumerate() {
                u[(r * 4 + s) * n + i] = v;
            }
        }
    }
    Ok(())
}

/// Up to `cap` samples: `y = conv(x)` (no bias), overwriting `y` (`[samples, out, OH,
/// OW]`), from the filters [`transform_filters`] made (`u`, 16 x `[out, C]`). The tiles of
/// all the samples are the columns of one product per tile position. `scratch` holds at
/// least `16 · ((C + out) · cap · tiles + 32)` values, `pack` is the GEMM's packing memory.
///
/// # Errors
/// If the convolution is not one F(2x2, 3x3) computes ([`applies`]) or a length does not
/// fit.
#[allow(clippy::too_many_arguments)] // filters, input, output, two scratch buffers, sizes
pub fn forward<T: Scalar>(
    g: &Conv2dGeometry,
    u: &[T],
    out: usize,
    x: &[T],
    y: &mut [T],
    scratch: &mut [T],
    pack: &mut [T],
    cap: usize,
) -> Result<(), ShapeError> {
    if !applies(g) {
        return Err(ShapeError::Length {
            what: "winograd: a 3x3 kernel of stride 1",
            expected: 3,
            found: g.kernel()[0],
        });
    }
    let (c, t) = (g.channels(), tiles(g));
    let [h, w] = g.input();
    let [oh, ow] = g.output();
    let [ph, pw] = g.padding();
    let samples = x.len().checked_div(c * h * w).unwrap_or(0);
    let checks = [
        ("winograd input", samples * c * h * w, x.len()),
        ("winograd output", samples * out * oh * ow, y.len()),
        ("winograd filters", 16 * out * c, u.len()),
        ("winograd samples per call", cap.max(samples), cap),
    ];
    for (what, expected, found) in checks {
        if expected != found {
            return Err(ShapeError::Length { what, expected, found });
        }
    }
    let nmax = cap * t;
    // The distance between the 16 matrices of tiles (vp) and of products (mp).
    let (vp, mp) = (c * nmax + PAD, out * nmax + PAD);
    let need = 16 * (vp + mp);
    if scratch.len() < need {
        return Err(ShapeError::Length { what: "winograd scratch", expected: need, found: scratch.len() });
    }
    if t == 0 || out == 0 || samples == 0 {
        return Ok(());
    }
    let (v, rest) = scratch.split_at_mut(16 * vp);
    let m = &mut rest[..16 * mp];
    let tw = ow.div_ceil(2);

    // V_e[ch, s · tiles + tile] = (Bᵀ d B)_e, d the 4x4 input block of the tile (zero
    // outside the image).
    for (sc, plane) in x.chunks_exact(h * w).enumerate() {
        let (smp, ch) = (sc / c, sc % c);
        for tile in 0..t {
            let (oy, ox) = (tile / tw * 2, tile % tw * 2);
            let mut d = [[T::ZERO; 4]; 4];
            // Input row iy = oy + r - ph, column ix = ox + s - pw.
            let interior = oy >= ph && ox >= pw && oy + 4 <= h + ph && ox + 4 <= w + pw;
            if interior {
                for (r, dr) in d.iter_mut().enumerate() {
                    let row = &plane[(oy + r - ph) * w + ox - pw..][..4];
                    dr.copy_from_slice(row);
                }
            } else {
                for (r, dr) in d.iter_mut().enumerate() {
                    let iy = (oy + r).wrapping_sub(ph);
                    if iy >= h {
                        continue;
                    }
                    for (s, v) in dr.iter_mut().enumerate() {
                        let ix = (ox + s).wrapping_sub(pw);
                        if ix < w {
                            *v = plane[iy * w + ix];
                        }
                    }
                }
            }
            // Bᵀ d: rows.
            let mut bd = [[T::ZERO; 4]; 4];
            for s in 0..4 {
                bd[0][s] = d[0][s] - d[2][s];
                bd[1][s] = d[1][s] + d[2][s];
                bd[2][s] = d[2][s] - d[1][s];
                bd[3][s] = d[1][s] - d[3][s];
            }
            // (Bᵀ d) B: columns.
            let col = smp * t + tile;
            for (r, row) in bd.iter().enumerate() {
                let e = [row[0] - row[2], row[1] + row[2], row[2] - row[1], row[1] - row[3]];
                for (s, &val) in e.iter().enumerate() {
                    v[(r * 4 + s) * vp + ch * nmax + col] = val;
                }
            }
        }
    }

    // M_e = U_e V_e: 16 products [out, C] x [C, samples · tiles].
    let n = samples * t;
    for e in 0..16 {
        let ue = MatRef::row_major(&u[e * out * c..][..out * c], out, c)?;
        let ve = MatRef::new(&v[e * vp..][..c * nmax], c, n, nmax, 1)?;
        let me = MatMut::new(&mut m[e * mp..][..out * nmax], out, n, nmax, 1)?;
        gemm(T::ONE, ue, ve, T::ZERO, me, pack)?;
    }

    // y = Aᵀ M A per tile, clipped at the right and bottom edges.
    for (sk, yk) in y.chunks_exact_mut(oh * ow).enumerate() {
        let (smp, k) = (sk / out, sk % out);
        for tile in 0..t {
            let (oy, ox) = (tile / tw * 2, tile % tw * 2);
            let at = k * nmax + smp * t + tile;
            let mut mm = [[T::ZERO; 4]; 4];
            for (r, row) in mm.iter_mut().enumerate() {
                for (s, val) in row.iter_mut().enumerate() {
                    *val = m[(r * 4 + s) * mp + at];
                }
            }
            // Aᵀ M: 2 rows.
            let mut am = [[T::ZERO; 4]; 2];
            for s in 0..4 {
                am[0][s] = mm[0][s] + mm[1][s] + mm[2][s];
                am[1][s] = mm[1][s] - mm[2][s] - mm[3][s];
            }
            for (i, row) in am.iter().enumerate() {
                if oy + i >= oh {
                    break;
                }
                let pair = [row[0] + row[1] + row[2], row[1] - row[2] - row[3]];
                for (j, &val) in pair.iter().enumerate() {
                    if ox + j < ow {
                        yk[(oy + i) * ow + ox + j] = val;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::kernels::im2col::conv2d_direct;
    use crate::rng::Rng;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut r = Rng::seed(seed);
        (0..n).map(|_| r.uniform(-1.0, 1.0)).collect()
    }

    /// Against the direct sum, over odd and even sizes (partial tiles), padding 0 to 2
    /// and channel counts on both sides of a GEMM block.
    #[test]
    fn equals_the_direct_convolution() {
        for (c, k, hw, p) in
            [(1, 1, [3, 3], 0), (2, 3, [5, 4], 1), (3, 2, [7, 9], 2), (12, 12, [14, 14], 1), (5, 17, [6, 6], 0)]
        {
            let g = Conv2dGeometry::new(c, hw, [3, 3], [1, 1], [p, p], [1, 1]).unwrap();
            let (x, w) = (values(g.input_len(), 1), values(k * c * 9, 2));
            let mut want = vec![0.0; k * g.col_cols()];
            conv2d_direct(&g, &w, &x, &mut want).unwrap();
            // Two samples in one call (the second the first negated), with room for three.
            let x: Vec<f64> = x.iter().copied().chain(x.iter().map(|v| -v)).collect();
            let want: Vec<f64> = want.iter().copied().chain(want.iter().map(|v| -v)).collect();
            let mut u = vec![0.0; 16 * k * c];
            transform_filters(&w, k, c, &mut u).unwrap();
            let mut scratch = vec![0.0; scratch(&g, k, 3).unwrap()];
            let mut got = vec![f64::NAN; want.len()];
            forward(&g, &u, k, &x, &mut got, &mut scratch, &mut vec![0.0; 4096], 3).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{c}->{k} {hw:?} p{p}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn other_convolutions_and_short_buffers_are_errors() {
        let g = Conv2dGeometry::new(1, [5, 5], [3, 3], [2, 2], [0, 0], [1, 1]).unwrap();
        assert!(!applies(&g));
        let (u, x, mut y) = ([0.0f32; 16], [0.0f32; 25], [0.0f32; 4]);
        assert!(forward(&g, &u, 1, &x, &mut y, &mut [0.0; 1024], &mut [], 1).is_err());
        let g = Conv2dGeometry::new(1, [5, 5], [3, 3], [1, 1], [0, 0], [1, 1]).unwrap();
        let mut y = [0.0f32; 9];
        assert!(forward(&g, &u, 1, &x, &mut y, &mut [0.0; 10], &mut [], 1).is_err());
        assert!(forward(&g, &u, 1, &x, &mut y, &mut [0.0; 1024], &mut [], 0).is_err());
        assert!(forward(&g, &u, 1, &x, &mut y, &mut [0.0; 1024], &mut [], 1).is_ok());
    }
}
