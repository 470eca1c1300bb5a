//! What a 429 teaches: the limits its QuotaFailure names (`quotaId`, `quotaValue`), per
//! project and model.

use super::report::Metric;
use super::usage::Usage;
use super::{ModelQuotas, Project};
use crate::Error;
use crate::key::ApiKey;

impl ModelQuotas {
    /// Learns the limits a 429's QuotaFailure names (see [`lessons`]); true when it taught
    /// one.
    pub(super) fn learn(&self, project: &Project, key: &ApiKey, u: &mut Usage, e: &Error) -> bool {
        let (lessons, notes) = lessons(e, &self.model);
        for note in notes {
            tracing::debug!(target: "steadfast_gemini", model = self.model.as_str(), project = project.name.as_str(), key = %key, "nothing learned from a QuotaFailure: {note}");
        }
        let mut taught = false;
        for (metric, value) in lessons {
            let slot = match metric {
                Metric::Requests => &mut u.learned.rpm,
                Metric::InputTokens => &mut u.learned.tpm,
                Metric::RequestsPerDay => &mut u.learned.rpd,
            };
            taught = true;
            if *slot == Some(value) {
                continue;
            }
            *slot = Some(value);
            let what = match (metric, value) {
                (Metric::Requests, 1) => "request per minute",
                (Metric::Requests, _) => "requests per minute",
                (Metric::InputTokens, 1) => "input token per minute",
                (Metric::InputTokens, _) => "input tokens per minute",
                (Metric::RequestsPerDay, 1) => "request per day",
                (Metric::RequestsPerDay, _) => "requests per day",
            };
            let configured = match metric {
                Metric::Requests => self.configured.rpm,
                Metric::InputTokens => self.configured.tpm,
                Metric::RequestsPerDay => self.configured.rpd,
            };
            let note = match configured {
                Some(c) if c <= value => format!(" (your limit of {c} stays: it is lower)"),
                _ => String::new(),
            };
            tracing::info!(
                target: "steadfast_gemini",
                model = self.model.as_str(),
                project = project.name.as_str(),
                key = %key,
                metric = %metric,
                limit = value,
                "{} allows {value} {what} on project {} (key {key}){note}",
                self.model,
                project.name,
            );
        }
        taught
    }
}

/// The limits a 429's QuotaFailure teaches about `model`, and a note for each violation that
/// teaches nothing.
///
/// A violation teaches when its `quotaId` names a metric this client paces (requests or input
/// tokens per minute, requests per day: `GenerateRequestsPerMinutePerProjectPerModel`,
/// `GenerateContentInputTokensPerModelPerMinute`, `GenerateRequestsPerDayPerProjectPerModel`,
/// with or without a tier suffix), its `quotaValue` is a whole number from 1 to 2³²−1, and its
/// `quotaDimensions.model`, when present, is the model the request was sent for. A QuotaFailure
/// that names one metric twice with different values contradicts itself: that metric teaches
/// nothing. A value of 0 is not a limit to pace by: the error is
/// [`NoQuota`](ErrorKind::NoQuota), handled by skipping the project.
pub(crate) fn lessons(e: &Error, model: &str) -> (Vec<(Metric, u32)>, Vec<String>) {
    let mut notes = Vec::new();
    let mut found: Vec<(Metric, u32)> = Vec::new();
    let mut contradicted: Vec<Metric> = Vec::new();
    let violations = e
        .status()
        .map(|s| s.details.quota_violations.as_slice())
        .unwrap_or(&[]);
    for v in violations {
        let id = v.quota_id.as_deref().unwrap_or("");
        let Some(metric) = metric_of(id) else {
            notes.push(format!(
                "quotaId `{}` is not a quota this client paces",
                short(id)
            ));
            continue;
        };
        if let Some(named) = v.quota_dimensions.get("model") {
            let named = named.trim_start_matches("models/");
            if named != model {
                notes.push(format!(
                    "quotaDimensions.model `{}` is not the model the request was for",
                    short(named)
                ));
                continue;
            }
        }
        let raw = v.quota_value.as_deref().unwrap_or("").trim();
        let value = match raw.parse::<u64>() {
            Ok(0) => {
                notes.push("quotaValue is 0: no quota on this tier".to_owned());
                continue;
            }
            Ok(n) => u32::try_from(n).ok(),
            Err(_) => None,
        };
        let Some(value) = value else {
            notes.push(format!("quotaValue `{}` is not a usable limit", short(raw)));
            continue;
        };
        match found.iter().find(|(m, _)| *m == metric) {
            Some((_, other)) if *other != value => {
                notes.push(format!(
                    "the QuotaFailure names two values for {metric} ({other} and {value})"
                ));
                contradicted.push(metric);
            }
            Some(_) => {}
            None => found.push((metric, value)),
        }
    }
    found.retain(|(m, _)| !contradicted.contains(m));
    (found, notes)
}

/// At most 80 characters of a value from the server, for a log line.
fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

fn metric_of(quota_id: &str) -> Option<Metric> {
    let id = quota_id.to_ascii_lowercase();
    let minute = id.contains("perminute");
    let day = id.contains("perday");
    let tokens = id.contains("token");
    let requests = id.contains("request");
    match (requests, tokens, minute, day) {
        (true, false, true, false) => Some(Metric::Requests),
        (false, true, true, false) => Some(Metric::InputTokens),
        (true, false, false, true) => Some(Metric::RequestsPerDay),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn quota_failure(violations: &str) -> Error {
        let body = format!(
            r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{violations}]}},{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}}]}}}}"#
        );
        Error::from_body(429, body.as_bytes())
    }

    #[test]
    fn each_known_quota_id_teaches_its_metric() {
        let e = quota_failure(
            r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"10","quotaDimensions":{"model":"m","location":"global"}},
               {"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier","quotaValue":"250000"},
               {"quotaId":"GenerateRequestsPerDayPerProjectPerModel","quotaValue":"250"}"#,
        );
        let (lessons, notes) = lessons(&e, "m");
        assert_eq!(
            lessons,
            vec![
                (Metric::Requests, 10),
                (Metric::InputTokens, 250_000),
                (Metric::RequestsPerDay, 250)
            ]
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn bad_values_and_unknown_ids_teach_nothing_and_say_why() {
        for (violation, why) in [
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"-1"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"abc"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"99999999999"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}"#,
                "not a usable limit",
            ),
            (
                r#"{"quotaId":"SomethingElsePerFortnight","quotaValue":"10"}"#,
                "not a quota this client paces",
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"10","quotaDimensions":{"model":"other"}}"#,
                "not the model",
            ),
        ] {
            let (lessons, notes) = lessons(&quota_failure(violation), "m");
            assert!(lessons.is_empty(), "{violation}: {lessons:?}");
            assert_eq!(notes.len(), 1, "{violation}");
            assert!(notes[0].contains(why), "{violation}: {notes:?}");
        }
    }

    #[test]
    fn a_quota_failure_that_contradicts_itself_teaches_nothing_about_that_metric() {
        let e = quota_failure(
            r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"10"},
               {"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"15"},
               {"quotaId":"GenerateRequestsPerDayPerProjectPerModel","quotaValue":"250"}"#,
        );
        let (lessons, notes) = lessons(&e, "m");
        assert_eq!(lessons, vec![(Metric::RequestsPerDay, 250)]);
        assert!(notes[0].contains("10 and 15"), "{notes:?}");
    }

    #[test]
    fn a_zero_quota_value_is_no_quota_not_a_limit() {
        let e = quota_failure(
            r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"0"}"#,
        );
        assert_eq!(*e.kind(), ErrorKind::NoQuota);
        let (lessons, _) = lessons(&e, "m");
        assert!(lessons.is_empty());
    }
}
