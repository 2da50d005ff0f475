//! The int8 twin's forward pass allocates nothing: counted by a global allocator on this
//! thread only (as tests/allocations.rs does), from the first call on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::thread::LocalKey;

use monograd::prelude::*;
use monograd::quant::calibrate::Calibration;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note(counter: &'static LocalKey<Cell<usize>>) {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = counter.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCS);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCS.set(0);
    COUNTING.set(true);
    let r = f();
    COUNTING.set(false);
    (r, ALLOCS.get())
}

network! {
    #[quantize(SmallI8)]
    pub struct Small {
        input: [1, 12, 12],
        conv: Conv2d<1, 4, 3>,
        act: ReLU,
        pool: MaxPool2d<2>,
        sep: SeparableConv2d<4, 4, 3, 1, 1>,
        sum(pool, sep): Add,
        flat: Flatten,
        fc: Linear<100, 10>,
    }
}

#[test]
fn integer_forward_allocates_nothing() {
    let net = Small::new(&mut Rng::seed(0));
    let mut rng = Rng::seed(1);
    let data: Vec<f32> = (0..32 * 144).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let twin = Small::quantize(&net, &Calibration::new(&data)).unwrap();
    let mut st = SmallI8::state();
    let q: Vec<i8> = (0..144i32).map(|i| (i - 72) as i8).collect();
    let (sum, allocs) = counted(|| {
        let mut sum = 0i64;
        for x in data.chunks(144) {
            sum += twin.predict(x, &mut st).unwrap().iter().map(|&v| i64::from(v)).sum::<i64>();
            sum += twin.forward(&q, &mut st).unwrap().iter().map(|&v| i64::from(v)).sum::<i64>();
        }
        sum
    });
    assert_eq!(allocs, 0, "the integer forward allocated {allocs} times");
    // The control: the counter sees allocations on this thread.
    let (_, control) = counted(|| twin.to_graph());
    assert!(control > 0);
    assert_ne!(sum, i64::MIN);
}
