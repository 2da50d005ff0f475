//! Quickstart: fit `sin(x)` on [-π, π] with a 1-32-32-1 tanh network, then differentiate
//! the trained network with respect to its input by forward mode (dual numbers) and compare
//! with `cos(x)`.
//!
//! Run: `cargo run --release --example quickstart`

use monograd::prelude::*;

const B: usize = 64;
const H: usize = 32;

/// The network, its layers over any scalar so that it also runs on dual numbers.
#[derive(Clone)]
struct Net<T: Scalar> {
    fc1: Linear<1, H, T>,
    fc2: Linear<H, H, T>,
    fc3: Linear<H, 1, T>,
}

/// What a training forward keeps for backward: every layer's output.
struct Acts<T> {
    h1: Vec<T>,
    a1: Vec<T>,
    h2: Vec<T>,
    a2: Vec<T>,
    y: Vec<T>,
}

impl<T: Scalar> Net<T> {
    fn forward(&self, x: &[T], s: &mut Acts<T>, ctx: &mut Ctx<'_, T>) {
        self.fc1.forward(x, &mut s.h1, ctx);
        Layer::<T, Rank1<H>, Rank1<H>>::forward(&Tanh, &s.h1, &mut s.a1, ctx);
        self.fc2.forward(&s.a1, &mut s.h2, ctx);
        Layer::<T, Rank1<H>, Rank1<H>>::forward(&Tanh, &s.h2, &mut s.a2, ctx);
        self.fc3.forward(&s.a2, &mut s.y, ctx);
    }
}

impl Net<f32> {
    /// Backward through the three layers, accumulating into `g`; `dy` is `∂L/∂y`.
    fn backward(
        &self,
        x: &[f32],
        s: &Acts<f32>,
        dy: &[f32],
        g: &mut Net<f32>,
        d: &mut Acts<f32>,
        ctx: &mut Ctx<'_, f32>,
    ) {
        d.a2.fill(0.0);
        self.fc3.backward(&s.a2, &s.y, &(), dy, Some(&mut d.a2), &mut g.fc3, ctx);
        d.h2.fill(0.0);
        Layer::<f32, Rank1<H>, Rank1<H>>::backward(&Tanh, &s.h2, &s.a2, &(), &d.a2, Some(&mut d.h2), &mut Tanh, ctx);
        d.a1.fill(0.0);
        self.fc2.backward(&s.a1, &s.h2, &(), &d.h2, Some(&mut d.a1), &mut g.fc2, ctx);
        d.h1.fill(0.0);
        Layer::<f32, Rank1<H>, Rank1<H>>::backward(&Tanh, &s.h1, &s.a1, &(), &d.a1, Some(&mut d.h1), &mut Tanh, ctx);
        self.fc1.backward(x, &s.h1, &(), &d.h1, None, &mut g.fc1, ctx);
    }

    /// The same network over dual numbers: parameters become constants.
    fn to_dual(&self) -> Net<Dual<f32, 1>> {
        Net { fc1: self.fc1.map(Dual::constant), fc2: self.fc2.map(Dual::constant), fc3: self.fc3.map(Dual::constant) }
    }
}

impl<T: Scalar> Acts<T> {
    fn new(batch: usize) -> Self {
        let z = |n| vec![T::ZERO; batch * n];
        Self { h1: z(H), a1: z(H), h2: z(H), a2: z(H), y: z(1) }
    }
}

fn main() -> Result<(), ShapeError> {
    let mut rng = Rng::seed(0);
    let mut net = Net { fc1: Linear::new(&mut rng), fc2: Linear::new(&mut rng), fc3: Linear::new(&mut rng) };
    let mut grad = Net { fc1: Linear::ZERO, fc2: Linear::ZERO, fc3: Linear::ZERO };
    let mut opt = Sgd::new(0.05);
    let (mut acts, mut deltas) = (Acts::new(B), Acts::new(B));
    let mut pack = vec![0.0f32; PACK_LEN];
    let mut ctx = Ctx::new(&mut pack);
    let (mut x, mut target, mut dy) = ([0.0f32; B], [0.0f32; B], [0.0f32; B]);

    let pi = std::f32::consts::PI;
    for step in 0..=3000 {
        for (x, t) in x.iter_mut().zip(&mut target) {
            *x = rng.uniform(-pi as f64, pi as f64) as f32;
            *t = x.sin();
        }
        net.forward(&x, &mut acts, &mut ctx);
        let loss = MseLoss.backward(&acts.y, &target, &mut dy)?;
        grad.fc1.zero();
        grad.fc2.zero();
        grad.fc3.zero();
        net.backward(&x, &acts, &dy, &mut grad, &mut deltas, &mut ctx);
        opt.step(&mut net.fc1, &grad.fc1);
        opt.step(&mut net.fc2, &grad.fc2);
        opt.step(&mut net.fc3, &grad.fc3);
        if step % 500 == 0 {
            println!("step {step:>4}  mse {loss:.5}");
        }
    }

    // Forward mode: seed dx = 1 and read d(net)/dx from the tangent.
    let dual = net.to_dual();
    let mut dpack = vec![Dual::<f32, 1>::ZERO; PACK_LEN];
    let mut dctx = Ctx::new(&mut dpack);
    let mut s = Acts::new(1);
    println!("\n    x    net(x)  sin(x)   net'(x)  cos(x)");
    let mut worst = 0.0f32;
    for i in 0..=6 {
        let xv = -2.4 + 0.8 * i as f32;
        dual.forward(&[Dual::variable(xv, 0)], &mut s, &mut dctx);
        let (y, dydx) = (s.y[0].re, s.y[0].eps[0]);
        worst = worst.max((dydx - xv.cos()).abs());
        println!("{xv:5.1}  {y:7.4}  {:7.4}  {dydx:7.4}  {:7.4}", xv.sin(), xv.cos());
    }
    println!("\nlargest |net'(x) - cos(x)| = {worst:.4}");
    Ok(())
}
