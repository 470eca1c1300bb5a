//! Answers to valid requests: markers, quotas and faults first, then the generated content.
//!
//! - `generationConfig`: `candidateCount` candidates (1 to 8; 400 otherwise); `stopSequences`
//!   cut the text at the first one (`STOP`); `maxOutputTokens` cuts it to that many tokens
//!   (`MAX_TOKENS`); with `responseMimeType: application/json` the text is JSON that validates
//!   against `responseSchema` or `responseJsonSchema` (deterministic from the seed and the
//!   prompt), with `text/x.enum` one of the schema's values. A schema without a JSON or enum
//!   MIME type is ignored (plain text), as the Gemini API does; a MIME type outside the five the
//!   API allows is a 400.
//! - Tools: with `toolConfig.functionCallingConfig.mode` `ANY` (among `allowedFunctionNames`), or
//!   a prompt that names a declared function (mode `AUTO`, the default), the answer is a
//!   `functionCall` whose `args` validate against the declaration's parameters. A last turn that
//!   carries a `functionResponse` is answered with text about it.
//! - Usage counts whitespace-separated words of every text in the request (system instruction
//!   included) and of the answer.
//! - Thoughts: a `thinkingConfig` whose budget is not 0 counts `thoughtsTokenCount` (in the
//!   total); with `includeThoughts` the answer starts with a part marked `thought` (a chunk of
//!   its own in a stream). `responseLogprobs` adds `logprobsResult` (chosen tokens, and
//!   `logprobs` top candidates per token) and `avgLogprobs`; the `googleSearch` tool adds
//!   `groundingMetadata` (the query, one web source, one support).
//! - Integer fields (`topK`, `maxOutputTokens`, `candidateCount`, …) take a whole number written
//!   as a float (`20.0`, as the Python SDK sends `top_k`) or a string, as the real API reads an
//!   int32; a fraction or a value outside the int32 range is a 400 naming the field.
//! - Streams: the text in about three chunks, each with `responseId`, `modelVersion` and
//!   `usageMetadata`; the last carries its text, `finishReason` and the full usage, like the
//!   real one. With `alt=sse` as server-sent events, without it as one JSON array.

use super::content::{self, random_for};
use super::request::Action;
use super::validate::{get, int};
use super::{Reply, SimModel, State, errors};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// Words in every text part of a request body (its contents and system instruction).
pub(super) fn count_words(value: &Value) -> u32 {
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

fn words(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

fn parts_text(content: &Value) -> String {
    get(content, "parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| get(p, "text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The text of the last turn.
fn prompt_text(body: &Value) -> String {
    get(body, "contents")
        .and_then(Value::as_array)
        .and_then(|c| c.last())
        .map(parts_text)
        .unwrap_or_default()
}

/// The function response of the last turn, if it carries one.
fn function_response(body: &Value) -> Option<&Value> {
    get(body, "contents")?
        .as_array()?
        .last()
        .and_then(|c| get(c, "parts"))
        .and_then(Value::as_array)?
        .iter()
        .find_map(|p| get(p, "functionResponse"))
}

/// One candidate before it is framed.
struct Candidate {
    parts: Vec<Value>,
    finish: &'static str,
    tokens: u32,
}

/// The log probability the simulator gives the `i`th token it chose.
fn chosen_logprob(i: usize) -> f64 {
    -0.05 * (1 + i % 5) as f64
}

/// What a request asks for beyond the text: thoughts (`thinkingConfig`), log probabilities
/// (`responseLogprobs`, `logprobs`) and grounding (the `googleSearch` tool).
struct Extras {
    /// The thought part, with `includeThoughts`.
    thought: Option<Value>,
    /// Tokens spent thinking: with a `thinkingConfig` whose budget is not 0.
    thought_tokens: u32,
    /// `responseLogprobs`, and how many top candidates per token (`logprobs`).
    logprobs: Option<usize>,
    /// The query, when the `googleSearch` tool is on.
    search: Option<String>,
}

impl Extras {
    fn of(body: &Value, prompt: &str) -> Extras {
        let config = get(body, "generationConfig");
        let thinking = config.and_then(|c| get(c, "thinkingConfig"));
        let budget = thinking
            .and_then(|t| get(t, "thinkingBudget"))
            .and_then(int);
        let include = thinking
            .and_then(|t| get(t, "includeThoughts"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let thinks = thinking.is_some() && budget != Some(0);
        let text = format!("Thinking about how to answer: {prompt}");
        // The budget caps the thought (-1: dynamic, no cap).
        let thought_tokens = match budget {
            Some(b) if b > 0 => words(&text).min(u32::try_from(b).unwrap_or(u32::MAX)),
            _ => words(&text),
        };
        let logprobs = config
            .and_then(|c| get(c, "responseLogprobs"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .then(|| {
                config
                    .and_then(|c| get(c, "logprobs"))
                    .and_then(int)
                    .map_or(0, |n| n.clamp(0, 20) as usize)
            });
        let search = get(body, "tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|t| get(t, "googleSearch").is_some() || get(t, "googleSearchRetrieval").is_some())
            .then(|| prompt.to_owned());
        Extras {
            thought: (thinks && include).then(|| json!({"text": text, "thought": true})),
            thought_tokens: if thinks { thought_tokens } else { 0 },
            logprobs,
            search,
        }
    }

    /// Adds the log probabilities of `text` and the grounding to a whole candidate.
    fn decorate(&self, candidate: &mut Value, text: &str) {
        self.decorate_piece(candidate, text, Some(text));
    }

    /// Adds the log probabilities of this piece of a streamed answer; the grounding, whose
    /// segments index into the whole answer (`whole`), goes with the last piece.
    fn decorate_piece(&self, candidate: &mut Value, text: &str, whole: Option<&str>) {
        if let Some(top) = self.logprobs {
            let tokens: Vec<&str> = text.split_whitespace().collect();
            let chosen: Vec<Value> = tokens
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"token": t, "logProbability": chosen_logprob(i)}))
                .collect();
            let sum: f64 = chosen
                .iter()
                .filter_map(|c| c["logProbability"].as_f64())
                .sum();
            let mut result = json!({"chosenCandidates": chosen});
            if top > 0 {
                result["topCandidates"] = tokens
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let alternatives: Vec<Value> = (0..top)
                            .map(|k| {
                                let token = if k == 0 {
                                    (*t).to_owned()
                                } else {
                                    format!("{t}~{k}")
                                };
                                // The chosen token is the most likely one: the first of its
                                // list, with the same log probability.
                                json!({"token": token, "logProbability": chosen_logprob(i) - 0.5 * k as f64})
                            })
                            .collect();
                        json!({"candidates": alternatives})
                    })
                    .collect();
            }
            candidate["logprobsResult"] = result;
            if !tokens.is_empty() {
                candidate["avgLogprobs"] = json!(sum / tokens.len() as f64);
            }
        }
        if let (Some(query), Some(text)) = (&self.search, whole) {
            let end = text.len();
            candidate["groundingMetadata"] = json!({
                "webSearchQueries": [query],
                "searchEntryPoint": {"renderedContent": "<div class=\"container\">simulated search</div>"},
                "groundingChunks": [{"web": {"uri": "https://example.com/simulated-source", "title": "example.com"}}],
                "groundingSupports": [{
                    "segment": {"startIndex": 0, "endIndex": end, "text": text},
                    "groundingChunkIndices": [0],
                    "confidenceScores": [0.9]
                }]
            });
        }
    }
}

impl State {
    /// Answers a routed, valid request for `spec`.
    pub(super) async fn call(
        &self,
        spec: &SimModel,
        key: &str,
        action: Action,
        body: &Value,
        sse: bool,
    ) -> Reply {
        if action == Action::CountTokens {
            let counted = get(body, "generateContentRequest").unwrap_or(body);
            let total = count_words(counted);
            return Reply::Json(
                200,
                json!({"totalTokens": total,
                       "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}),
            );
        }
        let tokens = count_words(body);
        let generating = matches!(action, Action::Generate | Action::Stream);
        if generating {
            self.bump(|s| s.generate_requests += 1);
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
        let prompt = prompt_text(body);
        if let Some(reply) = self.marker(&prompt) {
            return reply;
        }
        if action == Action::Batched {
            // Outside the model's quotas and the injected faults: batches have their own.
            self.bump(|s| s.answered += 1);
            return self.generate(spec, body, &prompt, tokens, false, false);
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
        if (generating && spec.overloaded) || self.draw(faults.overloaded) {
            self.bump(|s| s.faults += 1);
            return errors::overloaded();
        }
        if self.draw(faults.internal) {
            self.bump(|s| s.faults += 1);
            return errors::internal();
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
            Action::Embed => {
                let values = self.embed(spec, body);
                Reply::Json(200, json!({"embedding": {"values": values}}))
            }
            Action::BatchEmbed => {
                let embeddings: Vec<Value> = get(body, "requests")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|r| json!({"values": self.embed(spec, r)}))
                    .collect();
                Reply::Json(200, json!({"embeddings": embeddings}))
            }
            _ => self.generate(spec, body, &prompt, tokens, action == Action::Stream, sse),
        }
    }

    /// The answer a `[sim:…]` marker asks for.
    fn marker(&self, prompt: &str) -> Option<Reply> {
        let reply = if prompt.contains("[sim:invalid]") {
            errors::status(
                400,
                "INVALID_ARGUMENT",
                "Invalid value at 'contents[0].parts[0]'.",
                vec![
                    json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                    {"field": "contents[0].parts[0]", "description": "Invalid value at 'contents[0].parts[0]'."}]}),
                ],
            )
        } else if prompt.contains("[sim:precondition]") {
            errors::status(
                400,
                "FAILED_PRECONDITION",
                "User location is not supported for the API use.",
                vec![],
            )
        } else if prompt.contains("[sim:file]") {
            errors::status(
                403,
                "PERMISSION_DENIED",
                "You do not have permission to access the File sim-file-1 or it may not exist.",
                vec![],
            )
        } else if prompt.contains("[sim:leaked]") {
            errors::status(
                403,
                "PERMISSION_DENIED",
                "Your API key was reported as leaked. Please use another API key.",
                vec![],
            )
        } else if prompt.contains("[sim:permission]") {
            errors::status(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                vec![],
            )
        } else if prompt.contains("[sim:exhausted]") {
            self.bump(|s| s.rate_limited += 1);
            errors::status(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                vec![],
            )
        } else if prompt.contains("[sim:deadline]") {
            errors::status(
                504,
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
                vec![],
            )
        } else if prompt.contains("[sim:internal]") {
            errors::internal()
        } else if prompt.contains("[sim:overloaded]") {
            errors::overloaded()
        } else {
            return None;
        };
        Some(reply)
    }

    fn embed(&self, spec: &SimModel, request: &Value) -> Vec<f64> {
        let text = get(request, "content").map(parts_text).unwrap_or_default();
        let full = spec.embedding_size();
        let wanted = get(request, "outputDimensionality")
            .and_then(int)
            .and_then(|d| u64::try_from(d).ok())
            .filter(|d| *d > 0)
            .map_or(full, |d| (d as usize).min(full));
        content::embedding(self.config.seed, &text, wanted, full)
    }

    fn generate(
        &self,
        spec: &SimModel,
        body: &Value,
        prompt: &str,
        tokens: u32,
        stream: bool,
        sse: bool,
    ) -> Reply {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let id = content::response_id(self.config.seed, serial);
        let version = json!(spec.name);
        let prompt_usage = json!({"promptTokenCount": tokens, "totalTokenCount": tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]});
        if prompt.contains("[sim:blocked]") {
            let answer = json!({
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
                "usageMetadata": prompt_usage, "modelVersion": version, "responseId": id});
            return if stream {
                Reply::Stream {
                    chunks: vec![answer],
                    failure: None,
                    sse,
                    done: false,
                }
            } else {
                Reply::Json(200, answer)
            };
        }
        let candidates = self.candidates(body, prompt);
        let extras = Extras::of(body, prompt);
        let answer_tokens: u32 = candidates.iter().map(|c| c.tokens).sum();
        let mut usage = json!({"promptTokenCount": tokens, "candidatesTokenCount": answer_tokens,
            "totalTokenCount": tokens + answer_tokens + extras.thought_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]});
        if extras.thought_tokens > 0 {
            usage["thoughtsTokenCount"] = json!(extras.thought_tokens);
        }
        let whole: Vec<Value> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut parts = c.parts.clone();
                if let Some(thought) = &extras.thought {
                    parts.insert(0, thought.clone());
                }
                let mut candidate = json!({"content": {"parts": parts, "role": "model"},
                       "finishReason": c.finish, "index": i});
                let text = c
                    .parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<String>();
                extras.decorate(&mut candidate, &text);
                candidate
            })
            .collect();
        if !stream {
            return Reply::Json(
                200,
                json!({"candidates": whole, "usageMetadata": usage,
                       "modelVersion": version, "responseId": id}),
            );
        }
        // One text candidate streams in pieces; anything else (function calls, several
        // candidates) in one chunk.
        let single_text = match candidates.as_slice() {
            [c] => match c.parts.as_slice() {
                [part] => part.get("text").and_then(Value::as_str),
                _ => None,
            },
            _ => None,
        };
        let mut chunks: Vec<Value> = match single_text {
            Some(text) if !text.is_empty() => {
                let pieces: Vec<&str> = text.split_inclusive(' ').collect();
                let per_chunk = pieces.len().div_ceil(3).max(1);
                let groups: Vec<String> = pieces.chunks(per_chunk).map(|p| p.concat()).collect();
                let last = groups.len() - 1;
                // The thought comes first, in a chunk of its own, as the real stream sends it.
                let thought = extras.thought.as_ref().map(|thought| {
                    json!({"candidates": [{"content": {"parts": [thought], "role": "model"}, "index": 0}],
                           "usageMetadata": prompt_usage.clone(),
                           "modelVersion": version, "responseId": id})
                });
                thought
                    .into_iter()
                    .chain(groups.into_iter().enumerate().map(|(i, piece)| {
                        let mut candidate = json!({"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0});
                        if i == last {
                            candidate["finishReason"] = json!(candidates[0].finish);
                        }
                        extras.decorate_piece(&mut candidate, &piece, (i == last).then_some(text));
                        json!({"candidates": [candidate],
                               "usageMetadata": if i == last { usage.clone() } else { prompt_usage.clone() },
                               "modelVersion": version, "responseId": id})
                    }))
                    .collect()
            }
            _ => vec![json!({"candidates": whole, "usageMetadata": usage,
                             "modelVersion": version, "responseId": id})],
        };
        let failure = self.draw(self.config.faults.stream_error).then(|| {
            self.bump(|s| s.faults += 1);
            errors::error_body(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                vec![],
            )
        });
        if failure.is_some() {
            chunks.truncate(1);
        }
        Reply::Stream {
            chunks,
            failure,
            sse,
            done: false,
        }
    }

    fn candidates(&self, body: &Value, prompt: &str) -> Vec<Candidate> {
        let config = get(body, "generationConfig").cloned().unwrap_or(json!({}));
        let count = get(&config, "candidateCount")
            .and_then(int)
            .unwrap_or(1)
            .clamp(1, 8) as usize; // refused outside 1..=8 before this point
        if let Some(call) = self.function_call(body, prompt) {
            let tokens = words(&call.to_string()).max(1);
            return (0..count)
                .map(|_| Candidate {
                    parts: vec![json!({ "functionCall": call })],
                    finish: "STOP",
                    tokens,
                })
                .collect();
        }
        let mime = get(&config, "responseMimeType")
            .and_then(Value::as_str)
            .unwrap_or("text/plain");
        let schema = get(&config, "responseJsonSchema")
            .or_else(|| config.get("_responseJsonSchema"))
            .or_else(|| get(&config, "responseSchema"));
        let stops: Vec<&str> = get(&config, "stopSequences")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let max_tokens = get(&config, "maxOutputTokens")
            .and_then(int)
            .and_then(|m| u64::try_from(m).ok())
            .filter(|m| *m > 0);
        (0..count)
            .map(|i| {
                let mut random = random_for(self.config.seed, &format!("{i}:{prompt}"));
                let text = match (mime, schema) {
                    ("application/json", Some(schema)) => {
                        content::from_schema(schema, &mut random).to_string()
                    }
                    ("application/json", None) => {
                        json!({"answer": base_answer(body, prompt, i)}).to_string()
                    }
                    ("text/x.enum", Some(schema)) => content::from_schema(schema, &mut random)
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_default(),
                    _ => base_answer(body, prompt, i),
                };
                let (text, finish) = cut(&text, &stops, max_tokens);
                Candidate {
                    tokens: words(&text),
                    parts: vec![json!({ "text": text })],
                    finish,
                }
            })
            .collect()
    }

    /// The function call the request asks for, if any.
    fn function_call(&self, body: &Value, prompt: &str) -> Option<Value> {
        if function_response(body).is_some() {
            return None;
        }
        let declarations: Vec<&Value> = get(body, "tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| get(t, "functionDeclarations").and_then(Value::as_array))
            .flatten()
            .collect();
        if declarations.is_empty() {
            return None;
        }
        let calling = get(body, "toolConfig").and_then(|t| get(t, "functionCallingConfig"));
        let mode = calling
            .and_then(|c| get(c, "mode"))
            .and_then(Value::as_str)
            .unwrap_or("AUTO");
        let allowed: Vec<&str> = calling
            .and_then(|c| get(c, "allowedFunctionNames"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let candidates: Vec<&Value> = declarations
            .into_iter()
            .filter(|d| allowed.is_empty() || allowed.contains(&name_of(d)))
            .collect();
        let named = candidates
            .iter()
            .find(|d| !name_of(d).is_empty() && prompt.contains(name_of(d)));
        let chosen = match mode {
            "ANY" => named.or(candidates.first()),
            "NONE" => None,
            _ => named,
        }?;
        let mut random = random_for(self.config.seed, prompt);
        let args = get(chosen, "parametersJsonSchema")
            .or_else(|| get(chosen, "parameters"))
            .map_or(json!({}), |schema| {
                content::from_schema(schema, &mut random)
            });
        Some(json!({"name": name_of(chosen), "args": args}))
    }
}

fn name_of(declaration: &Value) -> &str {
    get(declaration, "name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// "Simulated answer to: …", or about the function result the last turn carries.
fn base_answer(body: &Value, prompt: &str, index: usize) -> String {
    let nth = if index == 0 {
        String::new()
    } else {
        format!(" {}", index + 1)
    };
    match function_response(body) {
        Some(response) => {
            let name = get(response, "name").and_then(Value::as_str).unwrap_or("");
            let result = get(response, "response").cloned().unwrap_or(Value::Null);
            format!("Simulated answer{nth} to the result of {name}: {result}")
        }
        None => format!("Simulated answer{nth} to: {prompt}"),
    }
}

/// The text cut at the first stop sequence (`STOP`), then to `max_tokens` words
/// (`MAX_TOKENS`).
fn cut(text: &str, stops: &[&str], max_tokens: Option<u64>) -> (String, &'static str) {
    let mut text = match stops.iter().filter_map(|s| text.find(s)).min() {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    };
    if let Some(max) = max_tokens {
        let mut seen = 0u64;
        let mut in_word = false;
        for (i, c) in text.char_indices() {
            if c.is_whitespace() {
                in_word = false;
            } else if !in_word {
                in_word = true;
                seen += 1;
                if seen > max {
                    text.truncate(i);
                    let kept = text.trim_end().len();
                    text.truncate(kept);
                    return (text, "MAX_TOKENS");
                }
            }
        }
    }
    (text, "STOP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequences_and_max_tokens_cut_the_text() {
        assert_eq!(
            cut("a b c d", &[], Some(2)),
            ("a b".to_owned(), "MAX_TOKENS")
        );
        assert_eq!(cut("a b", &[], Some(2)), ("a b".to_owned(), "STOP"));
        assert_eq!(
            cut("one two. three", &["."], Some(9)),
            ("one two".to_owned(), "STOP")
        );
        assert_eq!(
            cut("x STOP y", &["zz", "STOP"], None),
            ("x ".to_owned(), "STOP")
        );
    }
}
