//! Rate limiter throughput: steadfast's `try_acquire` against governor's `check()` on the same
//! quota (large enough never to refuse), on one thread and on two contended threads.
//!
//! `cargo bench -p steadfast --bench limiter`

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use steadfast::limit::RateLimit;

const RATE: u32 = 1_000_000_000;

fn steadfast_limit() -> Arc<RateLimit> {
    Arc::new(RateLimit::builder().per_second(RATE).build().unwrap())
}

fn governor_limit() -> Arc<governor::DefaultDirectRateLimiter> {
    Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
        NonZeroU32::new(RATE).unwrap(),
    )))
}

/// Runs `per_thread` operations on each of `threads` threads at once; total wall time.
fn contended(threads: usize, per_thread: u64, op: Arc<dyn Fn() + Send + Sync>) -> Duration {
    let barrier = Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (op, barrier) = (op.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..per_thread {
                    op();
                }
                start.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap_or_default()
}

fn benches(c: &mut Criterion) {
    let ours = steadfast_limit();
    let theirs = governor_limit();
    let mut group = c.benchmark_group("rate limiter, one thread");
    group.bench_function("steadfast try_acquire", |b| {
        b.iter(|| black_box(ours.try_acquire(1)).is_ok())
    });
    group.bench_function("governor check", |b| {
        b.iter(|| black_box(theirs.check()).is_ok())
    });
    // What reading the clock costs on its own: tokio's `Instant::now` (which the limiter uses so
    // that tokio's paused clock works in tests) and the standard library's.
    group.bench_function("clock read: tokio Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    group.bench_function("clock read: std Instant::now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    group.finish();

    let mut group = c.benchmark_group("rate limiter, two threads contended");
    group.bench_function("steadfast try_acquire", |b| {
        b.iter_custom(|iters| {
            let l = steadfast_limit();
            contended(
                2,
                iters,
                Arc::new(move || {
                    let _ = black_box(l.try_acquire(1));
                }),
            )
        })
    });
    group.bench_function("governor check", |b| {
        b.iter_custom(|iters| {
            let l = governor_limit();
            contended(
                2,
                iters,
                Arc::new(move || {
                    let _ = black_box(l.check());
                }),
            )
        })
    });
    group.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
