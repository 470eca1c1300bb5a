//! What [`Client::quotas`](crate::Client::quotas) shows: every project's limits, their source,
//! what is used of them and refusals, per model.

use std::fmt;
use std::time::Duration;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Metric {
    /// Requests in a window (a minute, or the adaptive limiter's window).
    Requests,
    /// Input tokens per minute.
    InputTokens,
    /// Requests per day (the day ends at midnight Pacific time).
    RequestsPerDay,
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Requests => "requests",
            Metric::InputTokens => "input tokens",
            Metric::RequestsPerDay => "requests per day",
        })
    }
}

/// Where a limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitSource {
    /// Set by the user ([`ClientPolicy::limits`](crate::ClientPolicy::limits)).
    Configured,
    /// Named by the server in a 429's QuotaFailure (`quotaValue`).
    Learned,
    /// Worked out by the adaptive limiter from refusals that named no quota.
    Adaptive,
}

/// One limit that applies to a project and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// What it counts.
    pub metric: Metric,
    /// How many in `window`.
    pub value: u64,
    /// The window (a minute, a day, or what the adaptive limiter inferred).
    pub window: Duration,
    /// Where it comes from.
    pub source: LimitSource,
    /// What is used of it in the current window.
    pub used: u64,
}

/// What the client knows about one project and one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelQuota {
    /// The model, without `models/` (empty for calls about no model, such as listing models).
    pub model: String,
    /// Every limit that applies: configured, learned and adaptive ones side by side (the
    /// lowest of the same metric is the one that binds).
    pub limits: Vec<Limit>,
    /// Requests sent in the current minute.
    pub requests_this_minute: u64,
    /// Input tokens sent in the current minute.
    pub tokens_this_minute: u64,
    /// Requests sent since the last daily reset.
    pub requests_today: u64,
    /// How long the project stays refused for this model, when the server refused it
    /// (a per-minute quota until its RetryInfo, a per-day one until the daily reset).
    pub refused_for: Option<Duration>,
    /// Why, as [`ErrorKind::name`](crate::ErrorKind::name) says it (`rate_limited_per_day`, `no_quota`…).
    pub refused_because: Option<&'static str>,
}

/// One project of the key pool, as [`Client::quotas`](crate::Client::quotas) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectQuotas {
    /// The declared name ([`ClientBuilder::project`](crate::ClientBuilder::project)), or, for
    /// a key whose project was not declared, its position in the pool (`"2"`).
    pub name: String,
    /// Whether the project was declared.
    pub declared: bool,
    /// Its keys, as fingerprints (`****abcd`); never the keys themselves.
    pub keys: Vec<String>,
    /// How many of its keys are out of the pool (invalid or rejected).
    pub dead_keys: usize,
    /// The keys out of the pool, as fingerprints, each with the name of the error that took
    /// it out (`invalid_api_key`, `key_rejected`).
    pub rejected: Vec<(String, &'static str)>,
    /// Per model called so far.
    pub models: Vec<ModelQuota>,
}

/// A snapshot of every project's quotas: see [`Client::quotas`](crate::Client::quotas).
///
/// Gemini counts requests per *project* and model, not per key: two keys of one project share
/// one quota. The client therefore keeps, for every model it calls and every project of its
/// key pool, one record: the requests sent in the last minute (with their input tokens), the
/// requests sent since the last daily reset (midnight Pacific time), the limits learned from
/// the server, and until when the server refused the project.
///
/// # Where a limit comes from
///
/// - **Configured**: [`ModelLimits`](crate::ModelLimits), per project. Enforced by `steadfast`'s
///   exact [`RateLimit`](steadfast::limit::RateLimit) (paced: `rpm = 10` sends one request every 6 s at most).
/// - **Learned**: a 429 whose QuotaFailure names a quota (`quotaId`) and its value
///   (`quotaValue`) teaches that limit for that project and model; requests are then counted
///   against it in a sliding window, from the requests already sent (a limiter created at the
///   moment of learning would not know them and would let a burst through). A learned limit
///   never raises a configured one: both apply, so the lower wins.
/// - **Adaptive**: where the server refuses without naming a quota (a bare 429), steadfast's
///   [`AdaptiveRateLimit`](steadfast::limit::AdaptiveRateLimit) works the rate out from what the server accepted, per project and
///   model.
///
/// # Which project
///
/// Each request goes through the project with the most headroom for its model: the most
/// requests left in the current minute under the tightest known limit (with no limit known,
/// the fewest requests sent this minute), then the fewest sent today, then the order of
/// declaration. A project refused for a minute is passed over until its RetryInfo has passed;
/// only when no project has room does a request wait, for the earliest slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuotaSnapshot {
    /// Projects, in the order of the pool.
    pub projects: Vec<ProjectQuotas>,
}

impl QuotaSnapshot {
    /// The entry of `project` (by name) and `model`, if that model was called.
    pub fn get(&self, project: &str, model: &str) -> Option<&ModelQuota> {
        let model = model.trim_start_matches("models/");
        self.projects
            .iter()
            .find(|p| p.name == project)?
            .models
            .iter()
            .find(|m| m.model == model)
    }
}
