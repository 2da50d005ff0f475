#!/usr/bin/env python3
"""Compares tune_mlp's ASHA journals with full-training journals of the same seed.

For each seed: the full study's best validation accuracy B (every trial trained to the
end), then, in the ASHA study (trials in order, one at a time), the epochs trained until a
completed trial first reaches B or more; also what the ASHA study holds after its first
`--same` trials (the full study's trial count) and after half the full study's epochs.

    python3 scripts/tune_asha_compare.py --runs runs --seeds 2 3 4 [--asha asha2] [--same 30]
        [--sampler tpe|random] [--guide averaged|raw]

`--sampler random` reads the journals of `tune_mlp --sampler random`, where trial n has
the same configuration and seed in both studies. `--guide raw` reads the journals of
`tune_mlp --guide raw` (named `...-raw.jsonl`), where the pruner saw the raw weights'
accuracy rather than the averaged weights'.

With random search the ASHA study is a function of the full study's journal: trial n is
the same, and the pruner decides from the values reported so far. `--replay R ETA STARTUP`
replays successive halving (rungs R, R*ETA, ..; judged once STARTUP earlier trials reached
a rung) on the full journals alone, without training, and prints when it reaches B; the
comparison of a real ASHA journal checks that the replay of its settings stops every
trial where it stopped.
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
    ap.add_argument("--asha", help="the ASHA journals' tag (default asha2p, or asha2 with --form stopping)")
    ap.add_argument("--form", choices=["promotion", "stopping"], default="promotion")
    ap.add_argument("--same", type=int, default=30)
    ap.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    ap.add_argument("--guide", choices=["averaged", "raw"], default="averaged")
    ap.add_argument("--replay", type=int, nargs=3, metavar=("R", "ETA", "STARTUP"))
    ap.add_argument("--settings", type=int, nargs=3, default=[2, 3, 3], metavar=("R", "ETA", "STARTUP"),
                    help="the ASHA journals' pruner settings, checked by replaying them")
    a = ap.parse_args()
    if a.asha is None:
        a.asha = "asha2p" if a.form == "promotion" else "asha2"
    prefix = "tune_mlp" if a.sampler == "tpe" else "tune_mlp-random"
    if a.replay:
        return replay_table(a, prefix)
    print("| seed | full: best val (epochs) | ASHA: epochs to reach it | ASHA: best in half the epochs "
          "| ASHA, first %d trials: best val (epochs) | ASHA: trials, epochs, best val "
          "| full: epochs to reach ASHA's best |" % a.same)
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in a.seeds:
        tail = "-raw" if a.guide == "raw" else ""
        full = trials(os.path.join(a.runs, f"{prefix}-seed{s}-e{a.epochs}-none{tail}.jsonl"))
        path = os.path.join(a.runs, f"{prefix}-seed{s}-e{a.epochs}-{a.asha}{tail}.jsonl")
        sh = trials(path) if os.path.exists(path) else []
        full_epochs = sum(len(t["intermediate"]) for t in full)
        best = max(t["value"] for t in full if t["state"] == "complete")
        r_, eta = a.settings[0], a.settings[1]
        if a.form == "promotion" and sh:
            # The order the epochs were trained in, from the journal itself; the full
            # study's journal, replayed, must give the same.
            order, stops = replay_promotion(sh, r_, eta)
            if a.sampler == "random":
                check_order, _ = replay_promotion(full[: len(sh)], r_, eta)
                if check_order != order:
                    raise SystemExit(f"seed {s}: ASHA's journal and the full study's, replayed, disagree")
        else:
            order = [(t["number"], len(t["intermediate"])) for t in sh]
        by_number = {t["number"]: t for t in sh}
        done = {}
        spent, reach, half_best, same_best, same_epochs, sh_best = 0, None, None, None, 0, None
        for n, steps in order:
            t = by_number[n]
            spent += steps
            done[n] = done.get(n, 0) + steps
            finished = steps > 0 and done[n] == len(t["intermediate"])
            v = t["value"] if t["state"] == "complete" and finished else None
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
        if a.sampler == "random":
            same_trials(s, full, sh, best)
            if a.form == "stopping":
                stops = replay(full[: len(sh)], a.epochs, *a.settings)
                if stops != [len(t["intermediate"]) for t in sh]:
                    raise SystemExit(f"seed {s}: replaying {a.settings} does not stop the trials where ASHA did")


def is_rung(step, r, eta):
    x = r
    while x < step:
        x *= eta
    return x == step


def replay(full, epochs, r, eta, startup):
    """Where successive halving (stopping form, as tune/src/prune.rs) stops each trial of a
    full study's journal, run in trial order: the epochs each trial trains."""
    seen, stops = [], []
    for t in full:
        curve = [v for _, v in t["intermediate"]]
        stop = epochs
        for e in range(1, epochs):
            if not is_rung(e, r, eta):
                continue
            at = [c[e - 1] for c in seen if len(c) >= e]
            if len(at) < startup:
                continue
            ranked = sorted(at + [curve[e - 1]], reverse=True)  # accuracies: higher is better
            if curve[e - 1] < ranked[max(1, len(ranked) // eta) - 1]:
                stop = e
                break
        seen.append(curve[:stop])
        stops.append(stop)
    return stops


def replay_promotion(recs, r, eta):
    """ASHA's promotion form (as tune/src/study/promote.rs) run over journal records, one
    trial at a time: the order of the stretches trained, `(trial, epochs)`, and where each
    trial stopped. Each record needs its values as far as that trial got."""
    curves = {t["number"]: [v for _, v in t["intermediate"]] for t in recs}

    def rung(step):
        k, x = 0, r
        while x < step:
            x, k = x * eta, k + 1
        return k if x == step else None

    reached, promoted, at, order, started = {}, set(), {}, [], 0
    while True:
        job = None
        for k in sorted(reached, reverse=True):
            ranked = sorted(reached[k])[: len(reached[k]) // eta]
            waiting = [n for _, n in ranked if (k, n) not in promoted]
            if waiting:
                job = (k, waiting[0])
                break
        if job:
            promoted.add(job)
            n = job[1]
            if at[n] >= len(curves[n]):
                raise SystemExit(f"trial {n}: promoted past the end of its record")
        elif started < len(recs):
            n, started = started, started + 1
            at[n] = 0
        else:
            break
        c = curves[n]
        pause = next((st for st in range(at[n] + 1, len(c) + 1) if rung(st) is not None), None)
        end = pause if pause is not None else len(c)
        order.append((n, end - at[n]))
        if pause is not None:
            reached.setdefault(rung(pause), []).append((-c[pause - 1], n))
        at[n] = end
    return order, at


def replay_table(a, prefix):
    tail = "-raw" if a.guide == "raw" else ""
    r, eta, startup = a.replay
    met = 0
    print(f"| seed | full: best val B | replayed ASHA (rungs from {r}, reduction {eta}, startup {startup}): "
          f"epochs until B | epochs for all {a.same} trials |")
    print("| --- | ---: | ---: | ---: |")
    for s in a.seeds:
        full = trials(os.path.join(a.runs, f"{prefix}-seed{s}-e{a.epochs}-none{tail}.jsonl"))[: a.same]
        best = max(t["value"] for t in full if t["state"] == "complete")
        spent, reach = 0, None
        for t, stop in zip(full, replay(full, a.epochs, r, eta, startup)):
            spent += stop
            if reach is None and stop == a.epochs and t["value"] >= best - 5e-5:
                reach = spent
        half = len(full) * a.epochs // 2
        met += reach is not None and reach <= half
        print(f"| {s} | {100 * best:.1f}% | {reach if reach else 'not reached'} | {spent} |")
    print(f"\nB within half the full study's epochs on {met} of {len(a.seeds)} seeds")


def same_trials(seed, full, sh, best):
    """With random search trial n is the same in both studies: checks it, and says where
    ASHA stopped the trials that ended best in the full study."""
    by_number = {t["number"]: t for t in full}
    for t in sh:
        f = by_number.get(t["number"])
        if f is None:
            continue
        if (t["params"], t["seed"]) != (f["params"], f["seed"]):
            raise SystemExit(f"seed {seed}, trial {t['number']}: another configuration or seed under ASHA")
        if t["intermediate"] != f["intermediate"][: len(t["intermediate"])]:
            raise SystemExit(f"seed {seed}, trial {t['number']}: another learning curve under ASHA")
    tops = [f for f in full if f["state"] == "complete" and f["value"] >= best - 5e-5]
    notes = []
    for f in tops:
        t = next((t for t in sh if t["number"] == f["number"]), None)
        fate = "not run" if t is None else ("kept" if t["state"] == "complete" else
                                            f"pruned at epoch {t['intermediate'][-1][0]} "
                                            f"({100 * t['intermediate'][-1][1]:.1f}%)")
        notes.append(f"trial {f['number']} {fate}")
    print(f"  seed {seed}: same configurations, seeds and curves in both studies; "
          f"the full study's best ({100 * best:.1f}%): {', '.join(notes)}")


if __name__ == "__main__":
    main()
