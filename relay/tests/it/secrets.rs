//! No key, upstream or relay, in any byte the relay writes: its log (every level), its answers'
//! headers and bodies, errors included. The run touches every path that handles a key: a
//! success, a stream, a relay key in `?key=`, the OpenAI-compatible route (keys as bearer tokens), an unknown relay key, an upstream key the
//! upstream rejects (taken out of the pool and reported), a quota refusal, an upload, a reload.

use crate::common::*;
use steadfast_relay::{Config, Relay, RelayKeyConfig};
use steadfast_sim::{SimModel, Simulator, SimulatorConfig};
use steadfast_testkit::sink::global_log;

const GOOD: &str = "sim-key-good-secret-000001";
const REJECTED: &str = "sim-key-rejected-secret-01";
const QUERY_KEY: &str = "relay-secret-in-a-query-0001";
const UNKNOWN: &str = "not-a-relay-key-secret-0001";

#[tokio::test]
async fn no_key_appears_in_the_log_or_in_any_answer() {
    let log = global_log();
    let mut model = SimModel::new("gemini-2.5-flash");
    model.rpd = Some(5);
    let sim = Simulator::start(SimulatorConfig {
        // The simulator accepts only GOOD: REJECTED is an invalid key.
        keys: vec![GOOD.into()],
        models: vec![model],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let config = Config {
        keys: vec![REJECTED.into(), GOOD.into()],
        relay_keys: vec![relay_key(), RelayKeyConfig::new("query", QUERY_KEY)],
        ..config_for(&sim)
    };
    let relay = Relay::start(config.clone()).await.unwrap();
    let base = relay.base_url();
    let http = reqwest::Client::new();
    let mut seen = String::new();
    let keep = |r: reqwest::Response| async move {
        let mut text = format!("{}\n", r.status());
        for (name, value) in r.headers() {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text.push_str(&r.text().await.unwrap_or_default());
        text
    };
    let generate = format!("{base}/v1beta/models/gemini-2.5-flash:generateContent");
    // Successes (the rejected key is found out on the way), and a stream.
    for _ in 0..2 {
        seen += &keep(post(generate.clone(), Some(RELAY_KEY), PROMPT_PLAIN).await).await;
    }
    seen += &keep(
        post(
            format!("{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
            Some(RELAY_KEY),
            PROMPT_PLAIN,
        )
        .await,
    )
    .await;
    // A relay key in the query; an unknown one in each place.
    seen += &keep(
        http.post(format!("{generate}?key={QUERY_KEY}"))
            .body(PROMPT_PLAIN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    seen += &keep(post(generate.clone(), Some(UNKNOWN), PROMPT_PLAIN).await).await;
    seen += &keep(
        http.post(format!("{generate}?key={UNKNOWN}"))
            .body(PROMPT_PLAIN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    seen += &keep(
        http.post(generate.clone())
            .bearer_auth(UNKNOWN)
            .body(PROMPT_PLAIN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    // The OpenAI-compatible route: the relay key as a bearer token, the upstream's too.
    let chat = format!("{base}/v1beta/openai/chat/completions");
    let chat_body = r#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#;
    for key in [RELAY_KEY, UNKNOWN] {
        seen += &keep(
            http.post(chat.clone())
                .bearer_auth(key)
                .body(chat_body)
                .send()
                .await
                .unwrap(),
        )
        .await;
    }
    // The day's quota runs out: a 429 with the upstream's QuotaFailure.
    for _ in 0..3 {
        seen += &keep(post(generate.clone(), Some(RELAY_KEY), PROMPT_PLAIN).await).await;
    }
    assert!(seen.contains("429"), "{seen}");
    // An upload session (its URL rewritten), and a reload.
    seen += &keep(
        http.post(format!("{base}/upload/v1beta/files?key={QUERY_KEY}"))
            .header("x-goog-upload-protocol", "resumable")
            .header("x-goog-upload-command", "start")
            .header("x-goog-upload-header-content-length", "5")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    relay.reload(config).unwrap();
    seen += &keep(post(generate.clone(), Some(RELAY_KEY), PROMPT_PLAIN).await).await;
    // The rejected key was reported, by its fingerprint.
    let text = log.text();
    assert!(
        text.contains("skipping key"),
        "the rejected key is reported"
    );
    assert!(
        text.contains("request{id="),
        "log lines carry the request's id"
    );
    for secret in [GOOD, REJECTED, RELAY_KEY, QUERY_KEY, UNKNOWN] {
        assert!(!text.contains(secret), "{secret} in the log");
        assert!(!seen.contains(secret), "{secret} in an answer:\n{seen}");
    }
}
