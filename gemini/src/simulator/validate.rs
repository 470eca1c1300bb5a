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
    /// A string, number or boolean.
    Scalar,
}

use Message as M;

/// One field: its lowerCamelCase name, its message, and whether it repeats.
type Field = (&'static str, Message, bool);

fn fields(message: Message) -> &'static [Field] {
    match message {
        M::GenerateContentRequest => &[
            ("model", M::Scalar, false),
            ("contents", M::Content, true),
            ("tools", M::Tool, true),
            ("toolConfig", M::ToolConfig, false),
            ("safetySettings", M::SafetySetting, true),
            ("systemInstruction", M::Content, false),
            ("generationConfig", M::GenerationConfig, false),
            ("cachedContent", M::Scalar, false),
        ],
        M::CountTokensRequest => &[
            ("contents", M::Content, true),
            ("generateContentRequest", M::GenerateContentRequest, false),
        ],
        M::EmbedContentRequest => &[
            ("model", M::Scalar, false),
            ("content", M::Content, false),
            ("taskType", M::Scalar, false),
            ("title", M::Scalar, false),
            ("outputDimensionality", M::Scalar, false),
        ],
        M::BatchEmbedContentsRequest => &[("requests", M::EmbedContentRequest, true)],
        M::Content => &[("parts", M::Part, true), ("role", M::Scalar, false)],
        M::Part => &[
            ("text", M::Scalar, false),
            ("inlineData", M::Blob, false),
            ("functionCall", M::FunctionCall, false),
            ("functionResponse", M::FunctionResponse, false),
            ("fileData", M::FileData, false),
            ("executableCode", M::ExecutableCode, false),
            ("codeExecutionResult", M::CodeExecutionResult, false),
            ("videoMetadata", M::VideoMetadata, false),
            ("thought", M::Scalar, false),
            ("thoughtSignature", M::Scalar, false),
            ("partMetadata", M::Free, false),
            ("mediaResolution", M::Free, false),
        ],
        M::Blob => &[("mimeType", M::Scalar, false), ("data", M::Scalar, false)],
        M::FileData => &[
            ("mimeType", M::Scalar, false),
            ("fileUri", M::Scalar, false),
        ],
        M::FunctionCall => &[
            ("id", M::Scalar, false),
            ("name", M::Scalar, false),
            ("args", M::Free, false),
        ],
        M::FunctionResponse => &[
            ("id", M::Scalar, false),
            ("name", M::Scalar, false),
            ("response", M::Free, false),
            ("parts", M::Free, true),
            ("willContinue", M::Scalar, false),
            ("scheduling", M::Scalar, false),
        ],
        M::ExecutableCode => &[("language", M::Scalar, false), ("code", M::Scalar, false)],
        M::CodeExecutionResult => &[("outcome", M::Scalar, false), ("output", M::Scalar, false)],
        M::VideoMetadata => &[
            ("startOffset", M::Scalar, false),
            ("endOffset", M::Scalar, false),
            ("fps", M::Scalar, false),
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
            ("name", M::Scalar, false),
            ("description", M::Scalar, false),
            ("parameters", M::Free, false),
            ("parametersJsonSchema", M::Free, false),
            ("response", M::Free, false),
            ("responseJsonSchema", M::Free, false),
            ("behavior", M::Scalar, false),
        ],
        M::ToolConfig => &[
            ("functionCallingConfig", M::FunctionCallingConfig, false),
            ("retrievalConfig", M::Free, false),
        ],
        M::FunctionCallingConfig => &[
            ("mode", M::Scalar, false),
            ("allowedFunctionNames", M::Scalar, true),
        ],
        M::SafetySetting => &[
            ("category", M::Scalar, false),
            ("threshold", M::Scalar, false),
        ],
        M::GenerationConfig => &[
            ("stopSequences", M::Scalar, true),
            ("responseMimeType", M::Scalar, false),
            ("responseSchema", M::Free, false),
            ("responseJsonSchema", M::Free, false),
            ("_responseJsonSchema", M::Free, false),
            ("responseModalities", M::Scalar, true),
            ("candidateCount", M::Scalar, false),
            ("maxOutputTokens", M::Scalar, false),
            ("temperature", M::Scalar, false),
            ("topP", M::Scalar, false),
            ("topK", M::Scalar, false),
            ("seed", M::Scalar, false),
            ("presencePenalty", M::Scalar, false),
            ("frequencyPenalty", M::Scalar, false),
            ("responseLogprobs", M::Scalar, false),
            ("logprobs", M::Scalar, false),
            ("enableEnhancedCivicAnswers", M::Scalar, false),
            ("speechConfig", M::Free, false),
            ("thinkingConfig", M::ThinkingConfig, false),
            ("imageConfig", M::Free, false),
            ("mediaResolution", M::Scalar, false),
        ],
        M::ThinkingConfig => &[
            ("includeThoughts", M::Scalar, false),
            ("thinkingBudget", M::Scalar, false),
            ("thinkingLevel", M::Scalar, false),
        ],
        M::Free | M::Scalar => &[],
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
    match message {
        M::Free => Ok(()),
        M::Scalar => match value {
            Value::Object(_) | Value::Array(_) => Err(format!(
                "Invalid JSON payload received. Unexpected token{}: a value, not a list or object.",
                at(path)
            )),
            _ => Ok(()),
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
                } else if item.is_array() && inner != M::Free {
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
