#!/usr/bin/env bash
# What `include_weights!` costs: `cargo build --release` time and binary size of a program
# whose network is embedded, against the same program without it (monograd and its
# dependencies are built first and not counted).
#
#   scripts/embed-cost.sh
#
# Networks: an MLP 784-128-64-10 from an F32 file and from an F16 file (widened by the
# compiler), and an MLP 784-1024-1024-10 from an F32 file. The program writes the files
# itself (seeded weights), then is rebuilt once per network after touching its source.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/monograd-embed-cost.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$work/target"

cat > "$work/Cargo.toml" <<TOML
[package]
name = "embed-cost"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
monograd = { path = "$root" }
safetensors = { version = "0.8", default-features = false, features = ["alloc"] }

[features]
mlp = []
mlp16 = []
big = []

[workspace]
TOML
cp "$root/Cargo.lock" "$work/Cargo.lock" 2>/dev/null || true
mkdir -p "$work/src"
cat > "$work/src/main.rs" <<'RUST'
use monograd::nn::serialize::safetensors as st;
use monograd::prelude::*;
use safetensors::tensor::TensorView;

network! {
    pub struct Mlp { input: [784], fc1: Linear<784, 128>, a1: ReLU, fc2: Linear<128, 64>, a2: ReLU, fc3: Linear<64, 10> }
}
network! {
    pub struct Big { input: [784], fc1: Linear<784, 1024>, a1: ReLU, fc2: Linear<1024, 1024>, a2: ReLU, fc3: Linear<1024, 10> }
}

#[cfg(feature = "mlp")]
static NET: Mlp = include_weights!(Mlp, "../mlp.safetensors");
#[cfg(feature = "mlp16")]
static NET: Mlp = include_weights!(Mlp, "../mlp16.safetensors");
#[cfg(feature = "big")]
static NET: Big = include_weights!(Big, "../big.safetensors");

/// binary16 nearest to `x` (ties to even); the weights here are small normal numbers.
fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let e = ((b >> 23) & 0xff) as i32 - 127 + 15;
    let man = b & 0x7f_ffff;
    if e <= 0 || e >= 0x1f {
        return sign; // not reached for these weights
    }
    let half = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    let r = if rem > 0x1000 || (rem == 0x1000 && half & 1 == 1) { half + 1 } else { half };
    sign | r as u16
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("write") {
        let mlp = Mlp::<f32>::new(&mut Rng::seed(0));
        st::save(&mlp, "mlp.safetensors").unwrap();
        let mut halves: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        mlp.visit(&monograd::core::module::Path::ROOT, &mut |t| {
            let bytes = t.values.iter().flat_map(|v| f16_bits(*v).to_le_bytes()).collect();
            halves.push((t.path.to_string(), t.shape.to_vec(), bytes));
        });
        let views: Vec<(String, TensorView<'_>)> = halves
            .iter()
            .map(|(n, s, b)| (n.clone(), TensorView::new(safetensors::Dtype::F16, s.clone(), b).unwrap()))
            .collect();
        std::fs::write("mlp16.safetensors", safetensors::serialize(views, None).unwrap()).unwrap();
        // Large: built on a thread with room for it on the stack.
        std::thread::Builder::new()
            .stack_size(1 << 26)
            .spawn(|| st::save(&*Box::new(Big::<f32>::new(&mut Rng::seed(0))), "big.safetensors").unwrap())
            .unwrap()
            .join()
            .unwrap();
        return;
    }
    #[cfg(any(feature = "mlp", feature = "mlp16"))]
    let mut state = Mlp::state::<Heap>();
    #[cfg(feature = "big")]
    let mut state = Big::state::<Heap>();
    #[cfg(any(feature = "mlp", feature = "mlp16", feature = "big"))]
    println!("{}", NET.forward(&[0.5; 784], &mut state).unwrap()[0]);
}
RUST

cd "$work"
echo "==> building monograd and its dependencies (not counted), writing the weights files"
cargo build --release --quiet
./target/release/embed-cost write
ls -l ./*.safetensors | awk '{ printf "    %s: %d bytes\n", $NF, $5 }'

build() { # features -> "seconds bytes"
    touch src/main.rs
    local start end
    start=$(date +%s.%N)
    cargo build --release --quiet ${1:+--features "$1"}
    end=$(date +%s.%N)
    printf '%s %s\n' "$(echo "$end - $start" | bc)" "$(stat -c %s target/release/embed-cost)"
}
# Once each first, so that only the program's crate is rebuilt below.
for f in "" mlp mlp16 big; do cargo build --release --quiet ${f:+--features "$f"}; done
read -r base_s base_b <<<"$(build "")"
printf '| network | build time added (s) | binary size added (bytes) |\n| --- | ---: | ---: |\n'
for f in mlp mlp16 big; do
    read -r s b <<<"$(build "$f")"
    printf '| %s | %.1f | %d |\n' "$f" "$(echo "$s - $base_s" | bc)" "$((b - base_b))"
done
printf '(without embedding: %.1f s, %d bytes)\n' "$base_s" "$base_b"
