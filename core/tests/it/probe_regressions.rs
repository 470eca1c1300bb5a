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
        let policy = Policy::builder().budget(None).attempts(3).build().unwrap();
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

/// An inner service that answers its first call with a 503, then never gets ready again
/// (`Pending`, or an error when `fail_ready`).
#[cfg(feature = "tower")]
#[derive(Clone)]
struct StuckAfterOne {
    calls: Arc<AtomicU32>,
    fail_ready: bool,
}

#[cfg(feature = "tower")]
impl tower::Service<u32> for StuckAfterOne {
    type Response = http::Response<()>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<http::Response<()>, std::io::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), std::io::Error>> {
        match (self.calls.load(Ordering::SeqCst), self.fail_ready) {
            (0, _) => std::task::Poll::Ready(Ok(())),
            (_, true) => std::task::Poll::Ready(Err(std::io::Error::other("closed"))),
            (_, false) => std::task::Poll::Pending,
        }
    }

    fn call(&mut self, _: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(http::Response::builder().status(503).body(()).unwrap()))
    }
}

/// D6: the deadline did not bound the wait for the inner service's readiness before a retry,
/// so a service that stayed unready held the call forever.
#[cfg(feature = "tower")]
#[tokio::test(start_paused = true)]
async fn tower_readiness_before_a_retry_is_bounded_by_the_deadline() {
    use tower::{Layer, Service, ServiceExt};
    let policy = Policy::builder()
        .budget(None)
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut svc = steadfast::tower::PolicyLayer::new(policy).layer(StuckAfterOne {
        calls: Arc::new(AtomicU32::new(0)),
        fail_ready: false,
    });
    let start = Instant::now();
    let call = svc.ready().await.unwrap().call(1);
    let result = tokio::time::timeout(Duration::from_secs(3600), call)
        .await
        .expect("the call ends by its 5 s deadline");
    assert!(
        matches!(
            result,
            Err(steadfast::tower::PolicyError::Policy(
                Error::DeadlineExceeded { .. }
            ))
        ),
        "{result:?}"
    );
    assert!(start.elapsed() <= Duration::from_secs(5));
    assert_eq!(svc.policy().stats().give_ups, 1);
}

/// D7: a readiness error before a retry ended the call without counting a give-up, logging
/// one or telling the hook.
#[cfg(feature = "tower")]
#[tokio::test(start_paused = true)]
async fn tower_readiness_error_before_a_retry_is_a_give_up() {
    use steadfast::observe::{Event, FnHook, GiveUpReason};
    use tower::{Layer, Service, ServiceExt};
    let reasons = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reasons.clone();
    let policy = Policy::builder()
        .budget(None)
        .hook(Arc::new(FnHook::new(move |event: &Event| {
            if let Event::GiveUp { reason, .. } = event {
                seen.lock().unwrap().push(*reason);
            }
        })))
        .build()
        .unwrap();
    let mut svc = steadfast::tower::PolicyLayer::new(policy).layer(StuckAfterOne {
        calls: Arc::new(AtomicU32::new(0)),
        fail_ready: true,
    });
    let result = svc.ready().await.unwrap().call(1).await;
    match result {
        Err(steadfast::tower::PolicyError::Service(e)) => assert_eq!(e.to_string(), "closed"),
        other => panic!("{other:?}"),
    }
    let stats = svc.policy().stats();
    assert_eq!((stats.calls, stats.give_ups), (1, 1));
    assert_eq!(*reasons.lock().unwrap(), [GiveUpReason::ServiceNotReady]);
}

/// D1: settings the policy would not use were accepted and dropped: a `burst` without a rate
/// (so no limiter at all), budget settings beside a shared budget, breaker settings beside a
/// breaker value. Each is now an error naming the setting.
#[test]
fn settings_a_policy_would_drop_are_refused() {
    use steadfast::breaker::{BreakerConfig, SlidingWindowBreaker};
    use steadfast::retry::RetryBudget;
    let field =
        |built: Result<Policy, steadfast::ConfigError>| built.unwrap_err().field().to_owned();

    assert_eq!(field(Policy::builder().burst(5).build()), "burst");
    assert_eq!(field(Policy::builder().burst(0).build()), "burst");
    assert_eq!(
        field(Policy::builder().adapt(true).burst(0).build()),
        "burst"
    );
    let limiter: Arc<dyn steadfast::limit::RateLimiter> = Arc::new(
        steadfast::limit::RateLimit::new(
            steadfast::limit::RateLimitConfig::default().per_second(5),
        )
        .unwrap(),
    );
    assert_eq!(
        field(Policy::builder().limiter(limiter).burst(0).build()),
        "burst"
    );
    for text in ["burst = 0", "burst = 5"] {
        let config: PolicyConfig = toml::from_str(text).unwrap();
        assert_eq!(field(config.build()), "burst", "{text}");
    }
    // With a rate, a burst is used (and a zero burst refused by the limiter).
    assert!(
        Policy::builder()
            .rpm(10)
            .burst(5)
            .build()
            .unwrap()
            .limiter()
            .is_some()
    );
    assert_eq!(field(Policy::builder().rpm(10).burst(0).build()), "burst");

    let shared = Arc::new(RetryBudget::new(0.1, 1).unwrap());
    assert_eq!(
        field(
            Policy::builder()
                .shared_budget(shared.clone())
                .budget(Some((f64::NAN, 1)))
                .build()
        ),
        "budget"
    );
    assert!(Policy::builder().shared_budget(shared).build().is_ok());

    let breaker = Arc::new(SlidingWindowBreaker::new(BreakerConfig::default()).unwrap());
    let nan = BreakerConfig {
        failure_ratio: f64::NAN,
        ..BreakerConfig::default()
    };
    assert_eq!(
        field(
            Policy::builder()
                .circuit_breaker(breaker.clone())
                .breaker(nan)
                .build()
        ),
        "breaker"
    );
    assert!(Policy::builder().circuit_breaker(breaker).build().is_ok());
}

/// D2: a bad `on` entry in a config file said only "data did not match any variant of untagged
/// enum Entry": not which key, nor what a valid entry looks like.
#[test]
fn a_bad_on_entry_says_what_an_entry_may_be() {
    for toml_text in [
        "on = [429.5]",
        "on = [-1]",
        "on = [true]",
        "on = [70000]",
        "on = [[429]]",
    ] {
        let message = toml::from_str::<PolicyConfig>(toml_text)
            .unwrap_err()
            .to_string();
        assert!(!message.contains("untagged"), "{toml_text}: {message}");
        assert!(message.contains("`on` entry"), "{toml_text}: {message}");
        assert!(message.contains("500..=599"), "{toml_text}: {message}");
    }
    for json in [
        r#"{"on": [70000]}"#,
        r#"{"on": [429.5]}"#,
        r#"{"on": [null]}"#,
    ] {
        let message = serde_json::from_str::<PolicyConfig>(json)
            .unwrap_err()
            .to_string();
        assert!(!message.contains("untagged"), "{json}: {message}");
        assert!(message.contains("`on` entry"), "{json}: {message}");
    }
    // Statuses out of range and bad ranges keep their own messages.
    let message = toml::from_str::<PolicyConfig>("on = [99]")
        .unwrap_err()
        .to_string();
    assert!(message.contains("99"), "{message}");
    let message = toml::from_str::<PolicyConfig>(r#"on = ["soon"]"#)
        .unwrap_err()
        .to_string();
    assert!(message.contains("`soon` is not a status"), "{message}");
    let message = toml::from_str::<PolicyConfig>("on = 429")
        .unwrap_err()
        .to_string();
    assert!(message.contains("`on`: a list"), "{message}");
    // What was valid stays valid.
    let config: PolicyConfig =
        toml::from_str(r#"on = [429, "500..=599", "transient", "timeout"]"#).unwrap();
    assert!(config.on.is_some());
}

/// D5: `Stats::rate_limit_waited` held each wait as predicted at its start: under contention a
/// waiter that had to sleep again was charged only its first sleep, and a call cancelled during
/// its wait was charged the whole of it.
#[tokio::test(start_paused = true)]
async fn rate_limit_waited_is_the_time_actually_waited() {
    let policy = Arc::new(Policy::builder().budget(None).rps(1).build().unwrap());
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let policy = policy.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                let _: Result<(), CallError> = policy.call(|| async { Ok(()) }).await;
                start.elapsed()
            })
        })
        .collect();
    let mut total = Duration::ZERO;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, Duration::from_secs(3), "0 + 1 + 2 seconds");
    assert_eq!(policy.stats().rate_limit_waited, total);
    assert_eq!(policy.stats().rate_limit_waits, 2);

    let policy = Policy::builder().budget(None).rpm(1).build().unwrap();
    let _: Result<(), CallError> = policy.call(|| async { Ok(()) }).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(10),
        policy.call(|| async { Ok::<(), CallError>(()) }),
    )
    .await;
    assert!(cancelled.is_err());
    assert_eq!(policy.stats().rate_limit_waited, Duration::from_millis(10));
    assert_eq!(policy.stats().rate_limit_waits, 1);
}
