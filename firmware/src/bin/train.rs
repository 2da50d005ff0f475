//! Training on a Cortex-M4F with no allocator: the sine model's shape, initialised in
//! place from a seed, trained with Adam for 100 steps on 16 points of `sin(x)`. The
//! network, its gradient, the training state and Adam's moments are `static`s built by
//! the compiler (`.bss`), so nothing of them passes through the stack.
//!
//! Checks the final weights against the host's run of the same steps (embedded by
//! `build.rs`) within 1e-5, and that the loss fell; reports bit-identity, the stack's peak
//! and the instructions per step; exits 0 when all hold.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use monograd::core::embed::zeroed;
use monograd_firmware::train::{self, Trainee};
use monograd_firmware::{expected, measure, out};

/// The budget: the training state (activations and gradients for the batch) within 8 KiB.
const _: () = monograd::assert_budget!("the training state", core::mem::size_of::<train::State>(), <= 8 * 1024);

#[entry]
fn main() -> ! {
    static mut NET: Trainee = zeroed();
    static mut GRAD: Trainee = zeroed();
    static mut STATE: train::State = train::State::EMPTY;
    static mut OPT: [f32; train::OPT_LEN] = [0.0; train::OPT_LEN];
    static mut FLAT: [f32; Trainee::PARAMS] = [0.0; Trainee::PARAMS];
    measure::paint_stack();
    let cp = cortex_m::Peripherals::take().unwrap_or_else(|| monograd_firmware::exit(false));
    let ticks = measure::Ticks::start(cp.SYST);
    let per_kilotick = ticks.calibrate();

    let (net, grad, state, opt) = (NET, GRAD, STATE, OPT);
    let mut result = None;
    let t = ticks.time(|| result = Some(train::train(net, grad, state, opt)));
    let losses = match result {
        Some(Ok(l)) => l,
        _ => {
            out::str("train: training failed\n");
            monograd_firmware::exit(false)
        }
    };
    train::flat(net, FLAT);
    let (mut same, mut worst) = (0u32, 0.0f32);
    for (w, &h) in FLAT.iter().zip(&expected::TRAIN_W) {
        let h = f32::from_bits(h);
        same += (w.to_bits() == h.to_bits()) as u32;
        let d = (w - h).abs();
        worst = if d > worst { d } else { worst };
    }
    let ok = worst <= 1e-5
        && losses.last < 0.5 * losses.initial
        && losses.initial.to_bits() == expected::TRAIN_LOSSES[0]
        && (losses.last - f32::from_bits(expected::TRAIN_LOSSES[1])).abs() <= 1e-5;

    out::str("train: ");
    out::field("steps", train::STEPS as u32);
    out::field("params", Trainee::PARAMS as u32);
    out::field("bit_identical_to_host", same);
    out::str("max_abs_diff_vs_host=");
    out::f32(worst);
    out::str(" loss_initial=");
    out::f32(losses.initial);
    out::str(" loss_final=");
    out::f32(losses.last);
    out::str("\ntrain: ");
    // The whole run (initialisation, two evaluations and the steps) divided by the steps.
    out::field("instructions_per_step", (t * per_kilotick / 1000 / train::STEPS as u64) as u32);
    out::field("state_bytes", core::mem::size_of::<train::State>() as u32);
    out::field("stack_peak_bytes", measure::stack_peak());
    out::str("\n");
    out::str(if ok { "train: ok\n" } else { "train: FAILED\n" });
    monograd_firmware::exit(ok)
}
