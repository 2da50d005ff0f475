#!/usr/bin/env bash
# monograd on a microcontroller: firmware/ built for a Cortex-M4F (thumbv7em-none-eabihf)
# and run under QEMU's mps2-an386 board.
#
#   scripts/check-firmware.sh             # setup, lint, build (opt-level "s"), run, checks
#   scripts/check-firmware.sh --measure   # also build at "z" and 3 and print the figures
#                                         # table of docs/EMBEDDED.md
#
# Steps:
#   1. setup: the rustup target and llvm-tools, and qemu-system-arm (from Debian's
#      bookworm-backports suite, the same mirror the system's apt sources name, since a
#      newer qemu-utils from there may be installed and the stock package conflicts with
#      it), each only if missing; apt runs as root or through sudo.
#   2. lint: firmware/ is formatted and clippy-clean (it is outside the workspace).
#   3. build: every binary; the compile-time budgets (`assert_budget!`) and memory.x (an
#      nRF52840's 1 MiB of flash and 256 KiB of RAM) fail the build when exceeded.
#   4. run: every binary under `qemu-system-arm -machine mps2-an386 -cpu cortex-m4
#      -semihosting-config enable=on,target=native -icount shift=0`, with a timeout; each
#      must exit 0 and print "<name>: ok" (its checks against the host's values passed).
#   5. symbols: the inference firmware (sine, sine_int8, lenet_int8) links no `core::fmt`.
#   6. budget: the sine firmware within a quarter of MicroFlow's flash (34.3 kB) and a fifth
#      of its RAM (5.3 kB) for the same model; the int8 LeNet-5 firmware, with its test
#      digits, within 256 KiB of flash and 64 KiB of RAM. RAM counts the statics and the
#      stack's peak.
#   --measure: steps 3-4 at opt-levels "z" and 3 too, the table, and the check that "s"
#      and "z" take at most 1.5 times the instructions of 3 per inference (or training
#      step), for every binary.
#
# Builds go to target/firmware (or $FIRMWARE_TARGET_DIR), apart from the workspace's.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

measure=0
for arg in "$@"; do
    case "$arg" in
        --measure) measure=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "check-firmware: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

pkg="$root/firmware"
manifest="$pkg/Cargo.toml"
tgt="${FIRMWARE_TARGET_DIR:-$root/target/firmware}"
target=thumbv7em-none-eabihf
bins=(sine sine_int8 train lenet_int8)
# MicroFlow's figures for the sine model on an nRF52840 (flash, RAM in bytes), and the
# fractions of them the sine firmware must stay within.
microflow_flash=34300
microflow_ram=5300
# The int8 LeNet-5 firmware's part: 256 KiB of flash and 64 KiB of RAM, test digits included.
lenet_flash=$((256 * 1024))
lenet_ram=$((64 * 1024))
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET

step() { printf '==> firmware: %s\n' "$*"; }
fail() {
    printf 'firmware check: FAILED: %s\n' "$*" >&2
    exit 1
}

# 1. Setup.
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
apt_get() { "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 "$@"; }
# The URI of Debian's main archive as this machine's apt sources name it (deb822 or
# one-line format).
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

step "setup: rust target $target, llvm-tools, qemu-system-arm"
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
tools="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
[ -x "$tools/llvm-size" ] || rustup component add llvm-tools
[ -x "$tools/llvm-size" ] || fail "llvm-size is missing from $tools after adding llvm-tools"
if ! command -v qemu-system-arm >/dev/null; then
    uri=$(debian_uri)
    if [ -n "$uri" ]; then
        list=$(mktemp)
        echo "deb $uri bookworm-backports main" >"$list"
        echo "apt: qemu-system-arm from bookworm-backports ($uri)"
        apt_get update -qq -o Dir::Etc::sourcelist="$list"
        # `-t` takes qemu-system-arm's dependencies (qemu-system-common, -data) from the
        # same suite, matching the qemu-utils already there.
        apt_get install -y -qq --no-install-recommends -o Dir::Etc::sourcelist="$list" \
            -t bookworm-backports qemu-system-arm
        rm -f "$list"
    else
        apt_get update -qq
        apt_get install -y -qq --no-install-recommends --no-remove qemu-system-arm
    fi
fi
echo "qemu: $(qemu-system-arm --version | head -n1)"

# firmware/ is its own workspace; give it the main workspace's lockfile so that it builds
# the same versions of what they share (the copy is git-ignored).
[ ! -f "$root/Cargo.lock" ] || cp "$root/Cargo.lock" "$pkg/Cargo.lock"

# Cargo reads firmware/.cargo/config.toml (the target, the linker script) only when run
# from inside firmware/.
cd "$pkg"

# 2. Lint.
step "lint: cargo fmt --check, cargo clippy -D warnings"
cargo fmt --manifest-path "$manifest" -- --check || fail "firmware/ is not formatted (cargo fmt --manifest-path firmware/Cargo.toml)"
cargo clippy --manifest-path "$manifest" --target-dir "$tgt" --release -- -D warnings || fail "cargo clippy failed on firmware/"

# Sizes of an ELF: "flash ram" in bytes (flash: code, read-only data and the initial
# values of .data; RAM: .data, .bss and .uninit).
sizes() {
    "$tools/llvm-size" -A "$1" | awk '
        $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 == ".bss" || $1 == ".uninit" { ram += $2 }
        END { print flash + 0, ram + 0 }'
}

# field NAME OUTPUT: the value of NAME=... in a binary's output.
field() { sed -En "s/.*[ :]$1=//p" <<<"$2" | cut -d' ' -f1 | tail -n1; }

declare -A result
# build_and_run PROFILE LABEL: builds every binary in PROFILE, runs each, records figures.
build_and_run() {
    local profile="$1" label="$2" bin elf out status flash ram
    step "build ($label): cargo build --profile $profile"
    cargo build --manifest-path "$manifest" --target-dir "$tgt" --profile "$profile" ||
        fail "firmware/ did not build at opt-level $label (an over-budget model fails here, naming the budget)"
    for bin in "${bins[@]}"; do
        elf="$tgt/$target/$profile/$bin"
        step "run ($label): $bin under qemu-system-arm -machine mps2-an386"
        status=0
        out=$(timeout 300 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
            -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf") || status=$?
        printf '%s\n' "$out"
        [ "$status" -eq 0 ] || fail "$bin ($label) exited with status $status (124: the timeout)"
        grep -qx "$bin: ok" <<<"$out" || fail "$bin ($label) did not report ok"
        read -r flash ram < <(sizes "$elf")
        result[$bin,$label,flash]=$flash
        result[$bin,$label,ram]=$ram
        result[$bin,$label,stack]=$(field stack_peak_bytes "$out")
        result[$bin,$label,insns]=$(field "instructions_per_(inference|step)" "$out")
    done
}

# 3, 4.
build_and_run release s

# 5. Symbols.
step "symbols: no core::fmt in the inference firmware (sine, sine_int8, lenet_int8)"
for bin in sine sine_int8 lenet_int8; do
    fmt_syms=$("$tools/llvm-nm" -C "$tgt/$target/release/$bin" | grep -E 'core::fmt' || true)
    [ -z "$fmt_syms" ] || fail "the $bin firmware links core::fmt:
$fmt_syms"
done
echo "sine, sine_int8, lenet_int8: no core::fmt symbols; train (whose optimizer hashes tensor names through core::fmt::Write): $("$tools/llvm-nm" -C "$tgt/$target/release/train" | grep -c 'core::fmt' || true)"

# 6. The budget against MicroFlow's figures for the same model.
flash=${result[sine,s,flash]}
ram=$((result[sine,s,ram] + result[sine,s,stack]))
step "budget: sine at opt-level s: flash $flash B (at most $((microflow_flash / 4))), RAM $ram B (at most $((microflow_ram / 5)))"
[ "$flash" -le $((microflow_flash / 4)) ] || fail "the sine firmware takes $flash bytes of flash, over a quarter of MicroFlow's $microflow_flash"
[ "$ram" -le $((microflow_ram / 5)) ] || fail "the sine firmware takes $ram bytes of RAM, over a fifth of MicroFlow's $microflow_ram"
flash=${result[lenet_int8,s,flash]}
ram=$((result[lenet_int8,s,ram] + result[lenet_int8,s,stack]))
step "budget: lenet_int8 at opt-level s: flash $flash B (at most $lenet_flash), RAM $ram B (at most $lenet_ram)"
[ "$flash" -le "$lenet_flash" ] || fail "the lenet_int8 firmware takes $flash bytes of flash, over $lenet_flash"
[ "$ram" -le "$lenet_ram" ] || fail "the lenet_int8 firmware takes $ram bytes of RAM, over $lenet_ram"

if [ "$measure" = 1 ]; then
    build_and_run release-z z
    build_and_run release-o3 3
    step "figures (flash and static RAM from llvm-size; stack by painting; instructions under -icount)"
    echo "| binary | opt-level | flash (B) | static RAM (B) | stack peak (B) | instructions per inference or step |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
    for bin in "${bins[@]}"; do
        for label in s z 3; do
            echo "| $bin | \"$label\" | ${result[$bin,$label,flash]} | ${result[$bin,$label,ram]} | ${result[$bin,$label,stack]} | ${result[$bin,$label,insns]} |"
        done
    done
    over=()
    for bin in "${bins[@]}"; do
        o3=${result[$bin,3,insns]}
        for label in s z; do
            n=${result[$bin,$label,insns]}
            ratio=$(awk -v n="$n" -v d="$o3" 'BEGIN { printf "%.2f", n / d }')
            step "$bin: opt-level $label takes $n instructions per inference or step, 3 takes $o3: ${ratio}x (at most 1.5x)"
            [ $((2 * n)) -le $((3 * o3)) ] || over+=("$bin at opt-level $label: ${ratio}x")
        done
    done
    [ "${#over[@]}" -eq 0 ] || fail "over 1.5 times opt-level 3's instructions: $(IFS=';'; echo "${over[*]}")"
fi

echo "firmware check: ok"
