//! tower_layer: a steadfast policy as a tower `Layer`, in a `ServiceBuilder` stack.
//!
//! A small local HTTP server answers every third request with `503`. The stack is a concurrency
//! limit under the policy layer around a `reqwest` call; the layer retries the 503s (an `Ok`
//! response with a failure status is retried like an error) and the caller sees only 200s.
//!
//! Run: `cargo run -p steadfast-examples --example tower_layer`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use steadfast::Policy;
use steadfast::tower::PolicyLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, ServiceExt};

/// Answers the n-th request with 503 when n is a multiple of 3, else 200.
async fn serve(listener: TcpListener, seen: Arc<AtomicU32>) {
    while let Ok((mut socket, _)) = listener.accept().await {
        let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let status = if n % 3 == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let reply =
                format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            let _ = socket.write_all(reply.as_bytes()).await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let seen = Arc::new(AtomicU32::new(0));
    tokio::spawn(serve(listener, seen.clone()));

    let policy = Policy::builder()
        .name("tower_layer")
        .on("503".parse()?)
        .base(Duration::from_millis(20))
        .rps(50)
        .build()?;
    let layer = PolicyLayer::new(policy);
    let client = reqwest::Client::new();
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .concurrency_limit(4)
        .service_fn(move |url: String| {
            let client = client.clone();
            async move { client.get(url).send().await }
        });

    let calls = 10;
    for i in 1..=calls {
        let response = svc.ready().await?.call(url.clone()).await?;
        println!("call {i:2}: {}", response.status());
        assert_eq!(response.status(), 200, "the layer retried every 503");
    }
    let stats = svc.policy().stats();
    println!(
        "\n{calls} calls, {} requests reached the server, {} retries, {} rate-limit waits",
        seen.load(Ordering::Relaxed),
        stats.retries,
        stats.rate_limit_waits
    );
    Ok(())
}
