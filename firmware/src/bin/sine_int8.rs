//! The sine model's int8 twin (`#[quantize(SineI8)]`, TensorFlow Lite's scheme) on a
//! Cortex-M4F: quantized on the host from the embedded `f32` weights (calibrated on 256
//! points of `[0, 2π)`), its constants embedded as a `static` by `build.rs`, inference in
//! integers only.
//!
//! Checks every output at 64 points against the host's integer path (equal: integer
//! arithmetic), and the dequantized outputs against `sin(x)` within 0.15; reports the
//! stack's peak and the instructions per inference; exits 0 when all hold.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use monograd_firmware::sine::{self, SineI8};
use monograd_firmware::{expected, measure, out, SINE_I8};

const _: () = monograd::assert_budget!(SineI8::FLASH_BYTES <= 2 * 1024);
const _: () = monograd::assert_budget!(SineI8::RAM_BYTES <= 256);

#[entry]
fn main() -> ! {
    measure::paint_stack();
    let cp = cortex_m::Peripherals::take().unwrap_or_else(|| monograd_firmware::exit(false));
    let mut state = SineI8::state();
    let out_params = SINE_I8.output_params();

    let mut ok = true;
    let (mut same, mut worst) = (0u32, 0.0f32);
    for (i, (&want, &truth)) in expected::SINE_I8_Y.iter().zip(&expected::SINE_TRUE).enumerate() {
        let x = sine::input(i);
        let q = match SINE_I8.predict(&[x], &mut state) {
            Ok(y) => y[0],
            Err(_) => {
                out::str("sine_int8: inference failed\n");
                monograd_firmware::exit(false)
            }
        };
        if q == want {
            same += 1;
        } else {
            ok = false;
            out::str("sine_int8: MISMATCH at point ");
            out::u32(i as u32);
            out::str("\n");
        }
        let err = (out_params.dequantize(q) - f32::from_bits(truth)).abs();
        worst = if err > worst { err } else { worst };
    }
    if worst >= 0.15 {
        ok = false;
    }
    out::str("sine_int8: ");
    out::field("points", sine::POINTS as u32);
    out::field("equal_to_host", same);
    out::str("max_abs_err_vs_sin=");
    out::f32(worst);
    out::str("\n");

    let ticks = measure::Ticks::start(cp.SYST);
    let per_kilotick = ticks.calibrate();
    let mut i = 0;
    let per_inference = measure::per_call(&ticks, per_kilotick, 100, 1000, || {
        let x = black_box(sine::input(i % sine::POINTS));
        let _ = black_box(SINE_I8.predict(&[x], &mut state));
        i += 1;
    });
    out::str("sine_int8: ");
    out::field("instructions_per_inference", per_inference as u32);
    out::field("instructions_per_kilotick", per_kilotick as u32);
    out::field("ram_bytes", SineI8::RAM_BYTES as u32);
    out::field("flash_bytes", SineI8::FLASH_BYTES as u32);
    out::field("stack_peak_bytes", measure::stack_peak());
    out::str("\n");
    out::str(if ok { "sine_int8: ok\n" } else { "sine_int8: FAILED\n" });
    monograd_firmware::exit(ok)
}
