//! The Batch API: `models/{model}:batchGenerateContent` queues many generate requests as one
//! job, whose long-running operation is read at `batches/{id}`, listed at `batches`, cancelled
//! at `batches/{id}:cancel` and deleted with `DELETE batches/{id}`.
//!
//! A batch takes its requests inlined (`inputConfig.requests.requests[]`, each a `request` and
//! its `metadata`) or from an uploaded JSON Lines file (`inputConfig.fileName`, a line
//! `{"key": …, "request": {…}}` per request). It moves through its states in the simulator's
//! time ([`BatchLimits`]): `BATCH_STATE_PENDING` for [`BatchLimits::queued`], then
//! `BATCH_STATE_RUNNING` for [`BatchLimits::per_request`] per request (its `batchStats` counting
//! them off), then `BATCH_STATE_SUCCEEDED`; `BATCH_STATE_CANCELLED` once cancelled, and
//! `BATCH_STATE_EXPIRED` when it would not be done within [`BatchLimits::expire_after`].
//!
//! Each request is answered as a `generateContent` of its own (validation, markers, generated
//! content), but outside the model's per-minute and per-day quotas and without injected faults:
//! batches have limits of their own. A request that fails (an unknown field, a `[sim:…]`
//! marker) fails alone: its place in the output holds its `error`, and the batch still
//! succeeds. Inlined requests get inlined responses, in order, with their `metadata`; a file
//! gets a file (`responsesFile`, source `GENERATED`), downloadable at
//! `files/{id}:download?alt=media`, a line `{"key": …, "response": {…}}` or `{"key": …,
//! "error": {…}}` per request.
//!
//! A request's error is a `google.rpc.Status` as the service writes one inside a batch: its
//! `code` is the RPC code (3 for INVALID_ARGUMENT, 7 for PERMISSION_DENIED, …), not the HTTP
//! status the same request would have had alone.
//!
//! Batches belong to the key's project; another project's batch is a 404, as for a name that
//! does not exist. A project holds at most [`BatchLimits::max_running`] unfinished batches and
//! [`BatchLimits::max_enqueued`] unfinished requests (429 RESOURCE_EXHAUSTED with a
//! QuotaFailure beyond); the simulator keeps at most [`BatchLimits::max_kept`] batches and
//! [`BatchLimits::max_bytes`] of their input, dropping the oldest finished ones first. An output
//! file counts against [`FileLimits`](super::FileLimits) like an upload (the oldest generated
//! files make room first); when it cannot be stored, the batch fails
//! (`BATCH_STATE_FAILED`, with the reason in the operation's `error`).

use super::request::Action;
use super::store::{Item, StoredBatch, empty, new_id, page_token, paging, project_of, timestamp};
use super::{Reply, State, errors};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// Limits and pace of the Batch API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLimits {
    /// Unfinished (pending or running) batches a project may have at once: 100, as the real
    /// service allows.
    pub max_running: usize,
    /// Requests in unfinished batches a project may have at once (100 000 by default).
    pub max_enqueued: usize,
    /// Requests in one batch (10 000 by default).
    pub max_requests: usize,
    /// Batches kept in all, finished ones included (200 by default): beyond, the oldest
    /// finished one is dropped.
    pub max_kept: usize,
    /// Bytes of input the kept batches may hold in all (64 MiB by default): beyond, the oldest
    /// finished ones are dropped, and a batch that still does not fit is refused (429).
    pub max_bytes: usize,
    /// How long a batch waits before it runs (1 s by default).
    pub queued: Duration,
    /// How long each of its requests takes while it runs (5 ms by default).
    pub per_request: Duration,
    /// A batch not done this long after its creation is expired (48 hours, as the real
    /// service's).
    pub expire_after: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_running: 100,
            max_enqueued: 100_000,
            max_requests: 10_000,
            max_kept: 200,
            max_bytes: 64 * 1024 * 1024,
            queued: Duration::from_secs(1),
            per_request: Duration::from_millis(5),
            expire_after: Duration::from_secs(48 * 3600),
        }
    }
}

/// Where a batch is at `now`.
enum Phase {
    Pending,
    Running { done: usize },
    Succeeded { at: Instant },
    Failed { at: Instant },
    Cancelled { at: Instant },
    Expired { at: Instant },
}

impl StoredBatch {
    fn phase(&self, limits: &BatchLimits, now: Instant) -> Phase {
        if let Some(at) = self.cancelled {
            return Phase::Cancelled { at };
        }
        // A wait too long for the clock: pending for good.
        let Some(start) = self.created.checked_add(limits.queued) else {
            return Phase::Pending;
        };
        let work = limits
            .per_request
            .saturating_mul(u32::try_from(self.items.len()).unwrap_or(u32::MAX));
        let end = start.checked_add(work);
        let expiry = self.created.checked_add(limits.expire_after);
        match (end, expiry) {
            (Some(end), Some(expiry)) if end > expiry && now >= expiry => {
                return Phase::Expired { at: expiry };
            }
            (None, Some(expiry)) if now >= expiry => return Phase::Expired { at: expiry },
            (Some(end), _) if now >= end && self.failure.is_some() => {
                return Phase::Failed { at: end };
            }
            (Some(end), _) if now >= end => return Phase::Succeeded { at: end },
            _ => {}
        }
        if now < start {
            return Phase::Pending;
        }
        let per = limits.per_request.as_nanos().max(1);
        let done = ((now - start).as_nanos() / per).min(self.items.len() as u128) as usize;
        Phase::Running { done }
    }

    fn unfinished(&self, limits: &BatchLimits, now: Instant) -> bool {
        matches!(
            self.phase(limits, now),
            Phase::Pending | Phase::Running { .. }
        )
    }
}

fn not_found() -> Reply {
    errors::status(404, "NOT_FOUND", "Requested entity was not found.", vec![])
}

fn bad(message: &str) -> Reply {
    errors::status(400, "INVALID_ARGUMENT", message, vec![])
}

/// A status object for a request that could not be run, with the RPC code of its status.
fn status(status: &str, message: &str) -> Value {
    let code = match status {
        "CANCELLED" => 1,
        "INVALID_ARGUMENT" => 3,
        "DEADLINE_EXCEEDED" => 4,
        "NOT_FOUND" => 5,
        "PERMISSION_DENIED" => 7,
        "RESOURCE_EXHAUSTED" => 8,
        "FAILED_PRECONDITION" => 9,
        "UNAVAILABLE" => 14,
        "UNAUTHENTICATED" => 16,
        _ => 13,
    };
    json!({"code": code, "message": message, "status": status})
}

impl State {
    /// The batch routes: `None` for any other path.
    pub(super) async fn batches(
        &self,
        method: &str,
        path: &str,
        query: &str,
        key: Option<&str>,
    ) -> Option<Reply> {
        let rest = path
            .strip_prefix("/v1beta/")
            .or_else(|| path.strip_prefix("/v1/"))?;
        let name = match rest.strip_prefix("batches") {
            Some("") => None,
            Some(name) => Some(name.strip_prefix('/')?),
            None => return None,
        };
        let (id, cancel) = match name.map(|n| n.split_once(':').unwrap_or((n, ""))) {
            None => (None, false),
            Some((id, "")) => (Some(id), false),
            Some((id, "cancel")) => (Some(id), true),
            Some(_) => return Some(errors::no_such_url(path)),
        };
        if id.is_some_and(|id| id.is_empty() || id.contains('/')) {
            return Some(errors::no_such_url(path));
        }
        let allow = match (id, cancel) {
            (None, _) => "GET",
            (Some(_), false) => "GET, DELETE",
            (Some(_), true) => "POST",
        };
        if !allow.split(", ").any(|m| m == method) {
            return Some(errors::wrong_method(method, path, allow));
        }
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Some(errors::no_key());
        };
        if !self.config.keys.iter().any(|k| k == key) {
            return Some(errors::api_key_invalid());
        }
        let project = project_of(&self.config, key);
        Some(match (id, cancel, method) {
            (None, _, _) => self.list_batches(&project, query).await,
            (Some(id), true, _) => self.cancel_batch(&project, id),
            (Some(id), false, "GET") => self.get_batch(&project, id).await,
            (Some(id), false, _) => self.delete_batch(&project, id),
        })
    }

    /// `models/{model}:batchGenerateContent`: queues a batch.
    pub(super) fn create_batch(&self, model: &str, key: &str, body: &Value) -> Reply {
        let limits = &self.config.batches;
        let Some(batch) = body.get("batch").filter(|b| b.is_object()) else {
            return bad("* BatchGenerateContentRequest.batch: batch is not specified");
        };
        if let Some(unknown) = batch.as_object().and_then(|o| {
            o.keys().find(|k| {
                !matches!(
                    k.as_str(),
                    "displayName"
                        | "display_name"
                        | "inputConfig"
                        | "input_config"
                        | "priority"
                        | "model"
                        | "webhookConfig"
                )
            })
        }) {
            return errors::invalid_payload(&format!(
                "Invalid JSON payload received. Unknown name \"{}\" at 'batch': Cannot find field.",
                unknown.chars().take(100).collect::<String>()
            ));
        }
        let display_name = batch
            .get("displayName")
            .or_else(|| batch.get("display_name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let input = batch
            .get("inputConfig")
            .or_else(|| batch.get("input_config"));
        let Some(input) = input else {
            return bad(
                "* BatchGenerateContentRequest.batch.input_config: input_config is not specified",
            );
        };
        let file = input
            .get("fileName")
            .or_else(|| input.get("file_name"))
            .and_then(Value::as_str);
        let inlined = input
            .get("requests")
            .and_then(|r| r.get("requests"))
            .and_then(Value::as_array);
        let project = project_of(&self.config, key);
        let items = match (file, inlined) {
            (Some(_), Some(_)) => {
                return bad("input_config takes either file_name or requests, not both");
            }
            (None, None) => {
                return bad("input_config needs file_name or requests.requests");
            }
            (None, Some(requests)) if requests.len() > limits.max_requests => {
                return bad(&format!(
                    "A batch takes at most {} requests; this one has {}.",
                    limits.max_requests,
                    requests.len()
                ));
            }
            (None, Some(requests)) => requests
                .iter()
                .map(|r| Item {
                    metadata: r.get("metadata").cloned(),
                    key: None,
                    request: r
                        .get("request")
                        .filter(|q| q.is_object())
                        .cloned()
                        .ok_or_else(|| {
                            status("INVALID_ARGUMENT", "The entry has no `request` object.")
                        }),
                })
                .collect::<Vec<_>>(),
            (Some(name), None) => match self.file_lines(&project, name, limits.max_requests) {
                Ok(items) => items,
                Err(reply) => return reply,
            },
        };
        if items.is_empty() {
            return bad("A batch needs at least one request.");
        }
        if items.len() > limits.max_requests {
            return bad(&format!(
                "A batch takes at most {} requests; this one has {}.",
                limits.max_requests,
                items.len()
            ));
        }
        let bytes = match (file, inlined) {
            (Some(name), _) => self.file_size(&project, name),
            _ => input.to_string().len(),
        };
        if bytes > limits.max_bytes {
            return bad(&format!(
                "The batch's input has {bytes} bytes, more than the simulator keeps for batches in all (BatchLimits::max_bytes, {}).",
                limits.max_bytes
            ));
        }
        let now = Instant::now();
        let mut stored = self.storage.lock();
        let mine_unfinished: Vec<usize> = stored
            .batches
            .values()
            .filter(|b| b.project == project && b.unfinished(limits, now))
            .map(|b| b.items.len())
            .collect();
        let over = if mine_unfinished.len() >= limits.max_running {
            Some(("ConcurrentBatchesPerProject", limits.max_running))
        } else if mine_unfinished.iter().sum::<usize>() + items.len() > limits.max_enqueued {
            Some(("EnqueuedBatchRequestsPerProject", limits.max_enqueued))
        } else {
            None
        };
        if let Some((quota, value)) = over {
            self.bump(|s| s.rate_limited += 1);
            return errors::status(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota for batches; wait for a batch to finish, or cancel one.",
                vec![
                    json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaMetric": "generativelanguage.googleapis.com/batch_requests",
                                    "quotaId": quota, "quotaValue": value.to_string(),
                                    "quotaDimensions": {"model": model}}]}),
                ],
            );
        }
        // Room for one more: drop the oldest finished batches.
        let held = |stored: &super::store::Stored| -> usize {
            stored.batches.values().map(|b| b.bytes).sum()
        };
        while stored.batches.len() >= limits.max_kept
            || held(&stored).saturating_add(bytes) > limits.max_bytes
        {
            let oldest = stored
                .batches
                .iter()
                .find(|(_, b)| !b.unfinished(limits, now))
                .map(|(serial, _)| *serial);
            match oldest {
                Some(serial) => {
                    stored.batches.remove(&serial);
                }
                None => {
                    return errors::status(
                        429,
                        "RESOURCE_EXHAUSTED",
                        "The simulator holds as many unfinished batches, or bytes of them, as it may (BatchLimits::max_kept, max_bytes).",
                        vec![],
                    );
                }
            }
        }
        stored.serial += 1;
        let serial = stored.serial;
        let batch = StoredBatch {
            project,
            name: format!("batches/{}", new_id(self.config.seed, serial, 16)),
            display_name,
            model: format!("models/{model}"),
            created: now,
            items,
            from_file: file.is_some(),
            cancelled: None,
            results: None,
            output_file: None,
            bytes,
            failure: None,
        };
        let answer = self.batch_json(&batch, now);
        stored.batches.insert(serial, batch);
        self.bump(|s| s.answered += 1);
        Reply::Json(200, answer)
    }

    /// The size of `project`'s file `name` (0 when it has none).
    fn file_size(&self, project: &str, name: &str) -> usize {
        let name = format!("files/{}", name.trim_start_matches("files/"));
        self.storage
            .lock()
            .files
            .values()
            .find(|f| f.name == name && f.project == project)
            .map_or(0, |f| f.bytes.len())
    }

    /// The requests of an uploaded JSON Lines file of `project`: at most `most` + 1 of them
    /// are read (one more is a batch too large).
    fn file_lines(&self, project: &str, name: &str, most: usize) -> Result<Vec<Item>, Reply> {
        let id = name.trim_start_matches("files/");
        // The bytes are copied out, and read after the store's lock is released.
        let bytes = {
            let stored = self.storage.lock();
            let Some(file) = stored
                .files
                .values()
                .find(|f| f.name == format!("files/{id}") && f.project == project)
            else {
                return Err(errors::status(
                    403,
                    "PERMISSION_DENIED",
                    &format!(
                        "You do not have permission to access the File {id} or it may not exist."
                    ),
                    vec![],
                ));
            };
            file.bytes.clone()
        };
        let text = String::from_utf8_lossy(&bytes);
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .take(most.saturating_add(1))
            .map(|(n, line)| match serde_json::from_str::<Value>(line) {
                Ok(v) => Item {
                    metadata: None,
                    key: v.get("key").and_then(Value::as_str).map(str::to_owned),
                    request: v
                        .get("request")
                        .filter(|r| r.is_object())
                        .cloned()
                        .ok_or_else(|| {
                            status(
                                "INVALID_ARGUMENT",
                                &format!("Line {} has no `request` object.", n + 1),
                            )
                        }),
                },
                Err(_) => Item {
                    metadata: None,
                    key: None,
                    request: Err(status(
                        "INVALID_ARGUMENT",
                        &format!("Line {} is not JSON.", n + 1),
                    )),
                },
            })
            .collect())
    }

    /// A batch as its long-running operation, at `now`.
    fn batch_json(&self, batch: &StoredBatch, now: Instant) -> Value {
        let limits = &self.config.batches;
        let phase = batch.phase(limits, now);
        let total = batch.items.len();
        let (state, done_count, end) = match phase {
            Phase::Pending => ("BATCH_STATE_PENDING", 0, None),
            Phase::Running { done } => ("BATCH_STATE_RUNNING", done, None),
            // Its results are being computed by another request: still running.
            Phase::Succeeded { .. } if batch.results.is_none() => {
                ("BATCH_STATE_RUNNING", total.saturating_sub(1), None)
            }
            Phase::Succeeded { at } => ("BATCH_STATE_SUCCEEDED", total, Some(at)),
            Phase::Failed { at } => ("BATCH_STATE_FAILED", 0, Some(at)),
            Phase::Cancelled { at } => ("BATCH_STATE_CANCELLED", 0, Some(at)),
            Phase::Expired { at } => ("BATCH_STATE_EXPIRED", 0, Some(at)),
        };
        let failed = batch
            .results
            .as_ref()
            .map_or(0, |r| r.iter().filter(|o| o.is_err()).count());
        let mut stats = json!({"requestCount": total.to_string(),
                               "pendingRequestCount": (total - done_count).to_string()});
        if done_count > 0 {
            stats["successfulRequestCount"] =
                json!((done_count - failed.min(done_count)).to_string());
        }
        if failed > 0 {
            stats["failedRequestCount"] = json!(failed.to_string());
        }
        let created = timestamp(self.storage.wall(batch.created));
        let updated = end.map_or_else(
            || timestamp(self.storage.wall(now)),
            |at| timestamp(self.storage.wall(at)),
        );
        let mut metadata = json!({
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "model": batch.model, "displayName": batch.display_name, "name": batch.name,
            "createTime": created, "updateTime": updated,
            "batchStats": stats, "state": state,
        });
        if let Some(at) = end {
            metadata["endTime"] = json!(timestamp(self.storage.wall(at)));
        }
        let mut operation = json!({"name": batch.name, "metadata": metadata,
                                   "done": end.is_some()});
        if let Some(failure) = &batch.failure {
            operation["error"] = failure.clone();
        }
        let output = match (&batch.output_file, &batch.results) {
            (Some(file), _) => Some(json!({"responsesFile": file})),
            (None, Some(results)) if !batch.from_file && batch.failure.is_none() => {
                let inlined: Vec<Value> = results
                    .iter()
                    .zip(&batch.items)
                    .map(|(outcome, item)| {
                        let mut entry = match outcome {
                            Ok(response) => json!({"response": response}),
                            Err(error) => json!({"error": error}),
                        };
                        if let Some(m) = &item.metadata {
                            entry["metadata"] = m.clone();
                        }
                        entry
                    })
                    .collect();
                Some(json!({"inlinedResponses": {"inlinedResponses": inlined}}))
            }
            (None, _) => None,
        };
        if let Some(output) = output {
            operation["metadata"]["output"] = output.clone();
            let mut response = output;
            response["@type"] = json!(
                "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput"
            );
            operation["response"] = response;
        }
        operation
    }

    /// Runs the requests of the batch numbered `serial` when it is done and has no results
    /// yet: outside the store's lock (a request may read files), then stores them.
    async fn settle(&self, serial: u64, now: Instant) {
        let todo = {
            let stored = self.storage.lock();
            match stored.batches.get(&serial) {
                Some(b)
                    if b.results.is_none()
                        && matches!(
                            b.phase(&self.config.batches, now),
                            Phase::Succeeded { .. }
                        ) =>
                {
                    Some((b.model.clone(), b.project.clone(), b.items.clone()))
                }
                _ => None,
            }
        };
        let Some((model, project, items)) = todo else {
            return;
        };
        let key = self
            .config
            .keys
            .iter()
            .find(|k| project_of(&self.config, k) == project)
            .cloned()
            .unwrap_or_default();
        let spec = self.model(model.trim_start_matches("models/"));
        let mut results = Vec::with_capacity(items.len());
        for item in &items {
            let outcome = match (&item.request, spec) {
                (Err(e), _) => Err(e.clone()),
                (Ok(_), None) => Err(status("NOT_FOUND", "The batch's model is not served.")),
                (Ok(request), Some(spec)) => {
                    match self
                        .checked_call(spec, &key, Action::Batched, request, false)
                        .await
                    {
                        Reply::Json(200, answer) => Ok(answer),
                        // The status without its details, with its RPC code: Google's SDKs
                        // read a batch's errors as code, message and status.
                        Reply::Json(_, error) => Err(match error.get("error") {
                            Some(e) => status(
                                e["status"].as_str().unwrap_or("INTERNAL"),
                                e["message"].as_str().unwrap_or(""),
                            ),
                            None => status("INTERNAL", "Internal error."),
                        }),
                        _ => Err(status("INTERNAL", "Internal error.")),
                    }
                }
            };
            results.push(outcome);
        }
        let mut stored = self.storage.lock();
        let seed = self.config.seed;
        let ttl = self.config.files.ttl;
        let origin = format!("http://{}", self.addr);
        let Some(batch) = stored.batches.get_mut(&serial) else {
            return;
        };
        if batch.results.is_some() {
            return;
        }
        let file = batch.from_file.then(|| {
            let lines: String = results
                .iter()
                .zip(&batch.items)
                .map(|(outcome, item)| {
                    let mut line = match outcome {
                        Ok(response) => json!({"response": response}),
                        Err(error) => json!({"error": error}),
                    };
                    if let Some(key) = &item.key {
                        line["key"] = json!(key);
                    }
                    format!("{line}\n")
                })
                .collect();
            (
                // As long as the real service's (`batch-` and 36 characters).
                format!("batch-{}", new_id(seed, serial ^ 0x5eed, 36)),
                lines,
            )
        });
        batch.results = Some(results);
        let Some((id, lines)) = file else {
            return;
        };
        let bytes = lines.into_bytes();
        let project = batch.project.clone();
        let batch_name = batch.name.clone();
        // Room for the output under the file limits: the oldest generated files go first.
        let limits = &self.config.files;
        let total = |stored: &super::store::Stored| -> u64 {
            stored
                .files
                .values()
                .map(|f| f.bytes.len() as u64)
                .sum::<u64>()
                + stored.sessions.values().map(|s| s.size).sum::<u64>()
        };
        let size = bytes.len() as u64;
        // Whether it could fit at all, with every generated file gone: if not, none is dropped.
        let uploaded = |stored: &super::store::Stored| -> (usize, u64) {
            let kept = stored.files.values().filter(|f| !f.generated);
            let (n, b) = kept.fold((0, 0u64), |(n, b), f| (n + 1, b + f.bytes.len() as u64));
            let sessions: u64 = stored.sessions.values().map(|s| s.size).sum();
            (n + stored.sessions.len(), b + sessions)
        };
        let (held_files, held_bytes) = uploaded(&stored);
        let could = size <= limits.max_file_bytes
            && held_files < limits.max_files
            && held_bytes.saturating_add(size) <= limits.max_total_bytes;
        while could
            && (stored.files.len() + stored.sessions.len() >= limits.max_files
                || total(&stored).saturating_add(size) > limits.max_total_bytes)
        {
            let oldest = stored
                .files
                .iter()
                .find(|(_, f)| f.generated)
                .map(|(serial, _)| *serial);
            match oldest {
                Some(serial) => {
                    stored.files.remove(&serial);
                }
                None => break,
            }
        }
        let fits = stored.files.len() + stored.sessions.len() < limits.max_files
            && total(&stored).saturating_add(size) <= limits.max_total_bytes
            && size <= limits.max_file_bytes;
        let Some(batch) = stored.batches.get_mut(&serial) else {
            return;
        };
        if !fits {
            batch.failure = Some(status(
                "RESOURCE_EXHAUSTED",
                "The batch's output file does not fit in the simulator's file storage (SimulatorConfig::files).",
            ));
            return;
        }
        batch.output_file = Some(format!("files/{id}"));
        let created = Instant::now();
        let file = super::store::StoredFile {
            project,
            name: format!("files/{id}"),
            display_name: Some(format!("{batch_name} output")),
            mime_type: "application/jsonl".to_owned(),
            bytes,
            uri: format!("{origin}/v1beta/files/{id}"),
            created,
            expires: created
                .checked_add(ttl)
                .unwrap_or_else(|| super::files::far_future(created)),
            generated: true,
        };
        stored.serial += 1;
        let file_serial = stored.serial;
        stored.files.insert(file_serial, file);
    }

    /// The serial of `project`'s batch `id`.
    fn find_batch(&self, project: &str, id: &str) -> Option<u64> {
        let name = format!("batches/{id}");
        self.storage
            .lock()
            .batches
            .iter()
            .find(|(_, b)| b.name == name && b.project == project)
            .map(|(serial, _)| *serial)
    }

    async fn get_batch(&self, project: &str, id: &str) -> Reply {
        let Some(serial) = self.find_batch(project, id) else {
            return not_found();
        };
        let now = Instant::now();
        self.settle(serial, now).await;
        let stored = self.storage.lock();
        match stored.batches.get(&serial) {
            Some(batch) => Reply::Json(200, self.batch_json(batch, now)),
            None => not_found(),
        }
    }

    async fn list_batches(&self, project: &str, query: &str) -> Reply {
        let (size, start) = match paging(query, 50, 1000) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let serials: Vec<u64> = self
            .storage
            .lock()
            .batches
            .range(start..)
            .filter(|(_, b)| b.project == project)
            .take(size + 1)
            .map(|(serial, _)| *serial)
            .collect();
        let now = Instant::now();
        for serial in serials.iter().take(size) {
            self.settle(*serial, now).await;
        }
        let stored = self.storage.lock();
        let operations: Vec<Value> = serials
            .iter()
            .take(size)
            .filter_map(|serial| stored.batches.get(serial))
            .map(|b| self.batch_json(b, now))
            .collect();
        let mut page = json!({});
        if !operations.is_empty() {
            page["operations"] = json!(operations);
        }
        if let Some(next) = serials.get(size) {
            page["nextPageToken"] = json!(page_token(*next));
        }
        Reply::Json(200, page)
    }

    fn cancel_batch(&self, project: &str, id: &str) -> Reply {
        let Some(serial) = self.find_batch(project, id) else {
            return not_found();
        };
        let now = Instant::now();
        let mut stored = self.storage.lock();
        let Some(batch) = stored.batches.get_mut(&serial) else {
            return not_found();
        };
        if !batch.unfinished(&self.config.batches, now) {
            return errors::status(
                400,
                "FAILED_PRECONDITION",
                "The batch is already done and cannot be cancelled.",
                vec![],
            );
        }
        batch.cancelled = Some(now);
        empty()
    }

    fn delete_batch(&self, project: &str, id: &str) -> Reply {
        let Some(serial) = self.find_batch(project, id) else {
            return not_found();
        };
        self.storage.lock().batches.remove(&serial);
        empty()
    }
}
