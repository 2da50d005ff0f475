#!/usr/bin/env python3
"""Writes the seed corpus of the load_safetensors fuzz target: valid files of its model
(fc: Linear<3, 2>, bn: BatchNorm1d<2>, scale: a scalar, table: [2, 2]) in F32, F64 and
F16, under monograd's names and torch.nn.Sequential's, and one with an extra tensor.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy safetensors
    /tmp/venv/bin/python fuzz/seed-corpus.py
"""

import os

import numpy as np
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "load_safetensors")


def model(dtype, prefix=lambda n: n):
    rng = np.random.default_rng(7)
    t = {
        "fc.weight": rng.standard_normal((2, 3)),
        "fc.bias": rng.standard_normal(2),
        "bn.weight": np.ones(2),
        "bn.bias": np.zeros(2),
        "bn.running_mean": rng.standard_normal(2),
        "bn.running_var": rng.random(2) + 0.5,
        "scale": np.array(1.5),
        "table": rng.standard_normal((2, 2)),
    }
    out = {prefix(k): v.astype(dtype) for k, v in t.items()}
    out[prefix("bn.num_batches_tracked")] = np.array(3, dtype=np.int64)
    return out


def sequential(name):
    index = {"fc": "0", "bn": "1", "scale": "2", "table": "3"}
    first, _, rest = name.partition(".")
    return index[first] + ("." + rest if rest else "")


os.makedirs(OUT, exist_ok=True)
save_file(model(np.float32), os.path.join(OUT, "f32.safetensors"), metadata={"format": "pt"})
save_file(model(np.float64), os.path.join(OUT, "f64.safetensors"))
save_file(model(np.float16), os.path.join(OUT, "f16.safetensors"))
save_file(model(np.float32, sequential), os.path.join(OUT, "sequential.safetensors"))
extra = model(np.float32)
extra["head.weight"] = np.zeros((4, 2), dtype=np.float32)
save_file(extra, os.path.join(OUT, "extra.safetensors"))
print(sorted(os.listdir(OUT)))
