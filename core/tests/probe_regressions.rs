//! Defects found by probing the public API as a new user would (2026-11-27): each test failed on
//! the code before its fix. Time runs on tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use steadfast::classify::{Classify, Failure, Verdict};
use steadfast::policy::PolicyConfig;
use steadfast::{Error, Policy};
use tokio::time::Instant;

/// A policy's own stop, kept.
#[derive(Debug)]
enum CallError {
    Server,
    Policy(Error),
}

impl Classify for CallError {
    fn failure(&self) -> Option<Failure> {
        match self {
            CallError::Server => Some(Failure::status(503)),
            CallError::Policy(_) => None,
        }
    }
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Policy(e)
    }
}

/// D3: a config file that builds must not panic when a call runs. Decorrelated jitter on a huge
/// base multiplied a `Duration` by three without saturating.
#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_on_a_huge_base_gives_up_at_the_deadline_instead_of_panicking() {
    let config: PolicyConfig = toml::from_str(
        "jitter = \"decorrelated\"\nbase = \"2000000000000000h\"\nmax_delay = \"2000000000000000h\"\ndeadline = \"10s\"\nbudget = false",
    )
    .unwrap();
    let policy = config.build().unwrap();
    let start = Instant::now();
    let result: Result<(), CallError> = policy.call(|| async { Err(CallError::Server) }).await;
    // It gives up (with the last real error: no delay fits in the time left), it does not panic.
    assert!(matches!(result, Err(CallError::Server)), "{result:?}");
    assert_eq!(policy.stats().give_ups, 1);
    assert!(start.elapsed() <= Duration::from_secs(10));
}

/// D4: a `Retry-After` longer than a year was read as no hint at all, so the call retried after
/// its backoff's second; the longer the server asked us to stay away, the sooner we came back.
#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_a_year_gives_up_at_once() {
    for retry_after in [
        "Fri, 31 Dec 2100 23:59:59 GMT",
        "31622401",
        "999999999",
        "99999999999999999999999",
    ] {
        let policy = Policy::builder()
            .budget(None)
            .attempts(3)
            .build()
            .unwrap();
        let sent = Arc::new(AtomicU32::new(0));
        let counter = sent.clone();
        let start = Instant::now();
        let result: Result<http::Response<()>, CallError> = policy
            .call_with(Verdict::of_result, move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = http::Response::builder()
                    .status(429)
                    .header("retry-after", retry_after)
                    .body(())
                    .unwrap();
                async move { Ok(response) }
            })
            .await;
        assert_eq!(sent.load(Ordering::SeqCst), 1, "{retry_after}");
        assert_eq!(start.elapsed(), Duration::ZERO, "{retry_after}");
        assert!(
            matches!(
                result,
                Err(CallError::Policy(Error::RetryDelayTooLong {
                    status: Some(429),
                    ..
                }))
            ),
            "{retry_after}: {result:?}"
        );
        let stats = policy.stats();
        assert_eq!((stats.retries, stats.give_ups), (0, 1), "{retry_after}");
    }
}
