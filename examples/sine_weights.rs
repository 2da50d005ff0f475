//! Trains TensorFlow Lite Micro's "hello world" model (`y ≈ sin(x)`, 1 -> 16 -> 16 -> 1
//! with ReLU) and writes the weights the firmware embeds, `firmware/weights/sine.safetensors`.
//!
//! ```text
//! cargo run --release --example sine_weights --no-default-features --features safetensors
//! ```
//!
//! As in TensorFlow Lite Micro's notebook: 1,000 points of `x` uniform in `[0, 2π)`, `y =
//! sin(x)` plus a little noise, batches of 64, Adam, mean squared error. Seeded, so the
//! file it writes is the same every run.

#[path = "../firmware/src/sine.rs"]
mod sine;

use monograd::nn::serialize::safetensors;
use monograd::prelude::*;
use sine::Sine;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const N: usize = 1000;
    const BATCH: usize = 64;
    const EPOCHS: usize = 600;
    let mut rng = Rng::seed(2024);
    let two_pi = 2.0 * std::f64::consts::PI;
    let mut xs = Vec::with_capacity(N);
    let mut ys = Vec::with_capacity(N);
    for _ in 0..N {
        let x = rng.uniform(0.0, two_pi);
        xs.push(x as f32);
        ys.push((x.sin() + 0.05 * rng.normal()) as f32);
    }

    let mut net = Sine::new(&mut rng);
    let mut grad = Sine::default();
    let mut state = Sine::state::<Heap>();
    let mut opt = Adam::new(0.005f32);
    let mut dy = vec![0.0f32; BATCH];
    let mut order: Vec<usize> = (0..N).collect();
    let (mut bx, mut by) = (vec![0.0f32; BATCH], vec![0.0f32; BATCH]);
    for epoch in 0..EPOCHS {
        if epoch == EPOCHS / 2 {
            opt.set_lr(0.001);
        }
        // Fisher-Yates with the seeded generator.
        for i in (1..N).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for chunk in order.chunks_exact(BATCH) {
            for (k, &i) in chunk.iter().enumerate() {
                bx[k] = xs[i];
                by[k] = ys[i];
            }
            let y = net.forward_train(&bx, &mut state)?;
            MseLoss.backward(y, &by, &mut dy)?;
            grad.zero();
            net.backward(&bx, &dy, &mut grad, &mut state)?;
            opt.step(&mut net, &grad);
        }
    }

    // How well it fits, on the points the firmware checks, against the noiseless sine.
    let mut worst = 0.0f32;
    for i in 0..sine::POINTS {
        let x = sine::input(i);
        let y = net.predict(&[x])?[0];
        worst = worst.max((y - x.sin()).abs());
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware/weights/sine.safetensors");
    safetensors::save(&net, &path)?;
    println!("sine: largest |y - sin(x)| on the firmware's {} points: {worst:.4}", sine::POINTS);
    println!("sine: wrote {}", path.display());
    Ok(())
}
