//! The relay in front of the local simulator, over real sockets: native routes forwarded as
//! bytes, relay keys checked before anything goes upstream, secrets never passed on, streams
//! held until their first chunk, errors in the real API's shape.

use crate::common::*;
use steadfast_relay::{Config, Relay, RelayKeyConfig};
use steadfast_sim::{Faults, SimModel, Simulator, SimulatorConfig};
use steadfast_testkit::raw::{Raw, answer, write};

#[tokio::test]
async fn a_generate_request_goes_through_the_pool_and_comes_back_with_its_route() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        relay.base_url()
    );
    let answer = post(
        url,
        Some(RELAY_KEY),
        r#"{"contents":[{"parts":[{"text":"hello there"}]}]}"#,
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-steadfast-model"], "gemini-2.5-flash");
    assert_eq!(answer.headers()["x-steadfast-project"], "1");
    assert_eq!(answer.headers()["x-steadfast-attempts"], "1");
    let text = answer.text().await.unwrap();
    assert!(text.contains("Simulated answer to: hello there"), "{text}");
    // Counted by the pool like any call of the client.
    assert_eq!(sim.stats().generate_requests, 1);
}

#[tokio::test]
async fn a_missing_or_unknown_relay_key_is_answered_like_the_api_and_sends_nothing_upstream() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        relay.base_url()
    );
    let missing = post(url.clone(), None, PROMPT).await;
    assert_eq!(missing.status(), 403);
    let body: serde_json::Value = serde_json::from_str(&missing.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    // An upstream key is not a relay key.
    let upstream_key = sim.keys()[0].clone();
    let unknown = post(url, Some(&upstream_key), PROMPT).await;
    assert_eq!(unknown.status(), 400);
    let body = unknown.text().await.unwrap();
    assert!(
        body.contains("API_KEY_INVALID") && !body.contains(&upstream_key),
        "{body}"
    );
    assert_eq!(sim.stats().requests, 0, "nothing went upstream");
}

#[tokio::test]
async fn the_body_passes_as_bytes_and_the_clients_credential_never_goes_upstream() {
    let server = Raw::start(|_, _| {
        vec![write(answer(
            "200 OK",
            "",
            br#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"answerOfTomorrow":[1]}"#,
        ))]
    })
    .await;
    let relay = relay_in_front_of(
        server.url.clone(),
        vec!["upstream-key-not-real-0001".into()],
    )
    .await;
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent?key={RELAY_KEY}",
            relay.base_url()
        ))
        .header("authorization", format!("Bearer {RELAY_KEY}"))
        .header("referer", "https://caller.example")
        .body(PROMPT)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        r#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"answerOfTomorrow":[1]}"#
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let head = &seen[0].head;
    assert!(!head.contains(RELAY_KEY), "{head}");
    assert!(head.contains("upstream-key-not-real-0001"));
    assert!(!head.to_ascii_lowercase().contains("referer"));
    assert!(
        seen[0]
            .request_line()
            .starts_with("POST /v1beta/models/gemini-2.5-flash:generateContent HTTP"),
        "{head}"
    );
}

#[tokio::test]
async fn a_stream_is_held_until_its_first_chunk_and_a_failure_before_it_is_retried() {
    let sim = Simulator::start(SimulatorConfig {
        faults: Faults {
            stream_error: 0.5,
            ..Faults::default()
        },
        seed: 3,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let mut complete = 0;
    for _ in 0..6 {
        let answer = post(
            format!(
                "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                relay.base_url()
            ),
            Some(RELAY_KEY),
            r#"{"contents":[{"parts":[{"text":"tell me a short story now"}]}]}"#,
        )
        .await;
        assert_eq!(answer.status(), 200);
        let text = answer.text().await.unwrap();
        let events: Vec<&str> = text.lines().filter(|l| l.starts_with("data: ")).collect();
        assert!(!events.is_empty(), "{text}");
        // Either the whole answer, or content then the real API's error event: never a
        // made-up ending, never a restarted answer.
        if events.last().unwrap().contains("\"error\"") {
            assert!(events[0].contains("candidates"), "{text}");
        } else {
            complete += 1;
            assert!(text.contains("finishReason"), "{text}");
        }
    }
    assert!(complete >= 1);
}

#[tokio::test]
async fn a_quota_refusal_reaches_the_client_with_retry_after_and_the_quota_failure() {
    let mut model = SimModel::new("gemini-2.5-flash");
    model.rpd = Some(1);
    let sim = Simulator::start(SimulatorConfig {
        models: vec![model],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        relay.base_url()
    );
    let body = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
    assert_eq!(post(url.clone(), Some(RELAY_KEY), body).await.status(), 200);
    let refused = post(url, Some(RELAY_KEY), body).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("QuotaFailure") && text.contains("PerDay"),
        "{text}"
    );
    assert!(!text.contains(&sim.keys()[0]));
}

#[tokio::test]
async fn models_files_and_unknown_routes_are_forwarded() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}/{path}", relay.base_url()))
            .header("x-goog-api-key", RELAY_KEY)
            .send()
    };
    let models = get("v1beta/models").await.unwrap();
    assert_eq!(models.status(), 200);
    assert!(models.text().await.unwrap().contains("gemini-2.5-flash"));
    let one = get("v1/models/gemini-2.5-pro").await.unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(get("v1beta/files").await.unwrap().status(), 200);
    // A route no version of ours knows still goes upstream, which answers it.
    let unknown = get("v1beta/tunedModels").await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("\"error\""));
}

#[test]
fn a_config_without_keys_says_what_is_missing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = runtime
        .block_on(Relay::start(Config::default()))
        .unwrap_err();
    assert!(e.to_string().contains("no upstream key"), "{e}");
}

#[tokio::test]
async fn a_relay_key_over_its_limit_gets_a_gemini_shaped_429_and_nothing_goes_upstream() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = Relay::start(Config {
        relay_keys: vec![RelayKeyConfig {
            rpm: Some(2),
            models: vec!["gemini-2.5-flash".into()],
            ..relay_key()
        }],
        ..config_for(&sim)
    })
    .await
    .unwrap();
    let url = |model: &str| format!("{}/v1beta/models/{model}:generateContent", relay.base_url());
    let body = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
    // A model the key may not use: refused before anything goes upstream.
    let other = post(url("gemini-2.5-pro"), Some(RELAY_KEY), body).await;
    assert_eq!(other.status(), 403);
    assert_eq!(sim.stats().requests, 0);
    for _ in 0..2 {
        let ok = post(url("gemini-2.5-flash"), Some(RELAY_KEY), body).await;
        assert_eq!(ok.status(), 200);
    }
    let over = post(url("gemini-2.5-flash"), Some(RELAY_KEY), body).await;
    assert_eq!(over.status(), 429);
    let after: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&after), "{after}");
    let text = over.text().await.unwrap();
    for part in [
        "RESOURCE_EXHAUSTED",
        "RelayKeyRequestsPerMinute",
        "RetryInfo",
        &format!("{after}s"),
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert!(!text.contains(RELAY_KEY));
    assert_eq!(
        sim.stats().generate_requests,
        2,
        "the refused request never went upstream"
    );
}

/// A client that goes away mid-stream cancels the upstream stream at once: the simulator's
/// connection closes long before its stream would have ended.
#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_upstream_request() {
    let sim = Simulator::start(SimulatorConfig {
        stream_pause: std::time::Duration::from_millis(300),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let long_prompt = "word ".repeat(200);
    let mut answer = post(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            relay.base_url()
        ),
        Some(RELAY_KEY),
        &format!(r#"{{"contents":[{{"parts":[{{"text":"{long_prompt}"}}]}}]}}"#),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let first = answer.chunk().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("data: "));
    assert_eq!(sim.stats().connections_open, 1);
    drop(answer);
    let started = std::time::Instant::now();
    while sim.stats().connections_open > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the upstream stream is still open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_may_shorten_the_deadline_and_gets_the_apis_504() {
    let sim = Simulator::start(SimulatorConfig {
        latency: std::time::Duration::from_secs(3),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            relay.base_url()
        ))
        .header("x-goog-api-key", RELAY_KEY)
        .header("x-server-timeout", "0.2")
        .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 504);
    assert!(answer.text().await.unwrap().contains("DEADLINE_EXCEEDED"));
}

#[tokio::test]
async fn readiness_says_whether_the_upstream_answers() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_in_front_of(sim.base_url(), sim.keys().to_vec()).await;
    let ready = reqwest::get(format!("{}/readyz", relay.base_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        sim.stats().requests,
        0,
        "a readiness probe sends no request"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let relay = relay_in_front_of(dead, vec!["upstream-key-not-real-0001".into()]).await;
    let ready = reqwest::get(format!("{}/readyz", relay.base_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let health = reqwest::get(format!("{}/healthz", relay.base_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// Found by a probe as a new user: an upstream key the upstream refused came back as the API's
/// "API key not valid" (read as the relay key's fault), a route no API serves as a "model not
/// found", and an embedding for an unknown model was answered by the fallback chat model.
#[tokio::test]
async fn the_relays_own_troubles_are_named_as_the_relays() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let generate = |relay: &Relay| {
        format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            relay.base_url()
        )
    };
    let wrong = relay_for(&sim, |c| {
        c.keys = vec!["upstream-key-the-sim-refuses-01".into()];
    })
    .await;
    let answer = post(generate(&wrong), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(answer.status(), 503);
    let text = answer.text().await.unwrap();
    assert!(text.contains("no upstream key"), "{text}");
    assert!(!text.contains("API key not valid"), "{text}");

    let relay = relay_for(&sim, |c| c.fallback = vec!["gemini-2.0-flash".into()]).await;
    let unknown = reqwest::Client::new()
        .get(format!("{}/v1beta/tunedModels", relay.base_url()))
        .header("x-goog-api-key", RELAY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let text = unknown.text().await.unwrap();
    assert!(text.contains("answered 404 Not Found"), "{text}");
    assert!(!text.contains("model"), "no model in it: {text}");
    let embed = post(
        format!(
            "{}/v1beta/models/no-such-embedding:embedContent",
            relay.base_url()
        ),
        Some(RELAY_KEY),
        r#"{"content":{"parts":[{"text":"x"}]}}"#,
    )
    .await;
    assert_eq!(
        embed.status(),
        404,
        "never answered by the fallback chat model"
    );
    assert!(embed.headers().get("x-steadfast-model").is_none());
}
