//! Error bodies as the real service sends them: `google.rpc.Status` JSON with its detail types
//! (ErrorInfo, LocalizedMessage, BadRequest, Help, QuotaFailure, RetryInfo), and the front end's
//! short HTML pages for requests that never reach the API (unknown URL, wrong method).

use super::Reply;
use serde_json::{Value, json};

pub(super) fn error_body(code: u16, status: &str, message: &str, details: Vec<Value>) -> Value {
    let mut error = json!({"code": code, "message": message, "status": status});
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json!({ "error": error })
}

pub(super) fn status(code: u16, status: &str, message: &str, details: Vec<Value>) -> Reply {
    Reply::Json(code, error_body(code, status, message, details))
}

/// 400 INVALID_ARGUMENT about the payload, with the BadRequest detail the real API attaches.
pub(super) fn invalid_payload(message: &str) -> Reply {
    status(
        400,
        "INVALID_ARGUMENT",
        message,
        vec![json!({"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"description": message}]})],
    )
}

/// 400 INVALID_ARGUMENT naming a missing or wrong field, like `* GenerateContentRequest.contents:
/// contents is not specified`.
pub(super) fn invalid_field(field: &str, description: &str) -> Reply {
    status(
        400,
        "INVALID_ARGUMENT",
        &format!("* {field}: {description}\n"),
        vec![json!({"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": description}]})],
    )
}

pub(super) fn api_key_invalid() -> Reply {
    let message = "API key not valid. Please pass a valid API key.";
    status(
        400,
        "INVALID_ARGUMENT",
        message,
        vec![
            json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                   "domain": "googleapis.com",
                   "metadata": {"service": "generativelanguage.googleapis.com"}}),
            json!({"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                   "message": message}),
        ],
    )
}

pub(super) fn no_key() -> Reply {
    status(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        vec![],
    )
}

pub(super) fn model_not_found(model: &str, version: &str, method: &str) -> Reply {
    // A name sent to fill the answer is not echoed whole.
    let model: String = model.chars().take(200).collect();
    status(
        404,
        "NOT_FOUND",
        &format!(
            "models/{model} is not found for API version {version}, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."
        ),
        vec![],
    )
}

pub(super) fn overloaded() -> Reply {
    status(
        503,
        "UNAVAILABLE",
        "The model is overloaded. Please try again later.",
        vec![],
    )
}

pub(super) fn internal() -> Reply {
    status(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        vec![],
    )
}

fn page(code: u16, reason: &str, text: &str) -> Reply {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n<title>Error {code} ({reason})!!1</title>\n<p><b>{code}.</b> <ins>That\u{2019}s an error.</ins>\n<p>{text}  <ins>That\u{2019}s all we know.</ins>\n"
    );
    Reply::Raw(code, "text/html; charset=UTF-8", html.into_bytes())
}

/// The front end's 404 for a URL no API serves.
pub(super) fn no_such_url(path: &str) -> Reply {
    let path: String = path.chars().take(200).collect();
    page(
        404,
        "Not Found",
        &format!(
            "The requested URL <code>{}</code> was not found on this server.",
            escape(&path)
        ),
    )
}

/// The front end's 405 for a method the URL does not take, with the `Allow` header HTTP asks
/// for.
pub(super) fn wrong_method(method: &str, path: &str, allow: &str) -> Reply {
    let path: String = path.chars().take(200).collect();
    let page = page(
        405,
        "Method Not Allowed",
        &format!(
            "The request method <code>{}</code> is inappropriate for the URL <code>{}</code>.",
            escape(method),
            escape(&path)
        ),
    );
    Reply::Headers(vec![("allow", allow.to_owned())], Box::new(page))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
