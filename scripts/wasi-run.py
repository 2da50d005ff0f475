#!/usr/bin/env python3
"""Runs a wasm32-wasip1 program (a test binary, an example) under wasmtime.

    python scripts/wasi-run.py PROGRAM.wasm [ARGS...]

Cargo's runner for wasm32-wasip1 (CARGO_TARGET_WASM32_WASIP1_RUNNER), used by
scripts/check-platforms.sh with the `wasmtime` package from the Python registry. The program
gets the arguments, the environment, stdin/stdout/stderr, and the host's file system
under the same paths ("/" preopened as "/", and the working directory as "."), so that
tests find fixtures by the absolute paths `env!("CARGO_MANIFEST_DIR")` gives and write
their temporary files where the host would. The exit status is the program's; a trap (a
panic: wasm32-wasip1 aborts on panic) exits with 101, as a failed Rust test does.
"""

import os
import sys

import wasmtime


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    program = sys.argv[1]
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, program)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)

    wasi = wasmtime.WasiConfig()
    wasi.argv = [program] + sys.argv[2:]
    wasi.env = list(os.environ.items())
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.preopen_dir("/", "/")
    wasi.preopen_dir(os.getcwd(), ".")
    store.set_wasi(wasi)

    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as e:
        return e.code
    except wasmtime.Trap as e:
        print(f"wasi-run: {program} trapped: {e}", file=sys.stderr)
        return 101
    return 0


if __name__ == "__main__":
    sys.exit(main())
