//! Where a call goes: which model, which project, which key, through which policy.
//!
//! For each model of the chain (the one asked for, then the fallbacks), the call runs through
//! that model's `steadfast::Policy` (retries, deadline, budget). Each attempt picks the project
//! with the most headroom for the model ([`ModelQuotas::pick`]), takes its slot, and sends with
//! one of its usable keys. What the answer says decides what happens next, within the attempt:
//!
//! | answer | next |
//! | --- | --- |
//! | invalid key, a 403 about the key (leaked, missing, API not enabled) | this key is skipped for good; the request goes out again through another key (of this project or another) |
//! | per-minute quota (429 with RetryInfo), or a 429 that names no quota | this project waits for the RetryInfo; the request goes out at once through another project *with room now*, else the 429 is the attempt's result (the policy waits for its RetryInfo, or hands it to the outer policy) |
//! | per-day quota | this project is skipped for this model until the daily reset; another project, else the next model |
//! | zero quota | this project is skipped for this model for an hour; another project, else the next model |
//! | a 403 about the request (a file it may not read) | returned: the key is fine |
//! | overloaded, model not found, breaker open | the attempt's result; after the policy's last attempt, the next model |
//! | no slot before the deadline (or a server's wait longer than allowed) | the next model |
//! | anything else | the attempt's result |
//!
//! Sending again through another key or project is routing, not a retry: nothing was wrong
//! with the request, and no backoff helps. Transient failures (5xx, transport, a per-minute
//! quota with no other project free) are the attempt's result, so that inside a `#[resilient]`
//! function's attempt, where the client's policy makes one attempt, the outer policy (the one
//! the user wrote) waits and retries them: one layer retries.

use super::breaker;
use super::quota::{ModelQuotas, Pick, Project, QuotaSettings, SharedStep};
use super::stats::ModelCounters;
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

/// What the routed path decided for one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// The label of the project that answered (its declared name, or its number in the pool).
    pub project: String,
    /// The fingerprint of the key that answered (`****abcd`), never the key.
    pub key: String,
    /// The model that answered (a fallback model, when the one asked for failed); empty for a
    /// request about no model.
    pub model: String,
    /// Requests sent upstream for this call: retries, requests sent again through another key
    /// or project, and fallback models included (the pre-flight's `countTokens` and
    /// `models.get` are not).
    pub attempts: u32,
    /// The time from the first request sent upstream to the answer of the last one (its
    /// headers and body, or a stream's first chunk): the upstream's time, with any waits
    /// between attempts. What the call took beyond it is the client's own (and a relay's)
    /// overhead, and its waits for a quota slot before the first request ([`waited`]).
    ///
    /// [`waited`]: Route::waited
    pub upstream: std::time::Duration,
    /// The time waited for a quota slot (the pool's, a shared one's, or Redis's answer) before
    /// the first request was sent.
    pub waited: std::time::Duration,
}

/// What the routed path has decided so far for one call, filled in by its attempts.
#[derive(Debug, Default)]
pub(crate) struct RouteNote(Mutex<(Route, Option<tokio::time::Instant>)>);

impl RouteNote {
    /// A request is about to be sent.
    pub(crate) fn sent(&self) {
        let mut note = lock(&self.0);
        note.0.attempts += 1;
        note.1.get_or_insert_with(tokio::time::Instant::now);
    }

    /// The call waited `d` for a slot; counted while no request has been sent.
    pub(crate) fn waited(&self, d: std::time::Duration) {
        let mut note = lock(&self.0);
        if note.1.is_none() {
            note.0.waited += d;
        }
    }

    /// The request sent last has its answer (or failed).
    pub(crate) fn returned(&self) {
        let mut note = lock(&self.0);
        if let Some(first) = note.1 {
            note.0.upstream = first.elapsed();
        }
    }

    pub(crate) fn answered(&self, project: &str, key: &ApiKey, model: &str) {
        let mut note = lock(&self.0);
        let route = &mut note.0;
        route.project = project.to_owned();
        route.key = key.label();
        route.model = model.to_owned();
    }

    pub(crate) fn take(&self) -> Route {
        std::mem::take(&mut lock(&self.0).0)
    }
}

/// What a routed call carries beside its request: the tokens to count when there is no typed
/// request to count them from, a note of the route taken, and the project it must go through.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Routing<'a> {
    pub(crate) tokens: Option<u32>,
    pub(crate) note: Option<&'a RouteNote>,
    /// The label of the only project the call may go through (an object it names lives there).
    pub(crate) project: Option<&'a str>,
    /// When the call must have its answer: a wait for a quota slot that would end later fails
    /// at once with the wait ([`steadfast::Error::RetryDelayTooLong`], a 429 to a relay's
    /// client, with the time to the earliest slot), rather than sleeping into the deadline.
    pub(crate) until: Option<tokio::time::Instant>,
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
    /// Retries, deadline, budget (no limiter: limits are per project, in `quotas`).
    pub(crate) policy: steadfast::Policy,
    /// Limits and usage per project.
    pub(crate) quotas: ModelQuotas,
    /// `inputTokenLimit` from `models.get`, or when the last look-up was tried.
    input_limit: Mutex<Lookup>,
    /// The model's circuit breaker, when the policy has one.
    breaker: Option<SlidingWindowBreaker>,
    /// What was sent and what came back.
    pub(crate) counters: ModelCounters,
    /// Whether the model has answered once: an entry for a model that never did and that the
    /// server does not serve is not kept (a client of a relay could otherwise grow the map with
    /// every name it makes up).
    answered: std::sync::atomic::AtomicBool,
}

/// Every model's entry, behind one lock taken once per call.
#[derive(Debug, Default)]
pub(crate) struct ModelState {
    pub(crate) entries: Mutex<HashMap<String, Arc<ModelEntry>>>,
}

pub(crate) use super::lock;

enum Next {
    /// Every project is out for this model (per day, no quota).
    Projects,
    Model,
    Stop,
}

fn next_after(e: &Error) -> Next {
    match e.kind() {
        ErrorKind::RateLimited {
            scope: QuotaScope::PerDay,
            ..
        }
        | ErrorKind::NoQuota => Next::Projects,
        // A model with no slot in time (its quota's wait is longer than the deadline or the
        // longest hint allowed) is as good as out for this call: the next model may have one.
        ErrorKind::Unavailable
        | ErrorKind::ModelNotFound
        | ErrorKind::Policy(steadfast::Error::CircuitOpen { .. })
        | ErrorKind::Policy(steadfast::Error::RetryDelayTooLong { .. }) => Next::Model,
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

/// A guess at a request's input tokens, without asking the server: the larger of its words
/// and its characters / 4.
fn estimate(request: &GenerateContentRequest) -> u32 {
    let (chars, words) = text_size(request);
    u32::try_from(words.max(chars.div_ceil(4)))
        .unwrap_or(u32::MAX)
        .max(1)
}

impl Client {
    /// The first usable key of `project`; when none is, why (the error that put its first key
    /// out of the pool). Without key rotation, the pool's first key, always.
    fn usable_key(&self, project: &Project) -> Result<(usize, ApiKey), Error> {
        if !self.inner.policy.key_rotation {
            return Ok((0, self.inner.keys[0].clone()));
        }
        let mut why = None;
        for &k in &project.keys {
            match &*lock(&self.inner.dead[k]) {
                None => return Ok((k, self.inner.keys[k].clone())),
                Some(e) => {
                    why.get_or_insert_with(|| e.clone());
                }
            }
        }
        Err(why.unwrap_or_else(|| Error::configuration("a project of the pool has no key")))
    }

    /// The projects a call may use: every one, or only the first key's without key rotation.
    fn projects(&self) -> &[Project] {
        let all = &self.inner.projects;
        if self.inner.policy.key_rotation {
            all
        } else {
            &all[..1]
        }
    }

    /// Where each project's quotas of `model` live in Redis, when the client shares them.
    #[cfg(feature = "redis")]
    fn shared_setup(&self, model: &str) -> super::quota::SharedSetup {
        let shared = self.inner.shared.as_ref()?;
        let places = self
            .inner
            .projects
            .iter()
            .map(|p| {
                let first = p.keys.first().and_then(|&i| self.inner.keys.get(i));
                let fallback = ApiKey::new("");
                let key = first.unwrap_or(&fallback);
                shared.place(p.declared.then_some(p.name.as_str()), key, model)
            })
            .collect();
        Some((Arc::clone(shared), places))
    }

    /// Without the `redis` feature there is nothing to share.
    #[cfg(not(feature = "redis"))]
    fn shared_setup(&self, _model: &str) -> super::quota::SharedSetup {
        None
    }

    pub(crate) fn model_entry(&self, model: &str) -> Result<Arc<ModelEntry>, Error> {
        let mut entries = lock(&self.inner.models.entries);
        if let Some(entry) = entries.get(model) {
            return Ok(Arc::clone(entry));
        }
        let policy = &self.inner.policy;
        let entry = Arc::new(ModelEntry {
            policy: policy.build_for(model)?,
            quotas: ModelQuotas::new(QuotaSettings {
                model,
                projects: self.inner.projects.len(),
                limits: policy.model_limits(model),
                minute: policy.quota_minute,
                learn: policy.learn,
                refusals: policy.key_rotation,
                shared: self.shared_setup(model),
            })?,
            input_limit: Mutex::new(Lookup::Unknown),
            breaker: match policy.breaker_config() {
                Some(config) => Some(
                    SlidingWindowBreaker::new(config)
                        .map_err(|e| Error::configuration(format!("client policy breaker: {e}")))?,
                ),
                None => None,
            },
            counters: ModelCounters::new(model),
            answered: std::sync::atomic::AtomicBool::new(false),
        });
        entries.insert(model.to_owned(), Arc::clone(&entry));
        Ok(entry)
    }

    /// Drops the entry of `model` (when it is still `entry`): a model the server does not serve
    /// and that never answered.
    fn forget_model(&self, model: &str, entry: &Arc<ModelEntry>) {
        let mut entries = lock(&self.inner.models.entries);
        if entries.get(model).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            entries.remove(model);
        }
    }

    /// The model's input token limit, from `models.get` (`None` when unknown). Known limits are
    /// kept; a look-up is marked as tried before it is sent, so that a failed, slow or cancelled
    /// one is not repeated for [`LOOKUP_RETRY`], whatever the number of calls meanwhile. The
    /// look-up is counted against `project`, whose key sends it.
    async fn input_limit(
        &self,
        key: &ApiKey,
        project: usize,
        model: &str,
        entry: &ModelEntry,
    ) -> Option<u32> {
        {
            let mut known = lock(&entry.input_limit);
            match *known {
                Lookup::Known(limit) => return limit,
                Lookup::Tried(at) if at.elapsed() < LOOKUP_RETRY => return None,
                _ => *known = Lookup::Tried(tokio::time::Instant::now()),
            }
        }
        let path = model_path(model).ok()?;
        entry.quotas.extra(project).await.ok()?;
        entry.counters.sent();
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
    /// and each request it sends is counted against the project like any other.
    async fn preflight(
        &self,
        key: &ApiKey,
        project: usize,
        model: &str,
        entry: &ModelEntry,
        request: &GenerateContentRequest,
    ) -> Result<u32, Error> {
        let (chars, _) = text_size(request);
        let estimate = estimate(request);
        if !self.inner.policy.preflight {
            return Ok(estimate);
        }
        let Some(limit) = self.input_limit(key, project, model, entry).await else {
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
        if entry.quotas.extra(project).await.is_err() {
            return Ok(estimate);
        }
        entry.counters.sent();
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

    /// Runs `op(key, model)` under the client policy, across projects, keys and the models of
    /// `chain` (`[""]` for calls about no model, such as listing models).
    #[cfg(test)]
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
        self.execute_noted(chain, request, Routing::default(), op)
            .await
    }

    /// [`execute_noted`](Client::execute_noted) for a call about no model, with the route it
    /// took (the project that answered, above all).
    pub(crate) async fn execute_routed<T, F, Fut>(&self, op: F) -> Result<(T, Route), Error>
    where
        F: Fn(ApiKey, String) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let note = RouteNote::default();
        let routing = Routing {
            note: Some(&note),
            ..Routing::default()
        };
        let value = self
            .execute_noted(&[String::new()], None, routing, op)
            .await?;
        Ok((value, note.take()))
    }

    /// The routed path itself: runs `op(key, model)` under the client policy, across projects,
    /// keys and the models of `chain` (`[""]` for calls about no model, such as listing
    /// models), with what [`Routing`] carries.
    pub(crate) async fn execute_noted<T, F, Fut>(
        &self,
        chain: &[String],
        request: Option<&GenerateContentRequest>,
        routing: Routing<'_>,
        op: F,
    ) -> Result<T, Error>
    where
        F: Fn(ApiKey, String) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut last: Option<Error> = None;
        for (position, model) in chain.iter().enumerate() {
            if position > 0 {
                tracing::info!(target: "steadfast_gemini", model = model.as_str(), reason = last.as_ref().map(|e| e.kind().name()), "falling back to the next model");
            }
            let entry = self.model_entry(model)?;
            // Counted once per model, by the first project that sends it, then kept across
            // projects and attempts.
            let counted: Mutex<Option<u32>> = Mutex::new(None);
            let result = entry
                .policy
                .call(|| {
                    let model = model.as_str();
                    let (op, entry, counted) = (&op, &entry, &counted);
                    async move {
                        // An open breaker refuses the attempt at once, before it takes a slot.
                        let held = match &entry.breaker {
                            Some(b) => Some(breaker::admit(b, model)?),
                            None => None,
                        };
                        let result = self
                            .attempt(model, entry, counted, request, routing, op)
                            .await;
                        if let Some(held) = held {
                            held.settle(breaker::outcome_of(&result));
                        }
                        result
                    }
                })
                .await;
            let error = match result {
                Ok(value) => return Ok(value),
                // Whatever the server echoed, none of the client's keys leaves in an error.
                Err(e) => e.redact_keys(&self.inner.keys),
            };
            if *error.kind() == ErrorKind::ModelNotFound
                && !entry.answered.load(std::sync::atomic::Ordering::Relaxed)
            {
                self.forget_model(model, &entry);
            }
            match next_after(&error) {
                Next::Projects if model_is_some(chain) && self.inner.policy.key_rotation => {
                    last = Some(error);
                }
                Next::Model if model_is_some(chain) => last = Some(error),
                _ => return Err(error),
            }
        }
        Err(last.unwrap_or_else(|| Error::configuration("the client has no API key")))
    }

    /// One attempt on `model`: pick the project with the most headroom (waiting for the
    /// earliest slot when none has room), then the pre-flight (inside the attempt: under its
    /// deadline and timeout, and counted against the same project), the tokens-per-minute slot,
    /// and the request. A refused key or project sends the request again through another one
    /// (see the module's table); anything else is the attempt's result.
    #[allow(clippy::too_many_arguments)]
    async fn attempt<T, F, Fut>(
        &self,
        model: &str,
        entry: &ModelEntry,
        counted: &Mutex<Option<u32>>,
        request: Option<&GenerateContentRequest>,
        routing: Routing<'_>,
        op: &F,
    ) -> Result<T, Error>
    where
        F: Fn(ApiKey, String) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let policy = &self.inner.policy;
        let projects = self.projects();
        let (tokens_given, note) = (routing.tokens, routing.note);
        // Projects not tried again in this attempt: those that refused it for the minute, and
        // every project but the one a pinned call must go through.
        let mut refused_here: Vec<usize> = match routing.project {
            None => Vec::new(),
            Some(label) => {
                let Some(pinned) = projects.iter().position(|p| p.name == label) else {
                    return Err(Error::configuration(format!(
                        "the call is pinned to the project `{label}`, which is not in the pool"
                    )));
                };
                (0..projects.len()).filter(|&i| i != pinned).collect()
            }
        };
        let mut after_429: Option<Error> = None;
        // Whether the next request is the same one again, through another key or project.
        let mut again = false;
        let guess = request.map(estimate);
        // Tokens given with a raw request are what it counts, as a pre-flight count would be.
        if request.is_none()
            && let Some(given) = tokens_given
        {
            lock(counted).get_or_insert(given);
        }
        // Between two asks of shared quotas whose Redis is unavailable: 100 ms, doubling to 1 s.
        let mut unavailable_pause = std::time::Duration::from_millis(100);
        let mut unavailable_since: Option<tokio::time::Instant> = None;
        loop {
            let tokens = (*lock(counted)).or(guess).unwrap_or(1);
            let pick = entry
                .quotas
                .pick(projects, |p| self.usable_key(p), &refused_here, tokens);
            let (project, key_index, key, sent_at) = match pick {
                Pick::Go {
                    project,
                    key_index,
                    key,
                    sent_at,
                } => {
                    if again {
                        entry.counters.rerouted();
                    }
                    (project, key_index, key, sent_at)
                }
                // A per-minute refusal with no other project free: the attempt's result, so
                // that the policy in charge waits for its RetryInfo.
                Pick::Wait { .. } | Pick::Closed(_) if after_429.is_some() => {
                    return Err(after_429
                        .take()
                        .unwrap_or_else(|| Error::configuration("the client has no API key")));
                }
                // The server's own delay, in another form: no longer than `max_hint`, like a
                // RetryInfo.
                Pick::Wait { wait, server: true } if wait > policy.hint_cap() => {
                    return Err(Error::from(steadfast::Error::RetryDelayTooLong {
                        requested: wait,
                        allowed: policy.hint_cap(),
                        retry_at: std::time::SystemTime::now() + wait,
                        status: Some(429),
                    }));
                }
                Pick::Wait { wait, .. }
                    if routing
                        .until
                        .is_some_and(|until| tokio::time::Instant::now() + wait > until) =>
                {
                    let allowed = routing
                        .until
                        .map(|until| until.saturating_duration_since(tokio::time::Instant::now()))
                        .unwrap_or_default();
                    tracing::debug!(target: "steadfast_gemini", model, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "no project has a slot before the call's deadline");
                    return Err(Error::from(steadfast::Error::RetryDelayTooLong {
                        requested: wait,
                        allowed,
                        retry_at: std::time::SystemTime::now() + wait,
                        status: Some(429),
                    }));
                }
                Pick::Wait { wait, .. } => {
                    tracing::debug!(target: "steadfast_gemini", model, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "no project has room: waiting for the earliest slot");
                    let _measured = QuotaWait {
                        counters: &entry.counters,
                        since: tokio::time::Instant::now(),
                    };
                    let slept = tokio::time::Instant::now();
                    tokio::time::sleep(wait).await;
                    if let Some(note) = note {
                        note.waited(slept.elapsed());
                    }
                    continue;
                }
                Pick::Closed(e) => return Err(e),
            };
            let member = match entry
                .quotas
                .admit_shared(&projects[project], project, sent_at, tokens)
                .await
            {
                SharedStep::Go(member) => member,
                SharedStep::Again => continue,
                SharedStep::Unavailable { max_wait } => {
                    let since = *unavailable_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= max_wait {
                        return Err(Error::from(steadfast::Error::LimiterUnavailable));
                    }
                    tokio::time::sleep(unavailable_pause).await;
                    if let Some(note) = note {
                        note.waited(unavailable_pause);
                    }
                    unavailable_pause =
                        (unavailable_pause * 2).min(std::time::Duration::from_secs(1));
                    continue;
                }
                SharedStep::Fail(e) => return Err(e),
            };
            let result = self
                .send_through(
                    project,
                    key.clone(),
                    model,
                    entry,
                    counted,
                    request,
                    note,
                    op,
                )
                .await;
            entry
                .quotas
                .settle(&projects[project], project, &key, sent_at, &result);
            entry
                .quotas
                .settle_shared(project, member, tokens, result.as_ref().err())
                .await;
            entry.counters.outcome(&result);
            let error = match result {
                Ok(value) => {
                    entry
                        .answered
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    if let Some(note) = note {
                        note.answered(&projects[project].name, &key, model);
                    }
                    tracing::debug!(target: "steadfast_gemini", key = key.label(), project = projects[project].name.as_str(), model, "answered");
                    return Ok(value);
                }
                Err(e) => e,
            };
            if !policy.key_rotation {
                return Err(error);
            }
            let name = projects[project].name.as_str();
            again = true;
            match error.kind() {
                ErrorKind::InvalidApiKey | ErrorKind::KeyRejected => {
                    *lock(&self.inner.dead[key_index]) = Some(error.clone());
                    tracing::warn!(target: "steadfast_gemini", key = key.label(), project = name, reason = error.kind().name(), "skipping key");
                }
                ErrorKind::RateLimited {
                    scope: QuotaScope::PerMinute | QuotaScope::Unknown,
                    ..
                } if projects.len() > 1 => {
                    tracing::debug!(target: "steadfast_gemini", key = key.label(), project = name, model, "project refused for the minute: trying another with room");
                    refused_here.push(project);
                    after_429 = Some(error);
                }
                ErrorKind::RateLimited {
                    scope: QuotaScope::PerDay,
                    ..
                }
                | ErrorKind::NoQuota => {
                    tracing::warn!(target: "steadfast_gemini", key = key.label(), project = name, model, reason = error.kind().name(), "skipping project for this model");
                }
                _ => return Err(error),
            }
        }
    }

    /// Sends one request through `project` with `key`: the pre-flight, the tokens-per-minute
    /// slot, then `op`.
    #[allow(clippy::too_many_arguments)]
    async fn send_through<T, F, Fut>(
        &self,
        project: usize,
        key: ApiKey,
        model: &str,
        entry: &ModelEntry,
        counted: &Mutex<Option<u32>>,
        request: Option<&GenerateContentRequest>,
        note: Option<&RouteNote>,
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
                // Boxed, as the request below: see there.
                let tokens = Box::pin(self.preflight(&key, project, model, entry, r)).await?;
                *lock(counted) = Some(tokens);
                tokens
            }
            (None, None) => 1,
        };
        let slot = tokio::time::Instant::now();
        entry.quotas.tokens(project, tokens).await?;
        if let Some(note) = note {
            note.waited(slot.elapsed());
        }
        entry.counters.sent();
        if let Some(note) = note {
            note.sent();
        }
        // Boxed: the request's future (reqwest's, the timeouts, reading the answer) is the
        // largest part of every future above it, and each level copied it whole when it was
        // created. One allocation instead: `send_raw`'s future went from 8 to 4 KB, and
        // memmove from 6 to 5 % of the relay's samples (BENCHMARKS.md, section 8).
        let result = Box::pin(op(key, model.to_owned())).await;
        if let Some(note) = note {
            note.returned();
        }
        result
    }
}

fn model_is_some(chain: &[String]) -> bool {
    chain.first().is_some_and(|m| !m.is_empty())
}

/// Puts a wait for a project's quota into the statistics when it ends, or when its call is
/// dropped during it: the time actually waited, not the time expected.
struct QuotaWait<'a> {
    counters: &'a super::stats::ModelCounters,
    since: tokio::time::Instant,
}

impl Drop for QuotaWait<'_> {
    fn drop(&mut self) {
        self.counters.waited(self.since.elapsed());
    }
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
            let unbroken = ClientPolicy::default()
                .breaker(None)
                .retry_with(|r| r.budget(None));
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
