//! Cached content: `cachedContents` create, get, list, patch (the expiry only) and delete, and
//! its use by generate and countTokens requests.
//!
//! Like the real service (observed answers): creation needs a model that supports
//! `createCachedContent` (404 otherwise) and at least [`CacheLimits::min_tokens`] tokens
//! ("Cached content is too small. total_token_count=16, min_total_token_count=1024"); the
//! default lifetime is one hour; `ttl` and `expireTime` exclude each other; the answer echoes
//! no cached member, only `name`, `model`, `displayName`, times and `usageMetadata`. A missing,
//! expired, deleted or foreign cache is 403 "CachedContent not found (or permission denied)",
//! never 404, whether read or used. A request using a cache may not set `systemInstruction`,
//! `tools` or `toolConfig` (400), and must be for the cache's model (400).
//!
//! State is bounded ([`CacheLimits`]): past `max_caches` live caches or `max_total_bytes` of
//! cached JSON, creation is a 400 that names the limit. Expired caches are dropped.

use super::generate::count_words;
use super::store::{
    BadDuration, Stored, StoredCache, empty, new_id, page_token, paging, parse_duration,
    parse_timestamp, project_of,
};
use super::validate::{self, Message, get};
use super::{Reply, SimModel, State, errors};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// Limits on what the simulator stores for cached content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLimits {
    /// Live caches at once (100 by default).
    pub max_caches: usize,
    /// Bytes of cached JSON in all (64 MiB by default).
    pub max_total_bytes: u64,
    /// The fewest tokens a cache may hold; `None` for the real minimums (1 024 tokens, 4 096
    /// for `gemini-2.5-pro`).
    pub min_tokens: Option<u32>,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_caches: 100,
            max_total_bytes: 64 * 1024 * 1024,
            min_tokens: None,
        }
    }
}

/// The lifetime of a cache created without `ttl` or `expireTime`.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

fn not_found() -> Reply {
    errors::status(
        403,
        "PERMISSION_DENIED",
        "CachedContent not found (or permission denied)",
        vec![],
    )
}

/// The cache's expiry from `ttl` or `expireTime`, or the 400 for a bad one.
fn expiry(state: &State, body: &Value, now: Instant) -> Result<Option<Instant>, Reply> {
    match (get(body, "ttl"), get(body, "expireTime")) {
        (Some(_), Some(_)) => Err(errors::invalid_field(
            "CachedContent.expiration",
            "only one of ttl and expire_time may be set",
        )),
        (Some(ttl), None) => {
            let text = ttl.as_str().unwrap_or("");
            match parse_duration(text) {
                Some(Ok(d)) => later(now, d).map(Some),
                Some(Err(BadDuration::NotPositive)) => Err(errors::invalid_field(
                    "CachedContent.ttl",
                    "ttl must be positive",
                )),
                Some(Err(BadDuration::TooLong)) => Err(errors::invalid_field(
                    "CachedContent.ttl",
                    "ttl must be at most 315576000000s (the range of google.protobuf.Duration)",
                )),
                None => Err(errors::invalid_payload(&format!(
                    "Invalid value at 'cached_content.ttl' (type.googleapis.com/google.protobuf.Duration), Field 'ttl', Illegal duration format; duration must end with 's': {ttl}"
                ))),
            }
        }
        (None, Some(at)) => {
            let text = at.as_str().unwrap_or("");
            let Some(wall) = parse_timestamp(text) else {
                return Err(errors::invalid_payload(&format!(
                    "Invalid value at 'cached_content.expire_time' (type.googleapis.com/google.protobuf.Timestamp), Field 'expireTime', Invalid time format: {at}"
                )));
            };
            if wall <= state.storage.wall(now) {
                return Err(errors::invalid_field(
                    "CachedContent.expire_time",
                    "expire_time must be in the future",
                ));
            }
            match state.storage.instant(wall).filter(|t| *t > now) {
                Some(t) => Ok(Some(t)),
                None => Err(too_far("CachedContent.expire_time")),
            }
        }
        (None, None) => Ok(None),
    }
}

/// `now + d`, or the 400 for an expiry the platform's clock cannot hold (never a panic).
fn later(now: Instant, d: Duration) -> Result<Instant, Reply> {
    now.checked_add(d)
        .ok_or_else(|| too_far("CachedContent.ttl"))
}

fn too_far(field: &str) -> Reply {
    errors::invalid_field(field, "the expiration is too far in the future")
}

impl State {
    pub(super) fn create_cache(&self, key: &str, body: &[u8]) -> Reply {
        let mut request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return errors::invalid_payload(&format!("Invalid JSON payload received. {e}"));
            }
        };
        if let Err(message) = validate::check(Message::CachedContent, &request) {
            return errors::invalid_payload(&message);
        }
        let Some(model) = get(&request, "model").and_then(Value::as_str) else {
            return errors::invalid_field("CachedContent.model", "model is not specified");
        };
        let id = model.strip_prefix("models/").unwrap_or(model).to_owned();
        let Some(spec) = self
            .model(&id)
            .filter(|m| m.methods().contains(&"createCachedContent"))
        else {
            return errors::model_not_found(&id, "v1beta", "createCachedContent");
        };
        let now = Instant::now();
        let expires = match expiry(self, &request, now) {
            Ok(Some(at)) => at,
            Ok(None) => match later(now, DEFAULT_TTL) {
                Ok(at) => at,
                Err(reply) => return reply,
            },
            Err(reply) => return reply,
        };
        let display_name = get(&request, "displayName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if display_name.chars().count() > 128 {
            return errors::invalid_field(
                "CachedContent.display_name",
                "display_name must be at most 128 characters",
            );
        }
        let project = project_of(&self.config, key);
        if let Err(reply) = self.expand_files(&project, &mut request) {
            return reply;
        }
        let mut prefix = json!({});
        for field in ["contents", "systemInstruction", "tools", "toolConfig"] {
            if let Some(v) = get(&request, field) {
                prefix[field] = v.clone();
            }
        }
        let tokens = count_words(&prefix);
        let minimum = self
            .config
            .caches
            .min_tokens
            .unwrap_or(match spec.name.as_str() {
                "gemini-2.5-pro" => 4096,
                _ => 1024,
            });
        if tokens < minimum {
            return errors::status(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "Cached content is too small. total_token_count={tokens}, min_total_token_count={minimum}"
                ),
                vec![],
            );
        }
        if tokens > spec.input_token_limit {
            return errors::status(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "The input token count ({tokens}) exceeds the maximum number of tokens allowed ({}).",
                    spec.input_token_limit
                ),
                vec![],
            );
        }
        let bytes = prefix.to_string().len() as u64;
        let limits = &self.config.caches;
        let mut stored = self.storage.lock();
        if stored.caches.len() >= limits.max_caches {
            return errors::status(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "The simulator already holds {} cached contents, its limit (SimulatorConfig::caches.max_caches): delete some or let them expire.",
                    stored.caches.len()
                ),
                vec![],
            );
        }
        let total: u64 = stored.caches.values().map(|c| c.bytes).sum();
        if total + bytes > limits.max_total_bytes {
            return errors::status(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "The simulator holds {total} bytes of cached content; {bytes} more would pass its limit of {} (SimulatorConfig::caches.max_total_bytes): delete some first.",
                    limits.max_total_bytes
                ),
                vec![],
            );
        }
        stored.serial += 1;
        let serial = stored.serial;
        let cache = StoredCache {
            project,
            name: format!(
                "cachedContents/{}",
                new_id(self.config.seed ^ 0xcac4e, serial, 40)
            ),
            model: format!("models/{}", spec.name),
            display_name,
            prefix,
            tokens,
            bytes,
            created: now,
            updated: now,
            expires,
        };
        let answer = cache.json(self);
        stored.caches.insert(serial, cache);
        self.bump(|s| s.answered += 1);
        Reply::Json(200, answer)
    }

    fn find_cache<'a>(
        stored: &'a mut Stored,
        project: &str,
        id: &str,
    ) -> Option<(u64, &'a mut StoredCache)> {
        let name = format!("cachedContents/{id}");
        stored
            .caches
            .iter_mut()
            .find(|(_, c)| c.name == name && c.project == project)
            .map(|(serial, c)| (*serial, c))
    }

    pub(super) fn get_cache(&self, key: &str, id: &str) -> Reply {
        let project = project_of(&self.config, key);
        let mut stored = self.storage.lock();
        match State::find_cache(&mut stored, &project, id) {
            Some((_, c)) => Reply::Json(200, c.json(self)),
            None => not_found(),
        }
    }

    pub(super) fn delete_cache(&self, key: &str, id: &str) -> Reply {
        let project = project_of(&self.config, key);
        let mut stored = self.storage.lock();
        match State::find_cache(&mut stored, &project, id).map(|(serial, _)| serial) {
            Some(serial) => {
                stored.caches.remove(&serial);
                empty()
            }
            None => not_found(),
        }
    }

    /// `PATCH cachedContents/{id}?updateMask=ttl` (or `expireTime`): only the expiry changes.
    pub(super) fn update_cache(&self, key: &str, id: &str, query: &str, body: &[u8]) -> Reply {
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return errors::invalid_payload(&format!("Invalid JSON payload received. {e}"));
            }
        };
        if let Err(message) = validate::check(Message::CachedContent, &request) {
            return errors::invalid_payload(&message);
        }
        let mask = super::request::query_param(query, "updateMask")
            .or_else(|| super::request::query_param(query, "update_mask"))
            .unwrap_or_default();
        let fields: Vec<&str> = mask
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        let expiry_fields = ["ttl", "expireTime", "expire_time"];
        if let Some(other) = fields.iter().find(|f| !expiry_fields.contains(f)) {
            return errors::invalid_field(
                "update_mask",
                &format!(
                    "`{other}` cannot be updated: only the expiration (ttl or expire_time) of a cached content can"
                ),
            );
        }
        let now = Instant::now();
        let expires = match expiry(self, &request, now) {
            Ok(Some(at)) => at,
            Ok(None) => {
                return errors::invalid_field(
                    "CachedContent.expiration",
                    "set ttl or expire_time, and name it in updateMask",
                );
            }
            Err(reply) => return reply,
        };
        let project = project_of(&self.config, key);
        let mut stored = self.storage.lock();
        match State::find_cache(&mut stored, &project, id) {
            Some((_, c)) => {
                // The answer first, then the change: nothing after the change can fail.
                let answer = c.json_with(self, now, expires);
                c.expires = expires;
                c.updated = now;
                Reply::Json(200, answer)
            }
            None => not_found(),
        }
    }

    pub(super) fn list_caches(&self, key: &str, query: &str) -> Reply {
        let (size, start) = match paging(query, 100, 1000) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let project = project_of(&self.config, key);
        let stored = self.storage.lock();
        let mine: Vec<(&u64, &StoredCache)> = stored
            .caches
            .range(start..)
            .filter(|(_, c)| c.project == project)
            .take(size + 1)
            .collect();
        let caches: Vec<Value> = mine.iter().take(size).map(|(_, c)| c.json(self)).collect();
        let mut page = json!({});
        if !caches.is_empty() {
            page["cachedContents"] = json!(caches);
        }
        if let Some((next, _)) = mine.get(size) {
            page["nextPageToken"] = json!(page_token(**next));
        }
        Reply::Json(200, page)
    }

    /// Puts the cache `name` in front of `request` (its contents first; its system instruction,
    /// tools and tool config), and returns the cache's tokens; or the answer the real service
    /// gives when that cannot be.
    pub(super) fn continue_cache(
        &self,
        project: &str,
        spec: &SimModel,
        name: &str,
        request: &mut Value,
    ) -> Result<u32, Reply> {
        if ["systemInstruction", "tools", "toolConfig"]
            .iter()
            .any(|f| get(request, f).is_some())
        {
            return Err(errors::status(
                400,
                "INVALID_ARGUMENT",
                "CachedContent can not be used with GenerateContent request setting system_instruction, tools or tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request.",
                vec![],
            ));
        }
        let id = name.strip_prefix("cachedContents/").unwrap_or(name);
        let mut stored = self.storage.lock();
        let Some((_, cache)) = State::find_cache(&mut stored, project, id) else {
            return Err(not_found());
        };
        let model = format!("models/{}", spec.name);
        if cache.model != model {
            return Err(errors::status(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "Model used by GenerateContent request ({model}) and CachedContent ({}) has to be the same.",
                    cache.model
                ),
                vec![],
            ));
        }
        let Some(map) = request.as_object_mut() else {
            return Err(errors::internal());
        };
        map.remove("cachedContent");
        map.remove("cached_content");
        let mut contents: Vec<Value> = get(&cache.prefix, "contents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let own = map
            .remove("contents")
            .and_then(|c| c.as_array().cloned())
            .unwrap_or_default();
        contents.extend(own);
        map.insert("contents".into(), Value::Array(contents));
        for field in ["systemInstruction", "tools", "toolConfig"] {
            if let Some(v) = get(&cache.prefix, field) {
                map.insert(field.into(), v.clone());
            }
        }
        Ok(cache.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Storage;

    fn cache(expires: Instant) -> StoredCache {
        StoredCache {
            project: "p".into(),
            name: "cachedContents/c".into(),
            model: "models/m".into(),
            display_name: String::new(),
            prefix: json!({}),
            tokens: 1,
            bytes: 2,
            created: Instant::now(),
            updated: Instant::now(),
            expires,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cache_lives_until_its_expiry_on_the_simulated_clock() {
        let storage = Storage::default();
        let start = Instant::now();
        storage.lock().caches.insert(1, cache(start + DEFAULT_TTL));
        tokio::time::advance(DEFAULT_TTL - Duration::from_millis(1)).await;
        assert_eq!(storage.lock().caches.len(), 1);
        // Its expiry, as a wall time, is an hour after its creation's.
        let created = storage.wall(start);
        assert_eq!(
            storage
                .wall(start + DEFAULT_TTL)
                .duration_since(created)
                .ok(),
            Some(DEFAULT_TTL)
        );
        assert_eq!(
            storage.instant(created + DEFAULT_TTL),
            Some(start + DEFAULT_TTL)
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(storage.lock().caches.is_empty(), "expired, dropped");
    }
}
