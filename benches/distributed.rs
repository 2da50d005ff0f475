//! W1's training step (the shared workloads' MLP, 784-256-128-10, cross-entropy, SGD lr
//! 0.01) at a global batch of 256: on one thread, on the data-parallel pool with 1 and 2
//! threads, and (feature `mpi`, under `mpirun -n 2`) on 2 MPI ranks. Also the pieces of a
//! model of more nodes: the compute time per sample, and the all-reduce of W1's gradient
//! (235,146 values, 0.94 MB) on its own.
//!
//! Threads: `cargo bench --bench distributed`
//! MPI:     `cargo bench --features mpi --bench distributed --no-run`, then
//!          `mpirun -n 2 --oversubscribe target/release/deps/distributed-HASH`
//!
//! Every line carries the machine's load average at the time (`/proc/loadavg`): on a
//! shared machine a figure measured under load is noisy, and says so.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use monograd::nn::distributed::{DataParallel, Tracked};
use monograd::prelude::*;

#[path = "common/workloads.rs"]
mod workloads;
use workloads::Mlp;

const B: usize = 256;
const LR: f32 = 0.01;

/// The 1-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_default()
}

/// Nanoseconds on a CPU of every thread of this process, from the scheduler's statistics
/// (NaN where they are missing).
fn process_cpu_ns() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return f64::NAN };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum()
}

/// Medians over the repeats of one function in [`timed`], per call.
#[derive(Clone, Copy)]
struct Timing {
    wall: f64,
    /// CPU time of the calling thread.
    cpu_main: f64,
    /// CPU time of every thread of the process.
    cpu_all: f64,
}

/// The harness's method (warm-up, calibration, 7 repeats, interleaved), timing wall time,
/// the calling thread's CPU time and the process's.
fn timed(fs: &mut [&mut dyn FnMut()]) -> Vec<Timing> {
    let calls: Vec<u64> = fs
        .iter_mut()
        .map(|f| {
            let start = Instant::now();
            let mut n = 0u64;
            while n < common::WARMUP_CALLS || start.elapsed() < common::WARMUP {
                f();
                n += 1;
            }
            let per_call = start.elapsed().as_secs_f64() / n as f64;
            ((common::REPEAT.as_secs_f64() / per_call).round() as u64).max(1)
        })
        .collect();
    let mut runs = vec![Vec::with_capacity(common::REPEATS); fs.len()];
    for _ in 0..common::REPEATS {
        for (i, f) in fs.iter_mut().enumerate() {
            let (wall, main, all) = (Instant::now(), common::cpu_ns(), process_cpu_ns());
            for _ in 0..calls[i] {
                f();
            }
            let n = calls[i] as f64;
            runs[i].push([
                wall.elapsed().as_secs_f64() / n,
                (common::cpu_ns() - main) * 1e-9 / n,
                (process_cpu_ns() - all) * 1e-9 / n,
            ]);
        }
    }
    runs.iter()
        .map(|r| {
            let median = |j: usize| {
                let mut v: Vec<f64> = r.iter().map(|x: &[f64; 3]| x[j]).collect();
                v.sort_by(f64::total_cmp);
                v[common::REPEATS / 2]
            };
            Timing { wall: median(0), cpu_main: median(1), cpu_all: median(2) }
        })
        .collect()
}

fn data() -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::seed(1);
    let x = (0..B * 784).map(|_| rng.uniform(0.0, 1.0) as f32).collect();
    let y = (0..B).map(|_| rng.below(10)).collect();
    (x, y)
}

/// One line in the shared format, with the threads (or ranks) that ran it and the load.
fn report(name: &str, threads: usize, secs: f64, extra: &str) {
    println!(
        "peer=monograd threads={threads} name={name} batch={B} us_per_step={:.1} samples_per_s={:.1}{extra} load1={}",
        secs * 1e6,
        B as f64 / secs,
        load()
    );
}

fn main() {
    #[cfg(feature = "mpi")]
    {
        let universe = monograd::nn::distributed::mpi::initialize().expect("MPI initialises once");
        let world = universe.world();
        if mpi_size(&world) > 1 {
            mpi::run(world);
            return;
        }
    }
    threads();
}

#[cfg(feature = "mpi")]
fn mpi_size(world: &monograd::nn::distributed::mpi::rsmpi::topology::SimpleCommunicator) -> i32 {
    use monograd::nn::distributed::mpi::rsmpi::traits::Communicator;
    world.size()
}

fn threads() {
    let (x, y) = data();
    let loss = CrossEntropyLoss::new();
    let mut net = Mlp::new(&mut Rng::seed(0));
    let mut grad = Mlp::default();
    let mut st = Mlp::state::<Heap>();
    let mut dy = vec![0.0f32; B * 10];
    let mut opt = Sgd::new(LR);
    let mut single = || {
        let out = net.forward_train(&x, &mut st).unwrap();
        let l = loss.backward(out, &y, &mut dy).unwrap();
        grad.zero();
        net.backward(&x, &dy, &mut grad, &mut st).unwrap();
        opt.step(&mut net, &grad);
        black_box(l);
    };
    // The pool with 1 and 2 threads, and with 2 threads parking at once instead of
    // spinning: then each thread's CPU time is its work alone, which a loaded machine
    // does not inflate with waiting.
    let mut pools: Vec<_> = [(1, None), (2, None), (2, Some(Duration::ZERO))]
        .into_iter()
        .map(|(n, spin)| {
            let net = Mlp::new(&mut Rng::seed(0));
            let mut pool = DataParallel::new(&net, loss, n);
            if let Some(s) = spin {
                pool = pool.spin(s);
            }
            (pool, net, Mlp::default(), Sgd::new(LR), 0usize)
        })
        .collect();
    // What one of 2 ranks computes besides the sum of the gradients: the plain step on
    // half the batch (the optimizer still steps every weight).
    // Boxed: the networks are about 1 MB each, and several are alive here.
    let (mut hnet, mut hgrad) = (Box::new(Mlp::new(&mut Rng::seed(0))), Box::new(Mlp::default()));
    let (mut hst, mut hdy, mut hopt) = (Mlp::state::<Heap>(), vec![0.0f32; B / 2 * 10], Sgd::new(LR));
    let (hx, hy) = (&x[..B / 2 * 784], &y[..B / 2]);
    let mut half = || {
        let out = hnet.forward_train(hx, &mut hst).unwrap();
        let l = loss.backward(out, hy, &mut hdy).unwrap();
        hgrad.zero();
        hnet.backward(hx, &hdy, &mut *hgrad, &mut hst).unwrap();
        hopt.step(&mut *hnet, &*hgrad);
        black_box(l);
    };
    // `train_step`: every thread sums its range of the gradients and updates it, and the
    // replica stays in step (no copy of the weights), spinning and parking at once.
    let mut fused: Vec<_> = [None, Some(Duration::ZERO)]
        .into_iter()
        .map(|spin| {
            let net = Box::new(Tracked::new(Mlp::new(&mut Rng::seed(0))));
            let mut pool = DataParallel::new(&**net, loss, 2);
            if let Some(s) = spin {
                pool = pool.spin(s);
            }
            (pool, net, Box::new(Mlp::default()), Sgd::new(LR), 0usize)
        })
        .collect();
    let mut fs: Vec<Box<dyn FnMut()>> = vec![Box::new(&mut single), Box::new(&mut half)];
    for (pool, net, grad, opt, k) in &mut pools {
        let (x, y) = (&x, &y);
        fs.push(Box::new(move || {
            *k += 1;
            pool.step(*k, net, x, y, grad, None).unwrap();
            opt.step(net, grad);
        }));
    }
    for (pool, net, grad, opt, k) in &mut fused {
        let (x, y) = (&x, &y);
        fs.push(Box::new(move || {
            *k += 1;
            pool.train_step(*k, net, x, y, grad, opt, None).unwrap();
        }));
    }
    let mut refs: Vec<&mut dyn FnMut()> = fs.iter_mut().map(|f| &mut **f as &mut dyn FnMut()).collect();
    let times = timed(&mut refs);
    let base = times[0];
    for (t, (name, threads)) in times.iter().zip([
        ("W1_train_b256", 1),
        ("W1_train_b256_half_batch", 1),
        ("W1_train_b256_pool", 1),
        ("W1_train_b256_pool", 2),
        ("W1_train_b256_pool_park", 2),
        ("W1_train_b256_pool_fused", 2),
        ("W1_train_b256_pool_fused_park", 2),
    ]) {
        // Speed-ups: by wall time, and by CPU time, where a step's CPU time on the
        // longest-running thread bounds the step from below on a quiet machine. With
        // parking, the process's CPU time over the threads is the work of the step
        // spread over them: `cpu_all / threads` is the step if the work splits evenly.
        let extra = format!(
            " cpu_main_us={:.1} cpu_all_us={:.1} cpu_others_us={:.1} speedup={:.2} speedup_cpu_main={:.2} speedup_cpu_all={:.2}",
            t.cpu_main * 1e6,
            t.cpu_all * 1e6,
            (t.cpu_all - t.cpu_main) * 1e6,
            base.wall / t.wall,
            base.cpu_main / t.cpu_main,
            base.cpu_all / (t.cpu_all / threads as f64),
        );
        report(name, threads, t.wall, &extra);
    }
    let times: Vec<f64> = times.iter().map(|t| t.wall).collect();
    // The model's compute term: one thread's time per sample.
    let per_sample = times[0] / B as f64;
    println!("compute_us_per_sample={:.3} params={}", per_sample * 1e6, Mlp::PARAMS);
    model(per_sample);
}

/// A model of `n` nodes at the global batch `B`: each computes `B / n` samples at the
/// measured time per sample, then a ring all-reduce of the gradient (`4·(P + 1)` bytes)
/// costs `2(n-1)/n · bytes / bandwidth + 2(n-1) · latency`. No overlap of the two.
fn model(per_sample: f64) {
    let bytes = 4.0 * (Mlp::PARAMS + 1) as f64;
    for (net, bandwidth, latency) in [("10GbE", 1.25e9, 20e-6), ("IB-100G", 12.5e9, 2e-6)] {
        for n in [1usize, 2, 4, 8, 16, 32, 64] {
            let nf = n as f64;
            let compute = per_sample * (B as f64 / nf).ceil();
            let comm =
                if n == 1 { 0.0 } else { 2.0 * (nf - 1.0) / nf * bytes / bandwidth + 2.0 * (nf - 1.0) * latency };
            let step = compute + comm;
            println!(
                "model network={net} nodes={n} compute_us={:.0} allreduce_us={:.0} step_us={:.0} speedup={:.2}",
                compute * 1e6,
                comm * 1e6,
                step * 1e6,
                per_sample * B as f64 / step
            );
        }
    }
}

#[cfg(feature = "mpi")]
mod mpi {
    use std::time::Instant;

    use monograd::nn::distributed::mpi::rsmpi::collective::SystemOperation;
    use monograd::nn::distributed::mpi::rsmpi::topology::SimpleCommunicator;
    use monograd::nn::distributed::mpi::rsmpi::traits::{Communicator, CommunicatorCollectives};
    use monograd::nn::distributed::mpi::MpiDataParallel;
    use monograd::prelude::*;

    use super::{data, report, Mlp, B, LR};

    /// Fixed counts on every rank (a collective needs every rank to call it alike).
    const WARMUP: usize = 10;
    const REPEATS: usize = 7;
    const STEPS: usize = 20;
    const CPU_STEPS: usize = 100;

    /// The median over repeats of the time per call of `f`, the same on every rank.
    fn time(world: &SimpleCommunicator, mut f: impl FnMut()) -> f64 {
        times(world, &mut [&mut f])[0]
    }

    /// [`time`] for several functions, their repeats interleaved.
    fn times(world: &SimpleCommunicator, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
        for f in fs.iter_mut() {
            for _ in 0..WARMUP {
                f();
            }
        }
        let mut t = vec![Vec::with_capacity(REPEATS); fs.len()];
        for _ in 0..REPEATS {
            for (f, t) in fs.iter_mut().zip(&mut t) {
                world.barrier();
                let start = Instant::now();
                for _ in 0..STEPS {
                    f();
                }
                t.push(start.elapsed().as_secs_f64() / STEPS as f64);
            }
        }
        t.iter_mut()
            .map(|t| {
                t.sort_by(f64::total_cmp);
                t[REPEATS / 2]
            })
            .collect()
    }

    pub fn run(world: SimpleCommunicator) {
        let (x, y) = data();
        let size = world.size() as usize;
        let rank = world.rank() as usize;
        // A communicator for the all-reduce timing, the data-parallel one for steps.
        let comm = world.duplicate();
        let dp = MpiDataParallel::new(world);
        let part = dp.part(B);
        let (xs, ys) = (&x[part.start * 784..part.end * 784], &y[part]);
        let mut net = Box::new(Mlp::new(&mut Rng::seed(0)));
        let mut grad = Box::new(Mlp::default());
        let mut st = Mlp::state::<Heap>();
        let mut opt = Sgd::new(LR);
        // `step_ranged` on a network of its own (the same start: the same trajectory).
        let mut rnet = Box::new(Mlp::new(&mut Rng::seed(0)));
        let mut rgrad = Box::new(Mlp::default());
        let mut rst = Mlp::state::<Heap>();
        let mut ropt = Sgd::new(LR);
        // The sum through MPI shared memory, on a network of its own too.
        let mut snet = Box::new(Mlp::new(&mut Rng::seed(0)));
        let mut sst = Mlp::state::<Heap>();
        let mut sopt = Sgd::new(LR);
        let mut shared = dp.shared(&*snet).unwrap();
        let is_shared = shared.is_shared();
        let loss = CrossEntropyLoss::new();
        let dp = std::cell::RefCell::new(dp);
        let (mut k, mut rk, mut sk) = (0, 0, 0);
        let mut plain = || {
            k += 1;
            dp.borrow_mut().step(k, &mut *net, &mut *grad, &mut st, &loss, &mut opt, xs, ys, B).unwrap();
        };
        let mut ranged = || {
            rk += 1;
            dp.borrow_mut().step_ranged(rk, &mut *rnet, &mut *rgrad, &mut rst, &loss, &mut ropt, xs, ys, B).unwrap();
        };
        let mut in_shm = || {
            sk += 1;
            shared.step(&mut dp.borrow_mut(), sk, &mut *snet, &mut sst, &loss, &mut sopt, xs, ys, B).unwrap();
        };
        let t = times(&comm, &mut [&mut plain, &mut ranged, &mut in_shm]);
        let (step, ranged_step, shared_step) = (t[0], t[1], t[2]);
        // CPU time of this rank's thread per step (with OpenMPI's default busy polling,
        // the wait in the collectives counts as CPU time too).
        let mut cpu = [0.0f64; 3];
        for _ in 0..CPU_STEPS / 10 {
            let c = super::common::cpu_ns();
            for _ in 0..10 {
                plain();
            }
            let c2 = super::common::cpu_ns();
            for _ in 0..10 {
                ranged();
            }
            let c3 = super::common::cpu_ns();
            for _ in 0..10 {
                in_shm();
            }
            cpu[0] += c2 - c;
            cpu[1] += c3 - c2;
            cpu[2] += super::common::cpu_ns() - c3;
        }
        let cpu = cpu.map(|c| c * 1e-9 / CPU_STEPS as f64);
        // Each path with no sample on this rank: clearing the gradient, the sum and the
        // optimizer over every weight, without the compute. What a step costs beyond the
        // half-batch step's forward and backward.
        // (The step numbers only name steps for a watchdog; there is none here.)
        let (mut ek, mut esk) = (1_000_000, 1_000_000);
        let mut ranged_empty = || {
            ek += 1;
            dp.borrow_mut()
                .step_ranged(ek, &mut *rnet, &mut *rgrad, &mut rst, &loss, &mut ropt, &xs[..0], &ys[..0], B)
                .unwrap();
        };
        let mut shared_empty = || {
            esk += 1;
            shared
                .step(&mut dp.borrow_mut(), esk, &mut *snet, &mut sst, &loss, &mut sopt, &xs[..0], &ys[..0], B)
                .unwrap();
        };
        let t = times(&comm, &mut [&mut ranged_empty, &mut shared_empty]);
        let (ranged_empty, shared_empty) = (t[0], t[1]);
        // The collectives alone: one all-reduce of the gradient and the loss together
        // (from a copy), the steps' sum on two ranks (one all-reduce read in place, one of
        // the loss), and, for more ranks, a reduce-scatter and an all-gather in place, then
        // the all-reduce of the few values left over with the loss.
        let send = vec![1.0f32; Mlp::PARAMS + 1];
        let mut recv = vec![0.0f32; Mlp::PARAMS + 1];
        let allreduce = time(&comm, || comm.all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum()));
        let (one, mut total) = (1.0f32, 0.0f32);
        let apart = time(&comm, || {
            comm.all_reduce_into(&send[..Mlp::PARAMS], &mut recv[..Mlp::PARAMS], SystemOperation::sum());
            comm.all_reduce_into(&one, &mut total, SystemOperation::sum());
        });
        let q = Mlp::PARAMS / size;
        let mut values = vec![1.0f32; Mlp::PARAMS];
        let mut block = vec![0.0f32; q];
        let tail = Mlp::PARAMS - q * size;
        let (small, mut small_sum) = (vec![1.0f32; tail + 1], vec![0.0f32; tail + 1]);
        let in_place = time(&comm, || {
            comm.reduce_scatter_block_into(&values[..q * size], &mut block[..], SystemOperation::sum());
            comm.all_gather_into(&block[..], &mut values[..q * size]);
            comm.all_reduce_into(&small[..], &mut small_sum[..], SystemOperation::sum());
        });
        if rank == 0 {
            report(
                "W1_train_b256_mpi",
                size,
                step,
                &format!(
                    " ranks={size} cpu_main_us={:.1} allreduce_us={:.1} allreduce_in_place_and_loss_us={:.1} reduce_scatter_all_gather_us={:.1}",
                    cpu[0] * 1e6,
                    allreduce * 1e6,
                    apart * 1e6,
                    in_place * 1e6
                ),
            );
            println!("allreduce_bytes={}", (Mlp::PARAMS + 1) * 4);
        }
        if rank == 0 {
            report(
                "W1_train_b256_mpi_ranged",
                size,
                ranged_step,
                &format!(" ranks={size} cpu_main_us={:.1} speedup_vs_step={:.2}", cpu[1] * 1e6, step / ranged_step),
            );
            report(
                "W1_train_b256_mpi_shared",
                size,
                shared_step,
                &format!(
                    " ranks={size} in_shared_memory={is_shared} cpu_main_us={:.1} speedup_vs_step={:.2} speedup_vs_ranged={:.2}",
                    cpu[2] * 1e6,
                    step / shared_step,
                    ranged_step / shared_step
                ),
            );
            println!(
                "no_samples ranged_us={:.1} shared_us={:.1} (clearing, summing and the optimizer alone)",
                ranged_empty * 1e6,
                shared_empty * 1e6
            );
        }
    }
}
