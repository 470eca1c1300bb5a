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
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
            {
                window.pop_front();
            }
            if window.len() >= limit {
                self.too_many.fetch_add(1, Ordering::Relaxed);
                let free_at = window[window.len() - limit] + Duration::from_secs(60);
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
