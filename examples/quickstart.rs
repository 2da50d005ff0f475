//! Quickstart: fit `sin(x)` on [-π, π] with a 1-32-32-1 tanh network declared with
//! `network!`, then differentiate the trained network with respect to its input by forward
//! mode (dual numbers) and compare with `cos(x)`.
//!
//! Run: `cargo run --release --example quickstart`

use monograd::core::module::convert;
use monograd::prelude::*;

network! {
    /// 1 -> 32 -> 32 -> 1, tanh activations (fused into the dense layers by the macro).
    pub struct SineNet {
        input: [1],
        fc1: Linear<1, 32>,
        act1: Tanh,
        fc2: Linear<32, 32>,
        act2: Tanh,
        fc3: Linear<32, 1>,
    }
}

const BATCH: usize = 64;

fn main() -> Result<(), ShapeError> {
    let mut rng = Rng::seed(0);
    let mut net = SineNet::new(&mut rng);
    let mut grad = SineNet::default();
    let mut state = SineNet::state::<Heap>();
    let mut opt = Sgd::new(0.1);
    let (mut x, mut target, mut dy) = ([0.0f32; BATCH], [0.0f32; BATCH], [0.0f32; BATCH]);
    println!("{}\n", SineNet::summary());

    let pi = std::f64::consts::PI;
    for step in 0..=4000 {
        for (x, t) in x.iter_mut().zip(&mut target) {
            *x = rng.uniform(-pi, pi) as f32;
            *t = x.sin();
        }
        let y = net.forward_train(&x, &mut state)?;
        let loss = MseLoss.backward(y, &target, &mut dy)?;
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut state)?;
        opt.step(&mut net, &grad);
        if step % 500 == 0 {
            println!("step {step:>4}  mse {loss:.5}");
        }
    }

    // Forward mode: the same network over dual numbers; seed dx = 1, read d net / dx.
    let mut dual = SineNet::<Dual<f32, 1>>::default();
    convert(&net, &mut dual, Dual::constant);
    let mut dstate = SineNet::<Dual<f32, 1>>::state::<Heap>();
    println!("\n    x    net(x)  sin(x)   net'(x)  cos(x)");
    let mut worst = 0.0f32;
    for i in 0..=6 {
        let xv = -2.4 + 0.8 * i as f32;
        let y = dual.forward(&[Dual::variable(xv, 0)], &mut dstate)?[0];
        worst = worst.max((y.eps[0] - xv.cos()).abs());
        println!("{xv:5.1}  {:7.4}  {:7.4}  {:7.4}  {:7.4}", y.re, xv.sin(), y.eps[0], xv.cos());
    }
    println!("\nlargest |net'(x) - cos(x)| = {worst:.4}");
    Ok(())
}
