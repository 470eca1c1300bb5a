//! Client-side rate limits and the concurrency limit.
//!
//! [`RateLimiter`] is the trait: `acquire(weight)` waits for a slot, `try_acquire(weight)` does
//! not. It is object-safe (through `async-trait`), so a remote backend (a Redis script shared by
//! several processes, say) can stand behind an `Arc<dyn RateLimiter>`.
//!
//! [`RateLimit`] is the built-in, in-process limiter. It is **exact**: with `rpm = N`, no
//! 60-second window ever contains more than `N` acquisitions, retries included. Its parts:
//!
//! - a *pace* for the fastest quota when it is per second or per minute: a GCRA cell on one
//!   atomic word. With `burst = 1` (the default) acquisitions are evenly spaced, `period / N`
//!   apart, which alone makes the quota exact. This is the whole fast path for a single limit:
//!   one compare-and-swap, no lock, no allocation.
//! - a *sliding-window log* for every other quota, and for the fastest one when `burst > 1`.
//!   Per-hour and per-day quotas are never paced: they can be spent as fast as the per-minute
//!   pace allows (or at once, alone) and then stop until the oldest acquisition is a period old,
//!   which is how servers count them; spreading a day's quota evenly would waste most of it. The
//!   logs share one small mutex, taken only by limiters that have a log.
//!
//! Acquisitions are weighted, so a tokens-per-minute limit is a `RateLimit` acquired with the
//! request's token count. A weight can never exceed `burst` (the most units that may start at one
//! instant) or any quota; such an acquisition is refused at once rather than waiting forever.
//!
//! Waiting does not reserve a slot: a waiter sleeps until the slot it saw would be free, then
//! tries again. A dropped waiter therefore leaves nothing behind, and the count stays exact
//! whatever is cancelled. The cost is that waiters are not served in strict FIFO order.
//!
//! [`shared`] gives every caller of a name the same limiter, and refuses a second configuration
//! for a name already in use.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), steadfast::ConfigError> {
//! use steadfast::limit::RateLimit;
//! let limit = RateLimit::builder().per_minute(25).per_day(1500).build()?;
//! assert!(limit.try_acquire(1).is_ok());
//! let wait = limit.try_acquire(1).unwrap_err().retry_after().unwrap();
//! assert_eq!(wait, std::time::Duration::from_millis(2400), "25 per minute: one every 2.4 s");
//! limit.acquire(1).await.unwrap(); // sleeps 2.4 s of (paused) time
//! # Ok(()) }
//! ```

mod adaptive;
mod clock;
mod concurrency;
mod gcra;
mod rate;
#[cfg(feature = "redis")]
pub mod redis;
mod window;

#[cfg(feature = "redis")]
pub use self::redis::{DEFAULT_GUARD, Grant, RedisRateLimit, RedisRateLimitBuilder, Unavailable};
pub use adaptive::{AdaptiveRateLimit, Observation};
pub use concurrency::ConcurrencyLimit;
pub(crate) use gcra::Gcra;
pub use rate::{Quota, RateLimit, RateLimitConfig};

use crate::error::ConfigError;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A refused acquisition: how long until it could succeed, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    retry_after: Option<Duration>,
    unavailable: bool,
}

impl Denied {
    /// Refused for now; a slot is expected after `wait`.
    pub const fn wait(wait: Duration) -> Self {
        Denied {
            retry_after: Some(wait),
            unavailable: false,
        }
    }

    /// Refused for good: the weight exceeds what the limiter can ever grant at once.
    pub const fn never() -> Self {
        Denied {
            retry_after: None,
            unavailable: false,
        }
    }

    /// Refused because the limiter's backing store (a Redis server, say) cannot be reached and
    /// the limiter is configured to fail rather than wait. A policy reports it as
    /// [`crate::Error::LimiterUnavailable`].
    pub const fn unavailable() -> Self {
        Denied {
            retry_after: None,
            unavailable: true,
        }
    }

    /// How long until a slot is expected; `None` when the acquisition can never succeed (or the
    /// limiter is unavailable).
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the limiter refused because its backing store is unavailable.
    pub const fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(d) => write!(f, "rate limit reached; next slot in {d:?}"),
            None if self.unavailable => f.write_str("the shared rate limiter is unavailable"),
            None => f.write_str("acquisition heavier than the rate limit can ever grant"),
        }
    }
}

impl std::error::Error for Denied {}

/// A rate limiter: grants weighted slots, waiting or not.
///
/// The built-in [`RateLimit`] implements it; implement it for a shared backend. `acquire` has a
/// default that polls `try_acquire` and sleeps for the advised time.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use steadfast::limit::{Denied, RateLimiter};
///
/// /// Grants a fixed number of slots in total (a stand-in for a remote quota service).
/// #[derive(Debug)]
/// struct Allowance(AtomicU32);
///
/// #[async_trait::async_trait]
/// impl RateLimiter for Allowance {
///     async fn try_acquire(&self, weight: u32) -> Result<(), Denied> {
///         self.0
///             .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(weight))
///             .map(|_| ())
///             .map_err(|_| Denied::never())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let limiter: std::sync::Arc<dyn RateLimiter> = std::sync::Arc::new(Allowance(AtomicU32::new(2)));
/// assert!(limiter.acquire(2).await.is_ok());
/// assert_eq!(limiter.try_acquire(1).await, Err(Denied::never()));
/// # }
/// ```
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Takes `weight` units if they are free now; never waits for a slot.
    async fn try_acquire(&self, weight: u32) -> Result<(), Denied>;

    /// The built-in limiter behind this value, if it is one. Executors use it to take the
    /// synchronous, allocation-free path; other implementations keep the default `None`.
    fn as_rate_limit(&self) -> Option<&RateLimit> {
        None
    }

    /// Whether this limiter learns from outcomes: executors then time each attempt's start and
    /// call [`observe`](RateLimiter::observe) after it. `false` by default, which costs nothing.
    fn wants_observations(&self) -> bool {
        false
    }

    /// What one attempt's outcome says (its start, status, hint): for limiters that adapt to the
    /// server, such as [`AdaptiveRateLimit`]. Does nothing by default.
    fn observe(&self, _observation: &Observation) {}

    /// Waits until `weight` units are free and takes them. Fails only when they never will be.
    async fn acquire(&self, weight: u32) -> Result<(), Denied> {
        loop {
            match self.try_acquire(weight).await {
                Ok(()) => return Ok(()),
                Err(denied) => match denied.retry_after() {
                    Some(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
                    None => return Err(denied),
                },
            }
        }
    }
}

type Registry = Mutex<HashMap<String, Arc<RateLimit>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// The process-wide limiter named `name`, created from `config` on first use.
///
/// Every caller of a name shares one limiter, and so one quota. Asking for a name that exists
/// with a different configuration is an error rather than a silent second limiter.
///
/// ```
/// use steadfast::limit::{shared, RateLimit};
/// let a = shared("doc-gemini", RateLimit::builder().per_minute(25))?;
/// let b = shared("doc-gemini", RateLimit::builder().per_minute(25))?;
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// let err = shared("doc-gemini", RateLimit::builder().per_minute(30)).unwrap_err();
/// assert!(err.to_string().contains("doc-gemini"));
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
pub fn shared(name: &str, config: RateLimitConfig) -> Result<Arc<RateLimit>, ConfigError> {
    // A poisoned registry only means a panic elsewhere while it was held; its map is still whole.
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = map.get(name) {
        if *existing.config() == config {
            return Ok(Arc::clone(existing));
        }
        return Err(ConfigError::new(
            "limiter",
            format!(
                "the limiter named \"{name}\" already exists with {}, but {} was asked for: \
                 give every user of a name the same limits, or use another name",
                existing.config(),
                config
            ),
        ));
    }
    let limiter = Arc::new(RateLimit::new(config.clone())?);
    map.insert(name.to_owned(), Arc::clone(&limiter));
    Ok(limiter)
}

/// `redis://user:secret@host/0` → `redis://user:***@host/0`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return redact_query(url);
    };
    let rest = &url[scheme_end..];
    // The credentials end at the last `@` before the query, not at the first `/`: a password
    // may hold a `/` (it then does not parse as a URL, and the error names the URL). Masking
    // too much is harmless; too little leaks the password.
    let query = rest.find('?').unwrap_or(rest.len());
    let masked = match rest[..query].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            let masked = if rest[..at].contains(':') {
                format!("{user}:***")
            } else {
                "***".to_owned()
            };
            format!("{}{masked}{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_owned(),
    };
    redact_query(&masked)
}

/// `…?pass=secret&db=1` → `…?pass=***&db=1` (redis-rs reads a password there for Unix sockets).
fn redact_query(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = url[q + 1..]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _))
                if k.eq_ignore_ascii_case("pass") || k.eq_ignore_ascii_case("password") =>
            {
                format!("{k}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", &url[..q], pairs.join("&"))
}
