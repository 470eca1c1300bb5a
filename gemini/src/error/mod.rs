//! The error model: [`Error`], and [`ErrorKind`], whose documentation holds the table of kinds.

mod parse;
pub(crate) mod redact;

pub use parse::{BadRequestViolation, Details, ErrorInfo, HelpLink, QuotaViolation, Status};

use crate::key::ApiKey;
use std::fmt;
use std::time::Duration;
use steadfast::classify::{Classify, Failure, Transport};

/// How long an error keeps a non-JSON body, for the message.
const BODY_EXCERPT: usize = 512;

/// Which quota window a 429 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaScope {
    /// A per-minute quota (requests or tokens): it clears within a minute.
    PerMinute,
    /// A per-day quota: it clears at the next daily reset, hours away.
    PerDay,
    /// The body did not say.
    Unknown,
}

/// What happened, and so what to do.
///
/// Gemini reports errors as a `google.rpc.Status` (`{"error": {"code", "message", "status",
/// "details"}}`), sometimes wrapped in a one-element array, sometimes inside a `200` stream, and
/// sometimes not at all (an HTML page from a front end, an empty body). [`Error::from_body`]
/// reads all of these without ever failing or panicking, and [`Error::kind`] classifies the
/// result:
///
/// | kind | typical body | what the client does |
/// | --- | --- | --- |
/// | [`InvalidArgument`](ErrorKind::InvalidArgument) | 400 INVALID_ARGUMENT | nothing: the request must change |
/// | [`PromptTooLong`](ErrorKind::PromptTooLong) | 400 "input token count (N) exceeds the maximum (M)" | nothing: shorten the prompt |
/// | [`InvalidApiKey`](ErrorKind::InvalidApiKey) | 400 ErrorInfo `API_KEY_INVALID` | another key may work |
/// | [`KeyRejected`](ErrorKind::KeyRejected) | 403 about the key: leaked, no key ("unregistered callers"), API not enabled (`SERVICE_DISABLED`), `API_KEY_*` reasons | another key may work |
/// | [`PermissionDenied`](ErrorKind::PermissionDenied) | any other 403: about what the request names ("You do not have permission to access the File … or it may not exist") | nothing: that request fails; the key is fine |
/// | [`ModelNotFound`](ErrorKind::ModelNotFound) | 404 NOT_FOUND | another model may work |
/// | [`FailedPrecondition`](ErrorKind::FailedPrecondition) | 400 FAILED_PRECONDITION | nothing: the account or region must change |
/// | [`RateLimited`](ErrorKind::RateLimited) per minute | 429 with a per-minute QuotaFailure | wait for RetryInfo's delay, retry |
/// | [`RateLimited`](ErrorKind::RateLimited) per day | 429 with a per-day QuotaFailure | not today (even if RetryInfo says 5 s); another key or model may work |
/// | [`RateLimited`](ErrorKind::RateLimited) unknown scope | 429 without details | back off and retry |
/// | [`NoQuota`](ErrorKind::NoQuota) | 429 with `limit: 0` / quotaValue "0" | never on this tier |
/// | [`Internal`](ErrorKind::Internal), [`Unavailable`](ErrorKind::Unavailable), [`DeadlineExceeded`](ErrorKind::DeadlineExceeded) | 500, 503 (overloaded), 504 | back off and retry, or fail over to another model |
/// | [`Transport`](ErrorKind::Transport) | no answer | retry (timeouts, connection errors) |
/// | [`Redirect`](ErrorKind::Redirect) | 3xx | nothing: the client follows no redirect (the key stays with the configured host); check the base URL |
/// | [`Undecodable`](ErrorKind::Undecodable) | a success body that is not the expected JSON | nothing |
/// | [`PromptBlocked`](ErrorKind::PromptBlocked) | `promptFeedback.blockReason` | nothing: the prompt must change |
///
/// ```
/// use steadfast_gemini::{Error, ErrorKind, QuotaScope};
/// let body = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
///   {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[
///     {"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaValue":"20"}]},
///   {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"17s"}]}}"#;
/// let e = Error::from_body(429, body.as_bytes());
/// assert!(matches!(e.kind(), ErrorKind::RateLimited { scope: QuotaScope::PerDay, .. }));
/// // A per-day quota is never retried, even though RetryInfo says 17 s.
/// use steadfast::classify::Classify;
/// assert!(e.failure().unwrap().is_terminal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400 INVALID_ARGUMENT: the request is malformed; it must change.
    InvalidArgument,
    /// The prompt has more tokens than the model accepts.
    PromptTooLong {
        /// Tokens in the prompt, when the message says.
        tokens: Option<u64>,
        /// The model's input limit, when the message says.
        limit: Option<u64>,
    },
    /// The API key is not valid (ErrorInfo `API_KEY_INVALID`, or 401).
    InvalidApiKey,
    /// 403 about the key itself: missing ("unregistered callers"), reported as leaked, blocked,
    /// or its project has not enabled the API (`SERVICE_DISABLED`). The key pool stops using it.
    KeyRejected,
    /// 403 about what the request names (a file, a tuned model, cached content the key cannot
    /// reach, or that does not exist): this request fails; the key stays in the pool.
    PermissionDenied,
    /// 404: the model name is wrong or retired.
    ModelNotFound,
    /// 400 FAILED_PRECONDITION: the account or region cannot use this (billing, location).
    FailedPrecondition,
    /// 429 RESOURCE_EXHAUSTED: a quota is spent.
    RateLimited {
        /// Which window.
        scope: QuotaScope,
        /// The delay the body asked for (RetryInfo, or "retry in Ns" in the message), as sent.
        /// For a per-day quota this is *not* when it clears: use [`Error::retry_after`], which
        /// also weighs the `Retry-After` headers.
        retry_after: Option<Duration>,
    },
    /// 429 with a limit of zero: this model is not available on this tier at all.
    NoQuota,
    /// 500 INTERNAL.
    Internal,
    /// 503 UNAVAILABLE ("the model is overloaded"), and 502.
    Unavailable,
    /// 504 DEADLINE_EXCEEDED: the server gave up on a slow request.
    DeadlineExceeded,
    /// No answer: timeout, connection refused, connection lost.
    Transport(Transport),
    /// A 3xx answer. The client never follows a redirect, because following one would send the
    /// API key (an `x-goog-api-key` header) to whatever host the server names; the Gemini API
    /// does not redirect, so a redirect means the base URL points somewhere else (a proxy, a
    /// login page). Never retried.
    Redirect,
    /// A success status whose body is not what the endpoint returns.
    Undecodable,
    /// The prompt was blocked by safety filters (`promptFeedback.blockReason`).
    PromptBlocked {
        /// The block reason, as the API names it.
        reason: String,
    },
    /// The client is misconfigured (no API key, a bad base URL); nothing was sent.
    Configuration,
    /// The client's own policy stopped the call (attempt timed out, deadline, breaker open, a
    /// server delay longer than allowed).
    Policy(steadfast::Error),
    /// Any other status.
    Other,
}

impl ErrorKind {
    /// A short, stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::PromptTooLong { .. } => "prompt_too_long",
            ErrorKind::InvalidApiKey => "invalid_api_key",
            ErrorKind::KeyRejected => "key_rejected",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::ModelNotFound => "model_not_found",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                ..
            } => "rate_limited_per_day",
            ErrorKind::RateLimited {
                scope: QuotaScope::PerMinute,
                ..
            } => "rate_limited_per_minute",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::NoQuota => "no_quota",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Transport(_) => "transport",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Undecodable => "undecodable",
            ErrorKind::PromptBlocked { .. } => "prompt_blocked",
            ErrorKind::Policy(_) => "policy",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Other => "other",
        }
    }

    /// What a caller should do about it, in a sentence.
    pub fn advice(&self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "fix the request: it will fail the same way again",
            ErrorKind::PromptTooLong { .. } => {
                "shorten the prompt below the model's input token limit, or use a model with a larger one"
            }
            ErrorKind::InvalidApiKey => "check the API key; another key may work",
            ErrorKind::KeyRejected => {
                "the key is missing, leaked, blocked, or its project has not enabled the API; use another key"
            }
            ErrorKind::PermissionDenied => {
                "the key may not use what the request names (or it does not exist); fix the request"
            }
            ErrorKind::ModelNotFound => {
                "the model name is wrong or retired; list the models, or fall back to another one"
            }
            ErrorKind::FailedPrecondition => {
                "the account or region cannot use this API as it is (billing, location)"
            }
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                ..
            } => "the daily quota is spent: retrying today will not help; use another key or model",
            ErrorKind::RateLimited {
                retry_after: Some(_),
                ..
            } => "wait for the server's delay, then retry",
            ErrorKind::RateLimited { .. } => "back off, then retry",
            ErrorKind::NoQuota => "this model has no quota on this tier; use another model or plan",
            ErrorKind::Internal | ErrorKind::Unavailable | ErrorKind::DeadlineExceeded => {
                "transient: back off and retry, or fall back to another model"
            }
            ErrorKind::Transport(_) => "no answer: retry",
            ErrorKind::Redirect => {
                "the server redirected the request, which the client never follows (the API key \
                 must not go to another host): check the base URL"
            }
            ErrorKind::Undecodable => "the answer was not understood; report it if it persists",
            ErrorKind::PromptBlocked { .. } => {
                "the prompt was blocked by safety filters; change it"
            }
            ErrorKind::Policy(_) => {
                "the client's resilience policy stopped the call; see why above"
            }
            ErrorKind::Configuration => "fix the client's configuration",
            ErrorKind::Other => "unexpected status; see the message",
        }
    }
}

/// An error from the Gemini API or on the way to it.
///
/// `Display` gives the kind, the status, the server's message (shortened to 512 characters) and
/// the advice. No text it keeps from outside contains a credential: anything shaped like a
/// Google API key (`AIza` + 35 characters) is redacted when the error is built, and an error
/// returned by a [`Client`](crate::Client) also has the client's own keys redacted, wherever
/// the server echoed them.
///
/// `source()` of a transport error is the HTTP client's error, with its own chain below it.
#[derive(Clone, PartialEq)]
pub struct Error(Box<Repr>);

/// Boxed, so that `Result<T, Error>` stays one pointer wide on the success path.
#[derive(Clone, PartialEq)]
struct Repr {
    kind: ErrorKind,
    http_status: Option<u16>,
    status: Option<Status>,
    body_excerpt: Option<String>,
    in_stream: bool,
    /// The delay asked for in the answer's headers (`Retry-After`, `retry-after-ms`).
    header_hint: Option<Duration>,
    /// The lower-level error, for [`std::error::Error::source`].
    source: Option<Source>,
}

/// A transport error's cause, shared by clones; equal only to itself.
#[derive(Clone)]
struct Source(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Repr {
    /// Every string that may hold text from outside.
    fn texts_mut(&mut self) -> impl Iterator<Item = &mut String> {
        let reason = match &mut self.kind {
            ErrorKind::PromptBlocked { reason } => Some(reason),
            _ => None,
        };
        self.status
            .iter_mut()
            .flat_map(Status::texts_mut)
            .chain(self.body_excerpt.iter_mut())
            .chain(reason)
    }

    /// The error, with every Google-shaped key in its text redacted.
    fn build(mut self) -> Error {
        for text in self.texts_mut() {
            redact::in_place(text);
        }
        Error(Box::new(self))
    }
}

impl Error {
    /// Classifies an error answer: the HTTP status and the raw body, whatever it holds.
    ///
    /// ```
    /// use steadfast_gemini::{Error, ErrorKind};
    /// let e = Error::from_body(502, b"<html>Bad Gateway</html>");
    /// assert_eq!(*e.kind(), ErrorKind::Unavailable);
    /// assert!(e.to_string().contains("Bad Gateway"));
    /// ```
    pub fn from_body(http_status: u16, body: &[u8]) -> Error {
        let status = parse::status(body);
        let code = status
            .as_ref()
            .and_then(|s| s.code)
            .filter(|c| (100..=599).contains(c))
            .unwrap_or(http_status);
        let kind = classify(code, status.as_ref());
        let body_excerpt = match status {
            Some(_) => None,
            None => Some(excerpt(body)),
        };
        Repr {
            kind,
            http_status: Some(http_status),
            status,
            body_excerpt,
            in_stream: false,
            header_hint: None,
            source: None,
        }
        .build()
    }

    /// Classifies an error object that arrived inside a `200` stream (`{"error": {...}}` as one
    /// of the events). The verdict is that of its own code (a number, or a number in a string);
    /// without a usable code, that of its status name (`UNAVAILABLE` is a 503); with neither, the
    /// event is [`Undecodable`](ErrorKind::Undecodable).
    pub fn from_stream_event(event: &[u8]) -> Error {
        let mut e = Error::from_body(200, event);
        if let Some(status) = e.0.status.as_mut().filter(|s| s.code.is_none()) {
            status.code = status.status.as_deref().and_then(parse::code_of_status);
            e.0.kind = match status.code {
                Some(code) => classify(code, Some(status)),
                None => ErrorKind::Undecodable,
            };
        } else if e.0.status.is_none() {
            e.0.kind = ErrorKind::Undecodable;
        }
        e.0.in_stream = true;
        e
    }

    /// A failure below HTTP.
    pub fn transport(kind: Transport, context: impl Into<String>) -> Error {
        Repr {
            kind: ErrorKind::Transport(kind),
            http_status: None,
            status: None,
            body_excerpt: Some(truncate(context.into())),
            in_stream: false,
            header_hint: None,
            source: None,
        }
        .build()
    }

    /// A failure below HTTP, with the error that caused it (kept for
    /// [`source`](std::error::Error::source)).
    pub(crate) fn transport_caused_by(
        kind: Transport,
        context: String,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let mut e = Error::transport(kind, context);
        e.0.source = Some(Source(std::sync::Arc::new(cause)));
        e
    }

    /// An error of `kind` with a message of the client's own (no server status).
    pub(crate) fn with_kind(kind: ErrorKind, message: String) -> Error {
        Repr {
            kind,
            http_status: None,
            status: None,
            body_excerpt: Some(truncate(message)),
            in_stream: false,
            header_hint: None,
            source: None,
        }
        .build()
    }

    /// A 3xx answer, with the `Location` it pointed to (redacted, truncated); see
    /// [`ErrorKind::Redirect`].
    pub(crate) fn redirect(http_status: u16, location: Option<&str>) -> Error {
        let message = match location {
            Some(to) => format!("redirected to `{to}`; not followed"),
            None => "redirected; not followed".to_owned(),
        };
        Repr {
            kind: ErrorKind::Redirect,
            http_status: Some(http_status),
            status: None,
            body_excerpt: Some(truncate(message)),
            in_stream: false,
            header_hint: None,
            source: None,
        }
        .build()
    }

    /// A success status with a body the endpoint does not return.
    pub fn undecodable(http_status: u16, body: &[u8], why: impl fmt::Display) -> Error {
        Repr {
            kind: ErrorKind::Undecodable,
            http_status: Some(http_status),
            status: None,
            body_excerpt: Some(truncate(format!("{why}; body: {}", excerpt(body)))),
            in_stream: false,
            header_hint: None,
            source: None,
        }
        .build()
    }

    /// A prompt blocked by safety filters.
    pub fn prompt_blocked(reason: impl Into<String>) -> Error {
        Repr {
            kind: ErrorKind::PromptBlocked {
                reason: reason.into(),
            },
            http_status: Some(200),
            status: None,
            body_excerpt: None,
            in_stream: false,
            header_hint: None,
            source: None,
        }
        .build()
    }

    /// The same error with the delay its answer's headers asked for (see
    /// [`Error::retry_after`]).
    pub(crate) fn with_header_hint(mut self, hint: Option<Duration>) -> Error {
        self.0.header_hint = hint;
        self
    }

    /// The same error with the client's own `keys` redacted from its text (keys shorter than 8
    /// characters are not searched for).
    pub(crate) fn redact_keys(mut self, keys: &[ApiKey]) -> Error {
        for text in self.0.texts_mut() {
            redact::in_place_with(text, keys);
        }
        self
    }

    /// What happened.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The HTTP status of the answer (200 for an error inside a stream), if there was one.
    pub fn http_status(&self) -> Option<u16> {
        self.0.http_status
    }

    /// The status code that classifies the error: the body's `code`, else the HTTP status.
    pub fn code(&self) -> Option<u16> {
        self.0
            .status
            .as_ref()
            .and_then(|s| s.code)
            .filter(|c| (100..=599).contains(c))
            .or(self
                .0
                .http_status
                .filter(|s| *s != 200 || !self.0.in_stream))
    }

    /// The parsed `google.rpc.Status`, when the body held one.
    pub fn status(&self) -> Option<&Status> {
        self.0.status.as_ref()
    }

    /// The server's message.
    pub fn message(&self) -> Option<&str> {
        self.0.status.as_ref().and_then(|s| s.message.as_deref())
    }

    /// Whether the error arrived inside a `200` stream.
    pub fn in_stream(&self) -> bool {
        self.0.in_stream
    }

    /// The delay the server asked for, if any: the longest of the body's hint (RetryInfo, or
    /// "retry in Ns" in a 429's message) and the headers' (`Retry-After` in seconds or as an HTTP
    /// date, `retry-after-ms`). Taking the longest means never coming back before any of the
    /// server's signals allows it. A source asking for longer than a year is not credible and is
    /// ignored: a Gemini quota clears by the next daily reset at the latest, and such a delay,
    /// kept, would close the project for a year.
    ///
    /// A per-day quota is the exception: its RetryInfo (often a few seconds) is not when it
    /// clears, so this returns the time until the daily reset (midnight Pacific time), and never less than the headers ask.
    pub fn retry_after(&self) -> Option<Duration> {
        if let ErrorKind::RateLimited {
            scope: QuotaScope::PerDay,
            ..
        } = self.0.kind
        {
            let reset = crate::until_daily_reset(std::time::SystemTime::now());
            return Some(reset.max(self.0.header_hint.unwrap_or_default()));
        }
        let body = match &self.0.kind {
            ErrorKind::RateLimited { retry_after, .. } => *retry_after,
            _ => self.0.status.as_ref().and_then(|s| s.details.retry_delay),
        };
        body.max(self.0.header_hint)
    }
}

/// Keeps at most `BODY_EXCERPT` characters of a body, lossily decoded.
/// A server delay Gemini could mean: shorter than [`steadfast::hint::LONGEST_HINT`], which is
/// what the parsers return for anything over a year and a day. A Gemini quota clears by the
/// next daily reset at the latest, so a longer delay is a proxy's or a bug's; kept, it would
/// close the project for a year, in every process sharing its quotas through Redis.
pub(crate) fn credible(hint: Duration) -> Option<Duration> {
    (hint < steadfast::hint::LONGEST_HINT).then_some(hint)
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT * 4)]);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    truncate(text.to_owned())
}

/// Keeps at most `BODY_EXCERPT` characters, with Google-shaped keys redacted before the cut (so
/// that the cut cannot leave a key too short to recognise).
fn truncate(mut text: String) -> String {
    redact::in_place(&mut text);
    if let Some((i, _)) = text.char_indices().nth(BODY_EXCERPT) {
        text.truncate(i);
        text.push('…');
    }
    text
}

/// At most `BODY_EXCERPT` characters of a server's message, for `Display` and `Debug` (the whole
/// message, itself bounded by the body cap, stays available from [`Error::message`]).
fn shorten(message: &str) -> std::borrow::Cow<'_, str> {
    match message.char_indices().nth(BODY_EXCERPT) {
        Some((i, _)) => format!("{}… ({} bytes in all)", &message[..i], message.len()).into(),
        None => message.into(),
    }
}

/// The classification rules (see the module table).
fn classify(code: u16, status: Option<&Status>) -> ErrorKind {
    let grpc = status.and_then(|s| s.status.as_deref()).unwrap_or("");
    let message = status.and_then(|s| s.message.as_deref()).unwrap_or("");
    let details = status.map(|s| &s.details);
    let reason_is = |r: &str| {
        details.is_some_and(|d| d.error_info.iter().any(|i| i.reason.as_deref() == Some(r)))
    };
    // The message is Google's own sentence, matched at its start: a 400 that echoes a name
    // the request gave ("Unknown name \"API key not valid\"") is about the request, and
    // matching it anywhere let one request take every key out of the pool.
    if reason_is("API_KEY_INVALID")
        || (code == 400 && message.trim_start().starts_with("API key not valid"))
        || code == 401
    {
        return ErrorKind::InvalidApiKey;
    }
    match code {
        400 if grpc == "FAILED_PRECONDITION" => ErrorKind::FailedPrecondition,
        400 => match parse::token_limit(message) {
            Some((tokens, limit)) => ErrorKind::PromptTooLong { tokens, limit },
            None => ErrorKind::InvalidArgument,
        },
        403 if about_the_key(message, details) => ErrorKind::KeyRejected,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::ModelNotFound,
        429 => rate_limited(message, details),
        500 => ErrorKind::Internal,
        502 | 503 => ErrorKind::Unavailable,
        504 => ErrorKind::DeadlineExceeded,
        _ if grpc == "RESOURCE_EXHAUSTED" => rate_limited(message, details),
        _ if grpc == "UNAVAILABLE" => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// Whether a 403 is about the key rather than about what the request names: by ErrorInfo reason
/// when there is one, else by the message Google writes for each case.
fn about_the_key(message: &str, details: Option<&Details>) -> bool {
    const KEY_REASONS: &[&str] = &[
        "SERVICE_DISABLED",
        "CONSUMER_INVALID",
        "CONSUMER_SUSPENDED",
        "CREDENTIALS_MISSING",
        "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        "BILLING_DISABLED",
    ];
    let by_reason = details.is_some_and(|d| {
        d.error_info.iter().any(|i| {
            i.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("API_KEY_") || KEY_REASONS.contains(&r))
        })
    });
    let m = message.to_ascii_lowercase();
    let by_message = [
        "reported as leaked",
        "unregistered callers",
        "api key not valid",
        "api key expired",
        "api key was reported",
        "requests from this api key",
        "api keys are not supported",
        "has not been used in project",
        "it is disabled",
        "consumer 'api_key",
        "has been suspended",
    ]
    .iter()
    .any(|needle| m.contains(needle));
    by_reason || by_message
}

fn rate_limited(message: &str, details: Option<&Details>) -> ErrorKind {
    let violations = details
        .map(|d| d.quota_violations.as_slice())
        .unwrap_or(&[]);
    let zero_limit = violations
        .iter()
        .any(|v| v.quota_value.as_deref().map(str::trim) == Some("0"))
        || message.contains("limit: 0,")
        || message.trim_end().ends_with("limit: 0");
    if zero_limit {
        return ErrorKind::NoQuota;
    }
    let scope_of = |text: &str| {
        let t = text.to_ascii_lowercase();
        if t.contains("perday") || t.contains("per_day") || t.contains("per day") {
            Some(QuotaScope::PerDay)
        } else if t.contains("perminute") || t.contains("per_minute") || t.contains("per minute") {
            Some(QuotaScope::PerMinute)
        } else {
            None
        }
    };
    // A per-day violation anywhere wins: a short RetryInfo does not make it clear today.
    let scopes: Vec<QuotaScope> = violations
        .iter()
        .filter_map(|v| {
            v.quota_id
                .as_deref()
                .and_then(scope_of)
                .or_else(|| v.quota_metric.as_deref().and_then(scope_of))
        })
        .collect();
    let scope = if scopes.contains(&QuotaScope::PerDay) {
        QuotaScope::PerDay
    } else if scopes.contains(&QuotaScope::PerMinute) {
        QuotaScope::PerMinute
    } else {
        QuotaScope::Unknown
    };
    let retry_after = details
        .and_then(|d| d.retry_delay)
        .or_else(|| steadfast::hint::parse_retry_in_text(message).and_then(credible));
    ErrorKind::RateLimited { scope, retry_after }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gemini {}", self.0.kind.name().replace('_', " "))?;
        if let ErrorKind::Transport(t) = &self.0.kind {
            write!(f, " ({})", Failure::transport(*t).cause())?;
        }
        if let Some(code) = self.code() {
            write!(f, " ({code}")?;
            if let Some(grpc) = self.0.status.as_ref().and_then(|s| s.status.as_deref()) {
                write!(f, " {grpc}")?;
            }
            f.write_str(")")?;
        }
        if self.0.in_stream {
            f.write_str(" inside the stream")?;
        }
        // A per-day quota's RetryInfo is not when it clears: do not suggest it.
        let per_day = matches!(
            self.0.kind,
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                ..
            }
        );
        match (self.retry_after(), per_day) {
            (Some(d), false) => write!(f, ", retry after {d:?}")?,
            (Some(d), true) => {
                let minutes = d.as_secs().div_ceil(60);
                write!(
                    f,
                    ", the daily quota resets at midnight Pacific time, in {}h{:02}m",
                    minutes / 60,
                    minutes % 60
                )?;
            }
            (None, _) => {}
        }
        if let ErrorKind::PromptBlocked { reason } = &self.0.kind {
            write!(f, ": {reason}")?;
        }
        if let ErrorKind::Policy(e) = &self.0.kind {
            write!(f, ": {e}")?;
        }
        if let Some(m) = self.message() {
            write!(f, ": {}", shorten(m.trim()))?;
        } else if let Some(b) = &self.0.body_excerpt {
            write!(f, ": {b}")?;
        }
        write!(f, " [{}]", self.0.kind.advice())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("http_status", &self.0.http_status)
            .field("code", &self.code())
            .field("message", &self.message().map(shorten))
            .field("in_stream", &self.0.in_stream)
            .finish_non_exhaustive()
    }
}

/// The source of a transport error is the HTTP client's error (a `reqwest::Error`), whose own
/// chain leads to the I/O or protocol error underneath.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| &*s.0 as &(dyn std::error::Error + 'static))
    }
}

impl Classify for Error {
    /// The code and the server's delay; terminal for a per-day or zero quota, whatever
    /// RetryInfo says.
    fn failure(&self) -> Option<Failure> {
        let base = match (&self.0.kind, self.code()) {
            (ErrorKind::Transport(t), _) => Failure::transport(*t),
            (
                ErrorKind::Policy(
                    steadfast::Error::AttemptTimedOut { .. }
                    | steadfast::Error::DeadlineExceeded { .. },
                ),
                _,
            ) => Failure::transport(Transport::Timeout),
            (_, Some(code)) => Failure::status(code),
            (_, None) => Failure::unknown(),
        };
        let failure = base.with_optional_hint(self.retry_after());
        Some(match self.0.kind {
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                ..
            }
            | ErrorKind::NoQuota
            | ErrorKind::Undecodable
            | ErrorKind::Redirect
            | ErrorKind::Configuration
            | ErrorKind::PromptBlocked { .. } => failure.terminal(),
            _ => failure,
        })
    }
}

/// A policy error (attempt timed out, deadline, breaker open) as a Gemini error, so that
/// `#[resilient]` functions returning `steadfast_gemini::Error` can use every key.
impl From<steadfast::Error> for Error {
    fn from(e: steadfast::Error) -> Self {
        Repr {
            kind: ErrorKind::Policy(e),
            http_status: None,
            status: None,
            body_excerpt: None,
            in_stream: false,
            header_hint: None,
            source: None,
        }
        .build()
    }
}
