//! Routing (the OpenAI-compatible routes under `/v1beta/openai/` are in `openai.rs`), in the order the real service checks a request: the URL and method (404, 405), the
//! key (403 without one, 400 `API_KEY_INVALID` for an unknown one), the model and whether it
//! supports the method (404), then the payload (400 for bad JSON, unknown fields or a missing
//! required field). Served under `/v1beta/` and `/v1/`; the key comes from `x-goog-api-key` or
//! `?key=`.

use super::request::{Action, RequestHeaders, query_param};
use super::validate::{self};
use super::{OTHER, Reply, SimModel, State, errors};
use serde_json::{Value, json};
use std::collections::BTreeMap;

enum Route<'a> {
    List,
    Get(&'a str),
    Call(&'a str, Action),
    /// `models/{model}:batchGenerateContent`.
    Batch(&'a str),
}

impl State {
    /// Routes one request.
    pub(crate) async fn handle(
        &self,
        method: &str,
        target: &str,
        key: Option<&str>,
        headers: &RequestHeaders,
        body: &[u8],
    ) -> Reply {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let from_query = query_param(query, "key");
        let openai = path.strip_prefix("/v1beta/openai/");
        // The compatible routes take the key as OpenAI's SDKs send it, too.
        let bearer = openai.and_then(|_| headers.bearer());
        let key = key.or(bearer).or(from_query.as_deref());
        let known_key = key.is_some_and(|k| self.config.keys.iter().any(|c| c == k));
        self.bump(|s| {
            s.requests += 1;
            count_bounded(&mut s.by_key, key.unwrap_or(""), known_key || key.is_none());
        });
        if let Some(rest) = openai {
            let caller = super::openai::Caller {
                key,
                authorization: headers.authorization(),
                known: known_key,
            };
            return super::openai::wrapped(self.openai(method, rest, path, caller, body).await);
        }
        if let Some(reply) = self.batches(method, path, query, key).await {
            return reply;
        }
        if let Some(reply) = self.resources(method, path, query, key, headers, body) {
            return reply;
        }
        let Some((version, rest)) = ["v1beta", "v1"].into_iter().find_map(|v| {
            path.strip_prefix('/')
                .and_then(|p| p.strip_prefix(v))
                .and_then(|p| p.strip_prefix('/'))
                .map(|rest| (v, rest))
        }) else {
            return errors::no_such_url(path);
        };
        let route = if rest == "models" {
            Route::List
        } else if let Some(name) = rest.strip_prefix("models/") {
            match name.split_once(':') {
                None if !name.is_empty() && !name.contains('/') => Route::Get(name),
                Some((model, "batchGenerateContent"))
                    if !model.is_empty() && !model.contains('/') =>
                {
                    Route::Batch(model)
                }
                Some((model, action)) if !model.is_empty() && !model.contains('/') => {
                    match Action::parse(action) {
                        Some(action) => Route::Call(model, action),
                        None => return errors::no_such_url(path),
                    }
                }
                _ => return errors::no_such_url(path),
            }
        } else {
            return errors::no_such_url(path);
        };
        match (&route, method) {
            (Route::List | Route::Get(_), "GET") | (Route::Call(..) | Route::Batch(_), "POST") => {}
            // Like the real front end: a GET on a POST-only method is not found at all.
            (Route::Call(..) | Route::Batch(_), "GET" | "HEAD") => {
                return errors::no_such_url(path);
            }
            (Route::List | Route::Get(_), _) => return errors::wrong_method(method, path, "GET"),
            (Route::Call(..) | Route::Batch(_), _) => {
                return errors::wrong_method(method, path, "POST");
            }
        }
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return errors::no_key();
        };
        if !known_key {
            return errors::api_key_invalid();
        }
        let (model, action) = match route {
            Route::List => return self.list(query),
            Route::Get(model) => (model, None),
            Route::Call(model, action) => (model, Some(action)),
            Route::Batch(model) => (model, Some(Action::Batched)),
        };
        let spec = match self.model_for(model, version, action) {
            Ok(spec) => spec,
            Err(reply) => return reply,
        };
        let Some(action) = action else {
            return Reply::Json(200, model_json(spec));
        };
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return errors::invalid_payload(&format!(
                        "Invalid JSON payload received. {}",
                        capitalised(&e.to_string())
                    ));
                }
            }
        };
        if action == Action::Batched {
            return self.create_batch(model, key, &body);
        }
        let sse = query_param(query, "alt").as_deref() == Some("sse");
        self.checked_call(spec, key, action, &body, sse).await
    }

    /// The model a request names, counted; 404 when it is not served or does not support
    /// `action` (`None`: `models.get`).
    pub(super) fn model_for(
        &self,
        model: &str,
        version: &str,
        action: Option<Action>,
    ) -> Result<&SimModel, Reply> {
        let known_model = self.model(model).is_some();
        self.bump(|s| count_bounded(&mut s.by_model, model, known_model));
        let Some(spec) = self.model(model) else {
            let method = action.map_or("get", Action::method_name);
            return Err(errors::model_not_found(model, version, method));
        };
        match action {
            Some(action) if !spec.supports(action) => Err(errors::model_not_found(
                model,
                version,
                action.method_name(),
            )),
            _ => Ok(spec),
        }
    }

    /// Checks a request body against its message (400 for unknown or missing fields), then
    /// answers it.
    pub(super) async fn checked_call(
        &self,
        spec: &SimModel,
        key: &str,
        action: Action,
        body: &Value,
        sse: bool,
    ) -> Reply {
        if let Err(message) = validate::check(action.message(), body) {
            return errors::invalid_payload(&message);
        }
        if let Err(reply) = required(action, body) {
            return reply;
        }
        self.call_with_resources(spec, key, action, body, sse).await
    }

    fn list(&self, query: &str) -> Reply {
        let size = match query_param(query, "pageSize") {
            None => 50,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if n > 0 => n.min(1000) as usize,
                Ok(_) => 50,
                Err(_) => {
                    return errors::invalid_payload(&format!(
                        "Invalid value at 'page_size' (TYPE_INT32), \"{}\"",
                        text.chars().take(50).collect::<String>()
                    ));
                }
            },
        }
        .min(self.config.page_size.max(1));
        let start = match query_param(query, "pageToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => match decode_page_token(&token) {
                Some(start) if start < self.config.models.len() => start,
                _ => {
                    return errors::status(400, "INVALID_ARGUMENT", "Invalid page token.", vec![]);
                }
            },
        };
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
            page["nextPageToken"] = json!(page_token(start + size));
        }
        Reply::Json(200, page)
    }
}

/// The required fields of each request, with the real API's wording.
fn required(action: Action, body: &Value) -> Result<(), Reply> {
    let empty = |name: &str| {
        validate::get(body, name).is_none_or(|v| v.as_array().is_some_and(Vec::is_empty))
    };
    match action {
        Action::Generate | Action::Stream | Action::Batched if empty("contents") => {
            Err(errors::invalid_field(
                "GenerateContentRequest.contents",
                "contents is not specified",
            ))
        }
        Action::CountTokens if empty("contents") && empty("generateContentRequest") => Err(
            errors::invalid_field("CountTokensRequest.contents", "contents is not specified"),
        ),
        Action::Embed if empty("content") => Err(errors::invalid_field(
            "EmbedContentRequest.content",
            "content is not specified",
        )),
        Action::BatchEmbed if empty("requests") => Err(errors::invalid_field(
            "BatchEmbedContentsRequest.requests",
            "requests is not specified",
        )),
        Action::Generate | Action::Stream | Action::Batched => generation_config(body),
        _ => Ok(()),
    }
}

/// The values of `generationConfig` the real API refuses although their JSON type is right.
fn generation_config(body: &Value) -> Result<(), Reply> {
    let Some(config) = validate::get(body, "generationConfig") else {
        return Ok(());
    };
    let number = |name: &str| validate::get(config, name).and_then(validate::int);
    if let Some(count) = number("candidateCount").filter(|n| !(1..=8).contains(n)) {
        return Err(errors::invalid_field(
            "GenerateContentRequest.generation_config.candidate_count",
            &format!("candidate_count must be between 1 and 8, got {count}"),
        ));
    }
    if let Some(mime) = validate::get(config, "responseMimeType").and_then(Value::as_str) {
        const ALLOWED: [&str; 5] = [
            "text/plain",
            "application/json",
            "application/xml",
            "application/yaml",
            "text/x.enum",
        ];
        if !mime.is_empty() && !ALLOWED.contains(&mime) {
            return Err(errors::invalid_field(
                "GenerateContentRequest.generation_config.response_mime_type",
                "allowed mimetypes are `text/plain`, `application/json`, `application/xml`, \
                 `application/yaml` and `text/x.enum`.",
            ));
        }
    }
    Ok(())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Opaque-looking page tokens (the real ones are opaque too).
fn page_token(start: usize) -> String {
    format!("Cg{start:x}Sim")
}

fn decode_page_token(token: &str) -> Option<usize> {
    token
        .strip_prefix("Cg")
        .and_then(|t| t.strip_suffix("Sim"))
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
}

pub(super) fn model_json(m: &SimModel) -> Value {
    let mut model = json!({
        "name": format!("models/{}", m.name),
        "version": m.version(),
        "displayName": m.display_name(),
        "description": format!("{} (simulated)", m.display_name()),
        "inputTokenLimit": m.input_token_limit,
        "outputTokenLimit": m.output_token_limit,
        "supportedGenerationMethods": m.methods(),
    });
    if !m.is_embedding() {
        model["temperature"] = json!(1.0);
        model["topP"] = json!(0.95);
        model["topK"] = json!(64);
        model["maxTemperature"] = json!(2.0);
        model["thinking"] = json!(m.name.starts_with("gemini-2.5"));
    }
    model
}

/// Counts one request under `name` when the configuration knows it, else under [`OTHER`]: the
/// map never holds more than the known names, `""` and [`OTHER`].
fn count_bounded(map: &mut BTreeMap<String, u64>, name: &str, known: bool) {
    let name = if known { name } else { OTHER };
    match map.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            map.insert(name.to_owned(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(decode_page_token(&page_token(42)), Some(42));
        assert_eq!(decode_page_token("page-2"), None);
    }
}
