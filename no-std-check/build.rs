//! Links the host runner without the C runtime's start files: `src/main.rs` provides
//! `_start` itself. Only for the binary, and only on the Linux host it is written for;
//! the library builds unchanged for bare-metal targets.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-nostartfiles");
    }
}
