//! Where threads wait for one another: a short spin, then a park on a condition variable,
//! with a spin budget that adapts to whether spinning pays.
//!
//! Waiters poll a predicate over atomics (`ready`); whoever changes the state then calls
//! [`Signal::poke`], which wakes parked waiters and costs nothing when none is parked.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Spin, then park; see the [module docs](self).
pub(crate) struct Signal {
    /// The most a waiter spins, in nanoseconds.
    spin: AtomicU64,
    sleepers: AtomicUsize,
    parking: Mutex<()>,
    wake: Condvar,
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Signal {
    /// Waiters spin up to `spin` before they park.
    pub(crate) fn new(spin: Duration) -> Self {
        let s = Self {
            spin: AtomicU64::new(0),
            sleepers: AtomicUsize::new(0),
            parking: Mutex::new(()),
            wake: Condvar::new(),
        };
        s.set_spin(spin);
        s
    }

    /// Sets the longest spin.
    pub(crate) fn set_spin(&self, spin: Duration) {
        self.spin.store(u64::try_from(spin.as_nanos()).unwrap_or(u64::MAX), SeqCst);
    }

    /// Waits until `ready()`: spins for up to `*budget` nanoseconds (at most the spin
    /// time set), then parks. Gives up at `deadline` (returns `false`).
    ///
    /// The budget adapts, one per place a thread waits: a wait that ends while spinning
    /// restores it in full, one that has to park halves it, down to a sixteenth. On a
    /// loaded machine, where the thread waited for is often off its core, the spinning
    /// dies down instead of taking the core from it.
    pub(crate) fn wait(&self, budget: &mut u64, deadline: Option<Instant>, ready: impl Fn() -> bool) -> bool {
        let max = self.spin.load(SeqCst);
        let spin = Duration::from_nanos((*budget).min(max));
        let start = Instant::now();
        let mut spins = 0u32;
        while !spin.is_zero() {
            if ready() {
                *budget = max;
                return true;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > spin {
                break;
            }
            core::hint::spin_loop();
        }
        // Spinning did not pay: spin less next time, but keep probing.
        *budget = (*budget).min(max).div_ceil(2).max(max / 16);
        self.park(deadline, ready)
    }

    /// Parks until `ready()` or `deadline`.
    pub(crate) fn park(&self, deadline: Option<Instant>, ready: impl Fn() -> bool) -> bool {
        let mut guard = lock(&self.parking);
        // Announced before the last look at the state: a change made after that look sees
        // the sleeper and wakes it (both sides use sequentially consistent operations).
        self.sleepers.fetch_add(1, SeqCst);
        let done = loop {
            if ready() {
                break true;
            }
            match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    guard = self.wake.wait_timeout(guard, d - now).unwrap_or_else(PoisonError::into_inner).0;
                }
                None => guard = self.wake.wait(guard).unwrap_or_else(PoisonError::into_inner),
            }
        };
        self.sleepers.fetch_sub(1, SeqCst);
        done
    }

    /// Wakes the parked threads, if any, after a change of state.
    pub(crate) fn poke(&self) {
        if self.sleepers.load(SeqCst) > 0 {
            let _guard = lock(&self.parking);
            self.wake.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::thread;

    use super::*;

    #[test]
    fn a_parked_waiter_is_woken_and_a_deadline_ends_a_wait() {
        for spin in [Duration::ZERO, Duration::from_micros(50)] {
            let signal = Arc::new(Signal::new(spin));
            let flag = Arc::new(AtomicBool::new(false));
            let (s, f) = (Arc::clone(&signal), Arc::clone(&flag));
            let waiter = thread::spawn(move || {
                let mut budget = u64::MAX;
                s.wait(&mut budget, None, || f.load(SeqCst))
            });
            thread::sleep(Duration::from_millis(20));
            flag.store(true, SeqCst);
            signal.poke();
            assert!(waiter.join().unwrap(), "spin {spin:?}");
            let mut budget = u64::MAX;
            let start = Instant::now();
            assert!(!signal.wait(&mut budget, Some(start + Duration::from_millis(10)), || false));
            assert!(start.elapsed() >= Duration::from_millis(10));
        }
    }

    #[test]
    fn the_spin_budget_halves_when_it_does_not_pay_and_comes_back_when_it_does() {
        let signal = Signal::new(Duration::from_micros(64));
        let max = 64_000;
        let mut budget = u64::MAX;
        signal.wait(&mut budget, Some(Instant::now()), || false);
        assert_eq!(budget, max / 2);
        for _ in 0..10 {
            signal.wait(&mut budget, Some(Instant::now()), || false);
        }
        assert_eq!(budget, max / 16, "halved down to a sixteenth, no further");
        assert!(signal.wait(&mut budget, None, || true));
        assert_eq!(budget, max);
    }
}
