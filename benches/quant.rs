//! LeNet-5 in int8 against f32: accuracy on the repository's 2,000 test digits after one
//! epoch of training on 4,000, and the time of one inference at batch 1 (f32: the
//! generated `forward` with a `Heap` state and with a `Fixed<1>` one; int8: the twin's
//! integer `forward`), measured interleaved (each repeat of each in turn), as the median
//! of the thread's CPU time per call; the speedup is against the faster f32. Where the CPU
//! has AVX-512, the same repeats also time both as a CPU with AVX2 only would run them
//! (`gemm::force_isa(Isa::Avx2Fma)` for f32, `kernels::force_isa(Isa::Avx2)` for int8),
//! each closure setting its instruction sets first. Run pinned to one core:
//! `taskset -c 0 cargo bench --bench quant`. Results and the machine: docs/QUANTIZATION.md.

mod common;

use monograd::core::kernels::gemm;
use monograd::prelude::*;
use monograd::quant::calibrate::Calibration;
use monograd::quant::kernels as qk;

network! {
    #[quantize(LeNetI8)]
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d<1, 6, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<6, 16, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<256, 120>,
        act3: ReLU,
        fc2: Linear<120, 84>,
        act4: ReLU,
        fc3: Linear<84, 10>,
    }
}

fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn main() {
    let mnist = Mnist::load_default().expect("the repository's digits");
    let norm = Normalize::mnist();
    let (mut train, _) = mnist.train.split_at(4000).unwrap();
    let mut test = mnist.test;
    norm.apply_dataset(&mut train).unwrap();
    norm.apply_dataset(&mut test).unwrap();
    let mut trainer = Trainer::new(LeNet::new(&mut Rng::seed(0)), Adam::new(2e-3), CrossEntropyLoss::new())
        .epochs(1)
        .batch_size(32)
        .seed(0);
    trainer.fit(&train, None, &mut ()).unwrap();
    let net = trainer.net();
    let twin = LeNet::quantize(net, &Calibration::new(&train.inputs()[..500 * 784])).unwrap();

    let mut fst = LeNet::state::<Fixed<1>>();
    let mut qst = LeNetI8::state();
    let (mut f_hits, mut q_hits) = (0, 0);
    for i in 0..test.len() {
        let (x, &y) = test.get(i).unwrap();
        f_hits += usize::from(argmax(net.forward(x, &mut fst).unwrap()) == y);
        q_hits += usize::from(argmax(twin.predict(x, &mut qst).unwrap()) == y);
    }
    let n = test.len() as f64;
    let x = test.input(0).to_vec();
    let mut q = vec![0i8; 784];
    for (qi, &xi) in q.iter_mut().zip(&x) {
        *qi = twin.input_params().quantize(xi);
    }
    // f32 twice: with a `Heap` state (packing memory for im2col and the packed GEMM) and
    // with `Fixed<1>` (a microcontroller's state: direct loops).
    let mut hst = LeNet::state::<Heap>();
    // `predict` (f32 pixels quantized first), what examples/compress.rs times.
    let mut pst = LeNetI8::state();
    let best = gemm::isa();
    // The AVX2 variants only where they differ from the best paths (a CPU with AVX-512).
    let avx2 = best == gemm::Isa::Avx512 && gemm::force_isa(gemm::Isa::Avx2Fma) && qk::force_isa(qk::Isa::Avx2);
    gemm::force_isa(best);
    qk::force_isa(qk::Isa::Avx512);
    let mut hst2 = LeNet::state::<Heap>();
    let mut qst2 = LeNetI8::state();
    let mut fs: Vec<Box<dyn FnMut()>> = vec![
        Box::new(|| {
            gemm::force_isa(best);
            std::hint::black_box(net.forward(std::hint::black_box(&x), &mut hst).unwrap());
        }),
        Box::new(|| {
            gemm::force_isa(best);
            std::hint::black_box(net.forward(std::hint::black_box(&x), &mut fst).unwrap());
        }),
        Box::new(|| {
            qk::force_isa(qk::Isa::Avx512);
            std::hint::black_box(twin.forward(std::hint::black_box(&q), &mut qst).unwrap());
        }),
        Box::new(|| {
            qk::force_isa(qk::Isa::Avx512);
            std::hint::black_box(twin.predict(std::hint::black_box(&x), &mut pst).unwrap());
        }),
    ];
    if avx2 {
        fs.push(Box::new(|| {
            gemm::force_isa(gemm::Isa::Avx2Fma);
            std::hint::black_box(net.forward(std::hint::black_box(&x), &mut hst2).unwrap());
        }));
        fs.push(Box::new(|| {
            qk::force_isa(qk::Isa::Avx2);
            std::hint::black_box(twin.forward(std::hint::black_box(&q), &mut qst2).unwrap());
        }));
    }
    let mut refs: Vec<&mut dyn FnMut()> = fs.iter_mut().map(|f| &mut **f as &mut dyn FnMut()).collect();
    let times = common::interleaved_times(&mut refs);
    drop(refs);
    drop(fs);
    gemm::force_isa(best);
    qk::force_isa(qk::Isa::Avx512);
    // Medians of the thread's CPU time per call (the machine may be shared: CPU time leaves
    // out the waits for a core), and of wall time.
    let median = |mut v: [f64; common::REPEATS]| {
        v.sort_by(f64::total_cmp);
        v[common::REPEATS / 2]
    };
    let cpu: Vec<f64> = times.iter().map(|t| median(t.cpu)).collect();
    let wall: Vec<f64> = times.iter().map(|t| median(t.wall)).collect();
    let (f_heap, f_fixed, q_s) = (cpu[0], cpu[1], cpu[2]);
    let f_s = f_heap.min(f_fixed);
    common::report(
        "monograd",
        "lenet_f32_vs_int8_b1",
        &[
            ("f32_accuracy", &format!("{:.2}", 100.0 * f_hits as f64 / n)),
            ("int8_accuracy", &format!("{:.2}", 100.0 * q_hits as f64 / n)),
            ("f32_heap_cpu_us", &common::micros(f_heap)),
            ("f32_fixed_cpu_us", &common::micros(f_fixed)),
            ("int8_cpu_us", &common::micros(q_s)),
            ("int8_predict_cpu_us", &common::micros(cpu[3])),
            ("speedup_vs_faster_f32", &format!("{:.2}", f_s / q_s)),
            ("f32_heap_wall_us", &common::micros(wall[0])),
            ("int8_wall_us", &common::micros(wall[2])),
            ("wall_speedup_vs_heap", &format!("{:.2}", wall[0] / wall[2])),
            ("f32_avx2_heap_cpu_us", &if avx2 { common::micros(cpu[4]).to_string() } else { "-".to_string() }),
            ("int8_avx2_cpu_us", &if avx2 { common::micros(cpu[5]).to_string() } else { "-".to_string() }),
            ("avx2_speedup", &if avx2 { format!("{:.2}", cpu[4] / cpu[5]) } else { "-".to_string() }),
            ("f32_weight_bytes", &LeNet::PARAM_BYTES),
            ("int8_weight_bytes", &LeNetI8::PARAM_BYTES),
            ("int8_flash_bytes", &LeNetI8::FLASH_BYTES),
            ("int8_ram_bytes", &LeNetI8::RAM_BYTES),
        ],
    );
}
