#!/usr/bin/env bash
# The no-float proof of the int8 path: the integer forward passes of quantized twins
# (LeNet-5 and networks holding every other integer kernel), as `network! { #[quantize(..)]
# .. }` generates them, linked for thumbv6m-none-eabi (Cortex-M0+, no float unit). There
# the compiler has no float instructions: every float operation becomes a call of a
# compiler-builtins routine (`__aeabi_fmul`, `__aeabi_dadd`, `__aeabi_i2f`, `__addsf3`,
# ...). The program is linked from one entry point (`quant_forward`) with unused sections
# dropped, so what it holds is what the forward passes reach: none of those routines may
# be in it.
#
#   scripts/check-no-float.sh              # the proof (what CI runs)
#   scripts/check-no-float.sh --self-test  # also: a float multiply on the path must be found
#
# Adds the thumbv6m-none-eabi target if missing; needs llvm-nm (or the toolchain's, from the
# llvm-tools component). Builds go to target/no-float-check; about 2 minutes the first
# time, seconds after.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$root/quant/no-float-check"
tgt="$root/target/no-float-check"
target=thumbv6m-none-eabi
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET

self_test=0
for arg in "$@"; do
    case "$arg" in
        --self-test) self_test=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "check-no-float: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

step() { printf '==> no float: %s\n' "$*"; }
fail() {
    printf 'no-float check: FAILED: %s\n' "$*" >&2
    exit 1
}

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    step "adding the $target target"
    rustup target add "$target"
fi

nm=$(command -v llvm-nm || true)
if [ -z "$nm" ]; then
    sysroot=$(rustc --print sysroot)
    nm=$(ls "$sysroot"/lib/rustlib/*/bin/llvm-nm 2>/dev/null | head -n 1 || true)
fi
[ -n "$nm" ] || fail "llvm-nm not found (install LLVM or: rustup component add llvm-tools)"

# The same dependency versions as the workspace (the copy is git-ignored).
[ ! -f "$root/Cargo.lock" ] || cp "$root/Cargo.lock" "$pkg/Cargo.lock"

# Soft-float routines of compiler-builtins: arithmetic, comparisons, conversions.
float_re='__aeabi_(f|d)[a-z0-9]*|__aeabi_(i|ui|l|ul)2(f|d)|__(add|sub|mul|div|neg|pow)(s|d|t)f[23]|__(eq|ne|lt|le|gt|ge|un|cmp)(s|d)f2|__(fix|fixuns)(s|d)f[sdt]i|__float(un)?[sdt]i(s|d)f|__extendsfdf2|__truncdfsf2'

# Builds with the given features; prints the linked program's path.
build() {
    cargo build --quiet --manifest-path "$pkg/Cargo.toml" --target-dir "$tgt" --release --target "$target" \
        --config "target.$target.rustflags=['-C','link-arg=--entry=quant_forward','-C','link-arg=--gc-sections']" \
        "$@" >&2 || fail "no-float-check did not build for $target (rustup target add $target?)"
    echo "$tgt/$target/release/no-float-check"
}

# The float routines in a linked program, one per line.
floats_in() {
    "$nm" --defined-only "$1" | awk '{print $3}' | grep -E "^($float_re)$" || true
}

step "build the twins' integer forward passes for $target"
bin=$(build)
syms=$("$nm" --defined-only "$bin" | awk '{print $3}')
grep -qx quant_forward <<<"$syms" || fail "the entry point quant_forward is not in the program"
for kernel in conv2d linear depthwise requantize max_pool avg_pool QAdd QConcat; do
    grep -q "$kernel" <<<"$syms" || fail "the kernel '$kernel' is not in the program: the proof would prove nothing for it"
done
found=$(floats_in "$bin")
[ -z "$found" ] || fail "float routines in the integer path:
$found"
step "ok: $(wc -l <<<"$syms") symbols, the integer kernels among them, no float routine"

if [ "$self_test" -eq 1 ]; then
    step "self-test: one float multiply on the path must be found"
    bin=$(build --features control-float)
    found=$(floats_in "$bin")
    [ -n "$found" ] || fail "self-test: a float multiply on the path went unnoticed"
    step "self-test ok: found $(tr '\n' ' ' <<<"$found")"
fi
