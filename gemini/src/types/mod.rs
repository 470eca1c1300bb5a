//! Request and response types of the Gemini v1beta REST API, in its camelCase JSON.
//!
//! Decoding is forgiving by design: unknown fields are ignored, every field is optional or
//! defaulted, and enums keep values they do not know in an `Other(String)` variant, so a new
//! API value never breaks decoding. Encoding omits unset fields.
//!
//! ```
//! use steadfast_gemini::types::{FinishReason, GenerateContentResponse};
//! let r: GenerateContentResponse = serde_json::from_str(r#"{
//!   "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
//!                   "finishReason": "SOMETHING_NEW", "aNewField": 1}],
//!   "modelVersion": "gemini-2.5-flash"}"#)?;
//! assert_eq!(r.text(), "Hi");
//! assert_eq!(r.candidates[0].finish_reason, Some(FinishReason::Other("SOMETHING_NEW".into())));
//! # Ok::<(), serde_json::Error>(())
//! ```

mod enums;

pub use enums::{
    BlockReason, FinishReason, FunctionCallingMode, HarmBlockThreshold, HarmCategory,
    HarmProbability, Outcome, TaskType,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One turn of a conversation: a role and its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Content {
    /// `"user"` or `"model"` (absent for a system instruction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts, in order.
    pub parts: Vec<Part>,
}

impl Content {
    /// A user turn with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Content {
            role: Some("user".into()),
            parts: vec![Part::text(text)],
        }
    }

    /// A model turn with one text part.
    pub fn model(text: impl Into<String>) -> Self {
        Content {
            role: Some("model".into()),
            parts: vec![Part::text(text)],
        }
    }

    /// A system instruction (no role).
    pub fn system(text: impl Into<String>) -> Self {
        Content {
            role: None,
            parts: vec![Part::text(text)],
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
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }
}

/// Inline bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Blob {
    /// The MIME type.
    pub mime_type: String,
    /// The bytes, base64-encoded.
    pub data: String,
}

/// A file reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileData {
    /// The MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file's URI.
    pub file_uri: String,
}

/// A function call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionCall {
    /// An id to match the response to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    pub name: String,
    /// Its arguments.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub args: Value,
}

/// A function's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionResponse {
    /// The id of the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    pub name: String,
    /// The result.
    pub response: Value,
}

/// Code to execute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutableCode {
    /// The language (`PYTHON`).
    pub language: String,
    /// The code.
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
    pub stop_sequences: Vec<String>,
    /// `text/plain` or `application/json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// The schema of a JSON answer (an OpenAPI subset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
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
    pub function_declarations: Vec<FunctionDeclaration>,
    /// Lets the model run code (`{}` turns it on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution: Option<Value>,
    /// Lets the model search Google (`{}` turns it on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_search: Option<Value>,
}

/// A function the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionDeclaration {
    /// Its name.
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
    pub allowed_function_names: Vec<String>,
}

/// The body of `generateContent` and `streamGenerateContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateContentRequest {
    /// The conversation so far.
    pub contents: Vec<Content>,
    /// A system instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Sampling and output settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// Safety thresholds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub safety_settings: Vec<SafetySetting>,
    /// Tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Tool settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// A cached content name (`cachedContents/…`).
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
    pub category: Option<HarmCategory>,
    /// The probability of harm.
    pub probability: Option<HarmProbability>,
    /// Whether it blocked the content.
    pub blocked: Option<bool>,
}

/// One generated answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Candidate {
    /// The content (absent in a final chunk that only carries the finish reason).
    pub content: Option<Content>,
    /// Why generation stopped.
    pub finish_reason: Option<FinishReason>,
    /// Safety ratings.
    pub safety_ratings: Vec<SafetyRating>,
    /// Its index among candidates.
    pub index: Option<u32>,
    /// Output tokens of this candidate.
    pub token_count: Option<u32>,
}

/// Feedback on the prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PromptFeedback {
    /// Set when the prompt was blocked.
    pub block_reason: Option<BlockReason>,
    /// Safety ratings of the prompt.
    pub safety_ratings: Vec<SafetyRating>,
}

/// Token accounting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UsageMetadata {
    /// Tokens in the prompt.
    pub prompt_token_count: Option<u32>,
    /// Tokens in the candidates.
    pub candidates_token_count: Option<u32>,
    /// Tokens in the cached content.
    pub cached_content_token_count: Option<u32>,
    /// Tokens spent thinking.
    pub thoughts_token_count: Option<u32>,
    /// Tokens in tool-use prompts.
    pub tool_use_prompt_token_count: Option<u32>,
    /// All of them.
    pub total_token_count: Option<u32>,
}

/// The answer of `generateContent` (and each chunk of `streamGenerateContent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateContentResponse {
    /// The answers.
    pub candidates: Vec<Candidate>,
    /// Feedback on the prompt.
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token accounting.
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    pub model_version: Option<String>,
    /// The response's id.
    pub response_id: Option<String>,
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
    pub total_tokens: u32,
    /// Tokens in the cached part.
    pub cached_content_token_count: Option<u32>,
}

/// The body of `embedContent` (and one entry of `batchEmbedContents`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbedContentRequest {
    /// `models/…` (required inside a batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The content to embed.
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
    pub values: Vec<f32>,
}

/// The answer of `embedContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbedContentResponse {
    /// The embedding.
    pub embedding: ContentEmbedding,
}

/// The body of `batchEmbedContents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchEmbedContentsRequest {
    /// One request per text; each names its model.
    pub requests: Vec<EmbedContentRequest>,
}

/// The answer of `batchEmbedContents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchEmbedContentsResponse {
    /// One embedding per request, in order.
    pub embeddings: Vec<ContentEmbedding>,
}

/// A model, as `models.get` and `models.list` describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Model {
    /// `models/gemini-2.5-flash`.
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
}

/// One page of `models.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListModelsResponse {
    /// The models on this page.
    pub models: Vec<Model>,
    /// The token of the next page; absent or empty on the last.
    pub next_page_token: Option<String>,
}

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
