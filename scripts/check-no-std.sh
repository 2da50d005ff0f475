#!/usr/bin/env bash
# The no_std proof: core and nn build and run with no std, no alloc and no allocator.
#
#   scripts/check-no-std.sh               # the proof (what CI runs)
#   scripts/check-no-std.sh --self-test   # also: the proof must fail when std or alloc is on
#   scripts/check-no-std.sh --no-cross    # skip the thumbv7em-none-eabihf build
#
# Steps:
#   1. features: no package in no-std-check's normal dependency graph has a feature named
#      `std` or `alloc` turned on (cargo tree; names the culprit).
#   2. host binary: no-std-check/ (no std, no alloc, no C runtime, no global allocator)
#      links and runs in release and debug, exit status 0; its training losses and the
#      outputs of its networks with weights embedded at compile time match the std build. Linking is itself a check,
#      which also catches a dependency that uses std without a feature: std in the graph
#      means a duplicate `panic_impl` lang item, alloc means "no global memory allocator
#      found".
#   3. lint: no-std-check is formatted and clippy-clean (it is outside the workspace).
#   4. cross: monograd-core and monograd-nn (and no-std-check's library) build for
#      thumbv7em-none-eabihf, a Cortex-M4F with no OS (the target is added with rustup).
#   --self-test: turns on `std`, then `alloc`, through no-std-check's negative-control
#      features and requires both steps 1 and 2 to fail, each for the expected reason.
#
# Builds go to target/no-std-check, apart from the workspace's own target dirs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

self_test=0
cross=1
for arg in "$@"; do
    case "$arg" in
        --self-test) self_test=1 ;;
        --no-cross) cross=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "check-no-std: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

pkg="$root/no-std-check"
manifest="$pkg/Cargo.toml"
tgt="$root/target/no-std-check"
cross_target=thumbv7em-none-eabihf
# The environment's target dir (CI's, a developer's) must not leak into these builds.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET

step() { printf '==> no_std: %s\n' "$*"; }
fail() {
    printf 'no_std check: FAILED: %s\n' "$*" >&2
    exit 1
}

# no-std-check is its own workspace; give it the main workspace's lockfile so that it
# builds the same dependency versions the tests do (cargo drops the entries it does not
# need). The copy is git-ignored.
[ ! -f "$root/Cargo.lock" ] || cp "$root/Cargo.lock" "$pkg/Cargo.lock"

# Lines "package|feature,feature" for every normal (non-build, non-proc-macro) dependency
# of no-std-check, with the given extra cargo arguments. Proc macros and what they depend
# on run in the compiler, on the host (include_weights! reads files with std).
features_in_graph() {
    cargo tree --manifest-path "$manifest" -e normal,no-proc-macro --prefix none --no-dedupe \
        -f '{p}|{f}' "$@" | grep -v '(proc-macro)' | sort -u
}

# Prints one line per package with a `std` or `alloc` feature on; empty if none.
forbidden_features() {
    features_in_graph "$@" | awk -F'|' '{
        n = split($2, fs, ",")
        for (i = 1; i <= n; i++)
            if (fs[i] == "std" || fs[i] == "alloc") printf "    %s: feature \"%s\"\n", $1, fs[i]
    }'
}

# 1. The feature graph.
step "features: no std or alloc feature anywhere in no-std-check's dependency graph"
graph=$(features_in_graph) || fail "cargo tree failed on no-std-check"
for crate in monograd-core monograd-nn; do
    grep -q "^$crate " <<<"$graph" || fail "$crate is missing from no-std-check's dependency graph"
done
bad=$(forbidden_features) || fail "cargo tree failed on no-std-check"
[ -z "$bad" ] || fail "std or alloc is on in no-std-check's dependency graph:
$bad"

# 2. The host binary.
for profile in release dev; do
    step "host binary ($profile): build no-std-check (no std, no alloc, no allocator, no C runtime)"
    cargo build --manifest-path "$manifest" --target-dir "$tgt" --profile "$profile" --bin no-std-check ||
        fail "no-std-check did not build in $profile (a duplicate \`panic_impl\` means std got in; \"no global memory allocator\" means alloc did)"
    dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
    step "host binary ($profile): run"
    status=0
    out=$("$tgt/$dir/no-std-check") || status=$?
    printf '%s\n' "$out"
    [ "$status" -eq 0 ] ||
        fail "no-std-check ($profile) exited with $status (codes: no-std-check/src/lib.rs, mod code; 101 is a panic)"
    if [ "$profile" = release ]; then
        no_std_final=$(printf '%s\n' "$out" | sed -n 's/.*training losses .* final=\([^ ]*\).*/\1/p')
        no_std_embedded=$(printf '%s\n' "$out" | sed -n 's/.*embedded outputs \(.*\)$/\1/p')
    fi
done

# 2b. The same training steps in the std build must end at the same loss (within 1e-5):
# tests/no_alloc_training.rs includes no-std-check/src/train.rs and compares.
[ -n "${no_std_final:-}" ] || fail "the no_std binary did not report its training losses"
step "std build of the same training steps: final loss must match the no_std build's ($no_std_final)"
(cd "$root" && MONOGRAD_NO_STD_FINAL_LOSS="$no_std_final" cargo test --quiet --test no_alloc_training -- --nocapture) ||
    fail "the std build of the training steps does not match the no_std build"

# 2c. The networks with embedded weights must compute the same outputs in the std build,
# which also checks them against the same files loaded at run time: tests/include_weights.rs
# includes no-std-check/src/embedded.rs.
[ -n "${no_std_embedded:-}" ] || fail "the no_std binary did not report its embedded networks' outputs"
step "std build of the embedded networks: outputs must match the no_std build's ($no_std_embedded)"
(cd "$root" && MONOGRAD_NO_STD_EMBEDDED="$no_std_embedded" cargo test --quiet --test include_weights -- --nocapture outputs_match_the_no_std_build) ||
    fail "the std build of the embedded networks does not match the no_std build"

# 3. Lint: no-std-check is outside the workspace, so the workspace's fmt and clippy miss it.
step "lint: cargo fmt --check, cargo clippy -D warnings (no-std-check is not in the workspace)"
cargo fmt --manifest-path "$manifest" -- --check || fail "no-std-check is not formatted (cargo fmt --manifest-path no-std-check/Cargo.toml)"
cargo clippy --manifest-path "$manifest" --target-dir "$tgt" --all-targets -- -D warnings ||
    fail "cargo clippy failed on no-std-check"

# 4. A bare-metal target.
if [ "$cross" = 1 ]; then
    step "cross: rustup target add $cross_target"
    if ! rustup target list --installed | grep -qx "$cross_target"; then
        rustup target add "$cross_target"
    fi
    step "cross: build monograd-core and monograd-nn --no-default-features --target $cross_target"
    cargo build --manifest-path "$root/Cargo.toml" --target-dir "$tgt" \
        -p monograd-core -p monograd-nn --no-default-features --target "$cross_target" ||
        fail "monograd-core or monograd-nn does not build for $cross_target"
    step "cross: build no-std-check's library --target $cross_target"
    cargo build --manifest-path "$manifest" --target-dir "$tgt" --release --lib --target "$cross_target" ||
        fail "no-std-check's library does not build for $cross_target"
fi

# --self-test: the negative controls.
if [ "$self_test" = 1 ]; then
    for control in std alloc; do
        # shellcheck disable=SC2016 # backticks are literal here
        case "$control" in
            std) expected='duplicate lang item `panic_impl`' ;;
            alloc) expected='no global memory allocator found' ;;
        esac
        step "self-test: with $control on (feature control-$control), the feature check must fail"
        bad=$(forbidden_features --features "control-$control") || fail "cargo tree failed on no-std-check"
        [ -n "$bad" ] || fail "self-test: the feature check did not notice $control"
        step "self-test: with $control on, the host binary must fail to build with: $expected"
        log=$(mktemp)
        if cargo check --manifest-path "$manifest" --target-dir "$tgt" --bin no-std-check \
            --features "control-$control" >"$log" 2>&1; then
            rm -f "$log"
            fail "self-test: no-std-check built with $control on"
        fi
        if ! grep -qF "$expected" "$log"; then
            cat "$log" >&2
            rm -f "$log"
            fail "self-test: with $control on, the build failed, but not with: $expected"
        fi
        rm -f "$log"
    done
fi

echo "no_std check: ok"
