//! The API key never appears in a log line, an error message, a URL or a `Debug` output, even in
//! a run full of faults.

#![allow(clippy::unwrap_used)]

use futures_util::StreamExt;

use std::time::Duration;
use steadfast_gemini::types::GenerateContentRequest;
use steadfast_gemini::{Client, ClientPolicy};
use steadfast_sim::{Faults, SimModel, Simulator, SimulatorConfig};

const SECRET: &str = "sim-secret-key-DO-NOT-LEAK-7Qx9-000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_appears_nowhere() {
    // The binary's one global log: every test's events, this one's among them.
    let sink = crate::common::global_log();

    let config = SimulatorConfig {
        keys: vec![SECRET.to_owned()],
        models: vec![SimModel {
            rpm: Some(5),
            input_token_limit: 50,
            ..SimModel::new("gemini-2.5-flash")
        }],
        faults: Faults {
            internal: 0.15,
            overloaded: 0.15,
            dropped: 0.1,
            garbage: 0.1,
            stream_error: 0.3,
            slow: 0.1,
            slow_by: Duration::from_millis(300),
        },
        seed: 7,
        ..SimulatorConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::builder()
        .base_url(sim.base_url())
        .key(SECRET)
        .request_timeout(Duration::from_millis(200))
        .policy(ClientPolicy::default().retry_with(|r| {
            r.base(Duration::from_millis(1))
                .max_delay(Duration::from_millis(5))
                .max_hint(Duration::from_millis(1))
        }))
        .build()
        .unwrap();
    let mut seen = vec![
        format!("{client:?}"),
        format!("{:?}", client.keys()),
        format!("{}", client.keys()[0]),
    ];
    for i in 0..30 {
        let prompt = if i % 7 == 0 {
            "word ".repeat(60)
        } else {
            format!("question {i}")
        };
        match client.generate("gemini-2.5-flash", &prompt).await {
            Ok(text) => seen.push(text),
            Err(e) => seen.extend([e.to_string(), format!("{e:?}")]),
        }
        match client
            .stream_generate_content("gemini-2.5-flash", &GenerateContentRequest::prompt("s t r"))
            .await
        {
            Ok(stream) => {
                for item in stream.collect::<Vec<_>>().await {
                    if let Err(e) = item {
                        seen.extend([e.to_string(), format!("{e:?}")]);
                    }
                }
            }
            Err(e) => seen.extend([e.to_string(), format!("{e:?}")]),
        }
    }
    let wrong = Client::builder()
        .base_url(sim.base_url())
        .key(format!("{SECRET}-wrong"))
        .policy(ClientPolicy::off())
        .build()
        .unwrap();
    let e = wrong.generate("gemini-2.5-flash", "x").await.unwrap_err();
    seen.extend([e.to_string(), format!("{e:?}")]);

    let logs = sink.text();
    assert!(!logs.is_empty(), "the run produced log lines to check");
    let errors = seen.iter().filter(|s| s.starts_with("Gemini ")).count();
    assert!(errors >= 10, "the run produced errors to check: {errors}");
    // No part of the key long enough to identify it: its first 12 characters, or the whole.
    for needle in [SECRET, &SECRET[..12], &SECRET[8..20]] {
        assert!(!logs.contains(needle), "key in logs");
        for s in &seen {
            assert!(!s.contains(needle), "key in: {s}");
        }
    }
}

/// Regression (second probe): a key holding a control character was accepted by `build`, then
/// every call failed as a transport error ("failed to parse header value"). It is now a
/// configuration error at `build`, which names the key by its position, never by its text.
#[test]
fn a_key_that_cannot_go_in_a_header_is_refused_at_build() {
    for bad in [
        "test-key\nproject-a-0001",
        "test-key-\u{7f}-0001",
        "test\0key-0001",
    ] {
        let error = match Client::builder()
            .key("test-key-project-a-0001")
            .key(bad)
            .build()
        {
            Ok(_) => panic!("built with {bad:?}"),
            Err(e) => e,
        };
        assert_eq!(*error.kind(), steadfast_gemini::ErrorKind::Configuration);
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("API key number 2"), "{shown}");
        assert!(
            !shown.contains("project-a") && !shown.contains("0001"),
            "{shown}"
        );
    }
    // Surrounding whitespace is trimmed, as before; such a key is fine.
    assert!(
        Client::builder()
            .key(" test-key-project-a-0001\n")
            .build()
            .is_ok()
    );
}
