#[path = "../support/pass.rs"]
mod support;
use support::*;

use std::sync::Arc;
use steadfast::classify::Verdict;
use steadfast::limit::RateLimit;
use steadfast::resilient;

fn judge(r: &Result<u32, ApiError>) -> Verdict { Verdict::of_error(r) }
fn log_retry(e: &steadfast::observe::Event) { let _ = e; }
async fn fallback(n: u32) -> Result<u32, ApiError> { Ok(n) }
fn limiter() -> Arc<RateLimit> { Arc::new(RateLimit::builder().per_second(10).build().unwrap()) }
fn policy() -> steadfast::Policy { steadfast::Policy::builder().build().unwrap() }

#[resilient(
    retry = "linear", on = [429, 500..=599, "timeout", "connect"], attempts = 3, base = "250ms",
    max_delay = "2s", factor = 1.5, jitter = "equal", deadline = "1m", timeout = "10s",
    rps = 2, rpm = 60, rph = 1000, rpd = 10000, burst = 2, concurrency = 4,
    breaker(failure_ratio = 0.5, min_calls = 10, window = "30s", open_for = "30s", half_open = 1),
    budget = 0.1, honor_hint = true, max_hint = "90s", classify = judge, on_retry = log_retry,
    fallback = fallback, crate = ::steadfast,
)]
async fn everything(n: u32) -> Result<u32, ApiError> { Ok(n) }

#[resilient(limiter = limiter(), budget = false)]
async fn with_limiter_value(n: u32) -> Result<u32, ApiError> { Ok(n) }

#[resilient(policy = policy(), classify = judge, fallback = fallback)]
async fn with_policy(n: u32) -> Result<u32, ApiError> { Ok(n) }

#[resilient(retry = "none", jitter = "none")]
async fn no_retry(n: u32) -> Result<u32, ApiError> { Ok(n) }

#[resilient(retry = "decorrelated", jitter = "decorrelated", budget = true)]
async fn decorrelated(n: u32) -> Result<u32, ApiError> { Ok(n) }

mod renamed {
    pub use steadfast as sf;
}

#[resilient(crate = renamed::sf, retry = "fixed", limiter = "pass-every-key", rpm = 5)]
async fn renamed_crate(n: u32) -> Result<u32, ApiError> { Ok(n) }

fn main() {
    assert_eq!(block_on(everything(1)).unwrap(), 1);
    assert_eq!(block_on(with_limiter_value(2)).unwrap(), 2);
    assert_eq!(block_on(with_policy(3)).unwrap(), 3);
    assert_eq!(block_on(no_retry(4)).unwrap(), 4);
    assert_eq!(block_on(decorrelated(5)).unwrap(), 5);
    assert_eq!(block_on(renamed_crate(6)).unwrap(), 6);
}