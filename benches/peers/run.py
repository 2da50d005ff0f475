#!/usr/bin/env python3
"""Runs monograd's W1-W4 bench (benches/workloads.rs) and the PyTorch peer
(torch_workloads.py) pinned to one core, with every threading knob at 1, workload by
workload in alternation so that a change in the machine's load falls on both, and prints
the two side by side with ratios and the project's targets.

usage: python3 benches/peers/run.py [--python PY] [--cpu N] [--rounds R] [W1 W2 ...]

--python  the interpreter with torch (default: $TORCH_PYTHON, else python3)
--cpu     the core to pin to (default 0)
--rounds  run every workload R times per peer, alternating, and report each peer's
          median over the rounds (default 1)

Standard library only; run from anywhere in the repository. Not part of CI.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "benches", "peers", "torch_workloads.py")
WORKLOADS = ["W1_mlp_train_b64", "W2_mlp_infer_b1", "W2_mlp_infer_b64", "W3_tiny_train_b1", "W4_lenet_train_b32"]
# (kind, bound): "ratio" wants monograd's steps/s at least bound x PyTorch's; "us" wants
# monograd's time per step under bound microseconds.
TARGETS = {
    "W1_mlp_train_b64": ("ratio", 1.6),
    "W2_mlp_infer_b1": ("us", 22.0),
    "W3_tiny_train_b1": ("us", 2.0),
    "W4_lenet_train_b32": ("ratio", 1.3),
}
KNOBS = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS", "BENCH_THREADS",
         "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"]


def build():
    """Builds the bench and returns its executable."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "workloads", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    exe = None
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "workloads":
            exe = msg.get("executable") or exe
    if not exe:
        sys.exit("run.py: cargo did not report the workloads bench executable")
    return exe


def parse(text):
    """{name: {key: value}} from `peer=... name=... us_per_step=...` lines."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("peer="):
            continue
        kv = dict(f.split("=", 1) for f in line.split())
        rows[kv["name"]] = kv
    return rows


def run(cmd, env):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"run.py: {' '.join(cmd)} failed:\n{r.stderr}")
    return parse(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=os.environ.get("TORCH_PYTHON", "python3"))
    ap.add_argument("--cpu", default="0")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    env = dict(os.environ, **{k: "1" for k in KNOBS})
    exe = build()
    pin = ["taskset", "-c", args.cpu]
    chosen = [w for w in WORKLOADS if not args.only or any(w.startswith(o) for o in args.only)]
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    times = {w: {"monograd": [], "torch": []} for w in chosen}
    for r in range(args.rounds):
        for w in chosen:
            # Alternate which peer goes first, round by round.
            order = [("monograd", pin + [exe, w]), ("torch", pin + [args.python, PEER, w])]
            for peer, cmd in order if r % 2 == 0 else order[::-1]:
                rows = run(cmd, env)
                if w not in rows:
                    sys.exit(f"run.py: {peer} printed no line for {w}")
                times[w][peer].append(float(rows[w]["us_per_step"]))
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]

    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  pinned to cpu {args.cpu}, threading knobs 1, "
          f"{args.rounds} round(s); load average {' '.join(load_before)} before, {' '.join(load_after)} after")
    print("| workload | monograd µs/step | PyTorch µs/step | speed-up (PyTorch time / monograd time) | target | met |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for w in chosen:
        m = statistics.median(times[w]["monograd"])
        t = statistics.median(times[w]["torch"])
        target, met = "", ""
        if w in TARGETS:
            kind, bound = TARGETS[w]
            if kind == "ratio":
                target, met = f">= {bound}x", "yes" if t / m >= bound else "no"
            else:
                target, met = f"< {bound:g} µs", "yes" if m < bound else "no"
        print(f"| {w} | {m:.3f} | {t:.3f} | {t / m:.2f}x | {target} | {met} |")


if __name__ == "__main__":
    main()
