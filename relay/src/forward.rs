//! Forwarding: every request that is not the relay's own (`/healthz`) goes through the client's
//! routed path ([`Client::send_raw`]) as bytes, after its relay key is checked.
//!
//! The path says what the request is: `{version}/models/{model}:{method}` is about a model (the
//! pool counts it against that model, and the fallback chain applies), `{version}/models/{model}`
//! reads one model (no fallback), anything else (`files`, `cachedContents`, a route no version of
//! ours knows) is forwarded as it is. The body is passed on as bytes, never parsed beyond what
//! the pool needs (the text of a prompt, for its tokens per minute), and the answer is passed
//! back as bytes, with these headers added for people debugging: `x-steadfast-model` (the
//! model that answered), `x-steadfast-project` (the project's label, never a key) and
//! `x-steadfast-attempts` (requests sent upstream).

use crate::Shared;
use crate::auth::Credential;
use crate::error::Refusal;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use steadfast_gemini::RawRequest;

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
    /// Anything else.
    Path(&'a str),
}

fn target(path: &str) -> Target<'_> {
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

/// The handler of every forwarded request.
pub(crate) async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query = parts.uri.query();
    let who = match shared.keys.identify(&parts.headers, query) {
        Credential::Known(name) => name,
        Credential::Missing => return Refusal::no_key().into_response(),
        Credential::Unknown => return Refusal::unknown_key().into_response(),
    };
    let body = match axum::body::to_bytes(body, shared.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Refusal::new(
                413,
                "INVALID_ARGUMENT",
                format!(
                    "the request body is larger than the relay accepts ({} bytes)",
                    shared.max_body_bytes
                ),
            )
            .into_response();
        }
    };
    let path = parts.uri.path().trim_start_matches('/');
    let model = match target(path) {
        Target::Call { model, .. } | Target::Model { model, .. } => Some(model),
        Target::Path(_) => None,
    };
    if let Some(model) = model
        && !who.allows(model)
    {
        return Refusal::new(
            403,
            "PERMISSION_DENIED",
            format!(
                "the relay key `{}` may not use the model `{model}`",
                who.name
            ),
        )
        .into_response();
    }
    if let Some(limit) = &who.limit
        && let Err(denied) = limit.try_acquire(1)
    {
        return Refusal::relay_key_limit(&who, denied.retry_after()).into_response();
    }
    let method = parts.method.clone();
    let built = match target(path) {
        Target::Call {
            version,
            model,
            method: call,
        } => RawRequest::model(method, model, &format!(":{call}"), Bytes::new()).map(|r| {
            r.version(version)
                .streaming(call == "streamGenerateContent")
        }),
        Target::Model { version, model } => RawRequest::model(method, model, "", Bytes::new())
            .map(|r| r.version(version).fallback(false)),
        Target::Path(path) => RawRequest::path(method, path),
    };
    let mut raw = match built {
        Ok(raw) => raw,
        Err(e) => {
            return Refusal::new(404, "NOT_FOUND", e.to_string()).into_response();
        }
    };
    if let Some(query) = query {
        raw = raw.query(query);
    }
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
    let sse = query.is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
    // The request's deadline: the relay's, or shorter when the client asks (`X-Server-Timeout`,
    // in seconds, as Google's APIs read it). It bounds everything before the answer starts:
    // waits for a slot, retries, fallback. After that, a stream lasts as long as it needs.
    let deadline = parts
        .headers
        .get("x-server-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        .map_or(shared.deadline, |asked| asked.min(shared.deadline));
    let sent = match tokio::time::timeout(deadline, shared.client.send_raw(raw)).await {
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
    match sent {
        Ok(answer) => {
            let route = answer.route.clone();
            tracing::debug!(target: "steadfast_relay", relay_key = who.name.as_str(), model = route.model.as_str(), project = route.project.as_str(), attempts = route.attempts, "forwarded");
            let status = answer.status;
            let mut headers = answer.headers.clone();
            rewrite_upload_url(&mut headers, &parts.headers);
            let mut body = answer.into_body();
            // After the first chunk, a failure becomes the in-stream error event the real API
            // sends, never a made-up ending.
            let stream = async_stream(move |yield_| async move {
                while let Some(item) = body.next().await {
                    match item {
                        Ok(bytes) => {
                            if yield_.send(Ok(bytes)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let event = Refusal::upstream(&e).body().to_string();
                            let last = if sse {
                                Bytes::from(format!("data: {event}\r\n\r\n"))
                            } else {
                                Bytes::from(format!(",\r\n{event}]"))
                            };
                            let _ = yield_.send(Ok(last)).await;
                            return;
                        }
                    }
                }
            });
            let mut response = Response::new(Body::from_stream(stream));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            let h = response.headers_mut();
            for (name, value) in [
                ("x-steadfast-model", route.model.as_str()),
                ("x-steadfast-project", route.project.as_str()),
                ("x-steadfast-attempts", &route.attempts.to_string()),
            ] {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    h.insert(name, v);
                }
            }
            response
        }
        Err(e) => {
            tracing::info!(target: "steadfast_relay", relay_key = who.name.as_str(), reason = e.kind().name(), "refused");
            Refusal::upstream(&e).into_response()
        }
    }
}

/// The upstream's resumable-upload URL points at the upstream: the client is to send the bytes
/// to the relay instead, at the same path and query, on the host it called.
fn rewrite_upload_url(headers: &mut http::HeaderMap, request: &http::HeaderMap) {
    let Some(url) = headers
        .get("x-goog-upload-url")
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let Some(host) = request
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let tail = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    if let Ok(v) = http::HeaderValue::from_str(&format!("http://{host}{tail}")) {
        headers.insert("x-goog-upload-url", v);
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
