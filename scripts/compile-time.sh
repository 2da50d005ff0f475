#!/usr/bin/env bash
# Reports `cargo build --release` time of a program with an N-layer network from
# `network!`: clean (the program's crate only; monograd and its dependencies are built
# first and not counted), then after a one-line change.
#
#   scripts/compile-time.sh [LAYERS...]        (default: 20 60)
#
# Each layer is `Linear<64, 64>` followed by `ReLU`; the program runs one training step so
# that forward, backward and the optimizer are all instantiated.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(20 60)
work="$(mktemp -d "${TMPDIR:-/tmp}/monograd-compile-time.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$work/target"

cat > "$work/Cargo.toml" <<TOML
[package]
name = "compile-time"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
monograd = { path = "$root" }

[workspace]
TOML
cp "$root/Cargo.lock" "$work/Cargo.lock" 2>/dev/null || true
mkdir -p "$work/src"

write_program() { # layers marker
    local n=$1 marker=$2
    {
        echo "use monograd::prelude::*;"
        echo "network! {"
        echo "    pub struct Deep {"
        echo "        input: [64],"
        for i in $(seq 1 "$n"); do
            echo "        fc$i: Linear<64, 64>,"
            echo "        act$i: ReLU,"
        done
        echo "    }"
        echo "}"
        echo "fn main() -> Result<(), ShapeError> {"
        echo "    let mut net = Deep::new(&mut Rng::seed(0));"
        echo "    let mut grad = Deep::default();"
        echo "    let mut state = Deep::state::<Heap>();"
        echo "    let x = [0.5f32; 8 * 64];"
        echo "    let y = net.forward_train(&x, &mut state)?.to_vec();"
        echo "    net.backward(&x, &y, &mut grad, &mut state)?;"
        echo "    Sgd::new(0.01).step(&mut net, &grad);"
        echo "    println!(\"$marker {}\", net.forward(&x, &mut state)?[0]);"
        echo "    Ok(())"
        echo "}"
    } > "$work/src/main.rs"
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
write_program 1 warmup
echo "building monograd and its dependencies (not counted)..."
(cd "$work" && cargo build --release --quiet)
for n in "${layers[@]}"; do
    write_program "$n" before
    (cd "$work" && cargo clean --release -p compile-time --quiet)
    clean=$(cd "$work" && seconds cargo build --release)
    write_program "$n" after
    change=$(cd "$work" && seconds cargo build --release)
    (cd "$work" && cargo run --release --quiet >/dev/null) # it must also run
    echo "layers=$n clean_s=$clean one_line_change_s=$change"
done
