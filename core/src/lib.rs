//! Retries, rate limits, timeouts and circuit breakers for calls to rate-limited, flaky HTTP
//! APIs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use steadfast::Policy;
//!
//! // Retry 429/500/503 with jittered exponential backoff, at most 25 attempts a minute.
//! let policy = Policy::builder().on("429, 500, 503".parse()?).rpm(25).build()?;
//!
//! let mut statuses = vec![503, 429, 200].into_iter();
//! let status: Result<http::StatusCode, std::io::Error> = policy
//!     .call_with(steadfast::classify::Verdict::of_result, || {
//!         let s = statuses.next().unwrap_or(200);
//!         async move { Ok(http::StatusCode::from_u16(s).unwrap()) }
//!     })
//!     .await;
//! assert_eq!(status?, http::StatusCode::OK);
//! assert_eq!(policy.stats().attempts, 3);
//! # Ok(()) }
//! ```
//!
//! # Concepts
//!
//! | module | trait | built-in |
//! | --- | --- | --- |
//! | [`classify`] | [`Classify`](classify::Classify): status, transport kind, server hint | `io::Error`, `http::StatusCode`, `reqwest` (feature) |
//! | [`retry`] | [`Backoff`](retry::Backoff) | [`Schedule`](retry::Schedule) (exp, fixed, linear, decorrelated × jitter), [`RetryBudget`](retry::RetryBudget) |
//! | [`hint`] | — | one resolver for RetryInfo, `Retry-After`, `retry-after-ms`, "retry in 17s" |
//! | [`limit`] | [`RateLimiter`](limit::RateLimiter) | [`RateLimit`](limit::RateLimit) (exact, weighted, lock-free pace), [`ConcurrencyLimit`](limit::ConcurrencyLimit) |
//! | [`breaker`] | [`CircuitBreaker`](breaker::CircuitBreaker) | [`SlidingWindowBreaker`](breaker::SlidingWindowBreaker) |
//! | [`timeout`] | — | [`Deadline`](timeout::Deadline), attempt timeouts |
//! | [`observe`] | [`Hook`](observe::Hook) | `tracing` events, [`Counters`](observe::Counters) |
//! | [`policy`] | — | [`Policy`], its builder, config files, the step executor |
//!
//! The executor applies them in this order (the [`policy`] module says why):
//!
//! ```text
//! deadline ─▶ retry loop ─▶ [each attempt] budget ─▶ breaker ─▶ rate limiter ─▶ concurrency ─▶ attempt timeout ─▶ call
//! ```
//!
//! # Features
//!
//! - `reqwest`: [`Classify`](classify::Classify) for `reqwest::Error` and `reqwest::Response`.
//! - `backoff` (opt-in): [`retry::FromBackoff`] adapts `backoff` crate schedules. Off by default
//!   because that crate is unmaintained (RUSTSEC-2025-0012) and its elapsed-time budget ignores
//!   tokio's paused clock.
//!
//! The `#[resilient]` attribute (crate `steadfast-macros`) is not written yet; until it is, use
//! [`Policy::call`] or the step interface.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod breaker;
pub mod classify;
mod error;
pub mod hint;
pub mod limit;
pub mod observe;
pub mod policy;
pub mod retry;
pub mod timeout;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use error::{ConfigError, Error};
pub use policy::{Policy, PolicyBuilder};
#[cfg(feature = "macros")]
pub use steadfast_macros::resilient;
