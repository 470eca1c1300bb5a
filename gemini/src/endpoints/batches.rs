//! The Batch API: many `generateContent` requests queued as one job that the service runs at
//! its own pace (within 24 hours, at half the price), under batch limits of its own instead of
//! the model's per-minute quota.
//!
//! [`Client::create_batch`] queues the requests (inlined, or an uploaded JSON Lines file), and
//! answers with the [`Batch`]; [`Client::get_batch`] reads how far it has come,
//! [`Client::wait_for_batch`] polls until it is done, and [`Client::batch_results`] gives every
//! request's result, keyed as it was submitted, whether the results came back inlined or as a
//! file. [`Client::list_batches`], [`Client::cancel_batch`] and [`Client::delete_batch`] do the
//! rest.
//!
//! A batch lives in the project whose key created it: the [`Batch`] remembers that project
//! ([`Batch::project`]), and every later call about it goes through that project's keys, in a
//! pool of several projects too.
//!
//! Creating a batch is not idempotent: when its answer is lost and the policy retries, the
//! service may hold two batches (as with an upload).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use steadfast_gemini::Client;
//! use steadfast_gemini::types::{BatchInput, BatchRequest, GenerateContentRequest};
//! use steadfast_sim::{BatchLimits, Simulator, SimulatorConfig};
//!
//! let sim = Simulator::start(SimulatorConfig {
//!     batches: BatchLimits { queued: Duration::from_millis(20), ..BatchLimits::default() },
//!     ..SimulatorConfig::default()
//! })
//! .await?;
//! let client = Client::builder().base_url(sim.base_url()).keys(sim.keys()).build()?;
//! let requests = (0..3)
//!     .map(|i| BatchRequest::new(format!("q{i}"), GenerateContentRequest::prompt(format!("question {i}"))))
//!     .collect();
//! let batch = client
//!     .create_batch("gemini-2.5-flash", "three questions", BatchInput::Inlined(requests))
//!     .await?;
//! let done = client
//!     .wait_for_batch(&batch, Duration::from_millis(10), |b| println!("{:?} {:?}", b.state, b.stats))
//!     .await?;
//! let results = client.batch_results(&done).await?;
//! assert_eq!(results.len(), 3);
//! assert_eq!(results[1].key.as_deref(), Some("q1"));
//! let answer = results[1].outcome.as_ref().map(|r| r.text()).ok();
//! assert_eq!(answer.as_deref(), Some("Simulated answer to: question 1"));
//! # Ok(()) }
//! ```

use super::model_path;
use crate::types::{
    Batch, BatchError, BatchInput, BatchOutput, BatchResult, ListOperations, Operation, ResultWire,
};
use crate::{Client, Error, RawRequest};
use futures_util::{Stream, StreamExt};
use std::time::Duration;

/// A batch to act on: a [`Batch`] (its project known), or its name (`batches/abc` or `abc`,
/// any project of the pool).
#[derive(Debug, Clone)]
pub struct BatchRef {
    name: String,
    project: Option<String>,
}

impl From<&Batch> for BatchRef {
    fn from(batch: &Batch) -> Self {
        BatchRef {
            name: batch.name.clone(),
            project: Some(batch.project.clone()).filter(|p| !p.is_empty()),
        }
    }
}

impl From<&str> for BatchRef {
    fn from(name: &str) -> Self {
        BatchRef {
            name: name.to_owned(),
            project: None,
        }
    }
}

impl From<String> for BatchRef {
    fn from(name: String) -> Self {
        BatchRef {
            name,
            project: None,
        }
    }
}

/// `abc`, `batches/abc` → `batches/abc`, refusing names that would change the path.
fn batch_path(name: &str) -> Result<String, Error> {
    let id = name.strip_prefix("batches/").unwrap_or(name);
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(Error::configuration(format!(
            "`{name}` is not a batch name: `batches/` and up to 64 letters, digits, '-' and '_' (for example \"batches/abc123\")"
        )));
    }
    Ok(format!("batches/{id}"))
}

impl BatchRef {
    /// A request about this batch, through its project when it is known.
    fn request(&self, method: reqwest::Method, suffix: &str) -> Result<RawRequest, Error> {
        let raw = RawRequest::path(
            method,
            &format!("v1beta/{}{suffix}", batch_path(&self.name)?),
        )?;
        Ok(match &self.project {
            Some(project) => raw.project(project.clone()),
            None => raw,
        })
    }
}

impl Client {
    /// `models/{model}:batchGenerateContent`: queues `input` as one batch named `display_name`
    /// and returns it (pending). The call is not counted against the model's per-minute quota
    /// (batches have limits of their own), and no fallback model applies: a batch is for its
    /// model.
    ///
    /// Refused before sending: an empty inlined batch, and a request key given twice (the
    /// results would be ambiguous).
    pub async fn create_batch(
        &self,
        model: &str,
        display_name: &str,
        input: BatchInput,
    ) -> Result<Batch, Error> {
        if let BatchInput::Inlined(requests) = &input {
            if requests.is_empty() {
                return Err(Error::configuration("a batch needs at least one request"));
            }
            let mut keys = std::collections::HashSet::new();
            if let Some(twice) = requests.iter().find(|r| !keys.insert(r.key.as_str())) {
                return Err(Error::configuration(format!(
                    "the request key `{}` is given twice in the batch: results are matched to requests by key",
                    twice.key.escape_debug()
                )));
            }
        }
        let body = serde_json::to_vec(&input.to_json(display_name))
            .map_err(|e| Error::configuration(format!("the batch cannot be encoded: {e}")))?;
        let mut raw = RawRequest::path(
            reqwest::Method::POST,
            &format!("v1beta/{}:batchGenerateContent", model_path(model)?),
        )?
        .body("application/json", body);
        // A batch from a file runs in the file's project: only its keys can read the file.
        if let BatchInput::File {
            project: Some(project),
            ..
        } = &input
        {
            raw = raw.project(project.clone());
        }
        self.operation(&raw).await
    }

    /// `batches.get`: how far the batch has come, and its results once it is done.
    pub async fn get_batch(&self, batch: impl Into<BatchRef>) -> Result<Batch, Error> {
        let raw = batch.into().request(reqwest::Method::GET, "")?;
        self.operation(&raw).await
    }

    /// Polls the batch every `every` until it is done (succeeded, failed, cancelled or
    /// expired, or over by the service's word, [`Batch::done`]), calling `progress` with each
    /// state read; the last one is returned. Each poll
    /// runs under the client policy; an error ends the wait.
    pub async fn wait_for_batch(
        &self,
        batch: impl Into<BatchRef>,
        every: Duration,
        mut progress: impl FnMut(&Batch),
    ) -> Result<Batch, Error> {
        let batch = batch.into();
        loop {
            let now = self.get_batch(batch.clone()).await?;
            progress(&now);
            // A batch may read as succeeded a moment before its output is there.
            let output_pending =
                now.state == crate::types::BatchState::Succeeded && now.output.is_none();
            if (now.state.is_done() || now.done) && !output_pending {
                return Ok(now);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// `batches.list`: every batch of the key's project, page after page, as a stream (read
    /// it as [`Client::list_files`]'s). With a pool of several projects, one project's: the
    /// one that answers the first page, which answers the rest, and which each [`Batch`]
    /// names.
    pub fn list_batches(&self) -> impl Stream<Item = Result<Batch, Error>> + Send + '_ {
        self.pages("batches", 50, |page: ListOperations, project| {
            (
                page.operations
                    .into_iter()
                    .map(|op| op.into_batch(project.to_owned()))
                    .collect(),
                page.next_page_token,
            )
        })
    }

    /// `batches.cancel`: stops a batch that is not done (the service answers 400 for one that
    /// is).
    pub async fn cancel_batch(&self, batch: impl Into<BatchRef>) -> Result<(), Error> {
        let raw = batch.into().request(reqwest::Method::POST, ":cancel")?;
        self.call_json::<serde_json::Value>(&raw, None)
            .await
            .map(drop)
    }

    /// `batches.delete`: forgets the batch (its output file, if any, stays until it expires).
    pub async fn delete_batch(&self, batch: impl Into<BatchRef>) -> Result<(), Error> {
        let raw = batch.into().request(reqwest::Method::DELETE, "")?;
        self.call_json::<serde_json::Value>(&raw, None)
            .await
            .map(drop)
    }

    /// Every request's result of a done batch, in the order of its requests, each under its
    /// key: the inlined results as they are, or the output file's lines, downloaded
    /// (`files/{id}:download`) from the batch's project. A batch that is not done, or that
    /// ended without results (failed, cancelled, expired), is an error that says so.
    pub async fn batch_results(&self, batch: &Batch) -> Result<Vec<BatchResult>, Error> {
        let mut stream = std::pin::pin!(self.batch_result_stream(batch).await?);
        let mut out = Vec::new();
        while let Some(result) = stream.next().await {
            out.push(result?);
        }
        Ok(out)
    }

    /// [`Client::batch_results`] as a stream: a large output file is read line by line as it
    /// arrives, never whole. A line longer than the client's
    /// [`max_response_bytes`](crate::ClientBuilder::max_response_bytes), or one that is not a
    /// result, ends the stream with an error.
    pub async fn batch_result_stream(
        &self,
        batch: &Batch,
    ) -> Result<impl Stream<Item = Result<BatchResult, Error>> + Send + 'static, Error> {
        let file = match &batch.output {
            Some(BatchOutput::Inlined(results)) => {
                let results: Vec<Result<BatchResult, Error>> =
                    results.iter().cloned().map(Ok).collect();
                return Ok(futures_util::stream::iter(results).left_stream());
            }
            Some(BatchOutput::File(file)) => file.clone(),
            None => {
                let why = batch
                    .error
                    .as_ref()
                    .map_or_else(String::new, |e: &BatchError| format!(": {e}"));
                return Err(Error::configuration(format!(
                    "the batch {} has no results ({:?}{why})",
                    batch.name, batch.state
                )));
            }
        };
        let id = output_file_path(&file)?;
        let mut raw = RawRequest::path(reqwest::Method::GET, &format!("v1beta/{id}:download"))?
            .query("alt=media")
            .streaming(true);
        if !batch.project.is_empty() {
            raw = raw.project(batch.project.clone());
        }
        let body = self.send_raw(raw).await?.into_body();
        Ok(lines(body, self.inner.max_response_bytes).right_stream())
    }

    /// A call answered by a batch's operation, read with the project that answered it.
    async fn operation(&self, raw: &RawRequest) -> Result<Batch, Error> {
        let (op, route) = self
            .routed(raw, None, |response| async move {
                let status = response.status().as_u16();
                let bytes = self.success_body(response).await?;
                serde_json::from_slice::<Operation>(&bytes)
                    .map_err(|e| Error::undecodable(status, &bytes, e))
            })
            .await?;
        Ok(op.into_batch(route.project))
    }
}

/// A batch's output file as the service names it (`files/batch-` and 36 characters, longer
/// than an uploaded file's id), refusing names that would change the path.
fn output_file_path(name: &str) -> Result<String, Error> {
    let id = name.strip_prefix("files/").unwrap_or(name);
    let valid = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(Error::undecodable(
            200,
            b"",
            "the batch names an output file the client cannot read: not `files/` and lowercase letters, digits and '-'",
        ));
    }
    Ok(format!("files/{id}"))
}

/// The results in a JSON Lines body, one per line, each line at most `max` bytes.
fn lines(
    body: crate::RawBody,
    max: usize,
) -> impl Stream<Item = Result<BatchResult, Error>> + Send + 'static {
    struct Lines {
        body: crate::RawBody,
        held: Vec<u8>,
        /// How much of `held` is known to hold no newline.
        scanned: usize,
        ready: std::collections::VecDeque<Result<BatchResult, Error>>,
        done: bool,
    }
    fn parse(line: &[u8]) -> Option<Result<BatchResult, Error>> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(
            serde_json::from_slice::<ResultWire>(line)
                .map(ResultWire::into_result)
                .map_err(|e| Error::undecodable(200, line, e)),
        )
    }
    let start = Lines {
        body,
        held: Vec::new(),
        scanned: 0,
        ready: std::collections::VecDeque::new(),
        done: false,
    };
    futures_util::stream::unfold(start, move |mut s| async move {
        loop {
            if let Some(item) = s.ready.pop_front() {
                let failed = item.is_err();
                if failed {
                    s.done = true;
                    s.ready.clear();
                }
                return Some((item, s));
            }
            if s.done {
                return None;
            }
            match s.body.next().await {
                Some(Ok(chunk)) => {
                    s.held.extend_from_slice(&chunk);
                    // Each byte is looked at once; the lines found are taken off together.
                    let mut start = 0;
                    while let Some(found) = s.held[s.scanned..].iter().position(|b| *b == b'\n') {
                        let at = s.scanned + found;
                        let line = &s.held[start..=at];
                        s.ready.extend(parse(line));
                        start = at + 1;
                        s.scanned = start;
                    }
                    s.held.drain(..start);
                    s.scanned = s.held.len();
                    if s.held.len() > max {
                        s.ready.push_back(Err(Error::undecodable(
                            200,
                            b"",
                            format!(
                                "a line of the batch's output file is longer than the client's cap of {max} bytes (ClientBuilder::max_response_bytes)"
                            ),
                        )));
                    }
                }
                Some(Err(e)) => {
                    s.ready.push_back(Err(e));
                }
                None => {
                    let rest = std::mem::take(&mut s.held);
                    s.ready.extend(parse(&rest));
                    s.done = s.ready.is_empty();
                    if s.done {
                        return None;
                    }
                    // Yield what is left, then end.
                    let item = s.ready.pop_front()?;
                    s.done = true;
                    return Some((item, s));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static [u8]]) -> crate::RawBody {
        let items: Vec<Result<bytes_crate::Bytes, Error>> = chunks
            .iter()
            .map(|c| Ok(bytes_crate::Bytes::from_static(c)))
            .collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn read(chunks: &[&'static [u8]], max: usize) -> Vec<Result<BatchResult, Error>> {
        lines(body(chunks), max).collect().await
    }

    #[tokio::test]
    async fn an_output_file_is_read_line_by_line_across_chunks() {
        let out = read(
            &[
                br#"{"key":"a","response":{"candidates":[]}}"#,
                b"\n\n{\"key\":\"b\",\"err",
                br#"or":{"code":500,"message":"m"}}"#,
            ],
            1 << 20,
        )
        .await;
        assert_eq!(out.len(), 2);
        let a = out[0].as_ref().map_err(|e| e.to_string());
        assert!(
            a.as_ref()
                .is_ok_and(|r| r.key.as_deref() == Some("a") && r.outcome.is_ok())
        );
        let b = out[1].as_ref().map_err(|e| e.to_string());
        assert!(b.is_ok_and(|r| r.outcome.as_ref().is_err_and(|e| e.code == Some(500))));
    }

    #[tokio::test]
    async fn a_garbage_or_endless_line_ends_the_stream_with_an_error() {
        let out = read(&[b"{\"key\":\"a\"}\nnot json\n{\"key\":\"c\"}\n"], 1 << 20).await;
        assert_eq!(out.len(), 2, "the error is the last item");
        assert!(out[1].is_err());
        let out = read(&[b"{\"key\":\"", b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], 16).await;
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .as_ref()
                .is_err_and(|e| e.to_string().contains("longer than"))
        );
    }

    #[test]
    fn batch_names_are_normalised_and_checked() {
        assert_eq!(batch_path("abc").ok().as_deref(), Some("batches/abc"));
        assert_eq!(
            batch_path("batches/a-b_1").ok().as_deref(),
            Some("batches/a-b_1")
        );
        for bad in ["", "batches/", "a/b", "../x", "x?key=1", "x:cancel"] {
            assert!(batch_path(bad).is_err(), "{bad}");
        }
    }
}
