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
//! What it does: relay keys (`x-goog-api-key`, `?key=` or `Authorization: Bearer`; the
//! configuration may hold only their SHA-256) with their own limits and models; every route
//! forwarded as bytes through [`steadfast_gemini::Client::send_raw`] (the client's one routed
//! path: project by headroom, quotas configured, learned and shared through Redis, retries
//! before the first byte, the breaker, fallback models); files, caches and upload sessions
//! pinned to the project that created them; a bounded, fair waiting room; streams held until
//! their first chunk and ended by the real API's in-stream error event after it; errors in the
//! real API's shape with `Retry-After`; `/healthz`, `/readyz`; [reload](Relay::reload) without
//! dropping a request; graceful shutdown with a drain time. README ("The relay") says the rest.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod admin;
mod auth;
mod config;
mod error;
mod forward;
mod frame;
mod log;
mod metrics;
mod owners;
mod record;
mod room;
mod serve;
pub mod stats;

pub use config::{
    Config, ConfigError, DEFAULT_UPSTREAM, LimitsConfig, LogConfig, OnUnavailable, ProjectConfig,
    RedisConfig, RelayKeyConfig,
};

use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use steadfast::limit::redis::RedisConnection;
use steadfast_gemini::{Client, ClientPolicy, ModelLimits, SharedQuotas};
use tokio::sync::watch;

/// What every request handler shares for one version of the configuration. A reload builds a
/// new one; requests in flight finish with the one they started with.
#[derive(Debug)]
struct Shared {
    config: Config,
    client: Client,
    keys: auth::RelayKeys,
    room: Arc<room::Room>,
    owners: Arc<owners::Owners>,
    /// The upstream's host and port, for `/readyz`.
    upstream: (String, u16),
    /// Redis, for `/readyz`, when configured.
    redis: Option<Arc<RedisConnection>>,
    /// The request log, when configured.
    log: Option<Arc<log::RequestLog>>,
    /// The SHA-256 of the admin token, when one is configured.
    admin: Option<[u8; 32]>,
    /// The models that have answered, whose quotas `/metrics` and the admin API show.
    served: Arc<Served>,
    /// The admin API's last analytics: when, for how many hours, what.
    stats_cache: tokio::sync::Mutex<Option<(std::time::Instant, u64, serde_json::Value)>>,
}

/// The models that have answered (at most 256 names): the ones whose quotas are shown, so
/// that a model name a client made up never becomes a metric label.
#[derive(Debug, Default)]
struct Served(std::sync::Mutex<std::collections::BTreeSet<String>>);

impl Served {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, model: &str) {
        let mut set = self.lock();
        if set.len() < 256 && !model.is_empty() && !set.contains(model) {
            set.insert(model.to_owned());
        }
    }

    fn contains(&self, model: &str) -> bool {
        self.lock().contains(model)
    }
}

/// The relay's state: the current configuration's [`Shared`], swapped by a reload.
struct Live {
    current: RwLock<Arc<Shared>>,
    /// The number of the next request, for logs and `x-steadfast-request-id`.
    next_id: AtomicU64,
    /// Where `POST /admin/reload` takes the configuration from.
    source: RwLock<Option<ConfigSource>>,
    /// Held by a reload from reading its configuration to putting it in use: one reload at a
    /// time, so the one that read last is the one in use.
    reloading: std::sync::Mutex<()>,
}

impl std::fmt::Debug for ConfigSourceSlot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(source)"
        } else {
            "None"
        })
    }
}

/// For `Debug` of [`Live`].
struct ConfigSourceSlot<'a>(&'a Option<ConfigSource>);

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self
            .source
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_struct("Live")
            .field("current", &self.current())
            .field("next_id", &self.next_id)
            .field("source", &ConfigSourceSlot(&source))
            .finish()
    }
}

/// Where a reload asked for over the admin API takes the configuration from.
type ConfigSource = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

impl Live {
    /// See [`Relay::reload`].
    fn reload(&self, config: Config) -> Result<(), ConfigError> {
        self.reload_with(|| Ok(config))
    }

    /// Reads the configuration with `read` and puts it in use, one reload at a time (a reload
    /// that read an older file cannot finish after one that read a newer one).
    fn reload_with(
        &self,
        read: impl FnOnce() -> Result<Config, String>,
    ) -> Result<(), ConfigError> {
        let _turn = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let config = read().map_err(ConfigError::new)?;
        let current = self.current();
        let old = &current.config;
        if (
            old.host,
            old.port,
            old.max_connections,
            old.max_header_bytes,
            old.idle_timeout,
            old.drain,
            old.threads,
        ) != (
            config.host,
            config.port,
            config.max_connections,
            config.max_header_bytes,
            config.idle_timeout,
            config.drain,
            config.threads,
        ) {
            tracing::warn!(target: "steadfast_relay", "the address, the server's limits and its threads change only with a restart; the rest of the new configuration is in use");
        }
        let next = Shared::build(config, Some(&current))?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        tracing::info!(target: "steadfast_relay", "configuration reloaded");
        Ok(())
    }

    /// See [`Relay::reload_in_background`].
    async fn reload_in_background(
        self: &Arc<Self>,
        read: impl FnOnce() -> Result<Config, String> + Send + 'static,
    ) -> Result<(), ConfigError> {
        let live = Arc::clone(self);
        tokio::task::spawn_blocking(move || live.reload_with(read))
            .await
            .unwrap_or_else(|e| {
                Err(ConfigError::new(format!(
                    "the reload did not finish: {e}; the running configuration stays"
                )))
            })
    }

    fn current(&self) -> Arc<Shared> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Whether two configurations build the same client (same upstream, keys, projects, policy
/// and Redis), so that a reload keeps the client and what it has learned.
fn same_client(a: &Config, b: &Config) -> bool {
    a.upstream == b.upstream
        && a.keys == b.keys
        && a.projects == b.projects
        && a.fallback == b.fallback
        && a.limits == b.limits
        && a.quota_minute == b.quota_minute
        && a.deadline == b.deadline
        && a.redis == b.redis
}

impl Shared {
    /// Builds what `config` needs, keeping from `previous` what the change leaves as it was:
    /// the client (its learned quotas and usage), the relay keys' limiters, the waiting room
    /// and the owners of files and caches.
    fn build(config: Config, previous: Option<&Shared>) -> Result<Shared, ConfigError> {
        config.check()?;
        let upstream = upstream_address(&config.upstream)?;
        let (client, served) = match previous {
            // The same client, and its keys refused by the upstream tried again: a reload is
            // how an operator says the keys were mended (a restart would forget the quotas).
            Some(p) if same_client(&p.config, &config) => {
                p.client.revive_keys();
                (p.client.clone(), Arc::clone(&p.served))
            }
            _ => (build_client(&config)?, Arc::default()),
        };
        // A relay key's limiters are kept only where they are kept: same Redis, or none.
        let keys = auth::RelayKeys::new(
            &config.relay_keys,
            config.redis.as_ref(),
            previous
                .filter(|p| p.config.redis == config.redis)
                .map(|p| &p.keys),
        )?;
        let room = match previous {
            Some(p) if p.config.max_waiting == config.max_waiting => Arc::clone(&p.room),
            _ => room::Room::new(config.max_waiting),
        };
        let owners = match previous {
            Some(p) if p.config.redis == config.redis => Arc::clone(&p.owners),
            // A new Redis (or none): what this process knows comes along.
            _ => Arc::new(
                owners::Owners::new(config.redis.as_ref())
                    .map_err(|e| ConfigError::new(format!("redis.url: {e}")))?
                    .knowing(previous.map(|p| p.owners.as_ref())),
            ),
        };
        let keeping = config.log.as_ref().map(|l| log::Keeping {
            path: l.path.clone(),
            max_age: l.max_age,
            max_rows: l.max_rows,
            queue: l.queue,
        });
        let log = match (previous, keeping) {
            (_, None) => None,
            (Some(p), Some(_)) if p.config.log == config.log => p.log.clone(),
            (_, Some(k)) => Some(Arc::new(
                log::RequestLog::open(&k).map_err(|e| ConfigError::new(format!("log: {e}")))?,
            )),
        };
        let admin = auth::admin_digest(
            config.admin_token.as_deref(),
            config.admin_token_sha256.as_deref(),
        );
        let redis = match &config.redis {
            Some(r) => Some(Arc::new(
                RedisConnection::open(&r.url, std::time::Duration::from_secs(2))
                    .map_err(|e| ConfigError::new(format!("redis.url: {e}")))?,
            )),
            None => None,
        };
        Ok(Shared {
            config,
            client,
            keys,
            room,
            owners,
            upstream,
            redis,
            log,
            admin,
            served,
            stats_cache: tokio::sync::Mutex::new(None),
        })
    }
}

fn build_client(config: &Config) -> Result<Client, ConfigError> {
    let mut policy = ClientPolicy::default()
        .fallback(config.fallback.iter().cloned())
        .quota_minute(config.quota_minute)
        .retry_with(|r| r.deadline(config.deadline));
    for (model, l) in &config.limits {
        policy = policy.limits(
            model,
            ModelLimits {
                rpm: l.rpm,
                rpd: l.rpd,
                tpm: l.tpm,
            },
        );
    }
    let mut builder = Client::builder()
        .base_url(&config.upstream)
        .keys(&config.keys)
        .policy(policy);
    for project in &config.projects {
        builder = builder.project(&project.name, &project.keys);
    }
    if let Some(redis) = &config.redis {
        let shared = SharedQuotas::redis(&redis.url, &redis.namespace)
            .on_unavailable(redis.unavailable())
            .max_wait(config.deadline)
            .build()
            .map_err(|e| ConfigError::new(format!("redis: {e}")))?;
        builder = builder.shared_quotas(shared);
    }
    builder
        .build()
        .map_err(|e| ConfigError::new(format!("relay config: {e}")))
}

/// A running relay. [`Relay::shutdown`] stops accepting, lets requests in flight finish (for
/// at most the configuration's `drain`) and returns; dropping it stops it in the background.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    live: Arc<Live>,
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

/// `/readyz`: 200 when the upstream accepts a connection within 2 s and, when configured, Redis
/// answers a `PING`; else 503 saying which. No request goes upstream, so readiness probes spend
/// no quota.
async fn ready(
    axum::extract::State(live): axum::extract::State<Arc<Live>>,
) -> (http::StatusCode, &'static str) {
    let shared = live.current();
    let (host, port) = &shared.upstream;
    let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
    if !matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), connect).await,
        Ok(Ok(_))
    ) {
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "the upstream does not answer",
        );
    }
    if let Some(redis) = &shared.redis
        && redis.check().await.is_err()
    {
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "Redis does not answer",
        );
    }
    (http::StatusCode::OK, "ready")
}

impl Relay {
    /// Checks `config`, builds the client (its key pool and policy) and serves on
    /// `config.host:config.port`.
    pub async fn start(config: Config) -> Result<Relay, ConfigError> {
        let limits = serve::Limits {
            max_connections: config.max_connections,
            max_header_bytes: config.max_header_bytes,
            idle_timeout: config.idle_timeout,
            drain: config.drain,
        };
        let address = SocketAddr::new(config.host, config.port);
        let metrics = config.metrics;
        let shared = Shared::build(config, None)?;
        if metrics {
            metrics::install();
        }
        let live = Arc::new(Live {
            current: RwLock::new(Arc::new(shared)),
            next_id: AtomicU64::new(1),
            source: RwLock::new(None),
            reloading: std::sync::Mutex::new(()),
        });
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .route("/metrics", get(metrics::scrape))
            .merge(admin::routes())
            .fallback(forward::forward)
            .with_state(Arc::clone(&live));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| ConfigError::new(format!("cannot listen on {address}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ConfigError::new(format!("cannot listen on {address}: {e}")))?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve::serve(listener, router, limits, stopped));
        Ok(Relay {
            addr,
            live,
            stop,
            task: Some(task),
        })
    }

    /// Replaces the configuration: upstream keys and projects, relay keys, their limits and
    /// models, fallback, deadline, Redis. Requests in flight finish with the configuration they
    /// started with; new ones use `config`. What the change leaves as it was is kept: the
    /// client and what it has learned of the quotas when the upstream, keys, projects and policy
    /// are the same, a relay key's limiter when its limits are the same. The address and the
    /// server's limits (connections, header size, idle time, drain) need a restart; a change to
    /// them is reported in the log and otherwise ignored. A configuration that does not check
    /// leaves the current one in place.
    pub fn reload(&self, config: Config) -> Result<(), ConfigError> {
        self.live.reload(config)
    }

    /// [`reload`](Relay::reload) with the configuration `read` returns (a file read again,
    /// say), read and put in use on tokio's blocking threads: reading it, building a new client
    /// (which reads the system's certificates) and opening a new request log (SQLite's
    /// migrations) never hold up the threads serving requests, the command's one thread
    /// included. Reloads take turns, each reading when its turn comes: the last to read is the
    /// one in use. An error of `read` is the error returned, and changes nothing.
    pub async fn reload_in_background(
        &self,
        read: impl FnOnce() -> Result<Config, String> + Send + 'static,
    ) -> Result<(), ConfigError> {
        self.live.reload_in_background(read).await
    }

    /// Where `POST /admin/reload` takes the configuration from (the command reads its file
    /// again). Without one, that route answers 409.
    pub fn reload_from(&self, source: impl Fn() -> Result<Config, String> + Send + Sync + 'static) {
        *self
            .live
            .source
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(source));
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight (streams included) finish for at most the
    /// configuration's `drain`, and returns once the request log holds their rows (waiting 5 s
    /// at most for its writer).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        // The last requests' rows reach the file before the process ends (5 s at most).
        if let Some(log) = self.live.current().log.clone() {
            let _ = tokio::task::spawn_blocking(move || {
                if !log.flush(std::time::Duration::from_secs(5)) {
                    tracing::warn!(target: "steadfast_relay", "the request log's last rows were not all written within 5 s");
                }
            })
            .await;
        }
    }
}
