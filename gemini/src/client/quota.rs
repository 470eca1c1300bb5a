//! Quotas per project and model: what the client may send, and what it has sent (documented
//! on [`QuotaSnapshot`], the public face of this module).

use super::ApiKey;
#[cfg(feature = "redis")]
use super::shared::{self, Admit, Place, SharedQuotas};
use crate::error::ErrorKind;
use crate::{Error, ModelLimits, QuotaScope};
use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use steadfast::limit::{AdaptiveRateLimit, Observation, Quota, RateLimit};
use tokio::time::Instant;

/// How long a project stays skipped for a model after a refusal that names no end (a zero
/// quota: not on this tier). Trying again after an hour costs one request per project and
/// model.
pub(crate) const REFUSAL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

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
    /// Why, as [`ErrorKind::name`] says it (`rate_limited_per_day`, `no_quota`…).
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

/// A key pool project: its name and the indices of its keys in the client's key list.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) name: String,
    pub(crate) declared: bool,
    pub(crate) keys: Vec<usize>,
}

/// The limits learned from the server, per metric.
#[derive(Debug, Default, Clone, Copy)]
struct Learned {
    rpm: Option<u32>,
    tpm: Option<u32>,
    rpd: Option<u32>,
}

/// The server refused this project for this model.
#[derive(Debug, Clone)]
struct Refusal {
    until: Instant,
    error: Error,
    /// A per-minute refusal: worth waiting for. Otherwise (per day, no quota) the project is
    /// passed over, and a call with no other project fails with this error.
    brief: bool,
}

/// What one project has sent for one model.
#[derive(Debug)]
struct Usage {
    /// Requests sent within the last minute, with their input tokens, oldest first.
    sent: VecDeque<(Instant, u32)>,
    /// The sum of the tokens in `sent`.
    sent_tokens: u64,
    /// Requests sent since the last daily reset, and when the current day ends.
    today: u64,
    day_ends: Instant,
    learned: Learned,
    refused: Option<Refusal>,
    /// Until when the shared quotas (Redis) had no room, and whether the wait is the server's.
    shared_busy: Option<(Instant, bool)>,
}

impl Usage {
    fn new(now: Instant) -> Self {
        Usage {
            sent: VecDeque::new(),
            sent_tokens: 0,
            today: 0,
            day_ends: now + crate::until_daily_reset(std::time::SystemTime::now()),
            learned: Learned::default(),
            refused: None,
            shared_busy: None,
        }
    }

    /// Forgets what has left the window (a little longer than the minute: `ModelQuotas::window`)
    /// and starts a new day after the reset.
    fn roll(&mut self, now: Instant, window: Duration) {
        while let Some(&(t, tokens)) = self.sent.front() {
            if now.saturating_duration_since(t) < window {
                break;
            }
            self.sent.pop_front();
            self.sent_tokens -= u64::from(tokens);
        }
        if now >= self.day_ends {
            self.today = 0;
            self.day_ends = now + crate::until_daily_reset(std::time::SystemTime::now());
        }
        if self.refused.as_ref().is_some_and(|r| now >= r.until) {
            self.refused = None;
        }
        if self.shared_busy.is_some_and(|(until, _)| now >= until) {
            self.shared_busy = None;
        }
    }

    fn tokens(&self) -> u64 {
        self.sent_tokens
    }

    /// Counts a request sent at `at` with `tokens` input tokens.
    fn count(&mut self, at: Instant, tokens: u32) {
        self.sent.push_back((at, tokens));
        self.sent_tokens += u64::from(tokens);
        self.today += 1;
    }

    /// Forgets the request sent at `at`: the server did not count it, or it was not sent.
    fn uncount(&mut self, at: Instant) {
        if let Some(i) = self.sent.iter().rposition(|(t, _)| *t == at) {
            if let Some((_, tokens)) = self.sent.remove(i) {
                self.sent_tokens -= u64::from(tokens);
            }
            self.today = self.today.saturating_sub(1);
        }
    }
}

/// The requests limiter of one project and model.
#[derive(Debug)]
enum Requests {
    None,
    Fixed(RateLimit),
    Adaptive(AdaptiveRateLimit),
}

impl Requests {
    fn try_acquire(&self) -> Result<(), steadfast::limit::Denied> {
        match self {
            Requests::None => Ok(()),
            Requests::Fixed(l) => l.try_acquire(1),
            Requests::Adaptive(l) => l.try_acquire(1),
        }
    }
}

/// Where a request goes.
#[derive(Debug)]
pub(crate) enum Pick {
    /// Send through `project` with `key` now; the slot is taken and the request counted.
    Go {
        project: usize,
        key_index: usize,
        key: ApiKey,
        sent_at: Instant,
    },
    /// No project has room: the earliest slot frees after `wait`; `server` when that wait comes
    /// from the server (a refusal's RetryInfo, a learned limit) rather than a configured limit.
    Wait { wait: Duration, server: bool },
    /// No project may be used (keys dead, quotas out for the day): the error that explains it
    /// best.
    Closed(Error),
}

/// The quotas kept in Redis, with where each project's live and the in-process limiters used
/// while Redis is down (with [`Unavailable::Local`](steadfast::limit::Unavailable::Local)).
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) struct Shared {
    quotas: std::sync::Arc<SharedQuotas>,
    places: Vec<Place>,
    /// Per project: requests (per minute, per day) and input tokens per minute, at the share.
    fallback: Vec<(Option<RateLimit>, Option<RateLimit>)>,
}

/// What [`ModelQuotas::new`] needs to keep the quotas in Redis: the shared quotas and each
/// project's place.
#[cfg(feature = "redis")]
pub(crate) type SharedSetup = Option<(std::sync::Arc<SharedQuotas>, Vec<Place>)>;
/// Without the `redis` feature there is nothing to share.
#[cfg(not(feature = "redis"))]
pub(crate) type SharedSetup = Option<std::convert::Infallible>;

/// What the shared quotas say to a picked request.
#[derive(Debug)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum SharedStep {
    /// Send it; `Some(member)` is its entry in the shared log.
    Go(Option<String>),
    /// The project has no room (marked so): pick again.
    Again,
    /// Redis is unavailable and the mode is to wait (at most `max_wait` in all): pick again
    /// after a pause.
    Unavailable { max_wait: Duration },
    /// Fail the call.
    Fail(Error),
}

/// The quotas of one model across every project.
#[derive(Debug)]
pub(crate) struct ModelQuotas {
    model: String,
    configured: ModelLimits,
    minute: Duration,
    /// Per project: the requests limiter and the tokens-per-minute limiter.
    requests: Vec<Requests>,
    tpm: Vec<Option<RateLimit>>,
    usage: Mutex<Vec<Usage>>,
    /// Whether refusals keep a project away (key rotation on).
    refusals: bool,
    /// Whether limits are learned from the server.
    adapt: bool,
    #[cfg(feature = "redis")]
    shared: Option<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn per(limit: u32, period: Duration) -> Option<Quota> {
    NonZeroU32::new(limit).and_then(|n| Quota::new(n, period).ok())
}

impl ModelQuotas {
    /// The quotas of `model` for `projects` projects: configured limits (per project), and,
    /// when `adapt`, limits learned from the server and an adaptive limiter per project; with
    /// `refusals`, a project the server refused is kept away for as long as it said. With
    /// `shared`, the configured limits are enforced across processes in Redis instead of by
    /// in-process limiters.
    pub(crate) fn new(
        model: &str,
        projects: usize,
        configured: ModelLimits,
        minute: Duration,
        adapt: bool,
        refusals: bool,
        shared: SharedSetup,
    ) -> Result<Self, Error> {
        #[cfg(feature = "redis")]
        let shared = match shared {
            Some((quotas, places)) => {
                let fallback = match quotas.on_unavailable() {
                    steadfast::limit::Unavailable::Local { share } => {
                        let scaled = |n: u32| ((f64::from(n) * share).floor() as u32).max(1);
                        let mut limiters = Vec::with_capacity(projects);
                        for _ in 0..projects {
                            let mut rates = RateLimit::builder();
                            if let Some(q) = configured.rpm.and_then(|n| per(scaled(n), minute)) {
                                rates = rates.quota(q);
                            }
                            if let Some(n) = configured.rpd {
                                rates = rates.per_day(scaled(n));
                            }
                            let bad = |e: steadfast::ConfigError| {
                                Error::configuration(format!(
                                    "local share of the limits for `{model}`: {e}"
                                ))
                            };
                            let requests = if rates.is_empty() {
                                None
                            } else {
                                Some(rates.build().map_err(bad)?)
                            };
                            let tokens = match configured
                                .tpm
                                .and_then(|n| per(scaled(n), minute).map(|q| (q, scaled(n))))
                            {
                                Some((quota, burst)) => Some(
                                    RateLimit::builder()
                                        .quota(quota)
                                        .burst(burst)
                                        .build()
                                        .map_err(bad)?,
                                ),
                                None => None,
                            };
                            limiters.push((requests, tokens));
                        }
                        limiters
                    }
                    _ => (0..projects).map(|_| (None, None)).collect(),
                };
                Some(Shared {
                    quotas,
                    places,
                    fallback,
                })
            }
            None => None,
        };
        let in_process = shared.is_none();
        let bad = |what: &str, e: steadfast::ConfigError| {
            Error::configuration(format!("{what} for `{model}`: {e}"))
        };
        let mut requests = Vec::with_capacity(projects);
        let mut tpm = Vec::with_capacity(projects);
        for _ in 0..projects {
            let mut rates = RateLimit::builder();
            if let Some(q) = configured.rpm.and_then(|n| per(n, minute)) {
                rates = rates.quota(q);
            }
            if let Some(n) = configured.rpd {
                rates = rates.per_day(n);
            }
            // Shared quotas enforce the configured limits across processes themselves.
            let fixed = if rates.is_empty() || !in_process {
                None
            } else {
                Some(rates.build().map_err(|e| bad("limits", e))?)
            };
            requests.push(match (adapt, fixed) {
                (true, ceiling) => Requests::Adaptive(AdaptiveRateLimit::new(ceiling)),
                (false, Some(l)) => Requests::Fixed(l),
                (false, None) => Requests::None,
            });
            tpm.push(match configured.tpm.filter(|_| in_process) {
                Some(n) => {
                    let quota = per(n, minute).ok_or_else(|| {
                        Error::configuration(format!("tpm for `{model}` must be at least 1"))
                    })?;
                    Some(
                        RateLimit::builder()
                            .quota(quota)
                            .burst(n)
                            .build()
                            .map_err(|e| bad("tpm", e))?,
                    )
                }
                None => None,
            });
        }
        let now = Instant::now();
        Ok(ModelQuotas {
            model: model.to_owned(),
            configured,
            minute,
            requests,
            tpm,
            usage: Mutex::new((0..projects).map(|_| Usage::new(now)).collect()),
            refusals,
            adapt,
            #[cfg(feature = "redis")]
            shared,
        })
    }

    /// The window requests are counted in: the minute, plus a margin for the time between
    /// sending a request and the server counting it, which varies from one request to the
    /// next (1 % of the window, at least 20 ms).
    fn window(&self) -> Duration {
        self.minute + (self.minute / 100).max(Duration::from_millis(20))
    }

    /// Picks the project for the next request of `tokens` input tokens, takes its slot and
    /// counts the request; or says how long until a slot frees, or why none ever will.
    ///
    /// `usable(project)` gives the key to use for a project (`Err`: none left, and why);
    /// `exclude` are projects this attempt already saw refused.
    pub(crate) fn pick(
        &self,
        projects: &[Project],
        usable: impl Fn(&Project) -> Result<(usize, ApiKey), Error>,
        exclude: &[usize],
        tokens: u32,
    ) -> Pick {
        let now = Instant::now();
        let window = self.window();
        let mut usage = lock(&self.usage);
        let mut wait: Option<(Duration, bool)> = None;
        // The error that explains best why no project is usable: a refusal for this model
        // before a dead key.
        let mut closed: Option<(bool, Error)> = None;
        let mut close = |for_model: bool, e: Error| {
            if closed.as_ref().is_none_or(|(b, _)| for_model && !b) {
                closed = Some((for_model, e));
            }
        };
        let mut wait_for = |d: Duration, server: bool| {
            if wait.is_none_or(|(w, _)| d < w) {
                wait = Some((d, server));
            }
        };
        let mut ready: Vec<(u64, u64, usize, usize, ApiKey)> = Vec::new();
        for (index, project) in projects.iter().enumerate() {
            if exclude.contains(&index) {
                continue;
            }
            let (key_index, key) = match usable(project) {
                Ok(found) => found,
                Err(e) => {
                    close(false, e);
                    continue;
                }
            };
            let u = &mut usage[index];
            u.roll(now, window);
            if let Some(r) = &u.refused {
                if r.brief {
                    wait_for(r.until - now, true);
                } else {
                    close(true, r.error.clone());
                }
                continue;
            }
            if let Some((until, server)) = u.shared_busy {
                wait_for(until - now, server);
                continue;
            }
            if let Some(rpd) = u.learned.rpd {
                if u.today >= u64::from(rpd) {
                    close(true, self.out_for_today(project, rpd));
                    continue;
                }
            }
            let mut blocked = false;
            if let Some(rpm) = u.learned.rpm {
                let rpm = rpm as usize;
                if u.sent.len() >= rpm {
                    let frees = u.sent[u.sent.len() - rpm].0 + window;
                    wait_for(frees.saturating_duration_since(now), true);
                    blocked = true;
                }
            }
            if let Some(tpm) = u.learned.tpm {
                let used = u.tokens();
                if u64::from(tokens) > u64::from(tpm) {
                    close(
                        true,
                        Error::from(steadfast::Error::RateLimited { retry_after: None }),
                    );
                    continue;
                }
                if used + u64::from(tokens) > u64::from(tpm) {
                    let mut freed = 0;
                    for (t, n) in &u.sent {
                        freed += u64::from(*n);
                        if used - freed + u64::from(tokens) <= u64::from(tpm) {
                            wait_for((*t + window).saturating_duration_since(now), true);
                            break;
                        }
                    }
                    blocked = true;
                }
            }
            if blocked {
                continue;
            }
            let limit = [u.learned.rpm, self.configured.rpm]
                .into_iter()
                .flatten()
                .min();
            let sent = u.sent.len() as u64;
            let headroom = limit.map_or(u64::MAX - sent, |l| u64::from(l).saturating_sub(sent));
            ready.push((headroom, u.today, index, key_index, key));
        }
        // Most headroom first, then the fewest sent today, then the order of the pool.
        ready.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (_, _, index, key_index, key) in ready {
            match self.requests[index].try_acquire() {
                Ok(()) => {
                    // Read after the grant: a limiter that learns from answers takes back "the
                    // latest grant at or before" this instant when the server refuses. Read
                    // before it (on a running clock, a moment earlier), the refused request
                    // stayed counted, and after one bare 429 the project waited a minute.
                    let sent_at = Instant::now();
                    let u = &mut usage[index];
                    u.count(sent_at, tokens);
                    return Pick::Go {
                        project: index,
                        key_index,
                        key,
                        sent_at,
                    };
                }
                Err(denied) => match denied.retry_after() {
                    Some(d) => wait_for(d, false),
                    None => close(
                        true,
                        Error::from(steadfast::Error::RateLimited { retry_after: None }),
                    ),
                },
            }
        }
        match (wait, closed) {
            (Some((d, server)), _) => Pick::Wait {
                wait: d.max(Duration::from_millis(1)),
                server,
            },
            (None, Some((_, e))) => Pick::Closed(e),
            (None, None) => Pick::Closed(Error::configuration("the client has no API key")),
        }
    }

    fn out_for_today(&self, project: &Project, rpd: u32) -> Error {
        Error::with_kind(
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                retry_after: None,
            },
            format!(
                "project {} has used its daily limit of {rpd} requests to {} (a limit the server named); it resets at midnight Pacific time",
                project.name, self.model
            ),
        )
    }

    /// Takes a slot for a request sent inside an attempt that already has its own (a
    /// pre-flight look-up or count) on `project`, waiting for it, and counts the request.
    pub(crate) async fn extra(&self, project: usize) -> Result<(), Error> {
        let denied = |d: steadfast::limit::Denied| {
            Error::from(steadfast::Error::RateLimited {
                retry_after: d.retry_after(),
            })
        };
        match &self.requests[project] {
            Requests::None => {}
            Requests::Fixed(l) => l.acquire(1).await.map_err(denied)?,
            Requests::Adaptive(l) => {
                steadfast::limit::RateLimiter::acquire(l, 1)
                    .await
                    .map_err(denied)?;
            }
        }
        #[cfg(feature = "redis")]
        self.extra_shared(project).await?;
        let now = Instant::now();
        let mut usage = lock(&self.usage);
        let u = &mut usage[project];
        u.roll(now, self.window());
        u.count(now, 0);
        Ok(())
    }

    /// Waits for `tokens` of the project's configured tokens-per-minute limit, if it has one.
    pub(crate) async fn tokens(&self, project: usize, tokens: u32) -> Result<(), Error> {
        if let Some(limiter) = &self.tpm[project] {
            limiter
                .acquire(tokens)
                .await
                .map_err(|_| Error::from(steadfast::Error::RateLimited { retry_after: None }))?;
        }
        Ok(())
    }

    /// Records what the server said to the request sent at `sent_at` through `project`:
    /// a refusal (and what it teaches), or an accepted request (for the adaptive limiter).
    pub(crate) fn settle<T>(
        &self,
        project: &Project,
        index: usize,
        key: &ApiKey,
        sent_at: Instant,
        result: &Result<T, Error>,
    ) {
        let (refusals, learn) = (self.refusals, self.adapt);
        let adaptive = match &self.requests[index] {
            Requests::Adaptive(l) if learn => Some(l),
            _ => None,
        };
        let e = match result {
            Ok(_) => {
                if let Some(l) = adaptive {
                    l.observe(&Observation::answered(sent_at, None));
                }
                return;
            }
            Err(e) => e,
        };
        let now = Instant::now();
        let mut usage = lock(&self.usage);
        let u = &mut usage[index];
        match e.kind() {
            ErrorKind::RateLimited { scope, .. } => {
                // The server did not count a request it refused.
                u.uncount(sent_at);
                let taught = if learn {
                    self.learn(project, key, u, e)
                } else {
                    false
                };
                if let (Some(l), false, false) = (adaptive, taught, *scope == QuotaScope::PerDay) {
                    l.observe(
                        &Observation::answered(sent_at, Some(429)).with_hint(e.retry_after()),
                    );
                }
                if refusals {
                    let lasts = match scope {
                        QuotaScope::PerDay => Some(e.retry_after().unwrap_or_else(|| {
                            crate::until_daily_reset(std::time::SystemTime::now())
                        })),
                        _ => e.retry_after(),
                    };
                    if let Some(lasts) = lasts {
                        u.refused = Some(Refusal {
                            until: now + lasts,
                            error: e.clone(),
                            brief: *scope != QuotaScope::PerDay,
                        });
                    }
                }
            }
            ErrorKind::NoQuota => {
                if refusals {
                    u.refused = Some(Refusal {
                        until: now + REFUSAL_TTL,
                        error: e.clone(),
                        brief: false,
                    });
                }
            }
            // Refused locally (a prompt too long for the model, a tokens-per-minute limit it
            // can never fit): the request was not sent.
            ErrorKind::PromptTooLong { .. } | ErrorKind::Policy(_) | ErrorKind::Configuration
                if e.http_status().is_none() =>
            {
                u.uncount(sent_at);
            }
            _ => {
                if let (Some(l), Some(status)) = (adaptive, e.http_status()) {
                    if status < 500 {
                        l.observe(&Observation::answered(sent_at, Some(status)));
                    }
                }
            }
        }
    }

    /// Asks the shared quotas (Redis) about a request [`pick`](Self::pick) just chose and
    /// counted: record it, or say why not (the project is then marked busy or closed, and the
    /// request uncounted, so that the next pick looks elsewhere or waits).
    #[cfg(feature = "redis")]
    pub(crate) async fn admit_shared(
        &self,
        project: &Project,
        index: usize,
        sent_at: Instant,
        tokens: u32,
    ) -> SharedStep {
        let Some(shared) = &self.shared else {
            return SharedStep::Go(None);
        };
        let configured = shared::Configured {
            rpm: self.configured.rpm.unwrap_or(0),
            tpm: self.configured.tpm.unwrap_or(0),
            rpd: self.configured.rpd.unwrap_or(0),
        };
        let (admit, learned) = shared
            .quotas
            .admit(
                &shared.places[index],
                tokens,
                self.window(),
                configured,
                crate::until_daily_reset(std::time::SystemTime::now()),
            )
            .await;
        let now = Instant::now();
        let mut usage = lock(&self.usage);
        let u = &mut usage[index];
        if let (Some(l), true) = (learned, self.adapt) {
            for (slot, value, metric) in [
                (&mut u.learned.rpm, l.rpm, Metric::Requests),
                (&mut u.learned.tpm, l.tpm, Metric::InputTokens),
                (&mut u.learned.rpd, l.rpd, Metric::RequestsPerDay),
            ] {
                if value > 0 && *slot != Some(value) {
                    *slot = Some(value);
                    tracing::info!(target: "steadfast_gemini", model = self.model.as_str(), project = project.name.as_str(), metric = %metric, limit = value, "a limit learned by another process, through the shared quotas");
                }
            }
        }
        match admit {
            Admit::Go { member } => SharedStep::Go(Some(member)),
            Admit::Wait { wait, server } => {
                u.uncount(sent_at);
                u.shared_busy = Some((now + wait, server));
                SharedStep::Again
            }
            Admit::Closed { lasts, no_quota } => {
                u.uncount(sent_at);
                let error = if no_quota {
                    Error::with_kind(
                        ErrorKind::NoQuota,
                        format!(
                            "project {} has no quota for {} (recorded in the shared quotas)",
                            project.name, self.model
                        ),
                    )
                } else {
                    Error::with_kind(
                        ErrorKind::RateLimited {
                            scope: QuotaScope::PerDay,
                            retry_after: None,
                        },
                        format!(
                            "project {} has used its daily quota of {} (recorded in the shared quotas); it resets at midnight Pacific time",
                            project.name, self.model
                        ),
                    )
                };
                u.refused = Some(Refusal {
                    until: now + lasts,
                    error,
                    brief: false,
                });
                SharedStep::Again
            }
            Admit::Never => {
                u.uncount(sent_at);
                SharedStep::Fail(Error::from(steadfast::Error::RateLimited {
                    retry_after: None,
                }))
            }
            Admit::Unavailable => {
                match shared.quotas.on_unavailable() {
                    steadfast::limit::Unavailable::Local { .. } => {
                        let (requests, tpm) = &shared.fallback[index];
                        let taken = tpm
                            .as_ref()
                            .map_or(Ok(()), |l| l.try_acquire(tokens))
                            .and_then(|()| requests.as_ref().map_or(Ok(()), |l| l.try_acquire(1)));
                        match taken {
                            Ok(()) => SharedStep::Go(None),
                            Err(denied) => {
                                u.uncount(sent_at);
                                match denied.retry_after() {
                                    Some(wait) => {
                                        u.shared_busy = Some((now + wait, false));
                                        SharedStep::Again
                                    }
                                    // More tokens than this process's share can ever take.
                                    None => SharedStep::Fail(Error::from(
                                        steadfast::Error::RateLimited { retry_after: None },
                                    )),
                                }
                            }
                        }
                    }
                    steadfast::limit::Unavailable::Fail => {
                        u.uncount(sent_at);
                        SharedStep::Fail(Error::from(steadfast::Error::LimiterUnavailable))
                    }
                    _ => {
                        u.uncount(sent_at);
                        SharedStep::Unavailable {
                            max_wait: shared.quotas.max_wait(),
                        }
                    }
                }
            }
        }
    }

    /// Without the `redis` feature nothing is shared.
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn admit_shared(
        &self,
        _project: &Project,
        _index: usize,
        _sent_at: Instant,
        _tokens: u32,
    ) -> SharedStep {
        SharedStep::Go(None)
    }

    /// Tells the shared quotas what the server said (`error`, `None` for a success) to a
    /// request they recorded as `member`:
    /// forget a request it refused, what a 429 taught, how long it refused the project. A
    /// success costs nothing.
    #[cfg(feature = "redis")]
    pub(crate) async fn settle_shared(
        &self,
        index: usize,
        member: Option<String>,
        tokens: u32,
        error: Option<&Error>,
    ) {
        let (Some(shared), Some(e)) = (&self.shared, error) else {
            return;
        };
        let mut settle = shared::Settle::default();
        match e.kind() {
            ErrorKind::RateLimited { scope, .. } => {
                settle.forget = member.map(|m| (m, tokens));
                if self.adapt {
                    for (metric, value) in lessons(e, &self.model).0 {
                        match metric {
                            Metric::Requests => settle.learned.rpm = value,
                            Metric::InputTokens => settle.learned.tpm = value,
                            Metric::RequestsPerDay => settle.learned.rpd = value,
                        }
                    }
                }
                if *scope == QuotaScope::PerDay {
                    let lasts = e
                        .retry_after()
                        .unwrap_or_else(|| crate::until_daily_reset(std::time::SystemTime::now()));
                    settle.closed_for = Some((lasts, false));
                } else {
                    settle.refused_for = e.retry_after();
                }
            }
            ErrorKind::NoQuota => {
                settle.closed_for = Some((REFUSAL_TTL, true));
            }
            ErrorKind::PromptTooLong { .. } | ErrorKind::Policy(_) | ErrorKind::Configuration
                if e.http_status().is_none() =>
            {
                settle.forget = member.map(|m| (m, tokens));
            }
            _ => return,
        }
        shared.quotas.settle(&shared.places[index], settle).await;
    }

    /// Without the `redis` feature nothing is shared.
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn settle_shared(
        &self,
        _index: usize,
        _member: Option<String>,
        _tokens: u32,
        _error: Option<&Error>,
    ) {
    }

    /// Records a request sent inside an attempt that already has its slot (a pre-flight
    /// look-up) in the shared quotas, waiting for room.
    #[cfg(feature = "redis")]
    async fn extra_shared(&self, index: usize) -> Result<(), Error> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let configured = shared::Configured {
            rpm: self.configured.rpm.unwrap_or(0),
            tpm: 0,
            rpd: self.configured.rpd.unwrap_or(0),
        };
        let mut pause = Duration::from_millis(100);
        let since = Instant::now();
        loop {
            let (admit, _) = shared
                .quotas
                .admit(
                    &shared.places[index],
                    0,
                    self.window(),
                    configured,
                    crate::until_daily_reset(std::time::SystemTime::now()),
                )
                .await;
            match admit {
                Admit::Go { .. } => return Ok(()),
                Admit::Wait { wait, .. } => tokio::time::sleep(wait).await,
                Admit::Closed { .. } | Admit::Never => {
                    return Err(Error::from(steadfast::Error::RateLimited {
                        retry_after: None,
                    }));
                }
                Admit::Unavailable => match shared.quotas.on_unavailable() {
                    steadfast::limit::Unavailable::Local { .. } => {
                        if let Some(l) = &shared.fallback[index].0 {
                            l.acquire(1).await.map_err(|_| {
                                Error::from(steadfast::Error::RateLimited { retry_after: None })
                            })?;
                        }
                        return Ok(());
                    }
                    steadfast::limit::Unavailable::Fail => {
                        return Err(Error::from(steadfast::Error::LimiterUnavailable));
                    }
                    _ if since.elapsed() >= shared.quotas.max_wait() => {
                        return Err(Error::from(steadfast::Error::LimiterUnavailable));
                    }
                    _ => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(1));
                    }
                },
            }
        }
    }

    /// Learns the limits a 429's QuotaFailure names (see [`lessons`]); true when it taught
    /// one.
    fn learn(&self, project: &Project, key: &ApiKey, u: &mut Usage, e: &Error) -> bool {
        let (lessons, notes) = lessons(e, &self.model);
        for note in notes {
            tracing::debug!(target: "steadfast_gemini", model = self.model.as_str(), project = project.name.as_str(), key = %key, "nothing learned from a QuotaFailure: {note}");
        }
        let mut taught = false;
        for (metric, value) in lessons {
            let slot = match metric {
                Metric::Requests => &mut u.learned.rpm,
                Metric::InputTokens => &mut u.learned.tpm,
                Metric::RequestsPerDay => &mut u.learned.rpd,
            };
            taught = true;
            if *slot == Some(value) {
                continue;
            }
            *slot = Some(value);
            let what = match (metric, value) {
                (Metric::Requests, 1) => "request per minute",
                (Metric::Requests, _) => "requests per minute",
                (Metric::InputTokens, 1) => "input token per minute",
                (Metric::InputTokens, _) => "input tokens per minute",
                (Metric::RequestsPerDay, 1) => "request per day",
                (Metric::RequestsPerDay, _) => "requests per day",
            };
            let configured = match metric {
                Metric::Requests => self.configured.rpm,
                Metric::InputTokens => self.configured.tpm,
                Metric::RequestsPerDay => self.configured.rpd,
            };
            let note = match configured {
                Some(c) if c <= value => format!(" (your limit of {c} stays: it is lower)"),
                _ => String::new(),
            };
            tracing::info!(
                target: "steadfast_gemini",
                model = self.model.as_str(),
                project = project.name.as_str(),
                key = %key,
                metric = %metric,
                limit = value,
                "{} allows {value} {what} on project {} (key {key}){note}",
                self.model,
                project.name,
            );
        }
        taught
    }

    /// What the client knows of `project` for this model.
    pub(crate) fn snapshot(&self, index: usize) -> ModelQuota {
        let now = Instant::now();
        let mut usage = lock(&self.usage);
        let u = &mut usage[index];
        u.roll(now, self.window());
        let minute_used = u.sent.len() as u64;
        let tokens = u.tokens();
        let day = Duration::from_secs(86_400);
        let mut limits = Vec::new();
        let mut add = |metric, value: Option<u32>, window, source, used| {
            if let Some(value) = value {
                limits.push(Limit {
                    metric,
                    value: u64::from(value),
                    window,
                    source,
                    used,
                });
            }
        };
        let c = self.configured;
        let m = self.minute;
        add(
            Metric::Requests,
            c.rpm,
            m,
            LimitSource::Configured,
            minute_used,
        );
        add(
            Metric::Requests,
            u.learned.rpm,
            m,
            LimitSource::Learned,
            minute_used,
        );
        add(
            Metric::InputTokens,
            c.tpm,
            m,
            LimitSource::Configured,
            tokens,
        );
        add(
            Metric::InputTokens,
            u.learned.tpm,
            m,
            LimitSource::Learned,
            tokens,
        );
        add(
            Metric::RequestsPerDay,
            c.rpd,
            day,
            LimitSource::Configured,
            u.today,
        );
        add(
            Metric::RequestsPerDay,
            u.learned.rpd,
            day,
            LimitSource::Learned,
            u.today,
        );
        if let Requests::Adaptive(l) = &self.requests[index] {
            if let Some((value, window)) = l.learned() {
                let used = u
                    .sent
                    .iter()
                    .filter(|(t, _)| now.saturating_duration_since(*t) < window)
                    .count() as u64;
                add(
                    Metric::Requests,
                    Some(value),
                    window,
                    LimitSource::Adaptive,
                    used,
                );
            }
        }
        let refused = u.refused.as_ref().filter(|r| r.until > now);
        ModelQuota {
            model: self.model.clone(),
            limits,
            requests_this_minute: minute_used,
            tokens_this_minute: tokens,
            requests_today: u.today,
            refused_for: refused.map(|r| r.until - now),
            refused_because: refused.map(|r| r.error.kind().name()),
        }
    }
}

/// The limits a 429's QuotaFailure teaches about `model`, and a note for each violation that
/// teaches nothing.
///
/// A violation teaches when its `quotaId` names a metric this client paces (requests or input
/// tokens per minute, requests per day: `GenerateRequestsPerMinutePerProjectPerModel`,
/// `GenerateContentInputTokensPerModelPerMinute`, `GenerateRequestsPerDayPerProjectPerModel`,
/// with or without a tier suffix), its `quotaValue` is a whole number from 1 to 2³²−1, and its
/// `quotaDimensions.model`, when present, is the model the request was sent for. A QuotaFailure
/// that names one metric twice with different values contradicts itself: that metric teaches
/// nothing. A value of 0 is not a limit to pace by: the error is
/// [`NoQuota`](ErrorKind::NoQuota), handled by skipping the project.
pub(crate) fn lessons(e: &Error, model: &str) -> (Vec<(Metric, u32)>, Vec<String>) {
    let mut notes = Vec::new();
    let mut found: Vec<(Metric, u32)> = Vec::new();
    let mut contradicted: Vec<Metric> = Vec::new();
    let violations = e
        .status()
        .map(|s| s.details.quota_violations.as_slice())
        .unwrap_or(&[]);
    for v in violations {
        let id = v.quota_id.as_deref().unwrap_or("");
        let Some(metric) = metric_of(id) else {
            notes.push(format!(
                "quotaId `{}` is not a quota this client paces",
                short(id)
            ));
            continue;
        };
        if let Some(named) = v.quota_dimensions.get("model") {
            let named = named.trim_start_matches("models/");
            if named != model {
                notes.push(format!(
                    "quotaDimensions.model `{}` is not the model the request was for",
                    short(named)
                ));
                continue;
            }
        }
        let raw = v.quota_value.as_deref().unwrap_or("").trim();
        let value = match raw.parse::<u64>() {
            Ok(0) => {
                notes.push("quotaValue is 0: no quota on this tier".to_owned());
                continue;
            }
            Ok(n) => u32::try_from(n).ok(),
            Err(_) => None,
        };
        let Some(value) = value else {
            notes.push(format!("quotaValue `{}` is not a usable limit", short(raw)));
            continue;
        };
        match found.iter().find(|(m, _)| *m == metric) {
            Some((_, other)) if *other != value => {
                notes.push(format!(
                    "the QuotaFailure names two values for {metric} ({other} and {value})"
                ));
                contradicted.push(metric);
            }
            Some(_) => {}
            None => found.push((metric, value)),
        }
    }
    found.retain(|(m, _)| !contradicted.contains(m));
    (found, notes)
}

/// At most 80 characters of a value from the server, for a log line.
fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

fn metric_of(quota_id: &str) -> Option<Metric> {
    let id = quota_id.to_ascii_lowercase();
    let minute = id.contains("perminute");
    let day = id.contains("perday");
    let tokens = id.contains("token");
    let requests = id.contains("request");
    match (requests, tokens, minute, day) {
        (true, false, true, false) => Some(Metric::Requests),
        (false, true, true, false) => Some(Metric::InputTokens),
        (true, false, false, true) => Some(Metric::RequestsPerDay),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota_failure(violations: &str) -> Error {
        let body = format!(
            r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{violations}]}},{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}}]}}}}"#
        );
        Error::from_body(429, body.as_bytes())
    }

    #[test]
    fn each_known_quota_id_teaches_its_metric() {
        let e = quota_failure(
            r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"10","quotaDimensions":{"model":"m","location":"global"}},
               {"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier","quotaValue":"250000"},
               {"quotaId":"GenerateRequestsPerDayPerProjectPerModel","quotaValue":"250"}"#,
        );
        let (lessons, notes) = lessons(&e, "m");
        assert_eq!(
            lessons,
            vec![
                (Metric::Requests, 10),
                (Metric::InputTokens, 250_000),
                (Metric::RequestsPerDay, 250)
            ]
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn bad_values_and_unknown_ids_teach_nothing_and_say_why() {
        for (violation, why) in [
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"-1"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"abc"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"99999999999"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"SomethingElsePerFortnight","quotaValue":"10"}"#,
                "not a quota this client paces",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"10","quotaDimensions":{"model":"other"}}"#,
                "not the model",
            ),
        ] {
            let (lessons, notes) = lessons(&quota_failure(violation), "m");
            assert!(lessons.is_empty(), "{violation}: {lessons:?}");
            assert_eq!(notes.len(), 1, "{violation}");
            assert!(notes[0].contains(why), "{violation}: {notes:?}");
        }
    }

    #[test]
    fn a_quota_failure_that_contradicts_itself_teaches_nothing_about_that_metric() {
        let e = quota_failure(
            r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"10"},
               {"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"15"},
               {"quotaId":"GenerateRequestsPerDayPerProjectPerModel","quotaValue":"250"}"#,
        );
        let (lessons, notes) = lessons(&e, "m");
        assert_eq!(lessons, vec![(Metric::RequestsPerDay, 250)]);
        assert!(notes[0].contains("10 and 15"), "{notes:?}");
    }

    #[test]
    fn a_zero_quota_value_is_no_quota_not_a_limit() {
        let e = quota_failure(
            r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"0"}"#,
        );
        assert_eq!(*e.kind(), ErrorKind::NoQuota);
        let (lessons, _) = lessons(&e, "m");
        assert!(lessons.is_empty());
    }
}
