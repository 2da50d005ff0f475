//! monograd on a Cortex-M4F with no allocator: the models the firmware binaries run, the
//! values the host computed for them (embedded by `build.rs`), and what the binaries share
//! to report and measure (printing without `core::fmt`, stack painting, an instruction
//! counter).
//!
//! Binaries (`src/bin/`), run under QEMU by scripts/check-firmware.sh:
//! - `sine`: TensorFlow Lite Micro's sine model from embedded weights, against the host;
//! - `sine_int8`: the sine model's int8 twin, against the host's integer path;
//! - `train`: on-device training in `Fixed` storage, against the host's run of the same steps;
//! - `lenet_int8`: LeNet-5's int8 twin from an embedded int8 file, on embedded MNIST digits,
//!   against the host's integer path.
#![no_std]

pub mod lenet;
pub mod measure;
pub mod out;
pub mod sine;
pub mod train;

use monograd::include_weights;

/// The trained sine model; its weights are the binary's read-only data (flash).
pub static SINE: sine::Sine = include_weights!(sine::Sine, "../weights/sine.safetensors");

/// The sine model's int8 twin, quantized on the host by `build.rs` (a constant written from
/// the twin's fields): its integer weights are the binary's read-only data.
pub static SINE_I8: sine::SineI8 = {
    use monograd::quant::kernels::OutputStage;
    use monograd::quant::math::Multiplier;
    use monograd::quant::twin::QDense;
    use monograd::quant::{Fused, QParams};
    use sine::SineI8;
    include!(concat!(env!("OUT_DIR"), "/sine_i8.rs"))
};

/// LeNet-5's int8 twin, embedded from the int8 safetensors file the host wrote
/// (`monograd::quant::embed`): `i8` weights and `i32` biases as they are, the rescaling
/// factors derived from the file's scales by the compiler. All of it is read-only data.
pub static LENET_I8: lenet::LeNetI8 = include_weights!(lenet::LeNetI8, "../weights/lenet_int8.safetensors");

/// The first [`lenet::DIGITS`] test digits of `data/mnist`, [`lenet::PIXELS`] bytes each,
/// row-major (written by `build.rs`).
pub static DIGITS: &[u8; lenet::DIGITS * lenet::PIXELS] = include_bytes!(concat!(env!("OUT_DIR"), "/digits.bin"));

/// What the host computed, from `build.rs`.
pub mod expected {
    include!(concat!(env!("OUT_DIR"), "/expected.rs"));
}

/// Ends the program: exit status 0 under QEMU for `true`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Not reached under an emulator; on hardware without a debugger, stop here.
    loop {
        cortex_m::asm::wfi();
    }
}

/// A panic prints its place (no message: formatting it would link `core::fmt`) and exits
/// with status 1.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    out::str("firmware: PANIC");
    if let Some(at) = info.location() {
        out::str(" at ");
        out::str(at.file());
        out::str(":");
        out::u32(at.line());
    }
    out::str("\n");
    exit(false)
}

/// A fault exits with status 1 rather than hanging until the timeout.
#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    out::str("firmware: HARD FAULT\n");
    exit(false)
}
