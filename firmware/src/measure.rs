//! What the firmware measures about itself: the stack's peak, by painting the free RAM
//! with a pattern at the start and finding the lowest word overwritten at the end; and
//! instructions, from SysTick under QEMU's `-icount shift=0` (each instruction advances
//! the virtual clock by 1 ns, which SysTick counts at the board's 25 MHz: a deterministic
//! count of instructions, not of cycles).

use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;

/// The word the free RAM is painted with.
const PAINT: u32 = 0x5AA5_C33C;

extern "C" {
    /// The first free word after `.data`, `.bss` and `.uninit` (cortex-m-rt's link.x).
    static __sheap: u32;
    /// The top of the stack, the end of RAM (cortex-m-rt's link.x).
    static _stack_start: u32;
}

fn free_ram() -> (usize, usize) {
    // Only the addresses of the linker's symbols are taken, never their values.
    (ptr::addr_of!(__sheap) as usize, ptr::addr_of!(_stack_start) as usize)
}

/// Paints the free RAM below the current stack frame: call first thing in `main`.
#[inline(never)]
pub fn paint_stack() {
    let (lo, _) = free_ram();
    // 256 bytes below the stack pointer are left alone: this function's own frame and
    // the calls it makes live there.
    let hi = cortex_m::register::msp::read() as usize - 256;
    let mut p = lo;
    while p < hi {
        // SAFETY: [lo, hi) is RAM that no object occupies: above every static (`__sheap`)
        // and below the deepest frame live now, and nothing else runs (no interrupt is
        // enabled while painting).
        unsafe { ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The most stack used since [`paint_stack`], in bytes: from the top of RAM down to the
/// lowest word that no longer holds the pattern.
#[inline(never)]
pub fn stack_peak() -> u32 {
    let (lo, top) = free_ram();
    let mut p = lo;
    // SAFETY: reads of RAM between the statics and the top of the stack, word-aligned.
    while p < top && unsafe { ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    (top - p) as u32
}

/// Wraps of SysTick's 24-bit counter, counted by its exception.
static WRAPS: AtomicU32 = AtomicU32::new(0);

const RELOAD: u32 = 0x00FF_FFFF;

#[cortex_m_rt::exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// A 64-bit tick counter from SysTick on the core's clock.
pub struct Ticks {
    _syst: SYST,
}

impl Ticks {
    /// Starts SysTick, counting down from its largest value, with its exception on.
    pub fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        // Writing the current value set it to 0; it takes the reload value at the next
        // tick. Until then `now` would read a full period.
        while SYST::get_current() == 0 {}
        Ticks { _syst: syst }
    }

    /// Ticks since [`Ticks::start`].
    pub fn now(&self) -> u64 {
        loop {
            let w = WRAPS.load(Ordering::Relaxed);
            let v = SYST::get_current();
            if WRAPS.load(Ordering::Relaxed) == w {
                return w as u64 * (RELOAD as u64 + 1) + (RELOAD - v) as u64;
            }
        }
    }

    /// Ticks taken by `f`.
    pub fn time(&self, f: impl FnOnce()) -> u64 {
        let t0 = self.now();
        f();
        self.now() - t0
    }

    /// Instructions per 1,000 ticks, from a loop of known length (two instructions per
    /// turn): 40,000 under `-icount shift=0` on mps2-an386 (1 ns per instruction, a
    /// 25 MHz clock).
    pub fn calibrate(&self) -> u64 {
        const TURNS: u32 = 1_000_000;
        let ticks = self.time(|| spin(TURNS));
        2 * TURNS as u64 * 1000 / ticks.max(1)
    }
}

/// `n` turns of a two-instruction loop.
#[inline(never)]
fn spin(n: u32) {
    // SAFETY: a register countdown; touches no memory and no other register.
    unsafe {
        core::arch::asm!("1:", "subs {0}, #1", "bne 1b", inout(reg) n => _, options(nomem, nostack));
    }
}

/// Instructions per call of `f`, from `calls` calls beyond a first batch of `base`
/// (subtracting the two removes the measurement's own cost).
pub fn per_call(ticks: &Ticks, per_kilotick: u64, base: u32, calls: u32, mut f: impl FnMut()) -> u64 {
    let mut run = |n: u32| {
        ticks.time(|| {
            for _ in 0..n {
                f();
            }
        })
    };
    let short = run(base);
    let long = run(base + calls);
    (long - short) * per_kilotick / 1000 / calls as u64
}
