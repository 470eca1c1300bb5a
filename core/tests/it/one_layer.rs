//! One layer retries: a resilient call awaited inside another policy's attempt makes one attempt
//! and hands its failure up, while its limits still apply.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use steadfast::classify::{Classify, Failure};
use steadfast::{Policy, resilient};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
struct ApiError(u16);

impl Classify for ApiError {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0))
    }
}

impl From<steadfast::Error> for ApiError {
    fn from(_: steadfast::Error) -> Self {
        ApiError(599)
    }
}

static INNER_SENT: AtomicU32 = AtomicU32::new(0);

#[resilient(on = [503], attempts = 4, base = "10ms", budget = false)]
async fn inner_always_503() -> Result<(), ApiError> {
    INNER_SENT.fetch_add(1, Ordering::SeqCst);
    Err(ApiError(503))
}

#[resilient(on = [503], attempts = 3, base = "10ms", budget = false)]
async fn outer_around_inner() -> Result<(), ApiError> {
    inner_always_503().await
}

#[tokio::test(start_paused = true)]
async fn three_outer_attempts_around_four_inner_ones_send_three_requests_not_twelve() {
    INNER_SENT.store(0, Ordering::SeqCst);
    assert_eq!(outer_around_inner().await, Err(ApiError(503)));
    assert_eq!(INNER_SENT.load(Ordering::SeqCst), 3);
    // Called on its own, the inner function keeps its four attempts.
    INNER_SENT.store(0, Ordering::SeqCst);
    assert_eq!(inner_always_503().await, Err(ApiError(503)));
    assert_eq!(INNER_SENT.load(Ordering::SeqCst), 4);
}

static KEEPER_SENT: AtomicU32 = AtomicU32::new(0);

#[resilient(on = [503], attempts = 4, base = "10ms", budget = false, retry_when_nested = true)]
async fn inner_that_keeps_its_retries() -> Result<(), ApiError> {
    KEEPER_SENT.fetch_add(1, Ordering::SeqCst);
    Err(ApiError(503))
}

#[resilient(on = [503], attempts = 3, base = "10ms", budget = false)]
async fn outer_around_keeper() -> Result<(), ApiError> {
    inner_that_keeps_its_retries().await
}

#[tokio::test(start_paused = true)]
async fn retry_when_nested_keeps_the_inner_retries() {
    assert!(outer_around_keeper().await.is_err());
    assert_eq!(KEEPER_SENT.load(Ordering::SeqCst), 12);
}

static PACED_STARTS: std::sync::Mutex<Vec<Instant>> = std::sync::Mutex::new(Vec::new());

#[resilient(on = [503], attempts = 5, rpm = 6, budget = false)]
async fn inner_paced(fail: bool) -> Result<(), ApiError> {
    PACED_STARTS.lock().unwrap().push(Instant::now());
    if fail { Err(ApiError(503)) } else { Ok(()) }
}

#[resilient(on = [503], attempts = 3, base = "1s", budget = false)]
async fn outer_around_paced() -> Result<(), ApiError> {
    inner_paced(true).await
}

#[tokio::test(start_paused = true)]
async fn the_inner_rate_limit_still_paces_every_request() {
    let _ = outer_around_paced().await;
    let starts = PACED_STARTS.lock().unwrap().clone();
    assert_eq!(starts.len(), 3, "one inner attempt per outer attempt");
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(10), "6 per minute");
    }
}

#[tokio::test(start_paused = true)]
async fn a_policy_call_inside_an_attribute_attempt_makes_one_attempt() {
    static SENT: AtomicU32 = AtomicU32::new(0);
    let inner = Policy::builder()
        .attempts(5)
        .base(Duration::from_millis(1))
        .budget(None)
        .build()
        .unwrap();

    #[resilient(on = [503], attempts = 2, base = "10ms", budget = false)]
    async fn outer(inner: &Policy) -> Result<(), ApiError> {
        inner
            .call(|| async {
                SENT.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(ApiError(503))
            })
            .await
    }

    assert!(outer(&inner).await.is_err());
    assert_eq!(SENT.load(Ordering::SeqCst), 2);
    assert_eq!(inner.stats().attempts, 2);
}

// Its own counter: tests run in parallel, and `INNER_SENT` belongs to the test above.
static SPAWNED_SENT: AtomicU32 = AtomicU32::new(0);

#[resilient(on = [503], attempts = 4, base = "10ms", budget = false)]
async fn spawned_inner() -> Result<(), ApiError> {
    SPAWNED_SENT.fetch_add(1, Ordering::SeqCst);
    Err(ApiError(503))
}

#[tokio::test(start_paused = true)]
async fn work_spawned_from_an_attempt_is_not_inside_it() {
    #[resilient(attempts = 1)]
    async fn spawner() -> Result<(), ApiError> {
        let handle = tokio::spawn(spawned_inner());
        handle.await.unwrap()
    }

    assert!(spawner().await.is_err());
    assert_eq!(
        SPAWNED_SENT.load(Ordering::SeqCst),
        4,
        "a separate task keeps its own retries"
    );
}

#[resilient(on = [503], attempts = 2, timeout = "1s", budget = false)]
async fn inner_slow() -> Result<(), ApiError> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(())
}

#[resilient(on = [503], attempts = 2, base = "10ms", budget = false)]
async fn outer_around_slow() -> Result<(), ApiError> {
    inner_slow().await
}

#[tokio::test(start_paused = true)]
async fn the_inner_timeout_still_applies() {
    let started = Instant::now();
    assert_eq!(outer_around_slow().await, Err(ApiError(599)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "two 1 s timeouts and a short wait"
    );
}
