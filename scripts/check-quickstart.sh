#!/usr/bin/env bash
# Builds and runs every Rust code block of the README, as a user who copies it would.
#
#   scripts/check-quickstart.sh [--release] [MARKDOWN_FILE]    (default: README.md)
#
# Every fenced block whose info string starts with `rust` (```rust, ~~~rust, ```rust,no_run)
# becomes one binary, src/bin/block_N.rs, of a scratch crate outside the workspace (a fresh
# directory under ${TMPDIR:-/tmp}) that depends on `monograd = { path = <repo> }` and
# nothing else. Rules, as rustdoc has them:
#   - rust,ignore and rust,compile_fail blocks are skipped; any other language
#     (```text, ```sh, no info string) is not Rust and is skipped;
#   - rust,no_run blocks are built, not run; rust,should_panic blocks must exit nonzero;
#   - a block without `fn main` is wrapped in `fn main() { ... }` (its leading `#![...]`
#     attributes stay outside); if it ends with `Ok::<(), E>(())` it may use `?`;
#   - lines starting with `# ` are hidden in rustdoc but compiled: the `# ` is dropped.
# All blocks are built at once (on failure, one by one, to name the broken ones), then run
# in order. Fails if any block does not build or exits nonzero, naming the block, its line
# in the file and its first line.
#
# Builds share the workspace's target dir ($CARGO_TARGET_DIR, else <repo>/target) and
# lockfile, so monograd itself is not compiled again. The scratch crate is deleted on
# success and kept (its path printed) on failure.
set -euo pipefail

caller_dir="$(pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

profile=dev
file=""
for arg in "$@"; do
    case "$arg" in
        --release) profile=release ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "check-quickstart: unknown option '$arg' (try --help)" >&2
            exit 2
            ;;
        *)
            [ -z "$file" ] || {
                echo "check-quickstart: one file at a time" >&2
                exit 2
            }
            file="$arg"
            ;;
    esac
done
if [ -z "$file" ]; then
    file="$root/README.md"
elif [ "${file#/}" = "$file" ]; then
    file="$caller_dir/$file"
fi
[ -f "$file" ] || {
    echo "check-quickstart: no such file: $file" >&2
    exit 2
}
name="$(basename "$file")"
# rustup picks the toolchain from the directory cargo runs in: run from the repository, so
# that its rust-toolchain.toml applies (the scratch crate also gets a copy).
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
bin_dir="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo release)"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/monograd-quickstart.XXXXXX")"
ok=0
cleanup() {
    if [ "$ok" = 1 ]; then
        # The block binaries are specific to this scratch crate: do not let them pile up.
        cargo clean --manifest-path "$scratch/Cargo.toml" -p readme-quickstart --profile "$profile" -q 2>/dev/null || true
        rm -rf "$scratch"
    else
        echo "check-quickstart: scratch crate kept in $scratch" >&2
    fi
}
trap cleanup EXIT

fail() {
    printf 'quickstart check: FAILED: %s\n' "$*" >&2
    exit 1
}

# --- Extract the blocks ---------------------------------------------------------------
# Writes $scratch/blocks/N.rs and one line per block to $scratch/blocks/index:
#   N<TAB>line of the opening fence<TAB>mode (run, build, panic, skip:<why>)<TAB>info string
mkdir -p "$scratch/blocks" "$scratch/src/bin"
awk -v dir="$scratch/blocks" '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    !inblock && match($0, /^[ \t]*(```+|~~~+)/) {
        mlen = RLENGTH
        match($0, /[`~]/)
        indent = RSTART - 1
        fence = substr($0, indent + 1, mlen - indent)
        info = trim(substr($0, mlen + 1))
        # A backtick fence cannot have backticks in its info string (CommonMark).
        if (substr(fence, 1, 1) == "`" && index(info, "`")) next
        inblock = 1; start = NR
        n_tok = split(tolower(info), tok, /[, \t]+/)
        lang = (n_tok > 0) ? tok[1] : ""
        isrust = (lang == "rust")
        if (isrust) {
            mode = "run"
            for (i = 2; i <= n_tok; i++) {
                if (tok[i] == "ignore") mode = "skip:ignore"
                else if (tok[i] == "compile_fail" && mode !~ /^skip/) mode = "skip:compile_fail"
                else if (tok[i] == "no_run" && mode == "run") mode = "build"
                else if (tok[i] == "should_panic" && mode == "run") mode = "panic"
            }
            nblock++
            out = dir "/" nblock ".rs"
            printf "" > out
            printf "%d\t%d\t%s\t%s\n", nblock, start, mode, info > (dir "/index")
        }
        next
    }
    inblock {
        line = $0
        closing = line
        sub(/^[ \t]*/, "", closing)
        if (index(closing, fence) == 1 && closing ~ ("^" substr(fence, 1, 1) "+[ \t]*$") && length(trim(closing)) >= length(fence)) {
            if (isrust) close(out)
            inblock = 0; isrust = 0
            next
        }
        if (isrust) {
            # Remove the fence indentation from content lines (CommonMark).
            for (i = 0; i < indent && substr(line, 1, 1) == " "; i++) line = substr(line, 2)
            print line > out
        }
    }
    END {
        if (inblock) { printf "unclosed code fence opened at line %d\n", start > "/dev/stderr"; exit 3 }
        if (nblock == 0) printf "" > (dir "/index")
    }
' "$file" || fail "could not parse $name"

# The first non-blank line of a block, for messages.
first_line() { grep -m1 -v '^[[:space:]]*$' "$1" | sed 's/^[[:space:]]*//' || true; }

# --- Turn blocks into binaries ---------------------------------------------------------
checked=()  # "N line mode"
while IFS=$'\t' read -r n line mode info; do
    src="$scratch/blocks/$n.rs"
    case "$mode" in
        skip:*)
            printf '==> quickstart: block %d (%s:%d, ```%s): skipped (%s)\n' "$n" "$name" "$line" "$info" "${mode#skip:}"
            continue
            ;;
    esac
    # rustdoc's hidden lines: "# code" compiles as "code", "#" alone as an empty line,
    # "##..." as "#...".
    sed -E 's/^([[:space:]]*)# /\1/; t; s/^([[:space:]]*)#$/\1/; t; s/^([[:space:]]*)##/\1#/' "$src" >"$src.code"
    out="$scratch/src/bin/block_$n.rs"
    {
        printf '// %s:%d, ```%s\n' "$name" "$line" "$info"
        if grep -Eq '(^|[^[:alnum:]_])fn[[:space:]]+main[[:space:]]*(<[^>]*>)?[[:space:]]*\(' "$src.code"; then
            cat "$src.code"
        else
            # Leading crate attributes (`#![...]`, one line each) stay outside main.
            awk 'body || !/^[[:space:]]*(#!\[.*\][[:space:]]*)?$/ { body = 1 } !body' "$src.code"
            echo '#![allow(unused)]'
            last=$(grep -v '^[[:space:]]*$' "$src.code" | tail -n1 || true)
            if grep -Eq '^[[:space:]]*Ok::<.*>\(\(\)\)[[:space:]]*;?[[:space:]]*$' <<<"$last"; then
                echo 'fn main() { fn _inner() -> ::core::result::Result<(), impl ::core::fmt::Debug> {'
                awk 'body || !/^[[:space:]]*(#!\[.*\][[:space:]]*)?$/ { body = 1 } body' "$src.code"
                echo '} _inner().unwrap() }'
            else
                echo 'fn main() {'
                awk 'body || !/^[[:space:]]*(#!\[.*\][[:space:]]*)?$/ { body = 1 } body' "$src.code"
                echo '}'
            fi
        fi
    } >"$out"
    checked+=("$n $line $mode")
done <"$scratch/blocks/index"

# A README whose quickstart lost its fence (or its language) must not pass by checking nothing.
[ "${#checked[@]}" -gt 0 ] || fail "no \`\`\`rust block to check in $name"

[ ! -f "$root/Cargo.lock" ] || cp "$root/Cargo.lock" "$scratch/Cargo.lock"
[ ! -f "$root/rust-toolchain.toml" ] || cp "$root/rust-toolchain.toml" "$scratch/"
edition=$(sed -n 's/^edition[[:space:]]*=[[:space:]]*"\([0-9]*\)".*/\1/p' "$root/Cargo.toml" | head -n1)
cat >"$scratch/Cargo.toml" <<EOF
# Generated by scripts/check-quickstart.sh from $name: one binary per Rust block.
[package]
name = "readme-quickstart"
version = "0.0.0"
edition = "${edition:-2021}"
publish = false

[dependencies]
monograd = { path = "$root" }

[workspace]
EOF

describe() { # N line -> "block N (README.md:L, `first line`)"
    # shellcheck disable=SC2016 # backticks are literal here
    printf 'block %s (%s:%s, `%s`)' "$1" "$name" "$2" "$(first_line "$scratch/blocks/$1.rs")"
}

# --- Build -----------------------------------------------------------------------------
printf '==> quickstart: build %d block(s) from %s (%s profile, target dir %s)\n' \
    "${#checked[@]}" "$name" "$profile" "$CARGO_TARGET_DIR"
if ! cargo build --manifest-path "$scratch/Cargo.toml" --profile "$profile" --bins; then
    # Name the blocks that do not build.
    broken=()
    for entry in "${checked[@]}"; do
        read -r n line mode <<<"$entry"
        cargo build --manifest-path "$scratch/Cargo.toml" --profile "$profile" --bin "block_$n" -q >/dev/null 2>&1 ||
            broken+=("$(describe "$n" "$line")")
    done
    [ "${#broken[@]}" -gt 0 ] || broken+=("(none alone: the scratch crate itself; see the errors above)")
    for b in "${broken[@]}"; do printf 'quickstart check: does not build: %s\n' "$b" >&2; done
    fail "${#broken[@]} block(s) of $name do not build"
fi

# --- Run -------------------------------------------------------------------------------
for entry in "${checked[@]}"; do
    read -r n line mode <<<"$entry"
    what="$(describe "$n" "$line")"
    if [ "$mode" = build ]; then
        printf '==> quickstart: %s built (no_run)\n' "$what"
        continue
    fi
    printf '==> quickstart: run %s\n' "$what"
    status=0
    (cd "$scratch" && timeout 600 "$bin_dir/block_$n") 2>&1 | sed 's/^/    /' || status=${PIPESTATUS[0]}
    if [ "$mode" = panic ]; then
        [ "$status" -ne 0 ] || fail "$what is should_panic, but exited with status 0"
    elif [ "$status" -ne 0 ]; then
        [ "$status" -ne 124 ] || fail "$what timed out after 600 s"
        fail "$what exited with status $status"
    fi
done

ok=1
printf 'quickstart check: ok (%d block(s) from %s)\n' "${#checked[@]}" "$name"
