//! The cached-content resource: a prefix of prompts (contents, a system instruction, tools)
//! stored once by the service and referred to by requests through
//! [`GenerateContentRequest::cached_content`](super::GenerateContentRequest::cached_content).

use super::json;
use super::{Content, Tool, ToolConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// Cached content, as `cachedContents.create` takes it and `get`, `list` and `patch` return it.
///
/// Only the name, model, display name, times and usage come back: the service never echoes
/// the cached contents, system instruction or tools. A request that uses a cache may not set
/// its own system instruction, tools or tool config (the service answers 400).
///
/// ```
/// use std::time::Duration;
/// use steadfast_gemini::types::{CachedContent, Content};
/// let cache = CachedContent::new("gemini-2.5-flash", vec![Content::user("a long document…")])
///     .with_system_instruction(Content::system("answer from the document"))
///     .with_ttl(Duration::from_millis(1500));
/// let json = serde_json::to_value(&cache)?;
/// assert_eq!(json["model"], "models/gemini-2.5-flash");
/// assert_eq!(json["ttl"], "1.500s");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CachedContent {
    /// `cachedContents/{id}` (set by the service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A human name (up to 128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `models/{model}`: the only model that can use this cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A system instruction (input only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// The contents to cache (input only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub contents: Vec<Content>,
    /// Tools (input only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub tools: Vec<Tool>,
    /// Tool settings (input only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// When it was last updated (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// When it expires (RFC 3339); always set on output. On input, give this or `ttl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// How long it lives from now, as a proto duration (`"300s"`, `"1.5s"`; input only). The
    /// default is one hour. See [`CachedContent::with_ttl`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Its size in tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<CachedContentUsageMetadata>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<CachedContent, _>")]
    pub extra: Map<String, Value>,
}

impl CachedContent {
    /// A cache of `contents` for `model` (with or without the `models/` prefix).
    pub fn new(model: &str, contents: Vec<Content>) -> Self {
        let name = model.strip_prefix("models/").unwrap_or(model);
        CachedContent {
            model: Some(format!("models/{name}")),
            contents,
            ..CachedContent::default()
        }
    }

    /// The same cache with a system instruction.
    pub fn with_system_instruction(mut self, instruction: Content) -> Self {
        self.system_instruction = Some(instruction);
        self
    }

    /// The same cache with a time to live (replacing any `expire_time`). A `ttl` past
    /// [`MAX_PROTO_DURATION`] is kept, and refused by
    /// [`Client::create_cached_content`](crate::Client::create_cached_content) before sending.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(duration_string(ttl));
        self.expire_time = None;
        self
    }

    /// The same cache with a display name.
    pub fn with_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
}

/// The size of a cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CachedContentUsageMetadata {
    /// Tokens it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub total_token_count: Option<u64>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<CachedContentUsageMetadata, _>"
    )]
    pub extra: Map<String, Value>,
}

/// One page of `cachedContents.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListCachedContentsResponse {
    /// The caches on this page (absent when there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub cached_contents: Vec<CachedContent>,
    /// The token of the next page; absent or empty on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<ListCachedContentsResponse, _>"
    )]
    pub extra: Map<String, Value>,
}

/// The longest `google.protobuf.Duration`: 315,576,000,000 seconds (10,000 years) and
/// 999,999,999 nanoseconds. A longer `ttl` is refused by the client before sending (a
/// [`Configuration`](crate::ErrorKind::Configuration) error).
pub const MAX_PROTO_DURATION: Duration = Duration::new(315_576_000_000, 999_999_999);

/// A duration as proto JSON writes it: seconds with up to nine decimals and an `s`
/// (`"300s"`, `"1.500s"`).
///
/// It writes any `Duration`, also one past [`MAX_PROTO_DURATION`], which the API cannot take:
/// [`Client::create_cached_content`](crate::Client::create_cached_content) and
/// [`Client::update_cached_content_ttl`](crate::Client::update_cached_content_ttl) refuse such
/// a `ttl` before sending.
///
/// ```
/// use std::time::Duration;
/// use steadfast_gemini::types::duration_string;
/// assert_eq!(duration_string(Duration::from_secs(300)), "300s");
/// assert_eq!(duration_string(Duration::from_nanos(1_000_000_001)), "1.000000001s");
/// ```
pub fn duration_string(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{}s", d.as_secs())
    } else if nanos % 1_000_000 == 0 {
        format!("{}.{:03}s", d.as_secs(), nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}.{:06}s", d.as_secs(), nanos / 1_000)
    } else {
        format!("{}.{nanos:09}s", d.as_secs())
    }
}

json::impl_extra!(
    CachedContent,
    CachedContentUsageMetadata,
    ListCachedContentsResponse,
);
