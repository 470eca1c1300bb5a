//! A local Gemini server for tests, examples and any SDK; the command is `gemini-sim`.
//!
//! It is independent of the client: point any client (`steadfast-gemini`'s, Google's SDKs, curl)
//! at [`Simulator::base_url`] with one of [`Simulator::keys`].
//!
//! It is hyper's HTTP/1.1 server on 127.0.0.1 (keep-alive, pipelining, chunked bodies,
//! `Expect: 100-continue`; limits on connections, header and idle time, request sizes: see
//! [`ServerLimits`]), and it answers like the v1beta REST reference, under `/v1beta/` and
//! `/v1/`:
//!
//! - routes `models` (paged), `models/{id}`, and `models/{id}:generateContent`,
//!   `:streamGenerateContent` (server-sent events with `alt=sse`, else one JSON array),
//!   `:countTokens`, `:embedContent`, `:batchEmbedContents`; 404 and 405 for anything else; the
//!   key from `x-goog-api-key` or `?key=` (none → 403, unknown → 400 `API_KEY_INVALID` with
//!   ErrorInfo and LocalizedMessage);
//! - strict payloads: an unknown field is 400 "Invalid JSON payload received. Unknown name …",
//!   a missing `contents` is 400 "* GenerateContentRequest.contents: contents is not
//!   specified";
//! - generation: `maxOutputTokens` (`MAX_TOKENS`), `stopSequences`, `candidateCount`, JSON mode
//!   with `responseSchema` or `responseJsonSchema`, function calls (`toolConfig` mode `ANY`, or
//!   a prompt naming a declared function) and `functionResponse` turns, usage that counts the
//!   system instruction; answers are deterministic for a seed;
//! - models with their real token limits and methods (`gemini-2.5-flash`, `gemini-2.5-pro`,
//!   `gemini-2.0-flash`, `gemini-embedding-001`, `text-embedding-004`), embeddings of their
//!   real size (3 072, 768) honouring `outputDimensionality`;
//! - Gemini's OpenAI-compatible routes under `/v1beta/openai/` (`chat/completions`, plain and
//!   streamed, `embeddings`, `models`), for the OpenAI SDKs: the key as `Authorization: Bearer`,
//!   the request translated to the native one and answered by the same quotas, markers and
//!   faults, errors in the real routes' `[{"error": …}]` shape;
//! - the Files API (resumable uploads with the real `X-Goog-Upload-*` headers, get, paged list,
//!   delete) and `cachedContents` (create, get, list, TTL or expiry update, delete), per project,
//!   in bounded memory ([`FileLimits`], [`CacheLimits`]); a prompt's `fileData` must name a live
//!   file and `cachedContent` a live cache (403 otherwise, as the real service answers), and
//!   the cache's tokens come back in `usageMetadata.cachedContentTokenCount`;
//! - quotas per key and model per minute (requests, input tokens) and per day (reset at
//!   midnight Pacific on a simulated clock, see [`SimulatorConfig::day`]), answered with
//!   QuotaFailure, Help and RetryInfo in whole seconds and "Please retry in N.NNNNNNNNNs" like
//!   the real service (including the short RetryInfo on a per-day quota);
//! - faults at configured rates from a seed: 500s, 503s, slow answers, dropped connections,
//!   garbage bodies and errors inside streams.
//!
//! It counts what it saw ([`SimStats`]), in bounded memory: junk keys and model names share one
//! entry beyond the first few.
//!
//! Tokens are counted as whitespace-separated words, here and in `countTokens`.
//!
//! A prompt can ask for a specific answer, to test how a client handles it:
//!
//! | marker in the prompt | answer |
//! | --- | --- |
//! | `[sim:blocked]` | 200 with `promptFeedback.blockReason = SAFETY` and no candidate |
//! | `[sim:invalid]` | 400 INVALID_ARGUMENT with a BadRequest field violation |
//! | `[sim:precondition]` | 400 FAILED_PRECONDITION ("User location is not supported") |
//! | `[sim:deadline]` | 504 DEADLINE_EXCEEDED |
//! | `[sim:permission]` | 403 PERMISSION_DENIED ("The caller does not have permission") |
//! | `[sim:file]` | 403 PERMISSION_DENIED about a file ("You do not have permission to access the File … or it may not exist") |
//! | `[sim:leaked]` | 403 PERMISSION_DENIED "Your API key was reported as leaked" |
//! | `[sim:exhausted]` | 429 RESOURCE_EXHAUSTED without details |
//! | `[sim:internal]` | 500 INTERNAL |
//! | `[sim:overloaded]` | 503 UNAVAILABLE ("The model is overloaded") |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use steadfast_sim::{Simulator, SimulatorConfig};
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! // Any HTTP client will do; this one is reqwest.
//! let answer = reqwest::Client::new()
//!     .post(format!("{}/v1beta/models/gemini-2.5-flash:generateContent", sim.base_url()))
//!     .header("x-goog-api-key", &sim.keys()[0])
//!     .body(r#"{"contents":[{"parts":[{"text":"Say hi"}]}]}"#)
//!     .send()
//!     .await?;
//! assert_eq!(answer.status(), 200);
//! assert!(answer.text().await?.contains("Say hi"));
//! assert_eq!(sim.stats().answered, 1);
//! # Ok(()) }
//! ```

mod batches;
mod caches;
mod content;
mod errors;
mod files;
mod generate;
mod openai;
mod quota;
mod request;
mod resources;
mod routes;
mod server;
mod store;
mod validate;

pub use batches::BatchLimits;
pub use caches::CacheLimits;
pub use files::FileLimits;
use quota::Quotas;
use serde_json::Value;
pub use server::ServerLimits;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast::retry::Random;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A model the simulator serves, with its limits.
#[derive(Debug, Clone)]
pub struct SimModel {
    /// The id, without `models/`.
    pub name: String,
    /// The most input tokens (words) in a prompt.
    pub input_token_limit: u32,
    /// The most output tokens, as `models.get` reports it.
    pub output_token_limit: u32,
    /// Requests per minute per project (see [`SimulatorConfig::projects`]); `None` for no
    /// limit.
    pub rpm: Option<u32>,
    /// Requests per day per project (`Some(0)`: no quota on this tier).
    pub rpd: Option<u32>,
    /// Input tokens per minute per project.
    pub tpm: Option<u32>,
    /// Answer every generate request with 503 "The model is overloaded."
    pub overloaded: bool,
}

impl SimModel {
    /// A model without quotas. A name of the real API (`gemini-2.5-flash`, `gemini-2.5-pro`,
    /// `gemini-2.0-flash`, `gemini-embedding-001`, `text-embedding-004`) gets its real token
    /// limits; another name the limits of a generation model (1 048 576 in, 8 192 out), or of an
    /// embedding model (2 048 in) when the name contains `embedding`.
    ///
    /// ```
    /// use steadfast_sim::SimModel;
    /// assert_eq!(SimModel::new("gemini-2.5-pro").output_token_limit, 65_536);
    /// assert_eq!(SimModel::new("gemini-embedding-001").input_token_limit, 2_048);
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let (input_token_limit, output_token_limit) = match name.as_str() {
            "gemini-2.5-flash" | "gemini-2.5-pro" | "gemini-2.5-flash-lite" => (1_048_576, 65_536),
            n if n.contains("embedding") => (2_048, 1),
            _ => (1_048_576, 8_192),
        };
        SimModel {
            name,
            input_token_limit,
            output_token_limit,
            rpm: None,
            rpd: None,
            tpm: None,
            overloaded: false,
        }
    }

    fn is_embedding(&self) -> bool {
        self.name.contains("embedding")
    }

    /// The size of its embeddings: 3 072 for `gemini-embedding-001`, 768 for other embedding
    /// models.
    fn embedding_size(&self) -> usize {
        if self.name == "gemini-embedding-001" {
            3072
        } else {
            768
        }
    }

    fn methods(&self) -> &'static [&'static str] {
        if self.is_embedding() {
            &[
                "embedContent",
                "batchEmbedContents",
                "countTextTokens",
                "countTokens",
            ]
        } else {
            &[
                "generateContent",
                "countTokens",
                "createCachedContent",
                "batchGenerateContent",
                "streamGenerateContent",
            ]
        }
    }

    fn supports(&self, action: request::Action) -> bool {
        self.methods().contains(&action.method_name())
    }

    fn version(&self) -> &'static str {
        match self.name.as_str() {
            "text-embedding-004" => "004",
            "gemini-2.0-flash" | "gemini-embedding-001" => "001",
            _ => "2.5",
        }
    }

    fn display_name(&self) -> String {
        self.name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Fault rates (0.0 to 1.0), drawn per request from the seed.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// 500 INTERNAL.
    pub internal: f64,
    /// 503 UNAVAILABLE ("overloaded").
    pub overloaded: f64,
    /// Answers delayed by `slow_by`.
    pub slow: f64,
    /// The delay of a slow answer.
    pub slow_by: Duration,
    /// Connections closed without an answer.
    pub dropped: f64,
    /// 200 answers whose body is not JSON.
    pub garbage: f64,
    /// Streams that send one chunk, then an error event.
    pub stream_error: f64,
}

/// What the simulator serves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The keys it accepts.
    pub keys: Vec<String>,
    /// Keys that belong to one project and so share its quotas, as the real API counts them
    /// (per project and model, not per key). A key in no group is a project of its own.
    pub projects: Vec<Vec<String>>,
    /// The models it serves.
    pub models: Vec<SimModel>,
    /// Injected faults.
    pub faults: Faults,
    /// The seed of the fault draws and of generated content (JSON answers, function
    /// arguments, embeddings).
    pub seed: u64,
    /// Models per page of `models.list`, at most (50, the real default page size).
    pub page_size: usize,
    /// The length of the simulator's "minute" for per-minute quotas (60 s; shorten it to test
    /// quota waits in milliseconds).
    pub minute: Duration,
    /// The length of the simulator's "day" (24 h). Per-day quotas reset at midnight Pacific
    /// time on a simulated clock that starts at the real time and runs `24 h / day` times as
    /// fast, so a `day` of 10 s resets them every 10 s.
    pub day: Duration,
    /// A delay before every answer of a generate or embed request (none by default).
    pub latency: Duration,
    /// HTTP limits: connections, timeouts, request sizes.
    pub server: ServerLimits,
    /// The pause before each event of a stream. Default 2 ms.
    pub stream_pause: Duration,
    /// What the Files API may store (number of files, bytes, how long).
    pub files: FileLimits,
    /// What `cachedContents` may store (number, bytes, the smallest cache).
    pub caches: CacheLimits,
    /// The Batch API's limits and pace: how long a batch waits and runs.
    pub batches: BatchLimits,
}

/// The key the default configuration accepts.
pub const SIM_KEY: &str = "sim-key-0000000000000001";

impl Default for SimulatorConfig {
    /// One key ([`SIM_KEY`]); `gemini-2.5-flash`, `gemini-2.5-pro`, `gemini-2.0-flash`,
    /// `gemini-embedding-001` and `text-embedding-004` with their real token limits and no
    /// quotas; no faults; pages of 50 models.
    fn default() -> Self {
        SimulatorConfig {
            keys: vec![SIM_KEY.to_owned()],
            projects: Vec::new(),
            models: [
                "gemini-2.5-flash",
                "gemini-2.5-pro",
                "gemini-2.0-flash",
                "gemini-embedding-001",
                "text-embedding-004",
            ]
            .into_iter()
            .map(SimModel::new)
            .collect(),
            faults: Faults::default(),
            seed: 0,
            page_size: 50,
            minute: Duration::from_secs(60),
            day: Duration::from_secs(24 * 60 * 60),
            latency: Duration::ZERO,
            server: ServerLimits::default(),
            stream_pause: Duration::from_millis(2),
            files: FileLimits::default(),
            caches: CacheLimits::default(),
            batches: BatchLimits::default(),
        }
    }
}

/// The one entry of [`SimStats::by_key`] and [`SimStats::by_model`] that counts every key (or
/// model) the configuration does not know, so that junk cannot grow the simulator's memory.
pub const OTHER: &str = "(other)";

/// What the simulator saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests received (every route).
    pub requests: u64,
    /// Requests per key: configured keys by name, requests without a key under `""`, every
    /// other key under [`OTHER`].
    pub by_key: BTreeMap<String, u64>,
    /// Requests per model: known models by name, every other name under [`OTHER`].
    pub by_model: BTreeMap<String, u64>,
    /// Connections open now.
    pub connections_open: u64,
    /// Connections accepted since the start.
    pub connections_accepted: u64,
    /// Connections closed at once because [`ServerLimits::max_connections`] were open.
    pub connections_refused: u64,
    /// Connections closed by the header or idle timeout.
    pub connections_timed_out: u64,
    /// Per-key, per-model quota records held (one per configured key and model used).
    pub quota_records: u64,
    /// 429 answers sent.
    pub rate_limited: u64,
    /// Faults injected (500, 503, slow, dropped, garbage, stream error).
    pub faults: u64,
    /// Successful answers.
    pub answered: u64,
    /// `generateContent` and `streamGenerateContent` requests that reached a model (valid and
    /// routed), whatever the answer: what the real API counts against a quota.
    pub generate_requests: u64,
}

pub(crate) struct State {
    config: SimulatorConfig,
    random: Mutex<Random>,
    quotas: Quotas,
    stats: Mutex<SimStats>,
    connections: server::Connections,
    /// Generate requests answered, for response ids.
    serial: AtomicU64,
    /// Uploaded files and cached contents.
    storage: store::Storage,
    /// The address it listens on: a `fileData` URI of this host names an uploaded file.
    addr: SocketAddr,
}

/// A running simulator. Dropping it shuts it down gracefully in the background (the listener
/// closes at once; requests in flight get [`ServerLimits::grace`]); [`Simulator::shutdown`]
/// does the same and waits for it.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Simulator {
    /// Starts serving on 127.0.0.1 on a free port.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Simulator> {
        Simulator::start_on(config, 0).await
    }

    /// Starts serving on 127.0.0.1:`port` (0: a free port).
    pub async fn start_on(config: SimulatorConfig, port: u16) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        Simulator::serve(config, listener)
    }

    /// Serves on a listener the caller bound (any address).
    pub fn serve(config: SimulatorConfig, listener: TcpListener) -> std::io::Result<Simulator> {
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            random: Mutex::new(Random::seeded(config.seed)),
            quotas: Quotas::default(),
            stats: Mutex::new(SimStats::default()),
            connections: server::Connections::default(),
            serial: AtomicU64::new(0),
            storage: store::Storage::default(),
            addr,
            config,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, Arc::clone(&state), stopped));
        Ok(Simulator {
            addr,
            state,
            stop,
            task: Some(task),
        })
    }

    /// Stops accepting, closes idle connections, lets requests in flight finish (for at most
    /// [`ServerLimits::grace`]) and returns when every connection is closed.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The keys it accepts ([`SimulatorConfig::keys`]): give them to a client pointed at
    /// [`base_url`].
    ///
    /// [`base_url`]: Simulator::base_url
    pub fn keys(&self) -> &[String] {
        &self.state.config.keys
    }

    /// What it saw so far.
    pub fn stats(&self) -> SimStats {
        let mut stats = self
            .state
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let c = &self.state.connections;
        stats.connections_open = c.open.load(Ordering::Relaxed);
        stats.connections_accepted = c.accepted.load(Ordering::Relaxed);
        stats.connections_refused = c.refused.load(Ordering::Relaxed);
        stats.connections_timed_out = c.timed_out.load(Ordering::Relaxed);
        stats.quota_records = self.state.quotas.records();
        stats
    }
}

/// The answer to one request, before it is written.
pub(crate) enum Reply {
    Json(u16, Value),
    Raw(u16, &'static str, Vec<u8>),
    /// Chunks of a stream, an error to end it with after the first chunk, and its framing:
    /// server-sent events (`alt=sse`) or one JSON array; `done`: server-sent events that end
    /// with `data: [DONE]` when no error ended them (the OpenAI-compatible routes).
    Stream {
        chunks: Vec<Value>,
        failure: Option<Value>,
        sse: bool,
        done: bool,
    },
    /// Another reply with extra response headers (a 405's `Allow`, an upload URL).
    Headers(Vec<(&'static str, String)>, Box<Reply>),
    Drop,
}

impl State {
    fn bump(&self, f: impl FnOnce(&mut SimStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn draw(&self, rate: f64) -> bool {
        rate > 0.0
            && self
                .random
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_f64()
                < rate
    }

    fn model(&self, name: &str) -> Option<&SimModel> {
        self.config.models.iter().find(|m| m.name == name)
    }
}
