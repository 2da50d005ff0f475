#!/usr/bin/env python3
"""W5 (square f32 GEMM at n = 256, 512, 1024) for monograd and matrixmultiply
(benches/gemm.rs) beside numpy (its BLAS, OpenBLAS in the PyPI wheel) and PyTorch
(`torch.mm`, MKL on x86), pinned to one core with every threading knob at 1, the Rust
bench and the Python peers alternating round by round, and prints one table.

usage: python3 benches/peers/gemm.py [--python PY] [--cpu N] [--rounds R]

--python  the interpreter with numpy (and torch, if installed; default: $TORCH_PYTHON,
          else python3)
--cpu     the core to pin to (default 0)
--rounds  rounds of (Rust bench, Python peers); each peer's median over them is shown
          (default 1)

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the Python peers' environment so
that OpenBLAS picks its kernel for this CPU; the kernel it picked (threadpoolctl, when
installed) is printed. Standard library only in this process; not part of CI.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZES = [256, 512, 1024]
KNOBS = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS", "BENCH_THREADS",
         "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"]
WARMUP, WARMUP_CALLS, REPEAT, REPEATS = 0.3, 10, 0.25, 7


def peer_main():
    """The Python side: numpy and torch, their repeats interleaved, in the shared format."""
    import numpy as np
    try:
        import threadpoolctl
        for lib in threadpoolctl.threadpool_info():
            if lib.get("user_api") == "blas":
                print(f"# numpy BLAS: {lib.get('internal_api')} {lib.get('version')} "
                      f"kernel {lib.get('architecture')} threads {lib.get('num_threads')}")
    except ImportError:
        print("# numpy BLAS: threadpoolctl not installed, kernel unknown")
    try:
        import torch
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        print(f"# torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
              f"MKL {torch.backends.mkl.is_available()}")
    except ImportError:
        torch = None
        print("# torch not installed")
    for n in SIZES:
        rng = np.random.default_rng(n)
        a = rng.random((n, n), dtype=np.float32)
        b = rng.random((n, n), dtype=np.float32)
        c = np.empty((n, n), dtype=np.float32)
        fs = [("numpy", lambda: np.matmul(a, b, out=c))]
        if torch is not None:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty((n, n))
            fs.append(("torch", lambda: torch.mm(ta, tb, out=tc)))
        calls = []
        for _, f in fs:
            start, k = time.perf_counter(), 0
            while k < WARMUP_CALLS or time.perf_counter() - start < WARMUP:
                f()
                k += 1
            calls.append(max(1, round(REPEAT / ((time.perf_counter() - start) / k))))
        wall = [[] for _ in fs]
        cpu = [[] for _ in fs]
        for _ in range(REPEATS):
            for i, (_, f) in enumerate(fs):
                t0, c0 = time.perf_counter(), time.thread_time()
                for _ in range(calls[i]):
                    f()
                wall[i].append((time.perf_counter() - t0) / calls[i])
                cpu[i].append((time.thread_time() - c0) / calls[i])
        flops = 2.0 * n ** 3
        for i, (name, _) in enumerate(fs):
            med = statistics.median(wall[i])
            print(f"peer={name} threads=1 name=W5_sgemm_n{n} n={n} us_per_call={med * 1e6:.1f} "
                  f"gflops={flops / med / 1e9:.1f} gflops_best={flops / min(wall[i]) / 1e9:.1f} "
                  f"gflops_cpu={flops / statistics.median(cpu[i]) / 1e9:.1f}")
        if torch is not None:
            assert np.allclose(c, tc.numpy(), rtol=1e-4, atol=1e-3), "numpy and torch disagree"


def build():
    """Builds the Rust bench and returns its executable."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "gemm", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    exe = None
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "gemm":
            exe = msg.get("executable") or exe
    if not exe:
        sys.exit("gemm.py: cargo did not report the gemm bench executable")
    return exe


def run(cmd, env, cpu):
    """Runs `cmd` pinned to `cpu`; returns its output lines."""
    out = subprocess.run(["taskset", "-c", str(cpu)] + cmd, env=env, check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return out.splitlines()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.environ.get("TORCH_PYTHON", "python3"))
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    exe = build()
    env = dict(os.environ, **{k: "1" for k in KNOBS})
    py_env = {k: v for k, v in env.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    results, notes = {}, []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        lines = run([exe], env, args.cpu) + run([args.python, os.path.abspath(__file__), "--peer"], py_env, args.cpu)
        print(f"# round {r + 1}: load average {load:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
        for line in lines:
            if line.startswith("#"):
                if line not in notes:
                    notes.append(line)
                continue
            fields = dict(kv.split("=", 1) for kv in line.split())
            key = (int(fields["n"]), fields["peer"])
            results.setdefault(key, []).append((float(fields["gflops"]), float(fields["gflops_best"]),
                                                float(fields["gflops_cpu"])))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {args.rounds} round(s)")
    for note in notes:
        print(note)
    print("| n | peer | GFLOP/s (median) | best repeat | by CPU time |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for (n, peer), rows in sorted(results.items()):
        med = [statistics.median(col) for col in zip(*rows)]
        print(f"| {n} | {peer} | {med[0]:.1f} | {med[1]:.1f} | {med[2]:.1f} |")


if __name__ == "__main__":
    if sys.argv[1:] == ["--peer"]:
        peer_main()
    else:
        main()
