//! Hostile clients and upstreams: oversized bodies and heads, clients that trickle or idle,
//! more connections than allowed, a thousand at once, upstreams that send garbage, reset,
//! stall or fail mid-stream. Each is answered in the API's shape or closed, never a panic,
//! never a request sent upstream that should not be.

use crate::common::*;
use std::time::Duration;
use steadfast_relay::Relay;
use steadfast_sim::{Simulator, SimulatorConfig};
use steadfast_testkit::raw::{Raw, Step, answer, write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn generate_url(relay: &Relay) -> String {
    format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        relay.base_url()
    )
}

#[tokio::test]
async fn an_oversized_body_is_a_413_and_nothing_goes_upstream() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |c| c.max_body_bytes = 1024).await;
    let big = format!(
        r#"{{"contents":[{{"parts":[{{"text":"{}"}}]}}]}}"#,
        "x".repeat(4096)
    );
    let answer = post(generate_url(&relay), Some(RELAY_KEY), &big).await;
    assert_eq!(answer.status(), 413);
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("1024 bytes") && text.contains("\"error\""),
        "{text}"
    );
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn an_oversized_head_is_a_431() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |c| c.max_header_bytes = 2048).await;
    let answer = reqwest::Client::new()
        .post(generate_url(&relay))
        .header("x-goog-api-key", RELAY_KEY)
        .header("x-padding", "p".repeat(8192))
        .body(PROMPT_PLAIN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 431);
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn a_client_that_trickles_its_head_or_idles_is_closed_and_others_are_served() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |c| c.idle_timeout = Duration::from_millis(300)).await;
    // Half a head, then nothing: closed without an answer (hyper's header read timeout).
    let partial = b"POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: x\r\n";
    let trickled = tokio::spawn({
        let addr = relay.local_addr();
        async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            socket.write_all(partial).await.unwrap();
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out))
                .await
                .map(|_| out.len())
        }
    });
    // An idle keep-alive connection is closed too.
    let idle = tokio::spawn({
        let addr = relay.local_addr();
        async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out))
                .await
                .map(|_| out.len())
        }
    });
    // Meanwhile, others are served.
    for _ in 0..3 {
        let answer = post(generate_url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
        assert_eq!(answer.status(), 200);
    }
    let closed = trickled.await.unwrap();
    assert!(
        closed.is_ok(),
        "the trickling client is closed, not left open"
    );
    assert!(idle.await.unwrap().is_ok(), "the idle connection is closed");
    assert_eq!(sim.stats().generate_requests, 3);
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |c| c.max_connections = 2).await;
    let held_a = TcpStream::connect(relay.local_addr()).await.unwrap();
    let held_b = TcpStream::connect(relay.local_addr()).await.unwrap();
    let request = format!(
        "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: relay\r\nx-goog-api-key: {RELAY_KEY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PROMPT_PLAIN}",
        PROMPT_PLAIN.len()
    );
    let third = tokio::spawn({
        let addr = relay.local_addr();
        let request = request.clone();
        async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            socket.write_all(request.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            socket.read_to_end(&mut out).await.unwrap();
            String::from_utf8_lossy(&out).into_owned()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "a third connection is not served while two are open"
    );
    assert_eq!(sim.stats().requests, 0);
    drop(held_a);
    let text = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(held_b);
}

#[tokio::test]
async fn a_thousand_connections_at_once_are_all_answered() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |_| {}).await;
    let request = format!(
        "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: relay\r\nx-goog-api-key: {RELAY_KEY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PROMPT_PLAIN}",
        PROMPT_PLAIN.len()
    );
    // Open them all first, then send on each.
    let mut sockets = Vec::with_capacity(1000);
    for _ in 0..1000 {
        sockets.push(TcpStream::connect(relay.local_addr()).await.unwrap());
    }
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let request = request.clone();
            tokio::spawn(async move {
                socket.write_all(request.as_bytes()).await.unwrap();
                let mut out = Vec::new();
                socket.read_to_end(&mut out).await.unwrap();
                String::from_utf8_lossy(&out).into_owned()
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        let text = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("answered")
            .unwrap();
        if text.starts_with("HTTP/1.1 200") {
            ok += 1;
        } else {
            panic!("not a success: {}", text.lines().next().unwrap_or(""));
        }
    }
    assert_eq!(ok, 1000);
    assert_eq!(sim.stats().generate_requests, 1000);
}

#[tokio::test]
async fn garbage_resets_and_stalls_upstream_are_answered_in_the_apis_shape() {
    // Garbage in place of an answer, every time.
    let garbage = Raw::start(|_, _| vec![write("SPDY/9 what\r\n\r\n")]).await;
    let relay =
        relay_in_front_of(garbage.url.clone(), vec!["upstream-key-not-real-01".into()]).await;
    let got = post(generate_url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert!(got.status().is_server_error(), "{}", got.status());
    let body: serde_json::Value = serde_json::from_str(&got.text().await.unwrap()).unwrap();
    assert!(
        body["error"]["code"].is_u64() && body["error"]["status"].is_string(),
        "{body}"
    );
    // (The client classifies an answer that is not HTTP as a protocol error: not retried.)
    assert_eq!(garbage.count("generateContent"), 1);

    // The connection closed before any answer, then a good answer: retried invisibly.
    let reset = Raw::start(|_, i| {
        if i == 0 {
            vec![]
        } else {
            vec![write(answer(
                "200 OK",
                "",
                br#"{"candidates":[{"content":{"parts":[{"text":"ok"}]}}]}"#,
            ))]
        }
    })
    .await;
    let relay = relay_in_front_of(reset.url.clone(), vec!["upstream-key-not-real-01".into()]).await;
    let got = post(generate_url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["x-steadfast-attempts"], "2");

    // An upstream that never answers: the request's deadline ends it with the API's 504.
    let stall = Raw::start(|_, _| vec![Step::Sleep(Duration::from_secs(30))]).await;
    let relay = relay_in_front_of(stall.url.clone(), vec!["upstream-key-not-real-01".into()]).await;
    let got = reqwest::Client::new()
        .post(generate_url(&relay))
        .header("x-goog-api-key", RELAY_KEY)
        .header("x-server-timeout", "0.5")
        .body(PROMPT_PLAIN)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 504);
    assert!(got.text().await.unwrap().contains("DEADLINE_EXCEEDED"));
}

/// An upstream whose stream (of `content_type`) sends `parts` as chunks, 30 ms apart, then a
/// broken chunk and closes: a failure mid-stream. And a relay in front of it.
async fn failing_stream(content_type: &str, parts: &[&str]) -> (Raw, Relay) {
    let mut steps = vec![write(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ))];
    for part in parts {
        steps.push(write(format!("{:x}\r\n{part}\r\n", part.len())));
        steps.push(Step::Sleep(Duration::from_millis(30)));
    }
    steps.push(write("zz\r\n"));
    let upstream = Raw::start(move |_, _| steps.clone()).await;
    let relay = relay_in_front_of(
        upstream.url.clone(),
        vec!["upstream-key-not-real-01".into()],
    )
    .await;
    (upstream, relay)
}

/// A stream that fails after its first chunk ends with the real API's error as the last
/// element of the JSON array (without `alt=sse`): the body stays one valid JSON array, and
/// the answer is never restarted.
#[tokio::test]
async fn a_json_array_stream_that_fails_mid_way_ends_with_an_error_element() {
    let first = "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one \"}]}}]}";
    let (upstream, relay) = failing_stream("application/json", &[first]).await;
    let answer = post(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            relay.base_url()
        ),
        Some(RELAY_KEY),
        PROMPT_PLAIN,
    )
    .await;
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).expect("one valid JSON array");
    let items = value.as_array().unwrap();
    assert_eq!(items.len(), 2, "{text}");
    assert!(items[0]["candidates"].is_array());
    assert!(items[1]["error"]["code"].is_u64(), "{text}");
    assert!(!text.contains("finishReason"), "no made-up ending: {text}");
    assert_eq!(
        upstream.count("streamGenerateContent"),
        1,
        "never restarted"
    );
}

#[tokio::test]
async fn unknown_routes_can_be_refused_and_known_ones_still_go() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |c| c.forward_unknown_routes = false).await;
    let http = reqwest::Client::new();
    let unknown = http
        .get(format!("{}/v1beta/tunedModels", relay.base_url()))
        .header("x-goog-api-key", RELAY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("forward_unknown_routes")
    );
    let files = http
        .get(format!("{}/v1beta/files", relay.base_url()))
        .header("x-goog-api-key", RELAY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(files.status(), 200);
    assert_eq!(sim.stats().requests, 1);
}

#[tokio::test]
async fn every_answer_says_its_request_id_and_the_relays_own_time() {
    let sim = Simulator::start(SimulatorConfig {
        latency: Duration::from_millis(50),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_for(&sim, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = post(generate_url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(answer.status(), 200);
        ids.push(
            answer.headers()["x-steadfast-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let overhead: f64 = answer.headers()["x-steadfast-overhead-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // The upstream's 50 ms are not the relay's: its own time is what is left of the
        // round trip the client measured.
        assert!(
            overhead >= 0.0 && overhead < elapsed - 50.0,
            "{overhead} of {elapsed}"
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "a new id each time: {ids:?}");
    // Refusals carry an id too.
    let refused = post(
        generate_url(&relay),
        Some("not-a-relay-key-000000"),
        PROMPT_PLAIN,
    )
    .await;
    assert!(refused.headers().contains_key("x-steadfast-request-id"));
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_a_408_and_nothing_goes_upstream() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay = relay_for(&sim, |c| c.idle_timeout = Duration::from_millis(300)).await;
    let mut socket = TcpStream::connect(relay.local_addr()).await.unwrap();
    let head = format!(
        "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: relay\r\nx-goog-api-key: {RELAY_KEY}\r\nContent-Length: 100\r\n\r\n{{\"contents\""
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out))
        .await
        .expect("answered and closed")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("idle_timeout"), "{text}");
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn a_slow_reader_gets_the_whole_stream_intact() {
    let sim = Simulator::start(SimulatorConfig {
        stream_pause: Duration::from_millis(1),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_for(&sim, |_| {}).await;
    let long = "word ".repeat(80);
    let body = format!(
        r#"{{"contents":[{{"parts":[{{"text":"{}"}}]}}]}}"#,
        long.trim_end()
    );
    let direct = reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            sim.base_url()
        ))
        .header("x-goog-api-key", &sim.keys()[0])
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut answer = post(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            relay.base_url()
        ),
        Some(RELAY_KEY),
        &body,
    )
    .await;
    let mut text = Vec::new();
    while let Some(chunk) = answer.chunk().await.unwrap() {
        text.extend_from_slice(&chunk);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Byte for byte, but for the answer's id, new for each answer.
    let without_id = |text: &str| {
        text.split("\"responseId\":\"")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    part.split_once('"').map_or(part, |(_, rest)| rest)
                }
            })
            .collect::<Vec<_>>()
            .join("")
    };
    let text = String::from_utf8(text).unwrap();
    assert_eq!(without_id(&text), without_id(&direct));
    assert_eq!(text.len(), direct.len());
}

/// Regression (found by a review): a request whose body has a field named "API key not valid"
/// gets the upstream's 400 echoing that name, which the client took for an invalid key: one
/// request took every key of the pool out of service for good.
#[tokio::test]
async fn a_body_that_makes_the_upstream_echo_invalid_key_words_kills_no_key() {
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "sim-key-one-0000000001".into(),
            "sim-key-two-0000000001".into(),
        ],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let relay = relay_for(&sim, |_| {}).await;
    let hostile = r#"{"contents":[{"parts":[{"text":"hi"}]}],"API key not valid":1}"#;
    let refused = post(generate_url(&relay), Some(RELAY_KEY), hostile).await;
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap();
    assert!(!text.contains("API_KEY_INVALID"), "{text}");
    for _ in 0..4 {
        let answer = post(generate_url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
        assert_eq!(
            answer.status(),
            200,
            "the pool's keys are all still in service"
        );
    }
}

/// Regression (found by a review): a stream that failed in the middle of an event had the
/// error event appended to the half event, so the client read broken JSON instead of the
/// API's error. Now every `data:` line it reads is whole JSON, and the last is the error.
#[tokio::test]
async fn a_stream_that_fails_mid_event_ends_with_whole_events_only() {
    let whole = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one \"}]}}]}\r\n\r\n";
    let half = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"tw";
    let (_upstream, relay) = failing_stream("text/event-stream", &[whole, half]).await;
    let got = post(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?%61lt=sse",
            relay.base_url()
        ),
        Some(RELAY_KEY),
        PROMPT_PLAIN,
    )
    .await;
    assert_eq!(got.status(), 200);
    let text = got.text().await.unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")))
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    assert!(events[0]["candidates"].is_array());
    assert!(events[1]["error"]["code"].is_u64(), "{text}");
}

/// Found by review: an upstream redirect came back with the upstream's 3xx status, no
/// `Location` and no word of why (as would a success the client could not take, with a 2xx);
/// it is a 502 that says why.
#[tokio::test]
async fn an_upstream_redirect_is_a_bad_gateway_that_says_why() {
    let moved = Raw::start(|_, _| {
        vec![write(answer(
            "301 Moved Permanently",
            "Location: https://elsewhere.example/v1beta\r\n",
            b"",
        ))]
    })
    .await;
    let relay = relay_in_front_of(moved.url.clone(), vec!["upstream-key-not-real-01".into()]).await;
    let got = post(generate_url(&relay), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(got.status(), 502);
    let text = got.text().await.unwrap();
    assert!(
        text.contains("elsewhere.example"),
        "the redirect is named: {text}"
    );
}
