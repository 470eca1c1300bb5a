//! The client-level policy against the simulator: retries honouring RetryInfo, key rotation,
//! model fallback, the pre-flight guard, client-side limits, and streams retried only before
//! their first chunk. Real sockets: real clock, millisecond delays (the simulator's "minute" is
//! shortened).

#![allow(clippy::unwrap_used)]

use crate::common::{SimClient, fast};
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use steadfast_gemini::types::GenerateContentRequest;
use steadfast_gemini::{Client, ClientPolicy, ErrorKind, ModelLimits, QuotaScope};
use steadfast_sim::{Faults, OTHER, SimModel, Simulator, SimulatorConfig};

fn model(name: &str) -> SimModel {
    SimModel::new(name)
}

fn config(models: Vec<SimModel>) -> SimulatorConfig {
    SimulatorConfig {
        models,
        ..SimulatorConfig::default()
    }
}

#[tokio::test]
async fn transient_faults_are_retried_until_success() {
    let sim = Simulator::start(SimulatorConfig {
        faults: Faults {
            overloaded: 0.15,
            internal: 0.05,
            ..Faults::default()
        },
        seed: 3,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim
        .client_with(fast().retry_with(|r| r.attempts(8)))
        .unwrap();
    for i in 0..20 {
        client
            .generate("gemini-2.5-flash", &format!("q{i}"))
            .await
            .unwrap();
    }
    let stats = sim.stats();
    assert_eq!(stats.answered, 20);
    assert!(stats.faults > 0, "faults were injected and absorbed");
}

#[tokio::test]
async fn a_per_minute_quota_waits_for_retry_info_and_succeeds() {
    let sim = Simulator::start(SimulatorConfig {
        minute: Duration::from_millis(300),
        ..config(vec![SimModel {
            rpm: Some(2),
            ..model("m")
        }])
    })
    .await
    .unwrap();
    // The client learns the limit from the 429's QuotaFailure: its minute must be the
    // simulator's.
    let client = sim
        .client_with(fast().quota_minute(Duration::from_millis(300)))
        .unwrap();
    let start = Instant::now();
    for i in 0..3 {
        client.generate("m", &format!("q{i}")).await.unwrap();
    }
    // The third call got a 429 whose RetryInfo pointed at the end of the 300 ms window.
    assert_eq!(sim.stats().rate_limited, 1);
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn the_key_pool_skips_invalid_keys_and_keys_out_of_daily_quota() {
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "good-key-000000000001".into(),
            "good-key-000000000002".into(),
        ],
        ..config(vec![SimModel {
            rpd: Some(1),
            ..model("m")
        }])
    })
    .await
    .unwrap();
    let client = Client::builder()
        .base_url(sim.base_url())
        .key("revoked-key-0000000000")
        .key("good-key-000000000001")
        .key("good-key-000000000002")
        .policy(fast())
        .build()
        .unwrap();
    client.generate("m", "first").await.unwrap();
    client.generate("m", "second").await.unwrap();
    let e = client.generate("m", "third").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                ..
            }
        ),
        "{e}"
    );
    let by_key = sim.stats().by_key;
    // The revoked key was tried once for the generate (and once for the guard's model lookup),
    // then never again; each good key answered once and was refused once for the day.
    // The simulator counts every key it does not know in one entry.
    assert_eq!(by_key[OTHER], 2, "{by_key:?}");
    assert_eq!(sim.stats().answered, 2);
}

#[tokio::test]
async fn the_model_chain_falls_back_on_overload_and_unknown_models() {
    let sim = Simulator::start(config(vec![
        SimModel {
            overloaded: true,
            ..model("busy")
        },
        model("spare"),
    ]))
    .await
    .unwrap();
    let client = sim
        .client_with(
            fast()
                .retry_with(|r| r.attempts(2))
                .fallback(["retired", "spare"]),
        )
        .unwrap();
    let answer = client
        .generate_content("busy", &GenerateContentRequest::prompt("hello"))
        .await
        .unwrap();
    assert_eq!(answer.model_version.as_deref(), Some("spare"));
    let by_model = sim.stats().by_model;
    assert!(
        by_model["busy"] >= 2 && by_model[OTHER] >= 1 && by_model["spare"] >= 1,
        "{by_model:?}"
    );
}

#[tokio::test]
async fn per_day_quota_on_every_key_falls_back_to_the_next_model() {
    let sim = Simulator::start(config(vec![
        SimModel {
            rpd: Some(0),
            ..model("pro")
        },
        model("flash"),
    ]))
    .await
    .unwrap();
    let client = sim.client_with(fast().fallback(["flash"])).unwrap();
    let answer = client
        .generate_content("pro", &GenerateContentRequest::prompt("hi"))
        .await
        .unwrap();
    assert_eq!(answer.model_version.as_deref(), Some("flash"));
}

#[tokio::test]
async fn the_preflight_guard_refuses_an_oversized_prompt_without_sending_it() {
    let sim = Simulator::start(config(vec![SimModel {
        input_token_limit: 5,
        ..model("tiny")
    }]))
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    let e = client
        .generate("tiny", "one two three four five six seven")
        .await
        .unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::PromptTooLong {
            tokens: Some(7),
            limit: Some(5)
        }
    );
    assert!(e.to_string().contains("refused before sending"), "{e}");
    assert_eq!(
        sim.stats().answered,
        0,
        "no generate request reached the server"
    );
    // A prompt with fewer characters than the limit costs no extra request: one generate only.
    let before = sim.stats().requests;
    client.generate("tiny", "hi").await.unwrap();
    assert_eq!(sim.stats().requests, before + 1);
}

#[tokio::test]
async fn the_guard_is_off_with_the_policy_off() {
    let sim = Simulator::start(config(vec![SimModel {
        input_token_limit: 5,
        ..model("tiny")
    }]))
    .await
    .unwrap();
    let client = sim.client_with(ClientPolicy::off()).unwrap();
    let e = client
        .generate("tiny", "one two three four five six seven")
        .await
        .unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::PromptTooLong {
            tokens: Some(7),
            limit: Some(5)
        }
    );
    assert!(
        !e.to_string().contains("refused before sending"),
        "the server refused it: {e}"
    );
    assert_eq!(sim.stats().requests, 1);
}

#[tokio::test]
async fn client_side_limits_hold_requests_back() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim
        .client_with(fast().limits(
            "gemini-2.5-flash",
            ModelLimits {
                // Two generate requests and the guard's one model look-up.
                rpd: Some(3),
                tpm: Some(50),
                rpm: None,
            },
        ))
        .unwrap();
    client.generate("gemini-2.5-flash", "a").await.unwrap();
    client.generate("gemini-2.5-flash", "b").await.unwrap();
    // The fourth request of the day (third generate) waits for the client-side limiter instead of being sent.
    let third = tokio::time::timeout(
        Duration::from_millis(200),
        client.generate("gemini-2.5-flash", "c"),
    )
    .await;
    assert!(third.is_err(), "still waiting for the daily limit");
    assert_eq!(sim.stats().answered, 2);
    // A prompt heavier than the whole tokens-per-minute limit is refused at once.
    let other = sim
        .client_with(fast().limits(
            "gemini-2.5-flash",
            ModelLimits {
                tpm: Some(3),
                ..ModelLimits::default()
            },
        ))
        .unwrap();
    let e = other
        .generate("gemini-2.5-flash", "one two three four five")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Policy(steadfast::Error::RateLimited { retry_after: None })
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_stream_is_retried_before_its_first_chunk() {
    let sim = Simulator::start(SimulatorConfig {
        faults: Faults {
            overloaded: 0.5,
            ..Faults::default()
        },
        seed: 11,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim
        .client_with(fast().retry_with(|r| r.attempts(10)))
        .unwrap();
    for i in 0..5 {
        let prompt = format!("stream number {i}");
        let stream = client
            .stream_generate_content("gemini-2.5-flash", &GenerateContentRequest::prompt(&prompt))
            .await
            .unwrap();
        let text: String = stream
            .map(|c| c.unwrap().text())
            .collect::<Vec<_>>()
            .await
            .concat();
        assert_eq!(text, format!("Simulated answer to: {prompt}"));
    }
    assert!(sim.stats().faults > 0);
}

#[tokio::test]
async fn an_error_after_the_first_chunk_is_not_retried_and_nothing_is_duplicated() {
    let sim = Simulator::start(SimulatorConfig {
        faults: Faults {
            stream_error: 1.0,
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    let stream = client
        .stream_generate_content(
            "gemini-2.5-flash",
            &GenerateContentRequest::prompt("one two three four"),
        )
        .await
        .unwrap();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 2);
    assert!(items[0].as_ref().unwrap().text().starts_with("Simulated"));
    assert_eq!(
        *items[1].as_ref().unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    // One generate request (plus the guard's one model lookup): no retry after a chunk.
    assert_eq!(sim.stats().by_model["gemini-2.5-flash"], 2);
}

#[tokio::test]
async fn a_403_about_a_file_fails_that_request_only() {
    // Issue 9, item 11: a 403 about one file used to lock a single-key client out of the model
    // and its fallback for an hour.
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim
        .client_with(fast().fallback(["gemini-2.5-pro"]))
        .unwrap();
    let e = client
        .generate("gemini-2.5-flash", "summarise [sim:file]")
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(
        sim.stats().by_model.get("gemini-2.5-pro"),
        None,
        "a request-level refusal does not fall back"
    );
    // The key is still in the pool: the next call is sent and answered.
    let before = sim.stats().answered;
    client.generate("gemini-2.5-flash", "hi").await.unwrap();
    assert_eq!(sim.stats().answered, before + 1);
}

#[tokio::test]
async fn a_403_about_the_key_takes_it_out_of_the_pool() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let client = sim.client_with(fast()).unwrap();
    let e = client
        .generate("gemini-2.5-flash", "[sim:leaked]")
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::KeyRejected, "{e}");
    // The only key is out of the pool, for every model: the next calls fail at once, without a
    // request, with the error that explains why.
    let before = sim.stats().requests;
    for model in ["gemini-2.5-flash", "gemini-2.5-pro"] {
        let again = client.generate(model, "hi").await.unwrap_err();
        assert_eq!(*again.kind(), ErrorKind::KeyRejected);
    }
    assert_eq!(sim.stats().requests, before);
}

#[tokio::test]
async fn the_preflight_count_is_not_repeated_when_the_call_moves_to_another_project() {
    // One request per key per 300 ms "minute"; prompts over 5 characters are counted first.
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "first-key-0000000000001".into(),
            "second-key-000000000002".into(),
        ],
        minute: Duration::from_millis(300),
        ..config(vec![SimModel {
            rpm: Some(1),
            input_token_limit: 5,
            ..model("m")
        }])
    })
    .await
    .unwrap();
    let client = Client::builder()
        .base_url(sim.base_url())
        .key("first-key-0000000000001")
        .key("second-key-000000000002")
        .policy(fast().quota_minute(Duration::from_millis(300)))
        .build()
        .unwrap();
    // The guard's look-up and a generate on the first project, a generate on the second: both
    // spent their minute, which the client does not know yet.
    client.generate("m", "hi").await.unwrap();
    client.generate("m", "yo").await.unwrap();
    assert_eq!(sim.stats().by_model["m"], 3);
    // Longer than 5 characters: counted once (on the second project, which sent less), refused
    // for the minute there, sent at once through the first project, refused there too, then
    // sent again after the RetryInfo without counting again.
    client.generate("m", "aa bb cc dd").await.unwrap();
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(
        stats.by_model["m"],
        3 + 1 + 2 + 1,
        "one count, two refused generates, one answered"
    );
    let counters = client.stats().total();
    assert_eq!(counters.rerouted, 1);
    assert_eq!(counters.rate_limited_per_minute, 2);
}
