#!/usr/bin/env bash
# Reports how the `cargo build --release` time of examples/tune_mlp.rs grows with the
# number of hidden widths it searches: each width is its own network type (`Mlp<W, W/2>`), so
# each candidate is compiled and shape-checked. The example is copied into a scratch
# crate with its width list (`[128, 256, 512]`, in the search space and in `with_const!`)
# replaced by N widths 32, 64, .., 32N; monograd and its dependencies are built first and
# not counted.
#
#   scripts/tune-compile-time.sh [N...]        (default: 1 2 4 8)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 2 4 8)
work="$(mktemp -d "${TMPDIR:-/tmp}/monograd-tune-compile-time.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$work/target"

cat > "$work/Cargo.toml" <<TOML
[package]
name = "tune-compile-time"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
monograd = { path = "$root", features = ["tune"] }

[workspace]
TOML
cp "$root/Cargo.lock" "$work/Cargo.lock" 2>/dev/null || true
mkdir -p "$work/src/common"
cp "$root/examples/common/mod.rs" "$work/src/common/mod.rs"

write_program() { # count
    local list
    list=$(seq -s ', ' 32 32 $((32 * $1)))
    sed "s/\[128, 256, 512\]/[$list]/g" "$root/examples/tune_mlp.rs" > "$work/src/main.rs"
    grep -q "\[$list\]" "$work/src/main.rs"
}

seconds() { # command... -> elapsed seconds with one decimal
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}'
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
echo "rustc: $(rustc --version)"
write_program 1
echo "building monograd and its dependencies (not counted)..."
(cd "$work" && cargo build --release --quiet)
for n in "${counts[@]}"; do
    write_program "$n"
    (cd "$work" && cargo clean --release -p tune-compile-time --quiet)
    clean=$(cd "$work" && seconds cargo build --release)
    echo "widths=$n clean_s=$clean"
done
