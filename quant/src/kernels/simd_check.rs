//! The sweeps every SIMD kernel is tested with, against the portable loops: each build
//! (AVX2, AVX-512 VNNI) passes its kernel in and must give the same bytes.

use std::vec;
use std::vec::Vec;

use super::conv::conv2d_portable;
use super::{ConvGeometry, Dense, OutputStage};
use crate::math::Multiplier;

/// A seeded xorshift: the same cases on every run.
pub(super) fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// 200 convolutions (channels, kernel sizes, strides, padding, dilation, sizes that are
/// no multiple of any vector width; every fourth at extreme values, `extreme_weight` for
/// the weights), each run by `fast` and by the portable loops.
pub(super) fn conv_equals_the_portable_loops(
    extreme_weight: i8,
    fast: impl Fn(&Dense<'_>, &ConvGeometry, &[i8], &mut [i8]),
) {
    let mut next = rng(0x0bad_cafe_1234_5678);
    let mut run = 0;
    for round in 0..200usize {
        let (ci, co) = (1 + round % 5, 1 + (round / 2) % 9);
        let (kh, kw) = (1 + round % 4, 1 + (round / 3) % 5);
        let (sh, sw) = (1 + (round / 7) % 2, 1 + round % 3 / 2);
        let (ph, pw) = ((round / 5) % 3, (round / 11) % 3);
        let (dh, dw) = (1 + (round / 13) % 2, 1 + (round / 17) % 2);
        let (h, w) = (5 + round % 13, 4 + (round / 3) % 17);
        let (span_h, span_w) = (dh * (kh - 1) + 1, dw * (kw - 1) + 1);
        if h + 2 * ph < span_h || w + 2 * pw < span_w {
            continue;
        }
        let (oh, ow) = ((h + 2 * ph - span_h) / sh + 1, (w + 2 * pw - span_w) / sw + 1);
        let g = ConvGeometry {
            input: [ci, h, w],
            output: [co, oh, ow],
            kernel: [kh, kw],
            stride: [sh, sw],
            padding: [ph, pw],
            dilation: [dh, dw],
        };
        let extreme = round % 4 == 0;
        let x: Vec<i8> = (0..ci * h * w).map(|_| if extreme { -128 } else { next() as i8 }).collect();
        let wt: Vec<i8> =
            (0..co * g.patch_len()).map(|_| if extreme { extreme_weight } else { (next() % 255) as i8 }).collect();
        let b: Vec<i32> = (0..co).map(|_| (next() % 20000) as i32 - 10000).collect();
        let m: Vec<Multiplier> = (0..co).map(|_| Multiplier::new(1e-4 + (next() % 1000) as f64 * 1e-5)).collect();
        let zp = match round % 5 {
            0 => 127,
            1 => -128,
            _ => (next() % 256) as i32 - 128,
        };
        let relu = round % 3 == 0;
        let d = Dense {
            weight: &wt,
            bias: if round % 6 == 5 { None } else { Some(&b) },
            multipliers: if round % 4 == 1 { &m[..1] } else { &m },
            input_zero_point: zp,
            output: OutputStage { zero_point: -5, min: if relu { -5 } else { -128 }, max: 127 },
        };
        let mut slow = vec![0i8; co * oh * ow];
        conv2d_portable(&d, &g, &x, &mut slow, &mut vec![0; g.patch_len()]);
        let mut got = vec![0i8; co * oh * ow];
        fast(&d, &g, &x, &mut got);
        assert_eq!(got, slow, "round {round}: {g:?}");
        run += 1;
    }
    // Most shapes fit their input (the rest are skipped above).
    assert!(run > 150, "{run} shapes run");
}

/// `L` accumulators (`i32::MIN`, `i32::MAX`, 0, -1 and random ones) requantized by
/// `fast` for every shift TFLite's multipliers take, against [`Multiplier::apply`].
pub(super) fn requantization_equals_the_scalar_code<const L: usize>(fast: impl Fn(&Dense<'_>, &[i32; L]) -> [i32; L]) {
    let mut next = rng(0x5eed_0000_1111_2222);
    let mut shifts: Vec<i32> = (-31..=7).collect();
    shifts.extend([0, 0, -1, -1]);
    for &shift in &shifts {
        for _ in 0..200 {
            let m = Multiplier { multiplier: (1 << 30) + (next() % (1 << 30)) as i32, shift };
            let accs: [i32; L] = core::array::from_fn(|i| match i {
                0 => i32::MIN,
                1 => i32::MAX,
                2 => 0,
                3 => -1,
                _ => next() as i32 >> (next() % 32),
            });
            let d = Dense {
                weight: &[],
                bias: None,
                multipliers: core::slice::from_ref(&m),
                input_zero_point: -128,
                output: OutputStage::plain(3),
            };
            let want = accs.map(|a| i32::from(d.output.finish(m.apply(a))));
            assert_eq!(fast(&d, &accs), want, "{m:?}");
        }
    }
}

/// Fully connected layers of 1 to 10 rows and 1 to 784 inputs, run by `fast` and by the
/// portable loop; with `extremes`, every seventh length at the extreme values.
pub(super) fn linear_equals_the_portable_loop(extremes: bool, fast: impl Fn(&Dense<'_>, &[i8], &mut [i8])) {
    let mut next = rng(0x1357_9bdf_2468_ace0);
    for n in (1..140).chain([255, 256, 257, 784]) {
        for rows in [1, 2, 3, 4, 5, 7, 10] {
            let extreme = extremes && n % 7 == 0;
            let x: Vec<i8> = (0..n).map(|_| if extreme { -128 } else { next() as i8 }).collect();
            let wt: Vec<i8> = (0..rows * n).map(|_| if extreme { -128 } else { (next() % 255) as i8 }).collect();
            let b: Vec<i32> = (0..rows).map(|_| (next() % 2000) as i32 - 1000).collect();
            let m: Vec<Multiplier> = (0..rows).map(|o| Multiplier::new(0.002 * (o + 1) as f64)).collect();
            let d = Dense {
                weight: &wt,
                bias: if n % 3 == 0 { None } else { Some(&b) },
                multipliers: if n % 2 == 0 { &m[..1] } else { &m },
                input_zero_point: if extreme { 127 } else { (next() % 256) as i32 - 128 },
                output: OutputStage::plain(-7),
            };
            let mut slow = vec![0i8; rows];
            let p: Vec<i16> = x.iter().map(|&v| i16::from(v) - d.input_zero_point as i16).collect();
            d.outputs(&p, n, &mut slow, 0, 1);
            let mut got = vec![0i8; rows];
            fast(&d, &x, &mut got);
            assert_eq!(got, slow, "n = {n}, rows = {rows}");
        }
    }
}
