//! Every real error body in `tests/fixtures/` (copied from `shared/gemini-errors/`) is classified
//! with the verdict its README gives.

#![allow(clippy::unwrap_used)]

use std::time::Duration;
use steadfast::classify::{Classify, RetryOn, Verdict};
use steadfast_gemini::{Error, ErrorKind, QuotaScope};

/// The error a fixture file describes, built the way the client meets it.
fn load(name: &str) -> Error {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = match &fixture["body"] {
        serde_json::Value::String(raw) => raw.clone().into_bytes(),
        other => serde_json::to_vec(other).unwrap(),
    };
    if fixture["in_stream"].as_bool() == Some(true) {
        Error::from_stream_event(&body)
    } else {
        Error::from_body(fixture["http_status"].as_u64().unwrap() as u16, &body)
    }
}

/// Whether `#[resilient(on = [429, 500, 503])]` would retry it.
fn retried(e: &Error) -> bool {
    let on: RetryOn = "429, 500, 503".parse().unwrap();
    Verdict::of_error(&Err::<(), _>(e.clone())).is_retryable(&on)
}

/// A fixture file and the checks its README verdict implies.
type Case = (&'static str, fn(&Error));

const CASES: &[Case] = &[
    ("01-400-api-key-invalid-array.json", |e| {
        assert_eq!(*e.kind(), ErrorKind::InvalidApiKey);
        assert!(!retried(e));
    }),
    ("04-400-invalid-argument-unknown-field-v1.json", |e| {
        assert_eq!(*e.kind(), ErrorKind::InvalidArgument);
        let violation = &e.status().unwrap().details.bad_request[0];
        assert!(
            violation.field.is_none()
                && violation
                    .description
                    .as_deref()
                    .unwrap()
                    .contains("system_instruction")
        );
        assert!(!retried(e));
    }),
    (
        "06-400-invalid-argument-input-token-limit-in-stream.json",
        |e| {
            assert_eq!(
                *e.kind(),
                ErrorKind::PromptTooLong {
                    tokens: Some(132_478),
                    limit: Some(131_072)
                }
            );
            assert!(e.in_stream());
            assert_eq!(e.code(), Some(400));
            assert!(!retried(e));
        },
    ),
    ("09-403-permission-denied-unregistered-callers.json", |e| {
        // No key reached the service: a 403 about the key.
        assert_eq!(*e.kind(), ErrorKind::KeyRejected);
        assert!(!retried(e));
    }),
    ("12-404-not-found-model-gemini-pro.json", |e| {
        assert_eq!(*e.kind(), ErrorKind::ModelNotFound);
        assert!(!retried(e));
    }),
    ("14-429-quota-tpm-free-tier-retryinfo.json", |e| {
        assert_eq!(
            *e.kind(),
            ErrorKind::RateLimited {
                scope: QuotaScope::PerMinute,
                retry_after: Some(Duration::from_secs(26))
            }
        );
        assert!(retried(e));
        assert_eq!(e.failure().unwrap().hint(), Some(Duration::from_secs(26)));
        let v = &e.status().unwrap().details.quota_violations[0];
        assert_eq!(v.quota_value.as_deref(), Some("250000"));
        assert_eq!(
            v.quota_dimensions.get("model").map(String::as_str),
            Some("gemini-2.5-flash")
        );
    }),
    ("16-429-quota-rpd-free-tier-please-retry-in.json", |e| {
        assert_eq!(
            *e.kind(),
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                retry_after: Some(Duration::from_secs(17))
            }
        );
        assert!(e.failure().unwrap().is_terminal());
        assert!(
            !retried(e),
            "a per-day quota is not retried even with a 17 s RetryInfo"
        );
    }),
    ("17-429-resource-exhausted-bare.json", |e| {
        assert_eq!(
            *e.kind(),
            ErrorKind::RateLimited {
                scope: QuotaScope::Unknown,
                retry_after: None
            }
        );
        assert!(retried(e));
    }),
    ("19-500-internal.json", |e| {
        assert_eq!(*e.kind(), ErrorKind::Internal);
        assert!(retried(e));
    }),
    ("21-503-unavailable-overloaded.json", |e| {
        assert_eq!(*e.kind(), ErrorKind::Unavailable);
        assert!(retried(e));
    }),
    ("22-503-unavailable-overloaded-in-stream.json", |e| {
        assert_eq!(*e.kind(), ErrorKind::Unavailable);
        assert!(e.in_stream());
        assert_eq!(e.code(), Some(503), "the verdict of its own code");
        assert!(retried(e));
    }),
];

#[test]
fn every_fixture_gets_its_verdict() {
    for (name, check) in CASES {
        let e = load(name);
        check(&e);
        let shown = e.to_string();
        assert!(shown.starts_with("Gemini "), "{name}: {shown}");
    }
}

#[test]
fn no_fixture_is_left_untested() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert!(
                CASES.iter().any(|(n, _)| *n == name),
                "{name} has no expected verdict"
            );
        }
    }
}

#[test]
fn a_zero_limit_is_no_quota_and_terminal() {
    let by_value =
        br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[
        {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[
          {"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"0"}]},
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"5s"}]}}"#;
    let by_message = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded for metric: generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro"}}"#;
    for body in [&by_value[..], &by_message[..]] {
        let e = Error::from_body(429, body);
        assert_eq!(*e.kind(), ErrorKind::NoQuota);
        assert!(!retried(&e));
    }
}

#[test]
fn non_json_and_empty_bodies_are_classified_from_the_status() {
    let html = Error::from_body(503, b"<html><body>Service Unavailable</body></html>");
    assert_eq!(*html.kind(), ErrorKind::Unavailable);
    assert!(html.to_string().contains("Service Unavailable"));
    assert!(retried(&html));
    let empty = Error::from_body(500, b"");
    assert_eq!(*empty.kind(), ErrorKind::Internal);
    assert!(empty.to_string().contains("(empty body)"));
    let long = Error::from_body(502, "x".repeat(10_000).as_bytes());
    assert!(long.to_string().len() < 1000, "the body is kept truncated");
    let garbage_event = Error::from_stream_event(b"{\"candidates\": [");
    assert_eq!(*garbage_event.kind(), ErrorKind::Undecodable);
}

#[test]
fn a_retry_in_message_is_the_hint_when_retry_info_is_missing() {
    let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Please retry in 3.5s."}}"#;
    let e = Error::from_body(429, body);
    assert_eq!(e.retry_after(), Some(Duration::from_millis(3500)));
}

mod resilient_on_gemini_errors {
    use super::*;
    use std::sync::Mutex;
    use steadfast::resilient;
    use tokio::time::Instant;

    #[resilient(on = [429, 500, 503], budget = false)]
    async fn ask(answers: &Mutex<Vec<Error>>) -> Result<&'static str, Error> {
        let mut answers = answers.lock().unwrap();
        if answers.is_empty() {
            Ok("answer")
        } else {
            Err(answers.remove(0))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn per_minute_quota_waits_for_retry_info_then_succeeds() {
        let answers = Mutex::new(vec![load("14-429-quota-tpm-free-tier-retryinfo.json")]);
        let start = Instant::now();
        assert_eq!(ask(&answers).await.unwrap(), "answer");
        assert_eq!(start.elapsed(), Duration::from_secs(26));
    }

    #[tokio::test(start_paused = true)]
    async fn per_day_quota_is_not_retried_even_with_short_retry_info() {
        let answers = Mutex::new(vec![load(
            "16-429-quota-rpd-free-tier-please-retry-in.json",
        )]);
        let start = Instant::now();
        let e = ask(&answers).await.unwrap_err();
        assert!(matches!(
            e.kind(),
            ErrorKind::RateLimited {
                scope: QuotaScope::PerDay,
                ..
            }
        ));
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn overloaded_then_internal_then_success() {
        let answers = Mutex::new(vec![
            load("21-503-unavailable-overloaded.json"),
            load("19-500-internal.json"),
        ]);
        assert_eq!(ask(&answers).await.unwrap(), "answer");
    }
}

#[test]
fn invalid_utf8_in_a_json_error_body_keeps_what_parses() {
    let mut body =
        br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota "#.to_vec();
    body.extend_from_slice(b"\xff\xfe exceeded");
    body.extend_from_slice(br#"","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#);
    let e = Error::from_body(429, &body);
    assert_eq!(
        *e.kind(),
        ErrorKind::RateLimited {
            scope: QuotaScope::PerMinute,
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(e.message().unwrap().contains("exceeded"), "{e}");
    assert!(retried(&e));
}

#[test]
fn an_in_stream_error_with_a_string_code_is_classified_by_its_status() {
    let string_code =
        br#"{"error":{"code":"503","message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
    let garbage_code =
        br#"{"error":{"code":"soon","message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
    let no_code = br#"{"error":{"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#;
    for body in [&string_code[..], &garbage_code[..]] {
        let e = Error::from_stream_event(body);
        assert_eq!(*e.kind(), ErrorKind::Unavailable, "{e}");
        assert_eq!(e.code(), Some(503));
        assert!(retried(&e));
    }
    let e = Error::from_stream_event(no_code);
    assert!(matches!(e.kind(), ErrorKind::RateLimited { .. }), "{e}");
    let nothing = Error::from_stream_event(br#"{"error":{"message":"?"}}"#);
    assert_eq!(*nothing.kind(), ErrorKind::Undecodable);
}

#[test]
fn a_403_is_about_the_key_only_when_it_says_so() {
    let about_key = [
        r#"{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}"#,
        r#"{"error":{"code":403,"message":"Generative Language API has not been used in project 123 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}"#,
        r#"{"error":{"code":403,"message":"Requests from this referer are blocked.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_HTTP_REFERRER_BLOCKED"}]}}"#,
    ];
    for body in about_key {
        assert_eq!(
            *Error::from_body(403, body.as_bytes()).kind(),
            ErrorKind::KeyRejected,
            "{body}"
        );
    }
    let about_request = [
        r#"{"error":{"code":403,"message":"You do not have permission to access the File abc123 or it may not exist.","status":"PERMISSION_DENIED"}}"#,
        r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#,
        "<html>403 Forbidden</html>",
    ];
    for body in about_request {
        let e = Error::from_body(403, body.as_bytes());
        assert_eq!(*e.kind(), ErrorKind::PermissionDenied, "{body}");
        assert!(!retried(&e));
    }
}

/// Regression (found by a review of the relay): a 400 that echoes a name the request gave was
/// classified as an invalid key when the name was "API key not valid", so one request from
/// anyone took every key of the pool out of service.
#[test]
fn a_400_that_echoes_the_words_of_an_invalid_key_is_about_the_request() {
    let echoed = br#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"API key not valid\": Cannot find field.","status":"INVALID_ARGUMENT"}}"#;
    assert_eq!(
        *Error::from_body(400, echoed).kind(),
        ErrorKind::InvalidArgument
    );
    let file = br#"{"error":{"code":403,"message":"You do not have permission to access the File api key or it may not exist.","status":"PERMISSION_DENIED"}}"#;
    assert_eq!(
        *Error::from_body(403, file).kind(),
        ErrorKind::PermissionDenied
    );
    let real = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#;
    assert_eq!(
        *Error::from_body(400, real).kind(),
        ErrorKind::InvalidApiKey
    );
}
