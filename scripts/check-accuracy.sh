#!/usr/bin/env bash
# Runs an example in release mode and fails unless the last line it prints is
# `test_accuracy=X` with X at least the bar.
#
#   scripts/check-accuracy.sh EXAMPLE BAR [-- EXAMPLE_ARGS...]
#   scripts/check-accuracy.sh mnist_cnn 0.97 -- --seed 0
#
# The example's whole output is shown as it runs (the progress bar is off when output is
# not a terminal and in CI; one line per epoch stays). Exit status: 0 if the accuracy meets
# the bar, 1 if it does not or the last line is not `test_accuracy=...`, or the example's
# own status if it fails.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi
example="$1"
bar="$2"
shift 2
if [ "${1:-}" = "--" ]; then shift; fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

cargo run --release --example "$example" -- "$@" | tee "$log"

last="$(tail -n 1 "$log")"
case "$last" in
    test_accuracy=*) ;;
    *)
        echo "check-accuracy: $example: expected its last line to be test_accuracy=..., found: '$last'" >&2
        exit 1
        ;;
esac
accuracy="${last#test_accuracy=}"
if awk -v a="$accuracy" -v b="$bar" 'BEGIN { exit !(a ~ /^[0-9.]+$/ && a + 0 >= b + 0) }'; then
    echo "check-accuracy: $example: test accuracy $accuracy meets the bar $bar"
else
    echo "check-accuracy: $example: test accuracy $accuracy is below the bar $bar" >&2
    exit 1
fi
