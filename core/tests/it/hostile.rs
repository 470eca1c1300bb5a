//! Promises under hostile conditions: no panic whatever the server answers, and the rate limit
//! exact whatever else is configured. Each `repro_*` test failed on the code before its fix.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::classify::{Classify, Failure, Transport};
use steadfast::{Policy, resilient};
use tokio::time::Instant;

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. No panic: a stop on an `Ok` outcome whose error type cannot hold a policy error.
// ---------------------------------------------------------------------------------------------

/// A server that answers every request with `429` and `Retry-After: 3600`, counting requests.
#[cfg(feature = "reqwest")]
async fn long_retry_after_server() -> (std::net::SocketAddr, Arc<AtomicU32>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = Vec::new();
                while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 3600\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow",
                    )
                    .await;
            });
        }
    });
    (addr, seen)
}

#[cfg(feature = "reqwest")]
#[resilient(on = [429, 503])]
async fn fetch(url: &str) -> Result<reqwest::Response, reqwest::Error> {
    reqwest::get(url).await
}

/// The first scenario: `Ok(response 429)` with a hint beyond `max_hint` and an error type
/// without `From<steadfast::Error>` panicked with "a policy stop without the call's error".
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn repro_ok_429_with_long_retry_after_returns_the_response_instead_of_panicking() {
    let (addr, seen) = long_retry_after_server().await;
    let response = fetch(&format!("http://{addr}/")).await.unwrap();
    assert_eq!(response.status(), 429, "the last real outcome comes back");
    assert_eq!(response.headers()["retry-after"], "3600");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "a delay of an hour is not waited for, and not retried early"
    );
}

/// What a scripted attempt answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scripted {
    /// `Ok` and a success.
    Success,
    /// `Ok`, but a failure status (like a 429 response), with an optional hint in seconds.
    OkFailure(u16, Option<u64>),
    /// `Err` with a status and an optional hint in seconds.
    Error(u16, Option<u64>),
    /// `Err` from below HTTP.
    Transport,
    /// The attempt takes this many seconds before succeeding.
    Slow(u64),
}

/// A response-like value that classifies by its status.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    index: usize,
    status: u16,
    hint: Option<u64>,
}

impl Classify for Response {
    fn failure(&self) -> Option<Failure> {
        (self.status >= 400).then(|| {
            Failure::status(self.status).with_optional_hint(self.hint.map(Duration::from_secs))
        })
    }
}

/// An error with no `From<steadfast::Error>`.
#[derive(Debug, Clone, PartialEq)]
struct PlainError {
    index: usize,
    failure: Failure,
}

impl Classify for PlainError {
    fn failure(&self) -> Option<Failure> {
        Some(self.failure)
    }
}

/// An error that takes policy errors too.
#[derive(Debug, PartialEq)]
enum RichError {
    Call(PlainError),
    Policy(String),
}

impl Classify for RichError {
    fn failure(&self) -> Option<Failure> {
        match self {
            RichError::Call(e) => Some(e.failure),
            RichError::Policy(_) => Some(Failure::unknown()),
        }
    }
}

impl From<steadfast::Error> for RichError {
    fn from(e: steadfast::Error) -> Self {
        RichError::Policy(e.to_string())
    }
}

/// The attempts of one call: what each answers, and how many were made.
#[derive(Debug, Default)]
struct Script {
    steps: Mutex<VecDeque<Scripted>>,
    made: AtomicU32,
}

impl Script {
    fn new(steps: &[Scripted]) -> Self {
        Script {
            steps: Mutex::new(steps.iter().copied().collect()),
            made: AtomicU32::new(0),
        }
    }

    async fn next(&self) -> Result<Response, PlainError> {
        let index = self.made.fetch_add(1, Ordering::SeqCst) as usize;
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Scripted::Success);
        let hint = |h: Option<u64>| h.map(Duration::from_secs);
        match step {
            Scripted::Success => Ok(Response {
                index,
                status: 200,
                hint: None,
            }),
            Scripted::OkFailure(status, h) => Ok(Response {
                index,
                status,
                hint: h,
            }),
            Scripted::Error(status, h) => Err(PlainError {
                index,
                failure: Failure::status(status).with_optional_hint(hint(h)),
            }),
            Scripted::Transport => Err(PlainError {
                index,
                failure: Failure::transport(Transport::Reset),
            }),
            Scripted::Slow(secs) => {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Ok(Response {
                    index,
                    status: 200,
                    hint: None,
                })
            }
        }
    }
}

// Every key that needs no `From<steadfast::Error>`, with `Ok` values that classify.
#[resilient(on = [429, 500, 503], attempts = 4, base = "10ms", max_hint = "30s", budget = false)]
async fn without_from(script: &Script) -> Result<Response, PlainError> {
    script.next().await
}

#[resilient(on = ["transient"], attempts = 3, base = "1s", rpm = 600, burst = 3, concurrency = 2)]
async fn without_from_limited(script: &Script) -> Result<Response, PlainError> {
    script.next().await
}

// The keys that make the policy report errors of its own.
#[resilient(
    on = [429, 500, 503],
    attempts = 4,
    base = "10ms",
    max_hint = "30s",
    timeout = "5s",
    deadline = "40s",
    breaker(min_calls = 4, open_for = "1s"),
    budget = false
)]
async fn with_from(script: &Script) -> Result<Response, RichError> {
    script.next().await.map_err(RichError::Call)
}

fn scripted() -> impl Strategy<Value = Scripted> {
    let status = prop_oneof![Just(429u16), Just(500), Just(503), Just(400), Just(404)];
    let hint = prop_oneof![
        Just(None),
        (0u64..5).prop_map(Some),
        (31u64..4000).prop_map(Some)
    ];
    prop_oneof![
        Just(Scripted::Success),
        (status.clone(), hint.clone()).prop_map(|(s, h)| Scripted::OkFailure(s, h)),
        (status, hint).prop_map(|(s, h)| Scripted::Error(s, h)),
        Just(Scripted::Transport),
        (0u64..12).prop_map(Scripted::Slow),
    ]
}

/// The outcome of the last attempt made, as the caller must see it when no policy error can be
/// returned.
fn index_of(result: &Result<Response, PlainError>) -> usize {
    match result {
        Ok(r) => r.index,
        Err(e) => e.index,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random outcome sequences never panic the executor. Without `From`, the caller always gets
    /// the last attempt's own outcome, `Ok` or `Err`; with it, that outcome or a policy error.
    #[test]
    fn no_outcome_sequence_panics_the_executor(steps in prop::collection::vec(scripted(), 0..8)) {
        let rt = paused_runtime();
        rt.block_on(async {
            for (name, call) in [("plain", 0), ("limited", 1)] {
                let script = Script::new(&steps);
                let result = if call == 0 {
                    without_from(&script).await
                } else {
                    without_from_limited(&script).await
                };
                let made = script.made.load(Ordering::SeqCst) as usize;
                prop_assert!(made >= 1, "{name}: at least one attempt");
                prop_assert_eq!(index_of(&result), made - 1, "{}: the last outcome is returned", name);
            }
            let script = Script::new(&steps);
            let result = with_from(&script).await;
            let made = script.made.load(Ordering::SeqCst) as usize;
            prop_assert!(made <= 4);
            match result {
                Ok(r) => prop_assert_eq!(r.index, made - 1),
                Err(RichError::Call(e)) => prop_assert_eq!(e.index, made - 1),
                Err(RichError::Policy(message)) => prop_assert!(!message.is_empty()),
            }
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The rate limit counts attempt starts, whatever else is configured.
// ---------------------------------------------------------------------------------------------

/// The start times of the attempts, as the server sees them.
#[derive(Debug, Default)]
struct Starts(Mutex<Vec<Instant>>);

impl Starts {
    fn record(&self) {
        self.0.lock().unwrap().push(Instant::now());
    }

    /// The most starts inside any half-open window `[t, t + length)`.
    fn busiest(&self, length: Duration) -> usize {
        let mut times = self.0.lock().unwrap().clone();
        times.sort();
        let mut most = 0;
        let mut first = 0;
        for (last, t) in times.iter().enumerate() {
            while *t - times[first] >= length {
                first += 1;
            }
            most = most.max(last + 1 - first);
        }
        most
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

static SATURATED_STARTS: Mutex<Option<Arc<Starts>>> = Mutex::new(None);
static SATURATED_EPOCH: Mutex<Option<Instant>> = Mutex::new(None);

#[derive(Debug)]
struct Never;

impl Classify for Never {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::unknown())
    }
}

/// The server is slow for the first minute, then instant.
#[resilient(rpm = 600, concurrency = 10, budget = false)]
async fn saturated() -> Result<(), Never> {
    let starts = SATURATED_STARTS.lock().unwrap().clone().unwrap();
    starts.record();
    let epoch = SATURATED_EPOCH.lock().unwrap().unwrap();
    if epoch.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    Ok(())
}

/// The second scenario: with the rate slot taken before the concurrency permit, 980
/// attempts started inside one 60-second window of an `rpm = 600` function.
#[tokio::test(start_paused = true)]
async fn repro_rpm_stays_exact_when_concurrency_saturates() {
    let starts = Arc::new(Starts::default());
    *SATURATED_STARTS.lock().unwrap() = Some(starts.clone());
    *SATURATED_EPOCH.lock().unwrap() = Some(Instant::now());
    let calls: Vec<_> = (0..1500).map(|_| tokio::spawn(saturated())).collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(starts.count(), 1500);
    let busiest = starts.busiest(Duration::from_secs(60));
    assert!(busiest <= 600, "{busiest} starts in one minute");
}

/// One random combination of policies around a rate limit.
#[derive(Debug, Clone)]
struct Combination {
    rps: Option<u32>,
    rpm: Option<u32>,
    burst: u32,
    concurrency: Option<u32>,
    breaker: bool,
    deadline_ms: Option<u64>,
    timeout_ms: Option<u64>,
    attempts: u32,
    /// Per call: latency in ms, whether it fails (retryably), whether the caller cancels it
    /// after this many ms.
    calls: Vec<(u64, bool, Option<u64>)>,
}

fn combination() -> impl Strategy<Value = Combination> {
    (
        prop::option::of(1u32..20),
        prop::option::of(1u32..300),
        1u32..4,
        prop::option::of(1u32..8),
        any::<bool>(),
        prop::option::of(50u64..20_000),
        prop::option::of(10u64..3_000),
        1u32..4,
        prop::collection::vec(
            (
                0u64..5_000,
                any::<bool>(),
                prop::option::weighted(0.2, 0u64..10_000),
            ),
            1..120,
        ),
    )
        .prop_filter("at least one rate", |c| c.0.is_some() || c.1.is_some())
        .prop_map(
            |(rps, rpm, burst, concurrency, breaker, deadline_ms, timeout_ms, attempts, calls)| {
                Combination {
                    rps,
                    rpm,
                    burst,
                    concurrency,
                    breaker,
                    deadline_ms,
                    timeout_ms,
                    attempts,
                    calls,
                }
            },
        )
}

#[derive(Debug)]
struct Flaky;

impl Classify for Flaky {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(503))
    }
}

impl From<steadfast::Error> for Flaky {
    fn from(_: steadfast::Error) -> Self {
        Flaky
    }
}

fn policy_for(c: &Combination) -> Policy {
    let mut b = Policy::builder()
        .attempts(c.attempts)
        .base(Duration::from_millis(100))
        .burst(
            c.burst
                .min(c.rps.unwrap_or(u32::MAX))
                .min(c.rpm.unwrap_or(u32::MAX)),
        )
        .budget(None);
    if let Some(r) = c.rps {
        b = b.rps(r);
    }
    if let Some(r) = c.rpm {
        b = b.rpm(r);
    }
    if let Some(n) = c.concurrency {
        b = b.concurrency(n);
    }
    if c.breaker {
        b = b.breaker(steadfast::breaker::BreakerConfig {
            min_calls: 3,
            open_for: Duration::from_millis(500),
            ..Default::default()
        });
    }
    if let Some(d) = c.deadline_ms {
        b = b.deadline(Duration::from_millis(d));
    }
    if let Some(t) = c.timeout_ms {
        let t = Duration::from_millis(t);
        if c.deadline_ms.is_none_or(|d| t < Duration::from_millis(d)) {
            b = b.timeout(t);
        }
    }
    b.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// No window of a configured length ever holds more attempt starts than its limit, for any
    /// combination of concurrency, breaker, deadline, timeout, cancellation and retries.
    #[test]
    fn no_window_ever_holds_more_starts_than_its_limit(c in combination()) {
        let rt = paused_runtime();
        let starts = Arc::new(Starts::default());
        rt.block_on(async {
            let policy = Arc::new(policy_for(&c));
            let mut tasks = Vec::new();
            for (i, (latency, fails, cancel_after)) in c.calls.iter().copied().enumerate() {
                let policy = policy.clone();
                let starts = starts.clone();
                let call = async move {
                    policy
                        .call(|| {
                            let starts = starts.clone();
                            async move {
                                starts.record();
                                tokio::time::sleep(Duration::from_millis(latency)).await;
                                if fails { Err(Flaky) } else { Ok(()) }
                            }
                        })
                        .await
                };
                let staggered = Duration::from_millis(i as u64 * 7);
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(staggered).await;
                    match cancel_after {
                        Some(ms) => {
                            let _ = tokio::time::timeout(Duration::from_millis(ms), call).await;
                        }
                        None => {
                            let _ = call.await;
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        if let Some(rps) = c.rps {
            let busiest = starts.busiest(Duration::from_secs(1));
            prop_assert!(busiest <= rps as usize, "{} starts in one second, rps = {}", busiest, rps);
        }
        if let Some(rpm) = c.rpm {
            let busiest = starts.busiest(Duration::from_secs(60));
            prop_assert!(busiest <= rpm as usize, "{} starts in one minute, rpm = {}", busiest, rpm);
        }
    }
}
