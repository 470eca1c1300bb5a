//! Gemini's OpenAI-compatible routes through the relay: counted per model under the pool like
//! native routes (the model read from the body), relay keys as `Authorization: Bearer`, errors
//! in those routes' `[{"error": …}]` shape, streams that end once, model limits a body cannot
//! get around, fallback written into the body.

use crate::common::*;
use serde_json::Value;
use steadfast_relay::{Config, Relay, RelayKeyConfig};
use steadfast_sim::{Faults, SimModel, Simulator, SimulatorConfig};

fn chat_url(relay: &Relay) -> String {
    format!("{}/v1beta/openai/chat/completions", relay.base_url())
}

fn chat(model: &str, text: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"{text}"}}]}}"#
    )
}

async fn send(url: String, bearer: Option<&str>, body: String) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    if let Some(key) = bearer {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// The error object of an OpenAI-compatible error answer (`[{"error": …}]`).
async fn error_of(answer: reqwest::Response) -> Value {
    let body: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert!(body.is_array(), "{body}");
    body[0]["error"].clone()
}

#[tokio::test]
async fn openai_and_native_calls_share_one_model_quota_per_project() {
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "oa-project-a-0000000001".into(),
            "oa-project-b-0000000002".into(),
        ],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = Relay::start(Config {
        limits: flash_rpm(1),
        // No slot before this: a 429 at once instead of a wait.
        deadline: std::time::Duration::from_millis(300),
        ..config_for(&sim)
    })
    .await
    .unwrap();
    let native = post(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            relay.base_url()
        ),
        Some(RELAY_KEY),
        PROMPT_PLAIN,
    )
    .await;
    assert_eq!(native.status(), 200);
    let first = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.5-flash", "hi", false),
    )
    .await;
    assert_eq!(first.status(), 200);
    assert_ne!(
        first.headers()["x-steadfast-project"],
        native.headers()["x-steadfast-project"],
        "the other project had the minute's slot"
    );
    let body: Value = serde_json::from_str(&first.text().await.unwrap()).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Simulated answer to: hi"
    );
    // Both projects spent their minute on this model: refused by the relay, not upstream.
    let refused = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("models/gemini-2.5-flash", "again", false),
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert!(
        refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let error = error_of(refused).await;
    assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
    assert!(error.to_string().contains("RetryInfo"), "{error}");
    // Another model has its own quota.
    let other = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.5-pro", "hi", false),
    )
    .await;
    assert_eq!(other.status(), 200);
    let stats = sim.stats();
    assert_eq!(stats.generate_requests, 3);
    assert_eq!(stats.rate_limited, 0, "no 429 upstream");
}

#[tokio::test]
async fn an_openai_stream_ends_once_and_a_failure_is_not_given_a_done() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |_| {}).await;
    let answer = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.5-flash", "tell me a short story now", true),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = answer.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\r\n\r\n")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    assert!(events.len() >= 4, "{text}");
    assert_eq!(events.last(), Some(&"data: [DONE]"));
    assert_eq!(text.matches("[DONE]").count(), 1, "{text}");
    // A stream that fails after its first chunk: the error event, and no made-up ending.
    let failing = Simulator::start(SimulatorConfig {
        faults: Faults {
            stream_error: 1.0,
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_for(&failing, |_| {}).await;
    let answer = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.5-flash", "tell me a short story now", true),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(text.contains(r#""error""#), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}

#[tokio::test]
async fn relay_keys_come_as_bearer_and_errors_have_the_routes_shape() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |_| {}).await;
    let body = || chat("gemini-2.5-flash", "hi", false);
    let none = send(chat_url(&relay), None, body()).await;
    assert_eq!(none.status(), 401);
    assert_eq!(error_of(none).await["status"], "UNAUTHENTICATED");
    let basic = reqwest::Client::new()
        .post(chat_url(&relay))
        .header("authorization", "Basic eDp5")
        .body(body())
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 400);
    let unknown = send(chat_url(&relay), Some("not-a-relay-key-000001"), body()).await;
    assert_eq!(unknown.status(), 400);
    let error = error_of(unknown).await;
    assert!(error.to_string().contains("API_KEY_INVALID"), "{error}");
    // The upstream's own errors, in the same shape.
    let invalid = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.5-flash", "[sim:invalid]", false),
    )
    .await;
    assert_eq!(invalid.status(), 400);
    assert_eq!(error_of(invalid).await["status"], "INVALID_ARGUMENT");
    let missing = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("no-such-model", "hi", false),
    )
    .await;
    assert_eq!(missing.status(), 404);
    // The relay key works in x-goog-api-key too, and the model list needs no body.
    let models = reqwest::Client::new()
        .get(format!("{}/v1beta/openai/models", relay.base_url()))
        .header("x-goog-api-key", RELAY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    let list: Value = serde_json::from_str(&models.text().await.unwrap()).unwrap();
    assert_eq!(list["object"], "list");
}

#[tokio::test]
async fn a_key_limited_to_some_models_cannot_name_another_in_the_body() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |c| {
        c.relay_keys = vec![RelayKeyConfig {
            models: vec!["gemini-2.0-flash".into()],
            ..relay_key()
        }];
    })
    .await;
    let allowed = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.0-flash", "hi", false),
    )
    .await;
    assert_eq!(allowed.status(), 200);
    let other = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.5-pro", "hi", false),
    )
    .await;
    assert_eq!(other.status(), 403);
    assert_eq!(error_of(other).await["status"], "PERMISSION_DENIED");
    // A body whose model cannot be read is not sent on: a duplicated field (which model would
    // the upstream take?), a number, no JSON.
    for body in [
        r#"{"model":"gemini-2.0-flash","model":"gemini-2.5-pro","messages":[]}"#,
        r#"{"model":5,"messages":[]}"#,
        "{not json",
    ] {
        let answer = send(chat_url(&relay), Some(RELAY_KEY), body.to_owned()).await;
        assert_eq!(answer.status(), 400, "{body}");
    }
    let embeddings = send(
        format!("{}/v1beta/openai/embeddings", relay.base_url()),
        Some(RELAY_KEY),
        r#"{"model":"gemini-embedding-001","input":"hi"}"#.to_owned(),
    )
    .await;
    assert_eq!(embeddings.status(), 403);
    assert_eq!(sim.stats().generate_requests, 1);
}

#[tokio::test]
async fn an_overloaded_model_falls_back_with_the_body_rewritten() {
    let mut down = SimModel::new("gemini-2.5-flash");
    down.overloaded = true;
    let sim = Simulator::start(SimulatorConfig {
        models: vec![down, SimModel::new("gemini-2.0-flash")],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_for(&sim, |c| c.fallback = vec!["gemini-2.0-flash".into()]).await;
    let answer = send(
        chat_url(&relay),
        Some(RELAY_KEY),
        chat("gemini-2.5-flash", "hi", false),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-steadfast-model"], "gemini-2.0-flash");
    let body: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(body["model"], "gemini-2.0-flash");
}
