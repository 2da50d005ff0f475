#!/usr/bin/env python3
"""Runs a .tflite model in TFLite Micro's reference interpreter on int8 samples.

    tflite_check.py MODEL INPUTS OUTPUTS

INPUTS holds samples one after another, each the model's inputs in order, int8, in the
model's (channels-last) memory order; OUTPUTS receives the outputs the same way. The Rust
side writes the inputs, reads the outputs and compares them with its own integer kernels.

Before running, the model file is checked the way TFLite Micro does not: every constant
buffer 16-byte aligned in the file, every tensor int8 or int32 with its quantization.
The interpreter is `tflite-micro` from the Python registry: TFLite Micro's own kernels,
no TensorFlow.
"""

import sys

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def check_file(model_bytes):
    """Checks what the writer promises and TFLite Micro would not notice."""
    model = runtime.schema_fb.Model.GetRootAsModel(model_bytes, 0)
    problems = []
    if model_bytes[4:8] != b"TFL3":
        problems.append("file identifier is not TFL3")
    if model.Version() != 3:
        problems.append(f"schema version {model.Version()}")
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength() == 0:
            continue
        o = buf._tab.Offset(4)  # the `data` field
        start = buf._tab.Vector(o)
        if start % 16 != 0:
            problems.append(f"buffer {i} data at offset {start}, not 16-byte aligned")
    sg = model.Subgraphs(0)
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        q = t.Quantization()
        if q is None or q.ScaleLength() == 0:
            problems.append(f"tensor {t.Name().decode()} has no quantization")
    if problems:
        raise SystemExit("tflite_check: " + "; ".join(problems))


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    model_path, inputs_path, outputs_path = sys.argv[1:]
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    check_file(model_bytes)
    interp = runtime.Interpreter.from_bytes(model_bytes, arena_size=8 << 20)
    n_in = len(runtime.schema_fb.Model.GetRootAsModel(model_bytes, 0).Subgraphs(0).InputsAsNumpy())
    n_out = len(runtime.schema_fb.Model.GetRootAsModel(model_bytes, 0).Subgraphs(0).OutputsAsNumpy())
    in_details = [interp.get_input_details(i) for i in range(n_in)]
    out_details = [interp.get_output_details(i) for i in range(n_out)]
    for d in in_details + out_details:
        if d["dtype"] != np.int8:
            raise SystemExit(f"tflite_check: a tensor of type {d['dtype']}, expected int8")
    in_sizes = [int(np.prod(d["shape"])) for d in in_details]
    per_sample = sum(in_sizes)
    x = np.fromfile(inputs_path, dtype=np.int8)
    if per_sample == 0 or x.size % per_sample != 0:
        raise SystemExit(
            f"tflite_check: {x.size} input bytes are not a whole number of {per_sample}-byte samples"
        )
    n = x.size // per_sample
    out = []
    for k in range(n):
        sample = x[k * per_sample:(k + 1) * per_sample]
        at = 0
        for i, d in enumerate(in_details):
            interp.set_input(sample[at:at + in_sizes[i]].reshape(d["shape"]), i)
            at += in_sizes[i]
        interp.invoke()
        for i in range(n_out):
            out.append(np.asarray(interp.get_output(i), dtype=np.int8).reshape(-1))
    y = np.concatenate(out) if out else np.zeros(0, dtype=np.int8)
    y.astype(np.int8).tofile(outputs_path)
    print(f"tflite_check: {n} samples through {model_path}")


if __name__ == "__main__":
    main()
