//! What the relay serves: read from a TOML file (`gemini-relay --config relay.toml`), from flags
//! for the smallest start, or both (flags win).
//!
//! ```
//! let config = steadfast_relay::Config::from_toml(r#"
//!     port = 8090
//!     upstream = "http://127.0.0.1:8089"
//!     keys = ["upstream-key-not-real-0001"]
//!
//!     [[relay_keys]]
//!     name = "team-a"
//!     secret = "relay-secret-not-real-0001"
//! "#)?;
//! assert_eq!(config.port, 8090);
//! assert_eq!(config.relay_keys[0].name, "team-a");
//! # Ok::<(), steadfast_relay::ConfigError>(())
//! ```

use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Google's API, where the relay sends requests unless told otherwise.
pub const DEFAULT_UPSTREAM: &str = "https://generativelanguage.googleapis.com";

/// The relay's configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The address to listen on (default `127.0.0.1`; `0.0.0.0` serves other machines).
    #[serde(default = "default_host")]
    pub host: IpAddr,
    /// The port (default 8090; 0 picks a free one).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The Gemini API the relay forwards to (default Google's; any Gemini-compatible server,
    /// such as `gemini-sim`).
    #[serde(default = "default_upstream")]
    pub upstream: String,
    /// Upstream keys, each a project of its own (use `projects` for keys that share one).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Upstream projects and their keys: keys of one project share its quotas, as Gemini
    /// counts them.
    #[serde(default)]
    pub projects: Vec<ProjectConfig>,
    /// The keys clients use to talk to the relay.
    #[serde(default)]
    pub relay_keys: Vec<RelayKeyConfig>,
    /// The longest a request may take in the relay, waits and retries included (default 60 s).
    #[serde(default = "default_deadline", with = "duration")]
    pub deadline: Duration,
    /// The largest request body accepted (default 32 MiB; more is a 413).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Models to try, in order, after the one a request asks for.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Limits of each project per model, as your Gemini tier gives them
    /// (`[limits."gemini-2.5-flash"] rpm = 10`): the pool never sends past them, so the
    /// upstream has nothing to refuse. Without them, limits are learned from the upstream's
    /// 429s (QuotaFailure), and a limit learned never raises one set here.
    #[serde(default)]
    pub limits: std::collections::BTreeMap<String, LimitsConfig>,
    /// The length of the upstream's minute, for per-minute limits (60 s, Gemini's; shorter
    /// only in front of a simulator that runs a shorter one, such as `gemini-sim --minute 2s`).
    #[serde(default = "default_minute", with = "duration")]
    pub quota_minute: Duration,
    /// Requests that may wait in the relay at once for a slot or an answer to start (default
    /// 1024); each relay key is always let in up to its fair share of them (this number divided
    /// by the relay keys waiting now), so that one busy key cannot keep the others out. Beyond
    /// the bound a request gets a 429 at once: waiting never grows memory without end.
    #[serde(default = "default_max_waiting")]
    pub max_waiting: usize,
    /// Client connections open at once (default 4096); more wait in the listen queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Threads of the command's runtime (default 1). One thread runs every connection (a
    /// current-thread runtime: no work stealing, no wake-ups across threads): about 25 000
    /// forwarded requests a second on one core of the benchmark machine, far above what a
    /// Gemini key pool's quotas let through, and the lowest added latency. `threads = N` (2 or
    /// more) runs N workers, for a relay with cores of its own and much heavier traffic; that
    /// case is not measured (on the benchmark machine, shared with the upstream, two serve
    /// less). A body of 1 MB or more is read on tokio's blocking threads either way.
    /// Read when `gemini-relay` starts (a reload does not change it; `Relay::start` runs on
    /// the caller's runtime). BENCHMARKS.md, section 8, measures 1 against 2 on two cores.
    #[serde(default)]
    pub threads: Option<usize>,
    /// The largest request head, request line and headers together (default 64 KiB; more is a
    /// 431).
    #[serde(default = "default_max_header")]
    pub max_header_bytes: usize,
    /// How long a client connection may take to send a request's head, and stay idle between
    /// requests (default 60 s).
    #[serde(default = "default_idle", with = "duration")]
    pub idle_timeout: Duration,
    /// On shutdown, how long requests and streams in flight may take to finish (default 30 s);
    /// then their connections are closed.
    #[serde(default = "default_drain", with = "duration")]
    pub drain: Duration,
    /// Whether a route the relay does not know (neither models, files, uploads nor cached
    /// contents: `batches`, `tunedModels`, a route of tomorrow) is forwarded under the pool
    /// (the default: new API features work on day one) or answered 404.
    #[serde(default = "default_true")]
    pub forward_unknown_routes: bool,
    /// Redis, to share the quotas, the relay keys' limits and the owners of files and caches
    /// with every relay process of one deployment (none by default: this process alone).
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// Whether the relay keeps Prometheus metrics and serves `/metrics` (default true; false
    /// spares their cost, as the benchmarks measure it).
    #[serde(default = "default_true")]
    pub metrics: bool,
    /// The request log, an SQLite file with one row per request (none by default; the
    /// command's `--log FILE` turns it on).
    #[serde(default)]
    pub log: Option<LogConfig>,
    /// The token of `/metrics`' neighbours that show more than counts: the dashboard and the
    /// admin API (`/dashboard`, `/admin/…`), given as `Authorization: Bearer TOKEN`; its SHA-256
    /// may be given instead (`admin_token_sha256`). Without either, they are off. `/metrics`
    /// itself is open, as Prometheus scrapes it: it holds no key and no free text.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// The SHA-256 of the admin token, in hexadecimal, so that the file holds no secret.
    #[serde(default)]
    pub admin_token_sha256: Option<String>,
}

/// The request log.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The SQLite file (created with its folder when missing).
    pub path: std::path::PathBuf,
    /// Rows older than this are deleted (default 7 days).
    #[serde(default = "default_log_age", with = "duration")]
    pub max_age: Duration,
    /// At most this many rows are kept, the newest (default 1 000 000).
    #[serde(default = "default_log_rows")]
    pub max_rows: u64,
    /// Rows waiting for the writer, at most; beyond, rows are dropped and counted, never
    /// waited for (default 10 000).
    #[serde(default = "default_log_queue")]
    pub queue: usize,
}

impl LogConfig {
    /// A log at `path`, with the default age, rows and queue.
    pub fn new(path: impl Into<std::path::PathBuf>) -> LogConfig {
        LogConfig {
            path: path.into(),
            max_age: default_log_age(),
            max_rows: default_log_rows(),
            queue: default_log_queue(),
        }
    }
}

fn default_log_age() -> Duration {
    Duration::from_secs(7 * 24 * 60 * 60)
}

fn default_log_rows() -> u64 {
    1_000_000
}

fn default_log_queue() -> usize {
    10_000
}

/// Redis shared by the relay processes of one deployment.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db` (a password in it is never logged).
    pub url: String,
    /// The prefix of every Redis key, the same in every process of one deployment (default
    /// `gemini-relay`; letters, digits and `-_.`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// While Redis cannot be reached: `wait` for it (the default; bounded by the request's
    /// deadline, never over quota), `fail` at once (a 503), or `local`: count in this process
    /// alone with `local_share` of every quota.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
    /// With `on_unavailable = "local"`, the share of each quota this process may use alone
    /// (0 < share ≤ 1; default 0.5, for two processes).
    #[serde(default = "default_share")]
    pub local_share: f64,
}

/// What the relay does while Redis cannot be reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Wait for Redis, within the request's deadline.
    #[default]
    Wait,
    /// Answer 503 at once.
    Fail,
    /// Count in this process alone, with a share of every quota.
    Local,
}

impl RedisConfig {
    /// Redis at `url`, the default namespace, waiting while it is unavailable.
    pub fn new(url: &str) -> RedisConfig {
        RedisConfig {
            url: url.to_owned(),
            namespace: default_namespace(),
            on_unavailable: OnUnavailable::Wait,
            local_share: default_share(),
        }
    }

    /// The core's mode for this setting.
    pub(crate) fn unavailable(&self) -> steadfast::limit::Unavailable {
        match self.on_unavailable {
            OnUnavailable::Wait => steadfast::limit::Unavailable::Wait,
            OnUnavailable::Fail => steadfast::limit::Unavailable::Fail,
            OnUnavailable::Local => steadfast::limit::Unavailable::Local {
                share: self.local_share,
            },
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field(
                "url",
                &steadfast::limit::redis::url_without_credentials(&self.url),
            )
            .field("namespace", &self.namespace)
            .field("on_unavailable", &self.on_unavailable)
            .field("local_share", &self.local_share)
            .finish()
    }
}

/// The limits of each project for one model.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Requests per day (reset at midnight Pacific time).
    #[serde(default)]
    pub rpd: Option<u32>,
    /// Input tokens per minute.
    #[serde(default)]
    pub tpm: Option<u32>,
}

/// One upstream project.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Its label (shown in response headers and logs; never a key).
    pub name: String,
    /// Its keys.
    pub keys: Vec<String>,
}

/// One relay key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayKeyConfig {
    /// Its name (in logs and response headers; never the secret).
    pub name: String,
    /// The secret clients send.
    #[serde(default)]
    pub secret: Option<String>,
    /// Or only the SHA-256 of the secret, in hexadecimal, so that the file holds no secret.
    #[serde(default)]
    pub sha256: Option<String>,
    /// At most this many requests in any minute with this key (none by default).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// At most this many requests in any 24 hours with this key (none by default).
    #[serde(default)]
    pub rpd: Option<u32>,
    /// At most this many input tokens in any minute with this key (none by default), counted
    /// as the pool counts them: the text of a generate request's prompt.
    #[serde(default)]
    pub tpm: Option<u32>,
    /// The models this key may use (without `models/`); empty: every model.
    #[serde(default)]
    pub models: Vec<String>,
}

impl RelayKeyConfig {
    /// A relay key with `secret`, no limits, every model.
    pub fn new(name: &str, secret: &str) -> RelayKeyConfig {
        RelayKeyConfig {
            name: name.to_owned(),
            secret: Some(secret.to_owned()),
            sha256: None,
            rpm: None,
            rpd: None,
            tpm: None,
            models: Vec::new(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "upstream",
                &steadfast::limit::redis::url_without_credentials(&self.upstream),
            )
            .field("keys", &self.keys.len())
            .field(
                "projects",
                &self.projects.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .field(
                "relay_keys",
                &self.relay_keys.iter().map(|k| &k.name).collect::<Vec<_>>(),
            )
            .field("deadline", &self.deadline)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("fallback", &self.fallback)
            .field("limits", &self.limits)
            .field("quota_minute", &self.quota_minute)
            .field("max_waiting", &self.max_waiting)
            .field("max_connections", &self.max_connections)
            .field("threads", &self.threads)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("idle_timeout", &self.idle_timeout)
            .field("drain", &self.drain)
            .field("forward_unknown_routes", &self.forward_unknown_routes)
            .field("redis", &self.redis)
            .field("metrics", &self.metrics)
            .field("log", &self.log)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl fmt::Debug for ProjectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectConfig")
            .field("name", &self.name)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl fmt::Debug for RelayKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayKeyConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn default_host() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn default_port() -> u16 {
    8090
}

fn default_upstream() -> String {
    DEFAULT_UPSTREAM.to_owned()
}

fn default_deadline() -> Duration {
    Duration::from_secs(60)
}

fn default_minute() -> Duration {
    Duration::from_secs(60)
}

fn default_max_body() -> usize {
    32 * 1024 * 1024
}

fn default_max_waiting() -> usize {
    1024
}

fn default_max_connections() -> usize {
    4096
}

fn default_max_header() -> usize {
    64 * 1024
}

fn default_idle() -> Duration {
    Duration::from_secs(60)
}

fn default_drain() -> Duration {
    Duration::from_secs(30)
}

fn default_true() -> bool {
    true
}

fn default_namespace() -> String {
    "gemini-relay".to_owned()
}

fn default_share() -> f64 {
    0.5
}

mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        steadfast::policy::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

impl Default for Config {
    /// Listens on 127.0.0.1:8090, forwards to Google's API, with no key of either kind.
    fn default() -> Self {
        Config {
            host: default_host(),
            port: default_port(),
            upstream: default_upstream(),
            keys: Vec::new(),
            projects: Vec::new(),
            relay_keys: Vec::new(),
            deadline: default_deadline(),
            max_body_bytes: default_max_body(),
            fallback: Vec::new(),
            limits: Default::default(),
            quota_minute: default_minute(),
            max_waiting: default_max_waiting(),
            max_connections: default_max_connections(),
            threads: None,
            max_header_bytes: default_max_header(),
            idle_timeout: default_idle(),
            drain: default_drain(),
            forward_unknown_routes: true,
            redis: None,
            metrics: true,
            log: None,
            admin_token: None,
            admin_token_sha256: None,
        }
    }
}

/// A configuration the relay cannot use; its message names the field (and, from a file, the
/// line) and says what is expected. It never quotes a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads a configuration from TOML text; the error names the field and the line.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            // toml's own message quotes the offending line, which may hold a key or a secret:
            // say where and what, never the line.
            let place = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!(" at line {line}, column {column}")
            });
            ConfigError::new(format!(
                "relay config{}: {}",
                place.unwrap_or_default(),
                e.message().trim_end()
            ))
        })
    }

    /// Reads a configuration file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(format!(
                "cannot read the relay config {}: {e}",
                path.display()
            ))
        })?;
        Config::from_toml(&text).map_err(|e| ConfigError::new(format!("{}: {e}", path.display())))
    }

    /// Checks what serde cannot: at least one upstream key and one relay key, names that are
    /// neither empty nor repeated, a relay key with exactly one of `secret` and `sha256`.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.keys.is_empty() && self.projects.is_empty() {
            return Err(ConfigError::new(
                "no upstream key: give one with --key, GEMINI_API_KEYS, or `keys`/`projects` in the config",
            ));
        }
        if self.relay_keys.is_empty() {
            return Err(ConfigError::new(
                "no relay key: clients need one to use the relay; give one with --relay-key NAME=SECRET or `[[relay_keys]]` in the config",
            ));
        }
        for (field, value, least) in [
            ("max_waiting", self.max_waiting, 1),
            ("max_connections", self.max_connections, 1),
            ("max_header_bytes", self.max_header_bytes, 1024),
            ("max_body_bytes", self.max_body_bytes, 1),
        ] {
            if value < least {
                return Err(ConfigError::new(format!(
                    "{field}: {value} is too small; use at least {least}"
                )));
            }
        }
        if let Some(threads) = self.threads
            && !(1..=1024).contains(&threads)
        {
            return Err(ConfigError::new(format!(
                "threads: {threads} is not a number of threads; use 1 to 1024 (1 when left out)"
            )));
        }
        const DAY: Duration = Duration::from_secs(24 * 60 * 60);
        for (field, value, most) in [
            ("deadline", self.deadline, DAY),
            ("idle_timeout", self.idle_timeout, DAY),
            ("quota_minute", self.quota_minute, Duration::from_secs(3600)),
            ("drain", self.drain, DAY),
        ] {
            if value.is_zero() && field != "drain" {
                return Err(ConfigError::new(format!(
                    "{field}: a duration of 0 would refuse everything; give one such as \"30s\""
                )));
            }
            if value > most {
                return Err(ConfigError::new(format!(
                    "{field}: {value:?} is longer than the relay allows ({most:?})"
                )));
            }
        }
        if let Some(redis) = &self.redis {
            let ok = !redis.namespace.is_empty()
                && redis.namespace.len() <= 64
                && redis
                    .namespace
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(ConfigError::new(
                    "redis.namespace: use 1 to 64 letters, digits and `-_.`",
                ));
            }
            if !(redis.local_share > 0.0 && redis.local_share <= 1.0) {
                return Err(ConfigError::new(format!(
                    "redis.local_share: {} is outside (0, 1]",
                    redis.local_share
                )));
            }
            if !(redis.url.starts_with("redis://") || redis.url.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "redis.url: give a URL such as redis://127.0.0.1:6379",
                ));
            }
        }
        if let Some(log) = &self.log
            && (log.max_rows == 0 || log.queue == 0 || log.max_age.is_zero())
        {
            return Err(ConfigError::new(
                "log: max_rows, queue and max_age must be more than 0",
            ));
        }
        match (&self.admin_token, &self.admin_token_sha256) {
            (Some(t), None) if t.len() < 16 => {
                return Err(ConfigError::new(
                    "admin_token: shorter than 16 characters; use a long random one",
                ));
            }
            (None, Some(h)) if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                return Err(ConfigError::new(
                    "admin_token_sha256: must be 64 hexadecimal digits",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "give one of admin_token and admin_token_sha256, not both",
                ));
            }
            _ => {}
        }
        for (model, l) in &self.limits {
            if [l.rpm, l.rpd, l.tpm].contains(&Some(0)) {
                return Err(ConfigError::new(format!(
                    "limits.\"{model}\": a limit of 0 would refuse every request; leave it out, or use at least 1"
                )));
            }
        }
        for (i, k) in self.relay_keys.iter().enumerate() {
            let name_ok = !k.name.is_empty()
                && k.name.len() <= 64
                && k.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !name_ok {
                return Err(ConfigError::new(format!(
                    "relay_keys[{i}]: the name {:?} must be 1 to 64 letters, digits and `-_.` (it appears in headers, logs and Redis keys)",
                    k.name
                )));
            }
            if self.relay_keys[..i].iter().any(|o| o.name == k.name) {
                return Err(ConfigError::new(format!(
                    "relay_keys: the name `{}` is given twice",
                    k.name
                )));
            }
            if k.rpm == Some(0) || k.rpd == Some(0) || k.tpm == Some(0) {
                return Err(ConfigError::new(format!(
                    "relay key `{}`: a limit of 0 would refuse every request; leave it out, or use at least 1",
                    k.name
                )));
            }
            match (&k.secret, &k.sha256) {
                (Some(s), None) if s.len() >= 16 => {}
                (Some(_), None) => {
                    return Err(ConfigError::new(format!(
                        "relay key `{}`: the secret is shorter than 16 characters; use a long random one",
                        k.name
                    )));
                }
                (None, Some(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {}
                (None, Some(_)) => {
                    return Err(ConfigError::new(format!(
                        "relay key `{}`: sha256 must be 64 hexadecimal digits",
                        k.name
                    )));
                }
                _ => {
                    return Err(ConfigError::new(format!(
                        "relay key `{}`: give exactly one of `secret` and `sha256`",
                        k.name
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_config_reads() {
        let text = include_str!("../relay.example.toml");
        let config = Config::from_toml(text).unwrap();
        assert_eq!(config.projects[0].name, "research");
        assert_eq!(config.limits["gemini-2.5-flash"].rpm, Some(10));
        assert_eq!(config.relay_keys[1].tpm, Some(200_000));
        assert!(config.redis.is_none(), "commented out");
        config.check().unwrap();
    }

    #[test]
    fn threads_are_a_number_of_workers() {
        let base = "keys = [\"upstream-key-not-real-0001\"]\n[[relay_keys]]\nname = \"a\"\nsecret = \"relay-secret-not-real-0009\"\n";
        let ok = Config::from_toml(&format!("threads = 1\n{base}")).unwrap();
        assert_eq!(ok.threads, Some(1));
        ok.check().unwrap();
        for bad in ["threads = 0", "threads = 5000"] {
            let e = Config::from_toml(&format!("{bad}\n{base}"))
                .and_then(|c| c.check().map(|()| c))
                .unwrap_err();
            assert!(e.to_string().contains("threads"), "{e}");
        }
        let e = Config::from_toml(&format!("threads = -1\n{base}")).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn a_mistake_names_the_field_and_the_line() {
        let e = Config::from_toml("port = 8090\nupstrem = \"x\"\n").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("upstrem") && text.contains("line 2"),
            "{text}"
        );
        let e = Config::from_toml("deadline = \"soon\"").unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
        // toml's message quotes the line; ours never does, as it may hold a secret.
        let e = Config::from_toml(
            "keys = [\"upstream-key-not-real-0001\"]\n[[relay_keys]]\nname = \"a\"\nsecert = \"relay-secret-not-real-0009\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("secert") && e.contains("line 4"), "{e}");
        assert!(!e.contains("relay-secret-not-real-0009"), "{e}");
        let e = Config::from_toml("keys = [\"upstream-key-not-real-0001\", 5]")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("upstream-key-not-real-0001"), "{e}");
    }

    #[test]
    fn checks_say_what_is_missing_and_never_quote_a_secret() {
        let mut c = Config::default();
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .contains("no upstream key")
        );
        c.keys.push("upstream-key-not-real-0001".into());
        assert!(c.check().unwrap_err().to_string().contains("no relay key"));
        c.relay_keys.push(RelayKeyConfig::new("a", "short-secret"));
        let e = c.check().unwrap_err().to_string();
        assert!(
            e.contains("shorter than 16") && !e.contains("short-secret"),
            "{e}"
        );
        assert!(!format!("{c:?}").contains("upstream-key-not-real"));
        assert!(!format!("{c:?}").contains("short-secret"));
    }
}
