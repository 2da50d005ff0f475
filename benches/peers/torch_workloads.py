"""PyTorch peer for the shared workloads W1-W4 (WORKLOADS.md), monograd's own script.

Same definitions and method as benches/workloads.rs: f32, PyTorch's default
initialisation, synthetic data made once (inputs uniform in [0, 1), W3 in [-1, 1);
labels uniform in 0..10), plain SGD lr 0.01 on every weight and bias, a training step
being zero_grad + forward + loss + backward + step. Timing: warm up >= 0.3 s and >= 10
calls, calibrate a repeat to about 0.25 s, time 7 repeats, report the median per call.

usage: python torch_workloads.py [W1 W2 W3 W4]     (none: all)
One thread: torch.set_num_threads(1); run it through run.py, which also pins it to one
core and sets OMP/MKL/OPENBLAS_NUM_THREADS=1. Not part of CI.
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
torch.manual_seed(0)

LR = 0.01
WARMUP_S, WARMUP_CALLS, REPEAT_S, REPEATS = 0.3, 10, 0.25, 7


def measure(fn):
    """(median seconds per call, calls per repeat, repeats), as benches/common/mod.rs.

    With BENCH_STEPS=n in the environment it neither warms up nor repeats: it calls fn n
    times and returns the CPU time per call (time.process_time, all threads), with 0 repeats, as
    the Rust bench does: on a loaded machine CPU time moves less than wall time.
    """
    steps = os.environ.get("BENCH_STEPS")
    if steps:
        n = int(steps)
        start = time.process_time()
        for _ in range(n):
            fn()
        return (time.process_time() - start) / max(n, 1), n, 0
    pc = time.perf_counter
    start, calls = pc(), 0
    while calls < WARMUP_CALLS or pc() - start < WARMUP_S:
        fn()
        calls += 1
    iters = max(1, round(REPEAT_S / ((pc() - start) / calls)))
    times = []
    for _ in range(REPEATS):
        t = pc()
        for _ in range(iters):
            fn()
        times.append((pc() - t) / iters)
    times.sort()
    return times[REPEATS // 2], iters, REPEATS


def report(name, batch, result):
    sec, iters, reps = result
    print(
        f"peer=torch threads={torch.get_num_threads()} name={name} batch={batch} "
        f"us_per_step={sec * 1e6:.3f} steps_per_s={1 / sec:.1f} samples_per_s={batch / sec:.1f} "
        f"iters={iters} reps={reps}",
        flush=True,
    )


def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def tiny():
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def train_step(model, x, target, loss_fn):
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), target)
        loss.backward()
        opt.step()
        return loss

    return step


def trained(name, step):
    """Times `step` and checks that the loss fell over the run, as the Rust bench does."""
    first = step().item()
    result = measure(step)
    last = step().item()
    assert last < first, f"{name}: the loss went from {first} to {last}"
    return result


def main():
    sel = [a for a in sys.argv[1:] if a.startswith("W")]
    want = lambda name: not sel or any(name.startswith(s) for s in sel)
    print(f"# torch {torch.__version__} threads={torch.get_num_threads()} "
          f"cpu_capability={torch.backends.cpu.get_cpu_capability()}", flush=True)
    if want("W1_mlp_train_b64"):
        x, y = torch.rand(64, 784), torch.randint(0, 10, (64,))
        report("W1_mlp_train_b64", 64, trained("W1", train_step(mlp(), x, y, F.cross_entropy)))
    if want("W2_mlp_infer_b1") or want("W2_mlp_infer_b64"):
        m = mlp().eval()
        for batch, name in ((1, "W2_mlp_infer_b1"), (64, "W2_mlp_infer_b64")):
            if not want(name):
                continue
            x = torch.rand(batch, 784)

            def infer():
                with torch.inference_mode():
                    return m(x)

            report(name, batch, measure(infer))
    if want("W3_tiny_train_b1"):
        x, y = torch.rand(1, 2) * 2 - 1, torch.rand(1, 1) * 2 - 1
        report("W3_tiny_train_b1", 1, trained("W3", train_step(tiny(), x, y, F.mse_loss)))
    if want("W4_lenet_train_b32"):
        x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
        report("W4_lenet_train_b32", 32, trained("W4", train_step(lenet(), x, y, F.cross_entropy)))


if __name__ == "__main__":
    main()
