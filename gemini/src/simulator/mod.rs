//! A local Gemini server for tests and examples (feature `simulator`).
//!
//! It listens on 127.0.0.1 (an ephemeral port), serves the same routes and error bodies as the
//! v1beta API, and answers with deterministic text derived from the prompt. It enforces known
//! keys (unknown key → 400 `API_KEY_INVALID`, no key → 403), per-key-and-model quotas per minute
//! (requests and input tokens) and per day, answered with QuotaFailure and RetryInfo like the real
//! service (including the short RetryInfo on a per-day quota), each model's input token limit,
//! and injects faults at configured rates from a seed: 500s, 503s, slow answers, dropped
//! connections, garbage bodies and errors inside streams. It counts what it saw.
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
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use steadfast_gemini::simulator::{Simulator, SimulatorConfig};
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! let client = sim.client()?;
//! let answer = client.generate("gemini-2.5-flash", "Say hi").await?;
//! assert!(answer.contains("Say hi"));
//! // One answer; the client's pre-flight guard also read the model's limits once.
//! assert_eq!(sim.stats().answered, 1);
//! # Ok(()) }
//! ```

mod cli;
mod quota;
mod server;

use crate::{Client, Error};
pub use cli::{CommandLine, CommandLineError, USAGE};
use quota::Quotas;
use serde_json::{Value, json};
pub use server::ServerLimits;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
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
    /// Requests per minute per key; `None` for no limit.
    pub rpm: Option<u32>,
    /// Requests per day per key (`Some(0)`: no quota on this tier).
    pub rpd: Option<u32>,
    /// Input tokens per minute per key.
    pub tpm: Option<u32>,
    /// Answer every generate request with 503 "The model is overloaded."
    pub overloaded: bool,
}

impl SimModel {
    /// A model without limits but a 1M-token input limit.
    pub fn new(name: impl Into<String>) -> Self {
        SimModel {
            name: name.into(),
            input_token_limit: 1_048_576,
            rpm: None,
            rpd: None,
            tpm: None,
            overloaded: false,
        }
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
    /// The models it serves.
    pub models: Vec<SimModel>,
    /// Injected faults.
    pub faults: Faults,
    /// The seed of the fault draws.
    pub seed: u64,
    /// Models per page of `models.list`, at most.
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
}

/// The key the default configuration accepts.
pub const SIM_KEY: &str = "sim-key-0000000000000001";

impl Default for SimulatorConfig {
    /// One key ([`SIM_KEY`]); `gemini-2.5-flash`, `gemini-2.5-pro`, `gemini-2.0-flash` and
    /// `text-embedding-004` without quotas; no faults.
    fn default() -> Self {
        SimulatorConfig {
            keys: vec![SIM_KEY.to_owned()],
            models: [
                "gemini-2.5-flash",
                "gemini-2.5-pro",
                "gemini-2.0-flash",
                "text-embedding-004",
            ]
            .into_iter()
            .map(SimModel::new)
            .collect(),
            faults: Faults::default(),
            seed: 0,
            page_size: 2,
            minute: Duration::from_secs(60),
            day: Duration::from_secs(24 * 60 * 60),
            latency: Duration::ZERO,
            server: ServerLimits::default(),
            stream_pause: Duration::from_millis(2),
        }
    }
}

/// The entry of [`SimStats::by_key`] and [`SimStats::by_model`] that counts every unknown key
/// (or model) beyond the first [`TRACKED_UNKNOWN`] distinct ones.
pub const OTHER: &str = "(other)";

/// How many distinct unknown keys (and, separately, unknown models) are counted by name; the
/// rest share the [`OTHER`] entry, so that junk cannot grow the simulator's memory. Names are
/// kept to their first 64 characters.
pub const TRACKED_UNKNOWN: usize = 32;

/// What the simulator saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests received (every route).
    pub requests: u64,
    /// Requests per key (as sent; `""` for none). Configured keys are always counted by name;
    /// unknown keys by name up to [`TRACKED_UNKNOWN`] of them, then under [`OTHER`].
    pub by_key: BTreeMap<String, u64>,
    /// Requests per model, bounded like `by_key`.
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
}

pub(crate) struct State {
    config: SimulatorConfig,
    random: Mutex<Random>,
    quotas: Quotas,
    stats: Mutex<SimStats>,
    connections: server::Connections,
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

    /// A client pointed at the simulator, with its keys and the default client policy.
    pub fn client(&self) -> Result<Client, Error> {
        self.client_with(crate::ClientPolicy::default())
    }

    /// A client pointed at the simulator, with its keys and `policy`.
    pub fn client_with(&self, policy: crate::ClientPolicy) -> Result<Client, Error> {
        let mut builder = Client::builder().base_url(self.base_url()).policy(policy);
        for key in &self.state.config.keys {
            builder = builder.key(key);
        }
        builder.build()
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
    Stream(Vec<Value>, Option<Value>),
    Drop,
}

fn error_body(code: u16, status: &str, message: &str, details: Vec<Value>) -> Value {
    let mut error = json!({"code": code, "message": message, "status": status});
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json!({ "error": error })
}

fn overloaded() -> Reply {
    Reply::Json(
        503,
        error_body(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            vec![],
        ),
    )
}

/// Words in every text part of a request body (its contents and system instruction).
fn count_words(value: &Value) -> u32 {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("text", Value::String(s)) => s.split_whitespace().count() as u32,
                _ => count_words(v),
            })
            .sum(),
        Value::Array(items) => items.iter().map(count_words).sum(),
        _ => 0,
    }
}

/// Counts one request under `name`, or under [`OTHER`] when `name` is unknown and
/// [`TRACKED_UNKNOWN`] unknown names are already counted.
/// `is_known` says which names the configuration knows: the map never holds more than those,
/// `""`, [`TRACKED_UNKNOWN`] unknown names and [`OTHER`].
fn count_bounded(
    map: &mut BTreeMap<String, u64>,
    name: &str,
    known: bool,
    is_known: impl Fn(&str) -> bool,
) {
    let name = match name.char_indices().nth(64) {
        Some((cut, _)) if !known => &name[..cut],
        _ => name,
    };
    if let Some(n) = map.get_mut(name) {
        *n += 1;
        return;
    }
    // Known names and "" are always tracked; the others until the cap.
    let unknown = || {
        map.keys()
            .filter(|k| !k.is_empty() && *k != OTHER && !is_known(k))
            .count()
    };
    if known || unknown() < TRACKED_UNKNOWN {
        map.insert(name.to_owned(), 1);
    } else {
        *map.entry(OTHER.to_owned()).or_default() += 1;
    }
}

/// The value of `name` in a query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn prompt_text(body: &Value) -> String {
    body["contents"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["parts"].as_array())
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
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

    /// Routes one request.
    pub(crate) async fn handle(
        &self,
        method: &str,
        target: &str,
        key: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let from_query = target
            .split_once('?')
            .and_then(|(_, q)| query_param(q, "key"));
        let key = key.or(from_query.as_deref());
        let known_key = key.is_some_and(|k| self.config.keys.iter().any(|c| c == k));
        self.bump(|s| {
            s.requests += 1;
            count_bounded(
                &mut s.by_key,
                key.unwrap_or(""),
                known_key || key.is_none(),
                |k| self.config.keys.iter().any(|c| c == k),
            );
        });
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Reply::Json(
                403,
                error_body(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                    vec![],
                ),
            );
        };
        if !self.config.keys.iter().any(|k| k == key) {
            return Reply::Json(
                400,
                error_body(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    vec![
                        json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                       "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}),
                    ],
                ),
            );
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let Some(rest) = path.strip_prefix("/v1beta/") else {
            return Reply::Json(
                404,
                error_body(404, "NOT_FOUND", &format!("no route for {path}"), vec![]),
            );
        };
        if method == "GET" && rest == "models" {
            return self.list(query);
        }
        let (model, action) = match rest.strip_prefix("models/") {
            Some(m) => m.split_once(':').map_or((m, None), |(m, a)| (m, Some(a))),
            None => {
                return Reply::Json(
                    404,
                    error_body(404, "NOT_FOUND", &format!("no route for {path}"), vec![]),
                );
            }
        };
        let known_model = self.model(model).is_some();
        self.bump(|s| {
            count_bounded(&mut s.by_model, model, known_model, |m| {
                self.model(m).is_some()
            })
        });
        let Some(spec) = self.model(model) else {
            return Reply::Json(
                404,
                error_body(
                    404,
                    "NOT_FOUND",
                    &format!(
                        "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
                    ),
                    vec![],
                ),
            );
        };
        if method == "GET" && action.is_none() {
            return Reply::Json(200, model_json(spec));
        }
        let body: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Reply::Json(
                    400,
                    error_body(
                        400,
                        "INVALID_ARGUMENT",
                        &format!("Invalid JSON payload received. {e}"),
                        vec![],
                    ),
                );
            }
        };
        match (method, action) {
            ("POST", Some("countTokens")) => {
                let counted = body.get("generateContentRequest").unwrap_or(&body);
                Reply::Json(200, json!({"totalTokens": count_words(counted)}))
            }
            (
                "POST",
                Some(
                    a @ ("generateContent"
                    | "streamGenerateContent"
                    | "embedContent"
                    | "batchEmbedContents"),
                ),
            ) => self.generate(spec, key, a, &body).await,
            _ => Reply::Json(
                404,
                error_body(
                    404,
                    "NOT_FOUND",
                    &format!("no route for {method} {path}"),
                    vec![],
                ),
            ),
        }
    }

    fn list(&self, query: &str) -> Reply {
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        let size = param("pageSize")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(50)
            .clamp(1, self.config.page_size.max(1));
        let start = param("pageToken")
            .and_then(|t| t.strip_prefix("page-"))
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(0);
        let models: Vec<Value> = self
            .config
            .models
            .iter()
            .skip(start)
            .take(size)
            .map(model_json)
            .collect();
        let mut page = json!({ "models": models });
        if start + size < self.config.models.len() {
            page["nextPageToken"] = json!(format!("page-{}", start + size));
        }
        Reply::Json(200, page)
    }

    async fn generate(&self, spec: &SimModel, key: &str, action: &str, body: &Value) -> Reply {
        let tokens = count_words(body);
        if (action == "generateContent" || action == "streamGenerateContent")
            && tokens > spec.input_token_limit
        {
            return Reply::Json(
                400,
                error_body(
                    400,
                    "INVALID_ARGUMENT",
                    &format!(
                        "The input token count ({tokens}) exceeds the maximum number of tokens allowed ({}).",
                        spec.input_token_limit
                    ),
                    vec![],
                ),
            );
        }
        let prompt = prompt_text(body);
        if prompt.contains("[sim:invalid]") {
            return Reply::Json(
                400,
                error_body(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid value at 'contents[0].parts[0]'.",
                    vec![
                        json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                    {"field": "contents[0].parts[0]", "description": "Invalid value at 'contents[0].parts[0]'."}]}),
                    ],
                ),
            );
        }
        if prompt.contains("[sim:precondition]") {
            return Reply::Json(
                400,
                error_body(
                    400,
                    "FAILED_PRECONDITION",
                    "User location is not supported for the API use.",
                    vec![],
                ),
            );
        }
        if prompt.contains("[sim:file]") {
            return Reply::Json(
                403,
                error_body(
                    403,
                    "PERMISSION_DENIED",
                    "You do not have permission to access the File sim-file-1 or it may not exist.",
                    vec![],
                ),
            );
        }
        if prompt.contains("[sim:leaked]") {
            return Reply::Json(
                403,
                error_body(
                    403,
                    "PERMISSION_DENIED",
                    "Your API key was reported as leaked. Please use another API key.",
                    vec![],
                ),
            );
        }
        if prompt.contains("[sim:permission]") {
            return Reply::Json(
                403,
                error_body(
                    403,
                    "PERMISSION_DENIED",
                    "The caller does not have permission",
                    vec![],
                ),
            );
        }
        if prompt.contains("[sim:exhausted]") {
            self.bump(|s| s.rate_limited += 1);
            return Reply::Json(
                429,
                error_body(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Resource has been exhausted (e.g. check quota).",
                    vec![],
                ),
            );
        }
        if prompt.contains("[sim:deadline]") {
            return Reply::Json(
                504,
                error_body(
                    504,
                    "DEADLINE_EXCEEDED",
                    "Deadline expired before operation could complete.",
                    vec![],
                ),
            );
        }
        if let Err(reply) = self.quotas.admit(spec, key, tokens, &self.config) {
            self.bump(|s| s.rate_limited += 1);
            return reply;
        }
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        let faults = &self.config.faults;
        if self.draw(faults.dropped) {
            self.bump(|s| s.faults += 1);
            return Reply::Drop;
        }
        if self.draw(faults.slow) {
            self.bump(|s| s.faults += 1);
            tokio::time::sleep(faults.slow_by).await;
        }
        if spec.overloaded || self.draw(faults.overloaded) {
            self.bump(|s| s.faults += 1);
            return overloaded();
        }
        if self.draw(faults.internal) {
            self.bump(|s| s.faults += 1);
            return Reply::Json(
                500,
                error_body(
                    500,
                    "INTERNAL",
                    "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                    vec![],
                ),
            );
        }
        if self.draw(faults.garbage) {
            self.bump(|s| s.faults += 1);
            return Reply::Raw(
                200,
                "text/html",
                b"<html><body>upstream hiccup</body></html>".to_vec(),
            );
        }
        self.bump(|s| s.answered += 1);
        match action {
            "embedContent" => Reply::Json(
                200,
                json!({"embedding": {"values": embedding(&body["content"])}}),
            ),
            "batchEmbedContents" => {
                let values: Vec<Value> = body["requests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| json!({"values": embedding(&r["content"])}))
                    .collect();
                Reply::Json(200, json!({"embeddings": values}))
            }
            _ if prompt.contains("[sim:blocked]") => Reply::Json(
                200,
                json!({
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
                "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens}}),
            ),
            _ => {
                let answer = format!("Simulated answer to: {prompt}");
                let usage = json!({"promptTokenCount": tokens, "candidatesTokenCount": answer.split_whitespace().count(),
                                   "totalTokenCount": tokens as usize + answer.split_whitespace().count()});
                let version = json!(spec.name);
                if action == "generateContent" {
                    return Reply::Json(
                        200,
                        json!({
                        "candidates": [{"content": {"role": "model", "parts": [{"text": answer}]}, "finishReason": "STOP", "index": 0}],
                        "usageMetadata": usage, "modelVersion": version, "responseId": format!("sim-{}", prompt.len())}),
                    );
                }
                let words: Vec<&str> = answer.split_inclusive(' ').collect();
                let third = words.len().div_ceil(3).max(1);
                let mut chunks: Vec<Value> = words.chunks(third).map(|w| json!({
                    "candidates": [{"content": {"role": "model", "parts": [{"text": w.concat()}]}, "index": 0}],
                    "modelVersion": version})).collect();
                let failure = self.draw(faults.stream_error).then(|| {
                    self.bump(|s| s.faults += 1);
                    error_body(
                        503,
                        "UNAVAILABLE",
                        "The model is overloaded. Please try again later.",
                        vec![],
                    )
                });
                if failure.is_none() {
                    chunks.push(json!({"candidates": [{"finishReason": "STOP", "index": 0}], "usageMetadata": usage, "modelVersion": version}));
                }
                Reply::Stream(chunks, failure)
            }
        }
    }
}

fn embedding(content: &Value) -> Vec<f32> {
    let text = content["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect::<String>();
    let mut values = vec![0.0f32; 8];
    for (i, b) in text.bytes().enumerate() {
        values[i % 8] += f32::from(b) / 255.0;
    }
    values
}

fn model_json(m: &SimModel) -> Value {
    json!({
        "name": format!("models/{}", m.name), "baseModelId": m.name, "version": "sim",
        "displayName": m.name, "inputTokenLimit": m.input_token_limit, "outputTokenLimit": 8192,
        "supportedGenerationMethods": if m.name.contains("embedding") { vec!["embedContent", "batchEmbedContents"] }
            else { vec!["generateContent", "countTokens", "streamGenerateContent"] },
    })
}
