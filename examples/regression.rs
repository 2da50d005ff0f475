//! Function fitting, then exact derivatives of the trained network by forward mode.
//!
//! A 2-64-64-1 tanh network learns `f(x, y) = sin(x) cos(y)` on `[-2, 2]²` from 5,000
//! samples (3,500 train, 500 validate, 1,000 test), with the same `Trainer` as the MNIST
//! examples and an MSE loss. Then the trained weights are copied into the same network
//! over dual numbers (`Dual<f32, 2>`), whose single forward pass gives the output and both
//! partial derivatives `∂net/∂x` and `∂net/∂y` exactly (to rounding, no finite
//! differences); they are compared with the truth, `cos(x) cos(y)` and `-sin(x) sin(y)`.
//!
//! "Accuracy" here is the fraction of test points predicted within 0.02 of `f`.
//!
//! Run: `cargo run --release --example regression -- --seed 0`

mod common;

use monograd::core::module::convert;
use monograd::nn::init::fingerprint;
use monograd::nn::optim::schedule::Schedule;
use monograd::prelude::*;

network! {
    /// 2 -> 64 -> 64 -> 1 with tanh: smooth, so its derivatives are meaningful everywhere.
    pub struct Surface {
        input: [2],
        fc1: Linear<2, 64>,
        act1: Tanh,
        fc2: Linear<64, 64>,
        act2: Tanh,
        out: Linear<64, 1>,
    }
}

/// The function to learn and its gradient.
fn f(x: f32, y: f32) -> f32 {
    x.sin() * y.cos()
}
fn grad_f(x: f32, y: f32) -> [f32; 2] {
    [x.cos() * y.cos(), -x.sin() * y.sin()]
}

/// `n` points uniform in `[-2, 2]²` and their values.
fn sample(n: usize, rng: &mut Rng) -> Result<Dataset<f32, f32>, Box<dyn std::error::Error>> {
    let x: Vec<f32> = (0..2 * n).map(|_| rng.uniform(-2.0, 2.0) as f32).collect();
    let y: Vec<f32> = x.chunks(2).map(|p| f(p[0], p[1])).collect();
    Ok(Dataset::new(x, y, 2)?)
}

const BATCH: usize = 32;
const LR: f64 = 3e-3;
const TOLERANCE: f32 = 0.02;

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("regression", 100)?;
    let mut rng = Rng::seed(args.seed);
    let (train, val, test) = (sample(3_500, &mut rng)?, sample(500, &mut rng)?, sample(1_000, &mut rng)?);
    let net = Surface::new(&mut rng);
    println!("{}\n", Surface::summary());

    let steps = args.epochs * train.len().div_ceil(BATCH);
    let schedule =
        LinearLr::warmup(LR, 0.1, steps / 20).then(steps / 20, CosineAnnealingLr::new(LR, steps - steps / 20, 0.0));
    let mut trainer = Trainer::new(net, Adam::new(LR as f32), MseLoss)
        .epochs(args.epochs)
        .batch_size(BATCH)
        .seed(args.seed)
        .schedule(schedule, Every::Step)
        .metric(Within(TOLERANCE));
    trainer.fit(&train, Some(&val), &mut Progress::auto().every(10))?;
    let metrics = trainer.evaluate(&test)?;
    trainer.record_test(metrics);
    println!("\n{}", trainer.history());
    println!("test RMSE {:.4}", metrics.loss.sqrt());

    // Forward mode: the trained network over dual numbers, two tangents (x and y).
    let mut dual = Surface::<Dual<f32, 2>>::default();
    convert(trainer.net(), &mut dual, Dual::constant);
    let mut state = Surface::<Dual<f32, 2>>::state::<Heap>();
    let points: Vec<Dual<f32, 2>> =
        test.inputs().chunks(2).flat_map(|p| [Dual::variable(p[0], 0), Dual::variable(p[1], 1)]).collect();
    let out = dual.forward(&points, &mut state)?;

    println!("\n     x      y   net(x,y)  f(x,y)   ∂net/∂x  ∂f/∂x    ∂net/∂y  ∂f/∂y");
    let (mut worst, mut sum) = (0.0f32, 0.0f32);
    for (i, (p, o)) in test.inputs().chunks(2).zip(out).enumerate() {
        let truth = grad_f(p[0], p[1]);
        let err = (o.eps[0] - truth[0]).abs().max((o.eps[1] - truth[1]).abs());
        worst = worst.max(err);
        sum += err;
        if i < 8 {
            println!(
                "{:6.2} {:6.2}  {:8.4} {:8.4}   {:8.4} {:8.4}   {:8.4} {:8.4}",
                p[0],
                p[1],
                o.re,
                f(p[0], p[1]),
                o.eps[0],
                truth[0],
                o.eps[1],
                truth[1]
            );
        }
    }
    println!(
        "over the {} test points, |∇net - ∇f| (largest component): mean {:.4}, worst {worst:.4}",
        test.len(),
        sum / test.len() as f32
    );

    let chart = args.chart("regression");
    Chart::new(trainer.history()).title(format!("regression: sin(x) cos(y), seed {}", args.seed)).save(&chart)?;
    println!("chart: {}", chart.display());
    // The same seed gives the same weights, bit for bit: compare this across runs.
    println!("weights fingerprint: {:016x}", fingerprint(trainer.net()));
    println!("test_accuracy={:.4}", metrics.accuracy.unwrap_or(0.0));
    Ok(())
}
