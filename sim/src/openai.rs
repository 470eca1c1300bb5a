//! Gemini's OpenAI-compatible routes, under `/v1beta/openai/`: `chat/completions` (plain, and
//! streamed as server-sent events ending with `data: [DONE]`), `embeddings`, `models` and
//! `models/{id}`.
//!
//! A request is translated into the native request it stands for and answered by the same path
//! as a native one (the model's quotas, the `[sim:…]` markers, the faults), then the answer is
//! translated back, as the real service does. The key comes as `Authorization: Bearer`, as the
//! OpenAI SDKs send it (`x-goog-api-key` and `?key=` work too); errors are the real routes':
//! a `google.rpc.Status` inside a one-element JSON array, `[{"error": {…}}]`. No key at all is a
//! 401 UNAUTHENTICATED; an `Authorization` header that is not `Bearer KEY`, 400 "Invalid
//! Authorization header.".
//!
//! What a chat request may carry, and what it becomes:
//!
//! | OpenAI | native |
//! | --- | --- |
//! | `system` and `developer` messages | `systemInstruction` |
//! | `user` messages: text, `image_url` (a `data:` URL), `input_audio` | `user` turns: text, `inlineData` |
//! | `assistant` messages, their `tool_calls` | `model` turns, `functionCall` parts |
//! | `tool` messages (by `tool_call_id`) | `functionResponse` parts |
//! | `max_completion_tokens`, `max_tokens` | `maxOutputTokens` |
//! | `temperature`, `top_p`, `n`, `stop`, `seed`, `presence_penalty`, `frequency_penalty` | the same in `generationConfig` (`n` is `candidateCount`) |
//! | `logprobs`, `top_logprobs` | `responseLogprobs`, `logprobs` |
//! | `response_format`: `json_object`, `json_schema` | `responseMimeType` `application/json`, `responseJsonSchema` |
//! | `tools` (functions), `tool_choice` (`none`, `auto`, `required`, one function) | `functionDeclarations`, `functionCallingConfig` |
//! | `reasoning_effort` (`none`, `low`, `medium`, `high`) | `thinkingConfig.thinkingBudget` (0, 1 024, 8 192, 24 576) |
//! | `stream`, `stream_options.include_usage` | `streamGenerateContent`; a last chunk with the usage |
//! | `extra_body.google.thinking_config` (`thinking_budget`, `include_thoughts`), `extra_body.google.cached_content` | `thinkingConfig`, `cachedContent` |
//!
//! `user`, `metadata`, `store`, `parallel_tool_calls`, `logit_bias`, `service_tier` and
//! `modalities` are accepted and ignored; any other field is a 400 naming it.

use super::request::Action;
use super::validate::int;
use super::{Reply, State, errors};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// The fields a chat completion request may have.
const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "response_format",
    "tools",
    "tool_choice",
    "reasoning_effort",
    "stream",
    "stream_options",
    "user",
    "metadata",
    "store",
    "parallel_tool_calls",
    "logit_bias",
    "service_tier",
    "modalities",
    "extra_body",
];

/// The fields an embeddings request may have.
const EMBEDDING_FIELDS: &[&str] = &["model", "input", "dimensions", "encoding_format", "user"];

/// The API version the compatible routes live under.
const VERSION: &str = "v1beta";

/// An error of the compatible routes: the native error body, inside a one-element array.
pub(super) fn wrapped(reply: Reply) -> Reply {
    match reply {
        Reply::Json(code, body) if code >= 400 => Reply::Json(code, Value::Array(vec![body])),
        Reply::Headers(headers, inner) => Reply::Headers(headers, Box::new(wrapped(*inner))),
        other => other,
    }
}

fn invalid(message: &str) -> Reply {
    errors::status(400, "INVALID_ARGUMENT", message, vec![])
}

/// Who calls: the key the request carries in any form, the `Authorization` header as sent, and
/// whether the key is one the simulator accepts.
pub(super) struct Caller<'a> {
    pub(super) key: Option<&'a str>,
    pub(super) authorization: Option<&'a str>,
    pub(super) known: bool,
}

/// A chat request, translated.
struct Chat {
    model: String,
    body: Value,
    stream: bool,
    include_usage: bool,
}

impl State {
    /// Answers a request to `/v1beta/openai/{rest}` (`path` is the whole path); its errors in
    /// the native shape, for [`wrapped`] to put in the routes' own.
    pub(super) async fn openai(
        &self,
        method: &str,
        rest: &str,
        path: &str,
        caller: Caller<'_>,
        body: &[u8],
    ) -> Reply {
        enum Route<'a> {
            Chat,
            Embeddings,
            Models,
            Model(&'a str),
        }
        let route = match rest {
            "chat/completions" => Route::Chat,
            "embeddings" => Route::Embeddings,
            "models" => Route::Models,
            _ => match rest.strip_prefix("models/") {
                Some(id) if !id.is_empty() => Route::Model(id),
                _ => return errors::no_such_url(path),
            },
        };
        let allowed = match route {
            Route::Chat | Route::Embeddings => "POST",
            Route::Models | Route::Model(_) => "GET",
        };
        if method != allowed {
            return errors::wrong_method(method, path, allowed);
        }
        if let Some(header) = caller.authorization {
            let token = header.strip_prefix("Bearer ").map(str::trim);
            if token.is_none_or(str::is_empty) {
                return invalid("Invalid Authorization header.");
            }
        }
        let Some(key) = caller.key.filter(|k| !k.is_empty()) else {
            return errors::status(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                vec![],
            );
        };
        if !caller.known {
            return errors::api_key_invalid();
        }
        match route {
            Route::Models => Reply::Json(
                200,
                json!({"object": "list",
                       "data": self.config.models.iter().map(|m| listed(&m.name)).collect::<Vec<_>>()}),
            ),
            Route::Model(id) => {
                // The OpenAI SDKs send the listing's `models/…` ids with the slash encoded.
                let id = super::request::percent_decode(id);
                let name = id.trim_start_matches("models/");
                match self.model(name) {
                    Some(spec) => {
                        let mut model = listed(&spec.name);
                        model["display_name"] = json!(spec.display_name());
                        Reply::Json(200, model)
                    }
                    None => errors::model_not_found(name, VERSION, "get"),
                }
            }
            Route::Chat => {
                let chat = match parse(body).and_then(|v| chat(&v)) {
                    Ok(chat) => chat,
                    Err(reply) => return reply,
                };
                let action = if chat.stream {
                    Action::Stream
                } else {
                    Action::Generate
                };
                let spec = match self.model_for(&chat.model, VERSION, Some(action)) {
                    Ok(spec) => spec,
                    Err(reply) => return reply,
                };
                let answer = self.checked_call(spec, key, action, &chat.body, true).await;
                self.chat_answer(answer, &chat)
            }
            Route::Embeddings => {
                let (model, request, base64) = match parse(body).and_then(|v| embeddings(&v)) {
                    Ok(parts) => parts,
                    Err(reply) => return reply,
                };
                let spec = match self.model_for(&model, VERSION, Some(Action::BatchEmbed)) {
                    Ok(spec) => spec,
                    Err(reply) => return reply,
                };
                let tokens = super::generate::count_words(&request);
                let answer = self
                    .checked_call(spec, key, Action::BatchEmbed, &request, false)
                    .await;
                embedding_answer(answer, &model, tokens, base64)
            }
        }
    }

    /// The native answer to a chat request, as the compatible route gives it.
    fn chat_answer(&self, answer: Reply, chat: &Chat) -> Reply {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match answer {
            Reply::Json(200, native) => {
                let id = native["responseId"].as_str().unwrap_or("").to_owned();
                let choices: Vec<Value> = native["candidates"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .enumerate()
                            .map(|(i, candidate)| {
                                let (message, finish) = message_of(candidate, &id, i);
                                json!({"index": i, "message": message, "finish_reason": finish,
                                       "logprobs": logprobs_of(candidate)})
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // A blocked prompt has no candidate: one empty choice, filtered.
                let choices = if choices.is_empty() {
                    vec![json!({"index": 0,
                                "message": {"role": "assistant", "content": null},
                                "finish_reason": "content_filter"})]
                } else {
                    choices
                };
                Reply::Json(
                    200,
                    json!({"id": id, "object": "chat.completion", "created": created,
                           "model": chat.model, "choices": choices,
                           "usage": usage_of(&native["usageMetadata"])}),
                )
            }
            Reply::Stream {
                chunks, failure, ..
            } => {
                let mut out = Vec::with_capacity(chunks.len() + 1);
                let mut usage = Value::Null;
                for (n, native) in chunks.iter().enumerate() {
                    let id = native["responseId"].as_str().unwrap_or("").to_owned();
                    let choices: Vec<Value> = native["candidates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, candidate)| {
                            let index = candidate["index"].as_u64().unwrap_or(i as u64);
                            let (message, finish) = message_of(candidate, &id, i);
                            let mut delta = Map::new();
                            if n == 0 {
                                delta.insert("role".into(), json!("assistant"));
                            }
                            if let Some(text) = message["content"].as_str() {
                                delta.insert("content".into(), json!(text));
                            }
                            if let Some(calls) = message["tool_calls"].as_array() {
                                let calls: Vec<Value> = calls
                                    .iter()
                                    .enumerate()
                                    .map(|(k, c)| {
                                        let mut c = c.clone();
                                        c["index"] = json!(k);
                                        c
                                    })
                                    .collect();
                                delta.insert("tool_calls".into(), Value::Array(calls));
                            }
                            let finish = candidate.get("finishReason").map(|_| finish);
                            json!({"index": index, "delta": delta, "finish_reason": finish,
                                   "logprobs": logprobs_of(candidate)})
                        })
                        .collect();
                    if native.get("usageMetadata").is_some() {
                        usage = usage_of(&native["usageMetadata"]);
                    }
                    if choices.is_empty() && native.get("promptFeedback").is_some() {
                        out.push(json!({"id": id, "object": "chat.completion.chunk",
                            "created": created, "model": chat.model,
                            "choices": [{"index": 0, "delta": {"role": "assistant"},
                                         "finish_reason": "content_filter"}]}));
                        continue;
                    }
                    out.push(json!({"id": id, "object": "chat.completion.chunk",
                                    "created": created, "model": chat.model, "choices": choices}));
                }
                if chat.include_usage && failure.is_none() {
                    let id = out
                        .last()
                        .and_then(|c| c["id"].as_str())
                        .unwrap_or("")
                        .to_owned();
                    out.push(json!({"id": id, "object": "chat.completion.chunk",
                                    "created": created, "model": chat.model, "choices": [],
                                    "usage": usage}));
                }
                Reply::Stream {
                    chunks: out,
                    failure,
                    sse: true,
                    done: true,
                }
            }
            other => other,
        }
    }
}

/// A model as `models` lists it.
fn listed(name: &str) -> Value {
    json!({"id": format!("models/{name}"), "object": "model", "created": 0, "owned_by": "google"})
}

fn parse(body: &[u8]) -> Result<Value, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(invalid(
            "Invalid JSON payload received. The request body must be a JSON object.",
        )),
        Err(e) => Err(invalid(&format!("Invalid JSON payload received. {e}"))),
    }
}

fn unknown_fields(body: &Value, allowed: &[&str]) -> Result<(), Reply> {
    if let Some(name) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !allowed.contains(&k.as_str())))
    {
        return Err(invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{}\": Cannot find field.",
            name.chars().take(100).collect::<String>()
        )));
    }
    Ok(())
}

fn model_name(body: &Value) -> Result<String, Reply> {
    match body.get("model") {
        Some(Value::String(m)) if !m.trim_start_matches("models/").is_empty() => {
            Ok(m.trim_start_matches("models/").to_owned())
        }
        Some(_) => Err(invalid("model must be a non-empty string")),
        None => Err(invalid("model is not specified")),
    }
}

/// The text of a message's content: a string, or the `text` parts of an array.
fn content_parts(content: &Value, role: &str) -> Result<Vec<Value>, Reply> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(vec![json!({"text": text})]),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part["type"].as_str() {
                Some("text") => match part["text"].as_str() {
                    Some(text) => Ok(json!({"text": text})),
                    None => Err(invalid("a text content part needs a string `text`")),
                },
                Some("image_url") if role == "user" => {
                    let url = part["image_url"]["url"].as_str().unwrap_or("");
                    inline_data(url)
                        .ok_or_else(|| invalid("image_url must be a base64 `data:` URL (data:image/png;base64,…)"))
                }
                Some("input_audio") if role == "user" => {
                    let data = part["input_audio"]["data"].as_str();
                    let format = part["input_audio"]["format"].as_str();
                    match (data, format) {
                        (Some(data), Some(format)) => Ok(
                            json!({"inlineData": {"mimeType": format!("audio/{format}"), "data": data}}),
                        ),
                        _ => Err(invalid("input_audio needs `data` and `format`")),
                    }
                }
                other => Err(invalid(&format!(
                    "content parts of type {} are not supported in {role} messages",
                    other.map_or("(none)".to_owned(), |t| format!("`{}`", t.chars().take(40).collect::<String>()))
                ))),
            })
            .collect(),
        _ => Err(invalid("a message's content must be a string or an array of parts")),
    }
}

/// `data:{mime};base64,{data}` as an `inlineData` part.
fn inline_data(url: &str) -> Option<Value> {
    let rest = url.strip_prefix("data:")?;
    let (mime, data) = rest.split_once(";base64,")?;
    (!mime.is_empty() && !data.is_empty())
        .then(|| json!({"inlineData": {"mimeType": mime, "data": data}}))
}

/// A whole number field, at least `min`.
fn whole(body: &Value, name: &str, min: i64) -> Result<Option<i64>, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match int(v) {
            Some(n) if n >= min => Ok(Some(n)),
            _ => Err(invalid(&format!(
                "{name} must be a whole number of at least {min}"
            ))),
        },
    }
}

fn number(body: &Value, name: &str) -> Result<Option<f64>, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(&format!("{name} must be a number"))),
    }
}

/// Translates a chat completion request into a `generateContent` body.
fn chat(body: &Value) -> Result<Chat, Reply> {
    unknown_fields(body, CHAT_FIELDS)?;
    let model = model_name(body)?;
    let messages = match body.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) | None => return Err(invalid("messages must not be empty")),
        Some(_) => return Err(invalid("messages must be an array")),
    };
    let mut system: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // The function each tool call id named, for the tool messages that answer it.
    let mut calls: Vec<(String, String)> = Vec::new();
    for message in messages {
        let role = message["role"].as_str().unwrap_or("");
        let content = message.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => system.extend(content_parts(content, role)?),
            "user" => {
                let parts = content_parts(content, role)?;
                if parts.is_empty() {
                    return Err(invalid("a user message needs content"));
                }
                contents.push(json!({"role": "user", "parts": parts}));
            }
            "assistant" => {
                let mut parts = content_parts(content, role)?;
                for call in message["tool_calls"].as_array().into_iter().flatten() {
                    let name = call["function"]["name"].as_str().unwrap_or("");
                    if name.is_empty() {
                        return Err(invalid("a tool call needs function.name"));
                    }
                    let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
                    let args: Value = serde_json::from_str(arguments).map_err(|_| {
                        invalid(
                            "a tool call's function.arguments must be a JSON object, as a string",
                        )
                    })?;
                    if let Some(id) = call["id"].as_str() {
                        calls.push((id.to_owned(), name.to_owned()));
                    }
                    parts.push(json!({"functionCall": {"name": name, "args": args}}));
                }
                if parts.is_empty() {
                    return Err(invalid("an assistant message needs content or tool_calls"));
                }
                contents.push(json!({"role": "model", "parts": parts}));
            }
            "tool" => {
                let id = message["tool_call_id"].as_str().unwrap_or("");
                let Some(name) = calls
                    .iter()
                    .find(|(c, _)| c == id)
                    .map(|(_, n)| n.clone())
                    .or_else(|| message["name"].as_str().map(str::to_owned))
                else {
                    return Err(invalid(
                        "a tool message's tool_call_id must name a tool call of an earlier assistant message",
                    ));
                };
                let text: String = content_parts(content, role)?
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => json!({"content": text}),
                };
                contents.push(json!({"role": "user", "parts": [
                    {"functionResponse": {"name": name, "response": response}}]}));
            }
            other => {
                return Err(invalid(&format!(
                    "a message's role must be system, developer, user, assistant or tool, not `{}`",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    if contents.is_empty() {
        return Err(invalid(
            "messages need at least one user, assistant or tool message",
        ));
    }
    let mut config = Map::new();
    let max = match whole(body, "max_completion_tokens", 1)? {
        Some(n) => Some(n),
        None => whole(body, "max_tokens", 1)?,
    };
    if let Some(max) = max {
        config.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(t) = number(body, "temperature")? {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = number(body, "top_p")? {
        config.insert("topP".into(), json!(p));
    }
    if let Some(p) = number(body, "presence_penalty")? {
        config.insert("presencePenalty".into(), json!(p));
    }
    if let Some(p) = number(body, "frequency_penalty")? {
        config.insert("frequencyPenalty".into(), json!(p));
    }
    if let Some(n) = whole(body, "n", 1)? {
        config.insert("candidateCount".into(), json!(n));
    }
    if let Some(seed) = whole(body, "seed", i64::from(i32::MIN))? {
        config.insert("seed".into(), json!(seed));
    }
    match body.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            config.insert("stopSequences".into(), json!([s]));
        }
        Some(Value::Array(s)) if s.iter().all(Value::is_string) => {
            config.insert("stopSequences".into(), json!(s));
        }
        Some(_) => return Err(invalid("stop must be a string or an array of strings")),
    }
    if body["logprobs"].as_bool() == Some(true) {
        config.insert("responseLogprobs".into(), json!(true));
        if let Some(top) = whole(body, "top_logprobs", 0)? {
            config.insert("logprobs".into(), json!(top));
        }
    }
    match body.get("response_format") {
        None | Some(Value::Null) => {}
        Some(format) => match format["type"].as_str() {
            Some("text") => {}
            Some("json_object") => {
                config.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                let Some(schema) = format["json_schema"].get("schema") else {
                    return Err(invalid(
                        "response_format json_schema needs json_schema.schema",
                    ));
                };
                config.insert("responseMimeType".into(), json!("application/json"));
                config.insert("responseJsonSchema".into(), schema.clone());
            }
            _ => {
                return Err(invalid(
                    "response_format.type must be text, json_object or json_schema",
                ));
            }
        },
    }
    match body.get("reasoning_effort").and_then(Value::as_str) {
        None => {}
        Some(effort) => {
            let budget = match effort {
                "none" => 0,
                "minimal" | "low" => 1024,
                "medium" => 8192,
                "high" => 24576,
                _ => {
                    return Err(invalid(
                        "reasoning_effort must be none, minimal, low, medium or high",
                    ));
                }
            };
            config.insert("thinkingConfig".into(), json!({"thinkingBudget": budget}));
        }
    }
    // Gemini's own options, as its compatibility guide writes them.
    let google = &body["extra_body"]["google"];
    if let Some(thinking) = google.get("thinking_config").filter(|t| t.is_object()) {
        let mut t = Map::new();
        if let Some(budget) = thinking.get("thinking_budget") {
            t.insert("thinkingBudget".into(), budget.clone());
        }
        if let Some(include) = thinking.get("include_thoughts") {
            t.insert("includeThoughts".into(), include.clone());
        }
        config.insert("thinkingConfig".into(), Value::Object(t));
    }
    let mut native = json!({"contents": contents});
    if let Some(cache) = google.get("cached_content").and_then(Value::as_str) {
        native["cachedContent"] = json!(cache);
    }
    if !system.is_empty() {
        native["systemInstruction"] = json!({"parts": system});
    }
    if !config.is_empty() {
        native["generationConfig"] = Value::Object(config);
    }
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        let Some(tools) = tools.as_array() else {
            return Err(invalid("tools must be an array"));
        };
        let declarations = tools
            .iter()
            .map(|tool| {
                let function = &tool["function"];
                match (tool["type"].as_str(), function["name"].as_str()) {
                    (Some("function"), Some(name)) if !name.is_empty() => {
                        let mut d = json!({"name": name});
                        if let Some(text) = function["description"].as_str() {
                            d["description"] = json!(text);
                        }
                        if let Some(parameters) = function.get("parameters") {
                            d["parametersJsonSchema"] = parameters.clone();
                        }
                        Ok(d)
                    }
                    _ => Err(invalid(
                        "each tool must be {\"type\": \"function\", \"function\": {\"name\": …}}",
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !declarations.is_empty() {
            native["tools"] = json!([{"functionDeclarations": declarations}]);
        }
    }
    match body.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(choice) => {
            let calling = match (choice.as_str(), choice["function"]["name"].as_str()) {
                (Some("none"), _) => json!({"mode": "NONE"}),
                (Some("auto"), _) => json!({"mode": "AUTO"}),
                (Some("required"), _) => json!({"mode": "ANY"}),
                (None, Some(name)) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
                _ => {
                    return Err(invalid(
                        "tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}",
                    ));
                }
            };
            native["toolConfig"] = json!({"functionCallingConfig": calling});
        }
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream must be true or false")),
    };
    let include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    Ok(Chat {
        model,
        body: native,
        stream,
        include_usage,
    })
}

/// A candidate as an assistant message, and its finish reason.
fn message_of(candidate: &Value, id: &str, index: usize) -> (Value, &'static str) {
    let parts = candidate["content"]["parts"].as_array();
    let text: String = parts
        .into_iter()
        .flatten()
        .filter(|p| p["thought"].as_bool() != Some(true))
        .filter_map(|p| p["text"].as_str())
        .collect();
    let calls: Vec<Value> = parts
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("functionCall"))
        .enumerate()
        .map(|(k, call)| {
            json!({"id": format!("call_{id}_{index}_{k}"), "type": "function",
                   "function": {"name": call["name"],
                                "arguments": call.get("args").unwrap_or(&json!({})).to_string()}})
        })
        .collect();
    let mut message = json!({"role": "assistant",
                             "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    let finish = if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
        "tool_calls"
    } else {
        match candidate["finishReason"].as_str() {
            Some("MAX_TOKENS") => "length",
            Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII") => {
                "content_filter"
            }
            _ => "stop",
        }
    };
    (message, finish)
}

/// A candidate's `logprobsResult` as OpenAI's `logprobs` (`null` without one).
fn logprobs_of(candidate: &Value) -> Value {
    let Some(chosen) = candidate["logprobsResult"]["chosenCandidates"].as_array() else {
        return Value::Null;
    };
    let top = candidate["logprobsResult"]["topCandidates"].as_array();
    let content: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let alternatives: Vec<Value> = top
                .and_then(|t| t.get(i))
                .and_then(|t| t["candidates"].as_array())
                .into_iter()
                .flatten()
                .map(
                    |a| json!({"token": a["token"], "logprob": a["logProbability"], "bytes": null}),
                )
                .collect();
            json!({"token": c["token"], "logprob": c["logProbability"], "bytes": null,
                   "top_logprobs": alternatives})
        })
        .collect();
    json!({"content": content})
}

/// `usageMetadata` as OpenAI's `usage`: the thoughts count as completion tokens.
fn usage_of(usage: &Value) -> Value {
    let prompt = usage["promptTokenCount"].as_u64().unwrap_or(0);
    let total = usage["totalTokenCount"].as_u64().unwrap_or(prompt);
    let mut out = json!({"prompt_tokens": prompt,
                         "completion_tokens": total.saturating_sub(prompt),
                         "total_tokens": total});
    if let Some(thoughts) = usage["thoughtsTokenCount"].as_u64() {
        out["completion_tokens_details"] = json!({"reasoning_tokens": thoughts});
    }
    out
}

/// Translates an embeddings request into a `batchEmbedContents` body; whether the answer is
/// asked for in base64.
fn embeddings(body: &Value) -> Result<(String, Value, bool), Reply> {
    unknown_fields(body, EMBEDDING_FIELDS)?;
    let model = model_name(body)?;
    let texts: Vec<&str> = match body.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str().ok_or_else(|| {
                    invalid("input must be a string or an array of strings (token arrays are not supported)")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(invalid(
                "input must be a non-empty string or array of strings",
            ));
        }
        None => return Err(invalid("input is not specified")),
    };
    let dimensions = whole(body, "dimensions", 1)?;
    let base64 = match body.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(_) => return Err(invalid("encoding_format must be float or base64")),
    };
    let requests: Vec<Value> = texts
        .iter()
        .map(|text| {
            let mut r = json!({"model": format!("models/{model}"),
                               "content": {"parts": [{"text": text}]}});
            if let Some(d) = dimensions {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    Ok((model, json!({"requests": requests}), base64))
}

fn embedding_answer(answer: Reply, model: &str, tokens: u32, base64: bool) -> Reply {
    let Reply::Json(200, native) = answer else {
        return answer;
    };
    let data: Vec<Value> = native["embeddings"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, e)| {
            let values: Vec<f64> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .collect();
            let embedding = if base64 {
                let bytes: Vec<u8> = values
                    .iter()
                    .flat_map(|v| (*v as f32).to_le_bytes())
                    .collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(values)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Reply::Json(
        200,
        json!({"object": "list", "data": data, "model": model,
               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_of(body: Value) -> Result<Chat, Reply> {
        chat(&body)
    }

    #[test]
    fn a_conversation_becomes_the_native_request() {
        let chat = chat_of(json!({
            "model": "models/gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 3}"}
            ],
            "max_completion_tokens": 20, "n": 2, "stop": "END",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "stream": true, "stream_options": {"include_usage": true}
        }))
        .unwrap_or_else(|_| panic!("translated"));
        assert_eq!(chat.model, "gemini-2.5-flash");
        assert!(chat.stream && chat.include_usage);
        let b = &chat.body;
        assert_eq!(b["systemInstruction"]["parts"][0]["text"], "Be brief.");
        assert_eq!(
            b["contents"][0]["parts"][1]["inlineData"]["mimeType"],
            "image/png"
        );
        assert_eq!(b["contents"][1]["role"], "model");
        assert_eq!(
            b["contents"][1]["parts"][0]["functionCall"]["args"]["city"],
            "Oslo"
        );
        assert_eq!(
            b["contents"][2]["parts"][0]["functionResponse"]["name"],
            "weather"
        );
        assert_eq!(
            b["contents"][2]["parts"][0]["functionResponse"]["response"]["temp"],
            3
        );
        let config = &b["generationConfig"];
        assert_eq!(config["maxOutputTokens"], 20);
        assert_eq!(config["candidateCount"], 2);
        assert_eq!(config["stopSequences"], json!(["END"]));
        assert_eq!(config["responseMimeType"], "application/json");
        assert_eq!(
            b["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"],
            json!(["weather"])
        );
    }

    #[test]
    fn bad_requests_are_refused_with_the_field_named() {
        let message = |body: Value| match chat_of(body) {
            Err(Reply::Json(400, v)) => v["error"]["message"].as_str().unwrap_or("").to_owned(),
            _ => String::new(),
        };
        assert!(message(json!({"messages": [{"role": "user", "content": "x"}]})).contains("model"));
        assert!(message(json!({"model": "m", "messages": []})).contains("messages"));
        assert!(
            message(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "bogus": 1})
            )
            .contains("Unknown name \"bogus\"")
        );
        assert!(
            message(json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}))
                .contains("role")
        );
        assert!(message(json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}))
            .contains("tool_call_id"));
        assert!(message(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}))
            .contains("max_tokens"));
    }

    #[test]
    fn errors_are_wrapped_in_an_array() {
        let Reply::Json(429, body) =
            wrapped(errors::status(429, "RESOURCE_EXHAUSTED", "x", vec![]))
        else {
            panic!("a 429")
        };
        assert_eq!(body[0]["error"]["code"], 429);
    }
}
