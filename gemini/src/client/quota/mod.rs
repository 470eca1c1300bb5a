//! Quotas per project and model: what the client may send, and what it has sent (documented
//! on [`QuotaSnapshot`], the public face of this module).

mod bridge;
mod learn;
mod report;
mod usage;

pub(crate) use bridge::{SharedSetup, SharedStep};
pub use report::{Limit, LimitSource, Metric, ModelQuota, ProjectQuotas, QuotaSnapshot};
pub(crate) use usage::Project;

use super::ApiKey;
use crate::error::ErrorKind;
use crate::{Error, ModelLimits, QuotaScope};
use bridge::Shared;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use steadfast::limit::{AdaptiveRateLimit, Observation, Quota, RateLimit};
use tokio::time::Instant;
use usage::{Refusal, Requests, Usage};

/// How long a project stays skipped for a model after a refusal that names no end (a zero
/// quota: not on this tier). Trying again after an hour costs one request per project and
/// model.
pub(crate) const REFUSAL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

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
    /// The quotas kept in Redis (always `None` without the `redis` feature).
    shared: Option<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn per(limit: u32, period: Duration) -> Option<Quota> {
    NonZeroU32::new(limit).and_then(|n| Quota::new(n, period).ok())
}

/// What [`ModelQuotas::new`] needs.
pub(crate) struct QuotaSettings<'a> {
    /// The model, without `models/`.
    pub(crate) model: &'a str,
    /// How many projects the pool has.
    pub(crate) projects: usize,
    /// The configured limits, per project.
    pub(crate) limits: ModelLimits,
    /// The length of the server's minute.
    pub(crate) minute: Duration,
    /// Whether limits are learned from the server (QuotaFailure) and found by an adaptive
    /// limiter where it names none.
    pub(crate) learn: bool,
    /// Whether a project the server refused is kept away for as long as it said (key
    /// rotation on).
    pub(crate) refusals: bool,
    /// The shared quotas, when the client keeps them in Redis.
    pub(crate) shared: SharedSetup,
}

/// The in-process limiters of `limits`, each value times `share` (rounded down, at least 1):
/// the requests limiter (per minute and per day) and the input-tokens-per-minute one. Used for
/// the configured limits (`share` 1) and for a process's share while Redis is unavailable.
fn limiters(
    limits: &ModelLimits,
    minute: Duration,
    share: f64,
) -> Result<(Option<RateLimit>, Option<RateLimit>), String> {
    let scaled = |n: u32| {
        if share >= 1.0 {
            n
        } else {
            ((f64::from(n) * share).floor() as u32).max(1)
        }
    };
    let mut rates = RateLimit::builder();
    if let Some(q) = limits.rpm.and_then(|n| per(scaled(n), minute)) {
        rates = rates.quota(q);
    }
    if let Some(n) = limits.rpd {
        rates = rates.per_day(scaled(n));
    }
    let requests = if rates.is_empty() {
        None
    } else {
        Some(rates.build().map_err(|e| e.to_string())?)
    };
    let tokens = match limits.tpm.map(scaled) {
        Some(n) => {
            let quota = per(n, minute).ok_or("tpm must be at least 1")?;
            let limiter = RateLimit::builder().quota(quota).burst(n).build();
            Some(limiter.map_err(|e| format!("tpm: {e}"))?)
        }
        None => None,
    };
    Ok((requests, tokens))
}

impl ModelQuotas {
    /// The quotas of one model for every project of the pool (see [`QuotaSettings`]). With
    /// shared quotas, the configured limits are enforced across processes in Redis instead of
    /// by in-process limiters (which then serve, at the process's share, only while Redis is
    /// unavailable, when the mode says so).
    pub(crate) fn new(settings: QuotaSettings<'_>) -> Result<Self, Error> {
        let QuotaSettings {
            model,
            projects,
            limits: configured,
            minute,
            learn: adapt,
            refusals,
            shared,
        } = settings;
        let shared = Shared::new(shared, projects, &configured, minute, model)?;
        let in_process = shared.is_none();
        let mut requests = Vec::with_capacity(projects);
        let mut tpm = Vec::with_capacity(projects);
        for _ in 0..projects {
            // Shared quotas enforce the configured limits across processes themselves.
            let (fixed, tokens) = if in_process {
                limiters(&configured, minute, 1.0)
                    .map_err(|e| Error::configuration(format!("limits for `{model}`: {e}")))?
            } else {
                (None, None)
            };
            requests.push(match (adapt, fixed) {
                (true, ceiling) => Requests::Adaptive(AdaptiveRateLimit::new(ceiling)),
                (false, Some(l)) => Requests::Fixed(l),
                (false, None) => Requests::None,
            });
            tpm.push(tokens);
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
                if let Some(oldest) = u
                    .sent
                    .len()
                    .checked_sub(rpm)
                    .and_then(|i| u.sent.sent_at(i))
                {
                    let frees = oldest + window;
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
                    for (t, n) in u.sent.iter() {
                        freed += u64::from(n);
                        if used - freed + u64::from(tokens) <= u64::from(tpm) {
                            wait_for((t + window).saturating_duration_since(now), true);
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
