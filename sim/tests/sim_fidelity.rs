//! The simulator against the v1beta REST reference, spoken to as plain JSON over HTTP (as any
//! SDK would): generation config, JSON mode, function calls, usage, both stream framings, error
//! bodies and their detail types, validation, routes, models, embeddings, per-day resets.
//! Real sockets: real clock, millisecond delays.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use steadfast_sim::{SIM_KEY, SimModel, Simulator, SimulatorConfig};

struct Sim {
    sim: Simulator,
    http: reqwest::Client,
}

impl Sim {
    async fn start(config: SimulatorConfig) -> Sim {
        Sim {
            sim: Simulator::start(config).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn default() -> Sim {
        Sim::start(SimulatorConfig::default()).await
    }

    /// POST `path` (under the base URL) with the default key; the status and the body.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .header("x-goog-api-key", SIM_KEY)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POST `path` with the default key; the status and the body as text.
    async fn post_raw(&self, path: &str, body: Value) -> (u16, String) {
        let answer = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .header("x-goog-api-key", SIM_KEY)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    async fn generate(&self, body: Value) -> Value {
        let (status, answer) = self
            .post("/v1beta/models/gemini-2.5-flash:generateContent", body)
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    async fn send(&self, method: reqwest::Method, path: &str) -> (u16, String) {
        let answer = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url()))
            .header("x-goog-api-key", SIM_KEY)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }
}

fn prompt(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn text_of(answer: &Value, candidate: usize) -> String {
    answer["candidates"][candidate]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

#[tokio::test]
async fn max_output_tokens_cuts_the_answer_and_says_max_tokens() {
    let sim = Sim::default().await;
    let answer = sim
        .generate(with(
            prompt("tell me a long story"),
            "generationConfig",
            json!({"maxOutputTokens": 3}),
        ))
        .await;
    assert_eq!(text_of(&answer, 0), "Simulated answer to:");
    assert_eq!(answer["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(answer["usageMetadata"]["candidatesTokenCount"], 3);
    let roomy = sim
        .generate(with(
            prompt("short"),
            "generationConfig",
            json!({"maxOutputTokens": 100}),
        ))
        .await;
    assert_eq!(roomy["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn stop_sequences_and_candidate_count() {
    let sim = Sim::default().await;
    let answer = sim
        .generate(with(
            prompt("alpha. beta"),
            "generationConfig",
            json!({"stopSequences": ["."], "candidateCount": 3}),
        ))
        .await;
    let candidates = answer["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 3);
    for (i, c) in candidates.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert_eq!(c["finishReason"], "STOP");
        assert!(!text_of(&answer, i).contains('.'), "{c}");
    }
    assert_eq!(text_of(&answer, 0), "Simulated answer to: alpha");
    assert_ne!(text_of(&answer, 0), text_of(&answer, 1));
    // The API serves 1 to 8 candidates and refuses other counts (it used to clamp them).
    let eight = sim
        .generate(with(
            prompt("hi"),
            "generationConfig",
            json!({"candidateCount": 8}),
        ))
        .await;
    assert_eq!(eight["candidates"].as_array().unwrap().len(), 8);
    for count in [json!(0), json!(9), json!("12"), json!(-1)] {
        let (status, answer) = sim
            .post(
                "/v1beta/models/gemini-2.5-flash:generateContent",
                with(
                    prompt("hi"),
                    "generationConfig",
                    json!({ "candidateCount": count }),
                ),
            )
            .await;
        assert_eq!(status, 400, "candidateCount {count}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("generation_config.candidate_count"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_schema_without_a_json_mime_type_is_ignored_and_an_unknown_mime_type_refused() {
    let sim = Sim::default().await;
    let schema = json!({"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}});
    let answer = sim
        .generate(with(
            prompt("hi"),
            "generationConfig",
            json!({ "responseSchema": schema }),
        ))
        .await;
    assert_eq!(text_of(&answer, 0), "Simulated answer to: hi");
    let (status, answer) = sim
        .post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            with(
                prompt("hi"),
                "generationConfig",
                json!({"responseMimeType": "application/pdf", "responseSchema": schema}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("response_mime_type"), "{message}");
    assert!(message.contains("allowed mimetypes"), "{message}");
}

#[tokio::test]
async fn json_mode_answers_json_that_matches_either_schema_dialect() {
    let sim = Sim::default().await;
    let openapi = json!({"responseMimeType": "application/json", "responseSchema": {
        "type": "ARRAY", "items": {"type": "OBJECT", "properties": {
            "recipe_name": {"type": "STRING"},
            "minutes": {"type": "INTEGER", "minimum": 5, "maximum": 90},
            "vegan": {"type": "BOOLEAN"},
            "course": {"type": "STRING", "enum": ["starter", "main"]}},
            "propertyOrdering": ["recipe_name", "minutes"]}}});
    let body = with(prompt("list recipes"), "generationConfig", openapi);
    let answer = sim.generate(body.clone()).await;
    let recipes: Value = serde_json::from_str(&text_of(&answer, 0)).unwrap();
    for recipe in recipes.as_array().unwrap() {
        assert!(recipe["recipe_name"].is_string());
        let minutes = recipe["minutes"].as_i64().unwrap();
        assert!((5..=90).contains(&minutes), "{minutes}");
        assert!(recipe["vegan"].is_boolean());
        assert!(["starter", "main"].contains(&recipe["course"].as_str().unwrap()));
    }
    // Deterministic for a seed.
    assert_eq!(sim.generate(body).await["candidates"], answer["candidates"]);

    let json_schema = json!({"responseMimeType": "application/json", "responseJsonSchema": {
        "$defs": {"Step": {"type": "object", "properties": {"text": {"type": "string"}},
                           "required": ["text"]}},
        "type": "object",
        "properties": {"title": {"type": "string"},
                       "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
                       "rating": {"anyOf": [{"type": "number"}, {"type": "null"}]}},
        "required": ["title", "steps"]}});
    let answer = sim
        .generate(with(prompt("a recipe"), "generationConfig", json_schema))
        .await;
    let recipe: Value = serde_json::from_str(&text_of(&answer, 0)).unwrap();
    assert!(recipe["title"].is_string());
    assert!(recipe["steps"][0]["text"].is_string());
    assert!(recipe["rating"].is_number());
}

#[tokio::test]
async fn function_calls_match_the_declaration_and_a_function_response_is_accepted() {
    let sim = Sim::default().await;
    let tools = json!([{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather in a city",
         "parameters": {"type": "OBJECT", "properties": {
             "city": {"type": "STRING"}, "unit": {"type": "STRING", "enum": ["C", "F"]}},
             "required": ["city"]}},
        {"name": "get_time", "parametersJsonSchema": {"type": "object",
             "properties": {"zone": {"type": "string"}}}}]}]);
    let any =
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}});
    let body = with(
        with(prompt("what is it like in Paris?"), "tools", tools.clone()),
        "toolConfig",
        any,
    );
    let answer = sim.generate(body).await;
    let call = &answer["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "get_weather", "{answer}");
    assert!(call["args"]["city"].is_string());
    assert!(["C", "F"].contains(&call["args"]["unit"].as_str().unwrap()));

    // Mode AUTO (the default): a prompt naming a declared function gets a call to it.
    let auto = sim
        .generate(with(prompt("please call get_time"), "tools", tools.clone()))
        .await;
    assert_eq!(
        auto["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_time"
    );
    // Mode AUTO, no function named: text.
    let text = sim
        .generate(with(prompt("hello"), "tools", tools.clone()))
        .await;
    assert!(text_of(&text, 0).starts_with("Simulated answer"));

    // The function's answer comes back in a functionResponse turn.
    let turns = json!({"tools": tools, "contents": [
        {"role": "user", "parts": [{"text": "what is it like in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": call.clone()}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
            "response": {"temperature": 21}}}]}]});
    let answer = sim.generate(turns).await;
    let text = text_of(&answer, 0);
    assert!(
        text.contains("get_weather") && text.contains("21"),
        "{text}"
    );
}

#[tokio::test]
async fn the_system_instruction_counts_in_usage_and_count_tokens() {
    let sim = Sim::default().await;
    let body = with(
        prompt("one two three"),
        "systemInstruction",
        json!({"parts": [{"text": "be very brief"}]}),
    );
    let answer = sim.generate(body.clone()).await;
    let usage = &answer["usageMetadata"];
    assert_eq!(usage["promptTokenCount"], 6);
    assert_eq!(
        usage["totalTokenCount"].as_u64(),
        Some(6 + usage["candidatesTokenCount"].as_u64().unwrap())
    );
    let (status, counted) = sim
        .post(
            "/v1beta/models/gemini-2.5-flash:countTokens",
            json!({"generateContentRequest": with(body, "model", json!("models/gemini-2.5-flash"))}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(counted["totalTokens"], 6);
    assert_eq!(counted["promptTokensDetails"][0]["modality"], "TEXT");
}

#[tokio::test]
async fn streams_come_as_sse_events_or_as_one_json_array() {
    let sim = Sim::default().await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        sim.sim.base_url()
    );
    let body = prompt("stream me a few words please");
    let sse = sim
        .http
        .post(format!("{url}?alt=sse"))
        .header("x-goog-api-key", SIM_KEY)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let text = sse.text().await.unwrap();
    let events: Vec<Value> = text
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert!(events.len() >= 3, "{text}");
    let id = &events[0]["responseId"];
    assert!(id.as_str().unwrap().len() >= 20);
    for e in &events {
        assert_eq!(&e["responseId"], id);
        assert_eq!(e["modelVersion"], "gemini-2.5-flash");
        assert!(e["usageMetadata"]["promptTokenCount"].is_u64());
        assert!(e["candidates"][0]["content"]["parts"][0]["text"].is_string());
    }
    let last = events.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(last["usageMetadata"]["candidatesTokenCount"].as_u64() > Some(0));

    let array = sim
        .http
        .post(&url)
        .header("x-goog-api-key", SIM_KEY)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        array.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let raw = array.text().await.unwrap();
    assert!(raw.starts_with("[{") && raw.contains(",\r\n{"), "{raw}");
    let chunks: Vec<Value> = serde_json::from_str(&raw).unwrap();
    assert_eq!(chunks.len(), events.len());
    let joined: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(joined, "Simulated answer to: stream me a few words please");
}

#[tokio::test]
async fn a_429_carries_quota_failure_help_and_whole_second_retry_info() {
    let sim = Sim::start(SimulatorConfig {
        models: vec![SimModel {
            rpm: Some(1),
            ..SimModel::new("gemini-2.5-flash")
        }],
        ..SimulatorConfig::default()
    })
    .await;
    sim.generate(prompt("first")).await;
    let (status, answer) = sim
        .post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            prompt("second"),
        )
        .await;
    assert_eq!(status, 429);
    let error = &answer["error"];
    assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
    let message = error["message"].as_str().unwrap();
    let retry_in = message
        .split("Please retry in ")
        .nth(1)
        .and_then(|r| r.strip_suffix("s."))
        .unwrap();
    let (whole, fraction) = retry_in.split_once('.').unwrap();
    assert_eq!(fraction.len(), 9, "{message}");
    let details = error["details"].as_array().unwrap();
    let of = |t: &str| {
        details
            .iter()
            .find(|d| d["@type"] == format!("type.googleapis.com/google.rpc.{t}"))
            .unwrap_or_else(|| panic!("no {t} in {details:?}"))
    };
    let violation = &of("QuotaFailure")["violations"][0];
    assert_eq!(
        violation["quotaId"],
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    );
    assert_eq!(violation["quotaValue"], "1");
    assert_eq!(violation["quotaDimensions"]["model"], "gemini-2.5-flash");
    assert!(
        of("Help")["links"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let delay = of("RetryInfo")["retryDelay"].as_str().unwrap();
    assert_eq!(
        delay,
        format!("{whole}s"),
        "whole seconds of the message's wait"
    );
}

#[tokio::test]
async fn an_invalid_key_carries_error_info_and_a_localized_message() {
    let sim = Sim::default().await;
    let answer = sim
        .http
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent?key=wrong-key",
            sim.sim.base_url()
        ))
        .body(prompt("hi").to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let details = answer["error"]["details"].as_array().unwrap();
    assert_eq!(details[0]["reason"], "API_KEY_INVALID");
    assert_eq!(details[0]["domain"], "googleapis.com");
    assert_eq!(
        details[0]["metadata"]["service"],
        "generativelanguage.googleapis.com"
    );
    assert_eq!(details[1]["locale"], "en-US");
}

#[tokio::test]
async fn requests_are_validated_strictly() {
    let sim = Sim::default().await;
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let (status, answer) = sim.post(path, json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"]["message"],
        "* GenerateContentRequest.contents: contents is not specified\n"
    );
    let (status, answer) = sim
        .post(path, with(prompt("hi"), "temprature", json!(1)))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"]["message"],
        "Invalid JSON payload received. Unknown name \"temprature\": Cannot find field."
    );
    assert_eq!(
        answer["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    let (status, answer) = sim
        .post(
            path,
            with(prompt("hi"), "generationConfig", json!({"max_tokens": 5})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"max_tokens\" at 'generation_config'"),
        "{answer}"
    );
    // Values are typed: an enum by its names, an integer as a number or a numeric string.
    let (status, answer) = sim
        .post(
            path,
            with(
                prompt("hi"),
                "toolConfig",
                json!({"functionCallingConfig": {"mode": "SOMETIMES"}}),
            ),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value at 'tool_config.function_calling_config.mode'"),
        "{answer}"
    );
    let (status, _) = sim
        .post(
            path,
            with(prompt("hi"), "generationConfig", json!({"topK": "many"})),
        )
        .await;
    assert_eq!(status, 400);
    // snake_case names are proto JSON too.
    let answer = sim
        .generate(with(
            prompt("a b c d e"),
            "generation_config",
            json!({"max_output_tokens": 2}),
        ))
        .await;
    assert_eq!(answer["candidates"][0]["finishReason"], "MAX_TOKENS");
    let broken = sim
        .http
        .post(format!("{}{path}", sim.sim.base_url()))
        .header("x-goog-api-key", SIM_KEY)
        .body("{\"contents\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    assert!(
        broken
            .text()
            .await
            .unwrap()
            .contains("Invalid JSON payload received.")
    );
}

#[tokio::test]
async fn routes_methods_versions_and_key_in_the_query() {
    let sim = Sim::default().await;
    use reqwest::Method;
    let (status, _) = sim
        .send(
            Method::GET,
            "/v1beta/models/gemini-2.5-flash:generateContent",
        )
        .await;
    assert_eq!(status, 404, "GET on a POST method is not found");
    let (status, page) = sim.send(Method::DELETE, "/v1beta/models").await;
    assert_eq!(status, 405);
    assert!(page.contains("DELETE"), "{page}");
    // A 405 says which method the URL takes (RFC 9110 asks for `Allow`).
    for (method, path, allow) in [
        (Method::DELETE, "/v1beta/models", "GET"),
        (Method::PUT, "/v1beta/models/gemini-2.5-flash", "GET"),
        (
            Method::PUT,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "POST",
        ),
    ] {
        let answer = sim
            .http
            .request(method.clone(), format!("{}{path}", sim.sim.base_url()))
            .header("x-goog-api-key", SIM_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method} {path}");
        assert_eq!(answer.headers()["allow"], allow, "{method} {path}");
    }
    let (status, _) = sim.send(Method::GET, "/v2/models").await;
    assert_eq!(status, 404);
    let (status, _) = sim
        .send(Method::POST, "/v1beta/models/gemini-2.5-flash:summon")
        .await;
    assert_eq!(status, 404);
    let (status, model) = sim.send(Method::GET, "/v1/models/gemini-2.5-flash").await;
    assert_eq!(status, 200, "v1 is served");
    assert!(model.contains("\"outputTokenLimit\":65536"), "{model}");
    let (status, answer) = sim
        .post("/v1/models/nope:generateContent", prompt("hi"))
        .await;
    assert_eq!(status, 404);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not found for API version v1,")
    );
    let by_query = sim
        .http
        .get(format!(
            "{}/v1beta/models?key={SIM_KEY}",
            sim.sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
    assert_eq!(
        sim.sim.stats().by_key[SIM_KEY],
        10,
        "every request counted, routed or not"
    );
}

#[tokio::test]
async fn models_have_real_limits_and_methods_and_embeddings_their_size() {
    let sim = Sim::default().await;
    let (_, model) = sim
        .send(reqwest::Method::GET, "/v1beta/models/gemini-embedding-001")
        .await;
    let model: Value = serde_json::from_str(&model).unwrap();
    assert_eq!(model["inputTokenLimit"], 2048);
    assert!(
        model["supportedGenerationMethods"]
            .as_array()
            .unwrap()
            .contains(&json!("embedContent"))
    );
    let (status, answer) = sim
        .post(
            "/v1beta/models/gemini-embedding-001:generateContent",
            prompt("hi"),
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not supported for generateContent")
    );
    let embed = |dims: Option<u32>| {
        let mut body = json!({"content": {"parts": [{"text": "hello world"}]}});
        if let Some(d) = dims {
            body["outputDimensionality"] = json!(d);
        }
        sim.post("/v1beta/models/gemini-embedding-001:embedContent", body)
    };
    let (status, full) = embed(None).await;
    assert_eq!(status, 200);
    let values = full["embedding"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3072);
    let norm: f64 = values.iter().map(|v| v.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    let (_, small) = embed(Some(256)).await;
    assert_eq!(small["embedding"]["values"].as_array().unwrap().len(), 256);
}

#[tokio::test]
async fn a_per_day_quota_resets_at_the_simulated_midnight() {
    let sim = Sim::start(SimulatorConfig {
        models: vec![SimModel {
            rpd: Some(1),
            ..SimModel::new("gemini-2.5-flash")
        }],
        day: Duration::from_millis(400),
        ..SimulatorConfig::default()
    })
    .await;
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let mut refused = 0;
    let mut answered = 0;
    // Within two simulated days at least one midnight passes: a refusal, then an answer.
    for _ in 0..80 {
        let (status, answer) = sim.post(path, prompt("hi")).await;
        match status {
            200 => answered += 1,
            429 => {
                assert!(
                    answer["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("free_tier_requests")
                );
                refused += 1;
                if answered >= 2 {
                    break;
                }
            }
            other => panic!("{other}: {answer}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused >= 1 && answered >= 2, "{refused} {answered}");
}

/// Issue 24, item 8 (found with google-genai 3.6.1): the Python SDK sends every `top_k` as a
/// float (`20.0`); the real API reads an integral number into an int32 field, and refuses one
/// with a fraction or out of range.
#[tokio::test]
async fn int32_fields_take_integral_floats_and_strings() {
    let sim = Sim::default().await;
    for value in [json!(20.0), json!("20"), json!(20)] {
        let body = json!({"contents": [{"parts": [{"text": "hi"}]}],
                          "generationConfig": {"topK": value, "maxOutputTokens": 2.0, "candidateCount": 2.0}});
        let answer = sim.generate(body).await;
        assert_eq!(
            answer["candidates"].as_array().unwrap().len(),
            2,
            "{answer}"
        );
    }
    for bad in [json!(20.5), json!(4_294_967_296_u64), json!("2x")] {
        let body = json!({"contents": [{"parts": [{"text": "hi"}]}],
                          "generationConfig": {"topK": bad}});
        let (status, answer) = sim
            .post("/v1beta/models/gemini-2.5-flash:generateContent", body)
            .await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Invalid value at 'generation_config.top_k' (TYPE_INT32)"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn thoughts_are_answered_and_counted_when_asked_for() {
    let sim = Sim::default().await;
    let body = json!({"contents": [{"parts": [{"text": "why is the sky blue"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 1024}}});
    let answer = sim.generate(body).await;
    let parts = answer["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap();
    assert_eq!(parts[0]["thought"], json!(true), "{answer}");
    assert!(parts[1].get("thought").is_none());
    let usage = &answer["usageMetadata"];
    let thoughts = usage["thoughtsTokenCount"].as_u64().unwrap();
    assert!(thoughts > 0);
    assert_eq!(
        usage["totalTokenCount"].as_u64().unwrap(),
        usage["promptTokenCount"].as_u64().unwrap()
            + usage["candidatesTokenCount"].as_u64().unwrap()
            + thoughts
    );
    // Counted but not shown without includeThoughts; neither with a budget of 0.
    let hidden = sim
        .generate(json!({"contents": [{"parts": [{"text": "hi"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}))
        .await;
    assert_eq!(
        hidden["candidates"][0]["content"]["parts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        hidden["usageMetadata"]["thoughtsTokenCount"]
            .as_u64()
            .unwrap()
            > 0
    );
    let off = sim
        .generate(json!({"contents": [{"parts": [{"text": "hi"}]}],
            "generationConfig": {"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 0}}}))
        .await;
    assert!(
        off["usageMetadata"].get("thoughtsTokenCount").is_none(),
        "{off}"
    );
}

#[tokio::test]
async fn logprobs_and_grounding_are_answered_when_asked_for() {
    let sim = Sim::default().await;
    let answer = sim
        .generate(json!({"contents": [{"parts": [{"text": "one two three"}]}],
            "generationConfig": {"responseLogprobs": true, "logprobs": 3}}))
        .await;
    let candidate = &answer["candidates"][0];
    let chosen = candidate["logprobsResult"]["chosenCandidates"]
        .as_array()
        .unwrap();
    let text = candidate["content"]["parts"][0]["text"].as_str().unwrap();
    assert_eq!(chosen.len(), text.split_whitespace().count());
    let top = candidate["logprobsResult"]["topCandidates"]
        .as_array()
        .unwrap();
    assert_eq!(top[0]["candidates"].as_array().unwrap().len(), 3);
    assert!(candidate["avgLogprobs"].as_f64().unwrap() < 0.0);

    let grounded = sim
        .generate(json!({"contents": [{"parts": [{"text": "who won"}]}],
            "tools": [{"googleSearch": {}}]}))
        .await;
    let metadata = &grounded["candidates"][0]["groundingMetadata"];
    assert_eq!(metadata["webSearchQueries"], json!(["who won"]));
    assert!(
        metadata["groundingChunks"][0]["web"]["uri"].is_string(),
        "{grounded}"
    );
    // In a stream, the grounding comes with the last chunk and indexes into the whole answer.
    let (status, text) = sim
        .post_raw(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json!({"contents": [{"parts": [{"text": "who won the long match today"}]}],
                   "tools": [{"googleSearch": {}}]}),
        )
        .await;
    assert_eq!(status, 200);
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let whole: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    let last = &chunks[chunks.len() - 1]["candidates"][0]["groundingMetadata"];
    assert_eq!(
        last["groundingSupports"][0]["segment"]["endIndex"].as_u64(),
        Some(whole.len() as u64),
        "{text}"
    );
    assert!(
        chunks[0]["candidates"][0]
            .get("groundingMetadata")
            .is_none()
    );
    // Without the tool, none.
    let plain = sim
        .generate(json!({"contents": [{"parts": [{"text": "who won"}]}]}))
        .await;
    assert!(plain["candidates"][0].get("groundingMetadata").is_none());
}
