//! The routed request path as a raw call (`Client::send_raw`): bytes pass through, the route is
//! reported, a key never leaves in a URL, credentials given with the request are not forwarded,
//! model fallback and project re-routing apply, and a stream is held until its first chunk.
//! Real sockets, real clock, millisecond delays.

#![allow(clippy::unwrap_used)]

use crate::common::{SimClient, fast};
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue, Method};
use steadfast_gemini::{Client, ErrorKind, RawRequest};
use steadfast_sim::{SimModel, Simulator, SimulatorConfig};
use steadfast_testkit::raw::{Raw, Step, answer, write};

/// A client of a raw server, with one made-up key and millisecond backoff.
fn raw_client(url: &str) -> Client {
    Client::builder()
        .base_url(url)
        .key("test-key-not-real-0000000000")
        .policy(fast())
        .build()
        .unwrap()
}

/// A streaming generate request with `alt=sse`.
fn sse_request() -> RawRequest {
    RawRequest::model(
        Method::POST,
        "gemini-2.5-flash",
        ":streamGenerateContent",
        PROMPT,
    )
    .unwrap()
    .query("alt=sse")
    .streaming(true)
}

const PROMPT: &[u8] = br#"{"contents":[{"parts":[{"text":"hello there"}]}]}"#;

#[tokio::test]
async fn a_raw_generate_passes_bytes_through_and_reports_its_route() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client_with(fast()).unwrap();
    let request =
        RawRequest::model(Method::POST, "gemini-2.5-flash", ":generateContent", PROMPT).unwrap();
    let answer = client.send_raw(request).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.route.model, "gemini-2.5-flash");
    assert_eq!(answer.route.project, "1");
    assert_eq!(answer.route.attempts, 1);
    assert!(answer.route.key.starts_with("****"), "{:?}", answer.route);
    let bytes = answer.bytes().await.unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(value["candidates"][0]["content"]["parts"][0]["text"].is_string());
    // Counted like a typed call.
    assert_eq!(client.stats().models["gemini-2.5-flash"].requests, 1);
}

#[tokio::test]
async fn an_unknown_field_of_the_answer_survives_the_raw_path() {
    let body =
        br#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"fieldOfTomorrow":{"x":[1,2]}}"#;
    let server = Raw::start(move |_, _| vec![write(answer("200 OK", "", body))]).await;
    let client = raw_client(&server.url);
    let request =
        RawRequest::model(Method::POST, "gemini-2.5-flash", ":generateContent", PROMPT).unwrap();
    let bytes = client
        .send_raw(request)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], &body[..], "byte for byte");
}

#[tokio::test]
async fn no_key_leaves_in_a_url_and_no_credential_of_the_caller_is_forwarded() {
    let server = Raw::start(|_, _| vec![write(answer("200 OK", "", b"{\"files\":[]}"))]).await;
    let client = raw_client(&server.url);
    let request = RawRequest::path(Method::GET, "v1beta/files")
        .unwrap()
        .query("pageSize=10&key=caller-secret-1&KEY=caller-secret-2&%6Bey=caller-secret-5&$key=caller-secret-6&access_token=caller-secret-7&%61ccess_token=caller-secret-8&oauth_token=caller-secret-9")
        .header(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer caller-secret-3"),
        )
        .header(
            HeaderName::from_static("x-goog-api-key"),
            HeaderValue::from_static("caller-secret-4"),
        )
        .header(
            HeaderName::from_static("x-goog-upload-protocol"),
            HeaderValue::from_static("resumable"),
        )
        // Found by review: headers that restrict a key would get a pool key refused (and taken
        // out of the pool) for the caller's sake.
        .header(
            HeaderName::from_static("referer"),
            HeaderValue::from_static("https://caller.example"),
        )
        .header(
            HeaderName::from_static("x-goog-user-project"),
            HeaderValue::from_static("callers-project"),
        )
        .header(
            HeaderName::from_static("x-http-method-override"),
            HeaderValue::from_static("DELETE"),
        );
    let answer = client.send_raw(request).await.unwrap();
    assert_eq!(answer.route.model, "");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let head = &seen[0].head;
    assert!(
        seen[0]
            .request_line()
            .starts_with("GET /v1beta/files?pageSize=10 "),
        "{head}"
    );
    assert!(!head.contains("caller-secret"), "{head}");
    assert!(
        head.contains("test-key-not-real-0000000000"),
        "the pool's key, in its header"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("x-goog-upload-protocol: resumable")
    );
    assert_eq!(head.matches("x-goog-api-key").count(), 1, "{head}");
}

#[test]
fn paths_that_leave_the_base_url_are_refused() {
    for bad in [
        "",
        "/v1beta/files",
        "v1beta/../admin",
        "v1beta/files?key=x",
        "v1beta/files#x",
        "v1beta/a b",
        "v1beta\\files",
        "v1beta/\nfiles",
        // Found by review: the URL parser reads these as `..` or `/`.
        "v1beta/%2e%2e/%2e%2e/admin",
        "v1beta/.%2E/x",
        "v1beta/%2E./x",
        "v1beta/a%2Fb",
        "v1beta/a%5cb",
        "user@host/v1beta",
    ] {
        let e = RawRequest::path(Method::GET, bad).unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Configuration, "{bad:?}");
    }
    for bad in [
        ("gemini/../x", ":generateContent"),
        ("gemini-2.5-flash", "generateContent"),
        ("gemini-2.5-flash", ":a/b"),
    ] {
        assert!(
            RawRequest::model(Method::POST, bad.0, bad.1, PROMPT).is_err(),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn an_overloaded_model_falls_back_and_the_route_says_so() {
    let mut down = SimModel::new("gemini-2.5-pro");
    down.overloaded = true;
    let sim = Simulator::start(SimulatorConfig {
        models: vec![down, SimModel::new("gemini-2.5-flash")],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim
        .client_with(
            fast()
                .retry_with(|r| r.attempts(2))
                .fallback(["gemini-2.5-flash"]),
        )
        .unwrap();
    let request =
        RawRequest::model(Method::POST, "gemini-2.5-pro", ":generateContent", PROMPT).unwrap();
    let answer = client.send_raw(request).await.unwrap();
    assert_eq!(answer.route.model, "gemini-2.5-flash");
    assert_eq!(
        answer.route.attempts, 3,
        "two on the overloaded model, one on its fallback"
    );
    let bytes = answer.bytes().await.unwrap();
    assert!(
        std::str::from_utf8(&bytes)
            .unwrap()
            .contains("gemini-2.5-flash")
    );
}

/// A simulator whose two keys are two projects (alpha, beta) of one `gemini-2.5-flash`
/// request per `minute` each, and a client of both.
async fn two_projects_of_one_request_a_minute(minute: std::time::Duration) -> (Simulator, Client) {
    let mut model = SimModel::new("gemini-2.5-flash");
    model.rpm = Some(1);
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "sim-key-a-000000000000".into(),
            "sim-key-b-000000000000".into(),
        ],
        models: vec![model],
        minute,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = Client::builder()
        .base_url(sim.base_url())
        .project("alpha", ["sim-key-a-000000000000"])
        .project("beta", ["sim-key-b-000000000000"])
        .policy(fast().quota_minute(minute))
        .build()
        .unwrap();
    (sim, client)
}

#[tokio::test]
async fn a_project_out_of_its_minute_sends_the_request_through_another() {
    let (sim, client) =
        two_projects_of_one_request_a_minute(std::time::Duration::from_secs(60)).await;
    let send = || async {
        let request =
            RawRequest::model(Method::POST, "gemini-2.5-flash", ":generateContent", PROMPT)
                .unwrap();
        client.send_raw(request).await.unwrap().route
    };
    let first = send().await;
    let second = send().await;
    let mut projects = [first.project.clone(), second.project.clone()];
    projects.sort();
    assert_eq!(projects, ["alpha", "beta"], "{first:?} {second:?}");
    assert_eq!(
        sim.stats().rate_limited,
        0,
        "the pool spread the load by headroom"
    );
}

#[tokio::test]
async fn a_pinned_call_goes_only_through_its_project_and_waits_for_it() {
    let (sim, client) =
        two_projects_of_one_request_a_minute(std::time::Duration::from_millis(300)).await;
    let send = |project: &str| {
        let request =
            RawRequest::model(Method::POST, "gemini-2.5-flash", ":generateContent", PROMPT)
                .unwrap()
                .project(project);
        let client = client.clone();
        async move { client.send_raw(request).await }
    };
    // Two calls pinned to beta, with one request a minute: the second waits for beta's next
    // minute (or its RetryInfo) instead of going through alpha, which has room.
    for _ in 0..2 {
        let route = send("beta").await.unwrap().route;
        assert_eq!(route.project, "beta", "{route:?}");
    }
    assert_eq!(
        sim.stats()
            .by_key
            .get("sim-key-a-000000000000")
            .copied()
            .unwrap_or(0),
        0
    );
    // A label that is not in the pool is the caller's mistake, said plainly.
    let unknown = send("gamma").await.unwrap_err();
    assert_eq!(*unknown.kind(), ErrorKind::Configuration, "{unknown}");
    assert!(unknown.to_string().contains("`gamma`"), "{unknown}");
}

fn sse_head() -> Step {
    write(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )
}

fn chunk(text: &str) -> Step {
    write(format!("{:x}\r\n{text}\r\n", text.len()))
}

const EVENT: &str =
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one \"}]}}]}\r\n\r\n";
const ERROR_EVENT: &str = "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n";

#[tokio::test]
async fn a_stream_whose_first_event_is_an_error_is_retried_before_anything_is_handed_on() {
    let server = Raw::start(|_, index| {
        let first = if index == 0 { ERROR_EVENT } else { EVENT };
        vec![sse_head(), chunk(first), chunk(EVENT), write("0\r\n\r\n")]
    })
    .await;
    let client = raw_client(&server.url);
    let request = sse_request();
    let answer = client.send_raw(request).await.unwrap();
    assert_eq!(answer.route.attempts, 2);
    let mut body = answer.into_body();
    let mut all = Vec::new();
    while let Some(piece) = body.next().await {
        all.extend_from_slice(&piece.unwrap());
    }
    assert_eq!(String::from_utf8(all).unwrap(), format!("{EVENT}{EVENT}"));
    assert_eq!(server.count("streamGenerateContent?alt=sse"), 2);
}

#[tokio::test]
async fn a_stream_cut_after_its_first_chunk_ends_with_an_error_and_is_not_sent_again() {
    let server = Raw::start(|_, _| vec![sse_head(), chunk(EVENT), write("ff\r\npartial")]).await;
    let client = raw_client(&server.url);
    let request = sse_request();
    let mut body = client.send_raw(request).await.unwrap().into_body();
    let mut items = Vec::new();
    while let Some(piece) = body.next().await {
        items.push(piece);
    }
    assert_eq!(items[0].as_ref().unwrap().as_ref(), EVENT.as_bytes());
    assert!(items.last().unwrap().is_err(), "the cut is the last item");
    assert_eq!(server.count("streamGenerateContent"), 1, "never sent again");
}

#[tokio::test]
async fn an_error_answer_is_a_classified_error() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client_with(fast()).unwrap();
    let body = br#"{"contents":[{"parts":[{"text":"[sim:invalid]"}]}]}"#;
    let request = RawRequest::model(
        Method::POST,
        "gemini-2.5-flash",
        ":generateContent",
        &body[..],
    )
    .unwrap();
    let e = client.send_raw(request).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidArgument);
}

/// Found by review: a JSON-array stream (no `alt=sse`) whose first element is an error was
/// handed on as a success; it is the attempt's error, and retried.
#[tokio::test]
async fn a_json_array_stream_that_starts_with_an_error_is_retried() {
    let server = Raw::start(|_, index| {
        let body: &[u8] = if index == 0 {
            br#"[{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]"#
        } else {
            br#"[{"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}]"#
        };
        vec![write(answer("200 OK", "", body))]
    })
    .await;
    let client = raw_client(&server.url);
    let request = RawRequest::model(
        Method::POST,
        "gemini-2.5-flash",
        ":streamGenerateContent",
        PROMPT,
    )
    .unwrap()
    .streaming(true);
    let answer = client.send_raw(request).await.unwrap();
    assert_eq!(answer.route.attempts, 2);
    let bytes = answer.bytes().await.unwrap();
    assert!(std::str::from_utf8(&bytes).unwrap().contains("candidates"));
}

/// Found by review: a stream of comments holds nothing back forever: past the cap without an
/// event, it is an error.
#[tokio::test]
async fn a_stream_of_comments_is_cut_at_the_cap() {
    let server = Raw::start(|_, _| {
        let mut steps = vec![sse_head()];
        steps.extend((0..200).map(|_| chunk(": ping\r\n\r\n")));
        // Then silence: without the cap, the attempt would wait for the idle timeout.
        steps.push(Step::Sleep(std::time::Duration::from_secs(120)));
        steps
    })
    .await;
    let client = Client::builder()
        .base_url(&server.url)
        .key("test-key-not-real-0000000000")
        .policy(steadfast_gemini::ClientPolicy::off())
        .max_response_bytes(512)
        .build()
        .unwrap();
    let request = sse_request();
    let e = client.send_raw(request).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Undecodable, "{e}");
}

/// Found by review: the tokens of a raw generate request were a quarter of its bytes, so an
/// inline image counted as a million tokens and a tokens-per-minute limit refused it for ever.
/// Only text counts, as on the typed path.
#[tokio::test]
async fn inline_data_does_not_count_as_input_tokens() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let limits = steadfast_gemini::ModelLimits {
        tpm: Some(1_000),
        ..Default::default()
    };
    let client = sim
        .client_with(fast().limits("gemini-2.5-flash", limits))
        .unwrap();
    let image = "A".repeat(200_000);
    let body = format!(
        r#"{{"contents":[{{"parts":[{{"text":"describe it"}},{{"inlineData":{{"mimeType":"image/png","data":"{image}"}}}}]}}]}}"#
    );
    let request = RawRequest::model(
        Method::POST,
        "gemini-2.5-flash",
        ":countTokens",
        body.clone(),
    )
    .unwrap();
    let _ = request; // countTokens is not counted as a generate request
    let request =
        RawRequest::model(Method::POST, "gemini-2.5-flash", ":generateContent", body).unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), client.send_raw(request))
        .await
        .expect("not held back by the tokens-per-minute limit");
    assert_eq!(answer.unwrap().status, 200);
}

/// Hop-by-hop and framing headers of the upstream answer are not handed on.
#[tokio::test]
async fn framing_headers_are_not_handed_on() {
    let server =
        Raw::start(|_, _| vec![write(answer("200 OK", "X-Custom: kept\r\n", b"{}"))]).await;
    let client = Client::builder()
        .base_url(&server.url)
        .key("test-key-not-real-0000000000")
        .build()
        .unwrap();
    let request = RawRequest::path(Method::GET, "v1beta/files").unwrap();
    let answer = client.send_raw(request).await.unwrap();
    assert!(answer.headers.get("content-length").is_none());
    assert!(answer.headers.get("connection").is_none());
    assert_eq!(answer.headers.get("x-custom").unwrap(), "kept");
}

/// Regression (found by a review of the relay): every model name a caller asked for kept an
/// entry in the client for good, so made-up names grew its memory. A model the server does not
/// serve and that never answered is not kept; one that answered is.
#[tokio::test]
async fn made_up_model_names_leave_nothing_behind() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client_with(fast()).unwrap();
    for i in 0..20 {
        let request = RawRequest::model(
            Method::POST,
            &format!("made-up-model-{i}"),
            ":generateContent",
            PROMPT,
        )
        .unwrap();
        let e = client.send_raw(request).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::ModelNotFound, "{e}");
    }
    let real =
        RawRequest::model(Method::POST, "gemini-2.5-flash", ":generateContent", PROMPT).unwrap();
    client.send_raw(real).await.unwrap();
    let kept: Vec<String> = client.quotas().projects[0]
        .models
        .iter()
        .map(|m| m.model.clone())
        .collect();
    assert_eq!(kept, ["gemini-2.5-flash"]);
}

/// An OpenAI-compatible chat body for `model`.
fn chat_body(model: &str, stream: bool) -> Vec<u8> {
    format!(
        r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hello there"}}]}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn an_openai_chat_is_routed_by_the_model_in_its_body_with_a_bearer_key() {
    let server = Raw::start(|_, _| {
        vec![write(answer(
            "200 OK",
            "",
            br#"{"object":"chat.completion","choices":[]}"#,
        ))]
    })
    .await;
    let client = raw_client(&server.url);
    let request = RawRequest::openai(
        Method::POST,
        "chat/completions",
        chat_body("models/gemini-2.5-pro", false),
    )
    .unwrap()
    .header(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Bearer caller-secret-1"),
    );
    assert_eq!(request.model_name(), Some("gemini-2.5-pro"));
    assert!(!request.is_streaming());
    let answer = client.send_raw(request).await.unwrap();
    assert_eq!(answer.route.model, "gemini-2.5-pro");
    let seen = server.seen();
    let head = &seen[0].head;
    assert!(
        seen[0]
            .request_line()
            .starts_with("POST /v1beta/openai/chat/completions "),
        "{head}"
    );
    assert!(!head.contains("caller-secret"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("authorization: bearer test-key-not-real-0000000000"),
        "{head}"
    );
    assert!(!lower.contains("x-goog-api-key"), "{head}");
    // Counted against the model of its body.
    assert_eq!(client.stats().models["gemini-2.5-pro"].requests, 1);
}

#[tokio::test]
async fn an_openai_chat_falls_back_with_the_next_model_written_into_its_body() {
    let mut down = SimModel::new("gemini-2.5-pro");
    down.overloaded = true;
    let sim = Simulator::start(SimulatorConfig {
        models: vec![down, SimModel::new("gemini-2.5-flash")],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim
        .client_with(
            fast()
                .retry_with(|r| r.attempts(2))
                .fallback(["gemini-2.5-flash"]),
        )
        .unwrap();
    for stream in [false, true] {
        let request = RawRequest::openai(
            Method::POST,
            "chat/completions",
            chat_body("gemini-2.5-pro", stream),
        )
        .unwrap();
        assert_eq!(request.is_streaming(), stream);
        let answer = client.send_raw(request).await.unwrap();
        assert_eq!(answer.route.model, "gemini-2.5-flash");
        assert_eq!(answer.route.attempts, 3);
        let text = String::from_utf8(answer.bytes().await.unwrap().to_vec()).unwrap();
        assert!(text.contains(r#""model":"gemini-2.5-flash""#), "{text}");
        assert!(text.contains("Simulated answer "), "{text}");
        if stream {
            assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
            assert_eq!(text.matches("[DONE]").count(), 1, "{text}");
        }
    }
}

#[tokio::test]
async fn an_openai_error_answer_is_classified_like_a_native_one() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client_with(fast()).unwrap();
    let request = RawRequest::openai(
        Method::POST,
        "chat/completions",
        br#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"[sim:permission]"}]}"#
            .to_vec(),
    )
    .unwrap();
    let e = client.send_raw(request).await.unwrap_err();
    assert_eq!(e.code(), Some(403));
    assert_eq!(
        e.status().and_then(|s| s.status.as_deref()),
        Some("PERMISSION_DENIED")
    );
    // A body that is not JSON goes as it is, and the API's 400 comes back.
    let request =
        RawRequest::openai(Method::POST, "chat/completions", b"{not json".to_vec()).unwrap();
    assert_eq!(request.model_name(), None);
    let e = client.send_raw(request).await.unwrap_err();
    assert_eq!(e.code(), Some(400));
    assert!(RawRequest::openai(Method::POST, "../models", Vec::new()).is_err());
}

#[tokio::test]
async fn openai_message_text_counts_as_input_tokens_and_image_data_does_not() {
    let image = "A".repeat(400_000);
    let body = format!(
        r#"{{"model":"gemini-2.5-flash","messages":[{{"role":"system","content":"one two"}},{{"role":"user","content":[{{"type":"text","text":"three four five"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{image}"}}}}]}}]}}"#
    );
    let request = RawRequest::openai(Method::POST, "chat/completions", body).unwrap();
    // Five words, 22 characters: the larger of 5 and 22/4.
    assert_eq!(request.estimated_tokens(), Some(6));
}

/// Found by review: any string was taken as an OpenAI body's model, so a 30 MB "model" went
/// into logs and errors. Only a model name as the native routes take it is read.
#[test]
fn an_openai_body_names_a_model_only_with_a_model_name() {
    let named = |model: &str| {
        let body = serde_json::json!({"model": model, "messages": []}).to_string();
        RawRequest::openai(Method::POST, "chat/completions", body)
            .unwrap()
            .model_name()
            .map(str::to_owned)
    };
    assert_eq!(
        named("models/gemini-2.5-flash").as_deref(),
        Some("gemini-2.5-flash")
    );
    for bad in ["a b", "../x", "", &"m".repeat(201), "gemini\u{0}"] {
        assert_eq!(named(bad), None, "{bad:?}");
    }
    // `stream` counts on chat completions only.
    let embed = RawRequest::openai(
        Method::POST,
        "embeddings",
        br#"{"model":"gemini-embedding-001","input":"x","stream":true}"#.to_vec(),
    )
    .unwrap();
    assert!(!embed.is_streaming());
}

/// Found by a new user's probe: an embedding for a model the server does not serve was
/// answered by the fallback chat model. The chain answers generation only.
#[tokio::test]
async fn embeddings_and_token_counts_never_fall_back() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim
        .client_with(fast().fallback(["gemini-2.0-flash"]))
        .unwrap();
    let embed = RawRequest::model(
        Method::POST,
        "no-such-embedding",
        ":embedContent",
        br#"{"content":{"parts":[{"text":"x"}]}}"#.to_vec(),
    )
    .unwrap();
    assert_eq!(client.send_raw(embed).await.unwrap_err().code(), Some(404));
    let count = RawRequest::model(Method::POST, "no-such-model", ":countTokens", PROMPT).unwrap();
    assert_eq!(client.send_raw(count).await.unwrap_err().code(), Some(404));
    // Generation still does.
    let generate =
        RawRequest::model(Method::POST, "no-such-model", ":generateContent", PROMPT).unwrap();
    assert_eq!(
        client.send_raw(generate).await.unwrap().route.model,
        "gemini-2.0-flash"
    );
}
