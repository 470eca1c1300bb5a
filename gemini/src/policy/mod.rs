//! The client-level policy; its documentation is on [`ClientPolicy`].

use crate::Error;
use std::collections::BTreeMap;
use std::time::Duration;
use steadfast::breaker::BreakerConfig;
use steadfast::policy::BreakerSetting;
use steadfast::policy::PolicyConfig;

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

/// The client-level policy, on by default: what every call of a [`Client`](crate::Client) gets
/// without an attribute. [`ClientPolicy::off`] sends each call once, as is.
///
/// - **Retries** on transient failures (408, 429 per minute, 500, 502, 503, 504, timeouts,
///   connection errors), honouring RetryInfo; a per-day or zero quota is never retried.
/// - **Limits per project and model**, as the server counts them: requests per minute and per
///   day and input tokens per minute, configured ([`ClientPolicy::limits`]), learned from the
///   server's 429s (QuotaFailure's `quotaValue`), or found by an adaptive limiter where the
///   server names no quota ([`ClientPolicy::learn`]). Each request goes through the project
///   with the most headroom; see [`Client::quotas`](crate::Client::quotas).
/// - **Pre-flight guard**: when the model's `inputTokenLimit` is known (`models.get`, cached per
///   model) and the prompt could exceed it, tokens are counted first and an oversized prompt fails
///   locally with [`ErrorKind::PromptTooLong`](crate::ErrorKind::PromptTooLong), without sending
///   a request that would fail. A prompt with fewer characters than the limit cannot exceed it
///   and costs no extra request.
/// - **Key pool**: keys grouped into projects
///   ([`ClientBuilder::project`](crate::ClientBuilder::project)). An invalid key, or one a 403
///   says is unusable (leaked, no key, API not enabled), is skipped from then on; a project out
///   of its daily quota for a model is skipped for that model until the quota resets, at
///   midnight Pacific time; a project with no quota at all for a model
///   (limit 0) is skipped for that model for an hour; a project refused for the minute is
///   passed over until its RetryInfo has passed, and the request goes through another project
///   with room at once. A 403 about what the request names (a file) fails that request and
///   leaves the key alone. When every project is skipped, the call fails at once, without a
///   request, with the error that explains it best.
/// - **Model fallback**: on overload, an unknown model, or a per-day quota that no key has left,
///   the next model of the chain is tried.
/// - **Circuit breaker**, one per model, on by default ([`ClientPolicy::breaker`]): when at
///   least half of the last 30 s of requests to a model (10 at least) met server trouble (500,
///   502, 503, 504, a 429 that names no quota, timeouts, lost connections), calls to that model
///   fail at once for 30 s with [`steadfast::Error::CircuitOpen`] (or go to the next model of
///   the chain), sending nothing and taking no rate-limit slot; then one probe request tests
///   the server. A 429 that names the caller's own quota does not count: it is the caller's
///   pace, handled by waiting for RetryInfo, not an outage.
/// - **Streams** are retried only until their first chunk reaches the caller.
///
/// # Inside a `#[resilient]` function: one layer retries
///
/// When a call of the client runs inside the attempt of a `#[resilient]` function (or of a
/// `steadfast::Policy::call`), the outer policy, the one the user wrote, owns retries: the
/// client makes one attempt per call and hands transient failures (a per-minute 429 with its
/// RetryInfo, 5xx, transport errors) up, for the outer policy to wait and retry. Within that
/// attempt it still routes (another key when one is refused, another project when one is out
/// of quota, the next model when one is overloaded or retired), paces and counts every request
/// against its project, and runs its pre-flight guard and breaker. So the attribute's `rpm`
/// counts the HTTP requests the client sends, one per attempt.
///
/// ```
/// use std::time::Duration;
/// use steadfast_gemini::{ClientPolicy, ModelLimits};
/// let policy = ClientPolicy::default()
///     .limits("gemini-2.5-flash", ModelLimits { rpm: Some(10), rpd: Some(250), tpm: Some(250_000) })
///     .fallback(["gemini-2.0-flash"])
///     .retry_with(|r| r.base(Duration::from_millis(500)));
/// assert!(ClientPolicy::off().fallback_models().is_empty());
/// # let _ = policy;
/// ```
///
/// Its retry part (attempts, schedule, delays, jitter, which failures, server hints, deadline,
/// attempt timeout, budget) is a [`steadfast::policy::PolicyConfig`]: the same names, defaults and
/// validation as the `#[resilient]` attribute and `steadfast::Policy::builder`, so it can be
/// read from the same configuration file ([`ClientPolicy::retry`]), or changed with the same
/// setters ([`ClientPolicy::retry_with`]). The breaker of each model is kept there too.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientPolicy {
    pub(crate) retry: PolicyConfig,
    pub(crate) limits: BTreeMap<String, ModelLimits>,
    pub(crate) preflight: bool,
    pub(crate) fallback: Vec<String>,
    pub(crate) key_rotation: bool,
    pub(crate) learn: bool,
    pub(crate) quota_minute: Duration,
}

impl Default for ClientPolicy {
    /// The defaults of a `steadfast::Policy` for retries (5 attempts on transient failures,
    /// backoff from 1 s to 60 s with full jitter, server hints up to 120 s, the default retry
    /// budget), the pre-flight guard on, a circuit breaker per model
    /// (`BreakerConfig::default()`: opens at 50 % server trouble over 30 s with at least 10
    /// requests, stays open 30 s, one probe), no configured limits (limits are learned from the
    /// server), no fallback.
    fn default() -> Self {
        ClientPolicy {
            retry: PolicyConfig::default(),
            limits: BTreeMap::new(),
            preflight: true,
            fallback: Vec::new(),
            key_rotation: true,
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
            retry: PolicyConfig::default().attempts(1).breaker(false),
            preflight: false,
            key_rotation: false,
            learn: false,
            ..ClientPolicy::default()
        }
    }

    /// The retry part as a whole, replacing what was set so far: a
    /// [`steadfast::policy::PolicyConfig`], with the vocabulary of the attribute and of
    /// `steadfast::Policy::builder` (the same setters: `PolicyConfig::default().attempts(3)
    /// .base(..)`), built in code or read from the configuration file that holds the
    /// application's other policies. It is checked by
    /// [`ClientBuilder::build`](crate::ClientBuilder::build) with the core's own validation.
    ///
    /// - `max_hint` also caps the client's own waits that come from the server (a project
    ///   refused until its RetryInfo, a learned limit).
    /// - `breaker` is the breaker of each model (see [`breaker`](ClientPolicy::breaker)); one
    ///   set before with `breaker` is kept when `config` sets none.
    /// - Limits and limiter are the client's own business (per project and model) and are
    ///   refused here: use [`limits`](ClientPolicy::limits).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::policy::PolicyConfig;
    /// let policy = steadfast_gemini::ClientPolicy::default().retry(
    ///     PolicyConfig::default()
    ///         .attempts(3)
    ///         .base(Duration::from_millis(250))
    ///         .deadline(Duration::from_secs(30))
    ///         .budget(0.2),
    /// );
    /// assert_eq!(policy.retry_config().attempts, Some(3));
    /// ```
    ///
    /// ```
    /// use steadfast::policy::PolicyConfig;
    /// use steadfast_gemini::{Client, ClientPolicy};
    /// // The `[gemini]` table of an application's policy file (TOML, JSON, …).
    /// let retry: PolicyConfig = serde_json::from_str(r#"{"attempts": 3, "base": "250ms", "deadline": "30s"}"#)?;
    /// let client = Client::builder()
    ///     .key("example-key-not-real-0001")
    ///     .policy(ClientPolicy::default().retry(retry))
    ///     .build()?;
    /// assert_eq!(client.policy().retry_config().attempts, Some(3));
    ///
    /// let limited: PolicyConfig = serde_json::from_str(r#"{"rpm": 10}"#)?;
    /// let e = Client::builder()
    ///     .key("example-key-not-real-0001")
    ///     .policy(ClientPolicy::default().retry(limited))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(e.to_string().contains("ClientPolicy::limits"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry(mut self, config: PolicyConfig) -> Self {
        let breaker = config.breaker.or(self.retry.breaker.take());
        self.retry = config;
        self.retry.breaker = breaker;
        self
    }

    /// Changes the retry part with the core's setters, keeping what was set so far:
    /// `ClientPolicy::default().retry_with(|r| r.attempts(3).budget(false))`.
    pub fn retry_with(self, change: impl FnOnce(PolicyConfig) -> PolicyConfig) -> Self {
        let retry = change(self.retry.clone());
        ClientPolicy { retry, ..self }
    }

    /// The retry part, as a core policy configuration.
    pub fn retry_config(&self) -> &PolicyConfig {
        &self.retry
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

    /// Models to try, in order, after the one asked for, when it is overloaded, out of quota
    /// everywhere, or not found. The chain answers generation (`generate_content`, streams,
    /// OpenAI chat completions through [`RawRequest::openai`](crate::RawRequest::openai)):
    /// embeddings, token counts and a model's details never come from another model.
    pub fn fallback<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fallback = models.into_iter().map(Into::into).collect();
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
    /// Retries alone multiply the load on a server that is down: a ratio budget's floor (10
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
    pub fn breaker(mut self, breaker: impl Into<BreakerSetting>) -> Self {
        self.retry.breaker = Some(breaker.into());
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

    /// The breaker's configuration, when on (the default one unless set otherwise).
    pub fn breaker_config(&self) -> Option<BreakerConfig> {
        match self.retry.breaker {
            None | Some(BreakerSetting::Enabled(true)) => Some(BreakerConfig::default()),
            Some(BreakerSetting::Enabled(false)) => None,
            Some(BreakerSetting::Custom(config)) => Some(config),
        }
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
    /// The longest server delay waited for (`max_hint`, kept once,
    /// in the retry settings).
    pub(crate) fn hint_cap(&self) -> Duration {
        self.retry
            .max_hint
            .unwrap_or(steadfast::policy::DEFAULT_MAX_HINT)
    }

    pub(crate) fn build_for(&self, model: &str) -> Result<steadfast::Policy, Error> {
        if let Some(breaker) = self.breaker_config() {
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
        let r = &self.retry;
        let managed = [
            ("rps", r.rps.is_some()),
            ("rpm", r.rpm.is_some()),
            ("rph", r.rph.is_some()),
            ("rpd", r.rpd.is_some()),
            ("burst", r.burst.is_some()),
            ("limiter", r.limiter.is_some()),
            ("adapt", r.adapt.is_some()),
        ];
        if let Some((field, _)) = managed.iter().find(|(_, set)| *set) {
            return Err(Error::configuration(format!(
                "client policy: `{field}` is not part of the client's retry settings: the client counts limits per project and model (set them with ClientPolicy::limits; it learns the rest from the server)"
            )));
        }
        let mut retry = r.clone();
        // The client keeps one breaker per model itself (`ModelEntry`), not in this policy.
        retry.breaker = None;
        // Only a cap set below the default first delay moves it, so that `max_delay` alone
        // keeps its meaning; a `base` given explicitly is checked as it is.
        if let (None, Some(max)) = (retry.base, retry.max_delay) {
            retry.base = Some(max.min(Duration::from_secs(1)));
        }
        retry.max_hint = Some(self.hint_cap());
        steadfast::Policy::builder()
            .config(retry)
            .name("steadfast_gemini::Client")
            .build()
            .map_err(|e| Error::configuration(format!("client policy for `{model}`: {e}")))
    }
}
