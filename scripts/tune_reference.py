#!/usr/bin/env python3
"""Optuna and scikit-optimize on the benchmarks of examples/tune_benchmarks.rs.

Same functions, domains, budget (50 evaluations) and seeds (0-19); prints the median
final regret and the mean seconds per run, in the example's format. Not run in CI.

    python3 -m venv .venv
    .venv/bin/pip install optuna scikit-optimize torch
    .venv/bin/python scripts/tune_reference.py [--seeds 20] [--first-seed 0] [--budget 50]
        [--sampler optuna-random|optuna-tpe|optuna-gp|skopt-gp] [--function branin|hartmann6]
"""
import argparse
import math
import os
import statistics
import time
import warnings

import numpy as np

BRANIN_MIN = 0.39788735772973816
HARTMANN6_MIN = -3.322368011415514

A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
              [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
P = np.array([[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
              [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
              [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
              [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]])
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(x):
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x):
    x = np.asarray(x)
    return float(-np.sum(ALPHA * np.exp(-np.sum(A * (x - P) ** 2, axis=1))))


FUNCTIONS = {
    "branin": (branin, [(-5.0, 10.0), (0.0, 15.0)], BRANIN_MIN),
    "hartmann6": (hartmann6, [(0.0, 1.0)] * 6, HARTMANN6_MIN),
}


def run_optuna(kind, f, bounds, seed, budget):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = {
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "optuna-random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }[kind]()
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: f([t.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]),
                   n_trials=budget)
    return study.best_value


def run_skopt(f, bounds, seed, budget):
    from skopt import gp_minimize

    return gp_minimize(f, bounds, n_calls=budget, random_state=seed).fun


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--function", default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    first = args.first_seed
    print(f"{args.budget} evaluations, seeds {first}-{first + args.seeds - 1}; median over seeds")
    print(f"{'function':<10} {'sampler':<14} {'median regret':>14} {'worst regret':>14} {'s per run':>12} "
          f"{'cpu s per run':>14}")
    for name, (f, bounds, fmin) in FUNCTIONS.items():
        if args.function and args.function != name:
            continue
        for kind in ["optuna-random", "optuna-tpe", "optuna-gp", "skopt-gp"]:
            if args.sampler and args.sampler != kind:
                continue
            regrets, times, cpus = [], [], []
            for seed in range(first, first + args.seeds):
                t0, c0 = time.perf_counter(), time.process_time()
                if kind == "skopt-gp":
                    best = run_skopt(f, bounds, seed, args.budget)
                else:
                    best = run_optuna(kind, f, bounds, seed, args.budget)
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                regrets.append(best - fmin)
            if os.environ.get("TUNE_VERBOSE"):
                print([f"{r:.1e}" for r in regrets])
            print(f"{name:<10} {kind:<14} {statistics.median(regrets):>14.3e} {max(regrets):>14.3e} "
                  f"{statistics.mean(times):>12.3f} {statistics.mean(cpus):>14.3f}"
                  f" (mean regret {statistics.mean(regrets):.3e})", flush=True)


if __name__ == "__main__":
    main()
