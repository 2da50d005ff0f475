//! W5: square f32 GEMM `C = A B`, monograd's packed kernel against `matrixmultiply::sgemm`
//! in the same run. Run pinned to one core: `taskset -c 0 cargo bench --bench gemm`.
//! Results and the machine: docs/BENCHMARKS.md.

mod common;

use monograd::core::kernels::gemm::{gemm, MatMut, MatRef, PACK_LEN};

fn main() {
    let mut pack = vec![0.0f32; PACK_LEN];
    for n in [64, 256, 1024] {
        let name = format!("W5_sgemm_n{n}");
        if !common::selected(&name) {
            continue;
        }
        let a = common::uniform(n * n, 1);
        let b = common::uniform(n * n, 2);
        let (mut c, mut c_ref) = (vec![0.0f32; n * n], vec![0.0f32; n * n]);
        let flops = 2.0 * (n as f64).powi(3);

        let mut ours = || {
            gemm(
                1.0,
                MatRef::row_major(&a, n, n).unwrap(),
                MatRef::row_major(&b, n, n).unwrap(),
                0.0,
                MatMut::row_major(&mut c, n, n).unwrap(),
                &mut pack,
            )
            .unwrap();
        };
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
        // Interleaved, so that the two peers see the same machine load.
        let times = common::measure_interleaved(&mut [&mut ours, &mut reference]);
        print_line("monograd", &name, n, times[0].0, flops);
        print_line("matrixmultiply", &name, n, times[1].0, flops);

        // Both computed the same product: a benchmark of a wrong kernel is worthless.
        let worst = c.iter().zip(&c_ref).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max);
        assert!(worst < 1e-4, "{name}: results differ by {worst}");
    }
}

fn print_line(peer: &str, name: &str, n: usize, secs: f64, flops: f64) {
    common::report(
        peer,
        name,
        &[("n", &n), ("us_per_call", &common::micros(secs)), ("gflops", &common::fixed1(common::gflops(flops, secs)))],
    );
}
