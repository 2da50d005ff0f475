//! TensorFlow Lite Micro's sine model on a Cortex-M4F: weights embedded at compile time,
//! an inference-only state in `.bss` (a `const` state, no copy through the stack), no
//! allocator and no `core::fmt`.
//!
//! Checks every output at 64 points against the host's (embedded by `build.rs`) bit for
//! bit, and against `sin(x)` within 0.1; reports the stack's peak, the instructions per
//! inference (QEMU, `-icount shift=0`) and the memory budget; exits 0 when all hold.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use monograd::core::storage::Fixed;
use monograd_firmware::sine::{self, Sine, SineInference, SineState};
use monograd_firmware::{expected, measure, out, SINE};

/// The budget, checked by the compiler: the weights fit in 2 KiB of flash and inference
/// in 256 bytes of RAM (a model over it fails to build, naming the budget and the figure).
const _: () = monograd::assert_budget!(Sine::PARAM_BYTES <= 2 * 1024);
const _: () = monograd::assert_budget!(Sine::RAM_BYTES <= 256);

#[entry]
fn main() -> ! {
    // `#[entry]` turns this into a `&'static mut`: the state is in `.bss`, built by the
    // compiler (`fixed_inference_state` is a `const fn`).
    static mut STATE: SineInference<f32, Fixed<1>> = Sine::fixed_inference_state();
    measure::paint_stack();
    let state: &'static mut SineInference<f32, Fixed<1>> = STATE;
    let cp = cortex_m::Peripherals::take().unwrap_or_else(|| monograd_firmware::exit(false));

    let mut ok = true;
    let (mut same, mut worst) = (0u32, 0.0f32);
    for (i, (&want, &truth)) in expected::SINE_Y.iter().zip(&expected::SINE_TRUE).enumerate() {
        let x = sine::input(i);
        let y = match SINE.infer(&[x], state) {
            Ok(y) => y[0],
            Err(_) => {
                out::str("sine: inference failed\n");
                monograd_firmware::exit(false)
            }
        };
        if y.to_bits() == want {
            same += 1;
        } else {
            ok = false;
            out::str("sine: MISMATCH at point ");
            out::u32(i as u32);
            out::str(": ");
            out::hex(y.to_bits());
            out::str(" on the device, ");
            out::hex(want);
            out::str(" on the host\n");
        }
        let err = (y - f32::from_bits(truth)).abs();
        worst = if err > worst { err } else { worst };
    }
    if worst >= 0.1 {
        ok = false;
    }
    out::str("sine: ");
    out::field("points", sine::POINTS as u32);
    out::field("bit_identical_to_host", same);
    out::str("max_abs_err_vs_sin=");
    out::f32(worst);
    out::str("\n");

    // Instructions per inference: 1,000 inferences beyond a first 100.
    let ticks = measure::Ticks::start(cp.SYST);
    let per_kilotick = ticks.calibrate();
    let mut i = 0;
    let per_inference = measure::per_call(&ticks, per_kilotick, 100, 1000, || {
        let x = black_box(sine::input(i % sine::POINTS));
        let _ = black_box(SINE.infer(&[x], state));
        i += 1;
    });
    out::str("sine: ");
    out::field("instructions_per_inference", per_inference as u32);
    out::field("instructions_per_kilotick", per_kilotick as u32);
    out::field("ram_bytes", Sine::RAM_BYTES as u32);
    // What the training state of the same network would take, for comparison.
    out::field("training_state_bytes", core::mem::size_of::<SineState<f32, Fixed<1>>>() as u32);
    out::field("param_bytes", Sine::PARAM_BYTES as u32);
    out::field("stack_peak_bytes", measure::stack_peak());
    out::str("\n");
    out::str(if ok { "sine: ok\n" } else { "sine: FAILED\n" });
    monograd_firmware::exit(ok)
}
