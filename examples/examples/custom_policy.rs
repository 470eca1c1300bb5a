//! custom_policy: plugging your own pieces into steadfast.
//!
//! Every policy is a public trait that the built-ins implement too. This example implements:
//! - `Classify` for its own error type (a legacy API that signals "busy" in the body),
//! - `Backoff`: a schedule of its own (Fibonacci delays),
//! - `RateLimiter`: a limiter of its own (a fixed allowance, standing in for a remote quota
//!   service),
//! - `Hook`: a reaction to every event (here, counting and printing),
//!
//! and plugs them in through the attribute (`classify =`, `limiter =`, `on_retry =`, `policy =`)
//! and through the builder.
//!
//! Run: `cargo run -p steadfast-examples --example custom_policy`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use steadfast::classify::{Classify, Failure, Transport, Verdict};
use steadfast::limit::{Denied, RateLimiter};
use steadfast::observe::{Event, Hook};
use steadfast::retry::{Backoff, Random};
use steadfast::{Policy, resilient};

/// A legacy API's error: it answers 200 with `{"busy": true}` when it is overloaded.
#[derive(Debug, Clone, PartialEq)]
enum LegacyError {
    Busy,
    Offline,
    BadInput(String),
    Policy(String),
}

/// What each error means for retrying.
impl Classify for LegacyError {
    fn failure(&self) -> Option<Failure> {
        Some(match self {
            LegacyError::Busy => Failure::status(503),
            LegacyError::Offline => Failure::transport(Transport::Connect),
            LegacyError::BadInput(_) => Failure::status(400),
            LegacyError::Policy(_) => Failure::unknown(),
        })
    }
}

impl From<steadfast::Error> for LegacyError {
    fn from(e: steadfast::Error) -> Self {
        LegacyError::Policy(e.to_string())
    }
}

/// A custom verdict: never retry bad input, retry anything else, whatever the statuses say.
fn legacy_verdict(result: &Result<String, LegacyError>) -> Verdict {
    match result {
        Ok(_) => Verdict::Success,
        Err(LegacyError::BadInput(_)) => Verdict::Stop(Failure::status(400)),
        Err(e) => Verdict::Retry(e.failure().unwrap_or_default()),
    }
}

/// Fibonacci delays in units of 10 ms: 10, 10, 20, 30, 50, … capped at 1 s.
#[derive(Debug)]
struct Fibonacci;

impl Backoff for Fibonacci {
    fn delay(&self, retry: u32, _previous: Duration, _rng: &mut Random) -> Option<Duration> {
        let (mut a, mut b) = (1u64, 1u64);
        for _ in 1..retry {
            (a, b) = (b, a + b);
        }
        Some(Duration::from_millis(10 * a).min(Duration::from_secs(1)))
    }
}

/// A fixed allowance of requests, shared by every caller: a stand-in for a remote quota
/// service (a Redis script, say), which would implement the same trait.
#[derive(Debug)]
struct Allowance(AtomicU32);

#[async_trait::async_trait]
impl RateLimiter for Allowance {
    async fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(weight)
            })
            .map(|_| ())
            .map_err(|_| Denied::never())
    }
}

fn allowance() -> Arc<dyn RateLimiter> {
    static SHARED: std::sync::OnceLock<Arc<dyn RateLimiter>> = std::sync::OnceLock::new();
    Arc::clone(SHARED.get_or_init(|| Arc::new(Allowance(AtomicU32::new(6)))))
}

/// Counts events and prints them.
#[derive(Debug, Default)]
struct Tally(AtomicU32);

impl Hook for Tally {
    fn on_event(&self, event: &Event) {
        self.0.fetch_add(1, Ordering::Relaxed);
        if let Event::Retry {
            attempt,
            delay,
            failure,
            ..
        } = event
        {
            println!(
                "    hook: attempt {attempt} failed ({}), next in {delay:?}",
                failure.cause()
            );
        }
    }
}

fn print_retry(event: &Event) {
    if let Event::Retry { attempt, delay, .. } = event {
        println!("    on_retry: attempt {attempt}, waiting {delay:?}");
    }
}

/// A policy built with the builder, from the custom pieces, used by the attribute's `policy =`.
fn fibonacci_policy() -> Policy {
    Policy::builder()
        .schedule(Fibonacci)
        .attempts(5)
        .hook(Arc::new(Tally::default()))
        .build()
        .expect("a valid policy")
}

/// The legacy API: busy twice, then answers.
struct Legacy {
    calls: AtomicU32,
}

impl Legacy {
    async fn query(&self, q: &str) -> Result<String, LegacyError> {
        match self.calls.fetch_add(1, Ordering::Relaxed) % 3 {
            0 => Err(LegacyError::Busy),
            1 => Err(LegacyError::Offline),
            _ if q.is_empty() => Err(LegacyError::BadInput("empty query".into())),
            _ => Ok(format!("result for {q}")),
        }
    }
}

#[resilient(classify = legacy_verdict, on_retry = print_retry, base = "10ms", budget = false)]
async fn with_classifier(api: &Legacy, q: &str) -> Result<String, LegacyError> {
    api.query(q).await
}

#[resilient(limiter = allowance(), base = "10ms", budget = false)]
async fn with_limiter(api: &Legacy, q: &str) -> Result<String, LegacyError> {
    api.query(q).await
}

#[resilient(policy = fibonacci_policy())]
async fn with_policy(api: &Legacy, q: &str) -> Result<String, LegacyError> {
    api.query(q).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api = Legacy {
        calls: AtomicU32::new(0),
    };

    println!("1. attribute with `classify =` and `on_retry =`:");
    println!("   -> {:?}", with_classifier(&api, "weather").await);
    println!("   (an empty query is bad input: the custom verdict stops at once)");
    api.calls.store(2, Ordering::Relaxed);
    println!("   -> {:?}", with_classifier(&api, "").await);

    println!("\n2. attribute with `limiter =` (a custom limiter allowing 6 requests in all):");
    api.calls.store(0, Ordering::Relaxed);
    println!("   -> {:?}", with_limiter(&api, "news").await);
    println!("   -> {:?}", with_limiter(&api, "sport").await);
    println!("   (the allowance is spent: the third call is refused without being sent)");
    println!("   -> {:?}", with_limiter(&api, "more").await);

    println!("\n3. attribute with `policy =` (builder: Fibonacci backoff and a hook):");
    api.calls.store(0, Ordering::Relaxed);
    println!("   -> {:?}", with_policy(&api, "stocks").await);

    println!("\n4. the builder alone, no attribute:");
    let hook = Arc::new(Tally::default());
    let policy = Policy::builder()
        .schedule(Fibonacci)
        .limiter(allowance_fresh())
        .hook(hook.clone())
        .build()?;
    api.calls.store(0, Ordering::Relaxed);
    let answer = policy.call(|| api.query("by builder")).await;
    println!(
        "   -> {answer:?}; {} events seen by the hook; {:?}",
        hook.0.load(Ordering::Relaxed),
        policy.stats()
    );
    Ok(())
}

fn allowance_fresh() -> Arc<dyn RateLimiter> {
    Arc::new(Allowance(AtomicU32::new(10)))
}
