//! Retries, rate limits, timeouts and circuit breakers for calls to rate-limited, flaky HTTP
//! APIs, with one attribute.
//!
//! ```
//! use steadfast::resilient;
//!
//! // A 429 or 503 is retried with jittered exponential backoff (or after the server's own
//! // delay), at most 25 attempts a minute shared by every caller; anything else fails at once.
//! #[resilient(retry = "exp", on = [429, 500, 503], rpm = 25)]
//! async fn status(next: &std::sync::Mutex<Vec<u16>>) -> Result<http::StatusCode, std::io::Error> {
//!     let code = next.lock().unwrap().remove(0);
//!     Ok(http::StatusCode::from_u16(code).unwrap()) // `Ok(429)` is a retryable outcome too
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let answers = std::sync::Mutex::new(vec![503, 429, 200]);
//! assert_eq!(status(&answers).await.unwrap(), http::StatusCode::OK);
//! # }
//! ```
//!
//! Every key of [`resilient`] is described on its page. The same policies are available as
//! values, for code that prefers them to attributes, through [`Policy::builder`] and from config
//! files ([`policy::PolicyConfig`]):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use steadfast::Policy;
//!
//! let policy = Policy::builder().on("429, 500, 503".parse()?).rpm(25).build()?;
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
//! # What the attribute expands to
//!
//! The signature is kept; the body runs inside a retry loop (`__private::call`'s), with a per-function
//! policy built once on first use from the attribute's literal keys (everything else lives in
//! `steadfast::__private`, compiled once):
//!
//! ```text
//! async fn ask(&self, prompt: String) -> Result<String, Error> {
//!     static SITE: __private::Site = __private::site(
//!         module_path!(),
//!         "ask",
//!         "on=429, 503;rpm=25",                       // the literal keys, checked at compile time
//!     );
//!     __private::call(                                // the loop: gates, attempt, verdict, wait
//!         &SITE,                                      // its policy: limiter, budget, breaker, counters
//!         || async {
//!             let prompt = __private::clone_argument(&prompt);  // owned: a copy per attempt
//!             /* the body; `self` is borrowed */
//!         },
//!         __private::pick::<Result<String, Error>>().judging(),  // classify, convert
//!     ).await                                         // success, the last real error, or the
//! }                                                   // policy's error through From
//! ```
//!
//! A function whose body may change an argument (`&mut self`, a `&mut` argument) keeps the
//! loop in its own body and awaits one `__private::attempt` per pass, each with a new closure
//! that reborrows the argument.
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
//! | [`observe`] | [`Hook`](observe::Hook) | `tracing` events, [`Stats`](observe::Stats) |
//! | [`policy`] | — | [`Policy`], its builder, config files, the step executor |
//!
//! The executor applies them in this order (the [`policy`] module says why):
//!
//! ```text
//! deadline ─▶ retry loop ─▶ [each attempt] budget ─▶ breaker ─▶ concurrency ─▶ rate limiter ─▶ attempt timeout ─▶ call
//! ```
//!
//! # Features
//!
//! - `macros` (default): the [`resilient`] attribute.
//! - `reqwest`: [`Classify`](classify::Classify) for `reqwest::Error` and `reqwest::Response`.
//! - `backoff` (opt-in): `retry::FromBackoff` adapts `backoff` crate schedules. Off by default
//!   because that crate is unmaintained (RUSTSEC-2025-0012) and its elapsed-time budget ignores
//!   tokio's paused clock.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod breaker;
#[doc(hidden)]
pub mod calendar;
pub mod classify;
mod duration;
mod error;
pub mod hint;
pub mod limit;
pub mod observe;
pub mod policy;
pub mod retry;
pub mod timeout;
#[cfg(feature = "tower")]
pub mod tower;

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

pub use error::{ConfigError, Error};

/// The running totals ([`observe::Stats`]) of a `#[resilient]` function in the current module,
/// or of one at a path: `stats!(ask)`, `stats!(crate::api::ask)`. `None` until it has been
/// called once. See [`observe::stats_of`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[steadfast::resilient]
/// async fn ask() -> Result<u32, std::io::Error> { Ok(7) }
///
/// assert!(steadfast::stats!(ask).is_none(), "not called yet");
/// ask().await.unwrap();
/// assert_eq!(steadfast::stats!(ask).unwrap().attempts, 1);
/// # }
/// ```
#[macro_export]
macro_rules! stats {
    ($name:ident) => {
        $crate::observe::stats_of(::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)))
    };
    ($($path:ident)::+) => {
        $crate::observe::stats_of(&$crate::__private::stats_path(::core::module_path!(), &[$(::core::stringify!($path)),+]))
    };
}
pub use policy::{Policy, PolicyBuilder};
#[cfg(feature = "macros")]
pub use steadfast_macros::resilient;
