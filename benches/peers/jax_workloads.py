"""JAX peer for the shared workloads W1-W4 (WORKLOADS.md), monograd's own script.

Same definitions and method as benches/workloads.rs and torch_workloads.py: f32,
PyTorch's default initialisation (uniform in +-1/sqrt(fan_in) for weights and biases,
which is also what a Flax `nn.Dense` would be compared against), synthetic data made once
(inputs uniform in [0, 1), W3 in [-1, 1); labels uniform in 0..10), plain SGD lr 0.01 on
every weight and bias. A training step is one call of a `jax.jit`-compiled function that
runs forward, loss, `jax.grad` and the update and returns the new parameters (donated,
so XLA may update them in place) and the loss; inference is a jitted forward.
Timing: warm up >= 0.3 s and >= 10 calls, calibrate a repeat to about 0.25 s, time 7
repeats, report the median per call; every repeat ends with `block_until_ready` on the
last result, so asynchronous dispatch cannot hide work.

usage: python jax_workloads.py [W1 W2 W3 W4]     (none: all)
CPU only, one thread: run it through run.py, which pins it to one core and sets
XLA_FLAGS for a single-threaded Eigen; install with `pip install jax` (the CPU wheel).
Not part of CI.
"""
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

LR = 0.01
WARMUP_S, WARMUP_CALLS, REPEAT_S, REPEATS = 0.3, 10, 0.25, 7


def measure(fn, sync):
    """(median seconds per call, calls per repeat, repeats), as benches/common/mod.rs.

    With BENCH_STEPS=n it calls fn n times and returns the CPU time per call
    (time.process_time), with 0 repeats, as the Rust bench does.
    """
    steps = os.environ.get("BENCH_STEPS")
    if steps:
        n = int(steps)
        start = time.process_time()
        for _ in range(n):
            fn()
        sync()
        return (time.process_time() - start) / max(n, 1), n, 0
    pc = time.perf_counter
    start, calls = pc(), 0
    while calls < WARMUP_CALLS or pc() - start < WARMUP_S:
        fn()
        calls += 1
    sync()
    iters = max(1, round(REPEAT_S / ((pc() - start) / calls)))
    times = []
    for _ in range(REPEATS):
        t = pc()
        for _ in range(iters):
            fn()
        sync()
        times.append((pc() - t) / iters)
    times.sort()
    return times[REPEATS // 2], iters, REPEATS


def report(name, batch, result):
    sec, iters, reps = result
    print(
        f"peer=jax threads=1 name={name} batch={batch} "
        f"us_per_step={sec * 1e6:.3f} steps_per_s={1 / sec:.1f} samples_per_s={batch / sec:.1f} "
        f"iters={iters} reps={reps}",
        flush=True,
    )


def uniform(rng, shape, bound):
    return jnp.asarray(rng.uniform(-bound, bound, size=shape).astype(np.float32))


def dense(rng, fan_in, fan_out):
    b = 1.0 / np.sqrt(fan_in)
    return {"w": uniform(rng, (fan_in, fan_out), b), "b": uniform(rng, (fan_out,), b)}


def conv(rng, ci, co, k):
    b = 1.0 / np.sqrt(ci * k * k)
    return {"w": uniform(rng, (co, ci, k, k), b), "b": uniform(rng, (co,), b)}


def mlp_params(rng):
    return [dense(rng, 784, 256), dense(rng, 256, 128), dense(rng, 128, 10)]


def mlp(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def tiny_params(rng):
    return [dense(rng, 2, 16), dense(rng, 16, 16), dense(rng, 16, 1)]


def tiny(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def lenet_params(rng):
    return {"c1": conv(rng, 1, 6, 5), "c2": conv(rng, 6, 16, 5),
            "fc": [dense(rng, 256, 120), dense(rng, 120, 84), dense(rng, 84, 10)]}


def conv2d(x, p):
    y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + p["b"][None, :, None, None]


def maxpool2(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def lenet(params, x):
    x = maxpool2(jax.nn.relu(conv2d(x, params["c1"])))
    x = maxpool2(jax.nn.relu(conv2d(x, params["c2"])))
    x = x.reshape(x.shape[0], -1)
    return mlp(params["fc"], x)


def cross_entropy(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


def mse(pred, target):
    return jnp.mean((pred - target) ** 2)


def train_step(model, loss):
    def step(params, x, y):
        value, grads = jax.value_and_grad(lambda p: loss(model(p, x), y))(params)
        return jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads), value

    return jax.jit(step, donate_argnums=0)


def trained(name, batch, step, params, x, y):
    """Times the step, then checks that the loss fell over the run, as the Rust bench does."""
    state = {"p": params, "loss": None}

    def call():
        state["p"], state["loss"] = step(state["p"], x, y)

    call()
    first = float(state["loss"])
    result = measure(call, lambda: state["loss"].block_until_ready())
    call()
    last = float(state["loss"])
    assert last < first, f"{name}: the loss went from {first} to {last}"
    report(name, batch, result)


def main():
    sel = [a for a in sys.argv[1:] if a.startswith("W")]
    want = lambda name: not sel or any(name.startswith(s) for s in sel)
    print(f"# jax {jax.__version__} jaxlib devices={jax.devices()}", flush=True)
    rng = np.random.default_rng(0)
    labels = lambda n: jnp.asarray(rng.integers(0, 10, size=n).astype(np.int32))
    if want("W1_mlp_train_b64"):
        x = jnp.asarray(rng.random((64, 784), dtype=np.float32))
        trained("W1_mlp_train_b64", 64, train_step(mlp, cross_entropy), mlp_params(rng), x, labels(64))
    if want("W2_mlp_infer_b1") or want("W2_mlp_infer_b64"):
        params = mlp_params(rng)
        forward = jax.jit(mlp)
        for batch, name in ((1, "W2_mlp_infer_b1"), (64, "W2_mlp_infer_b64")):
            if not want(name):
                continue
            x = jnp.asarray(rng.random((batch, 784), dtype=np.float32))
            out = {"y": forward(params, x)}

            def infer():
                out["y"] = forward(params, x)

            report(name, batch, measure(infer, lambda: out["y"].block_until_ready()))
    if want("W3_tiny_train_b1"):
        x = jnp.asarray(rng.uniform(-1, 1, (1, 2)).astype(np.float32))
        y = jnp.asarray(rng.uniform(-1, 1, (1, 1)).astype(np.float32))
        trained("W3_tiny_train_b1", 1, train_step(tiny, mse), tiny_params(rng), x, y)
    if want("W4_lenet_train_b32"):
        x = jnp.asarray(rng.random((32, 1, 28, 28), dtype=np.float32))
        trained("W4_lenet_train_b32", 32, train_step(lenet, cross_entropy), lenet_params(rng), x, labels(32))


if __name__ == "__main__":
    main()
