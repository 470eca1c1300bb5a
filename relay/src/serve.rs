//! The HTTP server: hyper's HTTP/1.1 connections with its own limits, a bound on open
//! connections, and a graceful shutdown with a drain time.
//!
//! - `max_connections`: a connection is accepted only while fewer are open; the others wait in
//!   the listen queue, so a flood of connections costs a queue entry each, not a task.
//! - `max_header_bytes`: hyper's `max_header_size` (over it, hyper answers 431).
//! - `idle_timeout`: hyper's `header_read_timeout`, which runs while a connection waits for a
//!   request's head, between requests included: a client that trickles its head or stays
//!   idle is closed after it.
//! - Shutdown: stop accepting, let hyper close idle connections and finish the requests and
//!   streams in flight, for at most `drain`; then close what is left.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The server's limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) drain: Duration,
}

/// Serves `router` on `listener` until `stop` turns true, then drains.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let stopping = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopping);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_header_size(limits.max_header_bytes);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut stopping => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(target: "steadfast_relay", error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let open_now = connections.len();
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(target: "steadfast_relay", drain = ?limits.drain, connections = connections.len(), "the drain time is over: closing the connections still open");
    } else if open_now > 0 {
        tracing::info!(target: "steadfast_relay", connections = open_now, "drained");
    }
    connections.abort_all();
}
