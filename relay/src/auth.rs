//! Relay keys: clients authenticate to the relay, never to Google.
//!
//! A client sends its relay key as the real API takes a key: `x-goog-api-key`, `?key=`, or
//! `Authorization: Bearer`. The relay keeps only the SHA-256 of each secret and compares
//! digests, so a configuration may hold the digest alone. The key is never forwarded, logged
//! or echoed: upstream requests carry only the pool's keys.

use crate::config::RedisConfig;
use crate::config::{ConfigError, RelayKeyConfig};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use steadfast::limit::{RateLimit, RateLimitConfig, RedisRateLimit, Unavailable};

/// One relay key: its name, what it may use and its limiters.
#[derive(Debug)]
pub(crate) struct RelayKey {
    pub(crate) name: String,
    /// The models it may use; empty: every model.
    pub(crate) models: Vec<String>,
    /// Its requests per minute and per day, when it has such limits.
    pub(crate) requests: Option<Arc<KeyLimit>>,
    /// Its input tokens per minute, when it has that limit.
    pub(crate) tokens: Option<Arc<KeyLimit>>,
    /// The limits, for the QuotaFailure of a refusal and to keep the limiters across a reload
    /// that leaves them as they were: per minute, per day, tokens per minute.
    pub(crate) rpm: Option<u32>,
    pub(crate) rpd: Option<u32>,
    pub(crate) tpm: Option<u32>,
}

impl RelayKey {
    /// Who sends the bytes of a resumable upload that a relay key started through the relay:
    /// the SDKs send them to the session's URL without a key, as its `upload_id` authorises
    /// them. No limits (the start was counted); no model.
    pub(crate) fn upload_session() -> Arc<RelayKey> {
        Arc::new(RelayKey {
            name: "(upload session)".to_owned(),
            models: Vec::new(),
            requests: None,
            tokens: None,
            rpm: None,
            rpd: None,
            tpm: None,
        })
    }

    /// Whether it may use `model`.
    pub(crate) fn allows(&self, model: &str) -> bool {
        let model = model.trim_start_matches("models/");
        self.models.is_empty()
            || self
                .models
                .iter()
                .any(|m| m.trim_start_matches("models/") == model)
    }
}

/// A relay key's limiter: in this process, or shared by every relay process through Redis.
#[derive(Debug)]
pub(crate) enum KeyLimit {
    Local(Box<RateLimit>),
    Shared {
        limit: Box<RedisRateLimit>,
        /// Wait for Redis while it is unavailable (within the request's deadline), rather than
        /// answering 503 at once.
        wait: bool,
    },
}

/// Why a relay key's limiter refused.
#[derive(Debug)]
pub(crate) enum Over {
    /// Over the limit; a slot frees after this long (`None`: the request alone is larger than
    /// the limit).
    Limit(Option<Duration>),
    /// Redis cannot be reached.
    Unavailable,
}

impl KeyLimit {
    /// Takes `weight` now, or says why not. While Redis is unavailable and the key waits for
    /// it, it tries again (100 ms, doubling to 1 s) until `until`.
    pub(crate) async fn take(&self, weight: u32, until: tokio::time::Instant) -> Result<(), Over> {
        let over = |d: steadfast::limit::Denied| {
            if d.is_unavailable() {
                Over::Unavailable
            } else {
                Over::Limit(d.retry_after())
            }
        };
        match self {
            KeyLimit::Local(limit) => limit.try_acquire(weight).map_err(over),
            KeyLimit::Shared { limit, wait } => {
                let mut pause = Duration::from_millis(100);
                loop {
                    match limit.try_grant(weight).await {
                        Ok(_) => return Ok(()),
                        Err(d) if d.is_unavailable() && *wait => {
                            if tokio::time::Instant::now() + pause >= until {
                                return Err(Over::Unavailable);
                            }
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(1));
                        }
                        Err(d) => return Err(over(d)),
                    }
                }
            }
        }
    }
}

/// The relay keys, by the SHA-256 of their secret.
pub(crate) struct RelayKeys {
    keys: Vec<([u8; 32], Arc<RelayKey>)>,
}

impl std::fmt::Debug for RelayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(_, k)| &k.name))
            .finish()
    }
}

/// What a request carried as its relay key.
#[derive(Debug)]
pub(crate) enum Credential {
    /// No key at all.
    Missing,
    /// A key that is not a relay key.
    Unknown,
    /// This relay key.
    Known(Arc<RelayKey>),
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl RelayKeys {
    /// The keys of a checked configuration ([`Config::check`](crate::Config::check)), each
    /// with its limiters: in Redis when `redis` is given, else in this process. A key of
    /// `previous` (the configuration before a reload) with the same name, digest and limits
    /// keeps its limiters, so that a reload does not give it a fresh minute.
    pub(crate) fn new(
        configured: &[RelayKeyConfig],
        redis: Option<&RedisConfig>,
        previous: Option<&RelayKeys>,
    ) -> Result<RelayKeys, ConfigError> {
        let mut keys = Vec::with_capacity(configured.len());
        for k in configured {
            let digest = match (&k.secret, &k.sha256) {
                (Some(secret), _) => digest(secret),
                (None, Some(hex)) => from_hex(hex).ok_or_else(|| {
                    ConfigError::new(format!(
                        "relay key `{}`: sha256 is not 64 hexadecimal digits",
                        k.name
                    ))
                })?,
                (None, None) => {
                    return Err(ConfigError::new(format!(
                        "relay key `{}` has no secret",
                        k.name
                    )));
                }
            };
            let kept = previous.and_then(|p| {
                p.keys.iter().find(|(d, old)| {
                    *d == digest
                        && old.name == k.name
                        && (old.rpm, old.rpd, old.tpm) == (k.rpm, k.rpd, k.tpm)
                })
            });
            let key = match kept {
                Some((_, old)) => Arc::new(RelayKey {
                    name: k.name.clone(),
                    models: k.models.clone(),
                    requests: old.requests.clone(),
                    tokens: old.tokens.clone(),
                    rpm: k.rpm,
                    rpd: k.rpd,
                    tpm: k.tpm,
                }),
                None => {
                    // A window, not a pace: a key may use its whole minute at once, as
                    // Gemini's own per-minute quota allows.
                    let mut rates = RateLimitConfig::default();
                    if let Some(n) = k.rpm {
                        rates = rates.per_minute(n);
                    }
                    if let Some(n) = k.rpd {
                        rates = rates.per_day(n);
                    }
                    if let Some(burst) = k.rpm.or(k.rpd) {
                        rates = rates.burst(burst);
                    }
                    let tokens = k
                        .tpm
                        .map(|n| RateLimitConfig::default().per_minute(n).burst(n));
                    let requests = k.rpm.or(k.rpd).map(|_| rates);
                    let build = |what: &str, rates: RateLimitConfig| {
                        limiter(&k.name, what, rates, redis)
                            .map(Arc::new)
                            .map_err(|e| ConfigError::new(format!("relay key `{}`: {e}", k.name)))
                    };
                    Arc::new(RelayKey {
                        name: k.name.clone(),
                        models: k.models.clone(),
                        requests: requests.map(|r| build("requests", r)).transpose()?,
                        tokens: tokens.map(|r| build("tokens", r)).transpose()?,
                        rpm: k.rpm,
                        rpd: k.rpd,
                        tpm: k.tpm,
                    })
                }
            };
            keys.push((digest, key));
        }
        Ok(RelayKeys { keys })
    }

    /// Who sent `headers` and `query`: the key in `x-goog-api-key`, else `Authorization:
    /// Bearer`, else `?key=`.
    pub(crate) fn identify(&self, headers: &http::HeaderMap, query: Option<&str>) -> Credential {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let given = header("x-goog-api-key")
            .map(str::to_owned)
            .or_else(|| {
                header("authorization")
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(|v| v.trim().to_owned())
            })
            .or_else(|| query.and_then(query_key));
        let Some(given) = given.filter(|g| !g.is_empty()) else {
            return Credential::Missing;
        };
        let wanted = digest(&given);
        // Digests of equal length, compared whole: no early exit on the first difference.
        let found = self.keys.iter().fold(None, |found, (d, key)| {
            let same = d.iter().zip(&wanted).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
            if same { Some(key) } else { found }
        });
        match found {
            Some(key) => Credential::Known(Arc::clone(key)),
            None => Credential::Unknown,
        }
    }
}

/// A relay key's limiter of `what` (`requests`, `tokens`): in Redis, under the namespace, when
/// `redis` is given; else in this process.
fn limiter(
    name: &str,
    what: &str,
    rates: RateLimitConfig,
    redis: Option<&RedisConfig>,
) -> Result<KeyLimit, String> {
    match redis {
        None => RateLimit::new(rates)
            .map(|l| KeyLimit::Local(Box::new(l)))
            .map_err(|e| e.to_string()),
        Some(redis) => {
            let mode = redis.unavailable();
            let wait = mode == Unavailable::Wait;
            RedisRateLimit::builder(
                &redis.url,
                &format!("{}:relay-key:{name}:{what}", redis.namespace),
            )
            .rates(rates)
            // Waiting for Redis is the relay's to do, within the request's deadline.
            .on_unavailable(if wait { Unavailable::Fail } else { mode })
            .build()
            .map(|limit| KeyLimit::Shared {
                limit: Box::new(limit),
                wait,
            })
            .map_err(|e| e.to_string())
        }
    }
}

/// The SHA-256 of the admin token, from the token or its digest.
pub(crate) fn admin_digest(token: Option<&str>, sha256: Option<&str>) -> Option<[u8; 32]> {
    match (token, sha256) {
        (Some(t), _) => Some(digest(t)),
        (None, Some(h)) => from_hex(h),
        (None, None) => None,
    }
}

/// Whether `headers` carry the admin token (`Authorization: Bearer TOKEN`), compared as digests
/// in full.
pub(crate) fn is_admin(headers: &http::HeaderMap, admin: Option<&[u8; 32]>) -> bool {
    let Some(wanted) = admin else {
        return false;
    };
    let Some(given) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given = digest(given.trim());
    given
        .iter()
        .zip(wanted)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// The value of `key` in a query string, percent-decoded.
fn query_key(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == "key").then(|| percent_decode(value))
    })
}

pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> RelayKeys {
        RelayKeys::new(
            &[
                RelayKeyConfig::new("plain", "relay-secret-not-real-0001"),
                RelayKeyConfig {
                    secret: None,
                    sha256: Some(
                        Sha256::digest(b"relay-secret-not-real-0002")
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect(),
                    ),
                    ..RelayKeyConfig::new("hashed", "")
                },
            ],
            None,
            None,
        )
        .unwrap()
    }

    fn name(c: Credential) -> Option<String> {
        match c {
            Credential::Known(k) => Some(k.name.clone()),
            _ => None,
        }
    }

    #[test]
    fn a_key_is_found_in_each_place_the_api_takes_one() {
        let k = keys();
        let mut h = http::HeaderMap::new();
        assert!(matches!(k.identify(&h, None), Credential::Missing));
        assert_eq!(
            name(k.identify(&h, Some("alt=sse&key=relay-secret-not-real-0002"))).as_deref(),
            Some("hashed")
        );
        h.insert(
            "authorization",
            "Bearer relay-secret-not-real-0001".parse().unwrap(),
        );
        assert_eq!(name(k.identify(&h, None)).as_deref(), Some("plain"));
        h.insert("x-goog-api-key", "wrong-secret".parse().unwrap());
        assert!(matches!(k.identify(&h, None), Credential::Unknown));
        assert!(!format!("{k:?}").contains("secret-not-real"));
    }
}
