//! The timing harness every monograd bench shares. It follows the method of the shared
//! workload definitions (WORKLOADS.md), as the other frameworks' benches do: warm up for
//! at least 0.3 s and 10 calls, calibrate one repeat to about 0.25 s, time 7 repeats, and
//! report the median time per call.
//!
//! Each bench prints one line per measurement, in the format the other frameworks'
//! benches print, so that their outputs can be compared line by line:
//! `peer=monograd threads=1 name=W5_sgemm_n256 n=256 us_per_call=... gflops=...`.

// Each bench uses the part of the harness it needs.
#![allow(dead_code)]

use std::fmt::Display;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Minimum warm-up time.
pub const WARMUP: Duration = Duration::from_millis(300);
/// Minimum warm-up calls.
pub const WARMUP_CALLS: u64 = 10;
/// The time one timed repeat aims at.
pub const REPEAT: Duration = Duration::from_millis(250);
/// Timed repeats; the median is reported.
pub const REPEATS: usize = 7;

/// Times `f` and returns `(seconds per call, calls per repeat, repeats)`: the median over
/// [`REPEATS`] repeats of (repeat time / calls), after a warm-up that also calibrates the
/// number of calls per repeat.
///
/// With `BENCH_STEPS=n` in the environment it neither warms up nor repeats: it calls `f`
/// `n` times inside [`fixed_steps`] and returns the thread's CPU time per call (from
/// `/proc/thread-self/schedstat`, NaN where that is missing), with 0 repeats. CPU time
/// leaves out the time the thread waited for its core, so on a loaded machine it moves
/// less than wall time; and under callgrind, instruction counts do not depend on the load
/// at all:
/// `BENCH_STEPS=1000 valgrind --tool=callgrind --toggle-collect='*fixed_steps*' target/release/deps/workloads-* W3`.
pub fn measure<R>(mut f: impl FnMut() -> R) -> (f64, u64, usize) {
    if let Some(n) = std::env::var("BENCH_STEPS").ok().and_then(|v| v.parse::<u64>().ok()) {
        let start = cpu_ns();
        fixed_steps(n, &mut f);
        let secs = (cpu_ns() - start) * 1e-9 / n.max(1) as f64;
        return (secs, n, 0);
    }
    measure_interleaved(&mut [&mut || {
        black_box(f());
    }])[0]
}

/// [`measure`] for several functions at once, with their repeats interleaved (repeat 1 of
/// each, then repeat 2 of each, ...) so that a change in the machine's load during the
/// run falls on all of them alike: for side-by-side comparisons in one run.
pub fn measure_interleaved(fs: &mut [&mut dyn FnMut()]) -> Vec<(f64, u64, usize)> {
    interleaved_times(fs)
        .into_iter()
        .map(|t| {
            let mut wall = t.wall;
            wall.sort_by(f64::total_cmp);
            (wall[REPEATS / 2], t.calls, REPEATS)
        })
        .collect()
}

/// Per-repeat timings of one function in [`interleaved_times`].
pub struct Times {
    /// Wall time per call of each repeat, in the order run.
    pub wall: [f64; REPEATS],
    /// The thread's CPU time per call of each repeat (NaN where it cannot be read): on a
    /// loaded machine it leaves out the time spent waiting for the core.
    pub cpu: [f64; REPEATS],
    /// Calls per repeat.
    pub calls: u64,
}

/// The timings behind [`measure_interleaved`], for each function.
pub fn interleaved_times(fs: &mut [&mut dyn FnMut()]) -> Vec<Times> {
    let iters: Vec<u64> = fs
        .iter_mut()
        .map(|f| {
            let start = Instant::now();
            let mut calls = 0u64;
            while calls < WARMUP_CALLS || start.elapsed() < WARMUP {
                f();
                calls += 1;
            }
            let per_call = start.elapsed().as_secs_f64() / calls as f64;
            ((REPEAT.as_secs_f64() / per_call).round() as u64).max(1)
        })
        .collect();
    let mut times: Vec<Times> =
        iters.iter().map(|&calls| Times { wall: [0.0; REPEATS], cpu: [0.0; REPEATS], calls }).collect();
    for rep in 0..REPEATS {
        for (f, t) in fs.iter_mut().zip(&mut times) {
            let (start, cpu) = (Instant::now(), cpu_ns());
            for _ in 0..t.calls {
                f();
            }
            t.wall[rep] = start.elapsed().as_secs_f64() / t.calls as f64;
            t.cpu[rep] = (cpu_ns() - cpu) * 1e-9 / t.calls as f64;
        }
    }
    times
}

/// Nanoseconds this thread has run on a CPU, from the kernel's scheduler statistics; NaN
/// where they are not available.
pub fn cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Calls `f` `n` times: the function to collect in a profile (see [`measure`]).
#[inline(never)]
pub fn fixed_steps<R>(n: u64, f: &mut impl FnMut() -> R) {
    for _ in 0..n {
        black_box(f());
    }
}

/// GFLOP/s for `flops` floating-point operations in `secs`.
pub fn gflops(flops: f64, secs: f64) -> f64 {
    flops / secs / 1e9
}

/// One report line: `peer=... threads=1 name=...` followed by `key=value` fields.
pub fn line(peer: &str, name: &str, fields: &[(&str, &dyn Display)]) -> String {
    let mut s = format!("peer={peer} threads=1 name={name}");
    for (k, v) in fields {
        s.push_str(&format!(" {k}={v}"));
    }
    s
}

/// Prints [`line`].
pub fn report(peer: &str, name: &str, fields: &[(&str, &dyn Display)]) {
    println!("{}", line(peer, name, fields));
}

/// A value printed with one decimal (times in microseconds, rates).
pub fn fixed1(v: f64) -> impl Display {
    format!("{v:.1}")
}

/// A value printed with three significant decimals for small figures (microseconds
/// below 10), one decimal otherwise.
pub fn micros(secs: f64) -> impl Display {
    let us = secs * 1e6;
    if us < 10.0 {
        format!("{us:.3}")
    } else {
        format!("{us:.1}")
    }
}

/// The name filter given on the command line (`cargo bench --bench gemm -- n256`), if
/// any: cargo passes `--bench` itself, so flags are skipped.
pub fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// Whether a bench named `name` should run under [`filter`].
pub fn selected(name: &str) -> bool {
    filter().is_none_or(|f| name.contains(&f))
}

/// Deterministic data uniform in `[0, 1)` (a 64-bit LCG's top bits), so that every run
/// and every peer multiplies the same numbers.
pub fn uniform(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}
