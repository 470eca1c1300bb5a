//! Just enough HTTP/1.1 for the simulator: one request per connection, then close.

use super::{Reply, State};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

struct Request {
    method: String,
    target: String,
    key: Option<String>,
    body: Vec<u8>,
}

/// Reads one request; `None` for anything malformed or too large (the connection is closed).
async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let mut length = 0usize;
    let mut key = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "x-goog-api-key" => key = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    if length > MAX_BODY {
        return None;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(Request {
        method,
        target,
        key,
        body,
    })
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn write_whole(socket: &mut TcpStream, code: u16, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    let _ = socket.write_all(head.as_bytes()).await;
    let _ = socket.write_all(body).await;
}

fn event(value: &Value) -> Vec<u8> {
    format!("data: {value}\r\n\r\n").into_bytes()
}

/// Serves one connection.
pub(super) async fn serve(mut socket: TcpStream, state: &State) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let reply = state
        .handle(
            &request.method,
            &request.target,
            request.key.as_deref(),
            &request.body,
        )
        .await;
    match reply {
        Reply::Json(code, value) => {
            write_whole(
                &mut socket,
                code,
                "application/json; charset=UTF-8",
                value.to_string().as_bytes(),
            )
            .await
        }
        Reply::Raw(code, content_type, body) => {
            write_whole(&mut socket, code, content_type, &body).await
        }
        Reply::Stream(chunks, failure) => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let events = chunks
                .iter()
                .take(if failure.is_some() { 1 } else { usize::MAX });
            for chunk in events {
                if socket.write_all(&event(chunk)).await.is_err() {
                    return;
                }
                let _ = socket.flush().await;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            if let Some(error) = failure {
                let _ = socket.write_all(&event(&error)).await;
            }
        }
        Reply::Drop => {}
    }
    let _ = socket.shutdown().await;
}
