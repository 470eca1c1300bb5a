//! Classification of reqwest's responses and errors (feature `reqwest`), against local sockets.

#![cfg(feature = "reqwest")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use steadfast::classify::{Classify, RetryOn, Transport, Verdict};

fn response(status: u16, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut builder = http::Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    reqwest::Response::from(builder.body("").unwrap())
}

#[test]
fn a_429_response_is_a_retryable_outcome_with_its_retry_after() {
    let r = response(429, &[("retry-after", "17")]);
    let f = r.failure().expect("429 is a failure");
    assert_eq!(f.status_code(), Some(429));
    assert_eq!(f.hint(), Some(Duration::from_secs(17)));
    let result: Result<reqwest::Response, reqwest::Error> = Ok(r);
    assert!(Verdict::of_result(&result).is_retryable(&RetryOn::transient()));
}

#[test]
fn a_503_is_retryable_and_a_200_is_a_success() {
    assert!(
        RetryOn::transient().matches(
            &response(503, &[("retry-after-ms", "250")])
                .failure()
                .unwrap()
        )
    );
    assert_eq!(response(200, &[]).failure(), None);
    assert_eq!(
        response(404, &[]).failure().unwrap().status_code(),
        Some(404)
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    // Bind then drop a listener: its port is (almost certainly) closed now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert_eq!(
        err.failure().unwrap().transport_kind(),
        Some(Transport::Connect)
    );
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(socket);
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.failure().unwrap().transport_kind(),
        Some(Transport::Timeout)
    );
    server.abort();
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_a_reset() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        drop(socket);
    });
    let err = reqwest::get(format!("http://{addr}/")).await.unwrap_err();
    let kind = err.failure().unwrap().transport_kind();
    assert!(
        matches!(kind, Some(Transport::Reset | Transport::Connect)),
        "{kind:?} for {err:?}"
    );
    assert!(RetryOn::transient().matches(&err.failure().unwrap()));
    server.await.unwrap();
}
