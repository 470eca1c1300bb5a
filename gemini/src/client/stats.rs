//! The client's counters: what it sent and what came back, per model.

use crate::error::ErrorKind;
use crate::{Error, QuotaScope};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the client sent for one model and what came back; see [`Client::stats`](crate::Client::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelStats {
    /// Calls that reached this model (a fallback model counts the calls that fell back to it).
    pub calls: u64,
    /// HTTP requests sent: every attempt, every request sent again through another key or
    /// project, and the pre-flight guard's look-ups and counts.
    pub requests: u64,
    /// Requests answered with a success.
    pub answered: u64,
    /// Retries the client's own policy made (none inside a `#[resilient]` attempt, where the
    /// outer policy retries).
    pub retries: u64,
    /// Requests sent again at once through another project or key after a refusal (routing,
    /// not a retry).
    pub rerouted: u64,
    /// 429s naming a per-minute quota.
    pub rate_limited_per_minute: u64,
    /// 429s naming a per-day quota.
    pub rate_limited_per_day: u64,
    /// 429s naming no quota.
    pub rate_limited_unknown: u64,
    /// 429s with a limit of zero (no quota on this tier).
    pub no_quota: u64,
    /// Other error answers (4xx, 5xx) and transport failures.
    pub other_errors: u64,
    /// Times a request waited because no project had room.
    pub quota_waits: u64,
    /// Time spent in those waits.
    pub quota_waited: Duration,
}

impl ModelStats {
    /// Every 429 received.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited_per_minute
            + self.rate_limited_per_day
            + self.rate_limited_unknown
            + self.no_quota
    }

    fn add(&mut self, o: &ModelStats) {
        self.calls += o.calls;
        self.requests += o.requests;
        self.answered += o.answered;
        self.retries += o.retries;
        self.rerouted += o.rerouted;
        self.rate_limited_per_minute += o.rate_limited_per_minute;
        self.rate_limited_per_day += o.rate_limited_per_day;
        self.rate_limited_unknown += o.rate_limited_unknown;
        self.no_quota += o.no_quota;
        self.other_errors += o.other_errors;
        self.quota_waits += o.quota_waits;
        self.quota_waited += o.quota_waited;
    }
}

/// The client's counters, per model; see [`Client::stats`](crate::Client::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Per model called so far (the empty name for calls about no model, such as listing).
    pub models: BTreeMap<String, ModelStats>,
}

impl ClientStats {
    /// The sum over every model.
    pub fn total(&self) -> ModelStats {
        let mut total = ModelStats::default();
        for m in self.models.values() {
            total.add(m);
        }
        total
    }
}

/// The live counters of one model.
#[derive(Debug, Default)]
pub(crate) struct ModelCounters {
    /// The model, for the `metrics` labels.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    model: String,
    requests: AtomicU64,
    answered: AtomicU64,
    rerouted: AtomicU64,
    per_minute: AtomicU64,
    per_day: AtomicU64,
    unknown: AtomicU64,
    no_quota: AtomicU64,
    other: AtomicU64,
    waits: AtomicU64,
    waited_us: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl ModelCounters {
    /// The counters of `model`.
    pub(crate) fn new(model: &str) -> Self {
        ModelCounters {
            model: model.to_owned(),
            ..ModelCounters::default()
        }
    }

    pub(crate) fn sent(&self) {
        bump(&self.requests);
    }

    pub(crate) fn rerouted(&self) {
        bump(&self.rerouted);
    }

    pub(crate) fn waited(&self, wait: Duration) {
        bump(&self.waits);
        self.waited_us.fetch_add(
            u64::try_from(wait.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Counts what a request's answer was (local refusals, which sent nothing, are not
    /// counted).
    pub(crate) fn outcome<T>(&self, result: &Result<T, Error>) {
        let e = match result {
            Ok(_) => return bump(&self.answered),
            Err(e) => e,
        };
        match e.kind() {
            ErrorKind::RateLimited { scope, .. } => {
                let (counter, label) = match scope {
                    QuotaScope::PerMinute => (&self.per_minute, "per_minute"),
                    QuotaScope::PerDay => (&self.per_day, "per_day"),
                    QuotaScope::Unknown => (&self.unknown, "unknown"),
                };
                bump(counter);
                self.record_429(label);
            }
            ErrorKind::NoQuota => {
                bump(&self.no_quota);
                self.record_429("no_quota");
            }
            ErrorKind::Transport(_) => bump(&self.other),
            _ if e.http_status().is_some() => bump(&self.other),
            _ => {}
        }
    }

    /// `steadfast_gemini_rate_limited_total{model, scope}` (feature `metrics`): the model's
    /// name and a fixed scope label, never a key.
    fn record_429(&self, scope: &'static str) {
        #[cfg(feature = "metrics")]
        metrics::counter!(
            "steadfast_gemini_rate_limited_total",
            "model" => self.model.clone(),
            "scope" => scope
        )
        .increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = scope;
    }

    pub(crate) fn snapshot(&self, policy: &steadfast::Policy) -> ModelStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let p = policy.stats();
        ModelStats {
            calls: p.calls,
            requests: get(&self.requests),
            answered: get(&self.answered),
            retries: p.retries,
            rerouted: get(&self.rerouted),
            rate_limited_per_minute: get(&self.per_minute),
            rate_limited_per_day: get(&self.per_day),
            rate_limited_unknown: get(&self.unknown),
            no_quota: get(&self.no_quota),
            other_errors: get(&self.other),
            quota_waits: get(&self.waits),
            quota_waited: Duration::from_micros(get(&self.waited_us)),
        }
    }
}
