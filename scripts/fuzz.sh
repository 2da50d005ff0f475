#!/usr/bin/env bash
# Runs the parsers' fuzz targets (fuzz/, cargo-fuzz with libFuzzer) for a while each and
# reports what they did.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default: 30 s, every target
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 4800 load_csv   # stop at 10M executions or 80 min
#
# Each target runs from a copy of its committed seed corpus (fuzz/corpus/TARGET/), so the
# committed corpus never grows; what the run adds is thrown away with its working
# directory. Every target runs with -timeout=10 (one input taking longer is a hang),
# -rss_limit_mb=2048 and -malloc_limit_mb=2048 (a reader that allocates beyond that is a
# failure). One line per target: executions, executions per second, seconds, crashes.
# The exit status is non-zero if any target crashed, hung or ran out of memory; the
# reproducer's path is printed (replay it with `BINARY REPRODUCER`, or
# `cargo +nightly fuzz run TARGET REPRODUCER`).
#
# Installs cargo-fuzz if it is missing (`cargo install cargo-fuzz --locked`, about
# 2 min) and the nightly toolchain if it is missing. Builds with
# `cargo +nightly fuzz build -O -a -s none`: optimized, with debug assertions and overflow
# checks, without AddressSanitizer (the readers hold no `unsafe` code, and the SIMD
# kernels the checkpoint target trains with run on shapes fixed by its model).
#
# Environment: FUZZ_RUNS caps the executions per target (-runs); FUZZ_TARGET_DIR is the
# build directory (default: $CARGO_TARGET_DIR/fuzz, else fuzz/target); FUZZ_WORK keeps
# the working directory (corpus copies, logs, reproducers) there instead of a temporary
# one that is removed after a clean run.
#
# CI runs `scripts/fuzz.sh 30`: 7 targets x 30 s plus the build. Measured from a cold
# fuzz build (empty target directory) on 2 cores (Intel Xeon, KVM, 2026-12-06) that were
# busy with other jobs (load average 17; this step at nice 19): 958 s wall, 740 s of it
# the build and 218 s the seven runs; 196 s of CPU in all. On idle cores a cold build of
# the dependencies took 85 s, so there the step should take about 5-6 minutes, most of it
# the 7 x 30 s of fuzzing (an estimate: the whole step was not timed on idle cores).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ALL=(load_safetensors load_checkpoint load_idx_raw load_idx_gzip load_csv load_mnist_dir embed_header)
seconds="${1:-30}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=("${ALL[@]}"); fi
for t in "${targets[@]}"; do
    if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
        echo "fuzz.sh: no target \`$t\`; the targets are: ${ALL[*]}" >&2
        exit 2
    fi
done
case "$seconds" in '' | *[!0-9]*)
    echo "fuzz.sh: SECONDS must be a whole number, found \`$seconds\`" >&2
    exit 2
    ;;
esac

if ! rustup run nightly rustc -V >/dev/null 2>&1; then
    echo "fuzz.sh: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz (about 2 minutes)"
    cargo install cargo-fuzz --locked
fi

target_dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}}"
target_dir="${target_dir:-$PWD/fuzz/target}"
triple=$(rustup run nightly rustc -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$triple/release"

t0=$SECONDS
echo "fuzz.sh: building ${#targets[@]} target(s) into $target_dir"
if [ "${#targets[@]}" -eq "${#ALL[@]}" ]; then
    # Every target in one build: cargo links them in parallel.
    cargo +nightly fuzz build -O -a -s none --target-dir "$target_dir"
else
    for t in "${targets[@]}"; do
        cargo +nightly fuzz build -O -a -s none --target-dir "$target_dir" "$t"
    done
fi
echo "fuzz.sh: built in $((SECONDS - t0)) s"

if [ -n "${FUZZ_WORK:-}" ]; then
    work="$FUZZ_WORK"
    mkdir -p "$work"
    keep=1
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/monograd-fuzz.XXXXXX")
    keep=0
fi
# The targets that read files by path write them here; in memory when /dev/shm exists.
scratch=$(mktemp -d "$( [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/monograd-fuzz-scratch.XXXXXX")
cleanup() { rm -rf "$scratch"; if [ "$keep" -eq 0 ] && [ "${failed:-0}" -eq 0 ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then runs=("-runs=$FUZZ_RUNS"); fi

failed=0
report=()
for t in "${targets[@]}"; do
    corpus="$work/corpus/$t"
    artifacts="$work/artifacts/$t"
    log="$work/$t.log"
    mkdir -p "$corpus" "$artifacts"
    cp fuzz/corpus/"$t"/* "$corpus"/
    echo "fuzz.sh: $t for ${seconds} s${FUZZ_RUNS:+ or $FUZZ_RUNS executions} (log: $log)"
    s0=$SECONDS
    status=0
    TMPDIR="$scratch" "$bin_dir/$t" "$corpus" \
        -max_total_time="$seconds" "${runs[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    elapsed=$((SECONDS - s0))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    repro=$(find "$artifacts" -type f | head -n1)
    crashes=0
    if [ "$status" -ne 0 ] || [ -n "$repro" ]; then
        crashes=1
        failed=1
    fi
    line=$(printf '%-17s executions %10s  exec/s %7s  %5d s  crashes %d' "$t" "${execs:-?}" "${rate:-?}" "$elapsed" "$crashes")
    if [ "$crashes" -ne 0 ]; then
        line+="  FAILED (exit status $status): reproducer ${repro:-none written; see $log}"
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -n 5 || true
    fi
    echo "$line"
    report+=("$line")
done

echo
echo "==================== fuzz.sh: ${seconds} s per target ===================="
for line in "${report[@]}"; do echo "$line"; done
echo "total: $((SECONDS - t0)) s"
if [ "$failed" -ne 0 ]; then
    echo "fuzz.sh: FAILED; logs, corpora and reproducers kept in $work"
    exit 1
fi
