//! After its first step, training allocates nothing: not per step, not at an epoch's end
//! (validation, the history, early stopping's copy of the best weights). A counting
//! allocator, counting this thread's allocations, proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use monograd::prelude::*;

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn count() -> usize {
    COUNT.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

network! {
    /// LeNet-5 with dropout: convolution, pooling, dense layers, all of it.
    pub struct LeNet {
        input: [1, 28, 28],
        c1: Conv2d<1, 6, 5>,
        r1: ReLU,
        p1: MaxPool2d<2>,
        c2: Conv2d<6, 16, 5>,
        r2: ReLU,
        p2: MaxPool2d<2>,
        flat: Flatten,
        drop: Dropout,
        f1: Linear<256, 120>,
        r3: ReLU,
        f2: Linear<120, 84>,
        r4: ReLU,
        f3: Linear<84, 10>,
    }
}

#[test]
fn training_allocates_nothing_after_the_first_step() {
    let mnist = Mnist::load_default().unwrap();
    let (train, _) = mnist.train.split_at(80).unwrap();
    let (train, val) = train.holdout(Holdout::Last(16)).unwrap();
    let shift = RandomShift::new(1, 28, 28, 2);
    let mut trainer = Trainer::new(LeNet::new(&mut Rng::seed(0)), AdamW::new(1e-3), CrossEntropyLoss::new())
        .epochs(3)
        .batch_size(16)
        .eval_batch_size(16)
        .schedule(CosineAnnealingLr::new(1e-3, 12, 0.0), Every::Step)
        .augment(move |x, rng| shift.apply(x, rng))
        .clip_grad_norm(1.0)
        .early_stopping(EarlyStopping::new(5));
    // (step, allocations so far) at every step and epoch end.
    let mut seen = Vec::with_capacity(100);
    trainer
        .fit(&train, Some(&val), &mut |e: &Event<'_>| {
            match e {
                Event::Step(s) => seen.push((s.step, count())),
                Event::Epoch(r) => seen.push((r.steps, count())),
                _ => {}
            }
            Control::Continue
        })
        .unwrap();
    assert_eq!(seen.len(), 3 * 4 + 3);
    let after_first = seen[0].1; // counted at the end of step 1
    let at_end = seen.last().unwrap().1;
    // The first epoch's validation and the first copy of the best weights allocate once;
    // measure from the start of the second epoch.
    let second_epoch = seen.iter().position(|&(step, _)| step == 5).unwrap();
    assert_eq!(at_end - seen[second_epoch].1, 0, "allocations from step 5 to the end: {:?}", &seen[second_epoch..]);
    // Within the first epoch, steps after the first allocate nothing either.
    let first_epoch_end = seen.iter().position(|&(step, _)| step == 4).unwrap();
    assert_eq!(seen[first_epoch_end].1, after_first, "{:?}", &seen[..=first_epoch_end]);
}
