//! The routed request path as a raw call: bytes in, status, headers and a body stream out.
//!
//! [`Client::send_raw`] sends any Gemini request (a typed endpoint's, or one a relay forwards)
//! through the same function every typed endpoint uses: it picks the project with the most
//! headroom for the model and one of its usable keys, admits the request under the configured,
//! learned and shared quotas, applies the model's breaker and the per-phase timeouts, retries
//! and falls back to the next model as the [client policy](crate::ClientPolicy) says, learns
//! from the answer and counts it. There is no second implementation of the pool: the typed
//! endpoints are thin callers of this path (they encode a body, call it, and decode the answer).
//!
//! What a raw request may carry is checked: its path cannot leave the base URL, a `key`
//! parameter in its query is dropped, and credentials or hop-by-hop headers given with it are
//! not sent (the key of the pool is the only credential that leaves).
//!
//! A success is read whole inside the attempt (so that a connection lost mid-body is retried),
//! up to [`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes); a
//! streaming request is held until its first chunk, after which nothing is retried and a
//! failure is the stream's last item. An error answer is a classified [`Error`].

use super::Client;
use super::route::{Route, RouteNote, Routing};
use crate::endpoints::model_path;
use crate::types::GenerateContentRequest;
use crate::{ApiKey, Error};
use bytes_crate::Bytes;
use futures_util::{Stream, StreamExt, stream};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

/// Where a raw request goes, relative to the base URL.
#[derive(Debug, Clone)]
enum Target {
    /// `{version}/models/{model}{action}`: a generation's model may be replaced by a fallback
    /// model.
    Model {
        version: String,
        model: String,
        action: String,
    },
    /// `v1beta/openai/{route}`, Gemini's OpenAI-compatible routes: the model is the body's
    /// `model` field (a chat's fallback model is written into it); the key travels as
    /// `Authorization: Bearer`, as those routes document it.
    OpenAi {
        route: String,
        model: Option<String>,
    },
    /// Any other path (`v1beta/files/abc`, `upload/v1beta/files`): no model, no fallback.
    Path(String),
}

/// The two fields of an OpenAI-compatible body the routed path reads: which model, and
/// whether the answer is streamed. Every other field is skipped unread.
#[derive(serde::Deserialize)]
struct OpenAiHead {
    #[serde(default)]
    model: serde_json::Value,
    #[serde(default)]
    stream: serde_json::Value,
}

/// The longest model name read from an OpenAI-compatible body.
const MAX_MODEL_NAME: usize = 200;

/// Builds the body for the model that is sent (a `batchEmbedContents` body names its model in
/// every entry).
type BodyFor = Arc<dyn Fn(&str) -> Result<Bytes, Error> + Send + Sync>;

/// A request for [`Client::send_raw`].
///
/// ```
/// use steadfast_gemini::RawRequest;
/// let request = RawRequest::model(
///     http::Method::POST,
///     "gemini-2.5-flash",
///     ":generateContent",
///     br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#.to_vec(),
/// )?;
/// assert_eq!(request.target_path(), "v1beta/models/gemini-2.5-flash:generateContent");
///
/// // A `key` in the query is never sent: the pool's key travels in a header.
/// let listing = RawRequest::path(http::Method::GET, "v1beta/files")?.query("pageSize=10&key=secret");
/// assert_eq!(listing.url_tail(), "v1beta/files?pageSize=10");
/// # Ok::<(), steadfast_gemini::Error>(())
/// ```
#[derive(Clone)]
pub struct RawRequest {
    method: http::Method,
    target: Target,
    query: Option<String>,
    body: Option<(String, Bytes)>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    streaming: bool,
    fallback: bool,
    tokens: Option<u32>,
    project: Option<String>,
    deadline: Option<std::time::Duration>,
    body_for: Option<BodyFor>,
}

impl fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("path", &self.target_path())
            .field("query", &self.query)
            .field("body_bytes", &self.body.as_ref().map(|(_, b)| b.len()))
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("streaming", &self.streaming)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

/// Whether a caller's header goes upstream with a raw request: only those of the resumable
/// upload protocol (`x-goog-upload-*`) and the SDK's own identification (`x-goog-api-client`).
/// Nothing else does: not credentials (the pool's key is the only one sent), not what belongs
/// to one connection, and not what restricts a key (`referer`, `origin`,
/// `x-android-package`, `x-ios-bundle-identifier`, `x-goog-user-project`): sent with a key the
/// caller does not own, those get a 403 that takes the key out of the pool.
fn forwarded(name: &http::HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("x-goog-upload-") || name == "x-goog-api-client"
}

/// Response headers a raw answer does not pass on: what belongs to one connection or to the
/// framing of the body as it was received (whoever sends the body on frames it again).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

/// Query parameters that carry a credential: never sent (the pool's key, in its header, is the
/// only one). An OAuth token of the caller's would get a 401 with every key of the pool, which
/// would take them all out of it.
const CREDENTIAL_PARAMETERS: &[&str] = &["key", "access_token", "oauth_token", "bearer_token"];

/// Percent-decodes `text` (for checks only: what is sent is what was given).
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RawRequest {
    /// A request about a model: `v1beta/models/{model}{action}`, where `action` is
    /// `":generateContent"`, `":streamGenerateContent"`, `":countTokens"`, … or `""` (the
    /// model itself). The model may be given with or without `models/`; when a generation
    /// fails as the client policy says (overloaded, not found, out of quota everywhere), the
    /// request goes to the next model of the policy's fallback chain, with the same body (other
    /// methods do only when [`fallback`](RawRequest::fallback) turns it on).
    ///
    /// Refused: a model name that would change the path, an action that is not `:` and a
    /// method name.
    pub fn model(
        method: http::Method,
        model: &str,
        action: &str,
        body: impl Into<Bytes>,
    ) -> Result<RawRequest, Error> {
        let name = model_path(model)?.trim_start_matches("models/").to_owned();
        let valid_action = action.is_empty()
            || (action.starts_with(':')
                && action.len() > 1
                && action[1..].bytes().all(|b| b.is_ascii_alphanumeric()));
        if !valid_action {
            return Err(Error::configuration(format!(
                "`{action}` is not a model method: write it as \":generateContent\", or \"\" for the model itself"
            )));
        }
        let body: Bytes = body.into();
        let mut request = RawRequest::new(
            method,
            Target::Model {
                version: "v1beta".to_owned(),
                model: name,
                action: action.to_owned(),
            },
        );
        if !body.is_empty() {
            request.body = Some(("application/json".to_owned(), body));
        }
        Ok(request)
    }

    /// A request to one of Gemini's OpenAI-compatible routes, `v1beta/openai/{route}`:
    /// `"chat/completions"`, `"embeddings"`, `"models"`, `"models/{id}"`. Of the body, only
    /// its `model` and `stream` fields are read: the model is the one the pool counts the call
    /// against (and, when a chat fails as the client policy says, the next model of the
    /// fallback chain is written into the body's `model`), and `"stream": true` makes the call a
    /// [streaming](RawRequest::streaming) one, whose answer is server-sent events ending with
    /// `data: [DONE]`. The pool's key is sent as `Authorization: Bearer`, as those routes
    /// document it.
    ///
    /// A body that is not JSON, or whose `model` is not a model name (letters, digits, `-`,
    /// `.`, `_`, up to 200 characters), is sent as it is, under no model: the API answers it
    /// with its own 400.
    ///
    /// ```
    /// use steadfast_gemini::RawRequest;
    /// let body = br#"{"model": "gemini-2.5-flash", "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    /// let request = RawRequest::openai(http::Method::POST, "chat/completions", body.to_vec())?;
    /// assert_eq!(request.target_path(), "v1beta/openai/chat/completions");
    /// assert_eq!(request.model_name(), Some("gemini-2.5-flash"));
    /// assert!(request.is_streaming() && request.asks_for_sse());
    /// # Ok::<(), steadfast_gemini::Error>(())
    /// ```
    ///
    /// Refused: a route that [`path`](RawRequest::path) would refuse.
    pub fn openai(
        method: http::Method,
        route: &str,
        body: impl Into<Bytes>,
    ) -> Result<RawRequest, Error> {
        let checked = RawRequest::path(method.clone(), &format!("v1beta/openai/{route}"))?;
        let body: Bytes = body.into();
        let head = serde_json::from_slice::<OpenAiHead>(&body).ok();
        let model = head
            .as_ref()
            .and_then(|h| h.model.as_str())
            .map(|m| m.trim_start_matches("models/"))
            // A model name as the native routes take it, of a sane length: anything else is
            // not counted under a name (the API answers it with its own 400).
            .filter(|m| m.len() <= MAX_MODEL_NAME && model_path(m).is_ok())
            .map(str::to_owned);
        // Only chat completions stream; a `stream` field elsewhere is the API's to refuse.
        let streaming = route == "chat/completions"
            && head.is_some_and(|h| h.stream == serde_json::Value::Bool(true));
        let mut request = RawRequest::new(
            checked.method,
            Target::OpenAi {
                route: route.to_owned(),
                model,
            },
        );
        request.streaming = streaming;
        if !body.is_empty() {
            request.body = Some(("application/json".to_owned(), body));
        }
        Ok(request)
    }

    /// A request to any path under the base URL that names no model (`v1beta/files/abc`,
    /// `v1beta/cachedContents`, `upload/v1beta/files`, `v1beta/models` for the list). No
    /// fallback applies.
    ///
    /// Refused: an empty path, one starting with `/`, a segment that is `.` or `..` (also
    /// percent-encoded: `%2e%2e`), an encoded `/` or `\\`, and `?`, `#`, `\\`, `@`, whitespace or
    /// a control character (a query goes in [`query`](RawRequest::query)).
    pub fn path(method: http::Method, path: &str) -> Result<RawRequest, Error> {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path.split('/').any(|segment| {
                let plain = decoded(segment);
                plain == "." || plain == ".." || plain.contains(['/', '\\'])
            })
            || path.chars().any(|c| {
                matches!(c, '?' | '#' | '\\' | '@') || c.is_whitespace() || c.is_control()
            });
        if bad {
            return Err(Error::configuration(format!(
                "`{}` is not a request path: give it relative to the base URL, such as \"v1beta/files/abc\", without a query",
                path.escape_debug()
            )));
        }
        Ok(RawRequest::new(method, Target::Path(path.to_owned())))
    }

    fn new(method: http::Method, target: Target) -> RawRequest {
        // The fallback chain is of generation models: an embedding or a token count answered
        // by another model would be wrong, not degraded.
        let fallback = match &target {
            Target::Model { action, .. } => {
                action == ":generateContent" || action == ":streamGenerateContent"
            }
            Target::OpenAi { route, .. } => route == "chat/completions",
            Target::Path(_) => false,
        };
        RawRequest {
            method,
            fallback,
            target,
            query: None,
            body: None,
            headers: Vec::new(),
            streaming: false,
            tokens: None,
            project: None,
            deadline: None,
            body_for: None,
        }
    }

    /// The API version of a model request (`v1beta` by default; `v1`).
    pub fn version(mut self, version: &str) -> Self {
        if let Target::Model { version: v, .. } = &mut self.target
            && !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            *v = version.to_owned();
        }
        self
    }

    /// The query string, without `?` (`alt=sse`, `pageSize=10&pageToken=…`), as given, except
    /// that a credential (`key`, `access_token`, `oauth_token`, `bearer_token`, however its name
    /// is encoded: `%6Bey`, `$key`) is dropped: the pool's key travels in a header, never in a
    /// URL, and it is the only credential sent.
    pub fn query(mut self, query: &str) -> Self {
        let kept: Vec<&str> = query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| {
                let name = decoded(p.split('=').next().unwrap_or_default());
                let name = name.trim_start_matches('$');
                !p.is_empty()
                    && !CREDENTIAL_PARAMETERS
                        .iter()
                        .any(|c| name.eq_ignore_ascii_case(c))
            })
            .filter(|p| !p.contains('#') && !p.chars().any(|c| c.is_control() || c == ' '))
            .collect();
        self.query = (!kept.is_empty()).then(|| kept.join("&"));
        self
    }

    /// The body and its content type (a model request's body is JSON unless set here).
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }

    /// A header to send with the request. Only the resumable upload protocol's
    /// (`x-goog-upload-*`) and `x-goog-api-client` are sent; any other is ignored here:
    /// credentials (the pool's key is the only one sent), per-connection headers, and those
    /// that restrict a key (`referer`, `origin`, `x-android-package`, …), which, sent with a
    /// key of the pool, would get it refused and taken out of the pool. `content-type` is
    /// given with [`body`](RawRequest::body).
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        if forwarded(&name) {
            self.headers.push((name, value));
        }
        self
    }

    /// Whether the answer is a stream (`streamGenerateContent`): it is held until its first
    /// chunk, within which failures are retried; after it, nothing is.
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.streaming = streaming;
        self
    }

    /// Whether the client policy's fallback models may answer: on by default for generation
    /// (`:generateContent`, `:streamGenerateContent`, OpenAI chat completions), off for every
    /// other request (an embedding, a token count or a model's details from another model
    /// would be wrong, not degraded); turn it on to let the chain answer those too.
    pub fn fallback(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }

    /// The request's input tokens, counted against the project's tokens-per-minute limit.
    /// Without it, a generate request's tokens are estimated from its body (a quarter of its
    /// bytes), any other request counts one.
    pub fn tokens(mut self, tokens: u32) -> Self {
        self.tokens = Some(tokens.max(1));
        self
    }

    /// Sends the request only through the project with this label (its declared name, or its
    /// number in the pool, as [`Route::project`] gives it): files, cached contents and upload
    /// sessions live in the project that created them, and another project's key gets a 403
    /// for them. Keys of that project still rotate, and its quotas are waited for as usual;
    /// when it is out for the day, the call fails with that 429 rather than going elsewhere.
    /// A label that is not in the pool fails the call with a configuration error.
    pub fn project(mut self, label: impl Into<String>) -> Self {
        self.project = Some(label.into());
        self
    }

    /// The longest the call may take to have its answer (the client policy's `deadline` ends
    /// it too, whichever comes first). When no project can give a slot for it in time, the
    /// call fails at once with [`steadfast::Error::RetryDelayTooLong`] saying the wait to the
    /// earliest slot, instead of waiting into the deadline: a relay answers it as a 429 with
    /// that `Retry-After`.
    pub fn deadline(mut self, deadline: std::time::Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The body for each model sent, built from the model's name.
    pub(crate) fn body_for(mut self, build: BodyFor) -> Self {
        self.body_for = Some(build);
        self
    }

    /// Whether a stream's answer is server-sent events: the query asks for them (`alt=sse`,
    /// however it is encoded: `%61lt=sse`, `$alt=sse`), or the request is to an
    /// OpenAI-compatible route, which streams nothing else. Otherwise a stream is one JSON
    /// array.
    pub fn asks_for_sse(&self) -> bool {
        if matches!(self.target, Target::OpenAi { .. }) {
            return true;
        }
        self.query.as_deref().is_some_and(|q| {
            q.split('&').any(|p| {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                decoded(name).trim_start_matches('$') == "alt" && decoded(value) == "sse"
            })
        })
    }

    /// The model asked for, when the request is about one (for an OpenAI-compatible route,
    /// the body's `model`).
    pub fn model_name(&self) -> Option<&str> {
        match &self.target {
            Target::Model { model, .. } => Some(model),
            Target::OpenAi { model, .. } => model.as_deref(),
            Target::Path(_) => None,
        }
    }

    /// Whether the answer is a stream ([`streaming`](RawRequest::streaming), or
    /// `"stream": true` in an OpenAI-compatible body).
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Whether it goes to one of the OpenAI-compatible routes ([`RawRequest::openai`]).
    pub fn is_openai(&self) -> bool {
        matches!(self.target, Target::OpenAi { .. })
    }

    /// The path sent for the model asked for, relative to the base URL, without the query.
    pub fn target_path(&self) -> String {
        self.path_for(self.model_name().unwrap_or_default())
    }

    /// The path and query sent for the model asked for.
    pub fn url_tail(&self) -> String {
        self.tail_for(self.model_name().unwrap_or_default())
    }

    fn path_for(&self, served: &str) -> String {
        match &self.target {
            Target::Model {
                version, action, ..
            } => format!("{version}/models/{served}{action}"),
            Target::OpenAi { route, .. } => format!("v1beta/openai/{route}"),
            Target::Path(path) => path.clone(),
        }
    }

    fn tail_for(&self, served: &str) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path_for(served)),
            None => self.path_for(served),
        }
    }

    /// The input tokens this request is counted for against a tokens-per-minute limit: those
    /// given with [`tokens`](RawRequest::tokens), else, for a generate request, a guess from
    /// the text of its body (the larger of its words and a quarter of its characters; inline
    /// data counts nothing), else `None` (counted as one).
    pub fn estimated_tokens(&self) -> Option<u32> {
        if self.tokens.is_some() {
            return self.tokens;
        }
        match (&self.target, &self.body) {
            (Target::Model { action, .. }, Some((_, body)))
                if action == ":generateContent" || action == ":streamGenerateContent" =>
            {
                Some(text_tokens(body, &["text"]))
            }
            // A message's `content` is a string, or parts whose `text` is.
            (Target::OpenAi { route, .. }, Some((_, body))) if route == "chat/completions" => {
                Some(text_tokens(body, &["text", "content"]))
            }
            _ => None,
        }
    }
}

/// A guess at a generate request's input tokens from its JSON, as the typed path guesses (the
/// larger of the words and a quarter of the characters of its text, at least 1): only the
/// strings of the fields named in `counted` (directly, or in an array) are read, so inline data
/// (an image in base64) counts nothing. A body that is not JSON counts a quarter of its bytes.
fn text_tokens(body: &[u8], counted: &[&str]) -> u32 {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    #[derive(Default)]
    struct Count {
        chars: u64,
        words: u64,
    }
    /// Walks a value; `counting`: its strings are text to count.
    struct Walk<'c, 'k> {
        count: &'c mut Count,
        counted: &'k [&'k str],
        counting: bool,
    }
    impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Walk<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "inlineData" || key == "inline_data" {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    map.next_value_seed(Walk {
                        count: &mut *self.count,
                        counted: self.counted,
                        counting: self.counted.contains(&key.as_ref()),
                    })?;
                }
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq
                .next_element_seed(Walk {
                    count: &mut *self.count,
                    counted: self.counted,
                    counting: self.counting,
                })?
                .is_some()
            {}
            Ok(())
        }
        fn visit_str<E>(self, text: &str) -> Result<(), E> {
            if self.counting {
                self.count.chars += text.chars().count() as u64;
                self.count.words += text.split_whitespace().count() as u64;
            }
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut count = Count::default();
    let mut json = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        count: &mut count,
        counted,
        counting: false,
    };
    let tokens = match walk.deserialize(&mut json) {
        Ok(()) => count.words.max(count.chars.div_ceil(4)),
        Err(_) => (body.len() as u64).div_ceil(4),
    };
    u32::try_from(tokens).unwrap_or(u32::MAX).max(1)
}

/// A body as a stream of chunks.
pub type RawBody = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// The answer of [`Client::send_raw`]: a success (2xx) status, its headers, its body, and the
/// route the call took.
pub struct RawResponse {
    /// The status (a success: an error answer is an [`Error`]).
    pub status: http::StatusCode,
    /// The answer's headers, as the server sent them.
    pub headers: http::HeaderMap,
    /// Where the call went.
    pub route: Route,
    body: RawBody,
}

impl fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl RawResponse {
    /// The body, chunk by chunk. For a streaming request, the first chunk was received before
    /// this answer was returned; a failure after it is the last item.
    pub fn into_body(self) -> RawBody {
        self.body
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let mut body = self.body;
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(out))
    }
}

impl Client {
    /// Sends a request through the client's routed path, the one every typed endpoint takes:
    /// the project with the most headroom for the model and one of its usable keys, the
    /// configured, learned and shared quotas, the model's breaker, the per-phase timeouts,
    /// retries and fallback models as the [client policy](crate::ClientPolicy) says; the answer
    /// is learned from and counted. The [`Route`] says where the call went.
    ///
    /// A success is read whole inside the attempt (a connection lost mid-body is retried), up
    /// to [`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes); a
    /// [streaming](RawRequest::streaming) request is held until its first chunk (an error event
    /// first is retried like an error answer), after which nothing is retried and a failure is
    /// the body's last item. An error answer (4xx, 5xx) is a classified [`Error`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use steadfast_gemini::{Client, RawRequest};
    /// use steadfast_sim::{Simulator, SimulatorConfig};
    ///
    /// let sim = Simulator::start(SimulatorConfig::default()).await?;
    /// let client = Client::builder().base_url(sim.base_url()).keys(sim.keys()).build()?;
    /// let body = br#"{"contents":[{"parts":[{"text":"hi"}]}],"someFieldOfTomorrow":1}"#;
    /// let request =
    ///     RawRequest::model(http::Method::POST, "gemini-2.5-flash", ":countTokens", body.to_vec())?;
    /// # let request = RawRequest::model(http::Method::POST, "gemini-2.5-flash", ":countTokens", br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#.to_vec())?;
    /// let answer = client.send_raw(request).await?;
    /// assert_eq!(answer.status, 200);
    /// assert_eq!(answer.route.model, "gemini-2.5-flash");
    /// assert_eq!(answer.route.attempts, 1);
    /// let bytes = answer.bytes().await?;
    /// assert!(std::str::from_utf8(&bytes)?.contains("totalTokens"));
    /// # Ok(()) }
    /// ```
    pub async fn send_raw(&self, request: RawRequest) -> Result<RawResponse, Error> {
        let sse = request.asks_for_sse();
        let streaming = request.streaming;
        let ((status, headers, body), route) = self
            .routed(&request, None, |response| async move {
                let status = response.status();
                let mut headers = response.headers().clone();
                for name in HOP_BY_HOP {
                    headers.remove(*name);
                }
                let body: RawBody = if streaming {
                    first_chunk(self.body_of(response), sse, self.inner.max_response_bytes).await?
                } else {
                    let bytes = Bytes::from(self.success_body(response).await?);
                    Box::pin(stream::once(std::future::ready(Ok(bytes))))
                };
                Ok((status, headers, body))
            })
            .await?;
        Ok(RawResponse {
            status,
            headers,
            route,
            body,
        })
    }

    /// The routed path for a raw request: each request it sends is `request` with the key and
    /// model the route picked, and its success answer is read by `finish` inside the attempt
    /// (so that what `finish` refuses, an undecodable body or a stream that fails before its
    /// first chunk, is retried like an error answer). Typed endpoints call this with a
    /// `finish` that decodes their type; a typed generate request is given for the pre-flight
    /// token guard.
    pub(crate) async fn routed<T, F, Fut>(
        &self,
        request: &RawRequest,
        generate: Option<&GenerateContentRequest>,
        finish: F,
    ) -> Result<(T, Route), Error>
    where
        F: Fn(reqwest::Response) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let chain = match (request.model_name(), request.fallback) {
            (Some(model), true) => self.chain(model),
            (Some(model), false) => vec![model.to_owned()],
            (None, _) => vec![String::new()],
        };
        let note = RouteNote::default();
        let finish = &finish;
        let value = self
            .execute_noted(
                &chain,
                generate,
                Routing {
                    tokens: request.estimated_tokens(),
                    note: Some(&note),
                    project: request.project.as_deref(),
                    until: request
                        .deadline
                        .or(self.inner.policy.retry_config().deadline)
                        .and_then(|d| tokio::time::Instant::now().checked_add(d)),
                },
                |key, model| async move {
                    let response = self.raw_once(&key, &model, request).await?;
                    finish(response).await
                },
            )
            .await?;
        Ok((value, note.take()))
    }

    /// One request of a raw call with `key`, for `model` (empty: none): the answer, when it is
    /// a success, with its body unread.
    async fn raw_once(
        &self,
        key: &ApiKey,
        model: &str,
        request: &RawRequest,
    ) -> Result<reqwest::Response, Error> {
        let body = match (&request.body_for, &request.body, &request.target) {
            (Some(build), Some((content_type, _)), _) => {
                Some((content_type.clone(), build(model)?))
            }
            (Some(build), None, _) => Some(("application/json".to_owned(), build(model)?)),
            // A fallback model answers an OpenAI-compatible request: its name goes in the body.
            (
                None,
                Some((content_type, body)),
                Target::OpenAi {
                    model: Some(asked), ..
                },
            ) if !model.is_empty() && model != asked => {
                Some((content_type.clone(), with_model(body, model)))
            }
            (None, body, _) => body.clone(),
        };
        let url = format!("{}/{}", self.inner.base_url, request.tail_for(model));
        let bearer = matches!(request.target, Target::OpenAi { .. });
        self.send_raw_http(
            key,
            request.method.clone(),
            &url,
            body,
            &request.headers,
            bearer,
        )
        .await
    }
}

/// An OpenAI-compatible body with its `model` field set to `model` (the body as it was when it
/// is not a JSON object).
fn with_model(body: &Bytes, model: &str) -> Bytes {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
        Ok(mut object) => {
            object.insert("model".to_owned(), serde_json::Value::from(model));
            serde_json::to_vec(&object).map_or_else(|_| body.clone(), Bytes::from)
        }
        Err(_) => body.clone(),
    }
}

/// Waits for a stream's first chunk: the bytes up to its first whole event (server-sent events)
/// or enough of a JSON array to see whether its first element is an error. An error before
/// the first chunk (the connection lost, the stream ended, an error event or element first,
/// more than `max_event` bytes without an event) is the attempt's result, so that it is
/// retried; after it, the stream is handed on as is, first chunk included.
async fn first_chunk<S>(body: S, sse: bool, max_event: usize) -> Result<RawBody, Error>
where
    S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
{
    let mut body = Box::pin(body);
    let mut held: Vec<Bytes> = Vec::new();
    let mut held_bytes = 0usize;
    let mut parser = crate::sse::EventParser::default();
    // Without `alt=sse`: the bytes read so far, without whitespace, up to the first element's
    // first key (`[{"error"` is an error).
    let mut head: Vec<u8> = Vec::new();
    let too_large = || {
        Error::undecodable(
            200,
            b"",
            format!(
                "a stream sent more than the client's cap of {max_event} bytes before its first event (ClientBuilder::max_response_bytes)"
            ),
        )
    };
    loop {
        let Some(chunk) = body.next().await else {
            if sse {
                if let Some(event) = parser.finish().into_iter().next() {
                    check_event(&event)?;
                    break;
                }
            } else if !head.is_empty() {
                let all: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).collect();
                if array_starts_with_error(&head) {
                    return Err(Error::from_stream_event(&all));
                }
                break;
            }
            return Err(Error::undecodable(
                200,
                b"",
                "the stream ended before its first chunk",
            ));
        };
        let chunk = chunk?;
        if chunk.is_empty() {
            continue;
        }
        held_bytes += chunk.len();
        if sse {
            let events = parser.push(&chunk);
            held.push(chunk);
            if let Some(event) = events.first() {
                check_event(event)?;
                break;
            }
        } else {
            head.extend(
                chunk
                    .iter()
                    .filter(|b| !b.is_ascii_whitespace())
                    .take(ARRAY_HEAD.saturating_sub(head.len())),
            );
            held.push(chunk);
            if head.len() >= ARRAY_HEAD || head.first().is_some_and(|&b| b != b'[') {
                if array_starts_with_error(&head) {
                    // The error element is read whole (up to the error cap) and classified.
                    let mut all: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).collect();
                    let (rest, _) =
                        super::body::read_capped(body, super::body::ERROR_BODY_CAP).await?;
                    all.extend(rest);
                    return Err(Error::from_stream_event(&all));
                }
                break;
            }
        }
        if held_bytes > max_event {
            return Err(too_large());
        }
    }
    Ok(Box::pin(stream::iter(held.into_iter().map(Ok)).chain(body)))
}

/// How many non-blank bytes of a JSON-array stream are read before its first element counts
/// as begun: enough for `[{"error"`.
const ARRAY_HEAD: usize = 9;

/// Whether a JSON-array stream begins with an error element (`[{"error"`, blanks aside).
fn array_starts_with_error(head: &[u8]) -> bool {
    head.starts_with(b"[{\"error\"")
}

/// An error event at the head of a stream is the attempt's error.
fn check_event(data: &str) -> Result<(), Error> {
    let value: serde_json::Value = match serde_json::from_str(data) {
        Ok(value) => value,
        // Not JSON: the stream's reader says so; the bytes are passed on as they came.
        Err(_) => return Ok(()),
    };
    let is_error = match &value {
        serde_json::Value::Array(items) => items.first().is_some_and(|i| i.get("error").is_some()),
        other => other.get("error").is_some(),
    };
    if is_error {
        return Err(Error::from_stream_event(data.as_bytes()));
    }
    Ok(())
}
