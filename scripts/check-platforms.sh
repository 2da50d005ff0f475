#!/usr/bin/env bash
# monograd on the platforms a Rust user ships to: cross builds, and tests run under
# emulators (docs/PLATFORMS.md has the table and the reasons for each choice).
#
#   scripts/check-platforms.sh                 # everything: setup, then every check
#   scripts/check-platforms.sh aarch64 wasm    # setup, then only the named checks
#   scripts/check-platforms.sh --no-setup ...  # assume the tools are there
#   scripts/check-platforms.sh --full aarch64  # every test of the workspace on aarch64
#
# Checks (names for the command line):
#   aarch64   core's and nn's lib tests (nn with every feature), release, built for
#             aarch64-unknown-linux-gnu and run under qemu-aarch64 (the NEON kernels,
#             checked against the portable loops over every tile edge); with --full,
#             every test of the workspace (unit, integration, doc) but the
#             compile-fail cases
#   s390x     big-endian: the serialization and data tests (safetensors, checkpoints,
#             IDX, include_weights!) and core's embed/half and nn's serialize/data/init
#             lib tests, release, on s390x-unknown-linux-gnu under qemu-s390x, reading
#             fixtures written on x86-64
#   wasm      core, nn and the facade build for wasm32-unknown-unknown (no_std) and
#             wasm32-wasip1 (std); core's and nn's lib tests and the quickstart example
#             run on wasm32-wasip1 under wasmtime (the `wasmtime` Python package); and
#             core's GEMM tests again built with simd128 (its kernels against the
#             portable loops, bit for bit)
#   features  `cargo check` of every feature combination of the facade, nn and core,
#             and tests of the main combinations
#   no_std    core, nn and the facade (no default features) build for thumbv6m-none-eabi (Cortex-M0:
#             no FPU, no atomics), thumbv7em-none-eabihf and riscv32imac-unknown-none-elf
#
# Setup installs what a fresh machine lacks, and nothing it has: rustup targets; from apt,
# the cross C toolchains (linkers and C libraries for aarch64 and s390x) and qemu-user
# (from Debian's backports suite, since a newer qemu-utils from there may be installed and
# the stock package conflicts with it); a Python virtual environment with wasmtime in
# target/platforms/venv. It runs apt only as root or through sudo.
#
# Builds go to $CARGO_TARGET_DIR (default: target/), under one directory per target triple,
# so they do not disturb native builds. Runners are given through CARGO_TARGET_*_RUNNER
# variables for these cargo commands only; nothing is written to .cargo/config.toml.
# Ends with a summary: each check, ok or FAILED, and its elapsed seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_checks=(aarch64 s390x wasm features no_std)
setup=1
full=0
checks=()
for arg in "$@"; do
    case "$arg" in
        --no-setup) setup=0 ;;
        --full) full=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        aarch64 | s390x | wasm | features | no_std) checks+=("$arg") ;;
        *)
            echo "check-platforms: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done
[ "${#checks[@]}" -gt 0 ] || checks=("${all_checks[@]}")

export CARGO_INCREMENTAL=0
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
venv="$root/target/platforms/venv"
# The wasmtime release the runner was written against (its Python API is stable across
# releases, but a pin keeps runs reproducible).
wasmtime_version="50.0.1"

run_start=$SECONDS
summary=()
current=""
failed=0

on_exit() {
    status=$?
    echo
    echo "==================== platforms summary ===================="
    for line in "${summary[@]}"; do echo "$line"; done
    if [ "$status" -ne 0 ] && [ -n "$current" ]; then
        printf 'FAILED  %-52s (exit status %d)\n' "$current" "$status"
    fi
    if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
        echo "platforms: FAILED"
    else
        echo "platforms: ok"
    fi
    printf 'total: %ds\n' "$((SECONDS - run_start))"
}
trap on_exit EXIT

# part NAME COMMAND...: one line of the summary; a failure is recorded and the next part
# runs (so that one run shows every broken platform), and the script's status is 1.
part() {
    local name="$1"
    shift
    current="$name"
    echo
    echo "==================== platforms: $name ===================="
    local t0=$SECONDS status=0
    # In a background subshell, so that `set -e` holds inside it (bash ignores it in
    # anything run on the left of `||`) and a failing command ends the part.
    (
        set -e
        "$@"
    ) &
    wait $! || status=$?
    local dt=$((SECONDS - t0))
    if [ "$status" -eq 0 ]; then
        summary+=("$(printf 'ok      %-52s %5ds' "$name" "$dt")")
    else
        summary+=("$(printf 'FAILED  %-52s %5ds (status %d)' "$name" "$dt" "$status")")
        failed=1
    fi
    current=""
}

# ---------------------------------------------------------------------------------------
# Setup

as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
# Waits for another apt or dpkg run to finish rather than failing at once.
apt_get() { "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        apt_get update -qq
        apt_updated=1
    fi
}

# The URI of Debian's main archive as this machine's apt sources name it (deb822 or
# one-line format), so that the backports suite comes from the same mirror.
debian_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f"
    done | head -n1
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f"
    done | head -n1
}

setup_rust_targets() {
    local wanted=(aarch64-unknown-linux-gnu s390x-unknown-linux-gnu wasm32-unknown-unknown
        wasm32-wasip1 thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)
    local installed missing=() t
    installed=$(rustup target list --installed)
    for t in "${wanted[@]}"; do
        grep -qx "$t" <<<"$installed" || missing+=("$t")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "rustup target add ${missing[*]}"
        rustup target add "${missing[@]}"
    else
        echo "rust targets: all present"
    fi
}

setup_apt() {
    local missing=() pkg
    command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
    [ -d /usr/aarch64-linux-gnu/lib ] || missing+=(libc6-dev-arm64-cross)
    command -v s390x-linux-gnu-gcc >/dev/null || missing+=(gcc-s390x-linux-gnu)
    [ -d /usr/s390x-linux-gnu/lib ] || missing+=(libc6-dev-s390x-cross)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "apt: installing ${missing[*]}"
        apt_update
        apt_get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "apt: cross linkers and C libraries present"
    fi
    if command -v qemu-aarch64 >/dev/null && command -v qemu-s390x >/dev/null; then
        echo "apt: qemu-user present ($(qemu-aarch64 --version | head -n1))"
        return
    fi
    # From Debian's backports suite, through a temporary sources file naming the mirror
    # already configured: machines of this kind have a newer qemu-utils from there, which
    # the stock packages of the same source conflict with. Where there is no Debian
    # mirror, the distribution's own qemu-user.
    local uri list
    uri=$(debian_uri)
    if [ -n "$uri" ]; then
        list=$(mktemp)
        echo "deb $uri bookworm-backports main" >"$list"
        echo "apt: qemu-user from bookworm-backports ($uri)"
        apt_get update -qq -o Dir::Etc::sourcelist="$list"
        apt_get install -y -qq --no-install-recommends -o Dir::Etc::sourcelist="$list" \
            qemu-user/bookworm-backports
        rm -f "$list"
    else
        apt_update
        apt_get install -y -qq --no-install-recommends --no-remove qemu-user
    fi
}

setup_wasmtime() {
    if "$venv/bin/python" -c 'import wasmtime' >/dev/null 2>&1; then
        echo "wasmtime: present ($("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("wasmtime"))'))"
        return
    fi
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_update
        apt_get install -y -qq --no-install-recommends python3 python3-venv
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "wasmtime==$wasmtime_version"
}

if [ "$setup" = 1 ]; then
    part "setup: rustup targets" setup_rust_targets
    part "setup: apt (cross linkers, qemu-user)" setup_apt
    part "setup: wasmtime (Python venv)" setup_wasmtime
    [ "$failed" = 0 ] || exit 1
fi

# ---------------------------------------------------------------------------------------
# Checks

# Linkers and runners for the emulated Linux targets; only the cargo commands below see
# them. qemu-user's -L gives the target's dynamic loader and C library from the cross
# packages.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_LINKER=s390x-linux-gnu-gcc
export CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_RUNNER="qemu-s390x -L /usr/s390x-linux-gnu"
export CARGO_TARGET_WASM32_WASIP1_RUNNER="$venv/bin/python $root/scripts/wasi-run.py"

# Tests run in release under emulation: QEMU and wasmtime run debug builds' tests many
# times slower, while building in release costs about as much.
aarch64_tests() {
    if [ "$full" = 1 ]; then
        # The compile-fail cases test rustc's messages on the host, not the target. Every
        # test binary runs, whatever fails before it.
        cargo test --release --target aarch64-unknown-linux-gnu --workspace --exclude monograd-ui-tests \
            --no-fail-fast
    else
        cargo test --release --target aarch64-unknown-linux-gnu \
            -p monograd-core -p monograd-nn --features monograd-nn/train,monograd-nn/safetensors,monograd-nn/parallel --lib
    fi
}

# The serialization and data tests through the facade (its default features: std, data,
# safetensors, train), and nn's own serialize and data tests. The fixtures in tests/ were
# written on x86-64; the files the tests write are read back on the same target.
s390x_tests() {
    cargo test --release --target s390x-unknown-linux-gnu \
        --test serialize_errors --test serialize_memory --test serialize_torch \
        --test checkpoint --test checkpoint_memory --test data_errors --test include_weights
    # Lib tests: embedding's readers (core::embed, core::half), nn's file formats, and
    # the seeded initialisation's pinned fingerprints (bits, whatever the byte order).
    cargo test --release --target s390x-unknown-linux-gnu -p monograd-core --lib -- embed:: half::
    cargo test --release --target s390x-unknown-linux-gnu -p monograd-nn --features train,safetensors,parallel --lib -- \
        serialize:: data:: init::
}

wasm_unknown_build() {
    cargo build --release --target wasm32-unknown-unknown \
        -p monograd-core -p monograd-nn -p monograd --no-default-features
}

# Every feature but `train`: the training loop's charts use plotters 0.3.7, whose font
# code has no backend on wasm32-wasip1 with the `ab_glyph` feature (its cfgs turn off both
# the ab_glyph backend and the fallback there), so `train` does not build for WASI.
wasm_wasi_build() {
    cargo build --release --target wasm32-wasip1 -p monograd-core -p monograd-nn -p monograd \
        --no-default-features --features monograd/std,monograd/data,monograd/safetensors
}

wasm_wasi_tests() {
    cargo test --release --target wasm32-wasip1 -p monograd-core -p monograd-nn --lib
    cargo run --release --target wasm32-wasip1 --no-default-features --features std --example quickstart
}

# Every combination of features a user can ask for, each named once: the combinations of
# a package's own features, merged when they turn on the same set (`train` implies `data`,
# which implies `std`, which implies `alloc`). Computed from the manifests, so a new
# feature joins the matrix by itself. Prints "PACKAGE FEATURES" lines.
# The simd128 build (`-C target-feature=+simd128`): core's GEMM tests, which check its
# microkernels and dot products against the portable loops bit for bit, in a target
# directory of its own (other flags, other artifacts). The flags go through RUSTFLAGS,
# which with --target reach only the target's crates; the simd128 kernels' own tests
# exist only in a build with simd128, so finding them in the output proves it was one.
wasm_simd128_tests() {
    local log status=0
    log=$(mktemp)
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" CARGO_TARGET_DIR="$target_dir/wasm-simd128" \
        cargo test --release --target wasm32-wasip1 -p monograd-core --lib -- kernels::gemm 2>&1 | tee "$log" ||
        status=$?
    if [ "$status" = 0 ] && ! grep -q "simd128_is_the_portable_loop_bit_for_bit ... ok" "$log"; then
        echo "check-platforms: the simd128 kernels' tests did not run (was simd128 on?)" >&2
        status=1
    fi
    rm -f "$log"
    return "$status"
}

feature_combinations() {
    cargo metadata --no-deps --format-version 1 | python3 -c '
import itertools, json, sys
meta = json.load(sys.stdin)
for name in sys.argv[1:]:
    feats = next(p for p in meta["packages"] if p["name"] == name)["features"]
    own = sorted(f for f in feats if f != "default")
    def closure(chosen):
        out, todo = set(), list(chosen)
        while todo:
            f = todo.pop()
            if f not in out:
                out.add(f)
                todo += [g for g in feats[f] if g in feats]
        return frozenset(out)
    named = {}
    for r in range(len(own) + 1):
        for chosen in itertools.combinations(own, r):
            named.setdefault(closure(chosen), chosen)
    for chosen in named.values():
        print(name, ",".join(chosen) or "-")
' "$@"
}

features_check() {
    local pkg feats n=0
    while read -r pkg feats; do
        [ "$feats" = - ] && feats=""
        echo "--- cargo check -p $pkg --no-default-features --features '$feats'"
        cargo check --quiet -p "$pkg" --no-default-features --features "$feats"
        n=$((n + 1))
    done < <(feature_combinations monograd monograd-nn monograd-core)
    echo "feature combinations checked: $n"
}

# Tests of the main combinations, beyond the defaults `cargo test --workspace` runs: core
# with no heap (math through libm: the embedded case; nn's tests need the gradient-check
# helpers, which need `alloc`), core and nn with `alloc` only (libm, the tape, no files),
# and the facade with `safetensors` but neither `data` nor `train` (an application that
# loads weights and runs a network). Inference without std or alloc is also run by
# scripts/check-no-std.sh.
features_tests() {
    cargo test --quiet -p monograd-core --no-default-features --lib
    cargo test --quiet -p monograd-core -p monograd-nn --no-default-features --features alloc --lib
    cargo test --quiet -p monograd --no-default-features --features safetensors \
        --test serialize_errors --test serialize_torch --test include_weights
}

no_std_builds() {
    local t
    for t in thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf; do
        echo "--- $t"
        cargo build --release --target "$t" -p monograd-core -p monograd-nn -p monograd --no-default-features
    done
}

for check in "${checks[@]}"; do
    case "$check" in
        aarch64)
            part "aarch64: core+nn lib tests (qemu-aarch64, release)" aarch64_tests
            ;;
        s390x)
            part "s390x: serialization+data tests (qemu-s390x, release)" s390x_tests
            ;;
        wasm)
            part "wasm32-unknown-unknown: core, nn, facade (no_std)" wasm_unknown_build
            part "wasm32-wasip1: core, nn, facade (std)" wasm_wasi_build
            part "wasm32-wasip1: core+nn lib tests, quickstart (wasmtime)" wasm_wasi_tests
            part "wasm32-wasip1 +simd128: core's GEMM tests (wasmtime)" wasm_simd128_tests
            ;;
        features)
            part "features: cargo check of every combination" features_check
            part "features: tests of the main combinations" features_tests
            ;;
        no_std)
            part "no_std: thumbv6m, thumbv7em, riscv32imac builds" no_std_builds
            ;;
    esac
done
[ "$failed" = 0 ]
