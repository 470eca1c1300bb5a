//! The rate limiter's guarantees, under tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::limit::{Denied, Quota, RateLimit, RateLimiter, shared};
use tokio::time::Instant;

/// The largest number of stamps (weighted) in any half-open window `[t, t + period)`.
fn max_in_window(stamps: &[(Duration, u32)], period: Duration) -> u64 {
    let mut sorted = stamps.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut sum = 0u64;
    let mut lo = 0;
    for hi in 0..sorted.len() {
        sum += u64::from(sorted[hi].1);
        while sorted[hi].0 - sorted[lo].0 >= period {
            sum -= u64::from(sorted[lo].1);
            lo += 1;
        }
        best = best.max(sum);
    }
    best
}

#[tokio::test(start_paused = true)]
async fn rpm_25_from_50_tasks_never_exceeds_25_per_minute_and_takes_40_minutes() {
    let limiter = Arc::new(RateLimit::builder().per_minute(25).build().unwrap());
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (limiter, stamps) = (limiter.clone(), stamps.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    limiter.acquire(1).await.unwrap();
                    stamps.lock().unwrap().push((start.elapsed(), 1));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stamps = stamps.lock().unwrap();
    assert_eq!(stamps.len(), 1000);
    assert_eq!(max_in_window(&stamps, Duration::from_secs(60)), 25);
    // The 1000th acquisition is 999 intervals of 2.4 s after the first: the ideal.
    let ideal = Duration::from_secs(40 * 60);
    let took = start.elapsed();
    assert!(took <= ideal, "{took:?}");
    assert!(took.as_secs_f64() >= ideal.as_secs_f64() * 0.99, "{took:?}");
    // Evenly spaced with burst 1.
    let mut sorted: Vec<_> = stamps.iter().map(|s| s.0).collect();
    sorted.sort();
    for pair in sorted.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(2400), "{pair:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn per_minute_and_per_day_hold_together() {
    // 10 a minute, 30 a day: the day's quota is spent at the minute's pace, then nothing
    // until the first acquisition is a day old.
    let limiter = RateLimit::builder()
        .per_minute(10)
        .per_day(30)
        .build()
        .unwrap();
    let start = Instant::now();
    let mut stamps = Vec::new();
    for _ in 0..35 {
        limiter.acquire(1).await.unwrap();
        stamps.push((start.elapsed(), 1));
    }
    assert_eq!(max_in_window(&stamps, Duration::from_secs(60)), 10);
    assert_eq!(max_in_window(&stamps, Duration::from_secs(86_400)), 30);
    assert!(stamps[29].0 < Duration::from_secs(180), "{:?}", stamps[29]);
    assert_eq!(
        stamps[30].0,
        Duration::from_secs(86_400),
        "the 31st waits a day"
    );
}

#[tokio::test(start_paused = true)]
async fn weighted_acquisitions_make_tokens_per_minute_exact() {
    let tpm = RateLimit::builder()
        .per_minute(1000)
        .burst(400)
        .build()
        .unwrap();
    let start = Instant::now();
    let mut stamps = Vec::new();
    for i in 0..60u32 {
        let weight = 50 + (i * 37) % 350;
        tpm.acquire(weight).await.unwrap();
        stamps.push((start.elapsed(), weight));
    }
    assert!(max_in_window(&stamps, Duration::from_secs(60)) <= 1000);
    assert_eq!(tpm.acquire(401).await, Err(Denied::never()));
}

#[tokio::test(start_paused = true)]
async fn burst_allows_back_to_back_but_keeps_the_window() {
    let limiter = RateLimit::builder()
        .per_minute(10)
        .burst(5)
        .build()
        .unwrap();
    for _ in 0..5 {
        limiter.try_acquire(1).unwrap();
    }
    assert!(
        limiter.try_acquire(1).is_err(),
        "a sixth would be back to back"
    );
    let start = Instant::now();
    let mut stamps = vec![(Duration::ZERO, 5)];
    for _ in 0..20 {
        limiter.acquire(1).await.unwrap();
        stamps.push((start.elapsed(), 1));
    }
    assert_eq!(max_in_window(&stamps, Duration::from_secs(60)), 10);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_acquire_takes_no_slot() {
    let limiter = RateLimit::builder().per_minute(1).build().unwrap();
    limiter.try_acquire(1).unwrap();
    // Give up waiting half-way through.
    let waited = tokio::time::timeout(Duration::from_secs(30), limiter.acquire(1)).await;
    assert!(waited.is_err());
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        limiter.try_acquire(1),
        Ok(()),
        "the slot is still free for others"
    );
}

#[tokio::test(start_paused = true)]
async fn the_trait_is_object_safe_and_the_builtin_implements_it() {
    let limiter: Arc<dyn RateLimiter> = Arc::new(
        RateLimit::builder()
            .quota(Quota::new(2.try_into().unwrap(), Duration::from_secs(10)).unwrap())
            .build()
            .unwrap(),
    );
    limiter.acquire(1).await.unwrap();
    assert!(limiter.try_acquire(1).await.is_err());
    let start = Instant::now();
    limiter.acquire(1).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[test]
fn a_name_gives_every_caller_the_same_limiter() {
    let a = shared("limiter-test-share", RateLimit::builder().per_second(1)).unwrap();
    let b = shared("limiter-test-share", RateLimit::builder().per_second(1)).unwrap();
    assert!(a.try_acquire(1).is_ok());
    assert!(b.try_acquire(1).is_err(), "b shares a's quota");
    let err = shared("limiter-test-share", RateLimit::builder().per_second(2)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("1 per second") && msg.contains("2 per second"),
        "{msg}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_daily_quota_alone_is_spent_at_any_pace_then_waits_for_the_window() {
    let limiter = RateLimit::builder().per_day(3).build().unwrap();
    for _ in 0..3 {
        assert_eq!(limiter.try_acquire(1), Ok(()), "not spread over the day");
    }
    let wait = limiter.try_acquire(1).unwrap_err().retry_after().unwrap();
    assert_eq!(wait, Duration::from_secs(86_400));
    let hourly = RateLimit::builder().per_hour(2).per_day(3).build().unwrap();
    assert!(hourly.try_acquire(1).is_ok() && hourly.try_acquire(1).is_ok());
    assert_eq!(
        hourly.try_acquire(1).unwrap_err().retry_after(),
        Some(Duration::from_secs(3600))
    );
}
