//! The executor's behaviour, end to end through `Policy`, under tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::breaker::{BreakerConfig, BreakerState};
use steadfast::classify::{Classify, Failure, Transport, Verdict};
use steadfast::observe::{Event, FnHook, GiveUpReason, WaitReason};
use steadfast::policy::{PolicyConfig, Step};
use steadfast::{Error, Policy};
use tokio::time::Instant;

/// A test error: a status with an optional server hint, a transport failure, or a policy error.
#[derive(Debug, Clone, PartialEq)]
enum TestError {
    Status(u16, Option<Duration>),
    Transport(Transport),
    Policy(Error),
}

impl Classify for TestError {
    fn failure(&self) -> Option<Failure> {
        Some(match self {
            TestError::Status(s, hint) => Failure::status(*s).with_optional_hint(*hint),
            TestError::Transport(t) => Failure::transport(*t),
            TestError::Policy(_) => Failure::unknown(),
        })
    }
}

impl From<Error> for TestError {
    fn from(e: Error) -> Self {
        TestError::Policy(e)
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A call that answers from a script (the last entry repeats), counting its attempts.
fn scripted(
    script: Vec<Result<u32, TestError>>,
) -> (
    Arc<AtomicU32>,
    impl FnMut() -> std::future::Ready<Result<u32, TestError>>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let f = move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
        std::future::ready(script[n.min(script.len() - 1)].clone())
    };
    (calls, f)
}

fn no_budget() -> steadfast::PolicyBuilder {
    Policy::builder().budget(None)
}

#[tokio::test(start_paused = true)]
async fn a_503_then_success_succeeds_on_attempt_two() {
    let policy = no_budget()
        .on("429, 500, 503".parse().unwrap())
        .build()
        .unwrap();
    let (calls, f) = scripted(vec![Err(TestError::Status(503, None)), Ok(7)]);
    assert_eq!(policy.call(f).await, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let stats = policy.stats();
    assert_eq!((stats.attempts, stats.retries, stats.successes), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_status_outside_the_set_fails_at_once() {
    let policy = no_budget()
        .on("429, 500, 503".parse().unwrap())
        .build()
        .unwrap();
    let (calls, f) = scripted(vec![Err(TestError::Status(400, None)), Ok(7)]);
    let start = Instant::now();
    assert_eq!(policy.call(f).await, Err(TestError::Status(400, None)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_return_the_last_real_error() {
    let policy = no_budget().attempts(3).build().unwrap();
    let (calls, f) = scripted(vec![
        Err(TestError::Status(500, None)),
        Err(TestError::Status(502, None)),
        Err(TestError::Status(503, None)),
    ]);
    assert_eq!(policy.call(f).await, Err(TestError::Status(503, None)));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn ok_responses_with_a_failure_status_are_retried() {
    let policy = no_budget().build().unwrap();
    let mut statuses = [429u16, 503, 200].into_iter();
    let result: Result<http::StatusCode, TestError> = policy
        .call_with(Verdict::of_result, || {
            let s = http::StatusCode::from_u16(statuses.next().unwrap_or(200)).unwrap();
            async move { Ok(s) }
        })
        .await;
    assert_eq!(result, Ok(http::StatusCode::OK));
    assert_eq!(policy.stats().attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn a_30_second_hint_waits_exactly_30_seconds() {
    // Full jitter would pick a fraction of the backoff; the hint is obeyed as it is.
    let policy = no_budget().build().unwrap();
    let (_, f) = scripted(vec![Err(TestError::Status(429, Some(secs(30)))), Ok(1)]);
    let start = Instant::now();
    assert_eq!(policy.call(f).await, Ok(1));
    assert_eq!(start.elapsed(), secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_hint_is_ignored_when_honor_hint_is_off() {
    let policy = no_budget()
        .honor_hint(false)
        .base(Duration::from_millis(100))
        .jitter(steadfast::retry::Jitter::None)
        .build()
        .unwrap();
    let (_, f) = scripted(vec![Err(TestError::Status(429, Some(secs(30)))), Ok(1)]);
    let start = Instant::now();
    assert_eq!(policy.call(f).await, Ok(1));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_hint_beyond_the_deadline_gives_up_at_once_saying_when() {
    let policy = no_budget().deadline(secs(10)).build().unwrap();
    let (calls, f) = scripted(vec![Err(TestError::Status(429, Some(secs(30)))), Ok(1)]);
    let start = Instant::now();
    let err = policy.call(f).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "no sleep at all");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let TestError::Policy(
        e @ Error::RetryDelayTooLong {
            requested,
            allowed,
            status,
            ..
        },
    ) = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (*requested, *allowed, *status),
        (secs(30), secs(10), Some(429))
    );
    assert!(e.to_string().contains("would be allowed at"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_hint_beyond_max_hint_gives_up_at_once() {
    let policy = no_budget().max_hint(secs(60)).build().unwrap();
    let (_, f) = scripted(vec![Err(TestError::Status(429, Some(secs(3600)))), Ok(1)]);
    let start = Instant::now();
    let err = policy.call(f).await.unwrap_err();
    assert!(
        matches!(err, TestError::Policy(Error::RetryDelayTooLong { allowed, .. }) if allowed == secs(60))
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn terminal_failures_are_not_retried_even_with_a_short_hint() {
    #[derive(Debug)]
    struct PerDayQuota;
    impl Classify for PerDayQuota {
        fn failure(&self) -> Option<Failure> {
            Some(Failure::status(429).with_hint(secs(5)).terminal())
        }
    }
    impl From<Error> for PerDayQuota {
        fn from(_: Error) -> Self {
            PerDayQuota
        }
    }
    let policy = no_budget().build().unwrap();
    let calls = AtomicU32::new(0);
    let r: Result<(), PerDayQuota> = policy
        .call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(PerDayQuota) }
        })
        .await;
    assert!(r.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_follow_the_schedule() {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let seen = delays.clone();
    let policy = no_budget()
        .attempts(5)
        .base(Duration::from_millis(100))
        .factor(3.0)
        .max_delay(secs(1))
        .jitter(steadfast::retry::Jitter::None)
        .hook(Arc::new(FnHook::new(move |e: &Event| {
            if let Event::Retry { delay, reason, .. } = e {
                assert_eq!(*reason, WaitReason::Backoff);
                seen.lock().unwrap().push(*delay);
            }
        })))
        .build()
        .unwrap();
    let (_, f) = scripted(vec![Err(TestError::Transport(Transport::Connect))]);
    let start = Instant::now();
    assert!(policy.call(f).await.is_err());
    let expected = [100, 300, 900, 1000].map(Duration::from_millis);
    assert_eq!(*delays.lock().unwrap(), expected);
    assert_eq!(start.elapsed(), expected.iter().sum::<Duration>());
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_the_nominal_bounds() {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let seen = delays.clone();
    let policy = no_budget()
        .attempts(6)
        .base(Duration::from_millis(200))
        .jitter(steadfast::retry::Jitter::Equal)
        .hook(Arc::new(FnHook::new(move |e: &Event| {
            if let Event::Retry { delay, .. } = e {
                seen.lock().unwrap().push(*delay);
            }
        })))
        .build()
        .unwrap();
    for _ in 0..20 {
        let (_, f) = scripted(vec![Err(TestError::Status(503, None))]);
        let _ = policy.call(f).await;
    }
    let delays = delays.lock().unwrap();
    assert_eq!(delays.len(), 20 * 5);
    for (i, d) in delays.iter().enumerate() {
        let nominal = Duration::from_millis(200 * 2u64.pow((i % 5) as u32));
        assert!(
            *d >= nominal / 2 && *d <= nominal,
            "retry {}: {d:?} vs {nominal:?}",
            i % 5 + 1
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_is_retried_and_reported_through_from() {
    let policy = no_budget()
        .attempts(2)
        .timeout(secs(1))
        .base(Duration::from_millis(10))
        .build()
        .unwrap();
    let start = Instant::now();
    let r: Result<(), TestError> = policy
        .call(|| async {
            tokio::time::sleep(secs(5)).await;
            Ok(())
        })
        .await;
    assert_eq!(
        r,
        Err(TestError::Policy(Error::AttemptTimedOut { after: secs(1) }))
    );
    assert_eq!(policy.stats().attempts, 2);
    assert!(start.elapsed() < secs(3), "{:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_is_cut_at_the_deadline_and_nothing_sleeps_past_it() {
    let policy = no_budget()
        .deadline(secs(10))
        .base(secs(4))
        .jitter(steadfast::retry::Jitter::None)
        .build()
        .unwrap();
    // Attempt 1 fails at t=3; the 4 s backoff ends at t=7; attempt 2 fails at t=10?
    // No: it is cut at the deadline.
    let start = Instant::now();
    let n = AtomicU32::new(0);
    let r: Result<(), TestError> = policy
        .call(|| {
            let first = n.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                tokio::time::sleep(secs(if first { 3 } else { 60 })).await;
                Err(TestError::Status(503, None))
            }
        })
        .await;
    assert_eq!(
        r,
        Err(TestError::Policy(Error::DeadlineExceeded {
            deadline: secs(10)
        }))
    );
    assert_eq!(start.elapsed(), secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_backoff_that_would_pass_the_deadline_is_not_started() {
    let policy = no_budget()
        .deadline(secs(10))
        .base(secs(8))
        .jitter(steadfast::retry::Jitter::None)
        .build()
        .unwrap();
    let (calls2, f2) = scripted(vec![
        Err(TestError::Status(503, None)),
        Err(TestError::Status(503, None)),
    ]);
    let start2 = Instant::now();
    // 8 s backoff fits once (t=8), the next 8 s would end at t=16 > 10: give up at t=8.
    let r2 = policy.call(f2).await;
    assert_eq!(r2, Err(TestError::Status(503, None)), "the last real error");
    assert_eq!(start2.elapsed(), secs(8));
    assert_eq!(calls2.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn every_retry_passes_the_rate_limiter() {
    let policy = no_budget()
        .rpm(6)
        .base(Duration::from_millis(1))
        .jitter(steadfast::retry::Jitter::None)
        .build()
        .unwrap();
    let (calls, f) = scripted(vec![
        Err(TestError::Status(503, None)),
        Err(TestError::Status(503, None)),
        Ok(3),
    ]);
    let start = Instant::now();
    assert_eq!(policy.call(f).await, Ok(3));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Three attempts at 6 a minute: 0 s, 10 s, 20 s.
    assert_eq!(start.elapsed(), secs(20));
    let stats = policy.stats();
    assert_eq!(stats.rate_limit_waits, 2);
}

#[tokio::test(start_paused = true)]
async fn a_limiter_wait_beyond_the_deadline_gives_up_at_once() {
    let policy = no_budget().rpm(1).deadline(secs(30)).build().unwrap();
    let (_, f) = scripted(vec![Ok(1)]);
    assert_eq!(policy.call(f).await, Ok(1));
    let (calls, f) = scripted(vec![Ok(1)]);
    let start = Instant::now();
    let r = policy.call(f).await;
    assert!(
        matches!(r, Err(TestError::Policy(Error::RateLimited { retry_after: Some(d) })) if d == secs(60)),
        "{r:?}"
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_rejects_without_a_slot_probes_and_closes() {
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let seen = transitions.clone();
    let policy = no_budget()
        .attempts(1)
        .rpm(600)
        .breaker(BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 4,
            window: secs(60),
            open_for: secs(30),
            half_open: 1,
        })
        .hook(Arc::new(FnHook::new(move |e: &Event| {
            if let Event::Breaker(t) = e {
                seen.lock().unwrap().push(t.to);
            }
        })))
        .build()
        .unwrap();
    for _ in 0..4 {
        let (_, f) = scripted(vec![Err(TestError::Status(503, None))]);
        assert_eq!(policy.call(f).await, Err(TestError::Status(503, None)));
    }
    assert_eq!(policy.stats().breaker, Some(BreakerState::Open));
    // While open: refused at once, nothing sent, no rate-limit slot taken.
    let limiter = policy.rate_limit().unwrap();
    tokio::time::advance(secs(1)).await;
    let (calls, f) = scripted(vec![Ok(1)]);
    let r = policy.call(f).await;
    assert!(
        matches!(r, Err(TestError::Policy(Error::CircuitOpen { .. }))),
        "{r:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(
        limiter.try_acquire(1).is_ok(),
        "the refused call took no slot"
    );
    assert_eq!(policy.stats().rejected_by_breaker, 1);
    // After open_for, one probe; its success closes the breaker.
    tokio::time::advance(secs(30)).await;
    let (_, f) = scripted(vec![Ok(1)]);
    assert_eq!(policy.call(f).await, Ok(1));
    assert_eq!(policy.stats().breaker, Some(BreakerState::Closed));
    assert_eq!(
        *transitions.lock().unwrap(),
        [
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Closed
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn client_errors_do_not_open_the_breaker() {
    let policy = no_budget()
        .attempts(1)
        .breaker(BreakerConfig {
            min_calls: 2,
            ..BreakerConfig::default()
        })
        .build()
        .unwrap();
    for _ in 0..10 {
        let (_, f) = scripted(vec![Err(TestError::Status(400, None))]);
        let _ = policy.call(f).await;
    }
    assert_eq!(policy.stats().breaker, Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_releases_its_permit_limiter_slot_and_probe() {
    let policy = Arc::new(
        no_budget()
            .concurrency(1)
            .rpm(60)
            .attempts(1)
            .breaker(BreakerConfig {
                min_calls: 1,
                half_open: 1,
                open_for: secs(1),
                ..BreakerConfig::default()
            })
            .build()
            .unwrap(),
    );
    // Open the breaker, then wait until it lets a probe through.
    let (_, f) = scripted(vec![Err(TestError::Status(503, None))]);
    let _ = policy.call(f).await;
    tokio::time::advance(secs(2)).await;
    // A probe that hangs, cancelled mid-attempt while holding the permit.
    let hung = tokio::time::timeout(
        secs(5),
        policy.call(|| async {
            std::future::pending::<()>().await;
            Ok::<u32, TestError>(0)
        }),
    )
    .await;
    assert!(hung.is_err());
    let limiter = policy.rate_limit().unwrap();
    // The cancelled call got its slot at t=2 s; by now (t=7 s) the pace allows another.
    // A call cancelled while *waiting* for the limiter takes no slot at all:
    let waiting = tokio::time::timeout(Duration::from_millis(1), async {
        limiter.acquire(1).await.unwrap();
        limiter.acquire(1).await.unwrap();
    })
    .await;
    assert!(waiting.is_err());
    tokio::time::advance(secs(1)).await;
    // The permit is back, the probe slot is free, and the t=8 s slot is free: the cancelled
    // second acquisition reserved nothing, so this call starts at once.
    let (calls, f) = scripted(vec![Ok(9)]);
    let start = Instant::now();
    assert_eq!(policy.call(f).await, Ok(9));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(policy.stats().breaker, Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn the_budget_stops_a_retry_storm() {
    let ratio = 0.2;
    let floor = 10;
    let policy = Arc::new(
        Policy::builder()
            .budget(Some((ratio, floor)))
            .attempts(5)
            .base(Duration::from_millis(100))
            .max_delay(secs(1))
            .build()
            .unwrap(),
    );
    let sent = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (policy, sent) = (policy.clone(), sent.clone());
            tokio::spawn(async move {
                let _: Result<(), TestError> = policy
                    .call(|| {
                        sent.fetch_add(1, Ordering::SeqCst);
                        async { Err(TestError::Status(503, None)) }
                    })
                    .await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64().ceil() as u64;
    let retries = policy.stats().retries;
    let bound = (ratio * 1000.0) as u64 + floor as u64 * (elapsed + 1);
    assert!(retries <= bound, "{retries} retries > {bound}");
    assert!(
        retries < 400,
        "without a budget there would be 4000: {retries}"
    );
    assert_eq!(u64::from(sent.load(Ordering::SeqCst)), 1000 + retries);
    // Without a budget the same storm costs five attempts a call.
    let unbounded = no_budget()
        .attempts(5)
        .base(Duration::from_millis(100))
        .build()
        .unwrap();
    let (calls, f) = scripted(vec![Err(TestError::Status(503, None))]);
    let _ = unbounded.call(f).await;
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn a_mut_self_method_is_retried_through_the_step_interface() {
    struct Client {
        mutations: u32,
    }
    impl Client {
        async fn send(&mut self) -> Result<u32, TestError> {
            self.mutations += 1;
            if self.mutations < 3 {
                Err(TestError::Status(503, None))
            } else {
                Ok(self.mutations)
            }
        }
    }
    let policy = no_budget().build().unwrap();
    let mut client = Client { mutations: 0 };
    let mut run = policy.start();
    let result = loop {
        if let Err(e) = run.before_attempt().await {
            break Err(TestError::from(e));
        }
        let attempt = run.attempt(client.send()).await;
        match run.after_attempt(attempt, Verdict::of_error).await {
            Step::Retry => continue,
            Step::Done(r) => break r,
            Step::Stop(s) => break Err(s.into_error()),
        }
    };
    assert_eq!(result, Ok(3));
    assert_eq!(client.mutations, 3, "the same object, mutated three times");
}

#[tokio::test(start_paused = true)]
async fn give_up_events_say_why() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    let policy = no_budget()
        .attempts(2)
        .base(Duration::from_millis(1))
        .hook(Arc::new(FnHook::new(move |e: &Event| {
            if let Event::GiveUp { reason, .. } = e {
                seen.lock().unwrap().push(*reason);
            }
        })))
        .build()
        .unwrap();
    let (_, f) = scripted(vec![Err(TestError::Status(404, None))]);
    let _ = policy.call(f).await;
    let (_, f) = scripted(vec![Err(TestError::Status(500, None))]);
    let _ = policy.call(f).await;
    assert_eq!(
        *reasons.lock().unwrap(),
        [GiveUpReason::NotRetryable, GiveUpReason::AttemptsExhausted]
    );
    assert_eq!(policy.stats().give_ups, 2);
}

#[tokio::test(start_paused = true)]
async fn a_policy_from_a_toml_file_behaves_as_configured() {
    let config: PolicyConfig = toml::from_str(
        r#"
        retry = "fixed"
        on = [503]
        attempts = 3
        base = "2s"
        jitter = "none"
        budget = false
        "#,
    )
    .unwrap();
    let policy = config.build().unwrap();
    let (calls, f) = scripted(vec![Err(TestError::Status(503, None))]);
    let start = Instant::now();
    assert!(policy.call(f).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), secs(4));
}

#[test]
fn bad_configurations_are_clear_errors() {
    let field = |b: steadfast::PolicyBuilder| b.build().unwrap_err().field();
    assert_eq!(field(Policy::builder().attempts(0)), "attempts");
    assert_eq!(field(Policy::builder().rpm(0)), "rpm");
    assert_eq!(field(Policy::builder().factor(1.0)), "factor");
    assert_eq!(field(Policy::builder().factor(f64::NAN)), "factor");
    assert_eq!(
        field(Policy::builder().base(secs(10)).max_delay(secs(1))),
        "base"
    );
    assert_eq!(
        field(Policy::builder().budget(Some((f64::NAN, 1)))),
        "budget"
    );
    assert_eq!(field(Policy::builder().concurrency(0)), "concurrency");
    assert_eq!(
        field(Policy::builder().breaker(BreakerConfig {
            failure_ratio: f64::NAN,
            ..BreakerConfig::default()
        })),
        "failure_ratio"
    );
    assert_eq!(field(Policy::builder().retry("sometimes")), "retry");
    assert_eq!(
        field(Policy::builder().timeout(secs(5)).deadline(secs(5))),
        "timeout"
    );
    assert_eq!(field(Policy::builder().limiter_name("lonely")), "limiter");
    for bad in [
        r#"jitter = "sometimes""#,
        "rpm = -1",
        r#"on = [700]"#,
        r#"deadline = "5 sec""#,
        "[breaker]\nfailure_ratio = 0.5\nwindoww = \"1s\"",
    ] {
        assert!(toml::from_str::<PolicyConfig>(bad).is_err(), "{bad}");
    }
    let c: PolicyConfig = toml::from_str("rpm = 0").unwrap();
    assert_eq!(c.build().unwrap_err().field(), "rpm");
}

#[tokio::test(start_paused = true)]
async fn named_limiters_are_shared_between_policies() {
    let a = no_budget()
        .rpm(1)
        .limiter_name("executor-shared")
        .build()
        .unwrap();
    let b = no_budget()
        .rpm(1)
        .limiter_name("executor-shared")
        .build()
        .unwrap();
    let (_, f) = scripted(vec![Ok(1)]);
    assert_eq!(a.call(f).await, Ok(1));
    let start = Instant::now();
    let (_, f) = scripted(vec![Ok(2)]);
    assert_eq!(b.call(f).await, Ok(2));
    assert_eq!(start.elapsed(), secs(60), "b waited for a's slot to age");
    assert!(
        no_budget()
            .rpm(2)
            .limiter_name("executor-shared")
            .build()
            .is_err(),
        "a different configuration for the same name"
    );
}

#[tokio::test(start_paused = true)]
async fn at_most_n_attempts_are_in_flight() {
    let policy = Arc::new(no_budget().concurrency(3).build().unwrap());
    let in_flight = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (policy, in_flight, peak) = (policy.clone(), in_flight.clone(), peak.clone());
            tokio::spawn(async move {
                let r: Result<(), TestError> = policy
                    .call(|| {
                        let (in_flight, peak) = (in_flight.clone(), peak.clone());
                        async move {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(secs(1)).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        }
                    })
                    .await;
                r.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(
        start.elapsed(),
        secs(4),
        "ten one-second attempts, three at a time"
    );
}
