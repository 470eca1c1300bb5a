//! A `steadfast_gemini::Error` inside a type-erased error (`Box<dyn Error + Send + Sync>`) is
//! classified by its own kind once a client has been built.

#![allow(clippy::unwrap_used)]

use steadfast::classify::Classify;
use steadfast_gemini::{Client, Error};

#[test]
fn a_gemini_error_in_a_boxed_error_classifies_once_a_client_exists() {
    let _client = Client::builder()
        .key("test-key-erased")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap();
    let overloaded = Error::from_body(
        503,
        br#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#,
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(overloaded);
    assert_eq!(boxed.failure().and_then(|f| f.status_code()), Some(503));
    let bad = Error::from_body(
        400,
        br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(bad);
    assert_eq!(boxed.failure().and_then(|f| f.status_code()), Some(400));
}
