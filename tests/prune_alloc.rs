//! Pruning inside training allocates nothing after the first step: the radix selection of
//! the threshold, the mask's update and its application run on the stack. A counting
//! allocator, counting this thread's allocations, proves it. Also: the mask is part of
//! the optimizer's state, so a copy of that state restores it.

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

use monograd::core::module::Path;
use monograd::nn::optim::state::{StateMut, StateRef};
use monograd::nn::prune::{Mask, Masked, Norm, PruneSchedule, Pruning};
use monograd::nn::OptimizerState;

network! {
    pub struct Net {
        input: [2, 8, 8],
        conv: Conv2d<2, 4, 3>,
        act: ReLU,
        flat: Flatten,
        fc: Linear<144, 3>,
    }
}

fn step_data() -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::seed(3);
    let x: Vec<f32> = (0..4 * 128).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    (x, vec![0.1f32; 4 * 3])
}

#[test]
fn pruning_steps_allocate_nothing_after_the_first() {
    let (x, dy) = step_data();
    let mut net = Net::new(&mut Rng::seed(1));
    let mut grad = Net::default();
    let mut state = Net::state::<Heap>();
    // A pruning every step: global weights, then channels through a second wrapper.
    let schedule = PruneSchedule::polynomial(0.0, 0.8, 0, 30);
    let mut opt = Masked::new(
        Masked::new(AdamW::new(0.01f32).weight_decay(0.1), Mask::new())
            .schedule(Pruning::channels(Norm::L2), PruneSchedule::polynomial(0.0, 0.5, 0, 30)),
        Mask::new(),
    )
    .schedule(Pruning::per_layer().targets(&[("fc.weight", 0.9)]), schedule);
    let mut before = 0;
    for step in 0..40 {
        if step == 1 {
            before = count();
        }
        grad.zero();
        net.forward_train(&x, &mut state).unwrap();
        net.backward(&x, &dy, &mut grad, &mut state).unwrap();
        opt.step(&mut net, &grad);
    }
    assert_eq!(count() - before, 0, "allocations after the first step");
    let fc_zeros = net.fc.weight.as_flattened().iter().filter(|w| **w == 0.0).count();
    assert_eq!(fc_zeros, (0.9f64 * 432.0).round() as usize);
    let filters = net.conv.weight.iter().filter(|f| f.as_flattened().as_flattened().iter().all(|w| *w == 0.0)).count();
    assert_eq!(filters, 2);
}

#[test]
fn the_mask_is_optimizer_state_and_a_copy_restores_it() {
    let (x, dy) = step_data();
    let mut net = Net::new(&mut Rng::seed(2));
    let mut grad = Net::default();
    let mut state = Net::state::<Heap>();
    let mut opt = Masked::new(Sgd::new(0.01f32).momentum(0.9), Mask::new())
        .schedule(Pruning::global(), PruneSchedule::one_shot(0.5, 2));
    for _ in 0..4 {
        grad.zero();
        net.forward_train(&x, &mut state).unwrap();
        net.backward(&x, &dy, &mut grad, &mut state).unwrap();
        opt.step(&mut net, &grad);
    }
    let mut names = Vec::new();
    let mut pruned = Vec::new();
    let mut counters = Vec::new();
    opt.visit_state(Net::PARAMS, &Path::ROOT, &mut |s| match s {
        StateRef::Counter { path, value } => {
            names.push(path.to_string());
            counters.push(value);
        }
        StateRef::Block { path, values } => {
            names.push(path.to_string());
            if path.ends_with("pruned") {
                pruned = values.unwrap().to_vec();
            }
        }
        _ => {}
    });
    assert_eq!(names, ["step", "momentum_buffer", "prune_step", "pruned"]);
    assert_eq!(counters[1], 4);
    let weights = 4 * 2 * 9 + 144 * 3;
    assert_eq!(pruned.iter().filter(|v| **v == 1.0).count(), (0.5 * weights as f64).round() as usize);
    // Into a fresh wrapper: the same mask, and the same step count, so the one-shot
    // pruning does not happen again.
    let mut fresh = Masked::new(Sgd::new(0.01f32).momentum(0.9), Mask::new())
        .schedule(Pruning::global(), PruneSchedule::one_shot(0.5, 2));
    let mut c = counters.iter();
    fresh
        .visit_state_mut(Net::PARAMS, &Path::ROOT, &mut |s| match s {
            StateMut::Counter { value, .. } => *value = *c.next().unwrap(),
            StateMut::Block { path, values } if path.ends_with("pruned") => values.copy_from_slice(&pruned),
            _ => {}
        })
        .unwrap();
    assert_eq!(fresh.steps(), 4);
    let mut other = Net::new(&mut Rng::seed(9));
    fresh.mask_mut().apply(&mut other).unwrap();
    let zeros = other
        .fc
        .weight
        .as_flattened()
        .iter()
        .chain(other.conv.weight.as_flattened().as_flattened().as_flattened())
        .filter(|w| **w == 0.0)
        .count();
    assert_eq!(zeros, (0.5 * weights as f64).round() as usize);
}
