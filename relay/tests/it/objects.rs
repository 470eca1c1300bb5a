//! Files, cached contents, batches and upload sessions stay with the project that created them: the
//! simulator, like Gemini, answers 403 to another project's key, so a request that went
//! anywhere else would fail.

use crate::common::*;
use serde_json::{Value, json};
use steadfast_relay::{Config, ProjectConfig, Relay};
use steadfast_sim::{SimModel, Simulator, SimulatorConfig};

const ALPHA: &str = "sim-key-alpha-00000000001";
const BETA: &str = "sim-key-beta-000000000001";

/// A simulator with two projects and a relay in front of it with both.
async fn two_projects(model: SimModel) -> (Simulator, Relay) {
    let mut config = SimulatorConfig {
        keys: vec![ALPHA.into(), BETA.into()],
        models: vec![model],
        ..SimulatorConfig::default()
    };
    config.caches.min_tokens = Some(1);
    config.batches.queued = std::time::Duration::from_millis(30);
    config.batches.per_request = std::time::Duration::from_millis(1);
    let sim = Simulator::start(config).await.unwrap();
    let relay = Relay::start(Config {
        keys: Vec::new(),
        projects: vec![
            ProjectConfig {
                name: "alpha".into(),
                keys: vec![ALPHA.into()],
            },
            ProjectConfig {
                name: "beta".into(),
                keys: vec![BETA.into()],
            },
        ],
        ..config_for(&sim)
    })
    .await
    .unwrap();
    (sim, relay)
}

/// Uploads `bytes` through the relay with the resumable protocol; the file's JSON and the
/// project that took the upload.
async fn upload(relay: &Relay, bytes: &[u8]) -> (Value, String) {
    let http = reqwest::Client::new();
    let (project, url) = start_upload(&relay.base_url(), bytes.len()).await;
    assert!(url.starts_with(&relay.base_url()), "rewritten: {url}");
    // The session's own request carries no key, as the official SDKs send it: its
    // `upload_id` authorises it.
    let done = http
        .post(&url)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(
        done.headers()["x-steadfast-project"].to_str().unwrap(),
        project,
        "the session stays with its project"
    );
    (
        serde_json::from_str(&done.text().await.unwrap()).unwrap(),
        project,
    )
}

async fn generate(relay: &Relay, body: &Value) -> reqwest::Response {
    post(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            relay.base_url()
        ),
        Some(RELAY_KEY),
        &body.to_string(),
    )
    .await
}

#[tokio::test]
async fn a_file_is_used_and_read_only_through_the_project_that_uploaded_it() {
    let (sim, relay) = two_projects(SimModel::new("gemini-2.5-flash")).await;
    // Two files, one in each project: the pool spreads the uploads by headroom.
    let (first, first_project) = upload(&relay, b"the first file's text").await;
    let (second, second_project) = upload(&relay, b"the second file's text").await;
    assert_ne!(first_project, second_project, "spread over both projects");
    for (file, project) in [(&first, &first_project), (&second, &second_project)] {
        let uri = file["file"]["uri"].as_str().unwrap();
        let name = file["file"]["name"].as_str().unwrap();
        for _ in 0..4 {
            let prompt = json!({"contents":[{"parts":[
                {"fileData":{"fileUri": uri, "mimeType":"text/plain"}},
                {"text":"summarise"}
            ]}]});
            let answer = generate(&relay, &prompt).await;
            assert_eq!(answer.status(), 200);
            assert_eq!(answer.headers()["x-steadfast-project"], project.as_str());
        }
        let read = reqwest::Client::new()
            .get(format!("{}/v1beta/{name}", relay.base_url()))
            .header("x-goog-api-key", RELAY_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        assert_eq!(read.headers()["x-steadfast-project"], project.as_str());
    }
    // One request naming both projects' files cannot be served by either.
    let both = json!({"contents":[{"parts":[
        {"fileData":{"fileUri": first["file"]["uri"], "mimeType":"text/plain"}},
        {"fileData":{"fileUri": second["file"]["uri"], "mimeType":"text/plain"}}
    ]}]});
    let answer = generate(&relay, &both).await;
    assert_eq!(answer.status(), 400);
    let text = answer.text().await.unwrap();
    assert!(text.contains("different projects"), "{text}");
    // Deleted through its project, and forgotten.
    let name = first["file"]["name"].as_str().unwrap();
    let deleted = reqwest::Client::new()
        .delete(format!("{}/v1beta/{name}", relay.base_url()))
        .header("x-goog-api-key", RELAY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        deleted.headers()["x-steadfast-project"],
        first_project.as_str()
    );
    assert_eq!(sim.stats().rate_limited, 0);
}

#[tokio::test]
async fn a_cached_content_is_used_through_the_project_that_created_it() {
    let (_sim, relay) = two_projects(SimModel::new("gemini-2.5-flash")).await;
    let created = post(
        format!("{}/v1beta/cachedContents", relay.base_url()),
        Some(RELAY_KEY),
        &json!({
            "model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "a long document to keep"}]}],
            "ttl": "300s"
        })
        .to_string(),
    )
    .await;
    assert_eq!(created.status(), 200);
    let project = created.headers()["x-steadfast-project"]
        .to_str()
        .unwrap()
        .to_owned();
    let cache: Value = serde_json::from_str(&created.text().await.unwrap()).unwrap();
    let name = cache["name"].as_str().unwrap();
    for _ in 0..4 {
        let answer = generate(
            &relay,
            &json!({"cachedContent": name, "contents":[{"parts":[{"text":"what does it say?"}]}]}),
        )
        .await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["x-steadfast-project"], project.as_str());
    }
}

#[tokio::test]
async fn when_the_owner_is_out_for_the_day_the_client_gets_that_429_not_a_403() {
    let mut model = SimModel::new("gemini-2.5-flash");
    model.rpd = Some(2);
    let (sim, relay) = two_projects(model).await;
    let (file, project) = upload(&relay, b"a file").await;
    let prompt = json!({"contents":[{"parts":[
        {"fileData":{"fileUri": file["file"]["uri"], "mimeType":"text/plain"}},
        {"text":"summarise"}
    ]}]});
    for _ in 0..2 {
        let answer = generate(&relay, &prompt).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["x-steadfast-project"], project.as_str());
    }
    let refused = generate(&relay, &prompt).await;
    assert_eq!(refused.status(), 429);
    let body: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    let text = body.to_string();
    assert!(
        text.contains("PerDay"),
        "the QuotaFailure names the day: {text}"
    );
    // The other project, with its whole day left, was never asked about the file.
    let other = if project == "alpha" { BETA } else { ALPHA };
    assert_eq!(sim.stats().by_key.get(other).copied().unwrap_or(0), 0);
}

/// Regression (found by the Python SDK through the relay): the SDKs send an upload's bytes to
/// the session's URL without a key, and the relay answered them 403. A session started through
/// the relay is accepted without a key; one the relay does not know is not.
#[tokio::test]
async fn an_uploads_bytes_need_no_key_but_only_for_a_session_the_relay_started() {
    let (sim, relay) = two_projects(SimModel::new("gemini-2.5-flash")).await;
    let (file, _) = upload(&relay, b"bytes sent without a key").await;
    assert!(file["file"]["name"].as_str().unwrap().starts_with("files/"));
    let stranger = reqwest::Client::new()
        .post(format!(
            "{}/upload/v1beta/files?upload_id=made-up-session-1&upload_protocol=resumable",
            relay.base_url()
        ))
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 403);
    assert_eq!(
        sim.stats().requests,
        2,
        "the stranger sent nothing upstream"
    );
}

/// A request through the relay with the relay key.
async fn call(
    relay: &Relay,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/v1beta/{path}", relay.base_url()))
        .header("x-goog-api-key", RELAY_KEY);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    request.send().await.unwrap()
}

/// Polls a batch through the relay until it is done, checking that `project` answers each
/// poll; the last answer.
async fn poll_until_done(relay: &Relay, name: &str, project: &str) -> Value {
    loop {
        let answer = call(relay, reqwest::Method::GET, name, None).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["x-steadfast-project"], project, "{name}");
        let batch: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        if batch["done"] == json!(true) {
            return batch;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_batch_is_polled_read_and_cancelled_only_through_the_project_that_created_it() {
    let (sim, relay) = two_projects(SimModel::new("gemini-2.5-flash")).await;
    let inline = json!({"batch": {"displayName": "two", "inputConfig": {"requests": {"requests": [
        {"request": {"contents": [{"parts": [{"text": "first"}]}]}, "metadata": {"key": "a"}},
        {"request": {"contents": [{"parts": [{"text": "[sim:invalid] second"}]}]}, "metadata": {"key": "b"}}
    ]}}}});
    let mut created = Vec::new();
    for _ in 0..4 {
        let answer = call(
            &relay,
            reqwest::Method::POST,
            "models/gemini-2.5-flash:batchGenerateContent",
            Some(inline.clone()),
        )
        .await;
        assert_eq!(answer.status(), 200);
        let project = answer.headers()["x-steadfast-project"]
            .to_str()
            .unwrap()
            .to_owned();
        let batch: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        created.push((batch["name"].as_str().unwrap().to_owned(), project));
    }
    let projects: std::collections::BTreeSet<_> = created.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(projects.len(), 2, "spread over both projects");
    for (name, project) in &created {
        let done = poll_until_done(&relay, name, project).await;
        let results = &done["response"]["inlinedResponses"]["inlinedResponses"];
        assert_eq!(results[0]["metadata"]["key"], "a");
        assert!(results[0]["response"]["candidates"].is_array());
        assert_eq!(
            results[1]["error"]["code"], 3,
            "a partial failure (INVALID_ARGUMENT)"
        );
    }
    // A batch from an uploaded file runs in the file's project, and its output file is read
    // there too.
    let lines =
        "{\"key\":\"k1\",\"request\":{\"contents\":[{\"parts\":[{\"text\":\"from a file\"}]}]}}\n";
    let (file, file_project) = upload(&relay, lines.as_bytes()).await;
    let body = json!({"batch": {"displayName": "file", "inputConfig": {"fileName": file["file"]["name"]}}});
    let answer = call(
        &relay,
        reqwest::Method::POST,
        "models/gemini-2.5-flash:batchGenerateContent",
        Some(body),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["x-steadfast-project"],
        file_project.as_str()
    );
    let batch: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    let done = poll_until_done(&relay, batch["name"].as_str().unwrap(), &file_project).await;
    let output = done["response"]["responsesFile"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let read = call(
            &relay,
            reqwest::Method::GET,
            &format!("{output}:download?alt=media"),
            None,
        )
        .await;
        assert_eq!(read.status(), 200);
        assert_eq!(read.headers()["x-steadfast-project"], file_project.as_str());
        let text = read.text().await.unwrap();
        assert!(
            text.contains(r#""key":"k1""#) && text.contains("from a file"),
            "{text}"
        );
    }
    // Cancelled and deleted through its project, then forgotten.
    let pending = call(
        &relay,
        reqwest::Method::POST,
        "models/gemini-2.5-flash:batchGenerateContent",
        Some(inline),
    )
    .await;
    let project = pending.headers()["x-steadfast-project"]
        .to_str()
        .unwrap()
        .to_owned();
    let name = serde_json::from_str::<Value>(&pending.text().await.unwrap()).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = call(
        &relay,
        reqwest::Method::POST,
        &format!("{name}:cancel"),
        Some(json!({})),
    )
    .await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(cancelled.headers()["x-steadfast-project"], project.as_str());
    let deleted = call(&relay, reqwest::Method::DELETE, &name, None).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(deleted.headers()["x-steadfast-project"], project.as_str());
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(
        stats.generate_requests, 0,
        "batches are not interactive calls"
    );
}
