//! Request and response types of the Gemini v1beta REST API, in its camelCase JSON.
//!
//! Decoding is forgiving by design: every field is optional or defaulted, and enums keep values
//! they do not know in an `Other(String)` variant, so a new API value never breaks decoding.
//! Encoding omits unset fields (and empty lists).
//!
//! `null`, which proto JSON allows for any field, reads as the field's default. Integer fields
//! take numbers or numbers written as strings (as proto JSON parsers do); token counts are
//! `u64`, so a count past `u32` does not lose the answer.
//!
//! Nothing the API adds is lost: the response types, [`Content`] and [`Part`] keep every field
//! this crate does not name in their `extra` map (`#[serde(flatten)]`), and write it back when
//! encoded, so that a model turn sent back in a conversation carries whatever the API put in
//! it. Decoding an answer and encoding it again gives the same JSON, except that:
//!
//! - a field written as `null`, or as an empty list, comes back absent (`"parts": []` too);
//! - an integer written as a string in a typed field comes back as a number (`"sizeBytes"`,
//!   an int64, is written as a string, as proto JSON does);
//! - an integer beyond `u64` (or below `i64`) in a field this crate does not name comes back
//!   as a float (`1.2345678901234568e29`): serde_json's `arbitrary_precision` is not enabled,
//!   since it would change `serde_json` for the whole program;
//! - an integer written for a float field (`"avgLogprobs": -1`) comes back as `-1.0`, the same
//!   JSON number;
//! - a key in `extra` that names a typed field (put there by hand: decoding never does) is not
//!   written: the typed field wins, and the key is written once. Checking costs one small
//!   decoding per `extra` key; an empty `extra` costs nothing.
//!
//! ```
//! use steadfast_gemini::types::{FinishReason, GenerateContentResponse};
//! let r: GenerateContentResponse = serde_json::from_str(r#"{
//!   "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
//!                   "finishReason": "SOMETHING_NEW", "aNewField": 1}],
//!   "modelVersion": "gemini-2.5-flash"}"#)?;
//! assert_eq!(r.text(), "Hi");
//! assert_eq!(r.candidates[0].finish_reason, Some(FinishReason::Other("SOMETHING_NEW".into())));
//! assert_eq!(r.candidates[0].extra["aNewField"], 1);
//! # Ok::<(), serde_json::Error>(())
//! ```

mod base64;
mod batches;
mod caches;
mod enums;
mod files;
mod grounding;
mod json;

pub use base64::Base64Error;
pub use batches::{
    Batch, BatchError, BatchInput, BatchOutput, BatchRequest, BatchResult, BatchState, BatchStats,
};
pub(crate) use batches::{ListOperations, Operation, ResultWire};
pub use caches::{
    CachedContent, CachedContentUsageMetadata, ListCachedContentsResponse, MAX_PROTO_DURATION,
    duration_string,
};
pub use enums::{
    BlockReason, FileSource, FileState, FinishReason, FunctionCallingMode, HarmBlockThreshold,
    HarmCategory, HarmProbability, Modality, Outcome, TaskType, ThinkingLevel, UrlRetrievalStatus,
};
pub use files::{File, ListFilesResponse};
pub use grounding::{
    CitationMetadata, CitationSource, GroundingChunk, GroundingMetadata, GroundingSupport,
    ModalityTokenCount, SearchEntryPoint, Segment, UrlContextMetadata, UrlMetadata, WebSource,
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One turn of a conversation: a role and its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Content {
    /// `"user"` or `"model"` (absent for a system instruction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts, in order (absent in a candidate whose thinking used every output token;
    /// not written when empty).
    #[serde(
        deserialize_with = "json::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parts: Vec<Part>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<Content, _>")]
    pub extra: Map<String, Value>,
}

impl Content {
    /// A user turn with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Content {
            role: Some("user".into()),
            parts: vec![Part::text(text)],
            extra: Map::new(),
        }
    }

    /// A model turn with one text part.
    pub fn model(text: impl Into<String>) -> Self {
        Content {
            role: Some("model".into()),
            parts: vec![Part::text(text)],
            extra: Map::new(),
        }
    }

    /// A system instruction (no role).
    pub fn system(text: impl Into<String>) -> Self {
        Content {
            role: None,
            parts: vec![Part::text(text)],
            extra: Map::new(),
        }
    }

    /// The text parts that are not thoughts, concatenated.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter(|p| p.thought != Some(true))
            .filter_map(|p| p.text.as_deref())
            .collect()
    }
}

/// One part of a turn. Exactly one data field is normally set; `thought` and
/// `thought_signature` stay on the part they came with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Part {
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Inline bytes (base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    /// A reference to an uploaded file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// A function call the model asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The result of a function call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// Code the model generated for execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable_code: Option<ExecutableCode>,
    /// The result of executing code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_result: Option<CodeExecutionResult>,
    /// Whether this part is the model's thought.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// An opaque signature of the thought, to send back with the part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    /// For a video (inline or a file): the stretch to look at and the frame rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_metadata: Option<VideoMetadata>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<Part, _>")]
    pub extra: Map<String, Value>,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }

    /// An inline-data part: `bytes` of type `mime_type`, base64-encoded (the API takes up to
    /// 20 MB of inline data per request; upload larger files with
    /// [`Client::upload_file`](crate::Client::upload_file)).
    ///
    /// ```
    /// use steadfast_gemini::types::Part;
    /// let part = Part::inline_bytes("image/png", &[0x89, b'P', b'N', b'G']);
    /// let blob = part.inline_data.as_ref().unwrap();
    /// assert_eq!(blob.data, "iVBORw==");
    /// assert_eq!(blob.bytes()?, [0x89, b'P', b'N', b'G']);
    /// # Ok::<(), steadfast_gemini::types::Base64Error>(())
    /// ```
    pub fn inline_bytes(mime_type: impl Into<String>, bytes: &[u8]) -> Self {
        Part {
            inline_data: Some(Blob::from_bytes(mime_type, bytes)),
            ..Part::default()
        }
    }

    /// A part that refers to an uploaded file by its URI (see also
    /// [`File::part`]).
    pub fn file_data(mime_type: impl Into<String>, file_uri: impl Into<String>) -> Self {
        Part {
            file_data: Some(FileData {
                mime_type: Some(mime_type.into()),
                file_uri: file_uri.into(),
                extra: Map::new(),
            }),
            ..Part::default()
        }
    }
}

/// The stretch of a video a part is about, and how many frames a second the model samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VideoMetadata {
    /// Where to start, as a proto duration (`"10s"`; see [`duration_string`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_offset: Option<String>,
    /// Where to stop, as a proto duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_offset: Option<String>,
    /// Frames per second sampled (the default is 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<VideoMetadata, _>")]
    pub extra: Map<String, Value>,
}

/// Inline bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Blob {
    /// The MIME type (not written when empty).
    #[serde(
        deserialize_with = "json::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub mime_type: String,
    /// The bytes, base64-encoded ([`Blob::bytes`] decodes them).
    #[serde(deserialize_with = "json::null_as_default")]
    pub data: String,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<Blob, _>")]
    pub extra: Map<String, Value>,
}

impl Blob {
    /// `bytes` of type `mime_type`, base64-encoded.
    pub fn from_bytes(mime_type: impl Into<String>, bytes: &[u8]) -> Self {
        Blob {
            mime_type: mime_type.into(),
            data: base64::encode(bytes),
            extra: Map::new(),
        }
    }

    /// The bytes, decoded from base64 (standard or URL-safe, padded or not, as proto JSON
    /// allows); an error names the first offending offset.
    pub fn bytes(&self) -> Result<Vec<u8>, Base64Error> {
        base64::decode(&self.data)
    }
}

/// A file reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileData {
    /// The MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file's URI ([`File::uri`]).
    #[serde(deserialize_with = "json::null_as_default")]
    pub file_uri: String,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<FileData, _>")]
    pub extra: Map<String, Value>,
}

/// A function call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionCall {
    /// An id to match the response to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    #[serde(deserialize_with = "json::null_as_default")]
    pub name: String,
    /// Its arguments.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<FunctionCall, _>")]
    pub extra: Map<String, Value>,
}

/// A function's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionResponse {
    /// The id of the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    #[serde(deserialize_with = "json::null_as_default")]
    pub name: String,
    /// The result.
    pub response: Value,
}

/// Code to execute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutableCode {
    /// The language (`PYTHON`).
    #[serde(deserialize_with = "json::null_as_default")]
    pub language: String,
    /// The code.
    #[serde(deserialize_with = "json::null_as_default")]
    pub code: String,
}

/// The result of executed code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CodeExecutionResult {
    /// How it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Its output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Sampling and output settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerationConfig {
    /// Stop generating at any of these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub stop_sequences: Vec<String>,
    /// `text/plain` or `application/json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// The schema of a JSON answer (an OpenAPI subset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// The schema of a JSON answer as JSON Schema (instead of `response_schema`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// What the answer may contain (`TEXT`, `IMAGE`, `AUDIO`), for models that produce more
    /// than text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub response_modalities: Vec<Modality>,
    /// Candidates to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    /// The most output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Randomness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// A seed for reproducible sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Penalises tokens already used, once each (positive: more varied answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// Penalises tokens by how often they were used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Whether to return the log probabilities of the chosen tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_logprobs: Option<bool>,
    /// With `response_logprobs`: how many top alternatives per token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<i32>,
    /// Thinking settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

/// Thinking settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ThinkingConfig {
    /// Whether thoughts are returned as parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    /// Tokens the model may think with (0 turns thinking off where allowed, -1 is dynamic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i32>,
    /// How much to think, for models that take a level instead of a budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<ThinkingLevel>,
}

/// A safety threshold for one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetySetting {
    /// The category.
    pub category: HarmCategory,
    /// The threshold.
    pub threshold: HarmBlockThreshold,
}

/// A tool the model may use. The declarations are kept as JSON (OpenAPI schemas).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tool {
    /// Functions the model may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub function_declarations: Vec<FunctionDeclaration>,
    /// Lets the model run code (`{}` turns it on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution: Option<Value>,
    /// Lets the model search Google (`{}` turns it on); the answer's candidates then carry
    /// [`GroundingMetadata`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_search: Option<Value>,
    /// Lets the model read the URLs a prompt names (`{}` turns it on); the answer's candidates
    /// then carry [`UrlContextMetadata`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_context: Option<Value>,
}

/// A function the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionDeclaration {
    /// Its name.
    #[serde(deserialize_with = "json::null_as_default")]
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its parameters' schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// How the model may call functions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ToolConfig {
    /// Function-calling settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_calling_config: Option<FunctionCallingConfig>,
}

/// Function-calling settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY`, `NONE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<FunctionCallingMode>,
    /// With `ANY`: which functions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub allowed_function_names: Vec<String>,
}

/// The body of `generateContent` and `streamGenerateContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateContentRequest {
    /// The conversation so far.
    #[serde(deserialize_with = "json::null_as_default")]
    pub contents: Vec<Content>,
    /// A system instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Sampling and output settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// Safety thresholds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub safety_settings: Vec<SafetySetting>,
    /// Tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub tools: Vec<Tool>,
    /// Tool settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// A cached content name (`cachedContents/…`, from
    /// [`Client::create_cached_content`](crate::Client::create_cached_content)): the request
    /// continues what the cache holds, and may then set no system instruction, tools or tool
    /// config of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_content: Option<String>,
}

impl GenerateContentRequest {
    /// A request with one user turn.
    pub fn prompt(text: impl Into<String>) -> Self {
        GenerateContentRequest {
            contents: vec![Content::user(text)],
            ..Default::default()
        }
    }
}

/// A safety rating.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SafetyRating {
    /// The category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<HarmCategory>,
    /// The probability of harm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<HarmProbability>,
    /// Whether it blocked the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<SafetyRating, _>")]
    pub extra: Map<String, Value>,
}

/// One generated answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Candidate {
    /// The content (absent in a final chunk that only carries the finish reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Why generation stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// More about why it stopped, in words (set for some reasons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_message: Option<String>,
    /// Safety ratings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub safety_ratings: Vec<SafetyRating>,
    /// The sources the answer recites.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citation_metadata: Option<CitationMetadata>,
    /// Where the answer's facts come from, with the `googleSearch` tool (or retrieval).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounding_metadata: Option<GroundingMetadata>,
    /// What the `urlContext` tool fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_context_metadata: Option<UrlContextMetadata>,
    /// The mean log probability of the candidate's tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_logprobs: Option<f64>,
    /// Its index among candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Output tokens of this candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub token_count: Option<u64>,
    /// Fields this crate does not name (`logprobsResult`, …), kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<Candidate, _>")]
    pub extra: Map<String, Value>,
}

/// Feedback on the prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PromptFeedback {
    /// Set when the prompt was blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<BlockReason>,
    /// Safety ratings of the prompt.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub safety_ratings: Vec<SafetyRating>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<PromptFeedback, _>")]
    pub extra: Map<String, Value>,
}

/// Token accounting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UsageMetadata {
    /// Tokens in the prompt (the cached content's included).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub prompt_token_count: Option<u64>,
    /// Tokens in the candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub candidates_token_count: Option<u64>,
    /// Tokens of the prompt that came from the cached content.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub cached_content_token_count: Option<u64>,
    /// Tokens spent thinking.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub thoughts_token_count: Option<u64>,
    /// Tokens in tool-use prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub tool_use_prompt_token_count: Option<u64>,
    /// All of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub total_token_count: Option<u64>,
    /// The prompt's tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub prompt_tokens_details: Vec<ModalityTokenCount>,
    /// The cached content's tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub cache_tokens_details: Vec<ModalityTokenCount>,
    /// The candidates' tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub candidates_tokens_details: Vec<ModalityTokenCount>,
    /// The tool-use prompts' tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub tool_use_prompt_tokens_details: Vec<ModalityTokenCount>,
    /// Fields this crate does not name (`serviceTier`, …), kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<UsageMetadata, _>")]
    pub extra: Map<String, Value>,
}

/// The answer of `generateContent` (and each chunk of `streamGenerateContent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateContentResponse {
    /// The answers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub candidates: Vec<Candidate>,
    /// Feedback on the prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token accounting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The response's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<GenerateContentResponse, _>"
    )]
    pub extra: Map<String, Value>,
}

impl GenerateContentResponse {
    /// The first candidate's text (thoughts left out); empty when there is none.
    pub fn text(&self) -> String {
        self.candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(Content::text)
            .unwrap_or_default()
    }

    /// The block reason, when the prompt was blocked.
    pub fn block_reason(&self) -> Option<&BlockReason> {
        self.prompt_feedback.as_ref()?.block_reason.as_ref()
    }
}

/// The body of `countTokens`: contents, or a whole generate request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CountTokensRequest {
    /// Contents to count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub contents: Vec<Content>,
    /// A whole request to count (system instruction and tools included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_content_request: Option<GenerateContentRequestWithModel>,
}

/// A generate request with its model, as `countTokens` takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateContentRequestWithModel {
    /// `models/…`.
    #[serde(deserialize_with = "json::null_as_default")]
    pub model: String,
    /// The request.
    #[serde(flatten)]
    pub request: GenerateContentRequest,
}

/// The answer of `countTokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CountTokensResponse {
    /// Tokens in the input.
    #[serde(deserialize_with = "json::count_or_default")]
    pub total_tokens: u32,
    /// Tokens in the cached part.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "json::count")]
    pub cached_content_token_count: Option<u64>,
    /// The input's tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub prompt_tokens_details: Vec<ModalityTokenCount>,
    /// The cached part's tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub cache_tokens_details: Vec<ModalityTokenCount>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<CountTokensResponse, _>"
    )]
    pub extra: Map<String, Value>,
}

/// The body of `embedContent` (and one entry of `batchEmbedContents`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbedContentRequest {
    /// `models/…` (required inside a batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The content to embed.
    #[serde(deserialize_with = "json::null_as_default")]
    pub content: Content,
    /// What the embedding is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<TaskType>,
    /// A title, for `RETRIEVAL_DOCUMENT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Truncate the embedding to this many dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u32>,
}

/// An embedding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContentEmbedding {
    /// The vector.
    #[serde(deserialize_with = "json::null_as_default")]
    pub values: Vec<f32>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<ContentEmbedding, _>")]
    pub extra: Map<String, Value>,
}

/// The answer of `embedContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbedContentResponse {
    /// The embedding.
    #[serde(deserialize_with = "json::null_as_default")]
    pub embedding: ContentEmbedding,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<EmbedContentResponse, _>"
    )]
    pub extra: Map<String, Value>,
}

/// The body of `batchEmbedContents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchEmbedContentsRequest {
    /// One request per text; each names its model.
    #[serde(deserialize_with = "json::null_as_default")]
    pub requests: Vec<EmbedContentRequest>,
}

/// The answer of `batchEmbedContents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchEmbedContentsResponse {
    /// One embedding per request, in order.
    #[serde(deserialize_with = "json::null_as_default")]
    pub embeddings: Vec<ContentEmbedding>,
}

/// A model, as `models.get` and `models.list` describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Model {
    /// `models/gemini-2.5-flash`.
    #[serde(deserialize_with = "json::null_as_default")]
    pub name: String,
    /// The base model id.
    pub base_model_id: Option<String>,
    /// The version.
    pub version: Option<String>,
    /// A human name.
    pub display_name: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// The most input tokens.
    pub input_token_limit: Option<u32>,
    /// The most output tokens.
    pub output_token_limit: Option<u32>,
    /// `generateContent`, `countTokens`, `embedContent`, …
    #[serde(deserialize_with = "json::null_as_default")]
    pub supported_generation_methods: Vec<String>,
    /// Default temperature.
    pub temperature: Option<f32>,
    /// Highest temperature.
    pub max_temperature: Option<f32>,
    /// Default top-p.
    pub top_p: Option<f32>,
    /// Default top-k.
    pub top_k: Option<u32>,
    /// Whether the model thinks.
    pub thinking: Option<bool>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<Model, _>")]
    pub extra: Map<String, Value>,
}

/// One page of `models.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListModelsResponse {
    /// The models on this page.
    #[serde(deserialize_with = "json::null_as_default")]
    pub models: Vec<Model>,
    /// The token of the next page; absent or empty on the last.
    pub next_page_token: Option<String>,
}

json::impl_extra!(
    Content,
    Part,
    VideoMetadata,
    Blob,
    FileData,
    FunctionCall,
    SafetyRating,
    Candidate,
    PromptFeedback,
    UsageMetadata,
    GenerateContentResponse,
    CountTokensResponse,
    ContentEmbedding,
    EmbedContentResponse,
    Model,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_thoughts_and_signatures_and_text_skips_thoughts() {
        let c: Content = serde_json::from_str(
            r#"{"role":"model","parts":[{"text":"thinking…","thought":true},
                {"text":"Hello","thoughtSignature":"c2ln"},{"functionCall":{"name":"f","args":{"x":1}}}]}"#,
        )
        .unwrap();
        assert_eq!(c.text(), "Hello");
        assert_eq!(c.parts[1].thought_signature.as_deref(), Some("c2ln"));
        assert_eq!(c.parts[2].function_call.as_ref().unwrap().args["x"], 1);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["parts"][1]["thoughtSignature"], "c2ln");
        assert!(
            back["parts"][0].get("inlineData").is_none(),
            "unset fields are omitted"
        );
    }

    #[test]
    fn requests_encode_in_camel_case() {
        let mut r = GenerateContentRequest::prompt("hi");
        r.system_instruction = Some(Content::system("be brief"));
        r.generation_config = Some(GenerationConfig {
            response_mime_type: Some("application/json".into()),
            thinking_config: Some(ThinkingConfig {
                thinking_budget: Some(0),
                include_thoughts: None,
                thinking_level: None,
            }),
            ..Default::default()
        });
        r.safety_settings.push(SafetySetting {
            category: HarmCategory::Harassment,
            threshold: HarmBlockThreshold::BlockNone,
        });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["systemInstruction"]["parts"][0]["text"], "be brief");
        assert_eq!(
            v["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(v["generationConfig"]["thinkingConfig"]["thinkingBudget"], 0);
        assert_eq!(
            v["safetySettings"][0]["category"],
            "HARM_CATEGORY_HARASSMENT"
        );
        assert_eq!(v["safetySettings"][0]["threshold"], "BLOCK_NONE");
        assert!(v.get("tools").is_none());
    }

    #[test]
    fn a_final_chunk_without_content_decodes() {
        let r: GenerateContentResponse = serde_json::from_str(
            r#"{"candidates":[{"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":9}}"#,
        )
        .unwrap();
        assert_eq!(r.text(), "");
        assert_eq!(r.candidates[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(r.usage_metadata.unwrap().total_token_count, Some(9));
    }

    /// An answer with every kind of metadata, fields this crate names and fields it does not.
    const RICH: &str = r#"{
      "candidates": [{
        "content": {"role": "model", "parts": [
          {"text": "Spain won Euro 2024.", "thoughtSignature": "c2ln", "partMetadata": {"x": 1}},
          {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}, "mediaResolution": {"level": "HIGH"}},
          {"fileData": {"mimeType": "video/mp4", "fileUri": "https://example.invalid/v1beta/files/v1", "displayName": "clip"},
           "videoMetadata": {"startOffset": "10s", "endOffset": "20.500s", "fps": 2.5}}],
          "aNewContentField": true},
        "finishReason": "STOP",
        "finishMessage": "done",
        "avgLogprobs": -0.3155029296875,
        "logprobsResult": {"topCandidates": [], "chosenCandidates": [{"token": "Spain", "logProbability": -0.1}]},
        "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE", "probabilityScore": 0.01}],
        "citationMetadata": {"citationSources": [{"startIndex": 0, "endIndex": 20, "uri": "https://example.invalid/a", "license": "mit"}]},
        "groundingMetadata": {
          "webSearchQueries": ["euro 2024 winner"],
          "searchEntryPoint": {"renderedContent": "<div></div>", "sdkBlob": "e30="},
          "groundingChunks": [{"web": {"uri": "https://example.invalid/r", "title": "uefa.com", "domain": "uefa.com"}},
                              {"maps": {"placeId": "p1"}}],
          "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 20, "text": "Spain won Euro 2024."},
                                 "groundingChunkIndices": [0], "confidenceScores": [0.97]}],
          "retrievalMetadata": {"googleSearchDynamicRetrievalScore": 0.5}},
        "urlContextMetadata": {"urlMetadata": [{"retrievedUrl": "https://example.invalid/p",
                                                "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"}]}
      }],
      "promptFeedback": {"safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "LOW"}]},
      "usageMetadata": {"promptTokenCount": 7036, "candidatesTokenCount": 19, "totalTokenCount": 7055,
        "cachedContentTokenCount": 7021, "thoughtsTokenCount": 3, "toolUsePromptTokenCount": 4,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7036}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 7021}],
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 19}],
        "toolUsePromptTokensDetails": [{"modality": "DOCUMENT", "tokenCount": 4}],
        "serviceTier": "standard"},
      "modelVersion": "gemini-2.5-flash",
      "responseId": "abc",
      "modelStatus": {"stage": "STABLE"}
    }"#;

    #[test]
    fn a_rich_answer_round_trips_to_the_same_json() {
        let sent: Value = serde_json::from_str(RICH).unwrap();
        let decoded: GenerateContentResponse = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), sent);

        let c = &decoded.candidates[0];
        assert_eq!(c.finish_message.as_deref(), Some("done"));
        assert_eq!(c.avg_logprobs, Some(-0.3155029296875));
        assert!(c.extra.contains_key("logprobsResult"));
        let grounding = c.grounding_metadata.as_ref().unwrap();
        assert_eq!(grounding.web_search_queries, ["euro 2024 winner"]);
        assert_eq!(
            grounding.grounding_chunks[0]
                .web
                .as_ref()
                .unwrap()
                .title
                .as_deref(),
            Some("uefa.com")
        );
        assert!(grounding.grounding_chunks[1].extra.contains_key("maps"));
        assert_eq!(grounding.grounding_supports[0].grounding_chunk_indices, [0]);
        let citation = &c.citation_metadata.as_ref().unwrap().citation_sources[0];
        assert_eq!(citation.license.as_deref(), Some("mit"));
        let url = &c.url_context_metadata.as_ref().unwrap().url_metadata[0];
        assert_eq!(url.url_retrieval_status, Some(UrlRetrievalStatus::Success));
        let parts = &c.content.as_ref().unwrap().parts;
        assert_eq!(parts[0].extra["partMetadata"]["x"], 1);
        assert_eq!(
            parts[1].inline_data.as_ref().unwrap().bytes().unwrap(),
            [0x89, b'P', b'N', b'G']
        );
        let video = parts[2].video_metadata.as_ref().unwrap();
        assert_eq!(
            (video.end_offset.as_deref(), video.fps),
            (Some("20.500s"), Some(2.5))
        );
        assert_eq!(
            parts[2].file_data.as_ref().unwrap().extra["displayName"],
            "clip"
        );
        let usage = decoded.usage_metadata.as_ref().unwrap();
        assert_eq!(usage.cached_content_token_count, Some(7021));
        assert_eq!(usage.cache_tokens_details[0].modality, Some(Modality::Text));
        assert_eq!(
            usage.candidates_tokens_details[0].modality,
            Some(Modality::Image)
        );
        assert_eq!(usage.extra["serviceTier"], "standard");
        assert_eq!(decoded.extra["modelStatus"]["stage"], "STABLE");
    }

    #[test]
    fn a_model_turn_sent_back_keeps_what_the_api_put_in_it() {
        let answer: GenerateContentResponse = serde_json::from_str(RICH).unwrap();
        let mut request = GenerateContentRequest::prompt("who won?");
        request
            .contents
            .push(answer.candidates[0].content.clone().unwrap());
        let v = serde_json::to_value(&request).unwrap();
        assert_eq!(v["contents"][1]["parts"][0]["partMetadata"]["x"], 1);
        assert_eq!(v["contents"][1]["aNewContentField"], true);
    }

    #[test]
    fn new_generation_settings_encode_in_camel_case() {
        let config = GenerationConfig {
            response_json_schema: Some(serde_json::json!({"type": "object"})),
            presence_penalty: Some(0.5),
            frequency_penalty: Some(-0.5),
            response_modalities: vec![Modality::Text, Modality::Image],
            thinking_config: Some(ThinkingConfig {
                thinking_level: Some(ThinkingLevel::Low),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&config).unwrap();
        assert_eq!(v["responseJsonSchema"]["type"], "object");
        assert_eq!(v["presencePenalty"], 0.5);
        assert_eq!(v["frequencyPenalty"], -0.5);
        assert_eq!(
            v["responseModalities"],
            serde_json::json!(["TEXT", "IMAGE"])
        );
        assert_eq!(v["thinkingConfig"]["thinkingLevel"], "LOW");
    }

    #[test]
    fn files_and_caches_round_trip_to_the_same_json() {
        let file = serde_json::json!({"name": "files/abc", "displayName": "notes", "mimeType": "text/plain",
            "sizeBytes": "11", "createTime": "2026-01-01T00:00:00Z", "updateTime": "2026-01-01T00:00:00Z",
            "expirationTime": "2026-01-03T00:00:00Z", "sha256Hash": "AAAA", "uri": "https://example.invalid/v1beta/files/abc",
            "state": "ACTIVE", "source": "UPLOADED", "aNewField": [1]});
        let decoded: File = serde_json::from_value(file.clone()).unwrap();
        assert_eq!(decoded.size_bytes, Some(11));
        assert_eq!(serde_json::to_value(&decoded).unwrap(), file);
        let cache = serde_json::json!({"name": "cachedContents/x", "model": "models/gemini-2.5-flash",
            "createTime": "2026-01-01T00:00:00Z", "updateTime": "2026-01-01T00:00:00Z",
            "expireTime": "2026-01-01T01:00:00Z", "displayName": "", "usageMetadata": {"totalTokenCount": 7021}});
        let decoded: CachedContent = serde_json::from_value(cache.clone()).unwrap();
        assert_eq!(
            decoded.usage_metadata.as_ref().unwrap().total_token_count,
            Some(7021)
        );
        assert_eq!(serde_json::to_value(&decoded).unwrap(), cache);
        assert!(serde_json::from_str::<File>(r#"{"sizeBytes": "many"}"#).is_err());
    }

    #[test]
    fn count_tokens_takes_a_whole_request() {
        let r = CountTokensRequest {
            generate_content_request: Some(GenerateContentRequestWithModel {
                model: "models/gemini-2.5-flash".into(),
                request: GenerateContentRequest::prompt("hi"),
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["generateContentRequest"]["model"],
            "models/gemini-2.5-flash"
        );
        assert_eq!(
            v["generateContentRequest"]["contents"][0]["parts"][0]["text"],
            "hi"
        );
    }
}
