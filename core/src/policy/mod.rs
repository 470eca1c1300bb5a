//! The policy: every resilience setting of one call site, and the executor that applies them.
//!
//! A [`Policy`] is built once (by the attribute, by [`Policy::builder`], or from a
//! [`PolicyConfig`] read from a file) and shared by every call: it owns the state that must be
//! shared (rate limiter, breaker, retry budget, concurrency permits, counters). Each call gets
//! a [`Run`], which holds the per-call state (attempt number, deadline, previous delay) on the
//! caller's stack.
//!
//! # Order
//!
//! ```text
//! deadline ─▶ retry loop ─▶ [each attempt] budget ─▶ breaker ─▶ concurrency ─▶ rate limiter ─▶ attempt timeout ─▶ call
//! ```
//!
//! - The **deadline** is outermost because it bounds everything else, waits included.
//! - The **budget** is consulted when a retry is decided, before its wait: a retry the budget
//!   refuses should not first sleep.
//! - The **breaker** comes before the limiter, so that a call refused by an open breaker takes
//!   no rate-limit slot.
//! - The **rate limiter** is the last gate, after the concurrency limit: its slot is taken at
//!   the moment the attempt starts. A slot taken before waiting for a permit would be spent
//!   later, when permits free up, all at once: the server counts starts. Every attempt passes
//!   it, retries included, because the server counts retries too.
//! - The **attempt timeout** wraps only the call itself: waiting for quota is not the server
//!   being slow.
//!
//! # Two ways to drive it
//!
//! [`Policy::call`] takes a closure that makes one attempt. The step interface
//! ([`Policy::start`], [`Run::before_attempt`], [`Run::attempt`], [`Run::after_attempt`]) is
//! what the `#[resilient]` attribute's loop drives, through its hidden support module (which
//! also leaves each wait for the next `before_attempt` to take): since the loop is in the
//! caller's own body, a `&mut self` method can be retried without moving `self` into a
//! closure.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! use steadfast::{classify::Verdict, policy::Step, Policy};
//!
//! struct Counter { calls: u32 }
//! impl Counter {
//!     async fn flaky(&mut self) -> Result<u32, std::io::Error> {
//!         self.calls += 1;
//!         if self.calls < 3 { Err(std::io::ErrorKind::ConnectionReset.into()) } else { Ok(self.calls) }
//!     }
//! }
//!
//! let policy = Policy::builder().build().unwrap();
//! let mut counter = Counter { calls: 0 };
//! let mut run = policy.start();
//! let result = loop {
//!     if let Err(e) = run.before_attempt().await { break Err(std::io::Error::other(e)); }
//!     let attempt = run.attempt(counter.flaky()).await;
//!     match run.after_attempt(attempt, Verdict::of_error).await {
//!         Step::Retry => continue,
//!         Step::Done(result) => break result,
//!         Step::Stop(stop) => break Err(std::io::Error::other(stop.into_reason())),
//!     }
//! };
//! assert_eq!(result.unwrap(), 3);
//! assert_eq!(counter.calls, 3);
//! # }
//! ```

pub(crate) mod config;
pub mod keys;

/// The longest server delay a policy waits for unless told otherwise (`max_hint`): 120 s.
pub const DEFAULT_MAX_HINT: Duration = Duration::from_secs(120);
mod run;

pub use config::{
    BreakerSetting, BudgetSetting, LimiterSetting, PolicyConfig, RedisLimiterSetting,
    parse_duration,
};
pub use run::{Attempt, Run, Step, Stop};
pub(crate) use run::{Ended, InsideAttempt};
pub(crate) use run::{Failed, Judged};

use crate::breaker::{BreakerConfig, CircuitBreaker, SlidingWindowBreaker};
use crate::classify::{Classify, RetryOn, Verdict};
use crate::error::{ConfigError, Error};
use crate::limit::{self, ConcurrencyLimit, RateLimit, RateLimitConfig, RateLimiter};
use crate::observe::{Counters, Hook, Stats};
use crate::retry::{Backoff, RetryBudget, Schedule};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Every resilience setting of a call site, and the state shared by its calls.
///
/// Build one with [`Policy::builder`] or from a [`PolicyConfig`]; run calls with
/// [`Policy::call`] or the step interface ([`Policy::start`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use steadfast::Policy;
///
/// let policy = Policy::builder()
///     .on("429, 500, 503".parse()?)
///     .attempts(4)
///     .base(Duration::from_millis(200))
///     .rpm(25)
///     .build()?;
///
/// let mut left = 2;
/// let answer: Result<&str, std::io::Error> = policy
///     .call(|| {
///         left -= 1;
///         let failed = left > 0;
///         async move { if failed { Err(std::io::ErrorKind::TimedOut.into()) } else { Ok("hi") } }
///     })
///     .await;
/// // A timeout is not in [429, 500, 503]: the first error is returned as it is.
/// assert_eq!(answer.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// assert_eq!(policy.stats().attempts, 1);
/// # Ok(()) }
/// ```
pub struct Policy {
    pub(crate) schedule: Box<dyn Backoff>,
    pub(crate) on: RetryOn,
    pub(crate) attempts: u32,
    pub(crate) deadline: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) limiter: Option<Arc<dyn RateLimiter>>,
    pub(crate) concurrency: Option<ConcurrencyLimit>,
    pub(crate) breaker: Option<Arc<dyn CircuitBreaker>>,
    pub(crate) budget: Option<Arc<RetryBudget>>,
    pub(crate) honor_hint: bool,
    pub(crate) max_hint: Duration,
    pub(crate) retry_when_nested: bool,
    /// The `metrics` series of the success path (empty without the feature).
    pub(crate) metrics: crate::observe::metrics::Handles,
    pub(crate) hook: Option<Arc<dyn Hook>>,
    pub(crate) counters: Counters,
    pub(crate) name: &'static str,
    /// With a seed, each call's jitter comes from `seed` and the call's number: reproducible.
    pub(crate) seed: Option<(u64, std::sync::atomic::AtomicU64)>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .field("on", &self.on)
            .field("attempts", &self.attempts)
            .field("deadline", &self.deadline)
            .field("timeout", &self.timeout)
            .field("limiter", &self.limiter)
            .field("concurrency", &self.concurrency.as_ref().map(|c| c.max()))
            .field("breaker", &self.breaker)
            .field("budget", &self.budget)
            .field("honor_hint", &self.honor_hint)
            .field("max_hint", &self.max_hint)
            .field("retry_when_nested", &self.retry_when_nested)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// A builder with the defaults of the attribute: `exp` from 1 s doubling to 60 s with full
    /// jitter, 5 attempts, on `transient`, the retry quota (500 units, 5 a retry, refilled by
    /// successes), server hints honoured up to 120 s.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// Starts one call: the per-call state for the step interface.
    #[inline]
    pub fn start(&self) -> Run<'_> {
        Run::new(self)
    }

    /// Runs `attempt` under the policy, classifying errors with their [`Classify`] impl.
    ///
    /// Returns the success, or the last real error when retries are exhausted or the failure is
    /// not retryable; errors the policy itself produces (timeout, deadline, open breaker, a
    /// server delay beyond `max_hint`) arrive through `From<steadfast::Error>`.
    pub async fn call<T, E, F, Fut>(&self, attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify + From<Error>,
    {
        self.call_with(Verdict::of_error, attempt).await
    }

    /// Like [`call`](Policy::call), with a custom classifier (for example
    /// [`Verdict::of_result`], which also retries `Ok` responses with a failure status).
    pub async fn call_with<T, E, F, Fut, C>(&self, classify: C, mut attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Verdict,
        E: From<Error>,
    {
        let mut run = self.start();
        loop {
            if !run.ready_now() {
                run.before_attempt().await?;
            }
            let outcome = run.attempt(attempt()).await;
            let failed = match run.judge(outcome, &classify) {
                Judged::Success(result) => return result,
                Judged::Failed(failed) => failed,
            };
            match run.after_failure(failed).await {
                Step::Retry => continue,
                Step::Done(result) => return result,
                Step::Stop(stop) => return Err(stop.into_error()),
            }
        }
    }

    /// The running totals of this policy, with its breaker's state.
    pub fn stats(&self) -> Stats {
        self.counters
            .snapshot(self.breaker.as_ref().map(|b| b.state()))
    }

    /// The total number of attempts a call may make.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The failures that are retried.
    pub fn retry_on(&self) -> &RetryOn {
        &self.on
    }

    /// The rate limiter, when the policy uses one.
    pub fn limiter(&self) -> Option<&Arc<dyn RateLimiter>> {
        self.limiter.as_ref()
    }

    /// The built-in rate limiter, when the policy uses one.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        self.limiter.as_deref().and_then(|l| l.as_rate_limit())
    }

    /// The retry budget, when on.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_deref()
    }
}

/// Builds a [`Policy`]; every setting of the attribute has a method. `build` checks them all.
///
/// ```
/// use std::time::Duration;
/// use steadfast::Policy;
/// let err = Policy::builder()
///     .deadline(Duration::from_secs(5))
///     .timeout(Duration::from_secs(5))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "timeout");
/// ```
#[derive(Default)]
pub struct PolicyBuilder {
    config: PolicyConfig,
    schedule: Option<Box<dyn Backoff>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    breaker: Option<Arc<dyn CircuitBreaker>>,
    budget: Option<Arc<RetryBudget>>,
    hook: Option<Arc<dyn Hook>>,
    name: Option<&'static str>,
    seed: Option<u64>,
}

impl fmt::Debug for PolicyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyBuilder")
            .field("config", &self.config)
            .field("schedule", &self.schedule)
            .field("limiter", &self.limiter)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

/// The setters of every key that is a plain value, written once for the two ways to hold a
/// policy's settings: [`PolicyConfig`] (a value, also read from a configuration file, and what
/// the Gemini client takes for its retries) and [`PolicyBuilder`]. The names are the keys of
/// the attribute ([`keys::KEYS`]).
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl PolicyConfig {$(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = Some(value.into());
                self
            }
        )*}
        impl PolicyBuilder {$(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = Some(value.into());
                self
            }
        )*}
    };
}

setters! {
    /// The schedule by name: `"exp"`, `"fixed"`, `"linear"`, `"decorrelated"`, `"none"`.
    retry: &str,
    /// Which failures are retried (default: `transient`).
    on: RetryOn,
    /// Total attempts, the first included (default 5).
    attempts: u32,
    /// The first delay (default 1 s).
    base: Duration,
    /// The cap on any computed delay (default 60 s).
    max_delay: Duration,
    /// Growth of `exp` (default 2.0).
    factor: f64,
    /// Randomisation of computed delays (default full).
    jitter: crate::retry::Jitter,
    /// Budget for the whole call, waits included.
    deadline: Duration,
    /// Limit on each attempt.
    timeout: Duration,
    /// At most this many attempts per second.
    rps: u32,
    /// At most this many attempts in any 60 s.
    rpm: u32,
    /// At most this many attempts per hour.
    rph: u32,
    /// At most this many attempts per day.
    rpd: u32,
    /// Attempts that may start back to back (default 1).
    burst: u32,
    /// At most this many attempts in flight.
    concurrency: u32,
    /// Whether server delay hints are obeyed (default true).
    honor_hint: bool,
    /// The longest server hint that is waited for (default 120 s).
    max_hint: Duration,
    /// Whether this policy still retries when its call runs inside another policy's attempt
    /// (default `false`: one layer retries, the outer one; see [`Run`]).
    retry_when_nested: bool,
    /// Learn the server's rate from its 429s, with the rates set here as the ceiling
    /// (default `false`; see [`AdaptiveRateLimit`](crate::limit::AdaptiveRateLimit)).
    adapt: bool,
    /// The retry budget: `false` for none, `true` for the default retry quota, a ratio of calls
    /// (`0.2`), or a ratio and a floor (`Some((0.2, 10))`); see [`BudgetSetting`].
    budget: impl Into<BudgetSetting>,
    /// The circuit breaker: `true` for the default one, `false` for none, or its parameters
    /// (a [`BreakerConfig`]); see [`BreakerSetting`].
    breaker: impl Into<BreakerSetting>,
}

impl PolicyBuilder {
    /// Starts from a config file's settings (replacing any set so far).
    pub fn config(mut self, config: PolicyConfig) -> Self {
        self.config = config;
        self
    }

    /// Shares the process-wide limiter `name` (created from this policy's rates on first use).
    pub fn limiter_name(mut self, name: &str) -> Self {
        self.config.limiter = Some(LimiterSetting::Named(name.to_owned()));
        self
    }

    /// Uses a limiter the caller built: the built-in shared with other policies, or any
    /// [`RateLimiter`] (a remote one, say).
    pub fn limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Uses a custom backoff schedule instead of `retry`/`base`/`factor`/`max_delay`/`jitter`.
    pub fn schedule(mut self, schedule: impl Backoff + 'static) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// Uses a breaker the caller built (shared, or a custom implementation). Given together
    /// with [`breaker`](Self::breaker) settings, `build` refuses both.
    pub fn circuit_breaker(mut self, breaker: Arc<dyn CircuitBreaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Uses a budget shared with other policies. Given together with
    /// [`budget`](Self::budget) settings, `build` refuses both.
    pub fn shared_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Receives every event.
    pub fn hook(mut self, hook: Arc<dyn Hook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// A name for log events (the attribute uses the function's path).
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Makes jitter reproducible: each call draws from `seed` and its own sequence number, so
    /// a program that makes the same calls in the same order waits the same delays (for tests
    /// and simulations; leave it unset in production, where spread is the point).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks every setting and builds the policy.
    pub fn build(self) -> Result<Policy, ConfigError> {
        let c = self.config;
        let attempts = c.attempts.unwrap_or(5);
        if attempts == 0 {
            return Err(ConfigError::new(
                "attempts",
                "attempts must be at least 1 (it counts the first attempt; 1 means no retry)",
            ));
        }
        let schedule: Box<dyn Backoff> = match self.schedule {
            Some(s) => s,
            None => {
                let name = c.retry.as_deref().unwrap_or("exp");
                let base = c.base.unwrap_or(Duration::from_secs(1));
                let max = c.max_delay.unwrap_or(Duration::from_secs(60));
                let schedule = Schedule::named(name, base, c.factor.unwrap_or(2.0), max)?;
                Box::new(match c.jitter {
                    Some(j) => schedule.with_jitter(j),
                    None => schedule,
                })
            }
        };
        if let (Some(t), Some(d)) = (c.timeout, c.deadline) {
            if t >= d {
                return Err(ConfigError::new(
                    "timeout",
                    format!(
                        "the attempt timeout ({t:?}) must be shorter than the deadline ({d:?}) \
                         for the whole call, or there is no time left to retry"
                    ),
                ));
            }
        }
        for (field, d) in [("timeout", c.timeout), ("deadline", c.deadline)] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::new(
                    field,
                    format!("{field} must be longer than zero"),
                ));
            }
        }
        // A setting the policy would not use is a mistake to report, not to drop.
        let no_rate = [c.rps, c.rpm, c.rph, c.rpd].iter().all(Option::is_none);
        if c.burst.is_some() && no_rate {
            return Err(ConfigError::new(
                "burst",
                "burst needs a rate: add rps, rpm, rph or rpd (a limiter value carries its own \
                 burst)",
            ));
        }
        if self.breaker.is_some() && c.breaker.is_some() {
            return Err(ConfigError::new(
                "breaker",
                "a breaker value was given together with breaker settings: keep one of them",
            ));
        }
        if self.budget.is_some() && c.budget.is_some() {
            return Err(ConfigError::new(
                "budget",
                "a shared budget was given together with budget settings: keep one of them",
            ));
        }
        let rates = RateLimitConfig::default();
        let rates = [
            (c.rps, RateLimitConfig::per_second as fn(_, _) -> _),
            (c.rpm, RateLimitConfig::per_minute),
            (c.rph, RateLimitConfig::per_hour),
            (c.rpd, RateLimitConfig::per_day),
            (c.burst, RateLimitConfig::burst),
        ]
        .into_iter()
        .fold(rates, |r, (value, set)| match value {
            Some(v) => set(r, v),
            None => r,
        });
        let limiter = match (
            c.adapt.unwrap_or(false),
            self.limiter,
            c.limiter,
            rates.is_empty(),
        ) {
            (true, None, None, no_rates) => {
                let ceiling = (!no_rates).then(|| RateLimit::new(rates)).transpose()?;
                Some(Arc::new(limit::AdaptiveRateLimit::new(ceiling)) as Arc<dyn RateLimiter>)
            }
            (true, _, _, _) => {
                return Err(ConfigError::new(
                    "adapt",
                    "an adaptive limiter learns its own rate: it cannot be combined with a \
                     limiter value or a limiter name; give its ceiling as rps, rpm, rph or rpd",
                ));
            }
            (false, limiter, named, no_rates) => match (limiter, named, no_rates) {
                (Some(l), None, true) => Some(l),
                (Some(_), _, _) => {
                    return Err(ConfigError::new(
                        "limiter",
                        "a limiter value was given together with rates or a limiter name: \
                     keep one of them",
                    ));
                }
                (None, Some(LimiterSetting::Named(name)), false) => {
                    Some(limit::shared(&name, rates)? as Arc<dyn RateLimiter>)
                }
                (None, Some(LimiterSetting::Redis(redis)), false) => {
                    Some(redis_limiter(redis, rates)?)
                }
                (None, Some(setting), true) => {
                    let name = match setting {
                        LimiterSetting::Named(n) => n,
                        LimiterSetting::Redis(r) => r.name,
                    };
                    return Err(ConfigError::new(
                        "limiter",
                        format!(
                            "the shared limiter \"{name}\" needs its rates (rps, rpm, rph or rpd) \
                         on every policy that names it"
                        ),
                    ));
                }
                (None, None, false) => {
                    Some(Arc::new(RateLimit::new(rates)?) as Arc<dyn RateLimiter>)
                }
                (None, None, true) => None,
            },
        };
        let concurrency = c.concurrency.map(ConcurrencyLimit::new).transpose()?;
        let breaker = match (self.breaker, c.breaker) {
            (Some(b), _) => Some(b),
            (None, Some(BreakerSetting::Enabled(true))) => Some(
                Arc::new(SlidingWindowBreaker::new(BreakerConfig::default())?)
                    as Arc<dyn CircuitBreaker>,
            ),
            (None, Some(BreakerSetting::Custom(config))) => {
                Some(Arc::new(SlidingWindowBreaker::new(config)?) as Arc<dyn CircuitBreaker>)
            }
            (None, Some(BreakerSetting::Enabled(false)) | None) => None,
        };
        let budget = match (self.budget, c.budget) {
            (Some(b), _) => Some(b),
            (None, None | Some(BudgetSetting::Enabled(true))) => {
                Some(Arc::new(RetryBudget::default_budget()))
            }
            (None, Some(BudgetSetting::Enabled(false))) => None,
            (None, Some(BudgetSetting::Ratio(r))) => Some(Arc::new(RetryBudget::new(r, 10)?)),
            (
                None,
                Some(BudgetSetting::Custom {
                    ratio,
                    min_per_second,
                }),
            ) => Some(Arc::new(RetryBudget::new(ratio, min_per_second)?)),
        };
        Ok(Policy {
            schedule,
            on: c.on.unwrap_or_else(RetryOn::transient),
            attempts,
            deadline: c.deadline,
            timeout: c.timeout,
            limiter,
            concurrency,
            breaker,
            budget,
            honor_hint: c.honor_hint.unwrap_or(true),
            max_hint: c.max_hint.unwrap_or(DEFAULT_MAX_HINT),
            retry_when_nested: c.retry_when_nested.unwrap_or(false),
            hook: self.hook,
            counters: Counters::default(),
            metrics: crate::observe::metrics::Handles::new(self.name.unwrap_or("call")),
            name: self.name.unwrap_or("call"),
            seed: self.seed.map(|s| (s, std::sync::atomic::AtomicU64::new(0))),
        })
    }
}

/// A `[limiter]` table with a Redis URL, built (without connecting: the first call connects).
#[cfg(feature = "redis")]
fn redis_limiter(
    setting: RedisLimiterSetting,
    rates: RateLimitConfig,
) -> Result<Arc<dyn RateLimiter>, ConfigError> {
    use crate::limit::{RedisRateLimit, Unavailable};
    let mode = match (setting.on_unavailable.as_deref(), setting.local_share) {
        (None | Some("wait"), None) => Unavailable::Wait,
        (Some("fail"), None) => Unavailable::Fail,
        (Some("local"), Some(share)) => Unavailable::Local { share },
        (Some("local"), None) => {
            return Err(ConfigError::new(
                "local_share",
                "on_unavailable = \"local\" needs local_share, the share of each quota this \
                 process may use alone (for example 0.25 for 4 workers)",
            ));
        }
        (_, Some(_)) => {
            return Err(ConfigError::new(
                "local_share",
                "local_share goes with on_unavailable = \"local\"",
            ));
        }
        (Some(other), None) => {
            return Err(ConfigError::new(
                "on_unavailable",
                format!("unknown mode {other:?}: use \"wait\", \"local\" or \"fail\""),
            ));
        }
    };
    let mut builder = RedisRateLimit::builder(&setting.redis, &setting.name)
        .rates(rates)
        .on_unavailable(mode);
    if let Some(t) = setting.timeout {
        builder = builder.timeout(t);
    }
    Ok(Arc::new(builder.build()?))
}

/// Without the `redis` feature a `[limiter]` table is a clear error, not a silent local limiter.
#[cfg(not(feature = "redis"))]
fn redis_limiter(
    setting: RedisLimiterSetting,
    _rates: RateLimitConfig,
) -> Result<Arc<dyn RateLimiter>, ConfigError> {
    Err(ConfigError::new(
        "limiter",
        format!(
            "the limiter \"{}\" is kept in Redis, but this build of steadfast has no `redis` \
             feature: enable it in Cargo.toml",
            setting.name
        ),
    ))
}

impl crate::observe::Totals for Policy {
    fn totals(&self) -> Stats {
        self.stats()
    }
}
