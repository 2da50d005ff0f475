//! What users see when they misuse `#[derive(Module)]`, `network!` or `include_weights!`,
//! and what compiles.
//!
//! Each case under `cases/derive/`, `cases/network/` and `cases/weights/` is one mistake beside the
//! `.stderr` the compiler prints for it; cases under `cases/pass/` and
//! `cases/network-pass/` must compile (they `#![deny(warnings)]`) and run. The snapshots
//! were taken with the toolchain pinned in `rust-toolchain.toml`: regenerate them with
//! `TRYBUILD=overwrite cargo test -p monograd-ui-tests` after a toolchain change and review
//! the diff.

#[test]
fn derive_module() {
    let t = trybuild::TestCases::new();
    t.compile_fail("cases/derive/*.rs");
    t.pass("cases/pass/*.rs");
}

#[test]
fn network_macro() {
    let t = trybuild::TestCases::new();
    t.compile_fail("cases/network/*.rs");
    t.pass("cases/network-pass/*.rs");
}

#[test]
fn quantized_twin() {
    let t = trybuild::TestCases::new();
    t.compile_fail("cases/quantize/*.rs");
    t.pass("cases/quantize-pass/*.rs");
}

#[test]
fn include_weights_macro() {
    let t = trybuild::TestCases::new();
    t.compile_fail("cases/weights/*.rs");
}
