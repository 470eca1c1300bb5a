//! What an answer says about its sources: grounding (the `googleSearch` tool, retrieval),
//! citations, the `urlContext` tool's fetches, and token counts per modality.
//!
//! Every struct keeps the fields this crate does not name in `extra`, so that a round trip
//! through these types loses nothing the API sends.

use super::enums::{Modality, UrlRetrievalStatus};
use super::json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Tokens of one modality (`promptTokensDetails`, `cacheTokensDetails`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModalityTokenCount {
    /// The modality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    /// Its tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub token_count: Option<u64>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<ModalityTokenCount, _>"
    )]
    pub extra: Map<String, Value>,
}

/// Where an answer's facts come from, when a grounding tool (`googleSearch`, retrieval) was
/// used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroundingMetadata {
    /// The sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub grounding_chunks: Vec<GroundingChunk>,
    /// Which parts of the answer each source supports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub grounding_supports: Vec<GroundingSupport>,
    /// The queries the model sent to Google Search.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub web_search_queries: Vec<String>,
    /// The Google Search suggestions the terms of service ask an application to display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_entry_point: Option<SearchEntryPoint>,
    /// Retrieval details (the dynamic-retrieval score).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieval_metadata: Option<Value>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<GroundingMetadata, _>"
    )]
    pub extra: Map<String, Value>,
}

/// One grounding source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroundingChunk {
    /// A web page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebSource>,
    /// A retrieved document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieved_context: Option<WebSource>,
    /// Fields this crate does not name (other source kinds), kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<GroundingChunk, _>")]
    pub extra: Map<String, Value>,
}

/// A source's address and title.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebSource {
    /// Its URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<WebSource, _>")]
    pub extra: Map<String, Value>,
}

/// A stretch of the answer and the sources that support it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroundingSupport {
    /// The stretch of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    /// Indices into [`GroundingMetadata::grounding_chunks`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub grounding_chunk_indices: Vec<u32>,
    /// The confidence of each source, in the same order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub confidence_scores: Vec<f64>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<GroundingSupport, _>")]
    pub extra: Map<String, Value>,
}

/// A stretch of a candidate's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Segment {
    /// The part it lies in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_index: Option<u32>,
    /// Its first byte in the part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u32>,
    /// The byte after its last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_index: Option<u32>,
    /// Its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<Segment, _>")]
    pub extra: Map<String, Value>,
}

/// Google Search suggestions to display with a grounded answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchEntryPoint {
    /// HTML and CSS to embed in a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered_content: Option<String>,
    /// The suggestions as base64 JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_blob: Option<String>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<SearchEntryPoint, _>")]
    pub extra: Map<String, Value>,
}

/// The sources an answer recites.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CitationMetadata {
    /// The sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub citation_sources: Vec<CitationSource>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<CitationMetadata, _>")]
    pub extra: Map<String, Value>,
}

/// One recited source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CitationSource {
    /// The first byte of the recited stretch of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u32>,
    /// The byte after its last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_index: Option<u32>,
    /// The source's URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its licence, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<CitationSource, _>")]
    pub extra: Map<String, Value>,
}

/// What the `urlContext` tool fetched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UrlContextMetadata {
    /// One entry per URL.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub url_metadata: Vec<UrlMetadata>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<UrlContextMetadata, _>"
    )]
    pub extra: Map<String, Value>,
}

/// One URL the `urlContext` tool fetched, and how that went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UrlMetadata {
    /// The URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieved_url: Option<String>,
    /// Whether it was fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_retrieval_status: Option<UrlRetrievalStatus>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<UrlMetadata, _>")]
    pub extra: Map<String, Value>,
}

json::impl_extra!(
    ModalityTokenCount,
    GroundingMetadata,
    GroundingChunk,
    WebSource,
    GroundingSupport,
    Segment,
    SearchEntryPoint,
    CitationMetadata,
    CitationSource,
    UrlContextMetadata,
    UrlMetadata,
);
