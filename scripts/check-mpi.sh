#!/usr/bin/env bash
# Data parallelism over MPI, on two ranks of this machine.
#
#   scripts/check-mpi.sh
#
# Steps:
#   1. installs what a fresh Debian machine lacks, only if it lacks it: OpenMPI's headers
#      and launcher and libclang (rsmpi generates its bindings), with apt-get;
#   2. builds the test binary tests/mpi.rs with `--features mpi` (debug: the test is small);
#   3. runs it under `mpirun -n 2 --oversubscribe`: every rank must hold identical weights
#      after every step, equal within 1e-6 relative to one process's;
#   4. runs it again with rank 1 made to hang at step 3: the job must fail within a
#      bounded time (the watchdog's 2 s timeout), with the message naming rank 1 and step 3;
#      rank 0 has saved a checkpoint after step 2;
#   5. resumes from that checkpoint on 2 ranks: the run must end with the fingerprint of
#      the run that never failed (bit for bit);
#   6. steps 3 to 5 again with the sum through MPI shared memory (MONOGRAD_MPI_PATH=shared):
#      identical weights on every rank and the all-reduce's fingerprint, the hang caught,
#      the resumed run's fingerprint the same.
#
# As root (CI containers), mpirun needs OMPI_ALLOW_RUN_AS_ROOT; they are set here.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

missing=()
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
[ -e /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] || [ -e /usr/include/mpi.h ] \
    || dpkg -s libopenmpi-dev >/dev/null 2>&1 || missing+=(libopenmpi-dev)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 \
    || missing+=(libclang-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bin="$(cargo test --features mpi --test mpi --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)"
[ -x "$bin" ] || { cargo test --features mpi --test mpi --no-run; echo "check-mpi: no test binary" >&2; exit 1; }

log="$(mktemp)"
ckpt="$(mktemp -d)"
trap 'rm -rf "$log" "$ckpt"' EXIT
straight=""
for path in allreduce shared; do
    export MONOGRAD_MPI_PATH="$path"
    echo "== 2 ranks ($path): identical weights"
    rm -f "$ckpt/run.safetensors"
    timeout 300 mpirun -n 2 --oversubscribe -x MONOGRAD_MPI_PATH "$bin" | tee "$log"
    fingerprint="$(sed -n 's/.*(fingerprint \([0-9a-f]*\)).*/\1/p' "$log")"
    [ -n "$fingerprint" ] || { echo "check-mpi: no fingerprint printed" >&2; exit 1; }
    if [ -z "$straight" ]; then
        straight="$fingerprint"
    elif [ "$fingerprint" != "$straight" ]; then
        echo "check-mpi: $path ends with fingerprint '$fingerprint', the all-reduce with '$straight'" >&2
        exit 1
    fi

    echo "== 2 ranks ($path), rank 1 hangs at step 3: the run must end with an error naming it"
    start=$(date +%s)
    if MONOGRAD_MPI_FAULT=hang MONOGRAD_MPI_CHECKPOINT="$ckpt/run.safetensors" timeout 120 \
        mpirun -n 2 --oversubscribe -x MONOGRAD_MPI_PATH -x MONOGRAD_MPI_FAULT -x MONOGRAD_MPI_CHECKPOINT "$bin" >"$log" 2>&1; then
        cat "$log"
        echo "check-mpi: the hung run exited with status 0" >&2
        exit 1
    fi
    took=$(( $(date +%s) - start ))
    if ! grep -q "rank 1: step 3 did not complete within 2.0 s" "$log"; then
        cat "$log"
        echo "check-mpi: no message naming rank 1 and step 3" >&2
        exit 1
    fi
    grep "did not complete" "$log"
    echo "the hung run ended after ${took} s"

    echo "== 2 ranks ($path) resume from the checkpoint saved before the hang: same weights as the run that never failed"
    MONOGRAD_MPI_RESUME="$ckpt/run.safetensors" timeout 300 \
        mpirun -n 2 --oversubscribe -x MONOGRAD_MPI_PATH -x MONOGRAD_MPI_RESUME "$bin" | tee "$log"
    resumed="$(sed -n 's/.*(fingerprint \([0-9a-f]*\)).*/\1/p' "$log")"
    if [ "$resumed" != "$straight" ]; then
        echo "check-mpi: the resumed run ($path) ends with fingerprint '$resumed', the straight run with '$straight'" >&2
        exit 1
    fi
done
echo "check-mpi: ok (fingerprint $straight after the resumed runs too, through the all-reduce and shared memory)"
