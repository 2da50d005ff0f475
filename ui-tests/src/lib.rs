//! Compile-fail and compile-pass cases for monograd, run by `tests/ui.rs`.
