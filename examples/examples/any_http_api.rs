//! any_http_api: the attribute on a plain `reqwest` call, no Gemini involved.
//!
//! A small local HTTP server answers with a 503 now and then, and with `429 Too Many Requests`
//! plus a `Retry-After` header when asked too fast. The function returns
//! `Result<reqwest::Response, reqwest::Error>`: an `Ok` response with status 429 or 503 is a
//! retryable outcome, and `Retry-After` is obeyed exactly (never jittered).
//!
//! Run: `cargo run -p steadfast-examples --example any_http_api`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;
use steadfast::observe::{Event, WaitReason};
use steadfast::resilient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn show(event: &Event) {
    if let Event::Retry {
        attempt,
        delay,
        reason,
        failure,
        ..
    } = event
    {
        let why = match reason {
            WaitReason::ServerHint => "Retry-After",
            WaitReason::Backoff => "backoff",
        };
        println!(
            "   attempt {attempt}: {} -> waiting {delay:.2?} ({why})",
            failure.cause()
        );
    }
}

/// Retries 429 and 503, obeying Retry-After; everything else is returned as it is.
#[resilient(on = [429, 503], attempts = 6, base = "50ms", on_retry = show)]
async fn fetch(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, reqwest::Error> {
    client.get(url).send().await
}

/// A server that answers the n-th request with: 503 every 3rd, 429 (Retry-After: 1) every 5th,
/// otherwise 200.
async fn serve(listener: TcpListener, seen: Arc<AtomicU32>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let (status, extra, body) = match n {
                n if n % 5 == 0 => ("429 Too Many Requests", "Retry-After: 1\r\n", "slow down"),
                n if n % 3 == 0 => ("503 Service Unavailable", "", "try later"),
                _ => ("200 OK", "", "hello"),
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let seen = Arc::new(AtomicU32::new(0));
    tokio::spawn(serve(listener, Arc::clone(&seen)));
    println!("A local API at {url}: 503 every 3rd request, 429 with Retry-After: 1 every 5th.\n");

    let client = reqwest::Client::new();
    let start = Instant::now();
    let calls = if steadfast_examples::quick() { 3 } else { 6 };
    for i in 1..=calls {
        println!("call {i}:");
        let response = fetch(&client, &url).await?;
        println!("   -> {} {:?}", response.status(), response.text().await?);
    }
    println!(
        "\n{calls} calls, {} requests, {:.2?}",
        seen.load(Ordering::Relaxed),
        start.elapsed()
    );
    Ok(())
}
