//! What happened to each request, once it is over: a row for the request log and the
//! Prometheus series (through the `metrics` facade).
//!
//! A request fills a [`Note`] as it goes (its relay key, route, models, project, attempts, the
//! relay's overhead, the error's kind and quota id); when its answer's last byte is sent (or
//! the client leaves) the note becomes a log row and counts. Label values are names the relay
//! chose (an endpoint from a fixed list, a relay key's or a project's configured name, an
//! error kind's name, a QuotaFailure's quota id) and models that answered: never a key, never
//! free text from a request.

use crate::log::{RequestLog, Row};
use std::sync::Arc;
use std::time::Instant;

/// The endpoints counted by name; any other is `other`.
const ENDPOINTS: &[&str] = &[
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "embedContent",
    "batchEmbedContents",
    "batchGenerateContent",
    "models.get",
    "models.list",
    "files",
    "upload",
    "download",
    "cachedContents",
    "batches",
    "openai.chat.completions",
    "openai.embeddings",
    "openai.models",
];

/// The endpoint's name for a request path (a fixed list, so that a label never carries what a
/// client wrote).
pub(crate) fn endpoint(path: &str) -> &'static str {
    let parts: Vec<&str> = path.splitn(4, '/').collect();
    let name = match parts.as_slice() {
        ["upload", ..] => "upload",
        ["download", ..] => "download",
        [_, "models"] => "models.list",
        [_, "models", rest] => match rest.split_once(':') {
            Some((_, method)) => method,
            None => "models.get",
        },
        [_, "openai", "chat", "completions"] => "openai.chat.completions",
        [_, "openai", "embeddings"] => "openai.embeddings",
        [_, "openai", "models", ..] => "openai.models",
        [_, "files", ..] => "files",
        [_, "cachedContents", ..] => "cachedContents",
        [_, "batches", ..] => "batches",
        _ => "other",
    };
    ENDPOINTS
        .iter()
        .find(|e| **e == name)
        .copied()
        .unwrap_or("other")
}

/// What one request has done so far. Finished once: by [`Note::finish`] when its answer is
/// over, or, when the request is dropped before (the client left while it waited, or the drain
/// time ended it), on drop, as a 499 `client_closed`.
#[derive(Debug)]
pub(crate) struct Note {
    pub(crate) row: Row,
    pub(crate) received: Instant,
    log: Option<Arc<RequestLog>>,
    finished: bool,
}

/// What an error answer was, kept on the response (an extension) for the note.
#[derive(Debug, Clone)]
pub(crate) struct ErrorNote {
    pub(crate) kind: String,
    pub(crate) quota_id: Option<String>,
}

/// Where a stream's producer leaves the error that ended it after its head was sent (an
/// extension of the response), so that the note counts the request as failed.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamFailure(pub(crate) Arc<std::sync::Mutex<Option<ErrorNote>>>);

impl StreamFailure {
    pub(crate) fn set(&self, error: ErrorNote) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }

    fn take(&self) -> Option<ErrorNote> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl Note {
    pub(crate) fn new(request_id: u64, path: &str, log: Option<Arc<RequestLog>>) -> Note {
        Note {
            row: Row {
                at_ms: crate::log::now_ms(),
                request_id,
                endpoint: endpoint(path).to_owned(),
                ..Row::default()
            },
            received: Instant::now(),
            log,
            finished: false,
        }
    }

    /// The answer's head is being sent.
    pub(crate) fn head(&mut self, status: u16, error: Option<&ErrorNote>) {
        self.row.status = status;
        self.row.ttfb_ms = Some(ms(self.received.elapsed()));
        if let Some(e) = error {
            self.row.error_kind = Some(e.kind.clone());
            self.row.quota_id = e.quota_id.clone();
        }
    }

    /// The answer is over (sent whole, or the client left after its head): into the log and
    /// the counts. A stream that failed after its head counts with its error.
    pub(crate) fn finish(mut self, bytes_out: u64, failure: Option<&StreamFailure>) {
        if let Some(e) = failure.and_then(StreamFailure::take) {
            self.row.error_kind = Some(e.kind);
            self.row.quota_id = e.quota_id;
        }
        self.row.bytes_out = bytes_out;
        self.done();
    }

    fn done(&mut self) {
        self.finished = true;
        self.row.total_ms = ms(self.received.elapsed());
        count(&self.row);
        if let Some(log) = &self.log {
            log.record(std::mem::take(&mut self.row));
        }
    }
}

impl Drop for Note {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped before its answer: the client closed the connection (nginx's 499).
            self.row.status = 499;
            self.row.error_kind = Some("client_closed".to_owned());
            self.done();
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The Prometheus series of one finished request.
fn count(r: &Row) {
    let endpoint = r.endpoint.clone();
    let status = r.status.to_string();
    let kind = r.error_kind.clone().unwrap_or_else(|| "none".to_owned());
    metrics::counter!("gemini_relay_requests_total", "endpoint" => endpoint.clone(), "status" => status, "kind" => kind.clone()).increment(1);
    if r.status == 429 {
        let quota = r.quota_id.clone().unwrap_or_else(|| "none".to_owned());
        metrics::counter!("gemini_relay_rate_limited_total", "kind" => kind, "quota_id" => quota)
            .increment(1);
    }
    if r.attempts > 1 {
        metrics::counter!("gemini_relay_retries_total", "endpoint" => endpoint.clone())
            .increment(u64::from(r.attempts - 1));
    }
    if let (Some(asked), Some(served)) = (&r.model_asked, &r.model_served)
        && asked != served
    {
        metrics::counter!("gemini_relay_fallbacks_total", "to" => served.clone()).increment(1);
    }
    if !r.relay_key.is_empty() {
        let key = r.relay_key.clone();
        metrics::counter!("gemini_relay_key_requests_total", "relay_key" => key.clone())
            .increment(1);
        for (direction, n) in [("prompt", r.prompt_tokens), ("answer", r.answer_tokens)] {
            if let Some(n) = n {
                metrics::counter!("gemini_relay_key_tokens_total", "relay_key" => key.clone(), "direction" => direction).increment(n);
            }
        }
    }
    if let Some(t) = r.ttfb_ms {
        metrics::histogram!("gemini_relay_ttfb_seconds", "endpoint" => endpoint.clone())
            .record(t / 1000.0);
    }
    metrics::histogram!("gemini_relay_total_seconds", "endpoint" => endpoint.clone())
        .record(r.total_ms / 1000.0);
    if let Some(o) = r.overhead_ms {
        metrics::histogram!("gemini_relay_overhead_seconds", "endpoint" => endpoint)
            .record(o / 1000.0);
    }
}

/// The prompt's and the answer's tokens in the last `usageMetadata` of `bytes` (a JSON answer,
/// or a piece of a stream), or, on the OpenAI-compatible routes, in the last `usage`: only that
/// object is read.
pub(crate) fn usage(bytes: &[u8]) -> Option<(Option<u64>, Option<u64>)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Usage {
        prompt_token_count: Option<u64>,
        candidates_token_count: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct OpenAiUsage {
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
    }
    if let Some(u) = last_object::<Usage>(bytes, b"\"usageMetadata\"") {
        return Some(sane(u.prompt_token_count, u.candidates_token_count));
    }
    let u = last_object::<OpenAiUsage>(bytes, b"\"usage\"")?;
    Some(sane(u.prompt_tokens, u.completion_tokens))
}

/// Counts past 2^53 are not tokens anyone spent: a body made to break the sums.
fn sane(prompt: Option<u64>, answer: Option<u64>) -> (Option<u64>, Option<u64>) {
    const MOST: u64 = 1 << 53;
    let sane = |n: Option<u64>| n.filter(|n| *n < MOST);
    (sane(prompt), sane(answer))
}

/// The value after the last `key` (a quoted field name) of `bytes`, read as a `T`.
fn last_object<T: serde::de::DeserializeOwned>(bytes: &[u8], key: &[u8]) -> Option<T> {
    let at = bytes.windows(key.len()).rposition(|w| w == key)?;
    let rest = &bytes[at + key.len()..];
    let colon = rest.iter().position(|b| *b == b':')?;
    let mut values = serde_json::Deserializer::from_slice(&rest[colon + 1..]).into_iter::<T>();
    values.next()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_a_fixed_list() {
        assert_eq!(
            endpoint("v1beta/models/gemini-2.5-flash:generateContent"),
            "generateContent"
        );
        assert_eq!(
            endpoint("v1/models/m:streamGenerateContent"),
            "streamGenerateContent"
        );
        assert_eq!(endpoint("v1beta/models/m:someonesFreeText"), "other");
        assert_eq!(endpoint("v1beta/models"), "models.list");
        assert_eq!(endpoint("v1beta/models/m"), "models.get");
        assert_eq!(endpoint("upload/v1beta/files"), "upload");
        assert_eq!(endpoint("v1beta/cachedContents/x"), "cachedContents");
        assert_eq!(endpoint("v1beta/tunedModels/x"), "other");
        assert_eq!(
            endpoint("v1beta/openai/chat/completions"),
            "openai.chat.completions"
        );
        assert_eq!(endpoint("v1beta/openai/models/m"), "openai.models");
        assert_eq!(endpoint("v1beta/openai/images/generations"), "other");
    }

    #[test]
    fn usage_is_read_from_the_last_usage_metadata() {
        let body = br#"{"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12},"modelVersion":"m"}"#;
        assert_eq!(usage(body), Some((Some(5), Some(7))));
        let stream = b"data: {\"usageMetadata\":{\"promptTokenCount\":5}}\r\n\r\ndata: {\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":9}}\r\n\r\n";
        assert_eq!(usage(stream), Some((Some(5), Some(9))));
        assert_eq!(usage(b"{}"), None);
        let openai = br#"data: {"choices":[],"usage":{"prompt_tokens":6,"completion_tokens":8,"total_tokens":14}}"#;
        assert_eq!(usage(openai), Some((Some(6), Some(8))));
        // A text that quotes the word is not the field.
        assert_eq!(usage(br#"{"content":"the \"usage\": 5"}"#), None);
    }
}
