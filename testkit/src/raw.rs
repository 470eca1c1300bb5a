//! A raw HTTP/1.1 server that answers from a script, byte for byte: for answers no real server
//! sends (garbage, stalls, resets, huge or truncated bodies), and to see exactly what a client
//! sent (request line and headers).

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a raw server does with one request.
#[derive(Clone, Debug)]
pub enum Step {
    /// Writes these bytes.
    Write(Vec<u8>),
    /// Waits.
    Sleep(Duration),
}

/// A step that writes `bytes`.
pub fn write(bytes: impl Into<Vec<u8>>) -> Step {
    Step::Write(bytes.into())
}

/// A whole HTTP/1.1 answer with a body and extra header lines (`"Name: value\r\n"` each).
pub fn answer(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
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
pub struct Seen {
    /// The request line and the header lines.
    pub head: String,
}

impl Seen {
    /// Whether the request carried an `x-goog-api-key` header.
    pub fn has_key_header(&self) -> bool {
        self.head.to_ascii_lowercase().contains("x-goog-api-key")
    }
    /// The request line (`POST /v1beta/… HTTP/1.1`).
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// A raw server: for each request, `script(request line, index)` says what to send.
#[derive(Debug)]
pub struct Raw {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Raw {
    /// Starts serving on a free port of 127.0.0.1.
    pub async fn start<F>(script: F) -> Raw
    where
        F: Fn(&str, usize) -> Vec<Step> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
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

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many requests had `needle` in their request line.
    pub fn count(&self, needle: &str) -> usize {
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
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
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
