//! The three ways a 3x3 convolution of stride 1 can run its forward pass, on the shapes
//! of the repository's 3x3 layers and around them: the direct loops, `im2col` + GEMM,
//! and Winograd's F(2x2, 3x3). The crossover measured here is the rule
//! `ops::conv::choose_algorithm` applies at compile time (docs/BENCHMARKS.md,
//! "Convolution algorithms"). All three run through `ConvPlan` with the same packing
//! memory, their repeats interleaved; each line gives wall-clock and CPU-time medians.
//!
//! `taskset -c 0 cargo bench --bench conv_algorithms` (a filter such as `-- c64` runs
//! the shapes whose name contains it).

mod common;

use monograd::core::kernels::gemm::PACK_LEN;
use monograd::core::kernels::im2col::Conv2dGeometry;
use monograd::core::ops::conv::{choose_algorithm, ConvAlgorithm, ConvPlan};

fn main() {
    // (name, channels in, channels out, height = width, padding, batch)
    let shapes = [
        ("resnet_stem_c1to12_28", 1, 12, 28, 1, 64),
        ("resnet_block_c12_14", 12, 12, 14, 1, 64),
        ("c8_14", 8, 8, 14, 1, 64),
        ("c16_28", 16, 16, 28, 1, 16),
        ("c32_14", 32, 32, 14, 1, 16),
        ("c64_16", 64, 64, 16, 1, 8),
        ("c128_8", 128, 128, 8, 1, 8),
        ("c16_28_unpadded", 16, 16, 28, 0, 16),
    ];
    for (name, ci, co, hw, pad, batch) in shapes {
        if common::filter().is_some_and(|f| !name.contains(&f)) {
            continue;
        }
        let geo = Conv2dGeometry::new(ci, [hw, hw], [3, 3], [1, 1], [pad, pad], [1, 1]).unwrap();
        let base = ConvPlan::new(geo, 1, co).unwrap();
        let algos = [ConvAlgorithm::Direct, ConvAlgorithm::Im2col, ConvAlgorithm::Winograd];
        let plans: Vec<ConvPlan> = algos.iter().map(|&a| base.with_algorithm(a).unwrap()).collect();
        let x = common::uniform(batch * base.in_len(), 1);
        let w = common::uniform(base.weight_len(), 2);
        let b = common::uniform(co, 3);
        let scratch = plans.iter().map(ConvPlan::scratch).max().unwrap();
        let mut pack = vec![0.0f32; PACK_LEN + scratch];
        let mut ys: Vec<Vec<f32>> = plans.iter().map(|p| vec![0.0f32; batch * p.out_len()]).collect();
        // The three agree before anything is timed.
        for (p, y) in plans.iter().zip(&mut ys) {
            p.forward("conv", &w, &b, &x, y, &mut pack, |v| v);
        }
        for y in &ys[1..] {
            let worst = y.iter().zip(&ys[0]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "{name}: the algorithms differ by {worst}");
        }
        let mut fs: Vec<Box<dyn FnMut()>> = Vec::new();
        for (p, y) in plans.iter().zip(ys.iter_mut()) {
            let (p, x, w, b) = (*p, &x, &w, &b);
            // Each its own packing memory, as one network's state would give it.
            let mut pack = vec![0.0f32; PACK_LEN + p.scratch()];
            fs.push(Box::new(move || p.forward("conv", w, b, x, y, &mut pack, |v| v)));
        }
        let mut refs: Vec<&mut dyn FnMut()> = fs.iter_mut().map(|f| &mut **f as &mut dyn FnMut()).collect();
        let times = common::interleaved_times(&mut refs);
        let macs = (co * ci * 9 * geo.col_cols() * batch) as f64;
        let chosen = choose_algorithm(&geo, 1, co);
        for (algo, t) in algos.iter().zip(&times) {
            let median = |v: &[f64]| {
                let mut v = v.to_vec();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (wall, cpu) = (median(&t.wall), median(&t.cpu));
            common::report(
                "monograd",
                &format!("conv3x3_{name}_{}", algo.name()),
                &[
                    ("batch", &batch),
                    ("us_per_call", &common::micros(wall)),
                    ("cpu_us_per_call", &common::micros(cpu)),
                    ("direct_equiv_gflops_cpu", &common::fixed1(common::gflops(2.0 * macs, cpu))),
                    ("chosen", &(*algo == chosen)),
                ],
            );
        }
    }
}
