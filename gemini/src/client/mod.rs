//! The client: keys, base URL, timeouts, and the one place where requests are sent.
//!
//! The API key travels only in the `x-goog-api-key` header, never in a URL. [`ApiKey`] keeps it
//! out of `Debug`, `Display`, errors and logs; nothing in this crate prints it.
//!
//! Every call runs under the policy entry of its model (breaker, quotas, counters). Calls
//! about no model (files, cached contents, `models.list`) share the entry of the empty model
//! name: they are not told apart in [`Client::stats`], and one breaker guards them all.

pub(crate) mod body;
mod breaker;
pub(crate) mod quota;
pub(crate) mod raw;
pub(crate) mod route;
#[cfg(feature = "redis")]
pub(crate) mod shared;
pub(crate) mod stats;
#[cfg(test)]
mod tests;

use crate::Error;
use crate::error::ErrorKind;
pub use crate::key::ApiKey;
use crate::policy::ClientPolicy;
use quota::{Project, QuotaSnapshot};
use route::ModelState;
use stats::ClientStats;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::classify::{Classify, Transport};

/// Locks `m`, also after a panic elsewhere poisoned it: the data it guards (counters, routes,
/// dead keys) stays meaningful.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

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
    /// Per key: why it is out of the pool (invalid or rejected), if it is.
    pub(crate) dead: Vec<Mutex<Option<Error>>>,
    /// The pool's projects; every key belongs to exactly one.
    pub(crate) projects: Vec<Project>,
    pub(crate) policy: ClientPolicy,
    pub(crate) models: ModelState,
    pub(crate) first_byte_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    /// Quotas kept in Redis, shared with every process of the deployment.
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<Arc<shared::SharedQuotas>>,
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
            .field(
                "projects",
                &self
                    .inner
                    .projects
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>(),
            )
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
/// the retry settings' `deadline` ([`ClientPolicy::retry_with`]).
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    /// Keys in the order given, each with the project it was declared in (`None`: its own).
    keys: Vec<(ApiKey, Option<String>)>,
    /// Projects declared, in order, with how many keys each was given (empty ones included,
    /// to refuse them at `build`).
    projects: Vec<(String, usize)>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    request_timeout: Option<Duration>,
    max_response_bytes: usize,
    policy: ClientPolicy,
    #[cfg(feature = "redis")]
    shared: Option<Arc<shared::SharedQuotas>>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            keys: Vec::new(),
            projects: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            request_timeout: None,
            max_response_bytes: body::DEFAULT_MAX_RESPONSE_BYTES,
            policy: ClientPolicy::default(),
            #[cfg(feature = "redis")]
            shared: None,
        }
    }
}

impl ClientBuilder {
    /// Adds a key (several form a pool) whose project is not declared: it counts as a project
    /// of its own. An empty key is ignored.
    ///
    /// Gemini counts quotas per *project* (and model), not per key: two keys of one project
    /// share one quota. Declare such keys together with [`project`](ClientBuilder::project),
    /// or the client takes them for two quotas, sends twice what one project allows, and
    /// meets 429s it could have avoided.
    pub fn key(mut self, key: impl AsRef<str>) -> Self {
        let key = ApiKey::new(key);
        if !key.expose().is_empty() {
            self.keys.push((key, None));
        }
        self
    }

    /// Adds several keys, each as with [`key`](ClientBuilder::key): a project of its own.
    ///
    /// ```
    /// let client = steadfast_gemini::Client::builder()
    ///     .keys(["example-key-aaaa-0000001", "example-key-bbbb-0000002"])
    ///     .build()?;
    /// assert_eq!(client.quotas().projects.len(), 2);
    /// # Ok::<(), steadfast_gemini::Error>(())
    /// ```
    pub fn keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        for key in keys {
            self = self.key(key);
        }
        self
    }

    /// Declares a project of the pool and its keys: the keys share one quota per model, as the
    /// server counts it, and every request sent with any of them is counted against it.
    ///
    /// `build` refuses an empty or repeated project name, one made of digits only (keys given
    /// alone are labelled by number: `"1"`, `"2"`), a project without keys (an empty
    /// key counts as none), and a key given twice (in one project, in two, or also with
    /// [`key`](ClientBuilder::key)); its error names the key by its fingerprint only.
    ///
    /// ```
    /// use steadfast_gemini::Client;
    /// let client = Client::builder()
    ///     .project("research", ["example-key-aaaa-0000001", "example-key-aaaa-0000002"])
    ///     .project("batch", ["example-key-bbbb-0000003"])
    ///     .build()?;
    /// let quotas = client.quotas();
    /// assert_eq!(quotas.projects.len(), 2);
    /// assert_eq!(quotas.projects[0].keys, ["****0001", "****0002"]);
    /// # Ok::<(), steadfast_gemini::Error>(())
    /// ```
    pub fn project<I, K>(mut self, name: &str, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let mut given = 0;
        for key in keys {
            let key = ApiKey::new(key);
            if !key.expose().is_empty() {
                given += 1;
                self.keys.push((key, Some(name.to_owned())));
            }
        }
        self.projects.push((name.to_owned(), given));
        self
    }

    /// The server to talk to (the local simulator in tests); no trailing slash needed. It must
    /// start with `http://` or `https://` and have no query or fragment ([`build`] refuses
    /// one: request paths are appended to it).
    ///
    /// [`build`]: ClientBuilder::build
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
    /// healthy streams too; prefer the retry settings' `deadline` ([`ClientPolicy::retry_with`]) and the phase timeouts.
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

    /// Keeps the per-project-and-model quotas in Redis (feature `redis`), so that every
    /// process of a deployment shares them: what each process sent, the limits any process
    /// learned from a 429, and the server's refusals. See [`SharedQuotas`](crate::SharedQuotas).
    #[cfg(feature = "redis")]
    pub fn shared_quotas(mut self, shared: shared::SharedQuotas) -> Self {
        self.shared = Some(Arc::new(shared));
        self
    }

    /// Builds the client; fails without a key, with a key holding a control character (it
    /// cannot go in a header), or with an unusable base URL.
    ///
    /// Also makes [`Error`] recognised inside type-erased errors (`anyhow::Error`,
    /// `Box<dyn Error + Send + Sync>`), so that an application function returning those and
    /// calling this client is retried by its `#[resilient]` attribute on the right failures.
    pub fn build(self) -> Result<Client, Error> {
        steadfast::classify::register::<Error>();
        let projects = self.pool()?;
        if self.keys.is_empty() {
            return Err(Error::configuration(
                "no API key: set GEMINI_API_KEY or pass one with ClientBuilder::key",
            ));
        }
        // A key is sent in a header: one holding a control character (a line break inside it,
        // a NUL, DEL) cannot be, and would fail every call as a transport error. The key is not
        // quoted: its position says which.
        if let Some(position) = self
            .keys
            .iter()
            .position(|(k, _)| k.expose().bytes().any(|b| b.is_ascii_control()))
        {
            return Err(Error::configuration(format!(
                "API key number {} (counting from 1, in the order given) holds a control \
                 character (a line break, tab, NUL or DEL), which cannot go in an HTTP header: \
                 check how the key was read",
                position + 1
            )));
        }
        // The URL is not quoted in these messages: it may hold a key.
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::configuration(
                "the base URL must start with http:// or https://",
            ));
        }
        // Paths are appended to the base URL: a query or fragment would end up in the middle
        // of every URL (and a `?key=` in it would be sent with every request).
        if self.base_url.contains(['?', '#']) {
            return Err(Error::configuration(
                "the base URL must have no query (`?…`) or fragment (`#…`): give the scheme, host, port and path prefix only, and the key with ClientBuilder::key",
            ));
        }
        let mut http = reqwest::Client::builder()
            // Never follow a redirect: reqwest would resend `x-goog-api-key` to the new host.
            .redirect(reqwest::redirect::Policy::none())
            // Every attempt is the policy's. reqwest's own retries apply only to HTTP/2
            // refusals (with reqwest's `http2` feature, which this crate does not turn on), and
            // allowing them made reqwest copy every request's headers in case of one.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .connect_timeout(self.connect_timeout);
        if let Some(total) = self.request_timeout {
            http = http.timeout(total);
        }
        let http = http
            .build()
            .map_err(|e| Error::configuration(format!("cannot build the HTTP client: {e}")))?;
        // Checked now, so that a bad policy is an error here, not on the first call.
        self.policy.build_for("")?;
        let keys: Vec<ApiKey> = self.keys.into_iter().map(|(k, _)| k).collect();
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: self.base_url,
                dead: keys.iter().map(|_| Mutex::new(None)).collect(),
                projects,
                keys,
                policy: self.policy,
                models: ModelState::default(),
                first_byte_timeout: self.first_byte_timeout,
                idle_timeout: self.idle_timeout,
                max_response_bytes: self.max_response_bytes,
                #[cfg(feature = "redis")]
                shared: self.shared,
            }),
        })
    }
}

impl ClientBuilder {
    /// The pool's projects, checked: declared ones where their name first appears, and one per
    /// key whose project is not declared, in the order the keys were given.
    fn pool(&self) -> Result<Vec<Project>, Error> {
        let mut seen: Vec<&ApiKey> = Vec::new();
        for (key, _) in &self.keys {
            if seen.contains(&key) {
                return Err(Error::configuration(format!(
                    "the key {key} is given twice: each key belongs to one project; give it once"
                )));
            }
            seen.push(key);
        }
        for (i, (name, given)) in self.projects.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(Error::configuration(
                    "a project has an empty name: name each project declared with ClientBuilder::project",
                ));
            }
            if name.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::configuration(format!(
                    "the project `{name}` is named by a number, which is how keys given alone are labelled: give it a name with a letter"
                )));
            }
            if self.projects[..i].iter().any(|(n, _)| n == name) {
                return Err(Error::configuration(format!(
                    "the project `{name}` is declared twice: declare each project once, with all its keys"
                )));
            }
            if *given == 0 {
                return Err(Error::configuration(format!(
                    "the project `{name}` has no key: give it at least one, or leave it out"
                )));
            }
        }
        let mut projects: Vec<Project> = Vec::new();
        for (index, (_, project)) in self.keys.iter().enumerate() {
            match project {
                Some(name) => match projects.iter_mut().find(|p| p.declared && p.name == *name) {
                    Some(p) => p.keys.push(index),
                    None => projects.push(Project {
                        name: name.clone(),
                        declared: true,
                        keys: vec![index],
                    }),
                },
                None => projects.push(Project {
                    name: (projects.len() + 1).to_string(),
                    declared: false,
                    keys: vec![index],
                }),
            }
        }
        Ok(projects)
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

    /// What the client knows about its quotas, per project and model: every limit with where it
    /// comes from (configured, learned from a 429's QuotaFailure, or adaptive), what is used of
    /// it in the current window, and until when a project is refused. Keys appear as
    /// fingerprints (`****abcd`) only. Models appear once called.
    ///
    /// ```
    /// use steadfast_gemini::{Client, ClientPolicy, ModelLimits};
    /// let client = Client::builder()
    ///     .key("example-key-not-real-0001")
    ///     .policy(ClientPolicy::default().limits("gemini-2.5-flash", ModelLimits { rpm: Some(10), ..Default::default() }))
    ///     .build()?;
    /// let quotas = client.quotas();
    /// assert_eq!(quotas.projects[0].name, "1");
    /// assert!(quotas.projects[0].models.is_empty(), "no call yet");
    /// # Ok::<(), steadfast_gemini::Error>(())
    /// ```
    pub fn quotas(&self) -> QuotaSnapshot {
        let entries: Vec<(String, Arc<route::ModelEntry>)> = lock(&self.inner.models.entries)
            .iter()
            .map(|(m, e)| (m.clone(), Arc::clone(e)))
            .collect();
        let mut entries = entries;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let projects = self
            .inner
            .projects
            .iter()
            .enumerate()
            .map(|(index, p)| quota::ProjectQuotas {
                name: p.name.clone(),
                declared: p.declared,
                keys: p.keys.iter().map(|&k| self.inner.keys[k].label()).collect(),
                dead_keys: p
                    .keys
                    .iter()
                    .filter(|&&k| lock(&self.inner.dead[k]).is_some())
                    .count(),
                rejected: p
                    .keys
                    .iter()
                    .filter_map(|&k| {
                        lock(&self.inner.dead[k])
                            .as_ref()
                            .map(|e| (self.inner.keys[k].label(), e.kind().name()))
                    })
                    .collect(),
                models: entries
                    .iter()
                    .map(|(_, e)| e.quotas.snapshot(index))
                    .collect(),
            })
            .collect();
        QuotaSnapshot { projects }
    }

    /// The client's counters, per model: requests sent, answers, retries, requests sent again
    /// through another project, 429s by scope, waits for quota.
    ///
    /// Calls about no model (the Files API, cached content, listing models) share one entry
    /// under the empty model name `""`, with one circuit breaker and one set of counters: many
    /// failing uploads can open the breaker for cache and `models.list` calls too, and their
    /// counts are added together here.
    pub fn stats(&self) -> ClientStats {
        let entries = lock(&self.inner.models.entries);
        ClientStats {
            models: entries
                .iter()
                .map(|(m, e)| (m.clone(), e.counters.snapshot(&e.policy)))
                .collect(),
        }
    }

    /// The client-level policy.
    pub fn policy(&self) -> &ClientPolicy {
        &self.inner.policy
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Puts back in the pool every key the API refused (taken out as invalid or not allowed;
    /// [`quotas`](Client::quotas) lists them): the next calls try them again, and a key still
    /// refused is taken out again by its next answer. For keys mended outside the program (a
    /// project enabled again, a key restored) without building a new client, which would
    /// forget what this one has learned of the quotas.
    ///
    /// ```
    /// let client = steadfast_gemini::Client::builder().key("not-a-real-key").build()?;
    /// client.revive_keys();
    /// assert!(client.quotas().projects.iter().all(|p| p.dead_keys == 0));
    /// # Ok::<(), steadfast_gemini::Error>(())
    /// ```
    pub fn revive_keys(&self) {
        for dead in &self.inner.dead {
            *lock(dead) = None;
        }
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
        let body = body.map(|b| ("application/json", bytes_crate::Bytes::from(b)));
        self.send_with(Some(key), method, url, body, &[]).await
    }

    /// [`send`](Client::send) with a body of any type and extra headers; without a key (`None`)
    /// for a URL that needs none (an upload session's, which carries its own authorisation).
    pub(crate) async fn send_with(
        &self,
        key: Option<&ApiKey>,
        method: reqwest::Method,
        url: &str,
        body: Option<(&'static str, bytes_crate::Bytes)>,
        headers: &[(&'static str, String)],
    ) -> Result<reqwest::Response, Error> {
        let mut request = self.inner.http.request(method, url);
        if let Some(key) = key {
            request = request.header("x-goog-api-key", key.expose());
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        if let Some((content_type, body)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        self.dispatch(request).await
    }

    /// A raw call's request with `key`: its body, content type and headers as given (the raw
    /// request has already dropped credentials and per-connection headers).
    pub(crate) async fn send_raw_http(
        &self,
        key: &ApiKey,
        method: reqwest::Method,
        url: &str,
        body: Option<(String, bytes_crate::Bytes)>,
        headers: &[(http::HeaderName, http::HeaderValue)],
        bearer: bool,
    ) -> Result<reqwest::Response, Error> {
        let mut request = self.inner.http.request(method, url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request = if bearer {
            // Gemini's OpenAI-compatible routes document the key this way.
            let mut value = http::HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .map_err(|_| Error::configuration("an API key is not a valid header value"))?;
            value.set_sensitive(true);
            request.header(http::header::AUTHORIZATION, value)
        } else {
            request.header("x-goog-api-key", key.expose())
        };
        if let Some((content_type, body)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        self.dispatch(request).await
    }

    /// Sends a built request under the first-byte timeout; a success answer is returned with
    /// its body unread, anything else becomes the classified error.
    async fn dispatch(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
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
/// (seconds or an HTTP date), so that neither signal is undercut. One over a year is ignored
/// (see `error::credible`).
pub(crate) fn header_hint(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ms = text("retry-after-ms")
        .and_then(steadfast::hint::parse_retry_after_ms)
        .and_then(crate::error::credible);
    let after = text("retry-after")
        .and_then(|v| steadfast::hint::parse_retry_after(v, now))
        .and_then(crate::error::credible);
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
