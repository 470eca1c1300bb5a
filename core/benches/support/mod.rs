//! Shared by the benches: a counting allocator and a one-poll executor.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

/// Counts allocations, to report how many a call makes.
#[derive(Debug)]
pub(crate) struct Counting;

/// Allocations so far.
pub(crate) static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Polls a future that is ready at once (a successful call never waits), without a runtime,
/// so that what is measured is the call and its wrapper, not an executor.
pub(crate) fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the benchmarked call was expected to complete at once"),
    }
}

/// Allocations per call of `f`, over `n` calls.
pub(crate) fn allocations_per_call(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..n {
        f();
    }
    (ALLOCATIONS.load(Ordering::SeqCst) - before) as f64 / n as f64
}
