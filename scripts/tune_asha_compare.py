#!/usr/bin/env python3
"""Compares tune_mlp's ASHA journals with full-training journals of the same seed.

For each seed: the full study's best validation accuracy B (every trial trained to the
end), then, in the ASHA study (trials in order, one at a time), the epochs trained until a
completed trial first reaches B or more; also what the ASHA study holds after its first
`--same` trials (the full study's trial count) and after half the full study's epochs.

    python3 scripts/tune_asha_compare.py --runs runs --seeds 2 3 4 [--asha asha2] [--same 30]
"""
import argparse
import json
import os


def trials(path):
    with open(path) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    return sorted(lines[1:], key=lambda t: t["number"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--epochs", type=int, default=9)
    ap.add_argument("--asha", default="asha2")
    ap.add_argument("--same", type=int, default=30)
    a = ap.parse_args()
    print("| seed | full: best val (epochs) | ASHA: epochs to reach it | ASHA: best in half the epochs "
          "| ASHA, first %d trials: best val (epochs) | ASHA: trials, epochs, best val "
          "| full: epochs to reach ASHA's best |" % a.same)
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in a.seeds:
        full = trials(os.path.join(a.runs, f"tune_mlp-seed{s}-e{a.epochs}-none.jsonl"))
        path = os.path.join(a.runs, f"tune_mlp-seed{s}-e{a.epochs}-{a.asha}.jsonl")
        sh = trials(path) if os.path.exists(path) else []
        full_epochs = sum(len(t["intermediate"]) for t in full)
        best = max(t["value"] for t in full if t["state"] == "complete")
        spent, reach, half_best, same_best, same_epochs, sh_best = 0, None, None, None, 0, None
        for t in sh:
            spent += len(t["intermediate"])
            v = t["value"] if t["state"] == "complete" else None
            if v is not None:
                sh_best = v if sh_best is None else max(sh_best, v)
                if reach is None and v >= best - 5e-5:
                    reach = (spent, t["number"])
            if spent <= full_epochs // 2:
                half_best = sh_best
            if t["number"] < a.same:
                same_best, same_epochs = sh_best, spent
        r = f"**{reach[0]}** (trial {reach[1]})" if reach else f"not within {spent}"
        # The other way round: when the full study first reached what ASHA ended with.
        back, acc = "-", 0
        for t in full:
            acc += len(t["intermediate"])
            if sh_best is not None and t["state"] == "complete" and t["value"] >= sh_best - 5e-5:
                back = str(acc)
                break
        pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"
        print(f"| {s} | {pct(best)} ({full_epochs}) | {r} | {pct(half_best)} | {pct(same_best)} ({same_epochs}) "
              f"| {len(sh)}, {spent}, {pct(sh_best)} | {back} |")


if __name__ == "__main__":
    main()
