#!/usr/bin/env python3
"""Records PyTorch's torch.optim trajectories for tests/optim_torch.rs.

Writes tests/fixtures/optim/torch.json: for each optimizer configuration, a few steps of
gradients and parameters of a small fixed problem; the learning rates of a few
schedulers; and gradient clipping results. Everything runs in float64, so the Rust side
can match to 1e-6 relative (it matches to about 1e-15).

The problem: a torch.nn.Linear(3, 2) on a fixed batch of 5 samples, with the mean squared
error against fixed targets (torch.nn.functional.mse_loss). Inputs, targets and initial
parameters are drawn once from a seeded generator and stored in the fixture, so the Rust
test rebuilds the same problem without PyTorch's generator.

CI does not need PyTorch: only the fixture is read. To re-record (CPU is enough):

    python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch numpy
    /tmp/venv-torch/bin/python scripts/record-optim-fixtures.py

then review the diff of tests/fixtures/optim/torch.json and run
`cargo test --test optim_torch`.
"""

import json
import math
import os
import platform
import sys

import torch
import torch.nn.functional as F
from torch.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from torch.optim import lr_scheduler as sched

STEPS = 6
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "optim", "torch.json")

torch.set_default_dtype(torch.float64)


def problem():
    g = torch.Generator().manual_seed(20241126)
    x = torch.randn(5, 3, generator=g)
    y = torch.randn(5, 2, generator=g)
    w = torch.randn(2, 3, generator=g) * 0.5
    b = torch.randn(2, generator=g) * 0.5
    return x, y, w, b


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


# name, optimizer, options (PyTorch's keyword arguments), optional scheduler
OPTIMIZERS = [
    ("sgd", "sgd", dict(lr=0.1), None),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9), None),
    ("sgd_dampening_weight_decay", "sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01), None),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05), None),
    ("sgd_maximize", "sgd", dict(lr=0.01, momentum=0.5, maximize=True), None),
    ("adam", "adam", dict(lr=0.05), None),
    ("adam_amsgrad_weight_decay", "adam",
     dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, amsgrad=True), None),
    ("adam_maximize", "adam", dict(lr=0.01, maximize=True), None),
    ("adamw", "adamw", dict(lr=0.05), None),
    ("adamw_amsgrad", "adamw", dict(lr=0.03, weight_decay=0.2, amsgrad=True, betas=(0.85, 0.99)), None),
    ("rmsprop", "rmsprop", dict(lr=0.01), None),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.01, momentum=0.7), None),
    ("rmsprop_centered", "rmsprop", dict(lr=0.005, centered=True, alpha=0.9), None),
    ("rmsprop_all", "rmsprop",
     dict(lr=0.01, alpha=0.95, eps=1e-6, weight_decay=0.01, momentum=0.5, centered=True), None),
    ("adagrad", "adagrad", dict(lr=0.1), None),
    ("adagrad_all", "adagrad",
     dict(lr=0.1, lr_decay=0.1, weight_decay=0.02, initial_accumulator_value=0.5, eps=1e-8), None),
    ("sgd_momentum_steplr", "sgd", dict(lr=0.1, momentum=0.9), ("step", dict(step_size=2, gamma=0.5))),
    ("adam_warmup_cosine", "adam", dict(lr=0.05),
     ("warmup_cosine", dict(start_factor=0.2, warmup=2, t_max=4, eta_min=0.001))),
]

CLASSES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def make_scheduler(opt, spec):
    kind, o = spec
    if kind == "step":
        return sched.StepLR(opt, step_size=o["step_size"], gamma=o["gamma"])
    if kind == "exponential":
        return sched.ExponentialLR(opt, gamma=o["gamma"])
    if kind == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=o["t_max"], eta_min=o["eta_min"])
    if kind == "linear":
        return sched.LinearLR(opt, start_factor=o["start_factor"], end_factor=o["end_factor"],
                              total_iters=o["total_iters"])
    if kind == "warmup_cosine":
        warm = sched.LinearLR(opt, start_factor=o["start_factor"], end_factor=1.0, total_iters=o["warmup"])
        cos = sched.CosineAnnealingLR(opt, T_max=o["t_max"], eta_min=o["eta_min"])
        return sched.SequentialLR(opt, [warm, cos], milestones=[o["warmup"]])
    raise ValueError(kind)


def record_optimizer(name, kind, options, schedule, x, y, w0, b0):
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(w0)
        lin.bias.copy_(b0)
    opt = CLASSES[kind](lin.parameters(), **options)
    sch = make_scheduler(opt, schedule) if schedule else None
    grads, params, lrs = [], [], []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.mse_loss(lin(x), y)
        loss.backward()
        grads.append(flat(lin.weight.grad) + flat(lin.bias.grad))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sch:
            sch.step()
        params.append(flat(lin.weight) + flat(lin.bias))
    opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    return {
        "name": name,
        "optimizer": kind,
        "options": opts,
        "schedule": {"kind": schedule[0], **schedule[1]} if schedule else None,
        "lrs": lrs,
        "grads": grads,
        "params": params,
    }


SCHEDULES = [
    ("step", dict(step_size=3, gamma=0.5)),
    ("exponential", dict(gamma=0.9)),
    ("cosine", dict(t_max=5, eta_min=0.01)),
    ("linear", dict(start_factor=0.25, end_factor=1.0, total_iters=4)),
    ("linear", dict(start_factor=1.0, end_factor=0.1, total_iters=5)),
    ("warmup_cosine", dict(start_factor=0.1, warmup=3, t_max=6, eta_min=0.0)),
]


def record_schedule(kind, o, base=0.1, steps=14):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = SGD([p], lr=base)
    s = make_scheduler(opt, (kind, o))
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    return {"kind": kind, "base": base, **o, "lrs": lrs}


def record_clip():
    g = torch.Generator().manual_seed(7)
    out = []
    for kind, arg, norm_type in [("norm", 0.5, 2.0), ("norm", 0.5, 1.0), ("norm", 0.5, math.inf),
                                 ("norm", 0.7, 3.0), ("norm", 100.0, 2.0), ("value", 0.3, None)]:
        lin = torch.nn.Linear(3, 2)
        lin.weight.grad = torch.randn(2, 3, generator=g)
        lin.bias.grad = torch.randn(2, generator=g)
        before = flat(lin.weight.grad) + flat(lin.bias.grad)
        rec = {"kind": kind, "before": before}
        if kind == "norm":
            total = torch.nn.utils.clip_grad_norm_(lin.parameters(), max_norm=arg, norm_type=norm_type)
            rec.update(max_norm=arg, norm_type="inf" if math.isinf(norm_type) else norm_type, total=float(total))
        else:
            torch.nn.utils.clip_grad_value_(lin.parameters(), clip_value=arg)
            rec.update(clip_value=arg)
        rec["after"] = flat(lin.weight.grad) + flat(lin.bias.grad)
        out.append(rec)
    return out


def main():
    x, y, w0, b0 = problem()
    fixture = {
        "recorded_by": "scripts/record-optim-fixtures.py",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "dtype": "float64",
        "problem": {
            "model": "Linear(3, 2)",
            "loss": "mse_loss, mean reduction",
            "x": flat(x),
            "y": flat(y),
            "weight": flat(w0),
            "bias": flat(b0),
        },
        "optimizers": [record_optimizer(*c, x, y, w0, b0) for c in OPTIMIZERS],
        "schedules": [record_schedule(k, o) for k, o in SCHEDULES],
        "clip": record_clip(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT)}: {len(OPTIMIZERS)} optimizer configurations, "
          f"{len(SCHEDULES)} schedules, {len(fixture['clip'])} clipping cases (torch {torch.__version__})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
