//! The typed endpoints of the v1beta API.
//!
//! | method | endpoint |
//! | --- | --- |
//! | [`Client::generate_content`], [`Client::generate`] | `POST models/{model}:generateContent` |
//! | [`Client::stream_generate_content`] | `POST models/{model}:streamGenerateContent?alt=sse` |
//! | [`Client::count_tokens`] | `POST models/{model}:countTokens` |
//! | [`Client::embed_content`] | `POST models/{model}:embedContent` |
//! | [`Client::batch_embed_contents`] | `POST models/{model}:batchEmbedContents` |
//! | [`Client::get_model`] | `GET models/{model}` |
//! | [`Client::list_models`] | `GET models` (every page, as a stream) |
//! | [`Client::upload_file`] | `POST /upload/v1beta/files` (resumable: start, then chunks; see [`files`]) |
//! | [`Client::get_file`], [`Client::list_files`], [`Client::delete_file`] | `GET files/{id}`, `GET files` (every page), `DELETE files/{id}` |
//! | [`Client::create_batch`], [`Client::get_batch`], [`Client::wait_for_batch`], [`Client::batch_results`], [`Client::list_batches`], [`Client::cancel_batch`], [`Client::delete_batch`] | `models/{model}:batchGenerateContent`, `batches` (see [`batches`]) |
//! | [`Client::create_cached_content`], [`Client::get_cached_content`], [`Client::list_cached_contents`], [`Client::update_cached_content_ttl`], [`Client::delete_cached_content`] | `cachedContents` (see [`caches`]) |
//!
//! Model names may be given with or without the `models/` prefix, file names with or without
//! `files/`, cache names with or without `cachedContents/`. Every endpoint runs under the client
//! policy (retries, key pool, deadline); files and caches belong to no model, so they never
//! fall back to another one.

pub mod batches;
pub mod caches;
pub mod files;
mod pages;

use crate::client::ApiKey;
use crate::sse::{EventParser, decode_chunk};
use crate::types::*;
use crate::{Client, Error, RawRequest};
use bytes_crate::Bytes;
use futures_util::{Stream, StreamExt, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::sync::Arc;

/// `gemini-2.5-flash` or `models/gemini-2.5-flash` → `models/gemini-2.5-flash`, refusing names
/// that would change the path.
pub(crate) fn model_path(model: &str) -> Result<String, Error> {
    let name = model.strip_prefix("models/").unwrap_or(model);
    // No name starts with a dot: `.` and `..` would change the path.
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid {
        return Err(Error::configuration(format!(
            "`{model}` is not a model name: use letters, digits, '-', '.' and '_' (for example \"gemini-2.5-flash\")"
        )));
    }
    Ok(format!("models/{name}"))
}

impl Client {
    /// `DELETE path` with the model-less entry's policy (a file, a cache): no body either way.
    pub(crate) async fn delete_resource(&self, path: String) -> Result<(), Error> {
        let raw = RawRequest::path(reqwest::Method::DELETE, &format!("v1beta/{path}"))?;
        self.call_json::<serde_json::Value>(&raw, None)
            .await
            .map(drop)
    }

    /// A typed call through the routed path ([`Client::send_raw`]'s): the answer is decoded as
    /// `Resp` inside the attempt, so that an undecodable body is retried like an error answer.
    pub(crate) async fn call_json<Resp: DeserializeOwned>(
        &self,
        raw: &RawRequest,
        generate: Option<&GenerateContentRequest>,
    ) -> Result<Resp, Error> {
        let (value, _route) = self
            .routed(raw, generate, |response| async move {
                let status = response.status().as_u16();
                let bytes = self.success_body(response).await?;
                serde_json::from_slice(&bytes).map_err(|e| Error::undecodable(status, &bytes, e))
            })
            .await?;
        Ok(value)
    }

    /// [`call_json`](Client::call_json), with the label of the project that answered.
    pub(crate) async fn call_json_routed<Resp: DeserializeOwned>(
        &self,
        raw: &RawRequest,
    ) -> Result<(Resp, String), Error> {
        let (value, route) = self
            .routed(raw, None, |response| async move {
                let status = response.status().as_u16();
                let bytes = self.success_body(response).await?;
                serde_json::from_slice(&bytes).map_err(|e| Error::undecodable(status, &bytes, e))
            })
            .await?;
        Ok((value, route.project))
    }

    /// One request with `key`, no policy: send, then decode the success body.
    pub(crate) async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        key: &ApiKey,
        method: reqwest::Method,
        path: &str,
        body: Option<&Req>,
    ) -> Result<Resp, Error> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::configuration(format!("cannot encode the request: {e}")))?;
        let response = self.send(key, method, &self.url(path), body).await?;
        let status = response.status().as_u16();
        let bytes = self.success_body(response).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::undecodable(status, &bytes, e))
    }

    /// `POST models/{model}{action}` under the client policy, across the model chain.
    async fn post_model<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        model: &str,
        action: &str,
        body: &Req,
        generate: Option<&GenerateContentRequest>,
    ) -> Result<Resp, Error> {
        let raw = RawRequest::model(reqwest::Method::POST, model, action, json(body)?)?;
        self.call_json(&raw, generate).await
    }

    /// `generateContent`. A prompt blocked by safety filters is an error
    /// ([`ErrorKind::PromptBlocked`](crate::ErrorKind::PromptBlocked)).
    pub async fn generate_content(
        &self,
        model: &str,
        request: &GenerateContentRequest,
    ) -> Result<GenerateContentResponse, Error> {
        let response: GenerateContentResponse = self
            .post_model(model, ":generateContent", request, Some(request))
            .await?;
        match response.block_reason() {
            Some(reason) if response.candidates.is_empty() => {
                Err(Error::prompt_blocked(reason.as_str()))
            }
            // `{"unexpected": true}` is not an empty answer: it is not an answer at all.
            None if response.candidates.is_empty() && response.prompt_feedback.is_none() => {
                let body = serde_json::to_vec(&response).unwrap_or_default();
                Err(Error::undecodable(
                    200,
                    &body,
                    "a generateContent answer with neither candidates nor promptFeedback",
                ))
            }
            _ => Ok(response),
        }
    }

    /// The common case: one prompt in, the answer's text out.
    pub async fn generate(&self, model: &str, prompt: &str) -> Result<String, Error> {
        self.generate_content(model, &GenerateContentRequest::prompt(prompt))
            .await
            .map(|r| r.text())
    }

    /// `countTokens`, for contents or a whole generate request.
    pub async fn count_tokens(
        &self,
        model: &str,
        request: &CountTokensRequest,
    ) -> Result<CountTokensResponse, Error> {
        self.post_model(model, ":countTokens", request, None).await
    }

    /// `embedContent`.
    pub async fn embed_content(
        &self,
        model: &str,
        request: &EmbedContentRequest,
    ) -> Result<EmbedContentResponse, Error> {
        self.post_model(model, ":embedContent", request, None).await
    }

    /// `batchEmbedContents`. Every entry is sent naming the model asked for (embeddings take no
    /// fallback model).
    pub async fn batch_embed_contents(
        &self,
        model: &str,
        request: &BatchEmbedContentsRequest,
    ) -> Result<BatchEmbedContentsResponse, Error> {
        let owned = Arc::new(request.clone());
        let raw = RawRequest::model(
            reqwest::Method::POST,
            model,
            ":batchEmbedContents",
            Bytes::new(),
        )?
        .body_for(Arc::new(move |model: &str| {
            let model = model_path(model)?;
            let mut request = (*owned).clone();
            for r in &mut request.requests {
                r.model = Some(model.clone());
            }
            json(&request)
        }));
        self.call_json(&raw, None).await
    }

    /// `models.get` (never answered by a fallback model).
    pub async fn get_model(&self, model: &str) -> Result<Model, Error> {
        let raw = RawRequest::model(reqwest::Method::GET, model, "", Bytes::new())?;
        self.call_json(&raw, None).await
    }

    /// `models.list`: every model, page after page, as a stream. An error ends the stream.
    pub fn list_models(&self) -> impl Stream<Item = Result<Model, Error>> + Send + '_ {
        struct Pages {
            buffered: VecDeque<Model>,
            next: Option<String>,
            done: bool,
        }
        let start = Pages {
            buffered: VecDeque::new(),
            next: None,
            done: false,
        };
        stream::unfold(start, move |mut pages| async move {
            loop {
                if let Some(model) = pages.buffered.pop_front() {
                    return Some((Ok(model), pages));
                }
                if pages.done {
                    return None;
                }
                let query = match &pages.next {
                    Some(token) => format!("pageSize=50&pageToken={}", encode(token)),
                    None => "pageSize=50".to_owned(),
                };
                let page = match RawRequest::path(reqwest::Method::GET, "v1beta/models") {
                    Ok(raw) => {
                        self.call_json::<ListModelsResponse>(&raw.query(&query), None)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match page {
                    Ok(page) => {
                        pages.buffered.extend(page.models);
                        pages.next = page.next_page_token.filter(|t| !t.is_empty());
                        pages.done = pages.next.is_none();
                    }
                    Err(e) => {
                        pages.done = true;
                        return Some((Err(e), pages));
                    }
                }
            }
        })
    }

    /// `streamGenerateContent` with `alt=sse`: the answer as it is generated.
    ///
    /// The outer `Result` covers everything up to the first chunk: until then the client policy
    /// applies (retries, key pool, fallback models), because nothing has reached the caller.
    /// Each item is then a chunk, or the error that ended the stream (an error object inside the
    /// stream, a broken connection, an undecodable event); nothing follows an error, and nothing
    /// is retried once a chunk was delivered, so no chunk is ever duplicated. A final chunk that
    /// carries only a finish reason is delivered like any other.
    pub async fn stream_generate_content(
        &self,
        model: &str,
        request: &GenerateContentRequest,
    ) -> Result<impl Stream<Item = Result<GenerateContentResponse, Error>> + Send + use<>, Error>
    {
        let raw = RawRequest::model(
            reqwest::Method::POST,
            model,
            ":streamGenerateContent",
            json(request)?,
        )?
        .query("alt=sse")
        .streaming(true);
        let ((first, rest), _route) = self
            .routed(&raw, Some(request), |response| async move {
                let body = self.body_of(response);
                let mut chunks = Box::pin(chunks(body, self.inner.max_response_bytes));
                match chunks.next().await {
                    Some(Ok(first)) => Ok((first, chunks)),
                    Some(Err(e)) => Err(e),
                    None => Err(Error::undecodable(
                        200,
                        b"",
                        "the stream ended before its first chunk",
                    )),
                }
            })
            .await?;
        let keys = self.inner.keys.clone();
        let rest = rest.map(move |item| item.map_err(|e| e.redact_keys(&keys)));
        Ok(stream::once(std::future::ready(Ok(first))).chain(rest))
    }
}

/// The chunks of an SSE body (already under the idle timeout); an event larger than
/// `max_event` bytes ends the stream with an [`Undecodable`](crate::ErrorKind::Undecodable) error.
pub(crate) fn chunks<B>(
    bytes: B,
    max_event: usize,
) -> impl Stream<Item = Result<GenerateContentResponse, Error>> + Send
where
    B: Stream<Item = Result<bytes_crate::Bytes, Error>> + Send,
{
    struct State<B> {
        bytes: std::pin::Pin<Box<B>>,
        parser: EventParser,
        pending: VecDeque<String>,
        ended: bool,
    }
    let state = State {
        bytes: Box::pin(bytes),
        parser: EventParser::default(),
        pending: VecDeque::new(),
        ended: false,
    };
    stream::unfold(state, move |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                let chunk = decode_chunk(&event);
                if chunk.is_err() {
                    // Nothing follows an error.
                    s.pending.clear();
                    s.ended = true;
                }
                return Some((chunk, s));
            }
            if s.ended {
                return None;
            }
            match s.bytes.next().await {
                Some(Ok(bytes)) => {
                    s.pending.extend(s.parser.push(&bytes));
                    if s.parser.buffered() > max_event {
                        s.ended = true;
                        s.pending.clear();
                        let why = format!(
                            "a stream event is larger than the client's cap of {max_event} bytes (ClientBuilder::max_response_bytes)"
                        );
                        return Some((Err(Error::undecodable(200, b"", why)), s));
                    }
                }
                Some(Err(e)) => {
                    s.ended = true;
                    return Some((Err(e), s));
                }
                None => {
                    s.ended = true;
                    s.pending.extend(s.parser.finish());
                }
            }
        }
    })
}

/// A request body as JSON bytes.
pub(crate) fn json<Req: Serialize + ?Sized>(body: &Req) -> Result<Bytes, Error> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| Error::configuration(format!("cannot encode the request: {e}")))
}

/// Percent-encodes a page token for the query string.
fn encode(token: &str) -> String {
    token
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_normalised_and_checked() {
        assert_eq!(
            model_path("gemini-2.5-flash").unwrap(),
            "models/gemini-2.5-flash"
        );
        assert_eq!(
            model_path("models/gemini-2.5-flash").unwrap(),
            "models/gemini-2.5-flash"
        );
        for bad in [
            "",
            "a/b",
            "../x",
            "a b",
            "models/",
            "x?key=1",
            "..",
            ".",
            "models/..",
        ] {
            assert!(model_path(bad).is_err(), "{bad}");
        }
    }

    /// A stream body that sends one SSE event every `every`, `n` times.
    fn ticking_events(
        every: std::time::Duration,
        n: usize,
    ) -> impl Stream<Item = Result<bytes_crate::Bytes, std::convert::Infallible>> + Send + Unpin
    {
        Box::pin(stream::iter(0..n).then(move |i| async move {
            tokio::time::sleep(every).await;
            Ok(bytes_crate::Bytes::from(format!(
                "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{i} \"}}]}}}}]}}\r\n\r\n"
            )))
        }))
    }

    fn never(e: std::convert::Infallible) -> Error {
        match e {}
    }

    #[tokio::test(start_paused = true)]
    async fn a_ten_minute_healthy_stream_is_never_cut() {
        use crate::client::body::with_idle_timeout;
        use std::time::Duration;
        // A chunk every 0.5 s for 10 minutes, under the default 30 s idle timeout: the path a
        // real stream's body takes after its headers (idle timeout, then the SSE decoder).
        let body = with_idle_timeout(
            ticking_events(Duration::from_millis(500), 1200),
            Duration::from_secs(30),
            never,
        );
        let start = tokio::time::Instant::now();
        let chunks: Vec<_> = chunks(body, 1 << 20).collect().await;
        assert_eq!(start.elapsed(), Duration::from_secs(600));
        assert_eq!(chunks.len(), 1200);
        assert!(chunks.iter().all(Result::is_ok));
        assert_eq!(chunks[1199].as_ref().unwrap().text(), "1199 ");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_goes_silent_is_cut_after_the_idle_timeout() {
        use crate::client::body::with_idle_timeout;
        use std::time::Duration;
        let body = with_idle_timeout(
            ticking_events(Duration::from_millis(500), 10)
                .chain(ticking_events(Duration::from_secs(31), 1)),
            Duration::from_secs(30),
            never,
        );
        let start = tokio::time::Instant::now();
        let chunks: Vec<_> = chunks(body, 1 << 20).collect().await;
        assert_eq!(chunks.len(), 11);
        assert_eq!(
            *chunks[10].as_ref().unwrap_err().kind(),
            crate::ErrorKind::Transport(steadfast::classify::Transport::Timeout)
        );
        assert_eq!(start.elapsed(), Duration::from_secs(35));
    }

    #[test]
    fn page_tokens_are_encoded() {
        assert_eq!(encode("a+b/c="), "a%2Bb%2Fc%3D");
    }
}
