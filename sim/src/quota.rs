//! Per-key, per-model quotas, answered the way the real service answers them.

use super::errors::error_body;
use super::{Reply, SimModel, SimulatorConfig};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

struct Usage {
    /// Requests in the last minute, with their input tokens.
    minute: VecDeque<(Instant, u32)>,
    /// Requests since the last simulated midnight Pacific.
    day: u32,
    /// The simulated time at which `day` resets.
    day_resets: SystemTime,
}

/// Per-day counters follow a simulated clock: it starts at the real time and runs
/// `24 h / SimulatorConfig::day` times as fast.
pub(super) struct Quotas {
    usage: Mutex<HashMap<(String, String), Usage>>,
    wall: SystemTime,
    started: Instant,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            usage: Mutex::default(),
            wall: SystemTime::now(),
            started: Instant::now(),
        }
    }
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
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n* Quota exceeded for metric: generativelanguage.googleapis.com/{metric}, limit: {limit}, model: {model}\nPlease retry in {:.9}s.",
        message_retry.as_secs_f64()
    );
    // The real RetryInfo is in whole seconds (the message has the fraction). Under a shortened
    // simulated minute a wait can be under a second: it keeps its milliseconds then, rather
    // than telling clients to retry at once.
    let delay = if retry >= Duration::from_secs(1) {
        format!("{}s", retry.as_secs())
    } else {
        format!("{:.3}s", retry.as_secs_f64())
    };
    let details: Vec<Value> = vec![
        json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": format!("generativelanguage.googleapis.com/{metric}"), "quotaId": quota_id,
            "quotaDimensions": {"location": "global", "model": model}, "quotaValue": limit.to_string()}]}),
        json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [{
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}),
        json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}),
    ];
    Reply::Json(
        429,
        error_body(429, "RESOURCE_EXHAUSTED", &message, details),
    )
}

impl Quotas {
    /// How many (key, model) records are held.
    pub(super) fn records(&self) -> u64 {
        self.usage.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Counts a request of `tokens` input tokens, or refuses it with the 429 the real service
    /// would send.
    pub(super) fn admit(
        &self,
        spec: &SimModel,
        key: &str,
        tokens: u32,
        config: &SimulatorConfig,
    ) -> Result<(), Reply> {
        let minute = config.minute;
        let now = Instant::now();
        let speed = (24.0 * 3600.0) / config.day.as_secs_f64().max(0.001);
        let simulated = self.wall
            + Duration::try_from_secs_f64(now.duration_since(self.started).as_secs_f64() * speed)
                .unwrap_or(Duration::ZERO);
        // Quotas belong to the key's project: its group's, or the key's own.
        let project = match config
            .projects
            .iter()
            .position(|g| g.iter().any(|k| k == key))
        {
            Some(i) => format!("project {i}"),
            None => key.to_owned(),
        };
        let mut all = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let usage = all
            .entry((project, spec.name.clone()))
            .or_insert_with(|| Usage {
                minute: VecDeque::new(),
                day: 0,
                day_resets: steadfast::calendar::next_daily_reset(simulated),
            });
        if simulated >= usage.day_resets {
            usage.day = 0;
            usage.day_resets = steadfast::calendar::next_daily_reset(simulated);
        }
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
