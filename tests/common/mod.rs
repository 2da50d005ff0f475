//! A counting global allocator for the memory tests (tests/serialize_memory.rs,
//! tests/checkpoint_memory.rs): it tracks the bytes in use and their peak. Each of those
//! binaries installs it and holds one test, so that nothing else allocates while it
//! measures:
//!
//! ```ignore
//! mod common;
//! #[global_allocator]
//! static ALLOCATOR: common::Counting = common::Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let now = if new_size >= layout.size() {
            CURRENT.fetch_add(new_size - layout.size(), Ordering::SeqCst) + new_size - layout.size()
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::SeqCst) - (layout.size() - new_size)
        };
        // While moving, both blocks exist.
        PEAK.fetch_max(now + layout.size().min(new_size), Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What `f` returns, and the peak of the bytes in use while it ran, above what was in use
/// before (what it returns included, since it is allocated by then).
pub fn peak_of<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = f();
    (PEAK.load(Ordering::SeqCst) - base, r)
}
