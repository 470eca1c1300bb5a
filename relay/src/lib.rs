//! `gemini-relay`: the Gemini REST API, served in front of steadfast's key pool, quotas, retries
//! and model fallback, so that any client (Google's SDKs in any language, curl) changes only its
//! base URL.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use steadfast_relay::{Config, Relay, RelayKeyConfig};
//! use steadfast_sim::{Simulator, SimulatorConfig};
//!
//! let upstream = Simulator::start(SimulatorConfig::default()).await?;
//! let relay = Relay::start(Config {
//!     port: 0,
//!     upstream: upstream.base_url(),
//!     keys: upstream.keys().to_vec(),
//!     relay_keys: vec![RelayKeyConfig::new("docs", "relay-secret-not-real-0001")],
//!     ..Config::default()
//! })
//! .await?;
//! let answer = reqwest::Client::new()
//!     .post(format!("{}/v1beta/models/gemini-2.5-flash:generateContent", relay.base_url()))
//!     .header("x-goog-api-key", "relay-secret-not-real-0001")
//!     .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
//!     .send()
//!     .await?;
//! assert_eq!(answer.status(), 200);
//! assert_eq!(answer.headers()["x-steadfast-model"], "gemini-2.5-flash");
//! relay.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! What it does today: relay keys (`x-goog-api-key`, `?key=` or `Authorization: Bearer`; the
//! configuration may hold only their SHA-256), every route forwarded as bytes through
//! [`steadfast_gemini::Client::send_raw`] (the client's one routed path: project by headroom,
//! quotas configured and learned, retries before the first byte, the breaker, fallback models),
//! streams held until their first chunk and ended by the real API's in-stream error event after
//! it, errors in the real API's shape with `Retry-After`, `/healthz`, and graceful shutdown.
//! What it does not do yet is listed in README ("The relay").

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod auth;
mod config;
mod error;
mod forward;

pub use config::{Config, ConfigError, DEFAULT_UPSTREAM, ProjectConfig, RelayKeyConfig};

use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use steadfast_gemini::{Client, ClientPolicy};
use tokio::sync::watch;

/// What every request handler shares.
#[derive(Debug)]
struct Shared {
    client: Client,
    keys: auth::RelayKeys,
    max_body_bytes: usize,
    /// The longest a request may take before its answer starts.
    deadline: std::time::Duration,
    /// The upstream's host and port, for `/readyz`.
    upstream: (String, u16),
}

/// A running relay. [`Relay::shutdown`] stops accepting, lets requests in flight finish and
/// returns; dropping it stops it in the background.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The host and port of the upstream URL (the scheme's port when none is written).
fn upstream_address(url: &str) -> Result<(String, u16), ConfigError> {
    let bad = || {
        ConfigError::new(
            "upstream: give a URL such as http://127.0.0.1:8089 or https://generativelanguage.googleapis.com",
        )
    };
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let host = uri
        .host()
        .ok_or_else(bad)?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Ok((host, port))
}

/// `/readyz`: 200 when the upstream accepts a connection within 2 s, else 503. It opens a
/// connection only: no request is sent, so readiness probes spend no quota.
async fn ready(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
) -> (http::StatusCode, &'static str) {
    let (host, port) = &shared.upstream;
    let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
    match tokio::time::timeout(std::time::Duration::from_secs(2), connect).await {
        Ok(Ok(_)) => (http::StatusCode::OK, "ready"),
        _ => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "the upstream does not answer",
        ),
    }
}

impl Relay {
    /// Checks `config`, builds the client (its key pool and policy) and serves on
    /// `config.host:config.port`.
    pub async fn start(config: Config) -> Result<Relay, ConfigError> {
        config.check()?;
        let mut builder = Client::builder()
            .base_url(&config.upstream)
            .keys(&config.keys)
            .policy(
                ClientPolicy::default()
                    .fallback(config.fallback.iter().cloned())
                    .quota_minute(config.quota_minute)
                    .retry_with(|r| r.deadline(config.deadline)),
            );
        for project in &config.projects {
            builder = builder.project(&project.name, &project.keys);
        }
        let client = builder
            .build()
            .map_err(|e| ConfigError::new(format!("relay config: {e}")))?;
        let upstream = upstream_address(&config.upstream)?;
        let shared = Arc::new(Shared {
            client,
            keys: auth::RelayKeys::new(&config.relay_keys)?,
            max_body_bytes: config.max_body_bytes,
            deadline: config.deadline,
            upstream,
        });
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .fallback(forward::forward)
            .with_state(shared);
        let address = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| ConfigError::new(format!("cannot listen on {address}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ConfigError::new(format!("cannot listen on {address}: {e}")))?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let until = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(until)
                .await
            {
                tracing::warn!(target: "steadfast_relay", error = %e, "the relay's server stopped");
            }
        });
        Ok(Relay {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight (streams included) finish, and returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
