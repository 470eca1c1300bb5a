//! The benchmark simulations of `BENCHMARKS.md` (quota drain, fault storm, outage), in virtual
//! time: deterministic, so they run in CI as tests that assert the goals, and print their table
//! rows with `cargo test -p steadfast --test simulations -- --nocapture --test-threads 1`.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::Policy;
use steadfast::classify::{Classify, Failure};
use steadfast::limit::{Denied, Observation, RateLimiter};
use steadfast::retry::Random;
use tokio::time::Instant;

/// What the simulated server answers.
#[derive(Debug, Clone, PartialEq)]
enum SimError {
    Status(u16, Option<Duration>),
    Policy(steadfast::Error),
}

impl Classify for SimError {
    fn failure(&self) -> Option<Failure> {
        Some(match self {
            SimError::Status(s, hint) => Failure::status(*s).with_optional_hint(*hint),
            SimError::Policy(_) => Failure::unknown(),
        })
    }
}

impl From<steadfast::Error> for SimError {
    fn from(e: steadfast::Error) -> Self {
        SimError::Policy(e)
    }
}

/// A server in virtual time: a sliding per-minute quota answered with 429 and a RetryInfo
/// delay (whole seconds, as Gemini sends), a fixed latency, random 503/500 faults from a seed,
/// and an optional outage at the start.
struct Server {
    start: Instant,
    quota: Option<usize>,
    quota_window: Duration,
    window: Mutex<VecDeque<Instant>>,
    latency: Duration,
    fail_503: f64,
    fail_500: f64,
    down_for: Duration,
    random: Mutex<Random>,
    sent: AtomicU64,
    sent_while_down: AtomicU64,
    too_many: AtomicU64,
}

impl Server {
    fn new() -> Self {
        Server {
            start: Instant::now(),
            quota: None,
            quota_window: Duration::from_secs(60),
            window: Mutex::new(VecDeque::new()),
            latency: Duration::from_millis(500),
            fail_503: 0.0,
            fail_500: 0.0,
            down_for: Duration::ZERO,
            random: Mutex::new(Random::seeded(42)),
            sent: AtomicU64::new(0),
            sent_while_down: AtomicU64::new(0),
            too_many: AtomicU64::new(0),
        }
    }

    async fn call(&self) -> Result<(), SimError> {
        let now = Instant::now();
        self.sent.fetch_add(1, Ordering::Relaxed);
        let verdict = self.judge(now);
        tokio::time::sleep(self.latency).await;
        verdict
    }

    fn judge(&self, now: Instant) -> Result<(), SimError> {
        if now.duration_since(self.start) < self.down_for {
            self.sent_while_down.fetch_add(1, Ordering::Relaxed);
            return Err(SimError::Status(503, None));
        }
        if let Some(limit) = self.quota {
            let mut window = self.window.lock().unwrap();
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.quota_window)
            {
                window.pop_front();
            }
            if window.len() >= limit {
                self.too_many.fetch_add(1, Ordering::Relaxed);
                let free_at = window[window.len() - limit] + self.quota_window;
                // RetryInfo in whole seconds, rounded up.
                let hint =
                    Duration::from_secs(free_at.duration_since(now).as_secs_f64().ceil() as u64);
                return Err(SimError::Status(429, Some(hint)));
            }
            window.push_back(now);
        }
        let draw = self.random.lock().unwrap().next_f64();
        if draw < self.fail_503 {
            Err(SimError::Status(503, None))
        } else if draw < self.fail_503 + self.fail_500 {
            Err(SimError::Status(500, None))
        } else {
            Ok(())
        }
    }
}

/// One strategy's results.
#[derive(Debug)]
struct Outcome {
    elapsed: Duration,
    sent: u64,
    too_many: u64,
    failed: u64,
}

impl Outcome {
    fn row(&self, name: &str, ideal: Duration) {
        println!(
            "| {name} | {:.1} min ({:+.1} %) | {} | {} | {} |",
            self.elapsed.as_secs_f64() / 60.0,
            (self.elapsed.as_secs_f64() / ideal.as_secs_f64() - 1.0) * 100.0,
            self.sent,
            self.too_many,
            self.failed
        );
    }
}

const REQUESTS: u64 = 1000;
const IDEAL: Duration = Duration::from_secs(40 * 60);

fn quota_server() -> Arc<Server> {
    Arc::new(Server {
        quota: Some(25),
        ..Server::new()
    })
}

/// Runs `REQUESTS` calls one after another through `policy`.
async fn drain_with(policy: Policy, server: Arc<Server>) -> Outcome {
    let start = Instant::now();
    let mut failed = 0;
    for _ in 0..REQUESTS {
        if policy.call(|| server.call()).await.is_err() {
            failed += 1;
        }
    }
    Outcome {
        elapsed: start.elapsed(),
        sent: server.sent.load(Ordering::Relaxed),
        too_many: server.too_many.load(Ordering::Relaxed),
        failed,
    }
}

#[tokio::test(start_paused = true)]
async fn quota_drain_steadfast_rpm_25_is_within_1_percent_of_ideal_with_no_429() {
    let policy = Policy::builder().seed(7).rpm(25).build().unwrap();
    let outcome = drain_with(policy, quota_server()).await;
    outcome.row("steadfast, `rpm = 25`", IDEAL);
    assert_eq!(outcome.too_many, 0);
    assert_eq!(outcome.failed, 0);
    assert_eq!(outcome.sent, REQUESTS);
    let ratio = outcome.elapsed.as_secs_f64() / IDEAL.as_secs_f64();
    assert!((0.99..=1.01).contains(&ratio), "{:?}", outcome.elapsed);
}

#[tokio::test(start_paused = true)]
async fn quota_drain_steadfast_retry_only_follows_the_hints() {
    let policy = Policy::builder().seed(7).build().unwrap();
    let outcome = drain_with(policy, quota_server()).await;
    outcome.row("steadfast, retries only (hints honoured)", IDEAL);
    assert_eq!(outcome.failed, 0);
}

#[tokio::test(start_paused = true)]
async fn quota_drain_hand_written_recipe() {
    // try: call(); sleep(60 / rpm)  except 429: sleep(60); recurse
    let server = quota_server();
    let start = Instant::now();
    for _ in 0..REQUESTS {
        loop {
            match server.call().await {
                Err(SimError::Status(429, _)) => tokio::time::sleep(Duration::from_secs(60)).await,
                _ => {
                    tokio::time::sleep(Duration::from_secs_f64(60.0 / 25.0)).await;
                    break;
                }
            }
        }
    }
    let outcome = Outcome {
        elapsed: start.elapsed(),
        sent: server.sent.load(Ordering::Relaxed),
        too_many: server.too_many.load(Ordering::Relaxed),
        failed: 0,
    };
    outcome.row("hand-written (sleep 60/rpm, 60 s on 429)", IDEAL);
    assert!(
        outcome.elapsed > IDEAL,
        "it pays the latency on top of every interval"
    );
}

#[tokio::test(start_paused = true)]
async fn quota_drain_plain_exponential_backoff_without_hints() {
    // The official SDKs' defaults: 5 attempts, 1 s doubling to 60 s, jitter; hints ignored.
    let policy = Policy::builder()
        .seed(7)
        .on("429, 500..=599".parse().unwrap())
        .honor_hint(false)
        .budget(None)
        .build()
        .unwrap();
    let outcome = drain_with(policy, quota_server()).await;
    outcome.row("plain exponential backoff, no hints", IDEAL);
    assert!(
        outcome.failed > 0,
        "without the hint, 5 attempts within ~15 s cannot outlast a 60 s window"
    );
}

/// `n` calls through `policy`, `concurrency` at a time; success count, attempts, p50/p99.
async fn storm(
    policy: Arc<Policy>,
    server: Arc<Server>,
    n: usize,
    concurrency: usize,
) -> (usize, f64, Duration, Duration) {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (policy, server, semaphore) = (policy.clone(), server.clone(), semaphore.clone());
            tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await.unwrap();
                let ok = policy.call(|| server.call()).await.is_ok();
                (ok, start.elapsed())
            })
        })
        .collect();
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    let ok = done.iter().filter(|d| d.0).count();
    let mut times: Vec<Duration> = done.iter().map(|d| d.1).collect();
    times.sort();
    let attempts = server.sent.load(Ordering::Relaxed) as f64 / n as f64;
    (ok, attempts, times[n / 2], times[n * 99 / 100])
}

fn faulty() -> Arc<Server> {
    Arc::new(Server {
        fail_503: 0.20,
        fail_500: 0.05,
        latency: Duration::from_millis(100),
        ..Server::new()
    })
}

#[tokio::test(start_paused = true)]
async fn fault_storm_default_policy() {
    let policy = Arc::new(Policy::builder().seed(7).build().unwrap());
    let (ok, attempts, p50, p99) = storm(policy, faulty(), 1000, 50).await;
    println!(
        "| default (retry quota 500, 5 a retry, refilled by successes) | {:.1} % | {attempts:.2} | {p50:.1?} | {p99:.1?} |",
        ok as f64 / 10.0
    );
    assert_eq!(ok, 1000, "retries that succeed pay for themselves");
    assert!(attempts <= 1.4, "{attempts}");
}

#[tokio::test(start_paused = true)]
async fn fault_storm_old_default_ratio_budget() {
    let policy = Arc::new(
        Policy::builder()
            .seed(7)
            .budget(Some((0.2, 10)))
            .build()
            .unwrap(),
    );
    let (ok, attempts, p50, p99) = storm(policy, faulty(), 1000, 50).await;
    println!(
        "| ratio 20 % + 10/s (the old default) | {:.1} % | {attempts:.2} | {p50:.1?} | {p99:.1?} |",
        ok as f64 / 10.0
    );
    assert!(
        ok < 1000,
        "a fixed ratio refuses retries this failure rate needs"
    );
}

#[tokio::test(start_paused = true)]
async fn fault_storm_without_budget_reaches_every_call() {
    let policy = Arc::new(Policy::builder().seed(7).budget(None).build().unwrap());
    let (ok, attempts, p50, p99) = storm(policy, faulty(), 1000, 50).await;
    println!(
        "| budget off | {:.1} % | {attempts:.2} | {p50:.1?} | {p99:.1?} |",
        ok as f64 / 10.0
    );
    assert_eq!(ok, 1000);
    assert!(attempts <= 1.4, "{attempts}");
}

/// Calls arriving at `rate` per second for `duration`, against a server down for its first
/// five minutes: (calls started during the outage, requests sent during it).
async fn outage(policy: Arc<Policy>, rate: u32, duration: Duration) -> (u64, u64) {
    let server = Arc::new(Server {
        down_for: Duration::from_secs(300),
        latency: Duration::from_millis(100),
        ..Server::new()
    });
    let interval = Duration::from_secs(1) / rate;
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut started_while_down = 0;
    while start.elapsed() < duration {
        if start.elapsed() < Duration::from_secs(300) {
            started_while_down += 1;
        }
        let (policy, server) = (policy.clone(), server.clone());
        tasks.push(tokio::spawn(async move {
            policy.call(|| server.call()).await.is_ok()
        }));
        tokio::time::sleep(interval).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    (
        started_while_down,
        server.sent_while_down.load(Ordering::Relaxed),
    )
}

#[tokio::test(start_paused = true)]
async fn outage_extra_load_for_each_budget_at_2_and_50_calls_a_second() {
    let extra = |(calls, sent): (u64, u64)| (sent as f64 / calls as f64 - 1.0) * 100.0;
    for rate in [2, 50] {
        let variants: [(&str, Policy); 3] = [
            (
                "default retry quota",
                Policy::builder().seed(7).build().unwrap(),
            ),
            (
                "ratio 20 % + 10/s (the old default)",
                Policy::builder()
                    .seed(7)
                    .budget(Some((0.2, 10)))
                    .build()
                    .unwrap(),
            ),
            (
                "budget off",
                Policy::builder().seed(7).budget(None).build().unwrap(),
            ),
        ];
        let mut results = Vec::new();
        for (name, policy) in variants {
            let r = outage(Arc::new(policy), rate, Duration::from_secs(360)).await;
            println!(
                "| {rate} calls/s | {name} | {} calls | {} requests | +{:.1} % |",
                r.0,
                r.1,
                extra(r)
            );
            results.push(extra(r));
        }
        assert!(
            results[0] <= 20.0,
            "{rate}/s: the default costs +{:.1} %",
            results[0]
        );
        assert!(results[0] < results[2]);
    }
}

// ---------------------------------------------------------------------------------------------
// Adaptive rate: a server quota the client is not told.
// ---------------------------------------------------------------------------------------------

/// The AWS SDKs' adaptive retry mode, written from its published description, as the baseline:
/// a token bucket whose fill rate a CUBIC controller cuts by 30 % on a throttle and grows back
/// along a cubic curve.
#[derive(Debug)]
struct AwsCubic(Mutex<Cubic>);

#[derive(Debug)]
struct Cubic {
    fill_rate: f64,
    max_capacity: f64,
    capacity: f64,
    last_refill: Option<Instant>,
    enabled: bool,
    measured: f64,
    last_bucket: f64,
    count: f64,
    last_max_rate: f64,
    last_throttle: f64,
    window: f64,
    epoch: Instant,
}

impl AwsCubic {
    const BETA: f64 = 0.7;
    const C: f64 = 0.4;
    const SMOOTH: f64 = 0.8;

    fn new() -> Self {
        AwsCubic(Mutex::new(Cubic {
            fill_rate: 0.5,
            max_capacity: 1.0,
            capacity: 0.0,
            last_refill: None,
            enabled: false,
            measured: 0.0,
            last_bucket: 0.0,
            count: 0.0,
            last_max_rate: 0.0,
            last_throttle: 0.0,
            window: 0.0,
            epoch: Instant::now(),
        }))
    }
}

impl Cubic {
    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last_refill {
            let added = now.duration_since(last).as_secs_f64() * self.fill_rate;
            self.capacity = (self.capacity + added).min(self.max_capacity);
        }
        self.last_refill = Some(now);
    }

    fn set_rate(&mut self, now: Instant, rate: f64) {
        self.refill(now);
        self.fill_rate = rate.max(0.5);
        self.max_capacity = rate.max(1.0);
        self.capacity = self.capacity.min(self.max_capacity);
    }
}

#[async_trait::async_trait]
impl RateLimiter for AwsCubic {
    async fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
        let mut c = self.0.lock().unwrap();
        if !c.enabled {
            return Ok(());
        }
        let now = Instant::now();
        c.refill(now);
        let w = f64::from(weight);
        if c.capacity >= w {
            c.capacity -= w;
            Ok(())
        } else {
            Err(Denied::wait(Duration::from_secs_f64(
                (w - c.capacity) / c.fill_rate,
            )))
        }
    }

    fn wants_observations(&self) -> bool {
        true
    }

    fn observe(&self, o: &Observation) {
        let mut c = self.0.lock().unwrap();
        let now = Instant::now();
        let t = now.duration_since(c.epoch).as_secs_f64();
        let bucket = (t * 2.0).floor() / 2.0;
        c.count += 1.0;
        if bucket > c.last_bucket {
            let rate = c.count / (bucket - c.last_bucket);
            c.measured = rate * AwsCubic::SMOOTH + c.measured * (1.0 - AwsCubic::SMOOTH);
            c.count = 0.0;
            c.last_bucket = bucket;
        }
        let calculated = if o.is_throttled() {
            let rate = if c.enabled {
                c.measured.min(c.fill_rate)
            } else {
                c.measured
            };
            c.last_max_rate = rate;
            c.window = (c.last_max_rate * (1.0 - AwsCubic::BETA) / AwsCubic::C).cbrt();
            c.last_throttle = t;
            c.enabled = true;
            rate * AwsCubic::BETA
        } else {
            c.window = (c.last_max_rate * (1.0 - AwsCubic::BETA) / AwsCubic::C).cbrt();
            AwsCubic::C * (t - c.last_throttle - c.window).powi(3) + c.last_max_rate
        };
        let rate = calculated.min(2.0 * c.measured);
        c.set_rate(now, rate);
    }
}

/// `n` requests drained by `concurrency` tasks through `policy`.
async fn drain_concurrently(
    policy: Arc<Policy>,
    server: Arc<Server>,
    n: u64,
    concurrency: usize,
) -> Outcome {
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (policy, server, next, failed) =
                (policy.clone(), server.clone(), next.clone(), failed.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    if policy.call(|| server.call()).await.is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    Outcome {
        elapsed: start.elapsed(),
        sent: server.sent.load(Ordering::Relaxed),
        too_many: server.too_many.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
    }
}

fn per_second_server() -> Arc<Server> {
    Arc::new(Server {
        quota: Some(10),
        quota_window: Duration::from_secs(1),
        latency: Duration::from_millis(200),
        ..Server::new()
    })
}

const PER_SECOND_REQUESTS: u64 = 3000;
const PER_SECOND_IDEAL: Duration = Duration::from_secs(300);

fn refused_share(o: &Outcome) -> f64 {
    o.too_many as f64 / o.sent as f64 * 100.0
}

#[tokio::test(start_paused = true)]
async fn adaptive_learns_an_untold_25_per_minute_within_5_percent_and_under_2_percent_429() {
    let policy = Policy::builder().seed(7).adapt(true).build().unwrap();
    let outcome = drain_with(policy, quota_server()).await;
    outcome.row("steadfast `adapt = true` (quota 25/min, not told)", IDEAL);
    let baseline = drain_with(
        Policy::builder()
            .seed(7)
            .limiter(Arc::new(AwsCubic::new()))
            .build()
            .unwrap(),
        quota_server(),
    )
    .await;
    baseline.row("AWS-style CUBIC adaptive (baseline)", IDEAL);
    println!(
        "refused: adaptive {:.2} %, baseline {:.2} %",
        refused_share(&outcome),
        refused_share(&baseline)
    );
    assert_eq!(outcome.failed, 0);
    let ratio = outcome.elapsed.as_secs_f64() / IDEAL.as_secs_f64();
    assert!(ratio <= 1.05, "{:?}", outcome.elapsed);
    assert!(refused_share(&outcome) < 2.0, "{}", refused_share(&outcome));
    assert!(outcome.elapsed <= baseline.elapsed);
    assert!(refused_share(&outcome) <= refused_share(&baseline));
}

#[tokio::test(start_paused = true)]
async fn adaptive_learns_an_untold_10_per_second_within_5_percent_and_under_2_percent_429() {
    let policy = Arc::new(Policy::builder().seed(7).adapt(true).build().unwrap());
    let outcome = drain_concurrently(policy, per_second_server(), PER_SECOND_REQUESTS, 20).await;
    outcome.row(
        "steadfast `adapt = true` (quota 10/s, not told, 20 tasks)",
        PER_SECOND_IDEAL,
    );
    let baseline = drain_concurrently(
        Arc::new(
            Policy::builder()
                .seed(7)
                .limiter(Arc::new(AwsCubic::new()))
                .build()
                .unwrap(),
        ),
        per_second_server(),
        PER_SECOND_REQUESTS,
        20,
    )
    .await;
    baseline.row(
        "AWS-style CUBIC adaptive (baseline, 20 tasks)",
        PER_SECOND_IDEAL,
    );
    println!(
        "refused: adaptive {:.2} %, baseline {:.2} %",
        refused_share(&outcome),
        refused_share(&baseline)
    );
    assert_eq!(outcome.failed, 0);
    let ratio = outcome.elapsed.as_secs_f64() / PER_SECOND_IDEAL.as_secs_f64();
    assert!(ratio <= 1.05, "{:?}", outcome.elapsed);
    assert!(refused_share(&outcome) < 2.0, "{}", refused_share(&outcome));
    assert!(outcome.elapsed <= baseline.elapsed);
    assert!(refused_share(&outcome) <= refused_share(&baseline));
}
