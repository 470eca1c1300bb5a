//! A successful call under the built-in policies performs no heap allocation.
//!
//! A counting global allocator sees every allocation of this test binary; the test builds the
//! policy and the runtime first, then counts only across the calls themselves.

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use steadfast::Policy;
use steadfast::breaker::BreakerConfig;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[steadfast::resilient(rpm = 1_000_000, on = [429, 503], timeout = "5s")]
async fn annotated(n: u32) -> Result<u32, std::io::Error> {
    Ok(n)
}

#[test]
fn a_successful_call_allocates_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let policies = [
        Policy::builder().build().unwrap(),
        Policy::builder().rpm(1_000_000).build().unwrap(),
        Policy::builder()
            .rpm(1_000_000)
            .rpd(100_000_000)
            .concurrency(8)
            .timeout(Duration::from_secs(5))
            .deadline(Duration::from_secs(30))
            .breaker(BreakerConfig::default())
            .build()
            .unwrap(),
    ];
    runtime.block_on(async {
        // Warm up: the timer wheel and the limiters' logs allocate on first use.
        for p in &policies {
            let _: Result<u32, std::io::Error> = p.call(|| async { Ok(1) }).await;
        }
        for (i, policy) in policies.iter().enumerate() {
            ALLOCATIONS.store(0, Ordering::SeqCst);
            COUNTING.store(true, Ordering::SeqCst);
            for _ in 0..1000 {
                let r: Result<u32, std::io::Error> = policy.call(|| async { Ok(1) }).await;
                assert_eq!(r.ok(), Some(1));
            }
            COUNTING.store(false, Ordering::SeqCst);
            assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "policy {i}");
        }
        // The same through the attribute (its policy is built on the first call).
        annotated(0).await.unwrap();
        ALLOCATIONS.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        for n in 0..1000 {
            assert_eq!(annotated(n).await.ok(), Some(n));
        }
        COUNTING.store(false, Ordering::SeqCst);
        assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "#[resilient]");
    });
}
