//! Reading `google.rpc.Status` from whatever a body holds, never failing.
//!
//! The body is walked as a `serde_json::Value` rather than deserialized into strict structs: a
//! field with an unexpected type (a `quotaValue` that is a number, say) is skipped, not a reason
//! to lose the whole error.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A `google.rpc.Status`, as far as the body held one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// The HTTP-like code (`429`).
    pub code: Option<u16>,
    /// The human message.
    pub message: Option<String>,
    /// The canonical status name (`RESOURCE_EXHAUSTED`).
    pub status: Option<String>,
    /// The typed details.
    pub details: Details,
}

/// The detail messages of a status, by type. Unknown types are kept by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// `google.rpc.RetryInfo.retryDelay`.
    pub retry_delay: Option<Duration>,
    /// `google.rpc.QuotaFailure.violations`.
    pub quota_violations: Vec<QuotaViolation>,
    /// `google.rpc.ErrorInfo` entries.
    pub error_info: Vec<ErrorInfo>,
    /// `google.rpc.BadRequest.fieldViolations`.
    pub bad_request: Vec<BadRequestViolation>,
    /// `google.rpc.Help.links`.
    pub help: Vec<HelpLink>,
    /// The `@type` of every detail this crate does not model.
    pub other_types: Vec<String>,
}

/// One quota that was exceeded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaViolation {
    /// `quotaMetric`, e.g. `generativelanguage.googleapis.com/generate_content_free_tier_requests`.
    pub quota_metric: Option<String>,
    /// `quotaId`, e.g. `GenerateRequestsPerDayPerProjectPerModel-FreeTier`.
    pub quota_id: Option<String>,
    /// `quotaDimensions` (model, location).
    pub quota_dimensions: BTreeMap<String, String>,
    /// `quotaValue`: the limit, as a string (the API sends a string).
    pub quota_value: Option<String>,
}

/// `google.rpc.ErrorInfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorInfo {
    /// `reason`, e.g. `API_KEY_INVALID`.
    pub reason: Option<String>,
    /// `domain`.
    pub domain: Option<String>,
    /// `metadata`.
    pub metadata: BTreeMap<String, String>,
}

/// One `google.rpc.BadRequest` field violation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BadRequestViolation {
    /// The field, when named.
    pub field: Option<String>,
    /// What is wrong with it.
    pub description: Option<String>,
}

/// One `google.rpc.Help` link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HelpLink {
    /// What the link is about.
    pub description: Option<String>,
    /// Where it points.
    pub url: Option<String>,
}

impl Status {
    /// Every string the status holds, for redaction.
    pub(crate) fn texts_mut(&mut self) -> impl Iterator<Item = &mut String> {
        let d = &mut self.details;
        let violations = d.quota_violations.iter_mut().flat_map(|v| {
            v.quota_metric
                .iter_mut()
                .chain(v.quota_id.iter_mut())
                .chain(v.quota_value.iter_mut())
                .chain(v.quota_dimensions.values_mut())
        });
        let infos = d.error_info.iter_mut().flat_map(|i| {
            i.reason
                .iter_mut()
                .chain(i.domain.iter_mut())
                .chain(i.metadata.values_mut())
        });
        let bad = d
            .bad_request
            .iter_mut()
            .flat_map(|b| b.field.iter_mut().chain(b.description.iter_mut()));
        let help = d
            .help
            .iter_mut()
            .flat_map(|h| h.description.iter_mut().chain(h.url.iter_mut()));
        self.message
            .iter_mut()
            .chain(self.status.iter_mut())
            .chain(violations)
            .chain(infos)
            .chain(bad)
            .chain(help)
            .chain(d.other_types.iter_mut())
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_map(v: &Value, key: &str) -> BTreeMap<String, String> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The status in a body: `{"error": …}` or `[{"error": …}]`. `None` for anything else.
///
/// A JSON body with invalid UTF-8 inside a string is read lossily (the bad bytes become U+FFFD)
/// rather than lost: its code, status and details still count.
pub(crate) fn status(body: &[u8]) -> Option<Status> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => match std::str::from_utf8(body) {
            Ok(_) => return None,
            Err(_) => serde_json::from_str(&String::from_utf8_lossy(body)).ok()?,
        },
    };
    status_of(&value)
}

/// The HTTP code of a canonical status name, for an error that names its status but gives no
/// usable numeric code (an in-stream error with `"code": "503"`, or none).
pub(crate) fn code_of_status(status: &str) -> Option<u16> {
    Some(match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "ALREADY_EXISTS" | "ABORTED" => 409,
        "RESOURCE_EXHAUSTED" => 429,
        "CANCELLED" => 499,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => 500,
        "UNIMPLEMENTED" => 501,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => return None,
    })
}

fn status_of(value: &Value) -> Option<Status> {
    let value = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let error = value.get("error")?.as_object()?;
    let error = Value::Object(error.clone());
    // A number, or a number in a string (`"503"`).
    let code = match error.get("code") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .and_then(|c| u16::try_from(c).ok())
    .filter(|c| (100..=599).contains(c));
    let mut details = Details::default();
    for detail in list(&error, "details") {
        let Some(kind) = detail.get("@type").and_then(Value::as_str) else {
            continue;
        };
        let name = kind.rsplit('/').next().unwrap_or(kind);
        match name {
            "google.rpc.RetryInfo" => {
                details.retry_delay = detail
                    .get("retryDelay")
                    .and_then(Value::as_str)
                    .and_then(steadfast::hint::parse_proto_duration)
                    .and_then(super::credible);
            }
            "google.rpc.QuotaFailure" => {
                details
                    .quota_violations
                    .extend(list(detail, "violations").map(|v| QuotaViolation {
                        quota_metric: text(v, "quotaMetric"),
                        quota_id: text(v, "quotaId"),
                        quota_dimensions: string_map(v, "quotaDimensions"),
                        quota_value: text(v, "quotaValue"),
                    }));
            }
            "google.rpc.ErrorInfo" => details.error_info.push(ErrorInfo {
                reason: text(detail, "reason"),
                domain: text(detail, "domain"),
                metadata: string_map(detail, "metadata"),
            }),
            "google.rpc.BadRequest" => {
                details
                    .bad_request
                    .extend(
                        list(detail, "fieldViolations").map(|v| BadRequestViolation {
                            field: text(v, "field"),
                            description: text(v, "description"),
                        }),
                    );
            }
            "google.rpc.Help" => details.help.extend(list(detail, "links").map(|l| HelpLink {
                description: text(l, "description"),
                url: text(l, "url"),
            })),
            other => details.other_types.push(other.to_owned()),
        }
    }
    Some(Status {
        code,
        message: text(&error, "message"),
        status: text(&error, "status"),
        details,
    })
}

/// "The input token count (132478) exceeds the maximum number of tokens allowed (131072)."
/// → `(Some(132478), Some(131072))`; `None` when the message is not about the token limit.
pub(crate) fn token_limit(message: &str) -> Option<(Option<u64>, Option<u64>)> {
    let lower = message.to_ascii_lowercase();
    if !(lower.contains("token") && (lower.contains("exceed") || lower.contains("too long"))) {
        return None;
    }
    let numbers: Vec<u64> = lower
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    Some((numbers.first().copied(), numbers.get(1).copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_limit_numbers_are_read_in_order() {
        assert_eq!(
            token_limit(
                "The input token count (132478) exceeds the maximum number of tokens allowed (131072)."
            ),
            Some((Some(132_478), Some(131_072)))
        );
        assert_eq!(token_limit("Invalid JSON payload"), None);
    }

    #[test]
    fn numbers_and_unknown_types_are_kept_not_fatal() {
        let body = br#"{"error":{"code":429,"details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaValue":20}]},
            {"@type":"type.googleapis.com/google.rpc.DebugInfo","detail":"x"},
            {"no_type":true}, 7]}}"#;
        let s = status(body).unwrap();
        assert_eq!(
            s.details.quota_violations[0].quota_value.as_deref(),
            Some("20")
        );
        assert_eq!(s.details.other_types, ["google.rpc.DebugInfo"]);
    }
}
