//! The routes of stored resources, the Files API ([`files`](super::files)) and cached content
//! ([`caches`](super::caches)), whose data, clock and shared helpers are in
//! [`store`](super::store).
//!
//! Routes, checked in the order the rest of the simulator checks them (URL and method, then the
//! key, then the payload):
//!
//! | route | methods |
//! | --- | --- |
//! | `/upload/v1beta/files` | `POST` (resumable: `start`, then `upload`, `finalize`, `query`, `cancel` on the session's URL) |
//! | `/v1beta/files`, `/v1beta/files/{id}` | `GET`; `GET`, `DELETE` |
//! | `/v1beta/files/{id}:download?alt=media` (also under `/download/`) | `GET`: a generated file's bytes |
//! | `/v1beta/cachedContents`, `/v1beta/cachedContents/{id}` | `GET`, `POST`; `GET`, `PATCH`, `DELETE` |
//!
//! The same routes are served under `v1` (`/upload/v1/files`, `/v1/files`, …), where Google's
//! SDKs send them when told to use that version.
//!
//! Resources belong to the key's project (see `SimulatorConfig::projects`): another project
//! cannot see them, and gets the same 403 as for a name that does not exist, as the real
//! service answers. Times follow tokio's clock (a paused clock pauses expiry), shown as wall
//! times from the simulator's start.

use super::request::{Action, RequestHeaders, query_param};
use super::store::project_of;
use super::validate::get;
use super::{Reply, SimModel, State, errors};
use serde_json::{Value, json};

impl State {
    /// The Files API and cachedContents routes; `None` for any other path (left to the model
    /// routes).
    pub(super) fn resources(
        &self,
        method: &str,
        path: &str,
        query: &str,
        key: Option<&str>,
        headers: &RequestHeaders,
        body: &[u8],
    ) -> Option<Reply> {
        if path == "/upload/v1beta/files" || path == "/upload/v1/files" {
            if method != "POST" {
                return Some(errors::wrong_method(method, path, "POST"));
            }
            // A session's own requests carry their authorisation in `upload_id`.
            if let Some(id) = query_param(query, "upload_id") {
                return Some(self.upload_session(&id, headers, body));
            }
            return Some(self.with_key(key, |key| self.upload_start(key, headers, body)));
        }
        // A generated file's bytes, under the API or its download prefix.
        let plain = path.strip_prefix("/download").unwrap_or(path);
        if let Some(id) = plain
            .strip_prefix("/v1beta/files/")
            .or_else(|| plain.strip_prefix("/v1/files/"))
            .and_then(|rest| rest.strip_suffix(":download"))
        {
            if method != "GET" {
                return Some(errors::wrong_method(method, path, "GET"));
            }
            return Some(self.with_key(key, |key| self.download_file(key, id, query)));
        }
        let rest = path
            .strip_prefix("/v1beta/")
            .or_else(|| path.strip_prefix("/v1/"))?;
        let (collection, name) = match rest.split_once('/') {
            Some((c, name)) => (c, Some(name)),
            None => (rest, None),
        };
        if !matches!(collection, "files" | "cachedContents") {
            return None;
        }
        let name = match name {
            Some(n) if n.is_empty() || n.contains('/') || n.contains(':') => {
                return Some(errors::no_such_url(path));
            }
            n => n,
        };
        let allow = match (collection, name) {
            ("files", None) => "GET",
            ("files", Some(_)) => "GET, DELETE",
            (_, None) => "GET, POST",
            (_, Some(_)) => "GET, PATCH, DELETE",
        };
        if !allow.split(", ").any(|m| m == method) {
            return Some(errors::wrong_method(method, path, allow));
        }
        Some(self.with_key(key, |key| {
            if self.draw(self.config.faults.internal) {
                self.bump(|s| s.faults += 1);
                return errors::internal();
            }
            match (collection, name, method) {
                ("files", None, _) => self.list_files(key, query),
                ("files", Some(id), "GET") => self.get_file(key, id),
                ("files", Some(id), _) => self.delete_file(key, id),
                (_, None, "GET") => self.list_caches(key, query),
                (_, None, _) => self.create_cache(key, body),
                (_, Some(id), "GET") => self.get_cache(key, id),
                (_, Some(id), "PATCH") => self.update_cache(key, id, query, body),
                (_, Some(id), _) => self.delete_cache(key, id),
            }
        }))
    }

    /// `answer(key)` for a known key; 403 without a key, 400 `API_KEY_INVALID` for another.
    fn with_key(&self, key: Option<&str>, answer: impl FnOnce(&str) -> Reply) -> Reply {
        match key.filter(|k| !k.is_empty()) {
            None => errors::no_key(),
            Some(k) if !self.config.keys.iter().any(|c| c == k) => errors::api_key_invalid(),
            Some(k) => answer(k),
        }
    }

    /// A generate or countTokens request, with the files it names and the cache it continues:
    /// an unknown, expired or foreign file or cache is a 403 (as the real service answers); a
    /// cache used with the request's own system instruction, tools or tool config, or with
    /// another model, is a 400. The model sees the cache's contents before the request's, and
    /// the answer reports the cache's tokens in `cachedContentTokenCount` (counted in
    /// `promptTokenCount` too, as the real service counts them).
    pub(super) async fn call_with_resources(
        &self,
        spec: &SimModel,
        key: &str,
        action: Action,
        body: &Value,
        sse: bool,
    ) -> Reply {
        let inner = match action {
            Action::Generate | Action::Stream | Action::Batched => body,
            Action::CountTokens => get(body, "generateContentRequest").unwrap_or(body),
            Action::Embed | Action::BatchEmbed => {
                return self.call(spec, key, action, body, sse).await;
            }
        };
        let uses_files =
            inner.to_string().contains("fileData") || inner.to_string().contains("file_data");
        let cache = get(inner, "cachedContent").and_then(Value::as_str);
        if !uses_files && cache.is_none() {
            return self.call(spec, key, action, body, sse).await;
        }
        let project = project_of(&self.config, key);
        let mut merged = inner.clone();
        if let Err(reply) = self.expand_files(&project, &mut merged) {
            return reply;
        }
        let mut cached = 0;
        if let Some(name) = cache {
            match self.continue_cache(&project, spec, name, &mut merged) {
                Ok(tokens) => cached = tokens,
                Err(reply) => return reply,
            }
        }
        let body = if action == Action::CountTokens && get(body, "generateContentRequest").is_some()
        {
            let mut whole = body.clone();
            if let Some(map) = whole.as_object_mut() {
                map.remove("generate_content_request");
                map.insert("generateContentRequest".into(), merged);
            }
            whole
        } else {
            merged
        };
        let reply = self.call(spec, key, action, &body, sse).await;
        if cached == 0 {
            return reply;
        }
        let annotate = |answer: &mut Value| {
            if action == Action::CountTokens {
                answer["cachedContentTokenCount"] = json!(cached);
                answer["cacheTokensDetails"] = json!([{"modality": "TEXT", "tokenCount": cached}]);
            } else if let Some(usage) = answer.get_mut("usageMetadata") {
                usage["cachedContentTokenCount"] = json!(cached);
                usage["cacheTokensDetails"] = json!([{"modality": "TEXT", "tokenCount": cached}]);
            }
        };
        match reply {
            Reply::Json(200, mut answer) => {
                annotate(&mut answer);
                Reply::Json(200, answer)
            }
            Reply::Stream {
                mut chunks,
                failure,
                sse,
                done,
            } => {
                chunks.iter_mut().for_each(annotate);
                Reply::Stream {
                    chunks,
                    failure,
                    sse,
                    done,
                }
            }
            other => other,
        }
    }
}
