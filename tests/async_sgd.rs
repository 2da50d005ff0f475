//! Asynchronous SGD with a parameter server (feature `parallel`): with a staleness bound of
//! 0 it is synchronous SGD (within 1e-6 relative after 30 rounds); with a larger bound the
//! staleness of every update is recorded and stays within the bound.

use monograd::nn::distributed::flat::{flatten, Tensors};
use monograd::nn::distributed::AsyncSgd;
use monograd::prelude::*;

network! {
    pub struct Small {
        input: [20],
        fc1: Linear<20, 32>,
        r1: ReLU,
        fc2: Linear<32, 4>,
    }
}

const WORKERS: usize = 3;
const PER: usize = 10;
const ROUNDS: usize = 30;

/// Worker `w`'s batch of iteration `c`, from one fixed stream.
fn data() -> Vec<(Vec<f32>, Vec<usize>)> {
    (0..WORKERS * ROUNDS)
        .map(|k| {
            let mut rng = Rng::seed(500 + k as u64);
            let x: Vec<f32> = (0..PER * 20).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
            let y = x.chunks(20).map(|s| (s[0] > 0.0) as usize * 2 + (s[1] > 0.0) as usize).collect();
            (x, y)
        })
        .collect()
}

fn relative_difference(a: &Small, b: &Small) -> f64 {
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    flatten(a, Tensors::All, &mut fa);
    flatten(b, Tensors::All, &mut fb);
    let scale = fb.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    fa.iter().zip(&fb).fold(0.0f64, |m, (x, y)| m.max(f64::from((x - y).abs()))) / scale
}

#[test]
fn staleness_zero_is_synchronous_sgd() {
    let data = data();
    let loss = CrossEntropyLoss::new();
    // Synchronous SGD: each round, the mean of the workers' mean-loss gradients.
    let mut sync = Small::new(&mut Rng::seed(4));
    let mut opt = Sgd::new(0.1);
    let mut st = Small::state::<Heap>();
    for c in 0..ROUNDS {
        let mut total = sync.zeros_like();
        for w in 0..WORKERS {
            let (x, y) = &data[c * WORKERS + w];
            let out = sync.forward_train(x, &mut st).unwrap();
            let mut dy = vec![0.0; out.len()];
            loss.backward(out, y, &mut dy).unwrap();
            dy.iter_mut().for_each(|d| *d /= WORKERS as f32);
            sync.backward(x, &dy, &mut total, &mut st).unwrap();
        }
        opt.step(&mut sync, &total);
    }
    let mut net = Small::new(&mut Rng::seed(4));
    let mut opt = Sgd::new(0.1);
    let report = AsyncSgd::new(WORKERS, 0)
        .run(&mut net, &mut opt, &loss, ROUNDS, |w, c| {
            let (x, y) = &data[c * WORKERS + w];
            (&x[..], &y[..])
        })
        .unwrap();
    assert_eq!(report.staleness.len(), WORKERS * ROUNDS);
    // Within a round, the k-th push has seen the k - 1 before it, never more.
    assert!(report.max_staleness() < WORKERS, "{:?}", report.staleness);
    let d = relative_difference(&net, &sync);
    assert!(d <= 1e-6, "relative difference to synchronous SGD: {d:e}");
}

#[test]
fn staleness_is_recorded_and_bounded() {
    let data = data();
    for bound in [1, 3] {
        let mut net = Small::new(&mut Rng::seed(4));
        let mut opt = Sgd::new(0.05);
        let report = AsyncSgd::new(WORKERS, bound)
            .scale_by_staleness(true)
            .run(&mut net, &mut opt, &CrossEntropyLoss::new(), ROUNDS, |w, c| {
                // Worker 0 is slow: the others run ahead, up to the bound.
                if w == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                let (x, y) = &data[c * WORKERS + w];
                (&x[..], &y[..])
            })
            .unwrap();
        assert_eq!(report.staleness.len(), WORKERS * ROUNDS);
        for k in 0..WORKERS {
            assert_eq!(report.workers.iter().filter(|&&w| w == k).count(), ROUNDS);
        }
        // A pull waits for every push of iteration c - s - 1, and a push for every pull of
        // iteration c - s: at most (s + 1) iterations of every other worker, plus the
        // pushes of its own round, fall between a pull and its push.
        let limit = (bound + 1) * WORKERS + WORKERS;
        assert!(report.max_staleness() <= limit, "bound {bound}: {:?}", report.staleness);
        println!("bound {bound}: mean staleness {:.2}, max {}", report.mean_staleness(), report.max_staleness());
    }
}

#[test]
fn bad_data_ends_the_run_with_an_error() {
    let data = data();
    let mut net = Small::new(&mut Rng::seed(4));
    let e = AsyncSgd::new(2, 0)
        .run(&mut net, &mut Sgd::new(0.1), &CrossEntropyLoss::new(), 5, |w, c| {
            let (x, y) = &data[c * WORKERS + w];
            if w == 1 && c == 2 {
                (&x[..7], &y[..])
            } else {
                (&x[..], &y[..])
            }
        })
        .unwrap_err();
    assert!(matches!(e, monograd::nn::distributed::DistError::Shape(_)), "{e:?}");
}

#[test]
fn a_stalled_worker_ends_the_run_at_the_timeout_with_its_name() {
    let data = data();
    let mut net = Small::new(&mut Rng::seed(4));
    let e = AsyncSgd::new(WORKERS, 0)
        .timeout(std::time::Duration::from_millis(200))
        .run(&mut net, &mut Sgd::new(0.1), &CrossEntropyLoss::new(), 5, |w, c| {
            if w == 1 && c == 2 {
                // Stalls well past the others' timeout (and then finishes: threads cannot be
                // killed, so the run returns once it does).
                std::thread::sleep(std::time::Duration::from_millis(1500));
            }
            let (x, y) = &data[c * WORKERS + w];
            (&x[..], &y[..])
        })
        .unwrap_err();
    assert!(matches!(e, monograd::nn::distributed::DistError::Timeout { worker: 1, step: 3, .. }), "{e:?}");
}
