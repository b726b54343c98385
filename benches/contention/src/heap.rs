//! The harness's allocator: mimalloc (as the `boxoffice` binary), with a
//! live-heap counter that a scenario switches on around what it measures.
//!
//! RSS alone cannot say whether a crowd's memory is data someone keeps or
//! pages the allocator retains after transient peaks (a snapshot's buffer,
//! a table's reallocation). The counter answers the first: the bytes
//! allocated minus the bytes freed while it was on. Off, it costs one relaxed
//! load per allocation, so the other scenarios measure what the server runs.
//! While on, every allocation and free is one atomic add on a shared line:
//! switch it on only around set-up, never around a timed phase.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

pub struct CountingMimalloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static NET_BYTES: AtomicI64 = AtomicI64::new(0);

fn count(delta: i64) {
    if COUNTING.load(Ordering::Relaxed) {
        NET_BYTES.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to mimalloc; the counter only
// reads the sizes.
unsafe impl GlobalAlloc for CountingMimalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        mimalloc::MiMalloc.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        mimalloc::MiMalloc.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        mimalloc::MiMalloc.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        mimalloc::MiMalloc.realloc(ptr, layout, new_size)
    }
}

/// Counts from now on (net bytes, from zero) until the returned window is read.
pub fn start_counting() -> Window {
    NET_BYTES.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    Window(())
}

/// A counting window: allocations minus frees since `start_counting`.
pub struct Window(());

impl Window {
    /// Stops counting; the net bytes the process's heap grew by in the window.
    /// (A free of memory allocated before the window counts against it, so
    /// this is the live heap's change, whatever was allocated when.)
    pub fn net_bytes(self) -> i64 {
        COUNTING.store(false, Ordering::Relaxed);
        NET_BYTES.load(Ordering::Relaxed)
    }
}
