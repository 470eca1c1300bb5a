//! `PolicyLayer` in tower stacks: against a local HTTP server (real clock), and against
//! in-process services (paused clock).

#![cfg(feature = "tower")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use steadfast::Policy;
use steadfast::tower::{PolicyError, PolicyLayer};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// Answers `statuses` in turn (then 200), counting requests; `retry-after: 1` on 429s.
#[cfg(feature = "reqwest")]
async fn server(statuses: Vec<u16>) -> (String, Arc<AtomicU32>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
            let status = statuses.get(n).copied().unwrap_or(200);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = Vec::new();
                while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read.extend_from_slice(&buf[..n]),
                    }
                }
                let extra = if status == 429 {
                    "retry-after: 1\r\n"
                } else {
                    ""
                };
                let answer = format!(
                    "HTTP/1.1 {status} X\r\n{extra}content-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/"), seen)
}

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_service_builder_stack_retries_503_and_429_against_a_local_server() {
    let (url, seen) = server(vec![503, 429]).await;
    let client = reqwest::Client::new();
    let policy = Policy::builder()
        .on("429, 503".parse().unwrap())
        .base(Duration::from_millis(5))
        .budget(None)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(PolicyLayer::new(policy))
        .concurrency_limit(4)
        .service_fn(move |url: String| {
            let client = client.clone();
            async move { client.get(url).send().await }
        });
    let response = svc.ready().await.unwrap().call(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "503, then 429 (waited its Retry-After), then 200"
    );
}

fn counting_service(
    statuses: Vec<u16>,
    sent: Arc<AtomicU32>,
) -> impl Service<
    u32,
    Response = http::Response<u32>,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<http::Response<u32>, std::io::Error>> + Send,
> + Clone
+ Send
+ 'static {
    let statuses = Arc::new(statuses);
    tower::service_fn(move |req: u32| {
        let n = sent.fetch_add(1, Ordering::SeqCst) as usize;
        let status = statuses.get(n).copied().unwrap_or(200);
        async move {
            Ok(http::Response::builder()
                .status(status)
                .header("retry-after", "2")
                .body(req)
                .unwrap())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn ok_responses_with_failure_statuses_are_retried_with_their_retry_after() {
    let sent = Arc::new(AtomicU32::new(0));
    let layer = PolicyLayer::new(
        Policy::builder()
            .on("503".parse().unwrap())
            .build()
            .unwrap(),
    );
    let mut svc = layer.layer(counting_service(vec![503, 503], sent.clone()));
    let start = tokio::time::Instant::now();
    let response = svc.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!((response.status().as_u16(), *response.body()), (200, 7));
    assert_eq!(sent.load(Ordering::SeqCst), 3);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(4),
        "two Retry-After: 2 waits"
    );
    assert_eq!(svc.policy().stats().retries, 2);
}

#[tokio::test(start_paused = true)]
async fn a_status_not_in_the_set_comes_back_at_once_and_policy_errors_are_typed() {
    let sent = Arc::new(AtomicU32::new(0));
    let layer = PolicyLayer::new(
        Policy::builder()
            .on("503".parse().unwrap())
            .build()
            .unwrap(),
    );
    let mut svc = layer.layer(counting_service(vec![404], sent.clone()));
    let response = svc.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(sent.load(Ordering::SeqCst), 1);

    let slow = tower::service_fn(|_: u32| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, std::io::Error>(http::Response::new(0u32))
    });
    let layer = PolicyLayer::new(
        Policy::builder()
            .timeout(Duration::from_secs(1))
            .attempts(2)
            .build()
            .unwrap(),
    );
    let mut svc = layer.layer(slow);
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::Policy(steadfast::Error::AttemptTimedOut { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_max_hint_stops_with_the_policy_error() {
    let sent = Arc::new(AtomicU32::new(0));
    let layer = PolicyLayer::new(
        Policy::builder()
            .on("503".parse().unwrap())
            .max_hint(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let mut svc = layer.layer(counting_service(vec![503], sent.clone()));
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(matches!(
        err,
        PolicyError::Policy(steadfast::Error::RetryDelayTooLong { .. })
    ));
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}
