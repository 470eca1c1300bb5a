//! `/metrics`: the Prometheus text of the relay's series, through the `metrics` facade and its
//! Prometheus exporter.
//!
//! Counters and histograms are recorded as requests finish ([`crate::record`]); the pool's
//! quotas (limit, use in the current window, seconds until a refusal ends, per project and
//! model) and the request log's counts are read when Prometheus scrapes. The recorder is the
//! process's global one, installed by the first relay started: relays in one process share it.

use crate::Live;
use axum::extract::State;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder, once per process (when another recorder is installed
/// already, `/metrics` says so).
pub(crate) fn install() {
    HANDLE.get_or_init(|| {
        let buckets = [
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0, 30.0, 60.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .ok()?
            .install_recorder()
            .ok()?;
        describe();
        // Histograms keep their samples until they are summarised: do it every few seconds
        // whether or not anyone scrapes, so that memory stays flat.
        let upkeep = recorder.clone();
        let _ = std::thread::Builder::new()
            .name("gemini-relay-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        Some(recorder)
    });
}

/// Whether a model's quotas are shown (in `/metrics` and the admin API): models of the
/// configuration (limits, fallback) and models that have answered. A name a client made up
/// never becomes a label.
pub(crate) fn shown(shared: &crate::Shared, model: &str) -> bool {
    shared.config.limits.contains_key(model)
        || shared.config.fallback.iter().any(|m| m == model)
        || shared.served.contains(model)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "gemini_relay_requests_total",
        "Client requests, by endpoint, status and error kind"
    );
    describe_counter!(
        "gemini_relay_rate_limited_total",
        "429 answers, by error kind and QuotaFailure quota id"
    );
    describe_counter!(
        "gemini_relay_retries_total",
        "Requests sent upstream beyond the first, by endpoint"
    );
    describe_counter!(
        "gemini_relay_fallbacks_total",
        "Answers served by a fallback model, by that model"
    );
    describe_counter!("gemini_relay_key_requests_total", "Requests per relay key");
    describe_counter!(
        "gemini_relay_key_tokens_total",
        "Prompt and answer tokens per relay key, from usageMetadata"
    );
    describe_histogram!(
        "gemini_relay_ttfb_seconds",
        "From the request received to the answer's head"
    );
    describe_histogram!(
        "gemini_relay_total_seconds",
        "From the request received to the answer's last byte"
    );
    describe_histogram!(
        "gemini_relay_overhead_seconds",
        "The relay's own time: to the answer's head, less the upstream's"
    );
    describe_gauge!(
        "gemini_relay_quota_limit",
        "A project's limit for a model, by metric (requests, input tokens, requests per day)"
    );
    describe_gauge!(
        "gemini_relay_quota_used",
        "What is used of that limit in its current window"
    );
    describe_gauge!(
        "gemini_relay_quota_refused_seconds",
        "Seconds until a project's refusal for a model ends (0: none)"
    );
    describe_counter!(
        "gemini_relay_log_rows_written_total",
        "Rows written to the request log"
    );
    describe_counter!(
        "gemini_relay_log_rows_dropped_total",
        "Rows the request log dropped (queue full, disk unwritable)"
    );
}

pub(crate) fn metric_name(metric: steadfast_gemini::Metric) -> &'static str {
    match metric {
        steadfast_gemini::Metric::Requests => "requests",
        steadfast_gemini::Metric::InputTokens => "input_tokens",
        steadfast_gemini::Metric::RequestsPerDay => "requests_per_day",
        _ => "other",
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(
    State(live): State<Arc<Live>>,
) -> (
    http::StatusCode,
    [(http::HeaderName, &'static str); 1],
    String,
) {
    if !live.current().config.metrics {
        return (
            http::StatusCode::NOT_FOUND,
            [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics are off in this relay's configuration (metrics = false)".to_owned(),
        );
    }
    let Some(Some(handle)) = HANDLE.get() else {
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "another metrics recorder is installed in this process: the relay's metrics are recorded there".to_owned(),
        );
    };
    let shared = live.current();
    for project in shared.client.quotas().projects {
        for model in project
            .models
            .into_iter()
            .filter(|m| shown(&shared, &m.model))
        {
            let labels = [
                ("project", project.name.clone()),
                ("model", model.model.clone()),
            ];
            for limit in &model.limits {
                let mut with_metric = labels.to_vec();
                with_metric.push(("metric", metric_name(limit.metric).to_owned()));
                metrics::gauge!("gemini_relay_quota_limit", &with_metric).set(limit.value as f64);
                metrics::gauge!("gemini_relay_quota_used", &with_metric).set(limit.used as f64);
            }
            metrics::gauge!("gemini_relay_quota_refused_seconds", &labels)
                .set(model.refused_for.map_or(0.0, |d| d.as_secs_f64()));
        }
    }
    if let Some(log) = &shared.log {
        metrics::counter!("gemini_relay_log_rows_written_total")
            .absolute(log.counts.written.load(Ordering::Relaxed));
        metrics::counter!("gemini_relay_log_rows_dropped_total")
            .absolute(log.counts.dropped.load(Ordering::Relaxed));
    }
    (
        http::StatusCode::OK,
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
