"""PyTorch's W1 training step at a global batch of 256 on 1 and 2 intra-op threads, beside
monograd's `cargo bench --bench distributed` (same workload, same line format).

W1 as benches/peers/torch_workloads.py defines it (784-256-128-10 MLP, cross-entropy,
plain SGD lr 0.01, zero_grad + forward + loss + backward + step), on one batch of 256
samples made once. PyTorch splits each operation across its intra-op threads
(`torch.set_num_threads`), where monograd splits the batch across workers: both are what
each library offers for one process on a multi-core CPU.

usage: python benches/peers/torch_distributed.py
Each line gives the median wall time per step (the shared method: warm-up, calibration,
7 repeats), the process's CPU time per step over every thread (`cpu_all_us`, from
time.process_time over the same repeats) and the machine's load average: on a loaded
machine compare the CPU times, as for monograd's lines. The thread counts alternate over
three rounds, and the median round is reported. Not part of CI.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from torch_workloads import WARMUP_CALLS, WARMUP_S, REPEAT_S, REPEATS, mlp, train_step  # noqa: E402

B = 256
ROUNDS = 3


def load():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return ""


def timed(step):
    """(median wall seconds per step, median process CPU seconds per step)."""
    pc, cpu = time.perf_counter, time.process_time
    start, calls = pc(), 0
    while calls < WARMUP_CALLS or pc() - start < WARMUP_S:
        step()
        calls += 1
    iters = max(1, round(REPEAT_S / ((pc() - start) / calls)))
    walls, cpus = [], []
    for _ in range(REPEATS):
        t, c = pc(), cpu()
        for _ in range(iters):
            step()
        walls.append((pc() - t) / iters)
        cpus.append((cpu() - c) / iters)
    walls.sort()
    cpus.sort()
    return walls[REPEATS // 2], cpus[REPEATS // 2]


def main():
    torch.manual_seed(0)
    x, y = torch.rand(B, 784), torch.randint(0, 10, (B,))
    step = train_step(mlp(), x, y, F.cross_entropy)
    first = step().item()
    print(f"# torch {torch.__version__} cpu_capability={torch.backends.cpu.get_cpu_capability()}", flush=True)
    runs = {1: [], 2: []}
    for _ in range(ROUNDS):
        for n in runs:
            torch.set_num_threads(n)
            runs[n].append(timed(step))
    assert step().item() < first, "the loss must fall over the run"
    base_wall = base_cpu = None
    for n, rs in runs.items():
        rs.sort()
        wall, cpu = rs[len(rs) // 2]
        if base_wall is None:
            base_wall, base_cpu = wall, cpu
        print(
            f"peer=torch threads={n} name=W1_train_b{B} batch={B} us_per_step={wall * 1e6:.1f} "
            f"samples_per_s={B / wall:.1f} cpu_all_us={cpu * 1e6:.1f} speedup={base_wall / wall:.2f} "
            f"speedup_cpu_all={base_cpu / (cpu / n):.2f} load1={load()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
