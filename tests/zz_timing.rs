use monograd::quant::kernels::*;
use monograd::quant::math::Multiplier;
use std::time::Instant;
fn t(name: &str, mut f: impl FnMut()) { for _ in 0..200 { f(); } let s = Instant::now(); for _ in 0..5000 { f(); } println!("{name}: {:.2} us", s.elapsed().as_secs_f64() * 1e6 / 5000.0); }
#[test]
fn timing() {
    let m = vec![Multiplier::new(0.01); 16];
    let b = vec![1i32; 120];
    let w1 = vec![3i8; 6 * 25]; let w2 = vec![3i8; 16 * 150]; let wf = vec![3i8; 120 * 256];
    let x = vec![1i8; 784]; let mut y1 = vec![0i8; 6 * 576]; let mut p1 = vec![0i8; 6 * 144];
    let mut y2 = vec![0i8; 16 * 64]; let mut p2 = vec![0i8; 256]; let mut f1 = vec![0i8; 120];
    let g1 = ConvGeometry { input: [1, 28, 28], output: [6, 24, 24], kernel: [5, 5], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    let g2 = ConvGeometry { input: [6, 12, 12], output: [16, 8, 8], kernel: [5, 5], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    let mut s1 = vec![0i16; conv2d_scratch(&g1)]; let mut s2 = vec![0i16; conv2d_scratch(&g2)]; let mut sf = vec![0i16; 256];
    let d1 = Dense { weight: &w1, bias: Some(&b[..6]), multipliers: &m[..6], input_zero_point: 0, output: OutputStage::plain(0) };
    let d2 = Dense { weight: &w2, bias: Some(&b[..16]), multipliers: &m[..16], input_zero_point: 0, output: OutputStage::plain(0) };
    let df = Dense { weight: &wf, bias: Some(&b[..120]), multipliers: &m[..1], input_zero_point: 0, output: OutputStage::plain(0) };
    t("conv1", || conv2d(&d1, &g1, &x, &mut y1, &mut s1).unwrap());
    t("pool1", || max_pool2d(&PoolGeometry { input: [6, 24, 24], output: [6, 12, 12], window: [2, 2], stride: [2, 2], padding: [0, 0] }, OutputStage::plain(0), &y1, &mut p1).unwrap());
    t("conv2", || conv2d(&d2, &g2, &p1, &mut y2, &mut s2).unwrap());
    t("pool2", || max_pool2d(&PoolGeometry { input: [16, 8, 8], output: [16, 4, 4], window: [2, 2], stride: [2, 2], padding: [0, 0] }, OutputStage::plain(0), &y2, &mut p2).unwrap());
    t("fc1", || linear(&df, &p2, &mut f1, &mut sf).unwrap());
}
