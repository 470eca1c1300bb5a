//! The client-level policy, on by default: what every call of a [`Client`](crate::Client) gets
//! without an attribute.
//!
//! - **Retries** on transient failures (408, 429 per minute, 500, 502, 503, 504, timeouts,
//!   connection errors), honouring RetryInfo; a per-day or zero quota is never retried.
//! - **Limits per project and model**, as the server counts them: requests per minute and per
//!   day and input tokens per minute, configured ([`ClientPolicy::limits`]), learned from the
//!   server's 429s (QuotaFailure's `quotaValue`), or found by an adaptive limiter where the
//!   server names no quota ([`ClientPolicy::learn`]). Each request goes through the project
//!   with the most headroom; see [`Client::quotas`](crate::Client::quotas).
//! - **Pre-flight guard**: when the model's `inputTokenLimit` is known (`models.get`, cached per
//!   model) and the prompt could exceed it, tokens are counted first and an oversized prompt fails
//!   locally with [`ErrorKind::PromptTooLong`](crate::ErrorKind::PromptTooLong), without sending
//!   a request that would fail. A prompt with fewer characters than the limit cannot exceed it
//!   and costs no extra request.
//! - **Key pool**: keys grouped into projects
//!   ([`ClientBuilder::project`](crate::ClientBuilder::project)). An invalid key, or one a 403
//!   says is unusable (leaked, no key, API not enabled), is skipped from then on; a project out
//!   of its daily quota for a model is skipped for that model until the quota resets, at
//!   midnight Pacific time ([`next_daily_reset`]); a project with no quota at all for a model
//!   (limit 0) is skipped for that model for an hour; a project refused for the minute is
//!   passed over until its RetryInfo has passed, and the request goes through another project
//!   with room at once. A 403 about what the request names (a file) fails that request and
//!   leaves the key alone. When every project is skipped, the call fails at once, without a
//!   request, with the error that explains it best.
//! - **Model fallback**: on overload, an unknown model, or a per-day quota that no key has left,
//!   the next model of the chain is tried.
//! - **Circuit breaker**, one per model, on by default ([`ClientPolicy::breaker`]): when at
//!   least half of the last 30 s of requests to a model (10 at least) met server trouble (500,
//!   502, 503, 504, a 429 that names no quota, timeouts, lost connections), calls to that model
//!   fail at once for 30 s with [`steadfast::Error::CircuitOpen`] (or go to the next model of
//!   the chain), sending nothing and taking no rate-limit slot; then one probe request tests
//!   the server. A 429 that names the caller's own quota does not count: it is the caller's
//!   pace, handled by waiting for RetryInfo, not an outage.
//! - **Streams** are retried only until their first chunk reaches the caller.
//!
//! # Inside a `#[resilient]` function: one layer retries
//!
//! When a call of the client runs inside the attempt of a `#[resilient]` function (or of a
//! `steadfast::Policy::call`), the outer policy, the one the user wrote, owns retries: the
//! client makes one attempt per call and hands transient failures (a per-minute 429 with its
//! RetryInfo, 5xx, transport errors) up, for the outer policy to wait and retry. Within that
//! attempt it still routes (another key when one is refused, another project when one is out
//! of quota, the next model when one is overloaded or retired), paces and counts every request
//! against its project, and runs its pre-flight guard and breaker. So the attribute's `rpm`
//! counts the HTTP requests the client sends, one per attempt.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_gemini::{ClientPolicy, ModelLimits};
//! let policy = ClientPolicy::default()
//!     .limits("gemini-2.5-flash", ModelLimits { rpm: Some(10), rpd: Some(250), tpm: Some(250_000) })
//!     .fallback(["gemini-2.0-flash"])
//!     .base_delay(Duration::from_millis(500));
//! assert!(ClientPolicy::off().fallback_models().is_empty());
//! # let _ = policy;
//! ```

mod daily;

pub use daily::{next_daily_reset, until_daily_reset};

use crate::Error;
use std::collections::BTreeMap;
use std::time::Duration;
use steadfast::breaker::BreakerConfig;

/// Client-side limits for one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelLimits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Requests per day.
    pub rpd: Option<u32>,
    /// Input tokens per minute.
    pub tpm: Option<u32>,
}

/// The client-level policy. `Default` is on; [`ClientPolicy::off`] sends each call once, as is.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientPolicy {
    pub(crate) attempts: u32,
    pub(crate) base: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_hint: Duration,
    pub(crate) deadline: Option<Duration>,
    pub(crate) limits: BTreeMap<String, ModelLimits>,
    pub(crate) preflight: bool,
    pub(crate) fallback: Vec<String>,
    pub(crate) budget: Option<(f64, u32)>,
    pub(crate) key_rotation: bool,
    pub(crate) breaker: Option<BreakerConfig>,
    pub(crate) learn: bool,
    pub(crate) quota_minute: Duration,
}

impl Default for ClientPolicy {
    /// 5 attempts, backoff from 1 s to 60 s with full jitter, server hints up to 120 s, a retry
    /// budget of 20 % of calls + 10/s, the pre-flight guard on, a circuit breaker per model
    /// (`BreakerConfig::default()`: opens at 50 % server trouble over 30 s with at least 10
    /// requests, stays open 30 s, one probe), no configured limits (limits are learned from the
    /// server), no fallback.
    fn default() -> Self {
        ClientPolicy {
            attempts: 5,
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_hint: Duration::from_secs(120),
            deadline: None,
            limits: BTreeMap::new(),
            preflight: true,
            fallback: Vec::new(),
            budget: Some((0.2, 10)),
            key_rotation: true,
            breaker: Some(BreakerConfig::default()),
            learn: true,
            quota_minute: Duration::from_secs(60),
        }
    }
}

impl ClientPolicy {
    /// No retries, no limits (configured or learned), no guard, no fallback, no key rotation,
    /// no breaker: each call is sent once, with the first key, and its error returned as it is.
    pub fn off() -> Self {
        ClientPolicy {
            attempts: 1,
            preflight: false,
            key_rotation: false,
            breaker: None,
            learn: false,
            ..ClientPolicy::default()
        }
    }

    /// Total attempts per call and model (1: no retry).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The first backoff delay.
    pub fn base_delay(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }

    /// The cap on backoff delays.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// The longest server delay waited for; longer ones end the call at once.
    pub fn max_hint(mut self, max: Duration) -> Self {
        self.max_hint = max;
        self
    }

    /// A budget for each call on each model, waits included.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Client-side limits for `model`, for each project of the key pool (the server counts per
    /// project and model). A limit learned from the server never raises one set here: both
    /// apply, and the lower binds.
    pub fn limits(mut self, model: &str, limits: ModelLimits) -> Self {
        self.limits
            .insert(model.trim_start_matches("models/").to_owned(), limits);
        self
    }

    /// Whether oversized prompts are caught before sending.
    pub fn preflight(mut self, on: bool) -> Self {
        self.preflight = on;
        self
    }

    /// Models to try, in order, after the one asked for.
    pub fn fallback<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fallback = models.into_iter().map(Into::into).collect();
        self
    }

    /// The retry budget per model: retries at most `ratio` of calls plus `min_per_second`
    /// (default 0.2 and 10), or `None` for no budget.
    pub fn budget(mut self, budget: Option<(f64, u32)>) -> Self {
        self.budget = budget;
        self
    }

    /// Whether keys are skipped after an invalid-key, permission or daily-quota error (on by
    /// default).
    pub fn key_rotation(mut self, on: bool) -> Self {
        self.key_rotation = on;
        self
    }

    /// The circuit breaker of each model, or `None` for none. On by default with
    /// `BreakerConfig::default()`; it counts server trouble only (500, 502, 503, 504, a 429 that
    /// names no quota, timeouts, lost connections), not a 429 about the caller's own quota.
    ///
    /// # Why it is on by default
    ///
    /// Retries alone multiply the load on a server that is down: the retry budget's floor (10
    /// retries a second) lets every call of a client making a few calls a second make all its 5
    /// attempts, so a 10-minute outage received 5 requests per call. The breaker bounds that to a
    /// few requests in all per 30 s, whatever the call rate, and makes callers fail in
    /// microseconds instead of after a minute of backoff. Its cost is that, after an outage, calls
    /// keep failing for up to `open_for` (30 s) before a probe finds the server back; a client
    /// that prefers to wait for every call can turn it off with `breaker(None)`, or a model chain
    /// can fall back to another model meanwhile.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::breaker::BreakerConfig;
    /// let policy = steadfast_gemini::ClientPolicy::default().breaker(Some(BreakerConfig {
    ///     open_for: Duration::from_secs(10),
    ///     ..BreakerConfig::default()
    /// }));
    /// # let _ = policy;
    /// ```
    pub fn breaker(mut self, breaker: Option<BreakerConfig>) -> Self {
        self.breaker = breaker;
        self
    }

    /// Whether the client learns limits from the server (on by default; off with
    /// [`ClientPolicy::off`]):
    ///
    /// - a 429 whose QuotaFailure names a quota (`quotaId`) and its value (`quotaValue`) sets
    ///   that limit for the project and model it was sent for, and the next requests are paced
    ///   by it instead of being refused again. An INFO event says once what was learned
    ///   ("gemini-2.5-flash allows 10 requests per minute on project 2 (key ****abcd)"). Values
    ///   that are not a positive whole number, quotas it does not know, a model other than the
    ///   request's, or two values for one quota teach nothing (a DEBUG event says why);
    /// - where a 429 names no quota, an adaptive limiter per project and model
    ///   ([`steadfast::limit::AdaptiveRateLimit`]) works out the rate from what the server
    ///   accepted, with the configured limits as its ceiling.
    pub fn learn(mut self, on: bool) -> Self {
        self.learn = on;
        self
    }

    /// How long the server's minute lasts, for every per-minute limit, configured or learned
    /// (60 s; a local simulator may run a shorter one).
    pub fn quota_minute(mut self, minute: Duration) -> Self {
        self.quota_minute = minute;
        self
    }

    /// The breaker's configuration, when on.
    pub fn breaker_config(&self) -> Option<&BreakerConfig> {
        self.breaker.as_ref()
    }

    /// The fallback chain.
    pub fn fallback_models(&self) -> &[String] {
        &self.fallback
    }

    /// The limits of `model`.
    pub fn model_limits(&self, model: &str) -> ModelLimits {
        self.limits
            .get(model.trim_start_matches("models/"))
            .copied()
            .unwrap_or_default()
    }

    /// Builds the `steadfast` policy of one model: retries, deadline, budget. Its limits are
    /// counted per project, by the client (`client::quota`).
    pub(crate) fn build_for(&self, model: &str) -> Result<steadfast::Policy, Error> {
        if let Some(breaker) = &self.breaker {
            breaker
                .validate()
                .map_err(|e| Error::configuration(format!("client policy breaker: {e}")))?;
        }
        if self.quota_minute < Duration::from_millis(1) {
            return Err(Error::configuration(format!(
                "client policy: a quota minute of {:?} is too short; use at least 1ms",
                self.quota_minute
            )));
        }
        for (name, limits) in &self.limits {
            if [limits.rpm, limits.rpd, limits.tpm].contains(&Some(0)) {
                return Err(Error::configuration(format!(
                    "client policy: a limit of 0 for `{name}` would never let a request through; leave it unset, or use at least 1"
                )));
            }
        }
        let mut builder = steadfast::Policy::builder()
            .name("steadfast_gemini::Client")
            .attempts(self.attempts)
            .base(self.base.min(self.max_delay))
            .max_delay(self.max_delay)
            .max_hint(self.max_hint)
            .budget(self.budget);
        if let Some(d) = self.deadline {
            builder = builder.deadline(d);
        }
        builder
            .build()
            .map_err(|e| Error::configuration(format!("client policy for `{model}`: {e}")))
    }
}
