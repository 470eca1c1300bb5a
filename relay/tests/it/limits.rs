//! A relay key's tokens per minute, and the waiting room: bounded, and fair between keys.

use crate::common::*;
use steadfast_relay::{Config, Relay, RelayKeyConfig};
use steadfast_sim::{Simulator, SimulatorConfig};

const OTHER_KEY: &str = "relay-secret-not-real-0002";

fn url(relay: &Relay) -> String {
    format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        relay.base_url()
    )
}

fn words(n: usize) -> String {
    let text = "word ".repeat(n);
    format!(
        r#"{{"contents":[{{"parts":[{{"text":"{}"}}]}}]}}"#,
        text.trim_end()
    )
}

#[tokio::test]
async fn a_relay_key_over_its_tokens_per_minute_gets_a_429_naming_that_limit() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = Relay::start(Config {
        relay_keys: vec![RelayKeyConfig {
            tpm: Some(50),
            ..relay_key()
        }],
        ..config_for(&sim)
    })
    .await
    .unwrap();
    assert_eq!(
        post(url(&relay), Some(RELAY_KEY), &words(30))
            .await
            .status(),
        200
    );
    // 30 + 30 > 50: wait for the minute.
    let over = post(url(&relay), Some(RELAY_KEY), &words(30)).await;
    assert_eq!(over.status(), 429);
    assert!(over.headers().contains_key("retry-after"));
    let text = over.text().await.unwrap();
    assert!(text.contains("RelayKeyInputTokensPerMinute"), "{text}");
    assert!(text.contains("\"quotaValue\":\"50\""), "{text}");
    // More than the whole minute's tokens: no wait helps, and none is promised.
    let never = post(url(&relay), Some(RELAY_KEY), &words(80)).await;
    assert_eq!(never.status(), 429);
    assert!(!never.headers().contains_key("retry-after"));
    let text = never.text().await.unwrap();
    assert!(text.contains("more than the relay key"), "{text}");
    assert_eq!(
        sim.stats().generate_requests,
        1,
        "refusals never went upstream"
    );
}

/// A body of a megabyte or more is read on the blocking threads (after a probe measured a
/// 28 MB prompt stalling every stream of the one-thread relay for 224 ms): its tokens are
/// still counted, once, for the relay key's limit and the client's quota alike, and the files
/// it names still route it.
#[tokio::test]
async fn a_large_body_is_counted_as_a_small_one() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = Relay::start(Config {
        relay_keys: vec![RelayKeyConfig {
            tpm: Some(400_000),
            ..relay_key()
        }],
        ..config_for(&sim)
    })
    .await
    .unwrap();
    // 300 000 words (1.5 MB): within the minute's 400 000 tokens.
    let large = words(300_000);
    assert!(large.len() > 1 << 20);
    assert_eq!(
        post(url(&relay), Some(RELAY_KEY), &large).await.status(),
        200
    );
    // A second one would pass 400 000: the first was counted whole.
    let over = post(url(&relay), Some(RELAY_KEY), &large).await;
    assert_eq!(over.status(), 429);
    let text = over.text().await.unwrap();
    assert!(text.contains("RelayKeyInputTokensPerMinute"), "{text}");
    // Inline data counts nothing: a 2 MB image with a short prompt passes.
    let image = format!(
        r#"{{"contents":[{{"parts":[{{"text":"what is this"}},{{"inlineData":{{"mimeType":"image/png","data":"{}"}}}}]}}]}}"#,
        "QUFB".repeat(500_000)
    );
    assert_eq!(
        post(url(&relay), Some(RELAY_KEY), &image).await.status(),
        200
    );
    assert_eq!(sim.stats().generate_requests, 2);
}

#[tokio::test]
async fn the_waiting_room_is_bounded_and_a_busy_key_cannot_keep_another_out() {
    let sim = Simulator::start(SimulatorConfig {
        latency: std::time::Duration::from_millis(600),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = Relay::start(Config {
        relay_keys: vec![relay_key(), RelayKeyConfig::new("other", OTHER_KEY)],
        max_waiting: 4,
        ..config_for(&sim)
    })
    .await
    .unwrap();
    // The busy key sends 10 at once: 4 are let in (the bound), 6 are refused at once.
    let busy: Vec<_> = (0..10)
        .map(|_| tokio::spawn(post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN)))
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // The room is full, yet the other key gets its share.
    let other = post(url(&relay), Some(OTHER_KEY), PROMPT_PLAIN).await;
    assert_eq!(other.status(), 200);
    let mut statuses = Vec::new();
    for answer in busy {
        let answer = answer.await.unwrap();
        statuses.push(answer.status().as_u16());
        if answer.status() == 429 {
            assert_eq!(answer.headers()["retry-after"], "1");
            let text = answer.text().await.unwrap();
            assert!(text.contains("max_waiting"), "{text}");
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(sim.stats().generate_requests, 5);
}

#[tokio::test]
async fn when_no_project_can_serve_within_the_deadline_the_client_gets_a_429_with_the_wait() {
    let mut model = steadfast_sim::SimModel::new("gemini-2.5-flash");
    model.rpm = Some(2);
    let sim = Simulator::start(SimulatorConfig {
        models: vec![model],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = Relay::start(Config {
        limits: flash_rpm(2),
        deadline: std::time::Duration::from_secs(2),
        ..config_for(&sim)
    })
    .await
    .unwrap();
    // Two a minute, paced: one now, the next in 30 s, past the deadline of 2 s.
    assert_eq!(
        post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        200
    );
    let refused = post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(refused.status(), 429);
    let after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (20..=31).contains(&after),
        "the earliest slot, in {after} s"
    );
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("RetryInfo") && text.contains(&format!("\"{after}s\"")),
        "{text}"
    );
    assert_eq!(
        sim.stats().generate_requests,
        1,
        "nothing sent that would be refused"
    );
}

/// Regression (found by a review): a key limited to some models was served by the fallback
/// chain's models, and could name any model through a route the relay does not read.
#[tokio::test]
async fn a_key_limited_to_some_models_is_served_by_those_only() {
    let mut down = steadfast_sim::SimModel::new("gemini-2.5-flash");
    down.overloaded = true;
    let sim = Simulator::start(SimulatorConfig {
        models: vec![down, steadfast_sim::SimModel::new("gemini-2.0-flash")],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = Relay::start(Config {
        relay_keys: vec![
            RelayKeyConfig {
                models: vec!["gemini-2.5-flash".into()],
                ..relay_key()
            },
            RelayKeyConfig::new("other", OTHER_KEY),
        ],
        fallback: vec!["gemini-2.0-flash".into()],
        ..config_for(&sim)
    })
    .await
    .unwrap();
    let limited = post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(limited.status(), 503, "not served by gemini-2.0-flash");
    let free = post(url(&relay), Some(OTHER_KEY), PROMPT_PLAIN).await;
    assert_eq!(free.status(), 200);
    assert_eq!(free.headers()["x-steadfast-model"], "gemini-2.0-flash");
    // A route the relay does not read is closed to the limited key, and a path with an empty
    // segment to everyone.
    for (path, key) in [
        ("v1beta/tunedModels/x:generateContent", RELAY_KEY),
        ("v1beta//models/gemini-2.0-flash:generateContent", OTHER_KEY),
    ] {
        let answer = post(
            format!("{}/{path}", relay.base_url()),
            Some(key),
            PROMPT_PLAIN,
        )
        .await;
        assert_eq!(answer.status(), 404, "{path}");
    }
    // At most 100 objects named in one request.
    let parts: Vec<String> = (0..101)
        .map(|i| format!(r#"{{"fileData":{{"fileUri":"files/f{i}","mimeType":"text/plain"}}}}"#))
        .collect();
    let many = format!(r#"{{"contents":[{{"parts":[{}]}}]}}"#, parts.join(","));
    let answer = post(url(&relay), Some(OTHER_KEY), &many).await;
    assert_eq!(answer.status(), 400);
}

/// A wait for a quota slot is the quota's, not the relay's: `x-steadfast-overhead-ms` leaves
/// it out.
#[tokio::test]
async fn the_overhead_header_leaves_out_the_wait_for_a_slot() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = Relay::start(Config {
        quota_minute: std::time::Duration::from_secs(1),
        limits: flash_rpm(2),
        ..config_for(&sim)
    })
    .await
    .unwrap();
    assert_eq!(
        post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        200
    );
    // Two a (one-second) minute, paced: the next slot is half a second away.
    let started = std::time::Instant::now();
    let waited = post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(waited.status(), 200);
    let overhead: f64 = waited.headers()["x-steadfast-overhead-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(took > 300.0, "the request waited for its slot ({took} ms)");
    assert!(
        overhead < took / 2.0,
        "{overhead} ms of {took} ms is not the relay's"
    );
}

/// A model with no slot before the deadline is as good as out for the request: the fallback
/// model answers at once (found running the demo, where requests past the quota got 429s
/// though the fallback model had room).
#[tokio::test]
async fn a_model_with_no_slot_in_time_falls_back_to_the_next() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = Relay::start(Config {
        limits: flash_rpm(2),
        fallback: vec!["gemini-2.0-flash".into()],
        deadline: std::time::Duration::from_secs(2),
        ..config_for(&sim)
    })
    .await
    .unwrap();
    let first = post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(first.headers()["x-steadfast-model"], "gemini-2.5-flash");
    let second = post(url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["x-steadfast-model"], "gemini-2.0-flash");
    assert_eq!(sim.stats().by_model["gemini-2.5-flash"], 1);
}

/// A batch of `n` inlined prompts, each naming `model` when given.
fn batch_of(n: usize, model: Option<&str>) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            let named = model.map_or(String::new(), |m| format!(r#""model":"{m}","#));
            format!(r#"{{"request":{{{named}"contents":[{{"parts":[{{"text":"prompt {i}"}}]}}]}},"metadata":{{"key":"k{i}"}}}}"#)
        })
        .collect();
    format!(
        r#"{{"batch":{{"displayName":"b","inputConfig":{{"requests":{{"requests":[{}]}}}}}}}}"#,
        entries.join(",")
    )
}

/// Found by review: a batch queued through the relay was charged one request and no token,
/// whatever it held, and a key limited to some models could name others inside it, queue a
/// file it could not be checked in, and read other keys' batches.
#[tokio::test]
async fn a_limited_relay_key_is_charged_for_a_batchs_requests_and_sees_only_its_own() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = Relay::start(Config {
        relay_keys: vec![
            RelayKeyConfig {
                rpm: Some(10),
                models: vec!["gemini-2.5-flash".into()],
                ..relay_key()
            },
            RelayKeyConfig::new("other", OTHER_KEY),
        ],
        ..config_for(&sim)
    })
    .await
    .unwrap();
    let create = format!(
        "{}/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        relay.base_url()
    );
    // Twenty requests are more than ten a minute: refused, whatever one call would cost.
    let big = post(create.clone(), Some(RELAY_KEY), &batch_of(20, None)).await;
    assert_eq!(big.status(), 429);
    // A model it may not use, named inside: refused.
    let pro = post(
        create.clone(),
        Some(RELAY_KEY),
        &batch_of(2, Some("models/gemini-2.5-pro")),
    )
    .await;
    assert_eq!(pro.status(), 403);
    // A file hides its requests: refused.
    let file = post(
        create.clone(),
        Some(RELAY_KEY),
        r#"{"batch":{"inputConfig":{"fileName":"files/abc"}}}"#,
    )
    .await;
    assert_eq!(file.status(), 403);
    // Within its limits: queued, and readable by it.
    let own = post(
        create.clone(),
        Some(RELAY_KEY),
        &batch_of(3, Some("gemini-2.5-flash")),
    )
    .await;
    assert_eq!(own.status(), 200);
    let own: serde_json::Value = serde_json::from_str(&own.text().await.unwrap()).unwrap();
    let get = |key: &'static str, name: String| {
        let url = format!("{}/v1beta/{name}", relay.base_url());
        async move {
            reqwest::Client::new()
                .get(url)
                .header("x-goog-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let own_name = own["name"].as_str().unwrap().to_owned();
    assert_eq!(get(RELAY_KEY, own_name.clone()).await, 200);
    // Another key's batch is one that does not exist, and the listing is closed to it.
    let theirs = post(create.clone(), Some(OTHER_KEY), &batch_of(20, None)).await;
    assert_eq!(
        theirs.status(),
        200,
        "an unlimited key is charged as before"
    );
    let theirs: serde_json::Value = serde_json::from_str(&theirs.text().await.unwrap()).unwrap();
    let their_name = theirs["name"].as_str().unwrap().to_owned();
    assert_eq!(get(RELAY_KEY, their_name.clone()).await, 404);
    assert_eq!(get(OTHER_KEY, their_name).await, 200);
    assert_eq!(get(RELAY_KEY, "batches".into()).await, 403);
    assert_eq!(get(OTHER_KEY, "batches".into()).await, 200);
    // The model list's own ids (`models/…`) can be read back, by the limited key too.
    assert_eq!(
        get(RELAY_KEY, "openai/models/models/gemini-2.5-flash".into()).await,
        200
    );
}

/// Found by the second review: an embedding batch (`asyncBatchEmbedContent`) went around a
/// limited key's batch rules, a batch larger than the key's minute cost a request per retry
/// with no word of why, and a batch's output file was readable by a key limited to other
/// models.
#[tokio::test]
async fn embedding_batches_are_charged_and_another_keys_output_is_not_readable() {
    let mut config = SimulatorConfig::default();
    config.batches.queued = std::time::Duration::from_millis(10);
    config.batches.per_request = std::time::Duration::from_millis(1);
    let sim = Simulator::start(config).await.unwrap();
    let relay = Relay::start(Config {
        relay_keys: vec![
            RelayKeyConfig {
                rpm: Some(10),
                models: vec!["gemini-2.5-flash".into(), "gemini-embedding-001".into()],
                ..relay_key()
            },
            RelayKeyConfig::new("other", OTHER_KEY),
        ],
        ..config_for(&sim)
    })
    .await
    .unwrap();
    let base = relay.base_url();
    let embed = post(
        format!("{base}/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent"),
        Some(RELAY_KEY),
        &batch_of(20, None),
    )
    .await;
    assert_eq!(embed.status(), 429, "twenty requests against ten a minute");
    let text = embed.text().await.unwrap();
    assert!(text.contains("20 requests are more"), "{text}");
    // The refused batches cost nothing: three more still fit the minute.
    let own = post(
        format!("{base}/v1beta/models/gemini-2.5-flash:batchGenerateContent"),
        Some(RELAY_KEY),
        &batch_of(3, None),
    )
    .await;
    assert_eq!(own.status(), 200);
    // Another key's file batch: its output file is that key's.
    let http = reqwest::Client::new();
    let lines = "{\"key\":\"k\",\"request\":{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}]}}\n";
    let upload_url = {
        let start = http
            .post(format!("{base}/upload/v1beta/files"))
            .header("x-goog-api-key", OTHER_KEY)
            .header("x-goog-upload-protocol", "resumable")
            .header("x-goog-upload-command", "start")
            .header(
                "x-goog-upload-header-content-length",
                lines.len().to_string(),
            )
            .header("x-goog-upload-header-content-type", "application/jsonl")
            .body("{}")
            .send()
            .await
            .unwrap();
        start.headers()["x-goog-upload-url"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let done = http
        .post(&upload_url)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body(lines)
        .send()
        .await
        .unwrap();
    let file: serde_json::Value = serde_json::from_str(&done.text().await.unwrap()).unwrap();
    let body = format!(
        r#"{{"batch":{{"inputConfig":{{"fileName":"{}"}}}}}}"#,
        file["file"]["name"].as_str().unwrap()
    );
    let created = post(
        format!("{base}/v1beta/models/gemini-2.5-flash:batchGenerateContent"),
        Some(OTHER_KEY),
        &body,
    )
    .await;
    assert_eq!(created.status(), 200);
    let batch: serde_json::Value = serde_json::from_str(&created.text().await.unwrap()).unwrap();
    let name = batch["name"].as_str().unwrap().to_owned();
    let output = loop {
        let now = http
            .get(format!("{base}/v1beta/{name}"))
            .header("x-goog-api-key", OTHER_KEY)
            .send()
            .await
            .unwrap();
        let now: serde_json::Value = serde_json::from_str(&now.text().await.unwrap()).unwrap();
        if let Some(file) = now["response"]["responsesFile"].as_str() {
            break file.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let download = |key: &'static str| {
        let url = format!("{base}/v1beta/{output}:download?alt=media");
        async move {
            reqwest::Client::new()
                .get(url)
                .header("x-goog-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(download(RELAY_KEY).await, 404);
    assert_eq!(download(OTHER_KEY).await, 200);
    // An OpenAI-compatible route the relay does not read is forwarded (it needs no model).
    let files = post(format!("{base}/v1beta/openai/files"), Some(OTHER_KEY), "{}").await;
    assert_ne!(files.status(), 400, "not refused for want of a model");
}
