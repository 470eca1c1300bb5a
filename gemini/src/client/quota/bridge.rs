//! The Redis bridge: the quotas of one model as the shared quotas ([`SharedQuotas`], feature
//! `redis`) keep them for every process. Written once: without the feature, [`Shared`] is an
//! empty enum, so `ModelQuotas::shared` is always `None` and every step is the in-process one.

use super::{ModelQuotas, Project};
use crate::{Error, ModelLimits};
use std::time::Duration;
use tokio::time::Instant;
#[cfg(feature = "redis")]
use {
    super::learn::lessons,
    super::report::Metric,
    super::usage::Refusal,
    super::{REFUSAL_TTL, limiters, lock},
    crate::QuotaScope,
    crate::client::shared::{self, Admit, Place, SharedQuotas},
    crate::error::ErrorKind,
    steadfast::limit::RateLimit,
};

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

/// Nothing is shared without the `redis` feature: no value of this type exists.
#[cfg(not(feature = "redis"))]
#[derive(Debug)]
pub(crate) enum Shared {}

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

impl Shared {
    /// The bridge for `setup`, with each project's share of the configured limits for the
    /// times Redis is unavailable (mode `Local`).
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(super) fn new(
        setup: SharedSetup,
        projects: usize,
        configured: &ModelLimits,
        minute: Duration,
        model: &str,
    ) -> Result<Option<Shared>, Error> {
        let Some(setup) = setup else {
            return Ok(None);
        };
        #[cfg(not(feature = "redis"))]
        match setup {}
        #[cfg(feature = "redis")]
        {
            let (quotas, places) = setup;
            let share = match quotas.on_unavailable() {
                steadfast::limit::Unavailable::Local { share } => Some(share),
                _ => None,
            };
            let fallback = (0..projects)
                .map(|_| match share {
                    Some(share) => limiters(configured, minute, share).map_err(|e| {
                        Error::configuration(format!(
                            "local share of the limits for `{model}`: {e}"
                        ))
                    }),
                    None => Ok((None, None)),
                })
                .collect::<Result<_, _>>()?;
            Ok(Some(Shared {
                quotas,
                places,
                fallback,
            }))
        }
    }
}

impl ModelQuotas {
    /// Asks the shared quotas (Redis) about a request [`pick`](Self::pick) just chose and
    /// counted: record it, or say why not (the project is then marked busy or closed, and the
    /// request uncounted, so that the next pick looks elsewhere or waits).
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
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
        #[cfg(not(feature = "redis"))]
        match *shared {}
        #[cfg(feature = "redis")]
        {
            let configured = shared::Configured {
                rpm: self.configured.rpm.unwrap_or(0),
                tpm: self.configured.tpm.unwrap_or(0),
                rpd: self.configured.rpd.unwrap_or(0),
            };
            // Boxed: Redis's future would otherwise make every attempt's future larger, with
            // or without Redis (each level of the call copies it when it is created).
            let (admit, learned) = Box::pin(shared.quotas.admit(
                &shared.places[index],
                tokens,
                self.window(),
                configured,
                crate::until_daily_reset(std::time::SystemTime::now()),
            ))
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
                                .and_then(|()| {
                                    requests.as_ref().map_or(Ok(()), |l| l.try_acquire(1))
                                });
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
    }

    /// Tells the shared quotas what the server said (`error`, `None` for a success) to a
    /// request they recorded as `member`:
    /// forget a request it refused, what a 429 taught, how long it refused the project. A
    /// success costs nothing.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
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
        #[cfg(not(feature = "redis"))]
        match *shared {}
        #[cfg(feature = "redis")]
        {
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
                        let lasts = e.retry_after().unwrap_or_else(|| {
                            crate::until_daily_reset(std::time::SystemTime::now())
                        });
                        settle.closed_for = Some((lasts, false));
                    } else {
                        settle.refused_for = e.retry_after();
                    }
                }
                ErrorKind::NoQuota => {
                    settle.closed_for = Some((REFUSAL_TTL, true));
                }
                ErrorKind::PromptTooLong { .. }
                | ErrorKind::Policy(_)
                | ErrorKind::Configuration
                    if e.http_status().is_none() =>
                {
                    settle.forget = member.map(|m| (m, tokens));
                }
                _ => return,
            }
            Box::pin(shared.quotas.settle(&shared.places[index], settle)).await;
        }
    }

    /// Records a request sent inside an attempt that already has its slot (a pre-flight
    /// look-up) in the shared quotas, waiting for room.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(super) async fn extra_shared(&self, index: usize) -> Result<(), Error> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        #[cfg(not(feature = "redis"))]
        match *shared {}
        #[cfg(feature = "redis")]
        {
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
    }
}
