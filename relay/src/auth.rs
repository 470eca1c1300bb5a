//! Relay keys: clients authenticate to the relay, never to Google.
//!
//! A client sends its relay key as the real API takes a key: `x-goog-api-key`, `?key=`, or
//! `Authorization: Bearer`. The relay keeps only the SHA-256 of each secret and compares
//! digests, so a configuration may hold the digest alone. The key is never forwarded, logged
//! or echoed: upstream requests carry only the pool's keys.

use crate::config::RelayKeyConfig;
use sha2::{Digest, Sha256};

/// The relay keys, by the SHA-256 of their secret.
#[derive(Clone)]
pub(crate) struct RelayKeys {
    keys: Vec<([u8; 32], String)>,
}

impl std::fmt::Debug for RelayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(_, name)| name))
            .finish()
    }
}

/// What a request carried as its relay key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// No key at all.
    Missing,
    /// A key that is not a relay key.
    Unknown,
    /// The relay key of this name.
    Known(String),
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
    /// The keys of a checked configuration ([`Config::check`](crate::Config::check)).
    pub(crate) fn new(configured: &[RelayKeyConfig]) -> RelayKeys {
        let keys = configured
            .iter()
            .filter_map(|k| {
                let digest = match (&k.secret, &k.sha256) {
                    (Some(secret), _) => Some(digest(secret)),
                    (None, Some(hex)) => from_hex(hex),
                    (None, None) => None,
                }?;
                Some((digest, k.name.clone()))
            })
            .collect();
        RelayKeys { keys }
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
        let found = self.keys.iter().fold(None, |found, (d, name)| {
            let same = d.iter().zip(&wanted).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
            if same { Some(name) } else { found }
        });
        match found {
            Some(name) => Credential::Known(name.clone()),
            None => Credential::Unknown,
        }
    }
}

/// The value of `key` in a query string, percent-decoded.
fn query_key(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == "key").then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
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
        RelayKeys::new(&[
            RelayKeyConfig {
                name: "plain".into(),
                secret: Some("relay-secret-not-real-0001".into()),
                sha256: None,
            },
            RelayKeyConfig {
                name: "hashed".into(),
                secret: None,
                sha256: Some(
                    Sha256::digest(b"relay-secret-not-real-0002")
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect(),
                ),
            },
        ])
    }

    #[test]
    fn a_key_is_found_in_each_place_the_api_takes_one() {
        let k = keys();
        let mut h = http::HeaderMap::new();
        assert_eq!(k.identify(&h, None), Credential::Missing);
        assert_eq!(
            k.identify(&h, Some("alt=sse&key=relay-secret-not-real-0002")),
            Credential::Known("hashed".into())
        );
        h.insert(
            "authorization",
            "Bearer relay-secret-not-real-0001".parse().unwrap(),
        );
        assert_eq!(k.identify(&h, None), Credential::Known("plain".into()));
        h.insert("x-goog-api-key", "wrong-secret".parse().unwrap());
        assert_eq!(k.identify(&h, None), Credential::Unknown);
        assert!(!format!("{k:?}").contains("secret-not-real"));
    }
}
