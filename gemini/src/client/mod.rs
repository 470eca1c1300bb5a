//! The client: keys, base URL, timeouts, and the one place where requests are sent.
//!
//! The API key travels only in the `x-goog-api-key` header, never in a URL. [`ApiKey`] keeps it
//! out of `Debug`, `Display`, errors and logs; nothing in this crate prints it.

pub(crate) mod body;
mod breaker;
mod route;

use crate::Error;
use crate::error::ErrorKind;
use crate::policy::ClientPolicy;
use route::{KeyHealth, ModelState};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use steadfast::classify::{Classify, Transport};

/// The production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// An API key. Its `Debug` and `Display` print `ApiKey(****)` and the last four characters at
/// most, so a key never reaches a log line by accident.
///
/// ```
/// let key = steadfast_gemini::ApiKey::new("example-not-a-real-key-1234");
/// assert_eq!(format!("{key:?}"), "ApiKey(****1234)");
/// assert!(!format!("{key}").contains("not-a-real"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl AsRef<str>) -> Self {
        ApiKey(Arc::from(key.as_ref().trim()))
    }

    /// The key itself, for the request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A label safe to log: the last four characters, when the key is long enough that they do
    /// not give it away.
    pub fn label(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 16 {
            format!(
                "****{}",
                chars[chars.len() - 4..].iter().collect::<String>()
            )
        } else {
            "****".to_owned()
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.label())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// A Gemini client; cheap to clone (one `Arc`), safe to share between tasks.
///
/// ```no_run
/// # async fn demo() -> Result<(), steadfast_gemini::Error> {
/// let client = steadfast_gemini::Client::from_env()?; // GEMINI_API_KEY
/// let text = client.generate("gemini-2.5-flash", "Say hi").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) keys: Vec<ApiKey>,
    pub(crate) health: Vec<KeyHealth>,
    pub(crate) policy: ClientPolicy,
    pub(crate) models: ModelState,
    pub(crate) first_byte_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_response_bytes: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field(
                "base_url",
                &crate::error::redact::google_keys(&self.inner.base_url)
                    .unwrap_or_else(|| self.inner.base_url.clone()),
            )
            .field("keys", &self.inner.keys)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
///
/// Timeouts fit streaming: there is no total limit on a request by default, because a healthy
/// stream may last many minutes. Instead each phase has its own limit:
///
/// | phase | setting | default |
/// | --- | --- | --- |
/// | opening the connection | [`connect_timeout`](ClientBuilder::connect_timeout) | 10 s |
/// | from sending to the answer's status and headers | [`first_byte_timeout`](ClientBuilder::first_byte_timeout) | 60 s |
/// | between two chunks of the body (or of a stream) | [`idle_timeout`](ClientBuilder::idle_timeout) | 30 s |
/// | the whole exchange | [`request_timeout`](ClientBuilder::request_timeout) | none |
///
/// A non-streaming `generateContent` sends its headers only when the whole answer is ready; a
/// long answer from a thinking model can take more than 60 s: stream it, or raise
/// `first_byte_timeout`. To bound a whole call, retries and waits included, set
/// [`ClientPolicy::deadline`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    keys: Vec<ApiKey>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    request_timeout: Option<Duration>,
    max_response_bytes: usize,
    policy: ClientPolicy,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            keys: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            request_timeout: None,
            max_response_bytes: body::DEFAULT_MAX_RESPONSE_BYTES,
            policy: ClientPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// Adds a key (several form a pool).
    pub fn key(mut self, key: impl AsRef<str>) -> Self {
        self.keys.push(ApiKey::new(key));
        self
    }

    /// The server to talk to (the local simulator in tests); no trailing slash needed.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait, once the request is sent, for the answer's status and headers
    /// (time to first byte; default 60 s).
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = timeout;
        self
    }

    /// How long the body of an answer, or a stream, may stay silent between two chunks (default
    /// 30 s). A stream that keeps sending is never cut by it.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// A limit on each whole HTTP exchange, body and stream included (none by default). It cuts
    /// healthy streams too; prefer [`ClientPolicy::deadline`] and the phase timeouts.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// The largest success body read (default 32 MiB), and the largest single event of a stream;
    /// a larger one is an [`Undecodable`](ErrorKind::Undecodable) error. Error bodies are read up
    /// to 64 KiB, the rest dropped.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes.max(1);
        self
    }

    /// The client-level policy (on by default; [`ClientPolicy::off`] to send each call once).
    pub fn policy(mut self, policy: ClientPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds the client; fails without a key or with an unusable base URL.
    ///
    /// Also makes [`Error`] recognised inside type-erased errors (`anyhow::Error`,
    /// `Box<dyn Error + Send + Sync>`), so that an application function returning those and
    /// calling this client is retried by its `#[resilient]` attribute on the right failures.
    pub fn build(self) -> Result<Client, Error> {
        steadfast::classify::register::<Error>();
        if self.keys.iter().all(|k| k.expose().is_empty()) {
            return Err(Error::configuration(
                "no API key: set GEMINI_API_KEY or pass one with ClientBuilder::key",
            ));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::configuration(format!(
                "base URL `{}` must start with http:// or https://",
                self.base_url
            )));
        }
        let mut http = reqwest::Client::builder()
            // Never follow a redirect: reqwest would resend `x-goog-api-key` to the new host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout);
        if let Some(total) = self.request_timeout {
            http = http.timeout(total);
        }
        let http = http
            .build()
            .map_err(|e| Error::configuration(format!("cannot build the HTTP client: {e}")))?;
        // Checked now, so that a bad policy is an error here, not on the first call.
        self.policy.build_for("")?;
        let keys: Vec<ApiKey> = self
            .keys
            .into_iter()
            .filter(|k| !k.expose().is_empty())
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: self.base_url,
                health: keys.iter().map(|_| KeyHealth::default()).collect(),
                keys,
                policy: self.policy,
                models: ModelState::default(),
                first_byte_timeout: self.first_byte_timeout,
                idle_timeout: self.idle_timeout,
                max_response_bytes: self.max_response_bytes,
            }),
        })
    }
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client with the key in `GEMINI_API_KEY`; a clear error when it is unset or empty.
    pub fn from_env() -> Result<Client, Error> {
        match std::env::var("GEMINI_API_KEY") {
            Ok(key) if !key.trim().is_empty() => Client::builder().key(key).build(),
            _ => Err(Error::configuration(
                "GEMINI_API_KEY is not set: export it, or build the client with ClientBuilder::key",
            )),
        }
    }

    /// The keys, redacted.
    pub fn keys(&self) -> &[ApiKey] {
        &self.inner.keys
    }

    /// The client-level policy.
    pub fn policy(&self) -> &ClientPolicy {
        &self.inner.policy
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The full URL of a path under `/v1beta/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/v1beta/{}", self.inner.base_url, path)
    }

    /// Sends a request with `key`; returns the status and body of a success, or the classified
    /// error. The URL never carries the key.
    pub(crate) async fn send(
        &self,
        key: &ApiKey,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, Error> {
        let mut request = self
            .inner
            .http
            .request(method, url)
            .header("x-goog-api-key", key.expose());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let first_byte = self.inner.first_byte_timeout;
        let response = match tokio::time::timeout(first_byte, request.send()).await {
            Ok(sent) => sent.map_err(transport_error)?,
            Err(_) => {
                return Err(Error::transport(
                    Transport::Timeout,
                    format!(
                        "timed out: no answer (status and headers) within {first_byte:?} of sending the request (first-byte timeout)"
                    ),
                ));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            return Err(Error::redirect(status.as_u16(), location.as_deref()));
        }
        let hint = header_hint(response.headers(), std::time::SystemTime::now());
        let (bytes, _) = body::read_capped(self.body_of(response), body::ERROR_BODY_CAP).await?;
        Err(Error::from_body(status.as_u16(), &bytes).with_header_hint(hint))
    }

    /// The body of `response` as chunks, under the idle timeout.
    pub(crate) fn body_of(
        &self,
        response: reqwest::Response,
    ) -> impl futures_util::Stream<Item = Result<bytes_crate::Bytes, Error>> + Send + use<> {
        body::with_idle_timeout(
            Box::pin(response.bytes_stream()),
            self.inner.idle_timeout,
            transport_error,
        )
    }

    /// The whole body of a success, up to `max_response_bytes`.
    pub(crate) async fn success_body(&self, response: reqwest::Response) -> Result<Vec<u8>, Error> {
        let status = response.status().as_u16();
        let cap = self.inner.max_response_bytes;
        let too_large = |bytes: &[u8]| {
            Error::undecodable(
                status,
                bytes,
                format!(
                    "the answer is larger than the client's cap of {cap} bytes (ClientBuilder::max_response_bytes)"
                ),
            )
        };
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(too_large(b""));
        }
        match body::read_capped(self.body_of(response), cap).await? {
            (bytes, false) => Ok(bytes),
            (bytes, true) => Err(too_large(&bytes[..bytes.len().min(256)])),
        }
    }
}

/// The delay an answer's headers ask for: the longer of `retry-after-ms` and `Retry-After`
/// (seconds or an HTTP date), so that neither signal is undercut.
pub(crate) fn header_hint(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ms = text("retry-after-ms").and_then(steadfast::hint::parse_retry_after_ms);
    let after = text("retry-after").and_then(|v| steadfast::hint::parse_retry_after(v, now));
    ms.max(after)
}

/// A reqwest failure as a transport error that says what happened first ("timed out", "could
/// not connect", "the connection was lost", "the answer is not HTTP"), then reqwest's own words
/// and those of its causes, and keeps the reqwest error as its `source()`. The URL is left out
/// (it holds no key, but the text should not depend on that staying true).
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    let e = e.without_url();
    let mut chain = e.to_string();
    let mut not_http = false;
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        // hyper reports an answer it cannot parse as HTTP as a `Parse` error; there is no way to
        // ask for it through reqwest, so it is recognised by its debug form (pinned by the test
        // `garbage_instead_of_http_is_not_a_connection_reset`).
        not_http |= format!("{c:?}").starts_with("hyper::Error(Parse(");
        cause = c.source();
    }
    let classified = e
        .failure()
        .and_then(|f| f.transport_kind())
        .unwrap_or(Transport::Other);
    let (kind, what) = if e.is_timeout() || classified == Transport::Timeout {
        (Transport::Timeout, "timed out")
    } else if not_http {
        (Transport::Other, "the server's answer is not HTTP")
    } else {
        match classified {
            Transport::Connect => (Transport::Connect, "could not connect"),
            Transport::Reset => (Transport::Reset, "the connection was lost"),
            other => (other, "transport error"),
        }
    };
    Error::transport_caused_by(kind, format!("{what}: {chain}"), e)
}

impl Error {
    /// A configuration problem found before any request.
    pub(crate) fn configuration(message: impl Into<String>) -> Error {
        Error::with_kind(ErrorKind::Configuration, message.into())
    }
}
