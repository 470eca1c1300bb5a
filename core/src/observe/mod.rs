//! Observability: `tracing` events, counters a caller can read, and a hook for custom reactions.
//!
//! Every retry, rate-limit wait, give-up and breaker transition emits a `tracing` event under the
//! target `steadfast` (or `steadfast::breaker`), with the attempt number, the delay and its
//! reason, the status and the cause. Events carry no request data and no credentials: only
//! numbers and static labels.
//!
//! With the feature `metrics`, the same events are recorded through the `metrics` facade; the
//! names and labels are listed in `core/src/observe/metrics.rs` and in README.
//!
//! Each policy keeps running totals (attempts, retries, give-ups, waits, time waited for quota):
//! [`Policy::stats`](crate::Policy::stats) reads them as [`Stats`]. A [`Hook`] receives every
//! [`Event`] as it happens, for metrics or custom logging.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use steadfast::observe::{Event, Hook};
//!
//! #[derive(Debug, Default)]
//! struct CountRetries(AtomicU32);
//! impl Hook for CountRetries {
//!     fn on_event(&self, event: &Event) {
//!         if let Event::Retry { .. } = event {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//! # let _ = CountRetries::default();
//! ```

pub(crate) mod metrics;

use crate::breaker::{BreakerState, Transition};
use crate::classify::Failure;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why the executor waits before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The server asked for this delay (RetryInfo, Retry-After, …): it is not jittered.
    ServerHint,
    /// The backoff schedule computed it.
    Backoff,
}

impl WaitReason {
    /// A static label: `"server hint"` or `"backoff"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            WaitReason::ServerHint => "server hint",
            WaitReason::Backoff => "backoff",
        }
    }
}

/// Why the executor stopped retrying and returned a failure. New reasons may be added: match
/// with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The failure is not retryable (not in the `on` set, or terminal).
    NotRetryable,
    /// Every attempt was used.
    AttemptsExhausted,
    /// The retry budget is spent.
    BudgetExhausted,
    /// The schedule said to stop.
    ScheduleEnded,
    /// The server's hint was longer than `max_hint` or than the time left.
    HintTooLong,
    /// The deadline passed, or the next wait would pass it.
    Deadline,
    /// The circuit breaker refused the call.
    CircuitOpen,
    /// The rate limit could not grant a slot in time (or ever).
    RateLimited,
    /// The call runs inside another policy's attempt, which owns the retries: this one made its
    /// one attempt and hands the failure up.
    OuterRetries,
    /// The service could not be made ready for the next attempt (tower's `poll_ready` failed):
    /// its readiness error ends the call.
    ServiceNotReady,
}

impl GiveUpReason {
    /// A static label for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            GiveUpReason::NotRetryable => "not retryable",
            GiveUpReason::AttemptsExhausted => "attempts exhausted",
            GiveUpReason::BudgetExhausted => "retry budget exhausted",
            GiveUpReason::ScheduleEnded => "schedule ended",
            GiveUpReason::HintTooLong => "server hint too long",
            GiveUpReason::Deadline => "deadline",
            GiveUpReason::CircuitOpen => "circuit open",
            GiveUpReason::RateLimited => "rate limited",
            GiveUpReason::OuterRetries => "the outer policy retries",
            GiveUpReason::ServiceNotReady => "service not ready",
        }
    }
}

/// Something a policy did, as given to a [`Hook`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An attempt failed and the call will retry after `delay`.
    Retry {
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// Where the delay came from.
        reason: WaitReason,
        /// The failure.
        failure: Failure,
    },
    /// An attempt waits for the rate limiter: reported before the wait for the built-in
    /// limiter (with the wait it expects), after it for any other limiter, which waits inside
    /// its own `acquire` (with the time it took).
    RateLimitWait {
        /// The attempt that waited.
        attempt: u32,
        /// How long it expects to wait.
        delay: Duration,
    },
    /// The call gave up; its last outcome is returned.
    GiveUp {
        /// Attempts made.
        attempts: u32,
        /// Why.
        reason: GiveUpReason,
        /// The last failure, when there was one.
        failure: Option<Failure>,
    },
    /// The circuit breaker changed state.
    Breaker(Transition),
}

/// Receives every [`Event`] of a policy. Keep it fast: it runs on the call's task.
pub trait Hook: Send + Sync + fmt::Debug {
    /// Called for each event.
    fn on_event(&self, event: &Event);
}

/// A [`Hook`] made from a closure.
///
/// ```
/// use steadfast::observe::{Event, FnHook, Hook};
/// let hook = FnHook::new(|e: &Event| if let Event::Retry { attempt, delay, .. } = e {
///     eprintln!("attempt {attempt} failed, waiting {delay:?}");
/// });
/// # let _: &dyn Hook = &hook;
/// ```
pub struct FnHook<F>(F);

impl<F: Fn(&Event) + Send + Sync> FnHook<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        FnHook(f)
    }
}

impl<F> fmt::Debug for FnHook<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnHook")
    }
}

impl<F: Fn(&Event) + Send + Sync> Hook for FnHook<F> {
    fn on_event(&self, event: &Event) {
        (self.0)(event)
    }
}

/// Running totals of one policy. All relaxed atomics: reading them never slows a call.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Calls that succeeded at a first attempt that nothing had to wait for: the only counter
    /// such a call touches, so that the success path pays one atomic update. It stands for a
    /// call, an attempt and a success at once.
    quick_successes: AtomicU64,
    calls: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    successes: AtomicU64,
    give_ups: AtomicU64,
    rate_limit_waits: AtomicU64,
    rate_limit_wait_nanos: AtomicU64,
    rejected_by_breaker: AtomicU64,
}

/// A snapshot of a policy's running totals, with the breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Calls started. A call whose first attempt needs no wait is counted when that attempt
    /// ends (so that a success costs one counter update); any other call as soon as it waits,
    /// fails or is dropped.
    pub calls: u64,
    /// Attempts sent (first attempts and retries).
    pub attempts: u64,
    /// Retries decided (each followed by a wait).
    pub retries: u64,
    /// Calls that returned a success.
    pub successes: u64,
    /// Calls that returned a failure.
    pub give_ups: u64,
    /// Attempts that waited for the rate limiter.
    pub rate_limit_waits: u64,
    /// Total time spent waiting for the rate limiter, as measured: each wait is added when it
    /// ends, or when its call is dropped during it.
    pub rate_limit_waited: Duration,
    /// Attempts refused by an open breaker.
    pub rejected_by_breaker: u64,
    /// The breaker's state, when there is a breaker.
    pub breaker: Option<BreakerState>,
}

macro_rules! bump {
    ($($name:ident),*) => {$(
        pub(crate) fn $name(&self) {
            self.$name.fetch_add(1, Ordering::Relaxed);
        }
    )*};
}

#[allow(unreachable_pub)]
impl Counters {
    bump!(
        calls,
        attempts,
        retries,
        successes,
        give_ups,
        rejected_by_breaker
    );

    /// An attempt started waiting for the rate limiter.
    pub(crate) fn rate_limit_wait(&self) {
        self.rate_limit_waits.fetch_add(1, Ordering::Relaxed);
    }

    /// Time an attempt spent waiting for the rate limiter, measured when the wait ended (or was
    /// cancelled).
    pub(crate) fn rate_limit_waited(&self, d: Duration) {
        self.rate_limit_wait_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn quick_success(&self) {
        self.quick_successes.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the totals.
    pub(crate) fn snapshot(&self, breaker: Option<BreakerState>) -> Stats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let quick = get(&self.quick_successes);
        Stats {
            calls: get(&self.calls) + quick,
            attempts: get(&self.attempts) + quick,
            retries: get(&self.retries),
            successes: get(&self.successes) + quick,
            give_ups: get(&self.give_ups),
            rate_limit_waits: get(&self.rate_limit_waits),
            rate_limit_waited: Duration::from_nanos(get(&self.rate_limit_wait_nanos)),
            rejected_by_breaker: get(&self.rejected_by_breaker),
            breaker,
        }
    }
}

/// What has running totals to show: a policy. (A trait, so that this module needs nothing of
/// `policy`, which uses it.)
pub(crate) trait Totals: Send + Sync {
    /// The totals now.
    fn totals(&self) -> Stats;
}

/// The policies of `#[resilient]` functions, registered when each is first called.
static SITES: std::sync::Mutex<Vec<(&'static str, &'static dyn Totals)>> =
    std::sync::Mutex::new(Vec::new());

/// Records an annotated function's policy under its path (called once per function, by the
/// attribute's expansion).
pub(crate) fn register_site(name: &'static str, policy: &'static dyn Totals) {
    // A poisoned registry only means a panic while pushing; the list is still a list.
    let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    if !sites
        .iter()
        .any(|(n, p)| *n == name && std::ptr::addr_eq(*p, policy))
    {
        sites.push((name, policy));
    }
}

/// The running totals of the `#[resilient]` function at `path` (`"my_crate::api::ask"`: its
/// module path and name), once it has been called; `None` before its first call or for an
/// unknown path. Methods are registered under their module's path and their name, without the
/// type: two methods of one name in one module share the path, and this returns the first
/// called. [`stats!`](crate::stats) builds the path for you.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[steadfast::resilient]
/// async fn ping() -> Result<(), std::io::Error> { Ok(()) }
///
/// ping().await.unwrap();
/// let stats = steadfast::stats!(ping).expect("called once");
/// assert_eq!((stats.calls, stats.successes), (1, 1));
/// # }
/// ```
pub fn stats_of(path: &str) -> Option<Stats> {
    let sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    sites
        .iter()
        .find(|(n, _)| *n == path)
        .map(|(_, p)| p.totals())
}

/// Every `#[resilient]` function called so far, with its path and running totals.
pub fn all_stats() -> Vec<(&'static str, Stats)> {
    let sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    sites.iter().map(|(n, p)| (*n, p.totals())).collect()
}
