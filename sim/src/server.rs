//! The simulator's HTTP side: hyper's HTTP/1.1 server (keep-alive, pipelining, chunked bodies,
//! `Expect: 100-continue`, canonical reason phrases), with the limits a public endpoint needs.
//!
//! hyper parses every byte; this module only decides when a connection has had enough:
//!
//! - at most [`ServerLimits::max_connections`] connections are open; one more is accepted and
//!   closed at once (counted in `SimStats::connections_refused`), so a flood cannot exhaust the
//!   process's file descriptors;
//! - a connection that started a request head and has not finished it within
//!   [`ServerLimits::header_timeout`] (slowloris), has been silent between requests for
//!   [`ServerLimits::idle_timeout`], or has moved no byte either way while a request is in
//!   flight for that long plus what the server may itself take (a client that stopped reading
//!   its answer), is closed by a watchdog (`connections_timed_out`); hyper's own
//!   header timer is not used because it also starts while a keep-alive connection is idle, which
//!   would make the two limits one;
//! - a body that does not arrive within [`ServerLimits::body_timeout`] is answered 408, a body
//!   over [`ServerLimits::max_body`] 413 (before reading it when `Content-Length` says so), a
//!   request target over [`ServerLimits::max_uri`] 414 and a header block over
//!   [`ServerLimits::max_header_bytes`] 431; hyper answers 414 and 431 itself for a head it
//!   cannot parse (a target over 64 KiB, a head over its 128 KiB read buffer). hyper's
//!   `pipeline_flush` is left off: with it, hyper 1.12 closes such a connection without
//!   flushing that answer (pipelined requests are answered in order either way).
//!
//! Shutdown is graceful: when the [`Simulator`](super::Simulator) is dropped or shut down, the
//! listener closes, idle connections close, and requests in flight get
//! [`ServerLimits::grace`] to finish.

use super::request::RequestHeaders;
use super::{Reply, State};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub(super) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// HTTP limits of the simulator's server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once; one more is closed at once. Default 1 024.
    pub max_connections: usize,
    /// Time from the first byte of a request head to its end. Default 10 s.
    pub header_timeout: Duration,
    /// Time a connection may stay silent between requests, or move no byte while a request is
    /// in flight (beyond the server's own delays and [`ServerLimits::body_timeout`]). Default
    /// 60 s.
    pub idle_timeout: Duration,
    /// Time to receive a whole request body once its head arrived. Default 30 s.
    pub body_timeout: Duration,
    /// The largest request body, in bytes (413 beyond). Default 20 MiB, the real API's limit
    /// for inline data.
    pub max_body: usize,
    /// The longest request target (path and query), in bytes (414 beyond). Default 16 KiB.
    pub max_uri: usize,
    /// The largest header block (names and values), in bytes (431 beyond). Default 32 KiB.
    pub max_header_bytes: usize,
    /// Time given to requests in flight when the simulator shuts down. Default 5 s.
    pub grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_body: 20 * 1024 * 1024,
            max_uri: 16 * 1024,
            max_header_bytes: 32 * 1024,
            grace: Duration::from_secs(5),
        }
    }
}

/// hyper's read buffer: heads that do not fit are answered 431 (or 414) by hyper itself.
const READ_BUFFER: usize = 128 * 1024;

/// Connection counters, shared by the accept loop and the stats.
#[derive(Debug, Default)]
pub(super) struct Connections {
    pub(super) open: AtomicU64,
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) timed_out: AtomicU64,
}

/// Serves `listener` until `shutdown` changes or its sender is dropped.
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = state.config.server.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else {
                    // Out of descriptors or a connection reset before accept: try again shortly
                    // rather than spinning.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let counters = &state.connections;
                if counters.open.load(Ordering::Relaxed) >= limits.max_connections as u64 {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    drop(socket);
                    continue;
                }
                counters.open.fetch_add(1, Ordering::Relaxed);
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                let state = Arc::clone(&state);
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    connection(socket, &state, shutdown).await;
                    state.connections.open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    // Each connection saw the same signal and is closing; give them the grace period.
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.grace, drained).await.is_err() {
        connections.shutdown().await;
    }
}

/// What the watchdog knows about one connection.
#[derive(Debug)]
struct Activity {
    born: Instant,
    /// Milliseconds since `born` of the last byte received.
    last_read: AtomicU64,
    /// Milliseconds since `born` of the first byte of a request head not yet answered
    /// (`NONE` when no head is being received).
    head_started: AtomicU64,
    /// Milliseconds since `born` when the last response was finished (or dropped).
    last_done: AtomicU64,
    /// Milliseconds since `born` of the last byte received or sent, or request started.
    last_progress: AtomicU64,
    /// Requests received and not yet answered in full.
    in_flight: AtomicUsize,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Activity {
            born: Instant::now(),
            last_read: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            last_done: AtomicU64::new(0),
            last_progress: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn read(&self) {
        let now = self.now();
        self.last_read.store(now, Ordering::Relaxed);
        self.last_progress.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ =
                self.head_started
                    .compare_exchange(NONE, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_progress.store(self.now(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.last_progress.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(NONE, Ordering::Relaxed);
    }

    fn request_done(&self) {
        self.last_done.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether the connection has overstayed a limit. `allowance` is the longest the server
    /// itself may be silent while answering (slow faults, latency, waiting for a body).
    fn expired(&self, limits: &ServerLimits, allowance: Duration) -> bool {
        let now = self.now();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE - 1);
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            // A client that stopped reading an answer (or a stream) holds the connection
            // without a byte moving either way.
            let last = self.last_progress.load(Ordering::Relaxed);
            return now.saturating_sub(last)
                > ms(limits.idle_timeout).saturating_add(ms(allowance));
        }
        let head = self.head_started.load(Ordering::Relaxed);
        if head != NONE {
            return now.saturating_sub(head) > ms(limits.header_timeout);
        }
        let last = self
            .last_read
            .load(Ordering::Relaxed)
            .max(self.last_done.load(Ordering::Relaxed));
        now.saturating_sub(last) > ms(limits.idle_timeout)
    }
}

/// Marks a request answered when its response body is dropped (written in full, or abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// The socket, with every successful read reported to the watchdog.
struct Watched {
    socket: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl Watched {
    fn progress(&self, polled: &Poll<std::io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.wrote();
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.socket).poll_write(cx, buf);
        self.progress(&polled);
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.socket).poll_write_vectored(cx, bufs);
        self.progress(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }
}

/// The service's error: the connection is closed without an answer.
#[derive(Debug)]
struct Abort(&'static str);

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abort {}

async fn connection(socket: TcpStream, state: &Arc<State>, mut shutdown: watch::Receiver<bool>) {
    let limits = &state.config.server;
    let _ = socket.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        socket,
        activity: Arc::clone(&activity),
    });
    let service = {
        let state = Arc::clone(state);
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request| {
            let state = Arc::clone(&state);
            let activity = Arc::clone(&activity);
            async move { respond(request, &state, activity).await }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .max_buf_size(READ_BUFFER)
        .header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let tick = (limits.header_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(5), Duration::from_secs(1));
    let faults = &state.config.faults;
    let slow = if faults.slow > 0.0 {
        faults.slow_by
    } else {
        Duration::ZERO
    };
    let allowance = limits.body_timeout.max(slow + state.config.latency);
    let mut watchdog = tokio::time::interval(tick);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = watchdog.tick() => {
                if activity.expired(limits, allowance) {
                    state.connections.timed_out.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.grace, conn).await;
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn plain(
    status: StatusCode,
    close: bool,
    content_type: &'static str,
    body: Body,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if close {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Google's front end answers oversized or slow requests with a short HTML page, not JSON.
fn front_end_error(status: StatusCode, what: &str) -> Response<Body> {
    let code = status.as_u16();
    let page = format!(
        "<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n<title>Error {code} ({})</title>\n<p><b>{code}.</b> <ins>That\u{2019}s an error.</ins>\n<p>{what} <ins>That\u{2019}s all we know.</ins>\n",
        status.canonical_reason().unwrap_or("Error")
    );
    plain(status, true, "text/html; charset=UTF-8", full(page))
}

async fn respond(
    request: Request<Incoming>,
    state: &State,
    activity: Arc<Activity>,
) -> Result<Response<Body>, Abort> {
    activity.request_started();
    let guard = InFlight(activity);
    let limits = &state.config.server;
    let response = match read(request, limits).await {
        Err(Refusal::Abort(why)) => return Err(Abort(why)),
        Err(Refusal::Status(status, what)) => front_end_error(status, what),
        Ok((method, target, key, headers, body)) => {
            match state
                .handle(&method, &target, key.as_deref(), &headers, &body)
                .await
            {
                Reply::Drop => return Err(Abort("fault: dropped connection")),
                reply => to_response(reply, state),
            }
        }
    };
    // The request counts as answered once its body is written in full or abandoned.
    Ok(response.map(move |body| {
        body.map_frame(move |frame| {
            let _ = &guard;
            frame
        })
        .boxed_unsync()
    }))
}

enum Refusal {
    Abort(&'static str),
    Status(StatusCode, &'static str),
}

type Parts = (String, String, Option<String>, RequestHeaders, Vec<u8>);

/// Checks the request against the limits and reads its body.
async fn read(request: Request<Incoming>, limits: &ServerLimits) -> Result<Parts, Refusal> {
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    if target.len() > limits.max_uri {
        return Err(Refusal::Status(
            StatusCode::URI_TOO_LONG,
            "The requested URL is too large to process.",
        ));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(Refusal::Status(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Your client has issued a malformed or illegal request.",
        ));
    }
    let too_large = Refusal::Status(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Your client issued a request that was too large.",
    );
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        // Answered before reading: with `Expect: 100-continue` the body is never sent.
        return Err(too_large);
    }
    let key = request
        .headers()
        .get("x-goog-api-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let method = request.method().as_str().to_owned();
    let headers = RequestHeaders::of(request.headers());
    let limited = Limited::new(request.into_body(), limits.max_body);
    let body = match tokio::time::timeout(limits.body_timeout, limited.collect()).await {
        Err(_) => {
            return Err(Refusal::Status(
                StatusCode::REQUEST_TIMEOUT,
                "Your client has taken too long to issue its request.",
            ));
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large),
        Ok(Err(_)) => return Err(Refusal::Abort("the client closed the connection mid-body")),
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
    };
    Ok((method, target, key, headers, body))
}

fn to_response(reply: Reply, state: &State) -> Response<Body> {
    let status =
        |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply {
        Reply::Headers(headers, reply) => {
            let mut response = to_response(*reply, state);
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Reply::Json(code, value) => plain(
            status(code),
            false,
            "application/json; charset=UTF-8",
            full(value.to_string()),
        ),
        Reply::Raw(code, content_type, body) => {
            plain(status(code), false, content_type, full(body))
        }
        Reply::Stream {
            chunks,
            failure,
            sse,
            done,
        } => {
            let done = done && sse && failure.is_none();
            let pause = state.config.stream_pause;
            let items: Vec<&serde_json::Value> = chunks.iter().chain(failure.iter()).collect();
            let last = items.len().saturating_sub(1);
            // Server-sent events, or the real API's JSON array: `[{…}` `,\r\n{…}` … `]`.
            let events: Vec<Bytes> = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Bytes::from(if sse {
                        format!("data: {v}\r\n\r\n")
                    } else {
                        let open = if i == 0 { "[" } else { ",\r\n" };
                        let close = if i == last { "]" } else { "" };
                        format!("{open}{v}{close}")
                    })
                })
                .collect();
            let mut events = if events.is_empty() && !sse {
                vec![Bytes::from_static(b"[]")]
            } else {
                events
            };
            if done {
                events.push(Bytes::from_static(b"data: [DONE]\r\n\r\n"));
            }
            let stream = futures_util::stream::iter(events).then(move |event| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, std::io::Error>(Frame::data(event))
            });
            let content_type = if sse {
                "text/event-stream"
            } else {
                "application/json; charset=UTF-8"
            };
            plain(
                StatusCode::OK,
                false,
                content_type,
                StreamBody::new(stream).boxed_unsync(),
            )
        }
        Reply::Drop => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            true,
            "text/plain",
            full(Bytes::new()),
        ),
    }
}
