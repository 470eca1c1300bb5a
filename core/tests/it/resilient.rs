//! `#[resilient]` end to end: the behaviour of the generated code, under tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::classify::{Classify, Failure, Transport};
use steadfast::resilient;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    Status(u16, Option<Duration>),
    Transport(Transport),
    Policy(steadfast::Error),
}

impl Classify for ApiError {
    fn failure(&self) -> Option<Failure> {
        Some(match self {
            ApiError::Status(s, hint) => Failure::status(*s).with_optional_hint(*hint),
            ApiError::Transport(t) => Failure::transport(*t),
            ApiError::Policy(_) => Failure::unknown(),
        })
    }
}

impl From<steadfast::Error> for ApiError {
    fn from(e: steadfast::Error) -> Self {
        ApiError::Policy(e)
    }
}

/// A scripted server: answers from a list (the last answer repeats) and records when it was
/// called.
#[derive(Default)]
struct Server {
    script: Mutex<Vec<Result<u16, ApiError>>>,
    calls: Mutex<Vec<Duration>>,
    start: Mutex<Option<Instant>>,
}

impl Server {
    fn new(script: Vec<Result<u16, ApiError>>) -> Self {
        Server {
            script: Mutex::new(script),
            calls: Mutex::new(Vec::new()),
            start: Mutex::new(Some(Instant::now())),
        }
    }

    fn answer(&self) -> Result<u16, ApiError> {
        let elapsed = self
            .start
            .lock()
            .unwrap()
            .unwrap_or_else(Instant::now)
            .elapsed();
        self.calls.lock().unwrap().push(elapsed);
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script[0].clone()
        }
    }

    fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

#[resilient(on = [429, 500, 503], base = "100ms", budget = false)]
async fn ask(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn a_503_then_200_succeeds_on_attempt_two() {
    let server = Server::new(vec![Err(ApiError::Status(503, None)), Ok(200)]);
    assert_eq!(ask(&server).await, Ok(200));
    assert_eq!(server.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_400_fails_at_once() {
    let server = Server::new(vec![Err(ApiError::Status(400, None)), Ok(200)]);
    assert_eq!(ask(&server).await, Err(ApiError::Status(400, None)));
    assert_eq!(server.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_server_hint_is_obeyed_exactly() {
    let server = Server::new(vec![
        Err(ApiError::Status(429, Some(Duration::from_secs(7)))),
        Ok(200),
    ]);
    let start = Instant::now();
    assert_eq!(ask(&server).await, Ok(200));
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[resilient(on = [429, 503], budget = false, base = "10ms")]
async fn fetch_status(codes: &Mutex<Vec<u16>>) -> Result<http::StatusCode, ApiError> {
    let code = codes.lock().unwrap().remove(0);
    Ok(http::StatusCode::from_u16(code).unwrap())
}

#[tokio::test(start_paused = true)]
async fn ok_of_a_429_response_is_retried() {
    let codes = Mutex::new(vec![429, 503, 200]);
    assert_eq!(fetch_status(&codes).await, Ok(http::StatusCode::OK));
    assert!(codes.lock().unwrap().is_empty());
}

#[resilient(
    attempts = 4,
    base = "1s",
    factor = 3.0,
    max_delay = "5s",
    jitter = "none",
    budget = false
)]
async fn always_down(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn attempts_and_delays_match_the_arguments() {
    let server = Server::new(vec![Err(ApiError::Transport(Transport::Connect))]);
    assert_eq!(
        always_down(&server).await,
        Err(ApiError::Transport(Transport::Connect))
    );
    let calls = server.calls.lock().unwrap().clone();
    let secs: Vec<u64> = calls.iter().map(|d| d.as_secs()).collect();
    // Delays 1 s, 3 s, then 9 s capped at 5 s.
    assert_eq!(secs, [0, 1, 4, 9]);
}

#[resilient(attempts = 6, base = "1s", jitter = "equal", budget = false)]
async fn jittered(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_bounds() {
    for _ in 0..10 {
        let server = Server::new(vec![Err(ApiError::Status(503, None))]);
        let _ = jittered(&server).await;
        let calls = server.calls.lock().unwrap().clone();
        for (n, pair) in calls.windows(2).enumerate() {
            let delay = pair[1] - pair[0];
            let nominal = Duration::from_secs(1 << n);
            assert!(
                delay >= nominal / 2 && delay <= nominal,
                "retry {}: {delay:?}",
                n + 1
            );
        }
    }
}

#[resilient(rpm = 25, on = [429, 500, 503], base = "1s", budget = false)]
async fn limited(
    server: Arc<Server>,
    stamps: Arc<Mutex<Vec<Duration>>>,
    start: Instant,
) -> Result<u16, ApiError> {
    stamps.lock().unwrap().push(start.elapsed());
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn rpm_25_holds_for_100_concurrent_tasks_retries_included() {
    // Every fifth answer is a 503, so retries pass the limiter too.
    let script: Vec<_> = (0..200)
        .map(|i| {
            if i % 5 == 0 {
                Err(ApiError::Status(503, None))
            } else {
                Ok(200)
            }
        })
        .collect();
    let server = Arc::new(Server::new(script));
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|_| tokio::spawn(limited(server.clone(), stamps.clone(), start)))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(200));
    }
    let mut stamps = stamps.lock().unwrap().clone();
    stamps.sort();
    assert!(stamps.len() > 100, "some attempts were retries");
    for (i, t) in stamps.iter().enumerate() {
        let in_window = stamps[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::from_secs(60))
            .count();
        assert!(
            in_window <= 25,
            "{in_window} attempts in the minute from {t:?}"
        );
    }
}

#[resilient(limiter = "resilient-shared", rpm = 1, budget = false)]
async fn first_user() -> Result<(), ApiError> {
    Ok(())
}

#[resilient(limiter = "resilient-shared", rpm = 1, budget = false)]
async fn second_user() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_named_limiter_is_one_quota_for_two_functions() {
    let start = Instant::now();
    first_user().await.unwrap();
    second_user().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(60));
}

struct Account {
    balance: u32,
    failures_left: u32,
}

impl Account {
    #[resilient(budget = false, base = "10ms")]
    async fn deposit(&mut self, amount: u32) -> Result<u32, ApiError> {
        self.balance += amount;
        if self.failures_left > 0 {
            self.failures_left -= 1;
            return Err(ApiError::Status(503, None));
        }
        Ok(self.balance)
    }
}

#[tokio::test(start_paused = true)]
async fn a_mut_self_method_mutates_the_same_object_on_each_attempt() {
    let mut account = Account {
        balance: 0,
        failures_left: 2,
    };
    assert_eq!(account.deposit(5).await, Ok(15));
    assert_eq!(account.balance, 15, "three attempts, one object");
}

#[resilient(concurrency = 1, rpm = 60, budget = false)]
async fn slow(gate: &tokio::sync::Notify) -> Result<(), ApiError> {
    gate.notified().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_wait_leaves_no_permit_or_slot_behind() {
    let gate = tokio::sync::Notify::new();
    // In flight, holding the permit and a slot taken at t=0; dropped after 5 s.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), slow(&gate))
            .await
            .is_err()
    );
    // Waiting for the limiter (next slot at t=60 s); dropped after 1 s.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), slow(&gate))
            .await
            .is_err()
    );
    // At t=60 s: the permit is free and the slot the dropped waiter saw was never taken.
    tokio::time::advance(Duration::from_secs(54)).await;
    let start = Instant::now();
    gate.notify_one();
    slow(&gate).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[resilient(timeout = "1s", attempts = 2, base = "10ms", budget = false)]
async fn hangs() -> Result<(), ApiError> {
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_timeout_key_reports_through_from() {
    assert_eq!(
        hangs().await,
        Err(ApiError::Policy(steadfast::Error::AttemptTimedOut {
            after: Duration::from_secs(1)
        }))
    );
}

#[resilient(max_hint = "10s", budget = false)]
async fn asks_for_too_long(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn a_hint_beyond_max_hint_gives_up_with_the_policy_error() {
    let server = Server::new(vec![Err(ApiError::Status(
        429,
        Some(Duration::from_secs(60)),
    ))]);
    let err = asks_for_too_long(&server).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Policy(steadfast::Error::RetryDelayTooLong { .. })
        ),
        "{err:?}"
    );
}

/// An error type without `From<steadfast::Error>`: a too-long hint returns the server's error.
#[derive(Debug, PartialEq)]
struct Plain(u16, Duration);
impl Classify for Plain {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::status(self.0).with_hint(self.1))
    }
}

#[resilient(max_hint = "10s")]
async fn plain_error() -> Result<(), Plain> {
    Err(Plain(429, Duration::from_secs(60)))
}

#[tokio::test(start_paused = true)]
async fn without_from_a_too_long_hint_returns_the_last_real_error() {
    assert_eq!(
        plain_error().await,
        Err(Plain(429, Duration::from_secs(60)))
    );
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn count_retries(_: &steadfast::observe::Event) {
    COUNTER.fetch_add(1, Ordering::SeqCst);
}

fn never_retry(_: &Result<u16, ApiError>) -> steadfast::classify::Verdict {
    steadfast::classify::Verdict::Stop(Failure::unknown())
}

#[resilient(on_retry = count_retries, base = "1ms", attempts = 3, budget = false)]
async fn hooked(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[resilient(classify = never_retry)]
async fn classified(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

async fn cached(_server: &Server) -> Result<u16, ApiError> {
    Ok(304)
}

#[resilient(fallback = cached, attempts = 2, base = "1ms", budget = false)]
async fn with_fallback(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn on_retry_classify_and_fallback_are_called() {
    let server = Server::new(vec![Err(ApiError::Status(503, None))]);
    let _ = hooked(&server).await;
    assert_eq!(
        COUNTER.load(Ordering::SeqCst),
        2,
        "two waits before three attempts"
    );
    let server = Server::new(vec![Err(ApiError::Status(503, None))]);
    assert!(classified(&server).await.is_err());
    assert_eq!(server.count(), 1, "the custom classifier said stop");
    let server = Server::new(vec![Err(ApiError::Status(503, None))]);
    assert_eq!(with_fallback(&server).await, Ok(304));
    assert_eq!(server.count(), 2);
}

fn configured() -> steadfast::Policy {
    toml::from_str::<steadfast::policy::PolicyConfig>(
        "attempts = 2\nbase = \"1ms\"\nbudget = false",
    )
    .unwrap()
    .build()
    .unwrap()
}

#[resilient(policy = configured())]
async fn from_config(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn a_prebuilt_policy_is_used() {
    let server = Server::new(vec![Err(ApiError::Status(503, None))]);
    assert!(from_config(&server).await.is_err());
    assert_eq!(server.count(), 2);
}

#[async_trait::async_trait]
trait Backend {
    async fn call(&self, n: u32) -> Result<u32, ApiError>;
}

struct Flaky(AtomicU32);

#[async_trait::async_trait]
impl Backend for Flaky {
    #[resilient(base = "1ms", budget = false)]
    async fn call(&self, n: u32) -> Result<u32, ApiError> {
        if self.0.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(ApiError::Status(500, None));
        }
        Ok(n * 2)
    }
}

#[tokio::test(start_paused = true)]
async fn an_async_trait_method_is_retried() {
    let backend: Box<dyn Backend + Send + Sync> = Box::new(Flaky(AtomicU32::new(0)));
    assert_eq!(backend.call(21).await, Ok(42));
}

#[resilient(base = "1ms", budget = false)]
async fn owned(name: String, tags: Vec<String>) -> Result<String, ApiError> {
    // The body consumes its arguments: each attempt has its own copies.
    let joined = name + ":" + &tags.join(",");
    if COUNTER.load(Ordering::SeqCst) < 1000 && joined.is_empty() {
        return Err(ApiError::Status(503, None));
    }
    Ok(joined)
}

#[tokio::test(start_paused = true)]
async fn owned_arguments_are_cloned_per_attempt() {
    assert_eq!(
        owned("a".into(), vec!["x".into(), "y".into()]).await,
        Ok("a:x,y".to_owned())
    );
}

#[tokio::test]
async fn futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let server = Server::new(vec![Ok(200)]);
    assert_send(ask(&server));
    assert_send(owned(String::new(), Vec::new()));
}

#[resilient(
    attempts = 1,
    breaker(
        failure_ratio = 0.5,
        min_calls = 3,
        window = "10s",
        open_for = "5s",
        half_open = 1
    ),
    budget = false
)]
async fn guarded(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn the_breaker_key_opens_after_its_min_calls_and_probes_after_open_for() {
    let server = Server::new(vec![
        Err(ApiError::Status(503, None)),
        Err(ApiError::Status(503, None)),
        Err(ApiError::Status(503, None)),
        Ok(200),
    ]);
    for _ in 0..3 {
        assert_eq!(guarded(&server).await, Err(ApiError::Status(503, None)));
    }
    let refused = guarded(&server).await.unwrap_err();
    assert!(
        matches!(refused, ApiError::Policy(steadfast::Error::CircuitOpen { retry_after }) if retry_after == Duration::from_secs(5))
    );
    assert_eq!(server.count(), 3, "refused without calling");
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(
        guarded(&server).await,
        Ok(200),
        "the probe passes and closes"
    );
}

#[resilient(deadline = "5s", base = "2s", jitter = "none", budget = false)]
async fn bounded(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn the_deadline_key_bounds_the_whole_call() {
    let server = Server::new(vec![Err(ApiError::Status(503, None))]);
    let start = Instant::now();
    // Attempts at 0 s and 2 s; the next wait (4 s) would end past 5 s, so it stops at 2 s.
    assert_eq!(bounded(&server).await, Err(ApiError::Status(503, None)));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(server.count(), 2);
}

#[resilient(budget = 0.0, base = "1ms")]
async fn unfunded(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[resilient(base = "1ms")]
async fn default_budget(server: &Server) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn the_budget_key_sets_the_ratio() {
    // 200 failing calls. Ratio 0 leaves only the floor of 10 retries a second (a few more may
    // refill during the millisecond waits); the default retry quota pays for 100 retries.
    let server = Server::new(vec![Err(ApiError::Status(503, None))]);
    for _ in 0..200 {
        let _ = unfunded(&server).await;
    }
    let unfunded_attempts = server.count();
    let server = Server::new(vec![Err(ApiError::Status(503, None))]);
    for _ in 0..200 {
        let _ = default_budget(&server).await;
    }
    let default_attempts = server.count();
    assert!(
        (210..=215).contains(&unfunded_attempts),
        "{unfunded_attempts} attempts"
    );
    assert!(
        default_attempts > 230,
        "the default quota allows more: {default_attempts}"
    );
}

#[resilient(rpm = 6, burst = 3, budget = false)]
async fn bursty() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_burst_key_lets_that_many_start_back_to_back() {
    let start = Instant::now();
    for _ in 0..3 {
        bursty().await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    bursty().await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(10),
        "then one every 10 s"
    );
}

static SHARED: std::sync::LazyLock<Arc<steadfast::limit::RateLimit>> =
    std::sync::LazyLock::new(|| {
        Arc::new(
            steadfast::limit::RateLimit::builder()
                .per_minute(2)
                .build()
                .unwrap(),
        )
    });

#[resilient(limiter = SHARED.clone(), budget = false)]
async fn uses_value() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_limiter_value_is_the_limiter_used() {
    let start = Instant::now();
    uses_value().await.unwrap();
    assert!(
        SHARED.try_acquire(1).is_err(),
        "the call took the shared limiter's slot"
    );
    uses_value().await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(30),
        "2 a minute: one slot every 30 s"
    );
}

/// A server allowing 3 starts in any 60 s, refusing with a hint otherwise.
struct Quota3(Mutex<Vec<Instant>>, std::sync::atomic::AtomicU32);

impl Quota3 {
    fn answer(&self) -> Result<u16, ApiError> {
        let now = Instant::now();
        let mut starts = self.0.lock().unwrap();
        starts.retain(|t| now - *t < Duration::from_secs(60));
        if starts.len() >= 3 {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let free = starts[0] + Duration::from_secs(60) - now;
            return Err(ApiError::Status(429, Some(free)));
        }
        starts.push(now);
        Ok(200)
    }
}

#[resilient(adapt = true, on = [429], attempts = 3, budget = false)]
async fn adaptive(server: &Quota3) -> Result<u16, ApiError> {
    server.answer()
}

#[tokio::test(start_paused = true)]
async fn the_adapt_key_learns_the_quota_after_one_refusal() {
    let server = Quota3(Mutex::new(Vec::new()), std::sync::atomic::AtomicU32::new(0));
    for _ in 0..12 {
        assert_eq!(adaptive(&server).await, Ok(200));
    }
    assert_eq!(
        server.1.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one refusal teaches 3 per minute; the other 8 calls wait for their slots"
    );
}
