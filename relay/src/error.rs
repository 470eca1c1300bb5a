//! Answers the relay gives itself, in the real API's error shape (`{"error": {"code", "message",
//! "status", "details"}}`), so that every SDK reads them as it reads Gemini's: a missing or
//! unknown relay key, a body too large, a route the relay cannot forward, and an upstream
//! failure the client's routed path ended with (with `Retry-After` and a RetryInfo when a
//! retry would be allowed later, and the QuotaFailure that named the limit).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use steadfast::classify::Transport;
use steadfast_gemini::{Error, ErrorKind};

/// Which of a relay key's limits refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limited {
    /// Requests per minute or per day.
    Requests,
    /// Input tokens per minute.
    Tokens,
    /// Requests per minute or per day, for a batch of this many.
    Batch(u32),
}

/// An error answer of the relay.
#[derive(Debug)]
pub(crate) struct Refusal {
    code: u16,
    status: &'static str,
    message: String,
    details: Vec<Value>,
    retry_after: Option<std::time::Duration>,
    /// The name of what happened, for the request log and the metrics: the error kind's
    /// (`rate_limited_per_day`), or the relay's own (`relay_key_unknown`).
    kind: String,
    quota_id: Option<String>,
}

impl Refusal {
    pub(crate) fn new(code: u16, status: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            status,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            kind: status.to_ascii_lowercase(),
            quota_id: None,
        }
    }

    /// Names what happened, for the request log and the metrics.
    pub(crate) fn kind(mut self, kind: &str) -> Refusal {
        self.kind = kind.to_owned();
        self
    }

    /// A request without a relay key: the real API's answer to a request without a key.
    pub(crate) fn no_key() -> Refusal {
        Refusal::new(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        )
        .kind("relay_key_missing")
    }

    /// An OpenAI-compatible request without a relay key: 401 UNAUTHENTICATED, as those routes
    /// answer it (and the OpenAI SDKs raise `AuthenticationError`); with an `Authorization`
    /// header that is not `Bearer KEY`, their 400.
    pub(crate) fn openai_no_key(has_authorization: bool) -> Refusal {
        if has_authorization {
            return Refusal::new(400, "INVALID_ARGUMENT", "Invalid Authorization header.")
                .kind("relay_key_missing");
        }
        Refusal::new(
            401,
            "UNAUTHENTICATED",
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
        .kind("relay_key_missing")
    }

    /// A key that is not a relay key: the real API's answer to an invalid key.
    pub(crate) fn unknown_key() -> Refusal {
        let mut r = Refusal::new(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        )
        .kind("relay_key_unknown");
        r.details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}
        }));
        r
    }

    /// A relay key over its own limits: a 429 shaped like Gemini's, whose RetryInfo and
    /// `Retry-After` say when the key's next request is allowed, so that an SDK's own retry
    /// waits the right time, and whose QuotaFailure names the key's limit (`None`: the
    /// request alone is larger than the limit, which no wait cures).
    pub(crate) fn relay_key_limit(
        key: &crate::auth::RelayKey,
        limited: Limited,
        retry_after: Option<std::time::Duration>,
    ) -> Refusal {
        let mut r = Refusal::new(
            429,
            "RESOURCE_EXHAUSTED",
            match (limited, retry_after) {
                (Limited::Tokens, None) => format!(
                    "the request's input tokens are more than the relay key `{}` may use in a minute",
                    key.name
                ),
                (Limited::Batch(n), None) => format!(
                    "the batch's {n} requests are more than the relay key `{}` may send in a minute or a day: send fewer in a batch",
                    key.name
                ),
                _ => format!(
                    "the relay key `{}` is over its own limit; retry after the delay this answer gives",
                    key.name
                ),
            },
        );
        let limits = match limited {
            Limited::Requests | Limited::Batch(_) => vec![
                ("RelayKeyRequestsPerMinute", key.rpm),
                ("RelayKeyRequestsPerDay", key.rpd),
            ],
            Limited::Tokens => vec![("RelayKeyInputTokensPerMinute", key.tpm)],
        };
        let violations: Vec<Value> = limits
            .into_iter()
            .filter_map(|(id, value)| {
                value.map(|v| json!({"quotaId": id, "quotaValue": v.to_string(), "quotaDimensions": {"relay_key": key.name}}))
            })
            .collect();
        r.details.push(json!({
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": violations
        }));
        r.retry_after = retry_after;
        r.kind = "relay_key_over_limit".to_owned();
        r.quota_id = Some(
            match limited {
                Limited::Requests | Limited::Batch(_) => "RelayKeyRequests",
                Limited::Tokens => "RelayKeyInputTokensPerMinute",
            }
            .to_owned(),
        );
        r
    }

    /// The waiting room is full for this relay key: a 429 at once, to try again in a second.
    pub(crate) fn room_full() -> Refusal {
        let mut r = Refusal::new(
            429,
            "RESOURCE_EXHAUSTED",
            "the relay has as many requests waiting as it may hold (max_waiting); retry after the delay this answer gives",
        );
        r.retry_after = Some(std::time::Duration::from_secs(1));
        r.kind("waiting_room_full")
    }

    /// Redis, which the relay's shared limits need, cannot be reached.
    pub(crate) fn store_unavailable() -> Refusal {
        let mut r = Refusal::new(
            503,
            "UNAVAILABLE",
            "the relay cannot reach the Redis its shared limits are kept in",
        );
        r.retry_after = Some(std::time::Duration::from_secs(1));
        r.kind("redis_unavailable")
    }

    /// What the routed path ended with, as the client would have seen it from Google; but an
    /// upstream key the upstream refused is the relay's trouble, not the client's: a 503 that
    /// says so (never the API's "API key not valid", which a client would read as its relay
    /// key's fault).
    pub(crate) fn upstream(e: &Error) -> Refusal {
        Refusal::upstream_pinned(e, None)
    }

    /// [`Refusal::upstream`] for a call sent through one project only (`pinned`: its label),
    /// because the object it names lives there: a refused key is then that project's.
    pub(crate) fn upstream_pinned(e: &Error, pinned: Option<&str>) -> Refusal {
        if matches!(e.kind(), ErrorKind::InvalidApiKey | ErrorKind::KeyRejected) {
            let mut r = match pinned {
                // The object lives there only: waiting will not bring a key back.
                Some(project) => Refusal::new(
                    503,
                    "UNAVAILABLE",
                    format!(
                        "the upstream refused the keys of the relay's project `{project}`, which holds what this request names: the relay's operator must replace them"
                    ),
                ),
                None => {
                    let mut r = Refusal::new(
                        503,
                        "UNAVAILABLE",
                        "the relay has no upstream key that the upstream accepts (it refused every key of the relay's pool): the relay's operator must replace them",
                    );
                    r.retry_after = Some(std::time::Duration::from_secs(60));
                    r
                }
            };
            r.kind = "upstream_keys_rejected".to_owned();
            return r;
        }
        let (code, status) = match (e.code(), e.kind()) {
            // An answer that is no error of the API (a success too large or undecodable, a
            // redirect not followed) is a bad gateway, never a 2xx or 3xx without its body.
            (Some(code), _) if code < 400 => (502, "UNAVAILABLE"),
            (Some(code), _) => (code, status_name(code)),
            (None, ErrorKind::Transport(Transport::Timeout)) => (504, "DEADLINE_EXCEEDED"),
            (None, ErrorKind::Transport(_)) => (502, "UNAVAILABLE"),
            (None, ErrorKind::Undecodable) => (502, "UNAVAILABLE"),
            (None, ErrorKind::Configuration) => (400, "INVALID_ARGUMENT"),
            (None, ErrorKind::Policy(p)) => match p {
                steadfast::Error::RateLimited { .. }
                | steadfast::Error::RetryDelayTooLong { .. } => (429, "RESOURCE_EXHAUSTED"),
                steadfast::Error::LimiterUnavailable => (503, "UNAVAILABLE"),
                steadfast::Error::DeadlineExceeded { .. }
                | steadfast::Error::AttemptTimedOut { .. } => (504, "DEADLINE_EXCEEDED"),
                _ => (503, "UNAVAILABLE"),
            },
            (None, _) => (500, "INTERNAL"),
        };
        let upstream_status = e.status();
        let message = match (e.message(), e.code(), e.kind()) {
            (Some(message), _, _) => message.to_owned(),
            // The relay's own wording: the client's policy text would name what the relay did.
            (None, _, ErrorKind::Policy(steadfast::Error::RetryDelayTooLong { .. })) => {
                "the wait for this model (a quota slot, or the upstream's own retry delay) is longer than the request's deadline allows; retry after the delay this answer gives".to_owned()
            }
            // What went wrong with an answer the client could not take (its size, its bytes, a
            // redirect): the client's own words.
            (None, _, ErrorKind::Undecodable | ErrorKind::Redirect) => e.to_string(),
            // An answer that is not the API's error (a front end's page): its status, as is.
            (None, Some(code), _) => format!(
                "the upstream answered {code} {} without an API error",
                http::StatusCode::from_u16(code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
            ),
            (None, None, _) => e.to_string(),
        };
        let kind = match e.kind() {
            ErrorKind::Policy(p) => match p {
                steadfast::Error::RetryDelayTooLong { .. } => "no_slot_before_deadline",
                steadfast::Error::DeadlineExceeded { .. } => "deadline_exceeded",
                steadfast::Error::AttemptTimedOut { .. } => "attempt_timed_out",
                steadfast::Error::LimiterUnavailable => "redis_unavailable",
                steadfast::Error::CircuitOpen { .. } => "breaker_open",
                _ => "policy",
            },
            other => other.name(),
        };
        let mut r = Refusal::new(code, status, message).kind(kind);
        r.quota_id = upstream_status.and_then(|s| {
            s.details
                .quota_violations
                .iter()
                .find_map(|v| v.quota_id.clone())
        });
        if let Some(s) = upstream_status {
            let violations: Vec<Value> = s
                .details
                .quota_violations
                .iter()
                .map(|v| {
                    let mut o = serde_json::Map::new();
                    if let Some(m) = &v.quota_metric {
                        o.insert("quotaMetric".into(), json!(m));
                    }
                    if let Some(id) = &v.quota_id {
                        o.insert("quotaId".into(), json!(id));
                    }
                    if !v.quota_dimensions.is_empty() {
                        o.insert("quotaDimensions".into(), json!(v.quota_dimensions));
                    }
                    if let Some(value) = &v.quota_value {
                        o.insert("quotaValue".into(), json!(value));
                    }
                    Value::Object(o)
                })
                .collect();
            if !violations.is_empty() {
                r.details.push(json!({
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": violations
                }));
            }
            for info in &s.details.error_info {
                r.details.push(json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": info.reason,
                    "domain": info.domain,
                    "metadata": info.metadata,
                }));
            }
        }
        if code == 429 || code == 503 {
            r.retry_after = match e.kind() {
                // No project has a slot before the request's deadline: the wait for the
                // earliest one.
                ErrorKind::Policy(steadfast::Error::RetryDelayTooLong { retry_at, .. }) => Some(
                    retry_at
                        .duration_since(std::time::SystemTime::now())
                        .unwrap_or_default(),
                ),
                _ => e.retry_after(),
            };
        }
        r
    }
}

/// Whole seconds, rounded up: a client told to wait less than the real delay would be refused
/// again.
fn ceil_secs(d: std::time::Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The canonical status name of an HTTP code, as Google's APIs pair them.
fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        413 => "INVALID_ARGUMENT",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

impl Refusal {
    /// What the request log and the metrics keep of it.
    pub(crate) fn note(&self) -> crate::record::ErrorNote {
        crate::record::ErrorNote {
            kind: self.kind.clone(),
            quota_id: self.quota_id.clone(),
        }
    }

    /// The error object, as a stream's error event carries it.
    pub(crate) fn body(&self) -> Value {
        let mut details = self.details.clone();
        if let Some(after) = self.retry_after {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{}s", ceil_secs(after))
            }));
        }
        let mut error = json!({"code": self.code, "message": self.message, "status": self.status});
        if !details.is_empty() {
            error["details"] = Value::Array(details);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response = Response::new(Body::from(body.clone()));
        *response.status_mut() =
            http::StatusCode::from_u16(self.code).unwrap_or(http::StatusCode::BAD_GATEWAY);
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        if let Some(after) = self.retry_after
            && let Ok(v) = http::HeaderValue::from_str(&ceil_secs(after).to_string())
        {
            headers.insert(http::header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(crate::record::ErrorNote {
            kind: self.kind,
            quota_id: self.quota_id,
        });
        response.extensions_mut().insert(RefusalBody(body));
        response
    }
}

/// The body of a refusal, kept on its response for [`openai_shape`].
#[derive(Debug, Clone)]
struct RefusalBody(String);

/// A refusal's body as the OpenAI-compatible routes give errors: the same `google.rpc.Status`
/// object inside a one-element array, `[{"error": …}]`. Answers that are not the relay's
/// refusals (the upstream's own, passed on) are left as they are.
pub(crate) fn openai_shape(response: &mut Response) {
    if let Some(RefusalBody(body)) = response.extensions_mut().remove::<RefusalBody>() {
        *response.body_mut() = Body::from(format!("[{body}]"));
    }
}
