//! W5: square f32 GEMM `C = A B` at n = 256, 512 and 1024: monograd's packed kernel with
//! the instruction set it picks on this CPU, the same kernel forced to each other build
//! this CPU runs (AVX2+FMA, portable; on WebAssembly built with simd128, the portable
//! build beside the simd128 one), and `matrixmultiply::sgemm` (its default features,
//! so its AVX-512 kernel where the CPU has one), all in one run with their repeats
//! interleaved. Run pinned to one core: `taskset -c 0 cargo bench --bench gemm`;
//! `benches/peers/gemm.py` runs numpy and PyTorch beside it. Results and the machine:
//! docs/BENCHMARKS.md.
//!
//! Each line gives the median GFLOP/s of 7 repeats, the best repeat (`gflops_best`) and
//! the median over the thread's CPU time (`gflops_cpu`): on a shared machine the best
//! repeat is the one least disturbed by other work, and CPU time leaves out the time
//! spent waiting for the core (not the caches other work evicts).

mod common;

use monograd::core::kernels::gemm::{force_isa, gemm, isa, Isa, MatMut, MatRef, PACK_LEN};

fn main() {
    let best = isa();
    println!("# cpu: {}", cpu_line());
    println!("# monograd picks {best:?}");
    let mut builds = vec![best];
    for other in [Isa::Avx512, Isa::Avx2Fma, Isa::Neon, Isa::Simd128, Isa::Portable] {
        if other != best && force_isa(other) {
            builds.push(other);
        }
    }
    force_isa(best);
    // One packing buffer for all builds, allocated before timing; the closures take turns.
    let pack = std::cell::RefCell::new(vec![0.0f32; PACK_LEN]);
    for n in [256, 512, 1024] {
        let name = format!("W5_sgemm_n{n}");
        if !common::selected(&name) {
            continue;
        }
        let a = common::uniform(n * n, 1);
        let b = common::uniform(n * n, 2);
        let mut cs = vec![vec![0.0f32; n * n]; builds.len()];
        let mut c_ref = vec![0.0f32; n * n];
        let flops = 2.0 * (n as f64).powi(3);

        let mut ours: Vec<Box<dyn FnMut() + '_>> = builds
            .iter()
            .zip(&mut cs)
            .map(|(&build, c)| {
                let (a, b, pack) = (&a, &b, &pack);
                Box::new(move || {
                    force_isa(build);
                    gemm(
                        1.0,
                        MatRef::row_major(a, n, n).unwrap(),
                        MatRef::row_major(b, n, n).unwrap(),
                        0.0,
                        MatMut::row_major(c, n, n).unwrap(),
                        &mut pack.borrow_mut(),
                    )
                    .unwrap();
                }) as Box<dyn FnMut()>
            })
            .collect();
        let mut reference = || {
            // SAFETY: a, b and c_ref are dense row-major n x n, matching the sizes and
            // strides given.
            unsafe {
                matrixmultiply::sgemm(
                    n,
                    n,
                    n,
                    1.0,
                    a.as_ptr(),
                    n as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c_ref.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
        };
        // Interleaved, so that the peers see the same machine load.
        let mut fs: Vec<&mut dyn FnMut()> = ours.iter_mut().map(|f| &mut **f as &mut dyn FnMut()).collect();
        fs.push(&mut reference);
        let times = common::interleaved_times(&mut fs);
        drop(fs);
        drop(ours);
        force_isa(best);
        for (&build, t) in builds.iter().zip(&times) {
            print_line(&format!("monograd-{}", isa_name(build)), &name, n, t, flops);
        }
        print_line("matrixmultiply", &name, n, &times[builds.len()], flops);

        // Every build computed the same product: a benchmark of a wrong kernel is worthless.
        for (build, c) in builds.iter().zip(&cs) {
            let worst = c.iter().zip(&c_ref).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max);
            assert!(worst < 1e-4, "{name} {build:?}: results differ by {worst}");
        }
    }
}

fn isa_name(isa: Isa) -> &'static str {
    match isa {
        Isa::Avx512 => "avx512",
        Isa::Avx2Fma => "avx2",
        Isa::Neon => "neon",
        Isa::Simd128 => "simd128",
        _ => "portable",
    }
}

/// The CPU's model name and its vector extensions, from /proc/cpuinfo (Linux).
fn cpu_line() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let vector: Vec<&str> = flags
        .split_whitespace()
        .filter(|f| f.starts_with("avx") || *f == "fma" || f.starts_with("amx") || *f == "sse4_2")
        .collect();
    format!(
        "{} (family {}, model {}); {}",
        field("model name"),
        field("cpu family"),
        field("model\t"),
        vector.join(" ")
    )
}

fn print_line(peer: &str, name: &str, n: usize, t: &common::Times, flops: f64) {
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let best = t.wall.iter().copied().fold(f64::INFINITY, f64::min);
    let gf = |secs| common::fixed1(common::gflops(flops, secs));
    common::report(
        peer,
        name,
        &[
            ("n", &n),
            ("us_per_call", &common::micros(median(&t.wall))),
            ("gflops", &gf(median(&t.wall))),
            ("gflops_best", &gf(best)),
            ("gflops_cpu", &gf(median(&t.cpu))),
        ],
    );
}
