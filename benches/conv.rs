//! Conv2d forward and forward+backward at the sizes of LeNet-5's two convolutions (W4 in
//! the shared workload definitions, batch 32) and of a small ResNet block's 3x3
//! convolution (64 channels of 16x16, padding 1, batch 8): the GEMM path with full packing
//! memory, and the direct path (no packing memory) for comparison; and a depthwise 3x3 at
//! the ResNet size. Run pinned to one core:
//! `taskset -c 0 cargo bench --bench conv`. Results and the machine: docs/BENCHMARKS.md.
//!
//! GFLOP/s counts `2 · MACS · batch` per pass: one pass forward, three for forward and
//! backward (the output, the weight gradient and the input gradient).

mod common;

use monograd::core::kernels::gemm::PACK_LEN;
use monograd::core::{Ctx, Layer, Rank3, Rng, Shape};
use monograd::nn::{Conv2d, DepthwiseConv2d};

fn main() {
    let mut rng = Rng::seed(0);
    run::<_, Rank3<1, 28, 28>, Rank3<6, 24, 24>>("conv2d_lenet_c1", 32, &Conv2d::<1, 6, 5>::new(&mut rng));
    run::<_, Rank3<6, 12, 12>, Rank3<16, 8, 8>>("conv2d_lenet_c2", 32, &Conv2d::<6, 16, 5>::new(&mut rng));
    let resnet = Box::new(Conv2d::<64, 64, 3, 1, 1>::new(&mut rng));
    run::<_, Rank3<64, 16, 16>, Rank3<64, 16, 16>>("conv2d_resnet_64x16x16", 8, &*resnet);
    // The depthwise 3x3 of a MobileNet block at the same size: always the direct kernel.
    let depthwise = DepthwiseConv2d::<64, 3, 1, 1>::new(&mut rng);
    run::<_, Rank3<64, 16, 16>, Rank3<64, 16, 16>>("depthwise_64x16x16", 8, &depthwise);
}

/// Times forward, and forward followed by backward (with the input gradient), on the
/// GEMM path and on the direct path (one path for a layer that needs no scratch), and
/// prints one line for each.
fn run<L, I: Shape, O: Shape>(name: &str, batch: usize, layer: &L)
where
    L: Layer<f32, I, O>,
{
    let x = common::uniform(batch * I::NUMEL, 1);
    let dy = common::uniform(batch * O::NUMEL, 2);
    let (mut y, mut dx) = (vec![0.0f32; batch * O::NUMEL], vec![0.0f32; batch * I::NUMEL]);
    let mut grad = layer.zeros_like();
    let mut pack = vec![0.0f32; PACK_LEN + L::SCRATCH];
    let flops = 2.0 * (L::MACS * batch) as f64;
    let paths: &[(&str, usize)] =
        if L::SCRATCH > 0 { &[("_gemm", pack.len()), ("_direct", 0)] } else { &[("", pack.len())] };
    for &(path, pack_len) in paths {
        let fwd_name = format!("{name}_b{batch}_fwd{path}");
        if common::selected(&fwd_name) {
            let (secs, _, _) = common::measure(|| {
                layer.forward(&x, &mut y, &mut Ctx::new(&mut pack[..pack_len]));
            });
            print_line(&fwd_name, batch, secs, flops);
        }
        let both_name = format!("{name}_b{batch}_fwdbwd{path}");
        if common::selected(&both_name) {
            let (secs, _, _) = common::measure(|| {
                let ctx = &mut Ctx::new(&mut pack[..pack_len]);
                layer.forward(&x, &mut y, ctx);
                layer.backward(&x, &y, &Default::default(), &dy, Some(&mut dx), &mut grad, ctx);
            });
            print_line(&both_name, batch, secs, 3.0 * flops);
        }
    }
}

fn print_line(name: &str, batch: usize, secs: f64, flops: f64) {
    common::report(
        "monograd",
        name,
        &[
            ("batch", &batch),
            ("us_per_call", &common::micros(secs)),
            ("gflops", &common::fixed1(common::gflops(flops, secs))),
        ],
    );
}
