#!/usr/bin/env python3
"""Runs monograd's W1-W4 bench (benches/workloads.rs), the PyTorch peer
(torch_workloads.py) and the JAX peer (jax_workloads.py) pinned to one core, with every
threading knob at 1, workload by workload one after the other (the order rotating round
by round) so that a change in the machine's load falls on all, and prints them side by
side with ratios and the project's targets.

usage: python3 benches/peers/run.py [--python PY] [--jax-python PY] [--cpu N] [--rounds R]
                                    [--cpu-time] [W1 W2 ...]

--python      the interpreter with torch (default: $TORCH_PYTHON, else python3); a peer
              whose interpreter cannot import its framework is left out, and the table
              says so
--jax-python  the interpreter with jax (default: $JAX_PYTHON, else python3)
--cpu         the core to pin to (default 0)
--rounds      run every workload R times per peer, and report each peer's median over
              the rounds (default 1)
--cpu-time    time by CPU time instead of wall clock: every program runs a fixed number
              of steps (BENCH_STEPS) and reports the CPU time per step, which leaves out
              the time spent waiting for the core on a loaded machine

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
PEERS = {
    "torch": (os.path.join(ROOT, "benches", "peers", "torch_workloads.py"), "torch"),
    "jax": (os.path.join(ROOT, "benches", "peers", "jax_workloads.py"), "jax"),
}
WORKLOADS = ["W1_mlp_train_b64", "W1u_mlp_train_b64_unfused", "W2_mlp_infer_b1", "W2_mlp_infer_b64",
             "W2u_mlp_infer_b64_unprepared", "W3_tiny_train_b1",
             "W3u_tiny_train_b1_unfused", "W4_lenet_train_b32"]
# W1 is the step users write (`Optimizer::backward_step`, which fuses plain SGD into the
# backward pass); W1u is the unfused step (grad.zero(), backward, step), for comparison.
# The peers' W1 is the reference of both. W3 and W3u likewise.
# W2 runs the network prepared once (`Prepared`: weights packed ahead); W2u its plain
# `forward`, which packs them on every call.
PEER_NAME = {"W1u_mlp_train_b64_unfused": "W1_mlp_train_b64", "W2u_mlp_infer_b64_unprepared": "W2_mlp_infer_b64",
             "W3u_tiny_train_b1_unfused": "W3_tiny_train_b1"}
# Steps per workload with --cpu-time (about a second of CPU each).
STEPS = {"W1_mlp_train_b64": 1000, "W1u_mlp_train_b64_unfused": 1000, "W2_mlp_infer_b1": 20000,
         "W2_mlp_infer_b64": 2000, "W2u_mlp_infer_b64_unprepared": 2000, "W3_tiny_train_b1": 20000,
         "W3u_tiny_train_b1_unfused": 20000, "W4_lenet_train_b32": 200}
# Against JAX: (kind, bound). "time" wants monograd's time per step at most bound x JAX's;
# "rate" wants monograd's samples per second at least bound x JAX's; "lead" wants monograd
# faster than JAX (the lead it had).
JAX_TARGETS = {
    "W1_mlp_train_b64": ("time", 0.8),
    "W1u_mlp_train_b64_unfused": ("time", 0.8),
    "W2_mlp_infer_b64": ("rate", 1.3),
    "W2u_mlp_infer_b64_unprepared": ("rate", 1.3),
    "W2_mlp_infer_b1": ("lead", 1.0),
    "W3_tiny_train_b1": ("lead", 1.0),
    "W3u_tiny_train_b1_unfused": ("lead", 1.0),
    "W4_lenet_train_b32": ("lead", 1.0),
}
# (kind, bound): "ratio" wants monograd's steps/s at least bound x PyTorch's; "us" wants
# monograd's time per step under bound microseconds.
TARGETS = {
    "W1_mlp_train_b64": ("ratio", 1.6),
    "W2_mlp_infer_b1": ("us", 22.0),
    "W3_tiny_train_b1": ("us", 0.3),
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


def has(python, module):
    return subprocess.run([python, "-c", f"import {module}"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=os.environ.get("TORCH_PYTHON", "python3"))
    ap.add_argument("--jax-python", default=os.environ.get("JAX_PYTHON", "python3"))
    ap.add_argument("--cpu", default="0")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cpu-time", action="store_true")
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    env = dict(os.environ, **{k: "1" for k in KNOBS})
    exe = build()
    pin = ["taskset", "-c", args.cpu]
    chosen = [w for w in WORKLOADS if not args.only or any(w.startswith(o) for o in args.only)]
    interpreters = {"torch": args.python, "jax": args.jax_python}
    peers = [p for p in ("torch", "jax") if has(interpreters[p], PEERS[p][1])]
    missing = [p for p in ("torch", "jax") if p not in peers]
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    names = ["monograd"] + peers
    times = {w: {p: [] for p in names} for w in chosen}
    for r in range(args.rounds):
        for w in chosen:
            target = PEER_NAME.get(w, w)
            cmds = [("monograd", pin + [exe, w], w)]
            if target == w:
                cmds += [(p, pin + [interpreters[p], PEERS[p][0], w], w) for p in peers]
            # Rotate which peer goes first, round by round.
            k = r % len(cmds)
            for peer, cmd, name in cmds[k:] + cmds[:k]:
                run_env = dict(env, BENCH_STEPS=str(STEPS[w])) if args.cpu_time else env
                rows = run(cmd, run_env)
                if name not in rows:
                    sys.exit(f"run.py: {peer} printed no line for {name}")
                times[w][peer].append(float(rows[name]["us_per_step"]))
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]

    med = lambda v: statistics.median(v) if v else float("nan")
    clock = "CPU time (BENCH_STEPS)" if args.cpu_time else "wall clock"
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  pinned to cpu {args.cpu}, threading knobs 1, "
          f"{args.rounds} round(s), {clock}, medians over rounds; "
          f"load average {' '.join(load_before)} before, {' '.join(load_after)} after")
    if missing:
        print(f"# not run (framework not importable): {', '.join(missing)}")
    header = "| workload | monograd µs/step |" + "".join(f" {p} µs/step |" for p in peers)
    header += "".join(f" monograd vs {p} (time ratio) |" for p in peers) + " target | met |"
    print(header)
    print("| --- | ---: |" + " ---: |" * (2 * len(peers)) + " --- | --- |")
    for w in chosen:
        target = PEER_NAME.get(w, w)
        m = med(times[w]["monograd"])
        ref = {p: med(times[target][p]) if target in times else float("nan") for p in peers}
        row = f"| {w} | {m:.3f} |" + "".join(f" {ref[p]:.3f} |" for p in peers)
        row += "".join(f" {m / ref[p]:.2f} |" for p in peers)
        goal, met = "", ""
        if w in JAX_TARGETS and "jax" in peers:
            kind, bound = JAX_TARGETS[w]
            ratio = m / ref["jax"]
            if kind == "time":
                goal, met = f"<= {bound}x JAX's time", "yes" if ratio <= bound else "no"
            elif kind == "rate":
                goal, met = f">= {bound}x JAX's samples/s", "yes" if 1 / ratio >= bound else "no"
            else:
                goal, met = "faster than JAX", "yes" if ratio < bound else "no"
        print(row + f" {goal} | {met} |")


if __name__ == "__main__":
    main()
