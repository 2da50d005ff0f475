//! Trains LeNet-5 on the repository's digits, quantizes it to int8 and writes the twin the
//! `lenet_int8` firmware embeds, `firmware/weights/lenet_int8.safetensors` (`i8` weights,
//! `i32` biases, `f32` scales and `i32` zero points: see `monograd::quant::embed`).
//!
//! ```text
//! cargo run --release --example lenet_int8_weights --features train
//! ```
//!
//! The recipe of `tests/quant_mnist.rs`, for three epochs on all 8,000 training digits:
//! Adam (learning rate 2e-3), batches of 32, seed 0; calibration on 500 training digits
//! (min/max, `Linear` per tensor). Seeded, so it writes the same file every run. It also
//! checks that the firmware's pixel conversion (`lenet::pixel`) gives the loader's and
//! normaliser's inputs bit for bit, and that its table of quantized inputs gives what
//! `predict` gives.

#[path = "../firmware/src/lenet.rs"]
mod lenet;

use lenet::{LeNet, LeNetI8};
use monograd::prelude::*;
use monograd::quant::calibrate::Calibration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mnist = Mnist::load_default()?;
    let norm = Normalize::mnist();
    let (mut train, mut test) = (mnist.train, mnist.test);
    norm.apply_dataset(&mut train)?;
    norm.apply_dataset(&mut test)?;

    // The firmware converts bytes itself: the same bits as the loader and `Normalize`.
    let raw = Mnist::load_default()?.test;
    let n = lenet::DIGITS * lenet::PIXELS;
    for (i, (&r, &x)) in raw.inputs()[..n].iter().zip(&test.inputs()[..n]).enumerate() {
        let byte = (r * 255.0).round() as u8;
        assert_eq!(lenet::pixel(byte).to_bits(), x.to_bits(), "pixel {i}");
    }

    let mut trainer = Trainer::new(LeNet::new(&mut Rng::seed(0)), Adam::new(2e-3), CrossEntropyLoss::new())
        .epochs(3)
        .batch_size(32)
        .seed(0);
    trainer.fit(&train, None, &mut ())?;
    let net = trainer.net();
    let cal = &train.inputs()[..500 * train.numel()];
    let twin = LeNet::quantize(net, &Calibration::new(cal))?;

    let (mut fst, mut qst) = (LeNet::state::<Heap>(), LeNetI8::state());
    let (mut f_hits, mut q_hits) = (0, 0);
    for i in 0..test.len() {
        let (x, &y) = test.get(i).ok_or("a test digit")?;
        f_hits += usize::from(argmax_f32(net.forward(x, &mut fst)?) == y);
        q_hits += usize::from(lenet::argmax(twin.predict(x, &mut qst)?) == y);
    }
    // The firmware maps bytes through a table to the quantized input: the same classes as
    // `predict` on the normalised digits.
    let table = lenet::input_table(&twin);
    let mut qst2 = LeNetI8::state();
    for (i, digit) in raw.inputs()[..n].chunks_exact(lenet::PIXELS).enumerate() {
        let q: Vec<i8> = digit.iter().map(|&r| table[(r * 255.0).round() as usize]).collect();
        let by_table = twin.forward(&q, &mut qst2)?.to_vec();
        let (x, _) = test.get(i).ok_or("a test digit")?;
        assert_eq!(by_table, twin.predict(x, &mut qst)?, "digit {i}");
    }
    let pct = |h: usize| 100.0 * h as f64 / test.len() as f64;
    println!("lenet: {} test digits: f32 {:.2}%, int8 {:.2}%", test.len(), pct(f_hits), pct(q_hits));

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware/weights/lenet_int8.safetensors");
    // Written beside the old file, then renamed over it: an interrupted run keeps the old one.
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, twin.to_safetensors())?;
    std::fs::rename(&tmp, &path)?;
    println!(
        "lenet: wrote {} ({} bytes; {} bytes of weights and biases)",
        path.display(),
        std::fs::metadata(&path)?.len(),
        LeNetI8::PARAM_BYTES
    );
    Ok(())
}

fn argmax_f32(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}
