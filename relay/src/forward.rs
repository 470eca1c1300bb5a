//! Forwarding: every request that is not the relay's own (`/healthz`) goes through the client's
//! routed path ([`Client::send_raw`]) as bytes, after its relay key is checked.
//!
//! The path says what the request is: `{version}/models/{model}:{method}` is about a model (the
//! pool counts it against that model, and the fallback chain applies), except a batch's
//! creation (`batchGenerateContent`, `asyncBatchEmbedContent`: queued, not answered, so sent
//! as a path); `{version}/models/{model}` reads one model (no fallback);
//! `v1beta/openai/{route}` is an OpenAI-compatible call, whose model is the body's; anything
//! else (`files`, `cachedContents`, `batches`, a route no version of ours knows) is forwarded as
//! it is. The body is passed on as bytes, never parsed beyond what the pool and the relay keys
//! need (the text of a prompt, for its tokens per minute; an OpenAI body's `model` and
//! `stream`; a limited key's batch, for its requests and models; the names of files and caches,
//! when the bytes mention one), and the answer is passed back as bytes, with these
//! headers added for people debugging: `x-steadfast-model` (the model that answered),
//! `x-steadfast-project` (the project's label, never a key), `x-steadfast-attempts` (requests
//! sent upstream), `x-steadfast-overhead-ms` (the relay's own time) and
//! `x-steadfast-request-id`.

use crate::auth::{Credential, Over};
use crate::error::{Limited, Refusal};
use crate::frame::Framer;
use crate::record::{ErrorNote, Note, StreamFailure};
use crate::{Live, Shared, owners};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use steadfast_gemini::RawRequest;
use tracing::Instrument;

/// What a request path names.
enum Target<'a> {
    /// `{version}/models/{model}:{method}`.
    Call {
        version: &'a str,
        model: &'a str,
        method: &'a str,
    },
    /// `{version}/models/{model}`.
    Model { version: &'a str, model: &'a str },
    /// `v1beta/openai/{route}`: an OpenAI-compatible route, whose model is in the body.
    OpenAi(&'a str),
    /// Anything else.
    Path(&'a str),
}

fn target(path: &str) -> Target<'_> {
    if let Some(route) = path.strip_prefix(OPENAI) {
        return Target::OpenAi(route);
    }
    let mut parts = path.splitn(3, '/');
    let (Some(version), Some("models"), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return Target::Path(path);
    };
    if !version.starts_with('v') || rest.contains('/') {
        return Target::Path(path);
    }
    match rest.split_once(':') {
        Some((model, method)) => Target::Call {
            version,
            model,
            method,
        },
        None => Target::Model {
            version,
            model: rest,
        },
    }
}

/// Where Gemini's OpenAI-compatible routes are.
const OPENAI: &str = "v1beta/openai/";

/// The relay's own headers on an answer (names checked once, at compile time).
const MODEL_HEADER: http::HeaderName = http::HeaderName::from_static("x-steadfast-model");
const PROJECT_HEADER: http::HeaderName = http::HeaderName::from_static("x-steadfast-project");
const ATTEMPTS_HEADER: http::HeaderName = http::HeaderName::from_static("x-steadfast-attempts");
const OVERHEAD_HEADER: http::HeaderName = http::HeaderName::from_static("x-steadfast-overhead-ms");

/// Whether the relay knows the route: models, files (uploads and downloads included), cached
/// contents, and the OpenAI-compatible `chat/completions`, `embeddings` and `models`. Any other
/// is forwarded only when the configuration allows it.
fn known(path: &str) -> bool {
    if let Some(route) = path.strip_prefix(OPENAI) {
        // `models/{id}`, where the id may be the listing's own `models/{name}`.
        return matches!(route, "chat/completions" | "embeddings" | "models")
            || route.strip_prefix("models/").is_some_and(|m| {
                let m = m.strip_prefix("models/").unwrap_or(m);
                !m.is_empty() && !m.contains('/')
            });
    }
    let parts: Vec<&str> = path.splitn(4, '/').collect();
    match parts.as_slice() {
        [version, collection, ..] if version.starts_with('v') => {
            matches!(
                *collection,
                "models" | "files" | "cachedContents" | "batches"
            )
        }
        ["upload" | "download", version, "files", ..] => version.starts_with('v'),
        _ => false,
    }
}

/// The handler of every forwarded request: numbers it, logs under its number, and says the
/// number in `x-steadfast-request-id`.
pub(crate) async fn forward(State(live): State<Arc<Live>>, request: Request) -> Response {
    let id = live.next_id.fetch_add(1, Ordering::Relaxed);
    let shared = live.current();
    // At `debug`, every line of the request (the client's too) is under its id; the relay's
    // own lines about it carry the id themselves. An `info` span would cost every request a
    // span in the registry and an enter per poll (a tenth of the throughput, measured).
    let span = tracing::debug_span!(target: "steadfast_relay", "request", id);
    let mut note = Note::new(
        id,
        request.uri().path().trim_start_matches('/'),
        shared.log.clone(),
    );
    let openai = request
        .uri()
        .path()
        .trim_start_matches('/')
        .starts_with(OPENAI);
    // A file's bytes (a batch's output, say) are not answers: their usage is not counted.
    let answers = !request.uri().path().ends_with(":download");
    let mut response = handle(&shared, request, &mut note).instrument(span).await;
    if openai {
        crate::error::openai_shape(&mut response);
    }
    response
        .headers_mut()
        .insert("x-steadfast-request-id", http::HeaderValue::from(id));
    let error = response.extensions().get::<ErrorNote>().cloned();
    note.head(response.status().as_u16(), error.as_ref());
    let failure = response.extensions().get::<StreamFailure>().cloned();
    match axum::body::HttpBody::size_hint(response.body()).exact() {
        // The whole answer is in memory: it is over as far as the relay is concerned.
        Some(n) => {
            note.finish(n, None);
            response
        }
        None => {
            let (parts, body) = response.into_parts();
            let counted = Counted {
                inner: body.into_data_stream(),
                note: Some(note),
                bytes: 0,
                failure,
                answers,
            };
            Response::from_parts(parts, Body::from_stream(counted))
        }
    }
}

/// A streamed answer, counted as it goes: its bytes, and the tokens of its last
/// `usageMetadata`; the note is finished when the stream ends or the client leaves.
struct Counted<S> {
    inner: S,
    note: Option<Note>,
    bytes: u64,
    failure: Option<StreamFailure>,
    /// Whether the bytes are answers, whose usage is counted (not a downloaded file).
    answers: bool,
}

impl<S> futures_util::Stream for Counted<S>
where
    S: futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(chunk))) => {
                self.bytes += chunk.len() as u64;
                if self.answers
                    && let Some((prompt, answer)) = crate::record::usage(chunk)
                    && let Some(note) = self.note.as_mut()
                {
                    note.row.prompt_tokens = prompt.or(note.row.prompt_tokens);
                    note.row.answer_tokens = answer.or(note.row.answer_tokens);
                }
            }
            std::task::Poll::Ready(_) => {
                if let Some(note) = self.note.take() {
                    note.finish(self.bytes, self.failure.as_ref());
                }
            }
            std::task::Poll::Pending => {}
        }
        polled
    }
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        if let Some(note) = self.note.take() {
            note.finish(self.bytes, self.failure.as_ref());
        }
    }
}

async fn handle(shared: &Shared, request: Request, note: &mut Note) -> Response {
    let (parts, body) = request.into_parts();
    let query = parts.uri.query();
    let path = parts.uri.path().trim_start_matches('/');
    let who = match shared.keys.identify(&parts.headers, query) {
        Credential::Known(name) => name,
        // The bytes of an upload started through the relay come without a key (its
        // `upload_id`, which only the client that started it knows, authorises them).
        Credential::Missing if is_known_session(shared, path, query).await => {
            crate::auth::RelayKey::upload_session()
        }
        // The OpenAI SDKs send the key as `Authorization: Bearer`; those routes answer a
        // request without one with a 401, and a header of another scheme with a 400.
        Credential::Missing if path.starts_with(OPENAI) => {
            return Refusal::openai_no_key(parts.headers.contains_key(http::header::AUTHORIZATION))
                .into_response();
        }
        Credential::Missing => return Refusal::no_key().into_response(),
        Credential::Unknown => return Refusal::unknown_key().into_response(),
    };
    if path.split('/').any(str::is_empty) {
        return Refusal::new(404, "NOT_FOUND", format!("`/{path}` has an empty segment"))
            .into_response();
    }
    // A key limited to some models may use only the routes the relay reads (a route it does
    // not know could name a model the relay cannot see).
    let unknown = !known(path);
    if unknown && (!shared.config.forward_unknown_routes || !who.models.is_empty()) {
        return Refusal::new(
            404,
            "NOT_FOUND",
            format!(
                "the relay does not forward `/{path}` for this key (forward_unknown_routes is off, or the key is limited to some models)"
            ),
        )
        .into_response();
    }
    note.row.relay_key = who.name.clone();
    // A key limited to some models sees only the batches it queued (another key's could hold
    // answers of models it may not use).
    if !who.models.is_empty()
        && let Err(refusal) = batch_access(shared, &who, path, query).await
    {
        return refusal.into_response();
    }
    let target = target(path);
    let model: Option<std::borrow::Cow<'_, str>> = match target {
        Target::Call { model, .. } | Target::Model { model, .. } => Some(model.into()),
        Target::OpenAi(route) => route.strip_prefix("models/").map(decoded_slashes),
        Target::Path(_) => None,
    };
    note.row.model_asked = model
        .as_deref()
        .map(|m| m.trim_start_matches("models/").to_owned());
    if let Some(model) = model.as_deref()
        && !who.allows(model)
    {
        return model_refused(&who, model);
    }
    // The request's deadline: the relay's, or shorter when the client asks (`X-Server-Timeout`,
    // in seconds, as Google's APIs read it). It bounds everything before the answer starts:
    // waits for a slot (a relay key's shared limit included), retries, fallback. After that, a
    // stream lasts as long as it needs.
    let deadline = parts
        .headers
        .get("x-server-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        .map_or(shared.config.deadline, |asked| {
            asked.min(shared.config.deadline)
        });
    let now = tokio::time::Instant::now();
    let until = now.checked_add(deadline).unwrap_or(now);
    // A batch is charged its requests once its body is read; anything else one request now.
    let queues_batch = matches!(
        target,
        Target::Call {
            method: "batchGenerateContent" | "asyncBatchEmbedContent",
            ..
        }
    );
    if !queues_batch
        && let Some(limit) = &who.requests
        && let Err(over) = limit.take(1, until).await
    {
        return refuse_over(&who, Limited::Requests, over);
    }
    // A seat from here to the answer's start: a body still arriving counts, so that clients
    // trickling bodies cannot hold more than the room.
    let Some(seat) = shared.room.enter(&who.name) else {
        tracing::info!(target: "steadfast_relay", request = note.row.request_id, relay_key = who.name.as_str(), "the waiting room is full for this relay key");
        return Refusal::room_full().into_response();
    };
    let read = read_body(
        body,
        &parts.headers,
        shared.config.max_body_bytes,
        shared.config.idle_timeout,
    );
    let body = match tokio::time::timeout_at(until, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(_) => {
            return Refusal::new(
                408,
                "DEADLINE_EXCEEDED",
                format!(
                    "the request body did not arrive within the request's deadline of {deadline:?}"
                ),
            )
            .into_response();
        }
    };
    note.row.bytes_in = body.len() as u64;
    let batch = match target {
        Target::Call {
            method: "batchGenerateContent" | "asyncBatchEmbedContent",
            model,
            ..
        } => match batch_charge(&who, model, &body) {
            Ok(charge) => Some(charge),
            Err(refusal) => return refusal.into_response(),
        },
        _ => None,
    };
    // The relay's own time runs from here (the request received) to the answer's head, less
    // the upstream's time.
    let received = std::time::Instant::now();
    let method = parts.method.clone();
    let streaming = matches!(
        target,
        Target::Call {
            method: "streamGenerateContent",
            ..
        }
    );
    // An OpenAI-compatible request names its model in its body: only that field (and
    // `stream`) is read, here, before the body moves.
    let openai = match target {
        Target::OpenAi(route @ ("chat/completions" | "embeddings"))
            if method == http::Method::POST =>
        {
            match RawRequest::openai(method.clone(), route, body.clone()) {
                Ok(r) => match r.model_name() {
                    Some(_) => Some(r),
                    None => {
                        return Refusal::new(
                            400,
                            "INVALID_ARGUMENT",
                            "the body's `model` must be a model name: letters, digits, '-', '.' and '_', up to 200 characters (the body must be a JSON object)",
                        )
                        .into_response();
                    }
                },
                Err(e) => return Refusal::new(404, "NOT_FOUND", e.to_string()).into_response(),
            }
        }
        _ => None,
    };
    if let Some(model) = openai.as_ref().and_then(RawRequest::model_name) {
        note.row.model_asked = Some(model.to_owned());
        if !who.allows(model) {
            return model_refused(&who, model);
        }
    }
    // A file's bytes (a batch's output, say) pass through as they come, never held whole.
    let download = method == http::Method::GET
        && matches!(target, Target::Path(p) if p.ends_with(":download"));
    let streaming = streaming || download || openai.as_ref().is_some_and(RawRequest::is_streaming);
    let built = match target {
        // A batch is queued, not answered: it is not counted against the model's per-minute
        // quota, and no fallback model takes it (as the client's own `create_batch` sends it).
        Target::Call {
            method: "batchGenerateContent" | "asyncBatchEmbedContent",
            ..
        } => RawRequest::path(method.clone(), path),
        Target::Call {
            version,
            model,
            method: call,
        } => RawRequest::model(method.clone(), model, &format!(":{call}"), Bytes::new()).map(|r| {
            // Generation only falls back (the client's default), and a key limited to some
            // models is served by those only.
            let generation = matches!(call, "generateContent" | "streamGenerateContent");
            r.version(version)
                .streaming(streaming)
                .fallback(generation && (who.models.is_empty() || fallback_allowed(shared, &who)))
        }),
        Target::Model { version, model } => {
            RawRequest::model(method.clone(), model, "", Bytes::new())
                .map(|r| r.version(version).fallback(false))
        }
        Target::OpenAi(route) => openai
            .map_or_else(
                // The OpenAI SDKs send the listing's `models/…` ids with the slash encoded:
                // sent on as a path segment (which the path's own checks then read).
                || {
                    let route = match route.strip_prefix("models/") {
                        Some(id) => format!("models/{}", decoded_slashes(id)),
                        None => route.to_owned(),
                    };
                    RawRequest::openai(method.clone(), &route, Bytes::new())
                },
                Ok,
            )
            .map(|r| {
                let chat = route == "chat/completions";
                r.fallback(chat && (who.models.is_empty() || fallback_allowed(shared, &who)))
            }),
        Target::Path(path) => RawRequest::path(method.clone(), path),
    };
    let mut raw = match built {
        Ok(raw) => raw,
        Err(e) => {
            return Refusal::new(404, "NOT_FOUND", e.to_string()).into_response();
        }
    };
    raw = raw.deadline(deadline);
    if download {
        raw = raw.streaming(true);
    }
    if let Some(query) = query {
        raw = raw.query(query);
    }
    // Objects the request names: in its path, and (below) in its body.
    let mut named: Vec<String> = owners::named_in_path(path, query).into_iter().collect();
    let body_read = body.clone();
    if !body.is_empty() {
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        raw = raw.body(content_type, body);
    }
    for (name, value) in &parts.headers {
        raw = raw.header(name.clone(), value.clone());
    }
    let Some((mut raw, in_body)) = body_facts(raw, body_read).await else {
        return Refusal::new(500, "INTERNAL", "the relay could not read the request body")
            .into_response();
    };
    named.extend(in_body);
    // A batch's requests count for a relay key as its requests, their text as its tokens.
    let mut batch_tokens = None;
    if let Some(charge) = batch {
        if let Some(limit) = &who.requests
            && let Err(over) = limit.take(charge.requests, until).await
        {
            return refuse_over(&who, Limited::Batch(charge.requests), over);
        }
        batch_tokens = charge.tokens;
    }
    if let Some(limit) = &who.tokens
        && let Some(tokens) = batch_tokens.or_else(|| raw.estimated_tokens())
        && let Err(over) = limit.take(tokens, until).await
    {
        return refuse_over(&who, Limited::Tokens, over);
    }
    // An object lives in the project that created it: the request goes through that one.
    if named.len() > MAX_NAMED {
        return Refusal::new(
            400,
            "INVALID_ARGUMENT",
            format!(
                "the request names {} files and cached contents; the relay routes at most {MAX_NAMED}",
                named.len()
            ),
        )
        .into_response();
    }
    let lookup = async {
        let mut found: Vec<String> = Vec::new();
        for name in &named {
            if let Some(project) = shared.owners.owner(name).await
                && !found.contains(&project)
            {
                found.push(project);
            }
        }
        found
    };
    let Ok(owners_found) = tokio::time::timeout_at(until, lookup).await else {
        return Refusal::new(
            504,
            "DEADLINE_EXCEEDED",
            format!("no answer within the request's deadline of {deadline:?}"),
        )
        .into_response();
    };
    let pinned = match owners_found.as_slice() {
        [project] => Some(project.clone()),
        _ => None,
    };
    match owners_found.as_slice() {
        [] => {}
        [project] => raw = raw.project(project.clone()),
        _ => {
            return Refusal::new(
                400,
                "INVALID_ARGUMENT",
                format!(
                    "the request names files or cached contents of different projects ({}); one request can use only one project's",
                    owners_found.join(", ")
                ),
            )
            .into_response();
        }
    }
    let sse = raw.asks_for_sse();
    let sent = match tokio::time::timeout_at(until, shared.client.send_raw(raw)).await {
        Ok(sent) => sent,
        Err(_) => {
            return Refusal::new(
                504,
                "DEADLINE_EXCEEDED",
                format!("no answer within the request's deadline of {deadline:?}"),
            )
            .into_response();
        }
    };
    drop(seat);
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            let keys_refused = matches!(
                e.kind(),
                steadfast_gemini::ErrorKind::InvalidApiKey
                    | steadfast_gemini::ErrorKind::KeyRejected
            );
            // Once a minute at most: every request says the same while the keys stay refused.
            if keys_refused && once_a_minute(&KEYS_REFUSED_SAID) {
                tracing::warn!(target: "steadfast_relay", request = note.row.request_id, reason = e.kind().name(), "the upstream refused the relay's keys: replace them in the configuration");
            } else if !keys_refused {
                tracing::info!(target: "steadfast_relay", request = note.row.request_id, relay_key = who.name.as_str(), reason = e.kind().name(), "refused");
            }
            return Refusal::upstream_pinned(&e, pinned.as_deref()).into_response();
        }
    };
    let route = answer.route.clone();
    shared.served.insert(&route.model);
    note.row.attempts = route.attempts;
    note.row.project = Some(route.project.clone()).filter(|p| !p.is_empty());
    note.row.model_served = Some(route.model.clone()).filter(|m| !m.is_empty());
    tracing::debug!(target: "steadfast_relay", relay_key = who.name.as_str(), model = route.model.as_str(), project = route.project.as_str(), attempts = route.attempts, "forwarded");
    let status = answer.status;
    let mut headers = answer.headers.clone();
    let failure = StreamFailure::default();
    let body = if download {
        bytes_body(answer.into_body(), failure.clone())
    } else if streaming {
        let openai = matches!(target, Target::OpenAi(_));
        stream_body(answer.into_body(), sse, openai, failure.clone())
    } else {
        // Read already (a non-streaming answer is read whole inside the attempt).
        let bytes = match answer.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return Refusal::upstream(&e).into_response(),
        };
        // Objects created here (files, caches, batches), and a batch's output file once an
        // answer about the batch names it, live in the project that answered.
        let creates = method == http::Method::POST
            && matches!(
                target,
                Target::Path(_)
                    | Target::Call {
                        method: "batchGenerateContent" | "asyncBatchEmbedContent",
                        ..
                    }
            );
        let batch = owners::named_in_path(path, query).filter(|n| n.starts_with("batches/"));
        if (creates || batch.is_some()) && !route.project.is_empty() {
            // Who queued a batch, and so whose its output file is.
            let creator = match &batch {
                Some(batch) => shared.owners.owner(&format!("creator:{batch}")).await,
                None => Some(who.name.clone()),
            };
            for name in owners::created(&headers, Some(&bytes)) {
                let batch_or_output = name.starts_with("batches/") || batch.is_some();
                if batch_or_output && let Some(creator) = &creator {
                    shared.owners.pin(&format!("creator:{name}"), creator).await;
                }
                shared.owners.pin(&name, &route.project).await;
            }
        }
        if method == http::Method::DELETE
            && let Some(name) = owners::named_in_path(path, query)
        {
            shared.owners.forget(&name).await;
            shared.owners.forget(&format!("creator:{name}")).await;
        }
        // Tokens are read from the answers that report them, not from any body (a file's
        // bytes could say anything).
        if matches!(target, Target::Call { .. } | Target::OpenAi(_))
            && let Some((prompt, answer)) = crate::record::usage(&bytes)
        {
            note.row.prompt_tokens = prompt;
            note.row.answer_tokens = answer;
        }
        Body::from(bytes)
    };
    rewrite_upload_url(&mut headers, &parts.headers);
    // Waits for a slot are the quota's, not the relay's.
    let overhead = received
        .elapsed()
        .saturating_sub(route.upstream)
        .saturating_sub(route.waited);
    note.row.overhead_ms = Some(overhead.as_secs_f64() * 1000.0);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if streaming {
        response.extensions_mut().insert(failure);
    }
    let h = response.headers_mut();
    let micros = overhead.as_micros();
    let overhead_ms = format!("{}.{:03}", micros / 1000, micros % 1000);
    for (name, value) in [
        (MODEL_HEADER, route.model.as_str()),
        (PROJECT_HEADER, route.project.as_str()),
        (ATTEMPTS_HEADER, route.attempts.to_string().as_str()),
        (OVERHEAD_HEADER, overhead_ms.as_str()),
    ] {
        // A call about no model (a file, a batch) has no model to name; an upstream's own
        // header of that name (another relay's) is not passed on as if it were ours.
        match http::HeaderValue::from_str(value) {
            Ok(v) if !value.is_empty() => {
                h.insert(name, v);
            }
            _ => {
                h.remove(name);
            }
        }
    }
    response
}

/// A body from this size on is read on tokio's blocking threads (see [`body_facts`]).
const LARGE_BODY: usize = 1 << 20;

/// What a request's body says, read once: the objects it names, and its tokens (kept in the
/// raw request, so that the relay key's limit and the client's quota count the same number
/// without reading the body twice). A large body (a prompt of many megabytes, inline images) is
/// read on the blocking threads, where its JSON takes tens of milliseconds of CPU that the
/// relay's thread spends on every other request and stream meanwhile. `None` only when that
/// thread is lost (the runtime shutting down).
async fn body_facts(raw: RawRequest, body: Bytes) -> Option<(RawRequest, Vec<String>)> {
    let large = body.len() >= LARGE_BODY;
    let read = move || {
        let named = owners::named_in_body(&body);
        let raw = match raw.estimated_tokens() {
            Some(tokens) => raw.tokens(tokens),
            None => raw,
        };
        (raw, named)
    };
    if !large {
        return Some(read());
    }
    tokio::task::spawn_blocking(read).await.ok()
}

/// Reads a request body of at most `max` bytes (a larger `Content-Length` is refused before
/// reading), each part arriving within `idle` of the last: a client that stops sending its
/// body gets a 408 instead of holding its connection and a place for ever.
async fn read_body(
    body: Body,
    headers: &http::HeaderMap,
    max: usize,
    idle: std::time::Duration,
) -> Result<Bytes, Refusal> {
    let too_large = || {
        Refusal::new(
            413,
            "INVALID_ARGUMENT",
            format!("the request body is larger than the relay accepts ({max} bytes)"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut first: Option<Bytes> = None;
    let mut more: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                return Err(Refusal::new(
                    408,
                    "DEADLINE_EXCEEDED",
                    format!("the request body stopped arriving for {idle:?} (idle_timeout)"),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(Refusal::new(
                    400,
                    "INVALID_ARGUMENT",
                    "the request body could not be read",
                ));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let held = first.as_ref().map_or(0, Bytes::len) + more.len();
        if held + chunk.len() > max {
            return Err(too_large());
        }
        match &first {
            None if more.is_empty() => first = Some(chunk),
            _ => {
                if let Some(f) = first.take() {
                    more.extend_from_slice(&f);
                }
                more.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(more)))
}

/// Whether `who`, a key limited to some models, may use this batch route: not the listing
/// (it would show other keys' batches), and only the batches it queued itself and their
/// output files (another key's is answered as one that does not exist).
async fn batch_access(
    shared: &Shared,
    who: &crate::auth::RelayKey,
    path: &str,
    query: Option<&str>,
) -> Result<(), Refusal> {
    let parts: Vec<&str> = path.split('/').collect();
    if let [version, "batches"] = parts.as_slice()
        && version.starts_with('v')
    {
        return Err(Refusal::new(
            403,
            "PERMISSION_DENIED",
            format!(
                "the relay key `{}` is limited to some models and cannot list batches (other keys' would be listed)",
                who.name
            ),
        ));
    }
    let Some(name) = owners::named_in_path(path, query) else {
        return Ok(());
    };
    let creator = shared.owners.owner(&format!("creator:{name}")).await;
    match (name.starts_with("batches/"), creator) {
        (_, Some(creator)) if creator == who.name => Ok(()),
        // A file no batch wrote (an upload) is the project's, as before.
        (false, None) => Ok(()),
        _ => Err(Refusal::new(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
        )),
    }
}

/// An OpenAI model id with its slashes decoded (`models%2Fgemini-2.5-flash`, as the OpenAI SDKs
/// send the listing's ids).
fn decoded_slashes(id: &str) -> std::borrow::Cow<'_, str> {
    if id.contains("%2F") || id.contains("%2f") {
        id.replace("%2F", "/").replace("%2f", "/").into()
    } else {
        id.into()
    }
}

/// When the relay last said that the upstream refused its keys (seconds since the epoch).
static KEYS_REFUSED_SAID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether a minute has passed since `last` (and, if so, it is now).
fn once_a_minute(last: &std::sync::atomic::AtomicU64) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let before = last.load(Ordering::Relaxed);
    now.saturating_sub(before) >= 60
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// A relay key's refusal of a model it may not use.
fn model_refused(who: &crate::auth::RelayKey, model: &str) -> Response {
    Refusal::new(
        403,
        "PERMISSION_DENIED",
        format!(
            "the relay key `{}` may not use the model `{model}`",
            who.name
        ),
    )
    .into_response()
}

/// What a batch costs a relay key.
struct BatchCharge {
    /// Its requests (at least 1).
    requests: u32,
    /// The text of its requests, as the client estimates a prompt's tokens.
    tokens: Option<u32>,
}

/// What queuing the batch in `body` costs `who`, or why `who` may not queue it: a key with
/// limits or a model list cannot queue a batch from a file (the relay cannot see its requests),
/// nor one whose inlined requests name a model it may not use. A key with neither is charged
/// one request, like any call.
fn batch_charge(
    who: &crate::auth::RelayKey,
    model: &str,
    body: &Bytes,
) -> Result<BatchCharge, Box<Refusal>> {
    let limited = !who.models.is_empty() || who.requests.is_some() || who.tokens.is_some();
    if !limited {
        return Ok(BatchCharge {
            requests: 1,
            tokens: None,
        });
    }
    #[derive(serde::Deserialize)]
    struct Body {
        batch: Batch,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Batch {
        #[serde(alias = "input_config")]
        input_config: Input,
        #[serde(default)]
        model: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Input {
        #[serde(default, alias = "file_name")]
        file_name: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        requests: Option<Requests>,
    }
    #[derive(serde::Deserialize)]
    struct Requests {
        #[serde(default)]
        requests: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        request: Option<Named>,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(default)]
        model: Option<String>,
    }
    let refuse = |message: String| {
        Box::new(Refusal::new(403, "PERMISSION_DENIED", message).kind("relay_key_batch_refused"))
    };
    let parsed: Body = serde_json::from_slice(body).map_err(|_| {
        Box::new(Refusal::new(
            400,
            "INVALID_ARGUMENT",
            "the batch could not be read: the relay counts a limited relay key's batch by its requests",
        ))
    })?;
    if let Some(named) = parsed.batch.model.as_deref()
        && !who.allows(named)
    {
        return Err(refuse(format!(
            "the relay key `{}` may not use the model `{}` named in the batch",
            who.name,
            named.chars().take(100).collect::<String>()
        )));
    }
    let input = parsed.batch.input_config;
    if input.file_name.is_some() {
        return Err(refuse(format!(
            "the relay key `{}` has limits or a model list, and a batch from a file hides its requests from the relay: send them inlined",
            who.name
        )));
    }
    let entries = input.requests.map(|r| r.requests).unwrap_or_default();
    for named in entries
        .iter()
        .filter_map(|e| e.request.as_ref()?.model.as_deref())
    {
        if !who.allows(named) {
            return Err(refuse(format!(
                "the relay key `{}` may not use the model `{}` named in the batch",
                who.name,
                named.chars().take(100).collect::<String>()
            )));
        }
    }
    let tokens = RawRequest::model(http::Method::POST, model, ":generateContent", body.clone())
        .ok()
        .and_then(|r| r.estimated_tokens());
    Ok(BatchCharge {
        requests: u32::try_from(entries.len()).unwrap_or(u32::MAX).max(1),
        tokens,
    })
}

/// The most files and cached contents one request may name.
const MAX_NAMED: usize = 100;

/// Whether every fallback model of the configuration is one `who` may use.
fn fallback_allowed(shared: &Shared, who: &crate::auth::RelayKey) -> bool {
    shared.config.fallback.iter().all(|m| who.allows(m))
}

/// Whether the request is a resumable upload's session that was started through the relay.
async fn is_known_session(shared: &Shared, path: &str, query: Option<&str>) -> bool {
    match owners::named_in_path(path, query) {
        Some(name) if name.starts_with("upload/") => shared.owners.owner(&name).await.is_some(),
        _ => false,
    }
}

/// A refusal by a relay key's limiter.
fn refuse_over(who: &crate::auth::RelayKey, limited: Limited, over: Over) -> Response {
    match over {
        Over::Limit(retry_after) => Refusal::relay_key_limit(who, limited, retry_after),
        Over::Unavailable => Refusal::store_unavailable(),
    }
    .into_response()
}

/// A stream's body, passed on whole event by whole event ([`Framer`]): after the first chunk,
/// a failure becomes the in-stream error event the real API sends (an SSE `data:` event, or the
/// array's last element) after the last whole event, never a made-up ending.
fn stream_body(
    mut body: steadfast_gemini::RawBody,
    sse: bool,
    openai: bool,
    failure: StreamFailure,
) -> Body {
    let stream = async_stream(move |yield_| async move {
        let mut framer = if openai {
            Framer::openai()
        } else {
            Framer::new(sse)
        };
        while let Some(item) = body.next().await {
            let out = match item {
                Ok(bytes) => {
                    let out = framer.push(bytes);
                    // The upstream's own in-stream error event passes as it came; the log
                    // counts the request as failed by it.
                    if let Some(error) = error_event(&out) {
                        failure.set(Refusal::upstream(&error).note());
                    }
                    out
                }
                Err(e) => {
                    let refusal = Refusal::upstream(&e);
                    failure.set(refusal.note());
                    let last = framer.fail(&refusal.body().to_string());
                    if !last.is_empty() {
                        let _ = yield_.send(Ok(last)).await;
                    }
                    return;
                }
            };
            if !out.is_empty() && yield_.send(Ok(out)).await.is_err() {
                return;
            }
        }
        let rest = framer.finish();
        if !rest.is_empty() {
            let _ = yield_.send(Ok(rest)).await;
        }
    });
    Body::from_stream(stream)
}

/// A body of bytes with no events (a downloaded file), passed on as it comes: a failure after
/// its head aborts the answer (the client sees a body cut short, never one that looks whole).
fn bytes_body(body: steadfast_gemini::RawBody, failure: StreamFailure) -> Body {
    Body::from_stream(body.map(move |item| {
        item.map_err(|e| {
            failure.set(Refusal::upstream(&e).note());
            std::io::Error::other("the upstream failed while sending the file")
        })
    }))
}

/// The upstream's error in whole events just passed on (an SSE `data:` event, or an array
/// element, whose object is `{"error": …}`), read only when the bytes mention `"error"`.
fn error_event(events: &[u8]) -> Option<steadfast_gemini::Error> {
    const NEEDLE: &[u8] = b"\"error\"";
    if !events.windows(NEEDLE.len()).any(|w| w == NEEDLE) {
        return None;
    }
    let text = std::str::from_utf8(events).ok()?;
    let candidates = text
        .lines()
        .map(|l| l.strip_prefix("data:").unwrap_or(l).trim())
        .map(|l| {
            l.trim_start_matches([',', '['])
                .trim_end_matches([',', ']'])
                .trim()
        });
    candidates
        .filter(|c| c.starts_with("{\"error\""))
        .find_map(|c| {
            serde_json::from_str::<serde_json::Value>(c)
                .ok()
                .filter(|v| v.get("error").is_some())
                .map(|_| steadfast_gemini::Error::from_stream_event(c.as_bytes()))
        })
}

/// The upstream's resumable-upload URLs (`X-Goog-Upload-URL`, `X-Goog-Upload-Control-URL`)
/// point at the upstream: the client is to send the bytes to the relay instead, at the same
/// path and query, on the host it called (over HTTPS when a proxy in front says so with
/// `X-Forwarded-Proto`).
fn rewrite_upload_url(headers: &mut http::HeaderMap, request: &http::HeaderMap) {
    let Some(host) = request
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let scheme = match request
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    for name in ["x-goog-upload-url", "x-goog-upload-control-url"] {
        let Some(url) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let tail = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/");
        if let Ok(v) = http::HeaderValue::from_str(&format!("{scheme}://{host}{tail}")) {
            headers.insert(name, v);
        }
    }
}

/// A stream fed by a task through a bounded channel: dropping the stream (the client went
/// away) ends the task, which drops the upstream body, which cancels the upstream request.
fn async_stream<F, Fut>(
    produce: F,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(produce(tx));
    let guard = AbortOnDrop(task);
    futures_util::stream::poll_fn(move |cx| {
        let _keep = &guard;
        rx.poll_recv(cx)
    })
}

/// Aborts the producing task when the response body is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_as_the_api_writes_them() {
        assert!(matches!(
            target("v1beta/models/gemini-2.5-flash:generateContent"),
            Target::Call {
                version: "v1beta",
                model: "gemini-2.5-flash",
                method: "generateContent"
            }
        ));
        assert!(matches!(
            target("v1/models/gemini-2.5-pro"),
            Target::Model {
                version: "v1",
                model: "gemini-2.5-pro"
            }
        ));
        assert!(matches!(
            target("v1beta/models"),
            Target::Path("v1beta/models")
        ));
        assert!(matches!(target("v1beta/files/abc"), Target::Path(_)));
        assert!(matches!(target("upload/v1beta/files"), Target::Path(_)));
    }
}
