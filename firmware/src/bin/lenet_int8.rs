//! LeNet-5's int8 twin on MNIST digits on a Cortex-M4F: the twin embedded at compile time
//! by `include_weights!` from an int8 safetensors file, the first 200 test digits of
//! `data/mnist` embedded as bytes, inference in integers only (the pixels are mapped to
//! the twin's quantized input through a 256-entry table).
//!
//! Checks every prediction against the host's integer path (embedded by `build.rs`: the
//! same twin, the same digits), and the accuracy against the labels (at least 90%);
//! reports the accuracy, the stack's peak and the instructions per inference; exits 0 when
//! all hold.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use monograd_firmware::lenet::{self, LeNetI8, DIGITS, PIXELS};
use monograd_firmware::{expected, measure, out, LENET_I8};

/// The budgets, checked by the compiler: the twin (weights, biases, scales, multipliers)
/// within 64 KiB of flash, its buffers within 8 KiB of RAM, and the embedded digits within
/// 160 KiB, so that the firmware fits a part with 256 KiB of flash and 64 KiB of RAM
/// (scripts/check-firmware.sh checks the linked whole against those).
const _: () = monograd::assert_budget!(LeNetI8::FLASH_BYTES <= 64 * 1024);
const _: () = monograd::assert_budget!(LeNetI8::RAM_BYTES <= 8 * 1024);
const _: () = monograd::assert_budget!("the test digits", DIGITS * PIXELS, <= 160 * 1024);

#[entry]
fn main() -> ! {
    measure::paint_stack();
    let cp = cortex_m::Peripherals::take().unwrap_or_else(|| monograd_firmware::exit(false));
    let table = lenet::input_table(&LENET_I8);
    let mut state = LeNetI8::state();
    let mut x = [0i8; PIXELS];
    let digit = |i: usize, x: &mut [i8; PIXELS]| {
        let bytes = monograd_firmware::DIGITS.as_slice();
        for (q, &b) in x.iter_mut().zip(&bytes[i * PIXELS..(i + 1) * PIXELS]) {
            *q = table[b as usize];
        }
    };

    let mut ok = true;
    let (mut same, mut correct) = (0u32, 0u32);
    for i in 0..DIGITS {
        digit(i, &mut x);
        let class = match LENET_I8.forward(&x, &mut state) {
            Ok(y) => lenet::argmax(y) as u8,
            Err(_) => {
                out::str("lenet_int8: inference failed\n");
                monograd_firmware::exit(false)
            }
        };
        if class == expected::LENET_I8_CLASS[i] {
            same += 1;
        } else {
            ok = false;
            out::str("lenet_int8: MISMATCH at digit ");
            out::u32(i as u32);
            out::str(": class ");
            out::u32(class.into());
            out::str(" on the device, ");
            out::u32(expected::LENET_I8_CLASS[i].into());
            out::str(" on the host\n");
        }
        correct += u32::from(class == expected::LENET_LABELS[i]);
    }
    let accuracy = correct as f32 / DIGITS as f32;
    if accuracy < 0.9 {
        ok = false;
    }
    out::str("lenet_int8: ");
    out::field("digits", DIGITS as u32);
    out::field("equal_to_host", same);
    out::field("correct", correct);
    out::str("accuracy=");
    out::f32(accuracy);
    out::str("\n");

    // Instructions per inference: 10 inferences beyond a first 2.
    let ticks = measure::Ticks::start(cp.SYST);
    let per_kilotick = ticks.calibrate();
    let mut i = 0;
    let per_inference = measure::per_call(&ticks, per_kilotick, 2, 10, || {
        digit(i % DIGITS, &mut x);
        let _ = black_box(LENET_I8.forward(black_box(&x), &mut state));
        i += 1;
    });
    out::str("lenet_int8: ");
    out::field("instructions_per_inference", per_inference as u32);
    out::field("instructions_per_kilotick", per_kilotick as u32);
    out::field("ram_bytes", LeNetI8::RAM_BYTES as u32);
    out::field("flash_bytes", LeNetI8::FLASH_BYTES as u32);
    out::field("param_bytes", LeNetI8::PARAM_BYTES as u32);
    out::field("stack_peak_bytes", measure::stack_peak());
    out::str("\n");
    out::str(if ok { "lenet_int8: ok\n" } else { "lenet_int8: FAILED\n" });
    monograd_firmware::exit(ok)
}
