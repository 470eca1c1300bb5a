//! The client against hostile servers: small raw HTTP servers on 127.0.0.1 written here, each one
//! a scenario from issue 9 turned into a named regression test. Real sockets, so real clock and
//! millisecond delays (tokio's paused clock would advance while the runtime waits on a socket).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use steadfast_gemini::{Client, ClientPolicy, ErrorKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An obviously fake key.
const KEY: &str = "test-key-not-real-0000000000";

/// What a raw server does with one request.
#[derive(Clone, Debug)]
enum Step {
    /// Writes these bytes.
    Write(Vec<u8>),
    /// Waits.
    Sleep(Duration),
}

fn write(bytes: impl Into<Vec<u8>>) -> Step {
    Step::Write(bytes.into())
}

/// A whole HTTP/1.1 answer with a body and extra header lines (`"Name: value\r\n"` each).
fn answer(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    head: String,
}

impl Seen {
    fn has_key_header(&self) -> bool {
        self.head.to_ascii_lowercase().contains("x-goog-api-key")
    }
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// A raw server: for each request, `script(request line, index)` says what to send.
struct Raw {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Raw {
    async fn start<F>(script: F) -> Raw
    where
        F: Fn(&str, usize) -> Vec<Step> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                let (script, log) = (Arc::clone(&script), Arc::clone(&log));
                connections.push(tokio::spawn(serve(socket, script, log)));
            }
        });
        Raw { url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.request_line().contains(needle))
            .count()
    }
}

async fn serve<F>(mut socket: TcpStream, script: Arc<F>, log: Arc<Mutex<Vec<Seen>>>)
where
    F: Fn(&str, usize) -> Vec<Step> + Send + Sync + 'static,
{
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf.len() - head_end - 4;
    while body < length {
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body += n,
        }
    }
    let index = {
        let mut log = log.lock().unwrap();
        log.push(Seen { head: head.clone() });
        log.len() - 1
    };
    let request_line = head.lines().next().unwrap_or("").to_owned();
    for step in script(&request_line, index) {
        match step {
            Step::Write(bytes) => {
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
                let _ = socket.flush().await;
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
        }
    }
    let _ = socket.shutdown().await;
}

fn fast() -> ClientPolicy {
    ClientPolicy::default()
        .base_delay(Duration::from_millis(2))
        .max_delay(Duration::from_millis(20))
}

fn client(url: &str, policy: ClientPolicy) -> Client {
    Client::builder()
        .base_url(url)
        .key(KEY)
        .policy(policy)
        .build()
        .unwrap()
}

const OK_BODY: &str =
    r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"fine"}]}}]}"#;

// ---------------------------------------------------------------------------------------------
// Item 5: the key never leaves for another host.

#[tokio::test]
async fn redirect_to_another_host_never_receives_the_key() {
    let elsewhere = Raw::start(|_, _| vec![write(answer("200 OK", "", OK_BODY.as_bytes()))]).await;
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let target = format!("{}/v1beta/models/gemini-2.5-flash:generateContent", elsewhere.url);
        let origin = Raw::start(move |_, _| {
            vec![write(answer(status, &format!("Location: {target}\r\n"), b""))]
        })
        .await;
        let e = client(&origin.url, fast())
            .generate("gemini-2.5-flash", "hi")
            .await
            .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Redirect, "{status}: {e}");
        assert!(e.to_string().contains("not followed"), "{e}");
        assert!(!e.to_string().contains(KEY), "{e}");
        // A redirect is terminal: one generate request, no retry.
        assert_eq!(origin.count(":generateContent"), 1, "{status}");
    }
    let seen = elsewhere.seen();
    assert!(
        seen.iter().all(|s| !s.has_key_header()),
        "the redirect target saw the key: {seen:?}"
    );
    assert!(seen.is_empty(), "the redirect target saw requests: {seen:?}");
}
