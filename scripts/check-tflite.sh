#!/usr/bin/env bash
# Checks the .tflite export against TFLite Micro's reference interpreter, bit for bit.
#
#   scripts/check-tflite.sh            # venv, per-operator cases, then the MNIST check
#   scripts/check-tflite.sh --ops      # the per-operator cases only (no training)
#   scripts/check-tflite.sh --bless    # rewrite tests/fixtures/tflite/ from TFLite Micro
#
# 1. A plain venv (target/tflite-venv, ignored by git) with `tflite-micro` and `numpy`
#    from the Python registry: TFLite Micro's own C++ kernels behind a Python API, no
#    TensorFlow. Reused when it already imports.
# 2. Every per-operator case of tests/tflite_cases is exported, run in TFLite Micro, and
#    its outputs compared with the committed fixtures (which `cargo test --test
#    tflite_kernels` compares with monograd's integer kernels, without Python).
# 3. examples/tflite_mnist.rs (release build): LeNet-5 and the MLP trained on the
#    repository's MNIST digits, quantized, exported, and run on the 2,000 test digits by
#    monograd's integer kernels and by TFLite Micro; it fails unless every int8 output
#    agrees.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-all}"
case "$mode" in
    all | --ops | --bless) ;;
    *)
        echo "usage: $0 [--ops | --bless]" >&2
        exit 2
        ;;
esac

venv="${MONOGRAD_TFLITE_VENV:-target/tflite-venv}"
t0=$SECONDS
if ! "$venv/bin/python" -c "from tflite_micro.python.tflite_micro import runtime" 2>/dev/null; then
    echo "check-tflite: creating $venv (tflite-micro, numpy)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check tflite-micro numpy
fi
"$venv/bin/python" -c "from tflite_micro.python.tflite_micro import runtime" 
echo "check-tflite: venv ready in $((SECONDS - t0))s ($(du -sh "$venv" | cut -f1))"
export MONOGRAD_TFLITE_PYTHON="$PWD/$venv/bin/python"

t1=$SECONDS
if [ "$mode" = "--bless" ]; then
    MONOGRAD_TFLITE_BLESS=1 cargo test --test tflite_export -- --ignored --nocapture
    cargo test --test tflite_kernels --test tflite_export
    echo "check-tflite: fixtures rewritten in $((SECONDS - t1))s; review and commit tests/fixtures/tflite/"
    exit 0
fi
cargo test --test tflite_export --test tflite_twin -- --include-ignored
echo "check-tflite: per-operator cases in $((SECONDS - t1))s"
[ "$mode" = "--ops" ] && exit 0

t2=$SECONDS
cargo run --release --example tflite_mnist
echo "check-tflite: MNIST in $((SECONDS - t2))s; total $((SECONDS - t0))s"
