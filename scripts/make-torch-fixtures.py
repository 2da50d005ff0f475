#!/usr/bin/env python3
"""Writes the PyTorch fixtures of tests/serialize_torch.rs into tests/fixtures/torch/.

Two networks, built with torch.nn and matched by networks the test declares with
monograd's network!:

- an MLP written as a torch.nn.Module with named attributes (fc1, bn, act, fc2), so its
  state_dict names are monograd's field names unchanged;
- a small CNN written as a torch.nn.Sequential, so its names are indices (0.weight,
  1.running_mean, ...), which the test maps with serialize::names::Sequential.

Both have batch norm. Each is trained a few SGD steps from a fixed seed (which moves the
weights away from their initial values and fills BatchNorm's running statistics and
num_batches_tracked), then put in eval mode; its state_dict is saved with
safetensors.torch.save_file, and so are fixed inputs and the outputs PyTorch computes for
them. The MLP is also saved in float64 (with float64 outputs), and its float tensors in
float16 and bfloat16 next to PyTorch's own widening of them back to float32, to check
monograd's conversions against PyTorch's.

CI does not need PyTorch: only the committed files are read. To re-record (CPU is
enough; torch needs about 6 GB of wheels):

    python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch numpy safetensors
    /tmp/venv-torch/bin/python scripts/make-torch-fixtures.py

then run `cargo test --test serialize_torch` and commit tests/fixtures/torch/.
"""

import os
import platform

import torch
from torch import nn
import safetensors
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "torch")
SEED = 20261126
TRAIN_STEPS = 3
BATCH = 5


class Mlp(nn.Module):
    """monograd: network! { Mlp { input: [6], fc1: Linear<6, 16>, bn: BatchNorm1d<16>,
    act: ReLU, fc2: Linear<16, 4> } }"""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.bn = nn.BatchNorm1d(16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(self.act(self.bn(self.fc1(x))))


def cnn():
    """monograd: network! { Cnn { input: [1, 8, 8], conv1: Conv2d<1, 4, 3, 1, 1>,
    bn: BatchNorm2d<4>, act1: ReLU, pool: MaxPool2d<2>, conv2: Conv2d<4, 6, 3>,
    act2: ReLU, flat: Flatten, fc: Linear<24, 5> } }"""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=1, padding=1),  # 0: [4, 8, 8]
        nn.BatchNorm2d(4),  # 1
        nn.ReLU(),  # 2
        nn.MaxPool2d(2),  # 3: [4, 4, 4]
        nn.Conv2d(4, 6, 3),  # 4: [6, 2, 2]
        nn.ReLU(),  # 5
        nn.Flatten(),  # 6: [24]
        nn.Linear(24, 5),  # 7
    )


def train(model, input_shape, outputs, g):
    """A few SGD steps on random data against random targets, in train mode."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    for _ in range(TRAIN_STEPS):
        x = torch.randn(8, *input_shape, generator=g) * 2.0 + 0.5
        target = torch.randn(8, outputs, generator=g)
        loss = nn.functional.mse_loss(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def metadata(what):
    return {
        "format": "pt",
        "what": what,
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
        "script": "scripts/make-torch-fixtures.py",
        "seed": str(SEED),
    }


def save(tensors, name, what):
    path = os.path.join(OUT, name)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path, metadata=metadata(what))
    print(f"{name}: {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)

    # The MLP, float32 and float64.
    mlp = Mlp()
    train(mlp, (6,), 4, g)
    x = torch.randn(BATCH, 6, generator=g)
    with torch.no_grad():
        y = mlp(x)
    save(mlp.state_dict(), "mlp.safetensors", "Mlp state_dict, float32, eval mode")
    save({"x": x, "y": y}, "mlp-io.safetensors", "Mlp inputs x and eval-mode outputs y, float32")

    mlp64 = Mlp()
    mlp64.load_state_dict(mlp.state_dict())
    mlp64 = mlp64.double().eval()
    with torch.no_grad():
        y64 = mlp64(x.double())
    save(mlp64.state_dict(), "mlp-f64.safetensors", "Mlp state_dict, float64, eval mode")
    save({"x": x.double(), "y": y64}, "mlp-f64-io.safetensors", "Mlp inputs and outputs, float64")

    # Half precisions: the MLP's float tensors in float16 and bfloat16, with PyTorch's
    # widening of each back to float32; and values at the edges of both formats.
    halves = {}
    for name, t in mlp.state_dict().items():
        for prefix, dtype in (("f16", torch.float16), ("bf16", torch.bfloat16)):
            if t.is_floating_point():
                halves[f"{prefix}.{name}"] = t.to(dtype)
                halves[f"{prefix}_ref.{name}"] = t.to(dtype).to(torch.float32)
            else:
                halves[f"{prefix}.{name}"] = t.clone()
                halves[f"{prefix}_ref.{name}"] = t.clone()
    edges = torch.tensor(
        [0.0, -0.0, 1.0, -2.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08, 3.0517578125e-05,
         float("inf"), float("-inf"), 1.0e-40, 3.0e38],
        dtype=torch.float32,
    )
    for prefix, dtype in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        halves[f"edges.{prefix}.values"] = edges.to(dtype)
        halves[f"edges.{prefix}_ref.values"] = edges.to(dtype).to(torch.float32)
    save(halves, "halves.safetensors", "Mlp float tensors in F16 and BF16 (f16., bf16.), PyTorch's widening to F32 (f16_ref., bf16_ref.), edge values (edges.)")

    # The CNN, a torch.nn.Sequential.
    net = cnn()
    train(net, (1, 8, 8), 5, g)
    x = torch.randn(BATCH, 1, 8, 8, generator=g)
    with torch.no_grad():
        y = net(x)
    save(net.state_dict(), "cnn.safetensors", "Cnn (torch.nn.Sequential) state_dict, float32, eval mode")
    save({"x": x, "y": y}, "cnn-io.safetensors", "Cnn inputs x and eval-mode outputs y, float32")

    print(f"torch {torch.__version__}, safetensors {safetensors.__version__}, python {platform.python_version()}")
    print("num_batches_tracked:", int(mlp.bn.num_batches_tracked), int(net[1].num_batches_tracked))


if __name__ == "__main__":
    main()
