//! Per-key, per-model quotas, answered the way the real service answers them.

use super::{Reply, SimModel, error_body};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Default)]
struct Usage {
    /// Requests in the last minute, with their input tokens.
    minute: VecDeque<(Instant, u32)>,
    /// Requests since the simulator started (its "day").
    day: u32,
}

#[derive(Default)]
pub(super) struct Quotas {
    usage: Mutex<HashMap<(String, String), Usage>>,
}

fn quota_exceeded(
    model: &str,
    quota_id: &str,
    metric: &str,
    limit: u32,
    retry: Duration,
    message_retry: Duration,
) -> Reply {
    let message = format!(
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/{metric}, limit: {limit}, model: {model}\nPlease retry in {:.6}s.",
        message_retry.as_secs_f64()
    );
    let details: Vec<Value> = vec![
        json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": format!("generativelanguage.googleapis.com/{metric}"), "quotaId": quota_id,
            "quotaDimensions": {"location": "global", "model": model}, "quotaValue": limit.to_string()}]}),
        json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{:.3}s", retry.as_secs_f64())}),
    ];
    Reply::Json(
        429,
        error_body(429, "RESOURCE_EXHAUSTED", &message, details),
    )
}

impl Quotas {
    /// Counts a request of `tokens` input tokens, or refuses it with the 429 the real service
    /// would send.
    pub(super) fn admit(
        &self,
        spec: &SimModel,
        key: &str,
        tokens: u32,
        minute: Duration,
    ) -> Result<(), Reply> {
        let mut all = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let usage = all.entry((key.to_owned(), spec.name.clone())).or_default();
        let now = Instant::now();
        while usage
            .minute
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= minute)
        {
            usage.minute.pop_front();
        }
        let model = spec.name.as_str();
        if let Some(rpd) = spec.rpd {
            if usage.day >= rpd {
                // Like the real service: a per-day quota still carries a short RetryInfo.
                return Err(quota_exceeded(
                    model,
                    "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    "generate_content_free_tier_requests",
                    rpd,
                    Duration::from_secs(17),
                    Duration::from_millis(17_984),
                ));
            }
        }
        let until_free = |n: usize| {
            usage.minute.get(n).map_or(Duration::ZERO, |(t, _)| {
                (*t + minute).saturating_duration_since(now)
            })
        };
        if let Some(rpm) = spec.rpm {
            if usage.minute.len() >= rpm as usize {
                let wait = until_free(usage.minute.len() - rpm as usize);
                return Err(quota_exceeded(
                    model,
                    "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "generate_content_free_tier_requests",
                    rpm,
                    wait,
                    wait,
                ));
            }
        }
        if let Some(tpm) = spec.tpm {
            let used: u32 = usage.minute.iter().map(|(_, t)| t).sum();
            if used + tokens > tpm {
                let mut freed = 0;
                let mut wait = minute;
                for (i, (_, t)) in usage.minute.iter().enumerate() {
                    freed += t;
                    if used - freed + tokens <= tpm {
                        wait = until_free(i);
                        break;
                    }
                }
                return Err(quota_exceeded(
                    model,
                    "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                    "generate_content_free_tier_input_token_count",
                    tpm,
                    wait,
                    wait,
                ));
            }
        }
        usage.minute.push_back((now, tokens));
        usage.day += 1;
        Ok(())
    }
}
