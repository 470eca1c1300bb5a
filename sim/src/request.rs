//! What a request is, once the server has read it: the model method it asks for
//! ([`Action`]), the headers the resource and OpenAI-compatible routes read
//! ([`RequestHeaders`]), and its query.

use super::validate::Message;

/// What a request asks a model to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Generate,
    Stream,
    CountTokens,
    Embed,
    BatchEmbed,
    /// One request of a batch: a `generateContent` outside the per-minute and per-day quotas
    /// and the injected faults. Never parsed from a URL.
    Batched,
}

impl Action {
    pub(super) fn parse(name: &str) -> Option<Action> {
        Some(match name {
            "generateContent" => Action::Generate,
            "streamGenerateContent" => Action::Stream,
            "countTokens" => Action::CountTokens,
            "embedContent" => Action::Embed,
            "batchEmbedContents" => Action::BatchEmbed,
            _ => return None,
        })
    }

    pub(super) fn method_name(self) -> &'static str {
        match self {
            Action::Generate => "generateContent",
            Action::Stream => "streamGenerateContent",
            Action::CountTokens => "countTokens",
            Action::Embed => "embedContent",
            Action::BatchEmbed => "batchEmbedContents",
            Action::Batched => "batchGenerateContent",
        }
    }

    pub(super) fn message(self) -> Message {
        match self {
            Action::Generate | Action::Stream | Action::Batched => Message::GenerateContentRequest,
            Action::CountTokens => Message::CountTokensRequest,
            Action::Embed => Message::EmbedContentRequest,
            Action::BatchEmbed => Message::BatchEmbedContentsRequest,
        }
    }
}

/// The request headers the resource routes read: `Host` (to build URLs), `Authorization` (the
/// OpenAI-compatible routes' key) and the `X-Goog-Upload-*` headers, names lowercased.
#[derive(Default, Clone)]
pub(crate) struct RequestHeaders {
    host: Option<String>,
    authorization: Option<String>,
    upload: Vec<(String, String)>,
}

impl std::fmt::Debug for RequestHeaders {
    /// Names only: `Authorization` carries a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHeaders")
            .field("host", &self.host)
            .field("authorization", &self.authorization.as_ref().map(|_| "…"))
            .field(
                "upload",
                &self.upload.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RequestHeaders {
    /// The headers of interest in `headers`.
    pub(crate) fn of(headers: &hyper::HeaderMap) -> Self {
        let text =
            |v: &hyper::header::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        RequestHeaders {
            host: headers.get(hyper::header::HOST).map(text),
            authorization: headers.get(hyper::header::AUTHORIZATION).map(text),
            upload: headers
                .iter()
                .filter(|(name, _)| name.as_str().starts_with("x-goog-upload-"))
                .map(|(name, value)| (name.as_str().to_owned(), text(value)))
                .collect(),
        }
    }

    /// The `Authorization` header, as sent.
    pub(super) fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// The key of an `Authorization: Bearer KEY` header.
    pub(super) fn bearer(&self) -> Option<&str> {
        self.authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
    }

    pub(super) fn upload(&self, name: &str) -> Option<&str> {
        self.upload
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }

    /// `http://{Host}` when the Host header is a plain host and port, else the loopback.
    pub(super) fn origin(&self) -> String {
        let host = self.host.as_deref().filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
        format!("http://{}", host.unwrap_or("127.0.0.1"))
    }
}

/// The value of `name` in a query string, percent-decoded.
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_decoded() {
        assert_eq!(
            query_param("alt=sse&key=a%2Bb+c", "key").as_deref(),
            Some("a+b c")
        );
        assert_eq!(query_param("key", "key").as_deref(), Some(""));
        assert_eq!(query_param("a=%zz%4", "a").as_deref(), Some("%zz%4"));
        assert_eq!(query_param("", "key"), None);
    }
}
