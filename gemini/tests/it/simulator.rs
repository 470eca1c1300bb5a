//! End to end against the local simulator: every endpoint and every error kind the simulator can
//! produce, with the client policy off so that each answer is seen as the server sent it. Real
//! sockets, so these run on the real clock with millisecond delays.

#![allow(clippy::unwrap_used)]

use crate::common::SimClient;
use futures_util::StreamExt;
use std::time::Duration;
use steadfast_gemini::types::*;
use steadfast_gemini::{Client, ClientPolicy, ErrorKind, QuotaScope};
use steadfast_sim::{Faults, SIM_KEY, SimModel, Simulator, SimulatorConfig};

async fn start(config: SimulatorConfig) -> (Simulator, Client) {
    let sim = Simulator::start(config).await.unwrap();
    let client = sim.client_with(ClientPolicy::off()).unwrap();
    (sim, client)
}

fn with_model(model: SimModel) -> SimulatorConfig {
    let mut config = SimulatorConfig::default();
    config.models.insert(0, model);
    config
}

#[tokio::test]
async fn generate_returns_deterministic_text_and_is_counted() {
    let (sim, client) = start(SimulatorConfig::default()).await;
    let a = client
        .generate("gemini-2.5-flash", "What is Rust?")
        .await
        .unwrap();
    let b = client
        .generate("models/gemini-2.5-flash", "What is Rust?")
        .await
        .unwrap();
    assert_eq!(a, b);
    assert!(a.contains("What is Rust?"));
    let stats = sim.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.by_key[SIM_KEY], 2);
    assert_eq!(stats.by_model["gemini-2.5-flash"], 2);
    let full = client
        .generate_content(
            "gemini-2.5-flash",
            &GenerateContentRequest::prompt("one two three"),
        )
        .await
        .unwrap();
    assert_eq!(full.candidates[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(full.usage_metadata.unwrap().prompt_token_count, Some(3));
    assert_eq!(full.model_version.as_deref(), Some("gemini-2.5-flash"));
}

#[tokio::test]
async fn count_tokens_takes_contents_or_a_whole_request() {
    let (_sim, client) = start(SimulatorConfig::default()).await;
    let by_contents = CountTokensRequest {
        contents: vec![Content::user("a b c d")],
        ..Default::default()
    };
    assert_eq!(
        client
            .count_tokens("gemini-2.5-flash", &by_contents)
            .await
            .unwrap()
            .total_tokens,
        4
    );
    let mut request = GenerateContentRequest::prompt("a b");
    request.system_instruction = Some(Content::system("be brief"));
    let whole = CountTokensRequest {
        generate_content_request: Some(GenerateContentRequestWithModel {
            model: "models/gemini-2.5-flash".into(),
            request,
        }),
        ..Default::default()
    };
    assert_eq!(
        client
            .count_tokens("gemini-2.5-flash", &whole)
            .await
            .unwrap()
            .total_tokens,
        4
    );
}

#[tokio::test]
async fn embeddings_single_and_batched() {
    let (_sim, client) = start(SimulatorConfig::default()).await;
    let one = EmbedContentRequest {
        content: Content::user("hello"),
        ..Default::default()
    };
    let single = client
        .embed_content("text-embedding-004", &one)
        .await
        .unwrap();
    assert_eq!(
        single.embedding.values.len(),
        768,
        "text-embedding-004's size"
    );
    let batch = BatchEmbedContentsRequest {
        requests: vec![
            one.clone(),
            EmbedContentRequest {
                content: Content::user("bye"),
                ..Default::default()
            },
        ],
    };
    let many = client
        .batch_embed_contents("text-embedding-004", &batch)
        .await
        .unwrap();
    assert_eq!(many.embeddings.len(), 2);
    assert_eq!(many.embeddings[0], single.embedding);
}

#[tokio::test]
async fn models_get_and_list_every_page() {
    let (_sim, client) = start(SimulatorConfig {
        page_size: 2,
        ..SimulatorConfig::default()
    })
    .await;
    let model = client.get_model("gemini-2.5-pro").await.unwrap();
    assert_eq!(model.name, "models/gemini-2.5-pro");
    assert_eq!(model.input_token_limit, Some(1_048_576));
    assert_eq!(model.output_token_limit, Some(65_536));
    // Five models, two per page: the stream follows the page tokens.
    let names: Vec<String> = client
        .list_models()
        .map(|m| m.unwrap().name)
        .collect()
        .await;
    assert_eq!(
        names,
        [
            "models/gemini-2.5-flash",
            "models/gemini-2.5-pro",
            "models/gemini-2.0-flash",
            "models/gemini-embedding-001",
            "models/text-embedding-004"
        ]
    );
}

#[tokio::test]
async fn a_stream_delivers_the_answer_in_chunks_and_a_final_finish_reason() {
    let (_sim, client) = start(SimulatorConfig::default()).await;
    let whole = client
        .generate("gemini-2.5-flash", "stream this answer please")
        .await
        .unwrap();
    let stream = client
        .stream_generate_content(
            "gemini-2.5-flash",
            &GenerateContentRequest::prompt("stream this answer please"),
        )
        .await
        .unwrap();
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.len() >= 3, "{}", chunks.len());
    let chunks: Vec<GenerateContentResponse> = chunks.into_iter().map(Result::unwrap).collect();
    let text: String = chunks.iter().map(GenerateContentResponse::text).collect();
    assert_eq!(text, whole);
    // Like the real API: the last chunk carries text too, with the finish reason and the
    // whole usage; every chunk names the response and the model.
    let last = chunks.last().unwrap();
    assert_eq!(last.candidates[0].finish_reason, Some(FinishReason::Stop));
    assert!(!last.text().is_empty());
    assert!(last.usage_metadata.as_ref().unwrap().candidates_token_count > Some(0));
    let id = chunks[0].response_id.clone().unwrap();
    assert!(chunks.iter().all(|c| c.response_id.as_ref() == Some(&id)
        && c.model_version.as_deref() == Some("gemini-2.5-flash")
        && c.usage_metadata.is_some()));
}

#[tokio::test]
async fn an_error_inside_the_stream_ends_it_after_the_chunks_already_sent() {
    let config = SimulatorConfig {
        faults: Faults {
            stream_error: 1.0,
            ..Faults::default()
        },
        ..SimulatorConfig::default()
    };
    let (_sim, client) = start(config).await;
    let stream = client
        .stream_generate_content(
            "gemini-2.5-flash",
            &GenerateContentRequest::prompt("a b c d e f"),
        )
        .await
        .unwrap();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 2, "one chunk, then the error, then nothing");
    assert!(items[0].is_ok());
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Unavailable);
    assert!(e.in_stream());
}

#[tokio::test]
async fn unknown_key_unknown_model_and_missing_key() {
    let (sim, _client) = start(SimulatorConfig::default()).await;
    let wrong = Client::builder()
        .base_url(sim.base_url())
        .key("not-a-known-key-00000000")
        .policy(ClientPolicy::off())
        .build()
        .unwrap();
    assert_eq!(
        *wrong
            .generate("gemini-2.5-flash", "hi")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidApiKey
    );
    let client = sim.client().unwrap();
    assert_eq!(
        *client
            .generate("gemini-pro", "hi")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ModelNotFound
    );
    // The client always sends a key; a bare request shows the simulator's answer without one.
    let bare = reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            sim.base_url()
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 403);
    let e = steadfast_gemini::Error::from_body(403, &bare.bytes().await.unwrap());
    assert_eq!(*e.kind(), ErrorKind::KeyRejected);
}

#[tokio::test]
async fn a_prompt_over_the_input_limit_is_prompt_too_long_with_its_numbers() {
    let (_sim, client) = start(with_model(SimModel {
        input_token_limit: 5,
        ..SimModel::new("tiny")
    }))
    .await;
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
}

#[tokio::test]
async fn quotas_per_minute_per_day_and_zero() {
    let (sim, client) = start(with_model(SimModel {
        rpm: Some(2),
        ..SimModel::new("rpm2")
    }))
    .await;
    client.generate("rpm2", "a").await.unwrap();
    client.generate("rpm2", "b").await.unwrap();
    let e = client.generate("rpm2", "c").await.unwrap_err();
    let ErrorKind::RateLimited {
        scope: QuotaScope::PerMinute,
        retry_after: Some(wait),
    } = e.kind().clone()
    else {
        panic!("{e}")
    };
    assert!(
        wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert_eq!(sim.stats().rate_limited, 1);

    let (_sim, client) = start(with_model(SimModel {
        rpd: Some(1),
        ..SimModel::new("rpd1")
    }))
    .await;
    client.generate("rpd1", "a").await.unwrap();
    let e = client.generate("rpd1", "b").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                retry_after: Some(_)
            }
        ),
        "{e}"
    );

    let (_sim, client) = start(with_model(SimModel {
        tpm: Some(5),
        ..SimModel::new("tpm5")
    }))
    .await;
    client.generate("tpm5", "a b c").await.unwrap();
    let e = client.generate("tpm5", "d e f").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::RateLimited {
                scope: QuotaScope::PerMinute,
                ..
            }
        ),
        "{e}"
    );

    let (_sim, client) = start(with_model(SimModel {
        rpd: Some(0),
        ..SimModel::new("nope")
    }))
    .await;
    assert_eq!(
        *client.generate("nope", "a").await.unwrap_err().kind(),
        ErrorKind::NoQuota
    );
}

/// The kind of the error a generate call gets from a simulator with `faults`.
async fn kind_under(faults: Faults) -> ErrorKind {
    let (_sim, client) = start(SimulatorConfig {
        faults,
        ..SimulatorConfig::default()
    })
    .await;
    client
        .generate("gemini-2.5-flash", "a")
        .await
        .unwrap_err()
        .kind()
        .clone()
}

#[tokio::test]
async fn injected_faults_are_classified() {
    let none = Faults::default;
    let cases = [
        (
            Faults {
                internal: 1.0,
                ..none()
            },
            ErrorKind::Internal,
        ),
        (
            Faults {
                overloaded: 1.0,
                ..none()
            },
            ErrorKind::Unavailable,
        ),
        (
            Faults {
                garbage: 1.0,
                ..none()
            },
            ErrorKind::Undecodable,
        ),
    ];
    for (faults, expected) in cases {
        assert_eq!(kind_under(faults).await, expected);
    }
    let dropped = kind_under(Faults {
        dropped: 1.0,
        ..none()
    })
    .await;
    assert!(matches!(dropped, ErrorKind::Transport(_)), "{dropped:?}");
    let (sim, _) = start(SimulatorConfig {
        faults: Faults {
            slow: 1.0,
            slow_by: Duration::from_secs(5),
            ..none()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let impatient = Client::builder()
        .base_url(sim.base_url())
        .key(SIM_KEY)
        .request_timeout(Duration::from_millis(100))
        .policy(ClientPolicy::off())
        .build()
        .unwrap();
    let slow = impatient
        .generate("gemini-2.5-flash", "a")
        .await
        .unwrap_err();
    assert_eq!(
        *slow.kind(),
        ErrorKind::Transport(steadfast::classify::Transport::Timeout)
    );
    let (_s, client) = start(with_model(SimModel {
        overloaded: true,
        ..SimModel::new("busy")
    }))
    .await;
    assert_eq!(
        *client.generate("busy", "a").await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
}

#[tokio::test]
async fn fault_draws_are_deterministic_for_a_seed() {
    let run = || async {
        let c = SimulatorConfig {
            faults: Faults {
                internal: 0.3,
                overloaded: 0.3,
                ..Faults::default()
            },
            seed: 42,
            ..SimulatorConfig::default()
        };
        let (_s, client) = start(c).await;
        let mut kinds = Vec::new();
        for i in 0..20 {
            kinds.push(
                client
                    .generate("gemini-2.5-flash", &format!("q{i}"))
                    .await
                    .map_err(|e| e.kind().name())
                    .err(),
            );
        }
        kinds
    };
    let first = run().await;
    assert_eq!(first, run().await);
    assert!(first.iter().any(Option::is_some) && first.iter().any(Option::is_none));
}

#[tokio::test]
async fn misconfiguration_is_a_clear_error_before_sending() {
    let e = Client::builder().build().unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Configuration);
    assert!(e.to_string().contains("GEMINI_API_KEY"), "{e}");
    let e = Client::builder()
        .key("k")
        .base_url("ftp://x")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("http://"), "{e}");
    let (_s, client) = start(SimulatorConfig::default()).await;
    let e = client.generate("../../etc", "a").await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Configuration);
}

#[tokio::test]
async fn every_other_error_kind_end_to_end() {
    let (_sim, client) = start(SimulatorConfig::default()).await;
    let kind = |prompt: &'static str| {
        let client = client.clone();
        async move {
            client
                .generate("gemini-2.5-flash", prompt)
                .await
                .unwrap_err()
                .kind()
                .clone()
        }
    };
    assert_eq!(
        kind("please [sim:invalid]").await,
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind("[sim:precondition]").await,
        ErrorKind::FailedPrecondition
    );
    assert_eq!(kind("[sim:deadline]").await, ErrorKind::DeadlineExceeded);
    assert_eq!(kind("[sim:permission]").await, ErrorKind::PermissionDenied);
    assert_eq!(
        kind("[sim:exhausted]").await,
        ErrorKind::RateLimited {
            scope: QuotaScope::Unknown,
            retry_after: None
        }
    );
    let blocked = client
        .generate("gemini-2.5-flash", "[sim:blocked]")
        .await
        .unwrap_err();
    assert_eq!(
        *blocked.kind(),
        ErrorKind::PromptBlocked {
            reason: "SAFETY".into()
        }
    );
    assert!(blocked.to_string().contains("SAFETY"), "{blocked}");
    let invalid = client
        .generate("gemini-2.5-flash", "[sim:invalid]")
        .await
        .unwrap_err();
    let violation = &invalid.status().unwrap().details.bad_request[0];
    assert_eq!(violation.field.as_deref(), Some("contents[0].parts[0]"));
}

#[test]
fn from_env_without_the_variable_is_a_clear_error() {
    // Only checkable where the variable is unset (CI); with a real key set, the client builds.
    match std::env::var("GEMINI_API_KEY") {
        Err(_) => {
            let e = Client::from_env().unwrap_err();
            assert_eq!(*e.kind(), ErrorKind::Configuration);
            assert!(e.to_string().contains("GEMINI_API_KEY is not set"), "{e}");
        }
        Ok(_) => assert!(Client::from_env().is_ok()),
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_connect_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .key(SIM_KEY)
        .policy(ClientPolicy::off())
        .build()
        .unwrap();
    let e = client.generate("gemini-2.5-flash", "a").await.unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::Transport(steadfast::classify::Transport::Connect),
        "{e}"
    );
}

#[tokio::test]
async fn keys_of_one_project_share_its_quota_and_other_keys_do_not() {
    let mut model = SimModel::new("gemini-2.5-flash");
    model.rpm = Some(2);
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "alpha-key-1".into(),
            "alpha-key-2".into(),
            "solo-key-3".into(),
        ],
        projects: vec![vec!["alpha-key-1".into(), "alpha-key-2".into()]],
        models: vec![model],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = |key: &str| {
        Client::builder()
            .base_url(sim.base_url())
            .key(key)
            .policy(ClientPolicy::off())
            .build()
            .unwrap()
    };
    let (one, two, solo) = (
        client("alpha-key-1"),
        client("alpha-key-2"),
        client("solo-key-3"),
    );
    one.generate("gemini-2.5-flash", "a").await.unwrap();
    two.generate("gemini-2.5-flash", "b").await.unwrap();
    let refused = one.generate("gemini-2.5-flash", "c").await.unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::RateLimited { .. }),
        "two keys of one project used its 2 a minute: {refused}"
    );
    let refused = two.generate("gemini-2.5-flash", "d").await.unwrap_err();
    assert!(matches!(refused.kind(), ErrorKind::RateLimited { .. }));
    solo.generate("gemini-2.5-flash", "e").await.unwrap();
    assert_eq!(sim.stats().rate_limited, 2);
}
