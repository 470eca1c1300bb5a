//! Where a call goes: which key, which model, through which policy.
//!
//! For each model of the chain (the one asked for, then the fallbacks), the call runs through
//! that model's `steadfast::Policy` (retries, rpm/rpd) with the first healthy key. What its final
//! error says decides what happens next:
//!
//! | error | next |
//! | --- | --- |
//! | invalid key, a 403 about the key (leaked, missing, API not enabled) | this key is skipped for good; next key |
//! | per-day quota | this key is skipped for this model until the daily reset; next key, then next model |
//! | zero quota | this key is skipped for this model for an hour; next key, then next model |
//! | a 403 about the request (a file it may not read) | returned: the key is fine |
//! | overloaded, model not found | next model |
//! | anything else | returned |

use super::breaker;
use super::{ApiKey, Client};
use crate::endpoints::model_path;
use crate::error::ErrorKind;
use crate::types::{
    Content, CountTokensRequest, GenerateContentRequest, GenerateContentRequestWithModel, Model,
};
use crate::{Error, QuotaScope};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use steadfast::breaker::SlidingWindowBreaker;
use steadfast::limit::RateLimit;

/// How long a key stays skipped for a model after a refusal that names no end (a zero quota:
/// not on this tier). Trying again after an hour costs one request per key and model.
pub(crate) const REFUSAL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long `error` keeps a key away from a model, refused at wall-clock time `now`: a per-day
/// quota until the daily reset (midnight Pacific time), anything else for [`REFUSAL_TTL`].
pub(crate) fn refusal_lasts(error: &Error, now: std::time::SystemTime) -> std::time::Duration {
    match error.kind() {
        ErrorKind::RateLimited {
            scope: QuotaScope::PerDay,
            ..
        } => crate::until_daily_reset(now),
        _ => REFUSAL_TTL,
    }
}

/// What the pool knows about one key: why it is skipped, with the error that said so.
#[derive(Debug, Default)]
pub(crate) struct KeyHealth {
    /// Invalid or rejected: never used again.
    dead: Mutex<Option<Error>>,
    /// Models this key may not use for now (daily or zero quota), until when.
    refused: Mutex<HashMap<String, (tokio::time::Instant, Error)>>,
}

impl KeyHealth {
    /// Skips this key for `model` for as long as `error` says ([`refusal_lasts`]).
    fn refuse(&self, model: &str, error: Error) {
        let lasts = refusal_lasts(&error, std::time::SystemTime::now());
        lock(&self.refused).insert(
            model.to_owned(),
            (tokio::time::Instant::now() + lasts, error),
        );
    }

    /// Why this key is skipped for `model`, if it is: `(refused for this model, error)`.
    fn skipped_for(&self, model: &str) -> Option<(bool, Error)> {
        let mut refused = lock(&self.refused);
        match refused.get(model) {
            Some((until, e)) if tokio::time::Instant::now() < *until => {
                return Some((true, e.clone()));
            }
            Some(_) => {
                refused.remove(model);
            }
            None => {}
        }
        drop(refused);
        lock(&self.dead).clone().map(|e| (false, e))
    }
}

/// How long a failed (or abandoned) `models.get` look-up is remembered: no look-up for this
/// model is sent again before, and the pre-flight guard uses its estimate meanwhile.
pub(crate) const LOOKUP_RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// The longest a `models.get` look-up may take, inside the attempt that needs it.
pub(crate) const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the client knows of a model's input token limit.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    /// Never asked.
    Unknown,
    /// `models.get` answered (`None`: the model has no limit in its description).
    Known(Option<u32>),
    /// A look-up started (and failed, unless it is still running) at this time.
    Tried(tokio::time::Instant),
}

/// What the client keeps for one model, built on its first call.
#[derive(Debug)]
pub(crate) struct ModelEntry {
    /// Retries and rpm/rpd limits.
    policy: steadfast::Policy,
    /// The tokens-per-minute limiter, weighted by each request's tokens.
    tpm: Option<RateLimit>,
    /// `inputTokenLimit` from `models.get`, or when the last look-up was tried.
    input_limit: Mutex<Lookup>,
    /// The model's circuit breaker, when the policy has one.
    breaker: Option<SlidingWindowBreaker>,
}

/// Every model's entry, behind one lock taken once per call.
#[derive(Debug, Default)]
pub(crate) struct ModelState {
    entries: Mutex<HashMap<String, Arc<ModelEntry>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Next {
    Key { for_good: bool },
    Model,
    Stop,
}

fn next_after(e: &Error) -> Next {
    match e.kind() {
        ErrorKind::InvalidApiKey | ErrorKind::KeyRejected => Next::Key { for_good: true },
        ErrorKind::RateLimited {
            scope: QuotaScope::PerDay,
            ..
        }
        | ErrorKind::NoQuota => Next::Key { for_good: false },
        ErrorKind::Unavailable
        | ErrorKind::ModelNotFound
        | ErrorKind::Policy(steadfast::Error::CircuitOpen { .. }) => Next::Model,
        _ => Next::Stop,
    }
}

/// Text in a request: characters and words.
fn text_size(request: &GenerateContentRequest) -> (u64, u64) {
    let contents = request
        .contents
        .iter()
        .chain(request.system_instruction.as_ref());
    contents
        .flat_map(|c: &Content| c.parts.iter())
        .filter_map(|p| p.text.as_deref())
        .fold((0, 0), |(chars, words), t| {
            (
                chars + t.chars().count() as u64,
                words + t.split_whitespace().count() as u64,
            )
        })
}

impl Client {
    /// The first key not skipped for `model`; when every key is, the error that explains it
    /// best: a refusal for this model (permission, daily quota) before an invalid key.
    fn healthy_key(&self, model: &str) -> Result<(usize, ApiKey), Error> {
        if !self.inner.policy.key_rotation {
            return Ok((0, self.inner.keys[0].clone()));
        }
        let mut best: Option<(bool, Error)> = None;
        for (i, (key, health)) in self.inner.keys.iter().zip(&self.inner.health).enumerate() {
            match health.skipped_for(model) {
                None => return Ok((i, key.clone())),
                Some((for_model, e)) => {
                    if best.as_ref().is_none_or(|(b, _)| for_model && !b) {
                        best = Some((for_model, e));
                    }
                }
            }
        }
        Err(best.map_or_else(
            || Error::configuration("the client has no API key"),
            |(_, e)| e,
        ))
    }

    fn model_entry(&self, model: &str) -> Result<Arc<ModelEntry>, Error> {
        let mut entries = lock(&self.inner.models.entries);
        if let Some(entry) = entries.get(model) {
            return Ok(Arc::clone(entry));
        }
        let tpm = match self.inner.policy.model_limits(model).tpm {
            Some(tpm) => Some(
                RateLimit::builder()
                    .per_minute(tpm)
                    .burst(tpm)
                    .build()
                    .map_err(|e| Error::configuration(format!("tpm for `{model}`: {e}")))?,
            ),
            None => None,
        };
        let entry = Arc::new(ModelEntry {
            policy: self.inner.policy.build_for(model)?,
            tpm,
            input_limit: Mutex::new(Lookup::Unknown),
            breaker: match &self.inner.policy.breaker {
                Some(config) => Some(
                    SlidingWindowBreaker::new(*config)
                        .map_err(|e| Error::configuration(format!("client policy breaker: {e}")))?,
                ),
                None => None,
            },
        });
        entries.insert(model.to_owned(), Arc::clone(&entry));
        Ok(entry)
    }

    /// Takes a slot of the model's rate limiter for a request the policy does not count itself
    /// (a pre-flight look-up or count, sent inside an attempt that already took its own slot).
    async fn extra_slot(entry: &ModelEntry) -> Result<(), Error> {
        match entry.policy.limiter() {
            Some(limiter) => limiter.acquire(1).await.map_err(|denied| {
                Error::from(steadfast::Error::RateLimited {
                    retry_after: denied.retry_after(),
                })
            }),
            None => Ok(()),
        }
    }

    /// The model's input token limit, from `models.get` (`None` when unknown). Known limits are
    /// kept; a look-up is marked as tried before it is sent, so that a failed, slow or cancelled
    /// one is not repeated for [`LOOKUP_RETRY`], whatever the number of calls meanwhile.
    async fn input_limit(&self, key: &ApiKey, model: &str, entry: &ModelEntry) -> Option<u32> {
        {
            let mut known = lock(&entry.input_limit);
            match *known {
                Lookup::Known(limit) => return limit,
                Lookup::Tried(at) if at.elapsed() < LOOKUP_RETRY => return None,
                _ => *known = Lookup::Tried(tokio::time::Instant::now()),
            }
        }
        let path = model_path(model).ok()?;
        Self::extra_slot(entry).await.ok()?;
        let lookup = self.request::<(), Model>(key, reqwest::Method::GET, &path, None);
        match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(m)) => {
                *lock(&entry.input_limit) = Lookup::Known(m.input_token_limit);
                m.input_token_limit
            }
            Ok(Err(e)) => {
                tracing::debug!(target: "steadfast_gemini", model, reason = e.kind().name(), "model look-up failed; the guard estimates for a while");
                None
            }
            Err(_) => None,
        }
    }

    /// The request's tokens: counted when it might exceed the model's input limit (and refused
    /// locally when it does), estimated otherwise. Runs inside an attempt: within the deadline,
    /// and each request it sends takes a slot of the model's rate limit.
    async fn preflight(
        &self,
        key: &ApiKey,
        model: &str,
        entry: &ModelEntry,
        request: &GenerateContentRequest,
    ) -> Result<u32, Error> {
        let (chars, words) = text_size(request);
        let estimate = u32::try_from(words.max(chars.div_ceil(4)))
            .unwrap_or(u32::MAX)
            .max(1);
        if !self.inner.policy.preflight {
            return Ok(estimate);
        }
        let Some(limit) = self.input_limit(key, model, entry).await else {
            return Ok(estimate);
        };
        // A token is at least one character: a shorter prompt cannot exceed the limit.
        if chars <= u64::from(limit) {
            return Ok(estimate);
        }
        let Ok(path) = model_path(model) else {
            return Ok(estimate);
        };
        let count = CountTokensRequest {
            generate_content_request: Some(GenerateContentRequestWithModel {
                model: path.clone(),
                request: request.clone(),
            }),
            ..Default::default()
        };
        if Self::extra_slot(entry).await.is_err() {
            return Ok(estimate);
        }
        let counted = self
            .request::<_, crate::types::CountTokensResponse>(
                key,
                reqwest::Method::POST,
                &format!("{path}:countTokens"),
                Some(&count),
            )
            .await;
        match counted {
            Ok(c) if c.total_tokens > limit => Err(Error::with_kind(
                ErrorKind::PromptTooLong {
                    tokens: Some(u64::from(c.total_tokens)),
                    limit: Some(u64::from(limit)),
                },
                format!(
                    "the prompt has {} tokens, more than {model}'s input limit of {limit}; refused before sending",
                    c.total_tokens
                ),
            )),
            Ok(c) => Ok(c.total_tokens.max(1)),
            Err(_) => Ok(estimate),
        }
    }

    /// `model`, then the fallback models.
    pub(crate) fn chain(&self, model: &str) -> Vec<String> {
        std::iter::once(model)
            .chain(self.inner.policy.fallback.iter().map(String::as_str))
            .map(|m| m.trim_start_matches("models/").to_owned())
            .collect()
    }

    /// Runs `op(key, model)` under the client policy, across keys and the models of `chain`
    /// (`[""]` for calls about no model, such as listing models).
    pub(crate) async fn execute<T, F, Fut>(
        &self,
        chain: &[String],
        request: Option<&GenerateContentRequest>,
        op: F,
    ) -> Result<T, Error>
    where
        F: Fn(ApiKey, String) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut last: Option<Error> = None;
        'models: for (position, model) in chain.iter().enumerate() {
            if position > 0 {
                tracing::info!(target: "steadfast_gemini", model = model.as_str(), reason = last.as_ref().map(|e| e.kind().name()), "falling back to the next model");
            }
            let entry = self.model_entry(model)?;
            // Counted once per model, with the first key that may use it, then kept across keys
            // and attempts.
            let counted: Mutex<Option<u32>> = Mutex::new(None);
            loop {
                let (index, key) = match self.healthy_key(model) {
                    Ok(found) => found,
                    Err(reason) => {
                        last = Some(reason);
                        continue 'models;
                    }
                };
                let tpm = entry.tpm.as_ref();
                // The first attempt is admitted by the breaker before the policy runs: an open
                // breaker refuses the call at once, without taking a rate-limit slot.
                let first = match &entry.breaker {
                    Some(b) => breaker::admit(b, model).map(Some),
                    None => Ok(None),
                };
                let result = match first {
                    Err(open) => Err(open),
                    Ok(first) => {
                        let pending = Mutex::new(first);
                        entry
                            .policy
                            .call(|| {
                                let (key, model) = (key.clone(), model.as_str());
                                let (op, entry, counted, pending) =
                                    (&op, &entry, &counted, &pending);
                                async move {
                                    let held = match (lock(pending).take(), &entry.breaker) {
                                        (Some(held), _) => Some(held),
                                        (None, Some(b)) => Some(breaker::admit(b, model)?),
                                        (None, None) => None,
                                    };
                                    let result = self
                                        .attempt(key, model, entry, counted, request, tpm, op)
                                        .await;
                                    if let Some(held) = held {
                                        held.settle(breaker::outcome_of(&result));
                                    }
                                    result
                                }
                            })
                            .await
                    }
                };
                let error = match result {
                    Ok(value) => {
                        tracing::debug!(target: "steadfast_gemini", key = key.label(), model = model.as_str(), "answered");
                        return Ok(value);
                    }
                    // Whatever the server echoed, none of the client's keys leaves in an error.
                    Err(e) => e.redact_keys(&self.inner.keys),
                };
                match next_after(&error) {
                    Next::Key { .. } if !self.inner.policy.key_rotation => return Err(error),
                    Next::Key { for_good } => {
                        let health = &self.inner.health[index];
                        if for_good {
                            *lock(&health.dead) = Some(error.clone());
                        } else {
                            health.refuse(model, error.clone());
                        }
                        tracing::warn!(target: "steadfast_gemini", key = key.label(), model = model.as_str(), reason = error.kind().name(), "skipping key");
                    }
                    Next::Model if model_is_some(chain) => {
                        last = Some(error);
                        continue 'models;
                    }
                    _ => return Err(error),
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::configuration("the client has no API key")))
    }
}

impl Client {
    /// One attempt of `op` on `model` with `key`: the pre-flight (inside the attempt: under its
    /// deadline and timeout, and its requests take rate-limit slots like any other), the
    /// tokens-per-minute slot, then the request.
    #[allow(clippy::too_many_arguments)]
    async fn attempt<T, F, Fut>(
        &self,
        key: ApiKey,
        model: &str,
        entry: &ModelEntry,
        counted: &Mutex<Option<u32>>,
        request: Option<&GenerateContentRequest>,
        tpm: Option<&RateLimit>,
        op: &F,
    ) -> Result<T, Error>
    where
        F: Fn(ApiKey, String) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let known = *lock(counted);
        let tokens = match (known, request) {
            (Some(tokens), _) => tokens,
            (None, Some(r)) => {
                let tokens = self.preflight(&key, model, entry, r).await?;
                *lock(counted) = Some(tokens);
                tokens
            }
            (None, None) => 1,
        };
        if let Some(limiter) = tpm {
            limiter
                .acquire(tokens)
                .await
                .map_err(|_| Error::from(steadfast::Error::RateLimited { retry_after: None }))?;
        }
        op(key, model.to_owned()).await
    }
}

fn model_is_some(chain: &[String]) -> bool {
    chain.first().is_some_and(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    mod outage {
        use super::*;
        use crate::ClientPolicy;
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::time::Duration;
        use tokio::time::Instant;

        const OVERLOADED: &[u8] = br#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;

        /// `(requests sent during the outage, calls made during it, calls that succeeded
        /// after it)` for calls at
        /// `per_second` against a model that is down for 10 minutes, then up for 2.
        async fn run(policy: ClientPolicy, per_second: u32) -> (u64, u64, u64) {
            let client = Client::builder()
                .base_url("http://127.0.0.1:9")
                .key("test-key-not-real-0000000")
                .policy(policy)
                .build()
                .unwrap();
            let sent = Arc::new(AtomicU64::new(0));
            let recovered = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let outage = Duration::from_secs(600);
            let total = per_second * 720;
            let mut calls = Vec::with_capacity(total as usize);
            for _ in 0..total {
                let (client, sent, recovered) =
                    (client.clone(), Arc::clone(&sent), Arc::clone(&recovered));
                calls.push(tokio::spawn(async move {
                    let chain = client.chain("m");
                    let answer = client
                        .execute(&chain, None, |_, _| {
                            let sent = Arc::clone(&sent);
                            async move {
                                if start.elapsed() < outage {
                                    sent.fetch_add(1, Ordering::Relaxed);
                                    Err(Error::from_body(503, OVERLOADED))
                                } else {
                                    Ok(())
                                }
                            }
                        })
                        .await;
                    if answer.is_ok() {
                        recovered.fetch_add(1, Ordering::Relaxed);
                    }
                }));
                tokio::time::sleep(Duration::from_secs(1) / per_second).await;
            }
            for call in calls {
                call.await.unwrap();
            }
            let calls_in_outage = u64::from(per_second) * outage.as_secs();
            (
                sent.load(Ordering::Relaxed),
                calls_in_outage,
                recovered.load(Ordering::Relaxed),
            )
        }

        #[tokio::test(start_paused = true)]
        async fn a_ten_minute_outage_at_2_calls_a_second_gets_few_requests_per_call() {
            let (sent, calls, recovered) = run(ClientPolicy::default(), 2).await;
            let per_call = sent as f64 / calls as f64;
            // Without the breaker, only the retry budget stands between the outage and every
            // attempt of every call (issue 9 measured 5 requests per call with the default
            // budget); with no budget either, that is exactly what it gets.
            let unbroken = ClientPolicy::default().breaker(None).budget(None);
            let (unbroken, _, _) = run(unbroken, 2).await;
            // (Calls of the last seconds have their last attempts after the outage.)
            assert!(unbroken as f64 / calls as f64 > 4.9, "{unbroken} requests");
            // With it: the first requests until it opens, then one probe per 30 s open time,
            // whatever the call rate (measured: 29 requests for 1 200 calls).
            assert!(per_call < 0.05, "{sent} requests for {calls} calls");
            assert!(sent <= 60, "{sent} requests for {calls} calls");
            // After the outage, the breaker lets calls through again within its open time (30 s)
            // of the 2 minutes that follow.
            assert!(
                recovered >= 2 * 85,
                "{recovered} calls succeeded after the outage"
            );
        }

        #[tokio::test(start_paused = true)]
        async fn a_ten_minute_outage_at_50_calls_a_second_gets_few_requests_per_call() {
            let (sent, calls, recovered) = run(ClientPolicy::default(), 50).await;
            let per_call = sent as f64 / calls as f64;
            // The same few requests as at 2 calls a second (measured: 29 for 30 000 calls).
            assert!(per_call < 0.002, "{sent} requests for {calls} calls");
            assert!(sent <= 60, "{sent} requests for {calls} calls");
            assert!(
                recovered >= 50 * 85,
                "{recovered} calls succeeded after the outage"
            );
        }
    }

    const PER_DAY: &[u8] = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"5s"}]}}"#;
    const ZERO: &[u8] = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded for metric: x, limit: 0"}}"#;

    #[test]
    fn a_per_day_refusal_lasts_until_midnight_pacific_and_others_an_hour() {
        use std::time::{Duration, UNIX_EPOCH};
        // 2026-03-08 09:00 UTC = 01:00 PST, the day clocks go forward: 22 h to midnight PDT.
        let now = UNIX_EPOCH + Duration::from_secs(1_772_960_400);
        let per_day = Error::from_body(429, PER_DAY);
        assert_eq!(refusal_lasts(&per_day, now), Duration::from_secs(22 * 3600));
        assert_eq!(
            refusal_lasts(&Error::from_body(429, ZERO), now),
            REFUSAL_TTL
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_expires_when_it_says_but_an_invalid_key_does_not() {
        let health = KeyHealth::default();
        health.refuse("m", Error::from_body(429, ZERO));
        assert!(matches!(health.skipped_for("m"), Some((true, _))));
        assert!(health.skipped_for("other").is_none());
        tokio::time::advance(REFUSAL_TTL).await;
        assert!(
            health.skipped_for("m").is_none(),
            "tried again after the TTL"
        );
        // A per-day refusal lasts until the reset, hours or minutes away, not a guessed hour.
        health.refuse("m", Error::from_body(429, PER_DAY));
        let reset = crate::until_daily_reset(std::time::SystemTime::now());
        tokio::time::advance(reset.saturating_sub(std::time::Duration::from_secs(2))).await;
        assert!(matches!(health.skipped_for("m"), Some((true, _))));
        tokio::time::advance(std::time::Duration::from_secs(3)).await;
        assert!(
            health.skipped_for("m").is_none(),
            "available after the reset"
        );
        *lock(&health.dead) = Some(Error::from_body(
            400,
            br#"{"error":{"code":400,"message":"API key not valid."}}"#,
        ));
        tokio::time::advance(REFUSAL_TTL * 10).await;
        assert!(matches!(health.skipped_for("m"), Some((false, _))));
    }

    #[test]
    fn retry_after_of_a_per_day_error_is_the_time_to_the_reset_not_retry_info() {
        let e = Error::from_body(429, PER_DAY);
        let reset = crate::until_daily_reset(std::time::SystemTime::now());
        let said = e.retry_after().unwrap();
        assert!(
            said > std::time::Duration::from_secs(5),
            "not RetryInfo's 5 s"
        );
        assert!(
            reset.abs_diff(said) < std::time::Duration::from_secs(2),
            "{said:?} vs {reset:?}"
        );
        assert!(
            e.to_string().contains("resets at midnight Pacific time"),
            "{e}"
        );
    }
}
