//! Strict request validation, like the real API's proto-JSON parser: an unknown field is a 400
//! "Invalid JSON payload received. Unknown name …", a value of the wrong JSON type too, and a
//! request without its required field says which one is missing.
//!
//! Field names are accepted in lowerCamelCase and in snake_case, as proto JSON parsers do.
//! Free-form values (a function's `args`, a schema, a function response) are not checked.

use serde_json::Value;

/// The messages of the v1beta request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Message {
    GenerateContentRequest,
    CountTokensRequest,
    EmbedContentRequest,
    BatchEmbedContentsRequest,
    /// `cachedContents.create` and `patch`.
    CachedContent,
    /// The body of an upload's start: `{"file": File}`.
    CreateFileRequest,
    /// A file's metadata.
    File,
    Content,
    Part,
    Blob,
    FileData,
    FunctionCall,
    FunctionResponse,
    ExecutableCode,
    CodeExecutionResult,
    VideoMetadata,
    Tool,
    FunctionDeclaration,
    ToolConfig,
    FunctionCallingConfig,
    SafetySetting,
    GenerationConfig,
    ThinkingConfig,
    /// Any JSON value (a `Struct` or a schema).
    Free,
    /// A string.
    Str,
    /// Base64 bytes (a string).
    Bytes,
    /// An int32 (a number, or a string holding one).
    Int,
    /// An int64 (a number, or a string holding one, as proto JSON writes them).
    Int64,
    /// A number (or a string holding one).
    Float,
    /// `true` or `false`.
    Bool,
    /// One of an enum's names (or its number): the enum's full name and its values.
    Enum(&'static str, &'static [&'static str]),
}

const MODE: Message = Message::Enum(
    "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode",
    &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"],
);
const HARM_CATEGORY: Message = Message::Enum(
    "type.googleapis.com/google.ai.generativelanguage.v1beta.HarmCategory",
    &[
        "HARM_CATEGORY_UNSPECIFIED",
        "HARM_CATEGORY_DEROGATORY",
        "HARM_CATEGORY_TOXICITY",
        "HARM_CATEGORY_VIOLENCE",
        "HARM_CATEGORY_SEXUAL",
        "HARM_CATEGORY_MEDICAL",
        "HARM_CATEGORY_DANGEROUS",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    ],
);
const THRESHOLD: Message = Message::Enum(
    "type.googleapis.com/google.ai.generativelanguage.v1beta.SafetySetting.HarmBlockThreshold",
    &[
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
        "BLOCK_LOW_AND_ABOVE",
        "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_ONLY_HIGH",
        "BLOCK_NONE",
        "OFF",
    ],
);
const TASK_TYPE: Message = Message::Enum(
    "type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType",
    &[
        "TASK_TYPE_UNSPECIFIED",
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    ],
);
const MODALITY: Message = Message::Enum(
    "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig.Modality",
    &["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"],
);

use Message as M;

/// One field: its lowerCamelCase name, its message, and whether it repeats.
type Field = (&'static str, Message, bool);

fn fields(message: Message) -> &'static [Field] {
    match message {
        M::GenerateContentRequest => &[
            ("model", M::Str, false),
            ("contents", M::Content, true),
            ("tools", M::Tool, true),
            ("toolConfig", M::ToolConfig, false),
            ("safetySettings", M::SafetySetting, true),
            ("systemInstruction", M::Content, false),
            ("generationConfig", M::GenerationConfig, false),
            ("cachedContent", M::Str, false),
        ],
        M::CountTokensRequest => &[
            ("contents", M::Content, true),
            ("generateContentRequest", M::GenerateContentRequest, false),
        ],
        M::EmbedContentRequest => &[
            ("model", M::Str, false),
            ("content", M::Content, false),
            ("taskType", TASK_TYPE, false),
            ("title", M::Str, false),
            ("outputDimensionality", M::Int, false),
        ],
        M::BatchEmbedContentsRequest => &[("requests", M::EmbedContentRequest, true)],
        M::CachedContent => &[
            ("name", M::Str, false),
            ("displayName", M::Str, false),
            ("model", M::Str, false),
            ("systemInstruction", M::Content, false),
            ("contents", M::Content, true),
            ("tools", M::Tool, true),
            ("toolConfig", M::ToolConfig, false),
            ("ttl", M::Str, false),
            ("expireTime", M::Str, false),
        ],
        M::CreateFileRequest => &[("file", M::File, false)],
        // Output-only fields are accepted on input and ignored, as proto JSON does (the Python
        // SDK sends `sizeBytes`).
        M::File => &[
            ("name", M::Str, false),
            ("displayName", M::Str, false),
            ("mimeType", M::Str, false),
            ("sizeBytes", M::Int64, false),
            ("createTime", M::Str, false),
            ("updateTime", M::Str, false),
            ("expirationTime", M::Str, false),
            ("sha256Hash", M::Bytes, false),
            ("uri", M::Str, false),
            ("downloadUri", M::Str, false),
            ("state", M::Str, false),
            ("source", M::Str, false),
            ("error", M::Free, false),
            ("videoMetadata", M::Free, false),
        ],
        M::Content => &[("parts", M::Part, true), ("role", M::Str, false)],
        M::Part => &[
            ("text", M::Str, false),
            ("inlineData", M::Blob, false),
            ("functionCall", M::FunctionCall, false),
            ("functionResponse", M::FunctionResponse, false),
            ("fileData", M::FileData, false),
            ("executableCode", M::ExecutableCode, false),
            ("codeExecutionResult", M::CodeExecutionResult, false),
            ("videoMetadata", M::VideoMetadata, false),
            ("thought", M::Bool, false),
            ("thoughtSignature", M::Bytes, false),
            ("partMetadata", M::Free, false),
            ("mediaResolution", M::Free, false),
        ],
        M::Blob => &[("mimeType", M::Str, false), ("data", M::Bytes, false)],
        M::FileData => &[("mimeType", M::Str, false), ("fileUri", M::Str, false)],
        M::FunctionCall => &[
            ("id", M::Str, false),
            ("name", M::Str, false),
            ("args", M::Free, false),
        ],
        M::FunctionResponse => &[
            ("id", M::Str, false),
            ("name", M::Str, false),
            ("response", M::Free, false),
            ("parts", M::Free, true),
            ("willContinue", M::Bool, false),
            ("scheduling", M::Str, false),
        ],
        M::ExecutableCode => &[("language", M::Str, false), ("code", M::Str, false)],
        M::CodeExecutionResult => &[("outcome", M::Str, false), ("output", M::Str, false)],
        M::VideoMetadata => &[
            ("startOffset", M::Str, false),
            ("endOffset", M::Str, false),
            ("fps", M::Float, false),
        ],
        M::Tool => &[
            ("functionDeclarations", M::FunctionDeclaration, true),
            ("googleSearchRetrieval", M::Free, false),
            ("codeExecution", M::Free, false),
            ("googleSearch", M::Free, false),
            ("urlContext", M::Free, false),
            ("computerUse", M::Free, false),
            ("fileSearch", M::Free, false),
            ("googleMaps", M::Free, false),
        ],
        M::FunctionDeclaration => &[
            ("name", M::Str, false),
            ("description", M::Str, false),
            ("parameters", M::Free, false),
            ("parametersJsonSchema", M::Free, false),
            ("response", M::Free, false),
            ("responseJsonSchema", M::Free, false),
            ("behavior", M::Str, false),
        ],
        M::ToolConfig => &[
            ("functionCallingConfig", M::FunctionCallingConfig, false),
            ("retrievalConfig", M::Free, false),
        ],
        M::FunctionCallingConfig => &[
            ("mode", MODE, false),
            ("allowedFunctionNames", M::Str, true),
        ],
        M::SafetySetting => &[
            ("category", HARM_CATEGORY, false),
            ("threshold", THRESHOLD, false),
        ],
        M::GenerationConfig => &[
            ("stopSequences", M::Str, true),
            ("responseMimeType", M::Str, false),
            ("responseSchema", M::Free, false),
            ("responseJsonSchema", M::Free, false),
            ("_responseJsonSchema", M::Free, false),
            ("responseModalities", MODALITY, true),
            ("candidateCount", M::Int, false),
            ("maxOutputTokens", M::Int, false),
            ("temperature", M::Float, false),
            ("topP", M::Float, false),
            ("topK", M::Int, false),
            ("seed", M::Int, false),
            ("presencePenalty", M::Float, false),
            ("frequencyPenalty", M::Float, false),
            ("responseLogprobs", M::Bool, false),
            ("logprobs", M::Int, false),
            ("enableEnhancedCivicAnswers", M::Bool, false),
            ("speechConfig", M::Free, false),
            ("thinkingConfig", M::ThinkingConfig, false),
            ("imageConfig", M::Free, false),
            ("mediaResolution", M::Str, false),
        ],
        M::ThinkingConfig => &[
            ("includeThoughts", M::Bool, false),
            ("thinkingBudget", M::Int, false),
            ("thinkingLevel", M::Str, false),
        ],
        _ => &[],
    }
}

/// `fooBar` for `foo_bar` (and `fooBar` unchanged).
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `foo_bar` for `fooBar`: the real API names fields in snake_case in its messages.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An int32 field's value, as proto JSON reads it: a whole number (also written `20.0`), or a
/// string holding one; `None` for anything else, or outside the int32 range.
pub(super) fn int(value: &Value) -> Option<i64> {
    int64(value).and_then(|n| i32::try_from(n).ok().map(i64::from))
}

/// An int64 field's value: as [`int`], in the int64 range.
pub(super) fn int64(value: &Value) -> Option<i64> {
    let n = match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => i,
            None => {
                let f = n.as_f64()?;
                if f.fract() != 0.0 || !f.is_finite() {
                    return None;
                }
                f as i64
            }
        },
        Value::String(text) => text.parse().ok()?,
        _ => return None,
    };
    Some(n)
}

/// The first problem in `value` read as `message`, as the real API words it.
pub(super) fn check(message: Message, value: &Value) -> Result<(), String> {
    walk(message, value, "")
}

fn walk(message: Message, value: &Value, path: &str) -> Result<(), String> {
    let at = |path: &str| {
        if path.is_empty() {
            String::new()
        } else {
            format!(" at '{path}'")
        }
    };
    let invalid = |type_name: &str| {
        Err(format!(
            "Invalid value at '{path}' ({type_name}), {}",
            shorten(value)
        ))
    };
    let numeric = |integral: bool| match value {
        // An integral number written as a float (`20.0`, as the Python SDK sends `top_k`) is
        // read into an int32 like `20`, as the real API does.
        Value::Number(_) if integral => int(value).is_some(),
        Value::Number(_) => true,
        Value::String(_) if integral => int(value).is_some(),
        Value::String(text) => {
            text.parse::<f64>().is_ok() || ["NaN", "Infinity", "-Infinity"].contains(&text.as_str())
        }
        _ => false,
    };
    match message {
        M::Free => Ok(()),
        M::Str if value.is_string() => Ok(()),
        M::Str => invalid("TYPE_STRING"),
        M::Bytes if value.is_string() => Ok(()),
        M::Bytes => invalid("TYPE_BYTES"),
        M::Int if numeric(true) => Ok(()),
        M::Int => invalid("TYPE_INT32"),
        M::Int64 if int64(value).is_some() => Ok(()),
        M::Int64 => invalid("TYPE_INT64"),
        M::Float if numeric(false) => Ok(()),
        M::Float => invalid("TYPE_FLOAT"),
        M::Bool if value.is_boolean() => Ok(()),
        M::Bool => invalid("TYPE_BOOL"),
        M::Enum(type_name, names) => match value {
            Value::String(name) if names.contains(&name.as_str()) => Ok(()),
            Value::Number(n) if n.is_i64() => Ok(()),
            _ => invalid(type_name),
        },
        _ => {
            let Value::Object(map) = value else {
                return Err(format!(
                    "Invalid JSON payload received. Expected an object{}.",
                    at(path)
                ));
            };
            for (name, item) in map {
                let wanted = camel(name);
                let Some(&(field, inner, repeated)) =
                    fields(message).iter().find(|(f, _, _)| *f == wanted)
                else {
                    return Err(format!(
                        "Invalid JSON payload received. Unknown name \"{name}\"{}: Cannot find field.",
                        at(path)
                    ));
                };
                let here = if path.is_empty() {
                    snake(field)
                } else {
                    format!("{path}.{}", snake(field))
                };
                if item.is_null() {
                    continue;
                }
                if repeated {
                    let Value::Array(items) = item else {
                        return Err(format!(
                            "Invalid JSON payload received. Proto field is not repeating, cannot start list{}.",
                            at(&here)
                        ));
                    };
                    for (i, item) in items.iter().enumerate() {
                        walk(inner, item, &format!("{here}[{i}]"))?;
                    }
                } else if item.is_array() && !matches!(inner, M::Free) {
                    return Err(format!(
                        "Invalid JSON payload received. Proto field is not repeating, cannot start list{}.",
                        at(&here)
                    ));
                } else {
                    walk(inner, item, &here)?;
                }
            }
            Ok(())
        }
    }
}

/// A value as the real messages quote it, cut to 100 characters.
fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The value of a field by its camelCase name, in either spelling.
pub(super) fn get<'a>(value: &'a Value, camel_name: &str) -> Option<&'a Value> {
    value
        .get(camel_name)
        .or_else(|| value.get(snake(camel_name)))
        .filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let e = check(
            M::GenerateContentRequest,
            &json!({"contents": [], "foo": 1}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "Invalid JSON payload received. Unknown name \"foo\": Cannot find field."
        );
        let e = check(
            M::GenerateContentRequest,
            &json!({"generationConfig": {"maxTokens": 3}}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "Invalid JSON payload received. Unknown name \"maxTokens\" at 'generation_config': Cannot find field."
        );
        let e = check(
            M::GenerateContentRequest,
            &json!({"contents": [{"parts": [{"txt": "a"}]}]}),
        )
        .unwrap_err();
        assert!(e.contains("at 'contents[0].parts[0]'"), "{e}");
    }

    #[test]
    fn both_spellings_and_free_form_values_are_accepted() {
        let request = json!({
            "contents": [{"role": "user", "parts": [{"text": "a"}, {"function_response": {"name": "f", "response": {"any": [1, {"x": 2}]}}}]}],
            "system_instruction": {"parts": [{"text": "s"}]},
            "generation_config": {"max_output_tokens": 3, "responseSchema": {"type": "OBJECT", "anything": true}},
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        });
        assert_eq!(check(M::GenerateContentRequest, &request), Ok(()));
        assert_eq!(
            get(&request, "generationConfig").and_then(|g| get(g, "maxOutputTokens")),
            Some(&json!(3))
        );
    }

    #[test]
    fn scalars_are_typed_and_enums_named() {
        let generate = |config: Value| {
            check(
                M::GenerateContentRequest,
                &json!({"contents": [], "generationConfig": config}),
            )
        };
        assert_eq!(
            generate(json!({"maxOutputTokens": "abc"})).unwrap_err(),
            "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), \"abc\""
        );
        assert!(generate(json!({"maxOutputTokens": "12", "temperature": "0.5"})).is_ok());
        assert!(generate(json!({"maxOutputTokens": 1.5})).is_err());
        assert!(generate(json!({"temperature": true})).is_err());
        assert!(generate(json!({"responseModalities": ["TEXT"]})).is_ok());
        let e = check(
            M::GenerateContentRequest,
            &json!({"toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"SOMETIMES\""
        );
        let e = check(
            M::GenerateContentRequest,
            &json!({"contents": [{"parts": [{"text": 5}]}]}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "Invalid value at 'contents[0].parts[0].text' (TYPE_STRING), 5"
        );
    }

    /// Found by review: `sizeBytes` is an int64, and a file over 2 GiB has one past the int32
    /// range.
    #[test]
    fn int64_fields_take_the_int64_range() {
        let file = |size: Value| check(M::CreateFileRequest, &json!({"file": {"sizeBytes": size}}));
        assert!(file(json!("3000000000")).is_ok());
        assert!(file(json!(3_000_000_000_u64)).is_ok());
        let e = file(json!("1e99")).unwrap_err();
        assert!(e.contains("(TYPE_INT64)"), "{e}");
    }

    #[test]
    fn wrong_shapes_are_refused() {
        assert!(
            check(
                M::GenerateContentRequest,
                &json!({"contents": {"parts": []}})
            )
            .is_err()
        );
        assert!(check(M::GenerateContentRequest, &json!([])).is_err());
        assert!(
            check(
                M::EmbedContentRequest,
                &json!({"content": {"parts": [{"text": ["a"]}]}})
            )
            .is_err()
        );
    }
}
