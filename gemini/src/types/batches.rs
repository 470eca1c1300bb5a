//! The Batch API's resource: a batch job of `generateContent` requests, run by the service at
//! its own pace (within 24 hours, at half the price), under limits of its own rather than the
//! model's per-minute ones.

use super::{GenerateContentRequest, GenerateContentResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One request of a batch, and the key its result comes back under.
///
/// ```
/// use steadfast_gemini::types::{BatchRequest, GenerateContentRequest};
/// let requests = vec![
///     BatchRequest::new("q1", GenerateContentRequest::prompt("Why is the sky blue?")),
///     BatchRequest::new("q2", GenerateContentRequest::prompt("Why is the sea salty?")),
/// ];
/// // The input file of a large batch: one `{"key": …, "request": …}` per line.
/// let jsonl = BatchRequest::jsonl(&requests)?;
/// assert_eq!(jsonl.iter().filter(|b| **b == b'\n').count(), 2);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    /// The key the result comes back under: unique within the batch.
    pub key: String,
    /// The request, as [`Client::generate_content`](crate::Client::generate_content) takes it.
    pub request: GenerateContentRequest,
}

impl BatchRequest {
    /// A request under `key`.
    pub fn new(key: impl Into<String>, request: GenerateContentRequest) -> Self {
        BatchRequest {
            key: key.into(),
            request,
        }
    }

    /// The requests as a JSON Lines input file (`{"key": …, "request": …}` per line): upload
    /// it with [`Client::upload_file`](crate::Client::upload_file) (`application/jsonl`) and
    /// give its name as [`BatchInput::File`]. Suited to batches larger than an inlined request
    /// may be (20 MB).
    pub fn jsonl(requests: &[BatchRequest]) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::new();
        for r in requests {
            serde_json::to_writer(&mut out, &json!({"key": r.key, "request": r.request}))?;
            out.push(b'\n');
        }
        Ok(out)
    }
}

/// Where a batch's requests come from.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchInput {
    /// Sent in the create request itself (up to 20 MB in all); the results come back inlined,
    /// in the same order.
    Inlined(Vec<BatchRequest>),
    /// An uploaded JSON Lines file (`files/…`, see [`BatchRequest::jsonl`]); the results come
    /// back as a file. The batch is created through the project that holds the file, when it
    /// is known ([`BatchInput::file`] takes it from the [`File`](super::File)); another
    /// project's keys cannot read it.
    File {
        /// `files/{id}`.
        name: String,
        /// The label of the project that holds it.
        project: Option<String>,
    },
}

impl BatchInput {
    /// The requests in an uploaded file, created through the project that holds it.
    pub fn file(file: &super::File) -> Self {
        BatchInput::File {
            name: file.name.clone(),
            project: Some(file.project.clone()).filter(|p| !p.is_empty()),
        }
    }

    /// The `batch` object of a `batchGenerateContent` request.
    pub(crate) fn to_json(&self, display_name: &str) -> Value {
        let input = match self {
            BatchInput::Inlined(requests) => json!({"requests": {"requests": requests
                .iter()
                .map(|r| json!({"request": r.request, "metadata": {"key": r.key}}))
                .collect::<Vec<_>>()}}),
            BatchInput::File { name, .. } => json!({"fileName": name}),
        };
        json!({"batch": {"displayName": display_name, "inputConfig": input}})
    }
}

/// A batch's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchState {
    /// Queued, not yet running.
    Pending,
    /// Running.
    Running,
    /// Done: every request has its result (some may be errors).
    Succeeded,
    /// Failed as a whole.
    Failed,
    /// Cancelled before it was done.
    Cancelled,
    /// Not done within the service's time limit (48 hours).
    Expired,
    /// A state this version does not know, as the service named it.
    Other(String),
}

impl BatchState {
    fn parse(text: &str) -> BatchState {
        match text {
            "BATCH_STATE_PENDING" | "JOB_STATE_PENDING" | "JOB_STATE_QUEUED" => BatchState::Pending,
            "BATCH_STATE_RUNNING" | "JOB_STATE_RUNNING" => BatchState::Running,
            "BATCH_STATE_SUCCEEDED" | "JOB_STATE_SUCCEEDED" => BatchState::Succeeded,
            "BATCH_STATE_FAILED" | "JOB_STATE_FAILED" => BatchState::Failed,
            "BATCH_STATE_CANCELLED" | "JOB_STATE_CANCELLED" => BatchState::Cancelled,
            "BATCH_STATE_EXPIRED" | "JOB_STATE_EXPIRED" => BatchState::Expired,
            other => BatchState::Other(other.to_owned()),
        }
    }

    /// Whether the batch will not change any more.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            BatchState::Succeeded
                | BatchState::Failed
                | BatchState::Cancelled
                | BatchState::Expired
        )
    }
}

/// How far a batch has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Requests in the batch.
    pub requests: u64,
    /// Not yet run.
    pub pending: u64,
    /// Answered.
    pub succeeded: u64,
    /// Failed (each alone: the batch goes on).
    pub failed: u64,
}

/// An error of one request of a batch (or of the whole batch): a `google.rpc.Status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchError {
    /// The `google.rpc.Code` (3 INVALID_ARGUMENT, 7 PERMISSION_DENIED, 8 RESOURCE_EXHAUSTED,
    /// 13 INTERNAL, …): inside a batch the service writes RPC codes, not the HTTP status the
    /// request would have had alone; [`status`](BatchError::status) names it.
    pub code: Option<u16>,
    /// What went wrong, as the service wrote it.
    pub message: String,
    /// The status name (`INVALID_ARGUMENT`, …).
    pub status: Option<String>,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, &self.status) {
            (Some(code), Some(status)) => write!(f, "{code} {status}: {}", self.message),
            (Some(code), None) => write!(f, "{code}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// The result of one request of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult {
    /// The request's key ([`BatchRequest::key`]); `None` when the service gave none back.
    pub key: Option<String>,
    /// Its answer, or why it has none.
    pub outcome: Result<GenerateContentResponse, BatchError>,
}

/// Where a done batch's results are.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutput {
    /// In the batch itself, in the order of its requests.
    Inlined(Vec<BatchResult>),
    /// In a generated file (`files/…`), one JSON line per request.
    File(String),
}

/// A batch job, as the service reports it (`batches/{id}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `batches/{id}`.
    pub name: String,
    /// The name given at creation.
    pub display_name: Option<String>,
    /// `models/{model}`.
    pub model: Option<String>,
    /// Where it is.
    pub state: BatchState,
    /// Whether the service says the job is over (its operation's `done`), whatever `state`
    /// says: a state this version does not know is over when this is.
    pub done: bool,
    /// How far it has come.
    pub stats: BatchStats,
    /// When it was created, updated last and done (RFC 3339).
    pub create_time: Option<String>,
    /// When it was updated last.
    pub update_time: Option<String>,
    /// When it was done.
    pub end_time: Option<String>,
    /// Its results, once it succeeded.
    pub output: Option<BatchOutput>,
    /// Why the whole batch failed, when it did.
    pub error: Option<BatchError>,
    /// The label of the project that holds it ([`Route::project`](crate::Route::project)):
    /// only that project's keys can read it, so the client sends every later call about it
    /// there. Empty when it is not known (a batch named by a string).
    pub project: String,
}

/// The long-running operation the service answers with.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Operation {
    name: String,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    response: Option<OutputWire>,
    #[serde(default)]
    error: Option<BatchError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Metadata {
    display_name: Option<String>,
    model: Option<String>,
    state: Option<String>,
    create_time: Option<String>,
    update_time: Option<String>,
    end_time: Option<String>,
    batch_stats: StatsWire,
    output: Option<OutputWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct StatsWire {
    request_count: Option<Value>,
    pending_request_count: Option<Value>,
    successful_request_count: Option<Value>,
    failed_request_count: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OutputWire {
    responses_file: Option<String>,
    inlined_responses: Option<InlinedWire>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct InlinedWire {
    inlined_responses: Vec<ResultWire>,
}

/// One result: inlined (`metadata.key`) or a line of the output file (`key`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ResultWire {
    key: Option<String>,
    metadata: Option<Value>,
    response: Option<GenerateContentResponse>,
    error: Option<BatchError>,
}

impl ResultWire {
    pub(crate) fn into_result(self) -> BatchResult {
        let key = self.key.or_else(|| {
            self.metadata
                .as_ref()
                .and_then(|m| m.get("key"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let outcome = match (self.response, self.error) {
            (_, Some(error)) => Err(error),
            (Some(response), None) => Ok(response),
            (None, None) => Err(BatchError {
                code: None,
                message: "the service gave this request neither a response nor an error".to_owned(),
                status: None,
            }),
        };
        BatchResult { key, outcome }
    }
}

/// An int64 the service writes as a string (or a number).
fn count(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_u64().unwrap_or(0),
        None => 0,
    }
}

impl Operation {
    pub(crate) fn into_batch(self, project: String) -> Batch {
        let m = self.metadata;
        let output = m.output.or(self.response).and_then(|o| {
            match (o.responses_file, o.inlined_responses) {
                (Some(file), _) => Some(BatchOutput::File(file)),
                (None, Some(inlined)) => Some(BatchOutput::Inlined(
                    inlined
                        .inlined_responses
                        .into_iter()
                        .map(ResultWire::into_result)
                        .collect(),
                )),
                (None, None) => None,
            }
        });
        let s = m.batch_stats;
        Batch {
            name: self.name,
            display_name: m.display_name,
            model: m.model,
            state: m
                .state
                .as_deref()
                .map_or(BatchState::Other(String::new()), BatchState::parse),
            done: self.done,
            stats: BatchStats {
                requests: count(s.request_count.as_ref()),
                pending: count(s.pending_request_count.as_ref()),
                succeeded: count(s.successful_request_count.as_ref()),
                failed: count(s.failed_request_count.as_ref()),
            },
            create_time: m.create_time,
            update_time: m.update_time,
            end_time: m.end_time,
            output,
            error: self.error,
            project,
        }
    }
}

/// A page of `batches.list`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ListOperations {
    pub(crate) operations: Vec<Operation>,
    pub(crate) next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_reads_as_a_batch() {
        let op: Operation = serde_json::from_value(json!({
            "name": "batches/abc",
            "metadata": {"displayName": "d", "model": "models/m", "state": "BATCH_STATE_SUCCEEDED",
                "batchStats": {"requestCount": "2", "successfulRequestCount": "1", "failedRequestCount": 1},
                "output": {"inlinedResponses": {"inlinedResponses": [
                    {"response": {"candidates": []}, "metadata": {"key": "a"}},
                    {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}]}}},
            "done": true
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let b = op.into_batch("p".into());
        assert_eq!(b.state, BatchState::Succeeded);
        assert!(b.state.is_done());
        assert_eq!(b.stats.requests, 2);
        assert_eq!(b.stats.failed, 1);
        let Some(BatchOutput::Inlined(results)) = b.output else {
            panic!("inlined")
        };
        assert_eq!(results[0].key.as_deref(), Some("a"));
        assert!(results[0].outcome.is_ok());
        assert_eq!(results[1].key, None);
        assert_eq!(
            results[1].outcome.as_ref().err().and_then(|e| e.code),
            Some(400)
        );
        let unknown = BatchState::parse("BATCH_STATE_SOMETHING_NEW");
        assert!(!unknown.is_done());
    }
}
